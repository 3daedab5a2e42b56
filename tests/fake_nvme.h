/* SPDX-License-Identifier: MIT */
/*
 * A fake NVMe PCIe controller: the device side of struct pcie_dev_ops, in
 * process, for the driver's unit tests.
 *
 * It is deliberately strict. Every address the driver hands it (ASQ/ACQ,
 * queue bases, PRP entries, PRP list pointers) is an IOVA translated
 * through the table dma_map filled; IOVAs live in their own space from
 * FAKE_NVME_IOVA_BASE with holes between mappings, so a virtual address or
 * a stray pointer never resolves, and each mapping starts 4 KiB aligned
 * but never 8 KiB aligned (all an IOMMU promises). Whatever the driver
 * does that a real controller would not accept is counted in
 * fake_nvme_stats.errors (and explained in last_error, and on stderr):
 * tests assert that counter stays 0.
 *
 * Processing: the admin queue is always processed inside its tail doorbell
 * write (the driver waits for admin commands synchronously). I/O queues
 * are too in immediate mode; in manual mode they only move when the test
 * calls fake_nvme_process(). A CQ is never overrun: when it is full the
 * device stops fetching from the SQs bound to it until the head doorbell
 * releases entries.
 */
#ifndef TESTS_FAKE_NVME_H
#define TESTS_FAKE_NVME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pcie/pcie.h"

#define FAKE_NVME_MAX_QID 64          /* queue ids 0..63 */
#define FAKE_NVME_MAX_VEC 64
#define FAKE_NVME_LOG_MAX 8192        /* register accesses recorded */
#define FAKE_NVME_IOVA_BASE 0x10000000ull
#define FAKE_NVME_NEVER (~0u)         /* a delay that never ends */

struct fake_nvme_config {
	/* CAP */
	uint16_t mqes;                /* 0's based max queue entries */
	uint8_t to;                   /* ready timeout, 500 ms units */
	uint8_t dstrd;                /* doorbell stride 4 << dstrd */
	uint8_t mpsmin;               /* page size 4096 << mpsmin */
	uint8_t mpsmax;
	/* state machine timing, in CSTS reads */
	unsigned rdy_delay_reads;     /* before RDY follows CC.EN (NEVER: stuck) */
	unsigned shst_delay_reads;    /* before SHST reports complete */
	bool start_enabled;           /* a previous owner left CC.EN=1, RDY=1 */
	bool cfs_on_enable;           /* fatal status as soon as it is enabled */
	/* Identify Controller */
	uint8_t mdts;                 /* 2^mdts MPSMIN pages, 0 = unlimited */
	uint16_t oncs;
	uint32_t nn;                  /* raised to the highest NSID if lower */
	const char *sn;
	const char *mn;
	const char *fr;
	/* queues granted by Set Features Number of Queues */
	unsigned max_ioq;
	/* namespaces first_nsid .. first_nsid + nr_ns - 1, in host memory */
	unsigned nr_ns;
	uint32_t first_nsid;
	uint32_t lba_size;            /* 512 or 4096 */
	uint64_t ns_blocks;
	/* MSI-X vectors reported by irq_count (0: no MSI-X) */
	unsigned irq_vectors;
	bool manual;                  /* I/O queues wait for fake_nvme_process */
	/* OACS bit 8: Doorbell Buffer Config. Once configured, an I/O SQ's
	 * tail and CQ's head are also read from the shadow buffer whenever
	 * the queue is processed, and the EventIdx buffer is written with the
	 * tail and head the device last read, as QEMU's controller does. */
	bool dbbuf;
};

struct fake_nvme_stats {
	/* driver misbehaviour: all of these must stay 0 */
	unsigned errors;              /* sum of the ones below */
	unsigned dma_errors;          /* unmapped / out of bounds IOVA */
	unsigned prp_errors;          /* PRP offsets, list layout */
	unsigned doorbell_errors;     /* bad offset, value or queue */
	unsigned reg_errors;          /* register programming order, CC */
	unsigned cmd_errors;          /* SQE misuse: MDTS, CID reuse, SGL, ... */
	char last_error[192];

	/* what happened, for tests to assert on */
	uint64_t sq_db[FAKE_NVME_MAX_QID];   /* SQ tail doorbell writes */
	uint64_t cq_db[FAKE_NVME_MAX_QID];   /* CQ head doorbell writes */
	uint64_t cmds[FAKE_NVME_MAX_QID];    /* commands fetched per SQ */
	uint64_t cqes[FAKE_NVME_MAX_QID];    /* completions posted per CQ */
	uint64_t cq_wraps[FAKE_NVME_MAX_QID];
	uint64_t irqs[FAKE_NVME_MAX_VEC];    /* eventfd signals per vector */
	uint64_t prp_list_pages;      /* PRP list pages walked, all commands */
	unsigned max_prp_list_pages;  /* most list pages of a single command */
	unsigned enables;             /* CC.EN 0 -> 1 */
	unsigned disables;            /* CC.EN 1 -> 0 (controller reset) */
	unsigned shutdowns;           /* CC.SHN requests */
	unsigned ioq_live_at_shutdown;/* I/O SQs + CQs existing at the last CC.SHN */
	unsigned cq_full_stalls;      /* fetches held back by a full CQ */
	unsigned dropped;             /* completions dropped by injection */
	unsigned ignored_doorbells;   /* doorbells while CSTS.CFS was set */
	uint32_t nq_requested;        /* last Set Features Number of Queues cdw11 */
	unsigned creates_sq;
	unsigned creates_cq;
	unsigned deletes_sq;
	unsigned deletes_cq;
	unsigned dbbuf_configs;       /* Doorbell Buffer Config commands that succeeded */
};

/* One BAR0 access, in the order the driver made them */
struct fake_reg_access {
	bool write;
	uint32_t off;
	uint32_t val;                 /* written, or returned by the read */
};

/* An I/O or admin queue as the device sees it */
struct fake_nvme_queue_info {
	bool sq_live;
	bool cq_live;
	uint16_t sq_size;             /* entries (1's based) */
	uint16_t cq_size;
	uint16_t cqid;                /* CQ the SQ posts to */
	uint64_t sq_iova;
	uint64_t cq_iova;
	bool ien;
	uint16_t iv;
};

struct fake_nvme;

void fake_nvme_config_default(struct fake_nvme_config *cfg);
struct fake_nvme *fake_nvme_create(const struct fake_nvme_config *cfg);
void fake_nvme_destroy(struct fake_nvme *d);

extern const struct pcie_dev_ops fake_nvme_ops;

/* Switch I/O queue processing (see above); pending work is left alone. */
void fake_nvme_set_manual(struct fake_nvme *d, bool manual);
/* Fetch and execute up to max commands from the I/O SQs, round robin.
 * Returns the number of commands fetched. */
unsigned fake_nvme_process(struct fake_nvme *d, unsigned max);

/* --- error injection -------------------------------------------------- */
/* Set CSTS.CFS now; the device stops processing until CC.EN goes to 0. */
void fake_nvme_set_cfs(struct fake_nvme *d);
/* The next n commands fetched from the admin queue (admin) or from any
 * I/O queue are consumed and never completed. */
void fake_nvme_drop_next(struct fake_nvme *d, bool admin, unsigned n);
/* The next n commands fetched (admin or I/O) complete with status without
 * being executed. status is the 15-bit status field (cmd.h). */
void fake_nvme_fail_next(struct fake_nvme *d, bool admin, unsigned n, uint16_t status);
/* The next command with opcode opc (admin or I/O) completes with status. */
void fake_nvme_fail_opcode(struct fake_nvme *d, bool admin, uint8_t opc, uint16_t status);
/* Change a timing knob of the configuration at run time. */
void fake_nvme_set_rdy_delay(struct fake_nvme *d, unsigned reads);

/* --- inspection ------------------------------------------------------- */
const struct fake_nvme_stats *fake_nvme_stats(const struct fake_nvme *d);
void fake_nvme_clear_stats(struct fake_nvme *d);
const struct fake_reg_access *fake_nvme_log(const struct fake_nvme *d, unsigned *n);
void fake_nvme_clear_log(struct fake_nvme *d);
bool fake_nvme_queue_info(const struct fake_nvme *d, uint16_t qid, struct fake_nvme_queue_info *qi);
unsigned fake_nvme_nr_mappings(const struct fake_nvme *d);
/* Namespace storage, so tests can check where data landed. */
uint8_t *fake_nvme_ns_data(struct fake_nvme *d, uint32_t nsid, uint64_t *bytes);
uint32_t fake_nvme_reg(const struct fake_nvme *d, uint32_t off);
/* Translate an IOVA the way the device does (NULL if not mapped). */
void *fake_nvme_iova_to_va(const struct fake_nvme *d, uint64_t iova, size_t len);

#endif
