/* SPDX-License-Identifier: MIT */
/*
 * nvmf-pcie: the driver's own tool. identify, read, write and verify a
 * controller owned through VFIO. See docs/nvmf-pcie.md and CLI.md.
 */
#define LOG_TAG "nvmf-pcie"
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cli.h"
#include "common/crc32c.h"
#include "common/log.h"
#include "pcie/pcie.h"
#include "perf/perf_stats.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

struct tool {
	const char *bdf;
	uint32_t nsid;
	uint64_t lba;
	uint64_t count;
	const char *file;
	unsigned queues;
	unsigned depth;
	uint64_t seed;
	bool verbose;
	bool no_shadow_db;            /* perf --no-shadow-doorbells */

	struct vfio_dev *vdev;
	struct pcie_ctrl ctrl;
	bool ctrl_up;
	struct dma_pool pool;
	bool pool_up;
};

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vmsg("nvmf-pcie", fmt, ap);
	va_end(ap);
	return 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: nvmf-pcie identify BDF [--queues N]\n"
		"       nvmf-pcie read   BDF --nsid N --lba L --count C --file F\n"
		"       nvmf-pcie write  BDF --nsid N --lba L --file F\n"
		"       nvmf-pcie verify BDF --nsid N [--queues N] [--depth D] [--seed S]\n"
		"       nvmf-pcie perf   BDF -q DEPTH -o SIZE -w PATTERN -t SECONDS [--nsid N]\n"
		"                        [--queues N] [--irq] [--warmup S] [--verify] [--json]\n"
		"                        [--no-shadow-doorbells]\n"
		"                        (PATTERN: randread|randwrite|read|write|randrw)\n"
		"BDF is the controller's PCI address (0000:00:02.0), bound to vfio-pci.\n"
		"--count is in blocks (1-based); a written file must be a multiple of the block size.\n");
}

/* Open the device and bring the controller up; buf_count buffers of
 * max_xfer + one page each form the data pool. */
static int tool_open(struct tool *t, unsigned buf_count)
{
	struct pcie_ctrl_opts o;
	char err[1024] = "";
	struct dma_mapper m;
	size_t pool_bytes = (size_t)buf_count * ((2u << 20) + 4096);
	int rc;

	rc = vfio_dev_open(t->bdf, pool_bytes + (16u << 20), &t->vdev, err, sizeof(err));
	if (rc)
		return fail("%s", err);
	pcie_ctrl_opts_default(&o);
	o.nr_io_queues = t->queues;
	o.shadow_doorbells = !t->no_shadow_db;
	if (t->depth)
		o.io_queue_depth = t->depth + 1;
	rc = pcie_ctrl_init(&t->ctrl, &vfio_dev_ops, t->vdev, &o, err, sizeof(err));
	if (rc) {
		vfio_dev_close(t->vdev);
		t->vdev = NULL;
		return fail("%s: controller bring-up failed: %s", t->bdf, err);
	}
	t->ctrl_up = true;
	if (buf_count) {
		m = pcie_ctrl_mapper(&t->ctrl);
		/* one spare page per buffer so tests can offset into it */
		rc = dma_pool_init(&t->pool, t->ctrl.max_xfer + t->ctrl.page_size, t->ctrl.page_size,
				   buf_count, true, &m);
		if (rc)
			return fail("cannot allocate %u DMA buffers: %s", buf_count, strerror(-rc));
		t->pool_up = true;
	}
	return 0;
}

/* Release everything; non-zero when the controller did not confirm its
 * shutdown (the next user may find it unhealthy). */
static int tool_close(struct tool *t)
{
	int rc = 0;

	if (t->pool_up)
		dma_pool_destroy(&t->pool);
	if (t->ctrl_up && pcie_ctrl_shutdown(&t->ctrl))
		rc = fail("%s: controller did not complete its shutdown (CC.SHN)", t->bdf);
	if (t->vdev)
		vfio_dev_close(t->vdev);
	t->pool_up = t->ctrl_up = false;
	t->vdev = NULL;
	return rc;
}

static void print_trimmed(const char *label, const char *s, size_t n)
{
	while (n && (s[n - 1] == ' ' || s[n - 1] == 0))
		n--;
	printf("  %-11s %.*s\n", label, (int)n, s);
}

static int cmd_identify(struct tool *t)
{
	const struct pcie_ctrl *c = &t->ctrl;
	const struct nvme_id_ctrl *id = &c->id;
	uint32_t ver;

	if (tool_open(t, 0))
		return 1;
	ver = id->ver ? le32_to_cpu(id->ver) : c->vs;    /* VER is optional before NVMe 1.2 */
	printf("controller %s\n", t->bdf);
	print_trimmed("model:", id->mn, sizeof(id->mn));
	print_trimmed("serial:", id->sn, sizeof(id->sn));
	print_trimmed("firmware:", id->fr, sizeof(id->fr));
	printf("  %-11s %u.%u.%u\n", "version:", NVME_VS_MJR(ver), NVME_VS_MNR(ver), NVME_VS_TER(ver));
	printf("  %-11s 0x%04x\n", "vid:", id->vid);
	printf("  %-11s %u entries per queue\n", "mqes:", c->mqes);
	if (id->mdts)
		printf("  %-11s %u (%u bytes per command)\n", "mdts:", id->mdts, c->max_xfer);
	else
		printf("  %-11s 0 (no limit; driver uses %u bytes)\n", "mdts:", c->max_xfer);
	printf("  %-11s %u bytes\n", "page size:", c->page_size);
	printf("  %-11s %u granted (%u requested)\n", "io queues:", c->nr_ioq, t->queues);
	printf("  %-11s %u\n", "msi-x:", c->nr_irqs);
	printf("  %-11s %u\n", "namespaces:", c->nr_ns);
	for (unsigned i = 0; i < c->nr_ns; i++) {
		const struct pcie_ns *ns = &c->ns[i];
		uint64_t bytes = ns->nsze * ns->lba_size;

		printf("  ns %u: %" PRIu64 " blocks x %u bytes = %" PRIu64 " bytes (%.2f GiB), lbaf %u, metadata %u bytes%s\n",
		       ns->nsid, ns->nsze, ns->lba_size, bytes, (double)bytes / (1u << 30), ns->lbaf_index,
		       ns->ms, ns->ms ? (ns->extended ? " (extended)" : " (separate)") : "");
	}
	return tool_close(t);
}

static const struct pcie_ns *find_data_ns(struct tool *t)
{
	const struct pcie_ns *ns = pcie_ctrl_find_ns(&t->ctrl, t->nsid);

	if (!ns) {
		fail("%s: no active namespace %u", t->bdf, t->nsid);
		return NULL;
	}
	if (ns->ms) {
		fail("%s: namespace %u has %u bytes of metadata per block; not supported", t->bdf, t->nsid, ns->ms);
		return NULL;
	}
	return ns;
}

/* One synchronous read or write of nlb blocks at lba from/to buf. */
static int rw_sync(struct tool *t, const struct pcie_ns *ns, uint8_t opc, uint64_t lba,
		   uint32_t nlb, void *buf)
{
	struct nvme_sqe sqe;
	uint16_t status;
	int rc;

	nvme_sqe_rw(&sqe, opc, ns->nsid, lba, nlb);
	rc = pcie_io_sync(&t->ctrl, &t->ctrl.ioq[0], &sqe, dma_pool_iova(&t->pool, buf),
			  (size_t)nlb << ns->lba_shift, &status);
	if (rc)
		return fail("%s at LBA %" PRIu64 ": %s", opc == NVME_CMD_WRITE ? "write" : "read", lba,
			    strerror(-rc));
	if (status)
		return fail("%s at LBA %" PRIu64 " failed: %s (status 0x%x)",
			    opc == NVME_CMD_WRITE ? "write" : "read", lba, nvme_status_str(status), status);
	return 0;
}

static int cmd_write(struct tool *t)
{
	const struct pcie_ns *ns;
	struct stat st;
	uint64_t blocks, done = 0;
	uint32_t chunk;
	void *buf;
	int fd, rc = 1;

	fd = open(t->file, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st))
		return fail("cannot open %s: %s", t->file, strerror(errno));
	if (tool_open(t, 1))
		goto close_fd;
	ns = find_data_ns(t);
	if (!ns)
		goto close_dev;
	if (st.st_size == 0 || (uint64_t)st.st_size % ns->lba_size) {
		fail("%s is %lld bytes, not a non-zero multiple of the %u-byte block size; nothing written",
		     t->file, (long long)st.st_size, ns->lba_size);
		goto close_dev;
	}
	blocks = (uint64_t)st.st_size >> ns->lba_shift;
	if (t->lba >= ns->nsze || blocks > ns->nsze - t->lba) {
		fail("LBA %" PRIu64 " + %" PRIu64 " blocks is beyond namespace %u (%" PRIu64 " blocks); nothing written",
		     t->lba, blocks, ns->nsid, ns->nsze);
		goto close_dev;
	}
	chunk = t->ctrl.max_xfer >> ns->lba_shift;
	buf = dma_pool_get(&t->pool);
	while (done < blocks) {
		uint32_t n = blocks - done < chunk ? (uint32_t)(blocks - done) : chunk;
		size_t bytes = (size_t)n << ns->lba_shift;

		if (pread(fd, buf, bytes, (off_t)(done << ns->lba_shift)) != (ssize_t)bytes) {
			fail("short read from %s", t->file);
			goto put_buf;
		}
		if (rw_sync(t, ns, NVME_CMD_WRITE, t->lba + done, n, buf))
			goto put_buf;
		done += n;
	}
	printf("wrote %" PRIu64 " blocks (%lld bytes) at LBA %" PRIu64 " of namespace %u\n", blocks,
	       (long long)st.st_size, t->lba, ns->nsid);
	rc = 0;
put_buf:
	dma_pool_put(&t->pool, buf);
close_dev:
	if (tool_close(t))
		rc = 1;
close_fd:
	close(fd);
	return rc;
}

static int cmd_read(struct tool *t)
{
	const struct pcie_ns *ns;
	uint64_t done = 0;
	uint32_t chunk;
	void *buf;
	int fd, rc = 1;

	if (!t->count)
		return fail("--count must be at least 1 block");
	fd = open(t->file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return fail("cannot create %s: %s", t->file, strerror(errno));
	if (tool_open(t, 1))
		goto close_fd;
	ns = find_data_ns(t);
	if (!ns)
		goto close_dev;
	if (t->lba >= ns->nsze || t->count > ns->nsze - t->lba) {
		fail("LBA %" PRIu64 " + %" PRIu64 " blocks is beyond namespace %u (%" PRIu64 " blocks)",
		     t->lba, t->count, ns->nsid, ns->nsze);
		goto close_dev;
	}
	chunk = t->ctrl.max_xfer >> ns->lba_shift;
	buf = dma_pool_get(&t->pool);
	while (done < t->count) {
		uint32_t n = t->count - done < chunk ? (uint32_t)(t->count - done) : chunk;
		size_t bytes = (size_t)n << ns->lba_shift;

		if (rw_sync(t, ns, NVME_CMD_READ, t->lba + done, n, buf))
			goto put_buf;
		if (pwrite(fd, buf, bytes, (off_t)(done << ns->lba_shift)) != (ssize_t)bytes) {
			fail("write to %s: %s", t->file, strerror(errno));
			goto put_buf;
		}
		done += n;
	}
	if (fsync(fd)) {
		fail("fsync %s: %s", t->file, strerror(errno));
		goto put_buf;
	}
	printf("read %" PRIu64 " blocks at LBA %" PRIu64 " of namespace %u into %s\n", t->count, t->lba,
	       ns->nsid, t->file);
	rc = 0;
put_buf:
	dma_pool_put(&t->pool, buf);
close_dev:
	if (tool_close(t))
		rc = 1;
close_fd:
	close(fd);
	if (rc)
		unlink(t->file);
	return rc;
}

/* --- verify ----------------------------------------------------------- */

/*
 * Every block written carries a 32-byte header {magic, lba, generation,
 * crc32c of the rest} followed by xorshift data seeded from (lba,
 * generation), so a read-back can tell a stale block, a misplaced block and
 * a corrupted one apart.
 */
#define VFY_MAGIC 0x5946564246564d4eull   /* "NVMFBVFY" */

struct vfy_hdr {
	uint64_t magic;
	uint64_t lba;
	uint64_t gen;
	uint32_t crc;
	uint32_t rsvd;
};

static uint64_t xorshift64(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static void fill_block(uint8_t *b, uint32_t bs, uint64_t lba, uint64_t gen)
{
	struct vfy_hdr h = { .magic = VFY_MAGIC, .lba = lba, .gen = gen };
	uint64_t s = (lba * 0x9e3779b97f4a7c15ull) ^ (gen + 0x632be59bd9b4e019ull);

	for (uint32_t off = sizeof(h); off < bs; off += 8) {
		uint64_t v = xorshift64(&s);

		memcpy(b + off, &v, 8);
	}
	h.crc = crc32c(0, b + sizeof(h), bs - sizeof(h));
	memcpy(b, &h, sizeof(h));
}

static bool check_block(const uint8_t *b, uint8_t *scratch, uint32_t bs, uint64_t lba, uint64_t gen)
{
	struct vfy_hdr h;

	memcpy(&h, b, sizeof(h));
	if (h.magic != VFY_MAGIC || h.lba != lba || h.gen != gen)
		return false;
	if (crc32c(0, b + sizeof(h), bs - sizeof(h)) != h.crc)
		return false;
	fill_block(scratch, bs, lba, gen);
	return memcmp(b, scratch, bs) == 0;
}

struct vfy_stats {
	uint64_t commands;
	uint64_t mismatches;        /* blocks */
	uint64_t errors;            /* failed commands */
	uint64_t bytes;
	uint64_t irq_wakeups;
};

/* One outstanding I/O stream: write a pattern to its area, read it back
 * into a second buffer, check, repeat with another size and offset. */
struct vfy_slot {
	struct vfy_ctx *ctx;
	struct pcie_queue *q;
	uint64_t area_lba;          /* the slot's own LBA range */
	uint8_t *wbuf, *rbuf;       /* pool buffers */
	uint32_t woff, roff;        /* dword-aligned offsets into them */
	uint64_t lba;
	uint32_t nlb;
	uint64_t gen;
	bool reading;
	bool busy;
	unsigned left;              /* write+read rounds still to do */
};

struct vfy_ctx {
	struct tool *t;
	const struct pcie_ns *ns;
	uint32_t max_nlb;
	uint64_t rng;
	uint64_t next_gen;
	uint8_t *scratch;
	struct vfy_stats st;
};

static uint32_t pick_offset(struct vfy_ctx *x)
{
	static const uint32_t fixed[] = { 0, 4, 8, 512, 2048, 4092 };
	uint64_t r = xorshift64(&x->rng);

	if (r & 1)
		return fixed[(r >> 1) % (sizeof(fixed) / sizeof(fixed[0]))];
	return (uint32_t)((r >> 8) % (x->t->ctrl.page_size / 4)) * 4;
}

static uint32_t pick_nlb(struct vfy_ctx *x)
{
	uint64_t r = xorshift64(&x->rng);

	switch (r % 4) {
	case 0:
		return 1;
	case 1:
		return x->max_nlb;
	default:
		return 1 + (uint32_t)((r >> 8) % x->max_nlb);
	}
}

static int slot_submit(struct vfy_slot *s);

static void slot_done(void *arg, uint16_t status, const struct nvme_cqe *cqe)
{
	struct vfy_slot *s = arg;
	struct vfy_ctx *x = s->ctx;
	uint32_t bs = x->ns->lba_size;

	(void)cqe;
	s->busy = false;
	x->st.commands++;
	x->st.bytes += (uint64_t)s->nlb * bs;
	if (status) {
		x->st.errors++;
		fprintf(stderr, "nvmf-pcie: verify: %s of %u blocks at LBA %" PRIu64 " on qid %u failed: %s (0x%x)\n",
			s->reading ? "read" : "write", s->nlb, s->lba, s->q->qid, nvme_status_str(status), status);
		s->left = 0;
		return;
	}
	if (s->reading) {
		for (uint32_t i = 0; i < s->nlb; i++)
			if (!check_block(s->rbuf + s->roff + (size_t)i * bs, x->scratch, bs, s->lba + i, s->gen))
				x->st.mismatches++;
		s->reading = false;
		if (--s->left == 0)
			return;
	} else {
		s->reading = true;
	}
	slot_submit(s);
}

static int slot_submit(struct vfy_slot *s)
{
	struct vfy_ctx *x = s->ctx;
	uint32_t bs = x->ns->lba_size;
	struct nvme_sqe sqe;
	uint8_t *buf;
	int rc;

	if (!s->reading) {
		/* a new round: size, position inside the area, offsets, data */
		s->nlb = pick_nlb(x);
		s->lba = s->area_lba + xorshift64(&x->rng) % (x->max_nlb - s->nlb + 1);
		s->woff = pick_offset(x);
		s->roff = pick_offset(x);
		s->gen = ++x->next_gen;
		for (uint32_t i = 0; i < s->nlb; i++)
			fill_block(s->wbuf + s->woff + (size_t)i * bs, bs, s->lba + i, s->gen);
		memset(s->rbuf, 0xa5, (size_t)s->nlb * bs + s->roff);
	}
	buf = s->reading ? s->rbuf + s->roff : s->wbuf + s->woff;
	nvme_sqe_rw(&sqe, s->reading ? NVME_CMD_READ : NVME_CMD_WRITE, x->ns->nsid, s->lba, s->nlb);
	rc = pcie_queue_submit(s->q, &sqe, dma_pool_iova(&x->t->pool, buf), (size_t)s->nlb * bs, slot_done, s);
	if (rc) {
		fprintf(stderr, "nvmf-pcie: verify: submit on qid %u: %s\n", s->q->qid, strerror(-rc));
		x->st.errors++;
		s->left = 0;
		return rc;
	}
	s->busy = true;
	return 0;
}

/* Run nslots streams of `rounds` write/read rounds each, spread over every
 * I/O queue. irq: sleep on the queues' MSI-X eventfds when nothing is
 * ready instead of spinning. */
static int verify_phase(struct vfy_ctx *x, const char *name, unsigned nslots, unsigned rounds, bool irq)
{
	struct tool *t = x->t;
	struct pcie_ctrl *c = &t->ctrl;
	struct vfy_slot *slots = calloc(nslots, sizeof(*slots));
	struct vfy_stats before = x->st;
	uint64_t t0 = reactor_now_ns();
	unsigned active;
	int rc = 0;

	if (!slots)
		return -ENOMEM;
	for (unsigned i = 0; i < nslots; i++) {
		struct vfy_slot *s = &slots[i];

		s->ctx = x;
		s->q = &c->ioq[i % c->nr_ioq];
		s->area_lba = (uint64_t)i * x->max_nlb;
		s->wbuf = dma_pool_get(&t->pool);
		s->rbuf = dma_pool_get(&t->pool);
		s->left = rounds;
		if (!s->wbuf || !s->rbuf) {
			rc = -ENOMEM;
			goto out;
		}
	}
	for (unsigned i = 0; i < nslots; i++)
		slot_submit(&slots[i]);
	do {
		active = 0;
		for (unsigned i = 0; i < c->nr_ioq; i++)
			pcie_queue_ring(&c->ioq[i]);
		for (unsigned i = 0; i < c->nr_ioq; i++) {
			struct pcie_queue *q = &c->ioq[i];

			if (irq && q->inflight && !pcie_queue_has_cqe(q) && q->irq_fd >= 0 &&
			    pcie_queue_wait(q, 100))
				x->st.irq_wakeups++;
			pcie_queue_process(q, q->depth);
		}
		for (unsigned i = 0; i < nslots; i++)
			active += slots[i].busy;
		if (active && pcie_ctrl_check(c) < 0) {
			rc = -EIO;
			break;
		}
	} while (active && !stop_requested);
	if (stop_requested)
		rc = -EINTR;
out:
	for (unsigned i = 0; i < nslots; i++) {
		if (slots[i].wbuf)
			dma_pool_put(&t->pool, slots[i].wbuf);
		if (slots[i].rbuf)
			dma_pool_put(&t->pool, slots[i].rbuf);
	}
	free(slots);
	{
		double secs = (double)(reactor_now_ns() - t0) / 1e9;
		uint64_t cmds = x->st.commands - before.commands;

		printf("verify: %-30s %6" PRIu64 " commands %8.1f MiB %7.0f IOPS  mismatches %" PRIu64 " errors %" PRIu64 "\n",
		       name, cmds, (double)(x->st.bytes - before.bytes) / (1 << 20), secs > 0 ? cmds / secs : 0.0,
		       x->st.mismatches - before.mismatches, x->st.errors - before.errors);
	}
	return rc;
}

/* Sizes from one block up to the maximum, each at several buffer offsets,
 * one command at a time: the PRP corner cases against the real device. */
static int verify_sizes(struct vfy_ctx *x)
{
	struct tool *t = x->t;
	uint32_t bs = x->ns->lba_size, pg = t->ctrl.page_size;
	const uint32_t offsets[] = { 0, 4, 512, pg / 2, pg - 512, pg - 4 };
	uint32_t sizes[16];
	unsigned nsizes = 0;
	uint8_t *wbuf = dma_pool_get(&t->pool), *rbuf = dma_pool_get(&t->pool);
	struct vfy_stats before = x->st;
	uint64_t lba = 0;
	int rc = 0;

	/* byte sizes, then converted to blocks (deduplicated below) */
	const uint64_t want[] = { bs, 2ull * bs, pg - bs, pg, pg + bs, 2ull * pg, 3ull * pg + bs,
				  32ull * 1024, 128ull * 1024 - bs, t->ctrl.max_xfer / 2 + bs,
				  t->ctrl.max_xfer - bs, t->ctrl.max_xfer };
	for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		uint64_t nlb = want[i] / bs;

		if (!nlb || nlb > x->max_nlb || (nsizes && sizes[nsizes - 1] == nlb))
			continue;
		sizes[nsizes++] = (uint32_t)nlb;
	}
	for (unsigned i = 0; i < nsizes && !rc && !stop_requested; i++) {
		for (unsigned o = 0; o < sizeof(offsets) / sizeof(offsets[0]) && !rc; o++) {
			uint32_t woff = offsets[o], roff = offsets[(o + 3) % 6];
			uint32_t nlb = sizes[i];
			uint64_t gen = ++x->next_gen;
			struct nvme_sqe sqe;
			uint16_t st = 0;

			for (uint32_t b = 0; b < nlb; b++)
				fill_block(wbuf + woff + (size_t)b * bs, bs, lba + b, gen);
			memset(rbuf, 0x5a, t->ctrl.max_xfer + pg);
			nvme_sqe_rw(&sqe, NVME_CMD_WRITE, x->ns->nsid, lba, nlb);
			rc = pcie_io_sync(&t->ctrl, &t->ctrl.ioq[0], &sqe, dma_pool_iova(&t->pool, wbuf + woff),
					  (size_t)nlb * bs, &st);
			x->st.commands++;
			if (!rc && !st) {
				nvme_sqe_rw(&sqe, NVME_CMD_READ, x->ns->nsid, lba, nlb);
				rc = pcie_io_sync(&t->ctrl, &t->ctrl.ioq[0], &sqe,
						  dma_pool_iova(&t->pool, rbuf + roff), (size_t)nlb * bs, &st);
				x->st.commands++;
			}
			if (rc || st) {
				fprintf(stderr, "nvmf-pcie: verify: %u blocks at offset %u: %s\n", nlb, woff,
					rc ? strerror(-rc) : nvme_status_str(st));
				x->st.errors++;
				rc = rc ? rc : -EIO;
				break;
			}
			x->st.bytes += 2ull * nlb * bs;
			for (uint32_t b = 0; b < nlb; b++)
				if (!check_block(rbuf + roff + (size_t)b * bs, x->scratch, bs, lba + b, gen))
					x->st.mismatches++;
			/* the bytes around the read buffer must be untouched */
			for (uint32_t b = 0; b < roff; b++)
				if (rbuf[b] != 0x5a) {
					x->st.mismatches++;
					break;
				}
			if (rbuf[roff + (size_t)nlb * bs] != 0x5a)
				x->st.mismatches++;
			lba += nlb;
			if (lba + x->max_nlb > x->ns->nsze)
				lba = 0;
		}
	}
	dma_pool_put(&t->pool, wbuf);
	dma_pool_put(&t->pool, rbuf);
	printf("verify: %-30s %6" PRIu64 " commands %8.1f MiB (%u sizes x 6 offsets)  mismatches %" PRIu64 " errors %" PRIu64 "\n",
	       "sizes and offsets, QD1", x->st.commands - before.commands,
	       (double)(x->st.bytes - before.bytes) / (1 << 20), nsizes, x->st.mismatches - before.mismatches,
	       x->st.errors - before.errors);
	return rc;
}

static int cmd_verify(struct tool *t)
{
	struct vfy_ctx x = { .t = t, .rng = t->seed ? t->seed : 1 };
	const unsigned max_slots = 64;
	unsigned nq, depth_max;
	uint64_t need;
	int rc = 0;

	if (tool_open(t, 2 * max_slots + 2))
		return 1;
	x.ns = find_data_ns(t);
	if (!x.ns) {
		tool_close(t);
		return 1;
	}
	x.max_nlb = t->ctrl.max_xfer >> x.ns->lba_shift;
	x.scratch = malloc(x.ns->lba_size);
	nq = t->ctrl.nr_ioq;
	depth_max = t->ctrl.ioq[0].nr_cids;
	need = (uint64_t)max_slots * x.max_nlb;
	if (!x.scratch || x.ns->nsze < need) {
		fail("namespace %u has %" PRIu64 " blocks; verify needs %" PRIu64, x.ns->nsid, x.ns->nsze, need);
		free(x.scratch);
		tool_close(t);
		return 1;
	}
	printf("verify: %s namespace %u, %u-byte blocks, max transfer %u bytes, %u I/O queue(s) of depth %u, seed %" PRIu64 "\n",
	       t->bdf, x.ns->nsid, x.ns->lba_size, t->ctrl.max_xfer, nq, depth_max, x.rng);

	printf("verify: DMA memory: queues on %s, data buffers on %s\n",
	       t->ctrl.mem.huge ? "2 MiB hugepages" : "4 KiB pages",
	       t->pool.region.huge ? "2 MiB hugepages" : "4 KiB pages");
	rc = verify_sizes(&x);
	/* queue depths per queue 1, 4, 16 (capped by the queue), all queues at once */
	for (unsigned qd = 1; !rc && qd <= 16 && !stop_requested; qd *= 4) {
		unsigned per_q = qd < depth_max ? qd : depth_max;
		unsigned nslots = per_q * nq > max_slots ? max_slots : per_q * nq;
		char name[64];

		snprintf(name, sizeof(name), "QD%u x %u queue(s), polled", per_q, nq);
		rc = verify_phase(&x, name, nslots, qd == 1 ? 24 : 8, false);
	}
	if (!rc && !stop_requested) {
		char name[64];

		snprintf(name, sizeof(name), "QD2 x %u queue(s), MSI-X", nq);
		rc = verify_phase(&x, name, 2 * nq > max_slots ? max_slots : 2 * nq, 12, true);
	}
	if (t->ctrl.resets)
		printf("verify: controller resets %u\n", t->ctrl.resets);
	printf("verify: irq wakeups %" PRIu64 "\n", x.st.irq_wakeups);
	printf("verify: %" PRIu64 " commands, %" PRIu64 " mismatches\n", x.st.commands, x.st.mismatches);
	fflush(stdout);
	free(x.scratch);
	if (tool_close(t))
		return 1;
	if (rc == -EINTR)
		return fail("verify interrupted");
	if (rc || x.st.errors)
		return fail("verify: %" PRIu64 " command(s) failed", x.st.errors);
	return x.st.mismatches ? 1 : 0;
}

/* --- perf: the driver's own baseline, no fabric ------------------------- */

static int parse_u64(const char *s, const char *opt, uint64_t *out);
static int parse_range(const char *s, const char *opt, uint64_t lo, uint64_t hi, uint64_t *out);

struct perf_opts {
	unsigned qd;                /* commands in flight per queue */
	uint64_t io_size;
	enum perf_workload wl;
	unsigned rwmixread;
	double secs, warmup;
	bool irq;                   /* sleep on MSI-X when nothing completed */
	bool verify;
	bool json_only;
};

struct perf_q;

struct perf_slot {
	struct perf_q *pq;
	uint8_t *buf;
	uint64_t iova;
	uint64_t lba;
	uint64_t t_submit;
	bool read;
};

struct perf_q {
	struct pcie_queue *q;
	struct perf_slot *slots;
	unsigned *free;
	unsigned nfree;
	unsigned inflight;
	uint64_t part_start, part_blocks, seq_next;
	uint64_t left;              /* a verify pass: commands still to issue */
	uint64_t rng;
};

struct perf_run {
	const struct perf_opts *po;
	const struct pcie_ns *ns;
	uint32_t nlb;
	uint64_t region_blocks;     /* a whole number of commands */
	uint64_t seed;
	enum perf_workload wl;      /* of the current pass */
	bool check;
	uint64_t win_start, win_end;
	uint64_t reads, writes, bytes, errors, mismatches, verified;
	uint16_t first_status;
	struct lat_hist lat;
};

static struct perf_run prun;

static void perf_done(void *arg, uint16_t status, const struct nvme_cqe *cqe)
{
	struct perf_slot *s = arg;
	struct perf_q *pq = s->pq;
	uint64_t now = perf_now_ns();

	(void)cqe;
	if (status) {
		if (!prun.errors)
			prun.first_status = status;
		prun.errors++;
	} else if (s->read && prun.check) {
		prun.mismatches += pattern_check(s->buf, s->lba, prun.nlb, prun.ns->lba_size, prun.seed);
		prun.verified += prun.nlb;
	}
	if (now >= prun.win_start && now <= prun.win_end) {
		if (s->read)
			prun.reads++;
		else
			prun.writes++;
		prun.bytes += (uint64_t)prun.nlb * prun.ns->lba_size;
		lat_add(&prun.lat, now - s->t_submit);
	}
	pq->free[pq->nfree++] = (unsigned)(s - pq->slots);
	pq->inflight--;
}

static int perf_submit(struct perf_q *pq, uint64_t now)
{
	struct perf_slot *s = &pq->slots[pq->free[pq->nfree - 1]];
	uint32_t bs = prun.ns->lba_size;
	struct nvme_sqe sqe;
	bool random;
	int rc;

	switch (prun.wl) {
	case WL_RANDREAD: s->read = true; random = true; break;
	case WL_READ: s->read = true; random = false; break;
	case WL_RANDWRITE: s->read = false; random = true; break;
	case WL_WRITE: s->read = false; random = false; break;
	default:
		s->read = perf_rand(&pq->rng) % 100 < prun.po->rwmixread;
		random = true;
		break;
	}
	if (random) {
		s->lba = (perf_rand(&pq->rng) % (prun.region_blocks / prun.nlb)) * prun.nlb;
	} else {
		s->lba = pq->seq_next;
		pq->seq_next += prun.nlb;
		if (pq->seq_next + prun.nlb > pq->part_start + pq->part_blocks)
			pq->seq_next = pq->part_start;
	}
	if (!s->read && prun.po->verify)
		pattern_fill(s->buf, s->lba, prun.nlb, bs, prun.seed);
	nvme_sqe_rw(&sqe, s->read ? NVME_CMD_READ : NVME_CMD_WRITE, prun.ns->nsid, s->lba, prun.nlb);
	s->t_submit = now;
	rc = pcie_queue_submit(pq->q, &sqe, s->iova, (size_t)prun.nlb * bs, perf_done, s);
	if (rc)
		return rc;
	pq->nfree--;
	pq->inflight++;
	return 0;
}

/* One pass: every queue through its own part once (ios != 0: a verify
 * pass), or until end_ns (the timed run); then drain. */
static int perf_pass(struct tool *t, struct perf_q *pqs, unsigned nq, enum perf_workload wl,
		     bool once, uint64_t end_ns, uint64_t *u_us, uint64_t *s_us)
{
	struct pcie_ctrl *c = &t->ctrl;
	uint64_t issued = 0, last_check = perf_now_ns(), u0 = 0, s0 = 0;
	uint64_t ios = 0;
	bool stopping = false, in_window = false;
	unsigned inflight;

	prun.wl = wl;
	for (unsigned i = 0; i < nq; i++) {
		pqs[i].seq_next = pqs[i].part_start;
		pqs[i].left = once ? pqs[i].part_blocks / prun.nlb : UINT64_MAX;
		ios += once ? pqs[i].left : 0;
	}
	do {
		uint64_t now = perf_now_ns();
		unsigned got = 0;

		if (end_ns && !in_window && now >= prun.win_start) {
			in_window = true;
			cpu_self_us(&u0, &s0);
		}
		if (!stopping && ((end_ns && now >= end_ns) || (ios && issued >= ios) || stop_requested)) {
			stopping = true;
			if (in_window) {
				uint64_t u1, s1;

				cpu_self_us(&u1, &s1);
				*u_us += u1 - u0;
				*s_us += s1 - s0;
				in_window = false;
			}
		}
		inflight = 0;
		for (unsigned i = 0; i < nq; i++) {
			struct perf_q *pq = &pqs[i];
			int rc;

			while (!stopping && pq->nfree && pq->left) {
				rc = perf_submit(pq, now);
				if (rc == -EAGAIN)
					break;
				if (rc) {
					fprintf(stderr, "nvmf-pcie: perf: submit on qid %u: %s\n", pq->q->qid,
						strerror(-rc));
					return rc;
				}
				issued++;
				if (once)
					pq->left--;
			}
			/* one doorbell write for everything queued this turn */
			pcie_queue_ring(pq->q);
		}
		for (unsigned i = 0; i < nq; i++) {
			struct pcie_queue *q = pqs[i].q;

			if (prun.po->irq && pqs[i].inflight && !pcie_queue_has_cqe(q) && q->irq_fd >= 0)
				pcie_queue_wait(q, 100);
			got += pcie_queue_process(q, q->depth);
			inflight += pqs[i].inflight;
		}
		(void)got;
		if (now - last_check > 100000000ull) {
			last_check = now;
			if (pcie_ctrl_check(c) < 0)
				return -EIO;
		}
	} while (!stopping || inflight);
	if (in_window) {
		uint64_t u1, s1;

		cpu_self_us(&u1, &s1);
		*u_us += u1 - u0;
		*s_us += s1 - s0;
	}
	return stop_requested ? -EINTR : 0;
}

static int cmd_perf(struct tool *t, const struct perf_opts *po)
{
	struct perf_result r = { .tool = "nvmf-pcie perf", .target_cpu_us = -1 };
	struct perf_q *pqs = NULL;
	unsigned nq, depth;
	uint64_t units, per_q, db_mmio = 0, db_shadowed = 0;
	int rc = 0;

	t->depth = po->qd;
	if (tool_open(t, po->qd * t->queues))
		return 1;
	prun.po = po;
	prun.ns = find_data_ns(t);
	if (!prun.ns) {
		tool_close(t);
		return 1;
	}
	if (po->io_size % prun.ns->lba_size || po->io_size > t->ctrl.max_xfer) {
		fail("-o %" PRIu64 ": not a multiple of the %u-byte block size or above the maximum transfer (%u bytes)",
		     po->io_size, prun.ns->lba_size, t->ctrl.max_xfer);
		tool_close(t);
		return 2;
	}
	nq = t->ctrl.nr_ioq;
	depth = t->ctrl.ioq[0].nr_cids < po->qd ? t->ctrl.ioq[0].nr_cids : po->qd;
	prun.nlb = (uint32_t)(po->io_size / prun.ns->lba_size);
	prun.seed = t->seed ? t->seed : perf_now_ns();
	prun.region_blocks = prun.ns->nsze;
	if (po->verify && prun.region_blocks > (64ull << 20) / prun.ns->lba_size)
		prun.region_blocks = (64ull << 20) / prun.ns->lba_size;
	units = prun.region_blocks / prun.nlb;
	per_q = units / nq;
	prun.region_blocks = per_q * nq * prun.nlb;
	pqs = calloc(nq, sizeof(*pqs));
	if (!pqs || !per_q) {
		tool_close(t);
		free(pqs);
		return fail("perf: no memory or namespace too small");
	}
	for (unsigned i = 0; i < nq; i++) {
		struct perf_q *pq = &pqs[i];

		pq->q = &t->ctrl.ioq[i];
		pq->slots = calloc(depth, sizeof(*pq->slots));
		pq->free = calloc(depth, sizeof(*pq->free));
		pq->part_start = (uint64_t)i * per_q * prun.nlb;
		pq->part_blocks = per_q * prun.nlb;
		pq->rng = prun.seed * 0x9e3779b97f4a7c15ull + i + 1;
		if (!pq->slots || !pq->free) {
			rc = -ENOMEM;
			goto out;
		}
		for (unsigned k = 0; k < depth; k++) {
			struct perf_slot *s = &pq->slots[k];

			s->pq = pq;
			s->buf = dma_pool_get(&t->pool);
			if (!s->buf) {
				rc = -ENOMEM;
				goto out;
			}
			s->iova = dma_pool_iova(&t->pool, s->buf);
			if (!po->verify)
				memset(s->buf, 0x5a ^ (int)k, po->io_size);
			pq->free[pq->nfree++] = k;
		}
	}
	lat_reset(&prun.lat);
	prun.win_start = prun.win_end = 0;
	if (po->verify) {
		uint64_t u = 0, sy = 0;

		if (!po->json_only)
			printf("nvmf-pcie perf: verify: writing the pattern over %" PRIu64 " MiB\n",
			       prun.region_blocks * prun.ns->lba_size >> 20);
		prun.check = false;
		rc = perf_pass(t, pqs, nq, WL_WRITE, true, 0, &u, &sy);
		if (rc)
			goto out;
		prun.check = true;
	}
	prun.win_start = perf_now_ns() + (uint64_t)(po->warmup * 1e9);
	prun.win_end = prun.win_start + (uint64_t)(po->secs * 1e9);
	rc = perf_pass(t, pqs, nq, po->wl, false, prun.win_end, &r.cpu_user_us, &r.cpu_sys_us);
	if (!rc && po->verify) {
		uint64_t u = 0, sy = 0;

		prun.win_start = prun.win_end = 0;
		rc = perf_pass(t, pqs, nq, WL_READ, true, 0, &u, &sy);
	}
out:
	r.secs = po->secs;
	r.reads = prun.reads;
	r.writes = prun.writes;
	r.bytes = prun.bytes;
	r.errors = prun.errors;
	r.mismatches = prun.mismatches;
	r.verified = prun.verified;
	r.verify = po->verify;
	r.lat = prun.lat;
	r.json_only = po->json_only;
	for (unsigned i = 0; i < nq; i++) {
		db_mmio += t->ctrl.ioq[i].db_mmio;
		db_shadowed += t->ctrl.ioq[i].db_shadowed;
	}
	snprintf(r.params, sizeof(r.params),
		 "\"transport\":\"pcie\",\"bdf\":\"%s\",\"nsid\":%u,\"workload\":\"%s\",\"bs\":%" PRIu64
		 ",\"qd\":%u,\"queues\":%u,\"rwmixread\":%u,\"time_s\":%.3f,\"warmup_s\":%.3f,"
		 "\"mode\":\"%s\",\"region_bytes\":%" PRIu64 ",\"shadow_doorbells\":%s,"
		 "\"doorbell_mmio\":%" PRIu64 ",\"doorbell_shadowed\":%" PRIu64,
		 t->bdf, prun.ns->nsid, perf_workload_name(po->wl), po->io_size, depth, nq,
		 po->rwmixread, po->secs, po->warmup, po->irq ? "irq" : "poll",
		 prun.region_blocks * prun.ns->lba_size, t->ctrl.dbbuf ? "true" : "false",
		 db_mmio, db_shadowed);
	snprintf(r.title, sizeof(r.title), "%s %" PRIu64 " B, QD %u x %u queue(s), %s, %s namespace %u%s",
		 perf_workload_name(po->wl), po->io_size, depth, nq,
		 po->irq ? "MSI-X wakeups" : "polling", t->bdf, prun.ns->nsid,
		 po->verify ? ", verified" : "");
	if (rc == 0 || rc == -EINTR)
		perf_report(stdout, &r);
	for (unsigned i = 0; pqs && i < nq; i++) {
		for (unsigned k = 0; pqs[i].slots && k < depth; k++)
			if (pqs[i].slots[k].buf)
				dma_pool_put(&t->pool, pqs[i].slots[k].buf);
		free(pqs[i].slots);
		free(pqs[i].free);
	}
	free(pqs);
	if (tool_close(t))
		rc = rc ? rc : -EIO;
	if (rc)
		return fail("perf: %s", rc == -EINTR ? "interrupted" : strerror(-rc));
	if (prun.errors)
		return fail("perf: %" PRIu64 " command(s) failed, the first with %s", prun.errors,
			    nvme_status_str(prun.first_status));
	if (prun.mismatches)
		return fail("perf: %" PRIu64 " block(s) did not verify", prun.mismatches);
	return 0;
}

static int main_perf(int argc, char **argv, struct tool *t)
{
	static const struct option lo[] = {
		{ "qd", required_argument, NULL, 'q' },
		{ "size", required_argument, NULL, 'o' },
		{ "workload", required_argument, NULL, 'w' },
		{ "time", required_argument, NULL, 't' },
		{ "rwmixread", required_argument, NULL, 'M' },
		{ "nsid", required_argument, NULL, 'n' },
		{ "queues", required_argument, NULL, 'Q' },
		{ "irq", no_argument, NULL, 'i' },
		{ "warmup", required_argument, NULL, 'W' },
		{ "verify", no_argument, NULL, 'V' },
		{ "seed", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "no-shadow-doorbells", no_argument, NULL, 'D' },
		{ NULL, 0, NULL, 0 },
	};
	struct perf_opts po = { .qd = 1, .io_size = 4096, .wl = WL_RANDREAD, .rwmixread = 50, .secs = 10 };
	uint64_t v;
	char *end;
	int opt;

	t->queues = 1;
	optind = 2;
	while ((opt = getopt_long(argc, argv, "q:o:w:t:M:n:v", lo, NULL)) != -1) {
		switch (opt) {
		case 'q':
			if (parse_range(optarg, "-q", 1, 4095, &v))
				return 2;
			po.qd = (unsigned)v;
			break;
		case 'o':
			if (perf_parse_size(optarg, &po.io_size) || po.io_size < 512)
				return fail("-o: bad size '%s'", optarg), 2;
			break;
		case 'w':
			if (perf_workload_parse(optarg, &po.wl))
				return fail("-w: unknown pattern '%s'", optarg), 2;
			break;
		case 't':
		case 'W': {
			double d = strtod(optarg, &end);

			if (end == optarg || *end || d < 0 || d > 86400)
				return fail("%s: bad number of seconds '%s'", opt == 't' ? "-t" : "--warmup", optarg), 2;
			if (opt == 't')
				po.secs = d;
			else
				po.warmup = d;
			break;
		}
		case 'M':
			if (parse_range(optarg, "--rwmixread", 0, 100, &v))
				return 2;
			po.rwmixread = (unsigned)v;
			break;
		case 'n':
			if (parse_range(optarg, "--nsid", 1, 0xfffffffeu, &v))
				return 2;
			t->nsid = (uint32_t)v;
			break;
		case 'Q':
			if (parse_range(optarg, "--queues", 1, 64, &v))
				return 2;
			t->queues = (unsigned)v;
			break;
		case 'i': po.irq = true; break;
		case 'V': po.verify = true; break;
		case 'j': po.json_only = true; break;
		case 's':
			if (parse_u64(optarg, "--seed", &t->seed))
				return 2;
			break;
		case 'v': t->verbose = true; break;
		case 'D': t->no_shadow_db = true; break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	t->bdf = argv[optind];
	log_set_level(t->verbose ? LOG_LVL_DEBUG : LOG_LVL_WARNING);
	return cmd_perf(t, &po);
}

/* --- main --------------------------------------------------------------- */

static int parse_u64(const char *s, const char *opt, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 0);
	if (errno || !*s || *end || *s == '-')
		return fail("%s: not a number: '%s'", opt, s);
	return 0;
}

/* An option's number within lo..hi */
static int parse_range(const char *s, const char *opt, uint64_t lo, uint64_t hi, uint64_t *out)
{
	if (parse_u64(s, opt, out))
		return -1;
	if (*out < lo || *out > hi)
		return fail("%s must be %llu..%llu", opt, (unsigned long long)lo, (unsigned long long)hi);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "nsid", required_argument, NULL, 'n' },
		{ "lba", required_argument, NULL, 'l' },
		{ "count", required_argument, NULL, 'c' },
		{ "file", required_argument, NULL, 'f' },
		{ "queues", required_argument, NULL, 'q' },
		{ "depth", required_argument, NULL, 'd' },
		{ "seed", required_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct tool t = { .nsid = 1, .queues = 4 };
	bool have_nsid = false, have_lba = false, have_count = false;
	const char *cmd;
	struct sigaction sa = { .sa_handler = on_signal };
	uint64_t v;
	int opt;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	cmd = argv[1];
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* perf has its own options (-q is the queue depth there, as in the
	 * other load generators) */
	if (!strcmp(cmd, "perf"))
		return main_perf(argc, argv, &t);
	optind = 2;
	while ((opt = getopt_long(argc, argv, "n:l:c:f:q:d:s:vh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			if (parse_range(optarg, "--nsid", 1, 0xfffffffeu, &v))
				return 2;
			t.nsid = (uint32_t)v;
			have_nsid = true;
			break;
		case 'l':
			if (parse_u64(optarg, "--lba", &t.lba))
				return 2;
			have_lba = true;
			break;
		case 'c':
			if (parse_u64(optarg, "--count", &t.count))
				return 2;
			have_count = true;
			break;
		case 'f':
			t.file = optarg;
			break;
		case 'q':
			if (parse_range(optarg, "--queues", 1, 64, &v))
				return 2;
			t.queues = (unsigned)v;
			break;
		case 'd':
			if (parse_range(optarg, "--depth", 1, 4095, &v))
				return 2;
			t.depth = (unsigned)v;
			break;
		case 's':
			if (parse_u64(optarg, "--seed", &t.seed))
				return 2;
			break;
		case 'v':
			t.verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	t.bdf = argv[optind];
	log_set_level(t.verbose ? LOG_LVL_DEBUG : LOG_LVL_WARNING);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (!strcmp(cmd, "identify"))
		return cmd_identify(&t);
	if (!strcmp(cmd, "verify")) {
		if (!have_nsid)
			return fail("verify needs --nsid"), 2;
		return cmd_verify(&t);
	}
	if (!strcmp(cmd, "write") || !strcmp(cmd, "read")) {
		bool rd = cmd[0] == 'r';

		if (!have_nsid || !have_lba || !t.file || (rd && !have_count))
			return fail("%s needs --nsid, --lba%s and --file", cmd, rd ? ", --count" : ""), 2;
		t.queues = 1;
		return rd ? cmd_read(&t) : cmd_write(&t);
	}
	fail("unknown command '%s'", cmd);
	usage(stderr);
	return 2;
}
