/* SPDX-License-Identifier: MIT */
#include "transport/rdma_proto.h"

#include <string.h>

int rdma_check_conn_req(const void *pd, size_t pd_len, uint8_t initiator_depth,
			uint16_t max_admin, uint16_t max_io, struct rdma_conn_params *out)
{
	struct nvme_rdma_cm_req req;
	uint32_t entries;

	if (!pd || pd_len < sizeof(req))
		return NVME_RDMA_CM_INVALID_LEN;
	memcpy(&req, pd, sizeof(req));
	if (req.recfmt != 0)
		return NVME_RDMA_CM_INVALID_RECFMT;
	/* HSQSIZE is 0's based; the admin queue is at most 32 entries */
	entries = (uint32_t)le16_to_cpu(req.hsqsize) + 1;
	if (entries < 2 || entries > (req.qid ? max_io : max_admin))
		return NVME_RDMA_CM_INVALID_HSQSIZE;
	/* HRQSIZE is 1's based: the host must take a response per command */
	if (le16_to_cpu(req.hrqsize) < entries)
		return NVME_RDMA_CM_INVALID_HRQSIZE;
	/* without RDMA READ we could not fetch the data of any write */
	if (!initiator_depth)
		return NVME_RDMA_CM_INVALID_ORD;
	out->qid = le16_to_cpu(req.qid);
	out->queue_size = (uint16_t)entries;
	out->host_recv_size = le16_to_cpu(req.hrqsize);
	out->read_depth = initiator_depth;
	return 0;
}

void rdma_fill_accept(struct nvme_rdma_cm_rep *rep, uint16_t crqsize)
{
	memset(rep, 0, sizeof(*rep));
	rep->recfmt = 0;
	rep->crqsize = cpu_to_le16(crqsize);
}

void rdma_fill_reject(struct nvme_rdma_cm_rej *rej, int status)
{
	rej->recfmt = 0;
	rej->sts = cpu_to_le16((uint16_t)status);
}

uint16_t rdma_decode_sgl(const struct nvme_sqe *sqe, uint32_t icd_len, struct rdma_sgl *out)
{
	const struct nvme_keyed_sgl_desc *k = &sqe->dptr.ksgl;
	const struct nvme_sgl_desc *d = &sqe->dptr.sgl;

	memset(out, 0, sizeof(*out));
	if ((sqe->flags & NVME_SQE_PSDT_MASK) != NVME_SQE_PSDT_SGL)
		return (uint16_t)(NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD) | NVME_STATUS_DNR);
	switch (k->type) {
	case RDMA_SGL_KEYED_ADDR:
	case RDMA_SGL_KEYED_INVALIDATE:
		if (icd_len)
			return (uint16_t)(NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_DATA) | NVME_STATUS_DNR);
		out->keyed = true;
		out->invalidate = k->type == RDMA_SGL_KEYED_INVALIDATE;
		out->addr = le64_to_cpu(k->addr);
		out->len = (uint32_t)k->length[0] | (uint32_t)k->length[1] << 8 | (uint32_t)k->length[2] << 16;
		out->key = le32_to_cpu(k->key);
		/* a zero-length keyed descriptor carries no data (Linux sends it
		 * for commands without data) */
		return 0;
	case RDMA_SGL_ICD_OFFSET:
		/* ICDOFF is 0: the data starts right after the SQE */
		if (d->addr || le32_to_cpu(d->length) > icd_len)
			return (uint16_t)(NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_OFFSET) | NVME_STATUS_DNR);
		out->addr = le64_to_cpu(d->addr);
		out->len = le32_to_cpu(d->length);
		return 0;
	default:
		return (uint16_t)(NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_TYPE) | NVME_STATUS_DNR);
	}
}
