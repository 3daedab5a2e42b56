/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness: the NVMe/TCP connection engine (transport/tcp.c) fed
 * as a byte stream through one end of a socketpair, with a real target
 * behind it (mem namespace, one reactor stepped here).
 *
 * Input: byte 0 picks how the stream is cut (0: all at once, else
 * segments of that many bytes, but never more than 64 segments, to keep
 * executions fast: the unit test cuts at every byte); the rest is the
 * stream, after which the peer closes. A controller (CNTLID 1, KATO 0) exists before the first
 * input, so streams can connect I/O queues to it.
 *
 * Oracles besides the sanitizers: the reactor always comes to rest (a
 * bounded number of turns with work: no spinning without progress), the
 * target never sends more than a bounded multiple of what it received,
 * and once the peer is gone the connection is freed, whatever was in
 * flight.
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/reactor.h"
#include "config/config.h"
#include "target/target.h"
#include "tests/support/pdu_build.h"
#include "transport/tcp.h"

#define NQN "nqn.2024-01.org.example:fuzz"
#define MAX_TURNS 100000                /* a reactor that works longer than this spins */

static struct nvmf_tgt T;
static struct config *C;
static int admin_fd = -1;

static void die(const char *why)
{
	fprintf(stderr, "fuzz_tcp_engine: %s\n", why);
	__builtin_trap();
}

/* Step the reactor until it has nothing to do; trap if it never rests. */
static void pump(void)
{
	for (unsigned turns = 0;; turns++) {
		if (reactor_run_once(&T.reactors[0].r, 0) <= 0)
			return;
		if (turns > MAX_TURNS)
			die("the reactor keeps working without rest");
	}
}

static size_t drain(int fd)
{
	uint8_t buf[65536];
	size_t got = 0;
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		got += (size_t)n;
	return got;
}

static int serve(void)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv))
		die("socketpair");
	if (nvmf_tcp_serve_fd(T.ports[0], sv[0]))
		die("serve");
	return sv[1];
}

static void init(void)
{
	static const char json[] =
		"{\"bridge\": {\"discovery_port\": 0, \"reactors\": 1},"
		" \"ports\": [{\"portid\": 1, \"addr\": {\"trtype\": \"tcp\", \"adrfam\": \"ipv4\","
		"   \"traddr\": \"127.0.0.1\", \"trsvcid\": \"4420\"}, \"param\": {\"inline_data_size\": \"16384\"},"
		"   \"subsystems\": [\"" NQN "\"]}],"
		" \"subsystems\": [{\"nqn\": \"" NQN "\", \"attr\": {\"allow_any_host\": \"1\", \"cntlid_min\": \"1\"},"
		"   \"namespaces\": [{\"nsid\": 1, \"device\": {\"mem\": \"16MiB\"}},"
		"                    {\"nsid\": 2, \"device\": {\"mem\": \"1MiB\", \"block_size\": 4096}}]}]}";
	static const uint8_t hostid[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
	static const struct pb_opts plain;
	struct pb_buf b = { 0 };
	char err[512];

	log_set_level(LOG_LVL_ERR);
	if (config_parse(json, "fuzz.json", &C, err, sizeof(err)) || nvmf_tgt_init(&T, C, err, sizeof(err)))
		die(err);
	/* the controller I/O queues of the corpus connect to: CNTLID 1 */
	admin_fd = serve();
	pb_icreq(&b, &plain);
	pb_connect(&b, &plain, 1, 0, 31, 0, 0xffff, NQN,
		   "nqn.2014-08.org.nvmexpress:uuid:01020304-0506-0708-090a-0b0c0d0e0f10", hostid);
	pb_prop_set_cc(&b, &plain, 2, PB_CC_ENABLE);
	if (write(admin_fd, b.p, b.len) != (ssize_t)b.len)
		die("admin write");
	pump();
	drain(admin_fd);
	pb_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t cut, sent_total = 0, back = 0, got;
	unsigned conns;
	int fd;

	if (admin_fd < 0)
		init();
	if (size < 1)
		return 0;
	cut = data[0] == 0 ? size : data[0];
	data++;
	size--;
	if (size / cut > 64)
		cut = size / 64 + 1;
	conns = nvmf_tcp_nr_conns();
	fd = serve();
	for (size_t off = 0; off < size;) {
		size_t n = size - off < cut ? size - off : cut;
		ssize_t w = send(fd, data + off, n, MSG_NOSIGNAL);

		if (w > 0) {
			off += (size_t)w;
			sent_total += (size_t)w;
		}
		pump();
		got = drain(fd);
		back += got;
		if (w <= 0 && !got) {
			/* the target stopped reading (closed, or waiting): stop */
			break;
		}
	}
	pump();
	back += drain(fd);
	/* replies are bounded by what was asked: at most a read's data per
	 * 64-byte command, so 2 MiB per received byte is generous; a loop
	 * resending PDUs is not */
	if (back > 64 * 1024 + sent_total * 2048)
		die("the target sent far more than it was asked for");
	close(fd);
	for (unsigned i = 0; i < 1000 && nvmf_tcp_nr_conns() > conns; i++)
		pump();
	if (nvmf_tcp_nr_conns() > conns)
		die("a closed connection was never freed");
	return 0;
}
