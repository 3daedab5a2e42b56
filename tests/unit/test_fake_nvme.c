/* SPDX-License-Identifier: MIT */
/*
 * Tests of the fake NVMe controller itself, driven by a minimal hand-made
 * host (raw register writes, queues laid out by hand). The driver tests
 * in test_pcie_fake.c rely on the fake catching driver mistakes; these
 * tests show that it does: each checker is fed the mistake it exists for.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "tests/fake_nvme.h"

#define PAGE 4096u
#define MEM_PAGES 64u
#define AQ_DEPTH 8u

/* Host memory layout, in pages of the one mapped region */
enum {
	PG_ASQ = 0,
	PG_ACQ = 1,
	PG_IOSQ = 2,
	PG_IOCQ = 3,
	PG_LIST = 4,     /* two PRP list pages */
	PG_ID = 6,       /* identify buffer */
	PG_DATA = 8,     /* data from here to the end */
};

struct host {
	struct fake_nvme_config cfg;
	struct fake_nvme *d;
	uint8_t *mem;
	uint64_t iova;
	uint16_t sq_tail[2];
	uint16_t cq_head[2];
	uint8_t phase[2];
	uint16_t sqsize[2];
	uint16_t cqsize[2];
	uint16_t cid;
};

static struct host H;

static uint64_t pg_iova(unsigned pg)
{
	return H.iova + (uint64_t)pg * PAGE;
}

static void *pg_va(unsigned pg)
{
	return H.mem + (size_t)pg * PAGE;
}

static void wr(uint32_t off, uint32_t val)
{
	fake_nvme_ops.write32(H.d, off, val);
}

static uint32_t rd(uint32_t off)
{
	return fake_nvme_ops.read32(H.d, off);
}

static const struct fake_nvme_stats *st(void)
{
	return fake_nvme_stats(H.d);
}

static void host_create(void)
{
	H.d = fake_nvme_create(&H.cfg);
	assert_non_null(H.d);
	H.mem = aligned_alloc(PAGE, MEM_PAGES * PAGE);
	assert_non_null(H.mem);
	memset(H.mem, 0, MEM_PAGES * PAGE);
	assert_int_equal(fake_nvme_ops.dma_map(H.d, H.mem, MEM_PAGES * PAGE, &H.iova), 0);
}

static int setup(void **state)
{
	memset(&H, 0, sizeof(H));
	fake_nvme_config_default(&H.cfg);
	H.cfg.rdy_delay_reads = 0;
	H.cfg.shst_delay_reads = 0;
	return 0;
}

static int teardown(void **state)
{
	if (H.d) {
		wr(NVME_REG_CC, 0);   /* the device lets go of the queues first */
		if (H.mem)
			fake_nvme_ops.dma_unmap(H.d, H.mem, MEM_PAGES * PAGE, H.iova);
		fake_nvme_destroy(H.d);
	}
	free(H.mem);
	return 0;
}

static uint32_t cc_value(void)
{
	return NVME_CC_EN | NVME_CC_IOSQES(6) | NVME_CC_IOCQES(4) | NVME_CC_MPS(H.cfg.mpsmin);
}

static void program_admin_queue(void)
{
	wr(NVME_REG_AQA, NVME_AQA(AQ_DEPTH, AQ_DEPTH));
	wr(NVME_REG_ASQ, (uint32_t)pg_iova(PG_ASQ));
	wr(NVME_REG_ASQ + 4, (uint32_t)(pg_iova(PG_ASQ) >> 32));
	wr(NVME_REG_ACQ, (uint32_t)pg_iova(PG_ACQ));
	wr(NVME_REG_ACQ + 4, (uint32_t)(pg_iova(PG_ACQ) >> 32));
	H.sqsize[0] = AQ_DEPTH;
	H.cqsize[0] = AQ_DEPTH;
	H.phase[0] = 1;
}

static void host_enable(void)
{
	host_create();
	program_admin_queue();
	wr(NVME_REG_CC, cc_value());
	assert_true(rd(NVME_REG_CSTS) & NVME_CSTS_RDY);
}

static struct nvme_sqe *sq_slot(unsigned q)
{
	return (struct nvme_sqe *)pg_va(q ? PG_IOSQ : PG_ASQ) + H.sq_tail[q];
}

static struct nvme_cqe *cq_slot(unsigned q)
{
	return (struct nvme_cqe *)pg_va(q ? PG_IOCQ : PG_ACQ) + H.cq_head[q];
}

/* Queue one SQE without ringing; returns its CID. */
static uint16_t queue_cmd(unsigned q, struct nvme_sqe s)
{
	s.cid = ++H.cid;
	*sq_slot(q) = s;
	H.sq_tail[q] = (uint16_t)((H.sq_tail[q] + 1) % H.sqsize[q]);
	return s.cid;
}

static void ring(unsigned q)
{
	wr(nvme_sq_tail_db((uint16_t)q, H.cfg.dstrd), H.sq_tail[q]);
}

static bool cqe_ready(unsigned q)
{
	return NVME_CQE_PHASE(cq_slot(q)) == H.phase[q];
}

/* Take the next CQE (asserting there is one) without ringing the head. */
static struct nvme_cqe take_cqe(unsigned q)
{
	struct nvme_cqe e;

	assert_true(cqe_ready(q));
	e = *cq_slot(q);
	if (++H.cq_head[q] == H.cqsize[q]) {
		H.cq_head[q] = 0;
		H.phase[q] ^= 1;
	}
	return e;
}

static void ring_head(unsigned q)
{
	wr(nvme_cq_head_db((uint16_t)q, H.cfg.dstrd), H.cq_head[q]);
}

/* Submit, ring, reap one completion: its status field. */
static uint16_t exec(unsigned q, struct nvme_sqe s, struct nvme_cqe *out)
{
	uint16_t cid = queue_cmd(q, s);
	struct nvme_cqe e;

	ring(q);
	e = take_cqe(q);
	ring_head(q);
	assert_int_equal(e.cid, cid);
	if (out)
		*out = e;
	return NVME_CQE_STATUS(&e);
}

static struct nvme_sqe identify_sqe(uint8_t cns, uint32_t nsid, uint64_t prp1)
{
	struct nvme_sqe s = { .opc = NVME_ADM_IDENTIFY, .nsid = nsid, .cdw10 = cns };

	s.dptr.prp.prp1 = prp1;
	return s;
}

static void create_io_queues(uint16_t cq_size, uint16_t sq_size, uint32_t cq_flags)
{
	struct nvme_sqe s = { .opc = NVME_ADM_SET_FEATURES, .cdw10 = NVME_FEAT_NUM_QUEUES };

	assert_int_equal(exec(0, s, NULL), 0);
	s = (struct nvme_sqe){ .opc = NVME_ADM_CREATE_CQ,
			       .cdw10 = 1u | (uint32_t)(cq_size - 1) << 16,
			       .cdw11 = NVME_CQ_PC | cq_flags };
	s.dptr.prp.prp1 = pg_iova(PG_IOCQ);
	assert_int_equal(exec(0, s, NULL), 0);
	s = (struct nvme_sqe){ .opc = NVME_ADM_CREATE_SQ,
			       .cdw10 = 1u | (uint32_t)(sq_size - 1) << 16,
			       .cdw11 = NVME_SQ_PC | 1u << 16 };
	s.dptr.prp.prp1 = pg_iova(PG_IOSQ);
	assert_int_equal(exec(0, s, NULL), 0);
	H.sqsize[1] = sq_size;
	H.cqsize[1] = cq_size;
	H.phase[1] = 1;
}

static struct nvme_sqe rw_sqe(uint8_t opc, uint64_t slba, uint32_t nlb, uint64_t prp1,
			     uint64_t prp2)
{
	struct nvme_sqe s;

	nvme_sqe_rw(&s, opc, 1, slba, nlb);
	s.dptr.prp.prp1 = prp1;
	s.dptr.prp.prp2 = prp2;
	return s;
}

/* --- DMA map table ---------------------------------------------------- */

static void test_iova_is_not_va(void **state)
{
	static uint8_t other[8192];
	uint64_t iova2;

	host_create();
	assert_true(H.iova >= FAKE_NVME_IOVA_BASE);
	assert_true(H.iova != (uintptr_t)H.mem);
	/* as page aligned as the VA, and deliberately no more */
	assert_int_equal(H.iova & 0x1fff, 0x1000);
	assert_ptr_equal(fake_nvme_iova_to_va(H.d, H.iova + 100, 8), H.mem + 100);
	assert_int_equal(fake_nvme_ops.dma_map(H.d, other, sizeof(other), &iova2), 0);
	/* no IOVA just past the end of a mapping resolves */
	assert_null(fake_nvme_iova_to_va(H.d, H.iova + MEM_PAGES * PAGE, 1));
	assert_null(fake_nvme_iova_to_va(H.d, H.iova + MEM_PAGES * PAGE - 4, 8));
	assert_null(fake_nvme_iova_to_va(H.d, (uintptr_t)H.mem, 8));
	assert_int_equal(fake_nvme_nr_mappings(H.d), 2);
	assert_int_equal(fake_nvme_ops.dma_unmap(H.d, other, sizeof(other), iova2), 0);
	assert_null(fake_nvme_iova_to_va(H.d, iova2, 1));
	assert_int_equal(fake_nvme_ops.dma_unmap(H.d, other, sizeof(other), iova2), -EINVAL);
	assert_int_equal(st()->dma_errors, 1);
}

/* --- CC / CSTS -------------------------------------------------------- */

static void test_rdy_follows_enable_after_reads(void **state)
{
	H.cfg.rdy_delay_reads = 3;
	host_create();
	program_admin_queue();
	wr(NVME_REG_CC, cc_value());
	for (int i = 0; i < 3; i++)
		assert_false(rd(NVME_REG_CSTS) & NVME_CSTS_RDY);
	assert_true(rd(NVME_REG_CSTS) & NVME_CSTS_RDY);
	wr(NVME_REG_CC, 0);
	for (int i = 0; i < 3; i++)
		assert_true(rd(NVME_REG_CSTS) & NVME_CSTS_RDY);
	assert_false(rd(NVME_REG_CSTS) & NVME_CSTS_RDY);
	assert_int_equal(st()->errors, 0);
	assert_int_equal(st()->enables, 1);
	assert_int_equal(st()->disables, 1);
}

static void test_bad_cc_sets_cfs(void **state)
{
	host_create();
	program_admin_queue();
	wr(NVME_REG_CC, NVME_CC_EN | NVME_CC_IOSQES(7) | NVME_CC_IOCQES(4));
	assert_true(rd(NVME_REG_CSTS) & NVME_CSTS_CFS);
	assert_false(rd(NVME_REG_CSTS) & NVME_CSTS_RDY);
	assert_int_equal(st()->reg_errors, 1);
	/* a reset clears it and a correct CC works */
	wr(NVME_REG_CC, 0);
	assert_false(rd(NVME_REG_CSTS) & NVME_CSTS_CFS);
	wr(NVME_REG_CC, cc_value());
	assert_int_equal(rd(NVME_REG_CSTS) & (NVME_CSTS_RDY | NVME_CSTS_CFS), NVME_CSTS_RDY);
}

static void test_mps_outside_cap_sets_cfs(void **state)
{
	H.cfg.mpsmin = 1;
	host_create();
	program_admin_queue();
	wr(NVME_REG_CC, NVME_CC_EN | NVME_CC_IOSQES(6) | NVME_CC_IOCQES(4) | NVME_CC_MPS(0));
	assert_true(rd(NVME_REG_CSTS) & NVME_CSTS_CFS);
	assert_int_equal(st()->reg_errors, 1);
}

static void test_unmapped_admin_queue_sets_cfs(void **state)
{
	host_create();
	wr(NVME_REG_AQA, NVME_AQA(AQ_DEPTH, AQ_DEPTH));
	wr(NVME_REG_ASQ, (uint32_t)(uintptr_t)H.mem);   /* a VA, not an IOVA */
	wr(NVME_REG_ASQ + 4, (uint32_t)((uintptr_t)H.mem >> 32));
	wr(NVME_REG_ACQ, (uint32_t)pg_iova(PG_ACQ));
	wr(NVME_REG_ACQ + 4, (uint32_t)(pg_iova(PG_ACQ) >> 32));
	wr(NVME_REG_CC, cc_value());
	assert_true(rd(NVME_REG_CSTS) & NVME_CSTS_CFS);
	assert_int_equal(st()->dma_errors, 1);
}

static void test_admin_regs_need_disabled_controller(void **state)
{
	host_enable();
	wr(NVME_REG_AQA, NVME_AQA(4, 4));
	assert_int_equal(st()->reg_errors, 1);
}

static void test_enable_before_rdy_cleared_is_an_error(void **state)
{
	H.cfg.rdy_delay_reads = 5;
	H.cfg.start_enabled = true;
	host_create();
	wr(NVME_REG_CC, 0);
	program_admin_queue();           /* RDY still 1: reset not awaited */
	assert_true(st()->reg_errors >= 1);
}

static void test_shutdown_reports_complete(void **state)
{
	H.cfg.shst_delay_reads = 2;
	host_enable();
	create_io_queues(4, 4, 0);
	wr(NVME_REG_CC, cc_value() | NVME_CC_SHN_NORMAL);
	assert_int_equal(rd(NVME_REG_CSTS) & NVME_CSTS_SHST_MASK, NVME_CSTS_SHST_OCCURRING);
	assert_int_equal(rd(NVME_REG_CSTS) & NVME_CSTS_SHST_MASK, NVME_CSTS_SHST_OCCURRING);
	assert_int_equal(rd(NVME_REG_CSTS) & NVME_CSTS_SHST_MASK, NVME_CSTS_SHST_CMPLT);
	assert_int_equal(st()->shutdowns, 1);
	assert_int_equal(st()->ioq_live_at_shutdown, 2);
	/* no more commands after a shutdown */
	queue_cmd(0, identify_sqe(NVME_ID_CNS_CTRL, 0, pg_iova(PG_ID)));
	ring(0);
	assert_false(cqe_ready(0));
	assert_int_equal(st()->doorbell_errors, 1);
}

static void test_disable_deletes_queues(void **state)
{
	struct fake_nvme_queue_info qi;

	host_enable();
	create_io_queues(4, 4, 0);
	assert_true(fake_nvme_queue_info(H.d, 1, &qi));
	assert_true(qi.sq_live && qi.cq_live);
	wr(NVME_REG_CC, 0);
	assert_false(fake_nvme_queue_info(H.d, 1, &qi));
	assert_false(fake_nvme_queue_info(H.d, 0, &qi));
	/* queue memory still mapped is fine once the controller is off */
	assert_int_equal(fake_nvme_ops.dma_unmap(H.d, H.mem, MEM_PAGES * PAGE, H.iova), 0);
	free(H.mem);
	H.mem = NULL;
	assert_int_equal(st()->errors, 0);
}

static void test_unmapping_live_queue_is_an_error(void **state)
{
	host_enable();
	assert_int_equal(fake_nvme_ops.dma_unmap(H.d, H.mem, MEM_PAGES * PAGE, H.iova), 0);
	free(H.mem);
	H.mem = NULL;
	assert_int_equal(st()->reg_errors, 1);
}

/* --- admin commands --------------------------------------------------- */

static void test_identify_controller(void **state)
{
	const struct nvme_id_ctrl *id;

	H.cfg.mdts = 7;
	H.cfg.mn = "Model X";
	host_enable();
	id = pg_va(PG_ID);
	assert_int_equal(exec(0, identify_sqe(NVME_ID_CNS_CTRL, 0, pg_iova(PG_ID)), NULL), 0);
	assert_memory_equal(id->mn, "Model X   ", 10);
	assert_int_equal(id->mdts, 7);
	assert_int_equal(id->sqes, 0x66);
	assert_int_equal(id->cqes, 0x44);
	assert_int_equal(id->nn, 1);
	assert_int_equal(st()->errors, 0);
}

static void test_identify_namespaces(void **state)
{
	const uint32_t *list;
	const struct nvme_id_ns *ns;

	H.cfg.nr_ns = 2;
	H.cfg.first_nsid = 3;
	H.cfg.nn = 8;
	H.cfg.lba_size = 4096;
	H.cfg.ns_blocks = 100;
	host_enable();
	list = pg_va(PG_ID);
	ns = pg_va(PG_ID);
	assert_int_equal(exec(0, identify_sqe(NVME_ID_CNS_NS_ACTIVE_LIST, 0, pg_iova(PG_ID)), NULL), 0);
	assert_int_equal(list[0], 3);
	assert_int_equal(list[1], 4);
	assert_int_equal(list[2], 0);
	assert_int_equal(exec(0, identify_sqe(NVME_ID_CNS_NS_ACTIVE_LIST, 3, pg_iova(PG_ID)), NULL), 0);
	assert_int_equal(list[0], 4);
	assert_int_equal(exec(0, identify_sqe(NVME_ID_CNS_NS, 4, pg_iova(PG_ID)), NULL), 0);
	assert_int_equal(ns->nsze, 100);
	assert_int_equal(nvme_id_ns_flbas_index(ns), 1);
	assert_int_equal(ns->lbaf[1].lbads, 12);
	/* inactive but valid NSID: zeroes; beyond NN: Invalid Namespace */
	assert_int_equal(exec(0, identify_sqe(NVME_ID_CNS_NS, 2, pg_iova(PG_ID)), NULL), 0);
	assert_int_equal(ns->nsze, 0);
	assert_int_equal(NVME_STATUS_SC(exec(0, identify_sqe(NVME_ID_CNS_NS, 9, pg_iova(PG_ID)), NULL)),
			 NVME_SC_INVALID_NS);
}

static void test_identify_to_va_is_dma_error(void **state)
{
	uint16_t status;

	host_enable();
	status = exec(0, identify_sqe(NVME_ID_CNS_CTRL, 0, (uintptr_t)pg_va(PG_ID)), NULL);
	assert_int_equal(NVME_STATUS_SC(status), NVME_SC_DATA_XFER_ERROR);
	assert_int_equal(st()->dma_errors, 1);
}

static void test_prp1_not_dword_aligned(void **state)
{
	uint16_t status;

	host_enable();
	status = exec(0, identify_sqe(NVME_ID_CNS_CTRL, 0, pg_iova(PG_ID) + 2), NULL);
	assert_int_equal(NVME_STATUS_SC(status), NVME_SC_INVALID_PRP_OFFSET);
	assert_int_equal(st()->prp_errors, 1);
}

static void test_identify_with_offset_uses_prp2(void **state)
{
	const struct nvme_id_ctrl *id;
	struct nvme_sqe s;

	host_enable();
	id = (const void *)((uint8_t *)pg_va(PG_ID) + 64);
	s = identify_sqe(NVME_ID_CNS_CTRL, 0, pg_iova(PG_ID) + 64);
	s.dptr.prp.prp2 = pg_iova(PG_ID + 1);
	assert_int_equal(exec(0, s, NULL), 0);
	assert_int_equal(id->sqes, 0x66);
	assert_int_equal(id->nn, 1);   /* offset 516: still in the first page */
	/* PRP2 with an offset is not a data page */
	s.dptr.prp.prp2 = pg_iova(PG_ID + 1) + 8;
	assert_int_equal(NVME_STATUS_SC(exec(0, s, NULL)), NVME_SC_INVALID_PRP_OFFSET);
}

static void test_number_of_queues_granted(void **state)
{
	struct nvme_sqe s = { .opc = NVME_ADM_SET_FEATURES, .cdw10 = NVME_FEAT_NUM_QUEUES,
			      .cdw11 = 7u | 7u << 16 };
	struct nvme_cqe e;

	H.cfg.max_ioq = 3;
	host_enable();
	assert_int_equal(exec(0, s, &e), 0);
	assert_int_equal(e.dw0, 2u | 2u << 16);
	assert_int_equal(st()->nq_requested, 7u | 7u << 16);
	s.opc = NVME_ADM_GET_FEATURES;
	assert_int_equal(exec(0, s, &e), 0);
	assert_int_equal(e.dw0, 2u | 2u << 16);
}

static void test_create_queue_validation(void **state)
{
	struct nvme_sqe s = { .opc = NVME_ADM_SET_FEATURES, .cdw10 = NVME_FEAT_NUM_QUEUES,
			      .cdw11 = 1u | 1u << 16 };

	H.cfg.mqes = 15;
	H.cfg.irq_vectors = 2;
	host_enable();
	assert_int_equal(exec(0, s, NULL), 0);
	s = (struct nvme_sqe){ .opc = NVME_ADM_CREATE_SQ, .cdw10 = 1u | 3u << 16,
			       .cdw11 = NVME_SQ_PC | 1u << 16 };
	s.dptr.prp.prp1 = pg_iova(PG_IOSQ);
	/* SQ before its CQ */
	assert_int_equal(exec(0, s, NULL),
			 NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_CQ_INVALID) | NVME_STATUS_DNR);
	s.opc = NVME_ADM_CREATE_CQ;
	s.cdw11 = NVME_CQ_PC;
	s.cdw10 = 3u | 3u << 16;    /* only 2 granted */
	s.dptr.prp.prp1 = pg_iova(PG_IOCQ);
	assert_int_equal(NVME_STATUS_SC(exec(0, s, NULL)), NVME_SC_QID_INVALID);
	s.cdw10 = 1u | 16u << 16;   /* 17 entries > MQES + 1 */
	assert_int_equal(NVME_STATUS_SC(exec(0, s, NULL)), NVME_SC_QUEUE_SIZE);
	s.cdw10 = 1u | 3u << 16;
	s.cdw11 = 0;                /* not contiguous */
	assert_int_equal(NVME_STATUS_SC(exec(0, s, NULL)), NVME_SC_INVALID_FIELD);
	s.cdw11 = NVME_CQ_PC | NVME_CQ_IEN | 2u << 16;   /* vector 2 of 2 */
	assert_int_equal(NVME_STATUS_SC(exec(0, s, NULL)), NVME_SC_INVALID_VECTOR);
	s.cdw11 = NVME_CQ_PC | NVME_CQ_IEN | 1u << 16;
	assert_int_equal(exec(0, s, NULL), 0);
	assert_int_equal(NVME_STATUS_SC(exec(0, s, NULL)), NVME_SC_QID_INVALID);  /* exists */
	s.opc = NVME_ADM_CREATE_SQ;
	s.cdw11 = NVME_SQ_PC | 1u << 16;
	s.dptr.prp.prp1 = pg_iova(PG_IOSQ) + 64;   /* not page aligned */
	assert_int_equal(NVME_STATUS_SC(exec(0, s, NULL)), NVME_SC_INVALID_PRP_OFFSET);
	s.dptr.prp.prp1 = pg_iova(PG_IOSQ);
	assert_int_equal(exec(0, s, NULL), 0);
	/* CQ in use by an SQ cannot go first */
	s = (struct nvme_sqe){ .opc = NVME_ADM_DELETE_CQ, .cdw10 = 1 };
	assert_int_not_equal(exec(0, s, NULL), 0);
	assert_int_equal(st()->cmd_errors, 1);
	s.opc = NVME_ADM_DELETE_SQ;
	assert_int_equal(exec(0, s, NULL), 0);
	s.opc = NVME_ADM_DELETE_CQ;
	assert_int_equal(exec(0, s, NULL), 0);
	assert_int_equal(st()->creates_sq, 1);
	assert_int_equal(st()->deletes_cq, 1);
}

static void test_unknown_admin_opcode(void **state)
{
	struct nvme_sqe s = { .opc = 0x7e };

	host_enable();
	assert_int_equal(NVME_STATUS_SC(exec(0, s, NULL)), NVME_SC_INVALID_OPCODE);
	s.opc = NVME_ADM_ABORT;
	assert_int_equal(exec(0, s, NULL), 0);
}

/* --- I/O, PRP walker -------------------------------------------------- */

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
}

static void test_write_read_two_pages(void **state)
{
	uint8_t *src, *ns;

	H.cfg.mdts = 0;
	host_enable();
	src = (uint8_t *)pg_va(PG_DATA) + 400;
	create_io_queues(4, 4, 0);
	fill(src, 4096, 1);
	/* 8 blocks starting 400 bytes into a page: two pages, PRP2 = page 2 */
	assert_int_equal(exec(1, rw_sqe(NVME_CMD_WRITE, 10, 8, pg_iova(PG_DATA) + 400,
					 pg_iova(PG_DATA + 1)), NULL), 0);
	ns = fake_nvme_ns_data(H.d, 1, NULL);
	assert_memory_equal(ns + 10 * 512, src, 4096);
	memset(pg_va(PG_DATA + 4), 0, 2 * PAGE);
	assert_int_equal(exec(1, rw_sqe(NVME_CMD_READ, 10, 8, pg_iova(PG_DATA + 4),
					 0), NULL), 0);
	assert_memory_equal(pg_va(PG_DATA + 4), src, 4096);
	assert_int_equal(st()->prp_list_pages, 0);
	assert_int_equal(st()->errors, 0);
}

/* nentries data pages after the first, listed from list_iova (which may
 * have an offset); the last slot of each full list page chains to the next
 * list page when more than one entry remains. */
static void build_prp_list(uint64_t list_iova, unsigned first_data_pg, unsigned nentries)
{
	uint64_t *slot = fake_nvme_iova_to_va(H.d, list_iova, 8);
	unsigned left_in_page = (PAGE - (list_iova & (PAGE - 1))) / 8;
	unsigned next_list_pg = PG_LIST + 1;

	for (unsigned i = 0; i < nentries; i++) {
		if (left_in_page == 1 && nentries - i > 1) {
			*slot = pg_iova(next_list_pg);
			slot = pg_va(next_list_pg++);
			left_in_page = PAGE / 8;
		}
		*slot++ = pg_iova(first_data_pg + i);
		left_in_page--;
	}
}

/* With the list pointer 8 bytes before the end of its page, the single
 * slot there must chain; this exercises the "list pointer with an offset"
 * rule and the chaining rule with a tiny amount of memory. */
static void test_prp_list_with_offset_chains(void **state)
{
	unsigned pages = 4;
	uint8_t *src, *ns;
	uint64_t list;

	H.cfg.mdts = 0;
	host_enable();
	src = pg_va(PG_DATA);
	list = pg_iova(PG_LIST) + PAGE - 16;   /* two slots left */
	create_io_queues(4, 4, 0);
	fill(src, pages * PAGE, 2);
	build_prp_list(list, PG_DATA + 1, pages - 1);
	assert_int_equal(exec(1, rw_sqe(NVME_CMD_WRITE, 0, pages * 8, pg_iova(PG_DATA), list), NULL), 0);
	ns = fake_nvme_ns_data(H.d, 1, NULL);
	assert_memory_equal(ns, src, pages * PAGE);
	assert_int_equal(st()->max_prp_list_pages, 2);
	assert_int_equal(st()->errors, 0);
}

/* Two slots left and exactly two entries: the last slot is data, not a
 * chain pointer (the bug libvfn fixed in c2acee36). */
static void test_prp_list_last_slot_is_data(void **state)
{
	uint8_t *src, *ns;
	uint64_t list;

	H.cfg.mdts = 0;
	host_enable();
	src = pg_va(PG_DATA);
	list = pg_iova(PG_LIST) + PAGE - 16;
	create_io_queues(4, 4, 0);
	fill(src, 3 * PAGE, 3);
	build_prp_list(list, PG_DATA + 1, 2);
	assert_int_equal(exec(1, rw_sqe(NVME_CMD_WRITE, 0, 24, pg_iova(PG_DATA), list), NULL), 0);
	ns = fake_nvme_ns_data(H.d, 1, NULL);
	assert_memory_equal(ns, src, 3 * PAGE);
	assert_int_equal(st()->max_prp_list_pages, 1);
	assert_int_equal(st()->errors, 0);
}

static void test_prp_list_entry_with_offset(void **state)
{
	uint64_t list;
	uint64_t *ents;
	uint16_t status;

	H.cfg.mdts = 0;
	host_enable();
	list = pg_iova(PG_LIST);
	ents = pg_va(PG_LIST);
	create_io_queues(4, 4, 0);
	ents[0] = pg_iova(PG_DATA + 1);
	ents[1] = pg_iova(PG_DATA + 2) + 512;
	status = exec(1, rw_sqe(NVME_CMD_WRITE, 0, 24, pg_iova(PG_DATA), list), NULL);
	assert_int_equal(NVME_STATUS_SC(status), NVME_SC_INVALID_PRP_OFFSET);
	assert_int_equal(st()->prp_errors, 1);
}

static void test_prp_entry_out_of_mapping(void **state)
{
	uint64_t end;

	H.cfg.mdts = 0;
	host_enable();
	create_io_queues(4, 4, 0);
	end = H.iova + MEM_PAGES * PAGE;
	/* second page runs past the end of the mapping */
	assert_int_equal(NVME_STATUS_SC(exec(1, rw_sqe(NVME_CMD_READ, 0, 16, end - PAGE, end), NULL)),
			 NVME_SC_DATA_XFER_ERROR);
	assert_int_equal(st()->dma_errors, 1);
}

static void test_lba_range_and_mdts(void **state)
{
	H.cfg.ns_blocks = 64;
	H.cfg.mdts = 1;    /* 8 KiB */
	host_enable();
	create_io_queues(4, 4, 0);
	assert_int_equal(exec(1, rw_sqe(NVME_CMD_READ, 63, 2, pg_iova(PG_DATA),
					 pg_iova(PG_DATA + 1)), NULL),
			 NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_LBA_RANGE) | NVME_STATUS_DNR);
	assert_int_equal(exec(1, rw_sqe(NVME_CMD_READ, 62, 2, pg_iova(PG_DATA), 0), NULL), 0);
	assert_int_equal(st()->errors, 0);
	assert_int_equal(NVME_STATUS_SC(exec(1, rw_sqe(NVME_CMD_READ, 0, 17, pg_iova(PG_DATA),
							pg_iova(PG_LIST)), NULL)),
			 NVME_SC_INVALID_FIELD);
	assert_int_equal(st()->cmd_errors, 1);
}

static void test_write_zeroes_and_flush(void **state)
{
	struct nvme_sqe s;
	uint8_t *ns;

	host_enable();
	create_io_queues(4, 4, 0);
	ns = fake_nvme_ns_data(H.d, 1, NULL);
	memset(ns, 0xaa, 4 * 512);
	nvme_sqe_rw(&s, NVME_CMD_WRITE_ZEROES, 1, 1, 2);
	assert_int_equal(exec(1, s, NULL), 0);
	assert_int_equal(ns[511], 0xaa);
	assert_int_equal(ns[512], 0);
	assert_int_equal(ns[3 * 512 - 1], 0);
	assert_int_equal(ns[3 * 512], 0xaa);
	s = (struct nvme_sqe){ .opc = NVME_CMD_FLUSH, .nsid = 1 };
	assert_int_equal(exec(1, s, NULL), 0);
	s.nsid = 2;
	assert_int_equal(NVME_STATUS_SC(exec(1, s, NULL)), NVME_SC_INVALID_NS);
}

/* --- queues, doorbells, phase ----------------------------------------- */

static void test_phase_and_sqhd(void **state)
{
	struct nvme_sqe flush = { .opc = NVME_CMD_FLUSH, .nsid = 1 };
	struct nvme_cqe e;

	host_enable();
	create_io_queues(4, 4, 0);
	for (unsigned i = 0; i < 9; i++) {
		uint8_t phase = H.phase[1];

		assert_int_equal(exec(1, flush, &e), 0);
		assert_int_equal(NVME_CQE_PHASE(&e), phase);
		assert_int_equal(e.sqhd, (i + 1) % 4);
		assert_int_equal(e.sqid, 1);
	}
	assert_int_equal(st()->cq_wraps[1], 2);
	assert_int_equal(st()->cqes[1], 9);
	assert_int_equal(st()->errors, 0);
}

static void test_full_cq_stalls_until_head_moves(void **state)
{
	struct nvme_sqe flush = { .opc = NVME_CMD_FLUSH, .nsid = 1 };
	struct nvme_cqe e;

	host_enable();
	create_io_queues(2, 4, 0);    /* CQ of 2: one completion at a time */
	queue_cmd(1, flush);
	queue_cmd(1, flush);
	queue_cmd(1, flush);
	ring(1);
	e = take_cqe(1);
	assert_int_equal(e.sqhd, 1);
	assert_false(cqe_ready(1));
	assert_true(st()->cq_full_stalls >= 1);
	ring_head(1);                 /* frees the slot: the next one comes */
	e = take_cqe(1);
	assert_int_equal(e.sqhd, 2);
	ring_head(1);
	e = take_cqe(1);
	assert_int_equal(e.sqhd, 3);
	ring_head(1);
	assert_int_equal(st()->cmds[1], 3);
	assert_int_equal(st()->errors, 0);
}

static void test_manual_mode(void **state)
{
	struct nvme_sqe flush = { .opc = NVME_CMD_FLUSH, .nsid = 1 };

	H.cfg.manual = true;
	host_enable();
	create_io_queues(8, 8, 0);    /* admin queue still immediate */
	for (int i = 0; i < 5; i++)
		queue_cmd(1, flush);
	ring(1);
	assert_false(cqe_ready(1));
	assert_int_equal(fake_nvme_process(H.d, 2), 2);
	take_cqe(1);
	take_cqe(1);
	assert_false(cqe_ready(1));
	assert_int_equal(fake_nvme_process(H.d, 100), 3);
	for (int i = 0; i < 3; i++)
		take_cqe(1);
	ring_head(1);
	assert_int_equal(st()->sq_db[1], 1);
	assert_int_equal(st()->cq_db[1], 1);
	assert_int_equal(st()->errors, 0);
}

static void test_doorbell_checks(void **state)
{
	struct nvme_sqe flush = { .opc = NVME_CMD_FLUSH, .nsid = 1 };

	H.cfg.manual = true;
	host_enable();
	create_io_queues(4, 4, 0);
	wr(nvme_sq_tail_db(1, 0), 4);             /* beyond the queue */
	assert_int_equal(st()->doorbell_errors, 1);
	wr(nvme_sq_tail_db(2, 0), 0);             /* no such queue */
	assert_int_equal(st()->doorbell_errors, 2);
	queue_cmd(1, flush);
	ring(1);
	wr(nvme_cq_head_db(1, 0), 1);             /* nothing posted yet */
	assert_int_equal(st()->doorbell_errors, 3);
	fake_nvme_process(H.d, 1);
	wr(nvme_cq_head_db(1, 0), 1);             /* now fine */
	assert_int_equal(st()->doorbell_errors, 3);
	wr(NVME_REG_DBS + 2, 0);                  /* off the stride */
	assert_int_equal(st()->doorbell_errors, 4);
	/* tail moving by more than the free room (head 1, tail 1 -> 0: 3 adds) fine,
	 * but two rings adding 3 then 1 overflow */
	wr(nvme_sq_tail_db(1, 0), 0);
	assert_int_equal(st()->doorbell_errors, 4);
	wr(nvme_sq_tail_db(1, 0), 1);
	assert_int_equal(st()->doorbell_errors, 5);
}

static void test_doorbell_stride(void **state)
{
	struct nvme_sqe flush = { .opc = NVME_CMD_FLUSH, .nsid = 1 };

	H.cfg.dstrd = 2;
	host_enable();
	create_io_queues(4, 4, 0);
	assert_int_equal(exec(1, flush, NULL), 0);
	assert_int_equal(nvme_sq_tail_db(1, 2), 0x1020);
	assert_int_equal(st()->sq_db[1], 1);
	assert_int_equal(st()->cq_db[1], 1);
	wr(NVME_REG_DBS + 8, 0);   /* SQ 1 with a stride of 4 bytes: wrong here */
	assert_int_equal(st()->doorbell_errors, 1);
}

static void test_msix_signals_eventfd(void **state)
{
	struct nvme_sqe flush = { .opc = NVME_CMD_FLUSH, .nsid = 1 };
	int efds[2] = { eventfd(0, EFD_NONBLOCK), eventfd(0, EFD_NONBLOCK) };
	uint64_t v = 0;

	H.cfg.irq_vectors = 2;
	host_create();
	assert_int_equal(fake_nvme_ops.irq_count(H.d), 2);
	assert_int_equal(fake_nvme_ops.irq_enable(H.d, 3, efds), -EINVAL);
	assert_int_equal(fake_nvme_ops.irq_enable(H.d, 2, efds), 0);
	program_admin_queue();
	wr(NVME_REG_CC, cc_value());
	create_io_queues(4, 4, NVME_CQ_IEN | 1u << 16);
	assert_int_equal(read(efds[0], &v, sizeof(v)), sizeof(v));   /* admin CQ: vector 0 */
	assert_int_equal(v, 3);
	assert_int_equal(exec(1, flush, NULL), 0);
	assert_int_equal(read(efds[1], &v, sizeof(v)), sizeof(v));
	assert_int_equal(v, 1);
	assert_int_equal(st()->irqs[1], 1);
	fake_nvme_ops.irq_disable(H.d);
	assert_int_equal(exec(1, flush, NULL), 0);
	assert_int_equal(read(efds[1], &v, sizeof(v)), -1);
	close(efds[0]);
	close(efds[1]);
}

/* --- error injection -------------------------------------------------- */

static void test_injection(void **state)
{
	struct nvme_sqe flush = { .opc = NVME_CMD_FLUSH, .nsid = 1 };
	uint16_t media = NVME_STATUS(NVME_SCT_MEDIA, NVME_SC_WRITE_FAULT);
	uint16_t cid;

	host_enable();
	create_io_queues(8, 8, 0);
	fake_nvme_fail_next(H.d, false, 2, media);
	assert_int_equal(exec(1, flush, NULL), media);
	assert_int_equal(exec(1, flush, NULL), media);
	assert_int_equal(exec(1, flush, NULL), 0);
	fake_nvme_fail_opcode(H.d, false, NVME_CMD_WRITE_ZEROES, NVME_STATUS(0, NVME_SC_INTERNAL));
	assert_int_equal(exec(1, flush, NULL), 0);
	nvme_sqe_rw(&flush, NVME_CMD_WRITE_ZEROES, 1, 0, 1);
	assert_int_equal(exec(1, flush, NULL), NVME_SC_INTERNAL);
	assert_int_equal(exec(1, flush, NULL), 0);
	/* admin injection does not touch I/O and vice versa */
	fake_nvme_drop_next(H.d, true, 1);
	assert_int_equal(exec(1, flush, NULL), 0);
	cid = queue_cmd(0, identify_sqe(NVME_ID_CNS_CTRL, 0, pg_iova(PG_ID)));
	ring(0);
	assert_false(cqe_ready(0));
	assert_int_equal(st()->dropped, 1);
	assert_int_equal(st()->cmds[0], 4);
	/* reusing the CID of the dropped command is a host bug */
	H.cid = (uint16_t)(cid - 1);
	queue_cmd(0, identify_sqe(NVME_ID_CNS_CTRL, 0, pg_iova(PG_ID)));
	ring(0);
	take_cqe(0);
	assert_int_equal(st()->cmd_errors, 1);
}

static void test_cfs_stops_processing(void **state)
{
	struct nvme_sqe flush = { .opc = NVME_CMD_FLUSH, .nsid = 1 };

	host_enable();
	create_io_queues(4, 4, 0);
	fake_nvme_set_cfs(H.d);
	queue_cmd(1, flush);
	ring(1);
	assert_false(cqe_ready(1));
	assert_true(rd(NVME_REG_CSTS) & NVME_CSTS_CFS);
	assert_int_equal(st()->ignored_doorbells, 1);
	assert_int_equal(st()->errors, 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_iova_is_not_va),
		T(test_rdy_follows_enable_after_reads),
		T(test_bad_cc_sets_cfs),
		T(test_mps_outside_cap_sets_cfs),
		T(test_unmapped_admin_queue_sets_cfs),
		T(test_admin_regs_need_disabled_controller),
		T(test_enable_before_rdy_cleared_is_an_error),
		T(test_shutdown_reports_complete),
		T(test_disable_deletes_queues),
		T(test_unmapping_live_queue_is_an_error),
		T(test_identify_controller),
		T(test_identify_namespaces),
		T(test_identify_to_va_is_dma_error),
		T(test_prp1_not_dword_aligned),
		T(test_identify_with_offset_uses_prp2),
		T(test_number_of_queues_granted),
		T(test_create_queue_validation),
		T(test_unknown_admin_opcode),
		T(test_write_read_two_pages),
		T(test_prp_list_with_offset_chains),
		T(test_prp_list_last_slot_is_data),
		T(test_prp_list_entry_with_offset),
		T(test_prp_entry_out_of_mapping),
		T(test_lba_range_and_mdts),
		T(test_write_zeroes_and_flush),
		T(test_phase_and_sqhd),
		T(test_full_cq_stalls_until_head_moves),
		T(test_manual_mode),
		T(test_doorbell_checks),
		T(test_doorbell_stride),
		T(test_msix_signals_eventfd),
		T(test_injection),
		T(test_cfs_stops_processing),
	};

	return cmocka_run_group_tests_name("fake_nvme", tests, NULL, NULL);
}
