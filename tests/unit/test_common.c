/* SPDX-License-Identifier: MIT */
/* CRC32C on the known vectors (both implementations), the IOVA allocator,
 * and the DMA buffer pool. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/crc32c.h"
#include "common/dma.h"
#include "common/reactor.h"
#include "pcie/pcie.h"

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);

/* RFC 3720 B.4 (iSCSI) vectors, the ones NVMe/TCP digests use, plus the
 * classic check value of "123456789". */
static void check_vectors(crc_fn f)
{
	uint8_t buf[48];

	assert_int_equal(f(0, "123456789", 9), 0xe3069283u);
	memset(buf, 0, 32);
	assert_int_equal(f(0, buf, 32), 0x8a9136aau);
	memset(buf, 0xff, 32);
	assert_int_equal(f(0, buf, 32), 0x62a8ab43u);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	assert_int_equal(f(0, buf, 32), 0x46dd794eu);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	assert_int_equal(f(0, buf, 32), 0x113fdb5cu);
	static const uint8_t iscsi_read[48] = {
		0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
		0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	};
	assert_int_equal(f(0, iscsi_read, 48), 0xd9963a56u);
	assert_int_equal(f(0, "", 0), 0u);
}

static void test_crc32c_table(void **state)
{
	(void)state;
	check_vectors(crc32c_table);
}

static void test_crc32c_hw(void **state)
{
	(void)state;
	if (!crc32c_hw_available()) {
		/* said loudly: this CPU cannot run the SSE4.2 path */
		print_message("crc32c: CPU has no SSE4.2, hardware path not exercised\n");
		skip();
	}
	check_vectors(crc32c_hw);
	check_vectors(crc32c);
}

/* Incremental use and odd lengths/alignments agree across implementations */
static void test_crc32c_incremental(void **state)
{
	uint8_t buf[1031];

	(void)state;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 131 + 7);
	for (size_t split = 0; split < 40; split++) {
		uint32_t whole = crc32c_table(0, buf + 3, sizeof(buf) - 3);
		uint32_t part = crc32c_table(crc32c_table(0, buf + 3, split), buf + 3 + split, sizeof(buf) - 3 - split);

		assert_int_equal(whole, part);
		assert_int_equal(crc32c(0, buf + 3, sizeof(buf) - 3), whole);
	}
}

static void test_iova_ranges(void **state)
{
	/* intel-iommu style: a hole for the MSI window */
	const struct iova_range r[] = {
		{ 0xfef00000ull, 0x7fffffffffull },
		{ 0x0, 0xfedfffffull },
	};
	struct iova_alloc a;
	uint64_t iova;

	(void)state;
	iova_alloc_init(&a, r, 2, 0x10000000);
	assert_int_equal(a.nr, 2);
	assert_int_equal(a.ranges[0].start, 0x10000000);   /* sorted and clipped */
	assert_int_equal(iova_alloc(&a, 4096, 4096, &iova), 0);
	assert_int_equal(iova, 0x10000000);
	assert_int_equal(iova_alloc(&a, 2u << 20, 2u << 20, &iova), 0);
	assert_int_equal(iova, 0x10200000);                /* aligned up */
	/* too big for what is left below the hole: placed above it */
	assert_int_equal(iova_alloc(&a, 0xf0000000ull, 2u << 20, &iova), 0);
	assert_true(iova >= 0xfef00000ull);
	assert_true(iova + 0xf0000000ull - 1 <= 0x7fffffffffull);
	/* never inside the hole */
	for (int i = 0; i < 64; i++) {
		assert_int_equal(iova_alloc(&a, 1u << 30, 4096, &iova), 0);
		assert_false(iova <= 0xfeefffffull && iova + (1u << 30) > 0xfee00000ull);
	}
	/* exhausted */
	assert_int_equal(iova_alloc(&a, 1ull << 40, 4096, &iova), -ENOSPC);
	assert_int_equal(iova_alloc(&a, 0, 4096, &iova), -EINVAL);
	assert_int_equal(iova_alloc(&a, 4096, 3, &iova), -EINVAL);
}

static void test_iova_exact_fit(void **state)
{
	const struct iova_range r[] = { { 0x100000, 0x1fffff }, { 0x400000, 0x4fffff } };
	struct iova_alloc a;
	uint64_t iova;

	(void)state;
	iova_alloc_init(&a, r, 2, 0);
	assert_int_equal(iova_alloc(&a, 0x100000, 4096, &iova), 0);
	assert_int_equal(iova, 0x100000);
	assert_int_equal(iova_alloc(&a, 4096, 4096, &iova), 0);
	assert_int_equal(iova, 0x400000);
	assert_int_equal(iova_alloc(&a, 0x100000, 4096, &iova), -ENOSPC);
}

/* A mapper that records calls and hands out IOVAs far from the VA */
struct rec_mapper {
	unsigned maps, unmaps;
	uint64_t next;
	size_t last_len;
};

static int rec_map(void *ctx, void *va, size_t len, uint64_t *iova)
{
	struct rec_mapper *m = ctx;

	(void)va;
	m->maps++;
	m->last_len = len;
	*iova = m->next;
	m->next += len;
	return 0;
}

static int rec_unmap(void *ctx, void *va, size_t len, uint64_t iova)
{
	struct rec_mapper *m = ctx;

	(void)va; (void)len; (void)iova;
	m->unmaps++;
	return 0;
}

static int fail_map(void *ctx, void *va, size_t len, uint64_t *iova)
{
	(void)ctx; (void)va; (void)len; (void)iova;
	return -ENOSPC;
}

static void test_dma_pool(void **state)
{
	struct rec_mapper rm = { .next = 0x10000000 };
	struct dma_mapper m = { .ctx = &rm, .map = rec_map, .unmap = rec_unmap };
	struct dma_pool p;
	void *bufs[16];

	(void)state;
	/* one mapping for the whole pool, however many buffers */
	assert_int_equal(dma_pool_init(&p, 5000, 4096, 16, false, &m), 0);
	assert_int_equal(rm.maps, 1);
	assert_int_equal(p.buf_size, 8192);
	assert_true(rm.last_len >= 16 * 8192);
	for (int i = 0; i < 16; i++) {
		bufs[i] = dma_pool_get(&p);
		assert_non_null(bufs[i]);
		assert_int_equal(dma_pool_iova(&p, bufs[i]) % 4096, 0);
		assert_int_equal(dma_pool_iova(&p, bufs[i]), 0x10000000 + (uint64_t)i * 8192);
		memset(bufs[i], i, 8192);       /* writable, no overlap (ASan) */
	}
	assert_null(dma_pool_get(&p));
	dma_pool_put(&p, bufs[3]);
	assert_ptr_equal(dma_pool_get(&p), bufs[3]);
	for (int i = 0; i < 16; i++)
		dma_pool_put(&p, bufs[i]);
	dma_pool_destroy(&p);
	assert_int_equal(rm.unmaps, 1);
}

static void test_dma_region_carve_and_map_failure(void **state)
{
	struct rec_mapper rm = { .next = 0x20000000 };
	struct dma_mapper m = { .ctx = &rm, .map = rec_map, .unmap = rec_unmap };
	struct dma_mapper bad = { .map = fail_map };
	struct dma_region r;
	uint64_t iova;
	void *a, *b;

	(void)state;
	assert_int_equal(dma_region_alloc(&r, 3 * 4096, false, &m), 0);
	a = dma_region_carve(&r, 100, 64, &iova);
	assert_int_equal(iova, 0x20000000);
	b = dma_region_carve(&r, 4096, 4096, &iova);
	assert_int_equal(iova, 0x20001000);
	assert_ptr_equal((char *)b - (char *)a, 4096);
	assert_true(dma_region_contains(&r, b, 4096));
	assert_false(dma_region_contains(&r, (char *)b + 1, r.len));
	assert_non_null(dma_region_carve(&r, 4096, 4096, NULL));
	assert_null(dma_region_carve(&r, 1, 1, NULL));       /* exhausted */
	dma_region_free(&r);
	assert_int_equal(rm.unmaps, 1);

	assert_int_equal(dma_region_alloc(&r, 4096, false, &bad), -ENOSPC);
	assert_null(r.va);
}

/* Busy and idle time: a poller that works (2 ms of it) on its first 20
 * turns and then has nothing to do, a timer that stops the reactor after
 * 300 ms. The 40 ms of work are busy, the spinning and sleeping after it
 * idle, and the two add up to the time the reactor ran. */
struct acct_ctx {
	struct reactor *r;
	unsigned turns;
};

static int acct_poll(void *arg)
{
	struct acct_ctx *a = arg;
	uint64_t until;

	if (a->turns >= 20)
		return 0;
	a->turns++;
	until = reactor_now_ns() + 2000000u;
	while (reactor_now_ns() < until)
		;
	return 1;
}

static void acct_stop(void *arg)
{
	reactor_stop(((struct acct_ctx *)arg)->r);
}

static void test_reactor_busy_idle(void **state)
{
	struct reactor r;
	struct acct_ctx a = { .r = &r };
	struct reactor_poller p = { .cb = acct_poll, .arg = &a };
	struct reactor_timer t = { 0 };
	uint64_t t0, wall;

	(void)state;
	assert_int_equal(reactor_init(&r), 0);
	r.idle_us = 1000;
	reactor_add_poller(&r, &p);
	reactor_timer_start(&r, &t, 300, 0, acct_stop, &a);
	t0 = reactor_now_ns();
	assert_int_equal(reactor_run(&r), 0);
	wall = reactor_now_ns() - t0;
	assert_int_equal(a.turns, 20);
	assert_true(r.busy_ns >= 40000000u);
	assert_true(r.busy_ns < 150000000u);    /* the idle turns are not busy */
	assert_true(r.idle_ns >= 140000000u);
	assert_true(r.sleeps > 0);
	/* every nanosecond once: the sum is the run's time (to 5 ms) */
	assert_true(r.busy_ns + r.idle_ns <= wall + 1000000u);
	assert_true(r.busy_ns + r.idle_ns + 5000000u >= wall);
	reactor_del_poller(&r, &p);
	reactor_fini(&r);
}

struct phase_ctx {
	char order[8];
	unsigned n;
};

struct phase_poller {
	struct reactor_poller p;
	struct phase_ctx *ctx;
	char name;
};

static int phase_poll(void *arg)
{
	struct phase_poller *pp = arg;

	if (pp->ctx->n < sizeof(pp->ctx->order) - 1)
		pp->ctx->order[pp->ctx->n++] = pp->name;
	return 0;
}

/* Pollers run by phase (input, device, output), each phase in the order
 * its pollers were added, whatever order the phases were added in. */
static void test_reactor_poller_phases(void **state)
{
	struct reactor r;
	struct phase_ctx ctx = { 0 };
	struct phase_poller pp[] = {
		{ .name = 'O', .p.phase = REACTOR_PHASE_OUTPUT }, { .name = 'i', .p.phase = REACTOR_PHASE_INPUT },
		{ .name = 'D', .p.phase = REACTOR_PHASE_DEVICE }, { .name = 'o', .p.phase = REACTOR_PHASE_OUTPUT },
		{ .name = 'I', .p.phase = REACTOR_PHASE_INPUT },
	};

	(void)state;
	assert_int_equal(reactor_init(&r), 0);
	for (unsigned i = 0; i < sizeof(pp) / sizeof(pp[0]); i++) {
		pp[i].ctx = &ctx;
		pp[i].p.cb = phase_poll;
		pp[i].p.arg = &pp[i];
		reactor_add_poller(&r, &pp[i].p);
	}
	assert_int_equal(reactor_run_once(&r, 0), 0);
	assert_string_equal(ctx.order, "iIDOo");
	/* one removed: the others keep their order */
	reactor_del_poller(&r, &pp[2].p);
	ctx = (struct phase_ctx){ 0 };
	reactor_run_once(&r, 0);
	assert_string_equal(ctx.order, "iIOo");
	for (unsigned i = 0; i < sizeof(pp) / sizeof(pp[0]); i++)
		reactor_del_poller(&r, &pp[i].p);
	reactor_fini(&r);
}

struct clock_ctx {
	uint64_t poll_a, poll_b;        /* the turn's clock, twice in the poller */
	uint64_t fd_a, fd_b;            /* and twice in the fd's callback */
	int efd;
};

static int clock_poll(void *arg)
{
	struct clock_ctx *c = arg;
	struct timespec ts = { 0, 2000000 };

	c->poll_a = reactor_clock_ns();
	nanosleep(&ts, NULL);           /* 2 ms of "work" in the turn */
	c->poll_b = reactor_clock_ns();
	return 0;
}

static void clock_fd(void *arg, uint32_t events)
{
	struct clock_ctx *c = arg;
	uint64_t v;

	(void)events;
	assert_int_equal(read(c->efd, &v, sizeof(v)), (ssize_t)sizeof(v));
	c->fd_a = reactor_clock_ns();
	c->fd_b = reactor_clock_ns();
}

/* A turn reads the clock when it begins and when epoll_wait returns; the
 * commands of the turn take that time (no clock read each), and outside a
 * turn the clock is read again. */
static void test_reactor_turn_clock(void **state)
{
	struct reactor r;
	struct clock_ctx c = { 0 };
	struct reactor_poller p = { .cb = clock_poll, .arg = &c };
	struct reactor_fd f = { .events = EPOLLIN, .cb = clock_fd, .arg = &c };
	uint64_t before, one = 1, a, b;

	(void)state;
	assert_int_equal(reactor_init(&r), 0);
	c.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(c.efd >= 0);
	f.fd = c.efd;
	assert_int_equal(reactor_add_fd(&r, &f), 0);
	reactor_add_poller(&r, &p);
	assert_int_equal(write(c.efd, &one, sizeof(one)), (ssize_t)sizeof(one));
	before = reactor_now_ns();
	assert_true(reactor_run_once(&r, 0) > 0);
	/* one value for the whole of the pollers' part of the turn, taken
	 * when it began: the 2 ms slept inside do not show */
	assert_true(c.poll_a >= before);
	assert_int_equal(c.poll_a, c.poll_b);
	/* the events were stamped after epoll_wait: past the poller's sleep */
	assert_int_equal(c.fd_a, c.fd_b);
	assert_true(c.fd_a >= c.poll_a + 2000000u);
	/* outside a turn: the clock itself, which moves */
	assert_int_equal(reactor_turn_ns, 0);
	a = reactor_clock_ns();
	do
		b = reactor_clock_ns();
	while (b == a);
	assert_true(b > a);
	reactor_del_poller(&r, &p);
	reactor_del_fd(&r, &f);
	close(c.efd);
	reactor_fini(&r);
}

/* A spin through turns that find nothing reads the clock once every
 * REACTOR_CLOCK_EVERY turns, not every turn; a turn between that finds
 * work reads it when the work first asks, once, and that is the turn's
 * time. */
struct spin_ctx {
	struct reactor *r;
	unsigned turns;
	unsigned lazy_turns;            /* turns that began without a clock reading */
	uint64_t before, a, b;          /* around the work in one of them */
	bool worked;
};

static int spin_poll(void *arg)
{
	struct spin_ctx *c = arg;

	c->turns++;
	if (!reactor_turn_ns)
		c->lazy_turns++;
	if (c->turns == 1000)
		reactor_stop(c->r);
	if (c->turns > 500 && !c->worked && !reactor_turn_ns) {
		c->worked = true;
		c->before = reactor_now_ns();
		c->a = reactor_clock_ns();
		c->b = reactor_clock_ns();
		return 1;
	}
	return 0;
}

/* One probe window of the given length in which the transports took cmds
 * commands; returns whether the next window naps. */
static bool nap_step(struct reactor_nap *p, uint64_t *now, uint64_t cmds)
{
	*now += REACTOR_NAP_WINDOW_NS;
	reactor_cmds += cmds;
	reactor_nap_window(p, *now);
	return p->on;
}

/* The nap probe: naps only under load, keeps them while a window with
 * naps beats the last window without by REACTOR_NAP_GAIN_PCT, refreshes
 * that reference every REACTOR_NAP_REF_EVERY windows, and after naps that
 * gained nothing waits twice as long each time before it tries again. */
static void test_reactor_nap_probe(void **state)
{
	struct reactor_nap p = { .nap_ns = REACTOR_NAP_NS };
	uint64_t now = 1000000000u, ref = 4000;
	unsigned waited;

	(void)state;
	p.win_start_ns = now;
	p.win_cmds = reactor_cmds;
	/* a window ends only when its time is up */
	reactor_cmds += 100000;
	reactor_nap_window(&p, now + REACTOR_NAP_WINDOW_NS - 1);
	assert_false(p.on);
	assert_int_equal(p.ref_rate, 0);
	p.win_cmds = reactor_cmds;
	/* too little load to measure: never */
	for (int i = 0; i < 8; i++)
		assert_false(nap_step(&p, &now, REACTOR_NAP_WINDOW_MIN_CMDS - 1));
	/* a window without naps sets the reference; the next one naps */
	assert_true(nap_step(&p, &now, ref));
	assert_int_equal(p.ref_rate, ref * 1000000000u / REACTOR_NAP_WINDOW_NS);
	/* naps that raise the rate by 10 % stay, for REF_EVERY windows */
	for (unsigned i = 1; i < REACTOR_NAP_REF_EVERY; i++)
		assert_true(nap_step(&p, &now, ref * 110 / 100));
	assert_false(nap_step(&p, &now, ref * 110 / 100));
	/* ... then one without refreshes the reference, and naps go on */
	assert_true(nap_step(&p, &now, ref));
	/* a window with naps that only keeps the rate (+1 %) ends them */
	assert_false(nap_step(&p, &now, ref * 101 / 100));
	assert_int_equal(p.backoff, 1);
	/* each try that gains nothing doubles the wait, up to the bound */
	for (unsigned expect = 1; expect <= 2 * REACTOR_NAP_BACKOFF_MAX; expect *= 2) {
		unsigned want = expect > REACTOR_NAP_BACKOFF_MAX ? REACTOR_NAP_BACKOFF_MAX : expect;

		for (waited = 0; !nap_step(&p, &now, ref); waited++)
			assert_true(waited <= want);
		assert_int_equal(waited, want);
		assert_false(nap_step(&p, &now, ref));
	}
	/* a try that gains forgets the backoff */
	for (waited = 0; !nap_step(&p, &now, ref); waited++)
		;
	assert_true(nap_step(&p, &now, ref * 105 / 100));
	assert_int_equal(p.backoff, 0);
	/* load that falls away stops the naps at once */
	assert_false(nap_step(&p, &now, 10));
}

static void test_reactor_spin_clock(void **state)
{
	struct reactor r;
	struct spin_ctx c = { .r = &r };
	struct reactor_poller p = { .cb = spin_poll, .arg = &c };
	uint64_t reads;

	(void)state;
	assert_int_equal(reactor_init(&r), 0);
	r.idle_us = 10000000;           /* spin, never sleep */
	reactor_add_poller(&r, &p);
	reads = reactor_clock_reads;
	assert_int_equal(reactor_run(&r), 0);
	reads = reactor_clock_reads - reads;
	assert_int_equal(c.turns, 1000);
	/* one turn in REACTOR_CLOCK_EVERY reads the clock when it begins;
	 * the work turn and the one after it read it too, and so does
	 * reactor_run at its start and end */
	assert_true(c.lazy_turns >= 1000 - 1000 / REACTOR_CLOCK_EVERY - 2);
	assert_true(reads <= 1000 / REACTOR_CLOCK_EVERY + 8);
	/* the work in a turn that began without the time read it once, fresh */
	assert_true(c.worked);
	assert_true(c.a >= c.before);
	assert_int_equal(c.a, c.b);
	assert_true(r.busy_ns > 0);
	reactor_del_poller(&r, &p);
	reactor_fini(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c_table),
		cmocka_unit_test(test_crc32c_hw),
		cmocka_unit_test(test_crc32c_incremental),
		cmocka_unit_test(test_iova_ranges),
		cmocka_unit_test(test_iova_exact_fit),
		cmocka_unit_test(test_dma_pool),
		cmocka_unit_test(test_dma_region_carve_and_map_failure),
		cmocka_unit_test(test_reactor_busy_idle),
		cmocka_unit_test(test_reactor_poller_phases),
		cmocka_unit_test(test_reactor_turn_clock),
		cmocka_unit_test(test_reactor_spin_clock),
		cmocka_unit_test(test_reactor_nap_probe),
	};

	return cmocka_run_group_tests_name("common", tests, NULL, NULL);
}
