/* SPDX-License-Identifier: MIT */
/*
 * Cross-reactor messages (target/reactors.c): the ring of nvmf_reactor_call
 * and the list of nvmf_reactor_post keep each sender's order and lose
 * nothing with several producer threads; a full ring refuses a call and
 * takes calls again once run; a sleeping reactor is woken by a message,
 * a polling one is not (no eventfd write).
 *
 * Waits are bounded waits on a condition (or on the reactor's own flag),
 * never sleeps.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common/log.h"
#include "common/reactor.h"
#include "target/target.h"

enum { NR_IDS = 8, WAIT_S = 30 };

/* What the receiving reactor saw; fn runs on its thread, the test reads
 * it under lock. A message's arg is (id << 24 | sequence number): ids
 * are a sender's calls or posts, each in its own order. */
struct seen {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned next[NR_IDS];          /* the sequence number expected next */
	unsigned total;
	unsigned out_of_order;          /* lost, duplicated or reordered */
};

static struct seen S = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };
static struct nvmf_tgt dummy_tgt;

static void seen_reset(void)
{
	pthread_mutex_lock(&S.lock);
	memset(S.next, 0, sizeof(S.next));
	S.total = S.out_of_order = 0;
	pthread_mutex_unlock(&S.lock);
}

static void *tag(unsigned id, unsigned seq)
{
	return (void *)(uintptr_t)((id << 24) | seq);
}

static void record(void *arg)
{
	unsigned v = (unsigned)(uintptr_t)arg, id = v >> 24, seq = v & 0xffffff;

	pthread_mutex_lock(&S.lock);
	if (id >= NR_IDS || seq != S.next[id])
		S.out_of_order++;
	else
		S.next[id]++;
	S.total++;
	pthread_cond_broadcast(&S.cond);
	pthread_mutex_unlock(&S.lock);
}

/* Wait (bounded) until the reactor ran `total` messages; returns how many */
static unsigned wait_total(unsigned total)
{
	struct timespec until;
	unsigned n;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += WAIT_S;
	pthread_mutex_lock(&S.lock);
	while (S.total < total && pthread_cond_timedwait(&S.cond, &S.lock, &until) != ETIMEDOUT)
		;
	n = S.total;
	pthread_mutex_unlock(&S.lock);
	return n;
}

static void reactor_up(struct nvmf_reactor *nr, unsigned idx)
{
	assert_int_equal(nvmf_reactor_init(nr, &dummy_tgt, idx), 0);
}

/* the receiving reactor on its own thread */
static void *run_reactor(void *arg)
{
	struct nvmf_reactor *nr = arg;

	nvmf_this_reactor = nr;
	reactor_run(&nr->r);
	return NULL;
}

static int setup(void **state)
{
	(void)state;
	log_set_level(LOG_LVL_ERR);
	seen_reset();
	return 0;
}

/* One sender (the test thread, no reactor) interleaves calls and posts
 * under several ids; the reactor, stepped here, runs every message once,
 * each id in sending order. */
static void test_order_per_sender(void **state)
{
	enum { N = 300 };
	static struct nvmf_msg posts[N * 2];
	struct nvmf_reactor rx;
	unsigned p = 0;

	(void)state;
	reactor_up(&rx, 1);
	for (unsigned i = 0; i < N; i++) {
		assert_int_equal(nvmf_reactor_call(&rx, record, tag(0, i)), 0);
		posts[p] = (struct nvmf_msg){ .fn = record, .arg = tag(1, i) };
		nvmf_reactor_post(&rx, &posts[p++]);
		assert_int_equal(nvmf_reactor_call(&rx, record, tag(2, i)), 0);
		posts[p] = (struct nvmf_msg){ .fn = record, .arg = tag(3, i) };
		nvmf_reactor_post(&rx, &posts[p++]);
		if (i % 97 == 0)        /* some taken midway */
			reactor_run_once(&rx.r, 0);
	}
	while (reactor_run_once(&rx.r, 0) > 0)
		;
	assert_int_equal(S.total, 4 * N);
	assert_int_equal(S.out_of_order, 0);
	for (unsigned id = 0; id < 4; id++)
		assert_int_equal(S.next[id], N);
	nvmf_reactor_fini(&rx);
}

/* A full ring refuses the call (-EAGAIN, counted), a post still gets
 * through, and once the reactor ran them the ring takes calls again: over
 * several laps, nothing lost and in order. */
static void test_ring_full(void **state)
{
	struct nvmf_reactor rx;
	struct nvmf_msg post = { .fn = record, .arg = tag(1, 0) };
	unsigned seq = 0;

	(void)state;
	reactor_up(&rx, 1);
	for (unsigned lap = 0; lap < 3; lap++) {
		for (unsigned i = 0; i < NVMF_MSG_RING; i++)
			assert_int_equal(nvmf_reactor_call(&rx, record, tag(0, seq++)), 0);
		assert_int_equal(nvmf_reactor_call(&rx, record, tag(0, seq)), -EAGAIN);
		assert_int_equal(rx.msg_ring_full, lap + 1);
		post.arg = tag(1, lap);
		nvmf_reactor_post(&rx, &post);
		assert_int_equal(S.total, lap * (NVMF_MSG_RING + 1));   /* nothing ran yet */
		while (reactor_run_once(&rx.r, 0) > 0)
			;
		assert_int_equal(S.total, (lap + 1) * (NVMF_MSG_RING + 1));
	}
	assert_int_equal(S.out_of_order, 0);
	assert_int_equal(S.next[0], 3 * NVMF_MSG_RING);
	assert_int_equal(S.next[1], 3);
	/* the test hook refuses like a full ring */
	nvmf_test_fail_reactor_calls = 1;
	assert_int_equal(nvmf_reactor_call(&rx, record, tag(0, seq)), -EAGAIN);
	assert_int_equal(nvmf_reactor_call(&rx, record, tag(0, seq)), 0);
	nvmf_reactor_fini(&rx);        /* runs what is still queued */
	assert_int_equal(S.next[0], 3 * NVMF_MSG_RING + 1);
	assert_int_equal(S.out_of_order, 0);
}

/* Producers: two reactor threads and one thread that is no reactor (as
 * the DH-HMAC-CHAP worker), each sending N calls and N posts to a fourth
 * reactor that runs, and sleeps when idle, on its own thread. */
enum { PROD = 3, PER = 20000 };

struct producer {
	pthread_t thread;
	struct nvmf_reactor *self;      /* NULL: not a reactor */
	struct nvmf_reactor *to;
	unsigned id;
	unsigned refused;               /* calls refused by a full ring (sent again) */
	struct nvmf_msg posts[PER];
};

static void *produce(void *arg)
{
	struct producer *p = arg;

	nvmf_this_reactor = p->self;
	for (unsigned i = 0; i < PER; i++) {
		while (nvmf_reactor_call(p->to, record, tag(p->id * 2, i)) == -EAGAIN) {
			p->refused++;
			sched_yield();
		}
		p->posts[i] = (struct nvmf_msg){ .fn = record, .arg = tag(p->id * 2 + 1, i) };
		nvmf_reactor_post(p->to, &p->posts[i]);
	}
	return NULL;
}

static void test_producer_threads(void **state)
{
	static struct producer prod[PROD];
	static struct nvmf_reactor rx, senders[2];
	pthread_t rx_thread;

	(void)state;
	reactor_up(&rx, 0);
	rx.r.idle_us = 0;               /* sleep as soon as idle: wake-ups are exercised */
	for (unsigned i = 0; i < 2; i++)
		reactor_up(&senders[i], i + 1);
	assert_int_equal(pthread_create(&rx_thread, NULL, run_reactor, &rx), 0);
	for (unsigned i = 0; i < PROD; i++) {
		prod[i].self = i < 2 ? &senders[i] : NULL;
		prod[i].to = &rx;
		prod[i].id = i;
		assert_int_equal(pthread_create(&prod[i].thread, NULL, produce, &prod[i]), 0);
	}
	for (unsigned i = 0; i < PROD; i++)
		pthread_join(prod[i].thread, NULL);
	assert_int_equal(wait_total(PROD * PER * 2), PROD * PER * 2);
	reactor_stop(&rx.r);
	pthread_join(rx_thread, NULL);
	pthread_mutex_lock(&S.lock);
	assert_int_equal(S.out_of_order, 0);
	for (unsigned id = 0; id < PROD * 2; id++)
		assert_int_equal(S.next[id], PER);
	pthread_mutex_unlock(&S.lock);
	print_message("eventfd writes: %llu for %u messages; calls refused by a full ring: %u %u %u\n",
		      (unsigned long long)rx.msg_wakeups, PROD * PER * 2, prod[0].refused, prod[1].refused,
		      prod[2].refused);
	for (unsigned i = 0; i < 2; i++)
		nvmf_reactor_fini(&senders[i]);
	nvmf_reactor_fini(&rx);
	assert_int_equal(S.total, PROD * PER * 2);      /* fini found nothing left */
}

/* Wait (bounded) until the reactor thread announced it sleeps */
static bool wait_asleep(struct nvmf_reactor *nr)
{
	uint64_t t0 = reactor_now_ns();

	while (!reactor_asleep(&nr->r)) {
		if (reactor_now_ns() - t0 > (uint64_t)WAIT_S * 1000000000u)
			return false;
		sched_yield();
	}
	return true;
}

/* A reactor asleep in epoll_wait runs a call, and a post, sent while it
 * sleeps: one eventfd write each. */
static void test_sleeping_reactor_woken(void **state)
{
	static struct nvmf_reactor rx;
	struct nvmf_msg post = { .fn = record, .arg = tag(1, 0) };
	pthread_t rx_thread;

	(void)state;
	reactor_up(&rx, 0);
	rx.r.idle_us = 0;
	assert_int_equal(pthread_create(&rx_thread, NULL, run_reactor, &rx), 0);
	assert_true(wait_asleep(&rx));
	assert_int_equal(nvmf_reactor_call(&rx, record, tag(0, 0)), 0);
	assert_int_equal(wait_total(1), 1);
	assert_int_equal(__atomic_load_n(&rx.msg_wakeups, __ATOMIC_RELAXED), 1);
	assert_true(wait_asleep(&rx));
	nvmf_reactor_post(&rx, &post);
	assert_int_equal(wait_total(2), 2);
	assert_int_equal(__atomic_load_n(&rx.msg_wakeups, __ATOMIC_RELAXED), 2);
	reactor_stop(&rx.r);
	pthread_join(rx_thread, NULL);
	assert_int_equal(S.out_of_order, 0);
	nvmf_reactor_fini(&rx);
}

static int always_busy(void *arg)
{
	(void)arg;
	return 1;
}

/* A reactor that polls (a poller always has work) never announces sleep:
 * thousands of messages reach it without a single eventfd write. */
static void test_polling_reactor_no_eventfd(void **state)
{
	enum { N = 5000 };
	static struct nvmf_reactor rx;
	static struct nvmf_msg posts[N];
	struct reactor_poller busy = { .cb = always_busy };
	pthread_t rx_thread;

	(void)state;
	reactor_up(&rx, 0);
	reactor_add_poller(&rx.r, &busy);
	assert_int_equal(pthread_create(&rx_thread, NULL, run_reactor, &rx), 0);
	for (unsigned i = 0; i < N; i++) {
		while (nvmf_reactor_call(&rx, record, tag(0, i)) == -EAGAIN)
			sched_yield();
		posts[i] = (struct nvmf_msg){ .fn = record, .arg = tag(1, i) };
		nvmf_reactor_post(&rx, &posts[i]);
	}
	assert_int_equal(wait_total(2 * N), 2 * N);
	assert_int_equal(__atomic_load_n(&rx.msg_wakeups, __ATOMIC_RELAXED), 0);
	reactor_stop(&rx.r);
	pthread_join(rx_thread, NULL);
	assert_int_equal(rx.r.sleeps, 0);
	assert_int_equal(S.out_of_order, 0);
	reactor_del_poller(&rx.r, &busy);
	nvmf_reactor_fini(&rx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_order_per_sender, setup),
		cmocka_unit_test_setup(test_ring_full, setup),
		cmocka_unit_test_setup(test_producer_threads, setup),
		cmocka_unit_test_setup(test_sleeping_reactor_woken, setup),
		cmocka_unit_test_setup(test_polling_reactor_no_eventfd, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
