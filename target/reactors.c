/* SPDX-License-Identifier: MIT */
/*
 * Reactor threads: start, cross-reactor messages, coordinated PCIe
 * controller resets, and the drain at shutdown.
 */
#define LOG_TAG "reactor"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "pcie/pcie.h"
#include "target/target.h"
#include "transport/transport.h"

__thread struct nvmf_reactor *nvmf_this_reactor;

/*
 * Cross-reactor messages (see target.h). The ring is D. Vyukov's bounded
 * queue, with one consumer: slot i starts with seq = i. A producer claims
 * ticket t when slot t % N has seq == t (free in this lap), by a CAS of
 * ring_tail from t to t + 1; it fills fn and arg and releases seq = t + 1.
 * The reactor runs ticket h when slot h % N has seq == h + 1 (acquire),
 * copies fn and arg out and releases seq = h + N, which frees the slot for
 * ticket h + N. A slot whose seq is behind the ticket still holds the
 * previous lap's message: the ring is full.
 */
static int ring_push(struct nvmf_reactor *to, void (*fn)(void *arg), void *arg)
{
	uint64_t pos = __atomic_load_n(&to->ring_tail, __ATOMIC_RELAXED);

	for (;;) {
		struct nvmf_msg_slot *s = &to->ring[pos & (NVMF_MSG_RING - 1)];
		/* acquire: the reactor is done reading what the slot held */
		int64_t d = (int64_t)(__atomic_load_n(&s->seq, __ATOMIC_ACQUIRE) - pos);

		if (d < 0)
			return -EAGAIN;
		if (d > 0) {
			/* another producer took ticket pos: try the newest */
			pos = __atomic_load_n(&to->ring_tail, __ATOMIC_RELAXED);
			continue;
		}
		/* a failed CAS loads the current tail into pos */
		if (__atomic_compare_exchange_n(&to->ring_tail, &pos, pos + 1, true, __ATOMIC_RELAXED,
						__ATOMIC_RELAXED)) {
			s->fn = fn;
			s->arg = arg;
			__atomic_store_n(&s->seq, pos + 1, __ATOMIC_RELEASE);
			return 0;
		}
	}
}

/* Work queued for the reactor? Its own thread only. */
static int msgs_pending(void *arg)
{
	struct nvmf_reactor *nr = arg;
	const struct nvmf_msg_slot *s = &nr->ring[nr->ring_head & (NVMF_MSG_RING - 1)];

	return __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE) == nr->ring_head + 1 ||
	       __atomic_load_n(&nr->posted, __ATOMIC_RELAXED) != NULL;
}

/* After a message was queued: wake the reactor if it may be asleep. The
 * fence pairs with the one the reactor issues after setting its sleeping
 * flag (common/reactor.c sleep_begin): one of the two comes first, so
 * either the reactor's last check finds the message or this load finds
 * the flag set. While it polls, nothing is written. */
static void wake_if_asleep(struct nvmf_reactor *to)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!reactor_asleep(&to->r))
		return;
	__atomic_add_fetch(&to->msg_wakeups, 1, __ATOMIC_RELAXED);
	reactor_wake(&to->r);
}

/* The reactor's poller: the calls claimed so far (at most one lap: a
 * call that queues another one is run on the next turn), then every
 * posted message, oldest first. */
static int msgs_run(void *arg)
{
	struct nvmf_reactor *nr = arg;
	struct nvmf_msg *m, *fifo = NULL;
	int n = 0;

	for (; n < NVMF_MSG_RING; n++) {
		struct nvmf_msg_slot *s = &nr->ring[nr->ring_head & (NVMF_MSG_RING - 1)];
		void (*fn)(void *arg);
		void *fn_arg;

		if (__atomic_load_n(&s->seq, __ATOMIC_ACQUIRE) != nr->ring_head + 1)
			break;  /* empty, or its producer has not filled it yet (it will wake us) */
		fn = s->fn;
		fn_arg = s->arg;
		/* release: a producer reusing the slot sees fn and arg read */
		__atomic_store_n(&s->seq, nr->ring_head + NVMF_MSG_RING, __ATOMIC_RELEASE);
		nr->ring_head++;
		fn(fn_arg);
	}
	/* acquire: the messages' contents, written before they were pushed */
	m = __atomic_exchange_n(&nr->posted, NULL, __ATOMIC_ACQUIRE);
	while (m) {
		struct nvmf_msg *next = m->next;

		m->next = fifo;
		fifo = m;
		m = next;
	}
	while (fifo) {
		m = fifo;
		fifo = m->next;
		/* m is the caller's again as soon as fn runs: read it first */
		m->fn(m->arg);
		n++;
	}
	return n;
}

void nvmf_reactor_post(struct nvmf_reactor *to, struct nvmf_msg *m)
{
	struct nvmf_msg *head = __atomic_load_n(&to->posted, __ATOMIC_RELAXED);

	/* Push only: the reactor takes the whole list at once, so a node
	 * taken and pushed again meanwhile (ABA) leaves m->next right. */
	do {
		m->next = head;
	} while (!__atomic_compare_exchange_n(&to->posted, &head, m, true, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
	wake_if_asleep(to);
}

unsigned nvmf_test_fail_reactor_calls;

int nvmf_reactor_call(struct nvmf_reactor *to, void (*fn)(void *arg), void *arg)
{
	uint64_t full;
	int rc = -EAGAIN;

	if (!__atomic_load_n(&nvmf_test_fail_reactor_calls, __ATOMIC_RELAXED) ||
	    !(__atomic_sub_fetch(&nvmf_test_fail_reactor_calls, 1, __ATOMIC_RELAXED) + 1))
		rc = ring_push(to, fn, arg);
	if (!rc) {
		wake_if_asleep(to);
		return 0;
	}
	full = __atomic_add_fetch(&to->msg_ring_full, 1, __ATOMIC_RELAXED);
	/* the caller handles it; say so once per 1024 */
	if (full % 1024 == 1)
		log_warn("reactor %u: message ring full (%u calls not run yet): a call was refused (%llu so far)",
			 to->idx, NVMF_MSG_RING, (unsigned long long)full);
	return rc;
}

int nvmf_reactor_init(struct nvmf_reactor *nr, struct nvmf_tgt *t, unsigned idx)
{
	int rc;

	memset(nr, 0, sizeof(*nr));
	nr->idx = idx;
	nr->tgt = t;
	nr->ring = malloc(NVMF_MSG_RING * sizeof(nr->ring[0]));
	if (!nr->ring)
		return -ENOMEM;
	for (unsigned i = 0; i < NVMF_MSG_RING; i++)
		nr->ring[i] = (struct nvmf_msg_slot){ .seq = i };
	rc = reactor_init(&nr->r);
	if (rc) {
		free(nr->ring);
		nr->ring = NULL;
		return rc;
	}
	nr->msg_poller = (struct reactor_poller){ .cb = msgs_run, .arg = nr };
	reactor_add_poller(&nr->r, &nr->msg_poller);
	reactor_set_sleep_check(&nr->r, msgs_pending, nr);
	return 0;
}

void nvmf_reactor_run_msgs(struct nvmf_reactor *nr)
{
	struct nvmf_reactor *was = nvmf_this_reactor;

	if (!nr->ring)
		return;
	nvmf_this_reactor = nr;
	while (msgs_pending(nr))
		msgs_run(nr);
	nvmf_this_reactor = was;
}

void nvmf_reactor_fini(struct nvmf_reactor *nr)
{
	if (!nr->ring)
		return;
	nvmf_reactor_run_msgs(nr);      /* what is left (none, normally) */
	reactor_fini(&nr->r);
	free(nr->ring);
	nr->ring = NULL;
}

/* --- coordinated reset of a PCIe controller ------------------------------ */

/* One message to each reactor and one back from each, all kept in the
 * reactors: no step can be lost (a lost step would leave resets_pending
 * non-zero and block every later reset), and nothing is allocated. One
 * reset runs at a time, so each message is free again when the next
 * reset posts it. */
static void reset_finish(void *arg)
{
	struct nvmf_reactor *nr = arg;
	struct nvmf_tgt *t = nr->tgt;
	struct pcie_ctrl *pc = nr->reset_pc;

	/* on reactor 0, once every reactor aborted its own queue */
	if (--t->resets_pending)
		return;
	pthread_mutex_lock(&t->lock);
	if (pc->state == PCIE_CTRL_RESETTING)
		pcie_ctrl_reset_enable(pc);
	pthread_mutex_unlock(&t->lock);
}

static void reset_abort_own(void *arg)
{
	struct nvmf_reactor *nr = arg;

	nvmf_pcie_abort_own_queue(nr->reset_pc);
	nr->reset_done_msg = (struct nvmf_msg){ .fn = reset_finish, .arg = nr };
	nvmf_reactor_post(&nr->tgt->reactors[0], &nr->reset_done_msg);
}

/* On reactor 0: disable, let each reactor complete its own commands with
 * an abort status (their callbacks must run on their own thread), then
 * re-enable. Commands submitted meanwhile wait in the backend. */
int nvmf_tgt_reset_pcie(struct nvmf_tgt *t, struct pcie_ctrl *pc)
{
	int err;

	if (t->resets_pending)
		return -EBUSY;
	pthread_mutex_lock(&t->lock);
	err = pcie_ctrl_reset_disable(pc);
	pcie_queue_abort_all(&pc->admin, PCIE_STATUS_ABORTED);
	pthread_mutex_unlock(&t->lock);
	if (err && pc->state != PCIE_CTRL_RESETTING)
		return -ENODEV;
	if (err) {
		/* cannot disable: fail it, but still complete what is in flight */
		pc->state = PCIE_CTRL_FAILED;
	}
	t->resets_pending = t->nr_reactors;
	for (unsigned i = 0; i < t->nr_reactors; i++) {
		struct nvmf_reactor *nr = &t->reactors[i];

		nr->reset_pc = pc;
		nr->reset_msg = (struct nvmf_msg){ .fn = reset_abort_own, .arg = nr };
		nvmf_reactor_post(nr, &nr->reset_msg);
	}
	return 0;
}

/* --- run and stop ------------------------------------------------------------- */

static void *reactor_thread(void *arg)
{
	struct nvmf_reactor *nr = arg;

	nvmf_this_reactor = nr;
	reactor_run(&nr->r);
	return NULL;
}

static void drain_poll_stop(void *arg);

/* Close every connection of this reactor; stop once they are all gone. */
static void drain_start(void *arg)
{
	struct nvmf_reactor *nr = arg;

	nvmf_transports_drain(nr);
	drain_poll_stop(nr);
}

static void drain_poll_stop(void *arg)
{
	struct nvmf_reactor *nr = arg;
	static __thread struct reactor_timer t;
	static __thread unsigned waited_ms;

	if (nvmf_transports_idle(nr) || waited_ms >= 5000) {
		if (waited_ms >= 5000)
			log_warn("reactor %u: commands still in flight after 5 s", nr->idx);
		reactor_stop(&nr->r);
		return;
	}
	waited_ms += 10;
	reactor_timer_start(&nr->r, &t, 10, 0, drain_poll_stop, nr);
}

int nvmf_tgt_run(struct nvmf_tgt *t)
{
	int rc = 0;

	nvmf_this_reactor = &t->reactors[0];
	for (unsigned i = 1; i < t->nr_reactors; i++) {
		if (pthread_create(&t->reactors[i].thread, NULL, reactor_thread, &t->reactors[i])) {
			log_err("cannot start reactor %u", i);
			rc = -EAGAIN;
			break;
		}
		t->reactors[i].thread_started = true;
	}
	if (!rc)
		rc = reactor_run(&t->reactors[0].r);
	/* drain: every reactor closes its connections and stops */
	for (unsigned i = 1; i < t->nr_reactors; i++) {
		struct nvmf_reactor *nr = &t->reactors[i];

		if (!nr->thread_started)
			continue;
		nr->drain_msg = (struct nvmf_msg){ .fn = drain_start, .arg = nr };
		nvmf_reactor_post(nr, &nr->drain_msg);
	}
	t->reactors[0].r.stop = false;
	nvmf_transports_drain(&t->reactors[0]);
	drain_poll_stop(&t->reactors[0]);
	reactor_run(&t->reactors[0].r);
	for (unsigned i = 1; i < t->nr_reactors; i++) {
		if (t->reactors[i].thread_started)
			pthread_join(t->reactors[i].thread, NULL);
		t->reactors[i].thread_started = false;
	}
	return rc;
}

void nvmf_tgt_stop(struct nvmf_tgt *t)
{
	t->stopping = true;
	reactor_stop(&t->reactors[0].r);
}
