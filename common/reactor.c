/* SPDX-License-Identifier: MIT */
#define LOG_TAG "reactor"
#include "common/reactor.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

#define MAX_EVENTS 64

__thread uint64_t reactor_turn_ns;
__thread bool reactor_turn_lazy;
__thread uint64_t reactor_clock_reads;
__thread uint64_t reactor_cmds;

uint64_t reactor_now_ns(void)
{
	struct timespec ts;

	reactor_clock_reads++;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* reactor_clock_ns without a turn's time: in a turn that has not read the
 * clock yet, this reading becomes the turn's */
uint64_t reactor_clock_read(void)
{
	uint64_t now = reactor_now_ns();

	if (reactor_turn_lazy)
		reactor_turn_ns = now;
	return now;
}

static void wake_drain(void *arg, uint32_t events)
{
	struct reactor *r = arg;
	uint64_t v;

	(void)events;
	if (read(r->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("wake eventfd read: %s", strerror(errno));
}

int reactor_init(struct reactor *r)
{
	int rc;

	memset(r, 0, sizeof(*r));
	r->idle_us = 200;
	r->nap.nap_ns = REACTOR_NAP_NS;
	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (r->epfd < 0)
		return -errno;
	r->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (r->wake_fd < 0) {
		rc = -errno;
		goto close_ep;
	}
	r->wake = (struct reactor_fd){ .fd = r->wake_fd, .events = EPOLLIN, .cb = wake_drain, .arg = r };
	rc = reactor_add_fd(r, &r->wake);
	if (rc)
		goto close_wake;
	return 0;

close_wake:
	close(r->wake_fd);
close_ep:
	close(r->epfd);
	return rc;
}

void reactor_fini(struct reactor *r)
{
	if (r->wake_fd >= 0)
		close(r->wake_fd);
	if (r->epfd >= 0)
		close(r->epfd);
	r->wake_fd = r->epfd = -1;
}

int reactor_add_fd(struct reactor *r, struct reactor_fd *f)
{
	struct epoll_event ev = { .events = f->events, .data.ptr = f };

	return epoll_ctl(r->epfd, EPOLL_CTL_ADD, f->fd, &ev) ? -errno : 0;
}

int reactor_mod_fd(struct reactor *r, struct reactor_fd *f, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = f };

	if (f->events == events)
		return 0;
	f->events = events;
	return epoll_ctl(r->epfd, EPOLL_CTL_MOD, f->fd, &ev) ? -errno : 0;
}

void reactor_del_fd(struct reactor *r, struct reactor_fd *f)
{
	epoll_ctl(r->epfd, EPOLL_CTL_DEL, f->fd, NULL);
}

void reactor_add_poller(struct reactor *r, struct reactor_poller *p)
{
	struct reactor_poller **pp = &r->pollers;

	while (*pp && (*pp)->phase <= p->phase)
		pp = &(*pp)->next;
	p->next = *pp;
	*pp = p;
}

void reactor_del_poller(struct reactor *r, struct reactor_poller *p)
{
	for (struct reactor_poller **pp = &r->pollers; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			return;
		}
	}
}

static void timer_insert(struct reactor *r, struct reactor_timer *t)
{
	struct reactor_timer **pp = &r->timers;

	while (*pp && (*pp)->deadline_ns <= t->deadline_ns)
		pp = &(*pp)->next;
	t->next = *pp;
	*pp = t;
	t->armed = true;
}

void reactor_timer_stop(struct reactor *r, struct reactor_timer *t)
{
	if (!t->armed)
		return;
	for (struct reactor_timer **pp = &r->timers; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	t->armed = false;
}

void reactor_timer_start(struct reactor *r, struct reactor_timer *t, uint64_t delay_ms,
			 uint64_t period_ms, reactor_timer_cb cb, void *arg)
{
	reactor_timer_stop(r, t);
	t->deadline_ns = reactor_now_ns() + delay_ms * 1000000u;
	t->period_ns = period_ms * 1000000u;
	t->cb = cb;
	t->arg = arg;
	timer_insert(r, t);
}

static int run_timers(struct reactor *r, uint64_t now)
{
	int n = 0;

	while (r->timers && r->timers->deadline_ns <= now) {
		struct reactor_timer *t = r->timers;

		r->timers = t->next;
		t->armed = false;
		if (t->period_ns) {
			t->deadline_ns += t->period_ns;
			if (t->deadline_ns < now)
				t->deadline_ns = now + t->period_ns;
			timer_insert(r, t);
		}
		/* the callback may stop, restart or free its own timer */
		t->cb(t->arg);
		n++;
	}
	return n;
}

static int run_pollers(struct reactor *r)
{
	struct reactor_poller *p = r->pollers, *next;
	int work = 0;

	for (; p; p = next) {
		next = p->next;         /* a poller may remove itself */
		work += p->cb(p->arg);
	}
	return work;
}

/* After it, reactor_turn_ns is the time epoll_wait returned when it
 * brought events or could sleep (a sleeping turn: the sleep is idle, the
 * events after it are work, and their commands are stamped with the time
 * they were seen). */
static int dispatch(struct reactor *r, int timeout_ms)
{
	struct epoll_event evs[MAX_EVENTS];
	int n = epoll_wait(r->epfd, evs, MAX_EVENTS, timeout_ms);

	if (n > 0 || timeout_ms)
		reactor_turn_ns = reactor_now_ns();
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		struct reactor_fd *f = evs[i].data.ptr;

		f->cb(f->arg, evs[i].events);
	}
	return n;
}

void reactor_set_sleep_check(struct reactor *r, reactor_sleep_check_cb check, void *arg)
{
	r->sleep_check = check;
	r->sleep_check_arg = arg;
}

/* About to block in epoll_wait: announce it, then look for work queued
 * before the announcement was visible. false: work is pending, do not
 * sleep. The fence pairs with the producers' (see reactor.h). */
static bool sleep_begin(struct reactor *r)
{
	__atomic_store_n(&r->sleeping, true, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (r->sleep_check && r->sleep_check(r->sleep_check_arg)) {
		__atomic_store_n(&r->sleeping, false, __ATOMIC_RELAXED);
		return false;
	}
	return true;
}

static void sleep_end(struct reactor *r)
{
	if (r->sleeping)
		__atomic_store_n(&r->sleeping, false, __ATOMIC_RELAXED);
}

static void account(struct reactor *r, bool busy, uint64_t ns)
{
	uint64_t *c = busy ? &r->busy_ns : &r->idle_ns;

	__atomic_store_n(c, *c + ns, __ATOMIC_RELAXED);
}

void reactor_nap_window(struct reactor_nap *p, uint64_t now)
{
	uint64_t el = now - p->win_start_ns, cmds = reactor_cmds - p->win_cmds, rate;

	if (el < REACTOR_NAP_WINDOW_NS)
		return;
	rate = cmds * 1000000000u / el;
	p->win_start_ns = now;
	p->win_cmds = reactor_cmds;
	if (cmds < REACTOR_NAP_WINDOW_MIN_CMDS) {
		/* too little load to measure: spin, as without naps */
		p->on = false;
		p->wait = 0;
		return;
	}
	if (!p->on) {
		p->ref_rate = rate;
		if (p->wait) {
			p->wait--;
			return;
		}
		p->on = true;
		p->nap_windows = 0;
		return;
	}
	if (rate * 100u < p->ref_rate * REACTOR_NAP_GAIN_PCT) {
		/* the naps gained nothing: none for a while, longer each time */
		p->on = false;
		p->backoff = p->backoff ? p->backoff * 2 : 1;
		if (p->backoff > REACTOR_NAP_BACKOFF_MAX)
			p->backoff = REACTOR_NAP_BACKOFF_MAX;
		p->wait = p->backoff;
		return;
	}
	p->backoff = 0;
	if (++p->nap_windows >= REACTOR_NAP_REF_EVERY) {
		p->on = false;  /* one window without, for a fresh reference */
		p->wait = 0;
	}
}

/* The first turn that found nothing after a burst: nap while the probe says
 * naps raise the rate. */
static void nap_after_burst(struct reactor *r)
{
	struct reactor_nap *p = &r->nap;
	struct timespec ts = { 0, p->nap_ns };

	if (p->on && reactor_cmds - p->burst_cmds >= REACTOR_NAP_BURST_CMDS) {
		nanosleep(&ts, NULL);
		__atomic_store_n(&p->naps, p->naps + 1, __ATOMIC_RELAXED);
	}
	p->burst_cmds = reactor_cmds;
}

int reactor_run(struct reactor *r)
{
	uint64_t last_work = reactor_now_ns();
	uint64_t mark = last_work;      /* time accounted up to here */
	bool busy = false;              /* what the time since mark was */
	unsigned empty = 0;             /* turns in a row that found nothing */

	if (r->nap.nap_ns) {
		/* a nap asks for microseconds: the default timer slack is 50 */
		prctl(PR_SET_TIMERSLACK, 1000UL);
		r->nap.win_start_ns = last_work;
		r->nap.win_cmds = r->nap.burst_cmds = reactor_cmds;
	}

	while (!r->stop) {
		uint64_t now = 0;
		int work = 0, timeout = 0, n;
		/* Spinning through turns that find nothing, the reactor reads
		 * the clock (for its timers and for when to sleep) only every
		 * REACTOR_CLOCK_EVERY turns: where the clock is a system call
		 * and an emulated timer (a VM), a spin of clock readings costs
		 * more than the polls it waits for. */
		bool lazy = empty % REACTOR_CLOCK_EVERY != 0;

		if (lazy) {
			reactor_turn_ns = 0;
			reactor_turn_lazy = true;
		} else {
			now = reactor_turn_ns = reactor_now_ns();
			account(r, busy, now - mark);
			mark = now;
			work = run_timers(r, now);
			if (r->nap.nap_ns)
				reactor_nap_window(&r->nap, now);
		}
		work += run_pollers(r);
		if (lazy) {
			if (work) {
				/* the spin ended here: idle up to the time the
				 * turn's work took (or takes now) */
				now = reactor_clock_ns();
				account(r, false, now - mark);
				mark = now;
			}
			reactor_turn_lazy = false;
		}

		if (work)
			last_work = now;
		else if (!lazy && now - last_work >= (uint64_t)r->idle_us * 1000u && sleep_begin(r)) {
			/* idle: sleep until an fd is ready or the next timer */
			timeout = -1;
			if (r->timers) {
				uint64_t d = r->timers->deadline_ns;

				timeout = d <= now ? 0 : (int)((d - now + 999999u) / 1000000u);
			}
			r->sleeps++;
		}
		if (timeout) {
			n = dispatch(r, timeout);
			account(r, false, reactor_turn_ns - mark);
			mark = reactor_turn_ns;
			busy = n > 0;
		} else {
			n = dispatch(r, 0);
			if (lazy && !work && n > 0) {
				/* events after a spin: the spin was idle */
				account(r, false, reactor_turn_ns - mark);
				mark = reactor_turn_ns;
			}
			busy = work || n > 0;
		}
		sleep_end(r);
		if (n < 0) {
			log_err("epoll_wait: %s", strerror(-n));
			return n;
		}
		if (n > 0)
			last_work = reactor_turn_ns;
		if (!work && n == 0 && empty == 0 && r->nap.nap_ns)
			nap_after_burst(r);
		empty = work || n > 0 ? 0 : empty + 1;
		r->loops++;
	}
	account(r, busy, reactor_now_ns() - mark);
	reactor_turn_ns = 0;
	return 0;
}

int reactor_run_once(struct reactor *r, int timeout_ms)
{
	int work = run_timers(r, reactor_turn_ns = reactor_now_ns()) + run_pollers(r);
	int n;

	if (work || (timeout_ms && !sleep_begin(r)))
		timeout_ms = 0;
	n = dispatch(r, timeout_ms);
	sleep_end(r);
	reactor_turn_ns = 0;    /* outside a turn, the clock is read again */
	return n < 0 ? n : work + n;
}

void reactor_stop(struct reactor *r)
{
	r->stop = true;
	reactor_wake(r);
}

void reactor_wake(struct reactor *r)
{
	uint64_t one = 1;

	if (write(r->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return;
}
