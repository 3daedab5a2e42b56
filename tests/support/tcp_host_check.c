/* SPDX-License-Identifier: MIT */
/*
 * The initiator's negative (and a few positive) tests against a scripted
 * fake controller; see tcp_host_check.h.
 */
#include "tests/support/tcp_host_check.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/support/tcp_host.h"

#define FK_MAXDATA 4096u    /* the fake's MAXH2CDATA: 8 KiB writes take 2 PDUs */
#define RD_LEN 4096u
#define WR_LEN 8192u
#define WR_INLINE_LEN 2048u

enum fk_case {
	/* ICReq/ICResp */
	C_ICRESP_GOOD, C_ICRESP_PFV, C_ICRESP_DIGEST, C_ICRESP_MAXDATA, C_ICRESP_CPDA,
	C_ICRESP_PLEN, C_ICRESP_HLEN, C_ICRESP_TYPE, C_ICRESP_TERM,
	/* a read of RD_LEN bytes */
	C_RD_GOOD, C_RD_GOOD_DIGESTS, C_RD_SUCCESS, C_RD_SUCCESS_SQFC, C_RD_SUCCESS_NOLAST,
	C_RD_GAP, C_RD_LAST_EARLY, C_RD_NO_LAST, C_RD_BEYOND, C_RD_BAD_CCCID, C_RD_BAD_CID,
	C_RD_SHORT_SUCCESS, C_RD_ERROR, C_RD_HDGST_BAD, C_RD_DDGST_BAD, C_RD_HDGST_MISSING,
	C_RD_PDO_BAD, C_RD_PLEN_BAD, C_RD_SQHD, C_RD_SQID, C_RD_TERM, C_RD_R2T, C_RD_H2C_TYPE,
	C_RD_FLAGS, C_RD_HPDA_GOOD, C_RD_HPDA_BAD,
	/* a write of WR_LEN bytes via R2T, or WR_INLINE_LEN in-capsule */
	C_WR_GOOD, C_WR_TWO_R2T, C_WR_R2T_ZERO, C_WR_R2T_BEYOND, C_WR_R2T_OFFSET,
	C_WR_NO_R2T, C_WR_INLINE, C_WR_INLINE_R2T, C_CPDA,
};

enum hc_io { IO_NONE, IO_READ, IO_WRITE, IO_WRITE_INLINE };

struct hc_case {
	enum fk_case id;
	const char *name;
	bool hdgst, ddgst, dissqfc, accept_cpda;
	uint8_t hpda;
	enum hc_io io;
	int want_ret;             /* of tcp_host_icreq (IO_NONE) or of the command */
	int want_status;          /* NVMe status when want_ret is 0 */
	int want_fes;             /* H2CTermReq FES the fake must see; 0 = none */
	bool want_synth;
	bool lenient;             /* a load generator's queue (tcp_host_opts.lenient) */
	unsigned want_devs;       /* deviations it must have counted */
};

#define ST_LBA_RANGE NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_LBA_RANGE)
#define ST_XFER NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_DATA_XFER_ERROR)
#define FES_HDR NVME_TCP_FES_INVALID_HEADER
#define FES_SEQ NVME_TCP_FES_PDU_SEQ_ERR
#define FES_HDGST NVME_TCP_FES_HDR_DIGEST_ERR
#define FES_RANGE NVME_TCP_FES_DATA_OUT_OF_RANGE

static const struct hc_case cases[] = {
	{ C_ICRESP_GOOD, "icresp-good", .hdgst = true, .ddgst = true },
	{ C_ICRESP_PFV, "icresp-pfv", .want_ret = -EPROTO },
	{ C_ICRESP_DIGEST, "icresp-digest-mismatch", .hdgst = true, .want_ret = -EPROTO },
	{ C_ICRESP_MAXDATA, "icresp-maxh2cdata-4092", .want_ret = -EPROTO },
	{ C_ICRESP_CPDA, "icresp-cpda-refused", .want_ret = -EPROTO },
	{ C_ICRESP_PLEN, "icresp-plen-132", .want_ret = -EPROTO },
	{ C_ICRESP_HLEN, "icresp-hlen-120", .want_ret = -EPROTO },
	{ C_ICRESP_TYPE, "icresp-wrong-type", .want_ret = -EPROTO },
	{ C_ICRESP_TERM, "icresp-c2hterm", .want_ret = -ECONNABORTED },

	{ C_RD_GOOD, "read-2-c2hdata", .io = IO_READ },
	{ C_RD_GOOD_DIGESTS, "read-2-c2hdata-digests", .hdgst = true, .ddgst = true, .io = IO_READ },
	{ C_RD_SUCCESS, "read-success-dissqfc", .dissqfc = true, .io = IO_READ, .want_synth = true },
	{ C_RD_SUCCESS_SQFC, "read-success-with-sqfc", .io = IO_READ, .want_ret = -EPROTO,
	  .want_fes = FES_HDR },
	{ C_RD_SUCCESS_NOLAST, "read-success-without-last", .dissqfc = true, .io = IO_READ,
	  .want_ret = -EPROTO, .want_fes = FES_HDR },
	{ C_RD_GAP, "read-datao-gap", .io = IO_READ, .want_ret = -EPROTO, .want_fes = FES_SEQ },
	{ C_RD_LAST_EARLY, "read-last-early", .io = IO_READ, .want_ret = -EPROTO,
	  .want_fes = FES_SEQ },
	{ C_RD_NO_LAST, "read-no-last", .io = IO_READ, .want_ret = -EPROTO, .want_fes = FES_SEQ },
	{ C_RD_BEYOND, "read-beyond-length", .io = IO_READ, .want_ret = -EPROTO,
	  .want_fes = FES_RANGE },
	{ C_RD_BAD_CCCID, "read-unknown-cccid", .io = IO_READ, .want_ret = -EPROTO,
	  .want_fes = FES_HDR },
	{ C_RD_BAD_CID, "read-unknown-cqe-cid", .io = IO_READ, .want_ret = -EPROTO,
	  .want_fes = FES_HDR },
	{ C_RD_SHORT_SUCCESS, "read-success-without-data", .io = IO_READ, .want_ret = -EPROTO },
	{ C_RD_ERROR, "read-error-status", .io = IO_READ, .want_status = ST_LBA_RANGE },
	{ C_RD_HDGST_BAD, "read-bad-header-digest", .hdgst = true, .io = IO_READ,
	  .want_ret = -EPROTO, .want_fes = FES_HDGST },
	{ C_RD_DDGST_BAD, "read-bad-data-digest", .ddgst = true, .io = IO_READ,
	  .want_status = ST_XFER },
	{ C_RD_HDGST_MISSING, "read-hdgstf-missing", .hdgst = true, .io = IO_READ,
	  .want_ret = -EPROTO, .want_fes = FES_HDR },
	{ C_RD_PDO_BAD, "read-pdo-inside-header", .io = IO_READ, .want_ret = -EPROTO,
	  .want_fes = FES_HDR },
	{ C_RD_PLEN_BAD, "read-plen-mismatch", .io = IO_READ, .want_ret = -EPROTO,
	  .want_fes = FES_HDR },
	{ C_RD_SQHD, "read-sqhd-past-tail", .io = IO_READ, .want_ret = -EPROTO },
	{ C_RD_SQID, "read-wrong-sqid", .io = IO_READ, .want_ret = -EPROTO },
	/* the same three deviations on a lenient queue: counted, survived;
	 * everything else stays fatal for it (read-gap-lenient) */
	{ C_RD_SUCCESS_SQFC, "read-success-with-sqfc-lenient", .io = IO_READ, .lenient = true,
	  .want_synth = true, .want_devs = 1 },
	{ C_RD_SQHD, "read-sqhd-past-tail-lenient", .io = IO_READ, .lenient = true,
	  .want_devs = 1 },
	{ C_RD_SQID, "read-wrong-sqid-lenient", .io = IO_READ, .lenient = true, .want_devs = 1 },
	{ C_RD_GAP, "read-datao-gap-lenient", .io = IO_READ, .lenient = true, .want_ret = -EPROTO,
	  .want_fes = FES_SEQ },
	{ C_RD_TERM, "read-c2hterm", .io = IO_READ, .want_ret = -ECONNABORTED },
	{ C_RD_R2T, "read-gets-r2t", .io = IO_READ, .want_ret = -EPROTO, .want_fes = FES_HDR },
	{ C_RD_H2C_TYPE, "read-gets-h2cdata-type", .io = IO_READ, .want_ret = -EPROTO,
	  .want_fes = FES_HDR },
	{ C_RD_FLAGS, "read-rsp-with-last-flag", .io = IO_READ, .want_ret = -EPROTO,
	  .want_fes = FES_HDR },
	{ C_RD_HPDA_GOOD, "read-hpda-16-padded", .hpda = 3, .hdgst = true, .io = IO_READ },
	{ C_RD_HPDA_BAD, "read-hpda-16-misaligned", .hpda = 3, .io = IO_READ,
	  .want_ret = -EPROTO, .want_fes = FES_HDR },

	{ C_WR_GOOD, "write-r2t-split-at-maxh2cdata", .io = IO_WRITE },
	{ C_WR_TWO_R2T, "write-two-r2ts-digests", .hdgst = true, .ddgst = true, .io = IO_WRITE },
	{ C_WR_R2T_ZERO, "write-r2t-length-0", .io = IO_WRITE, .want_ret = -EPROTO,
	  .want_fes = FES_HDR },
	{ C_WR_R2T_BEYOND, "write-r2t-beyond-length", .io = IO_WRITE, .want_ret = -EPROTO,
	  .want_fes = FES_RANGE },
	{ C_WR_R2T_OFFSET, "write-r2t-out-of-order", .io = IO_WRITE, .want_ret = -EPROTO,
	  .want_fes = FES_SEQ },
	{ C_WR_NO_R2T, "write-success-without-r2t", .io = IO_WRITE, .want_ret = -EPROTO },
	{ C_WR_INLINE, "write-in-capsule-digests", .hdgst = true, .ddgst = true,
	  .io = IO_WRITE_INLINE },
	{ C_WR_INLINE_R2T, "write-in-capsule-gets-r2t", .io = IO_WRITE_INLINE,
	  .want_ret = -EPROTO, .want_fes = FES_HDR },
	{ C_CPDA, "cpda-16-accepted-and-honoured", .accept_cpda = true, .hdgst = true,
	  .ddgst = true, .io = IO_WRITE },
};

/* --- the fake controller ------------------------------------------------ */

struct fk {
	int fd;
	const struct hc_case *c;
	bool hdgst, ddgst;
	unsigned int cpda_align;   /* bytes */
	uint16_t cid;              /* of the I/O command */
	uint16_t sqhd;
	int term_fes;              /* H2CTermReq seen: its FES, else 0 */
	char note[200];            /* what the fake found wrong in the host */
	uint8_t buf[WR_LEN + 512];
};

__attribute__((format(printf, 2, 3)))
static void note(struct fk *f, const char *fmt, ...)
{
	va_list ap;

	if (f->note[0])
		return;
	va_start(ap, fmt);
	vsnprintf(f->note, sizeof(f->note), fmt, ap);
	va_end(ap);
}

static int fk_rx(struct fk *f, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		struct pollfd pfd = { .fd = f->fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, 3000) <= 0)
			return -ETIMEDOUT;
		n = read(f->fd, p, len);
		if (n <= 0)
			return -ECONNRESET;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void fk_tx(struct fk *f, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = send(f->fd, p, len, MSG_NOSIGNAL);

		if (n <= 0)
			return;     /* the host hung up: it will tell */
		p += n;
		len -= (size_t)n;
	}
}

/* receive one whole PDU into f->buf; returns its type or -1 */
static int fk_rx_pdu(struct fk *f, uint32_t *plen)
{
	struct nvme_tcp_hdr *h = (void *)f->buf;

	if (fk_rx(f, h, sizeof(*h)))
		return -1;
	if (h->plen < sizeof(*h) || h->plen > sizeof(f->buf)) {
		note(f, "host sent %s with PLEN %u", tcp_host_pdu_name(h->type), h->plen);
		return -1;
	}
	if (fk_rx(f, f->buf + sizeof(*h), h->plen - sizeof(*h)))
		return -1;
	*plen = h->plen;
	return h->type;
}

/*
 * Send a PDU: hdr (hlen bytes, type/flags/fields filled by the caller
 * except digest flags, PDO and PLEN), then data. pdo_override/plen_delta
 * and the bad_* switches break it on purpose.
 */
struct tx_opts {
	bool bad_hdgst, bad_ddgst, no_hdgst;
	uint8_t pdo;               /* 0: natural */
	int plen_delta;
};

static void fk_send(struct fk *f, void *hdr, size_t hlen, const void *data, size_t dlen,
		    const struct tx_opts *t)
{
	static const struct tx_opts none;
	struct nvme_tcp_hdr *h = hdr;
	uint8_t out[WR_LEN + 512];
	bool hd = f->hdgst && !(t ? t->no_hdgst : false);
	size_t off;
	uint32_t dg;

	if (!t)
		t = &none;
	h->flags |= (hd ? NVME_TCP_F_HDGST : 0) | (f->ddgst && dlen ? NVME_TCP_F_DDGST : 0);
	h->hlen = (uint8_t)hlen;
	h->pdo = dlen ? (uint8_t)(t->pdo ? t->pdo : hlen + (hd ? 4 : 0)) : 0;
	h->plen = (uint32_t)((dlen ? h->pdo + dlen + (f->ddgst ? 4 : 0) : hlen + (hd ? 4 : 0)) +
			     t->plen_delta);
	memcpy(out, hdr, hlen);
	off = hlen;
	if (hd) {
		dg = tcp_host_digest(hdr, hlen) ^ (t->bad_hdgst ? 1u : 0u);
		memcpy(out + off, &dg, 4);
		off += 4;
	}
	if (dlen) {
		while (off < h->pdo)
			out[off++] = 0;
		memcpy(out + off, data, dlen);
		off += dlen;
		if (f->ddgst) {
			dg = tcp_host_digest(data, dlen) ^ (t->bad_ddgst ? 0x80u : 0u);
			memcpy(out + off, &dg, 4);
			off += 4;
		}
	}
	fk_tx(f, out, off);
}

static void fk_cqe(struct fk *f, uint16_t cid, uint16_t status, uint32_t dw0,
		   const struct tx_opts *t)
{
	struct nvme_tcp_rsp_pdu r = { 0 };

	r.hdr.type = NVME_TCP_RSP;
	r.cqe.cid = cid;
	r.cqe.status = (uint16_t)(status << 1);
	r.cqe.sqhd = f->sqhd;
	r.cqe.sqid = 0;
	r.cqe.dw0 = dw0;
	fk_send(f, &r, sizeof(r), NULL, 0, t);
}

static void fk_c2h(struct fk *f, uint16_t cccid, uint32_t off, uint32_t len, uint8_t flags,
		   const struct tx_opts *t)
{
	static uint8_t data[2 * RD_LEN];
	struct nvme_tcp_data_pdu d = { 0 };

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 3);
	d.hdr.type = NVME_TCP_C2H_DATA;
	d.hdr.flags = flags;
	d.cccid = cccid;
	d.datao = off;
	d.datal = len;
	fk_send(f, &d, sizeof(d), data + off, len, t);
}

static void fk_r2t(struct fk *f, uint32_t off, uint32_t len, uint16_t ttag)
{
	struct nvme_tcp_r2t_pdu r = { 0 };

	r.hdr.type = NVME_TCP_R2T;
	r.cccid = f->cid;
	r.ttag = ttag;
	r.r2to = off;
	r.r2tl = len;
	fk_send(f, &r, sizeof(r), NULL, 0, NULL);
}

/* the host's write data is byte i = i * 5 + 1 */
static bool wr_data_ok(const uint8_t *p, uint32_t off, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		if (p[i] != (uint8_t)((off + i) * 5 + 1))
			return false;
	return true;
}

static unsigned int fk_pdo(const struct fk *f, unsigned int hlen)
{
	unsigned int full = hlen + (f->hdgst ? 4 : 0);

	return (full + f->cpda_align - 1) / f->cpda_align * f->cpda_align;
}

/* check a host PDU's digests and data placement; returns its data */
static const uint8_t *fk_check_data(struct fk *f, const char *what, uint32_t plen, uint32_t dlen)
{
	const struct nvme_tcp_hdr *h = (void *)f->buf;
	unsigned int pdo = fk_pdo(f, h->hlen);
	uint8_t want_flags = (f->hdgst ? NVME_TCP_F_HDGST : 0) | (f->ddgst ? NVME_TCP_F_DDGST : 0);
	uint32_t dg;

	if ((h->flags & 3) != want_flags)
		note(f, "%s: digest flags %#x, want %#x", what, h->flags & 3, want_flags);
	if (h->pdo != pdo)
		note(f, "%s: PDO %u, want %u (CPDA alignment %u)", what, h->pdo, pdo,
		     f->cpda_align);
	if (plen != pdo + dlen + (f->ddgst ? 4 : 0))
		note(f, "%s: PLEN %u, want %u", what, plen, pdo + dlen + (f->ddgst ? 4 : 0));
	if (f->hdgst) {
		memcpy(&dg, f->buf + h->hlen, 4);
		if (dg != tcp_host_digest(f->buf, h->hlen))
			note(f, "%s: bad header digest", what);
	}
	for (unsigned int i = h->hlen + (f->hdgst ? 4 : 0); i < pdo; i++)
		if (f->buf[i])
			note(f, "%s: padding byte %u is %#x", what, i, f->buf[i]);
	if (f->ddgst && pdo + dlen + 4 <= sizeof(f->buf)) {
		memcpy(&dg, f->buf + pdo + dlen, 4);
		if (dg != tcp_host_digest(f->buf + pdo, dlen))
			note(f, "%s: bad data digest", what);
	}
	return f->buf + pdo;
}

/* read H2CData PDUs answering an R2T (off, len, ttag) */
static void fk_take_h2c(struct fk *f, uint32_t off, uint32_t len, uint16_t ttag)
{
	while (len) {
		const struct nvme_tcp_data_pdu *d = (void *)f->buf;
		uint32_t chunk = len < FK_MAXDATA ? len : FK_MAXDATA, plen;
		const uint8_t *data;

		if (fk_rx_pdu(f, &plen) != NVME_TCP_H2C_DATA) {
			note(f, "expected H2CData for offset %u, got %s", off,
			     tcp_host_pdu_name(d->hdr.type));
			return;
		}
		if (d->cccid != f->cid || d->ttag != ttag || d->datao != off || d->datal != chunk)
			note(f, "H2CData cccid %#x ttag %#x datao %u datal %u, want %#x %#x %u %u",
			     d->cccid, d->ttag, d->datao, d->datal, f->cid, ttag, off, chunk);
		if (!!(d->hdr.flags & NVME_TCP_F_DATA_LAST) != (chunk == len))
			note(f, "H2CData at %u: LAST_PDU %s", off,
			     chunk == len ? "missing on the R2T's last PDU" : "set early");
		if (d->hdr.hlen != sizeof(*d))
			note(f, "H2CData HLEN %u", d->hdr.hlen);
		data = fk_check_data(f, "H2CData", plen, chunk);
		if (!wr_data_ok(data, off, chunk))
			note(f, "H2CData at %u: wrong data", off);
		off += chunk;
		len -= chunk;
	}
}

/* the capsule just received: check SGL and in-capsule data */
static void fk_check_capsule(struct fk *f, uint32_t plen, uint32_t icd_len, uint8_t sgl_type)
{
	const struct nvme_tcp_cmd_pdu *c = (void *)f->buf;

	if (c->cmd.dptr.sgl.type != sgl_type)
		note(f, "capsule opc %#x: SGL type %#x, want %#x", c->cmd.opc, c->cmd.dptr.sgl.type,
		     sgl_type);
	if ((c->cmd.flags & NVME_SQE_PSDT_MASK) != NVME_SQE_PSDT_SGL)
		note(f, "capsule opc %#x: PSDT is not SGL", c->cmd.opc);
	if (icd_len) {
		if (c->cmd.dptr.sgl.length != icd_len || c->cmd.dptr.sgl.addr != 0)
			note(f, "capsule opc %#x: in-capsule SGL length %u addr %#llx", c->cmd.opc,
			     c->cmd.dptr.sgl.length, (unsigned long long)c->cmd.dptr.sgl.addr);
		fk_check_data(f, "CapsuleCmd", plen, icd_len);
	} else {
		uint8_t want = f->hdgst ? NVME_TCP_F_HDGST : 0;

		if (c->hdr.pdo != 0 || c->hdr.flags != want ||
		    plen != sizeof(*c) + (f->hdgst ? 4u : 0u))
			note(f, "capsule without data: flags %#x pdo %u plen %u", c->hdr.flags,
			     c->hdr.pdo, plen);
	}
}

static void fk_icresp(struct fk *f)
{
	struct nvme_tcp_icreq q;
	uint8_t raw[132] = { 0 };
	struct nvme_tcp_icresp *r = (void *)raw;
	const struct hc_case *c = f->c;
	size_t len = sizeof(*r);

	if (fk_rx(f, &q, sizeof(q))) {
		note(f, "no ICReq");
		return;
	}
	if (q.hdr.type != NVME_TCP_ICREQ || q.hdr.hlen != 128 || q.hdr.plen != 128 ||
	    q.hdr.flags || q.hdr.pdo || q.pfv || q.maxr2t || q.hpda != c->hpda)
		note(f, "ICReq type %u hlen %u plen %u flags %#x pdo %u pfv %u maxr2t %u hpda %u",
		     q.hdr.type, q.hdr.hlen, q.hdr.plen, q.hdr.flags, q.hdr.pdo, q.pfv, q.maxr2t,
		     q.hpda);
	if (q.digest != ((c->hdgst ? 1 : 0) | (c->ddgst ? 2 : 0)))
		note(f, "ICReq digest %#x", q.digest);
	r->hdr.type = NVME_TCP_ICRESP;
	r->hdr.hlen = 128;
	r->hdr.plen = 128;
	r->digest = q.digest;
	r->maxdata = FK_MAXDATA;
	switch (c->id) {
	case C_ICRESP_PFV: r->pfv = 1; break;
	case C_ICRESP_DIGEST: r->digest = 0; break;
	case C_ICRESP_MAXDATA: r->maxdata = 4092; break;
	case C_ICRESP_CPDA: r->cpda = 1; break;
	case C_ICRESP_PLEN: r->hdr.plen = 132; len = 132; break;
	case C_ICRESP_HLEN: r->hdr.hlen = 120; break;
	case C_ICRESP_TYPE: r->hdr.type = NVME_TCP_RSP; break;
	case C_CPDA: r->cpda = 3; break;     /* 16-byte alignment */
	case C_ICRESP_TERM: {
		struct nvme_tcp_term_pdu t = { 0 };

		t.hdr.type = NVME_TCP_C2H_TERM;
		t.hdr.hlen = sizeof(t);
		t.hdr.plen = sizeof(t);
		t.fes = NVME_TCP_FES_UNSUPPORTED_PARAM;
		fk_tx(f, &t, sizeof(t));
		return;
	}
	default: break;
	}
	f->hdgst = c->hdgst;
	f->ddgst = c->ddgst;
	f->cpda_align = (r->cpda + 1u) * 4;
	fk_tx(f, raw, len);
}

/* the Connect on the admin queue: answer CNTLID 1 */
static bool fk_connect(struct fk *f)
{
	const struct nvme_tcp_cmd_pdu *c = (void *)f->buf;
	const struct nvmf_connect_cmd *cc = (void *)&c->cmd;
	uint32_t plen;

	if (fk_rx_pdu(f, &plen) != NVME_TCP_CMD || c->cmd.opc != NVME_FABRICS_OPC) {
		note(f, "expected the Connect capsule");
		return false;
	}
	fk_check_capsule(f, plen, sizeof(struct nvmf_connect_data), 0x01);
	if (!!(cc->cattr & NVMF_CATTR_DISSQFC) != f->c->dissqfc)
		note(f, "Connect CATTR %#x", cc->cattr);
	f->sqhd = f->c->dissqfc ? 0 : 1;
	fk_cqe(f, c->cmd.cid, 0, 1, NULL);
	return true;
}

static void fk_io(struct fk *f)
{
	const struct nvme_tcp_cmd_pdu *c = (void *)f->buf;
	const struct hc_case *k = f->c;
	struct tx_opts t = { 0 };
	uint16_t cid;
	uint32_t plen;

	if (fk_rx_pdu(f, &plen) != NVME_TCP_CMD) {
		note(f, "expected the I/O capsule");
		return;
	}
	cid = f->cid = c->cmd.cid;
	if (!f->c->dissqfc)
		f->sqhd = 2;
	if (k->io == IO_WRITE_INLINE)
		fk_check_capsule(f, plen, WR_INLINE_LEN, 0x01);
	else
		fk_check_capsule(f, plen, 0, 0x5a);
	if (k->io == IO_WRITE_INLINE && !wr_data_ok(fk_check_data(f, "CapsuleCmd", plen,
								   WR_INLINE_LEN), 0, WR_INLINE_LEN))
		note(f, "in-capsule data wrong");
	if (k->io == IO_READ && c->cmd.dptr.sgl.length != RD_LEN)
		note(f, "read SGL length %u", c->cmd.dptr.sgl.length);
	if (k->io == IO_WRITE && c->cmd.dptr.sgl.length != WR_LEN)
		note(f, "write SGL length %u", c->cmd.dptr.sgl.length);

	switch (k->id) {
	case C_RD_GOOD:
	case C_RD_GOOD_DIGESTS:
		fk_c2h(f, cid, 0, 1024, 0, NULL);
		fk_c2h(f, cid, 1024, RD_LEN - 1024, NVME_TCP_F_DATA_LAST, NULL);
		fk_cqe(f, cid, 0, 0, NULL);
		break;
	case C_RD_SUCCESS:
	case C_RD_SUCCESS_SQFC:
		fk_c2h(f, cid, 0, RD_LEN, NVME_TCP_F_DATA_LAST | NVME_TCP_F_DATA_SUCCESS, NULL);
		break;
	case C_RD_SUCCESS_NOLAST:
		fk_c2h(f, cid, 0, RD_LEN, NVME_TCP_F_DATA_SUCCESS, NULL);
		break;
	case C_RD_GAP:
		fk_c2h(f, cid, 0, 1024, 0, NULL);
		fk_c2h(f, cid, 2048, 2048, NVME_TCP_F_DATA_LAST, NULL);
		break;
	case C_RD_LAST_EARLY:
		fk_c2h(f, cid, 0, 2048, NVME_TCP_F_DATA_LAST, NULL);
		break;
	case C_RD_NO_LAST:
		fk_c2h(f, cid, 0, RD_LEN, 0, NULL);
		break;
	case C_RD_BEYOND:
		fk_c2h(f, cid, 0, 2 * RD_LEN, NVME_TCP_F_DATA_LAST, NULL);
		break;
	case C_RD_BAD_CCCID:
		fk_c2h(f, cid ^ 0x100, 0, RD_LEN, NVME_TCP_F_DATA_LAST, NULL);
		break;
	case C_RD_BAD_CID:
		fk_c2h(f, cid, 0, RD_LEN, NVME_TCP_F_DATA_LAST, NULL);
		fk_cqe(f, cid ^ 0x100, 0, 0, NULL);
		break;
	case C_RD_SHORT_SUCCESS:
		fk_cqe(f, cid, 0, 0, NULL);
		break;
	case C_RD_ERROR:
		fk_cqe(f, cid, ST_LBA_RANGE, 0, NULL);
		break;
	case C_RD_HDGST_BAD:
		t.bad_hdgst = true;
		fk_c2h(f, cid, 0, RD_LEN, NVME_TCP_F_DATA_LAST, &t);
		break;
	case C_RD_DDGST_BAD:
		t.bad_ddgst = true;
		fk_c2h(f, cid, 0, RD_LEN, NVME_TCP_F_DATA_LAST, &t);
		fk_cqe(f, cid, 0, 0, NULL);
		break;
	case C_RD_HDGST_MISSING:
		t.no_hdgst = true;
		fk_c2h(f, cid, 0, RD_LEN, NVME_TCP_F_DATA_LAST, &t);
		break;
	case C_RD_PDO_BAD:
		t.pdo = 20;
		fk_c2h(f, cid, 0, RD_LEN, NVME_TCP_F_DATA_LAST, &t);
		break;
	case C_RD_PLEN_BAD:
		t.plen_delta = 4;
		fk_c2h(f, cid, 0, RD_LEN, NVME_TCP_F_DATA_LAST, &t);
		break;
	case C_RD_SQHD:
		fk_c2h(f, cid, 0, RD_LEN, NVME_TCP_F_DATA_LAST, NULL);
		f->sqhd = 7;
		fk_cqe(f, cid, 0, 0, NULL);
		break;
	case C_RD_SQID: {
		struct nvme_tcp_rsp_pdu r = { 0 };

		fk_c2h(f, cid, 0, RD_LEN, NVME_TCP_F_DATA_LAST, NULL);
		r.hdr.type = NVME_TCP_RSP;
		r.cqe.cid = cid;
		r.cqe.sqhd = f->sqhd;
		r.cqe.sqid = 3;
		fk_send(f, &r, sizeof(r), NULL, 0, NULL);
		break;
	}
	case C_RD_TERM: {
		struct nvme_tcp_term_pdu t2 = { 0 };

		t2.hdr.type = NVME_TCP_C2H_TERM;
		t2.hdr.hlen = sizeof(t2);
		t2.hdr.plen = sizeof(t2) + sizeof(struct nvme_tcp_cmd_pdu);
		t2.fes = NVME_TCP_FES_PDU_SEQ_ERR;
		fk_tx(f, &t2, sizeof(t2));
		fk_tx(f, f->buf, sizeof(struct nvme_tcp_cmd_pdu));
		break;
	}
	case C_RD_R2T:
		fk_r2t(f, 0, RD_LEN, 1);
		break;
	case C_RD_H2C_TYPE: {
		struct nvme_tcp_data_pdu d = { 0 };

		d.hdr.type = NVME_TCP_H2C_DATA;
		fk_send(f, &d, sizeof(d), NULL, 0, NULL);
		break;
	}
	case C_RD_HPDA_GOOD:
		t.pdo = 32;      /* 24 + 4 digest, padded to 16 */
		fk_c2h(f, cid, 0, RD_LEN, NVME_TCP_F_DATA_LAST, &t);
		fk_cqe(f, cid, 0, 0, NULL);
		break;
	case C_RD_HPDA_BAD:
		t.pdo = 28;      /* a dword multiple, not a 16-byte one */
		fk_c2h(f, cid, 0, RD_LEN, NVME_TCP_F_DATA_LAST, &t);
		break;
	case C_RD_FLAGS:
		fk_c2h(f, cid, 0, RD_LEN, NVME_TCP_F_DATA_LAST, NULL);
		{
			struct nvme_tcp_rsp_pdu r = { 0 };

			r.hdr.type = NVME_TCP_RSP;
			r.hdr.flags = NVME_TCP_F_DATA_LAST;
			r.cqe.cid = cid;
			r.cqe.sqhd = f->sqhd;
			fk_send(f, &r, sizeof(r), NULL, 0, NULL);
		}
		break;
	case C_WR_GOOD:
	case C_CPDA:
		fk_r2t(f, 0, WR_LEN, 0x21);
		fk_take_h2c(f, 0, WR_LEN, 0x21);
		fk_cqe(f, cid, 0, 0, NULL);
		break;
	case C_WR_TWO_R2T:
		fk_r2t(f, 0, WR_LEN / 2, 3);
		fk_take_h2c(f, 0, WR_LEN / 2, 3);
		fk_r2t(f, WR_LEN / 2, WR_LEN / 2, 4);
		fk_take_h2c(f, WR_LEN / 2, WR_LEN / 2, 4);
		fk_cqe(f, cid, 0, 0, NULL);
		break;
	case C_WR_R2T_ZERO:
		fk_r2t(f, 0, 0, 1);
		break;
	case C_WR_R2T_BEYOND:
		fk_r2t(f, 0, 2 * WR_LEN, 1);
		break;
	case C_WR_R2T_OFFSET:
		fk_r2t(f, WR_LEN / 2, WR_LEN / 2, 1);
		break;
	case C_WR_NO_R2T:
	case C_WR_INLINE:
		fk_cqe(f, cid, 0, 0, NULL);
		break;
	case C_WR_INLINE_R2T:
		fk_r2t(f, 0, WR_INLINE_LEN, 1);
		break;
	default:
		break;
	}
}

static void *fk_main(void *arg)
{
	struct fk *f = arg;
	uint32_t plen;
	int type;

	fk_icresp(f);
	if (f->c->io != IO_NONE && !f->note[0] && fk_connect(f))
		fk_io(f);
	/* whatever the host sends until it closes: an H2CTermReq or nothing */
	while ((type = fk_rx_pdu(f, &plen)) >= 0) {
		const struct nvme_tcp_term_pdu *t = (void *)f->buf;

		if (type != NVME_TCP_H2C_TERM) {
			note(f, "host sent %s after the exchange", tcp_host_pdu_name(type));
			continue;
		}
		if (t->hdr.hlen != sizeof(*t) || plen < sizeof(*t) || plen > NVME_TCP_TERM_MAX_PLEN ||
		    t->hdr.flags || t->hdr.pdo)
			note(f, "malformed H2CTermReq: hlen %u plen %u flags %#x", t->hdr.hlen, plen,
			     t->hdr.flags);
		f->term_fes = t->fes;
	}
	return NULL;
}

/* --- the host side ------------------------------------------------------ */

/* 1 = the case passed (why: the host's refusal, if any), 0 = failed (why:
 * the reason), -1 = could not run */
static int run_case(const struct hc_case *k, char *why, size_t whylen)
{
	struct tcp_host_opts o = { .hdgst = k->hdgst, .ddgst = k->ddgst, .hpda = k->hpda,
				   .accept_cpda = k->accept_cpda, .timeout_ms = 3000,
				   .lenient = k->lenient };
	struct fk *f = calloc(1, sizeof(*f));
	struct tcp_host_q *q = calloc(1, sizeof(*q));
	struct tcp_host_cpl cpl = { 0 };
	uint8_t *buf = malloc(WR_LEN);
	pthread_t th;
	int sv[2], ret = 0;
	bool ran_io = false;

	why[0] = 0;
	if (!f || !q || !buf || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		snprintf(why, whylen, "setup: %s", strerror(errno));
		free(f);
		free(q);
		free(buf);
		return -1;
	}
	f->fd = sv[1];
	f->c = k;
	f->cpda_align = 4;
	if (pthread_create(&th, NULL, fk_main, f)) {
		snprintf(why, whylen, "pthread_create failed");
		close(sv[0]);
		close(sv[1]);
		free(f);
		free(q);
		free(buf);
		return -1;
	}
	tcp_host_attach(q, sv[0], &o);
	ret = tcp_host_icreq(q, &o);
	if (!ret && k->io != IO_NONE) {
		struct tcp_host_connect_args a = { .qid = 0, .sqsize = 31, .cntlid = 0xffff,
						   .dissqfc = k->dissqfc, .subnqn = "nqn.fake:sub",
						   .hostnqn = "nqn.fake:host" };
		struct nvme_sqe sqe;
		uint16_t cid;

		ret = tcp_host_fabrics_connect(q, &a, NULL, NULL);
		if (ret) {
			snprintf(why, whylen, "Connect: %s", tcp_host_error(q));
			goto done;
		}
		ran_io = true;
		for (uint32_t i = 0; i < WR_LEN; i++)
			buf[i] = k->io == IO_READ ? 0xee : (uint8_t)(i * 5 + 1);
		if (k->io == IO_READ) {
			tcp_host_rw_sqe(&sqe, NVME_CMD_READ, 1, 0, RD_LEN / 512);
			ret = tcp_host_submit(q, &sqe, buf, RD_LEN, TCP_HOST_DIR_FROM_CTRL, 0, NULL,
					      &cid);
		} else {
			uint32_t len = k->io == IO_WRITE ? WR_LEN : WR_INLINE_LEN;

			tcp_host_rw_sqe(&sqe, NVME_CMD_WRITE, 1, 0, len / 512);
			ret = tcp_host_submit(q, &sqe, buf, len, TCP_HOST_DIR_TO_CTRL,
					      k->io == IO_WRITE ? TCP_HOST_F_NO_INLINE : 0, NULL,
					      &cid);
		}
		if (!ret)
			ret = tcp_host_wait(q, cid, &cpl);
	}
done:
	{
		char host_err[sizeof(q->err)];
		uint64_t devs = tcp_host_deviations(q);

		snprintf(host_err, sizeof(host_err), "%s", tcp_host_error(q));
		tcp_host_close(q);
		pthread_join(th, NULL);
		close(sv[1]);
		if (why[0]) {
			;   /* the Connect failed: why says so */
		} else if (ret != k->want_ret) {
			snprintf(why, whylen, "returned %d (%s), want %d", ret,
				 ret ? host_err : "ok", k->want_ret);
		} else if (!ret && ran_io && cpl.status != k->want_status) {
			snprintf(why, whylen, "status %#x, want %#x", cpl.status, k->want_status);
		} else if (devs != k->want_devs) {
			snprintf(why, whylen, "%llu deviation(s) counted, want %u",
				 (unsigned long long)devs, k->want_devs);
		} else if (!ret && ran_io && cpl.synthesized != k->want_synth) {
			snprintf(why, whylen, "completion %ssynthesised", cpl.synthesized ? "" : "not ");
		} else if (!ret && k->io == IO_READ && !k->want_status) {
			for (uint32_t i = 0; i < RD_LEN; i++)
				if (buf[i] != (uint8_t)(i * 7 + 3)) {
					snprintf(why, whylen, "read data wrong at byte %u", i);
					break;
				}
		}
		if (!why[0] && f->note[0])
			snprintf(why, whylen, "fake controller: %s", f->note);
		if (!why[0] && f->term_fes != k->want_fes)
			snprintf(why, whylen, "H2CTermReq FES %d, want %d", f->term_fes, k->want_fes);
		if (!why[0]) {
			/* passed: say what the host said when it refused */
			snprintf(why, whylen, "%s", ret ? host_err : "");
			ret = 1;
		} else {
			ret = 0;
		}
	}
	free(f);
	free(q);
	free(buf);
	return ret;
}

unsigned int tcp_host_check_run(const char *only, bool verbose, unsigned int *total)
{
	unsigned int failed = 0, n = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct hc_case *k = &cases[i];
		char why[400];
		bool ok;

		if (only && !strstr(k->name, only))
			continue;
		n++;
		ok = run_case(k, why, sizeof(why)) == 1;
		if (!ok)
			failed++;
		if (verbose || !ok)
			printf("hostcheck %-34s %s%s%s\n", k->name, ok ? "ok" : "FAIL",
			       why[0] ? "  " : "", why);
	}
	if (total)
		*total = n;
	return failed;
}
