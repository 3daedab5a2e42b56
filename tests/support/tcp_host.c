/* SPDX-License-Identifier: MIT */
/*
 * The project's NVMe/TCP initiator: see tcp_host.h for the conventions.
 *
 * References, cited where a rule comes from:
 *  - NVMe/TCP Transport Specification 1.0 ("TCP 1.0"), NVMe over Fabrics 1.1
 *    and NVMe Base 2.0 (Connect, Property Get/Set, discovery log).
 *  - Linux drivers/nvme/host/tcp.c ("Linux"): the initiator every target
 *    must satisfy; its error messages are quoted so a failure here reads
 *    like the one the Linux host would log.
 *  - FreeBSD sys/dev/nvmf/nvmf_tcp.{c,h}: validates every received header
 *    field in order; used where Linux does not check at all.
 */
#include "tests/support/tcp_host.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "common/dhchap.h"
#include "nvme/auth.h"
#include "tests/support/dhchap_host.h"
#include "nvme/regs.h"

/* SGL descriptor types the TCP transport uses (TCP 1.0 3.3.7; Linux
 * nvme_tcp_set_sg_inline()/nvme_tcp_set_sg_host_data()). */
#define SGL_TYPE_ICD        0x01 /* Data Block descriptor, Offset subtype: in-capsule */
#define SGL_TYPE_TRANSPORT  0x5a /* Transport SGL Data Block, transport specific subtype */

/* CAP.CSS bit 6: I/O command sets (CSI) supported; CC.CSS = 110b then */
#define CAP_CSS_CSI         0x40u
#define CC_CSS_CSI          6u
#define NVM_IOSQES          6u   /* 64-byte SQE */
#define NVM_IOCQES          4u   /* 16-byte CQE */

/* Connect response DW0 AUTHREQ (Linux NVME_CONNECT_AUTHREQ_ATR/ASCR) */
#define CONNECT_AUTHREQ_ATR  (1u << 17)
#define CONNECT_AUTHREQ_ASCR (1u << 18)

#define RAW_MAX_PLEN (64u << 20)

static const char *const pdu_names[] = {
	[NVME_TCP_ICREQ] = "ICReq",
	[NVME_TCP_ICRESP] = "ICResp",
	[NVME_TCP_H2C_TERM] = "H2CTermReq",
	[NVME_TCP_C2H_TERM] = "C2HTermReq",
	[NVME_TCP_CMD] = "CapsuleCmd",
	[NVME_TCP_RSP] = "CapsuleResp",
	[NVME_TCP_H2C_DATA] = "H2CData",
	[NVME_TCP_C2H_DATA] = "C2HData",
	[NVME_TCP_R2T] = "R2T",
};

const char *tcp_host_pdu_name(uint8_t type)
{
	if (type < sizeof(pdu_names) / sizeof(pdu_names[0]) && pdu_names[type])
		return pdu_names[type];
	return "unknown PDU";
}

const char *tcp_host_fes_name(uint16_t fes)
{
	switch (fes) {
	case NVME_TCP_FES_INVALID_HEADER: return "invalid PDU header field";
	case NVME_TCP_FES_PDU_SEQ_ERR: return "PDU sequence error";
	case NVME_TCP_FES_HDR_DIGEST_ERR: return "header digest error";
	case NVME_TCP_FES_DATA_OUT_OF_RANGE: return "data transfer out of range";
	case NVME_TCP_FES_DATA_LIMIT_EXCEEDED: return "R2T/data transfer limit exceeded";
	case NVME_TCP_FES_UNSUPPORTED_PARAM: return "unsupported parameter";
	default: return "reserved FES";
	}
}

const char *tcp_host_status_str(uint16_t status)
{
	static __thread char buf[96];
	unsigned int sct = NVME_STATUS_SCT(status), sc = NVME_STATUS_SC(status);
	const char *name = NULL;

	if (sct == NVME_SCT_GENERIC) {
		switch (sc) {
		case NVME_SC_SUCCESS: name = "success"; break;
		case NVME_SC_INVALID_OPCODE: name = "invalid opcode"; break;
		case NVME_SC_INVALID_FIELD: name = "invalid field"; break;
		case NVME_SC_CID_CONFLICT: name = "command ID conflict"; break;
		case NVME_SC_DATA_XFER_ERROR: name = "data transfer error"; break;
		case NVME_SC_INTERNAL: name = "internal error"; break;
		case NVME_SC_ABORT_REQ: name = "aborted by request"; break;
		case NVME_SC_INVALID_NS: name = "invalid namespace"; break;
		case NVME_SC_CMD_SEQ_ERROR: name = "command sequence error"; break;
		case NVME_SC_SGL_INVALID_DATA: name = "SGL data block descriptor invalid"; break;
		case NVME_SC_SGL_INVALID_TYPE: name = "SGL descriptor type invalid"; break;
		case NVME_SC_SGL_INVALID_OFFSET: name = "SGL offset invalid"; break;
		case NVME_SC_LBA_RANGE: name = "LBA out of range"; break;
		case NVME_SC_CAP_EXCEEDED: name = "capacity exceeded"; break;
		case NVME_SC_NS_NOT_READY: name = "namespace not ready"; break;
		}
	} else if (sct == NVME_SCT_CMD_SPECIFIC) {
		switch (sc) {
		case NVME_SC_QID_INVALID: name = "invalid queue identifier"; break;
		case NVME_SC_QUEUE_SIZE: name = "invalid queue size"; break;
		case NVME_SC_INVALID_LOG_PAGE: name = "invalid log page"; break;
		case NVME_SC_FEATURE_NOT_CHANGEABLE: name = "feature not changeable"; break;
		case NVMF_SC_CONNECT_INCOMPATIBLE_FORMAT: name = "connect incompatible format"; break;
		case NVMF_SC_CONNECT_CTRL_BUSY: name = "connect controller busy"; break;
		case NVMF_SC_CONNECT_INVALID_PARAM: name = "connect invalid parameters"; break;
		case NVMF_SC_CONNECT_RESTART_DISC: name = "connect restart discovery"; break;
		case NVMF_SC_CONNECT_INVALID_HOST: name = "connect invalid host"; break;
		case NVMF_SC_DISC_LOG_RESTART: name = "discovery restart"; break;
		case NVMF_SC_AUTH_REQUIRED: name = "authentication required"; break;
		}
	}
	snprintf(buf, sizeof(buf), "SCT %u SC %#04x (%s)%s%s", sct, sc, name ? name : "?",
		 (status & NVME_STATUS_MORE) ? " M" : "", (status & NVME_STATUS_DNR) ? " DNR" : "");
	return buf;
}

uint32_t tcp_host_digest(const void *buf, size_t len)
{
	return crc32c(0, buf, len);
}

/* --- errors ------------------------------------------------------------- */

const char *tcp_host_error(const struct tcp_host_q *q)
{
	return q->err[0] ? q->err : "no error";
}

static int vset_err(struct tcp_host_q *q, int err, const char *fmt, va_list ap)
{
	int n = snprintf(q->err, sizeof(q->err), "q%u: ", q->qid);

	if (n < 0 || (size_t)n >= sizeof(q->err))
		n = 0;
	vsnprintf(q->err + n, sizeof(q->err) - n, fmt, ap);
	if (q->trace)
		fprintf(stderr, "tcp_host: %s\n", q->err);
	return err;
}

/* an error the queue survives (bad argument, a status, a timeout at a PDU
 * boundary) */
__attribute__((format(printf, 3, 4)))
static int set_err(struct tcp_host_q *q, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset_err(q, err, fmt, ap);
	va_end(ap);
	return err;
}

/* an error that ends the queue: the byte stream can no longer be trusted */
__attribute__((format(printf, 3, 4)))
static int fail(struct tcp_host_q *q, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset_err(q, err, fmt, ap);
	va_end(ap);
	q->dead = err;
	return err;
}

static const char *const dev_names[TCP_HOST_DEV_NR] = {
	[TCP_HOST_DEV_CQE_SQID] = "cqe-sqid",
	[TCP_HOST_DEV_C2H_SUCCESS_SQFC] = "c2h-success-with-sqfc",
	[TCP_HOST_DEV_SQHD] = "sqhd",
};

const char *tcp_host_dev_name(enum tcp_host_dev d)
{
	return (unsigned)d < TCP_HOST_DEV_NR ? dev_names[d] : "?";
}

uint64_t tcp_host_deviations(const struct tcp_host_q *q)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < TCP_HOST_DEV_NR; i++)
		n += q->nr_dev[i];
	return n;
}

/*
 * A deviation from the specification that leaves the byte stream
 * trustworthy: fatal for a strict queue; a lenient one (a load generator
 * measuring somebody else's target) counts it, says so once per kind and
 * goes on. Returns 0 when the caller may continue.
 */
__attribute__((format(printf, 3, 4)))
static int deviate(struct tcp_host_q *q, enum tcp_host_dev kind, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (!q->lenient) {
		vset_err(q, -EPROTO, fmt, ap);
		va_end(ap);
		q->dead = -EPROTO;
		return -EPROTO;
	}
	if (!q->nr_dev[kind]++) {
		char msg[256];

		vsnprintf(msg, sizeof(msg), fmt, ap);
		fprintf(stderr, "warning: qid %u: %s (not fatal here: counted as \"%s\", "
			"further ones are not printed)\n", q->qid, msg, dev_names[kind]);
	}
	va_end(ap);
	return 0;
}

/* --- socket I/O --------------------------------------------------------- */

static int send_iov(struct tcp_host_q *q, struct iovec *iov, int cnt)
{
	struct msghdr mh = { 0 };

	while (cnt > 0 && iov->iov_len == 0) {
		iov++;
		cnt--;
	}
	while (cnt > 0) {
		ssize_t n;

		mh.msg_iov = iov;
		mh.msg_iovlen = cnt;
		/* MSG_NOSIGNAL: a controller that hangs up is an error
		 * return, not a SIGPIPE that kills the test */
		n = sendmsg(q->fd, &mh, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return fail(q, -ETIMEDOUT, "send timed out after %u ms", q->timeout_ms);
			return fail(q, -errno, "send: %s", strerror(errno));
		}
		while (n > 0) {
			if ((size_t)n >= iov->iov_len) {
				n -= iov->iov_len;
				iov++;
				cnt--;
			} else {
				iov->iov_base = (uint8_t *)iov->iov_base + n;
				iov->iov_len -= n;
				n = 0;
			}
		}
		while (cnt > 0 && iov->iov_len == 0) {
			iov++;
			cnt--;
		}
	}
	return 0;
}

/*
 * Read exactly len bytes. A timeout before the first byte of a PDU
 * (boundary) leaves the queue usable; anywhere else the stream is lost.
 */
static int recv_exact(struct tcp_host_q *q, void *buf, size_t len, bool boundary)
{
	uint8_t *p = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t n = recv(q->fd, p + got, len - got, 0);

		if (n == 0)
			return fail(q, -ECONNRESET, "connection closed by the controller%s",
				    got || !boundary ? " in the middle of a PDU" : "");
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if (boundary && got == 0)
					return set_err(q, -ETIMEDOUT, "no PDU from the controller in %u ms",
						       q->timeout_ms);
				return fail(q, -ETIMEDOUT, "receive timed out after %u ms inside a PDU",
					    q->timeout_ms);
			}
			if (errno == ECONNRESET)
				return fail(q, -ECONNRESET, "connection reset by the controller");
			return fail(q, -errno, "receive: %s", strerror(errno));
		}
		got += n;
	}
	return 0;
}

static int recv_discard(struct tcp_host_q *q, size_t len)
{
	uint8_t scratch[4096];

	while (len) {
		size_t n = len < sizeof(scratch) ? len : sizeof(scratch);
		int ret = recv_exact(q, scratch, n, false);

		if (ret)
			return ret;
		len -= n;
	}
	return 0;
}

static size_t align_up(size_t v, size_t a)
{
	return (v + a - 1) / a * a;
}

static unsigned int hdgst_len(const struct tcp_host_q *q)
{
	return q->hdgst ? NVME_TCP_DIGEST_LEN : 0;
}

static unsigned int ddgst_len(const struct tcp_host_q *q)
{
	return q->ddgst ? NVME_TCP_DIGEST_LEN : 0;
}

static void trace_pdu(const struct tcp_host_q *q, const char *dir, const void *pdu)
{
	const struct nvme_tcp_hdr *h = pdu;

	if (!q->trace)
		return;
	fprintf(stderr, "tcp_host q%u %s %s flags %#x hlen %u pdo %u plen %u", q->qid, dir,
		tcp_host_pdu_name(h->type), h->flags, h->hlen, h->pdo, h->plen);
	switch (h->type) {
	case NVME_TCP_CMD: {
		const struct nvme_tcp_cmd_pdu *c = pdu;

		fprintf(stderr, " opc %#x cid %#x nsid %u sgl %#x/%u", c->cmd.opc, c->cmd.cid,
			c->cmd.nsid, c->cmd.dptr.sgl.type, c->cmd.dptr.sgl.length);
		break;
	}
	case NVME_TCP_RSP: {
		const struct nvme_tcp_rsp_pdu *r = pdu;

		fprintf(stderr, " cid %#x status %#x sqhd %u sqid %u dw0 %#x", r->cqe.cid,
			NVME_CQE_STATUS(&r->cqe), r->cqe.sqhd, r->cqe.sqid, r->cqe.dw0);
		break;
	}
	case NVME_TCP_C2H_DATA:
	case NVME_TCP_H2C_DATA: {
		const struct nvme_tcp_data_pdu *d = pdu;

		fprintf(stderr, " cccid %#x ttag %#x datao %u datal %u", d->cccid, d->ttag,
			d->datao, d->datal);
		break;
	}
	case NVME_TCP_R2T: {
		const struct nvme_tcp_r2t_pdu *r = pdu;

		fprintf(stderr, " cccid %#x ttag %#x r2to %u r2tl %u", r->cccid, r->ttag, r->r2to,
			r->r2tl);
		break;
	}
	}
	fputc('\n', stderr);
}

/*
 * A fatal transport error found in what the controller sent: report it
 * with an H2CTermReq carrying the offending header (TCP 1.0 7.4.7; FreeBSD
 * nvmf_tcp_report_error()), then the queue is dead. The Linux host just
 * tears the connection down; the TermReq gives a target under test the
 * reason, which is the point of a test initiator.
 */
__attribute__((format(printf, 6, 7)))
static int proto_err(struct tcp_host_q *q, uint16_t fes, uint32_t fei, const void *hdr,
		     size_t hlen, const char *fmt, ...)
{
	struct nvme_tcp_term_pdu t = { 0 };
	char keep[sizeof(q->err)];
	struct iovec iov[2];
	va_list ap;

	va_start(ap, fmt);
	vset_err(q, -EPROTO, fmt, ap);
	va_end(ap);
	if (q->dead)
		return q->dead;
	q->dead = -EPROTO;
	if (hlen > NVME_TCP_TERM_MAX_PLEN - sizeof(t))
		hlen = NVME_TCP_TERM_MAX_PLEN - sizeof(t);
	t.hdr.type = NVME_TCP_H2C_TERM;
	t.hdr.hlen = sizeof(t);
	t.hdr.plen = sizeof(t) + hlen;
	t.fes = fes;
	memcpy(t.fei, &fei, sizeof(t.fei));
	iov[0] = (struct iovec){ &t, sizeof(t) };
	iov[1] = (struct iovec){ (void *)hdr, hdr ? hlen : 0 };
	if (!hdr)
		t.hdr.plen = sizeof(t);
	trace_pdu(q, "->", &t);
	/* best effort (the controller may be gone already); the first
	 * error's message is the one worth keeping */
	memcpy(keep, q->err, sizeof(keep));
	send_iov(q, iov, 2);
	memcpy(q->err, keep, sizeof(keep));
	q->dead = -EPROTO;
	shutdown(q->fd, SHUT_WR);
	return -EPROTO;
}

/* --- connection --------------------------------------------------------- */

static void q_init(struct tcp_host_q *q, const struct tcp_host_opts *o)
{
	memset(q, 0, sizeof(*q));
	q->fd = -1;
	q->trace = o->trace;
	q->lenient = o->lenient;
	q->timeout_ms = o->timeout_ms ? o->timeout_ms : TCP_HOST_DEFAULT_TIMEOUT_MS;
	q->maxh2cdata = TCP_HOST_MIN_MAXH2CDATA;
}

int tcp_host_connect_raw(struct tcp_host_q *q, const char *addr, const char *port,
			 const struct tcp_host_opts *o)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC };
	struct addrinfo *res, *ai;
	struct timeval tv;
	int fd = -1, ret, one = 1, err = 0;

	q_init(q, o);
	ret = getaddrinfo(addr, port, &hints, &res);
	if (ret)
		return set_err(q, -EHOSTUNREACH, "%s:%s: %s", addr, port, gai_strerror(ret));
	tv.tv_sec = q->timeout_ms / 1000;
	tv.tv_usec = (q->timeout_ms % 1000) * 1000;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			err = -errno;
			continue;
		}
		/* the timeouts bound connect() too (Linux applies SO_SNDTIMEO) */
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		/* PDUs are small and latency bound, like the Linux host's
		 * (nvme_tcp_alloc_queue sets TCP_NODELAY) */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		err = (errno == EINPROGRESS || errno == EAGAIN) ? -ETIMEDOUT : -errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return set_err(q, err ? err : -ECONNREFUSED, "connect %s:%s: %s", addr, port,
			       strerror(-(err ? err : -ECONNREFUSED)));
	q->fd = fd;
	return 0;
}

int tcp_host_attach(struct tcp_host_q *q, int fd, const struct tcp_host_opts *o)
{
	struct timeval tv;

	q_init(q, o);
	tv.tv_sec = q->timeout_ms / 1000;
	tv.tv_usec = (q->timeout_ms % 1000) * 1000;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	q->fd = fd;
	return 0;
}

/* A C2HTermReq where something else was expected: read it and say why. */
static int got_term(struct tcp_host_q *q, const struct nvme_tcp_hdr *ch, const char *when)
{
	uint8_t buf[NVME_TCP_TERM_MAX_PLEN];
	struct nvme_tcp_term_pdu *t = (void *)buf;
	uint32_t plen = ch->plen;
	int ret;

	/* Linux nvme_tcp_handle_c2h_term(): "Received a malformed
	 * C2HTermReq PDU"; FreeBSD drops the connection without a reply */
	if (plen < sizeof(*t) || plen > NVME_TCP_TERM_MAX_PLEN)
		return fail(q, -EPROTO, "%s: received a malformed C2HTermReq PDU (plen = %u)",
			    when, plen);
	memcpy(buf, ch, sizeof(*ch));
	ret = recv_exact(q, buf + sizeof(*ch), plen - sizeof(*ch), false);
	if (ret)
		return ret;
	q->term_fes = t->fes;
	memcpy(&q->term_fei, t->fei, sizeof(q->term_fei));
	trace_pdu(q, "<-", t);
	/* never answer a TermReq with one (TCP 1.0 7.4.7) */
	return fail(q, -ECONNABORTED, "%s: controller sent C2HTermReq: FES %#x (%s), FEI %#x",
		    when, t->fes, tcp_host_fes_name(t->fes), q->term_fei);
}

int tcp_host_icreq(struct tcp_host_q *q, const struct tcp_host_opts *o)
{
	struct nvme_tcp_icreq req = { 0 };
	struct nvme_tcp_icresp rsp;
	struct iovec iov = { &req, sizeof(req) };
	bool ctrl_hd, ctrl_dd;
	int ret;

	if (o->hpda > 31)
		return set_err(q, -EINVAL, "HPDA %u out of range (0..31)", o->hpda);
	req.hdr.type = NVME_TCP_ICREQ;
	req.hdr.hlen = sizeof(req);
	req.hdr.pdo = 0;
	req.hdr.plen = sizeof(req);     /* ICReq never carries digests */
	req.pfv = 0;                    /* NVME_TCP_PFV_1_0 */
	req.hpda = o->hpda;
	req.maxr2t = o->maxr2t;
	if (o->hdgst)
		req.digest |= NVME_TCP_DGST_HDR_ENABLE;
	if (o->ddgst)
		req.digest |= NVME_TCP_DGST_DATA_ENABLE;
	trace_pdu(q, "->", &req);
	ret = send_iov(q, &iov, 1);
	if (ret)
		return ret;

	ret = recv_exact(q, &rsp.hdr, sizeof(rsp.hdr), true);
	if (ret) {
		char why[sizeof(q->err)];
		const char *w;

		memcpy(why, q->err, sizeof(why));
		w = strstr(why, ": ");   /* without the "qN: " prefix */
		return fail(q, ret, "no ICResp: %s", w ? w + 2 : why);
	}
	if (rsp.hdr.type == NVME_TCP_C2H_TERM)
		return got_term(q, &rsp.hdr, "ICReq");
	/* the checks of Linux nvme_tcp_init_connection(), in its order and
	 * words, plus HLEN which Linux does not look at */
	if (rsp.hdr.type != NVME_TCP_ICRESP)
		return fail(q, -EPROTO, "ICResp: bad type returned %u (%s)", rsp.hdr.type,
			    tcp_host_pdu_name(rsp.hdr.type));
	if (rsp.hdr.plen != sizeof(rsp))
		return fail(q, -EPROTO, "ICResp: bad pdu length returned %u", rsp.hdr.plen);
	if (rsp.hdr.hlen != sizeof(rsp))
		return fail(q, -EPROTO, "ICResp: bad header length returned %u", rsp.hdr.hlen);
	ret = recv_exact(q, (uint8_t *)&rsp + sizeof(rsp.hdr), sizeof(rsp) - sizeof(rsp.hdr),
			 false);
	if (ret)
		return ret;
	trace_pdu(q, "<-", &rsp);
	if (rsp.pfv != 0)
		return fail(q, -EPROTO, "ICResp: bad pfv returned %u", rsp.pfv);
	/* Digests are not negotiable: the controller must echo exactly what
	 * was asked for (PROTOCOL-NOTES 4b.7). */
	ctrl_dd = rsp.digest & NVME_TCP_DGST_DATA_ENABLE;
	if (ctrl_dd != o->ddgst)
		return fail(q, -EPROTO, "ICResp: data digest mismatch host: %s ctrl: %s",
			    o->ddgst ? "enabled" : "disabled", ctrl_dd ? "enabled" : "disabled");
	ctrl_hd = rsp.digest & NVME_TCP_DGST_HDR_ENABLE;
	if (ctrl_hd != o->hdgst)
		return fail(q, -EPROTO, "ICResp: header digest mismatch host: %s ctrl: %s",
			    o->hdgst ? "enabled" : "disabled", ctrl_hd ? "enabled" : "disabled");
	if (rsp.cpda > 31 || (rsp.cpda != 0 && !o->accept_cpda))
		return fail(q, -EPROTO, "ICResp: unsupported cpda returned %u", rsp.cpda);
	if (rsp.maxdata % 4 || rsp.maxdata < TCP_HOST_MIN_MAXH2CDATA)
		return fail(q, -EPROTO, "ICResp: invalid maxh2cdata returned %u", rsp.maxdata);
	q->hdgst = o->hdgst;
	q->ddgst = o->ddgst;
	q->hpda = o->hpda;
	q->cpda = rsp.cpda;
	q->maxh2cdata = rsp.maxdata;
	return 0;
}

int tcp_host_connect(struct tcp_host_q *q, const char *addr, const char *port,
		     const struct tcp_host_opts *o)
{
	int ret = tcp_host_connect_raw(q, addr, port, o);

	if (ret)
		return ret;
	ret = tcp_host_icreq(q, o);
	if (ret) {
		close(q->fd);
		q->fd = -1;
		q->dead = ret;
	}
	return ret;
}

void tcp_host_close(struct tcp_host_q *q)
{
	if (q->fd >= 0)
		close(q->fd);
	q->fd = -1;
	if (!q->dead)
		q->dead = -ENOTCONN;
}

void tcp_host_set_ioccsz(struct tcp_host_q *q, uint32_t ioccsz)
{
	/* IOCCSZ counts 16-byte units and includes the 64-byte SQE */
	q->icd_max = ioccsz >= 4 ? ioccsz * 16 - 64 : 0;
}

static unsigned int sq_used(const struct tcp_host_q *q)
{
	return (unsigned int)(q->sq_tail + q->qsize - q->sq_head) % q->qsize;
}

unsigned int tcp_host_sq_space(const struct tcp_host_q *q)
{
	unsigned int used;

	if (!q->qsize)
		return TCP_HOST_SLOTS - q->inflight;
	/* An SQ of N entries holds N - 1 commands (full when tail + 1 ==
	 * head). Without SQ flow control SQHD says nothing; what is not
	 * completed yet is what occupies the queue then. */
	used = q->sqfc_disabled ? q->outstanding : sq_used(q);
	if (q->outstanding > used)
		used = q->outstanding;
	return used + 1 >= q->qsize ? 0 : q->qsize - 1 - used;
}

/* --- commands: send ----------------------------------------------------- */

int tcp_host_submit(struct tcp_host_q *q, const struct nvme_sqe *sqe, void *buf,
		    size_t len, enum tcp_host_dir dir, unsigned int flags, void *ctx,
		    uint16_t *cidp)
{
	struct nvme_tcp_cmd_pdu pdu;
	static const uint8_t zeros[128];
	uint32_t hd, dd = 0, pad = 0;
	uint32_t hdgst, ddgst = 0;
	struct tcp_host_slot *s;
	struct iovec iov[5];
	unsigned int i, n;
	bool icd;
	int ret;

	if (q->dead)
		return q->dead;
	if (q->fd < 0)
		return set_err(q, -ENOTCONN, "not connected");
	if (len == 0)
		dir = TCP_HOST_DIR_NONE;
	if ((dir != TCP_HOST_DIR_NONE && !buf) || len > UINT32_MAX)
		return set_err(q, -EINVAL, "bad data buffer (len %zu)", len);
	if (q->connected && tcp_host_sq_space(q) == 0)
		return set_err(q, -EBUSY, "submission queue full (%u outstanding, SQ size %u)",
			       q->outstanding, q->qsize);
	for (i = 0; i < TCP_HOST_SLOTS; i++) {
		n = (q->next_slot + i) % TCP_HOST_SLOTS;
		if (!q->slot[n].busy)
			break;
	}
	if (i == TCP_HOST_SLOTS)
		return set_err(q, -EBUSY, "all %u command slots in use", TCP_HOST_SLOTS);
	q->next_slot = (n + 1) % TCP_HOST_SLOTS;
	s = &q->slot[n];
	/* CID = generation << 8 | slot, like Linux nvme_cid(): a late or
	 * duplicated completion for a reused slot is caught. FFFFh is
	 * avoided (it means "no command" in the error log). */
	if (++q->gen[n] == 0xff && n == 0xff)
		q->gen[n] = 0;
	memset(s, 0, sizeof(*s));
	s->cid = (uint16_t)(q->gen[n] << 8 | n);
	s->opc = sqe->opc;
	s->dir = dir;
	s->buf = buf;
	s->len = len;
	s->ctx = ctx;

	icd = dir == TCP_HOST_DIR_TO_CTRL && !(flags & TCP_HOST_F_NO_INLINE) &&
	      ((flags & TCP_HOST_F_INLINE) || len <= q->icd_max);
	s->inline_data = icd;

	memset(&pdu, 0, sizeof(pdu));
	pdu.cmd = *sqe;
	pdu.cmd.cid = s->cid;
	if (!(flags & TCP_HOST_F_RAW_SGL)) {
		/* every command carries an SGL (Linux nvme_tcp_map_data() sets
		 * NVME_CMD_SGL_METABUF even without data) */
		pdu.cmd.flags = (pdu.cmd.flags & ~NVME_SQE_PSDT_MASK) | NVME_SQE_PSDT_SGL;
		memset(&pdu.cmd.dptr, 0, sizeof(pdu.cmd.dptr));
		pdu.cmd.dptr.sgl.length = (uint32_t)len;
		/* in-capsule data starts at offset 0 (ICDOFF 0, enforced in
		 * tcp_host_check_id_ctrl like Linux does) */
		pdu.cmd.dptr.sgl.type = icd ? SGL_TYPE_ICD : SGL_TYPE_TRANSPORT;
	}

	hd = hdgst_len(q);
	pdu.hdr.type = NVME_TCP_CMD;
	pdu.hdr.flags = q->hdgst ? NVME_TCP_F_HDGST : 0;
	pdu.hdr.hlen = sizeof(pdu);
	if (icd) {
		/* in-capsule data is aligned to CPDA (TCP 1.0 3.5.2); DDGSTF only
		 * on PDUs with data (Linux nvme_tcp_setup_cmd_pdu()) */
		uint32_t pdo = align_up(sizeof(pdu) + hd, (q->cpda + 1u) * 4);

		pad = pdo - sizeof(pdu) - hd;
		dd = ddgst_len(q);
		if (dd)
			pdu.hdr.flags |= NVME_TCP_F_DDGST;
		pdu.hdr.pdo = pdo;
		pdu.hdr.plen = pdo + (uint32_t)len + dd;
	} else {
		pdu.hdr.pdo = 0;
		pdu.hdr.plen = sizeof(pdu) + hd;
	}
	hdgst = tcp_host_digest(&pdu, sizeof(pdu));
	iov[0] = (struct iovec){ &pdu, sizeof(pdu) };
	iov[1] = (struct iovec){ &hdgst, hd };
	iov[2] = (struct iovec){ (void *)zeros, pad };
	iov[3] = (struct iovec){ buf, icd ? len : 0 };
	if (icd && dd)
		ddgst = tcp_host_digest(buf, len);
	iov[4] = (struct iovec){ &ddgst, icd ? dd : 0 };
	trace_pdu(q, "->", &pdu);
	ret = send_iov(q, iov, 5);
	if (ret)
		return ret;
	s->busy = true;
	if (icd)
		s->xfer = len;
	q->inflight++;
	q->outstanding++;
	q->nr_cmds++;
	if (q->qsize)
		q->sq_tail = (q->sq_tail + 1) % q->qsize;
	if (cidp)
		*cidp = s->cid;
	return 0;
}

/* --- commands: receive -------------------------------------------------- */

static struct tcp_host_slot *find_slot(struct tcp_host_q *q, uint16_t cid)
{
	struct tcp_host_slot *s = &q->slot[cid & 0xff];

	return s->busy && !s->done && s->cid == cid ? s : NULL;
}

static void complete(struct tcp_host_q *q, struct tcp_host_slot *s)
{
	s->done = true;
	q->outstanding--;
	q->doneq[(q->done_head + q->done_count) % TCP_HOST_SLOTS] = (uint16_t)(s - q->slot);
	q->done_count++;
}

static int handle_rsp(struct tcp_host_q *q, const struct nvme_tcp_rsp_pdu *p)
{
	const struct nvme_cqe *cqe = &p->cqe;
	uint16_t status = NVME_CQE_STATUS(cqe);
	struct tcp_host_slot *s;

	q->nr_rsp++;
	s = find_slot(q, cqe->cid);
	if (!s)
		/* Linux nvme_tcp_process_nvme_cqe() */
		return proto_err(q, NVME_TCP_FES_INVALID_HEADER,
				 sizeof(p->hdr) + offsetof(struct nvme_cqe, cid), p, sizeof(*p),
				 "got bad cqe.command_id %#x (no such command in flight)", cqe->cid);
	/* the CQE names the SQ the command was sent to (Base 2.0 4.6); a
	 * refused Connect may not have a queue to name yet */
	if (cqe->sqid != q->qid && !(s->opc == NVME_FABRICS_OPC && status) &&
	    deviate(q, TCP_HOST_DEV_CQE_SQID, "CQE for cid %#x carries SQID %u, expected %u",
		    cqe->cid, cqe->sqid, q->qid))
		return q->dead;
	/*
	 * SQ flow control: SQHD is the controller's SQ head pointer, which
	 * can only move forward to what was sent (the tail). With DISSQFC
	 * it is reserved (TP 8005) and ignored.
	 */
	if (q->qsize && !q->sqfc_disabled) {
		unsigned int adv, used = sq_used(q);

		if (cqe->sqhd >= q->qsize) {
			if (deviate(q, TCP_HOST_DEV_SQHD, "CQE for cid %#x: SQHD %u beyond the SQ size %u",
				    cqe->cid, cqe->sqhd, q->qsize))
				return q->dead;
		} else {
			adv = (unsigned int)(cqe->sqhd + q->qsize - q->sq_head) % q->qsize;
			if (adv <= used)
				q->sq_head = cqe->sqhd;
			else if (deviate(q, TCP_HOST_DEV_SQHD,
					 "CQE for cid %#x: SQHD %u is past the SQ tail %u (head was %u)",
					 cqe->cid, cqe->sqhd, q->sq_tail, q->sq_head))
				return q->dead;
		}
	}
	if (status == NVME_SC_SUCCESS) {
		/* a successful command moved all of its data: the controller
		 * asked for every byte (R2T) or sent every byte (C2HData) */
		if (s->dir == TCP_HOST_DIR_FROM_CTRL && (s->xfer != s->len || !s->c2h_last))
			return fail(q, -EPROTO,
				    "cid %#x (opc %#x) completed successfully after %zu of %zu data bytes%s",
				    s->cid, s->opc, s->xfer, s->len,
				    s->xfer == s->len ? " without LAST_PDU" : "");
		if (s->dir == TCP_HOST_DIR_TO_CTRL && s->xfer != s->len)
			return fail(q, -EPROTO,
				    "cid %#x (opc %#x) completed successfully with only %zu of %zu data bytes requested by R2T",
				    s->cid, s->opc, s->xfer, s->len);
	}
	s->cqe = *cqe;
	if (s->ddgst_err && status == NVME_SC_SUCCESS)
		/* Linux: a data digest error fails the request with a data
		 * transfer error, whatever the CQE says */
		s->cqe.status = NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_DATA_XFER_ERROR) << 1;
	complete(q, s);
	return 0;
}

static int handle_c2h(struct tcp_host_q *q, const struct nvme_tcp_data_pdu *p)
{
	uint32_t full = p->hdr.hlen + hdgst_len(q);
	uint32_t dd = ddgst_len(q);
	uint32_t datal = p->datal, datao = p->datao;
	bool last = p->hdr.flags & NVME_TCP_F_DATA_LAST;
	struct tcp_host_slot *s;
	int ret;

	q->nr_c2h++;
	s = find_slot(q, p->cccid);
	if (!s)
		return proto_err(q, NVME_TCP_FES_INVALID_HEADER,
				 offsetof(struct nvme_tcp_data_pdu, cccid), p, sizeof(*p),
				 "C2HData for cccid %#x: no such command in flight", p->cccid);
	if (s->dir != TCP_HOST_DIR_FROM_CTRL)
		/* Linux nvme_tcp_handle_c2h_data(): "tag %#x unexpected data" */
		return proto_err(q, NVME_TCP_FES_INVALID_HEADER,
				 offsetof(struct nvme_tcp_data_pdu, cccid), p, sizeof(*p),
				 "C2HData for cccid %#x (opc %#x): unexpected data, the command reads none",
				 p->cccid, s->opc);
	/* PDO: at or after the header (and its digest), on the HPDA
	 * alignment we asked for in ICReq (TCP 1.0 3.5.2) */
	if (p->hdr.pdo < full || p->hdr.pdo % ((q->hpda + 1u) * 4) || p->hdr.pdo > p->hdr.plen)
		return proto_err(q, NVME_TCP_FES_INVALID_HEADER,
				 offsetof(struct nvme_tcp_hdr, pdo), p, sizeof(*p),
				 "C2HData: invalid PDO %u (header+digest %u, HPDA alignment %u)",
				 p->hdr.pdo, full, (q->hpda + 1u) * 4);
	if ((uint64_t)p->hdr.pdo + datal + dd != p->hdr.plen)
		return proto_err(q, NVME_TCP_FES_INVALID_HEADER,
				 offsetof(struct nvme_tcp_hdr, plen), p, sizeof(*p),
				 "C2HData: PLEN %u does not match PDO %u + DATAL %u + digest %u",
				 p->hdr.plen, p->hdr.pdo, datal, dd);
	if (datal == 0)
		return proto_err(q, NVME_TCP_FES_INVALID_HEADER,
				 offsetof(struct nvme_tcp_data_pdu, datal), p, sizeof(*p),
				 "C2HData for cccid %#x with DATAL 0", p->cccid);
	if ((uint64_t)datao + datal > s->len)
		return proto_err(q, NVME_TCP_FES_DATA_OUT_OF_RANGE, 0, p, sizeof(*p),
				 "C2HData for cccid %#x: DATAO %u + DATAL %u beyond the command's %zu bytes",
				 p->cccid, datao, datal, s->len);
	/* data arrives in order, without gaps (FreeBSD
	 * nvmf_tcp_handle_c2h_data(): PDU sequence error) */
	if (datao != s->xfer)
		return proto_err(q, NVME_TCP_FES_PDU_SEQ_ERR, 0, p, sizeof(*p),
				 "C2HData for cccid %#x: DATAO %u, expected %zu", p->cccid, datao,
				 s->xfer);
	/* LAST_PDU exactly on the PDU that completes the data */
	if ((datao + datal == s->len) != last)
		return proto_err(q, NVME_TCP_FES_PDU_SEQ_ERR, 0, p, sizeof(*p),
				 "C2HData for cccid %#x: LAST_PDU %s at DATAO %u + DATAL %u of %zu bytes",
				 p->cccid, last ? "set" : "not set", datao, datal, s->len);
	/* SUCCESS replaces the CapsuleResp, so it is only allowed when no
	 * SQHD needs reporting, i.e. SQ flow control is disabled (NVMe 2.0,
	 * TCP 1.0 3.3.5.1; PROTOCOL-NOTES 4b.4) */
	if ((p->hdr.flags & NVME_TCP_F_DATA_SUCCESS) && !q->sqfc_disabled) {
		if (!q->lenient)
			return proto_err(q, NVME_TCP_FES_INVALID_HEADER,
					 offsetof(struct nvme_tcp_hdr, flags), p, sizeof(*p),
					 "C2HData for cccid %#x: SUCCESS set while SQ flow control is enabled",
					 p->cccid);
		/* the Linux host accepts it too: the command is complete, only
		 * SQHD is not reported (the head is taken to follow the tail) */
		deviate(q, TCP_HOST_DEV_C2H_SUCCESS_SQFC,
			"C2HData for cccid %#x: SUCCESS set while SQ flow control is enabled",
			p->cccid);
	}

	ret = recv_discard(q, p->hdr.pdo - full);
	if (!ret)
		ret = recv_exact(q, s->buf + datao, datal, false);
	if (ret)
		return ret;
	if (dd) {
		uint32_t recv_dg, exp_dg = tcp_host_digest(s->buf + datao, datal);

		ret = recv_exact(q, &recv_dg, sizeof(recv_dg), false);
		if (ret)
			return ret;
		if (recv_dg != exp_dg) {
			/* Linux: "data digest error: recv %#x expected %#x", the
			 * request then fails with a data transfer error */
			set_err(q, -EBADMSG, "cccid %#x: data digest error: recv %#x expected %#x",
				p->cccid, recv_dg, exp_dg);
			s->ddgst_err = true;
			q->nr_ddgst_err++;
		}
	}
	s->xfer += datal;
	if (last)
		s->c2h_last = true;
	if (p->hdr.flags & NVME_TCP_F_DATA_SUCCESS) {
		/* no CapsuleResp follows: the host makes the CQE (Linux
		 * nvme_tcp_end_request(rq, req->status)) */
		memset(&s->cqe, 0, sizeof(s->cqe));
		s->cqe.cid = s->cid;
		s->cqe.sqid = q->qid;
		s->cqe.sqhd = q->sq_head;
		if (s->ddgst_err)
			s->cqe.status = NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_DATA_XFER_ERROR) << 1;
		s->synthesized = true;
		/* only a lenient queue gets here with SQ flow control on:
		 * the controller consumed at least this command */
		if (q->qsize && !q->sqfc_disabled && sq_used(q))
			q->sq_head = (uint16_t)((q->sq_head + 1u) % q->qsize);
		complete(q, s);
	}
	return 0;
}

static int handle_r2t(struct tcp_host_q *q, const struct nvme_tcp_r2t_pdu *p)
{
	static const uint8_t zeros[128];
	struct tcp_host_slot *s;
	uint32_t off = p->r2to, left = p->r2tl;
	uint32_t hd = hdgst_len(q), dd = ddgst_len(q);
	uint32_t pdo = align_up(sizeof(struct nvme_tcp_data_pdu) + hd, (q->cpda + 1u) * 4);
	int ret;

	q->nr_r2t++;
	s = find_slot(q, p->cccid);
	if (!s)
		return proto_err(q, NVME_TCP_FES_INVALID_HEADER,
				 offsetof(struct nvme_tcp_r2t_pdu, cccid), p, sizeof(*p),
				 "R2T for cccid %#x: no such command in flight", p->cccid);
	if (s->dir != TCP_HOST_DIR_TO_CTRL || s->inline_data)
		return proto_err(q, NVME_TCP_FES_INVALID_HEADER,
				 offsetof(struct nvme_tcp_r2t_pdu, cccid), p, sizeof(*p),
				 "R2T for cccid %#x (opc %#x): %s", p->cccid, s->opc,
				 s->inline_data ? "its data was sent in-capsule" :
				 "the command has no host-to-controller data");
	/* Linux nvme_tcp_handle_r2t() */
	if (left == 0)
		return proto_err(q, NVME_TCP_FES_INVALID_HEADER,
				 offsetof(struct nvme_tcp_r2t_pdu, r2tl), p, sizeof(*p),
				 "req %#x r2t len is %u, probably a bug...", p->cccid, left);
	/* one R2T at a time (MAXR2T 0) and in order: the next one starts
	 * where the previous one ended (FreeBSD nvmf_tcp_handle_r2t(); Linux
	 * only refuses offsets behind data already sent) */
	if (off != s->xfer)
		return proto_err(q, NVME_TCP_FES_PDU_SEQ_ERR, 0, p, sizeof(*p),
				 "req %#x unexpected r2t offset %u (expected %zu)", p->cccid, off,
				 s->xfer);
	if ((uint64_t)off + left > s->len)
		return proto_err(q, NVME_TCP_FES_DATA_OUT_OF_RANGE, 0, p, sizeof(*p),
				 "req %#x r2t len %u exceeded data len %zu (%zu sent)", p->cccid, left,
				 s->len, s->xfer);

	/* H2CData PDUs of at most MAXH2CDATA bytes each, LAST_PDU on the
	 * last one for this R2T (Linux nvme_tcp_setup_h2c_data_pdu()) */
	while (left) {
		struct nvme_tcp_data_pdu d = { 0 };
		uint32_t chunk = left < q->maxh2cdata ? left : q->maxh2cdata;
		uint32_t hdgst, ddgst = 0;
		struct iovec iov[5];

		d.hdr.type = NVME_TCP_H2C_DATA;
		d.hdr.flags = (q->hdgst ? NVME_TCP_F_HDGST : 0) | (dd ? NVME_TCP_F_DDGST : 0) |
			      (chunk == left ? NVME_TCP_F_DATA_LAST : 0);
		d.hdr.hlen = sizeof(d);
		d.hdr.pdo = pdo;
		d.hdr.plen = pdo + chunk + dd;
		d.cccid = p->cccid;
		d.ttag = p->ttag;
		d.datao = off;
		d.datal = chunk;
		hdgst = tcp_host_digest(&d, sizeof(d));
		if (dd)
			ddgst = tcp_host_digest(s->buf + off, chunk);
		iov[0] = (struct iovec){ &d, sizeof(d) };
		iov[1] = (struct iovec){ &hdgst, hd };
		iov[2] = (struct iovec){ (void *)zeros, pdo - sizeof(d) - hd };
		iov[3] = (struct iovec){ s->buf + off, chunk };
		iov[4] = (struct iovec){ &ddgst, dd };
		trace_pdu(q, "->", &d);
		ret = send_iov(q, iov, 5);
		if (ret)
			return ret;
		q->nr_h2c++;
		off += chunk;
		left -= chunk;
		s->xfer += chunk;
	}
	return 0;
}

/* Receive one PDU from an established queue and act on it. */
static int process_one(struct tcp_host_q *q)
{
	union {
		struct nvme_tcp_hdr ch;
		struct nvme_tcp_rsp_pdu rsp;
		struct nvme_tcp_data_pdu data;
		struct nvme_tcp_r2t_pdu r2t;
		uint8_t raw[32];
	} p;
	uint8_t valid, want;
	uint32_t hd = hdgst_len(q);
	int ret;

	ret = recv_exact(q, &p.ch, sizeof(p.ch), true);
	if (ret)
		return ret;
	/* C2HTermReq never includes header or data digests (Linux
	 * nvme_tcp_recv_pdu() handles it before the digest checks) */
	if (p.ch.type == NVME_TCP_C2H_TERM)
		return got_term(q, &p.ch, "command");

	/* Header fields in order, lowest first (FreeBSD
	 * nvmf_tcp_validate_pdu_header()): type, flags, hlen, pdo, plen. */
	switch (p.ch.type) {
	case NVME_TCP_RSP:
	case NVME_TCP_R2T:
		valid = NVME_TCP_F_HDGST;
		break;
	case NVME_TCP_C2H_DATA:
		valid = NVME_TCP_F_HDGST | NVME_TCP_F_DDGST | NVME_TCP_F_DATA_LAST |
			NVME_TCP_F_DATA_SUCCESS;
		break;
	case NVME_TCP_ICRESP:
		return proto_err(q, NVME_TCP_FES_INVALID_HEADER, 0, &p.ch, sizeof(p.ch),
				 "ICResp on an established connection");
	default:
		/* Linux: "unsupported pdu type (%d)" */
		return proto_err(q, NVME_TCP_FES_INVALID_HEADER, 0, &p.ch, sizeof(p.ch),
				 "unsupported pdu type (%d): %s", p.ch.type,
				 tcp_host_pdu_name(p.ch.type));
	}
	if (p.ch.flags & ~valid)
		return proto_err(q, NVME_TCP_FES_INVALID_HEADER, offsetof(struct nvme_tcp_hdr, flags),
				 &p.ch, sizeof(p.ch), "%s: invalid flags %#x",
				 tcp_host_pdu_name(p.ch.type), p.ch.flags);
	/* digests present exactly when negotiated (Linux: "header digest
	 * flag is cleared", "data digest flag is cleared"; set without
	 * negotiation is just as wrong) */
	want = (q->hdgst ? NVME_TCP_F_HDGST : 0) |
	       (q->ddgst && p.ch.type == NVME_TCP_C2H_DATA ? NVME_TCP_F_DDGST : 0);
	if ((p.ch.flags & (NVME_TCP_F_HDGST | NVME_TCP_F_DDGST)) != want)
		return proto_err(q, NVME_TCP_FES_INVALID_HEADER, offsetof(struct nvme_tcp_hdr, flags),
				 &p.ch, sizeof(p.ch),
				 "%s: digest flags %#x, negotiated header digest %s, data digest %s",
				 tcp_host_pdu_name(p.ch.type), p.ch.flags & 3u,
				 q->hdgst ? "on" : "off", q->ddgst ? "on" : "off");
	/* Linux: "SUCCESS set but not last PDU" */
	if ((p.ch.flags & (NVME_TCP_F_DATA_SUCCESS | NVME_TCP_F_DATA_LAST)) ==
	    NVME_TCP_F_DATA_SUCCESS)
		return proto_err(q, NVME_TCP_FES_INVALID_HEADER, offsetof(struct nvme_tcp_hdr, flags),
				 &p.ch, sizeof(p.ch), "C2HData: SUCCESS set but not last PDU");
	if (p.ch.hlen != 24)   /* CapsuleResp, C2HData and R2T headers are 24 bytes */
		return proto_err(q, NVME_TCP_FES_INVALID_HEADER, offsetof(struct nvme_tcp_hdr, hlen),
				 &p.ch, sizeof(p.ch), "%s: invalid HLEN %u, expected 24",
				 tcp_host_pdu_name(p.ch.type), p.ch.hlen);
	if (p.ch.type != NVME_TCP_C2H_DATA) {
		if (p.ch.pdo != 0)
			return proto_err(q, NVME_TCP_FES_INVALID_HEADER,
					 offsetof(struct nvme_tcp_hdr, pdo), &p.ch, sizeof(p.ch),
					 "%s: PDO %u in a PDU without data",
					 tcp_host_pdu_name(p.ch.type), p.ch.pdo);
		if (p.ch.plen != p.ch.hlen + hd)
			return proto_err(q, NVME_TCP_FES_INVALID_HEADER,
					 offsetof(struct nvme_tcp_hdr, plen), &p.ch, sizeof(p.ch),
					 "%s: PLEN %u, expected %u", tcp_host_pdu_name(p.ch.type),
					 p.ch.plen, p.ch.hlen + hd);
	}

	ret = recv_exact(q, p.raw + sizeof(p.ch), p.ch.hlen - sizeof(p.ch), false);
	if (ret)
		return ret;
	if (hd) {
		uint32_t recv_dg, exp_dg = tcp_host_digest(&p, p.ch.hlen);

		ret = recv_exact(q, &recv_dg, sizeof(recv_dg), false);
		if (ret)
			return ret;
		/* Linux nvme_tcp_verify_hdgst() */
		if (recv_dg != exp_dg)
			return proto_err(q, NVME_TCP_FES_HDR_DIGEST_ERR, 0, &p, p.ch.hlen,
					 "%s: header digest error: recv %#x expected %#x",
					 tcp_host_pdu_name(p.ch.type), recv_dg, exp_dg);
	}
	trace_pdu(q, "<-", &p);
	switch (p.ch.type) {
	case NVME_TCP_RSP:
		return handle_rsp(q, &p.rsp);
	case NVME_TCP_C2H_DATA:
		return handle_c2h(q, &p.data);
	default:
		return handle_r2t(q, &p.r2t);
	}
}

static void fill_cpl(struct tcp_host_q *q, struct tcp_host_slot *s, struct tcp_host_cpl *cpl)
{
	if (cpl) {
		cpl->cid = s->cid;
		cpl->cqe = s->cqe;
		cpl->status = NVME_CQE_STATUS(&s->cqe);
		cpl->synthesized = s->synthesized;
		cpl->xfer = s->xfer;
		cpl->ctx = s->ctx;
	}
	s->busy = false;
	q->inflight--;
}

int tcp_host_reap(struct tcp_host_q *q, struct tcp_host_cpl *cpl)
{
	struct tcp_host_slot *s;
	int ret;

	while (!q->done_count) {
		if (q->dead)
			return q->dead;
		if (!q->outstanding)
			return set_err(q, -ENOENT, "no command in flight");
		ret = process_one(q);
		if (ret)
			return ret;
	}
	s = &q->slot[q->doneq[q->done_head]];
	q->done_head = (q->done_head + 1) % TCP_HOST_SLOTS;
	q->done_count--;
	fill_cpl(q, s, cpl);
	return 0;
}

int tcp_host_wait(struct tcp_host_q *q, uint16_t cid, struct tcp_host_cpl *cpl)
{
	struct tcp_host_slot *s = &q->slot[cid & 0xff];
	unsigned int i, n = (unsigned int)(s - q->slot);
	int ret;

	if (!s->busy || s->cid != cid)
		return set_err(q, -ENOENT, "cid %#x is not in flight", cid);
	while (!s->done) {
		if (q->dead)
			return q->dead;
		ret = process_one(q);
		if (ret)
			return ret;
	}
	/* take it out of the completion order */
	for (i = 0; i < q->done_count; i++)
		if (q->doneq[(q->done_head + i) % TCP_HOST_SLOTS] == n)
			break;
	for (; i + 1 < q->done_count; i++)
		q->doneq[(q->done_head + i) % TCP_HOST_SLOTS] =
			q->doneq[(q->done_head + i + 1) % TCP_HOST_SLOTS];
	q->done_count--;
	fill_cpl(q, s, cpl);
	return 0;
}

static const char *opc_name(const struct nvme_sqe *sqe, bool admin)
{
	if (sqe->opc == NVME_FABRICS_OPC) {
		switch (((const uint8_t *)sqe)[4]) {
		case NVMF_FCTYPE_CONNECT: return "Connect";
		case NVMF_FCTYPE_PROPERTY_GET: return "Property Get";
		case NVMF_FCTYPE_PROPERTY_SET: return "Property Set";
		default: return "Fabrics command";
		}
	}
	if (!admin)
		return sqe->opc == NVME_CMD_READ ? "Read" : sqe->opc == NVME_CMD_WRITE ? "Write" :
		       "I/O command";
	switch (sqe->opc) {
	case NVME_ADM_IDENTIFY: return "Identify";
	case NVME_ADM_GET_LOG_PAGE: return "Get Log Page";
	case NVME_ADM_SET_FEATURES: return "Set Features";
	case NVME_ADM_GET_FEATURES: return "Get Features";
	case NVME_ADM_KEEP_ALIVE: return "Keep Alive";
	default: return "admin command";
	}
}

int tcp_host_exec(struct tcp_host_q *q, const struct nvme_sqe *sqe, void *buf,
		  size_t len, enum tcp_host_dir dir, unsigned int flags,
		  struct nvme_cqe *cqe, uint16_t *status)
{
	struct tcp_host_cpl cpl;
	uint16_t cid;
	int ret;

	ret = tcp_host_submit(q, sqe, buf, len, dir, flags, NULL, &cid);
	if (!ret)
		ret = tcp_host_wait(q, cid, &cpl);
	if (ret)
		return ret;
	if (cqe)
		*cqe = cpl.cqe;
	if (status) {
		*status = cpl.status;
		return 0;
	}
	if (cpl.status)
		return set_err(q, -EREMOTEIO, "%s (opc %#x) failed: %s", opc_name(sqe, q->qid == 0),
			       sqe->opc, tcp_host_status_str(cpl.status));
	return 0;
}

/* --- Fabrics ------------------------------------------------------------ */

/* --- DH-HMAC-CHAP, the host's side ------------------------------------------ */

static void auth_cmd(struct nvmf_auth_cmd *c, uint8_t fctype, uint32_t len)
{
	memset(c, 0, sizeof(*c));
	c->opc = NVME_FABRICS_OPC;
	c->fctype = fctype;
	c->secp = NVMF_AUTH_SECP_DHCHAP;
	c->spsp0 = NVMF_AUTH_SPSP;
	c->spsp1 = NVMF_AUTH_SPSP;
	c->len = len;
}

int tcp_host_auth_send(struct tcp_host_q *q, const void *msg, size_t len, uint16_t *status)
{
	struct nvmf_auth_cmd c;
	struct nvme_cqe cqe;

	auth_cmd(&c, NVMF_FCTYPE_AUTH_SEND, (uint32_t)len);
	return tcp_host_exec(q, (struct nvme_sqe *)&c, (void *)msg, len, TCP_HOST_DIR_TO_CTRL, 0, &cqe, status);
}

int tcp_host_auth_recv(struct tcp_host_q *q, void *buf, size_t al, uint16_t *status)
{
	struct nvmf_auth_cmd c;
	struct nvme_cqe cqe;

	auth_cmd(&c, NVMF_FCTYPE_AUTH_RECV, (uint32_t)al);
	return tcp_host_exec(q, (struct nvme_sqe *)&c, buf, al, TCP_HOST_DIR_FROM_CTRL, 0, &cqe, status);
}

/* Authentication Send/Receive for the shared host side: a status other
 * than success ends the transaction, with the status in q's error */
struct auth_io {
	struct tcp_host_q *q;
	int err;
};

static int auth_io_check(struct auth_io *io, int ret, uint16_t st, const char *what)
{
	if (!ret && st)
		ret = set_err(io->q, -EREMOTEIO, "DH-HMAC-CHAP %s on qid %u: %s", what, io->q->qid, tcp_host_status_str(st));
	io->err = ret;
	return ret;
}

static int auth_io_send(void *ctx, const void *msg, size_t len)
{
	struct auth_io *io = ctx;
	uint16_t st = 0;

	return auth_io_check(io, tcp_host_auth_send(io->q, msg, len, &st), st, "Authentication Send");
}

static int auth_io_recv(void *ctx, void *buf, size_t al)
{
	struct auth_io *io = ctx;
	uint16_t st = 0;

	return auth_io_check(io, tcp_host_auth_recv(io->q, buf, al, &st), st, "Authentication Receive");
}

static int dhchap_host(struct tcp_host_q *q, const struct tcp_host_connect_args *a)
{
	static uint16_t transaction;
	struct dhchap_key hk, ck = { 0 };
	struct auth_io io = { .q = q };
	struct dhchap_host_xfer x = { .send = auth_io_send, .recv = auth_io_recv, .ctx = &io };
	struct dhchap_host_args args = { .hostnqn = a->hostnqn, .subnqn = a->subnqn, .host = &hk, .ctrl = &ck,
					 .tid = ++transaction, .dh_offer = a->dh_offer };
	struct dhchap_host_result r;
	const char *why;
	int ret;

	if (dhchap_key_parse(a->dhchap_secret, &hk, &why))
		return set_err(q, -EINVAL, "the host secret %s", why);
	if (a->dhchap_ctrl_secret && dhchap_key_parse(a->dhchap_ctrl_secret, &ck, &why))
		return set_err(q, -EINVAL, "the controller secret %s", why);
	ret = dhchap_host_run(&x, &args, &r);
	dhchap_wipe(&hk, sizeof(hk));
	dhchap_wipe(&ck, sizeof(ck));
	if (io.err)             /* a command failed: its error is q's already */
		return io.err;
	if (ret > 0)
		return set_err(q, -EACCES, "DH-HMAC-CHAP on qid %u %s", q->qid, r.why);
	if (ret < 0)
		return set_err(q, ret, "DH-HMAC-CHAP on qid %u: %s", q->qid, r.why);
	q->auth.done = true;
	q->auth.ctrl_verified = r.ctrl_verified;
	q->auth.hash = r.hash;
	q->auth.dhgroup = r.dhgroup;
	return 0;
}

int tcp_host_fabrics_connect(struct tcp_host_q *q, const struct tcp_host_connect_args *a,
			     uint16_t *cntlid, uint16_t *status)
{
	struct nvmf_connect_data data;
	struct nvmf_connect_cmd c;
	struct nvme_cqe cqe;
	uint16_t st;
	int ret;

	if (!a->subnqn || !a->hostnqn || strlen(a->subnqn) > NVMF_NQN_MAX_LEN ||
	    strlen(a->hostnqn) > NVMF_NQN_MAX_LEN)
		return set_err(q, -EINVAL, "Connect: NQNs must be 1..%d bytes", NVMF_NQN_MAX_LEN);
	memset(&data, 0, sizeof(data));
	memcpy(data.hostid, a->hostid, sizeof(data.hostid));
	data.cntlid = a->cntlid;
	memcpy(data.subnqn, a->subnqn, strlen(a->subnqn));
	memcpy(data.hostnqn, a->hostnqn, strlen(a->hostnqn));

	memset(&c, 0, sizeof(c));
	c.opc = NVME_FABRICS_OPC;
	c.fctype = NVMF_FCTYPE_CONNECT;
	c.recfmt = 0;
	c.qid = a->qid;
	c.sqsize = a->sqsize;
	c.cattr = a->dissqfc ? NVMF_CATTR_DISSQFC : 0;
	c.kato = a->kato_ms;

	/* the SQ starts with this command */
	q->qid = a->qid;
	q->qsize = (uint16_t)(a->sqsize + 1u);
	q->sqfc_disabled = a->dissqfc;
	q->sq_head = q->sq_tail = 0;
	if (a->qid == 0)
		q->icd_max = TCP_HOST_ADMIN_ICD;
	/* the Connect data always goes in-capsule, on I/O queues too
	 * (PROTOCOL-NOTES 4b.10) */
	ret = tcp_host_exec(q, (struct nvme_sqe *)&c, &data, sizeof(data), TCP_HOST_DIR_TO_CTRL,
			    TCP_HOST_F_INLINE, &cqe, &st);
	if (ret)
		return ret;
	if (status)
		*status = st;
	if (st) {
		/* Linux nvmf_log_connect_error(): IPO in DW0 bits 15:0,
		 * IATTR bit 0 (DW0 bit 16) set when it points into the data */
		if (NVME_STATUS_SCT(st) == NVME_SCT_CMD_SPECIFIC &&
		    NVME_STATUS_SC(st) == NVMF_SC_CONNECT_INVALID_PARAM)
			set_err(q, -EREMOTEIO, "Connect qid %u failed: %s, invalid %s at offset %u",
				a->qid, tcp_host_status_str(st),
				(cqe.dw0 & NVMF_CONNECT_IATTR_DATA) ? "connect data" : "SQE field",
				cqe.dw0 & 0xffff);
		else
			set_err(q, -EREMOTEIO, "Connect qid %u failed: %s", a->qid,
				tcp_host_status_str(st));
		return status ? 0 : -EREMOTEIO;
	}
	if (cqe.dw0 & CONNECT_AUTHREQ_ASCR)
		return set_err(q, -EOPNOTSUPP,
			       "Connect qid %u: controller requires secure channel concatenation (DW0 %#x), not supported",
			       a->qid, cqe.dw0);
	memset(&q->auth, 0, sizeof(q->auth));
	if ((cqe.dw0 & CONNECT_AUTHREQ_ATR) && !a->auth_skip) {
		if (!a->dhchap_secret)
			return set_err(q, -EACCES,
				       "Connect qid %u: the controller requires DH-HMAC-CHAP and no secret was given",
				       a->qid);
		ret = dhchap_host(q, a);
		if (ret)
			return ret;
	}
	if (a->qid == 0) {
		q->cntlid = cqe.dw0 & 0xffff;
		/* dynamic controller IDs are 0..FFEFh (Base 2.0 3.1.2) */
		if (q->cntlid > 0xffef)
			return set_err(q, -EPROTO, "Connect: controller returned CNTLID %#x",
				       q->cntlid);
	} else {
		q->cntlid = a->cntlid;
	}
	q->connected = true;
	if (cntlid)
		*cntlid = q->cntlid;
	return 0;
}

int tcp_host_prop_get(struct tcp_host_q *q, uint32_t ofst, unsigned int size,
		      uint64_t *val, uint16_t *status)
{
	struct nvmf_property_cmd c = { 0 };
	struct nvme_cqe cqe;
	int ret;

	if (size != 4 && size != 8)
		return set_err(q, -EINVAL, "property size %u", size);
	c.opc = NVME_FABRICS_OPC;
	c.fctype = NVMF_FCTYPE_PROPERTY_GET;
	c.attrib = size == 8 ? 1 : 0;
	c.ofst = ofst;
	ret = tcp_host_exec(q, (struct nvme_sqe *)&c, NULL, 0, TCP_HOST_DIR_NONE, 0, &cqe, status);
	if (ret)
		return ret;
	/* the value is in DW0 (and DW1 for 8 bytes) */
	*val = size == 8 ? ((uint64_t)cqe.dw1 << 32 | cqe.dw0) : cqe.dw0;
	return 0;
}

int tcp_host_prop_set(struct tcp_host_q *q, uint32_t ofst, unsigned int size,
		      uint64_t val, uint16_t *status)
{
	struct nvmf_property_cmd c = { 0 };

	if (size != 4 && size != 8)
		return set_err(q, -EINVAL, "property size %u", size);
	c.opc = NVME_FABRICS_OPC;
	c.fctype = NVMF_FCTYPE_PROPERTY_SET;
	c.attrib = size == 8 ? 1 : 0;
	c.ofst = ofst;
	c.value = size == 8 ? val : (uint32_t)val;
	return tcp_host_exec(q, (struct nvme_sqe *)&c, NULL, 0, TCP_HOST_DIR_NONE, 0, NULL, status);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

int tcp_host_enable(struct tcp_host_q *q, uint64_t *capp)
{
	uint64_t cap, csts;
	uint32_t cc;
	uint64_t deadline;
	int ret;

	ret = tcp_host_prop_get(q, NVME_REG_CAP, 8, &cap, NULL);
	if (ret)
		return ret;
	if (capp)
		*capp = cap;
	/* the host uses 4 KiB pages (Linux NVME_CTRL_PAGE_SHIFT 12):
	 * "Minimum device page size %u too large for host (%u)" */
	if (NVME_CAP_MPSMIN(cap) > 0)
		return set_err(q, -ENODEV, "Minimum device page size %u too large for host (4096)",
			       4096u << NVME_CAP_MPSMIN(cap));
	/* Linux nvme_enable_ctrl() (6.1): one write of everything incl. EN */
	cc = (NVME_CAP_CSS(cap) & CAP_CSS_CSI) ? NVME_CC_CSS(CC_CSS_CSI) :
						 NVME_CC_CSS(NVME_CC_CSS_NVM);
	cc |= NVME_CC_MPS(0) | NVME_CC_AMS_RR | NVME_CC_IOSQES(NVM_IOSQES) |
	      NVME_CC_IOCQES(NVM_IOCQES) | NVME_CC_EN;
	ret = tcp_host_prop_set(q, NVME_REG_CC, 4, cc, NULL);
	if (ret)
		return ret;
	/* nvme_wait_ready(): CAP.TO is in 500 ms units */
	deadline = now_ms() + (NVME_CAP_TO(cap) + 1) * 500ull;
	for (;;) {
		ret = tcp_host_prop_get(q, NVME_REG_CSTS, 4, &csts, NULL);
		if (ret)
			return ret;
		if (csts & NVME_CSTS_CFS)
			return set_err(q, -EIO, "controller fatal status after CC.EN (CSTS=%#x)",
				       (uint32_t)csts);
		if (csts & NVME_CSTS_RDY)
			return 0;
		if (now_ms() > deadline)
			return set_err(q, -ETIMEDOUT,
				       "Device not ready; aborting initialisation, CSTS=%#x",
				       (uint32_t)csts);
		sleep_ms(1);
	}
}

int tcp_host_shutdown(struct tcp_host_q *q, unsigned int timeout_ms)
{
	uint64_t cc, csts, deadline;
	int ret;

	ret = tcp_host_prop_get(q, NVME_REG_CC, 4, &cc, NULL);
	if (ret)
		return ret;
	cc = (cc & ~(uint64_t)NVME_CC_SHN_MASK) | NVME_CC_SHN_NORMAL;
	ret = tcp_host_prop_set(q, NVME_REG_CC, 4, cc, NULL);
	if (ret)
		return ret;
	deadline = now_ms() + (timeout_ms ? timeout_ms : 5000);
	for (;;) {
		ret = tcp_host_prop_get(q, NVME_REG_CSTS, 4, &csts, NULL);
		if (ret)
			return ret;
		if ((csts & NVME_CSTS_SHST_MASK) == NVME_CSTS_SHST_CMPLT)
			return 0;
		if (now_ms() > deadline)
			return set_err(q, -ETIMEDOUT,
				       "Device shutdown incomplete; abort shutdown (CSTS=%#x)",
				       (uint32_t)csts);
		sleep_ms(10);
	}
}

/* --- admin helpers ------------------------------------------------------ */

int tcp_host_identify(struct tcp_host_q *q, uint8_t cns, uint32_t nsid, uint16_t cntid,
		      uint8_t csi, void *buf4k, uint16_t *status)
{
	struct nvme_sqe c = { 0 };

	c.opc = NVME_ADM_IDENTIFY;
	c.nsid = nsid;
	c.cdw10 = cns | (uint32_t)cntid << 16;
	c.cdw11 = (uint32_t)csi << 24;
	return tcp_host_exec(q, &c, buf4k, 4096, TCP_HOST_DIR_FROM_CTRL, 0, NULL, status);
}

int tcp_host_identify_ctrl(struct tcp_host_q *q, struct nvme_id_ctrl *id, uint16_t *status)
{
	return tcp_host_identify(q, NVME_ID_CNS_CTRL, 0, 0, 0, id, status);
}

int tcp_host_identify_ns(struct tcp_host_q *q, uint32_t nsid, struct nvme_id_ns *id,
			 uint16_t *status)
{
	return tcp_host_identify(q, NVME_ID_CNS_NS, nsid, 0, 0, id, status);
}

int tcp_host_active_ns_list(struct tcp_host_q *q, uint32_t after, uint32_t list[1024],
			    uint16_t *status)
{
	uint16_t st;
	unsigned int i;
	int ret;

	ret = tcp_host_identify(q, NVME_ID_CNS_NS_ACTIVE_LIST, after, 0, 0, list, &st);
	if (ret)
		return ret;
	if (status)
		*status = st;
	if (st)
		return status ? 0 : set_err(q, -EREMOTEIO, "Identify active NS list failed: %s",
					    tcp_host_status_str(st));
	/* Base 2.0 5.17.2.2: increasing NSIDs greater than the one given,
	 * zero after the last */
	for (i = 0; i < 1024 && list[i]; i++)
		if (list[i] <= after || (i && list[i] <= list[i - 1]) || list[i] >= 0xfffffffe)
			return set_err(q, -EPROTO,
				       "active namespace list: entry %u is NSID %#x after %#x",
				       i, list[i], i ? list[i - 1] : after);
	for (; i < 1024; i++)
		if (list[i])
			return set_err(q, -EPROTO,
				       "active namespace list: NSID %#x after the terminating 0",
				       list[i]);
	return 0;
}

int tcp_host_ns_desc_list(struct tcp_host_q *q, uint32_t nsid, void *buf4k, uint16_t *status)
{
	return tcp_host_identify(q, NVME_ID_CNS_NS_DESC_LIST, nsid, 0, 0, buf4k, status);
}

int tcp_host_check_id_ctrl(struct tcp_host_q *q, const struct nvme_id_ctrl *id, bool discovery)
{
	/* Linux nvme_check_ctrl_fabric_info(), host/core.c */
	if (id->cntlid != q->cntlid)
		return set_err(q, -EPROTO, "Mismatching cntlid: Connect %u vs Identify %u, rejecting",
			       q->cntlid, id->cntlid);
	if (!discovery && !id->kas)
		return set_err(q, -EPROTO, "keep-alive support is mandatory for fabrics");
	if (!discovery && id->ioccsz < 4)
		return set_err(q, -EPROTO, "I/O queue command capsule supported size %u < 4",
			       id->ioccsz);
	if (!discovery && id->iorcsz < 1)
		return set_err(q, -EPROTO, "I/O queue response capsule supported size %u < 1",
			       id->iorcsz);
	if (!id->maxcmd)
		return set_err(q, -EPROTO, "Maximum outstanding commands is 0");
	/* Linux nvme_tcp_setup_ctrl() */
	if (id->icdoff)
		return set_err(q, -EPROTO, "icdoff is not supported!");
	if (!(id->sgls & 0x3))
		return set_err(q, -EPROTO, "Mandatory sgls are not supported!");
	/* CNTRLTYPE (Base 2.0; 0 = not reported by pre-1.4 controllers) */
	if (discovery && id->cntrltype == 1)
		return set_err(q, -EPROTO, "discovery NQN answered by an I/O controller");
	if (!discovery && id->cntrltype == 2)
		return set_err(q, -EPROTO, "I/O subsystem NQN answered by a discovery controller");
	return 0;
}

int tcp_host_get_log(struct tcp_host_q *q, uint8_t lid, uint8_t lsp, uint32_t nsid,
		     uint64_t off, void *buf, size_t len, bool rae, uint16_t *status)
{
	struct nvme_sqe c = { 0 };
	uint32_t numd;

	/* NUMD counts dwords (0's based); LPO must be dword aligned */
	if (!len || len % 4 || off % 4 || len / 4 > 0x100000000ull)
		return set_err(q, -EINVAL, "Get Log Page: length %zu / offset %llu not dword sized",
			       len, (unsigned long long)off);
	numd = (uint32_t)(len / 4 - 1);
	c.opc = NVME_ADM_GET_LOG_PAGE;
	c.nsid = nsid;
	c.cdw10 = lid | (uint32_t)(lsp & 0x7f) << 8 | (rae ? 1u << 15 : 0) | (numd & 0xffff) << 16;
	c.cdw11 = numd >> 16;
	c.cdw12 = (uint32_t)off;
	c.cdw13 = (uint32_t)(off >> 32);
	return tcp_host_exec(q, &c, buf, len, TCP_HOST_DIR_FROM_CTRL, 0, NULL, status);
}

/* libnvme reads logs in chunks of 4 KiB on discovery controllers */
static int get_log_chunked(struct tcp_host_q *q, uint64_t off, uint8_t *buf, size_t len,
			   bool rae, uint16_t *status)
{
	while (len) {
		size_t n = len < 4096 ? len : 4096;
		int ret = tcp_host_get_log(q, NVME_LOG_DISCOVERY, 0, 0, off, buf, n, rae, status);

		if (ret || (status && *status))
			return ret;
		off += n;
		buf += n;
		len -= n;
	}
	return 0;
}

int tcp_host_discovery_log(struct tcp_host_q *q, struct nvmf_disc_log_hdr **logp,
			   size_t *lenp, uint16_t *status)
{
	struct nvmf_disc_log_hdr *log;
	uint64_t genctr, numrec;
	size_t size = sizeof(*log);
	uint16_t st = 0;
	int retries = 0, ret;

	*logp = NULL;
	log = calloc(1, size);
	if (!log)
		return -ENOMEM;
	/* libnvme nvme_discovery_log(): header, all entries, header again;
	 * repeat while GENCTR moved, up to 10 times */
	ret = get_log_chunked(q, 0, (uint8_t *)log, size, true, &st);
	while (!ret && !st) {
		numrec = log->numrec;
		genctr = log->genctr;
		if (numrec == 0)
			break;
		if (numrec > 4096) {
			ret = set_err(q, -EPROTO, "discovery log: NUMREC %llu is absurd",
				      (unsigned long long)numrec);
			break;
		}
		size = sizeof(*log) + numrec * sizeof(struct nvmf_disc_log_entry);
		free(log);
		log = calloc(1, size);
		if (!log)
			return -ENOMEM;
		ret = get_log_chunked(q, sizeof(*log), (uint8_t *)log + sizeof(*log),
				      size - sizeof(*log), true, &st);
		if (ret || st)
			break;
		ret = get_log_chunked(q, 0, (uint8_t *)log, sizeof(*log), false, &st);
		if (ret || st)
			break;
		if (log->genctr == genctr) {
			if (log->numrec != numrec)
				/* libnvme: "numrec changed unexpectedly" (EBADSLT) */
				ret = set_err(q, -EPROTO,
					      "discovery log: NUMREC changed from %llu to %llu with GENCTR %llu unchanged",
					      (unsigned long long)numrec,
					      (unsigned long long)log->numrec,
					      (unsigned long long)genctr);
			break;
		}
		if (++retries >= 10) {
			ret = set_err(q, -EAGAIN, "discovery log: GENCTR kept changing");
			break;
		}
	}
	if (!ret && !st && log->recfmt != 0)
		ret = set_err(q, -EPROTO, "discovery log: RECFMT %u, expected 0", log->recfmt);
	if (status)
		*status = st;
	else if (!ret && st)
		ret = set_err(q, -EREMOTEIO, "Get Log Page (discovery) failed: %s",
			      tcp_host_status_str(st));
	if (ret || st) {
		free(log);
		return ret;
	}
	*logp = log;
	*lenp = size;
	return 0;
}

int tcp_host_set_features(struct tcp_host_q *q, uint8_t fid, uint32_t nsid, uint32_t cdw11,
			  uint32_t cdw12, void *buf, size_t len, uint32_t *result,
			  uint16_t *status)
{
	struct nvme_sqe c = { 0 };
	struct nvme_cqe cqe;
	int ret;

	c.opc = NVME_ADM_SET_FEATURES;
	c.nsid = nsid;
	c.cdw10 = fid;
	c.cdw11 = cdw11;
	c.cdw12 = cdw12;
	ret = tcp_host_exec(q, &c, buf, len, TCP_HOST_DIR_TO_CTRL, 0, &cqe, status);
	if (!ret && result)
		*result = cqe.dw0;
	return ret;
}

int tcp_host_get_features(struct tcp_host_q *q, uint8_t fid, uint8_t sel, uint32_t nsid,
			  uint32_t cdw11, void *buf, size_t len, uint32_t *result,
			  uint16_t *status)
{
	struct nvme_sqe c = { 0 };
	struct nvme_cqe cqe;
	int ret;

	c.opc = NVME_ADM_GET_FEATURES;
	c.nsid = nsid;
	c.cdw10 = fid | (uint32_t)(sel & 7) << 8;
	c.cdw11 = cdw11;
	ret = tcp_host_exec(q, &c, buf, len, TCP_HOST_DIR_FROM_CTRL, 0, &cqe, status);
	if (!ret && result)
		*result = cqe.dw0;
	return ret;
}

int tcp_host_keep_alive(struct tcp_host_q *q, uint16_t *status)
{
	struct nvme_sqe c = { 0 };

	c.opc = NVME_ADM_KEEP_ALIVE;
	return tcp_host_exec(q, &c, NULL, 0, TCP_HOST_DIR_NONE, 0, NULL, status);
}

void tcp_host_rw_sqe(struct nvme_sqe *sqe, uint8_t opc, uint32_t nsid, uint64_t slba,
		     uint32_t nlb)
{
	memset(sqe, 0, sizeof(*sqe));
	sqe->opc = opc;
	sqe->nsid = nsid;
	sqe->cdw10 = (uint32_t)slba;
	sqe->cdw11 = (uint32_t)(slba >> 32);
	sqe->cdw12 = (nlb - 1) & 0xffff;   /* NLB is 0's based */
}

/* --- raw access --------------------------------------------------------- */

int tcp_host_send_raw(struct tcp_host_q *q, const void *buf, size_t len)
{
	struct iovec iov = { (void *)buf, len };

	if (q->fd < 0)
		return set_err(q, -ENOTCONN, "not connected");
	return send_iov(q, &iov, 1);
}

int tcp_host_recv_raw(struct tcp_host_q *q, void *buf, size_t buflen, size_t *plenp)
{
	struct nvme_tcp_hdr ch;
	size_t n;
	int ret;

	if (q->fd < 0)
		return set_err(q, -ENOTCONN, "not connected");
	ret = recv_exact(q, &ch, sizeof(ch), true);
	if (ret)
		return ret;
	if (ch.plen < sizeof(ch) || ch.hlen > ch.plen || ch.plen > RAW_MAX_PLEN)
		return fail(q, -EPROTO, "raw receive: %s with HLEN %u PLEN %u",
			    tcp_host_pdu_name(ch.type), ch.hlen, ch.plen);
	if (plenp)
		*plenp = ch.plen;
	n = buflen < sizeof(ch) ? buflen : sizeof(ch);
	memcpy(buf, &ch, n);
	n = buflen > sizeof(ch) ? (buflen < ch.plen ? buflen : ch.plen) - sizeof(ch) : 0;
	ret = recv_exact(q, (uint8_t *)buf + sizeof(ch), n, false);
	if (!ret)
		ret = recv_discard(q, ch.plen - sizeof(ch) - n);
	if (ret)
		return ret;
	if (ch.type == NVME_TCP_C2H_TERM && buflen >= sizeof(struct nvme_tcp_term_pdu)) {
		const struct nvme_tcp_term_pdu *t = buf;

		q->term_fes = t->fes;
		memcpy(&q->term_fei, t->fei, sizeof(q->term_fei));
	}
	trace_pdu(q, "<-", buf);
	return 0;
}

int tcp_host_wait_closed(struct tcp_host_q *q, unsigned int timeout_ms)
{
	uint64_t deadline = now_ms() + timeout_ms;
	uint8_t scratch[4096];

	if (q->fd < 0)
		return 0;
	for (;;) {
		struct pollfd pfd = { .fd = q->fd, .events = POLLIN };
		int64_t left = (int64_t)(deadline - now_ms());
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, (int)left) == 0)
			return set_err(q, -ETIMEDOUT, "controller kept the connection open for %u ms",
				       timeout_ms);
		n = recv(q->fd, scratch, sizeof(scratch), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return 0;
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return 0;
	}
}

void tcp_host_gen_hostnqn(char *hostnqn, uint8_t hostid[16])
{
	uint8_t u[16];
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, u, sizeof(u)) : -1;

	if (fd >= 0)
		close(fd);
	if (n != (ssize_t)sizeof(u)) {
		/* no /dev/urandom: still unique enough per run */
		uint64_t t = now_ms() ^ ((uint64_t)getpid() << 32);

		for (unsigned int i = 0; i < sizeof(u); i++)
			u[i] = (uint8_t)(t >> (8 * (i % 8))) ^ (uint8_t)(i * 37);
	}
	u[6] = (u[6] & 0x0f) | 0x40;   /* RFC 4122 version 4 */
	u[8] = (u[8] & 0x3f) | 0x80;   /* variant */
	memcpy(hostid, u, 16);
	snprintf(hostnqn, 256,
		 "nqn.2014-08.org.nvmexpress:uuid:%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
		 u[13], u[14], u[15]);
}
