/* SPDX-License-Identifier: MIT */
/*
 * NVMe controller registers (NVMe Base Specification 2.0, section 3.1.4).
 * Offsets are into BAR0; the doorbells start at 0x1000 with a stride of
 * (4 << CAP.DSTRD) bytes.
 */
#ifndef NVME_REGS_H
#define NVME_REGS_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "nvme/endian.h"

enum nvme_reg {
	NVME_REG_CAP = 0x00,   /* 8 bytes */
	NVME_REG_VS = 0x08,
	NVME_REG_INTMS = 0x0c,
	NVME_REG_INTMC = 0x10,
	NVME_REG_CC = 0x14,
	NVME_REG_CSTS = 0x1c,
	NVME_REG_NSSR = 0x20,
	NVME_REG_AQA = 0x24,
	NVME_REG_ASQ = 0x28,   /* 8 bytes */
	NVME_REG_ACQ = 0x30,   /* 8 bytes */
	NVME_REG_CMBLOC = 0x38,
	NVME_REG_CMBSZ = 0x3c,
	NVME_REG_DBS = 0x1000,
};

/* The register block as laid out in BAR0, for the static asserts below and
 * for the fake device, which keeps its registers in one of these. */
struct nvme_bar {
	le64 cap;
	le32 vs;
	le32 intms;
	le32 intmc;
	le32 cc;
	le32 rsvd1;
	le32 csts;
	le32 nssr;
	le32 aqa;
	le64 asq;
	le64 acq;
	le32 cmbloc;
	le32 cmbsz;
} __attribute__((packed));

static_assert(sizeof(struct nvme_bar) == 0x40, "nvme_bar size");
static_assert(offsetof(struct nvme_bar, cap) == NVME_REG_CAP, "CAP");
static_assert(offsetof(struct nvme_bar, vs) == NVME_REG_VS, "VS");
static_assert(offsetof(struct nvme_bar, intms) == NVME_REG_INTMS, "INTMS");
static_assert(offsetof(struct nvme_bar, intmc) == NVME_REG_INTMC, "INTMC");
static_assert(offsetof(struct nvme_bar, cc) == NVME_REG_CC, "CC");
static_assert(offsetof(struct nvme_bar, csts) == NVME_REG_CSTS, "CSTS");
static_assert(offsetof(struct nvme_bar, nssr) == NVME_REG_NSSR, "NSSR");
static_assert(offsetof(struct nvme_bar, aqa) == NVME_REG_AQA, "AQA");
static_assert(offsetof(struct nvme_bar, asq) == NVME_REG_ASQ, "ASQ");
static_assert(offsetof(struct nvme_bar, acq) == NVME_REG_ACQ, "ACQ");
static_assert(offsetof(struct nvme_bar, cmbloc) == NVME_REG_CMBLOC, "CMBLOC");
static_assert(offsetof(struct nvme_bar, cmbsz) == NVME_REG_CMBSZ, "CMBSZ");

/* CAP fields */
#define NVME_CAP_MQES(cap)   ((uint32_t)((cap) & 0xffff))          /* 0's based */
#define NVME_CAP_CQR(cap)    ((uint32_t)(((cap) >> 16) & 0x1))
#define NVME_CAP_AMS(cap)    ((uint32_t)(((cap) >> 17) & 0x3))
#define NVME_CAP_TO(cap)     ((uint32_t)(((cap) >> 24) & 0xff))    /* 500 ms units */
#define NVME_CAP_DSTRD(cap)  ((uint32_t)(((cap) >> 32) & 0xf))
#define NVME_CAP_NSSRS(cap)  ((uint32_t)(((cap) >> 36) & 0x1))
#define NVME_CAP_CSS(cap)    ((uint32_t)(((cap) >> 37) & 0xff))
#define NVME_CAP_MPSMIN(cap) ((uint32_t)(((cap) >> 48) & 0xf))     /* 2^(12+x) */
#define NVME_CAP_MPSMAX(cap) ((uint32_t)(((cap) >> 52) & 0xf))
#define NVME_CAP_CSS_NVM     0x01u
#define NVME_CAP_CSS_NOIO    0x80u

/* CC fields */
#define NVME_CC_EN          (1u << 0)
#define NVME_CC_CSS(x)      ((uint32_t)(x) << 4)
#define NVME_CC_CSS_NVM     0u
#define NVME_CC_MPS(x)      ((uint32_t)(x) << 7)
#define NVME_CC_AMS_RR      (0u << 11)
#define NVME_CC_SHN_MASK    (3u << 14)
#define NVME_CC_SHN_NORMAL  (1u << 14)
#define NVME_CC_SHN_ABRUPT  (2u << 14)
#define NVME_CC_IOSQES(x)   ((uint32_t)(x) << 16)
#define NVME_CC_IOCQES(x)   ((uint32_t)(x) << 20)
#define NVME_CC_GET_MPS(cc)    (((cc) >> 7) & 0xf)
#define NVME_CC_GET_IOSQES(cc) (((cc) >> 16) & 0xf)
#define NVME_CC_GET_IOCQES(cc) (((cc) >> 20) & 0xf)

/* CSTS fields */
#define NVME_CSTS_RDY            (1u << 0)
#define NVME_CSTS_CFS            (1u << 1)
#define NVME_CSTS_SHST_MASK      (3u << 2)
#define NVME_CSTS_SHST_NORMAL    (0u << 2)
#define NVME_CSTS_SHST_OCCURRING (1u << 2)
#define NVME_CSTS_SHST_CMPLT     (2u << 2)
#define NVME_CSTS_NSSRO          (1u << 4)
#define NVME_CSTS_PP             (1u << 5)

/* AQA: admin queue sizes, 0's based */
#define NVME_AQA(sq_entries, cq_entries) \
	((uint32_t)((sq_entries) - 1) | ((uint32_t)((cq_entries) - 1) << 16))

/* VS */
#define NVME_VS(mjr, mnr, ter) (((uint32_t)(mjr) << 16) | ((uint32_t)(mnr) << 8) | (uint32_t)(ter))
#define NVME_VS_MJR(vs) ((vs) >> 16)
#define NVME_VS_MNR(vs) (((vs) >> 8) & 0xff)
#define NVME_VS_TER(vs) ((vs) & 0xff)

/* Doorbell offsets: SQ y tail = 0x1000 + (2y)(4 << DSTRD), CQ y head = 0x1000 + (2y+1)(4 << DSTRD) */
static inline uint32_t nvme_sq_tail_db(uint16_t qid, uint32_t dstrd)
{
	return NVME_REG_DBS + (2u * qid) * (4u << dstrd);
}

static inline uint32_t nvme_cq_head_db(uint16_t qid, uint32_t dstrd)
{
	return NVME_REG_DBS + (2u * qid + 1u) * (4u << dstrd);
}

#endif
