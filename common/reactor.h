/* SPDX-License-Identifier: MIT */
/*
 * A reactor: one thread's event loop. File descriptors (sockets, eventfds
 * of MSI-X vectors, timerfds) sit in one epoll set; pollers are called on
 * every turn while they report work, so a busy reactor spins on hardware
 * completion queues and sockets without sleeping; once every poller has
 * been idle for idle_us, the reactor blocks in epoll_wait until an fd is
 * ready or the next timer is due. An idle reactor therefore costs nothing.
 */
#ifndef COMMON_REACTOR_H
#define COMMON_REACTOR_H

#include <stdbool.h>
#include <stdint.h>

struct reactor;

typedef void (*reactor_fd_cb)(void *arg, uint32_t events);
/* Returns the amount of work done (0 = idle). */
typedef int (*reactor_poll_cb)(void *arg);
typedef void (*reactor_timer_cb)(void *arg);
/* Returns non-zero when work is pending (see reactor_set_sleep_check). */
typedef int (*reactor_sleep_check_cb)(void *arg);

struct reactor_fd {
	int fd;
	uint32_t events;
	reactor_fd_cb cb;
	void *arg;
};

struct reactor_timer {
	uint64_t deadline_ns;
	uint64_t period_ns;           /* 0 = one shot */
	reactor_timer_cb cb;
	void *arg;
	bool armed;
	struct reactor_timer *next;
};

/* The order of the pollers in a turn: what brings commands in, then the
 * devices (their doorbells rung for this turn's submissions, their
 * completions reaped), then what sends the responses, so that a response
 * a device completed in this turn goes out in this turn. Pollers of one
 * phase run in the order they were added. */
enum reactor_phase {
	REACTOR_PHASE_INPUT,          /* the default (0) */
	REACTOR_PHASE_DEVICE,
	REACTOR_PHASE_OUTPUT,
};

struct reactor_poller {
	reactor_poll_cb cb;
	void *arg;
	enum reactor_phase phase;
	struct reactor_poller *next;
};

/*
 * Naps. A reactor spins while it waits for a peer that sends in bursts
 * (a closed-loop initiator with many commands in flight); a short sleep
 * after a burst lets the next burst gather, so that both sides handle more
 * commands per system call. Whether that helps is measured, not assumed:
 * the reactor compares the commands per second of windows with naps to
 * those of windows without, and naps only while that raises the rate.
 * nap_ns 0 turns naps off.
 */
/* One measurement window of the nap probe */
#define REACTOR_NAP_WINDOW_NS 4000000u
/* a window with fewer commands says nothing about naps: no naps */
#define REACTOR_NAP_WINDOW_MIN_CMDS 256u
/* commands since the last nap (or empty turn) that make a burst */
#define REACTOR_NAP_BURST_CMDS 8u
/* windows with naps between two without (the reference is refreshed) */
#define REACTOR_NAP_REF_EVERY 16u
/* a window with naps must beat the reference rate by this much (%): naps
 * that only keep the rate (an initiator that sends at its own pace) would
 * add their length to the latency of the commands that wait through them */
#define REACTOR_NAP_GAIN_PCT 102u
#define REACTOR_NAP_BACKOFF_MAX 256u

struct reactor_nap {
	uint32_t nap_ns;        /* asked-for length of one nap; 0: never nap */
	bool on;                /* the current window naps */
	unsigned nap_windows;   /* windows with naps since the last one without */
	unsigned wait;          /* windows without naps before the next try */
	unsigned backoff;       /* wait after the last window that gained nothing */
	uint64_t win_start_ns;
	uint64_t win_cmds;      /* reactor_cmds when the window began */
	uint64_t burst_cmds;    /* reactor_cmds after the last nap or empty turn */
	uint64_t ref_rate;      /* commands per second of the last window without naps */
	uint64_t naps;          /* naps taken (statistics: read with __atomic_load_n) */
};

/* The probe's step at a turn that read the clock (now): closes its window
 * when it is over and decides whether the next one naps. Exposed for
 * tests. */
void reactor_nap_window(struct reactor_nap *p, uint64_t now);

struct reactor {
	int epfd;
	int wake_fd;                  /* eventfd: reactor_wake() from other threads */
	struct reactor_fd wake;
	bool stop;
	unsigned idle_us;             /* spin this long without work before sleeping */
	struct reactor_timer *timers; /* sorted by deadline */
	struct reactor_poller *pollers;
	uint64_t loops;
	uint64_t sleeps;
	/* Set by the reactor's thread (then a full barrier) before it blocks
	 * in epoll_wait, cleared when it returns: see reactor_asleep. */
	bool sleeping;
	reactor_sleep_check_cb sleep_check;
	void *sleep_check_arg;
	/* Time in turns that did work (a timer, a poller or an fd event) and
	 * in turns that did not (spinning, sleeping), as SPDK counts its
	 * reactors' busy and idle ticks. Written by the reactor's thread
	 * only; read by others with __atomic_load_n (statistics). */
	uint64_t busy_ns;
	uint64_t idle_ns;
	struct reactor_nap nap;
};

int reactor_init(struct reactor *r);
void reactor_fini(struct reactor *r);

/* Watch f->fd for f->events (EPOLLIN/EPOLLOUT...); f must stay valid
 * until reactor_del_fd. */
int reactor_add_fd(struct reactor *r, struct reactor_fd *f);
int reactor_mod_fd(struct reactor *r, struct reactor_fd *f, uint32_t events);
void reactor_del_fd(struct reactor *r, struct reactor_fd *f);

/* Runs p on every turn, after the pollers of its phase added before it. */
void reactor_add_poller(struct reactor *r, struct reactor_poller *p);
void reactor_del_poller(struct reactor *r, struct reactor_poller *p);

/* Arm t to fire after delay_ms (then every period_ms if non-zero). */
void reactor_timer_start(struct reactor *r, struct reactor_timer *t, uint64_t delay_ms,
			 uint64_t period_ms, reactor_timer_cb cb, void *arg);
void reactor_timer_stop(struct reactor *r, struct reactor_timer *t);

/* Run until reactor_stop. Returns 0 or -errno on an epoll failure. */
int reactor_run(struct reactor *r);
void reactor_stop(struct reactor *r);
/* One turn: due timers, pollers, then ready fds (waiting up to timeout_ms
 * only if timers and pollers did nothing). Returns the work done (0 =
 * nothing happened) or -errno. For tests and fuzzers that step a reactor
 * themselves. */
int reactor_run_once(struct reactor *r, int timeout_ms);
/* Interrupt a sleeping reactor from another thread or a signal handler. */
void reactor_wake(struct reactor *r);

/*
 * Work that other threads queue in memory (no fd) without a wake-up per
 * item. Before the reactor blocks in epoll_wait it sets r->sleeping,
 * issues a full barrier, and calls check(arg): non-zero means work is
 * pending, and the reactor runs another turn instead of sleeping. A
 * producer publishes its work, issues a full barrier
 * (__atomic_thread_fence(__ATOMIC_SEQ_CST)) and calls reactor_wake only
 * if reactor_asleep: of the two barriers one comes first, so either the
 * check sees the work or the producer sees the flag. A producer that
 * sees a stale flag only wakes a reactor that is awake.
 */
void reactor_set_sleep_check(struct reactor *r, reactor_sleep_check_cb check, void *arg);
static inline bool reactor_asleep(const struct reactor *r)
{
	return __atomic_load_n(&r->sleeping, __ATOMIC_RELAXED);
}

uint64_t reactor_now_ns(void);

/*
 * The clock of the current turn: a reactor reads the clock when a turn
 * begins and again when epoll_wait returns events or ends a sleep, and the
 * commands of the turn take their times from it (their latency is then
 * exact to a turn, and a command costs no clock read). A spinning reactor
 * reads the clock only every REACTOR_CLOCK_EVERY turns in a row that found
 * nothing to do; in the turns between, the clock is read when something
 * first asks for it, and that reading is the turn's. A thread that runs
 * no reactor has none (0) and reads the clock.
 */
#define REACTOR_CLOCK_EVERY 8
/* the nap a reactor asks for (the kernel adds its wake-up: about 20 us) */
#define REACTOR_NAP_NS 1000u
extern __thread uint64_t reactor_turn_ns;
extern __thread bool reactor_turn_lazy;
/* clock readings by this thread (reactor_now_ns), for tests */
extern __thread uint64_t reactor_clock_reads;
/* commands the transports of this thread's reactor took in (a nap's signal) */
extern __thread uint64_t reactor_cmds;

uint64_t reactor_clock_read(void);

static inline uint64_t reactor_clock_ns(void)
{
	return reactor_turn_ns ? reactor_turn_ns : reactor_clock_read();
}

#endif
