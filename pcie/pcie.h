/* SPDX-License-Identifier: MIT */
/*
 * The userspace PCIe NVMe driver.
 *
 * A controller is reached through a struct pcie_dev_ops table: vfio.c
 * implements it for a real (or QEMU-emulated) device owned through VFIO,
 * tests/fake_nvme.c implements it for the device model used by unit tests.
 * ctrl.c and queue.c only ever talk to the device through that table.
 *
 * Threading: a pcie_queue belongs to one thread (its reactor). The admin
 * queue and controller-wide operations (reset, shutdown) belong to the
 * thread that created the controller; they must not run concurrently with
 * I/O queue use.
 *
 * Errors: setup functions return 0 or a negative errno and, when given an
 * error buffer, put a one-line reason in it. Command completions carry the
 * NVMe status (cqe.status >> 1, see include/nvme/cmd.h), never an errno.
 */
#ifndef PCIE_PCIE_H
#define PCIE_PCIE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/dma.h"
#include "common/reactor.h"          /* reactor_now_ns(): the one monotonic clock */
#include "nvme/cmd.h"
#include "nvme/identify.h"
#include "nvme/regs.h"

/* --- device access --------------------------------------------------- */

struct pcie_dev_ops {
	const char *name;
	/* BAR0 register access. 64-bit registers (CAP, ASQ, ACQ) are accessed
	 * as two 32-bit halves, low first, by the driver itself: some devices
	 * do not support 8-byte MMIO. */
	uint32_t (*read32)(void *dev, uint32_t off);
	void (*write32)(void *dev, uint32_t off, uint32_t val);
	/* DMA mapping, called once per region at setup, never per I/O */
	int (*dma_map)(void *dev, void *va, size_t len, uint64_t *iova);
	int (*dma_unmap)(void *dev, void *va, size_t len, uint64_t iova);
	/* Optional (NULL = no interrupts, polling only). Route MSI-X vectors
	 * 0..nvec-1 to the given eventfds. Returns 0 or -errno. */
	int (*irq_enable)(void *dev, unsigned nvec, const int *efds);
	void (*irq_disable)(void *dev);
	/* Optional: number of MSI-X vectors the device has (0 if none). */
	unsigned (*irq_count)(void *dev);
};

/* --- PRP lists (prp.c, pure) ------------------------------------------ */

struct prp_list_page {
	uint64_t *va;             /* page_size bytes, page aligned */
	uint64_t iova;
};

/* Number of PRP list pages a transfer of len bytes at iova needs. */
unsigned prp_list_pages_needed(uint64_t iova, size_t len, uint32_t page_size);

/*
 * Fill PRP1/PRP2 (and list pages when needed) for len bytes at IOVA iova.
 * iova must be dword aligned, len > 0, page_size a power of two >= 4096.
 * The list pages are used in order; only the last slot of a full page
 * chains to the next page, and only when more entries follow.
 * Returns the number of list pages used (0..nlist), -EINVAL for bad
 * arguments, -E2BIG when more than nlist list pages would be needed.
 */
int prp_build(uint64_t iova, size_t len, uint32_t page_size,
	      const struct prp_list_page *list, unsigned nlist,
	      uint64_t *prp1, uint64_t *prp2);

/* --- queues (queue.c) ------------------------------------------------- */

struct pcie_ctrl;

/* Completion callback. status is the NVMe status field without the phase
 * bit (0 = success); cqe is NULL when the driver completed the command
 * itself (aborted by a controller reset). */
typedef void (*pcie_cb)(void *arg, uint16_t status, const struct nvme_cqe *cqe);

struct pcie_req {
	pcie_cb cb;
	void *arg;
	uint64_t deadline_ns;
	struct prp_list_page *prp;    /* prp_pages_per_cmd list pages */
	uint16_t next_free;
	bool busy;
};

struct pcie_queue {
	struct pcie_ctrl *ctrl;
	uint16_t qid;
	uint16_t depth;               /* entries in SQ and CQ */
	struct nvme_sqe *sq;
	uint64_t sq_iova;
	volatile struct nvme_cqe *cq;
	uint64_t cq_iova;
	uint32_t sq_db;               /* doorbell register offsets */
	uint32_t cq_db;
	uint16_t sq_tail;
	uint16_t sq_tail_rung;        /* tail value last written to the doorbell */
	uint16_t sq_head;             /* from CQE.SQHD */
	uint16_t cq_head;
	uint8_t cq_phase;
	uint16_t free_head;           /* CID free list, 0xffff = empty */
	uint16_t nr_cids;
	uint16_t inflight;
	int vector;                   /* MSI-X vector, -1 = polled only */
	int irq_fd;                   /* eventfd or -1 */
	struct pcie_req *reqs;        /* indexed by CID */
	struct prp_list_page *prp_pages;
	unsigned prp_pages_per_cmd;
	uint64_t submitted;
	uint64_t completed;
	/* Shadow doorbells (Doorbell Buffer Config; I/O queues only, NULL
	 * while unused): the tail and head go to host memory, and the MMIO
	 * doorbell is written only when the device's EventIdx says it
	 * waits for one. */
	volatile uint32_t *sq_shadow, *sq_eventidx;
	volatile uint32_t *cq_shadow, *cq_eventidx;
	uint64_t db_mmio;             /* doorbell register writes */
	uint64_t db_shadowed;         /* doorbell updates the shadow alone carried */
};

#define PCIE_CID_NONE 0xffffu

/*
 * Queue an SQE (its CID and data pointer are set here) for a transfer of
 * len bytes at IOVA iova (len 0: no data). Does not ring the doorbell:
 * call pcie_queue_ring once per batch.
 * Returns 0, -EAGAIN when the SQ is full or no CID is free, -EINVAL when
 * the transfer is larger than the controller's maximum or misaligned,
 * -ENODEV when the controller has failed.
 */
int pcie_queue_submit(struct pcie_queue *q, const struct nvme_sqe *sqe,
		      uint64_t iova, size_t len, pcie_cb cb, void *arg);

/* Write the SQ tail doorbell if entries were queued since the last ring. */
void pcie_queue_ring(struct pcie_queue *q);

/* Reap up to max completions, calling their callbacks; the CQ head
 * doorbell is written once at the end. Returns the number reaped. */
unsigned pcie_queue_process(struct pcie_queue *q, unsigned max);

/* True when the next CQ entry carries the current phase. */
bool pcie_queue_has_cqe(const struct pcie_queue *q);

/* Sleep until the queue has a completion or timeout_ms passed, using the
 * queue's MSI-X eventfd (falls back to a short sleep-poll when the queue
 * has no interrupt). Returns 1 if a completion is ready, 0 on timeout. */
int pcie_queue_wait(struct pcie_queue *q, int timeout_ms);

/* Number of commands that passed their deadline (checked against now). */
unsigned pcie_queue_expired(const struct pcie_queue *q, uint64_t now_ns);

/* --- controller (ctrl.c) ---------------------------------------------- */

struct pcie_ns {
	uint32_t nsid;
	uint64_t nsze;                /* blocks */
	uint32_t lba_shift;
	uint32_t lba_size;
	uint16_t ms;                  /* metadata bytes per block */
	bool extended;                /* metadata interleaved with data */
	uint8_t lbaf_index;
	struct nvme_id_ns id;
};

struct pcie_ctrl_opts {
	unsigned nr_io_queues;        /* wanted; the device may grant fewer */
	unsigned io_queue_depth;      /* entries per I/O queue (clamped to MQES+1) */
	unsigned admin_queue_depth;
	unsigned cmd_timeout_ms;
	uint32_t max_xfer;            /* upper bound on the transfer size, bytes */
	bool irq;                     /* set up MSI-X eventfds when the device has them */
	bool try_huge;                /* back queue memory with hugepages if possible */
	bool shadow_doorbells;        /* use Doorbell Buffer Config when OACS offers it */
	uint64_t (*clock_ns)(void);   /* monotonic clock; tests inject their own */
	void (*delay_us)(unsigned us);/* busy-wait step while polling registers */
};

void pcie_ctrl_opts_default(struct pcie_ctrl_opts *o);

enum pcie_ctrl_state {
	PCIE_CTRL_DEAD = 0,
	PCIE_CTRL_LIVE,
	PCIE_CTRL_RESETTING,
	PCIE_CTRL_FAILED,
};

/* "dead", "live", "resetting", "failed" */
const char *pcie_ctrl_state_name(enum pcie_ctrl_state st);

struct pcie_ctrl {
	const struct pcie_dev_ops *ops;
	void *dev;
	struct pcie_ctrl_opts opts;
	enum pcie_ctrl_state state;
	bool initialized;             /* bring-up finished; resets allowed */
	bool admin_only;              /* re-enabling after a reset: admin queue only */

	uint64_t cap;
	uint32_t vs;
	uint32_t dstrd;
	uint32_t page_size;           /* controller memory page size (CC.MPS) */
	uint32_t mqes;                /* max entries per queue (CAP.MQES + 1) */
	uint32_t ready_timeout_ms;    /* from CAP.TO */
	uint32_t max_xfer;            /* bytes, from MDTS and opts.max_xfer */
	struct nvme_id_ctrl id;

	struct dma_region mem;        /* queues, PRP lists, admin buffer */
	void *admin_buf;              /* 4 KiB bounce page for admin data */
	uint64_t admin_buf_iova;
	struct pcie_queue admin;
	struct pcie_queue *ioq;
	unsigned nr_ioq;              /* granted and created */
	int *irq_fds;
	unsigned nr_irqs;

	struct pcie_ns *ns;
	unsigned nr_ns;

	/* Doorbell Buffer Config: one page of shadow doorbells, one of
	 * EventIdx, laid out like the doorbell registers */
	bool dbbuf;                   /* in use */
	uint32_t *dbbuf_dbs, *dbbuf_eis;
	uint64_t dbbuf_dbs_iova, dbbuf_eis_iova;

	unsigned resets;
	uint64_t last_health_ns;
	void *owner;                  /* for the controller's user (the target's backend) */
};

/*
 * Bring the controller up the way the Linux driver does (nvme_probe, then
 * nvme_reset_work): disable and wait for CSTS.RDY=0 (bounded by CAP.TO),
 * program AQA/ASQ/ACQ, set CC (MPS from CAP.MPSMIN, IOSQES/IOCQES, CSS),
 * enable and wait for RDY, Identify Controller, Set Features Number of
 * Queues, create I/O CQ/SQ pairs, Identify the active namespace list and
 * every namespace. On failure everything acquired is released.
 */
int pcie_ctrl_init(struct pcie_ctrl *c, const struct pcie_dev_ops *ops, void *dev,
		   const struct pcie_ctrl_opts *opts, char *err, size_t errlen);

/* Normal shutdown: delete I/O queues, CC.SHN=normal, wait for
 * CSTS.SHST=complete, release everything. Safe on a failed controller.
 * Everything is released either way; returns 0 when the controller
 * reported the shutdown complete, -ETIMEDOUT or -ENODEV otherwise. */
int pcie_ctrl_shutdown(struct pcie_ctrl *c);

/* Complete every command in flight with HOST_ABORTED, disable, re-enable,
 * recreate the I/O queues in place. Returns 0 or -errno (controller then
 * marked FAILED and every later submit fails with -ENODEV). */
int pcie_ctrl_reset(struct pcie_ctrl *c);

/* Health check, cheap enough for an idle tick: reads CSTS once, checks
 * command deadlines on every queue; resets the controller on CFS or an
 * expired command. Returns 0 healthy, 1 reset done, -errno reset failed. */
int pcie_ctrl_check(struct pcie_ctrl *c);

/* The same test without acting on it: true when CSTS shows a fatal status
 * (or the device is gone) or a command on any queue passed its deadline. */
bool pcie_ctrl_needs_reset(struct pcie_ctrl *c);

/*
 * A reset in steps, for users whose queues live on several threads:
 * 1. pcie_ctrl_reset_disable (controller thread): state RESETTING, CC.EN=0,
 *    wait for RDY=0; submissions now fail with -EBUSY;
 * 2. each queue's owner: pcie_queue_abort_all(q, status) then
 *    pcie_queue_reset(q) (the admin queue by the controller thread);
 * 3. pcie_ctrl_reset_enable (controller thread): re-enable, Set Features
 *    Number of Queues, Doorbell Buffer Config, re-create the I/O queues;
 *    state LIVE, or FAILED. Until the queues exist again only the admin
 *    queue takes commands; I/O submissions keep getting -EBUSY.
 * pcie_ctrl_reset does all three on one thread.
 */
int pcie_ctrl_reset_disable(struct pcie_ctrl *c);
int pcie_ctrl_reset_enable(struct pcie_ctrl *c);
unsigned pcie_queue_abort_all(struct pcie_queue *q, uint16_t status);
void pcie_queue_reset(struct pcie_queue *q);
#define PCIE_STATUS_ABORTED NVME_STATUS(NVME_SCT_PATH, NVME_SC_HOST_ABORTED_CMD)

/* Submit one admin command with data in the controller's admin buffer
 * (len <= 4096; data copied in for host-to-device, out for device-to-host
 * when buf is given) and wait for it. Returns 0 when the command completed
 * (its status in *status, dw0 in *dw0 if given), -ETIMEDOUT (controller is
 * reset), -ENODEV. */
int pcie_admin_sync(struct pcie_ctrl *c, struct nvme_sqe *sqe, void *buf, size_t len,
		    bool to_dev, uint16_t *status, uint32_t *dw0);

/* Submit on q and poll it until the command completes or times out
 * (the controller is then reset). Returns 0 with *status set, or -errno. */
int pcie_io_sync(struct pcie_ctrl *c, struct pcie_queue *q, struct nvme_sqe *sqe,
		 uint64_t iova, size_t len, uint16_t *status);

const struct pcie_ns *pcie_ctrl_find_ns(const struct pcie_ctrl *c, uint32_t nsid);

/* A dma_mapper that maps through the controller's device ops. */
struct dma_mapper pcie_ctrl_mapper(struct pcie_ctrl *c);


/* Fill an SQE for Read/Write/Compare/Write Zeroes of nlb blocks (1-based) */
static inline void nvme_sqe_rw(struct nvme_sqe *s, uint8_t opc, uint32_t nsid,
			       uint64_t slba, uint32_t nlb)
{
	*s = (struct nvme_sqe){ .opc = opc, .nsid = cpu_to_le32(nsid) };
	s->cdw10 = cpu_to_le32((uint32_t)slba);
	s->cdw11 = cpu_to_le32((uint32_t)(slba >> 32));
	s->cdw12 = cpu_to_le32((nlb - 1) & 0xffffu);
}

/* Human readable name of an NVMe status, for messages */
const char *nvme_status_str(uint16_t status);

/* --- VFIO (vfio.c) ---------------------------------------------------- */

struct vfio_dev;

/*
 * Open the device at bdf (e.g. "0000:00:02.0") through VFIO type1:
 * container, group, device; map BAR0; enable bus mastering. Refuses, with a
 * one-line reason in err, when the device does not exist, is not bound to
 * vfio-pci (the reason says how to bind it), its group is not viable, or
 * RLIMIT_MEMLOCK is below dma_bytes (the reason names the limit needed).
 * IOVAs are allocated only inside the ranges the kernel reports.
 */
int vfio_dev_open(const char *bdf, size_t dma_bytes, struct vfio_dev **out, char *err, size_t errlen);
void vfio_dev_close(struct vfio_dev *v);
extern const struct pcie_dev_ops vfio_dev_ops;

/* IOVA allocation inside the usable ranges (pure, tested). */
struct iova_range {
	uint64_t start;
	uint64_t end;                 /* inclusive */
};

struct iova_alloc {
	struct iova_range ranges[16];
	unsigned nr;
	unsigned cur;                 /* range being bumped */
	uint64_t next;                /* next free IOVA in ranges[cur] */
};

void iova_alloc_init(struct iova_alloc *a, const struct iova_range *r, unsigned nr, uint64_t min_iova);
/* Returns 0 and *iova aligned to align, or -ENOSPC. */
int iova_alloc(struct iova_alloc *a, uint64_t len, uint64_t align, uint64_t *iova);

#endif
