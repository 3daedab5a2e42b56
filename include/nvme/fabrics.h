/* SPDX-License-Identifier: MIT */
/*
 * NVMe over Fabrics commands and structures (NVMe over Fabrics 1.1 / NVMe
 * Base 2.0 chapter 6): Connect, Property Get/Set, the discovery log page.
 */
#ifndef NVME_FABRICS_H
#define NVME_FABRICS_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "nvme/endian.h"

#include "nvme/cmd.h"

#define NVME_FABRICS_OPC 0x7f

enum nvmf_fctype {
	NVMF_FCTYPE_PROPERTY_SET = 0x00,
	NVMF_FCTYPE_CONNECT = 0x01,
	NVMF_FCTYPE_PROPERTY_GET = 0x04,
	NVMF_FCTYPE_AUTH_SEND = 0x05,
	NVMF_FCTYPE_AUTH_RECV = 0x06,
	NVMF_FCTYPE_DISCONNECT = 0x08,
};

/* Fabrics command status codes (SCT 1, command specific) */
enum nvmf_sc {
	NVMF_SC_CONNECT_INCOMPATIBLE_FORMAT = 0x80,
	NVMF_SC_CONNECT_CTRL_BUSY = 0x81,
	NVMF_SC_CONNECT_INVALID_PARAM = 0x82,
	NVMF_SC_CONNECT_RESTART_DISC = 0x83,
	NVMF_SC_CONNECT_INVALID_HOST = 0x84,
	NVMF_SC_DISC_LOG_RESTART = 0x90,
	NVMF_SC_AUTH_REQUIRED = 0x91,
};

struct nvmf_connect_cmd {
	uint8_t opc;
	uint8_t rsvd1;
	le16 cid;
	uint8_t fctype;
	uint8_t rsvd2[19];
	struct nvme_sgl_desc sgl1;
	le16 recfmt;
	le16 qid;
	le16 sqsize;        /* 0's based */
	uint8_t cattr;          /* bit 2: disable SQ flow control */
	uint8_t rsvd3;
	le32 kato;          /* milliseconds */
	uint8_t rsvd4[12];
} __attribute__((packed));

static_assert(sizeof(struct nvmf_connect_cmd) == 64, "connect cmd size");
static_assert(offsetof(struct nvmf_connect_cmd, fctype) == 4, "connect fctype");
static_assert(offsetof(struct nvmf_connect_cmd, sgl1) == 24, "connect sgl1");
static_assert(offsetof(struct nvmf_connect_cmd, recfmt) == 40, "connect recfmt");
static_assert(offsetof(struct nvmf_connect_cmd, qid) == 42, "connect qid");
static_assert(offsetof(struct nvmf_connect_cmd, sqsize) == 44, "connect sqsize");
static_assert(offsetof(struct nvmf_connect_cmd, cattr) == 46, "connect cattr");
static_assert(offsetof(struct nvmf_connect_cmd, kato) == 48, "connect kato");

#define NVMF_CATTR_DISSQFC (1u << 2)

#define NVMF_NQN_MAX_LEN 223      /* without the terminating NUL */
#define NVMF_NQN_FIELD_LEN 256
#define NVMF_DISCOVERY_NQN "nqn.2014-08.org.nvmexpress.discovery"

struct nvmf_connect_data {
	uint8_t hostid[16];
	le16 cntlid;
	uint8_t rsvd1[238];
	char subnqn[NVMF_NQN_FIELD_LEN];
	char hostnqn[NVMF_NQN_FIELD_LEN];
	uint8_t rsvd2[256];
} __attribute__((packed));

static_assert(sizeof(struct nvmf_connect_data) == 1024, "connect data size");
static_assert(offsetof(struct nvmf_connect_data, cntlid) == 16, "connect data cntlid");
static_assert(offsetof(struct nvmf_connect_data, subnqn) == 256, "connect data subnqn");
static_assert(offsetof(struct nvmf_connect_data, hostnqn) == 512, "connect data hostnqn");

/* Connect response DW0: CNTLID | AUTHREQ; on INVALID_PARAM: IPO | IATTR */
#define NVMF_CONNECT_IATTR_DATA (1u << 16)

struct nvmf_property_cmd {
	uint8_t opc;
	uint8_t rsvd1;
	le16 cid;
	uint8_t fctype;
	uint8_t rsvd2[35];
	uint8_t attrib;         /* bits 2:0 size: 0 = 4 bytes, 1 = 8 bytes */
	uint8_t rsvd3[3];
	le32 ofst;
	le64 value;         /* Property Set only */
	uint8_t rsvd4[8];
} __attribute__((packed));

static_assert(sizeof(struct nvmf_property_cmd) == 64, "property cmd size");
static_assert(offsetof(struct nvmf_property_cmd, attrib) == 40, "property attrib");
static_assert(offsetof(struct nvmf_property_cmd, ofst) == 44, "property ofst");
static_assert(offsetof(struct nvmf_property_cmd, value) == 48, "property value");

/* Discovery log page (log identifier 70h) */
#define NVME_LOG_DISCOVERY 0x70

enum nvmf_trtype {
	NVMF_TRTYPE_RDMA = 1,
	NVMF_TRTYPE_FC = 2,
	NVMF_TRTYPE_TCP = 3,
	NVMF_TRTYPE_LOOP = 254,
};

enum nvmf_adrfam {
	NVMF_ADRFAM_IPV4 = 1,
	NVMF_ADRFAM_IPV6 = 2,
};

enum nvmf_subtype {
	NVMF_SUBTYPE_DISCOVERY_REFERRAL = 1,
	NVMF_SUBTYPE_NVME = 2,
	NVMF_SUBTYPE_DISCOVERY_CURRENT = 3,
};

#define NVMF_TREQ_NOT_SPECIFIED 0x0
#define NVMF_TREQ_REQUIRED      0x1
#define NVMF_TREQ_NOT_REQUIRED  0x2
#define NVMF_TREQ_DISABLE_SQFLOW (1u << 2)

#define NVMF_EFLAGS_EPCSD    (1u << 1)
#define NVMF_EFLAGS_DUPRETINFO (1u << 0)

struct nvmf_disc_log_entry {
	uint8_t trtype;
	uint8_t adrfam;
	uint8_t subtype;
	uint8_t treq;
	le16 portid;
	le16 cntlid;
	le16 asqsz;
	le16 eflags;
	uint8_t rsvd12[20];
	char trsvcid[32];
	uint8_t rsvd64[192];
	char subnqn[NVMF_NQN_FIELD_LEN];
	char traddr[256];
	uint8_t tsas[256];
} __attribute__((packed));

static_assert(sizeof(struct nvmf_disc_log_entry) == 1024, "disc entry size");
static_assert(offsetof(struct nvmf_disc_log_entry, portid) == 4, "disc portid");
static_assert(offsetof(struct nvmf_disc_log_entry, cntlid) == 6, "disc cntlid");
static_assert(offsetof(struct nvmf_disc_log_entry, asqsz) == 8, "disc asqsz");
static_assert(offsetof(struct nvmf_disc_log_entry, eflags) == 10, "disc eflags");
static_assert(offsetof(struct nvmf_disc_log_entry, trsvcid) == 32, "disc trsvcid");
static_assert(offsetof(struct nvmf_disc_log_entry, subnqn) == 256, "disc subnqn");
static_assert(offsetof(struct nvmf_disc_log_entry, traddr) == 512, "disc traddr");
static_assert(offsetof(struct nvmf_disc_log_entry, tsas) == 768, "disc tsas");

struct nvmf_disc_log_hdr {
	le64 genctr;
	le64 numrec;
	le16 recfmt;
	uint8_t rsvd[1006];
} __attribute__((packed));

static_assert(sizeof(struct nvmf_disc_log_hdr) == 1024, "disc hdr size");
static_assert(offsetof(struct nvmf_disc_log_hdr, recfmt) == 16, "disc recfmt");

#endif
