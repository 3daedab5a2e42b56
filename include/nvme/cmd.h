/* SPDX-License-Identifier: MIT */
/*
 * NVMe submission and completion queue entries, opcodes and status codes
 * (NVMe Base Specification 2.0, sections 4.2, 4.6, 5, 7).
 */
#ifndef NVME_CMD_H
#define NVME_CMD_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nvme/endian.h"

/* SGL descriptor (16 bytes); type in the high nibble of the last byte,
 * subtype in the low nibble. */
struct nvme_sgl_desc {
	le64 addr;
	le32 length;
	uint8_t rsvd[3];
	uint8_t type;
} __attribute__((packed));

static_assert(sizeof(struct nvme_sgl_desc) == 16, "sgl desc size");
static_assert(offsetof(struct nvme_sgl_desc, length) == 8, "sgl length");
static_assert(offsetof(struct nvme_sgl_desc, type) == 15, "sgl type");

struct nvme_keyed_sgl_desc {
	le64 addr;
	uint8_t length[3];
	le32 key;
	uint8_t type;
} __attribute__((packed));

static_assert(sizeof(struct nvme_keyed_sgl_desc) == 16, "keyed sgl desc size");
static_assert(offsetof(struct nvme_keyed_sgl_desc, key) == 11, "keyed sgl key");

/* Submission queue entry, 64 bytes */
struct nvme_sqe {
	uint8_t opc;
	uint8_t flags;          /* bits 1:0 FUSE, bits 7:6 PSDT (0 = PRP) */
	le16 cid;
	le32 nsid;
	le32 cdw2;
	le32 cdw3;
	le64 mptr;
	union {
		struct {
			le64 prp1;
			le64 prp2;
		} prp;
		struct nvme_sgl_desc sgl;
		struct nvme_keyed_sgl_desc ksgl;
	} dptr;
	le32 cdw10;
	le32 cdw11;
	le32 cdw12;
	le32 cdw13;
	le32 cdw14;
	le32 cdw15;
} __attribute__((packed));

static_assert(sizeof(struct nvme_sqe) == 64, "SQE size");
static_assert(offsetof(struct nvme_sqe, cid) == 2, "SQE cid");
static_assert(offsetof(struct nvme_sqe, nsid) == 4, "SQE nsid");
static_assert(offsetof(struct nvme_sqe, mptr) == 16, "SQE mptr");
static_assert(offsetof(struct nvme_sqe, dptr) == 24, "SQE dptr");
static_assert(offsetof(struct nvme_sqe, cdw10) == 40, "SQE cdw10");
static_assert(offsetof(struct nvme_sqe, cdw15) == 60, "SQE cdw15");

#define NVME_SQE_PSDT_MASK  (3u << 6)
#define NVME_SQE_PSDT_PRP   (0u << 6)
#define NVME_SQE_PSDT_SGL   (1u << 6)

/* Completion queue entry, 16 bytes */
struct nvme_cqe {
	le32 dw0;
	le32 dw1;
	le16 sqhd;
	le16 sqid;
	le16 cid;
	le16 status;        /* bit 0 phase tag, bits 15:1 status field */
} __attribute__((packed));

static_assert(sizeof(struct nvme_cqe) == 16, "CQE size");
static_assert(offsetof(struct nvme_cqe, sqhd) == 8, "CQE sqhd");
static_assert(offsetof(struct nvme_cqe, sqid) == 10, "CQE sqid");
static_assert(offsetof(struct nvme_cqe, cid) == 12, "CQE cid");
static_assert(offsetof(struct nvme_cqe, status) == 14, "CQE status");

/*
 * Status, as used everywhere in this code base: the 15-bit status field
 * without the phase tag, i.e. cqe.status >> 1.
 *   bits 7:0 SC, 10:8 SCT, 12:11 CRD, 13 M, 14 DNR
 */
#define NVME_STATUS(sct, sc)   ((uint16_t)((((sct) & 0x7u) << 8) | ((sc) & 0xffu)))
#define NVME_STATUS_DNR        ((uint16_t)(1u << 14))
#define NVME_STATUS_MORE       ((uint16_t)(1u << 13))
#define NVME_STATUS_SC(s)      ((s) & 0xffu)
#define NVME_STATUS_SCT(s)     (((s) >> 8) & 0x7u)
#define NVME_CQE_STATUS(cqe)   ((uint16_t)(le16_to_cpu((cqe)->status) >> 1))
#define NVME_CQE_PHASE(cqe)    (le16_to_cpu((cqe)->status) & 1u)

enum nvme_sct {
	NVME_SCT_GENERIC = 0x0,
	NVME_SCT_CMD_SPECIFIC = 0x1,
	NVME_SCT_MEDIA = 0x2,
	NVME_SCT_PATH = 0x3,
	NVME_SCT_VENDOR = 0x7,
};

/* Generic command status (SCT 0) */
enum nvme_generic_sc {
	NVME_SC_SUCCESS = 0x00,
	NVME_SC_INVALID_OPCODE = 0x01,
	NVME_SC_INVALID_FIELD = 0x02,
	NVME_SC_CID_CONFLICT = 0x03,
	NVME_SC_DATA_XFER_ERROR = 0x04,
	NVME_SC_POWER_LOSS_ABORT = 0x05,
	NVME_SC_INTERNAL = 0x06,
	NVME_SC_ABORT_REQ = 0x07,
	NVME_SC_ABORT_SQ_DELETED = 0x08,
	NVME_SC_INVALID_NS = 0x0b,
	NVME_SC_CMD_SEQ_ERROR = 0x0c,
	NVME_SC_SGL_INVALID_LAST = 0x0d,
	NVME_SC_SGL_INVALID_COUNT = 0x0e,
	NVME_SC_SGL_INVALID_DATA = 0x0f,
	NVME_SC_SGL_INVALID_METADATA = 0x10,
	NVME_SC_SGL_INVALID_TYPE = 0x11,
	NVME_SC_INVALID_PRP_OFFSET = 0x13,
	NVME_SC_SGL_INVALID_OFFSET = 0x16,
	NVME_SC_HOST_ID_INCONSIST = 0x18,
	NVME_SC_KA_TIMEOUT_EXPIRED = 0x19,
	NVME_SC_TRANSIENT_TRANSPORT = 0x22,  /* the host may retry the command */
	NVME_SC_NS_NOT_READY = 0x82,
	NVME_SC_LBA_RANGE = 0x80,
	NVME_SC_CAP_EXCEEDED = 0x81,
};

/* Command specific status (SCT 1) */
enum nvme_cmd_specific_sc {
	NVME_SC_CQ_INVALID = 0x00,
	NVME_SC_QID_INVALID = 0x01,
	NVME_SC_QUEUE_SIZE = 0x02,
	NVME_SC_ABORT_LIMIT = 0x03,
	NVME_SC_ASYNC_LIMIT = 0x05,
	NVME_SC_INVALID_LOG_PAGE = 0x09,
	NVME_SC_INVALID_FORMAT = 0x0a,
	NVME_SC_INVALID_VECTOR = 0x08,
	NVME_SC_FEATURE_NOT_CHANGEABLE = 0x0e,
};

/* Media and data integrity errors (SCT 2) */
enum nvme_media_sc {
	NVME_SC_WRITE_FAULT = 0x80,
	NVME_SC_READ_ERROR = 0x81,
	NVME_SC_COMPARE_FAILED = 0x85,
	NVME_SC_ACCESS_DENIED = 0x86,
};

/* Path related status (SCT 3) */
enum nvme_path_sc {
	NVME_SC_INTERNAL_PATH_ERROR = 0x00,
	NVME_SC_ANA_PERSISTENT_LOSS = 0x01,
	NVME_SC_ANA_INACCESSIBLE = 0x02,
	NVME_SC_ANA_TRANSITION = 0x03,
	NVME_SC_CTRL_PATH_ERROR = 0x60,
	NVME_SC_HOST_PATH_ERROR = 0x70,
	NVME_SC_HOST_ABORTED_CMD = 0x71,
};

/* Admin command opcodes */
enum nvme_admin_opc {
	NVME_ADM_DELETE_SQ = 0x00,
	NVME_ADM_CREATE_SQ = 0x01,
	NVME_ADM_GET_LOG_PAGE = 0x02,
	NVME_ADM_DELETE_CQ = 0x04,
	NVME_ADM_CREATE_CQ = 0x05,
	NVME_ADM_IDENTIFY = 0x06,
	NVME_ADM_ABORT = 0x08,
	NVME_ADM_SET_FEATURES = 0x09,
	NVME_ADM_GET_FEATURES = 0x0a,
	NVME_ADM_ASYNC_EVENT = 0x0c,
	NVME_ADM_NS_MGMT = 0x0d,
	NVME_ADM_FW_COMMIT = 0x10,
	NVME_ADM_FW_DOWNLOAD = 0x11,
	NVME_ADM_DEV_SELF_TEST = 0x14,
	NVME_ADM_NS_ATTACH = 0x15,
	NVME_ADM_KEEP_ALIVE = 0x18,
	NVME_ADM_DIRECTIVE_SEND = 0x19,
	NVME_ADM_DIRECTIVE_RECV = 0x1a,
	NVME_ADM_VIRT_MGMT = 0x1c,
	NVME_ADM_NVME_MI_SEND = 0x1d,
	NVME_ADM_NVME_MI_RECV = 0x1e,
	NVME_ADM_DBBUF_CONFIG = 0x7c,
	NVME_ADM_FABRICS = 0x7f,
	NVME_ADM_FORMAT_NVM = 0x80,
	NVME_ADM_SECURITY_SEND = 0x81,
	NVME_ADM_SECURITY_RECV = 0x82,
	NVME_ADM_SANITIZE = 0x84,
	NVME_ADM_GET_LBA_STATUS = 0x86,
};

/* NVM command set I/O opcodes */
enum nvme_io_opc {
	NVME_CMD_FLUSH = 0x00,
	NVME_CMD_WRITE = 0x01,
	NVME_CMD_READ = 0x02,
	NVME_CMD_WRITE_UNCOR = 0x04,
	NVME_CMD_COMPARE = 0x05,
	NVME_CMD_WRITE_ZEROES = 0x08,
	NVME_CMD_DSM = 0x09,
	NVME_CMD_VERIFY = 0x0c,
};

/* Dataset Management range (the data of DSM, CDW10.NR + 1 of them) */
struct nvme_dsm_range {
	le32 attributes;
	le32 nlb;
	le64 slba;
} __attribute__((packed));
static_assert(sizeof(struct nvme_dsm_range) == 16, "dsm range size");
static_assert(offsetof(struct nvme_dsm_range, slba) == 8, "dsm range slba");

/* Read, Write, Compare, Write Zeroes: the first LBA and how many blocks */
static inline uint64_t nvme_cmd_slba(const struct nvme_sqe *c)
{
	return le32_to_cpu(c->cdw10) | (uint64_t)le32_to_cpu(c->cdw11) << 32;
}

static inline uint32_t nvme_cmd_nlb(const struct nvme_sqe *c)
{
	return (le32_to_cpu(c->cdw12) & 0xffffu) + 1u;
}

/* Dataset Management: how many ranges, and whether they are deallocated */
static inline unsigned nvme_dsm_nr(const struct nvme_sqe *c)
{
	return (le32_to_cpu(c->cdw10) & 0xffu) + 1u;
}

static inline bool nvme_dsm_deallocate(const struct nvme_sqe *c)
{
	return le32_to_cpu(c->cdw11) & (1u << 2);       /* AD */
}

/* Identify CNS values */
enum nvme_identify_cns {
	NVME_ID_CNS_NS = 0x00,
	NVME_ID_CNS_CTRL = 0x01,
	NVME_ID_CNS_NS_ACTIVE_LIST = 0x02,
	NVME_ID_CNS_NS_DESC_LIST = 0x03,
};

/* Feature identifiers */
enum nvme_feat {
	NVME_FEAT_ARBITRATION = 0x01,
	NVME_FEAT_POWER_MGMT = 0x02,
	NVME_FEAT_TEMP_THRESH = 0x04,
	NVME_FEAT_ERR_RECOVERY = 0x05,
	NVME_FEAT_VOLATILE_WC = 0x06,
	NVME_FEAT_NUM_QUEUES = 0x07,
	NVME_FEAT_IRQ_COALESCE = 0x08,
	NVME_FEAT_IRQ_CONFIG = 0x09,
	NVME_FEAT_WRITE_ATOMIC = 0x0a,
	NVME_FEAT_ASYNC_EVENT = 0x0b,
	NVME_FEAT_KATO = 0x0f,
	NVME_FEAT_HOST_ID = 0x81,
};

/* Asymmetric Namespace Access log page (Get Log Page 0Ch): this header,
 * then one descriptor per group, each followed by its nnsids NSIDs */
#define NVME_LOG_ANA 0x0c
#define NVME_LOG_ANA_LSP_RGO (1u << 8)   /* cdw10 LSP bit 0: groups only, no NSIDs */

struct nvme_ana_log_hdr {
	le64 chgcnt;
	le16 ngrps;
	uint8_t rsvd[6];
} __attribute__((packed));

struct nvme_ana_group_desc {
	le32 grpid;
	le32 nnsids;
	le64 chgcnt;
	uint8_t state;
	uint8_t rsvd[15];
	le32 nsids[];
} __attribute__((packed));

static_assert(sizeof(struct nvme_ana_log_hdr) == 16, "ana log header");
static_assert(offsetof(struct nvme_ana_log_hdr, ngrps) == 8, "ana log ngrps");
static_assert(sizeof(struct nvme_ana_group_desc) == 32, "ana group descriptor");
static_assert(offsetof(struct nvme_ana_group_desc, chgcnt) == 8, "ana desc chgcnt");
static_assert(offsetof(struct nvme_ana_group_desc, state) == 16, "ana desc state");

/* Create I/O CQ cdw11 flags */
#define NVME_CQ_PC   (1u << 0)  /* physically contiguous */
#define NVME_CQ_IEN  (1u << 1)  /* interrupts enabled */
/* Create I/O SQ cdw11 flags */
#define NVME_SQ_PC   (1u << 0)

#endif
