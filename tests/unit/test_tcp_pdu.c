/* SPDX-License-Identifier: MIT */
/* The NVMe/TCP PDU layer: every malformed header we can name, with the
 * exact FES and FEI it must produce; byte-exact builders; digests checked
 * against the table CRC32C (an implementation independent of the one the
 * PDU layer calls). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/crc32c.h"
#include "nvme/cmd.h"
#include "nvme/tcp.h"
#include "transport/tcp_pdu.h"

#define MAXH2CDATA  (64u * 1024)
#define ADMIN_ICD   8192u
#define IO_ICD      16384u

#define FES_HDR   NVME_TCP_FES_INVALID_HEADER
#define FES_SEQ   NVME_TCP_FES_PDU_SEQ_ERR
#define FES_HDGST NVME_TCP_FES_HDR_DIGEST_ERR
#define FES_RANGE NVME_TCP_FES_DATA_OUT_OF_RANGE
#define FES_LIMIT NVME_TCP_FES_DATA_LIMIT_EXCEEDED
#define FES_PARAM NVME_TCP_FES_UNSUPPORTED_PARAM

#define HD NVME_TCP_F_HDGST
#define DD NVME_TCP_F_DDGST
#define LAST NVME_TCP_F_DATA_LAST

/* ---- helpers ---- */

static struct tcp_pdu_ctx fresh_ctx(uint32_t max_icd)
{
	struct tcp_pdu_ctx ctx;

	tcp_pdu_ctx_init(&ctx, MAXH2CDATA, max_icd);
	return ctx;
}

/* a connection past its ICReq, digests as given */
static struct tcp_pdu_ctx live_ctx(bool hd, bool dd)
{
	struct tcp_pdu_ctx ctx = fresh_ctx(ADMIN_ICD);

	ctx.icreq_done = true;
	ctx.hdgst = hd;
	ctx.ddgst = dd;
	return ctx;
}

static void put_ch(void *buf, uint8_t type, uint8_t flags, uint8_t hlen,
		   uint8_t pdo, uint32_t plen)
{
	struct nvme_tcp_hdr *ch = buf;

	ch->type = type;
	ch->flags = flags;
	ch->hlen = hlen;
	ch->pdo = pdo;
	ch->plen = plen;
}

/* header digest written with the table CRC, not the PDU layer's */
static void seal(void *buf)
{
	struct nvme_tcp_hdr *ch = buf;
	uint32_t d = crc32c_table(0, buf, ch->hlen);

	memcpy((uint8_t *)buf + ch->hlen, &d, 4);
}

/* The ICReq the Linux host sends (host/tcp.c nvme_tcp_init_connection). */
static void mk_icreq(struct nvme_tcp_icreq *req, uint8_t digest)
{
	memset(req, 0, sizeof(*req));
	put_ch(req, NVME_TCP_ICREQ, 0, 128, 0, 128);
	req->digest = digest;
}

/* A CapsuleCmd shaped like the Linux host's (nvme_tcp_setup_cmd_pdu):
 * DDGSTF and PDO only with in-capsule data. Returns the header size. */
static uint32_t mk_cmd(void *buf, const struct tcp_pdu_ctx *ctx, uint32_t icd)
{
	struct nvme_tcp_cmd_pdu *p = buf;
	uint32_t hd = ctx->hdgst ? 4 : 0, dd = ctx->ddgst && icd ? 4 : 0;
	uint8_t flags = (hd ? HD : 0) | (dd ? DD : 0);

	memset(p, 0, sizeof(*p) + hd);
	put_ch(p, NVME_TCP_CMD, flags, 72, icd ? 72 + hd : 0, 72 + hd + icd + dd);
	p->cmd.opc = NVME_CMD_WRITE;
	p->cmd.cid = 0x77;
	p->cmd.nsid = 1;
	if (hd)
		seal(p);
	return 72 + hd;
}

/* An H2CData shaped like the Linux host's (nvme_tcp_setup_h2c_data_pdu). */
static uint32_t mk_h2c(void *buf, const struct tcp_pdu_ctx *ctx, uint16_t ttag,
		       uint32_t datao, uint32_t datal)
{
	struct nvme_tcp_data_pdu *d = buf;
	uint32_t hd = ctx->hdgst ? 4 : 0, dd = ctx->ddgst ? 4 : 0;
	uint8_t flags = LAST | (hd ? HD : 0) | (dd ? DD : 0);

	memset(d, 0, sizeof(*d) + hd);
	put_ch(d, NVME_TCP_H2C_DATA, flags, 24, 24 + hd, 24 + hd + datal + dd);
	d->cccid = 0x77;
	d->ttag = ttag;
	d->datao = datao;
	d->datal = datal;
	if (hd)
		seal(d);
	return 24 + hd;
}

static void expect(int ret, const struct tcp_pdu_err *err, uint16_t fes,
		   uint32_t fei)
{
	assert_int_equal(ret, -EPROTO);
	assert_int_equal(err->fes, fes);
	assert_int_equal(err->fei, fei);
	assert_false(err->silent);
	assert_non_null(err->msg);
}

static void expect_silent(int ret, const struct tcp_pdu_err *err,
			  uint32_t fei)
{
	assert_int_equal(ret, -EPROTO);
	assert_int_equal(err->fes, FES_HDR);
	assert_int_equal(err->fei, fei);
	assert_true(err->silent);
}

static int run_ch(const struct tcp_pdu_ctx *ctx, const void *buf,
		  struct tcp_pdu_err *err)
{
	memset(err, 0xee, sizeof(*err));
	return tcp_pdu_check_ch(ctx, buf, err);
}

static int run_hdr(const struct tcp_pdu_ctx *ctx, const void *buf,
		   struct tcp_pdu_err *err)
{
	memset(err, 0xee, sizeof(*err));
	return tcp_pdu_check_hdr(ctx, buf, err);
}

/* ---- type and sequence ---- */

static void test_ch_bad_type(void **state)
{
	static const uint8_t types[] = { 0x08, 0x0a, 0x0b, 0x7f, 0xff };
	struct tcp_pdu_ctx ctx = live_ctx(false, false);
	struct tcp_pdu_err err;
	uint8_t buf[8];

	(void)state;
	for (size_t i = 0; i < sizeof(types); i++) {
		put_ch(buf, types[i], 0, 24, 0, 24);
		expect(run_ch(&ctx, buf, &err), &err, FES_HDR, 0);
	}
}

static void test_ch_c2h_types_refused(void **state)
{
	static const uint8_t types[] = {
		NVME_TCP_ICRESP, NVME_TCP_C2H_TERM, NVME_TCP_RSP,
		NVME_TCP_C2H_DATA, NVME_TCP_R2T,
	};
	struct tcp_pdu_ctx fresh = fresh_ctx(ADMIN_ICD);
	struct tcp_pdu_ctx live = live_ctx(false, false);
	struct tcp_pdu_err err;
	uint8_t buf[8];

	(void)state;
	for (size_t i = 0; i < sizeof(types); i++) {
		put_ch(buf, types[i], 0, 24, 0, 24);
		/* the type itself is wrong: FES 1 before any sequence error */
		expect(run_ch(&fresh, buf, &err), &err, FES_HDR, 0);
		expect(run_ch(&live, buf, &err), &err, FES_HDR, 0);
	}
}

static void test_ch_pdu_before_icreq(void **state)
{
	struct tcp_pdu_ctx ctx = fresh_ctx(ADMIN_ICD);
	struct tcp_pdu_err err;
	uint8_t buf[128];

	(void)state;
	mk_cmd(buf, &ctx, 0);
	expect(run_ch(&ctx, buf, &err), &err, FES_SEQ, 0);
	mk_h2c(buf, &ctx, 1, 0, 512);
	expect(run_ch(&ctx, buf, &err), &err, FES_SEQ, 0);
}

static void test_ch_second_icreq(void **state)
{
	struct tcp_pdu_ctx ctx = fresh_ctx(ADMIN_ICD);
	struct nvme_tcp_icreq req;
	struct tcp_pdu_err err;

	(void)state;
	mk_icreq(&req, 0);
	assert_int_equal(tcp_pdu_accept_icreq(&ctx, &req, &err), 0);
	expect(run_ch(&ctx, &req, &err), &err, FES_SEQ, 0);
	memset(&err, 0, sizeof(err));
	expect(tcp_pdu_accept_icreq(&ctx, &req, &err), &err, FES_SEQ, 0);
}

/* ---- ICReq ---- */

static void test_icreq_bad_ch(void **state)
{
	static const uint32_t plens[] = { 0, 8, 127, 129, 132, 0xffffffff };
	struct tcp_pdu_ctx ctx = fresh_ctx(ADMIN_ICD);
	struct nvme_tcp_icreq req;
	struct tcp_pdu_err err;

	(void)state;
	for (size_t i = 0; i < sizeof(plens) / sizeof(plens[0]); i++) {
		mk_icreq(&req, 0);
		req.hdr.plen = plens[i];
		expect(run_ch(&ctx, &req, &err), &err, FES_HDR, 4);
	}
	mk_icreq(&req, 0);
	req.hdr.hlen = 127;
	expect(run_ch(&ctx, &req, &err), &err, FES_HDR, 2);
	mk_icreq(&req, 0);
	req.hdr.pdo = 128;
	expect(run_ch(&ctx, &req, &err), &err, FES_HDR, 3);
	/* ICReq never carries digests, even when it asks for them */
	mk_icreq(&req, NVME_TCP_DGST_HDR_ENABLE);
	req.hdr.flags = HD;
	expect(run_ch(&ctx, &req, &err), &err, FES_HDR, 1);
	mk_icreq(&req, 0);
	assert_int_equal(run_ch(&ctx, &req, &err), 0);
	assert_int_equal(tcp_pdu_hdr_total(&ctx, &req.hdr), 128);
	assert_int_equal(tcp_pdu_data_len(&ctx, &req.hdr), 0);
}

static void test_icreq_pfv(void **state)
{
	struct tcp_pdu_ctx ctx = fresh_ctx(ADMIN_ICD);
	struct tcp_pdu_ctx before = ctx;
	struct nvme_tcp_icreq req;
	struct tcp_pdu_err err;

	(void)state;
	mk_icreq(&req, 3);
	req.pfv = 1;
	expect(run_hdr(&ctx, &req, &err), &err, FES_PARAM, 8);
	expect(tcp_pdu_accept_icreq(&ctx, &req, &err), &err, FES_PARAM, 8);
	assert_memory_equal(&ctx, &before, sizeof(ctx));
}

static void test_icreq_hpda(void **state)
{
	struct tcp_pdu_ctx ctx = fresh_ctx(ADMIN_ICD);
	struct nvme_tcp_icreq req;
	struct tcp_pdu_err err;

	(void)state;
	mk_icreq(&req, 0);
	req.hpda = 32;
	expect(tcp_pdu_accept_icreq(&ctx, &req, &err), &err, FES_HDR, 10);
	req.hpda = 0xff;
	expect(run_hdr(&ctx, &req, &err), &err, FES_HDR, 10);
	assert_false(ctx.icreq_done);
	req.hpda = 31;
	assert_int_equal(tcp_pdu_accept_icreq(&ctx, &req, &err), 0);
	assert_int_equal(ctx.hpda, 31);
}

static void test_icreq_accept_records(void **state)
{
	struct nvme_tcp_icreq req;
	struct tcp_pdu_err err;

	(void)state;
	for (uint8_t dg = 0; dg < 4; dg++) {
		struct tcp_pdu_ctx ctx = fresh_ctx(ADMIN_ICD);

		mk_icreq(&req, dg | 0xf0);      /* reserved bits ignored */
		req.maxr2t = 7;
		assert_int_equal(tcp_pdu_accept_icreq(&ctx, &req, &err), 0);
		assert_true(ctx.icreq_done);
		assert_int_equal(ctx.hdgst, !!(dg & NVME_TCP_DGST_HDR_ENABLE));
		assert_int_equal(ctx.ddgst, !!(dg & NVME_TCP_DGST_DATA_ENABLE));
		assert_int_equal(ctx.hpda, 0);
		assert_int_equal(ctx.cpda, 0);
	}
}

/* ---- CH fields of CapsuleCmd and H2CData ---- */

static void test_ch_bad_hlen(void **state)
{
	struct tcp_pdu_ctx ctx = live_ctx(false, false);
	struct tcp_pdu_err err;
	uint8_t buf[128];

	(void)state;
	mk_cmd(buf, &ctx, 0);
	((struct nvme_tcp_hdr *)buf)->hlen = 71;
	expect(run_ch(&ctx, buf, &err), &err, FES_HDR, 2);
	((struct nvme_tcp_hdr *)buf)->hlen = 24;
	expect(run_ch(&ctx, buf, &err), &err, FES_HDR, 2);
	mk_h2c(buf, &ctx, 1, 0, 512);
	((struct nvme_tcp_hdr *)buf)->hlen = 72;
	expect(run_ch(&ctx, buf, &err), &err, FES_HDR, 2);
	((struct nvme_tcp_hdr *)buf)->hlen = 28;
	expect(run_ch(&ctx, buf, &err), &err, FES_HDR, 2);
}

static void test_ch_bad_flags(void **state)
{
	struct tcp_pdu_ctx ctx = live_ctx(false, false);
	struct tcp_pdu_err err;
	uint8_t buf[128];

	(void)state;
	mk_cmd(buf, &ctx, 0);
	((struct nvme_tcp_hdr *)buf)->flags = LAST;       /* data PDUs only */
	expect(run_ch(&ctx, buf, &err), &err, FES_HDR, 1);
	((struct nvme_tcp_hdr *)buf)->flags = 0x10;       /* reserved */
	expect(run_ch(&ctx, buf, &err), &err, FES_HDR, 1);
	mk_h2c(buf, &ctx, 1, 0, 512);
	((struct nvme_tcp_hdr *)buf)->flags |= NVME_TCP_F_DATA_SUCCESS; /* C2H */
	expect(run_ch(&ctx, buf, &err), &err, FES_HDR, 1);
	mk_h2c(buf, &ctx, 1, 0, 512);
	((struct nvme_tcp_hdr *)buf)->flags &= (uint8_t)~LAST; /* not last: fine */
	assert_int_equal(run_ch(&ctx, buf, &err), 0);
}

static void test_ch_hdgstf_missing(void **state)
{
	struct tcp_pdu_ctx ctx = live_ctx(true, false);
	struct tcp_pdu_err err;
	uint8_t buf[128];

	(void)state;
	mk_cmd(buf, &ctx, 0);
	((struct nvme_tcp_hdr *)buf)->flags &= (uint8_t)~HD;
	expect(run_ch(&ctx, buf, &err), &err, FES_HDR, 1);
	mk_h2c(buf, &ctx, 1, 0, 512);
	((struct nvme_tcp_hdr *)buf)->flags &= (uint8_t)~HD;
	expect(run_ch(&ctx, buf, &err), &err, FES_HDR, 1);
}

static void test_ch_hdgstf_when_off(void **state)
{
	struct tcp_pdu_ctx ctx = live_ctx(false, false);
	struct tcp_pdu_err err;
	uint8_t buf[128];

	(void)state;
	mk_cmd(buf, &ctx, 0);
	((struct nvme_tcp_hdr *)buf)->flags |= HD;
	expect(run_ch(&ctx, buf, &err), &err, FES_HDR, 1);
	mk_h2c(buf, &ctx, 1, 0, 512);
	((struct nvme_tcp_hdr *)buf)->flags |= HD;
	expect(run_ch(&ctx, buf, &err), &err, FES_HDR, 1);
}

static void test_ch_ddgstf_wrong(void **state)
{
	struct tcp_pdu_ctx on = live_ctx(false, true);
	struct tcp_pdu_ctx off = live_ctx(false, false);
	struct tcp_pdu_err err;
	uint8_t buf[128];

	(void)state;
	/* data digests on, capsule with data but no DDGSTF */
	mk_cmd(buf, &on, 512);
	((struct nvme_tcp_hdr *)buf)->flags &= (uint8_t)~DD;
	expect(run_ch(&on, buf, &err), &err, FES_HDR, 1);
	/* data digests on, capsule without data must not claim one */
	mk_cmd(buf, &on, 0);
	((struct nvme_tcp_hdr *)buf)->flags |= DD;
	expect(run_ch(&on, buf, &err), &err, FES_HDR, 1);
	/* data digests off */
	mk_cmd(buf, &off, 512);
	((struct nvme_tcp_hdr *)buf)->flags |= DD;
	((struct nvme_tcp_hdr *)buf)->plen += 4;
	expect(run_ch(&off, buf, &err), &err, FES_HDR, 1);
	mk_h2c(buf, &on, 1, 0, 512);
	((struct nvme_tcp_hdr *)buf)->flags &= (uint8_t)~DD;
	expect(run_ch(&on, buf, &err), &err, FES_HDR, 1);
}

static void test_ch_pdo_below_hlen(void **state)
{
	struct tcp_pdu_ctx ctx = live_ctx(false, false);
	struct tcp_pdu_ctx hd = live_ctx(true, false);
	struct tcp_pdu_err err;
	uint8_t buf[128];

	(void)state;
	mk_cmd(buf, &ctx, 512);
	((struct nvme_tcp_hdr *)buf)->pdo = 64;
	expect(run_ch(&ctx, buf, &err), &err, FES_HDR, 3);
	((struct nvme_tcp_hdr *)buf)->pdo = 0;    /* data but no PDO */
	expect(run_ch(&ctx, buf, &err), &err, FES_HDR, 3);
	/* the data may not start inside the header digest */
	mk_cmd(buf, &hd, 512);
	((struct nvme_tcp_hdr *)buf)->pdo = 72;
	expect(run_ch(&hd, buf, &err), &err, FES_HDR, 3);
	mk_h2c(buf, &hd, 1, 0, 512);
	((struct nvme_tcp_hdr *)buf)->pdo = 24;
	expect(run_ch(&hd, buf, &err), &err, FES_HDR, 3);
}

static void test_ch_pdo_beyond_plen(void **state)
{
	struct tcp_pdu_ctx ctx = live_ctx(false, false);
	struct tcp_pdu_err err;
	uint8_t buf[128];

	(void)state;
	put_ch(buf, NVME_TCP_CMD, 0, 72, 200, 72 + 100);
	expect(run_ch(&ctx, buf, &err), &err, FES_HDR, 3);
	put_ch(buf, NVME_TCP_H2C_DATA, 0, 24, 40, 32);
	expect(run_ch(&ctx, buf, &err), &err, FES_HDR, 3);
}

static void test_ch_pdo_without_data(void **state)
{
	struct tcp_pdu_ctx ctx = live_ctx(false, false);
	struct tcp_pdu_err err;
	uint8_t buf[128];

	(void)state;
	put_ch(buf, NVME_TCP_CMD, 0, 72, 72, 72);
	expect(run_ch(&ctx, buf, &err), &err, FES_HDR, 3);
}

static void test_ch_pdo_cpda_alignment(void **state)
{
	struct tcp_pdu_ctx ctx = live_ctx(false, false);
	struct tcp_pdu_err err;
	uint8_t buf[128];

	(void)state;
	/* with our CPDA 0 any PDO past the header is accepted ... */
	put_ch(buf, NVME_TCP_CMD, 0, 72, 75, 75 + 16);
	assert_int_equal(run_ch(&ctx, buf, &err), 0);
	assert_int_equal(tcp_pdu_pad_len(&ctx, (void *)buf), 3);
	/* ... a CPDA of 1 (8 bytes) would need a multiple of 8 */
	ctx.cpda = 1;
	expect(run_ch(&ctx, buf, &err), &err, FES_HDR, 3);
	put_ch(buf, NVME_TCP_CMD, 0, 72, 80, 80 + 16);
	assert_int_equal(run_ch(&ctx, buf, &err), 0);
}

static void test_ch_plen_too_small(void **state)
{
	struct tcp_pdu_ctx ctx = live_ctx(false, false);
	struct tcp_pdu_ctx hd = live_ctx(true, false);
	struct tcp_pdu_ctx dd = live_ctx(false, true);
	struct tcp_pdu_err err;
	uint8_t buf[128];

	(void)state;
	put_ch(buf, NVME_TCP_CMD, 0, 72, 0, 71);
	expect(run_ch(&ctx, buf, &err), &err, FES_HDR, 4);
	put_ch(buf, NVME_TCP_CMD, HD, 72, 0, 74);        /* digest cut */
	expect(run_ch(&hd, buf, &err), &err, FES_HDR, 4);
	put_ch(buf, NVME_TCP_CMD, 0, 72, 0, 0);
	expect(run_ch(&ctx, buf, &err), &err, FES_HDR, 4);
	/* H2CData must carry data */
	put_ch(buf, NVME_TCP_H2C_DATA, 0, 24, 0, 24);
	expect(run_ch(&ctx, buf, &err), &err, FES_HDR, 4);
	/* room for the data digest but not one byte of data */
	put_ch(buf, NVME_TCP_CMD, DD, 72, 72, 76);
	expect(run_ch(&dd, buf, &err), &err, FES_HDR, 4);
	put_ch(buf, NVME_TCP_H2C_DATA, DD | LAST, 24, 24, 28);
	expect(run_ch(&dd, buf, &err), &err, FES_HDR, 4);
}

static void test_ch_plen_too_large(void **state)
{
	struct tcp_pdu_ctx admin = live_ctx(false, false);
	struct tcp_pdu_ctx io = live_ctx(false, true);
	struct tcp_pdu_err err;
	uint8_t buf[128];

	(void)state;
	mk_cmd(buf, &admin, ADMIN_ICD);
	assert_int_equal(run_ch(&admin, buf, &err), 0);
	mk_cmd(buf, &admin, ADMIN_ICD + 1);
	expect(run_ch(&admin, buf, &err), &err, FES_HDR, 4);
	mk_cmd(buf, &admin, 0);
	((struct nvme_tcp_hdr *)buf)->pdo = 72;
	((struct nvme_tcp_hdr *)buf)->plen = 0xffffffff;
	expect(run_ch(&admin, buf, &err), &err, FES_HDR, 4);

	io.max_icd = IO_ICD;
	mk_cmd(buf, &io, IO_ICD);
	assert_int_equal(run_ch(&io, buf, &err), 0);
	mk_cmd(buf, &io, IO_ICD + 1);
	expect(run_ch(&io, buf, &err), &err, FES_HDR, 4);

	/* H2CData over MAXH2CDATA: Data Transfer Limit Exceeded */
	mk_h2c(buf, &io, 1, 0, MAXH2CDATA);
	assert_int_equal(run_ch(&io, buf, &err), 0);
	mk_h2c(buf, &io, 1, 0, MAXH2CDATA + 1);
	expect(run_ch(&io, buf, &err), &err, FES_LIMIT, 0);
}

/* The Linux host sends the I/O queue's Connect (1 KiB of data) in-capsule
 * even when IOCCSZ allows no in-capsule data. */
static void test_ch_fabrics_icd_on_io_queue(void **state)
{
	struct tcp_pdu_ctx io = live_ctx(false, false);
	struct tcp_pdu_err err;
	uint8_t buf[128];

	(void)state;
	io.max_icd = 0;
	mk_cmd(buf, &io, 1024);
	assert_int_equal(run_ch(&io, buf, &err), 0);
	mk_cmd(buf, &io, TCP_PDU_FABRICS_ICD);
	assert_int_equal(run_ch(&io, buf, &err), 0);
	mk_cmd(buf, &io, TCP_PDU_FABRICS_ICD + 4);
	expect(run_ch(&io, buf, &err), &err, FES_HDR, 4);
	/* a small configured inline size does not lower the fabrics floor */
	io.max_icd = 4096;
	mk_cmd(buf, &io, TCP_PDU_FABRICS_ICD);
	assert_int_equal(run_ch(&io, buf, &err), 0);
	mk_cmd(buf, &io, TCP_PDU_FABRICS_ICD + 1);
	expect(run_ch(&io, buf, &err), &err, FES_HDR, 4);
}

/* ---- H2CTermReq: never answered with a TermReq ---- */

static void test_term_req(void **state)
{
	struct tcp_pdu_ctx fresh = fresh_ctx(ADMIN_ICD);
	struct tcp_pdu_ctx live = live_ctx(true, true);
	struct nvme_tcp_term_pdu *t;
	struct tcp_pdu_err err;
	uint8_t buf[160];

	(void)state;
	memset(buf, 0, sizeof(buf));
	t = (void *)buf;
	put_ch(buf, NVME_TCP_H2C_TERM, 0, 24, 0, 24 + 72);
	t->fes = FES_HDR;
	/* accepted in any state, no digests even when negotiated */
	assert_int_equal(run_hdr(&fresh, buf, &err), 0);
	assert_int_equal(run_hdr(&live, buf, &err), 0);
	assert_int_equal(tcp_pdu_hdr_total(&live, &t->hdr), 24);
	assert_int_equal(tcp_pdu_data_offset(&live, &t->hdr), 24);
	assert_int_equal(tcp_pdu_data_len(&live, &t->hdr), 72);
	assert_false(tcp_pdu_has_ddgst(&t->hdr));

	t->hdr.plen = 153;
	expect_silent(run_ch(&live, buf, &err), &err, 4);
	t->hdr.plen = 23;
	expect_silent(run_ch(&live, buf, &err), &err, 4);
	t->hdr.plen = 152;
	assert_int_equal(run_ch(&live, buf, &err), 0);
	t->hdr.flags = HD;
	expect_silent(run_ch(&live, buf, &err), &err, 1);
	t->hdr.flags = 0;
	t->hdr.hlen = 28;
	expect_silent(run_ch(&live, buf, &err), &err, 2);
	t->hdr.hlen = 24;
	t->hdr.pdo = 24;
	expect_silent(run_ch(&live, buf, &err), &err, 3);
	t->hdr.pdo = 0;
	t->fes = 0;
	expect_silent(run_hdr(&live, buf, &err), &err, 8);
	t->fes = 7;
	expect_silent(run_hdr(&live, buf, &err), &err, 8);
	t->fes = FES_PARAM;
	assert_int_equal(run_hdr(&live, buf, &err), 0);
	assert_string_equal(tcp_pdu_fes_str(FES_PARAM), "Unsupported Parameter");
	assert_string_equal(tcp_pdu_fes_str(9), "unknown");
}

/* hdr_total + pad + data + ddgst == PLEN for every shape */
static void test_layout_helpers(void **state)
{
	uint8_t buf[128];

	(void)state;
	for (int hd = 0; hd < 2; hd++) {
		for (int dd = 0; dd < 2; dd++) {
			struct tcp_pdu_ctx ctx = live_ctx(hd, dd);
			const struct nvme_tcp_hdr *c = (void *)buf;
			struct tcp_pdu_err err;
			uint32_t icds[] = { 0, 1, 4096 };

			for (int i = 0; i < 3; i++) {
				uint32_t total = mk_cmd(buf, &ctx, icds[i]);

				assert_int_equal(run_ch(&ctx, buf, &err), 0);
				assert_int_equal(run_hdr(&ctx, buf, &err), 0);
				assert_int_equal(tcp_pdu_hdr_total(&ctx, c), total);
				assert_int_equal(tcp_pdu_pad_len(&ctx, c), 0);
				assert_int_equal(tcp_pdu_data_len(&ctx, c), icds[i]);
				assert_int_equal(tcp_pdu_has_ddgst(c), dd && icds[i]);
				assert_int_equal(total + tcp_pdu_data_len(&ctx, c) +
						 (tcp_pdu_has_ddgst(c) ? 4 : 0), c->plen);
			}
			mk_h2c(buf, &ctx, 1, 0, 300);
			assert_int_equal(run_hdr(&ctx, buf, &err), 0);
			assert_int_equal(tcp_pdu_hdr_total(&ctx, c), 24 + 4 * hd);
			assert_int_equal(tcp_pdu_data_offset(&ctx, c), 24 + 4 * hd);
			assert_int_equal(tcp_pdu_data_len(&ctx, c), 300);
		}
	}
}

/* ---- header digest and type fields ---- */

static void test_hdgst_mismatch(void **state)
{
	struct tcp_pdu_ctx ctx = live_ctx(true, false);
	struct tcp_pdu_err err;
	uint8_t buf[128];
	uint32_t good, bad;

	(void)state;
	mk_cmd(buf, &ctx, 0);
	assert_int_equal(run_hdr(&ctx, buf, &err), 0);
	memcpy(&good, buf + 72, 4);
	buf[40] ^= 1;                   /* a bit of CDW10 flipped in flight */
	expect(run_hdr(&ctx, buf, &err), &err, FES_HDGST, good);
	buf[40] ^= 1;
	bad = good ^ 0x80000000u;
	memcpy(buf + 72, &bad, 4);
	expect(run_hdr(&ctx, buf, &err), &err, FES_HDGST, bad);

	mk_h2c(buf, &ctx, 1, 0, 512);
	buf[16] ^= 0x10;
	memcpy(&good, buf + 24, 4);
	expect(run_hdr(&ctx, buf, &err), &err, FES_HDGST, good);
}

static void test_h2c_datal_inconsistent(void **state)
{
	struct tcp_pdu_err err;
	uint8_t buf[128];

	(void)state;
	for (int dd = 0; dd < 2; dd++) {
		struct tcp_pdu_ctx ctx = live_ctx(true, dd);
		struct nvme_tcp_data_pdu *d = (void *)buf;

		mk_h2c(buf, &ctx, 1, 0, 512);
		d->datal = 508;
		seal(buf);
		expect(run_hdr(&ctx, buf, &err), &err, FES_HDR, 16);
		d->datal = 516;
		seal(buf);
		expect(run_hdr(&ctx, buf, &err), &err, FES_HDR, 16);
		d->datal = 512;
		seal(buf);
		assert_int_equal(run_hdr(&ctx, buf, &err), 0);
	}
}

static void test_h2c_datal_zero(void **state)
{
	struct tcp_pdu_ctx ctx = live_ctx(false, false);
	struct nvme_tcp_data_pdu *d;
	struct tcp_pdu_err err;
	uint8_t buf[128];

	(void)state;
	d = (void *)buf;
	mk_h2c(buf, &ctx, 1, 0, 512);
	d->datal = 0;
	expect(run_hdr(&ctx, buf, &err), &err, FES_HDR, 16);
}

static void test_h2c_datao_wraps(void **state)
{
	struct tcp_pdu_ctx ctx = live_ctx(false, false);
	struct tcp_pdu_err err;
	uint8_t buf[128];

	(void)state;
	mk_h2c(buf, &ctx, 1, 0xffffff00u, 512);
	expect(run_hdr(&ctx, buf, &err), &err, FES_RANGE, 0);
}

/* ---- engine helpers ---- */

static void test_h2c_data_beyond_command(void **state)
{
	struct tcp_pdu_ctx ctx = live_ctx(false, false);
	struct nvme_tcp_data_pdu d;
	struct tcp_pdu_err err;

	(void)state;
	mk_h2c(&d, &ctx, 1, 4096, 4096);
	assert_int_equal(tcp_pdu_check_h2c_data(&d, 4096, 4096, 8192, &err), 0);
	expect(tcp_pdu_check_h2c_data(&d, 4096, 4096, 8191, &err), &err,
	       FES_RANGE, 0);
	mk_h2c(&d, &ctx, 1, 0xfffff000u, 0x2000);
	expect(tcp_pdu_check_h2c_data(&d, 0xfffff000u, 0x2000, 0xffffffffu, &err),
	       &err, FES_RANGE, 0);
}

static void test_h2c_data_unexpected_offset(void **state)
{
	struct tcp_pdu_ctx ctx = live_ctx(false, false);
	struct nvme_tcp_data_pdu d;
	struct tcp_pdu_err err;

	(void)state;
	mk_h2c(&d, &ctx, 1, 0, 4096);           /* resent from the start */
	expect(tcp_pdu_check_h2c_data(&d, 4096, 4096, 8192, &err), &err,
	       FES_SEQ, 0);
	mk_h2c(&d, &ctx, 1, 6144, 1024);        /* skipped ahead */
	expect(tcp_pdu_check_h2c_data(&d, 4096, 4096, 8192, &err), &err,
	       FES_SEQ, 0);
}

static void test_h2c_data_r2t_window(void **state)
{
	struct tcp_pdu_ctx ctx = live_ctx(false, false);
	struct nvme_tcp_data_pdu d;
	struct tcp_pdu_err err;

	(void)state;
	mk_h2c(&d, &ctx, 1, 0, 4096);
	/* R2T asked for 2048 bytes only */
	expect(tcp_pdu_check_h2c_data(&d, 0, 2048, 8192, &err), &err,
	       FES_RANGE, 0);
	/* nothing solicited */
	expect(tcp_pdu_check_h2c_data(&d, 0, 0, 8192, &err), &err, FES_SEQ, 0);
	/* split under MAXH2CDATA: second piece */
	mk_h2c(&d, &ctx, 1, 2048, 2048);
	assert_int_equal(tcp_pdu_check_h2c_data(&d, 2048, 2048, 4096, &err), 0);
}

static void test_ttag(void **state)
{
	struct tcp_pdu_err err;

	(void)state;
	/* 1-based tags, 32 of them: 0 and 33 are out */
	expect(tcp_pdu_check_ttag(0, 1, 32, &err), &err, FES_HDR, 10);
	expect(tcp_pdu_check_ttag(33, 1, 32, &err), &err, FES_HDR, 10);
	expect(tcp_pdu_check_ttag(0xffff, 1, 32, &err), &err, FES_HDR, 10);
	assert_int_equal(tcp_pdu_check_ttag(1, 1, 32, &err), 0);
	assert_int_equal(tcp_pdu_check_ttag(32, 1, 32, &err), 0);
	/* 0-based */
	assert_int_equal(tcp_pdu_check_ttag(0, 0, 32, &err), 0);
	expect(tcp_pdu_check_ttag(32, 0, 32, &err), &err, FES_HDR, 10);
	assert_int_equal(TCP_PDU_FEI_TTAG, 10);
	assert_int_equal(TCP_PDU_FEI_CCCID, 8);
	expect(tcp_pdu_set_err(&err, FES_HDR, TCP_PDU_FEI_CCCID, "cccid"),
	       &err, FES_HDR, 8);
	assert_int_equal(tcp_pdu_set_err(NULL, FES_HDR, 0, "x"), -EPROTO);
}

static void test_icd_limit(void **state)
{
	struct tcp_pdu_ctx io = live_ctx(false, false);
	struct nvme_sqe sqe = { 0 };

	(void)state;
	io.max_icd = 0;
	sqe.opc = NVME_ADM_FABRICS;
	assert_int_equal(tcp_pdu_icd_limit(&io, &sqe), 8192);
	sqe.opc = NVME_CMD_WRITE;
	assert_int_equal(tcp_pdu_icd_limit(&io, &sqe), 0);
	io.max_icd = IO_ICD;
	assert_int_equal(tcp_pdu_icd_limit(&io, &sqe), IO_ICD);
	sqe.opc = NVME_ADM_FABRICS;
	assert_int_equal(tcp_pdu_icd_limit(&io, &sqe), IO_ICD);
}

/* ---- digests ---- */

static void test_ddgst_iov_and_incremental(void **state)
{
	uint8_t data[3000], wire[4];
	struct iovec iov[3] = {
		{ data, 1 }, { data + 1, 2047 }, { data + 2048, 952 },
	};
	uint32_t whole, d;

	(void)state;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 3);
	whole = crc32c_table(0, data, sizeof(data));
	assert_int_equal(tcp_ddgst_iov(iov, 3), whole);
	d = tcp_ddgst_init();
	for (size_t off = 0, n = 1; off < sizeof(data); off += n, n = n * 3 + 1) {
		if (n > sizeof(data) - off)
			n = sizeof(data) - off;
		d = tcp_ddgst_update(d, data + off, n);
	}
	assert_int_equal(tcp_ddgst_final(d), whole);
	assert_int_equal(tcp_ddgst_iov(iov, 0), 0);
	/* CRC32C on the wire is little-endian (RFC 3720 B.4 vector) */
	memset(data, 0, 32);
	tcp_dgst_put(wire, tcp_hdgst(data, 32));
	assert_int_equal(wire[0], 0xaa);
	assert_int_equal(wire[1], 0x36);
	assert_int_equal(wire[2], 0x91);
	assert_int_equal(wire[3], 0x8a);
	assert_int_equal(tcp_dgst_get(wire), 0x8a9136aau);
}

/* ---- builders ---- */

static void expect_hdgst(const uint8_t *buf, size_t hlen)
{
	uint32_t want = crc32c_table(0, buf, hlen);

	assert_int_equal(buf[hlen] | buf[hlen + 1] << 8 | buf[hlen + 2] << 16 |
			 (uint32_t)buf[hlen + 3] << 24, want);
	assert_true(tcp_pdu_hdgst_ok(buf));
}

static void test_build_icresp_bytes(void **state)
{
	uint8_t want[128], buf[TCP_PDU_BUF_MAX];
	struct nvme_tcp_icreq req;
	struct tcp_pdu_err err;

	(void)state;
	for (uint8_t dg = 0; dg < 4; dg++) {
		struct tcp_pdu_ctx ctx;

		tcp_pdu_ctx_init(&ctx, 0x400000, ADMIN_ICD);
		mk_icreq(&req, dg);
		assert_int_equal(tcp_pdu_accept_icreq(&ctx, &req, &err), 0);
		memset(want, 0, sizeof(want));
		memcpy(want, "\x01\x00\x80\x00\x80\x00\x00\x00", 8);
		want[11] = dg;                  /* exactly what was asked */
		memcpy(want + 12, "\x00\x00\x40\x00", 4);
		memset(buf, 0xaa, sizeof(buf));
		assert_int_equal(tcp_build_icresp(buf, &ctx), 128);
		assert_memory_equal(buf, want, 128);
		assert_int_equal(buf[128], 0xaa);
	}
}

static void test_build_icresp_refused(void **state)
{
	struct tcp_pdu_ctx ctx = fresh_ctx(ADMIN_ICD);
	uint8_t buf[TCP_PDU_BUF_MAX];

	(void)state;
	/* digests unknown before the ICReq */
	assert_int_equal(tcp_build_icresp(buf, &ctx), -EINVAL);
	ctx.icreq_done = true;
	assert_int_equal(tcp_build_icresp(buf, &ctx), 128);
	ctx.maxh2cdata = 4092;          /* dword multiple, but under 4 KiB */
	assert_int_equal(tcp_build_icresp(buf, &ctx), -EINVAL);
	ctx.maxh2cdata = 4095;
	assert_int_equal(tcp_build_icresp(buf, &ctx), -EINVAL);
	ctx.maxh2cdata = 8194;
	assert_int_equal(tcp_build_icresp(buf, &ctx), -EINVAL);
	ctx.maxh2cdata = 4096;
	assert_int_equal(tcp_build_icresp(buf, &ctx), 128);
}

static void test_build_capsule_resp_bytes(void **state)
{
	static const uint8_t cqe_bytes[16] = {
		0x44, 0x33, 0x22, 0x11, 0x88, 0x77, 0x66, 0x55,
		0x02, 0x01, 0x04, 0x03, 0xcd, 0xab, 0x02, 0x80,
	};
	struct tcp_pdu_ctx ctx = live_ctx(false, false);
	struct nvme_cqe cqe;
	uint8_t buf[TCP_PDU_BUF_MAX];

	(void)state;
	cqe.dw0 = 0x11223344;
	cqe.dw1 = 0x55667788;
	cqe.sqhd = 0x0102;
	cqe.sqid = 0x0304;
	cqe.cid = 0xabcd;
	cqe.status = 0x8002;
	memset(buf, 0xaa, sizeof(buf));
	assert_int_equal(tcp_build_capsule_resp(buf, &ctx, &cqe), 24);
	assert_memory_equal(buf, "\x05\x00\x18\x00\x18\x00\x00\x00", 8);
	assert_memory_equal(buf + 8, cqe_bytes, 16);
	assert_int_equal(buf[24], 0xaa);

	ctx = live_ctx(true, true);     /* no data: no DDGSTF */
	memset(buf, 0xaa, sizeof(buf));
	assert_int_equal(tcp_build_capsule_resp(buf, &ctx, &cqe), 28);
	assert_memory_equal(buf, "\x05\x01\x18\x00\x1c\x00\x00\x00", 8);
	assert_memory_equal(buf + 8, cqe_bytes, 16);
	expect_hdgst(buf, 24);
	assert_int_equal(buf[28], 0xaa);
}

static void c2h_case(uint8_t hpda, bool hd, bool dd, int want_pdo,
		     uint8_t want_flags, uint32_t want_plen)
{
	static const uint8_t psh[16] = {
		0x34, 0x12, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00,
		0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	};
	struct tcp_pdu_ctx ctx = live_ctx(hd, dd);
	uint8_t buf[TCP_PDU_BUF_MAX + 8];
	const struct nvme_tcp_hdr *c = (void *)buf;

	ctx.hpda = hpda;
	memset(buf, 0xaa, sizeof(buf));
	assert_int_equal(tcp_build_c2h_data(buf, &ctx, 0x1234, 0x1000, 0x200,
					    true, false), want_pdo);
	assert_int_equal(c->type, NVME_TCP_C2H_DATA);
	assert_int_equal(c->flags, want_flags);
	assert_int_equal(c->hlen, 24);
	assert_int_equal(c->pdo, want_pdo);
	assert_int_equal(buf[4] | buf[5] << 8 | buf[6] << 16 | buf[7] << 24,
			 want_plen);
	assert_memory_equal(buf + 8, psh, 16);
	if (hd)
		expect_hdgst(buf, 24);
	/* padding zeroed, nothing written where the data goes */
	for (int i = 24 + (hd ? 4 : 0); i < want_pdo; i++)
		assert_int_equal(buf[i], 0);
	assert_int_equal(buf[want_pdo], 0xaa);
}

static void test_build_c2h_data_hpda0(void **state)
{
	(void)state;
	c2h_case(0, false, false, 24, LAST, 24 + 512);
	c2h_case(0, true, false, 28, LAST | HD, 28 + 512);
	c2h_case(0, false, true, 24, LAST | DD, 24 + 512 + 4);
	c2h_case(0, true, true, 28, LAST | HD | DD, 28 + 512 + 4);
}

/* HPDA 3: data on 16-byte boundaries, PDO 32 with or without HDGST */
static void test_build_c2h_data_hpda3(void **state)
{
	(void)state;
	c2h_case(3, false, false, 32, LAST, 32 + 512);
	c2h_case(3, true, false, 32, LAST | HD, 32 + 512);
	c2h_case(3, true, true, 32, LAST | HD | DD, 32 + 512 + 4);
	/* HPDA 1 (8 bytes): only the digest pushes the data out */
	c2h_case(1, false, false, 24, LAST, 24 + 512);
	c2h_case(1, true, false, 32, LAST | HD, 32 + 512);
	/* HPDA 31: 128-byte alignment */
	c2h_case(31, true, true, 128, LAST | HD | DD, 128 + 512 + 4);
}

static void test_build_c2h_data_refused(void **state)
{
	struct tcp_pdu_ctx ctx = live_ctx(false, false);
	uint8_t buf[TCP_PDU_BUF_MAX];

	(void)state;
	/* SUCCESS without LAST_PDU: the Linux host fails the queue */
	assert_int_equal(tcp_build_c2h_data(buf, &ctx, 1, 0, 512, false, true),
			 -EINVAL);
	assert_int_equal(tcp_build_c2h_data(buf, &ctx, 1, 0, 512, true, true), 24);
	assert_int_equal(buf[1], LAST | NVME_TCP_F_DATA_SUCCESS);
	assert_int_equal(tcp_build_c2h_data(buf, &ctx, 1, 0, 512, false, false), 24);
	assert_int_equal(buf[1], 0);
	assert_int_equal(tcp_build_c2h_data(buf, &ctx, 1, 0, 0, true, false),
			 -EINVAL);
	assert_int_equal(tcp_build_c2h_data(buf, &ctx, 1, 0xffffff00u, 512,
					    true, false), -EINVAL);
	assert_int_equal(tcp_build_c2h_data(buf, &ctx, 1, 0, 0xfffffff0u,
					    true, false), -EINVAL);
	ctx.hpda = 32;
	assert_int_equal(tcp_build_c2h_data(buf, &ctx, 1, 0, 512, true, false),
			 -EINVAL);
}

static void test_build_r2t_bytes(void **state)
{
	static const uint8_t psh[16] = {
		0x77, 0x00, 0x05, 0x00, 0x00, 0x20, 0x00, 0x00,
		0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
	};
	struct tcp_pdu_ctx ctx = live_ctx(false, true);
	uint8_t buf[TCP_PDU_BUF_MAX];

	(void)state;
	memset(buf, 0xaa, sizeof(buf));
	assert_int_equal(tcp_build_r2t(buf, &ctx, 0x77, 5, 0x2000, 0x10000), 24);
	assert_memory_equal(buf, "\x09\x00\x18\x00\x18\x00\x00\x00", 8);
	assert_memory_equal(buf + 8, psh, 16);
	assert_int_equal(buf[24], 0xaa);

	ctx = live_ctx(true, true);
	memset(buf, 0xaa, sizeof(buf));
	assert_int_equal(tcp_build_r2t(buf, &ctx, 0x77, 5, 0x2000, 0x10000), 28);
	assert_memory_equal(buf, "\x09\x01\x18\x00\x1c\x00\x00\x00", 8);
	assert_memory_equal(buf + 8, psh, 16);
	expect_hdgst(buf, 24);

	assert_int_equal(tcp_build_r2t(buf, &ctx, 0x77, 5, 0, 0), -EINVAL);
	assert_int_equal(tcp_build_r2t(buf, &ctx, 0x77, 5, 0xfffff000u, 0x2000),
			 -EINVAL);
}

static void test_build_c2h_term_truncates(void **state)
{
	uint8_t offending[200], buf[256];

	(void)state;
	for (size_t i = 0; i < sizeof(offending); i++)
		offending[i] = (uint8_t)i;
	memset(buf, 0xaa, sizeof(buf));
	assert_int_equal(tcp_build_c2h_term(buf, FES_HDGST, 0x11223344u,
					    offending, sizeof(offending)), 152);
	assert_memory_equal(buf, "\x03\x00\x18\x00\x98\x00\x00\x00", 8);
	assert_memory_equal(buf + 8, "\x03\x00\x44\x33\x22\x11", 6);
	for (int i = 14; i < 24; i++)
		assert_int_equal(buf[i], 0);
	assert_memory_equal(buf + 24, offending, 128);
	assert_int_equal(buf[152], 0xaa);
}

static void test_build_c2h_term_short(void **state)
{
	struct tcp_pdu_ctx ctx = live_ctx(true, true);
	uint8_t cmd[128], buf[TCP_PDU_BUF_MAX];
	uint32_t total;

	(void)state;
	total = mk_cmd(cmd, &ctx, 0);
	memset(buf, 0xaa, sizeof(buf));
	/* no digest flags even on a connection with digests */
	assert_int_equal(tcp_build_c2h_term(buf, FES_HDR, 4, cmd, total), 24 + 76);
	assert_memory_equal(buf, "\x03\x00\x18\x00\x64\x00\x00\x00", 8);
	assert_memory_equal(buf + 8, "\x01\x00\x04\x00\x00\x00", 6);
	assert_memory_equal(buf + 24, cmd, 76);
	assert_int_equal(buf[100], 0xaa);
	assert_int_equal(tcp_build_c2h_term(buf, FES_SEQ, 0, NULL, 0), 24);
	assert_int_equal(tcp_build_c2h_term(buf, FES_SEQ, 0, NULL, 50), 24);
	assert_memory_equal(buf, "\x03\x00\x18\x00\x18\x00\x00\x00\x02\x00", 10);
}

/* Builders' header digests verify; a TermReq built from a checker's
 * verdict reports what the checker said. */
static void test_hdgst_round_trip(void **state)
{
	struct tcp_pdu_ctx ctx = live_ctx(true, true);
	struct nvme_cqe cqe = { .cid = 9 };
	struct tcp_pdu_err err;
	uint8_t buf[TCP_PDU_BUF_MAX], in[128];

	(void)state;
	for (uint8_t hpda = 0; hpda <= 31; hpda++) {
		ctx.hpda = hpda;
		assert_true(tcp_build_c2h_data(buf, &ctx, 3, 0, 100, true, false) > 0);
		expect_hdgst(buf, 24);
	}
	assert_int_equal(tcp_build_capsule_resp(buf, &ctx, &cqe), 28);
	assert_true(tcp_pdu_hdgst_ok(buf));
	assert_int_equal(tcp_build_r2t(buf, &ctx, 3, 1, 0, 4096), 28);
	assert_true(tcp_pdu_hdgst_ok(buf));
	buf[12] ^= 1;
	assert_false(tcp_pdu_hdgst_ok(buf));

	mk_h2c(in, &ctx, 1, 0, 512);
	in[20] ^= 4;
	expect(run_hdr(&ctx, in, &err), &err, FES_HDGST, tcp_dgst_get(in + 24));
	assert_int_equal(tcp_build_c2h_term(buf, err.fes, err.fei, in, 28), 52);
	assert_int_equal(buf[8], FES_HDGST);
	assert_int_equal(tcp_dgst_get(buf + 10), tcp_dgst_get(in + 24));
}

/* The Linux host's PDUs, digests on, through the receive sequence. */
static void test_linux_host_pdus(void **state)
{
	struct tcp_pdu_ctx ctx = fresh_ctx(ADMIN_ICD);
	struct nvme_tcp_icreq req;
	struct tcp_pdu_err err;
	uint8_t pdu[4096], out[TCP_PDU_BUF_MAX];
	const struct nvme_tcp_hdr *c = (void *)pdu;
	struct iovec iov;
	uint32_t total, dgst;

	(void)state;
	mk_icreq(&req, NVME_TCP_DGST_HDR_ENABLE | NVME_TCP_DGST_DATA_ENABLE);
	assert_int_equal(run_ch(&ctx, &req, &err), 0);
	assert_int_equal(tcp_pdu_accept_icreq(&ctx, &req, &err), 0);
	assert_int_equal(tcp_build_icresp(out, &ctx), 128);
	assert_int_equal(out[11], 3);

	/* AER: no data, HDGSTF only */
	total = mk_cmd(pdu, &ctx, 0);
	assert_int_equal(pdu[1], HD);
	assert_int_equal(run_hdr(&ctx, pdu, &err), 0);
	assert_int_equal(tcp_pdu_data_len(&ctx, c), 0);
	assert_int_equal(total, c->plen);

	/* Connect with 1 KiB in-capsule, then its DDGST */
	total = mk_cmd(pdu, &ctx, 1024);
	for (int i = 0; i < 1024; i++)
		pdu[total + i] = (uint8_t)i;
	dgst = crc32c_table(0, pdu + total, 1024);
	memcpy(pdu + total + 1024, &dgst, 4);
	assert_int_equal(run_hdr(&ctx, pdu, &err), 0);
	assert_int_equal(tcp_pdu_pad_len(&ctx, c), 0);
	iov.iov_base = pdu + tcp_pdu_data_offset(&ctx, c);
	iov.iov_len = tcp_pdu_data_len(&ctx, c);
	assert_true(tcp_pdu_has_ddgst(c));
	assert_int_equal(tcp_ddgst_iov(&iov, 1), tcp_dgst_get(pdu + total + 1024));

	/* H2CData answering an R2T */
	mk_h2c(pdu, &ctx, 1, 0, 2048);
	assert_int_equal(run_hdr(&ctx, pdu, &err), 0);
	assert_int_equal(tcp_pdu_check_h2c_data((void *)pdu, 0, 4096, 4096, &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ch_bad_type),
		cmocka_unit_test(test_ch_c2h_types_refused),
		cmocka_unit_test(test_ch_pdu_before_icreq),
		cmocka_unit_test(test_ch_second_icreq),
		cmocka_unit_test(test_icreq_bad_ch),
		cmocka_unit_test(test_icreq_pfv),
		cmocka_unit_test(test_icreq_hpda),
		cmocka_unit_test(test_icreq_accept_records),
		cmocka_unit_test(test_ch_bad_hlen),
		cmocka_unit_test(test_ch_bad_flags),
		cmocka_unit_test(test_ch_hdgstf_missing),
		cmocka_unit_test(test_ch_hdgstf_when_off),
		cmocka_unit_test(test_ch_ddgstf_wrong),
		cmocka_unit_test(test_ch_pdo_below_hlen),
		cmocka_unit_test(test_ch_pdo_beyond_plen),
		cmocka_unit_test(test_ch_pdo_without_data),
		cmocka_unit_test(test_ch_pdo_cpda_alignment),
		cmocka_unit_test(test_ch_plen_too_small),
		cmocka_unit_test(test_ch_plen_too_large),
		cmocka_unit_test(test_ch_fabrics_icd_on_io_queue),
		cmocka_unit_test(test_term_req),
		cmocka_unit_test(test_layout_helpers),
		cmocka_unit_test(test_hdgst_mismatch),
		cmocka_unit_test(test_h2c_datal_inconsistent),
		cmocka_unit_test(test_h2c_datal_zero),
		cmocka_unit_test(test_h2c_datao_wraps),
		cmocka_unit_test(test_h2c_data_beyond_command),
		cmocka_unit_test(test_h2c_data_unexpected_offset),
		cmocka_unit_test(test_h2c_data_r2t_window),
		cmocka_unit_test(test_ttag),
		cmocka_unit_test(test_icd_limit),
		cmocka_unit_test(test_ddgst_iov_and_incremental),
		cmocka_unit_test(test_build_icresp_bytes),
		cmocka_unit_test(test_build_icresp_refused),
		cmocka_unit_test(test_build_capsule_resp_bytes),
		cmocka_unit_test(test_build_c2h_data_hpda0),
		cmocka_unit_test(test_build_c2h_data_hpda3),
		cmocka_unit_test(test_build_c2h_data_refused),
		cmocka_unit_test(test_build_r2t_bytes),
		cmocka_unit_test(test_build_c2h_term_truncates),
		cmocka_unit_test(test_build_c2h_term_short),
		cmocka_unit_test(test_hdgst_round_trip),
		cmocka_unit_test(test_linux_host_pdus),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
