/* SPDX-License-Identifier: MIT */
/*
 * The PRP builder, corner by corner: every result is walked the way a
 * controller walks it (independently of prp.c) and must describe exactly
 * the bytes [iova, iova + len), with chaining only from the last slot of a
 * full list page.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pcie/pcie.h"

#define LIST_IOVA_BASE 0x7700000000ull
#define MAX_LIST 8

struct lists {
	uint32_t page_size;
	struct prp_list_page pages[MAX_LIST];
};

static struct lists *lists_new(uint32_t page_size)
{
	struct lists *l = calloc(1, sizeof(*l));

	l->page_size = page_size;
	for (unsigned i = 0; i < MAX_LIST; i++) {
		l->pages[i].va = aligned_alloc(page_size, page_size);
		memset(l->pages[i].va, 0xee, page_size);
		/* deliberately not in order, to catch "next page = this + 1" */
		l->pages[i].iova = LIST_IOVA_BASE + (uint64_t)(MAX_LIST - i) * page_size * 3;
	}
	return l;
}

static void lists_free(struct lists *l)
{
	for (unsigned i = 0; i < MAX_LIST; i++)
		free(l->pages[i].va);
	free(l);
}

static uint64_t *list_va(struct lists *l, uint64_t iova)
{
	uint64_t base = iova & ~((uint64_t)l->page_size - 1);

	for (unsigned i = 0; i < MAX_LIST; i++)
		if (l->pages[i].iova == base)
			return (uint64_t *)((char *)l->pages[i].va + (iova - base));
	fail_msg("PRP list pointer 0x%llx is not one of our list pages", (unsigned long long)iova);
	return NULL;
}

/* Walk PRP1/PRP2 like a controller and check the described bytes. Returns
 * the number of list pages visited. */
static unsigned walk(struct lists *l, uint64_t iova, size_t len, uint64_t prp1, uint64_t prp2)
{
	uint64_t ps = l->page_size, expect = iova;
	size_t left = len;
	unsigned pages_visited = 0;

	assert_int_equal(prp1, iova);
	{
		size_t first = ps - (prp1 & (ps - 1));

		if (first > left)
			first = left;
		expect += first;
		left -= first;
	}
	if (!left) {
		assert_int_equal(prp2, 0);
		return 0;
	}
	if (left <= ps) {
		/* PRP2 is the data page itself */
		assert_int_equal(prp2, expect);
		assert_int_equal(prp2 & (ps - 1), 0);
		return 0;
	}
	/* PRP2 is a list pointer; the list runs to the end of its page */
	uint64_t *page = list_va(l, prp2 & ~(ps - 1));
	unsigned idx = (unsigned)((prp2 & (ps - 1)) / 8);

	pages_visited = 1;
	while (left) {
		uint64_t entry = page[idx];

		if (idx == ps / 8 - 1 && left > ps) {
			/* last slot, more than one page to go: a chain pointer */
			assert_int_equal(entry & (ps - 1), 0);
			page = list_va(l, entry);
			idx = 0;
			pages_visited++;
			continue;
		}
		assert_int_equal(entry, expect);
		assert_int_equal(entry & (ps - 1), 0);
		expect += ps;
		left -= left < ps ? left : ps;
		idx++;
	}
	return pages_visited;
}

static void check_one(struct lists *l, uint64_t iova, size_t len)
{
	uint64_t prp1 = 0xdead, prp2 = 0xbeef;
	int rc = prp_build(iova, len, l->page_size, l->pages, MAX_LIST, &prp1, &prp2);
	unsigned expect_pages = prp_list_pages_needed(iova, len, l->page_size);

	assert_true(rc >= 0);
	assert_int_equal((unsigned)rc, expect_pages);
	assert_int_equal(walk(l, iova, len, prp1, prp2), expect_pages);
}

static void test_single_page(void **state)
{
	struct lists *l = lists_new(4096);

	(void)state;
	for (size_t len = 1; len <= 4096; len += 1) {
		check_one(l, 0x100000, len);
	}
	/* an offset: fits only if offset + len <= page */
	check_one(l, 0x100000 + 4092, 4);
	check_one(l, 0x100000 + 2048, 2048);
	lists_free(l);
}

static void test_two_pages_prp2_is_data(void **state)
{
	struct lists *l = lists_new(4096);
	uint64_t prp1, prp2;

	(void)state;
	assert_int_equal(prp_build(0x200000, 8192, 4096, l->pages, MAX_LIST, &prp1, &prp2), 0);
	assert_int_equal(prp2, 0x201000);
	/* 4 bytes straddling a page boundary */
	assert_int_equal(prp_build(0x200ffc + 0, 8, 4096, l->pages, MAX_LIST, &prp1, &prp2), 0);
	assert_int_equal(prp1, 0x200ffc);
	assert_int_equal(prp2, 0x201000);
	lists_free(l);
}

/* every dword offset class within a page, for lengths from 1 byte to
 * beyond one list page */
static void test_offsets_and_lengths(void **state)
{
	struct lists *l = lists_new(4096);
	const size_t lens[] = { 1, 4, 511, 512, 4095, 4096, 4097, 8192, 8196, 12288,
				65536, 131072 - 512, 524288, 1048576, 2097152 - 4, 2097152 };

	(void)state;
	for (uint64_t off = 0; off < 4096; off += 4)
		for (unsigned i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
			check_one(l, 0x40000000 + off, lens[i]);
	lists_free(l);
}

static void test_exactly_one_full_list_page_no_chain(void **state)
{
	struct lists *l = lists_new(4096);
	uint64_t prp1, prp2;
	/* aligned 513 pages: PRP1 + 512 entries = one full list page, and the
	 * last slot holds data because nothing follows */
	size_t len = 513ull * 4096;

	(void)state;
	assert_int_equal(prp_build(0x80000000, len, 4096, l->pages, MAX_LIST, &prp1, &prp2), 1);
	assert_int_equal(l->pages[0].va[511], 0x80000000 + 512ull * 4096);
	assert_int_equal(walk(l, 0x80000000, len, prp1, prp2), 1);
	lists_free(l);
}

static void test_chaining(void **state)
{
	struct lists *l = lists_new(4096);
	uint64_t prp1, prp2;
	/* 514 pages: 513 entries -> 511 in page 0 + chain, 2 in page 1 */
	size_t len = 514ull * 4096;

	(void)state;
	assert_int_equal(prp_build(0x80000000, len, 4096, l->pages, MAX_LIST, &prp1, &prp2), 2);
	assert_int_equal(prp2, l->pages[0].iova);
	assert_int_equal(l->pages[0].va[511], l->pages[1].iova);
	assert_int_equal(l->pages[0].va[510], 0x80000000 + 511ull * 4096);
	assert_int_equal(l->pages[1].va[0], 0x80000000 + 512ull * 4096);
	assert_int_equal(l->pages[1].va[1], 0x80000000 + 513ull * 4096);
	assert_int_equal(walk(l, 0x80000000, len, prp1, prp2), 2);

	/* 8 MiB with an offset: several chained pages */
	check_one(l, 0x90000000 + 1020, 8u << 20);
	assert_int_equal(prp_list_pages_needed(0x90000000 + 1020, 8u << 20, 4096), 5);
	/* with 16 KiB pages */
	{
		struct lists *l16 = lists_new(16384);

		check_one(l16, 0x90000000 + 16380, 40u << 20);
		check_one(l16, 0x90000000, 16384 * 2049ull);
		lists_free(l16);
	}
	lists_free(l);
}

static void test_too_few_list_pages(void **state)
{
	struct lists *l = lists_new(4096);
	uint64_t prp1, prp2;

	(void)state;
	assert_int_equal(prp_build(0x80000000, 514ull * 4096, 4096, l->pages, 1, &prp1, &prp2), -E2BIG);
	assert_int_equal(prp_build(0x80000000, 513ull * 4096, 4096, l->pages, 1, &prp1, &prp2), 1);
	assert_int_equal(prp_build(0x80000000, 3 * 4096, 4096, l->pages, 0, &prp1, &prp2), -E2BIG);
	lists_free(l);
}

static void test_invalid_args(void **state)
{
	struct lists *l = lists_new(4096);
	uint64_t prp1, prp2;

	(void)state;
	assert_int_equal(prp_build(0x80000002, 512, 4096, l->pages, MAX_LIST, &prp1, &prp2), -EINVAL);
	assert_int_equal(prp_build(0x80000000, 0, 4096, l->pages, MAX_LIST, &prp1, &prp2), -EINVAL);
	assert_int_equal(prp_build(0x80000000, 512, 2048, l->pages, MAX_LIST, &prp1, &prp2), -EINVAL);
	assert_int_equal(prp_build(0x80000000, 512, 12288, l->pages, MAX_LIST, &prp1, &prp2), -EINVAL);
	lists_free(l);
}

static void test_pages_needed(void **state)
{
	(void)state;
	assert_int_equal(prp_list_pages_needed(0, 0, 4096), 0);
	assert_int_equal(prp_list_pages_needed(0, 8192, 4096), 0);
	assert_int_equal(prp_list_pages_needed(4, 8192, 4096), 1);     /* spans 3 pages */
	assert_int_equal(prp_list_pages_needed(0, 513 * 4096, 4096), 1);
	assert_int_equal(prp_list_pages_needed(0, 514 * 4096, 4096), 2);
	/* 1 + 511 + 511 + 512 entries fit in 3 pages */
	assert_int_equal(prp_list_pages_needed(0, (1 + 511 + 511 + 512) * 4096ull, 4096), 3);
	assert_int_equal(prp_list_pages_needed(0, (1 + 511 + 511 + 513) * 4096ull, 4096), 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_page),
		cmocka_unit_test(test_two_pages_prp2_is_data),
		cmocka_unit_test(test_offsets_and_lengths),
		cmocka_unit_test(test_exactly_one_full_list_page_no_chain),
		cmocka_unit_test(test_chaining),
		cmocka_unit_test(test_too_few_list_pages),
		cmocka_unit_test(test_invalid_args),
		cmocka_unit_test(test_pages_needed),
	};

	return cmocka_run_group_tests_name("prp", tests, NULL, NULL);
}
