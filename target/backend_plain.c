/* SPDX-License-Identifier: MIT */
/*
 * What the mem, file and null backends share: they are plain block
 * devices (one LBA format, no metadata, the optional commands the target
 * implements for them), so their Identify Namespace and the byte range of
 * a command are computed the same way.
 */
#include <string.h>

#include "target/target.h"

static unsigned shift_of(uint32_t bs)
{
	unsigned s = 0;

	while ((1u << s) < bs)
		s++;
	return s;
}

/* Identify Namespace for a plain block device of nsze blocks */
void nvmf_backend_plain_id_ns(struct nvmf_ns *ns, uint64_t nsze, uint32_t bs)
{
	memset(&ns->id, 0, sizeof(ns->id));
	ns->nsze = nsze;
	ns->lba_shift = shift_of(bs);
	ns->id.nsze = ns->id.ncap = ns->id.nuse = cpu_to_le64(nsze);
	ns->id.nlbaf = 0;
	ns->id.flbas = 0;
	ns->id.lbaf[0].lbads = (uint8_t)ns->lba_shift;
	ns->id.dlfeat = 0x1;    /* deallocated blocks read as zeros */
	ns->oncs = NVME_ONCS_COMPARE | NVME_ONCS_DSM | NVME_ONCS_WRITE_ZEROES;
}

void nvmf_backend_plain_range(const struct nvmf_req *req, uint64_t *off, uint64_t *len)
{
	*off = nvme_cmd_slba(&req->cmd) << req->ns->lba_shift;
	*len = (uint64_t)nvme_cmd_nlb(&req->cmd) << req->ns->lba_shift;
}
