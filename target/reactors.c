/* SPDX-License-Identifier: MIT */
/*
 * Reactor threads: start, cross-reactor messages, coordinated PCIe
 * controller resets, and the drain at shutdown.
 */
#define LOG_TAG "reactor"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "pcie/pcie.h"
#include "target/target.h"
#include "transport/transport.h"

__thread struct nvmf_reactor *nvmf_this_reactor;

static void msgs_run(void *arg, uint32_t events)
{
	struct nvmf_reactor *nr = arg;
	struct nvmf_msg *m;
	uint64_t v;

	(void)events;
	if (read(nr->msg_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("reactor %u: message eventfd: %s", nr->idx, strerror(errno));
	pthread_mutex_lock(&nr->msg_lock);
	m = nr->msg_head;
	nr->msg_head = nr->msg_tail = NULL;
	pthread_mutex_unlock(&nr->msg_lock);
	while (m) {
		struct nvmf_msg *next = m->next;
		bool heap = m->heap;

		/* a caller-owned message may be reused by fn: read it first */
		m->fn(m->arg);
		if (heap)
			free(m);
		m = next;
	}
}

void nvmf_reactor_post(struct nvmf_reactor *to, struct nvmf_msg *m)
{
	uint64_t one = 1;

	m->next = NULL;
	pthread_mutex_lock(&to->msg_lock);
	if (to->msg_tail)
		to->msg_tail->next = m;
	else
		to->msg_head = m;
	to->msg_tail = m;
	pthread_mutex_unlock(&to->msg_lock);
	/* an eventfd write fails only when the counter would overflow, and
	 * then the reactor is already due to wake: the message is queued */
	if (write(to->msg_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("reactor %u: message eventfd: %s", to->idx, strerror(errno));
}

unsigned nvmf_test_fail_reactor_calls;

int nvmf_reactor_call(struct nvmf_reactor *to, void (*fn)(void *arg), void *arg)
{
	struct nvmf_msg *m;

	if (__atomic_load_n(&nvmf_test_fail_reactor_calls, __ATOMIC_RELAXED) &&
	    __atomic_sub_fetch(&nvmf_test_fail_reactor_calls, 1, __ATOMIC_RELAXED) + 1)
		return -ENOMEM;
	m = malloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	*m = (struct nvmf_msg){ .fn = fn, .arg = arg, .heap = true };
	nvmf_reactor_post(to, m);
	return 0;
}

int nvmf_reactor_init(struct nvmf_reactor *nr, struct nvmf_tgt *t, unsigned idx);
void nvmf_reactor_fini(struct nvmf_reactor *nr);

int nvmf_reactor_init(struct nvmf_reactor *nr, struct nvmf_tgt *t, unsigned idx)
{
	int rc;

	memset(nr, 0, sizeof(*nr));
	nr->idx = idx;
	nr->tgt = t;
	nr->msg_fd = -1;
	pthread_mutex_init(&nr->msg_lock, NULL);
	rc = reactor_init(&nr->r);
	if (rc)
		return rc;
	nr->msg_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (nr->msg_fd < 0) {
		rc = -errno;
		goto fini_reactor;
	}
	nr->msg_rfd = (struct reactor_fd){ .fd = nr->msg_fd, .events = EPOLLIN, .cb = msgs_run, .arg = nr };
	rc = reactor_add_fd(&nr->r, &nr->msg_rfd);
	if (rc)
		goto close_fd;
	return 0;

close_fd:
	close(nr->msg_fd);
	nr->msg_fd = -1;
fini_reactor:
	reactor_fini(&nr->r);
	return rc;
}

void nvmf_reactor_fini(struct nvmf_reactor *nr)
{
	/* messages nobody will run any more */
	msgs_run(nr, 0);
	if (nr->msg_fd >= 0)
		close(nr->msg_fd);
	nr->msg_fd = -1;
	reactor_fini(&nr->r);
	pthread_mutex_destroy(&nr->msg_lock);
}

/* --- coordinated reset of a PCIe controller ------------------------------ */

/* One message to each reactor and one back from each: allocated with the
 * reset, so no step can be lost to a failed allocation (a lost step would
 * leave resets_pending non-zero and block every later reset). */
struct reset_step {
	struct reset_ctx *rc;
	struct nvmf_msg to, back;
};

struct reset_ctx {
	struct nvmf_tgt *t;
	struct pcie_ctrl *pc;
	struct reset_step steps[];
};

static void reset_finish(void *arg)
{
	struct reset_ctx *rc = arg;

	/* on reactor 0, once every reactor aborted its own queue */
	if (--rc->t->resets_pending)
		return;
	pthread_mutex_lock(&rc->t->lock);
	if (rc->pc->state == PCIE_CTRL_RESETTING)
		pcie_ctrl_reset_enable(rc->pc);
	pthread_mutex_unlock(&rc->t->lock);
	free(rc);
}

static void reset_abort_own(void *arg)
{
	struct reset_step *st = arg;

	nvmf_pcie_abort_own_queue(st->rc->pc);
	st->back = (struct nvmf_msg){ .fn = reset_finish, .arg = st->rc };
	nvmf_reactor_post(&st->rc->t->reactors[0], &st->back);
}

/* On reactor 0: disable, let each reactor complete its own commands with
 * an abort status (their callbacks must run on their own thread), then
 * re-enable. Commands submitted meanwhile wait in the backend. */
void nvmf_tgt_reset_pcie(struct nvmf_tgt *t, struct pcie_ctrl *pc)
{
	struct reset_ctx *rc = malloc(sizeof(*rc) + t->nr_reactors * sizeof(rc->steps[0]));
	int err;

	if (!rc || t->resets_pending) {
		free(rc);
		return;
	}
	pthread_mutex_lock(&t->lock);
	err = pcie_ctrl_reset_disable(pc);
	pcie_queue_abort_all(&pc->admin, PCIE_STATUS_ABORTED);
	pthread_mutex_unlock(&t->lock);
	if (err && pc->state != PCIE_CTRL_RESETTING) {
		free(rc);
		return;
	}
	if (err) {
		/* cannot disable: fail it, but still complete what is in flight */
		pc->state = PCIE_CTRL_FAILED;
	}
	rc->t = t;
	rc->pc = pc;
	t->resets_pending = t->nr_reactors;
	for (unsigned i = 0; i < t->nr_reactors; i++) {
		struct reset_step *st = &rc->steps[i];

		st->rc = rc;
		st->to = (struct nvmf_msg){ .fn = reset_abort_own, .arg = st };
		nvmf_reactor_post(&t->reactors[i], &st->to);
	}
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
	for (unsigned i = 1; i < t->nr_reactors; i++)
		if (t->reactors[i].thread_started)
			nvmf_reactor_call(&t->reactors[i], drain_start, &t->reactors[i]);
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
