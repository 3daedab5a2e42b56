/* SPDX-License-Identifier: MIT */
/*
 * The NVMe/TCP connection engine (transport/tcp.c) driven as a byte
 * stream: a real target (mem namespace, one reactor stepped by the test),
 * the engine serving one end of a socketpair, the test writing raw PDUs
 * into the other end, cut at every byte boundary, merged, or in bursts
 * larger than the engine's per-turn budget, and parsing what comes back.
 * Nothing sleeps: the test steps the reactor (reactor_run_once) until
 * neither side makes progress; the deadline tests wait in epoll for the
 * target's own timer.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"
#include "common/reactor.h"
#include "config/config.h"
#include "nvme/regs.h"
#include "target/target.h"
#include "tests/support/pdu_build.h"
#include "transport/tcp.h"
#include "transport/transport.h"
#include "transport/tcp_pdu.h"

#define NQN "nqn.2024-01.org.example:engine"
#define HOSTNQN "nqn.2014-08.org.nvmexpress:uuid:0f0e0d0c-0b0a-0908-0706-050403020100"
static const uint8_t hostid[16] = { 0x0f, 0x0e, 0x0d, 0x0c, 0x0b, 0x0a, 0x09, 0x08,
				    0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, 0x00 };

static struct {
	struct config *cfg;
	struct nvmf_tgt t;
	struct nvmf_port *port;
} E;

struct host {
	int fd;
	struct pb_buf rx;
	bool eof;
};

static void env_up_json(const char *bridge_extra)
{
	char json[2048], err[512] = "";
	int rc;

	snprintf(json, sizeof(json),
		 "{\"bridge\": {\"discovery_port\": 0, \"reactors\": 1%s},"
		 " \"ports\": [{\"portid\": 1, \"addr\": {\"trtype\": \"tcp\", \"adrfam\": \"ipv4\","
		 "   \"traddr\": \"127.0.0.1\", \"trsvcid\": \"4420\"}, \"param\": {\"inline_data_size\": \"16384\"},"
		 "   \"subsystems\": [\"" NQN "\"]}],"
		 " \"subsystems\": [{\"nqn\": \"" NQN "\", \"attr\": {\"allow_any_host\": \"1\"},"
		 "   \"namespaces\": [{\"nsid\": 1, \"device\": {\"mem\": \"64MiB\"}}]}]}",
		 bridge_extra);
	rc = config_parse(json, "engine.json", &E.cfg, err, sizeof(err));
	if (rc)
		fail_msg("config_parse: %s", err);
	rc = nvmf_tgt_init(&E.t, E.cfg, err, sizeof(err));
	if (rc)
		fail_msg("nvmf_tgt_init: %s", err);
	E.port = E.t.ports[0];
}

static int env_up(void **state)
{
	(void)state;
	log_set_level(LOG_LVL_ERR);
	env_up_json("");
	return 0;
}

static int pump(void)
{
	int total = 0, n;

	while ((n = reactor_run_once(&E.t.reactors[0].r, 0)) > 0)
		total += n;
	return total;
}

static int env_down(void **state)
{
	(void)state;
	for (int i = 0; i < 1000 && nvmf_tcp_nr_conns(); i++)
		pump();
	assert_int_equal(nvmf_tcp_nr_conns(), 0);
	nvmf_tcp_reactor_fini(&E.t.reactors[0]);
	nvmf_tgt_fini(&E.t);
	config_free(E.cfg);
	memset(&E, 0, sizeof(E));
	return 0;
}

static void host_open(struct host *h)
{
	int sv[2];

	memset(h, 0, sizeof(*h));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(nvmf_tcp_serve_fd(E.port, sv[0]), 0);
	h->fd = sv[1];
}

static void host_close(struct host *h)
{
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
	pb_free(&h->rx);
	pump();
}

/* What the target has sent so far; returns bytes read */
static size_t host_read(struct host *h)
{
	size_t got = 0;

	for (;;) {
		uint8_t buf[65536];
		ssize_t n = read(h->fd, buf, sizeof(buf));

		if (n > 0) {
			pb_put(&h->rx, buf, (size_t)n);
			got += (size_t)n;
			continue;
		}
		if (n == 0)
			h->eof = true;
		return got;
	}
}

/* Write everything, stepping the target whenever the socket is full, and
 * read what comes back meanwhile. */
static void host_write(struct host *h, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len) {
		ssize_t n = write(h->fd, p, len);

		if (n < 0) {
			assert_true(errno == EAGAIN);
			if (!pump() && !host_read(h))
				fail_msg("target stopped reading with %zu bytes left to write", len);
			continue;
		}
		p += n;
		len -= (size_t)n;
	}
}

/* Step both sides until neither moves. */
static void settle(struct host *h)
{
	for (;;) {
		int w = pump();
		size_t r = host_read(h);

		if (!w && !r)
			return;
	}
}

/* --- checking what came back ---------------------------------------------------- */

struct rx_pdus {
	const uint8_t *p[1024];
	size_t len[1024];
	unsigned n;
	size_t tail;            /* bytes after the last complete PDU */
};

static void split_pdus(const struct host *h, struct rx_pdus *out)
{
	size_t off = 0;

	memset(out, 0, sizeof(*out));
	while (off < h->rx.len && out->n < 1024) {
		size_t l = pb_pdu_len(h->rx.p + off, h->rx.len - off);

		if (!l)
			break;
		out->p[out->n] = h->rx.p + off;
		out->len[out->n++] = l;
		off += l;
	}
	out->tail = h->rx.len - off;
}

static uint8_t pdu_type(const struct rx_pdus *r, unsigned i)
{
	assert_true(i < r->n);
	return ((const struct nvme_tcp_hdr *)r->p[i])->type;
}

static const struct nvme_cqe *rsp_cqe(const struct rx_pdus *r, unsigned i)
{
	assert_int_equal(pdu_type(r, i), NVME_TCP_RSP);
	return &((const struct nvme_tcp_rsp_pdu *)r->p[i])->cqe;
}

static void expect_ok(const struct rx_pdus *r, unsigned i, uint16_t cid)
{
	const struct nvme_cqe *c = rsp_cqe(r, i);

	assert_int_equal(c->cid, cid);
	assert_int_equal(NVME_CQE_STATUS(c), 0);
}

/* C2HTermReq with this FES, then end of stream */
static void expect_term(struct host *h, unsigned first, uint16_t fes)
{
	struct rx_pdus r;
	const struct nvme_tcp_term_pdu *t;

	split_pdus(h, &r);
	assert_true(r.n > first);
	assert_int_equal(pdu_type(&r, first), NVME_TCP_C2H_TERM);
	t = (const void *)r.p[first];
	assert_int_equal(t->fes, fes);
	assert_int_equal(r.n, first + 1);
	assert_int_equal(r.tail, 0);
	assert_true(h->eof);
}

/* --- streams ---------------------------------------------------------------------- */

static const struct pb_opts plain = { 0 }, digests = { .hdgst = true, .ddgst = true };

/* ICReq, admin Connect, CC.EN, Identify Controller, Keep Alive */
static void admin_stream(struct pb_buf *b, const struct pb_opts *o)
{
	struct nvme_sqe id = pb_sqe(NVME_ADM_IDENTIFY, 4, 0);
	struct nvme_sqe ka = pb_sqe(NVME_ADM_KEEP_ALIVE, 5, 0);

	pb_icreq(b, o);
	pb_connect(b, o, 1, 0, 31, 0, 0xffff, NQN, HOSTNQN, hostid);
	pb_prop_set_cc(b, o, 2, PB_CC_ENABLE);
	id.cdw10 = NVME_ID_CNS_CTRL;
	id.dptr.sgl.length = 4096;
	pb_capsule(b, o, &id, NULL, 0);
	pb_capsule(b, o, &ka, NULL, 0);
}

/* what admin_stream must get back; returns the CNTLID */
static uint16_t check_admin(struct host *h)
{
	struct rx_pdus r;
	const struct nvme_id_ctrl *id;

	split_pdus(h, &r);
	assert_int_equal(r.tail, 0);
	assert_int_equal(r.n, 6);
	assert_int_equal(pdu_type(&r, 0), NVME_TCP_ICRESP);
	expect_ok(&r, 1, 1);
	expect_ok(&r, 2, 2);
	assert_int_equal(pdu_type(&r, 3), NVME_TCP_C2H_DATA);
	id = (const void *)(r.p[3] + ((const struct nvme_tcp_hdr *)r.p[3])->pdo);
	assert_memory_equal(id->subnqn, NQN, sizeof(NQN));
	expect_ok(&r, 4, 4);
	expect_ok(&r, 5, 5);
	assert_false(h->eof);
	return rsp_cqe(&r, 1)->dw0 & 0xffff;
}

static uint8_t pattern[8192];

/* ICReq, I/O Connect, 8 KiB in-capsule write, 8 KiB read back, Flush */
static void io_stream(struct pb_buf *b, const struct pb_opts *o, uint16_t cntlid)
{
	struct nvme_sqe fl = pb_sqe(NVME_CMD_FLUSH, 13, 1);

	pb_icreq(b, o);
	pb_connect(b, o, 10, 1, 127, 0, cntlid, NQN, HOSTNQN, hostid);
	pb_write(b, o, 11, 1, 64, 16, pattern, sizeof(pattern), true);
	pb_read(b, o, 12, 1, 64, 16, sizeof(pattern));
	pb_capsule(b, o, &fl, NULL, 0);
}

static void check_io(struct host *h)
{
	struct rx_pdus r;
	const struct nvme_tcp_hdr *ch;

	split_pdus(h, &r);
	assert_int_equal(r.tail, 0);
	assert_int_equal(r.n, 6);
	assert_int_equal(pdu_type(&r, 0), NVME_TCP_ICRESP);
	expect_ok(&r, 1, 10);
	expect_ok(&r, 2, 11);
	assert_int_equal(pdu_type(&r, 3), NVME_TCP_C2H_DATA);
	ch = (const void *)r.p[3];
	assert_memory_equal(r.p[3] + ch->pdo, pattern, sizeof(pattern));
	expect_ok(&r, 4, 12);
	expect_ok(&r, 5, 13);
}

static uint16_t admin_session(struct host *a)
{
	struct pb_buf s = { 0 };

	host_open(a);
	admin_stream(&s, &plain);
	host_write(a, s.p, s.len);
	settle(a);
	pb_free(&s);
	return check_admin(a);
}

/* --- tests ------------------------------------------------------------------------ */

/* The same session cut in two at every byte: the engine must answer the
 * same whatever the segments look like. */
static void test_split_everywhere(void **state)
{
	const struct pb_opts *opts[] = { &plain, &digests };

	(void)state;
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 7 + 3);
	for (unsigned o = 0; o < 2; o++) {
		struct pb_buf adm = { 0 }, io = { 0 };
		struct host a;
		uint16_t cntlid;

		admin_stream(&adm, opts[o]);
		for (size_t k = 1; k < adm.len; k++) {
			struct host h;

			host_open(&h);
			host_write(&h, adm.p, k);
			settle(&h);
			host_write(&h, adm.p + k, adm.len - k);
			settle(&h);
			check_admin(&h);
			host_close(&h);
		}
		cntlid = admin_session(&a);
		io_stream(&io, opts[o], cntlid);
		for (size_t k = 1; k < io.len; k += (k < 300 || io.len - k < 300) ? 1 : 61) {
			struct host h;

			host_open(&h);
			host_write(&h, io.p, k);
			settle(&h);
			host_write(&h, io.p + k, io.len - k);
			settle(&h);
			check_io(&h);
			host_close(&h);
		}
		host_close(&a);
		pb_free(&adm);
		pb_free(&io);
	}
}

/* One byte per segment, and everything in one segment. */
static void test_byte_by_byte_and_merged(void **state)
{
	struct pb_buf io = { 0 };
	struct host a, h;
	uint16_t cntlid;

	(void)state;
	cntlid = admin_session(&a);
	io_stream(&io, &digests, cntlid);
	host_open(&h);
	for (size_t k = 0; k < io.len; k++) {
		host_write(&h, io.p + k, 1);
		settle(&h);
	}
	check_io(&h);
	host_close(&h);
	host_open(&h);
	host_write(&h, io.p, io.len);
	settle(&h);
	check_io(&h);
	host_close(&h);
	host_close(&a);
	pb_free(&io);
}

/* 128 reads of 128 KiB in one burst on a queue of 128 entries (what the
 * Linux host does under fio): every one answered. More capsules than the
 * per-turn budget sit in the staging buffer; no socket event announces
 * them again. */
static void test_burst_of_large_reads(void **state)
{
	struct pb_buf io = { 0 };
	struct host a, h;
	struct rx_pdus r;
	uint16_t cntlid;
	unsigned data = 0, rsps = 0;

	(void)state;
	cntlid = admin_session(&a);
	host_open(&h);
	pb_icreq(&io, &plain);
	pb_connect(&io, &plain, 1, 1, 127, 0, cntlid, NQN, HOSTNQN, hostid);
	host_write(&h, io.p, io.len);
	settle(&h);
	io.len = 0;
	for (unsigned i = 0; i < 128; i++)
		pb_read(&io, &plain, (uint16_t)(100 + i), 1, (uint64_t)i * 256, 256, 128 * 1024);
	host_write(&h, io.p, io.len);
	settle(&h);
	split_pdus(&h, &r);
	for (unsigned i = 2; i < r.n; i++) {
		data += pdu_type(&r, i) == NVME_TCP_C2H_DATA;
		rsps += pdu_type(&r, i) == NVME_TCP_RSP && NVME_CQE_STATUS(rsp_cqe(&r, i)) == 0;
	}
	assert_int_equal(data, 128);
	assert_int_equal(rsps, 128);
	assert_int_equal(r.tail, 0);
	host_close(&h);
	host_close(&a);
	pb_free(&io);
}

/* Before Connect only ICReq and the Connect capsule. */
static void test_before_connect(void **state)
{
	struct pb_buf b = { 0 };
	struct host h;
	struct nvme_sqe c;
	uint8_t data[4096] = { 0 };

	(void)state;
	/* a Write with in-capsule data before Connect */
	host_open(&h);
	pb_icreq(&b, &plain);
	pb_write(&b, &plain, 1, 1, 0, 8, data, sizeof(data), true);
	host_write(&h, b.p, b.len);
	settle(&h);
	expect_term(&h, 1, NVME_TCP_FES_PDU_SEQ_ERR);
	host_close(&h);

	/* a Write by R2T before Connect: no R2T, no buffer */
	b.len = 0;
	host_open(&h);
	pb_icreq(&b, &plain);
	pb_write(&b, &plain, 1, 1, 0, 256, NULL, 128 * 1024, false);
	host_write(&h, b.p, b.len);
	settle(&h);
	expect_term(&h, 1, NVME_TCP_FES_PDU_SEQ_ERR);
	host_close(&h);

	/* a Connect whose data would need an R2T */
	b.len = 0;
	host_open(&h);
	pb_icreq(&b, &plain);
	c = pb_sqe(NVME_FABRICS_OPC, 1, 0);
	((struct nvmf_connect_cmd *)&c)->fctype = NVMF_FCTYPE_CONNECT;
	((struct nvmf_connect_cmd *)&c)->sqsize = 31;
	c.dptr.sgl.length = 1024;
	pb_capsule(&b, &plain, &c, NULL, 0);
	host_write(&h, b.p, b.len);
	settle(&h);
	expect_term(&h, 1, NVME_TCP_FES_UNSUPPORTED_PARAM);
	host_close(&h);

	/* H2CData before Connect: no TTAG is valid */
	b.len = 0;
	host_open(&h);
	pb_icreq(&b, &plain);
	pb_h2c_data(&b, &plain, 1, 1, 0, data, 512, true);
	host_write(&h, b.p, b.len);
	settle(&h);
	expect_term(&h, 1, NVME_TCP_FES_INVALID_HEADER);
	host_close(&h);
	pb_free(&b);
}

/* The first attack of the issue: more PDUs in the segment of the ICReq
 * (a second ICReq, a bad header length, an unknown type). ICResp, then one
 * C2HTermReq, then the end: never the same PDUs over and over. */
static void test_pipelined_after_icreq(void **state)
{
	static const struct {
		uint8_t bytes[8];
		uint16_t fes;
	} cases[] = {
		{ { NVME_TCP_ICREQ, 0, 128, 0, 128, 0, 0, 0 }, NVME_TCP_FES_PDU_SEQ_ERR },
		{ { NVME_TCP_CMD, 0, 99, 0, 99, 0, 0, 0 }, NVME_TCP_FES_INVALID_HEADER },
		{ { 0x42, 0, 24, 0, 24, 0, 0, 0 }, NVME_TCP_FES_INVALID_HEADER },
	};

	(void)state;
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pb_buf b = { 0 };
		struct host h;
		struct rx_pdus r;

		host_open(&h);
		pb_icreq(&b, &plain);
		pb_put(&b, cases[i].bytes, 8);
		pb_put(&b, NULL, 120);          /* more bytes than the header needs */
		host_write(&h, b.p, b.len);
		settle(&h);
		split_pdus(&h, &r);
		assert_int_equal(pdu_type(&r, 0), NVME_TCP_ICRESP);
		expect_term(&h, 1, cases[i].fes);
		host_close(&h);
		pb_free(&b);
	}
}

/* More commands in flight than the queue's SQSIZE end the connection. */
static void test_sqsize_enforced(void **state)
{
	struct pb_buf b = { 0 };
	struct host a, h;
	struct rx_pdus r;
	uint16_t cntlid;

	(void)state;
	cntlid = admin_session(&a);
	host_open(&h);
	pb_icreq(&b, &plain);
	pb_connect(&b, &plain, 1, 1, 3, 0, cntlid, NQN, HOSTNQN, hostid);     /* 4 entries */
	/* writes by R2T without data stay in flight */
	for (unsigned i = 0; i < 5; i++)
		pb_write(&b, &plain, (uint16_t)(10 + i), 1, i * 8, 8, NULL, 4096, false);
	host_write(&h, b.p, b.len);
	settle(&h);
	split_pdus(&h, &r);
	assert_int_equal(pdu_type(&r, 0), NVME_TCP_ICRESP);
	expect_ok(&r, 1, 1);
	for (unsigned i = 2; i < 6; i++)
		assert_int_equal(pdu_type(&r, i), NVME_TCP_R2T);
	expect_term(&h, 6, NVME_TCP_FES_PDU_SEQ_ERR);
	host_close(&h);
	host_close(&a);
	pb_free(&b);
}

/* A controller that holds its share of the pool (writes waiting for data
 * that never comes) stalls its own next command, and only that one: when
 * data comes and buffers return, the stalled command goes on. */
static void test_buffer_quota_stall_and_resume(void **state)
{
	struct pb_buf b = { 0 };
	struct host a, q[3];
	struct rx_pdus r;
	uint16_t cntlid;
	unsigned pool = E.t.reactors[0].pool.nbufs, r2ts = 0;
	static uint8_t data[4096];

	(void)state;
	cntlid = admin_session(&a);
	/* three queues of 128: 3 x 128 R2T writes; the controller may hold
	 * pool / 2 of them, the rest wait */
	for (unsigned qi = 0; qi < 3; qi++) {
		host_open(&q[qi]);
		b.len = 0;
		pb_icreq(&b, &plain);
		pb_connect(&b, &plain, 1, (uint16_t)(qi + 1), 127, 0, cntlid, NQN, HOSTNQN, hostid);
		for (unsigned i = 0; i < 128; i++)
			pb_write(&b, &plain, (uint16_t)(100 + i), 1, (qi * 128 + i) * 8, 8, NULL, 4096, false);
		host_write(&q[qi], b.p, b.len);
		settle(&q[qi]);
	}
	for (unsigned qi = 0; qi < 3; qi++) {
		split_pdus(&q[qi], &r);
		for (unsigned i = 0; i < r.n; i++)
			r2ts += pdu_type(&r, i) == NVME_TCP_R2T;
	}
	/* the controller quota, plus the minimum every queue keeps */
	assert_true(r2ts >= pool / NVMF_BUF_QUOTA_CTRL_DIV);
	assert_true(r2ts <= pool / NVMF_BUF_QUOTA_CTRL_DIV + 2 * NVMF_BUF_MIN_SQ);
	assert_true(r2ts < 3 * 128);
	/* queue 1 sends the data of all its writes: its buffers come back
	 * and the waiting commands of queue 3 get theirs */
	split_pdus(&q[0], &r);
	b.len = 0;
	for (unsigned i = 2; i < r.n; i++) {
		const struct nvme_tcp_r2t_pdu *t = (const void *)r.p[i];

		assert_int_equal(t->hdr.type, NVME_TCP_R2T);
		pb_h2c_data(&b, &plain, t->cccid, t->ttag, 0, data, t->r2tl, true);
	}
	host_write(&q[0], b.p, b.len);
	for (int i = 0; i < 100; i++) {
		settle(&q[0]);
		settle(&q[1]);
		settle(&q[2]);
	}
	r2ts = 0;
	for (unsigned qi = 1; qi < 3; qi++) {
		split_pdus(&q[qi], &r);
		for (unsigned i = 0; i < r.n; i++)
			r2ts += pdu_type(&r, i) == NVME_TCP_R2T;
	}
	assert_int_equal(r2ts, 2 * 128);
	for (unsigned qi = 0; qi < 3; qi++)
		host_close(&q[qi]);
	host_close(&a);
	pb_free(&b);
}

/* A write whose data digest is wrong: the command fails with Transient
 * Transport Error (22h, no DNR: the host may retry it), nothing is
 * written, and the connection goes on. */
static void test_data_digest_error(void **state)
{
	struct pb_buf b = { 0 };
	struct host a, h;
	struct rx_pdus r;
	const struct nvme_tcp_hdr *ch;
	uint16_t cntlid, st;

	(void)state;
	memset(pattern, 0x5a, sizeof(pattern));
	cntlid = admin_session(&a);
	host_open(&h);
	pb_icreq(&b, &digests);
	pb_connect(&b, &digests, 1, 1, 31, 0, cntlid, NQN, HOSTNQN, hostid);
	pb_write(&b, &digests, 2, 1, 128, 16, pattern, sizeof(pattern), true);
	b.p[b.len - 1] ^= 0xff;         /* the DDGST no longer matches */
	pb_read(&b, &digests, 3, 1, 128, 16, sizeof(pattern));
	host_write(&h, b.p, b.len);
	settle(&h);
	split_pdus(&h, &r);
	assert_int_equal(r.n, 5);
	expect_ok(&r, 1, 1);
	st = NVME_CQE_STATUS(rsp_cqe(&r, 2));
	assert_int_equal(rsp_cqe(&r, 2)->cid, 2);
	assert_int_equal(st, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_TRANSIENT_TRANSPORT));
	assert_int_equal(st & NVME_STATUS_DNR, 0);
	/* the read still works on the same connection, and the blocks were
	 * not written */
	assert_int_equal(pdu_type(&r, 3), NVME_TCP_C2H_DATA);
	ch = (const void *)r.p[3];
	assert_int_not_equal(r.p[3][ch->pdo], 0x5a);
	expect_ok(&r, 4, 3);
	assert_false(h.eof);
	host_close(&h);
	host_close(&a);
	pb_free(&b);
}

/* Wait, in epoll, for the target's own timers (no sleep). */
static bool wait_eof(struct host *h, unsigned ms)
{
	uint64_t end = reactor_now_ns() + (uint64_t)ms * 1000000u;

	while (!h->eof && reactor_now_ns() < end) {
		reactor_run_once(&E.t.reactors[0].r, 10);
		host_read(h);
	}
	return h->eof;
}

static int env_up_short_deadlines(void **state)
{
	(void)state;
	log_set_level(LOG_LVL_ERR);
	env_up_json(", \"icreq_timeout_ms\": 200, \"connect_timeout_ms\": 400");
	return 0;
}

static void test_deadlines(void **state)
{
	struct pb_buf b = { 0 };
	struct host silent, icreq_only, connected;
	uint64_t t0 = reactor_now_ns();

	(void)state;
	host_open(&silent);
	host_open(&icreq_only);
	pb_icreq(&b, &plain);
	host_write(&icreq_only, b.p, b.len);
	settle(&icreq_only);
	admin_session(&connected);
	assert_true(wait_eof(&silent, 5000));
	assert_true(reactor_now_ns() - t0 >= 200000000u);
	assert_true(wait_eof(&icreq_only, 5000));
	assert_true(reactor_now_ns() - t0 >= 400000000u);
	/* connected: no deadline any more */
	assert_false(wait_eof(&connected, 600));
	host_close(&silent);
	host_close(&icreq_only);
	host_close(&connected);
	pb_free(&b);
}

/* Before Connect a connection costs a few hundred bytes: no staging
 * buffer, no request slots, no data buffer. */
static void test_idle_connection_memory(void **state)
{
	enum { N = 200 };
	static struct host h[N];
	struct mallinfo2 before, after;
	size_t per;

	(void)state;
	pump();
	before = mallinfo2();
	for (unsigned i = 0; i < N; i++)
		host_open(&h[i]);
	pump();
	after = mallinfo2();
	per = (after.uordblks - before.uordblks) / N;
	print_message("heap per idle connection: %zu bytes\n", per);
	assert_true(per < 800);
	for (unsigned i = 0; i < N; i++)
		host_close(&h[i]);
}

/* A Connect refused (unknown subsystem) ends the connection once the
 * answer is out; the answer still arrives. */
static void test_refused_connect_closes(void **state)
{
	struct pb_buf b = { 0 };
	struct host h;
	struct rx_pdus r;

	(void)state;
	host_open(&h);
	pb_icreq(&b, &plain);
	pb_connect(&b, &plain, 1, 0, 31, 0, 0xffff, "nqn.2024-01.org.example:nothere", HOSTNQN, hostid);
	host_write(&h, b.p, b.len);
	settle(&h);
	split_pdus(&h, &r);
	assert_int_equal(r.n, 2);
	assert_int_equal(NVME_CQE_STATUS(rsp_cqe(&r, 1)) & 0xff, NVMF_SC_CONNECT_INVALID_PARAM);
	assert_true(h.eof);
	host_close(&h);
	pb_free(&b);
}

/* A port removed by a reload closes its connections on every reactor
 * through the port's own messages: even with every call to a reactor
 * refused (as when its ring is full) none is left open. */
static void test_port_close_cannot_be_lost(void **state)
{
	struct host h[3];

	(void)state;
	for (unsigned i = 0; i < 3; i++)
		host_open(&h[i]);
	pump();
	assert_int_equal(nvmf_tcp_nr_conns(), 3);
	nvmf_test_fail_reactor_calls = 1000;
	nvmf_port_close_conns(&E.t, E.port);
	for (int i = 0; i < 100 && nvmf_tcp_nr_conns(); i++)
		pump();
	nvmf_test_fail_reactor_calls = 0;
	assert_int_equal(nvmf_tcp_nr_conns(), 0);
	for (unsigned i = 0; i < 3; i++) {
		settle(&h[i]);
		assert_true(h[i].eof);
		host_close(&h[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_split_everywhere, env_up, env_down),
		cmocka_unit_test_setup_teardown(test_byte_by_byte_and_merged, env_up, env_down),
		cmocka_unit_test_setup_teardown(test_burst_of_large_reads, env_up, env_down),
		cmocka_unit_test_setup_teardown(test_before_connect, env_up, env_down),
		cmocka_unit_test_setup_teardown(test_pipelined_after_icreq, env_up, env_down),
		cmocka_unit_test_setup_teardown(test_sqsize_enforced, env_up, env_down),
		cmocka_unit_test_setup_teardown(test_buffer_quota_stall_and_resume, env_up, env_down),
		cmocka_unit_test_setup_teardown(test_data_digest_error, env_up, env_down),
		cmocka_unit_test_setup_teardown(test_deadlines, env_up_short_deadlines, env_down),
		cmocka_unit_test_setup_teardown(test_idle_connection_memory, env_up, env_down),
		cmocka_unit_test_setup_teardown(test_refused_connect_closes, env_up, env_down),
		cmocka_unit_test_setup_teardown(test_port_close_cannot_be_lost, env_up, env_down),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
