/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness: the NVMe/TCP PDU layer (transport/tcp_pdu.c), driven
 * over a byte stream the way the engine drives it (tcp_pdu.h, top).
 *
 * Input: byte 0 picks the connection's parameters (bit 0: ICReq already
 * accepted with header digests, bit 1 with data digests, bits 2-3 the
 * in-capsule limit, bits 4-5 MAXH2CDATA); the rest is a stream of PDUs.
 *
 * Oracles besides the sanitizers: for every accepted header, header +
 * padding + data + digest == PLEN, the header fits the engine's buffer,
 * the data is within the limits the PDU layer promises; every builder
 * stays within TCP_PDU_BUF_MAX; a TermReq for any header length fits.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "transport/tcp_pdu.h"

#define HDR_BUF (NVME_TCP_TERM_MAX_PLEN + 8)   /* the engine's header buffer */

#define CHECK(x) do { if (!(x)) __builtin_trap(); } while (0)

static void builders(const struct tcp_pdu_ctx *ctx, const uint8_t *p, size_t n)
{
	uint8_t buf[TCP_PDU_BUF_MAX + 64];
	struct nvme_cqe cqe;
	uint32_t v = 0;
	int r;

	memcpy(&v, p, n < 4 ? n : 4);
	memset(&cqe, 0, sizeof(cqe));
	memcpy(&cqe, p, n < sizeof(cqe) ? n : sizeof(cqe));
	r = tcp_build_capsule_resp(buf, ctx, &cqe);
	CHECK(r > 0 && r <= TCP_PDU_BUF_MAX);
	r = tcp_build_c2h_data(buf, ctx, (uint16_t)v, v & 0xffff, (v >> 8) | 1, true, ctx->hpda & 1);
	CHECK(r <= TCP_PDU_BUF_MAX);
	r = tcp_build_r2t(buf, ctx, (uint16_t)v, (uint16_t)(v >> 16), v, (v >> 4) | 1);
	CHECK(r <= TCP_PDU_BUF_MAX);
	r = tcp_build_c2h_term(buf, (uint16_t)v, v, p, n);
	CHECK(r > 0 && r <= NVME_TCP_TERM_MAX_PLEN);
	r = tcp_build_icresp(buf, ctx);
	CHECK(r <= TCP_PDU_BUF_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t icd[4] = { 0, 4096, 16384, 131072 };
	static const uint32_t maxh2c[4] = { 4096, 8192, 131072, 1u << 20 };
	struct tcp_pdu_ctx ctx;
	size_t off = 1;

	if (size < 1)
		return 0;
	tcp_pdu_ctx_init(&ctx, maxh2c[(data[0] >> 4) & 3], icd[(data[0] >> 2) & 3]);
	if (data[0] & 3) {
		ctx.icreq_done = true;
		ctx.hdgst = data[0] & 1;
		ctx.ddgst = data[0] & 2;
	}
	while (off + sizeof(struct nvme_tcp_hdr) <= size) {
		const struct nvme_tcp_hdr *ch = (const void *)(data + off);
		uint8_t hdr[HDR_BUF];
		struct tcp_pdu_err err;
		uint32_t total, pad, dlen, dg;

		builders(&ctx, data + off, size - off);
		if (tcp_pdu_check_ch(&ctx, ch, &err)) {
			CHECK(err.fes >= 1 && err.fes <= 6);
			return 0;
		}
		total = tcp_pdu_hdr_total(&ctx, ch);
		CHECK(total >= sizeof(*ch) && total <= HDR_BUF);
		if (off + total > size)
			return 0;
		memcpy(hdr, data + off, total);
		if (ch->type == NVME_TCP_ICREQ) {
			if (tcp_pdu_accept_icreq(&ctx, (const void *)hdr, &err))
				return 0;
			CHECK(ctx.icreq_done && ctx.hpda <= TCP_PDU_HPDA_MAX);
		} else if (tcp_pdu_check_hdr(&ctx, hdr, &err)) {
			CHECK(err.fes >= 1 && err.fes <= 6);
			return 0;
		}
		pad = tcp_pdu_pad_len(&ctx, ch);
		dlen = tcp_pdu_data_len(&ctx, ch);
		dg = tcp_pdu_has_ddgst(ch) ? 4 : 0;
		CHECK((uint64_t)total + pad + dlen + dg == ch->plen);
		if (ch->type == NVME_TCP_CMD)
			CHECK(dlen <= (ctx.max_icd > TCP_PDU_FABRICS_ICD ? ctx.max_icd : TCP_PDU_FABRICS_ICD));
		if (ch->type == NVME_TCP_H2C_DATA) {
			const struct nvme_tcp_data_pdu *d = (const void *)hdr;

			CHECK(dlen <= ctx.maxh2cdata && dlen == d->datal);
			/* the engine's checks, with values from the stream */
			tcp_pdu_check_ttag(d->ttag, 1, (uint16_t)(d->cccid | 1), &err);
			if (!tcp_pdu_check_h2c_data(d, d->datao & ~7u, d->cccid, d->ttag, &err))
				CHECK(d->datao == (d->datao & ~7u) && d->datal <= d->cccid &&
				      (uint64_t)d->datao + d->datal <= d->ttag);
		}
		if (ch->type == NVME_TCP_H2C_TERM)
			return 0;       /* the connection ends */
		if ((uint64_t)off + ch->plen > size)
			return 0;
		off += ch->plen;
	}
	return 0;
}
