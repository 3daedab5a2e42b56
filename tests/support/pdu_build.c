/* SPDX-License-Identifier: MIT */
#include "tests/support/pdu_build.h"

#include <stdlib.h>
#include <string.h>

#include "transport/tcp_pdu.h"

void pb_free(struct pb_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

void pb_put(struct pb_buf *b, const void *data, size_t len)
{
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;

		while (cap < b->len + len)
			cap *= 2;
		b->p = realloc(b->p, cap);
		if (!b->p)
			abort();
		b->cap = cap;
	}
	if (data)
		memcpy(b->p + b->len, data, len);
	else
		memset(b->p + b->len, 0, len);
	b->len += len;
}

void pb_icreq(struct pb_buf *b, const struct pb_opts *o)
{
	struct nvme_tcp_icreq r = { .hdr = { .type = NVME_TCP_ICREQ, .hlen = 128, .plen = 128 } };

	r.digest = (o->hdgst ? NVME_TCP_DGST_HDR_ENABLE : 0) | (o->ddgst ? NVME_TCP_DGST_DATA_ENABLE : 0);
	pb_put(b, &r, sizeof(r));
}

/* header (+HDGST), data (+DDGST) */
static void put_pdu(struct pb_buf *b, const struct pb_opts *o, void *hdr, size_t hlen, const void *data,
		    uint32_t len)
{
	struct nvme_tcp_hdr *ch = hdr;
	uint8_t dg[4];

	ch->hlen = (uint8_t)hlen;
	ch->flags |= o->hdgst ? NVME_TCP_F_HDGST : 0;
	ch->flags |= o->ddgst && len ? NVME_TCP_F_DDGST : 0;
	ch->pdo = len ? (uint8_t)(hlen + (o->hdgst ? 4 : 0)) : 0;
	ch->plen = (uint32_t)(hlen + (o->hdgst ? 4 : 0) + len + (o->ddgst && len ? 4 : 0));
	pb_put(b, hdr, hlen);
	if (o->hdgst) {
		tcp_dgst_put(dg, tcp_hdgst(hdr, hlen));
		pb_put(b, dg, 4);
	}
	if (len) {
		pb_put(b, data, len);
		if (o->ddgst) {
			tcp_dgst_put(dg, tcp_ddgst_update(tcp_ddgst_init(), data, len));
			pb_put(b, dg, 4);
		}
	}
}

void pb_capsule(struct pb_buf *b, const struct pb_opts *o, const struct nvme_sqe *cmd, const void *icd,
		uint32_t icd_len)
{
	struct nvme_tcp_cmd_pdu p = { .hdr = { .type = NVME_TCP_CMD }, .cmd = *cmd };

	put_pdu(b, o, &p, sizeof(p), icd, icd_len);
}

void pb_h2c_data(struct pb_buf *b, const struct pb_opts *o, uint16_t cccid, uint16_t ttag, uint32_t datao,
		 const void *data, uint32_t len, bool last)
{
	struct nvme_tcp_data_pdu d = { .hdr = { .type = NVME_TCP_H2C_DATA, .flags = last ? NVME_TCP_F_DATA_LAST : 0 },
				       .cccid = cccid, .ttag = ttag, .datao = datao, .datal = len };

	put_pdu(b, o, &d, sizeof(d), data, len);
}

struct nvme_sqe pb_sqe(uint8_t opc, uint16_t cid, uint32_t nsid)
{
	struct nvme_sqe c;

	memset(&c, 0, sizeof(c));
	c.opc = opc;
	c.flags = NVME_SQE_PSDT_SGL;
	c.cid = cid;
	c.nsid = nsid;
	c.dptr.sgl.type = 0x5a;
	return c;
}

void pb_connect(struct pb_buf *b, const struct pb_opts *o, uint16_t cid, uint16_t qid, uint16_t sqsize,
		uint32_t kato, uint16_t cntlid, const char *subnqn, const char *hostnqn, const uint8_t hostid[16])
{
	struct nvme_sqe c = pb_sqe(NVME_FABRICS_OPC, cid, 0);
	struct nvmf_connect_cmd *cc = (struct nvmf_connect_cmd *)&c;
	struct nvmf_connect_data d;

	memset(&d, 0, sizeof(d));
	cc->fctype = NVMF_FCTYPE_CONNECT;
	cc->sgl1.type = 0x01;           /* data block, offset: in-capsule */
	cc->sgl1.length = sizeof(d);
	cc->qid = qid;
	cc->sqsize = sqsize;
	cc->kato = kato;
	memcpy(d.hostid, hostid, 16);
	d.cntlid = cntlid;
	strncpy(d.subnqn, subnqn, sizeof(d.subnqn) - 1);
	strncpy(d.hostnqn, hostnqn, sizeof(d.hostnqn) - 1);
	pb_capsule(b, o, &c, &d, sizeof(d));
}

void pb_prop_set_cc(struct pb_buf *b, const struct pb_opts *o, uint16_t cid, uint32_t cc)
{
	struct nvme_sqe c = pb_sqe(NVME_FABRICS_OPC, cid, 0);
	struct nvmf_property_cmd *p = (struct nvmf_property_cmd *)&c;

	p->fctype = NVMF_FCTYPE_PROPERTY_SET;
	p->attrib = 0;
	p->ofst = 0x14;
	p->value = cc;
	pb_capsule(b, o, &c, NULL, 0);
}

void pb_read(struct pb_buf *b, const struct pb_opts *o, uint16_t cid, uint32_t nsid, uint64_t slba, uint32_t nlb,
	     uint32_t bytes)
{
	struct nvme_sqe c = pb_sqe(NVME_CMD_READ, cid, nsid);

	c.cdw10 = (uint32_t)slba;
	c.cdw11 = (uint32_t)(slba >> 32);
	c.cdw12 = nlb - 1;
	c.dptr.sgl.length = bytes;
	pb_capsule(b, o, &c, NULL, 0);
}

void pb_write(struct pb_buf *b, const struct pb_opts *o, uint16_t cid, uint32_t nsid, uint64_t slba, uint32_t nlb,
	      const void *data, uint32_t bytes, bool icd)
{
	struct nvme_sqe c = pb_sqe(NVME_CMD_WRITE, cid, nsid);

	c.cdw10 = (uint32_t)slba;
	c.cdw11 = (uint32_t)(slba >> 32);
	c.cdw12 = nlb - 1;
	c.dptr.sgl.length = bytes;
	if (icd)
		c.dptr.sgl.type = 0x01;
	pb_capsule(b, o, &c, icd ? data : NULL, icd ? bytes : 0);
}

size_t pb_pdu_len(const uint8_t *buf, size_t len)
{
	const struct nvme_tcp_hdr *ch = (const void *)buf;

	if (len < sizeof(*ch) || ch->plen < sizeof(*ch) || ch->plen > len)
		return 0;
	return ch->plen;
}
