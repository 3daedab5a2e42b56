/* SPDX-License-Identifier: MIT */
/*
 * Controller and queue lifetime after Connect (fabrics.c creates them):
 * a queue's connection going (its association ends with the admin
 * queue), a controller torn down (every queue disconnected) and freed
 * once its last queue is gone, a queue's own allocations released when
 * its transport frees it.
 */
#define LOG_TAG "target"
#include <pthread.h>
#include <stdlib.h>

#include "common/log.h"
#include "target/target.h"

void nvmf_ctrl_free(struct nvmf_ctrl *c)
{
	struct nvmf_subsys *s = c->subsys;

	for (struct nvmf_ctrl **pp = &s->ctrls; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	if (c->ka_timer.armed)
		reactor_timer_stop(&c->reactor->r, &c->ka_timer);
	nvmf_host_stats_put(c->hstats);
	log_info("controller %u of %s for %s released", c->cntlid, s->nqn, c->hostnqn);
	free(c);
}

static bool ctrl_has_queues(const struct nvmf_ctrl *c)
{
	if (c->admin)
		return true;
	for (unsigned i = 1; i <= NVMF_MAX_IO_QUEUES; i++)
		if (c->io[i])
			return true;
	return false;
}

static void sq_destroy_locked(struct nvmf_sq *sq);

void nvmf_sq_destroy(struct nvmf_sq *sq)
{
	struct nvmf_tgt *t = sq->port->tgt;

	if (!sq->ctrl)
		return;
	pthread_mutex_lock(&t->lock);
	sq_destroy_locked(sq);
	pthread_mutex_unlock(&t->lock);
}

static void sq_destroy_locked(struct nvmf_sq *sq)
{
	struct nvmf_ctrl *c = sq->ctrl;

	if (!c)
		return;
	nvmf_auth_free(sq);
	/* buffers still held by its requests stop counting for the
	 * controller (which may go before they come back); this runs on the
	 * queue's own reactor, the only writer of its slot */
	c->bufs[sq->reactor ? sq->reactor->idx : 0] -= sq->bufs;
	nvmf_host_stats_fold(c->hstats, sq);
	sq->ctrl = NULL;
	if (sq->qid == 0) {
		c->admin = NULL;
		/* the AERs it held are never answered: the transport frees them */
		for (unsigned i = 0; i < c->nr_aer; i++)
			sq->ops->req_drop(c->aer[i]);
		c->nr_aer = 0;
		/* the association ends with its admin queue */
		nvmf_ctrl_destroy(c);
		return;
	}
	if (sq->qid <= NVMF_MAX_IO_QUEUES && c->io[sq->qid] == sq)
		c->io[sq->qid] = NULL;
	if (c->dying && !ctrl_has_queues(c))
		nvmf_ctrl_free(c);
}

void nvmf_ctrl_destroy(struct nvmf_ctrl *c)
{
	if (!c->dying) {
		c->dying = true;
		/* the keep-alive timer lives on the admin queue's reactor: the
		 * callers (admin queue teardown, keep-alive expiry) run there */
		if (c->ka_timer.armed)
			reactor_timer_stop(&c->reactor->r, &c->ka_timer);
		for (unsigned i = 1; i <= NVMF_MAX_IO_QUEUES; i++)
			if (c->io[i])
				c->io[i]->ops->disconnect(c->io[i]);
		if (c->admin)
			c->admin->ops->disconnect(c->admin);
	}
	if (!ctrl_has_queues(c))
		nvmf_ctrl_free(c);
}

void nvmf_sq_fini(struct nvmf_sq *sq)
{
	nvmf_sq_buf_cancel(sq);
	free(sq->st);
	sq->st = NULL;
	free(sq->tls);
	sq->tls = NULL;
	free(sq->qos);
	sq->qos = NULL;
}
