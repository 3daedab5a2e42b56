/* SPDX-License-Identifier: MIT */
/*
 * NVMe/TCP PDU layer of the target (NVMe/TCP Transport Specification 1.0):
 * checks of received PDU headers, header and data digests, and builders for
 * the PDUs a controller sends. Pure: no I/O, no allocation, no request
 * state. transport/tcp.c (the connection engine) drives it.
 *
 * Receiving one PDU, non-blocking:
 *   1. Read the 8-byte common header (CH); tcp_pdu_check_ch().
 *   2. Read the rest of the header, tcp_pdu_hdr_total() bytes counted from
 *      the start of the CH (HLEN, plus 4 when a header digest is present);
 *      tcp_pdu_check_hdr(). For an ICReq call tcp_pdu_accept_icreq()
 *      instead (it runs the same checks), then send tcp_build_icresp().
 *   3. Skip tcp_pdu_pad_len() bytes, then read tcp_pdu_data_len() bytes of
 *      data, feeding each piece to tcp_ddgst_update() if
 *      tcp_pdu_has_ddgst().
 *   4. If tcp_pdu_has_ddgst(), read the 4-byte DDGST and compare it with
 *      tcp_ddgst_final() (tcp_dgst_get() reads it off the wire).
 *   Always: hdr_total + pad + data_len + (has_ddgst ? 4 : 0) == PLEN.
 *
 * On -EPROTO from any check: unless err->silent, send
 * tcp_build_c2h_term(err->fes, err->fei, <header bytes received>) and
 * close the connection; with err->silent close without sending anything
 * (the PDU was an H2CTermReq: a TermReq is never answered with a TermReq).
 * A valid H2CTermReq means the host is closing: log tcp_pdu_fes_str() and
 * close.
 *
 * Checks that need request state stay with the engine (the PDU layer
 * cannot know them); use the helpers at the end of this file:
 *   - H2CData TTAG: bounds first (tcp_pdu_check_ttag(), which also refuses
 *     TTAG 0 when the engine's tags are 1-based), then "this slot has an
 *     R2T outstanding". Both failures: FES 1 (Invalid PDU Header Field),
 *     FEI TCP_PDU_FEI_TTAG.
 *   - H2CData CCCID must be the CID of the command that TTAG belongs to:
 *     FES 1, FEI TCP_PDU_FEI_CCCID.
 *   - H2CData DATAO/DATAL against the R2T it answers and the command's
 *     length: tcp_pdu_check_h2c_data() (FES 2 or 4). LAST_PDU is not
 *     checked: like the Linux and SPDK targets, count bytes instead.
 *   - CapsuleCmd: in-capsule data must be described by an SGL Data Block
 *     descriptor, subtype Offset, offset 0 (we report ICDOFF 0), length
 *     == tcp_pdu_data_len(); a non-fabrics command may carry at most
 *     ctx->max_icd bytes (tcp_pdu_icd_limit()). Those are command errors
 *     (complete the command, e.g. Data SGL Length Invalid), not transport
 *     errors: the data is still read, and the connection stays up.
 *   - A data digest mismatch is reported on the command, not with a
 *     C2HTermReq (the kernel target instead drops the connection; either
 *     way the Linux host recovers).
 */
#ifndef TRANSPORT_TCP_PDU_H
#define TRANSPORT_TCP_PDU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "nvme/cmd.h"
#include "nvme/tcp.h"

/* Largest buffer any builder writes: a C2HTermReq with 128 bytes of the
 * offending header (PLEN <= 152). ICResp is 128, C2HData headers at most
 * 128 (HPDA 31), CapsuleResp and R2T 28. */
#define TCP_PDU_BUF_MAX       NVME_TCP_TERM_MAX_PLEN
#define TCP_PDU_TERM_HDR_MAX  128u
/* MAXH2CDATA: the Linux host refuses less, or a value not a dword
 * multiple (host/tcp.c nvme_tcp_init_connection). */
#define TCP_PDU_MIN_MAXH2CDATA 4096u
/* The Linux host sends every fabrics command (Connect on I/O queues too)
 * with up to 8 KiB of in-capsule data whatever IOCCSZ says
 * (NVME_TCP_ADMIN_CCSZ, host/tcp.c nvme_tcp_inline_data_size). */
#define TCP_PDU_FABRICS_ICD   8192u
#define TCP_PDU_HPDA_MAX      31u

/* FEI values (byte offsets in the PDU header) the engine needs */
#define TCP_PDU_FEI_CCCID offsetof(struct nvme_tcp_data_pdu, cccid)
#define TCP_PDU_FEI_TTAG  offsetof(struct nvme_tcp_data_pdu, ttag)

/* One connection (= one NVMe queue). */
struct tcp_pdu_ctx {
	bool icreq_done;     /* ICReq accepted: only other PDUs from now on */
	bool hdgst;          /* header digests negotiated */
	bool ddgst;          /* data digests negotiated */
	uint8_t hpda;        /* host's, 0's based dwords: C2HData PDO alignment */
	uint8_t cpda;        /* ours, 0's based; always 0 (Linux host refuses others) */
	uint32_t maxh2cdata; /* ours: largest H2CData payload we accept */
	uint32_t max_icd;    /* in-capsule data limit of non-fabrics commands on
			      * this queue: >= 8 KiB for the admin queue, the
			      * configured inline size (IOCCSZ * 16 - 64) for I/O */
};

/* What to put in the C2HTermReq. fei: FES 1 and 6, byte offset of the
 * field in the PDU header; FES 3, the header digest received; else 0.
 * silent: close without sending a C2HTermReq. msg: static, for the log. */
struct tcp_pdu_err {
	uint16_t fes;
	uint32_t fei;
	bool silent;
	const char *msg;
};

/* Zeroes *ctx and sets our own parameters: CPDA 0, maxh2cdata, max_icd. */
void tcp_pdu_ctx_init(struct tcp_pdu_ctx *ctx, uint32_t maxh2cdata,
		      uint32_t max_icd);

/*
 * Checks the 8-byte CH against the connection state. In order:
 *   type: ICReq, H2CTermReq, CapsuleCmd, H2CData only; C2H types and
 *     unknown types are FES 1 at PDU-Type (FEI 0);
 *   H2CTermReq (any state): HLEN 24, no flags, PDO 0, 24 <= PLEN <= 152;
 *     failures are silent;
 *   sequence: only ICReq before it was accepted, never a second: FES 2;
 *   flags: only those defined for the type (FEI 1); HDGSTF set exactly
 *     when header digests were negotiated (ICReq: never);
 *   HLEN: the type's fixed size (FEI 2);
 *   ICReq: PDO 0 (FEI 3), PLEN exactly 128 (FEI 4);
 *   CapsuleCmd/H2CData: PLEN >= HLEN + HDGST (FEI 4; checked before the
 *     data digest flag because PLEN decides whether there is data);
 *     DDGSTF set exactly when data digests were negotiated and the PDU
 *     carries data (FEI 1); no data: PDO 0 (FEI 3), and H2CData must have
 *     data (FEI 4); data: HLEN + HDGST <= PDO <= PLEN, CPDA-aligned
 *     (FEI 3), at least one data byte (FEI 4); data length at most
 *     max(ctx->max_icd, TCP_PDU_FABRICS_ICD) for a CapsuleCmd (FES 1,
 *     FEI 4: the opcode is not known yet), ctx->maxh2cdata for H2CData
 *     (FES 5).
 * Returns 0, or -EPROTO with *err filled.
 */
int tcp_pdu_check_ch(const struct tcp_pdu_ctx *ctx,
		     const struct nvme_tcp_hdr *ch, struct tcp_pdu_err *err);

/* Layout of a PDU whose CH passed tcp_pdu_check_ch(); all in bytes.
 * hdr_total: CH + PSH (+ HDGST), i.e. HLEN (+4); read this much first.
 * data_offset: PDO when the PDU carries data, else hdr_total.
 * pad_len: data_offset - hdr_total, padding to skip before the data.
 * data_len: PDU data, without padding and DDGST (an H2CTermReq's data is
 *   the copy of the offending header that follows it). */
uint32_t tcp_pdu_hdr_total(const struct tcp_pdu_ctx *ctx,
			   const struct nvme_tcp_hdr *ch);
uint32_t tcp_pdu_data_offset(const struct tcp_pdu_ctx *ctx,
			     const struct nvme_tcp_hdr *ch);
uint32_t tcp_pdu_pad_len(const struct tcp_pdu_ctx *ctx,
			 const struct nvme_tcp_hdr *ch);
uint32_t tcp_pdu_data_len(const struct tcp_pdu_ctx *ctx,
			  const struct nvme_tcp_hdr *ch);
bool tcp_pdu_has_ddgst(const struct nvme_tcp_hdr *ch);

/*
 * Checks a whole header, tcp_pdu_hdr_total() bytes starting with the CH:
 * the CH again (tcp_pdu_check_ch), then the header digest (FES 3, FEI =
 * the digest received), then the type's fields:
 *   ICReq: PFV 0 (FES 6, FEI 8), HPDA <= 31 (FES 1, FEI 10); MAXR2T and
 *     the reserved digest bits are not checked;
 *   H2CData: DATAL == PLEN - PDO - DDGST, so never 0 (FES 1, FEI 16);
 *     DATAO + DATAL must not wrap (FES 4);
 *   H2CTermReq: FES 1..6 (silent FES 1, FEI 8).
 * Returns 0, or -EPROTO with *err filled.
 */
int tcp_pdu_check_hdr(const struct tcp_pdu_ctx *ctx, const void *hdr,
		      struct tcp_pdu_err *err);

/* tcp_pdu_check_hdr() on a 128-byte ICReq, then records what the host
 * asked for: digests exactly as requested (the Linux host aborts on any
 * difference in the ICResp), HPDA, MAXR2T; sets icreq_done. On error
 * *ctx is unchanged. */
int tcp_pdu_accept_icreq(struct tcp_pdu_ctx *ctx,
			 const struct nvme_tcp_icreq *req,
			 struct tcp_pdu_err *err);

/* true when the HDGST that follows hdr's HLEN bytes matches them */
bool tcp_pdu_hdgst_ok(const void *hdr);

/* Digests: CRC32C, stored little-endian on the wire. HDGST covers the CH
 * and PSH (HLEN bytes); DDGST covers the PDU data only, not padding. */
uint32_t tcp_hdgst(const void *hdr, size_t hlen);
uint32_t tcp_ddgst_iov(const struct iovec *iov, int n);
/* Incremental data digest: d = tcp_ddgst_init(); d = tcp_ddgst_update(d,
 * piece, len) for each piece in order; compare tcp_ddgst_final(d). */
static inline uint32_t tcp_ddgst_init(void)
{
	return 0;
}

uint32_t tcp_ddgst_update(uint32_t dgst, const void *buf, size_t len);

static inline uint32_t tcp_ddgst_final(uint32_t dgst)
{
	return dgst;
}

void tcp_dgst_put(void *wire, uint32_t dgst);
uint32_t tcp_dgst_get(const void *wire);

/*
 * Builders. Each writes into buf (at least TCP_PDU_BUF_MAX bytes, or the
 * size named) and returns how many bytes to send before any data: header,
 * HDGST and padding; or -EINVAL. Reserved fields and padding are zeroed.
 * When ctx->ddgst, the engine sends the 4-byte DDGST after the data.
 */
/* 128 bytes: PFV 0, CPDA ctx->cpda, digests as negotiated, MAXH2CDATA.
 * -EINVAL before tcp_pdu_accept_icreq() or with a MAXH2CDATA the Linux
 * host refuses (< 4096 or not a dword multiple). */
int tcp_build_icresp(void *buf, const struct tcp_pdu_ctx *ctx);
/* 24 (+4 HDGST) bytes. The CQE is copied as given. */
int tcp_build_capsule_resp(void *buf, const struct tcp_pdu_ctx *ctx,
			   const struct nvme_cqe *cqe);
/* Returns PDO: HLEN + HDGST rounded up to (HPDA + 1) * 4. PLEN = PDO +
 * datal (+4). success requires last (the Linux host fails the queue on
 * SUCCESS without LAST_PDU) and is only for queues whose host disabled SQ
 * flow control (then no CapsuleResp follows). datal must be > 0. */
int tcp_build_c2h_data(void *buf, const struct tcp_pdu_ctx *ctx,
		       uint16_t cccid, uint32_t datao, uint32_t datal,
		       bool last, bool success);
/* 24 (+4) bytes. r2tl must be > 0 (the Linux host refuses 0). */
int tcp_build_r2t(void *buf, const struct tcp_pdu_ctx *ctx, uint16_t cccid,
		  uint16_t ttag, uint32_t r2to, uint32_t r2tl);
/* Whole PDU, 24 + min(hdr_len, 128) bytes (PLEN <= 152): FES and FEI
 * little-endian, then the start of the offending header. Never digests. */
int tcp_build_c2h_term(void *buf, uint16_t fes, uint32_t fei,
		       const void *offending_hdr, size_t hdr_len);

/* Engine helpers (request state lives in the engine, see the top). */

/* Fills *err (if not NULL) and returns -EPROTO. */
int tcp_pdu_set_err(struct tcp_pdu_err *err, uint16_t fes, uint32_t fei,
		    const char *msg);
/* TTAG in [first, first + count): 0 or -EPROTO (FES 1, FEI 10). */
int tcp_pdu_check_ttag(uint16_t ttag, uint16_t first, uint16_t count,
		       struct tcp_pdu_err *err);
/*
 * An H2CData header (already through tcp_pdu_check_hdr) against the R2T
 * it answers. expected_offset: DATAO the engine expects next (R2TO + bytes
 * received for this R2T); r2t_len_left: bytes of that R2T not yet
 * received (0: no R2T outstanding); cmd_len: the command's data length.
 *   data beyond cmd_len: FES 4; no R2T outstanding: FES 2;
 *   DATAO != expected_offset: FES 2; DATAL > r2t_len_left: FES 4.
 * Returns 0 or -EPROTO.
 */
int tcp_pdu_check_h2c_data(const struct nvme_tcp_data_pdu *d,
			   uint32_t expected_offset, uint32_t r2t_len_left,
			   uint32_t cmd_len, struct tcp_pdu_err *err);
/* In-capsule data this command may carry: fabrics commands
 * max(ctx->max_icd, 8 KiB), others ctx->max_icd. */
uint32_t tcp_pdu_icd_limit(const struct tcp_pdu_ctx *ctx,
			   const struct nvme_sqe *sqe);
/* "Invalid PDU Header Field" etc., "unknown" outside 1..6. */
const char *tcp_pdu_fes_str(uint16_t fes);

#endif
