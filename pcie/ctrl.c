/* SPDX-License-Identifier: MIT */
/*
 * Controller bring-up, admin commands, reset and shutdown. The order of the
 * bring-up follows the Linux driver (nvme_probe, then nvme_reset_work).
 */
#define LOG_TAG "pcie"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "pcie/pcie_internal.h"

#define ADMIN_BUF_SIZE 4096u

static void delay_us_sleep(unsigned us)
{
	struct timespec ts = { us / 1000000u, (long)(us % 1000000u) * 1000 };

	nanosleep(&ts, NULL);
}

void pcie_ctrl_opts_default(struct pcie_ctrl_opts *o)
{
	*o = (struct pcie_ctrl_opts){
		.nr_io_queues = 1,
		.io_queue_depth = 256,
		.admin_queue_depth = 32,
		.cmd_timeout_ms = 30000,
		.max_xfer = 2u << 20,
		.irq = true,
		.try_huge = true,
		.shadow_doorbells = true,
		.clock_ns = reactor_now_ns,
		.delay_us = delay_us_sleep,
	};
}

const char *nvme_status_str(uint16_t status)
{
	unsigned sct = NVME_STATUS_SCT(status), sc = NVME_STATUS_SC(status);

	if (sct == NVME_SCT_GENERIC) {
		switch (sc) {
		case NVME_SC_SUCCESS: return "success";
		case NVME_SC_INVALID_OPCODE: return "invalid opcode";
		case NVME_SC_INVALID_FIELD: return "invalid field";
		case NVME_SC_DATA_XFER_ERROR: return "data transfer error";
		case NVME_SC_INTERNAL: return "internal error";
		case NVME_SC_ABORT_REQ: return "command abort requested";
		case NVME_SC_INVALID_NS: return "invalid namespace";
		case NVME_SC_INVALID_PRP_OFFSET: return "invalid PRP offset";
		case NVME_SC_LBA_RANGE: return "LBA out of range";
		case NVME_SC_CAP_EXCEEDED: return "capacity exceeded";
		}
	} else if (sct == NVME_SCT_CMD_SPECIFIC) {
		switch (sc) {
		case NVME_SC_CQ_INVALID: return "invalid completion queue";
		case NVME_SC_QID_INVALID: return "invalid queue identifier";
		case NVME_SC_QUEUE_SIZE: return "invalid queue size";
		case NVME_SC_INVALID_VECTOR: return "invalid interrupt vector";
		}
	} else if (sct == NVME_SCT_MEDIA) {
		switch (sc) {
		case NVME_SC_WRITE_FAULT: return "write fault";
		case NVME_SC_READ_ERROR: return "unrecovered read error";
		case NVME_SC_COMPARE_FAILED: return "compare failure";
		}
	} else if (sct == NVME_SCT_PATH && sc == NVME_SC_HOST_ABORTED_CMD) {
		return "aborted by host (controller reset)";
	}
	return "error";
}

/* 64-bit registers as two 32-bit accesses, low half first (libvfn
 * mmio_hl_write64): not every device accepts 8-byte MMIO. */
static uint64_t rd64(const struct pcie_ctrl *c, uint32_t off)
{
	uint32_t lo = pcie_rd32(c, off);
	uint32_t hi = pcie_rd32(c, off + 4);

	return (uint64_t)hi << 32 | lo;
}

static void wr64(const struct pcie_ctrl *c, uint32_t off, uint64_t v)
{
	pcie_wr32(c, off, (uint32_t)v);
	pcie_wr32(c, off + 4, (uint32_t)(v >> 32));
}

/* Poll CSTS.RDY until it equals want, bounded by CAP.TO. */
static int wait_ready(struct pcie_ctrl *c, bool want, char *err, size_t errlen)
{
	uint64_t deadline = pcie_now(c) + (uint64_t)c->ready_timeout_ms * 1000000u;
	unsigned step = 10;

	for (;;) {
		uint32_t csts = pcie_rd32(c, NVME_REG_CSTS);

		if (csts == 0xffffffffu) {
			set_err(err, errlen, "controller not responding (CSTS reads all ones: device removed?)");
			return -ENODEV;
		}
		if (want && (csts & NVME_CSTS_CFS)) {
			set_err(err, errlen, "controller fatal status (CSTS.CFS) while enabling");
			return -EIO;
		}
		if (!!(csts & NVME_CSTS_RDY) == want)
			return 0;
		if (pcie_now(c) > deadline) {
			set_err(err, errlen, "timeout after %u ms waiting for CSTS.RDY=%d (CSTS=0x%x)",
				c->ready_timeout_ms, want, csts);
			return -ETIMEDOUT;
		}
		c->opts.delay_us(step);
		if (step < 1000)
			step *= 2;
	}
}

static int disable_ctrl(struct pcie_ctrl *c, char *err, size_t errlen)
{
	uint32_t cc = pcie_rd32(c, NVME_REG_CC);

	if (cc & NVME_CC_EN)
		pcie_wr32(c, NVME_REG_CC, cc & ~NVME_CC_EN);
	return wait_ready(c, false, err, errlen);
}

/* Program the admin queue and enable (nvme_pci_configure_admin_queue,
 * nvme_enable_ctrl). */
static int enable_ctrl(struct pcie_ctrl *c, char *err, size_t errlen)
{
	uint32_t cc;

	pcie_wr32(c, NVME_REG_AQA, NVME_AQA(c->admin.depth, c->admin.depth));
	wr64(c, NVME_REG_ASQ, c->admin.sq_iova);
	wr64(c, NVME_REG_ACQ, c->admin.cq_iova);
	cc = NVME_CC_CSS(NVME_CC_CSS_NVM) | NVME_CC_MPS(NVME_CAP_MPSMIN(c->cap)) |
	     NVME_CC_AMS_RR | NVME_CC_IOSQES(6) | NVME_CC_IOCQES(4);
	pcie_wr32(c, NVME_REG_CC, cc);
	pcie_wr32(c, NVME_REG_CC, cc | NVME_CC_EN);
	return wait_ready(c, true, err, errlen);
}

struct sync_wait {
	bool done;
	uint16_t status;
	uint32_t dw0;
};

static void sync_cb(void *arg, uint16_t status, const struct nvme_cqe *cqe)
{
	struct sync_wait *w = arg;

	w->done = true;
	w->status = status;
	w->dw0 = cqe ? le32_to_cpu(cqe->dw0) : 0;
}

/* Poll q until w is done or its command's deadline passes. */
static int poll_sync(struct pcie_ctrl *c, struct pcie_queue *q, struct sync_wait *w)
{
	uint64_t deadline = pcie_now(c) + (uint64_t)c->opts.cmd_timeout_ms * 1000000u;
	unsigned spins = 0;

	while (!w->done) {
		if (pcie_queue_process(q, q->depth))
			continue;
		if (++spins < 64)
			continue;
		spins = 0;
		if (pcie_now(c) > deadline)
			return -ETIMEDOUT;
		c->opts.delay_us(20);
	}
	return 0;
}

static int submit_sync(struct pcie_ctrl *c, struct pcie_queue *q, struct nvme_sqe *sqe,
		       uint64_t iova, size_t len, struct sync_wait *w)
{
	int rc;

	*w = (struct sync_wait){ 0 };
	rc = pcie_queue_submit(q, sqe, iova, len, sync_cb, w);
	if (rc)
		return rc;
	pcie_queue_ring(q);
	rc = poll_sync(c, q, w);
	if (rc == -ETIMEDOUT) {
		log_err("qid %u: command opcode 0x%02x timed out after %u ms", q->qid, sqe->opc,
			c->opts.cmd_timeout_ms);
		/* after bring-up, recover; during bring-up, init fails instead */
		if (c->state == PCIE_CTRL_LIVE && c->initialized)
			pcie_ctrl_reset(c);     /* completes w with an abort status */
	}
	return rc;
}

int pcie_admin_sync(struct pcie_ctrl *c, struct nvme_sqe *sqe, void *buf, size_t len,
		    bool to_dev, uint16_t *status, uint32_t *dw0)
{
	struct sync_wait w;
	int rc;

	if (len > ADMIN_BUF_SIZE)
		return -EINVAL;
	if (len) {
		if (to_dev && buf)
			memcpy(c->admin_buf, buf, len);
		else
			memset(c->admin_buf, 0, len);
	}
	rc = submit_sync(c, &c->admin, sqe, c->admin_buf_iova, len, &w);
	if (rc)
		return rc;
	if (status)
		*status = w.status;
	if (dw0)
		*dw0 = w.dw0;
	if (len && !to_dev && buf && !w.status)
		memcpy(buf, c->admin_buf, len);
	return 0;
}

int pcie_io_sync(struct pcie_ctrl *c, struct pcie_queue *q, struct nvme_sqe *sqe,
		 uint64_t iova, size_t len, uint16_t *status)
{
	struct sync_wait w;
	int rc = submit_sync(c, q, sqe, iova, len, &w);

	if (!rc && status)
		*status = w.status;
	return rc;
}

/* Admin command during bring-up: any error status is a failure. */
static int admin_checked(struct pcie_ctrl *c, struct nvme_sqe *sqe, void *buf, size_t len,
			 uint32_t *dw0, const char *what, char *err, size_t errlen)
{
	uint16_t status;
	int rc = pcie_admin_sync(c, sqe, buf, len, false, &status, dw0);

	if (rc) {
		set_err(err, errlen, "%s: %s", what, strerror(-rc));
		return rc;
	}
	if (status) {
		set_err(err, errlen, "%s failed: %s (status 0x%x)", what, nvme_status_str(status), status);
		return -EIO;
	}
	return 0;
}

static int identify(struct pcie_ctrl *c, uint8_t cns, uint32_t nsid, void *buf,
		    const char *what, char *err, size_t errlen)
{
	struct nvme_sqe sqe = { .opc = NVME_ADM_IDENTIFY, .nsid = cpu_to_le32(nsid), .cdw10 = cpu_to_le32(cns) };

	return admin_checked(c, &sqe, buf, 4096, NULL, what, err, errlen);
}

static int set_num_queues(struct pcie_ctrl *c, unsigned want, unsigned *granted,
			  char *err, size_t errlen)
{
	struct nvme_sqe sqe = {
		.opc = NVME_ADM_SET_FEATURES,
		.cdw10 = cpu_to_le32(NVME_FEAT_NUM_QUEUES),
		.cdw11 = cpu_to_le32((want - 1u) | ((want - 1u) << 16)),
	};
	uint32_t dw0;
	int rc = admin_checked(c, &sqe, NULL, 0, &dw0, "Set Features (Number of Queues)", err, errlen);
	unsigned nsq, ncq;

	if (rc)
		return rc;
	nsq = (dw0 & 0xffffu) + 1u;
	ncq = (dw0 >> 16) + 1u;
	*granted = want;
	if (nsq < *granted)
		*granted = nsq;
	if (ncq < *granted)
		*granted = ncq;
	return 0;
}

static int create_io_queue(struct pcie_ctrl *c, struct pcie_queue *q, char *err, size_t errlen)
{
	uint32_t qsize = ((uint32_t)q->depth - 1u) << 16;
	struct nvme_sqe cq = {
		.opc = NVME_ADM_CREATE_CQ,
		.dptr.prp.prp1 = cpu_to_le64(q->cq_iova),
		.cdw10 = cpu_to_le32(qsize | q->qid),
		.cdw11 = cpu_to_le32(NVME_CQ_PC),
	};
	struct nvme_sqe sq = {
		.opc = NVME_ADM_CREATE_SQ,
		.dptr.prp.prp1 = cpu_to_le64(q->sq_iova),
		.cdw10 = cpu_to_le32(qsize | q->qid),
		.cdw11 = cpu_to_le32(NVME_SQ_PC | ((uint32_t)q->qid << 16)),
	};
	char what[64];
	int rc;

	if (q->vector >= 0)
		cq.cdw11 = cpu_to_le32(le32_to_cpu(cq.cdw11) | NVME_CQ_IEN | ((uint32_t)q->vector << 16));
	snprintf(what, sizeof(what), "Create I/O CQ %u", q->qid);
	rc = admin_checked(c, &cq, NULL, 0, NULL, what, err, errlen);
	if (rc)
		return rc;
	snprintf(what, sizeof(what), "Create I/O SQ %u", q->qid);
	return admin_checked(c, &sq, NULL, 0, NULL, what, err, errlen);
}

static void delete_io_queue(struct pcie_ctrl *c, struct pcie_queue *q)
{
	struct nvme_sqe sq = { .opc = NVME_ADM_DELETE_SQ, .cdw10 = cpu_to_le32(q->qid) };
	struct nvme_sqe cq = { .opc = NVME_ADM_DELETE_CQ, .cdw10 = cpu_to_le32(q->qid) };
	uint16_t status;

	if (pcie_admin_sync(c, &sq, NULL, 0, false, &status, NULL) == 0)
		pcie_admin_sync(c, &cq, NULL, 0, false, &status, NULL);
}

/*
 * Doorbell Buffer Config (admin opcode 7Ch, OACS bit 8), which emulated
 * controllers offer (QEMU's among them) so that a driver can skip most
 * doorbell MMIO writes, each an exit to the hypervisor: PRP1 is a page of
 * shadow doorbells, PRP2 a page of EventIdx values, both laid out like the
 * doorbell registers. Sent before the I/O queues are created, at bring-up
 * and again after every controller reset (a reset forgets it). The admin
 * queue keeps its MMIO doorbells, as in the Linux driver. Returns 0 when
 * it is in use or not offered; after a reset, a controller that no longer
 * takes it fails the reset, since the queues' pointers are already set.
 */
static int dbbuf_config(struct pcie_ctrl *c, unsigned nr_ioq, char *err, size_t errlen)
{
	size_t need = (size_t)(nr_ioq + 1u) * 2u * (4u << c->dstrd);
	struct nvme_sqe sqe = { .opc = NVME_ADM_DBBUF_CONFIG };
	uint16_t status = 0;
	int rc;

	if (!c->opts.shadow_doorbells || !(le16_to_cpu(c->id.oacs) & NVME_CTRL_OACS_DBBUF) ||
	    need > c->page_size)
		return 0;
	if (!c->dbbuf_dbs) {
		c->dbbuf_dbs = dma_region_carve(&c->mem, c->page_size, c->page_size, &c->dbbuf_dbs_iova);
		c->dbbuf_eis = dma_region_carve(&c->mem, c->page_size, c->page_size, &c->dbbuf_eis_iova);
		if (!c->dbbuf_dbs || !c->dbbuf_eis) {
			c->dbbuf_dbs = c->dbbuf_eis = NULL;
			log_warn("no memory for shadow doorbells: using the doorbell registers");
			return 0;
		}
	}
	memset(c->dbbuf_dbs, 0, c->page_size);
	memset(c->dbbuf_eis, 0, c->page_size);
	sqe.dptr.prp.prp1 = cpu_to_le64(c->dbbuf_dbs_iova);
	sqe.dptr.prp.prp2 = cpu_to_le64(c->dbbuf_eis_iova);
	rc = pcie_admin_sync(c, &sqe, NULL, 0, false, &status, NULL);
	if (!rc && status)
		rc = -EIO;
	if (rc) {
		const char *why = status ? nvme_status_str(status) : strerror(-rc);

		if (c->dbbuf) {
			set_err(err, errlen, "Doorbell Buffer Config after reset: %s", why);
			return rc;
		}
		log_notice("Doorbell Buffer Config failed (%s): using the doorbell registers", why);
		return 0;
	}
	if (!c->dbbuf)
		log_info("shadow doorbells in use (Doorbell Buffer Config)");
	c->dbbuf = true;
	return 0;
}

/* Point the I/O queues at their shadow doorbells and EventIdx entries. */
static void dbbuf_attach(struct pcie_ctrl *c)
{
	for (unsigned i = 0; c->dbbuf && i < c->nr_ioq; i++) {
		struct pcie_queue *q = &c->ioq[i];
		unsigned sq = (2u * q->qid) << c->dstrd, cq = (2u * q->qid + 1u) << c->dstrd;

		q->sq_shadow = &c->dbbuf_dbs[sq];
		q->sq_eventidx = &c->dbbuf_eis[sq];
		q->cq_shadow = &c->dbbuf_dbs[cq];
		q->cq_eventidx = &c->dbbuf_eis[cq];
	}
}

static int create_io_queues(struct pcie_ctrl *c, char *err, size_t errlen)
{
	for (unsigned i = 0; i < c->nr_ioq; i++) {
		int rc = create_io_queue(c, &c->ioq[i], err, errlen);

		if (rc)
			return rc;
	}
	return 0;
}

static int setup_irqs(struct pcie_ctrl *c)
{
	unsigned avail, nvec;
	int rc;

	if (!c->opts.irq || !c->ops->irq_enable || !c->ops->irq_count)
		return 0;
	avail = c->ops->irq_count(c->dev);
	if (!avail)
		return 0;
	/* vector 0 serves the admin CQ, vector i the I/O queue i */
	nvec = 1u + c->opts.nr_io_queues;
	if (nvec > avail)
		nvec = avail;
	c->irq_fds = calloc(nvec, sizeof(int));
	if (!c->irq_fds)
		return -ENOMEM;
	for (unsigned i = 0; i < nvec; i++) {
		c->irq_fds[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (c->irq_fds[i] < 0) {
			rc = -errno;
			while (i-- > 0)
				close(c->irq_fds[i]);
			goto free_fds;
		}
	}
	rc = c->ops->irq_enable(c->dev, nvec, c->irq_fds);
	if (rc) {
		for (unsigned i = 0; i < nvec; i++)
			close(c->irq_fds[i]);
		goto free_fds;
	}
	c->nr_irqs = nvec;
	c->admin.irq_fd = c->irq_fds[0];
	c->admin.vector = 0;
	return 0;

free_fds:
	free(c->irq_fds);
	c->irq_fds = NULL;
	log_warn("MSI-X setup failed (%s): queues are polled only", strerror(-rc));
	return 0;       /* interrupts are an optimisation, not a requirement */
}

static void teardown_irqs(struct pcie_ctrl *c)
{
	if (!c->nr_irqs)
		return;
	c->ops->irq_disable(c->dev);
	for (unsigned i = 0; i < c->nr_irqs; i++)
		close(c->irq_fds[i]);
	free(c->irq_fds);
	c->irq_fds = NULL;
	c->nr_irqs = 0;
}

static int scan_namespaces(struct pcie_ctrl *c, char *err, size_t errlen)
{
	uint32_t *list = calloc(1024, sizeof(uint32_t));
	struct nvme_id_ns *id = malloc(sizeof(*id));
	unsigned n = 0;
	int rc = -ENOMEM;

	if (!list || !id)
		goto out;
	rc = identify(c, NVME_ID_CNS_NS_ACTIVE_LIST, 0, list, "Identify active namespace list", err, errlen);
	if (rc)
		goto out;
	while (n < 1024 && list[n])
		n++;
	c->ns = calloc(n ? n : 1, sizeof(*c->ns));
	if (!c->ns) {
		rc = -ENOMEM;
		goto out;
	}
	for (unsigned i = 0; i < n; i++) {
		struct pcie_ns *ns = &c->ns[c->nr_ns];
		char what[48];
		unsigned fmt;

		snprintf(what, sizeof(what), "Identify namespace %u", list[i]);
		rc = identify(c, NVME_ID_CNS_NS, list[i], id, what, err, errlen);
		if (rc)
			goto out;
		if (!id->nsze)
			continue;       /* allocated but not usable */
		fmt = nvme_id_ns_flbas_index(id);
		if (fmt > id->nlbaf || id->lbaf[fmt].lbads < 9 || id->lbaf[fmt].lbads > 16) {
			log_warn("namespace %u: unsupported LBA format %u, ignored", list[i], fmt);
			continue;
		}
		ns->id = *id;
		ns->nsid = list[i];
		ns->nsze = le64_to_cpu(id->nsze);
		ns->lbaf_index = (uint8_t)fmt;
		ns->lba_shift = id->lbaf[fmt].lbads;
		ns->lba_size = 1u << ns->lba_shift;
		ns->ms = le16_to_cpu(id->lbaf[fmt].ms);
		ns->extended = !!(id->flbas & 0x10);
		c->nr_ns++;
	}
	rc = 0;
out:
	free(id);
	free(list);
	return rc;
}

/* Size of the DMA region: admin queue and buffer, the I/O queues, and the
 * PRP list pages of every CID of every queue, all page aligned. */
static size_t region_size(const struct pcie_ctrl *c, unsigned io_depth, unsigned prp_pages)
{
	size_t pg = c->page_size;
	size_t adm = c->opts.admin_queue_depth;
	size_t total = 0;

#define PAGES(bytes) ((((bytes) + pg - 1) / pg) * pg)
	total += PAGES(adm * 64) + PAGES(adm * 16) + pg;
	total += (adm - 1) * prp_pages * pg;
	total += c->opts.nr_io_queues *
		 (PAGES((size_t)io_depth * 64) + PAGES((size_t)io_depth * 16) +
		  (size_t)(io_depth - 1) * prp_pages * pg);
#undef PAGES
	total += 2 * pg;    /* shadow doorbells and EventIdx */
	return total + pg;  /* slack for the first carve's alignment */
}

struct dma_mapper pcie_ctrl_mapper(struct pcie_ctrl *c)
{
	return (struct dma_mapper){
		.ctx = c->dev,
		.map = c->ops->dma_map,
		.unmap = c->ops->dma_unmap,
	};
}

static void free_queues(struct pcie_ctrl *c)
{
	for (unsigned i = 0; i < c->nr_ioq; i++)
		pcie_queue_free(&c->ioq[i]);
	free(c->ioq);
	c->ioq = NULL;
	c->nr_ioq = 0;
	pcie_queue_free(&c->admin);
}

int pcie_ctrl_init(struct pcie_ctrl *c, const struct pcie_dev_ops *ops, void *dev,
		   const struct pcie_ctrl_opts *opts, char *err, size_t errlen)
{
	struct dma_mapper mapper;
	unsigned io_depth, prp_pages, granted;
	int rc;

	memset(c, 0, sizeof(*c));
	c->ops = ops;
	c->dev = dev;
	if (opts)
		c->opts = *opts;
	else
		pcie_ctrl_opts_default(&c->opts);
	if (!c->opts.clock_ns)
		c->opts.clock_ns = reactor_now_ns;
	if (!c->opts.delay_us)
		c->opts.delay_us = delay_us_sleep;
	if (!c->opts.nr_io_queues || c->opts.admin_queue_depth < 2 || c->opts.io_queue_depth < 2) {
		set_err(err, errlen, "invalid controller options");
		return -EINVAL;
	}

	c->cap = rd64(c, NVME_REG_CAP);
	c->vs = pcie_rd32(c, NVME_REG_VS);
	if (c->cap == ~0ull) {
		set_err(err, errlen, "controller not responding (CAP reads all ones)");
		return -ENODEV;
	}
	if (!(NVME_CAP_CSS(c->cap) & NVME_CAP_CSS_NVM)) {
		set_err(err, errlen, "controller does not support the NVM command set (CAP.CSS=0x%x)",
			NVME_CAP_CSS(c->cap));
		return -ENOTSUP;
	}
	c->dstrd = NVME_CAP_DSTRD(c->cap);
	c->mqes = NVME_CAP_MQES(c->cap) + 1u;
	c->page_size = 1u << (12 + NVME_CAP_MPSMIN(c->cap));
	c->ready_timeout_ms = (NVME_CAP_TO(c->cap) ? NVME_CAP_TO(c->cap) : 1u) * 500u;
	c->max_xfer = c->opts.max_xfer;

	io_depth = c->opts.io_queue_depth;
	if (io_depth > c->mqes)
		io_depth = c->mqes;
	if (io_depth > 4096)
		io_depth = 4096;
	if (c->opts.admin_queue_depth > c->mqes)
		c->opts.admin_queue_depth = c->mqes;
	/* worst case: the buffer starts at the last dword of a page */
	prp_pages = prp_list_pages_needed(c->page_size - 4u, c->opts.max_xfer, c->page_size);

	mapper = pcie_ctrl_mapper(c);
	rc = dma_region_alloc(&c->mem, region_size(c, io_depth, prp_pages), c->opts.try_huge, &mapper);
	if (rc) {
		set_err(err, errlen, "cannot allocate and map queue memory: %s", strerror(-rc));
		return rc;
	}
	rc = pcie_queue_alloc(&c->admin, c, 0, (uint16_t)c->opts.admin_queue_depth, prp_pages);
	if (rc)
		goto free_mem;
	c->admin_buf = dma_region_carve(&c->mem, ADMIN_BUF_SIZE, c->page_size, &c->admin_buf_iova);
	c->ioq = calloc(c->opts.nr_io_queues, sizeof(*c->ioq));
	if (!c->admin_buf || !c->ioq) {
		rc = -ENOMEM;
		goto free_queues;
	}

	/* nvme_reset_work: disable, configure the admin queue, enable */
	rc = disable_ctrl(c, err, errlen);
	if (rc)
		goto free_queues;
	rc = enable_ctrl(c, err, errlen);
	if (rc)
		goto disable;
	c->state = PCIE_CTRL_LIVE;

	rc = identify(c, NVME_ID_CNS_CTRL, 0, &c->id, "Identify Controller", err, errlen);
	if (rc)
		goto disable;
	if (c->id.mdts) {
		uint64_t mdts_bytes = (uint64_t)c->page_size << c->id.mdts;

		if (mdts_bytes < c->max_xfer)
			c->max_xfer = (uint32_t)mdts_bytes;
	}

	rc = set_num_queues(c, c->opts.nr_io_queues, &granted, err, errlen);
	if (rc)
		goto disable;
	rc = setup_irqs(c);
	if (rc)
		goto disable;
	for (unsigned i = 0; i < granted; i++) {
		struct pcie_queue *q = &c->ioq[i];

		rc = pcie_queue_alloc(q, c, (uint16_t)(i + 1), (uint16_t)io_depth, prp_pages);
		if (rc) {
			set_err(err, errlen, "cannot allocate I/O queue %u: %s", i + 1, strerror(-rc));
			goto irqs;
		}
		c->nr_ioq++;
		if (i + 1 < c->nr_irqs) {
			q->vector = (int)(i + 1);
			q->irq_fd = c->irq_fds[i + 1];
		}
	}
	rc = dbbuf_config(c, c->nr_ioq, err, errlen);
	if (rc)
		goto irqs;
	dbbuf_attach(c);
	rc = create_io_queues(c, err, errlen);
	if (rc)
		goto irqs;
	rc = scan_namespaces(c, err, errlen);
	if (rc)
		goto irqs;
	c->last_health_ns = pcie_now(c);
	c->initialized = true;
	return 0;

irqs:
	teardown_irqs(c);
disable:
	c->state = PCIE_CTRL_DEAD;
	disable_ctrl(c, NULL, 0);
free_queues:
	free(c->ns);
	c->ns = NULL;
	free_queues(c);
free_mem:
	dma_region_free(&c->mem);
	return rc;
}

static int shutdown_ctrl(struct pcie_ctrl *c)
{
	uint32_t timeout_ms = le32_to_cpu(c->id.rtd3e) / 1000u;
	uint64_t deadline;
	uint32_t cc;

	/* nvme_disable_ctrl(shutdown=true): the Linux default bound is 5 s
	 * unless RTD3E asks for more */
	if (timeout_ms < 5000)
		timeout_ms = 5000;
	cc = pcie_rd32(c, NVME_REG_CC);
	if (!(cc & NVME_CC_EN))
		return 0;       /* disabled: nothing to shut down */
	pcie_wr32(c, NVME_REG_CC, (cc & ~NVME_CC_SHN_MASK) | NVME_CC_SHN_NORMAL);
	deadline = pcie_now(c) + (uint64_t)timeout_ms * 1000000u;
	for (;;) {
		uint32_t csts = pcie_rd32(c, NVME_REG_CSTS);

		if ((csts & NVME_CSTS_SHST_MASK) == NVME_CSTS_SHST_CMPLT) {
			log_debug("shutdown complete (CSTS=0x%x)", csts);
			return 0;
		}
		if (csts == 0xffffffffu || pcie_now(c) > deadline) {
			log_warn("shutdown did not complete within %u ms (CSTS=0x%x)", timeout_ms, csts);
			return csts == 0xffffffffu ? -ENODEV : -ETIMEDOUT;
		}
		c->opts.delay_us(1000);
	}
}

int pcie_ctrl_shutdown(struct pcie_ctrl *c)
{
	int rc = 0;

	if (!c->ops)
		return 0;
	if (c->state == PCIE_CTRL_LIVE) {
		/* nvme_disable_io_queues: SQs before their CQs */
		for (unsigned i = c->nr_ioq; i-- > 0;)
			delete_io_queue(c, &c->ioq[i]);
	}
	if (c->state != PCIE_CTRL_DEAD)
		rc = shutdown_ctrl(c);
	c->state = PCIE_CTRL_DEAD;
	teardown_irqs(c);
	free(c->ns);
	c->ns = NULL;
	c->nr_ns = 0;
	free_queues(c);
	dma_region_free(&c->mem);
	c->ops = NULL;
	return rc;
}

const char *pcie_ctrl_state_name(enum pcie_ctrl_state st)
{
	static const char *const names[] = { "dead", "live", "resetting", "failed" };

	return (unsigned)st < sizeof(names) / sizeof(names[0]) ? names[st] : "unknown";
}

int pcie_ctrl_reset_disable(struct pcie_ctrl *c)
{
	char err[256] = "";
	int rc;

	if (c->state == PCIE_CTRL_DEAD || c->state == PCIE_CTRL_RESETTING)
		return -ENODEV;
	log_warn("resetting controller (CSTS=0x%x)", pcie_rd32(c, NVME_REG_CSTS));
	c->state = PCIE_CTRL_RESETTING;
	c->resets++;
	/* Disable first (nvme_dev_disable, then cancel): a command that timed
	 * out may still be in the device, and its buffer must not go back to
	 * its owner while the device can still DMA into it. */
	rc = disable_ctrl(c, err, sizeof(err));
	if (rc)
		log_err("controller does not disable: %s", err);
	return rc;
}

int pcie_ctrl_reset_enable(struct pcie_ctrl *c)
{
	unsigned granted;
	char err[256] = "";
	int rc;

	pcie_queue_reset(&c->admin);
	rc = enable_ctrl(c, err, sizeof(err));
	if (rc)
		goto failed;
	/* Still RESETTING for everyone else: the admin queue works, but an
	 * I/O queue takes commands only once it exists again (its owners
	 * poll it from their own threads while this runs). */
	c->admin_only = true;
	rc = set_num_queues(c, c->nr_ioq ? c->nr_ioq : 1, &granted, err, sizeof(err));
	if (!rc && c->nr_ioq && granted < c->nr_ioq) {
		snprintf(err, sizeof(err), "only %u of %u I/O queues granted after reset", granted, c->nr_ioq);
		rc = -EIO;
	}
	if (!rc)
		rc = dbbuf_config(c, c->nr_ioq, err, sizeof(err));
	if (!rc)
		rc = create_io_queues(c, err, sizeof(err));
	if (rc)
		goto failed;
	c->admin_only = false;
	c->last_health_ns = pcie_now(c);
	/* the re-created queues before the state other threads look at */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	c->state = PCIE_CTRL_LIVE;
	log_notice("controller reset done");
	return 0;

failed:
	c->admin_only = false;
	c->state = PCIE_CTRL_FAILED;
	log_err("controller reset failed: %s", err);
	return rc ? rc : -EIO;
}

int pcie_ctrl_reset(struct pcie_ctrl *c)
{
	unsigned nr_aborted = 0;
	int rc = pcie_ctrl_reset_disable(c);

	if (rc == -ENODEV && c->state != PCIE_CTRL_RESETTING)
		return rc;
	nr_aborted += pcie_queue_abort_all(&c->admin, PCIE_STATUS_ABORTED);
	for (unsigned i = 0; i < c->nr_ioq; i++)
		nr_aborted += pcie_queue_abort_all(&c->ioq[i], PCIE_STATUS_ABORTED);
	if (nr_aborted)
		log_notice("%u command(s) aborted by the reset", nr_aborted);
	if (rc) {
		c->state = PCIE_CTRL_FAILED;
		return rc;
	}
	for (unsigned i = 0; i < c->nr_ioq; i++)
		pcie_queue_reset(&c->ioq[i]);
	return pcie_ctrl_reset_enable(c);
}

bool pcie_ctrl_needs_reset(struct pcie_ctrl *c)
{
	uint64_t now = pcie_now(c);
	uint32_t csts;
	unsigned expired;

	if (c->state != PCIE_CTRL_LIVE)
		return false;
	csts = pcie_rd32(c, NVME_REG_CSTS);
	c->last_health_ns = now;
	if (csts == 0xffffffffu || (csts & NVME_CSTS_CFS)) {
		log_err("controller fatal status (CSTS=0x%x)", csts);
		return true;
	}
	expired = pcie_queue_expired(&c->admin, now);
	for (unsigned i = 0; i < c->nr_ioq; i++)
		expired += pcie_queue_expired(&c->ioq[i], now);
	if (expired)
		log_err("%u command(s) timed out after %u ms", expired, c->opts.cmd_timeout_ms);
	return expired > 0;
}

int pcie_ctrl_check(struct pcie_ctrl *c)
{
	if (c->state != PCIE_CTRL_LIVE)
		return -ENODEV;
	if (!pcie_ctrl_needs_reset(c))
		return 0;
	return pcie_ctrl_reset(c) ? -EIO : 1;
}

const struct pcie_ns *pcie_ctrl_find_ns(const struct pcie_ctrl *c, uint32_t nsid)
{
	for (unsigned i = 0; i < c->nr_ns; i++)
		if (c->ns[i].nsid == nsid)
			return &c->ns[i];
	return NULL;
}
