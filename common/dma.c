/* SPDX-License-Identifier: MIT */
#define LOG_TAG "dma"
#include "common/dma.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/log.h"

#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << 26)
#endif

static size_t round_up(size_t v, size_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static void *alloc_pages(size_t *len, bool try_huge, bool *huge)
{
	void *va;
	size_t huge_len = round_up(*len, DMA_HUGEPAGE_SIZE);

	if (try_huge) {
		va = mmap(NULL, huge_len, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB | MAP_POPULATE,
			  -1, 0);
		if (va != MAP_FAILED) {
			*len = huge_len;
			*huge = true;
			return va;
		}
		log_debug("no 2 MiB hugepages for %zu bytes (%s), using 4 KiB pages",
			  huge_len, strerror(errno));
	}
	*len = round_up(*len, (size_t)sysconf(_SC_PAGESIZE));
	/* MAP_POPULATE: fault everything in now, not on the I/O path. The
	 * VFIO map pins the pages; the fake device does not need pinning. */
	va = mmap(NULL, *len, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	*huge = false;
	return va == MAP_FAILED ? NULL : va;
}

int dma_region_alloc(struct dma_region *r, size_t len, bool try_huge, const struct dma_mapper *m)
{
	int rc;

	memset(r, 0, sizeof(*r));
	r->len = len;
	r->va = alloc_pages(&r->len, try_huge, &r->huge);
	if (!r->va) {
		rc = -errno;
		log_err("cannot allocate %zu bytes of DMA memory: %s", len, strerror(errno));
		return rc;
	}
	/* fork() must not turn these pages copy-on-write under the device */
	madvise(r->va, r->len, MADV_DONTFORK);
	if (m) {
		r->mapper = *m;
		rc = m->map(m->ctx, r->va, r->len, &r->iova);
		if (rc) {
			log_err("cannot map %zu bytes of DMA memory: %s", r->len, strerror(-rc));
			goto unmap_pages;
		}
		r->mapped = true;
	}
	return 0;

unmap_pages:
	munmap(r->va, r->len);
	r->va = NULL;
	return rc;
}

void dma_region_free(struct dma_region *r)
{
	if (!r->va)
		return;
	if (r->mapped && r->mapper.unmap)
		r->mapper.unmap(r->mapper.ctx, r->va, r->len, r->iova);
	munmap(r->va, r->len);
	memset(r, 0, sizeof(*r));
}

void *dma_region_carve(struct dma_region *r, size_t len, size_t align, uint64_t *iova)
{
	/* the device sees the IOVA: that is what must be aligned */
	size_t off = (size_t)(((r->iova + r->used + align - 1) & ~((uint64_t)align - 1)) - r->iova);
	void *va;

	if (off > r->len || len > r->len - off)
		return NULL;
	r->used = off + len;
	va = (char *)r->va + off;
	if (iova)
		*iova = r->iova + off;
	return va;
}

int dma_pool_init(struct dma_pool *p, size_t buf_size, size_t align, unsigned nbufs,
		  bool try_huge, const struct dma_mapper *m)
{
	char *first;
	int rc;

	memset(p, 0, sizeof(*p));
	if (!nbufs || !buf_size || (align & (align - 1)))
		return -EINVAL;
	if (!align)
		align = 1;
	p->buf_size = round_up(buf_size, align);
	p->free = calloc(nbufs, sizeof(*p->free));
	if (!p->free)
		return -ENOMEM;
	/* room to align the first buffer's IOVA if the mapping's is coarser */
	rc = dma_region_alloc(&p->region, p->buf_size * nbufs + (align > 4096 ? align : 0), try_huge, m);
	if (rc)
		goto free_stack;
	first = dma_region_carve(&p->region, p->buf_size * nbufs, align, NULL);
	if (!first) {
		rc = -ENOMEM;
		goto free_region;
	}
	p->nbufs = nbufs;
	/* push in reverse so that dma_pool_get hands out the lowest first */
	for (unsigned i = nbufs; i-- > 0;)
		p->free[p->nfree++] = first + (size_t)i * p->buf_size;
	return 0;

free_region:
	dma_region_free(&p->region);

free_stack:
	free(p->free);
	p->free = NULL;
	return rc;
}

void dma_pool_destroy(struct dma_pool *p)
{
	dma_region_free(&p->region);
	free(p->free);
	memset(p, 0, sizeof(*p));
}
