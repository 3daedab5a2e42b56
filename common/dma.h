/* SPDX-License-Identifier: MIT */
/*
 * DMA memory: regions allocated once (2 MiB hugepages when the system has
 * them, 4 KiB pages otherwise), made device-visible once through a mapper
 * (VFIO_IOMMU_MAP_DMA for a real device, a translation table for the fake
 * one), then carved into queues, PRP list pages and fixed-size data buffers.
 * Nothing here is called per I/O except dma_pool_get/put, which are a stack
 * push and pop.
 */
#ifndef COMMON_DMA_H
#define COMMON_DMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dma_mapper {
	void *ctx;
	/* make [va, va+len) reachable by the device; the IOVA goes to *iova */
	int (*map)(void *ctx, void *va, size_t len, uint64_t *iova);
	int (*unmap)(void *ctx, void *va, size_t len, uint64_t iova);
};

struct dma_region {
	void *va;
	size_t len;
	uint64_t iova;
	size_t used;              /* bump pointer for dma_region_carve */
	bool huge;                /* backed by 2 MiB hugepages */
	bool mapped;
	struct dma_mapper mapper;
};

#define DMA_HUGEPAGE_SIZE (2u << 20)

/* Allocate len bytes (rounded up to the page size used) and map them.
 * try_huge: attempt MAP_HUGETLB first, fall back to 4 KiB pages. */
int dma_region_alloc(struct dma_region *r, size_t len, bool try_huge, const struct dma_mapper *m);
void dma_region_free(struct dma_region *r);

/* Bump-allocate len bytes aligned to align (a power of two) from r.
 * Returns NULL when the region is exhausted. */
void *dma_region_carve(struct dma_region *r, size_t len, size_t align, uint64_t *iova);

static inline uint64_t dma_region_iova(const struct dma_region *r, const void *va)
{
	return r->iova + (uint64_t)((const char *)va - (const char *)r->va);
}

static inline bool dma_region_contains(const struct dma_region *r, const void *va, size_t len)
{
	const char *p = va, *b = r->va;
	return p >= b && len <= r->len && (size_t)(p - b) <= r->len - len;
}

/* A pool of nbufs equally sized buffers, each IOVA-contiguous and aligned
 * to align bytes, all in one region mapped once. */
struct dma_pool {
	struct dma_region region;
	size_t buf_size;          /* stride between buffers (rounded to align) */
	unsigned nbufs;
	unsigned nfree;
	void **free;              /* stack of free buffers */
};

int dma_pool_init(struct dma_pool *p, size_t buf_size, size_t align, unsigned nbufs,
		  bool try_huge, const struct dma_mapper *m);
void dma_pool_destroy(struct dma_pool *p);

static inline void *dma_pool_get(struct dma_pool *p)
{
	return p->nfree ? p->free[--p->nfree] : NULL;
}

static inline void dma_pool_put(struct dma_pool *p, void *buf)
{
	p->free[p->nfree++] = buf;
}

static inline uint64_t dma_pool_iova(const struct dma_pool *p, const void *va)
{
	return dma_region_iova(&p->region, va);
}

#endif
