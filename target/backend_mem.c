/* SPDX-License-Identifier: MIT */
/*
 * The mem backend, for tests, demos and benchmarks: a namespace in
 * anonymous memory. Completes synchronously on the reactor thread.
 *
 * A mem namespace lives on 2 MiB hugepages when the hugetlb pool has
 * enough of them, else on ordinary pages with transparent hugepages
 * requested. Either way it is faulted in when the daemon starts, so that
 * the first write of each page is not paid on the I/O path (and a
 * benchmark measures the target, not the page allocator), unless that
 * would take more than half of the memory available: then it stays
 * lazily backed, as anonymous memory is.
 */
#define LOG_TAG "backend"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/log.h"
#include "target/target.h"

#define MEM_HUGEPAGE_SIZE (2ull << 20)
#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << 26)
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23          /* Linux 5.14 */
#endif

struct mem_ns {
	uint8_t *data;
	size_t map_len;         /* the mapping: on hugepages, the size rounded up to 2 MiB */
};

static void mem_submit(struct nvmf_ns *ns, struct nvmf_req *req)
{
	struct mem_ns *m = ns->priv;
	uint64_t off, len;
	uint16_t st = 0;

	switch (req->cmd.opc) {
	case NVME_CMD_READ:
		nvmf_backend_plain_range(req, &off, &len);
		/* zero copy where the transport sends from any memory (TCP);
		 * a write racing with the send may show through, as on any
		 * device for overlapping commands */
		if (req->sq->c2h_any_memory)
			req->c2h_data = m->data + off;
		else
			memcpy(req->buf, m->data + off, len);
		break;
	case NVME_CMD_WRITE:
		nvmf_backend_plain_range(req, &off, &len);
		memcpy(m->data + off, req->buf, len);
		break;
	case NVME_CMD_COMPARE:
		nvmf_backend_plain_range(req, &off, &len);
		if (memcmp(m->data + off, req->buf, len))
			st = nvmf_status_dnr(NVME_SCT_MEDIA, NVME_SC_COMPARE_FAILED);
		break;
	case NVME_CMD_WRITE_ZEROES:
		nvmf_backend_plain_range(req, &off, &len);
		memset(m->data + off, 0, len);
		break;
	case NVME_CMD_DSM:
		if (nvme_dsm_deallocate(&req->cmd)) {
			const struct nvme_dsm_range *r = req->buf;

			for (unsigned i = 0; i < nvme_dsm_nr(&req->cmd); i++)
				memset(m->data + (le64_to_cpu(r[i].slba) << ns->lba_shift), 0,
				       (size_t)le32_to_cpu(r[i].nlb) << ns->lba_shift);
		}
		break;
	case NVME_CMD_FLUSH:
		break;
	}
	nvmf_req_complete(req, st);
}

static void mem_close(struct nvmf_ns *ns)
{
	struct mem_ns *m = ns->priv;

	if (m) {
		munmap(m->data, m->map_len);
		free(m);
	}
	ns->priv = NULL;
}

/* "512 MiB", "4 KiB", "5.8 GiB", "1000 bytes" */
static void mem_size_text(char *buf, size_t len, uint64_t b)
{
	static const char *const unit[] = { "bytes", "KiB", "MiB", "GiB", "TiB" };
	unsigned u = 0;

	while (u < 4 && b >> (10 * (u + 1)))
		u++;
	if (!(b & ((1ull << (10 * u)) - 1)))
		snprintf(buf, len, "%llu %s", (unsigned long long)(b >> (10 * u)), unit[u]);
	else
		snprintf(buf, len, "%.1f %s", (double)b / (double)(1ull << (10 * u)), unit[u]);
}

/* MemAvailable of /proc/meminfo in bytes; 0 when it cannot be read */
static uint64_t mem_available(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	unsigned long long kib;
	char line[128];
	uint64_t avail = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1) {
			avail = (uint64_t)kib << 10;
			break;
		}
	}
	fclose(f);
	return avail;
}

/* Fault every page in by writing it: MADV_POPULATE_WRITE, or on kernels
 * without it (EINVAL) one write per page. 0 or -errno (out of memory:
 * what was faulted stays, the rest is faulted on first use). */
static int mem_prefault(uint8_t *p, size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	if (!madvise(p, len, MADV_POPULATE_WRITE))
		return 0;
	if (errno != EINVAL)
		return -errno;
	for (size_t off = 0; off < len; off += page)
		((volatile uint8_t *)p)[off] = 0;
	return 0;
}

static int mem_open(struct nvmf_tgt *t, struct nvmf_ns *ns, char *err, size_t errlen)
{
	uint32_t bs = ns->cfg->block_size ? ns->cfg->block_size : 512;
	/* added while running (reload, add-namespace): faulting gigabytes in
	 * would stall reactor 0, which serves I/O and keep-alive too */
	bool at_start = !t->start_ns;
	uint64_t size = ns->cfg->mem_bytes;
	uint64_t huge_len = (size + MEM_HUGEPAGE_SIZE - 1) & ~(MEM_HUGEPAGE_SIZE - 1);
	struct mem_ns *m = calloc(1, sizeof(*m));
	char sz[32], how[192], page[32], avail_text[32];
	uint64_t t0, avail;
	int rc;

	if (!m)
		return -ENOMEM;
	mem_size_text(sz, sizeof(sz), size);
	/* hugetlb reserves the pages at mmap: it fails now if the pool is
	 * too small, never later at a fault */
	t0 = reactor_now_ns() / 1000000u;
	m->data = mmap(NULL, huge_len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB | (at_start ? MAP_POPULATE : 0), -1, 0);
	if (m->data != MAP_FAILED) {
		m->map_len = huge_len;
		if (at_start)
			snprintf(how, sizeof(how), "on 2 MiB hugepages, pre-faulted in %llu ms",
				 (unsigned long long)(reactor_now_ns() / 1000000u - t0));
		else
			snprintf(how, sizeof(how), "on 2 MiB hugepages, not pre-faulted: added while running");
		goto done;
	}
	log_debug("no 2 MiB hugepages for %llu bytes (%s), using %zu-byte pages", (unsigned long long)huge_len,
		  strerror(errno), (size_t)sysconf(_SC_PAGESIZE));
	/* anonymous memory reads as zeros and is only backed once written */
	m->map_len = size;
	m->data = mmap(NULL, m->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
		       0);
	if (m->data == MAP_FAILED) {
		snprintf(err, errlen, "cannot allocate %llu bytes of memory: %s", (unsigned long long)size,
			 strerror(errno));
		free(m);
		return -ENOMEM;
	}
	(void)madvise(m->data, m->map_len, MADV_HUGEPAGE);     /* THP may be off or absent */
	mem_size_text(page, sizeof(page), (uint64_t)sysconf(_SC_PAGESIZE));
	avail = mem_available();
	mem_size_text(avail_text, sizeof(avail_text), avail);
	if (!at_start) {
		snprintf(how, sizeof(how), "on %s pages (transparent hugepages requested), not pre-faulted: "
			 "added while running", page);
	} else if (!avail) {
		snprintf(how, sizeof(how), "on %s pages (transparent hugepages requested), not pre-faulted: "
			 "MemAvailable unknown (/proc/meminfo)", page);
	} else if (size > avail / 2) {
		snprintf(how, sizeof(how), "on %s pages (transparent hugepages requested), not pre-faulted: "
			 "%s is more than half of the %s available", page, sz, avail_text);
	} else {
		t0 = reactor_now_ns() / 1000000u;
		rc = mem_prefault(m->data, m->map_len);
		if (rc)
			snprintf(how, sizeof(how), "on %s pages (transparent hugepages requested), not pre-faulted: "
				 "%s", page, strerror(-rc));
		else
			snprintf(how, sizeof(how), "on %s pages (transparent hugepages requested), pre-faulted in "
				 "%llu ms", page, (unsigned long long)(reactor_now_ns() / 1000000u - t0));
	}
done:
	ns->priv = m;
	nvmf_backend_plain_id_ns(ns, size / bs, bs);
	log_info("namespace %u of %s: mem %s %s", ns->nsid, ns->subsys ? ns->subsys->nqn : "?", sz, how);
	return 0;
}

const struct nvmf_backend_ops nvmf_backend_mem = {
	.name = "mem",
	.open = mem_open,
	.submit = mem_submit,
	.close = mem_close,
};
