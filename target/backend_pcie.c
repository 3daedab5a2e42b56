/* SPDX-License-Identifier: MIT */
/*
 * The pcie backend: a namespace of a local controller driven by our own
 * driver. The fabric command is re-targeted (NSID, PRPs instead of the
 * fabric SGL) and queued on the reactor's own hardware queue pair with the
 * data buffer the transport received into: no copy. Doorbells are rung
 * once per reactor turn by the backend's poll, which each reactor's poller
 * calls for its own queue of every controller. The controllers themselves
 * (bring-up, health, interrupts, shutdown) are pcie_ctrls.c's.
 */
#define LOG_TAG "pcie-be"
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "pcie/pcie.h"
#include "target/target.h"

/* Per controller: one wait list per reactor (its own queue's overflow) */
struct pcie_be_q {
	struct nvmf_req *pending_head;        /* waiting for a free SQ slot */
	struct nvmf_req *pending_tail;
	uint64_t deferred;
};

struct pcie_be {
	struct pcie_be_q q[NVMF_MAX_IO_QUEUES];
};

/* Per namespace (ns->priv) */
struct pcie_be_ns {
	struct pcie_ctrl *pc;
	uint32_t dev_nsid;                    /* the controller's namespace */
};

static struct pcie_ctrl *ctrl_of(const struct nvmf_ns *ns)
{
	return ((const struct pcie_be_ns *)ns->priv)->pc;
}

static struct pcie_be *be_of(struct pcie_ctrl *pc)
{
	if (!pc->owner)
		pc->owner = calloc(1, sizeof(struct pcie_be));
	return pc->owner;
}

static unsigned my_idx(void)
{
	return nvmf_this_reactor ? nvmf_this_reactor->idx : 0;
}

static void pcie_done(void *arg, uint16_t status, const struct nvme_cqe *cqe)
{
	struct nvmf_req *req = arg;

	if (cqe) {
		req->rsp.dw0 = cqe->dw0;
		req->rsp.dw1 = cqe->dw1;
	}
	/* device status goes back as is; commands aborted by a controller
	 * reset carry no DNR, so the host retries them */
	nvmf_req_complete(req, status);
}

static void admin_done_on_owner(void *arg)
{
	struct nvmf_req *req = arg;

	nvmf_req_complete(req, NVME_CQE_STATUS(&req->rsp));
}

/* Admin passthrough completes on reactor 0, which polls the admin queue;
 * the request belongs to the reactor of its connection. */
static void pcie_admin_done(void *arg, uint16_t status, const struct nvme_cqe *cqe)
{
	struct nvmf_req *req = arg;
	struct nvmf_reactor *owner = req->sq->reactor;

	if (cqe) {
		req->rsp.dw0 = cqe->dw0;
		req->rsp.dw1 = cqe->dw1;
	}
	if (owner && owner != nvmf_this_reactor) {
		req->rsp.status = cpu_to_le16((uint16_t)(status << 1));
		/* cannot fail: this runs in a controller reset too */
		req->done_msg = (struct nvmf_msg){ .fn = admin_done_on_owner, .arg = req };
		nvmf_reactor_post(owner, &req->done_msg);
		return;
	}
	nvmf_req_complete(req, status);
}

static void defer(struct pcie_be_q *be, struct nvmf_req *req)
{
	req->next_pending = NULL;
	if (be->pending_tail)
		be->pending_tail->next_pending = req;
	else
		be->pending_head = req;
	be->pending_tail = req;
	be->deferred++;
}

/* Returns 0 when queued, -EAGAIN when the queue is full (caller defers),
 * or completes the request with an error itself and returns 0. */
static int queue_io(struct nvmf_req *req)
{
	struct nvmf_ns *ns = req->ns;
	const struct pcie_be_ns *bns = ns->priv;
	struct pcie_ctrl *pc = bns->pc;
	struct nvme_sqe sqe = req->cmd;
	int rc;

	sqe.nsid = cpu_to_le32(bns->dev_nsid);
	sqe.flags = 0;          /* PRPs, no fused operation */
	sqe.mptr = 0;
	memset(&sqe.dptr, 0, sizeof(sqe.dptr));
	rc = pcie_queue_submit(&pc->ioq[my_idx()], &sqe, req->len ? req->buf_iova : 0, req->len, pcie_done, req);
	if (rc == -EAGAIN || rc == -EBUSY)
		return -EAGAIN;
	if (rc) {
		/* a failed controller is reported once (health check), not per command */
		if (rc != -ENODEV)
			log_err("namespace %u: cannot queue command: %s", ns->nsid, strerror(-rc));
		nvmf_req_complete(req, nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_INTERNAL));
	}
	return 0;
}

static void pcie_submit(struct nvmf_ns *ns, struct nvmf_req *req)
{
	struct pcie_be_q *be = &be_of(ctrl_of(ns))->q[my_idx()];
	uint8_t opc = req->cmd.opc;

	if ((opc == NVME_CMD_COMPARE && !(ns->oncs & NVME_ONCS_COMPARE)) ||
	    (opc == NVME_CMD_DSM && !(ns->oncs & NVME_ONCS_DSM)) ||
	    (opc == NVME_CMD_WRITE_ZEROES && !(ns->oncs & NVME_ONCS_WRITE_ZEROES))) {
		nvmf_req_complete(req, nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE));
		return;
	}
	if (opc == NVME_CMD_FLUSH && !ns->vwc) {
		nvmf_req_complete(req, 0);      /* nothing volatile to flush */
		return;
	}
	/* keep order with commands already waiting */
	if (be->pending_head || queue_io(req) == -EAGAIN)
		defer(be, req);
}

/* Device logs go to the controller's admin queue, data straight into
 * req->buf. Called with tgt->lock held (admin commands run under it),
 * which also serialises the admin queue with reactor 0's polling of it. */
static void pcie_get_log(struct nvmf_ns *ns, struct nvmf_req *req)
{
	struct pcie_ctrl *pc = ctrl_of(ns);
	struct nvme_sqe sqe = req->cmd;
	uint8_t lid = le32_to_cpu(req->cmd.cdw10) & 0xff;
	int rc;

	/* device logs are controller-wide here: the fabric NSID means nothing
	 * to the device */
	sqe.nsid = cpu_to_le32(lid == 0x02 ? 0xffffffffu : 0);
	sqe.flags = 0;
	sqe.mptr = 0;
	memset(&sqe.dptr, 0, sizeof(sqe.dptr));
	rc = pcie_queue_submit(&pc->admin, &sqe, req->buf_iova, req->len, pcie_admin_done, req);
	if (rc) {
		nvmf_req_complete(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INTERNAL));
		return;
	}
	pcie_queue_ring(&pc->admin);
}

void nvmf_pcie_abort_own_queue(struct pcie_ctrl *pc)
{
	unsigned k = my_idx(), n;

	if (k >= pc->nr_ioq)
		return;
	n = pcie_queue_abort_all(&pc->ioq[k], PCIE_STATUS_ABORTED);
	if (n)
		log_notice("reset: %u command(s) in flight on I/O queue %u completed as aborted (hosts retry them)", n,
			   k + 1);
	pcie_queue_reset(&pc->ioq[k]);
}

/* Ring, reap and resubmit deferred commands on the calling reactor's
 * queue of a controller (and the admin queue on reactor 0). */
static int poll_ctrl(struct pcie_ctrl *pc)
{
	unsigned k = my_idx();
	struct pcie_be_q *be = &be_of(pc)->q[k];
	struct pcie_queue *q = &pc->ioq[k];
	int work = 0;

	if (k >= pc->nr_ioq || pc->state == PCIE_CTRL_RESETTING)
		return 0;
	/* live: what waited goes to the queue; failed: queue_io completes
	 * it with an error (nothing waits for a controller that will not
	 * come back by itself) */
	while (be->pending_head) {
		struct nvmf_req *req = be->pending_head;

		if (queue_io(req) == -EAGAIN)
			break;
		be->pending_head = req->next_pending;
		if (!be->pending_head)
			be->pending_tail = NULL;
		work++;
	}
	if (pc->state != PCIE_CTRL_LIVE)
		return work;
	pcie_queue_ring(q);
	work += (int)pcie_queue_process(q, q->depth);
	/* without an interrupt, keep spinning while commands are out */
	if (q->inflight && q->irq_fd < 0)
		work++;
	if (k == 0 && __atomic_load_n(&pc->admin.inflight, __ATOMIC_RELAXED)) {
		struct nvmf_tgt *t = nvmf_this_reactor ? nvmf_this_reactor->tgt : NULL;

		if (t)
			pthread_mutex_lock(&t->lock);
		work += (int)pcie_queue_process(&pc->admin, pc->admin.depth);
		if (t)
			pthread_mutex_unlock(&t->lock);
	}
	return work;
}

/* Each reactor's own queue of every controller the target opened (those
 * without namespaces too), whatever namespaces are on them */
static int pcie_poll(struct nvmf_reactor *nr)
{
	struct nvmf_tgt *t = nr->tgt;
	unsigned n = __atomic_load_n(&t->nr_pcie, __ATOMIC_ACQUIRE);
	int work = 0;

	for (unsigned i = 0; i < n; i++)
		work += poll_ctrl(t->pcie[i]);
	return work;
}

static const struct nvme_id_ctrl *pcie_dev_id(const struct nvmf_ns *ns, uint32_t *max_xfer)
{
	const struct pcie_ctrl *pc = ctrl_of(ns);

	*max_xfer = pc->max_xfer;
	return &pc->id;
}

static void pcie_close(struct nvmf_ns *ns)
{
	free(ns->priv);         /* the controller is shut down by the target */
	ns->priv = NULL;
}

/* The namespace on its controller, opened (and brought up) if it is not */
static int pcie_open(struct nvmf_tgt *t, struct nvmf_ns *ns, char *err, size_t errlen)
{
	const struct pcie_ns *pns;
	struct pcie_be_ns *bns;
	struct pcie_ctrl *pc;
	int rc;

	rc = nvmf_pcie_ctrl_open(t, ns->cfg->pcie_bdf, &pc, err, errlen);
	if (rc)
		return rc;
	pns = pcie_ctrl_find_ns(pc, ns->cfg->pcie_nsid);
	if (!pns) {
		snprintf(err, errlen, "device.nsid: controller %s has no active namespace %u", ns->cfg->pcie_bdf,
			 ns->cfg->pcie_nsid);
		return -ENODEV;
	}
	if (pns->ms) {
		snprintf(err, errlen, "device.nsid: namespace %u of %s has %u bytes of metadata per block; not supported",
			 pns->nsid, ns->cfg->pcie_bdf, pns->ms);
		return -ENOTSUP;
	}
	bns = malloc(sizeof(*bns));
	if (!bns || !be_of(pc)) {
		free(bns);
		return -ENOMEM;
	}
	bns->pc = pc;
	bns->dev_nsid = pns->nsid;
	ns->priv = bns;
	ns->id = pns->id;
	ns->nsze = pns->nsze;
	ns->lba_shift = pns->lba_shift;
	ns->oncs = le16_to_cpu(pc->id.oncs);
	ns->vwc = pc->id.vwc & 1u;
	return 0;
}

const struct nvmf_backend_ops nvmf_backend_pcie = {
	.name = "pcie",
	.open = pcie_open,
	.submit = pcie_submit,
	.poll = pcie_poll,
	.close = pcie_close,
	.dev_id = pcie_dev_id,
	.get_log = pcie_get_log,
};
