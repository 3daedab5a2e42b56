/* SPDX-License-Identifier: MIT */
/*
 * NVMe/TCP PDU checks, digests and builders (NVMe/TCP Transport
 * Specification 1.0); see tcp_pdu.h for the contract.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "common/crc32c.h"
#include "transport/tcp_pdu.h"

#define DGST_LEN NVME_TCP_DIGEST_LEN

#define FEI_TYPE  offsetof(struct nvme_tcp_hdr, type)
#define FEI_FLAGS offsetof(struct nvme_tcp_hdr, flags)
#define FEI_HLEN  offsetof(struct nvme_tcp_hdr, hlen)
#define FEI_PDO   offsetof(struct nvme_tcp_hdr, pdo)
#define FEI_PLEN  offsetof(struct nvme_tcp_hdr, plen)
#define FEI_PFV   offsetof(struct nvme_tcp_icreq, pfv)
#define FEI_HPDA  offsetof(struct nvme_tcp_icreq, hpda)
#define FEI_DATAL offsetof(struct nvme_tcp_data_pdu, datal)
#define FEI_FES   offsetof(struct nvme_tcp_term_pdu, fes)

#define FES_HDR    NVME_TCP_FES_INVALID_HEADER
#define FES_SEQ    NVME_TCP_FES_PDU_SEQ_ERR
#define FES_HDGST  NVME_TCP_FES_HDR_DIGEST_ERR
#define FES_RANGE  NVME_TCP_FES_DATA_OUT_OF_RANGE
#define FES_LIMIT  NVME_TCP_FES_DATA_LIMIT_EXCEEDED
#define FES_PARAM  NVME_TCP_FES_UNSUPPORTED_PARAM

int tcp_pdu_set_err(struct tcp_pdu_err *err, uint16_t fes, uint32_t fei,
		    const char *msg)
{
	if (err) {
		err->fes = fes;
		err->fei = fei;
		err->silent = false;
		err->msg = msg;
	}
	return -EPROTO;
}

/* A TermReq is never answered with a TermReq: whatever is wrong with an
 * H2CTermReq, the connection is just closed. */
static int term_err(struct tcp_pdu_err *err, uint32_t fei, const char *msg)
{
	tcp_pdu_set_err(err, FES_HDR, fei, msg);
	if (err)
		err->silent = true;
	return -EPROTO;
}

void tcp_pdu_ctx_init(struct tcp_pdu_ctx *ctx, uint32_t maxh2cdata,
		      uint32_t max_icd)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->cpda = 0;          /* the Linux host refuses any other CPDA */
	ctx->maxh2cdata = maxh2cdata;
	ctx->max_icd = max_icd;
}

/* ---- per-type facts for PDUs a controller receives ---- */

static uint8_t h2c_hlen(uint8_t type)
{
	switch (type) {
	case NVME_TCP_ICREQ:
		return sizeof(struct nvme_tcp_icreq);
	case NVME_TCP_H2C_TERM:
		return sizeof(struct nvme_tcp_term_pdu);
	case NVME_TCP_CMD:
		return sizeof(struct nvme_tcp_cmd_pdu);
	case NVME_TCP_H2C_DATA:
		return sizeof(struct nvme_tcp_data_pdu);
	default:
		return 0;
	}
}

static uint8_t h2c_flags(uint8_t type)
{
	switch (type) {
	case NVME_TCP_CMD:
		return NVME_TCP_F_HDGST | NVME_TCP_F_DDGST;
	case NVME_TCP_H2C_DATA:
		return NVME_TCP_F_HDGST | NVME_TCP_F_DDGST |
		       NVME_TCP_F_DATA_LAST;
	default:
		return 0;       /* ICReq and TermReq never carry digests */
	}
}

/* Of the PDUs a controller receives, CapsuleCmd and H2CData carry a
 * header digest once negotiated; ICReq and TermReqs never do (spec: "PDU
 * Header and Data Digests"). */
static bool has_hdgst(const struct tcp_pdu_ctx *ctx, uint8_t type)
{
	return ctx->hdgst && (type == NVME_TCP_CMD || type == NVME_TCP_H2C_DATA);
}

static uint32_t icd_any_limit(const struct tcp_pdu_ctx *ctx)
{
	return ctx->max_icd > TCP_PDU_FABRICS_ICD ? ctx->max_icd :
						    TCP_PDU_FABRICS_ICD;
}

/* ---- common header ---- */

static int check_type(const struct nvme_tcp_hdr *ch, struct tcp_pdu_err *err)
{
	switch (ch->type) {
	case NVME_TCP_ICREQ:
	case NVME_TCP_H2C_TERM:
	case NVME_TCP_CMD:
	case NVME_TCP_H2C_DATA:
		return 0;
	case NVME_TCP_ICRESP:
	case NVME_TCP_C2H_TERM:
	case NVME_TCP_RSP:
	case NVME_TCP_C2H_DATA:
	case NVME_TCP_R2T:
		return tcp_pdu_set_err(err, FES_HDR, FEI_TYPE,
				       "controller-to-host PDU type from the host");
	default:
		return tcp_pdu_set_err(err, FES_HDR, FEI_TYPE, "unknown PDU type");
	}
}

static int check_term_ch(const struct nvme_tcp_hdr *ch, struct tcp_pdu_err *err)
{
	uint32_t plen = le32_to_cpu(ch->plen);

	if (ch->flags)
		return term_err(err, FEI_FLAGS, "H2CTermReq with flags");
	if (ch->hlen != sizeof(struct nvme_tcp_term_pdu))
		return term_err(err, FEI_HLEN, "H2CTermReq HLEN is not 24");
	if (ch->pdo)
		return term_err(err, FEI_PDO, "H2CTermReq with a PDO");
	if (plen < sizeof(struct nvme_tcp_term_pdu) ||
	    plen > NVME_TCP_TERM_MAX_PLEN)
		return term_err(err, FEI_PLEN, "H2CTermReq PLEN not in 24..152");
	return 0;
}

/* Connection establishment: nothing but one ICReq until the ICResp,
 * no ICReq after it. */
static int check_seq(const struct tcp_pdu_ctx *ctx, const struct nvme_tcp_hdr *ch,
		     struct tcp_pdu_err *err)
{
	bool icreq = ch->type == NVME_TCP_ICREQ;

	if (!ctx->icreq_done && !icreq)
		return tcp_pdu_set_err(err, FES_SEQ, 0, "PDU before ICReq");
	if (ctx->icreq_done && icreq)
		return tcp_pdu_set_err(err, FES_SEQ, 0, "second ICReq");
	return 0;
}

static int check_flags(const struct tcp_pdu_ctx *ctx,
		       const struct nvme_tcp_hdr *ch, struct tcp_pdu_err *err)
{
	bool hdgstf = ch->flags & NVME_TCP_F_HDGST;

	if (ch->flags & ~h2c_flags(ch->type))
		return tcp_pdu_set_err(err, FES_HDR, FEI_FLAGS,
				       "flag not defined for this PDU type");
	if (ch->type == NVME_TCP_ICREQ)
		return 0;
	/* HDGSTF on every PDU that carries a digest, on no other */
	if (hdgstf && !ctx->hdgst)
		return tcp_pdu_set_err(err, FES_HDR, FEI_FLAGS,
				       "HDGSTF set, header digests are off");
	if (!hdgstf && ctx->hdgst)
		return tcp_pdu_set_err(err, FES_HDR, FEI_FLAGS,
				       "HDGSTF clear, header digests are on");
	return 0;
}

static int check_icreq_ch(const struct nvme_tcp_hdr *ch, struct tcp_pdu_err *err)
{
	if (ch->pdo)
		return tcp_pdu_set_err(err, FES_HDR, FEI_PDO, "ICReq with a PDO");
	if (le32_to_cpu(ch->plen) != sizeof(struct nvme_tcp_icreq))
		return tcp_pdu_set_err(err, FES_HDR, FEI_PLEN,
				       "ICReq PLEN is not 128");
	return 0;
}

static int check_no_data(const struct nvme_tcp_hdr *ch, struct tcp_pdu_err *err)
{
	if (ch->type == NVME_TCP_H2C_DATA)
		return tcp_pdu_set_err(err, FES_HDR, FEI_PLEN, "H2CData without data");
	if (ch->pdo)
		return tcp_pdu_set_err(err, FES_HDR, FEI_PDO,
				       "PDO set on a PDU without data");
	return 0;
}

/* PDO: where data starts; after the header and its digest, aligned to
 * what we advertised in CPDA (0: no constraint), within the PDU. */
static int check_pdo(const struct tcp_pdu_ctx *ctx, const struct nvme_tcp_hdr *ch,
		     struct tcp_pdu_err *err)
{
	uint32_t hdr = tcp_pdu_hdr_total(ctx, ch);
	uint32_t align = (ctx->cpda + 1u) * 4u;

	if (ch->pdo < hdr)
		return tcp_pdu_set_err(err, FES_HDR, FEI_PDO,
				       "PDO inside the header or its digest");
	if (ctx->cpda && ch->pdo % align)
		return tcp_pdu_set_err(err, FES_HDR, FEI_PDO, "PDO not CPDA aligned");
	if (ch->pdo > le32_to_cpu(ch->plen))
		return tcp_pdu_set_err(err, FES_HDR, FEI_PDO, "PDO beyond PLEN");
	return 0;
}

static int check_data_len(const struct tcp_pdu_ctx *ctx,
			  const struct nvme_tcp_hdr *ch, struct tcp_pdu_err *err)
{
	uint32_t room = le32_to_cpu(ch->plen) - ch->pdo;
	uint32_t dgst = tcp_pdu_has_ddgst(ch) ? DGST_LEN : 0;
	uint32_t len;

	if (room <= dgst)
		return tcp_pdu_set_err(err, FES_HDR, FEI_PLEN, "PLEN leaves no data");
	len = room - dgst;
	if (ch->type == NVME_TCP_CMD && len > icd_any_limit(ctx))
		return tcp_pdu_set_err(err, FES_HDR, FEI_PLEN,
				       "in-capsule data over this queue's limit");
	/* ICResp MAXH2CDATA: the most data one H2CData PDU may carry */
	if (ch->type == NVME_TCP_H2C_DATA && len > ctx->maxh2cdata)
		return tcp_pdu_set_err(err, FES_LIMIT, 0,
				       "H2CData larger than MAXH2CDATA");
	return 0;
}

/* CapsuleCmd and H2CData: PLEN, DDGSTF, PDO and the data length. */
static int check_layout(const struct tcp_pdu_ctx *ctx,
			const struct nvme_tcp_hdr *ch, struct tcp_pdu_err *err)
{
	uint32_t plen = le32_to_cpu(ch->plen);
	uint32_t hdr = tcp_pdu_hdr_total(ctx, ch);
	bool has_data = plen > hdr;
	int ret;

	if (plen < hdr)
		return tcp_pdu_set_err(err, FES_HDR, FEI_PLEN,
				       "PLEN shorter than the header");
	/* DDGSTF on every PDU that carries data when data digests are on */
	if (tcp_pdu_has_ddgst(ch) != (ctx->ddgst && has_data))
		return tcp_pdu_set_err(err, FES_HDR, FEI_FLAGS,
				       ctx->ddgst && has_data ?
				       "DDGSTF clear, data digests are on" :
				       "DDGSTF set without data digest");
	if (!has_data)
		return check_no_data(ch, err);
	ret = check_pdo(ctx, ch, err);
	if (ret)
		return ret;
	return check_data_len(ctx, ch, err);
}

int tcp_pdu_check_ch(const struct tcp_pdu_ctx *ctx,
		     const struct nvme_tcp_hdr *ch, struct tcp_pdu_err *err)
{
	int ret;

	ret = check_type(ch, err);
	if (ret)
		return ret;
	if (ch->type == NVME_TCP_H2C_TERM)
		return check_term_ch(ch, err);
	ret = check_seq(ctx, ch, err);
	if (ret)
		return ret;
	ret = check_flags(ctx, ch, err);
	if (ret)
		return ret;
	if (ch->hlen != h2c_hlen(ch->type))
		return tcp_pdu_set_err(err, FES_HDR, FEI_HLEN,
				       "HLEN wrong for the PDU type");
	if (ch->type == NVME_TCP_ICREQ)
		return check_icreq_ch(ch, err);
	return check_layout(ctx, ch, err);
}

/* ---- layout of a checked PDU ---- */

uint32_t tcp_pdu_hdr_total(const struct tcp_pdu_ctx *ctx,
			   const struct nvme_tcp_hdr *ch)
{
	return ch->hlen + (has_hdgst(ctx, ch->type) ? DGST_LEN : 0u);
}

bool tcp_pdu_has_ddgst(const struct nvme_tcp_hdr *ch)
{
	return ch->flags & NVME_TCP_F_DDGST;
}

uint32_t tcp_pdu_data_offset(const struct tcp_pdu_ctx *ctx,
			     const struct nvme_tcp_hdr *ch)
{
	/* PDO is 0 on PDUs without data, and on TermReqs whose data (the
	 * offending header) follows the header directly */
	return ch->pdo ? ch->pdo : tcp_pdu_hdr_total(ctx, ch);
}

uint32_t tcp_pdu_pad_len(const struct tcp_pdu_ctx *ctx,
			 const struct nvme_tcp_hdr *ch)
{
	return tcp_pdu_data_offset(ctx, ch) - tcp_pdu_hdr_total(ctx, ch);
}

uint32_t tcp_pdu_data_len(const struct tcp_pdu_ctx *ctx,
			  const struct nvme_tcp_hdr *ch)
{
	uint32_t plen = le32_to_cpu(ch->plen);
	uint32_t off = tcp_pdu_data_offset(ctx, ch);
	uint32_t dgst = tcp_pdu_has_ddgst(ch) ? DGST_LEN : 0;

	return plen > off + dgst ? plen - off - dgst : 0;
}

/* ---- whole header ---- */

bool tcp_pdu_hdgst_ok(const void *hdr)
{
	const struct nvme_tcp_hdr *ch = hdr;

	return tcp_dgst_get((const uint8_t *)hdr + ch->hlen) ==
	       tcp_hdgst(hdr, ch->hlen);
}

static int check_hdgst(const struct tcp_pdu_ctx *ctx, const void *hdr,
		       struct tcp_pdu_err *err)
{
	const struct nvme_tcp_hdr *ch = hdr;

	if (!has_hdgst(ctx, ch->type) || tcp_pdu_hdgst_ok(hdr))
		return 0;
	/* FEI of a header digest error is the digest that was received */
	return tcp_pdu_set_err(err, FES_HDGST,
			       tcp_dgst_get((const uint8_t *)hdr + ch->hlen),
			       "header digest mismatch");
}

static int check_icreq_fields(const struct nvme_tcp_icreq *req,
			      struct tcp_pdu_err *err)
{
	/* only PFV 0 (NVMe/TCP 1.0) exists: anything else we cannot speak */
	if (le16_to_cpu(req->pfv) != 0)
		return tcp_pdu_set_err(err, FES_PARAM, FEI_PFV, "unsupported PFV");
	if (req->hpda > TCP_PDU_HPDA_MAX)
		return tcp_pdu_set_err(err, FES_HDR, FEI_HPDA, "HPDA above 31");
	return 0;
}

static int check_h2c_data_fields(const struct tcp_pdu_ctx *ctx,
				 const struct nvme_tcp_data_pdu *d,
				 struct tcp_pdu_err *err)
{
	uint32_t datao = le32_to_cpu(d->datao);
	uint32_t datal = le32_to_cpu(d->datal);

	if (!datal)
		return tcp_pdu_set_err(err, FES_HDR, FEI_DATAL, "H2CData DATAL 0");
	if (datal != tcp_pdu_data_len(ctx, &d->hdr))
		return tcp_pdu_set_err(err, FES_HDR, FEI_DATAL,
				       "H2CData DATAL disagrees with PLEN and PDO");
	if (datao > UINT32_MAX - datal)
		return tcp_pdu_set_err(err, FES_RANGE, 0,
				       "H2CData DATAO + DATAL wraps");
	return 0;
}

static int check_term_fields(const struct nvme_tcp_term_pdu *t,
			     struct tcp_pdu_err *err)
{
	uint16_t fes = le16_to_cpu(t->fes);

	if (fes < FES_HDR || fes > FES_PARAM)
		return term_err(err, FEI_FES, "H2CTermReq with an unknown FES");
	return 0;
}

int tcp_pdu_check_hdr(const struct tcp_pdu_ctx *ctx, const void *hdr,
		      struct tcp_pdu_err *err)
{
	const struct nvme_tcp_hdr *ch = hdr;
	int ret;

	ret = tcp_pdu_check_ch(ctx, ch, err);
	if (ret)
		return ret;
	ret = check_hdgst(ctx, hdr, err);
	if (ret)
		return ret;
	switch (ch->type) {
	case NVME_TCP_ICREQ:
		return check_icreq_fields(hdr, err);
	case NVME_TCP_H2C_DATA:
		return check_h2c_data_fields(ctx, hdr, err);
	case NVME_TCP_H2C_TERM:
		return check_term_fields(hdr, err);
	default:
		return 0;
	}
}

int tcp_pdu_accept_icreq(struct tcp_pdu_ctx *ctx,
			 const struct nvme_tcp_icreq *req,
			 struct tcp_pdu_err *err)
{
	int ret = tcp_pdu_check_hdr(ctx, req, err);

	if (ret)
		return ret;
	if (req->hdr.type != NVME_TCP_ICREQ)    /* caller passed another PDU */
		return tcp_pdu_set_err(err, FES_SEQ, 0, "not an ICReq");
	ctx->hdgst = req->digest & NVME_TCP_DGST_HDR_ENABLE;
	ctx->ddgst = req->digest & NVME_TCP_DGST_DATA_ENABLE;
	ctx->hpda = req->hpda;
	/* MAXR2T (0's based) is not kept: the engine never has more than one
	 * R2T outstanding per command, which every host allows */
	ctx->icreq_done = true;
	return 0;
}

/* ---- digests ---- */

uint32_t tcp_hdgst(const void *hdr, size_t hlen)
{
	return crc32c(0, hdr, hlen);
}

uint32_t tcp_ddgst_update(uint32_t dgst, const void *buf, size_t len)
{
	return crc32c(dgst, buf, len);
}

uint32_t tcp_ddgst_iov(const struct iovec *iov, int n)
{
	uint32_t dgst = tcp_ddgst_init();

	for (int i = 0; i < n; i++)
		dgst = tcp_ddgst_update(dgst, iov[i].iov_base, iov[i].iov_len);
	return tcp_ddgst_final(dgst);
}

void tcp_dgst_put(void *wire, uint32_t dgst)
{
	le32 le = cpu_to_le32(dgst);

	memcpy(wire, &le, sizeof(le));
}

uint32_t tcp_dgst_get(const void *wire)
{
	le32 le;

	memcpy(&le, wire, sizeof(le));
	return le32_to_cpu(le);
}

/* ---- builders ---- */

static void put_ch(void *buf, uint8_t type, uint8_t flags, uint8_t hlen,
		   uint8_t pdo, uint32_t plen)
{
	struct nvme_tcp_hdr *ch = buf;

	ch->type = type;
	ch->flags = flags;
	ch->hlen = hlen;
	ch->pdo = pdo;
	ch->plen = cpu_to_le32(plen);
}

static uint32_t out_hdgst_len(const struct tcp_pdu_ctx *ctx)
{
	return ctx->hdgst ? DGST_LEN : 0;
}

static uint8_t out_hdgst_flag(const struct tcp_pdu_ctx *ctx)
{
	return ctx->hdgst ? NVME_TCP_F_HDGST : 0;
}

/* last step of every builder that carries a header digest */
static void put_hdgst(const struct tcp_pdu_ctx *ctx, void *buf, size_t hlen)
{
	if (ctx->hdgst)
		tcp_dgst_put((uint8_t *)buf + hlen, tcp_hdgst(buf, hlen));
}

static bool maxh2cdata_ok(uint32_t maxh2cdata)
{
	return maxh2cdata >= TCP_PDU_MIN_MAXH2CDATA && !(maxh2cdata % 4);
}

int tcp_build_icresp(void *buf, const struct tcp_pdu_ctx *ctx)
{
	struct nvme_tcp_icresp *r = buf;

	/* the digest bits must mirror an ICReq we accepted */
	if (!ctx->icreq_done || !maxh2cdata_ok(ctx->maxh2cdata) ||
	    ctx->cpda > TCP_PDU_HPDA_MAX)
		return -EINVAL;
	memset(r, 0, sizeof(*r));
	/* ICResp never carries digests, whatever was negotiated */
	put_ch(r, NVME_TCP_ICRESP, 0, sizeof(*r), 0, sizeof(*r));
	r->pfv = cpu_to_le16(0);
	r->cpda = ctx->cpda;
	r->digest = (ctx->hdgst ? NVME_TCP_DGST_HDR_ENABLE : 0) |
		    (ctx->ddgst ? NVME_TCP_DGST_DATA_ENABLE : 0);
	r->maxdata = cpu_to_le32(ctx->maxh2cdata);
	return sizeof(*r);
}

int tcp_build_capsule_resp(void *buf, const struct tcp_pdu_ctx *ctx,
			   const struct nvme_cqe *cqe)
{
	struct nvme_tcp_rsp_pdu *r = buf;
	uint32_t len = sizeof(*r) + out_hdgst_len(ctx);

	put_ch(r, NVME_TCP_RSP, out_hdgst_flag(ctx), sizeof(*r), 0, len);
	memcpy(&r->cqe, cqe, sizeof(r->cqe));
	put_hdgst(ctx, r, sizeof(*r));
	return len;
}

/* C2HData PDO: header and digest, padded to the host's HPDA (ICReq HPDA:
 * data in controller-to-host PDUs starts at a multiple of (HPDA + 1)
 * dwords). */
static uint32_t c2h_pdo(const struct tcp_pdu_ctx *ctx)
{
	uint32_t align = (ctx->hpda + 1u) * 4u;
	uint32_t hdr = sizeof(struct nvme_tcp_data_pdu) + out_hdgst_len(ctx);

	return (hdr + align - 1) / align * align;
}

static int c2h_data_args_ok(const struct tcp_pdu_ctx *ctx, uint32_t datao,
			    uint32_t datal, bool last, bool success)
{
	uint32_t fixed = c2h_pdo(ctx) + (ctx->ddgst ? DGST_LEN : 0);

	if (ctx->hpda > TCP_PDU_HPDA_MAX || (success && !last) || !datal)
		return 0;
	return datal <= UINT32_MAX - fixed && datao <= UINT32_MAX - datal;
}

int tcp_build_c2h_data(void *buf, const struct tcp_pdu_ctx *ctx,
		       uint16_t cccid, uint32_t datao, uint32_t datal,
		       bool last, bool success)
{
	struct nvme_tcp_data_pdu *d = buf;
	uint32_t pdo, dgst = ctx->ddgst ? DGST_LEN : 0;
	uint8_t flags;

	if (!c2h_data_args_ok(ctx, datao, datal, last, success))
		return -EINVAL;
	pdo = c2h_pdo(ctx);
	flags = out_hdgst_flag(ctx) | (dgst ? NVME_TCP_F_DDGST : 0) |
		(last ? NVME_TCP_F_DATA_LAST : 0) |
		(success ? NVME_TCP_F_DATA_SUCCESS : 0);
	memset(buf, 0, pdo);    /* reserved fields and the padding */
	put_ch(d, NVME_TCP_C2H_DATA, flags, sizeof(*d), pdo, pdo + datal + dgst);
	d->cccid = cpu_to_le16(cccid);
	d->datao = cpu_to_le32(datao);
	d->datal = cpu_to_le32(datal);
	put_hdgst(ctx, d, sizeof(*d));
	return pdo;
}

int tcp_build_r2t(void *buf, const struct tcp_pdu_ctx *ctx, uint16_t cccid,
		  uint16_t ttag, uint32_t r2to, uint32_t r2tl)
{
	struct nvme_tcp_r2t_pdu *r = buf;
	uint32_t len = sizeof(*r) + out_hdgst_len(ctx);

	if (!r2tl || r2to > UINT32_MAX - r2tl)
		return -EINVAL;
	memset(r, 0, sizeof(*r));
	put_ch(r, NVME_TCP_R2T, out_hdgst_flag(ctx), sizeof(*r), 0, len);
	r->cccid = cpu_to_le16(cccid);
	r->ttag = cpu_to_le16(ttag);
	r->r2to = cpu_to_le32(r2to);
	r->r2tl = cpu_to_le32(r2tl);
	put_hdgst(ctx, r, sizeof(*r));
	return len;
}

int tcp_build_c2h_term(void *buf, uint16_t fes, uint32_t fei,
		       const void *offending_hdr, size_t hdr_len)
{
	struct nvme_tcp_term_pdu *t = buf;
	size_t n = hdr_len < TCP_PDU_TERM_HDR_MAX ? hdr_len : TCP_PDU_TERM_HDR_MAX;
	le32 fei_le = cpu_to_le32(fei);

	if (!offending_hdr)
		n = 0;
	memset(t, 0, sizeof(*t));
	/* PLEN <= 152 or the Linux host calls the TermReq malformed */
	put_ch(t, NVME_TCP_C2H_TERM, 0, sizeof(*t), 0, sizeof(*t) + n);
	t->fes = cpu_to_le16(fes);
	memcpy(t->fei, &fei_le, sizeof(t->fei));        /* unaligned u32 */
	if (n)
		memcpy(t + 1, offending_hdr, n);
	return sizeof(*t) + n;
}

/* ---- engine helpers ---- */

int tcp_pdu_check_ttag(uint16_t ttag, uint16_t first, uint16_t count,
		       struct tcp_pdu_err *err)
{
	/* bound before indexing: 0 too when tags are 1-based */
	if (ttag < first || ttag - first >= count)
		return tcp_pdu_set_err(err, FES_HDR, TCP_PDU_FEI_TTAG,
				       "H2CData TTAG out of range");
	return 0;
}

int tcp_pdu_check_h2c_data(const struct nvme_tcp_data_pdu *d,
			   uint32_t expected_offset, uint32_t r2t_len_left,
			   uint32_t cmd_len, struct tcp_pdu_err *err)
{
	uint64_t datao = le32_to_cpu(d->datao);
	uint32_t datal = le32_to_cpu(d->datal);

	if (datao + datal > cmd_len)
		return tcp_pdu_set_err(err, FES_RANGE, 0,
				       "H2CData beyond the command's data");
	if (!r2t_len_left)
		return tcp_pdu_set_err(err, FES_SEQ, 0,
				       "H2CData without an outstanding R2T");
	if (datao != expected_offset)
		return tcp_pdu_set_err(err, FES_SEQ, 0,
				       "H2CData DATAO is not the next offset");
	if (datal > r2t_len_left)
		return tcp_pdu_set_err(err, FES_RANGE, 0,
				       "H2CData beyond what the R2T asked for");
	return 0;
}

uint32_t tcp_pdu_icd_limit(const struct tcp_pdu_ctx *ctx,
			   const struct nvme_sqe *sqe)
{
	return sqe->opc == NVME_ADM_FABRICS ? icd_any_limit(ctx) : ctx->max_icd;
}

const char *tcp_pdu_fes_str(uint16_t fes)
{
	static const char *const str[] = {
		[NVME_TCP_FES_INVALID_HEADER] = "Invalid PDU Header Field",
		[NVME_TCP_FES_PDU_SEQ_ERR] = "PDU Sequence Error",
		[NVME_TCP_FES_HDR_DIGEST_ERR] = "Header Digest Error",
		[NVME_TCP_FES_DATA_OUT_OF_RANGE] = "Data Transfer Out of Range",
		[NVME_TCP_FES_DATA_LIMIT_EXCEEDED] = "Data Transfer Limit Exceeded",
		[NVME_TCP_FES_UNSUPPORTED_PARAM] = "Unsupported Parameter",
	};

	if (fes >= sizeof(str) / sizeof(str[0]) || !str[fes])
		return "unknown";
	return str[fes];
}
