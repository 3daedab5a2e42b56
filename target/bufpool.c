/* SPDX-License-Identifier: MIT */
/*
 * Data buffers: each reactor's pool of DMA buffers (mapped once for the
 * devices), taken and returned on that reactor with no lock; the quotas
 * per queue and per controller and the reserve that keep one host from
 * starving the others; the queues waiting for a buffer, woken in order by
 * the reactor's poller.
 */
#define LOG_TAG "target"
#include <stddef.h>
#include <string.h>

#include "common/log.h"
#include "target/target.h"

/* Each reactor's pool, mapped for the PCIe controllers if there are any */
int nvmf_buf_pools_init(struct nvmf_tgt *t, char *err, size_t errlen)
{
	struct dma_mapper m;
	bool mapped = nvmf_pcie_dma_mapper(t, &m);
	int rc = 0;

	t->max_xfer = NVMF_DATA_BUF_SIZE;
	for (unsigned i = 0; i < t->nr_reactors && !rc; i++)
		rc = dma_pool_init(&t->reactors[i].pool, NVMF_DATA_BUF_SIZE, 4096, NVMF_DATA_BUFS, true,
				   mapped ? &m : NULL);
	if (rc)
		set_err(err, errlen, "cannot allocate %u data buffers of %u bytes per reactor: %s", NVMF_DATA_BUFS,
			NVMF_DATA_BUF_SIZE, strerror(-rc));
	return rc;
}

void nvmf_buf_pool_fini(struct nvmf_reactor *nr)
{
	if (nr->pool.free)
		dma_pool_destroy(&nr->pool);
}

/* --- data buffers ------------------------------------------------------- */

static struct nvmf_reactor *this_reactor(struct nvmf_tgt *t)
{
	return nvmf_this_reactor ? nvmf_this_reactor : &t->reactors[0];
}

void *nvmf_buf_get(struct nvmf_tgt *t, uint64_t *iova)
{
	struct dma_pool *p = &this_reactor(t)->pool;
	void *b = dma_pool_get(p);

	if (b && iova)
		*iova = dma_pool_iova(p, b);
	return b;
}

void nvmf_buf_put(struct nvmf_tgt *t, void *buf)
{
	if (buf)
		dma_pool_put(&this_reactor(t)->pool, buf);
}

/* --- data buffers under quotas ------------------------------------------- */

static void waiter_add(struct nvmf_reactor *nr, struct nvmf_buf_wait *w)
{
	struct nvmf_buf_wait *head = &nr->buf_waiters;

	if (w->queued)
		return;
	if (!head->next)                /* first use: an empty circular list */
		head->next = head->prev = head;
	w->prev = head->prev;
	w->next = head;
	head->prev->next = w;
	head->prev = w;
	w->queued = true;
}

static void waiter_del(struct nvmf_buf_wait *w)
{
	if (!w->queued)
		return;
	w->prev->next = w->next;
	w->next->prev = w->prev;
	w->prev = w->next = NULL;
	w->queued = false;
}

static bool buf_allowed(const struct nvmf_sq *sq, const struct dma_pool *p, unsigned ridx)
{
	unsigned quota_sq = p->nbufs / NVMF_BUF_QUOTA_SQ_DIV;

	if (!quota_sq)
		quota_sq = 1;
	/* before Connect only the Connect itself: one command */
	if (!sq->ctrl)
		return sq->bufs == 0;
	if (sq->size && quota_sq > sq->size)
		quota_sq = sq->size;
	if (sq->bufs >= quota_sq)
		return false;
	if (sq->ctrl->bufs[ridx] >= p->nbufs / NVMF_BUF_QUOTA_CTRL_DIV && sq->bufs >= NVMF_BUF_MIN_SQ)
		return false;
	/* the reserve keeps every queue able to progress */
	return p->nfree > p->nbufs / NVMF_BUF_RESERVE_DIV || sq->bufs < NVMF_BUF_MIN_SQ;
}

void *nvmf_sq_buf_get(struct nvmf_sq *sq, uint64_t *iova)
{
	struct nvmf_reactor *nr = sq->reactor ? sq->reactor : &sq->port->tgt->reactors[0];
	struct dma_pool *p = &nr->pool;
	void *b = NULL;

	if (buf_allowed(sq, p, nr->idx))
		b = dma_pool_get(p);
	if (!b) {
		waiter_add(nr, &sq->buf_wait);
		return NULL;
	}
	sq->bufs++;
	if (sq->ctrl)
		sq->ctrl->bufs[nr->idx]++;
	if (iova)
		*iova = dma_pool_iova(p, b);
	return b;
}

void nvmf_sq_buf_put(struct nvmf_sq *sq, void *buf)
{
	struct nvmf_reactor *nr = sq->reactor ? sq->reactor : &sq->port->tgt->reactors[0];

	if (!buf)
		return;
	dma_pool_put(&nr->pool, buf);
	sq->bufs--;
	if (sq->ctrl)
		sq->ctrl->bufs[nr->idx]--;
	if (nr->buf_waiters.next && nr->buf_waiters.next != &nr->buf_waiters)
		nr->buf_kick = true;
}

void nvmf_sq_buf_cancel(struct nvmf_sq *sq)
{
	waiter_del(&sq->buf_wait);
}

/* Each waiter present now gets one try, in order; those still without a
 * buffer queue themselves again (behind the rest) through nvmf_sq_buf_get. */
int nvmf_buf_run_waiters(struct nvmf_reactor *nr)
{
	struct nvmf_buf_wait *head = &nr->buf_waiters, *last;
	int work = 0;

	if (!nr->buf_kick)
		return 0;
	nr->buf_kick = false;
	if (!head->next || head->next == head)
		return 0;
	last = head->prev;
	for (;;) {
		struct nvmf_buf_wait *w = head->next;
		struct nvmf_sq *sq = (struct nvmf_sq *)((char *)w - offsetof(struct nvmf_sq, buf_wait));
		bool end = w == last;

		waiter_del(w);
		if (sq->ops->buf_available)
			sq->ops->buf_available(sq);
		work++;
		if (end || head->next == head)
			break;
	}
	return work;
}
