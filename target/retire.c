/* SPDX-License-Identifier: MIT */
/*
 * Retirement: reactors read namespace tables with no lock, so a replaced
 * table or a removed namespace is not freed at once. It is freed only
 * after every reactor processed an epoch message sent after the swap (so
 * none is still inside a lookup) and, for a namespace, once no command of
 * any reactor is still in its backend.
 */
#define LOG_TAG "reconfig"
#include <stdint.h>
#include <stdlib.h>

#include "common/log.h"
#include "target/target.h"

/* On reactor nr, outside any lookup: every epoch published so far is seen.
 * One such message per reactor at most: the flag is cleared before the
 * epoch is read (both sequentially consistent), so a retire either
 * published its epoch before that read, or finds the flag clear and posts
 * the message again. */
static void epoch_ack(void *arg)
{
	struct nvmf_reactor *nr = arg;
	uint64_t e;

	__atomic_store_n(&nr->epoch_msg_queued, false, __ATOMIC_SEQ_CST);
	e = __atomic_load_n(&nr->tgt->epoch, __ATOMIC_SEQ_CST);
	if (e > nr->seen_epoch)
		__atomic_store_n(&nr->seen_epoch, e, __ATOMIC_RELEASE);
}

static bool ns_idle(const struct nvmf_tgt *t, const struct nvmf_ns *ns)
{
	struct nvmf_ns_counts n;

	nvmf_ns_stats_sum(ns, t->nr_reactors, &n);
	return n.inflight == 0;
}

void nvmf_tgt_reclaim(struct nvmf_tgt *t, bool all)
{
	uint64_t min_seen = UINT64_MAX;

	for (unsigned i = 0; i < t->nr_reactors; i++) {
		uint64_t e = __atomic_load_n(&t->reactors[i].seen_epoch, __ATOMIC_ACQUIRE);

		if (e < min_seen)
			min_seen = e;
	}
	for (struct nvmf_retired **pp = &t->retired; *pp;) {
		struct nvmf_retired *r = *pp;

		if (!all && (r->epoch > min_seen || (r->is_ns && !ns_idle(t, r->ptr)))) {
			pp = &r->next;
			continue;
		}
		*pp = r->next;
		if (r->is_ns) {
			log_info("namespace %u of %s closed", ((struct nvmf_ns *)r->ptr)->nsid,
				 ((struct nvmf_ns *)r->ptr)->subsys->nqn);
			nvmf_ns_free(r->ptr);
		} else {
			free(r->ptr);
		}
		free(r);
	}
}

static void reclaim_tick(void *arg)
{
	struct nvmf_tgt *t = arg;

	nvmf_tgt_reclaim(t, false);
	if (!t->retired)
		reactor_timer_stop(&t->reactors[0].r, &t->reclaim_timer);
}

void nvmf_tgt_retire(struct nvmf_tgt *t, void *ptr, bool is_ns)
{
	struct nvmf_retired *r = calloc(1, sizeof(*r));
	/* after the swap that retires ptr: a reactor that reads this epoch
	 * sees the swap */
	uint64_t e = __atomic_add_fetch(&t->epoch, 1, __ATOMIC_SEQ_CST);

	if (is_ns)
		((struct nvmf_ns *)ptr)->cfg = NULL;
	if (!r) {
		/* better to keep it than to free it under a reader */
		log_err("out of memory: a retired object is leaked");
		return;
	}
	*r = (struct nvmf_retired){ .ptr = ptr, .is_ns = is_ns, .epoch = e, .next = t->retired };
	t->retired = r;
	for (unsigned i = 0; i < t->nr_reactors; i++) {
		struct nvmf_reactor *nr = &t->reactors[i];

		if (__atomic_exchange_n(&nr->epoch_msg_queued, true, __ATOMIC_SEQ_CST))
			continue;       /* the one queued will read e */
		nr->epoch_msg = (struct nvmf_msg){ .fn = epoch_ack, .arg = nr };
		nvmf_reactor_post(nr, &nr->epoch_msg);
	}
	if (!t->reclaim_timer.armed)
		reactor_timer_start(&t->reactors[0].r, &t->reclaim_timer, 50, 50, reclaim_tick, t);
}
