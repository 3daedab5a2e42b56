/* SPDX-License-Identifier: MIT */
/*
 * Requests: a received command's SGL checked against the queue and the
 * transfer limits (nvmf_req_prepare), dispatched to the fabrics, admin
 * (both under tgt->lock) or I/O path (nvmf_req_execute), and completed:
 * the CQE filled, the statistics counted, the request handed back to its
 * transport (nvmf_req_complete, nvmf_req_c2h_done).
 */
#include <pthread.h>
#include <string.h>

#include "target/target.h"

/* Data direction of a command: fabrics commands carry it in FCTYPE bits
 * 1:0, others in the opcode bits 1:0 (01b host to controller, 10b
 * controller to host). */
static enum nvmf_xfer cmd_xfer(const struct nvme_sqe *c)
{
	uint8_t bits = c->opc == NVME_FABRICS_OPC ? (((const struct nvmf_connect_cmd *)c)->fctype & 3u)
						  : (c->opc & 3u);

	return bits == 1 ? NVMF_XFER_H2C : bits == 2 ? NVMF_XFER_C2H : NVMF_XFER_NONE;
}

/* The data length an SGL1 describes: keyed descriptors (RDMA) have a
 * 24-bit length followed by the key, the others a 32-bit length. */
static uint32_t sgl_length(const struct nvme_sqe *cmd)
{
	const struct nvme_keyed_sgl_desc *k = &cmd->dptr.ksgl;

	if ((k->type & 0xf0) == 0x40)
		return (uint32_t)k->length[0] | (uint32_t)k->length[1] << 8 | (uint32_t)k->length[2] << 16;
	return le32_to_cpu(cmd->dptr.sgl.length);
}

uint16_t nvmf_req_prepare(struct nvmf_req *req, uint32_t icd_len, uint32_t max_icd)
{
	const struct nvme_sgl_desc *sgl = &req->cmd.dptr.sgl;
	struct nvmf_sq *sq = req->sq;
	uint32_t max = sq->port->tgt->max_xfer;
	enum nvmf_xfer dir = cmd_xfer(&req->cmd);
	uint32_t len = sgl_length(&req->cmd);

	/* the fabric SQ head moves as each command is taken off the queue */
	sq->sqhd = (uint16_t)(sq->sqhd + 1 == sq->size ? 0 : sq->sqhd + 1);
	sq->cmds++;
	req->xfer = NVMF_XFER_NONE;
	req->len = 0;
	req->start_ns = reactor_clock_ns();

	/* fused operations are not supported: they would need the pair
	 * executed atomically (the kernel target refuses them too) */
	if (req->cmd.flags & 0x3u)
		return nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);
	/* fabrics commands describe data with SGLs only, even when they
	 * carry none (the Linux host sets PSDT on every command) */
	if ((req->cmd.flags & NVME_SQE_PSDT_MASK) != NVME_SQE_PSDT_SGL)
		return nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);
	if (dir == NVMF_XFER_NONE || (!len && !icd_len))
		return icd_len ? nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD) : 0;
	switch (sgl->type) {
	case 0x01:      /* data block, offset: in-capsule data */
		if (dir != NVMF_XFER_H2C)
			return nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_TYPE);
		if (le64_to_cpu(sgl->addr) > icd_len || len > icd_len - le64_to_cpu(sgl->addr) || icd_len > max_icd)
			return nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_OFFSET);
		if (sgl->addr)  /* ICDOFF is 0 and we do not move data around */
			return nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_OFFSET);
		break;
	case 0x5a:      /* transport data block, transport specific (TCP) */
		if (sq->keyed_sgl)
			return nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_TYPE);
		if (icd_len)
			return nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_DATA);
		break;
	case 0x40:      /* keyed data block, address (RDMA) */
	case 0x4f:      /* keyed data block, invalidate key (RDMA) */
		if (!sq->keyed_sgl)
			return nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_TYPE);
		if (icd_len)
			return nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_DATA);
		break;
	default:
		return nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_TYPE);
	}
	if (len > max)
		return nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);
	req->xfer = dir;
	req->len = len;
	return 0;
}

void nvmf_req_c2h_done(struct nvmf_req *req)
{
	struct nvmf_ns *ns = req->c2h_ns;

	if (ns)
		ns->stats[req->sq->reactor ? req->sq->reactor->idx : 0].inflight--;
	req->c2h_ns = NULL;
	req->c2h_data = NULL;
}

void nvmf_req_complete(struct nvmf_req *req, uint16_t status)
{
	struct nvmf_sq *sq = req->sq;
	uint64_t us = (reactor_clock_ns() - req->start_ns) / 1000u;

	req->rsp.cid = req->cmd.cid;
	req->rsp.sqid = cpu_to_le16(sq->qid);
	req->rsp.sqhd = cpu_to_le16(sq->sqflow_off ? 0xffff : sq->sqhd);
	req->rsp.status = cpu_to_le16((uint16_t)(status << 1));
	if (status)
		sq->errors++;
	/* an AER is held until an event happens: its time is not latency */
	if (sq->st && !(sq->qid == 0 && req->cmd.opc == NVME_ADM_ASYNC_EVENT))
		nvmf_lat_add(&sq->st->lat, us);
	if (req->ns) {
		/* this reactor's own slot: no atomics needed */
		struct nvmf_ns_stats *st = &req->ns->stats[sq->reactor ? sq->reactor->idx : 0];

		/* zero-copy data still points into the namespace: it stays
		 * busy until nvmf_req_c2h_done() */
		if (req->c2h_data && !status) {
			req->c2h_ns = req->ns;
		} else {
			st->inflight--;
			req->c2h_data = NULL;   /* a failed read sends nothing */
		}
		nvmf_count_io(st, sq->st ? &sq->st->io : NULL, req->cmd.opc, status, req->len, us);
		req->ns = NULL;
	}
	sq->ops->complete(req);
}

void nvmf_req_execute(struct nvmf_req *req)
{
	struct nvmf_sq *sq = req->sq;
	struct nvmf_ctrl *c = sq->ctrl;

	memset(&req->rsp, 0, sizeof(req->rsp));
	if (c && sq->authed)    /* traffic counts as keep-alive; a plain store, read by the timer */
		__atomic_store_n(&c->last_ka_ns, reactor_clock_ns(), __ATOMIC_RELAXED);
	if (req->cmd.opc == NVME_FABRICS_OPC || !c || sq->qid == 0) {
		/* the control path: controllers are shared between reactors */
		struct nvmf_tgt *t = sq->port->tgt;

		pthread_mutex_lock(&t->lock);
		if (req->cmd.opc == NVME_FABRICS_OPC)
			nvmf_exec_fabrics(req);
		else if (!sq->ctrl)     /* nothing but Connect before Connect */
			nvmf_req_complete(req, nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_CMD_SEQ_ERROR));
		else if (!sq->authed)   /* nor anything but fabrics commands before DH-HMAC-CHAP */
			nvmf_req_complete(req, nvmf_status_dnr(NVME_SCT_CMD_SPECIFIC, NVMF_SC_AUTH_REQUIRED));
		else
			nvmf_exec_admin(req);
		pthread_mutex_unlock(&t->lock);
		return;
	}
	if (!(c->csts & NVME_CSTS_RDY) || !sq->authed) {
		nvmf_req_complete(req, sq->authed ? nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_CMD_SEQ_ERROR)
						  : nvmf_status_dnr(NVME_SCT_CMD_SPECIFIC, NVMF_SC_AUTH_REQUIRED));
		return;
	}
	nvmf_exec_io(req);
}
