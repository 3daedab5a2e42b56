/* SPDX-License-Identifier: MIT */
/*
 * The null backend: a namespace with no storage behind it, to measure the
 * target alone (transport, core, reactors) in benchmarks. Like SPDK's null
 * bdev, reads return zeroes (sent from shared zero pages when the
 * transport can send from any memory, else the data buffer is zero-filled:
 * it holds whatever the previous command left there), writes are discarded, Write
 * Zeroes, DSM and Flush succeed, and Compare compares against zeroes. So a
 * host reads back zeroes whatever it wrote, which is what Identify says of
 * deallocated blocks (DLFEAT). Completes synchronously on the reactor
 * thread.
 */
#include <string.h>
#include <sys/mman.h>

#include "target/target.h"

/* Zero pages to send reads from (zero copy, where the transport can send
 * from any memory): an anonymous read-only mapping, never written, so every
 * page is the kernel's shared zero page and it costs no memory. Mapped by
 * the first null namespace, never unmapped. */
#define NULL_ZERO_LEN (1u << 20)   /* >= the largest transfer (MDTS) */
static const void *zero_pages;

/* len bytes at p are all zero: the first one is, and each equals the next */
static bool all_zero(const uint8_t *p, size_t len)
{
	return !len || (!p[0] && !memcmp(p, p + 1, len - 1));
}

static void null_submit(struct nvmf_ns *ns, struct nvmf_req *req)
{
	uint16_t st = 0;

	(void)ns;
	/* io.c checked that req->len is exactly the blocks addressed */
	switch (req->cmd.opc) {
	case NVME_CMD_READ:
		if (req->sq->c2h_any_memory && zero_pages && req->len <= NULL_ZERO_LEN)
			req->c2h_data = zero_pages;
		else
			memset(req->buf, 0, req->len);
		break;
	case NVME_CMD_COMPARE:
		if (!all_zero(req->buf, req->len))
			st = nvmf_status_dnr(NVME_SCT_MEDIA, NVME_SC_COMPARE_FAILED);
		break;
	case NVME_CMD_WRITE:            /* discarded */
	case NVME_CMD_WRITE_ZEROES:
	case NVME_CMD_DSM:
	case NVME_CMD_FLUSH:
		break;
	}
	nvmf_req_complete(req, st);
}

static int null_open(struct nvmf_tgt *t, struct nvmf_ns *ns, char *err, size_t errlen)
{
	uint32_t bs = ns->cfg->block_size ? ns->cfg->block_size : 512;

	(void)err;
	(void)errlen;
	if (!__atomic_load_n(&zero_pages, __ATOMIC_ACQUIRE)) {
		void *p = mmap(NULL, NULL_ZERO_LEN, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		/* without it reads zero-fill the pool buffer instead */
		if (p != MAP_FAILED)
			__atomic_store_n(&zero_pages, p, __ATOMIC_RELEASE);
	}
	nvmf_backend_plain_id_ns(ns, ns->cfg->mem_bytes / bs, bs);
	return 0;
}

const struct nvmf_backend_ops nvmf_backend_null = {
	.name = "null",
	.open = null_open,
	.submit = null_submit,
};
