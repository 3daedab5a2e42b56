/* SPDX-License-Identifier: MIT */
/*
 * PRP construction (NVMe Base Specification 2.0, 4.1.1).
 *
 * PRP1 addresses the first byte and may carry any dword-aligned offset into
 * its page. If the transfer ends within the next page, PRP2 addresses that
 * page; otherwise PRP2 points at a PRP list. Each list page holds
 * page_size/8 entries; when more entries remain than fit, the last slot of
 * the page points to the next list page instead of holding data.
 */
#include <errno.h>

#include "pcie/pcie.h"

static inline uint64_t pages_spanned(uint64_t iova, size_t len, uint32_t page_size)
{
	uint64_t first = iova & ~((uint64_t)page_size - 1);
	uint64_t last = (iova + len - 1) & ~((uint64_t)page_size - 1);

	return (last - first) / page_size + 1;
}

/* List pages needed for n entries (n = pages after the first one) */
static unsigned list_pages_for(uint64_t n, uint32_t page_size)
{
	uint64_t per_page = page_size / 8;

	if (n <= 1)
		return 0;       /* PRP2 holds the single remaining page */
	/* every page but the last gives up one slot to the chain pointer */
	if (n <= per_page)
		return 1;
	return (unsigned)(1 + (n - per_page + (per_page - 1) - 1) / (per_page - 1));
}

unsigned prp_list_pages_needed(uint64_t iova, size_t len, uint32_t page_size)
{
	if (!len)
		return 0;
	return list_pages_for(pages_spanned(iova, len, page_size) - 1, page_size);
}

int prp_build(uint64_t iova, size_t len, uint32_t page_size,
	      const struct prp_list_page *list, unsigned nlist,
	      uint64_t *prp1, uint64_t *prp2)
{
	uint64_t per_page, npages, remaining, page;
	unsigned used = 0, slot = 0;
	uint64_t *entries;

	if (!len || (iova & 3) || page_size < 4096 || (page_size & (page_size - 1)))
		return -EINVAL;

	npages = pages_spanned(iova, len, page_size);
	*prp1 = iova;
	*prp2 = 0;
	if (npages == 1)
		return 0;

	page = (iova & ~((uint64_t)page_size - 1)) + page_size;
	if (npages == 2) {
		*prp2 = page;
		return 0;
	}

	if (list_pages_for(npages - 1, page_size) > nlist)
		return -E2BIG;

	per_page = page_size / 8;
	remaining = npages - 1;
	entries = list[0].va;
	*prp2 = list[0].iova;
	used = 1;
	while (remaining) {
		if (slot == per_page - 1 && remaining > 1) {
			/* last slot of a full page, more to come: chain */
			entries[slot] = list[used].iova;
			entries = list[used].va;
			used++;
			slot = 0;
		}
		entries[slot++] = page;
		page += page_size;
		remaining--;
	}
	return (int)used;
}
