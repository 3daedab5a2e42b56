/* SPDX-License-Identifier: MIT */
/*
 * Submission and completion queues: CID allocation, PRP setup, SQ tail and
 * CQ head doorbells (once per batch), phase-bit completion reaping.
 */
#define LOG_TAG "pcie"
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "pcie/pcie_internal.h"

int pcie_queue_alloc(struct pcie_queue *q, struct pcie_ctrl *c, uint16_t qid,
		     uint16_t depth, unsigned prp_pages_per_cmd)
{
	struct dma_region *r = &c->mem;
	unsigned nr_cids = depth - 1u;  /* one SQ slot always stays empty */

	memset(q, 0, sizeof(*q));
	q->ctrl = c;
	q->qid = qid;
	q->depth = depth;
	q->irq_fd = -1;
	q->vector = -1;
	q->nr_cids = (uint16_t)nr_cids;
	q->prp_pages_per_cmd = prp_pages_per_cmd;
	q->sq_db = nvme_sq_tail_db(qid, c->dstrd);
	q->cq_db = nvme_cq_head_db(qid, c->dstrd);

	/* queues must be page aligned for PC=1 (one contiguous PRP) */
	q->sq = dma_region_carve(r, (size_t)depth * sizeof(struct nvme_sqe), c->page_size, &q->sq_iova);
	q->cq = dma_region_carve(r, (size_t)depth * sizeof(struct nvme_cqe), c->page_size, &q->cq_iova);
	if (!q->sq || !q->cq)
		return -ENOMEM;

	q->reqs = calloc(nr_cids, sizeof(*q->reqs));
	if (!q->reqs)
		return -ENOMEM;
	if (prp_pages_per_cmd) {
		q->prp_pages = calloc((size_t)nr_cids * prp_pages_per_cmd, sizeof(*q->prp_pages));
		if (!q->prp_pages)
			goto free_reqs;
		for (unsigned i = 0; i < nr_cids * prp_pages_per_cmd; i++) {
			struct prp_list_page *p = &q->prp_pages[i];

			p->va = dma_region_carve(r, c->page_size, c->page_size, &p->iova);
			if (!p->va)
				goto free_prp;
		}
		for (unsigned i = 0; i < nr_cids; i++)
			q->reqs[i].prp = &q->prp_pages[(size_t)i * prp_pages_per_cmd];
	}
	pcie_queue_reset(q);
	return 0;

free_prp:
	free(q->prp_pages);
	q->prp_pages = NULL;
free_reqs:
	free(q->reqs);
	q->reqs = NULL;
	return -ENOMEM;
}

void pcie_queue_free(struct pcie_queue *q)
{
	free(q->prp_pages);
	free(q->reqs);
	q->prp_pages = NULL;
	q->reqs = NULL;
}

void pcie_queue_reset(struct pcie_queue *q)
{
	q->sq_tail = q->sq_tail_rung = q->sq_head = q->cq_head = 0;
	q->cq_phase = 1;
	q->inflight = 0;
	/* a reset queue starts at 0 on both sides, shadows included */
	if (q->sq_shadow) {
		*q->sq_shadow = *q->sq_eventidx = 0;
		*q->cq_shadow = *q->cq_eventidx = 0;
	}
	memset((void *)q->cq, 0, (size_t)q->depth * sizeof(struct nvme_cqe));
	q->free_head = PCIE_CID_NONE;
	for (unsigned i = q->nr_cids; i-- > 0;) {
		q->reqs[i].busy = false;
		q->reqs[i].next_free = q->free_head;
		q->free_head = (uint16_t)i;
	}
}

static inline void req_release(struct pcie_queue *q, uint16_t cid)
{
	struct pcie_req *req = &q->reqs[cid];

	req->busy = false;
	req->next_free = q->free_head;
	q->free_head = cid;
	q->inflight--;
	q->completed++;
}

int pcie_queue_submit(struct pcie_queue *q, const struct nvme_sqe *sqe,
		      uint64_t iova, size_t len, pcie_cb cb, void *arg)
{
	struct pcie_ctrl *c = q->ctrl;
	uint16_t next_tail = (uint16_t)(q->sq_tail + 1u == q->depth ? 0 : q->sq_tail + 1u);
	struct nvme_sqe *slot;
	struct pcie_req *req;
	uint16_t cid;
	int rc;

	if (c->state != PCIE_CTRL_LIVE && !(c->admin_only && q == &c->admin))
		return c->state == PCIE_CTRL_RESETTING ? -EBUSY : -ENODEV;
	if (next_tail == q->sq_head)
		return -EAGAIN;         /* SQ full: the device has not fetched yet */
	cid = q->free_head;
	if (cid == PCIE_CID_NONE)
		return -EAGAIN;
	if (len > c->max_xfer)
		return -EINVAL;

	req = &q->reqs[cid];
	slot = &q->sq[q->sq_tail];
	*slot = *sqe;
	slot->cid = cpu_to_le16(cid);
	if (len) {
		uint64_t prp1, prp2;

		rc = prp_build(iova, len, c->page_size, req->prp, q->prp_pages_per_cmd, &prp1, &prp2);
		if (rc < 0)
			return rc;
		slot->flags = (uint8_t)(slot->flags & ~NVME_SQE_PSDT_MASK);
		slot->dptr.prp.prp1 = cpu_to_le64(prp1);
		slot->dptr.prp.prp2 = cpu_to_le64(prp2);
	}
	q->free_head = req->next_free;
	req->busy = true;
	req->cb = cb;
	req->arg = arg;
	req->deadline_ns = pcie_stamp(c) + (uint64_t)c->opts.cmd_timeout_ms * 1000000u;
	q->sq_tail = next_tail;
	q->inflight++;
	q->submitted++;
	return 0;
}

/* Shadow doorbell update: store the new value, then read the device's
 * EventIdx; the register write is needed only when the device asked to be
 * told once the value passes EventIdx, i.e. EventIdx lies in [old, new)
 * (the same test as virtio's event index). */
static bool shadow_needs_mmio(volatile uint32_t *shadow, volatile uint32_t *eventidx,
			      uint16_t new_val, uint16_t old_val)
{
	uint16_t ei;

	*shadow = new_val;
	/* the device writes EventIdx and then reads the shadow: our store
	 * must be visible before our load, or both could miss the other */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	ei = (uint16_t)*eventidx;
	return (uint16_t)(new_val - ei - 1u) < (uint16_t)(new_val - old_val);
}

void pcie_queue_ring(struct pcie_queue *q)
{
	uint16_t old = q->sq_tail_rung;

	if (q->sq_tail == old)
		return;
	/* the SQEs must be visible in memory before the device sees the tail */
	pcie_wmb();
	q->sq_tail_rung = q->sq_tail;
	if (q->sq_shadow && !shadow_needs_mmio(q->sq_shadow, q->sq_eventidx, q->sq_tail, old)) {
		q->db_shadowed++;
		return;
	}
	pcie_wr32(q->ctrl, q->sq_db, q->sq_tail);
	q->db_mmio++;
}

bool pcie_queue_has_cqe(const struct pcie_queue *q)
{
	return NVME_CQE_PHASE(&q->cq[q->cq_head]) == q->cq_phase;
}

unsigned pcie_queue_process(struct pcie_queue *q, unsigned max)
{
	uint16_t old_head = q->cq_head;
	unsigned n = 0;

	while (n < max) {
		volatile struct nvme_cqe *vcqe = &q->cq[q->cq_head];
		struct nvme_cqe cqe;
		uint16_t sqhd, cid;
		struct pcie_req *req;

		if (NVME_CQE_PHASE(vcqe) != q->cq_phase)
			break;
		/* the phase tag must be read before the rest of the entry */
		pcie_rmb();
		cqe.dw0 = vcqe->dw0;
		cqe.dw1 = vcqe->dw1;
		cqe.sqhd = vcqe->sqhd;
		cqe.sqid = vcqe->sqid;
		cqe.cid = vcqe->cid;
		cqe.status = vcqe->status;

		if (++q->cq_head == q->depth) {
			q->cq_head = 0;
			q->cq_phase ^= 1u;
		}
		n++;
		sqhd = le16_to_cpu(cqe.sqhd);
		cid = le16_to_cpu(cqe.cid);
		if (sqhd < q->depth)
			q->sq_head = sqhd;
		if (cid >= q->nr_cids || !q->reqs[cid].busy) {
			log_warn("qid %u: completion for unknown cid %u ignored", q->qid, cid);
			continue;
		}
		req = &q->reqs[cid];
		req_release(q, cid);
		req->cb(req->arg, NVME_CQE_STATUS(&cqe), &cqe);
	}
	if (!n)
		return 0;
	if (q->cq_shadow && !shadow_needs_mmio(q->cq_shadow, q->cq_eventidx, q->cq_head, old_head)) {
		q->db_shadowed++;
		return n;
	}
	pcie_wr32(q->ctrl, q->cq_db, q->cq_head);
	q->db_mmio++;
	return n;
}

int pcie_queue_wait(struct pcie_queue *q, int timeout_ms)
{
	uint64_t deadline = reactor_now_ns() + (uint64_t)timeout_ms * 1000000u;

	while (!pcie_queue_has_cqe(q)) {
		uint64_t now = reactor_now_ns();
		int left_ms;

		if (now >= deadline)
			return 0;
		left_ms = (int)((deadline - now + 999999u) / 1000000u);
		if (q->irq_fd >= 0) {
			struct pollfd pfd = { .fd = q->irq_fd, .events = POLLIN };
			uint64_t cnt;

			/* An interrupt raised after the CQE check above leaves
			 * the eventfd readable, so no wakeup is lost; a stale
			 * count only causes one extra loop. */
			if (poll(&pfd, 1, left_ms) > 0 &&
			    read(q->irq_fd, &cnt, sizeof(cnt)) != (ssize_t)sizeof(cnt))
				continue;
		} else {
			struct timespec ts = { 0, 20000 };

			nanosleep(&ts, NULL);
		}
	}
	return 1;
}

unsigned pcie_queue_expired(const struct pcie_queue *q, uint64_t now_ns)
{
	unsigned n = 0;

	if (!q->reqs || !q->inflight)
		return 0;
	for (unsigned i = 0; i < q->nr_cids; i++)
		if (q->reqs[i].busy && q->reqs[i].deadline_ns < now_ns)
			n++;
	return n;
}

unsigned pcie_queue_abort_all(struct pcie_queue *q, uint16_t status)
{
	unsigned n = 0;

	if (!q->reqs)
		return 0;
	for (uint16_t cid = 0; cid < q->nr_cids; cid++) {
		struct pcie_req *req = &q->reqs[cid];

		if (!req->busy)
			continue;
		req_release(q, cid);
		req->cb(req->arg, status, NULL);
		n++;
	}
	return n;
}
