/* SPDX-License-Identifier: MIT */
/*
 * The PCIe driver (pcie/ctrl.c, queue.c, prp.c) against the fake NVMe
 * controller of tests/fake_nvme.c: bring-up, shutdown, PRP corner cases,
 * phase wrap, full queues, doorbell batching, error status, fatal status,
 * timeouts and MSI-X.
 *
 * Time is fake: the driver's clock_ns hook advances a little on every call
 * and its delay_us hook advances it by the requested amount, so timeouts
 * are deterministic and nothing sleeps. Teardown checks, for every test,
 * that the fake saw no driver misbehaviour and that every DMA mapping was
 * released.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "pcie/pcie.h"
#include "tests/fake_nvme.h"

#define MS (1000000ull)
#define ABORTED NVME_STATUS(NVME_SCT_PATH, NVME_SC_HOST_ABORTED_CMD)

struct env {
	struct fake_nvme_config cfg;
	struct pcie_ctrl_opts opts;
	struct fake_nvme *dev;
	struct pcie_ctrl ctrl;
	bool up;
	struct dma_pool pool;
	bool pool_up;
	char err[256];
};

static struct env E;

/* --- fake time -------------------------------------------------------- */

static uint64_t now_ns;
static uint64_t tick_ns;

static uint64_t fake_clock_ns(void)
{
	now_ns += tick_ns;
	return now_ns;
}

static void fake_delay_us(unsigned us)
{
	now_ns += (uint64_t)us * 1000u;
}

/* --- environment ------------------------------------------------------ */

static int setup(void **state)
{
	memset(&E, 0, sizeof(E));
	fake_nvme_config_default(&E.cfg);
	pcie_ctrl_opts_default(&E.opts);
	E.opts.nr_io_queues = 1;
	E.opts.io_queue_depth = 64;
	E.opts.admin_queue_depth = 32;
	E.opts.cmd_timeout_ms = 1000;
	E.opts.max_xfer = 128u << 10;
	E.opts.irq = false;
	E.opts.try_huge = false;
	E.opts.clock_ns = fake_clock_ns;
	E.opts.delay_us = fake_delay_us;
	now_ns = 1000 * MS;
	tick_ns = 100;
	return 0;
}

static void env_create_dev(void)
{
	if (!E.dev)
		E.dev = fake_nvme_create(&E.cfg);
	assert_non_null(E.dev);
}

static int env_init(void)
{
	int rc;

	env_create_dev();
	E.err[0] = '\0';
	rc = pcie_ctrl_init(&E.ctrl, &fake_nvme_ops, E.dev, &E.opts, E.err, sizeof(E.err));
	E.up = rc == 0;
	return rc;
}

static void env_up(void)
{
	int rc = env_init();

	if (rc)
		print_error("pcie_ctrl_init: %d (%s)\n", rc, E.err);
	assert_int_equal(rc, 0);
}

static void env_shutdown(void)
{
	if (E.pool_up)
		dma_pool_destroy(&E.pool);
	E.pool_up = false;
	if (E.up)
		pcie_ctrl_shutdown(&E.ctrl);
	E.up = false;
}

static void env_pool(size_t buf_size, unsigned nbufs)
{
	struct dma_mapper m = pcie_ctrl_mapper(&E.ctrl);

	assert_int_equal(dma_pool_init(&E.pool, buf_size, 4096, nbufs, false, &m), 0);
	E.pool_up = true;
}

static const struct fake_nvme_stats *st(void)
{
	return fake_nvme_stats(E.dev);
}

static int teardown(void **state)
{
	int bad = 0;

	env_shutdown();
	if (E.dev) {
		if (st()->errors) {
			print_error("fake device saw %u driver error(s), last: %s\n",
				    st()->errors, st()->last_error);
			bad = -1;
		}
		if (fake_nvme_nr_mappings(E.dev)) {
			print_error("%u DMA mapping(s) left behind\n",
				    fake_nvme_nr_mappings(E.dev));
			bad = -1;
		}
		fake_nvme_destroy(E.dev);
	}
	E.dev = NULL;
	return bad;
}

static struct pcie_queue *ioq(unsigned i)
{
	assert_true(i < E.ctrl.nr_ioq);
	return &E.ctrl.ioq[i];
}

static bool ctrl_enabled(void)
{
	return fake_nvme_reg(E.dev, NVME_REG_CC) & NVME_CC_EN;
}

static unsigned open_fds(void)
{
	DIR *dir = opendir("/proc/self/fd");
	unsigned n = 0;

	assert_non_null(dir);
	while (readdir(dir))
		n++;
	closedir(dir);
	return n;
}

/* --- I/O helpers ------------------------------------------------------ */

struct io_done {
	unsigned calls;
	uint16_t status;
	bool had_cqe;
	bool ctrl_enabled_at_cb;    /* device state when the callback ran */
};

static void io_cb(void *arg, uint16_t status, const struct nvme_cqe *cqe)
{
	struct io_done *w = arg;

	w->calls++;
	w->status = status;
	w->had_cqe = cqe != NULL;
	w->ctrl_enabled_at_cb = ctrl_enabled();
}

static void submit(struct pcie_queue *q, uint8_t opc, uint32_t nsid, uint64_t slba,
		   uint32_t nlb, const void *buf, size_t len, struct io_done *w)
{
	struct nvme_sqe s;
	uint64_t iova = buf ? dma_pool_iova(&E.pool, buf) : 0;
	int rc;

	nvme_sqe_rw(&s, opc, nsid, slba, nlb);
	rc = pcie_queue_submit(q, &s, iova, len, io_cb, w);
	if (rc)
		print_error("pcie_queue_submit: %d\n", rc);
	assert_int_equal(rc, 0);
}

static void reap(struct pcie_queue *q, const unsigned *calls, unsigned want)
{
	for (int i = 0; i < 1000 && *calls < want; i++) {
		fake_nvme_process(E.dev, UINT_MAX);   /* no-op in immediate mode */
		pcie_queue_process(q, UINT_MAX);
	}
}

/* One command, waited for; returns its status. */
static uint16_t io(struct pcie_queue *q, uint8_t opc, uint32_t nsid, uint64_t slba,
		   uint32_t nlb, const void *buf, size_t len)
{
	struct io_done w = { 0 };

	submit(q, opc, nsid, slba, nlb, buf, len, &w);
	pcie_queue_ring(q);
	reap(q, &w.calls, 1);
	assert_int_equal(w.calls, 1);
	assert_true(w.had_cqe);
	return w.status;
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
}

static uint32_t rng_state = 12345;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

/* Write len bytes from wbuf+woff to slba, check the namespace, read them
 * back into rbuf+roff and compare. */
static void write_read_check(uint8_t *wbuf, size_t woff, uint8_t *rbuf, size_t roff,
			     uint64_t slba, size_t len, uint32_t seed)
{
	const struct pcie_ns *ns = &E.ctrl.ns[0];
	uint32_t nlb = (uint32_t)(len >> ns->lba_shift);
	uint8_t *media = fake_nvme_ns_data(E.dev, ns->nsid, NULL);

	fill(wbuf + woff, len, seed);
	memset(rbuf + roff, 0x5a, len);
	assert_int_equal(io(ioq(0), NVME_CMD_WRITE, ns->nsid, slba, nlb, wbuf + woff, len), 0);
	assert_memory_equal(media + (slba << ns->lba_shift), wbuf + woff, len);
	assert_int_equal(io(ioq(0), NVME_CMD_READ, ns->nsid, slba, nlb, rbuf + roff, len), 0);
	assert_memory_equal(rbuf + roff, wbuf + woff, len);
}

/* --- register log helpers --------------------------------------------- */

static int log_next(unsigned from, bool write, uint32_t off)
{
	unsigned n;
	const struct fake_reg_access *l = fake_nvme_log(E.dev, &n);

	for (unsigned i = from; i < n; i++)
		if (l[i].write == write && l[i].off == off)
			return (int)i;
	return -1;
}

static int log_next_doorbell(unsigned from)
{
	unsigned n;
	const struct fake_reg_access *l = fake_nvme_log(E.dev, &n);

	for (unsigned i = from; i < n; i++)
		if (l[i].write && l[i].off >= NVME_REG_DBS)
			return (int)i;
	return -1;
}

static const struct fake_reg_access *log_at(int i)
{
	unsigned n;
	const struct fake_reg_access *l = fake_nvme_log(E.dev, &n);

	assert_true(i >= 0 && (unsigned)i < n);
	return &l[i];
}

/* CSTS reads in [from, to) and how many of them had RDY == rdy */
static unsigned csts_reads(int from, int to, int rdy)
{
	unsigned cnt = 0;

	for (int i = from; i < to; i++) {
		const struct fake_reg_access *a = log_at(i);

		if (!a->write && a->off == NVME_REG_CSTS &&
		    (rdy < 0 || !!(a->val & NVME_CSTS_RDY) == rdy))
			cnt++;
	}
	return cnt;
}

static int last_csts_read(int from, int to)
{
	for (int i = to - 1; i >= from; i--)
		if (!log_at(i)->write && log_at(i)->off == NVME_REG_CSTS)
			return i;
	fail_msg("no CSTS read between log entries %d and %d", from, to);
	return -1;
}

static uint64_t log_reg64(int lo_idx)
{
	const struct fake_reg_access *lo = log_at(lo_idx), *hi = log_at(lo_idx + 1);

	assert_int_equal(hi->off, lo->off + 4);
	return (uint64_t)hi->val << 32 | lo->val;
}

/* --- bring-up ---------------------------------------------------------- */

/* Linux order (nvme_pci_configure_admin_queue, nvme_enable_ctrl): disable
 * and wait for RDY=0, program AQA/ASQ/ACQ, write CC, wait for RDY=1, and
 * only then touch a doorbell. The fake starts enabled, as a previous owner
 * would leave it, and takes 3 CSTS reads for every RDY change. */
static void test_bringup_register_order(void **state)
{
	int cc0, aqa, asq, acq, cc_en = -1, db;
	uint32_t cc;

	E.cfg.start_enabled = true;
	E.cfg.rdy_delay_reads = 3;
	env_up();

	cc0 = log_next(0, true, NVME_REG_CC);
	assert_true(cc0 >= 0);
	assert_int_equal(log_at(cc0)->val & NVME_CC_EN, 0);
	aqa = log_next(0, true, NVME_REG_AQA);
	asq = log_next(0, true, NVME_REG_ASQ);
	acq = log_next(0, true, NVME_REG_ACQ);
	assert_true(aqa > cc0 && asq > cc0 && acq > cc0);
	/* the driver polled through RDY=1 until it read RDY=0, and only
	 * then set up the admin queue */
	assert_true(csts_reads(cc0, aqa, 1) >= 3);
	assert_true(csts_reads(cc0, aqa, 0) >= 1);
	assert_false(log_at(last_csts_read(cc0, aqa))->val & NVME_CSTS_RDY);

	for (int i = cc0; i >= 0; i = log_next((unsigned)i + 1, true, NVME_REG_CC)) {
		if (log_at(i)->val & NVME_CC_EN) {
			cc_en = i;
			break;
		}
	}
	assert_true(cc_en > aqa && cc_en > asq + 1 && cc_en > acq + 1);
	assert_int_equal(log_at(aqa)->val, NVME_AQA(E.ctrl.admin.depth, E.ctrl.admin.depth));
	assert_int_equal(log_reg64(asq), E.ctrl.admin.sq_iova);
	assert_int_equal(log_reg64(acq), E.ctrl.admin.cq_iova);

	cc = log_at(cc_en)->val;
	assert_int_equal(NVME_CC_GET_MPS(cc), E.cfg.mpsmin);
	assert_int_equal(NVME_CC_GET_IOSQES(cc), 6);
	assert_int_equal(NVME_CC_GET_IOCQES(cc), 4);
	assert_int_equal(cc & NVME_CC_SHN_MASK, 0);
	assert_int_equal((cc >> 4) & 7, NVME_CC_CSS_NVM);

	/* RDY awaited through the delay before the first doorbell */
	db = log_next_doorbell((unsigned)cc_en);
	assert_true(db > cc_en);
	assert_int_equal(log_at(db)->off, nvme_sq_tail_db(0, 0));
	assert_true(csts_reads(cc_en, db, 0) >= 3);
	assert_true(log_at(last_csts_read(cc_en, db))->val & NVME_CSTS_RDY);
	assert_int_equal(E.ctrl.state, PCIE_CTRL_LIVE);
}

static void test_bringup_identify_results(void **state)
{
	E.cfg.mn = "Test Model 42";
	E.cfg.sn = "SN-0042";
	E.cfg.mdts = 3;               /* 8 pages: 32 KiB */
	E.cfg.max_ioq = 2;
	E.cfg.mqes = 31;              /* 32 entries */
	E.cfg.nr_ns = 2;
	E.cfg.first_nsid = 3;         /* not 1..n: the driver must use the list */
	E.cfg.nn = 8;
	E.cfg.lba_size = 4096;
	E.cfg.ns_blocks = 1000;
	E.opts.nr_io_queues = 4;
	E.opts.io_queue_depth = 256;
	env_up();

	assert_memory_equal(E.ctrl.id.mn, "Test Model 42   ", 16);
	assert_memory_equal(E.ctrl.id.sn, "SN-0042 ", 8);
	assert_int_equal(E.ctrl.vs, NVME_VS(1, 4, 0));
	assert_int_equal(E.ctrl.page_size, 4096);
	assert_int_equal(E.ctrl.mqes, 32);
	assert_int_equal(E.ctrl.max_xfer, 32768);

	/* 4 asked (0's based 3 in both halves), 2 granted and created */
	assert_int_equal(st()->nq_requested, 3u | 3u << 16);
	assert_int_equal(E.ctrl.nr_ioq, 2);
	for (uint16_t qid = 1; qid <= 3; qid++) {
		struct fake_nvme_queue_info qi;
		bool live = fake_nvme_queue_info(E.dev, qid, &qi);

		assert_int_equal(live, qid <= 2);
		if (!live)
			continue;
		assert_true(qi.sq_live && qi.cq_live);
		assert_int_equal(qi.cqid, qid);
		assert_int_equal(qi.sq_size, 32);   /* clamped to MQES + 1 */
		assert_int_equal(ioq(qid - 1u)->depth, 32);
		assert_int_equal(ioq(qid - 1u)->qid, qid);
	}

	assert_int_equal(E.ctrl.nr_ns, 2);
	for (unsigned i = 0; i < 2; i++) {
		const struct pcie_ns *ns = pcie_ctrl_find_ns(&E.ctrl, 3 + i);

		assert_non_null(ns);
		assert_int_equal(ns->nsze, 1000);
		assert_int_equal(ns->lba_size, 4096);
		assert_int_equal(ns->lba_shift, 12);
		assert_int_equal(ns->lbaf_index, 1);
	}
	assert_null(pcie_ctrl_find_ns(&E.ctrl, 1));
	assert_null(pcie_ctrl_find_ns(&E.ctrl, 5));
}

static void test_max_xfer_from_opts_and_mdts(void **state)
{
	E.cfg.mdts = 5;                     /* 128 KiB */
	E.opts.max_xfer = 64u << 10;
	env_up();
	assert_int_equal(E.ctrl.max_xfer, 64u << 10);
	env_shutdown();

	E.opts.max_xfer = 1u << 20;
	env_up();
	assert_int_equal(E.ctrl.max_xfer, 128u << 10);
	env_shutdown();
}

static void test_mdts_in_mpsmin_units(void **state)
{
	E.cfg.mpsmin = 1;                   /* 8 KiB pages */
	E.cfg.mdts = 2;                     /* 4 x 8 KiB */
	E.opts.max_xfer = 1u << 20;
	env_up();
	assert_int_equal(E.ctrl.page_size, 8192);
	assert_int_equal(E.ctrl.max_xfer, 32u << 10);
}

/* ASQ/ACQ and the bases of contiguous I/O queues must be aligned to the
 * controller page (CC.MPS), PRP list pages too; an IOMMU only promises
 * 4 KiB alignment of an IOVA, so 8 KiB pages show whether the driver
 * aligns IOVAs or merely offsets into its region. */
static void test_queue_memory_aligned_to_controller_page(void **state)
{
	uint64_t mask;
	int rc;

	E.cfg.mpsmin = 1;
	E.cfg.mdts = 0;
	E.opts.max_xfer = 1u << 20;
	E.opts.io_queue_depth = 8;
	rc = env_init();
	if (rc)
		print_error("pcie_ctrl_init: %d (%s)\n", rc, E.err);
	assert_int_equal(rc, 0);
	mask = E.ctrl.page_size - 1;
	assert_int_equal(E.ctrl.page_size, 8192);
	assert_int_equal(E.ctrl.admin.sq_iova & mask, 0);
	assert_int_equal(E.ctrl.admin.cq_iova & mask, 0);
	assert_int_equal(ioq(0)->sq_iova & mask, 0);
	assert_int_equal(ioq(0)->cq_iova & mask, 0);
	for (unsigned i = 0; i < (ioq(0)->depth - 1u) * ioq(0)->prp_pages_per_cmd; i++)
		assert_int_equal(ioq(0)->prp_pages[i].iova & mask, 0);
}

static void expect_init_failure(void)
{
	unsigned fds = open_fds();
	int rc = env_init();

	assert_true(rc < 0);
	assert_true(E.err[0] != '\0');
	/* everything released: mappings, eventfds; the controller is left
	 * disabled so it cannot DMA into memory that is gone */
	assert_int_equal(fake_nvme_nr_mappings(E.dev), 0);
	assert_int_equal(open_fds(), fds);
	assert_false(ctrl_enabled());
}

static void test_init_fails_when_never_ready(void **state)
{
	uint64_t start;

	E.cfg.rdy_delay_reads = FAKE_NVME_NEVER;
	E.cfg.to = 2;                       /* 1 s */
	start = now_ns;
	expect_init_failure();
	/* waited CAP.TO, and not much longer */
	assert_true(now_ns - start >= 1000 * MS);
	assert_true(now_ns - start < 3000 * MS);
}

static void test_init_fails_on_cfs_during_enable(void **state)
{
	E.cfg.cfs_on_enable = true;
	E.cfg.rdy_delay_reads = 0;          /* RDY and CFS together */
	expect_init_failure();
	/* a fatal controller is not sent commands */
	assert_int_equal(st()->sq_db[0], 0);
}

static void test_init_fails_when_identify_fails(void **state)
{
	E.cfg.irq_vectors = 4;
	E.opts.irq = true;
	env_create_dev();
	fake_nvme_fail_opcode(E.dev, true, NVME_ADM_IDENTIFY,
			      NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INTERNAL) | NVME_STATUS_DNR);
	expect_init_failure();
	assert_int_equal(st()->cmds[0], 1);
}

static void test_init_fails_when_identify_times_out(void **state)
{
	env_create_dev();
	fake_nvme_drop_next(E.dev, true, 1);
	expect_init_failure();
}

static void test_init_fails_when_queue_creation_fails(void **state)
{
	E.cfg.irq_vectors = 4;
	E.opts.irq = true;
	E.opts.nr_io_queues = 2;
	env_create_dev();
	fake_nvme_fail_opcode(E.dev, true, NVME_ADM_CREATE_SQ,
			      NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INTERNAL) | NVME_STATUS_DNR);
	expect_init_failure();
}

/* --- shutdown ---------------------------------------------------------- */

static void test_shutdown_then_second_init(void **state)
{
	int shn, done;
	uint8_t *buf;

	E.cfg.shst_delay_reads = 3;
	env_up();
	env_pool(4096, 2);
	buf = dma_pool_get(&E.pool);
	fill(buf, 4096, 7);
	assert_int_equal(io(ioq(0), NVME_CMD_WRITE, 1, 40, 8, buf, 4096), 0);
	dma_pool_put(&E.pool, buf);
	fake_nvme_clear_log(E.dev);
	env_shutdown();

	/* I/O queues deleted (SQ before CQ, or the fake complains), then
	 * CC.SHN=normal, then SHST=complete awaited */
	assert_int_equal(st()->deletes_sq, 1);
	assert_int_equal(st()->deletes_cq, 1);
	assert_int_equal(st()->shutdowns, 1);
	assert_int_equal(st()->ioq_live_at_shutdown, 0);
	shn = log_next(0, true, NVME_REG_CC);
	assert_true(shn >= 0);
	assert_int_equal(log_at(shn)->val & NVME_CC_SHN_MASK, NVME_CC_SHN_NORMAL);
	done = -1;
	for (int i = log_next((unsigned)shn, false, NVME_REG_CSTS); i >= 0;
	     i = log_next((unsigned)i + 1, false, NVME_REG_CSTS))
		if ((log_at(i)->val & NVME_CSTS_SHST_MASK) == NVME_CSTS_SHST_CMPLT) {
			done = i;
			break;
		}
	assert_true(done > shn);
	assert_true(csts_reads(shn, done, -1) >= 3);
	assert_int_equal(fake_nvme_nr_mappings(E.dev), 0);

	/* the same device comes up again and still holds the data */
	env_up();
	env_pool(4096, 2);
	buf = dma_pool_get(&E.pool);
	memset(buf, 0, 4096);
	assert_int_equal(io(ioq(0), NVME_CMD_READ, 1, 40, 8, buf, 4096), 0);
	{
		uint8_t want[4096];

		fill(want, sizeof(want), 7);
		assert_memory_equal(buf, want, sizeof(want));
	}
	assert_int_equal(st()->enables, 2);
}

/* --- doorbell stride --------------------------------------------------- */

static void test_doorbell_stride(void **state)
{
	uint8_t *w, *r;

	E.cfg.dstrd = 2;                    /* 16-byte doorbell stride */
	E.opts.nr_io_queues = 2;
	env_up();
	assert_int_equal(E.ctrl.dstrd, 2);
	assert_int_equal(ioq(0)->sq_db, 0x1020);
	assert_int_equal(ioq(0)->cq_db, 0x1030);
	assert_int_equal(ioq(1)->sq_db, 0x1040);
	assert_int_equal(ioq(1)->cq_db, 0x1050);
	env_pool(4096, 2);
	w = dma_pool_get(&E.pool);
	r = dma_pool_get(&E.pool);
	write_read_check(w, 0, r, 0, 3, 4096, 1);
	fill(w, 512, 9);
	assert_int_equal(io(ioq(1), NVME_CMD_WRITE, 1, 0, 1, w, 512), 0);
	for (uint16_t qid = 0; qid <= 2; qid++) {
		assert_true(st()->sq_db[qid] >= 1);
		assert_true(st()->cq_db[qid] >= 1);
	}
	assert_int_equal(st()->cmds[1], 2);
	assert_int_equal(st()->cmds[2], 1);
}

/* --- PRP corner cases -------------------------------------------------- */

static const size_t fixed_offsets[] = { 0, 4, 8, 12, 508, 512, 2044, 2048, 4088, 4092 };
static const unsigned fixed_blocks[] = { 1, 2, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 63, 64, 65 };

/* Offsets 0 .. page-4 in dwords, lengths 1 block .. max_xfer. */
static void prp_sweep(uint32_t page, unsigned random_cases)
{
	size_t max = E.ctrl.max_xfer, len, woff, roff;
	unsigned max_blocks = (unsigned)(max / 512);
	uint8_t *w, *r;
	uint32_t seed = 1;

	env_pool(max + page, 2);
	w = dma_pool_get(&E.pool);
	r = dma_pool_get(&E.pool);
	for (size_t i = 0; i < sizeof(fixed_offsets) / sizeof(fixed_offsets[0]); i++) {
		for (size_t j = 0; j < sizeof(fixed_blocks) / sizeof(fixed_blocks[0]); j++) {
			if (fixed_blocks[j] > max_blocks)
				continue;
			woff = fixed_offsets[i];
			roff = (page - 4 - woff) & ~(size_t)3;
			len = fixed_blocks[j] * 512u;
			write_read_check(w, woff, r, roff, seed % 256, len, seed);
			seed++;
		}
		/* the largest transfer, at this offset */
		write_read_check(w, fixed_offsets[i], r, fixed_offsets[i], 0, max, seed++);
	}
	for (unsigned i = 0; i < random_cases; i++) {
		woff = (rnd() % (page / 4)) * 4;
		roff = (rnd() % (page / 4)) * 4;
		len = (1 + rnd() % max_blocks) * 512u;
		write_read_check(w, woff, r, roff, rnd() % 1024, len, seed++);
	}
}

static void test_prp_offsets_and_lengths_4k(void **state)
{
	E.cfg.mdts = 5;                     /* 128 KiB */
	E.cfg.ns_blocks = 4096;
	E.opts.max_xfer = 1u << 20;
	env_up();
	assert_int_equal(E.ctrl.max_xfer, 128u << 10);
	prp_sweep(4096, 200);
	assert_true(st()->prp_list_pages > 0);
}

static void test_prp_offsets_and_lengths_8k_pages(void **state)
{
	E.cfg.mpsmin = 1;                   /* 8 KiB controller pages */
	E.cfg.mdts = 4;                     /* 128 KiB */
	E.cfg.ns_blocks = 4096;
	E.opts.max_xfer = 1u << 20;
	env_up();
	assert_int_equal(E.ctrl.page_size, 8192);
	prp_sweep(8192, 100);
}

/* List pages a transfer of npages (page aligned) needs, counted the way
 * the spec describes it: the last slot of a full list page chains only
 * when more than one entry remains. */
static unsigned expected_list_pages(unsigned npages, unsigned per_page)
{
	unsigned entries = npages - 1, pages = 1;

	if (entries <= 1)
		return 0;
	while (entries > per_page) {
		entries -= per_page - 1;
		pages++;
	}
	return pages;
}

static void test_prp_list_chaining(void **state)
{
	/* data pages per command: one full list page (512 entries, the last
	 * slot holding data), one entry more (chains), and 8 MiB */
	static const unsigned npages[] = { 3, 512, 513, 514, 1024, 1025, 1535, 1536, 2048 };
	const size_t max = 8u << 20;
	uint8_t *w, *r;

	E.cfg.mdts = 0;                     /* unlimited */
	E.cfg.ns_blocks = 32768;            /* 16 MiB */
	E.opts.max_xfer = (uint32_t)max;
	E.opts.io_queue_depth = 8;
	E.opts.admin_queue_depth = 8;
	env_up();
	assert_int_equal(E.ctrl.max_xfer, max);
	env_pool(max + 4096, 2);
	w = dma_pool_get(&E.pool);
	r = dma_pool_get(&E.pool);
	for (size_t i = 0; i < sizeof(npages) / sizeof(npages[0]); i++) {
		size_t len = (size_t)npages[i] * 4096;
		uint64_t before = st()->prp_list_pages;
		unsigned want = expected_list_pages(npages[i], 512);

		write_read_check(w, 0, r, 0, i * 8, len, (uint32_t)i + 100);
		/* one write and one read, each walking the same number of pages */
		assert_int_equal(st()->prp_list_pages - before, 2u * want);
	}
	assert_int_equal(st()->max_prp_list_pages, 5);
	/* 8 MiB at an offset spans 2049 pages: still chained, data intact */
	write_read_check(w, 4, r, 4092, 1, max - 4096, 77);
	write_read_check(w, 4092, r, 4, 2, max, 78);
	assert_true(st()->max_prp_list_pages > 1);
}

static void test_submit_rejects_bad_transfers(void **state)
{
	struct nvme_sqe s;
	struct io_done w = { 0 };
	uint8_t *buf;
	uint64_t iova;

	E.cfg.mdts = 3;                     /* 32 KiB */
	env_up();
	env_pool(64u << 10, 1);
	buf = dma_pool_get(&E.pool);
	iova = dma_pool_iova(&E.pool, buf);
	nvme_sqe_rw(&s, NVME_CMD_READ, 1, 0, 128);
	assert_int_equal(pcie_queue_submit(ioq(0), &s, iova, 64u << 10, io_cb, &w), -EINVAL);
	nvme_sqe_rw(&s, NVME_CMD_READ, 1, 0, 1);
	assert_int_equal(pcie_queue_submit(ioq(0), &s, iova + 2, 512, io_cb, &w), -EINVAL);
	pcie_queue_ring(ioq(0));
	assert_int_equal(st()->sq_db[1], 0);
	assert_int_equal(st()->cmds[1], 0);
	/* rejected submissions consumed nothing: the full depth is usable */
	for (unsigned i = 0; i < ioq(0)->depth - 1u; i++) {
		nvme_sqe_rw(&s, NVME_CMD_FLUSH, 1, 0, 1);
		assert_int_equal(pcie_queue_submit(ioq(0), &s, 0, 0, io_cb, &w), 0);
	}
	pcie_queue_ring(ioq(0));
	reap(ioq(0), &w.calls, ioq(0)->depth - 1u);
	assert_int_equal(w.calls, ioq(0)->depth - 1u);
	assert_int_equal(w.status, 0);
}

/* --- phase wrap, queue full, batching ---------------------------------- */

/* distinct within a round, moving between rounds */
static uint64_t lba(unsigned round, unsigned i)
{
	return (round * 3 + i) % 512;
}

static void test_phase_wrap_10000_commands(void **state)
{
	enum { BATCH = 10, ROUNDS = 500 };
	struct io_done w = { 0 };
	uint8_t *bufs[BATCH];
	unsigned expect = 0;

	E.opts.io_queue_depth = 16;
	env_up();
	env_pool(512, BATCH);
	for (int i = 0; i < BATCH; i++)
		bufs[i] = dma_pool_get(&E.pool);
	for (unsigned round = 0; round < ROUNDS; round++) {
		for (unsigned i = 0; i < BATCH; i++) {
			fill(bufs[i], 512, round * BATCH + i);
			submit(ioq(0), NVME_CMD_WRITE, 1, lba(round, i), 1, bufs[i], 512, &w);
		}
		pcie_queue_ring(ioq(0));
		expect += BATCH;
		reap(ioq(0), &w.calls, expect);
		assert_int_equal(w.calls, expect);
		for (unsigned i = 0; i < BATCH; i++) {
			memset(bufs[i], 0, 512);
			submit(ioq(0), NVME_CMD_READ, 1, lba(round, i), 1, bufs[i], 512, &w);
		}
		pcie_queue_ring(ioq(0));
		expect += BATCH;
		reap(ioq(0), &w.calls, expect);
		assert_int_equal(w.calls, expect);
		for (unsigned i = 0; i < BATCH; i++) {
			uint8_t want[512];

			fill(want, sizeof(want), round * BATCH + i);
			assert_memory_equal(bufs[i], want, sizeof(want));
		}
	}
	assert_int_equal(w.status, 0);
	assert_int_equal(st()->cqes[1], 2 * BATCH * ROUNDS);
	assert_int_equal(st()->cq_wraps[1], 2 * BATCH * ROUNDS / 16);
	assert_int_equal(ioq(0)->completed, 2 * BATCH * ROUNDS);
	assert_int_equal(ioq(0)->inflight, 0);
}

static unsigned submit_flushes(struct pcie_queue *q, unsigned max, struct io_done *w)
{
	struct nvme_sqe s = { .opc = NVME_CMD_FLUSH, .nsid = 1 };
	unsigned n = 0;
	int rc;

	while (n < max && (rc = pcie_queue_submit(q, &s, 0, 0, io_cb, w)) == 0)
		n++;
	if (n < max)
		assert_int_equal(rc, -EAGAIN);
	return n;
}

static void test_sq_full(void **state)
{
	struct io_done w = { 0 };
	struct pcie_queue *q;

	E.opts.io_queue_depth = 16;
	env_up();
	q = ioq(0);
	fake_nvme_set_manual(E.dev, true);
	/* one slot always stays empty */
	assert_int_equal(submit_flushes(q, 100, &w), 15);
	pcie_queue_ring(q);
	/* the device fetches 5; their CQEs tell the driver (SQHD) that 5
	 * slots are free again, and only 5 */
	assert_int_equal(fake_nvme_process(E.dev, 5), 5);
	assert_int_equal(pcie_queue_process(q, 100), 5);
	assert_int_equal(w.calls, 5);
	assert_int_equal(submit_flushes(q, 100, &w), 5);
	pcie_queue_ring(q);
	assert_int_equal(fake_nvme_process(E.dev, 100), 15);
	assert_int_equal(pcie_queue_process(q, 100), 15);
	assert_int_equal(w.calls, 20);
	assert_int_equal(w.status, 0);
	assert_int_equal(submit_flushes(q, 100, &w), 15);
	pcie_queue_ring(q);
	fake_nvme_process(E.dev, 100);
	assert_int_equal(pcie_queue_process(q, 100), 15);
	assert_int_equal(q->inflight, 0);
}

static void test_doorbell_batching(void **state)
{
	struct io_done w = { 0 };
	struct pcie_queue *q;
	uint64_t sq0, cq0;

	env_up();
	q = ioq(0);
	fake_nvme_set_manual(E.dev, true);
	sq0 = st()->sq_db[1];
	cq0 = st()->cq_db[1];
	assert_int_equal(submit_flushes(q, 8, &w), 8);
	assert_int_equal(st()->sq_db[1], sq0);        /* submit does not ring */
	pcie_queue_ring(q);
	assert_int_equal(st()->sq_db[1], sq0 + 1);
	pcie_queue_ring(q);                           /* nothing new: no write */
	assert_int_equal(st()->sq_db[1], sq0 + 1);
	assert_int_equal(fake_nvme_process(E.dev, 100), 8);
	assert_int_equal(pcie_queue_process(q, 100), 8);
	assert_int_equal(st()->cq_db[1], cq0 + 1);    /* one head write per batch */
	assert_int_equal(pcie_queue_process(q, 100), 0);
	assert_int_equal(st()->cq_db[1], cq0 + 1);    /* nothing reaped: no write */

	/* reaping in slices writes the head once per slice */
	assert_int_equal(submit_flushes(q, 8, &w), 8);
	pcie_queue_ring(q);
	assert_int_equal(fake_nvme_process(E.dev, 100), 8);
	assert_true(pcie_queue_has_cqe(q));
	assert_int_equal(pcie_queue_process(q, 3), 3);
	assert_int_equal(st()->cq_db[1], cq0 + 2);
	assert_int_equal(pcie_queue_process(q, 100), 5);
	assert_int_equal(st()->cq_db[1], cq0 + 3);
	assert_false(pcie_queue_has_cqe(q));
	assert_int_equal(w.calls, 16);
	assert_int_equal(st()->sq_db[1], sq0 + 2);
}

/* Shadow doorbells: two batches, the second before the device fetched
 * the first, so the device's EventIdx still lies behind it. */
static void shadow_two_batches(struct pcie_queue *q, struct io_done *w)
{
	uint64_t sq0 = st()->sq_db[q->qid], cq0 = st()->cq_db[q->qid];
	uint64_t shadowed = q->db_shadowed, calls = w->calls;

	fake_nvme_set_manual(E.dev, true);
	assert_int_equal(submit_flushes(q, 8, w), 8);
	pcie_queue_ring(q);
	/* the device had seen every tail so far: the register is written */
	assert_int_equal(st()->sq_db[q->qid], sq0 + 1);
	assert_int_equal(submit_flushes(q, 8, w), 8);
	pcie_queue_ring(q);
	/* it has not fetched since, and reads the shadow when it does: the
	 * new tail goes to memory only */
	assert_int_equal(st()->sq_db[q->qid], sq0 + 1);
	assert_int_equal(q->db_shadowed, shadowed + 1);
	assert_int_equal(fake_nvme_process(E.dev, 100), 16);
	/* the head in two slices: the first passes the device's EventIdx
	 * (the head it last read), the second does not */
	assert_int_equal(pcie_queue_process(q, 10), 10);
	assert_int_equal(st()->cq_db[q->qid], cq0 + 1);
	assert_int_equal(pcie_queue_process(q, 100), 6);
	assert_int_equal(st()->cq_db[q->qid], cq0 + 1);
	assert_int_equal(q->db_shadowed, shadowed + 2);
	assert_int_equal(w->calls, calls + 16);
	assert_int_equal(w->status, 0);
	/* the device caught up (EventIdx = its tail): the register again */
	assert_int_equal(submit_flushes(q, 4, w), 4);
	pcie_queue_ring(q);
	assert_int_equal(st()->sq_db[q->qid], sq0 + 2);
	assert_int_equal(fake_nvme_process(E.dev, 100), 4);
	assert_int_equal(pcie_queue_process(q, 100), 4);
	fake_nvme_set_manual(E.dev, false);
}

static void test_shadow_doorbells(void **state)
{
	struct io_done w = { 0 };

	E.cfg.dbbuf = true;
	env_up();
	assert_true(E.ctrl.dbbuf);
	assert_int_equal(st()->dbbuf_configs, 1);
	assert_non_null(ioq(0)->sq_shadow);
	assert_null(E.ctrl.admin.sq_shadow);   /* the admin queue keeps MMIO */
	shadow_two_batches(ioq(0), &w);
	assert_int_equal(ioq(0)->inflight, 0);
}

/* A reset forgets the buffers: they are zeroed and configured again, and
 * data still goes through (then the shadow still carries tails). */
static void test_shadow_doorbells_after_reset(void **state)
{
	struct io_done w = { 0 };
	uint8_t *buf, *r;

	E.cfg.dbbuf = true;
	env_up();
	env_pool(4096, 2);
	buf = dma_pool_get(&E.pool);
	r = dma_pool_get(&E.pool);
	write_read_check(buf, 0, r, 0, 3, 4096, 5);
	shadow_two_batches(ioq(0), &w);
	assert_int_equal(pcie_ctrl_reset(&E.ctrl), 0);
	assert_int_equal(st()->dbbuf_configs, 2);
	assert_int_equal(ioq(0)->sq_tail, 0);
	write_read_check(buf, 0, r, 0, 7, 4096, 6);
	shadow_two_batches(ioq(0), &w);
}

/* Not offered, or not wanted: the doorbell registers only. */
static void test_shadow_doorbells_off(void **state)
{
	struct io_done w = { 0 };
	struct pcie_queue *q;

	E.cfg.dbbuf = true;
	E.opts.shadow_doorbells = false;
	env_up();
	assert_false(E.ctrl.dbbuf);
	assert_int_equal(st()->dbbuf_configs, 0);
	q = ioq(0);
	assert_null(q->sq_shadow);
	fake_nvme_set_manual(E.dev, true);
	assert_int_equal(submit_flushes(q, 8, &w), 8);
	pcie_queue_ring(q);
	assert_int_equal(submit_flushes(q, 8, &w), 8);
	pcie_queue_ring(q);
	assert_int_equal(st()->sq_db[1], 2);
	assert_int_equal(q->db_mmio, 2);
	assert_int_equal(fake_nvme_process(E.dev, 100), 16);
	assert_int_equal(pcie_queue_process(q, 100), 16);
}

/* Inside a reactor turn a command's deadline comes from the turn's clock
 * reading, not from a clock read of its own; outside a turn, and with a
 * test's clock, the clock is read. */
static void test_deadline_from_turn_clock(void **state)
{
	struct io_done w = { 0 };
	struct pcie_queue *q;
	uint64_t before, after, timeout_ns = (uint64_t)E.opts.cmd_timeout_ms * MS;

	env_up();
	q = ioq(0);
	fake_nvme_set_manual(E.dev, true);

	E.ctrl.opts.clock_ns = reactor_now_ns;
	reactor_turn_ns = 42 * MS;
	submit(q, NVME_CMD_FLUSH, 1, 0, 0, NULL, 0, &w);
	assert_true(q->reqs[0].busy);
	assert_int_equal(q->reqs[0].deadline_ns, 42 * MS + timeout_ns);

	reactor_turn_ns = 0;
	before = reactor_now_ns();
	submit(q, NVME_CMD_FLUSH, 1, 0, 0, NULL, 0, &w);
	after = reactor_now_ns();
	assert_true(q->reqs[1].busy);
	assert_in_range(q->reqs[1].deadline_ns, before + timeout_ns, after + timeout_ns);

	/* a test's clock is read even inside a turn */
	E.ctrl.opts.clock_ns = fake_clock_ns;
	reactor_turn_ns = 42 * MS;
	submit(q, NVME_CMD_FLUSH, 1, 0, 0, NULL, 0, &w);
	reactor_turn_ns = 0;
	assert_int_equal(q->reqs[2].deadline_ns, now_ns + timeout_ns);

	pcie_queue_ring(q);
	assert_int_equal(fake_nvme_process(E.dev, 100), 3);
	assert_int_equal(pcie_queue_process(q, 100), 3);
	assert_int_equal(w.calls, 3);
}

/* While a reset re-enables the controller, the admin commands run (Set
 * Features, Doorbell Buffer Config, Create I/O CQ/SQ) before the I/O
 * queues exist again: another thread's submission to an I/O queue must be
 * told to wait (-EBUSY), not written into a queue the controller does not
 * have. The driver reads its clock once per admin command it waits for;
 * the hook tries an I/O submission there, as a reactor could meanwhile. */
static struct {
	bool armed, inside;
	unsigned tries, accepted;
	int last_rc;
} R;

static uint64_t racing_clock_ns(void)
{
	if (R.armed && !R.inside) {
		struct nvme_sqe s = { .opc = NVME_CMD_FLUSH, .nsid = 1 };
		struct io_done w = { 0 };

		R.inside = true;
		R.last_rc = pcie_queue_submit(&E.ctrl.ioq[0], &s, 0, 0, io_cb, &w);
		R.tries++;
		if (R.last_rc == 0)
			R.accepted++;
		R.inside = false;
	}
	return fake_clock_ns();
}

static void test_reset_io_waits_for_queues(void **state)
{
	E.cfg.dbbuf = true;
	E.opts.clock_ns = racing_clock_ns;
	env_up();
	memset(&R, 0, sizeof(R));
	assert_int_equal(pcie_ctrl_reset_disable(&E.ctrl), 0);
	pcie_queue_abort_all(&E.ctrl.ioq[0], PCIE_STATUS_ABORTED);
	pcie_queue_reset(&E.ctrl.ioq[0]);
	R.armed = true;
	assert_int_equal(pcie_ctrl_reset_enable(&E.ctrl), 0);
	R.armed = false;
	/* Set Features, Doorbell Buffer Config, Create CQ, Create SQ */
	assert_true(R.tries >= 4);
	assert_int_equal(R.accepted, 0);
	assert_int_equal(R.last_rc, -EBUSY);
	assert_int_equal(E.ctrl.state, PCIE_CTRL_LIVE);
	assert_int_equal(st()->doorbell_errors, 0);
	assert_int_equal(ioq(0)->inflight, 0);
}

/* --- error completions ------------------------------------------------- */

static void test_error_status_reaches_callback(void **state)
{
	const uint16_t media = NVME_STATUS(NVME_SCT_MEDIA, NVME_SC_READ_ERROR) | NVME_STATUS_DNR;
	const uint16_t fault = NVME_STATUS(NVME_SCT_MEDIA, NVME_SC_WRITE_FAULT) | NVME_STATUS_MORE;
	uint8_t *buf;
	uint64_t nsze;

	E.cfg.ns_blocks = 2048;
	env_up();
	env_pool(4096, 1);
	buf = dma_pool_get(&E.pool);
	nsze = E.ctrl.ns[0].nsze;
	assert_int_equal(nsze, 2048);

	fake_nvme_fail_next(E.dev, false, 1, media);
	assert_int_equal(io(ioq(0), NVME_CMD_READ, 1, 0, 1, buf, 512), media);
	assert_int_equal(io(ioq(0), NVME_CMD_READ, 1, 0, 1, buf, 512), 0);
	fake_nvme_fail_opcode(E.dev, false, NVME_CMD_WRITE, fault);
	assert_int_equal(io(ioq(0), NVME_CMD_READ, 1, 0, 1, buf, 512), 0);
	assert_int_equal(io(ioq(0), NVME_CMD_WRITE, 1, 0, 1, buf, 512), fault);
	assert_int_equal(io(ioq(0), NVME_CMD_WRITE, 1, 0, 1, buf, 512), 0);

	/* statuses the device itself produces */
	assert_int_equal(io(ioq(0), NVME_CMD_READ, 1, nsze - 1, 2, buf, 1024),
			 NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_LBA_RANGE) | NVME_STATUS_DNR);
	assert_int_equal(io(ioq(0), NVME_CMD_READ, 1, nsze - 2, 2, buf, 1024), 0);
	assert_int_equal(io(ioq(0), NVME_CMD_READ, 99, 0, 1, buf, 512),
			 NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_NS) | NVME_STATUS_DNR);
}

static void test_admin_sync_status_and_dw0(void **state)
{
	struct nvme_sqe s = { .opc = NVME_ADM_GET_FEATURES, .cdw10 = NVME_FEAT_NUM_QUEUES };
	struct nvme_id_ctrl *id = malloc(sizeof(*id));
	uint16_t status = 0xffff;
	uint32_t dw0 = 0;

	assert_non_null(id);
	E.cfg.max_ioq = 3;
	E.opts.nr_io_queues = 3;
	env_up();
	assert_int_equal(pcie_admin_sync(&E.ctrl, &s, NULL, 0, false, &status, &dw0), 0);
	assert_int_equal(status, 0);
	assert_int_equal(dw0, 2u | 2u << 16);
	s = (struct nvme_sqe){ .opc = 0x7e };
	assert_int_equal(pcie_admin_sync(&E.ctrl, &s, NULL, 0, false, &status, NULL), 0);
	assert_int_equal(NVME_STATUS_SC(status), NVME_SC_INVALID_OPCODE);
	s = (struct nvme_sqe){ .opc = NVME_ADM_IDENTIFY, .cdw10 = NVME_ID_CNS_CTRL };
	memset(id, 0, sizeof(*id));
	assert_int_equal(pcie_admin_sync(&E.ctrl, &s, id, sizeof(*id), false, &status, NULL), 0);
	assert_int_equal(status, 0);
	assert_int_equal(id->sqes, 0x66);
	assert_memory_equal(id->mn, E.ctrl.id.mn, sizeof(id->mn));
	free(id);
}

static void test_write_zeroes(void **state)
{
	uint8_t *buf, *media;
	struct nvme_sqe s;
	uint16_t status = 0xffff;

	env_up();
	env_pool(4096, 1);
	buf = dma_pool_get(&E.pool);
	memset(buf, 0xee, 4096);
	assert_int_equal(io(ioq(0), NVME_CMD_WRITE, 1, 8, 8, buf, 4096), 0);
	nvme_sqe_rw(&s, NVME_CMD_WRITE_ZEROES, 1, 9, 2);
	assert_int_equal(pcie_io_sync(&E.ctrl, ioq(0), &s, 0, 0, &status), 0);
	assert_int_equal(status, 0);
	media = fake_nvme_ns_data(E.dev, 1, NULL);
	assert_int_equal(media[9 * 512 - 1], 0xee);
	assert_int_equal(media[9 * 512], 0);
	assert_int_equal(media[11 * 512 - 1], 0);
	assert_int_equal(media[11 * 512], 0xee);
}

/* --- fatal status, reset, timeout ------------------------------------- */

static void test_reset_after_cfs(void **state)
{
	struct io_done w[3] = { { 0 } };
	uint8_t *buf, *r;
	unsigned disables;

	env_up();
	env_pool(4096, 2);
	buf = dma_pool_get(&E.pool);
	r = dma_pool_get(&E.pool);
	/* fill the CQ with completions of phase 1 first, so stale entries are
	 * there to be mistaken for new ones after the reset */
	for (unsigned i = 0; i < 20; i++)
		assert_int_equal(io(ioq(0), NVME_CMD_READ, 1, i, 1, buf, 512), 0);

	fake_nvme_set_manual(E.dev, true);
	for (unsigned i = 0; i < 3; i++)
		submit(ioq(0), NVME_CMD_WRITE, 1, i, 1, buf, 512, &w[i]);
	pcie_queue_ring(ioq(0));
	disables = st()->disables;
	fake_nvme_set_cfs(E.dev);

	assert_int_equal(pcie_ctrl_check(&E.ctrl), 1);
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(w[i].calls, 1);
		assert_false(w[i].had_cqe);
		assert_int_equal(w[i].status & ~(NVME_STATUS_DNR | NVME_STATUS_MORE), ABORTED);
	}
	assert_int_equal(E.ctrl.resets, 1);
	assert_int_equal(st()->disables, disables + 1);
	assert_int_equal(E.ctrl.state, PCIE_CTRL_LIVE);
	assert_false(fake_nvme_reg(E.dev, NVME_REG_CSTS) & NVME_CSTS_CFS);
	{
		struct fake_nvme_queue_info qi;

		assert_true(fake_nvme_queue_info(E.dev, 1, &qi));
		assert_true(qi.sq_live && qi.cq_live);
	}

	/* nothing is completed that the device did not complete */
	{
		struct io_done late = { 0 };

		submit(ioq(0), NVME_CMD_READ, 1, 0, 1, r, 512, &late);
		pcie_queue_ring(ioq(0));
		assert_false(pcie_queue_has_cqe(ioq(0)));
		assert_int_equal(pcie_queue_process(ioq(0), 100), 0);
		assert_int_equal(late.calls, 0);
		reap(ioq(0), &late.calls, 1);
		assert_int_equal(late.calls, 1);
		assert_int_equal(late.status, 0);
	}
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(w[i].calls, 1);
	write_read_check(buf, 0, r, 0, 100, 4096, 5);
	/* aborted commands were completed only once the device could no
	 * longer touch their buffers (CC.EN=0): callers reuse them at once */
	for (unsigned i = 0; i < 3; i++)
		assert_false(w[i].ctrl_enabled_at_cb);
}

static void test_healthy_check_does_nothing(void **state)
{
	env_up();
	assert_int_equal(pcie_ctrl_check(&E.ctrl), 0);
	now_ns += 3600000 * MS;             /* idle for an hour: still fine */
	assert_int_equal(pcie_ctrl_check(&E.ctrl), 0);
	assert_int_equal(E.ctrl.resets, 0);
	assert_int_equal(st()->disables, 0);
}

static void test_timeout_resets_controller(void **state)
{
	struct io_done w = { 0 };
	uint8_t *buf, *r;

	E.opts.cmd_timeout_ms = 1000;
	env_up();
	env_pool(4096, 2);
	buf = dma_pool_get(&E.pool);
	r = dma_pool_get(&E.pool);
	fake_nvme_drop_next(E.dev, false, 1);
	submit(ioq(0), NVME_CMD_READ, 1, 0, 8, buf, 4096, &w);
	pcie_queue_ring(ioq(0));
	assert_int_equal(pcie_queue_process(ioq(0), 100), 0);
	assert_int_equal(st()->dropped, 1);

	/* not yet expired */
	now_ns += 500 * MS;
	assert_int_equal(pcie_ctrl_check(&E.ctrl), 0);
	assert_int_equal(w.calls, 0);
	assert_int_equal(pcie_queue_expired(ioq(0), now_ns), 0);

	now_ns += 1000 * MS;
	assert_int_equal(pcie_queue_expired(ioq(0), now_ns), 1);
	assert_int_equal(pcie_ctrl_check(&E.ctrl), 1);
	assert_int_equal(w.calls, 1);
	assert_false(w.had_cqe);
	assert_int_equal(w.status & ~(NVME_STATUS_DNR | NVME_STATUS_MORE), ABORTED);
	assert_int_equal(E.ctrl.resets, 1);
	assert_int_equal(ioq(0)->inflight, 0);

	/* the controller works again and the old command stays completed once */
	write_read_check(buf, 0, r, 0, 0, 4096, 11);
	assert_int_equal(pcie_ctrl_check(&E.ctrl), 0);
	assert_int_equal(w.calls, 1);
	/* the device may still have been working on the timed-out read: its
	 * buffer is only handed back once the controller is disabled */
	assert_false(w.ctrl_enabled_at_cb);
}

static void test_admin_timeout_resets_controller(void **state)
{
	struct nvme_sqe s = { .opc = NVME_ADM_GET_FEATURES, .cdw10 = NVME_FEAT_NUM_QUEUES };
	uint16_t status = 0xffff;
	uint8_t *buf, *r;

	env_up();
	fake_nvme_drop_next(E.dev, true, 1);
	assert_int_equal(pcie_admin_sync(&E.ctrl, &s, NULL, 0, false, &status, NULL), -ETIMEDOUT);
	assert_int_equal(E.ctrl.resets, 1);
	assert_int_equal(E.ctrl.state, PCIE_CTRL_LIVE);
	assert_int_equal(pcie_admin_sync(&E.ctrl, &s, NULL, 0, false, &status, NULL), 0);
	assert_int_equal(status, 0);
	env_pool(4096, 2);
	buf = dma_pool_get(&E.pool);
	r = dma_pool_get(&E.pool);
	write_read_check(buf, 0, r, 0, 0, 4096, 12);
}

static void test_failed_reset_marks_controller_failed(void **state)
{
	struct io_done w = { 0 };
	struct nvme_sqe s = { .opc = NVME_CMD_FLUSH, .nsid = 1 };

	env_up();
	fake_nvme_set_manual(E.dev, true);
	submit(ioq(0), NVME_CMD_FLUSH, 1, 0, 1, NULL, 0, &w);
	pcie_queue_ring(ioq(0));
	/* the device never becomes ready again */
	fake_nvme_set_rdy_delay(E.dev, FAKE_NVME_NEVER);
	fake_nvme_set_cfs(E.dev);
	assert_true(pcie_ctrl_check(&E.ctrl) < 0);
	assert_int_equal(w.calls, 1);
	assert_false(w.had_cqe);
	assert_int_equal(E.ctrl.state, PCIE_CTRL_FAILED);
	assert_int_equal(pcie_queue_submit(ioq(0), &s, 0, 0, io_cb, &w), -ENODEV);
}

/* --- MSI-X ------------------------------------------------------------- */

static void *late_completion(void *arg)
{
	usleep(50000);
	fake_nvme_process(E.dev, 10);
	return NULL;
}

static void test_msix_wakes_waiter(void **state)
{
	struct io_done w = { 0 };
	struct fake_nvme_queue_info q1, q2;
	struct pcie_queue *q;
	pthread_t th;
	uint64_t t0, cnt;

	E.cfg.irq_vectors = 4;
	E.opts.irq = true;
	E.opts.nr_io_queues = 2;
	env_up();
	assert_true(fake_nvme_queue_info(E.dev, 1, &q1));
	assert_true(fake_nvme_queue_info(E.dev, 2, &q2));
	assert_true(q1.ien && q2.ien);
	assert_true(q1.iv >= 1 && q1.iv < 4);
	assert_true(q2.iv >= 1 && q2.iv < 4);
	assert_int_not_equal(q1.iv, q2.iv);
	q = ioq(0);
	assert_true(q->irq_fd >= 0);
	assert_int_equal(q->vector, q1.iv);

	fake_nvme_set_manual(E.dev, true);
	assert_int_equal(submit_flushes(q, 1, &w), 1);
	pcie_queue_ring(q);
	assert_int_equal(pcie_queue_wait(q, 0), 0);

	/* the completion arrives while the waiter sleeps; the waiter touches
	 * only CQ memory and its eventfd meanwhile, never the fake */
	assert_int_equal(pthread_create(&th, NULL, late_completion, NULL), 0);
	t0 = reactor_now_ns();
	assert_int_equal(pcie_queue_wait(q, 5000), 1);
	assert_true(reactor_now_ns() - t0 < 4500 * MS);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(st()->irqs[q1.iv], 1);
	/* the waiter slept on the eventfd and consumed the interrupt */
	assert_int_equal(read(q->irq_fd, &cnt, sizeof(cnt)), -1);
	assert_int_equal(pcie_queue_process(q, 10), 1);
	assert_int_equal(w.calls, 1);
	assert_int_equal(pcie_queue_wait(q, 10), 0);
}

static void test_no_msix_means_polling(void **state)
{
	struct fake_nvme_queue_info qi;
	struct io_done w = { 0 };

	E.cfg.irq_vectors = 0;
	E.opts.irq = true;
	env_up();
	assert_true(fake_nvme_queue_info(E.dev, 1, &qi));
	assert_false(qi.ien);
	assert_int_equal(ioq(0)->irq_fd, -1);
	assert_int_equal(ioq(0)->vector, -1);

	/* waiting without an interrupt: a sleep-poll on the phase bit */
	fake_nvme_set_manual(E.dev, true);
	assert_int_equal(pcie_queue_wait(ioq(0), 20), 0);
	assert_int_equal(submit_flushes(ioq(0), 1, &w), 1);
	pcie_queue_ring(ioq(0));
	assert_int_equal(pcie_queue_wait(ioq(0), 20), 0);
	fake_nvme_process(E.dev, 1);
	assert_int_equal(pcie_queue_wait(ioq(0), 5000), 1);
	assert_int_equal(pcie_queue_process(ioq(0), 10), 1);
	assert_int_equal(w.calls, 1);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_bringup_register_order),
		T(test_bringup_identify_results),
		T(test_max_xfer_from_opts_and_mdts),
		T(test_mdts_in_mpsmin_units),
		T(test_queue_memory_aligned_to_controller_page),
		T(test_init_fails_when_never_ready),
		T(test_init_fails_on_cfs_during_enable),
		T(test_init_fails_when_identify_fails),
		T(test_init_fails_when_identify_times_out),
		T(test_init_fails_when_queue_creation_fails),
		T(test_shutdown_then_second_init),
		T(test_doorbell_stride),
		T(test_prp_offsets_and_lengths_4k),
		T(test_prp_offsets_and_lengths_8k_pages),
		T(test_prp_list_chaining),
		T(test_submit_rejects_bad_transfers),
		T(test_phase_wrap_10000_commands),
		T(test_sq_full),
		T(test_doorbell_batching),
		T(test_deadline_from_turn_clock),
		T(test_shadow_doorbells),
		T(test_shadow_doorbells_after_reset),
		T(test_shadow_doorbells_off),
		T(test_reset_io_waits_for_queues),
		T(test_error_status_reaches_callback),
		T(test_admin_sync_status_and_dw0),
		T(test_write_zeroes),
		T(test_reset_after_cfs),
		T(test_healthy_check_does_nothing),
		T(test_timeout_resets_controller),
		T(test_admin_timeout_resets_controller),
		T(test_failed_reset_marks_controller_failed),
		T(test_msix_wakes_waiter),
		T(test_no_msix_means_polling),
	};

	/* a hung driver wait must fail the run, not stall it */
	alarm(300);
	log_set_level(LOG_LVL_ERR);
	return cmocka_run_group_tests_name("pcie_fake", tests, NULL, NULL);
}
