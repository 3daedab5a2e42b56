/* SPDX-License-Identifier: MIT */
/* NVMe/RDMA connection manager private data (NVMe over Fabrics 1.1, 7.3). */
#ifndef NVME_RDMA_H
#define NVME_RDMA_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "nvme/endian.h"

struct nvme_rdma_cm_req {
	le16 recfmt;
	le16 qid;
	le16 hrqsize;       /* 1's based */
	le16 hsqsize;       /* 0's based */
	le16 cntlid;
	uint8_t rsvd[22];
} __attribute__((packed));

static_assert(sizeof(struct nvme_rdma_cm_req) == 32, "rdma cm req size");
static_assert(offsetof(struct nvme_rdma_cm_req, hsqsize) == 6, "rdma cm hsqsize");

struct nvme_rdma_cm_rep {
	le16 recfmt;
	le16 crqsize;
	uint8_t rsvd[28];
} __attribute__((packed));

static_assert(sizeof(struct nvme_rdma_cm_rep) == 32, "rdma cm rep size");

struct nvme_rdma_cm_rej {
	le16 recfmt;
	le16 sts;
} __attribute__((packed));

static_assert(sizeof(struct nvme_rdma_cm_rej) == 4, "rdma cm rej size");

enum nvme_rdma_cm_status {
	NVME_RDMA_CM_INVALID_LEN = 0x01,
	NVME_RDMA_CM_INVALID_RECFMT = 0x02,
	NVME_RDMA_CM_INVALID_QID = 0x03,
	NVME_RDMA_CM_INVALID_HSQSIZE = 0x04,
	NVME_RDMA_CM_INVALID_HRQSIZE = 0x05,
	NVME_RDMA_CM_NO_RSC = 0x06,
	NVME_RDMA_CM_INVALID_IRD = 0x07,
	NVME_RDMA_CM_INVALID_ORD = 0x08,
};

#endif
