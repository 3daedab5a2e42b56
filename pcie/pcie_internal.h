/* SPDX-License-Identifier: MIT */
/* Between ctrl.c and queue.c only. */
#ifndef PCIE_INTERNAL_H
#define PCIE_INTERNAL_H

#include "pcie/pcie.h"

/* Memory barriers around device-shared memory and MMIO. */
#if defined(__x86_64__) || defined(__i386__)
/* x86 keeps stores in order and UC MMIO writes are not reordered with
 * earlier stores; sfence also covers write-combining mappings. */
#define pcie_wmb()  __asm__ volatile("sfence" ::: "memory")
/* loads are not reordered with older loads on x86: a compiler barrier */
#define pcie_rmb()  __asm__ volatile("" ::: "memory")
#else
#define pcie_wmb()  __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define pcie_rmb()  __atomic_thread_fence(__ATOMIC_SEQ_CST)
#endif

static inline uint32_t pcie_rd32(const struct pcie_ctrl *c, uint32_t off)
{
	return c->ops->read32(c->dev, off);
}

static inline void pcie_wr32(const struct pcie_ctrl *c, uint32_t off, uint32_t v)
{
	c->ops->write32(c->dev, off, v);
}

static inline uint64_t pcie_now(const struct pcie_ctrl *c)
{
	return c->opts.clock_ns();
}

/* A command's submission time, for its deadline: inside a reactor's turn
 * the turn's clock reading serves (a deadline in seconds does not need
 * the exact time, and in a VM every clock read is a system call and an
 * emulated timer read); a test's own clock is always read. */
static inline uint64_t pcie_stamp(const struct pcie_ctrl *c)
{
	if (c->opts.clock_ns == reactor_now_ns)
		return reactor_clock_ns();
	return c->opts.clock_ns();
}

/* Lay out queue q (SQ, CQ, request table, PRP list pages) in the
 * controller's DMA region. */
int pcie_queue_alloc(struct pcie_queue *q, struct pcie_ctrl *c, uint16_t qid,
		     uint16_t depth, unsigned prp_pages_per_cmd);
void pcie_queue_free(struct pcie_queue *q);

#endif
