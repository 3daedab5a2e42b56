/* SPDX-License-Identifier: MIT */
/*
 * NVMe/TCP PDUs (NVMe/TCP Transport Specification 1.0). All little-endian;
 * plen counts the whole PDU including digests and padding.
 */
#ifndef NVME_TCP_H
#define NVME_TCP_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "nvme/endian.h"

#include "nvme/cmd.h"

enum nvme_tcp_pdu_type {
	NVME_TCP_ICREQ = 0x00,
	NVME_TCP_ICRESP = 0x01,
	NVME_TCP_H2C_TERM = 0x02,
	NVME_TCP_C2H_TERM = 0x03,
	NVME_TCP_CMD = 0x04,
	NVME_TCP_RSP = 0x05,
	NVME_TCP_H2C_DATA = 0x06,
	NVME_TCP_C2H_DATA = 0x07,
	NVME_TCP_R2T = 0x09,
};

#define NVME_TCP_F_HDGST     (1u << 0)
#define NVME_TCP_F_DDGST     (1u << 1)
#define NVME_TCP_F_DATA_LAST (1u << 2)
#define NVME_TCP_F_DATA_SUCCESS (1u << 3)

#define NVME_TCP_DGST_HDR_ENABLE  (1u << 0)
#define NVME_TCP_DGST_DATA_ENABLE (1u << 1)
#define NVME_TCP_DIGEST_LEN 4

/* C2HTermReq / H2CTermReq fatal error status */
enum nvme_tcp_fes {
	NVME_TCP_FES_INVALID_HEADER = 0x01,
	NVME_TCP_FES_PDU_SEQ_ERR = 0x02,
	NVME_TCP_FES_HDR_DIGEST_ERR = 0x03,
	NVME_TCP_FES_DATA_OUT_OF_RANGE = 0x04,
	NVME_TCP_FES_R2T_LIMIT_EXCEEDED = 0x05,
	NVME_TCP_FES_DATA_LIMIT_EXCEEDED = 0x05,
	NVME_TCP_FES_UNSUPPORTED_PARAM = 0x06,
};

struct nvme_tcp_hdr {
	uint8_t type;
	uint8_t flags;
	uint8_t hlen;
	uint8_t pdo;
	le32 plen;
} __attribute__((packed));

static_assert(sizeof(struct nvme_tcp_hdr) == 8, "tcp CH size");
static_assert(offsetof(struct nvme_tcp_hdr, plen) == 4, "tcp CH plen");

struct nvme_tcp_icreq {
	struct nvme_tcp_hdr hdr;
	le16 pfv;
	uint8_t hpda;           /* 0's based dwords */
	uint8_t digest;
	le32 maxr2t;        /* 0's based */
	uint8_t rsvd[112];
} __attribute__((packed));

static_assert(sizeof(struct nvme_tcp_icreq) == 128, "icreq size");
static_assert(offsetof(struct nvme_tcp_icreq, hpda) == 10, "icreq hpda");
static_assert(offsetof(struct nvme_tcp_icreq, maxr2t) == 12, "icreq maxr2t");

struct nvme_tcp_icresp {
	struct nvme_tcp_hdr hdr;
	le16 pfv;
	uint8_t cpda;
	uint8_t digest;
	le32 maxdata;       /* MAXH2CDATA, bytes */
	uint8_t rsvd[112];
} __attribute__((packed));

static_assert(sizeof(struct nvme_tcp_icresp) == 128, "icresp size");
static_assert(offsetof(struct nvme_tcp_icresp, maxdata) == 12, "icresp maxdata");

struct nvme_tcp_term_pdu {
	struct nvme_tcp_hdr hdr;
	le16 fes;
	uint8_t fei[4];
	uint8_t rsvd[10];
} __attribute__((packed));

static_assert(sizeof(struct nvme_tcp_term_pdu) == 24, "term size");
static_assert(offsetof(struct nvme_tcp_term_pdu, fei) == 10, "term fei");
#define NVME_TCP_TERM_MAX_PLEN 152

struct nvme_tcp_cmd_pdu {
	struct nvme_tcp_hdr hdr;
	struct nvme_sqe cmd;
} __attribute__((packed));

static_assert(sizeof(struct nvme_tcp_cmd_pdu) == 72, "capsule cmd size");

struct nvme_tcp_rsp_pdu {
	struct nvme_tcp_hdr hdr;
	struct nvme_cqe cqe;
} __attribute__((packed));

static_assert(sizeof(struct nvme_tcp_rsp_pdu) == 24, "capsule resp size");

struct nvme_tcp_data_pdu {
	struct nvme_tcp_hdr hdr;
	le16 cccid;
	le16 ttag;          /* H2CData only; reserved in C2HData */
	le32 datao;
	le32 datal;
	uint8_t rsvd[4];
} __attribute__((packed));

static_assert(sizeof(struct nvme_tcp_data_pdu) == 24, "data pdu size");
static_assert(offsetof(struct nvme_tcp_data_pdu, datao) == 12, "data datao");
static_assert(offsetof(struct nvme_tcp_data_pdu, datal) == 16, "data datal");

struct nvme_tcp_r2t_pdu {
	struct nvme_tcp_hdr hdr;
	le16 cccid;
	le16 ttag;
	le32 r2to;
	le32 r2tl;
	uint8_t rsvd[4];
} __attribute__((packed));

static_assert(sizeof(struct nvme_tcp_r2t_pdu) == 24, "r2t size");
static_assert(offsetof(struct nvme_tcp_r2t_pdu, ttag) == 10, "r2t ttag");
static_assert(offsetof(struct nvme_tcp_r2t_pdu, r2tl) == 16, "r2t r2tl");

#endif
