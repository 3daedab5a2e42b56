/* SPDX-License-Identifier: MIT */
/*
 * NVMe/RDMA protocol pieces with no verbs in them (NVMe over Fabrics 1.1
 * section 7.3): validation of the connection request's private data, and
 * decoding of the SGL descriptors an RDMA host sends.
 */
#ifndef TRANSPORT_RDMA_PROTO_H
#define TRANSPORT_RDMA_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nvme/cmd.h"
#include "nvme/rdma.h"

/* What a connection request asked for, once accepted. */
struct rdma_conn_params {
	uint16_t qid;
	uint16_t queue_size;        /* SQ entries: HSQSIZE + 1 */
	uint16_t host_recv_size;    /* HRQSIZE: responses the host can take */
	uint8_t read_depth;         /* RDMA READs we may have outstanding */
};

/*
 * Check a connection request. pd/pd_len: the CM private data; initiator_depth:
 * the RDMA READ depth the host grants us (0 means we could never fetch
 * write data). max_admin/max_io: our queue size limits. Returns 0 with
 * *out filled, or an NVMe/RDMA CM status (NVME_RDMA_CM_*) to put in the
 * reject's private data.
 */
int rdma_check_conn_req(const void *pd, size_t pd_len, uint8_t initiator_depth,
			uint16_t max_admin, uint16_t max_io, struct rdma_conn_params *out);

/* Fill the private data of an accept (CRQSIZE = our receive queue size)
 * or of a reject. */
void rdma_fill_accept(struct nvme_rdma_cm_rep *rep, uint16_t crqsize);
void rdma_fill_reject(struct nvme_rdma_cm_rej *rej, int status);

/* SGL descriptor types an RDMA host uses (type << 4 | subtype) */
#define RDMA_SGL_KEYED_ADDR      0x40  /* keyed data block, address */
#define RDMA_SGL_KEYED_INVALIDATE 0x4f /* keyed data block, invalidate key */
#define RDMA_SGL_ICD_OFFSET      0x01  /* data block, offset: in-capsule */

struct rdma_sgl {
	bool keyed;
	bool invalidate;            /* the host wants the rkey invalidated (Send with Invalidate) */
	uint64_t addr;              /* keyed: host address; in-capsule: offset */
	uint32_t len;
	uint32_t key;
};

/* Decode the command's SGL1. Returns 0, or an NVMe status (SGL descriptor
 * type invalid, data SGL length invalid...) for the command. icd_len: the
 * in-capsule bytes that arrived after the SQE. */
uint16_t rdma_decode_sgl(const struct nvme_sqe *sqe, uint32_t icd_len, struct rdma_sgl *out);

#endif
