/* SPDX-License-Identifier: MIT */
/*
 * nvmf-attack: the hostile network, as a program. Each command plays one
 * class of attack against a running nvmf-bridged over NVMe/TCP and checks
 * the answer the daemon owes it (a C2HTermReq with the right FES, an NVMe
 * status, a closed connection, nothing at all). It prints one line
 * "attack[<name>]: PASS|FAIL <figures>" and exits 0 only on PASS, so the
 * hostile-network suite (tests/host/hostile.sh) can run it next to a good
 * host doing verified I/O and judge both.
 *
 * It is deliberately blunt: raw PDUs from tests/support/pdu_build.c, plain
 * non-blocking sockets and poll(), no initiator state machine.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "nvme/regs.h"
#include "tests/support/pdu_build.h"

struct opts {
	const char *addr, *port, *nqn, *hostnqn;
	const char *source;             /* bind to this address (one or a base of several) */
	unsigned sources;               /* spread over this many consecutive addresses */
	unsigned count;
	unsigned rate;                  /* connections per second, 0 = as fast as possible */
	unsigned hold_ms;
	unsigned timeout_ms;
	unsigned queues;
	unsigned kato;
};

static struct opts O = {
	.addr = "127.0.0.1", .port = "4420", .hostnqn = "nqn.2014-08.org.nvmexpress:uuid:a77ac0de-0000-4000-8000-000000000001",
	.sources = 1, .count = 1, .timeout_ms = 5000, .queues = 4, .kato = 3000,
};

/* writes go here, past the region a good host verifies (its first 64 MiB) */
#define LBA_BASE 262144ull

static const uint8_t hostid[16] = { 0xa7, 0x7a, 0xc0, 0xde, 0, 0, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 1 };
static const struct pb_opts plain;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int result(const char *name, bool pass, const char *fmt, ...)
{
	va_list ap;

	printf("attack[%s]: %s ", name, pass ? "PASS" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	return pass ? 0 : 1;
}

/* A non-blocking TCP connection, from source address i of the set. */
static int dial(unsigned i)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(O.port)) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	struct pollfd p;

	if (fd < 0)
		return -errno;
	if (inet_pton(AF_INET, O.addr, &sa.sin_addr) != 1) {
		close(fd);
		return -EINVAL;
	}
	if (O.source) {
		struct sockaddr_in src = { .sin_family = AF_INET };

		inet_pton(AF_INET, O.source, &src.sin_addr);
		src.sin_addr.s_addr = htonl(ntohl(src.sin_addr.s_addr) + i % O.sources);
		if (bind(fd, (struct sockaddr *)&src, sizeof(src))) {
			int e = errno;

			close(fd);
			return -e;
		}
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(fd, F_SETFL, O_NONBLOCK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) && errno != EINPROGRESS) {
		int e = errno;

		close(fd);
		return -e;
	}
	p = (struct pollfd){ .fd = fd, .events = POLLOUT };
	if (poll(&p, 1, (int)O.timeout_ms) != 1) {
		close(fd);
		return -ETIMEDOUT;
	}
	return fd;
}

static int send_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EAGAIN) {
			struct pollfd pf = { .fd = fd, .events = POLLOUT };

			if (poll(&pf, 1, (int)O.timeout_ms) != 1)
				return -ETIMEDOUT;
			continue;
		}
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read until `want` complete PDUs arrived, EOF, or the timeout. Returns
 * the bytes read; *eof when the peer closed. */
static size_t recv_pdus(int fd, struct pb_buf *b, unsigned want, bool *eof, unsigned timeout_ms)
{
	uint64_t end = now_ms() + timeout_ms;

	*eof = false;
	for (;;) {
		unsigned have = 0;
		size_t off = 0, l;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint8_t buf[65536];
		ssize_t n;
		int left = (int)(end - now_ms());

		while ((l = pb_pdu_len(b->p + off, b->len - off))) {
			off += l;
			have++;
		}
		if ((want && have >= want) || left <= 0)
			return b->len;
		if (poll(&p, 1, left) != 1)
			continue;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0) {
			if (n < 0 && errno == EAGAIN)
				continue;
			*eof = true;
			return b->len;
		}
		pb_put(b, buf, (size_t)n);
	}
}

static const uint8_t *pdu_at(const struct pb_buf *b, unsigned idx)
{
	size_t off = 0, l;

	for (unsigned i = 0; (l = pb_pdu_len(b->p + off, b->len - off)); i++) {
		if (i == idx)
			return b->p + off;
		off += l;
	}
	return NULL;
}

static unsigned count_type(const struct pb_buf *b, uint8_t type)
{
	unsigned n = 0;
	const uint8_t *p;

	for (unsigned i = 0; (p = pdu_at(b, i)); i++)
		n += p[0] == type;
	return n;
}

/* the FES of the first C2HTermReq, or -1 */
static int term_fes(const struct pb_buf *b)
{
	const uint8_t *p;

	for (unsigned i = 0; (p = pdu_at(b, i)); i++)
		if (p[0] == NVME_TCP_C2H_TERM)
			return ((const struct nvme_tcp_term_pdu *)p)->fes;
	return -1;
}

static void pace(unsigned i, uint64_t t0)
{
	if (O.rate) {
		uint64_t due = t0 + (uint64_t)i * 1000u / O.rate;
		uint64_t t = now_ms();

		if (due > t) {
			struct timespec ts = { .tv_sec = (time_t)((due - t) / 1000), .tv_nsec = (long)((due - t) % 1000) * 1000000 };

			nanosleep(&ts, NULL);   /* the attacker's own pacing, not a wait for the target */
		}
	}
}

/* --- pipelined: more PDUs in the ICReq's segment ---------------------------------- */

static const struct {
	const char *name;
	uint8_t ch[8];
	uint16_t fes;
} pipelined_cases[] = {
	{ "second-icreq", { NVME_TCP_ICREQ, 0, 128, 0, 128, 0, 0, 0 }, NVME_TCP_FES_PDU_SEQ_ERR },
	{ "bad-hlen", { NVME_TCP_CMD, 0, 99, 0, 99, 0, 0, 0 }, NVME_TCP_FES_INVALID_HEADER },
	{ "unknown-type", { 0x42, 0, 24, 0, 24, 0, 0, 0 }, NVME_TCP_FES_INVALID_HEADER },
};

static int cmd_pipelined(void)
{
	unsigned ok = 0, total = 0;
	size_t most = 0;

	for (unsigned c = 0; c < sizeof(pipelined_cases) / sizeof(pipelined_cases[0]); c++) {
		for (unsigned i = 0; i < O.count; i++) {
			struct pb_buf b = { 0 }, r = { 0 };
			bool eof;
			int fd = dial(i);

			total++;
			if (fd < 0)
				continue;
			pb_icreq(&b, &plain);
			pb_put(&b, pipelined_cases[c].ch, 8);
			pb_put(&b, NULL, 120);
			send_all(fd, b.p, b.len);
			recv_pdus(fd, &r, 0, &eof, O.timeout_ms);
			if (r.len > most)
				most = r.len;
			/* ICResp, one C2HTermReq, end: 128 + 24 + up to 128 bytes */
			if (eof && count_type(&r, NVME_TCP_ICRESP) == 1 && term_fes(&r) == pipelined_cases[c].fes &&
			    count_type(&r, NVME_TCP_C2H_TERM) == 1 && r.len <= 128 + 152)
				ok++;
			close(fd);
			pb_free(&b);
			pb_free(&r);
		}
	}
	return result("pipelined", ok == total,
		      "%u/%u connections (second ICReq, bad HLEN, unknown type in the ICReq's segment) got ICResp, "
		      "one C2HTermReq with the right FES, then the end; at most %zu bytes back", ok, total, most);
}

/* --- r2t-hog: Writes with a transport SGL before Connect --------------------------- */

static int cmd_r2t_hog(void)
{
	unsigned ok = 0, r2ts = 0;

	for (unsigned i = 0; i < O.count; i++) {
		struct pb_buf b = { 0 }, r = { 0 };
		bool eof;
		int fd = dial(i);

		if (fd < 0)
			continue;
		pb_icreq(&b, &plain);
		for (unsigned k = 0; k < 4; k++)
			pb_write(&b, &plain, (uint16_t)(k + 1), 1, LBA_BASE + k * 256, 256, NULL, 128 * 1024, false);
		send_all(fd, b.p, b.len);
		recv_pdus(fd, &r, 0, &eof, O.timeout_ms);
		r2ts += count_type(&r, NVME_TCP_R2T);
		if (eof && term_fes(&r) == NVME_TCP_FES_PDU_SEQ_ERR && !count_type(&r, NVME_TCP_R2T))
			ok++;
		close(fd);
		pb_free(&b);
		pb_free(&r);
	}
	return result("r2t-hog", ok == O.count && !r2ts,
		      "%u/%u connections sending 128 KiB Writes before Connect got a C2HTermReq (FES 2) and %u R2Ts",
		      ok, O.count, r2ts);
}

/* --- churn: short connections that leave in-capsule data and garbage ------------------ */

static int cmd_churn(void)
{
	static uint8_t data[4096];
	uint64_t t0 = now_ms();
	unsigned sent = 0;

	for (unsigned i = 0; i < O.count; i++) {
		struct pb_buf b = { 0 };
		static const uint8_t unknown[8] = { 0x42, 0, 8, 0, 8, 0, 0, 0 };
		int fd;

		pace(i, t0);
		fd = dial(i);
		if (fd < 0)
			continue;
		pb_icreq(&b, &plain);
		pb_write(&b, &plain, 1, 1, LBA_BASE, 8, data, sizeof(data), true);
		pb_put(&b, unknown, sizeof(unknown));
		if (!send_all(fd, b.p, b.len))
			sent++;
		close(fd);              /* at once: whatever the daemon still sends is reset */
		pb_free(&b);
	}
	return result("churn", sent == O.count, "%u/%u connections sent ICReq, a 4 KiB in-capsule Write before Connect "
		      "and an unknown PDU, then closed, in %llu ms", sent, O.count, (unsigned long long)(now_ms() - t0));
}

/* --- idle: connections that never send a byte ----------------------------------------- */

/* Which of the open connections did the peer close? One poll() for all,
 * so that holding thousands costs the attacker next to nothing. Closed
 * ones are closed here too and set to -1; returns how many. */
static unsigned reap_closed(int *fds, struct pollfd *pf, unsigned n, int timeout_ms)
{
	unsigned closed = 0;

	for (unsigned i = 0; i < n; i++)
		pf[i] = (struct pollfd){ .fd = fds[i], .events = POLLRDHUP };
	if (poll(pf, n, timeout_ms) <= 0)
		return 0;
	for (unsigned i = 0; i < n; i++) {
		if (fds[i] >= 0 && (pf[i].revents & (POLLRDHUP | POLLHUP | POLLERR))) {
			close(fds[i]);
			fds[i] = -1;
			closed++;
		}
	}
	return closed;
}

static int cmd_idle(void)
{
	int *fds = calloc(O.count, sizeof(*fds));
	struct pollfd *pf = calloc(O.count, sizeof(*pf));
	unsigned opened = 0, at_once = 0, later = 0, still = 0;
	uint64_t t0, t_first = 0, t_last = 0, end, settle;

	if (!fds || !pf)
		return 1;
	for (unsigned i = 0; i < O.count; i++) {
		fds[i] = dial(i);
		opened += fds[i] >= 0;
	}
	t0 = now_ms();
	/* refused by a cap: closed within a moment of the connect */
	for (settle = t0 + 500; now_ms() < settle;)
		at_once += reap_closed(fds, pf, O.count, (int)(settle - now_ms()));
	printf("idle: %u opened, %u closed at once by the daemon, holding %u\n", opened, at_once, opened - at_once);
	fflush(stdout);
	end = t0 + O.hold_ms;
	while (now_ms() < end && opened > at_once + later) {
		unsigned n = reap_closed(fds, pf, O.count, (int)(end - now_ms()));

		if (n) {
			if (!t_first)
				t_first = now_ms() - t0;
			t_last = now_ms() - t0;
			later += n;
		}
	}
	for (unsigned i = 0; i < O.count; i++) {
		if (fds[i] >= 0) {
			still++;
			close(fds[i]);
		}
	}
	free(fds);
	free(pf);
	return result("idle", opened == O.count && !still,
		      "%u connections without ICReq: %u closed at once (caps), %u closed by the daemon between %llu and "
		      "%llu ms, %u still open after %u ms", opened, at_once, later, (unsigned long long)t_first,
		      (unsigned long long)t_last, still, O.hold_ms);
}

/* --- malformed: a stream of connections breaking the rules --------------------------- */

static int cmd_malformed(void)
{
	uint64_t t0 = now_ms();
	unsigned ok = 0;

	for (unsigned i = 0; i < O.count; i++) {
		unsigned c = i % (sizeof(pipelined_cases) / sizeof(pipelined_cases[0]));
		struct pb_buf b = { 0 }, r = { 0 };
		bool eof;
		int fd;

		pace(i, t0);
		fd = dial(i);
		if (fd < 0)
			continue;
		pb_icreq(&b, &plain);
		pb_put(&b, pipelined_cases[c].ch, 8);
		send_all(fd, b.p, b.len);
		recv_pdus(fd, &r, 0, &eof, O.timeout_ms);
		ok += eof && term_fes(&r) == pipelined_cases[c].fes;
		close(fd);
		pb_free(&b);
		pb_free(&r);
	}
	return result("malformed", ok == O.count, "%u/%u malformed connections terminated with the right FES in %llu ms",
		      ok, O.count, (unsigned long long)(now_ms() - t0));
}

/* --- associations ------------------------------------------------------------------------ */

/* ICReq + Connect on a fresh connection; the CNTLID, or -1 */
static int connect_queue(int fd, uint16_t qid, uint16_t sqsize, uint16_t cntlid, uint32_t kato, const char *hostnqn)
{
	struct pb_buf b = { 0 }, r = { 0 };
	const struct nvme_tcp_rsp_pdu *rsp;
	bool eof;
	int id = -1;

	pb_icreq(&b, &plain);
	pb_connect(&b, &plain, 1, qid, sqsize, kato, cntlid, O.nqn, hostnqn, hostid);
	if (!qid)
		pb_prop_set_cc(&b, &plain, 2, PB_CC_ENABLE);
	send_all(fd, b.p, b.len);
	recv_pdus(fd, &r, qid ? 2 : 3, &eof, O.timeout_ms);
	rsp = (const void *)pdu_at(&r, 1);
	if (rsp && rsp->hdr.type == NVME_TCP_RSP && !NVME_CQE_STATUS(&rsp->cqe))
		id = (int)(rsp->cqe.dw0 & 0xffff);
	pb_free(&b);
	pb_free(&r);
	return id;
}

/* Full associations: admin + I/O queue, a 4 KiB write and read back,
 * then close both. */
static int cmd_cycles(void)
{
	static uint8_t data[4096];
	uint64_t t0 = now_ms();
	unsigned ok = 0;

	for (unsigned i = 0; i < O.count; i++) {
		struct pb_buf b = { 0 }, r = { 0 };
		int a = dial(i), q = dial(i), id;
		const uint8_t *p;
		bool eof, good = false;

		if (a < 0 || q < 0)
			goto next;
		id = connect_queue(a, 0, 31, 0xffff, 0, O.hostnqn);
		if (id < 0 || connect_queue(q, 1, 31, (uint16_t)id, 0, O.hostnqn) < 0)
			goto next;
		for (unsigned k = 0; k < sizeof(data); k++)
			data[k] = (uint8_t)(i + k);
		pb_write(&b, &plain, 3, 1, LBA_BASE + (i % 1024) * 8, 8, data, sizeof(data), true);
		pb_read(&b, &plain, 4, 1, LBA_BASE + (i % 1024) * 8, 8, sizeof(data));
		send_all(q, b.p, b.len);
		recv_pdus(q, &r, 3, &eof, O.timeout_ms);
		p = pdu_at(&r, 1);
		good = p && p[0] == NVME_TCP_C2H_DATA &&
		       !memcmp(p + ((const struct nvme_tcp_hdr *)p)->pdo, data, sizeof(data));
next:
		ok += good;
		if (q >= 0)
			close(q);
		if (a >= 0)
			close(a);
		pb_free(&b);
		pb_free(&r);
	}
	return result("cycles", ok == O.count, "%u/%u associations (admin + I/O queue, 4 KiB written and read back) in "
		      "%llu ms", ok, O.count, (unsigned long long)(now_ms() - t0));
}

/* One allowed host opens queues of large reads and never reads its
 * sockets, nor sends keep-alives: its controller must end by KATO, and
 * only its own queues stall meanwhile. */
static int cmd_slow_reader(void)
{
	int a = dial(0), id;
	int *q = calloc(O.queues, sizeof(*q));
	uint64_t t0;
	unsigned closed = 0;

	if (a < 0 || !q)
		return result("slow-reader", false, "cannot connect");
	id = connect_queue(a, 0, 31, 0xffff, O.kato, O.hostnqn);
	if (id < 0)
		return result("slow-reader", false, "admin Connect failed");
	for (unsigned i = 0; i < O.queues; i++) {
		struct pb_buf b = { 0 };

		q[i] = dial(0);
		if (q[i] < 0 || connect_queue(q[i], (uint16_t)(i + 1), 127, (uint16_t)id, 0, O.hostnqn) < 0)
			return result("slow-reader", false, "I/O Connect %u failed", i + 1);
		for (unsigned k = 0; k < 128; k++)
			pb_read(&b, &plain, (uint16_t)(10 + k), 1, (uint64_t)k * 256, 256, 128 * 1024);
		send_all(q[i], b.p, b.len);
		pb_free(&b);
	}
	t0 = now_ms();
	printf("slow-reader: controller %d, %u queues x 128 reads of 128 KiB, reading nothing\n", id, O.queues);
	fflush(stdout);
	/* the daemon must close every queue: the kernel then reports it */
	while (now_ms() - t0 < O.hold_ms && closed < O.queues + 1) {
		struct pollfd p = { .fd = a, .events = POLLRDHUP };

		closed = 0;
		if (poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
			closed++;
		for (unsigned i = 0; i < O.queues; i++) {
			p = (struct pollfd){ .fd = q[i], .events = POLLRDHUP };
			if (poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
				closed++;
		}
		poll(NULL, 0, 100);
	}
	for (unsigned i = 0; i < O.queues; i++)
		close(q[i]);
	close(a);
	free(q);
	return result("slow-reader", closed == O.queues + 1,
		      "%u of %u connections of the non-reading host closed by the daemon after %llu ms (KATO %u ms)",
		      closed, O.queues + 1, (unsigned long long)(now_ms() - t0), O.kato);
}

/* A Connect whose host NQN carries a newline, a forged log line and a
 * terminal escape. The daemon answers it (the host is allowed or not);
 * the suite then looks at the log. */
static int cmd_forge_nqn(void)
{
	char nqn[256];
	int fd = dial(0), id;

	snprintf(nqn, sizeof(nqn), "nqn.2014-08.org.nvmexpress:uuid:x\nnvmf-bridged: FORGED root login\x1b[2J");
	if (fd < 0)
		return result("forge-nqn", false, "cannot connect");
	id = connect_queue(fd, 0, 31, 0xffff, 0, nqn);
	if (O.hold_ms) {
		printf("forge-nqn: holding the controller for %u ms\n", O.hold_ms);
		fflush(stdout);
		poll(NULL, 0, (int)O.hold_ms);  /* for the suite to look at nvmf-bridgectl list */
	}
	close(fd);
	return result("forge-nqn", true, "Connect with a host NQN carrying a newline and an escape sequence answered "
		      "(%s)", id >= 0 ? "accepted" : "refused");
}

/* --- spec abuses of PDU fields after a good Connect --------------------------------------- */

struct field_case {
	const char *name;
	uint16_t fes;                   /* expected C2HTermReq FES, 0: an NVMe status instead */
	uint16_t status;                /* expected status (SCT/SC, no DNR) when fes == 0 */
	void (*build)(struct pb_buf *b);
};

static void f_hlen(struct pb_buf *b)
{
	struct nvme_sqe c = pb_sqe(NVME_CMD_FLUSH, 20, 1);
	size_t at = b->len;

	pb_capsule(b, &plain, &c, NULL, 0);
	b->p[at + 2] = 24;              /* HLEN of a CapsuleCmd is 72 */
}

static void f_pdo_in_header(struct pb_buf *b)
{
	static uint8_t d[512];
	struct nvme_sqe c = pb_sqe(NVME_CMD_WRITE, 20, 1);
	size_t at = b->len;

	c.cdw10 = (uint32_t)LBA_BASE;
	c.dptr.sgl.type = 0x01;
	c.dptr.sgl.length = 512;
	pb_capsule(b, &plain, &c, d, 512);
	b->p[at + 3] = 8;               /* data offset inside the header */
}

static void f_plen_short(struct pb_buf *b)
{
	struct nvme_sqe c = pb_sqe(NVME_CMD_FLUSH, 20, 1);
	size_t at = b->len;

	pb_capsule(b, &plain, &c, NULL, 0);
	((struct nvme_tcp_hdr *)(b->p + at))->plen = 40;
}

static void f_icd_too_big(struct pb_buf *b)
{
	static uint8_t d[65536];
	struct nvme_sqe c = pb_sqe(NVME_CMD_WRITE, 20, 1);

	c.cdw10 = (uint32_t)LBA_BASE;
	c.dptr.sgl.type = 0x01;
	c.dptr.sgl.length = sizeof(d);
	c.cdw12 = 127;
	pb_capsule(b, &plain, &c, d, sizeof(d));
}

static void f_ddgst_flag(struct pb_buf *b)
{
	static uint8_t d[512];
	struct nvme_sqe c = pb_sqe(NVME_CMD_WRITE, 20, 1);
	size_t at = b->len;

	c.cdw10 = (uint32_t)LBA_BASE;
	c.dptr.sgl.type = 0x01;
	c.dptr.sgl.length = 512;
	pb_capsule(b, &plain, &c, d, 512);
	b->p[at + 1] |= NVME_TCP_F_DDGST;       /* not negotiated */
}

static void f_h2c_ttag0(struct pb_buf *b)
{
	static uint8_t d[512];

	pb_h2c_data(b, &plain, 20, 0, 0, d, 512, true);
}

static void f_h2c_ttag_big(struct pb_buf *b)
{
	static uint8_t d[512];

	pb_h2c_data(b, &plain, 20, 4000, 0, d, 512, true);
}

static void f_h2c_no_r2t(struct pb_buf *b)
{
	static uint8_t d[512];

	pb_h2c_data(b, &plain, 20, 1, 0, d, 512, true);
}

/* a Write by R2T, then H2CData at the wrong offset (the R2T is for TTAG 1:
 * the first free slot of a fresh queue) */
static void f_h2c_datao(struct pb_buf *b)
{
	static uint8_t d[512];

	pb_write(b, &plain, 20, 1, LBA_BASE, 8, NULL, 4096, false);
	pb_h2c_data(b, &plain, 20, 1, 512, d, 512, true);
}

static void f_h2c_datal(struct pb_buf *b)
{
	static uint8_t d[8192];

	pb_write(b, &plain, 20, 1, LBA_BASE, 8, NULL, 4096, false);
	pb_h2c_data(b, &plain, 20, 1, 0, d, 8192, true);
}

static void f_h2c_cccid(struct pb_buf *b)
{
	static uint8_t d[4096];

	pb_write(b, &plain, 20, 1, LBA_BASE, 8, NULL, 4096, false);
	pb_h2c_data(b, &plain, 21, 1, 0, d, 4096, true);
}

static void f_c2h_type(struct pb_buf *b)
{
	static const uint8_t ch[24] = { NVME_TCP_C2H_DATA, 0, 24, 0, 24, 0, 0, 0 };

	pb_put(b, ch, sizeof(ch));
}

static void f_second_icreq(struct pb_buf *b)
{
	pb_icreq(b, &plain);
}

static void f_bad_nsid(struct pb_buf *b)
{
	pb_read(b, &plain, 20, 77, 0, 8, 4096);
}

static void f_lba_range(struct pb_buf *b)
{
	pb_read(b, &plain, 20, 1, ~0ull >> 8, 8, 4096);
}

static void f_sgl_type(struct pb_buf *b)
{
	struct nvme_sqe c = pb_sqe(NVME_CMD_READ, 20, 1);

	c.cdw12 = 7;
	c.dptr.sgl.length = 4096;
	c.dptr.sgl.type = 0x30;         /* not a descriptor type the target takes */
	pb_capsule(b, &plain, &c, NULL, 0);
}

static void f_fused(struct pb_buf *b)
{
	struct nvme_sqe c = pb_sqe(NVME_CMD_READ, 20, 1);

	c.flags |= 1;
	c.cdw12 = 7;
	c.dptr.sgl.length = 4096;
	pb_capsule(b, &plain, &c, NULL, 0);
}

static void f_mdts(struct pb_buf *b)
{
	pb_read(b, &plain, 20, 1, 0, 4096, 2u << 20);
}

static const struct field_case field_cases[] = {
	{ "capsule-hlen", NVME_TCP_FES_INVALID_HEADER, 0, f_hlen },
	{ "capsule-pdo-in-header", NVME_TCP_FES_INVALID_HEADER, 0, f_pdo_in_header },
	{ "capsule-plen-short", NVME_TCP_FES_INVALID_HEADER, 0, f_plen_short },
	{ "capsule-icd-over-limit", NVME_TCP_FES_INVALID_HEADER, 0, f_icd_too_big },
	{ "ddgst-not-negotiated", NVME_TCP_FES_INVALID_HEADER, 0, f_ddgst_flag },
	{ "h2cdata-ttag-0", NVME_TCP_FES_INVALID_HEADER, 0, f_h2c_ttag0 },
	{ "h2cdata-ttag-out-of-range", NVME_TCP_FES_INVALID_HEADER, 0, f_h2c_ttag_big },
	{ "h2cdata-without-r2t", NVME_TCP_FES_INVALID_HEADER, 0, f_h2c_no_r2t },
	{ "h2cdata-wrong-datao", NVME_TCP_FES_PDU_SEQ_ERR, 0, f_h2c_datao },
	{ "h2cdata-over-r2t", NVME_TCP_FES_DATA_OUT_OF_RANGE, 0, f_h2c_datal },
	{ "h2cdata-wrong-cccid", NVME_TCP_FES_INVALID_HEADER, 0, f_h2c_cccid },
	{ "c2h-type-from-host", NVME_TCP_FES_INVALID_HEADER, 0, f_c2h_type },
	{ "icreq-after-connect", NVME_TCP_FES_PDU_SEQ_ERR, 0, f_second_icreq },
	{ "io-invalid-nsid", 0, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_NS), f_bad_nsid },
	{ "io-lba-out-of-range", 0, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_LBA_RANGE), f_lba_range },
	{ "io-sgl-type", 0, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_TYPE), f_sgl_type },
	{ "io-fused", 0, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD), f_fused },
	{ "io-over-mdts", 0, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD), f_mdts },
};

static int cmd_fields(void)
{
	unsigned ok = 0, n = sizeof(field_cases) / sizeof(field_cases[0]);
	int a = dial(0), id;
	char failed[1024] = "";

	if (a < 0)
		return result("fields", false, "cannot connect");
	id = connect_queue(a, 0, 31, 0xffff, 0, O.hostnqn);
	for (unsigned i = 0; i < n; i++) {
		const struct field_case *fc = &field_cases[i];
		struct pb_buf b = { 0 }, r = { 0 };
		int q = dial(0);
		bool eof, good = false;

		if (q < 0 || id < 0 || connect_queue(q, 1, 31, (uint16_t)id, 0, O.hostnqn) < 0)
			goto next;
		fc->build(&b);
		send_all(q, b.p, b.len);
		if (fc->fes) {
			recv_pdus(q, &r, 0, &eof, O.timeout_ms);
			good = eof && term_fes(&r) == fc->fes;
		} else {
			const uint8_t *p;

			recv_pdus(q, &r, 1, &eof, O.timeout_ms);
			p = pdu_at(&r, 0);
			good = p && p[0] == NVME_TCP_RSP &&
			       (NVME_CQE_STATUS(&((const struct nvme_tcp_rsp_pdu *)p)->cqe) & 0x7ff) == fc->status;
		}
next:
		if (good)
			ok++;
		else
			snprintf(failed + strlen(failed), sizeof(failed) - strlen(failed), " %s", fc->name);
		if (q >= 0)
			close(q);
		pb_free(&b);
		pb_free(&r);
	}
	close(a);
	return result("fields", ok == n, "%u/%u abuses of PDU and command fields answered as the spec says "
		      "(C2HTermReq FES or NVMe status)%s%s", ok, n, failed[0] ? "; wrong:" : "", failed);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: nvmf-attack COMMAND [options]\n"
		"commands: pipelined r2t-hog churn idle malformed cycles slow-reader forge-nqn fields\n"
		"  -a ADDR -s PORT -n SUBNQN --hostnqn NQN\n"
		"  --source ADDR --sources N   bind to N consecutive source addresses from ADDR\n"
		"  --count N --rate PER_S --hold MS --timeout MS --queues N --kato MS\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "traddr", required_argument, NULL, 'a' }, { "trsvcid", required_argument, NULL, 's' },
		{ "nqn", required_argument, NULL, 'n' }, { "hostnqn", required_argument, NULL, 'H' },
		{ "source", required_argument, NULL, 'S' }, { "sources", required_argument, NULL, 'N' },
		{ "count", required_argument, NULL, 'c' }, { "rate", required_argument, NULL, 'r' },
		{ "hold", required_argument, NULL, 'h' }, { "timeout", required_argument, NULL, 't' },
		{ "queues", required_argument, NULL, 'q' }, { "kato", required_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 },
	};
	struct rlimit rl;
	const char *cmd;
	int opt;

	if (argc < 2) {
		usage();
		return 2;
	}
	cmd = argv[1];
	optind = 2;
	while ((opt = getopt_long(argc, argv, "a:s:n:", lo, NULL)) != -1) {
		switch (opt) {
		case 'a': O.addr = optarg; break;
		case 's': O.port = optarg; break;
		case 'n': O.nqn = optarg; break;
		case 'H': O.hostnqn = optarg; break;
		case 'S': O.source = optarg; break;
		case 'N': O.sources = (unsigned)atoi(optarg); break;
		case 'c': O.count = (unsigned)atoi(optarg); break;
		case 'r': O.rate = (unsigned)atoi(optarg); break;
		case 'h': O.hold_ms = (unsigned)atoi(optarg); break;
		case 't': O.timeout_ms = (unsigned)atoi(optarg); break;
		case 'q': O.queues = (unsigned)atoi(optarg); break;
		case 'k': O.kato = (unsigned)atoi(optarg); break;
		default: usage(); return 2;
		}
	}
	if (!O.sources)
		O.sources = 1;
	/* thousands of sockets */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (!O.nqn && strcmp(cmd, "pipelined") && strcmp(cmd, "r2t-hog") && strcmp(cmd, "churn") &&
	    strcmp(cmd, "idle") && strcmp(cmd, "malformed")) {
		fprintf(stderr, "nvmf-attack %s: -n SUBNQN is needed\n", cmd);
		return 2;
	}
	if (!strcmp(cmd, "pipelined"))
		return cmd_pipelined();
	if (!strcmp(cmd, "r2t-hog"))
		return cmd_r2t_hog();
	if (!strcmp(cmd, "churn"))
		return cmd_churn();
	if (!strcmp(cmd, "idle"))
		return cmd_idle();
	if (!strcmp(cmd, "malformed"))
		return cmd_malformed();
	if (!strcmp(cmd, "cycles"))
		return cmd_cycles();
	if (!strcmp(cmd, "slow-reader"))
		return cmd_slow_reader();
	if (!strcmp(cmd, "forge-nqn"))
		return cmd_forge_nqn();
	if (!strcmp(cmd, "fields"))
		return cmd_fields();
	usage();
	return 2;
}
