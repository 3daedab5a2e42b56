/* SPDX-License-Identifier: MIT */
/*
 * Fake NVMe PCIe controller for the driver's unit tests (see fake_nvme.h).
 *
 * Layout, bottom-up: error recording, DMA translation, the PRP walker,
 * completion posting, admin commands, I/O commands, command processing,
 * doorbells, the CC/CSTS state machine, the ops table, the test API.
 */
#include "tests/fake_nvme.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* An IOMMU maps 4 KiB pages: an IOVA keeps its VA's offset inside a 4 KiB
 * page and nothing more. The fake makes every mapping start at an odd
 * multiple of 4 KiB, so a driver that assumes more IOVA alignment than
 * that (for 8 KiB controller pages, say) is caught every time, not only
 * when mmap happens to return a lucky address. A 1 MiB hole separates
 * mappings: running off the end of a buffer never lands in the next. */
#define FAKE_IOVA_ALIGN (2ull << 20)
#define FAKE_IOVA_SKEW 0x3000ull
#define FAKE_IOVA_PAGE 0x1000ull
#define FAKE_IOVA_GAP (1ull << 20)
#define FAKE_MAX_HELD 64
#define FAKE_AERL 3                   /* 0's based: 4 AERs outstanding */
#define FAKE_SC_INVALID_QUEUE_DELETION 0x0c  /* SCT 1 */
#define FAKE_SQE_SIZE 64u
#define FAKE_CQE_SIZE 16u

struct fake_map {
	void *va;
	size_t len;
	uint64_t iova;
};

struct fake_sq {
	bool live;
	uint16_t size;
	uint16_t head;
	uint16_t tail;
	uint16_t cqid;
	uint64_t iova;
};

struct fake_cq {
	bool live;
	uint16_t size;
	uint16_t head;
	uint16_t tail;
	uint8_t phase;
	bool ien;
	uint16_t iv;
	uint64_t iova;
};

struct fake_ns {
	uint32_t nsid;
	uint32_t lba_shift;
	uint64_t blocks;
	uint8_t *data;
};

/* A command fetched but never to be completed (dropped, or an AER) */
struct fake_held {
	uint16_t sqid;
	uint16_t cid;
};

struct fake_inject {
	unsigned drop;
	unsigned fail;
	uint16_t fail_status;
	bool opc_armed;
	uint8_t opc;
	uint16_t opc_status;
};

struct fake_result {
	uint16_t status;
	uint32_t dw0;
	bool hold;                    /* no completion now (AER) */
};

struct fake_nvme {
	struct fake_nvme_config cfg;
	struct nvme_bar bar;
	uint32_t page_size;           /* CC.MPS latched at enable */
	bool shutting_down;           /* CC.SHN seen: no more commands */

	/* CSTS changes that complete after a number of CSTS reads */
	bool rdy_target;
	unsigned rdy_countdown;
	bool shst_pending;
	unsigned shst_countdown;

	struct fake_map *maps;
	unsigned nr_maps;
	unsigned max_maps;
	uint64_t next_iova;

	struct fake_sq sq[FAKE_NVME_MAX_QID];
	struct fake_cq cq[FAKE_NVME_MAX_QID];
	struct fake_held held[FAKE_MAX_HELD];
	unsigned nr_held;
	unsigned nr_aer;

	bool nq_set;                  /* Number of Queues granted */
	uint16_t nsq;                 /* I/O SQs granted, 1's based */
	uint16_t ncq;
	uint32_t features[256];

	struct fake_ns *ns;
	unsigned nr_ns;

	int efds[FAKE_NVME_MAX_VEC];
	unsigned nvec;

	struct fake_inject inj[2];    /* [false] I/O queues, [true] admin */

	/* Doorbell Buffer Config: shadow doorbells and EventIdx, host memory */
	uint32_t *dbbuf_dbs;
	uint32_t *dbbuf_eis;
	bool in_dbbuf;                /* taking shadow values: no processing from the setters */

	struct fake_reg_access log[FAKE_NVME_LOG_MAX];
	unsigned nlog;
	struct fake_nvme_stats st;
};

/* --- error recording -------------------------------------------------- */

static void __attribute__((format(printf, 3, 4)))
fake_error(struct fake_nvme *d, unsigned *kind, const char *fmt, ...)
{
	va_list ap;

	d->st.errors++;
	(*kind)++;
	va_start(ap, fmt);
	vsnprintf(d->st.last_error, sizeof(d->st.last_error), fmt, ap);
	va_end(ap);
	fprintf(stderr, "fake_nvme: %s\n", d->st.last_error);
}

static struct fake_result result(uint16_t status)
{
	return (struct fake_result){ .status = status };
}

static uint16_t status_dnr(uint8_t sct, uint8_t sc)
{
	return NVME_STATUS(sct, sc) | NVME_STATUS_DNR;
}

/* --- DMA translation -------------------------------------------------- */

static void *iova_lookup(const struct fake_nvme *d, uint64_t iova, size_t len)
{
	for (unsigned i = 0; i < d->nr_maps; i++) {
		const struct fake_map *m = &d->maps[i];
		uint64_t off = iova - m->iova;

		if (iova >= m->iova && off <= m->len && len <= m->len - off)
			return (char *)m->va + off;
	}
	return NULL;
}

/* Every device access goes through here: an address that is not inside
 * one mapping is a driver bug (a VA, an unmapped buffer, an overrun). */
static void *dma_translate(struct fake_nvme *d, uint64_t iova, size_t len, const char *what)
{
	void *p = iova_lookup(d, iova, len);

	if (!p)
		fake_error(d, &d->st.dma_errors, "%s: IOVA 0x%llx+%zu is not mapped",
			   what, (unsigned long long)iova, len);
	return p;
}

static bool range_overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* True when the controller may still DMA to the queue memory in m. */
static bool map_holds_live_queue(const struct fake_nvme *d, const struct fake_map *m)
{
	bool active = (d->bar.cc & NVME_CC_EN) && (d->bar.csts & NVME_CSTS_RDY) &&
		      !(d->bar.csts & NVME_CSTS_CFS) &&
		      (d->bar.csts & NVME_CSTS_SHST_MASK) != NVME_CSTS_SHST_CMPLT;

	if (!active)
		return false;
	for (unsigned q = 0; q < FAKE_NVME_MAX_QID; q++) {
		const struct fake_sq *sq = &d->sq[q];
		const struct fake_cq *cq = &d->cq[q];

		if (sq->live && range_overlaps(m->iova, m->len, sq->iova,
					       (uint64_t)sq->size * FAKE_SQE_SIZE))
			return true;
		if (cq->live && range_overlaps(m->iova, m->len, cq->iova,
					       (uint64_t)cq->size * FAKE_CQE_SIZE))
			return true;
	}
	return false;
}

static int fake_dma_map(void *dev, void *va, size_t len, uint64_t *iova)
{
	struct fake_nvme *d = dev;
	uint64_t base;

	if (!va || !len)
		return -EINVAL;
	if (d->nr_maps == d->max_maps) {
		unsigned n = d->max_maps ? 2 * d->max_maps : 16;
		struct fake_map *m = realloc(d->maps, n * sizeof(*m));

		if (!m)
			return -ENOMEM;
		d->maps = m;
		d->max_maps = n;
	}
	base = (d->next_iova + FAKE_IOVA_ALIGN - 1) & ~(FAKE_IOVA_ALIGN - 1);
	base += FAKE_IOVA_SKEW + ((uintptr_t)va & (FAKE_IOVA_PAGE - 1));
	d->maps[d->nr_maps++] = (struct fake_map){ .va = va, .len = len, .iova = base };
	d->next_iova = base + len + FAKE_IOVA_GAP;
	*iova = base;
	return 0;
}

static int fake_dma_unmap(void *dev, void *va, size_t len, uint64_t iova)
{
	struct fake_nvme *d = dev;

	for (unsigned i = 0; i < d->nr_maps; i++) {
		struct fake_map *m = &d->maps[i];

		if (m->va != va || m->len != len || m->iova != iova)
			continue;
		if (map_holds_live_queue(d, m))
			fake_error(d, &d->st.reg_errors,
				   "dma_unmap of IOVA 0x%llx while a live queue is in it "
				   "(controller still enabled)", (unsigned long long)iova);
		*m = d->maps[--d->nr_maps];
		return 0;
	}
	fake_error(d, &d->st.dma_errors, "dma_unmap of va %p len %zu iova 0x%llx: no such mapping",
		   va, len, (unsigned long long)iova);
	return -EINVAL;
}

/* --- PRP walker ------------------------------------------------------- */

struct xfer {
	uint8_t *buf;                 /* device side: namespace or identify page */
	bool to_host;
	size_t done;
	unsigned list_pages;
};

static uint16_t xfer_segment(struct fake_nvme *d, struct xfer *x, uint64_t iova, size_t n)
{
	uint8_t *host = dma_translate(d, iova, n, "PRP data");

	if (!host)
		return status_dnr(NVME_SCT_GENERIC, NVME_SC_DATA_XFER_ERROR);
	if (x->to_host)
		memcpy(host, x->buf + x->done, n);
	else
		memcpy(x->buf + x->done, host, n);
	x->done += n;
	return 0;
}

static uint16_t prp_offset_error(struct fake_nvme *d, const char *what, uint64_t prp)
{
	fake_error(d, &d->st.prp_errors, "%s 0x%llx has an invalid offset (page size %u)",
		   what, (unsigned long long)prp, d->page_size);
	return status_dnr(NVME_SCT_GENERIC, NVME_SC_INVALID_PRP_OFFSET);
}

/*
 * One PRP list page: entries from list to the end of its page. The last
 * entry of the page points to the next list page only when more than one
 * page of data remains; otherwise it is an ordinary data entry.
 */
static uint16_t walk_list_page(struct fake_nvme *d, struct xfer *x, uint64_t list,
			       size_t *left, uint64_t *next)
{
	uint64_t ps = d->page_size;
	size_t slots = (ps - (list & (ps - 1))) / sizeof(uint64_t);
	const uint8_t *ents = dma_translate(d, list, slots * sizeof(uint64_t), "PRP list");
	uint16_t status;

	*next = 0;
	if (!ents)
		return status_dnr(NVME_SCT_GENERIC, NVME_SC_DATA_XFER_ERROR);
	x->list_pages++;
	for (size_t i = 0; i < slots && *left; i++) {
		uint64_t e;
		size_t n = *left < ps ? *left : ps;

		memcpy(&e, ents + i * sizeof(e), sizeof(e));
		if (i == slots - 1 && *left > ps) {
			if (e & (ps - 1))
				return prp_offset_error(d, "chained PRP list pointer", e);
			*next = e;
			return 0;
		}
		if (e & (ps - 1))
			return prp_offset_error(d, "PRP list entry", e);
		status = xfer_segment(d, x, e, n);
		if (status)
			return status;
		*left -= n;
	}
	return 0;
}

static uint16_t walk_prp_list(struct fake_nvme *d, struct xfer *x, uint64_t list, size_t left)
{
	uint16_t status;

	/* a list pointer may carry an offset, dword aligned like any PRP */
	if (list & 3)
		return prp_offset_error(d, "PRP list pointer", list);
	while (left) {
		status = walk_list_page(d, x, list, &left, &list);
		if (status)
			return status;
	}
	return 0;
}

static void count_list_pages(struct fake_nvme *d, const struct xfer *x)
{
	d->st.prp_list_pages += x->list_pages;
	if (x->list_pages > d->st.max_prp_list_pages)
		d->st.max_prp_list_pages = x->list_pages;
}

/* Move len bytes between buf and the host memory the SQE's PRPs describe. */
static uint16_t prp_transfer(struct fake_nvme *d, const struct nvme_sqe *s, void *buf,
			     size_t len, bool to_host)
{
	uint64_t ps = d->page_size;
	uint64_t prp1 = s->dptr.prp.prp1, prp2 = s->dptr.prp.prp2;
	struct xfer x = { .buf = buf, .to_host = to_host };
	size_t first, left;
	uint16_t status;

	if (prp1 & 3)
		return prp_offset_error(d, "PRP1", prp1);
	first = ps - (prp1 & (ps - 1));
	if (first > len)
		first = len;
	status = xfer_segment(d, &x, prp1, first);
	left = len - first;
	if (status || !left)
		return status;
	if (left <= ps) {
		/* PRP2 is the second (and last) data page */
		if (prp2 & (ps - 1))
			return prp_offset_error(d, "PRP2 data page", prp2);
		return xfer_segment(d, &x, prp2, left);
	}
	status = walk_prp_list(d, &x, prp2, left);
	count_list_pages(d, &x);
	return status;
}

/* --- interrupts and completions -------------------------------------- */

static void signal_vector(struct fake_nvme *d, uint16_t vec)
{
	uint64_t one = 1;

	if (vec >= d->nvec || d->efds[vec] < 0)
		return;
	if (write(d->efds[vec], &one, sizeof(one)) == sizeof(one) && vec < FAKE_NVME_MAX_VEC)
		d->st.irqs[vec]++;
}

static bool cq_full(const struct fake_cq *cq)
{
	return (uint16_t)((cq->tail + 1) % cq->size) == cq->head;
}

static void post_cqe(struct fake_nvme *d, uint16_t sqid, uint16_t cid, uint16_t status,
		     uint32_t dw0)
{
	struct fake_sq *sq = &d->sq[sqid];
	struct fake_cq *cq = &d->cq[sq->cqid];
	uint8_t *slot = dma_translate(d, cq->iova + (uint64_t)cq->tail * FAKE_CQE_SIZE,
				      FAKE_CQE_SIZE, "CQ entry");
	struct nvme_cqe e = {
		.dw0 = dw0, .sqhd = sq->head, .sqid = sqid, .cid = cid,
		.status = (uint16_t)(status << 1 | cq->phase),
	};

	if (!slot) {
		d->bar.csts |= NVME_CSTS_CFS;
		return;
	}
	/* body first, then the status word carrying the phase tag, as a
	 * device would: the driver may look at the phase at any time */
	memcpy(slot, &e, offsetof(struct nvme_cqe, status));
	__atomic_store_n((uint16_t *)(slot + offsetof(struct nvme_cqe, status)), e.status,
			 __ATOMIC_RELEASE);
	d->st.cqes[sq->cqid]++;
	if (++cq->tail == cq->size) {
		cq->tail = 0;
		cq->phase ^= 1;
		d->st.cq_wraps[sq->cqid]++;
	}
	if (cq->ien)
		signal_vector(d, cq->iv);
}

static void hold_command(struct fake_nvme *d, uint16_t sqid, uint16_t cid)
{
	if (d->nr_held < FAKE_MAX_HELD)
		d->held[d->nr_held++] = (struct fake_held){ .sqid = sqid, .cid = cid };
}

static void release_held(struct fake_nvme *d, uint16_t sqid)
{
	unsigned i = 0;

	while (i < d->nr_held) {
		if (d->held[i].sqid == sqid)
			d->held[i] = d->held[--d->nr_held];
		else
			i++;
	}
}

/* A CID must be unique among the SQ's outstanding commands; a command the
 * device never completed stays outstanding until the queue goes away. */
static void check_cid_free(struct fake_nvme *d, uint16_t sqid, uint16_t cid)
{
	for (unsigned i = 0; i < d->nr_held; i++)
		if (d->held[i].sqid == sqid && d->held[i].cid == cid)
			fake_error(d, &d->st.cmd_errors,
				   "SQ %u: CID %u reused while that command is still outstanding",
				   sqid, cid);
}

/* --- admin commands --------------------------------------------------- */

static void pad_copy(char *dst, size_t n, const char *src)
{
	size_t l = src ? strlen(src) : 0;

	memset(dst, ' ', n);
	if (l)
		memcpy(dst, src, l < n ? l : n);
}

static uint32_t highest_nsid(const struct fake_nvme *d)
{
	return d->nr_ns ? d->ns[d->nr_ns - 1].nsid : 0;
}

static uint32_t fake_nn(const struct fake_nvme *d)
{
	uint32_t hi = highest_nsid(d);

	return d->cfg.nn > hi ? d->cfg.nn : hi;
}

static void fill_id_ctrl(const struct fake_nvme *d, struct nvme_id_ctrl *id)
{
	id->vid = 0x1b36;
	id->ssvid = 0x1af4;
	pad_copy(id->sn, sizeof(id->sn), d->cfg.sn);
	pad_copy(id->mn, sizeof(id->mn), d->cfg.mn);
	pad_copy(id->fr, sizeof(id->fr), d->cfg.fr);
	id->rab = 6;
	id->mdts = d->cfg.mdts;
	id->cntlid = 1;
	id->ver = d->bar.vs;
	id->cntrltype = 1;
	id->aerl = FAKE_AERL;
	id->sqes = 0x66;
	id->cqes = 0x44;
	id->nn = fake_nn(d);
	id->oncs = d->cfg.oncs;
	if (d->cfg.dbbuf)
		id->oacs = cpu_to_le16(NVME_CTRL_OACS_DBBUF);
	snprintf(id->subnqn, sizeof(id->subnqn), "nqn.2014-08.org.nvmexpress:fake:%s",
		 d->cfg.sn ? d->cfg.sn : "");
}

static const struct fake_ns *find_ns(const struct fake_nvme *d, uint32_t nsid)
{
	for (unsigned i = 0; i < d->nr_ns; i++)
		if (d->ns[i].nsid == nsid)
			return &d->ns[i];
	return NULL;
}

/* Two formats so that the driver has to honour FLBAS: 512 B at index 0,
 * 4 KiB at index 1. */
static void fill_id_ns(const struct fake_ns *ns, struct nvme_id_ns *id)
{
	id->nsze = ns->blocks;
	id->ncap = ns->blocks;
	id->nuse = ns->blocks;
	id->nlbaf = 1;
	id->lbaf[0].lbads = 9;
	id->lbaf[1].lbads = 12;
	id->flbas = ns->lba_shift == 12 ? 1 : 0;
}

static void fill_active_list(const struct fake_nvme *d, uint32_t after, uint32_t *list)
{
	unsigned n = 0;

	for (unsigned i = 0; i < d->nr_ns && n < 1024; i++)
		if (d->ns[i].nsid > after)
			list[n++] = d->ns[i].nsid;
}

static struct fake_result admin_identify(struct fake_nvme *d, const struct nvme_sqe *s)
{
	static uint64_t page[4096 / sizeof(uint64_t)];   /* aligned for the structs */
	uint8_t cns = s->cdw10 & 0xff;
	const struct fake_ns *ns;

	memset(page, 0, sizeof(page));
	switch (cns) {
	case NVME_ID_CNS_CTRL:
		fill_id_ctrl(d, (struct nvme_id_ctrl *)page);
		break;
	case NVME_ID_CNS_NS:
		if (s->nsid == 0 || s->nsid > fake_nn(d))
			return result(status_dnr(NVME_SCT_GENERIC, NVME_SC_INVALID_NS));
		ns = find_ns(d, s->nsid);
		if (ns)   /* an inactive NSID reads as zeroes */
			fill_id_ns(ns, (struct nvme_id_ns *)page);
		break;
	case NVME_ID_CNS_NS_ACTIVE_LIST:
		if (s->nsid >= 0xfffffffeu)
			return result(status_dnr(NVME_SCT_GENERIC, NVME_SC_INVALID_NS));
		fill_active_list(d, s->nsid, (uint32_t *)page);
		break;
	default:
		return result(status_dnr(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD));
	}
	return result(prp_transfer(d, s, page, sizeof(page), true));
}

static bool io_queues_exist(const struct fake_nvme *d)
{
	for (unsigned q = 1; q < FAKE_NVME_MAX_QID; q++)
		if (d->sq[q].live || d->cq[q].live)
			return true;
	return false;
}

static unsigned count_io_queues(const struct fake_nvme *d)
{
	unsigned n = 0;

	for (unsigned q = 1; q < FAKE_NVME_MAX_QID; q++)
		n += d->sq[q].live + d->cq[q].live;
	return n;
}

static uint16_t grant(uint32_t requested0, unsigned max)
{
	uint32_t want = requested0 + 1;

	if (max < 1)
		max = 1;
	if (max > FAKE_NVME_MAX_QID - 1)
		max = FAKE_NVME_MAX_QID - 1;
	return (uint16_t)(want < max ? want : max);
}

static struct fake_result set_num_queues(struct fake_nvme *d, uint32_t cdw11)
{
	uint32_t nsqr = cdw11 & 0xffff, ncqr = cdw11 >> 16;

	d->st.nq_requested = cdw11;
	if (io_queues_exist(d)) {
		fake_error(d, &d->st.cmd_errors,
			   "Set Features Number of Queues with I/O queues present");
		return result(status_dnr(NVME_SCT_GENERIC, NVME_SC_CMD_SEQ_ERROR));
	}
	if (nsqr == 0xffff || ncqr == 0xffff)
		return result(status_dnr(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD));
	d->nsq = grant(nsqr, d->cfg.max_ioq);
	d->ncq = grant(ncqr, d->cfg.max_ioq);
	d->nq_set = true;
	d->features[NVME_FEAT_NUM_QUEUES] = (uint32_t)(d->nsq - 1) | (uint32_t)(d->ncq - 1) << 16;
	return (struct fake_result){ .dw0 = d->features[NVME_FEAT_NUM_QUEUES] };
}

static struct fake_result admin_set_features(struct fake_nvme *d, const struct nvme_sqe *s)
{
	uint8_t fid = s->cdw10 & 0xff;

	if (fid == NVME_FEAT_NUM_QUEUES)
		return set_num_queues(d, s->cdw11);
	d->features[fid] = s->cdw11;
	return (struct fake_result){ .dw0 = s->cdw11 };
}

static struct fake_result admin_get_features(struct fake_nvme *d, const struct nvme_sqe *s)
{
	uint8_t fid = s->cdw10 & 0xff;
	uint32_t dflt;

	if (fid == NVME_FEAT_NUM_QUEUES && !d->nq_set) {
		dflt = grant(UINT16_MAX - 1, d->cfg.max_ioq) - 1u;
		return (struct fake_result){ .dw0 = dflt | dflt << 16 };
	}
	return (struct fake_result){ .dw0 = d->features[fid] };
}

/* Checks shared by Create I/O SQ and CQ: a contiguous, page aligned,
 * mapped queue of a size the controller supports. */
static uint16_t check_new_queue(struct fake_nvme *d, const struct nvme_sqe *s,
				uint16_t qid, uint16_t granted, bool exists, size_t entry_size)
{
	uint32_t qsize = (s->cdw10 >> 16) + 1;
	uint64_t base = s->dptr.prp.prp1;

	if (!d->nq_set)
		fake_error(d, &d->st.cmd_errors,
			   "queue %u created before Set Features Number of Queues", qid);
	if (qid == 0 || qid > granted || qid >= FAKE_NVME_MAX_QID || exists)
		return status_dnr(NVME_SCT_CMD_SPECIFIC, NVME_SC_QID_INVALID);
	if (qsize < 2 || qsize > NVME_CAP_MQES(d->bar.cap) + 1u)
		return status_dnr(NVME_SCT_CMD_SPECIFIC, NVME_SC_QUEUE_SIZE);
	if (!(s->cdw11 & NVME_CQ_PC))  /* CAP.CQR=1: contiguous queues only */
		return status_dnr(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);
	if (base & (d->page_size - 1))
		return prp_offset_error(d, "queue base", base);
	if (!dma_translate(d, base, qsize * entry_size, "queue memory"))
		return status_dnr(NVME_SCT_GENERIC, NVME_SC_DATA_XFER_ERROR);
	return 0;
}

static struct fake_result admin_create_cq(struct fake_nvme *d, const struct nvme_sqe *s)
{
	uint16_t qid = s->cdw10 & 0xffff;
	bool ien = s->cdw11 & NVME_CQ_IEN;
	uint16_t iv = s->cdw11 >> 16;
	unsigned nvec = d->cfg.irq_vectors ? d->cfg.irq_vectors : 1;
	uint16_t status;

	status = check_new_queue(d, s, qid, d->ncq,
				 qid < FAKE_NVME_MAX_QID && d->cq[qid].live, FAKE_CQE_SIZE);
	if (status)
		return result(status);
	if (ien && iv >= nvec)
		return result(status_dnr(NVME_SCT_CMD_SPECIFIC, NVME_SC_INVALID_VECTOR));
	d->cq[qid] = (struct fake_cq){
		.live = true, .size = (uint16_t)((s->cdw10 >> 16) + 1), .phase = 1,
		.ien = ien, .iv = iv, .iova = s->dptr.prp.prp1,
	};
	d->st.creates_cq++;
	return result(0);
}

static struct fake_result admin_create_sq(struct fake_nvme *d, const struct nvme_sqe *s)
{
	uint16_t qid = s->cdw10 & 0xffff;
	uint16_t cqid = s->cdw11 >> 16;
	uint16_t status;

	if (cqid == 0 || cqid >= FAKE_NVME_MAX_QID || !d->cq[cqid].live)
		return result(status_dnr(NVME_SCT_CMD_SPECIFIC, NVME_SC_CQ_INVALID));
	status = check_new_queue(d, s, qid, d->nsq,
				 qid < FAKE_NVME_MAX_QID && d->sq[qid].live, FAKE_SQE_SIZE);
	if (status)
		return result(status);
	d->sq[qid] = (struct fake_sq){
		.live = true, .size = (uint16_t)((s->cdw10 >> 16) + 1), .cqid = cqid,
		.iova = s->dptr.prp.prp1,
	};
	d->st.creates_sq++;
	return result(0);
}

static uint8_t *sq_head_entry(struct fake_nvme *d, const struct fake_sq *sq)
{
	return dma_translate(d, sq->iova + (uint64_t)sq->head * FAKE_SQE_SIZE, FAKE_SQE_SIZE,
			     "SQ entry");
}

/* Commands still in the SQ when it is deleted complete with "aborted due
 * to SQ deletion", as far as the CQ has room. */
static void abort_unfetched(struct fake_nvme *d, uint16_t qid)
{
	struct fake_sq *sq = &d->sq[qid];
	uint8_t *e;
	uint16_t cid;

	while (sq->head != sq->tail && !cq_full(&d->cq[sq->cqid])) {
		e = sq_head_entry(d, sq);
		if (!e)
			return;
		memcpy(&cid, e + offsetof(struct nvme_sqe, cid), sizeof(cid));
		sq->head = (uint16_t)((sq->head + 1) % sq->size);
		post_cqe(d, qid, cid, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_ABORT_SQ_DELETED), 0);
	}
}

static struct fake_result admin_delete_sq(struct fake_nvme *d, const struct nvme_sqe *s)
{
	uint16_t qid = s->cdw10 & 0xffff;

	if (qid == 0 || qid >= FAKE_NVME_MAX_QID || !d->sq[qid].live)
		return result(status_dnr(NVME_SCT_CMD_SPECIFIC, NVME_SC_QID_INVALID));
	abort_unfetched(d, qid);
	release_held(d, qid);
	d->sq[qid].live = false;
	d->st.deletes_sq++;
	return result(0);
}

static struct fake_result admin_delete_cq(struct fake_nvme *d, const struct nvme_sqe *s)
{
	uint16_t qid = s->cdw10 & 0xffff;

	if (qid == 0 || qid >= FAKE_NVME_MAX_QID || !d->cq[qid].live)
		return result(status_dnr(NVME_SCT_CMD_SPECIFIC, NVME_SC_QID_INVALID));
	for (unsigned q = 1; q < FAKE_NVME_MAX_QID; q++) {
		if (d->sq[q].live && d->sq[q].cqid == qid) {
			fake_error(d, &d->st.cmd_errors,
				   "Delete I/O CQ %u while SQ %u still uses it", qid, q);
			return result(status_dnr(NVME_SCT_CMD_SPECIFIC,
						 FAKE_SC_INVALID_QUEUE_DELETION));
		}
	}
	d->cq[qid].live = false;
	d->st.deletes_cq++;
	return result(0);
}

static struct fake_result admin_get_log_page(struct fake_nvme *d, const struct nvme_sqe *s)
{
	static uint8_t zeroes[4096];
	uint8_t lid = s->cdw10 & 0xff;
	size_t numd = ((size_t)(s->cdw11 & 0xffff) << 16 | (s->cdw10 >> 16)) + 1;

	if (lid < 1 || lid > 3)
		return result(status_dnr(NVME_SCT_CMD_SPECIFIC, NVME_SC_INVALID_LOG_PAGE));
	if (numd * 4 > sizeof(zeroes))
		return result(status_dnr(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD));
	memset(zeroes, 0, sizeof(zeroes));
	return result(prp_transfer(d, s, zeroes, numd * 4, true));
}

static struct fake_result admin_async_event(struct fake_nvme *d)
{
	if (d->nr_aer > FAKE_AERL)
		return result(status_dnr(NVME_SCT_CMD_SPECIFIC, NVME_SC_ASYNC_LIMIT));
	d->nr_aer++;
	return (struct fake_result){ .hold = true };
}

/* Doorbell Buffer Config: PRP1 the shadow doorbells, PRP2 the EventIdx
 * buffer, one memory page each, page aligned. */
static struct fake_result admin_dbbuf_config(struct fake_nvme *d, const struct nvme_sqe *s)
{
	uint64_t dbs = le64_to_cpu(s->dptr.prp.prp1), eis = le64_to_cpu(s->dptr.prp.prp2);
	void *pdbs, *peis;

	if (!d->cfg.dbbuf)
		return result(status_dnr(NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE));
	if (!dbs || !eis || (dbs & (d->page_size - 1)) || (eis & (d->page_size - 1))) {
		fake_error(d, &d->st.cmd_errors, "Doorbell Buffer Config: buffers 0x%llx 0x%llx not page aligned",
			   (unsigned long long)dbs, (unsigned long long)eis);
		return result(status_dnr(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD));
	}
	pdbs = dma_translate(d, dbs, d->page_size, "shadow doorbells");
	peis = dma_translate(d, eis, d->page_size, "EventIdx buffer");
	if (!pdbs || !peis)
		return result(status_dnr(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD));
	d->dbbuf_dbs = pdbs;
	d->dbbuf_eis = peis;
	d->st.dbbuf_configs++;
	return result(0);
}

static struct fake_result admin_execute(struct fake_nvme *d, const struct nvme_sqe *s)
{
	switch (s->opc) {
	case NVME_ADM_IDENTIFY:
		return admin_identify(d, s);
	case NVME_ADM_SET_FEATURES:
		return admin_set_features(d, s);
	case NVME_ADM_GET_FEATURES:
		return admin_get_features(d, s);
	case NVME_ADM_CREATE_CQ:
		return admin_create_cq(d, s);
	case NVME_ADM_CREATE_SQ:
		return admin_create_sq(d, s);
	case NVME_ADM_DELETE_SQ:
		return admin_delete_sq(d, s);
	case NVME_ADM_DELETE_CQ:
		return admin_delete_cq(d, s);
	case NVME_ADM_GET_LOG_PAGE:
		return admin_get_log_page(d, s);
	case NVME_ADM_ASYNC_EVENT:
		return admin_async_event(d);
	case NVME_ADM_ABORT:
		return (struct fake_result){ .dw0 = 1 };   /* "not aborted" */
	case NVME_ADM_KEEP_ALIVE:
		return result(0);
	case NVME_ADM_DBBUF_CONFIG:
		return admin_dbbuf_config(d, s);
	default:
		return result(status_dnr(NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE));
	}
}

/* --- I/O commands ----------------------------------------------------- */

static uint64_t mdts_bytes(const struct fake_nvme *d)
{
	uint64_t min_page = 4096ull << NVME_CAP_MPSMIN(d->bar.cap);

	return d->cfg.mdts ? min_page << d->cfg.mdts : 0;
}

/* Resolve SLBA/NLB against the namespace; 0 or an error status. */
static uint16_t lba_range(const struct fake_ns *ns, const struct nvme_sqe *s,
			  uint64_t *off, size_t *len)
{
	uint64_t slba = s->cdw10 | (uint64_t)s->cdw11 << 32;
	uint64_t nlb = (s->cdw12 & 0xffff) + 1ull;

	if (slba >= ns->blocks || nlb > ns->blocks - slba)
		return status_dnr(NVME_SCT_GENERIC, NVME_SC_LBA_RANGE);
	*off = slba << ns->lba_shift;
	*len = (size_t)(nlb << ns->lba_shift);
	return 0;
}

static uint16_t io_read_write(struct fake_nvme *d, const struct fake_ns *ns,
			      const struct nvme_sqe *s, bool write)
{
	uint64_t off, max = mdts_bytes(d);
	size_t len;
	uint16_t status = lba_range(ns, s, &off, &len);

	if (status)
		return status;
	if (max && len > max) {
		fake_error(d, &d->st.cmd_errors, "%s of %zu bytes exceeds MDTS (%llu bytes)",
			   write ? "Write" : "Read", len, (unsigned long long)max);
		return status_dnr(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);
	}
	return prp_transfer(d, s, ns->data + off, len, !write);
}

static uint16_t io_write_zeroes(struct fake_nvme *d, const struct fake_ns *ns,
				const struct nvme_sqe *s)
{
	uint64_t off;
	size_t len;
	uint16_t status;

	if (!(d->cfg.oncs & NVME_ONCS_WRITE_ZEROES))
		return status_dnr(NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE);
	status = lba_range(ns, s, &off, &len);
	if (!status)
		memset(ns->data + off, 0, len);
	return status;
}

static struct fake_result io_execute(struct fake_nvme *d, const struct nvme_sqe *s)
{
	const struct fake_ns *ns = find_ns(d, s->nsid);

	if (s->opc == NVME_CMD_FLUSH && s->nsid == 0xffffffffu)
		return result(0);
	if (!ns)
		return result(status_dnr(NVME_SCT_GENERIC, NVME_SC_INVALID_NS));
	switch (s->opc) {
	case NVME_CMD_FLUSH:
		return result(0);
	case NVME_CMD_WRITE:
		return result(io_read_write(d, ns, s, true));
	case NVME_CMD_READ:
		return result(io_read_write(d, ns, s, false));
	case NVME_CMD_WRITE_ZEROES:
		return result(io_write_zeroes(d, ns, s));
	default:
		return result(status_dnr(NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE));
	}
}

/* --- command processing ----------------------------------------------- */

/* Error injection first: returns true (and the result) when it applies. */
static bool injected(struct fake_nvme *d, bool admin, const struct nvme_sqe *s,
		     struct fake_result *r)
{
	struct fake_inject *inj = &d->inj[admin];

	if (inj->drop) {
		inj->drop--;
		d->st.dropped++;
		*r = (struct fake_result){ .hold = true };
		return true;
	}
	if (inj->fail) {
		inj->fail--;
		*r = result(inj->fail_status);
		return true;
	}
	if (inj->opc_armed && inj->opc == s->opc) {
		inj->opc_armed = false;
		*r = result(inj->opc_status);
		return true;
	}
	return false;
}

static void execute(struct fake_nvme *d, uint16_t qid, const struct nvme_sqe *s)
{
	bool admin = qid == 0;
	struct fake_result r;

	check_cid_free(d, qid, s->cid);
	if (injected(d, admin, s, &r)) {
		/* nothing else to check */
	} else if ((s->flags & NVME_SQE_PSDT_MASK) != NVME_SQE_PSDT_PRP || (s->flags & 3)) {
		/* no SGL support (SGLS=0), no fused operations */
		fake_error(d, &d->st.cmd_errors, "SQ %u CID %u: flags 0x%x (SGL/fused) not supported",
			   qid, s->cid, s->flags);
		r = result(status_dnr(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD));
	} else {
		r = admin ? admin_execute(d, s) : io_execute(d, s);
	}
	if (r.hold)
		hold_command(d, qid, s->cid);
	else
		post_cqe(d, qid, s->cid, r.status, r.dw0);
}

static bool can_process(const struct fake_nvme *d)
{
	return (d->bar.cc & NVME_CC_EN) && !(d->bar.csts & NVME_CSTS_CFS) && !d->shutting_down;
}

static void sq_tail_write(struct fake_nvme *d, uint16_t qid, uint32_t val);
static void cq_head_write(struct fake_nvme *d, uint16_t qid, uint32_t val);

/* With shadow doorbells (I/O queues only): take the SQ's tail and its CQ's
 * head from the shadow buffer, checked as a doorbell write is, and tell
 * the host through EventIdx which values the device has seen. */
static bool dbbuf_on(const struct fake_nvme *d, uint16_t qid)
{
	return d->dbbuf_dbs && qid != 0;
}

static uint32_t dbbuf_idx(const struct fake_nvme *d, uint16_t qid, bool cq)
{
	return (2u * qid + (cq ? 1u : 0u)) << d->cfg.dstrd;
}

static void dbbuf_read(struct fake_nvme *d, uint16_t qid)
{
	struct fake_sq *sq = &d->sq[qid];
	struct fake_cq *cq = &d->cq[sq->cqid];
	uint32_t v;

	d->in_dbbuf = true;
	v = __atomic_load_n(&d->dbbuf_dbs[dbbuf_idx(d, sq->cqid, true)], __ATOMIC_ACQUIRE);
	if (v != cq->head)
		cq_head_write(d, sq->cqid, v);
	__atomic_store_n(&d->dbbuf_eis[dbbuf_idx(d, sq->cqid, true)], cq->head, __ATOMIC_RELEASE);
	v = __atomic_load_n(&d->dbbuf_dbs[dbbuf_idx(d, qid, false)], __ATOMIC_ACQUIRE);
	if (v != sq->tail)
		sq_tail_write(d, qid, v);
	d->in_dbbuf = false;
}

/* Fetch and execute up to max commands from one SQ; stop when its CQ is
 * full, so an unconsumed completion is never overwritten. */
static void process_sq(struct fake_nvme *d, uint16_t qid, unsigned max, unsigned *done)
{
	struct fake_sq *sq = &d->sq[qid];
	struct nvme_sqe s;
	uint8_t *e;

	if (sq->live && dbbuf_on(d, qid) && can_process(d))
		dbbuf_read(d, qid);
	while (*done < max && sq->live && sq->head != sq->tail && can_process(d)) {
		if (cq_full(&d->cq[sq->cqid])) {
			d->st.cq_full_stalls++;
			return;
		}
		e = sq_head_entry(d, sq);
		if (!e) {
			d->bar.csts |= NVME_CSTS_CFS;
			return;
		}
		memcpy(&s, e, sizeof(s));
		sq->head = (uint16_t)((sq->head + 1) % sq->size);
		d->st.cmds[qid]++;
		(*done)++;
		execute(d, qid, &s);
		if (dbbuf_on(d, qid) && sq->live) {
			__atomic_store_n(&d->dbbuf_eis[dbbuf_idx(d, qid, false)], sq->tail, __ATOMIC_RELEASE);
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			dbbuf_read(d, qid);
		}
	}
}

static bool processes_now(const struct fake_nvme *d, uint16_t qid)
{
	return qid == 0 || !d->cfg.manual;
}

static void process_sqs_of_cq(struct fake_nvme *d, uint16_t cqid)
{
	unsigned done = 0;

	for (uint16_t q = 0; q < FAKE_NVME_MAX_QID; q++)
		if (d->sq[q].live && d->sq[q].cqid == cqid && processes_now(d, q))
			process_sq(d, q, UINT_MAX, &done);
}

/* --- doorbells -------------------------------------------------------- */

static void sq_tail_write(struct fake_nvme *d, uint16_t qid, uint32_t val)
{
	struct fake_sq *sq = &d->sq[qid];
	unsigned done = 0, advance, room;

	if (!sq->live) {
		fake_error(d, &d->st.doorbell_errors, "SQ %u tail doorbell: no such queue", qid);
		return;
	}
	if (val >= sq->size) {
		fake_error(d, &d->st.doorbell_errors, "SQ %u tail doorbell %u beyond size %u",
			   qid, val, sq->size);
		return;
	}
	advance = (val + sq->size - sq->tail) % sq->size;
	room = (sq->head + sq->size - sq->tail - 1u) % sq->size;
	if (advance > room) {
		fake_error(d, &d->st.doorbell_errors,
			   "SQ %u overflow: tail %u -> %u adds %u entries, room for %u (head %u)",
			   qid, sq->tail, val, advance, room, sq->head);
		return;
	}
	sq->tail = (uint16_t)val;
	if (processes_now(d, qid) && !d->in_dbbuf)
		process_sq(d, qid, UINT_MAX, &done);
}

static void cq_head_write(struct fake_nvme *d, uint16_t qid, uint32_t val)
{
	struct fake_cq *cq = &d->cq[qid];
	unsigned advance, posted;

	if (!cq->live) {
		fake_error(d, &d->st.doorbell_errors, "CQ %u head doorbell: no such queue", qid);
		return;
	}
	if (val >= cq->size) {
		fake_error(d, &d->st.doorbell_errors, "CQ %u head doorbell %u beyond size %u",
			   qid, val, cq->size);
		return;
	}
	advance = (val + cq->size - cq->head) % cq->size;
	posted = (cq->tail + cq->size - cq->head) % cq->size;
	if (advance > posted) {
		fake_error(d, &d->st.doorbell_errors,
			   "CQ %u head %u -> %u releases %u entries, only %u posted",
			   qid, cq->head, val, advance, posted);
		return;
	}
	cq->head = (uint16_t)val;
	if (!d->in_dbbuf)
		process_sqs_of_cq(d, qid);
}

static void doorbell_write(struct fake_nvme *d, uint32_t off, uint32_t val)
{
	uint32_t stride = 4u << d->cfg.dstrd, idx;
	uint16_t qid;
	bool is_cq;

	if ((off - NVME_REG_DBS) % stride) {
		fake_error(d, &d->st.doorbell_errors, "doorbell write at 0x%x is off the 0x%x stride",
			   off, stride);
		return;
	}
	idx = (off - NVME_REG_DBS) / stride;
	qid = (uint16_t)(idx / 2);
	is_cq = idx & 1;
	if (qid >= FAKE_NVME_MAX_QID) {
		fake_error(d, &d->st.doorbell_errors, "doorbell write at 0x%x: queue %u does not exist",
			   off, qid);
		return;
	}
	(is_cq ? d->st.cq_db : d->st.sq_db)[qid]++;
	if (d->bar.csts & NVME_CSTS_CFS) {
		d->st.ignored_doorbells++;
		return;
	}
	if (!(d->bar.cc & NVME_CC_EN) || !(d->bar.csts & NVME_CSTS_RDY) || d->shutting_down) {
		fake_error(d, &d->st.doorbell_errors,
			   "%s %u doorbell while the controller is not ready (CC 0x%x CSTS 0x%x)",
			   is_cq ? "CQ" : "SQ", qid, d->bar.cc, d->bar.csts);
		return;
	}
	if (is_cq)
		cq_head_write(d, qid, val);
	else
		sq_tail_write(d, qid, val);
}

/* --- CC / CSTS state machine ------------------------------------------ */

static void set_rdy_target(struct fake_nvme *d, bool ready)
{
	d->rdy_target = ready;
	d->rdy_countdown = d->cfg.rdy_delay_reads;
	if (!ready && d->rdy_countdown == FAKE_NVME_NEVER)
		d->rdy_countdown = 0;   /* "never ready" only stalls enabling */
	if (d->rdy_countdown == 0) {
		if (ready)
			d->bar.csts |= NVME_CSTS_RDY;
		else
			d->bar.csts &= ~NVME_CSTS_RDY;
	}
}

/* Pending CSTS changes move one step per CSTS read. */
static void csts_advance(struct fake_nvme *d)
{
	bool rdy = d->bar.csts & NVME_CSTS_RDY;

	if (rdy != d->rdy_target && d->rdy_countdown != FAKE_NVME_NEVER) {
		if (d->rdy_countdown)
			d->rdy_countdown--;
		else if (d->rdy_target)
			d->bar.csts |= NVME_CSTS_RDY;
		else
			d->bar.csts &= ~NVME_CSTS_RDY;
	}
	if (d->shst_pending) {
		if (d->shst_countdown) {
			d->shst_countdown--;
		} else {
			d->bar.csts = (d->bar.csts & ~NVME_CSTS_SHST_MASK) | NVME_CSTS_SHST_CMPLT;
			d->shst_pending = false;
		}
	}
}

static bool cc_valid(struct fake_nvme *d, uint32_t cc)
{
	uint32_t mps = NVME_CC_GET_MPS(cc);

	if (NVME_CC_GET_IOSQES(cc) != 6 || NVME_CC_GET_IOCQES(cc) != 4) {
		fake_error(d, &d->st.reg_errors, "CC 0x%x: IOSQES %u IOCQES %u, want 6 and 4",
			   cc, NVME_CC_GET_IOSQES(cc), NVME_CC_GET_IOCQES(cc));
		return false;
	}
	if (mps < NVME_CAP_MPSMIN(d->bar.cap) || mps > NVME_CAP_MPSMAX(d->bar.cap)) {
		fake_error(d, &d->st.reg_errors, "CC 0x%x: MPS %u outside CAP [%u, %u]", cc, mps,
			   NVME_CAP_MPSMIN(d->bar.cap), NVME_CAP_MPSMAX(d->bar.cap));
		return false;
	}
	if (cc & (NVME_CC_CSS(7) | (7u << 11))) {
		fake_error(d, &d->st.reg_errors, "CC 0x%x: CSS/AMS not NVM/round robin", cc);
		return false;
	}
	return true;
}

static bool admin_queue_load(struct fake_nvme *d)
{
	uint16_t sqs = (d->bar.aqa & 0xfff) + 1, cqs = ((d->bar.aqa >> 16) & 0xfff) + 1;
	uint64_t mask = d->page_size - 1;

	if (sqs < 2 || cqs < 2) {
		fake_error(d, &d->st.reg_errors, "AQA 0x%x: admin queues need 2 entries or more",
			   d->bar.aqa);
		return false;
	}
	if ((d->bar.asq & mask) || (d->bar.acq & mask)) {
		fake_error(d, &d->st.reg_errors, "ASQ 0x%llx / ACQ 0x%llx not page aligned",
			   (unsigned long long)d->bar.asq, (unsigned long long)d->bar.acq);
		return false;
	}
	if (!dma_translate(d, d->bar.asq, (size_t)sqs * FAKE_SQE_SIZE, "ASQ") ||
	    !dma_translate(d, d->bar.acq, (size_t)cqs * FAKE_CQE_SIZE, "ACQ"))
		return false;
	d->sq[0] = (struct fake_sq){ .live = true, .size = sqs, .iova = d->bar.asq };
	/* the admin CQ always interrupts on vector 0 */
	d->cq[0] = (struct fake_cq){ .live = true, .size = cqs, .phase = 1, .ien = true,
				     .iova = d->bar.acq };
	return true;
}

static void ctrl_enable(struct fake_nvme *d, uint32_t cc)
{
	d->st.enables++;
	if (d->bar.csts & NVME_CSTS_RDY)
		fake_error(d, &d->st.reg_errors,
			   "CC.EN set while CSTS.RDY is still 1 (reset not awaited)");
	d->bar.csts &= ~NVME_CSTS_SHST_MASK;
	d->shutting_down = false;
	d->page_size = 4096u << NVME_CC_GET_MPS(cc);
	if (!cc_valid(d, cc) || !admin_queue_load(d)) {
		d->bar.csts |= NVME_CSTS_CFS;
		return;
	}
	if (d->cfg.cfs_on_enable)
		d->bar.csts |= NVME_CSTS_CFS;
	set_rdy_target(d, true);
}

/* CC.EN 1 -> 0: controller reset. Queues and outstanding commands are
 * gone; queue memory is left as it is (a device does not clear it). */
static void ctrl_disable(struct fake_nvme *d)
{
	d->st.disables++;
	d->dbbuf_dbs = d->dbbuf_eis = NULL;    /* a reset forgets the buffers */
	memset(d->sq, 0, sizeof(d->sq));
	memset(d->cq, 0, sizeof(d->cq));
	d->nr_held = 0;
	d->nr_aer = 0;
	d->shutting_down = false;
	d->shst_pending = false;
	d->bar.csts &= ~(NVME_CSTS_CFS | NVME_CSTS_SHST_MASK);
	set_rdy_target(d, false);
}

static void ctrl_shutdown(struct fake_nvme *d)
{
	d->st.shutdowns++;
	d->st.ioq_live_at_shutdown = count_io_queues(d);
	d->shutting_down = true;
	d->shst_pending = true;
	d->shst_countdown = d->cfg.shst_delay_reads;
	d->bar.csts = (d->bar.csts & ~NVME_CSTS_SHST_MASK) | NVME_CSTS_SHST_OCCURRING;
	if (!d->shst_countdown)
		csts_advance(d);
}

static void cc_write(struct fake_nvme *d, uint32_t cc)
{
	uint32_t old = d->bar.cc;
	bool rising = !(old & NVME_CC_EN) && (cc & NVME_CC_EN);

	d->bar.cc = cc;
	if (rising)
		ctrl_enable(d, cc);
	else if ((old & NVME_CC_EN) && !(cc & NVME_CC_EN))
		ctrl_disable(d);
	if ((cc & NVME_CC_EN) && (cc & NVME_CC_SHN_MASK) && (rising || !(old & NVME_CC_SHN_MASK)))
		ctrl_shutdown(d);
}

/* AQA/ASQ/ACQ may only change while the controller is fully disabled. */
static void admin_reg_write(struct fake_nvme *d, uint32_t off, uint32_t val)
{
	if ((d->bar.cc & NVME_CC_EN) || (d->bar.csts & NVME_CSTS_RDY))
		fake_error(d, &d->st.reg_errors,
			   "admin queue register 0x%x written while enabled (CC 0x%x CSTS 0x%x)",
			   off, d->bar.cc, d->bar.csts);
	memcpy((uint8_t *)&d->bar + off, &val, sizeof(val));
}

/* --- ops table -------------------------------------------------------- */

static void log_access(struct fake_nvme *d, bool write, uint32_t off, uint32_t val)
{
	if (d->nlog < FAKE_NVME_LOG_MAX)
		d->log[d->nlog++] = (struct fake_reg_access){
			.write = write, .off = off, .val = val,
		};
}

static uint32_t fake_read32(void *dev, uint32_t off)
{
	struct fake_nvme *d = dev;
	uint32_t val = 0;

	if (off < sizeof(d->bar) && !(off & 3)) {
		if (off == NVME_REG_CSTS)
			csts_advance(d);
		memcpy(&val, (const uint8_t *)&d->bar + off, sizeof(val));
	}
	log_access(d, false, off, val);
	return val;
}

static void fake_write32(void *dev, uint32_t off, uint32_t val)
{
	struct fake_nvme *d = dev;

	log_access(d, true, off, val);
	if (off >= NVME_REG_DBS) {
		doorbell_write(d, off, val);
		return;
	}
	switch (off) {
	case NVME_REG_CC:
		cc_write(d, val);
		break;
	case NVME_REG_AQA:
	case NVME_REG_ASQ:
	case NVME_REG_ASQ + 4:
	case NVME_REG_ACQ:
	case NVME_REG_ACQ + 4:
		admin_reg_write(d, off, val);
		break;
	case NVME_REG_INTMS:
	case NVME_REG_INTMC:
		break;          /* no effect with MSI-X */
	default:
		fake_error(d, &d->st.reg_errors, "write 0x%x to read-only/reserved register 0x%x",
			   val, off);
	}
}

static int fake_irq_enable(void *dev, unsigned nvec, const int *efds)
{
	struct fake_nvme *d = dev;

	if (nvec > d->cfg.irq_vectors || nvec > FAKE_NVME_MAX_VEC)
		return -EINVAL;
	for (unsigned i = 0; i < nvec; i++)
		d->efds[i] = efds[i];
	d->nvec = nvec;
	return 0;
}

static void fake_irq_disable(void *dev)
{
	struct fake_nvme *d = dev;

	d->nvec = 0;
}

static unsigned fake_irq_count(void *dev)
{
	const struct fake_nvme *d = dev;

	return d->cfg.irq_vectors;
}

const struct pcie_dev_ops fake_nvme_ops = {
	.name = "fake_nvme",
	.read32 = fake_read32,
	.write32 = fake_write32,
	.dma_map = fake_dma_map,
	.dma_unmap = fake_dma_unmap,
	.irq_enable = fake_irq_enable,
	.irq_disable = fake_irq_disable,
	.irq_count = fake_irq_count,
};

/* --- life cycle and test API ------------------------------------------ */

void fake_nvme_config_default(struct fake_nvme_config *cfg)
{
	*cfg = (struct fake_nvme_config){
		.mqes = 1023,
		.to = 20,
		.mpsmax = 4,
		.rdy_delay_reads = 2,
		.shst_delay_reads = 2,
		.mdts = 5,
		.oncs = NVME_ONCS_WRITE_ZEROES,
		.sn = "FAKE0001",
		.mn = "nvmf-bridge fake controller",
		.fr = "1.0",
		.max_ioq = 8,
		.nr_ns = 1,
		.first_nsid = 1,
		.lba_size = 512,
		.ns_blocks = 16384,
	};
}

static uint64_t make_cap(const struct fake_nvme_config *c)
{
	return (uint64_t)c->mqes | 1ull << 16 /* CQR */ | (uint64_t)c->to << 24 |
	       (uint64_t)(c->dstrd & 0xf) << 32 | (uint64_t)NVME_CAP_CSS_NVM << 37 |
	       (uint64_t)(c->mpsmin & 0xf) << 48 | (uint64_t)(c->mpsmax & 0xf) << 52;
}

static int create_namespaces(struct fake_nvme *d)
{
	uint32_t shift = d->cfg.lba_size == 4096 ? 12 : 9;

	d->ns = calloc(d->cfg.nr_ns ? d->cfg.nr_ns : 1, sizeof(*d->ns));
	if (!d->ns)
		return -ENOMEM;
	for (unsigned i = 0; i < d->cfg.nr_ns; i++) {
		struct fake_ns *ns = &d->ns[i];

		ns->nsid = d->cfg.first_nsid + i;
		ns->lba_shift = shift;
		ns->blocks = d->cfg.ns_blocks;
		ns->data = calloc(ns->blocks, 1u << shift);
		if (!ns->data)
			return -ENOMEM;
		d->nr_ns++;
	}
	return 0;
}

struct fake_nvme *fake_nvme_create(const struct fake_nvme_config *cfg)
{
	struct fake_nvme *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->cfg = *cfg;
	if (d->cfg.mpsmax < d->cfg.mpsmin)
		d->cfg.mpsmax = d->cfg.mpsmin;
	d->bar.cap = make_cap(&d->cfg);
	d->bar.vs = NVME_VS(1, 4, 0);
	d->page_size = 4096u << d->cfg.mpsmin;
	d->next_iova = FAKE_NVME_IOVA_BASE;
	if (d->cfg.start_enabled) {
		d->bar.cc = NVME_CC_EN | NVME_CC_IOSQES(6) | NVME_CC_IOCQES(4);
		d->bar.csts = NVME_CSTS_RDY;
		d->rdy_target = true;
	}
	if (create_namespaces(d)) {
		fake_nvme_destroy(d);
		return NULL;
	}
	return d;
}

void fake_nvme_destroy(struct fake_nvme *d)
{
	if (!d)
		return;
	for (unsigned i = 0; i < d->nr_ns; i++)
		free(d->ns[i].data);
	free(d->ns);
	free(d->maps);
	free(d);
}

void fake_nvme_set_manual(struct fake_nvme *d, bool manual)
{
	d->cfg.manual = manual;
}

unsigned fake_nvme_process(struct fake_nvme *d, unsigned max)
{
	unsigned done = 0, before;

	/* one command per SQ per round, so queues are served fairly */
	do {
		before = done;
		for (uint16_t q = 1; q < FAKE_NVME_MAX_QID && done < max; q++)
			process_sq(d, q, done + 1, &done);
	} while (done > before && done < max);
	return done;
}

void fake_nvme_set_cfs(struct fake_nvme *d)
{
	d->bar.csts |= NVME_CSTS_CFS;
}

void fake_nvme_drop_next(struct fake_nvme *d, bool admin, unsigned n)
{
	d->inj[admin].drop = n;
}

void fake_nvme_fail_next(struct fake_nvme *d, bool admin, unsigned n, uint16_t status)
{
	d->inj[admin].fail = n;
	d->inj[admin].fail_status = status;
}

void fake_nvme_fail_opcode(struct fake_nvme *d, bool admin, uint8_t opc, uint16_t status)
{
	d->inj[admin].opc_armed = true;
	d->inj[admin].opc = opc;
	d->inj[admin].opc_status = status;
}

void fake_nvme_set_rdy_delay(struct fake_nvme *d, unsigned reads)
{
	d->cfg.rdy_delay_reads = reads;
}

const struct fake_nvme_stats *fake_nvme_stats(const struct fake_nvme *d)
{
	return &d->st;
}

void fake_nvme_clear_stats(struct fake_nvme *d)
{
	memset(&d->st, 0, sizeof(d->st));
}

const struct fake_reg_access *fake_nvme_log(const struct fake_nvme *d, unsigned *n)
{
	*n = d->nlog;
	return d->log;
}

void fake_nvme_clear_log(struct fake_nvme *d)
{
	d->nlog = 0;
}

bool fake_nvme_queue_info(const struct fake_nvme *d, uint16_t qid, struct fake_nvme_queue_info *qi)
{
	const struct fake_sq *sq;
	const struct fake_cq *cq;

	if (qid >= FAKE_NVME_MAX_QID)
		return false;
	sq = &d->sq[qid];
	cq = &d->cq[qid];
	*qi = (struct fake_nvme_queue_info){
		.sq_live = sq->live, .cq_live = cq->live,
		.sq_size = sq->size, .cq_size = cq->size, .cqid = sq->cqid,
		.sq_iova = sq->iova, .cq_iova = cq->iova, .ien = cq->ien, .iv = cq->iv,
	};
	return sq->live || cq->live;
}

unsigned fake_nvme_nr_mappings(const struct fake_nvme *d)
{
	return d->nr_maps;
}

uint8_t *fake_nvme_ns_data(struct fake_nvme *d, uint32_t nsid, uint64_t *bytes)
{
	const struct fake_ns *ns = find_ns(d, nsid);

	if (!ns)
		return NULL;
	if (bytes)
		*bytes = ns->blocks << ns->lba_shift;
	return ns->data;
}

uint32_t fake_nvme_reg(const struct fake_nvme *d, uint32_t off)
{
	uint32_t val = 0;

	if (off < sizeof(d->bar) && !(off & 3))
		memcpy(&val, (const uint8_t *)&d->bar + off, sizeof(val));
	return val;
}

void *fake_nvme_iova_to_va(const struct fake_nvme *d, uint64_t iova, size_t len)
{
	return iova_lookup(d, iova, len);
}
