/* SPDX-License-Identifier: MIT */
/*
 * I/O commands: namespace lookup, LBA range, transfer length and MDTS
 * checks, then the namespace's backend. Nothing reaches a device before
 * these checks pass.
 */
#define LOG_TAG "io"
#include <string.h>

#include "common/log.h"
#include "target/qos.h"
#include "target/target.h"

/* LBA range of a read/write/compare/write-zeroes command */
static uint16_t check_range(const struct nvmf_ns *ns, const struct nvme_sqe *cmd, uint64_t *bytes)
{
	uint64_t slba = nvme_cmd_slba(cmd), nlb = nvme_cmd_nlb(cmd);

	if (slba >= ns->nsze || nlb > ns->nsze - slba)
		return nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_LBA_RANGE);
	*bytes = nlb << ns->lba_shift;
	return 0;
}

static uint16_t check_io(struct nvmf_req *req, struct nvmf_ns *ns)
{
	const struct nvme_sqe *cmd = &req->cmd;
	uint64_t bytes = 0;
	uint16_t st;

	switch (cmd->opc) {
	case NVME_CMD_READ:
	case NVME_CMD_WRITE:
	case NVME_CMD_COMPARE:
		st = check_range(ns, cmd, &bytes);
		if (st)
			return st;
		if (bytes > req->sq->ctrl->subsys->max_xfer)
			return nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);
		/* the SGL must describe exactly the blocks addressed */
		if (bytes != req->len || (cmd->opc == NVME_CMD_READ) != (req->xfer == NVMF_XFER_C2H))
			return nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_DATA);
		return 0;
	case NVME_CMD_WRITE_ZEROES:
		if (req->len)
			return nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);
		return check_range(ns, cmd, &bytes);
	case NVME_CMD_FLUSH:
		return req->len ? nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD) : 0;
	case NVME_CMD_DSM: {
		unsigned nr = nvme_dsm_nr(cmd);
		const struct nvme_dsm_range *r = req->buf;

		if (req->xfer != NVMF_XFER_H2C || req->len < nr * sizeof(*r))
			return nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_DATA);
		for (unsigned i = 0; i < nr; i++) {
			uint64_t slba = le64_to_cpu(r[i].slba);

			if (slba >= ns->nsze || le32_to_cpu(r[i].nlb) > ns->nsze - slba)
				return nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_LBA_RANGE);
		}
		return 0;
	}
	default:
		return nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE);
	}
}

/* A namespace whose ANA group is not accessible through this port: the
 * path status tells a multipath host to use another path. Never DNR (the
 * Linux host then fails the I/O instead of failing over). */
static uint16_t check_ana(const struct nvmf_port *p, const struct nvmf_ns *ns)
{
	switch (nvmf_port_ana_state(p, __atomic_load_n(&ns->anagrpid, __ATOMIC_RELAXED))) {
	case CFG_ANA_INACCESSIBLE:
		return NVME_STATUS(NVME_SCT_PATH, NVME_SC_ANA_INACCESSIBLE);
	case CFG_ANA_PERSISTENT_LOSS:
		return NVME_STATUS(NVME_SCT_PATH, NVME_SC_ANA_PERSISTENT_LOSS);
	case CFG_ANA_CHANGE:
		return NVME_STATUS(NVME_SCT_PATH, NVME_SC_ANA_TRANSITION);
	default:
		return 0;       /* optimized, non-optimized */
	}
}

void nvmf_exec_io(struct nvmf_req *req)
{
	struct nvmf_subsys *s = req->sq->ctrl->subsys;
	struct nvmf_ns *ns = nvmf_subsys_find_ns(s, le32_to_cpu(req->cmd.nsid));
	unsigned ri = req->sq->reactor ? req->sq->reactor->idx : 0;
	struct nvmf_port *p = req->sq->port;
	uint16_t st;

	if (!ns) {
		nvmf_req_complete(req, nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_INVALID_NS));
		return;
	}
	/* counted from here to nvmf_req_complete, also for refused commands */
	req->ns = ns;
	ns->stats[ri].inflight++;
	p->stats[ri].io++;
	st = check_ana(p, ns);
	if (st) {
		p->stats[ri].ana_refused++;
		nvmf_req_complete(req, st);
		return;
	}
	if (nvmf_resv_opcode(req->cmd.opc)) {
		nvmf_resv_exec(ns, req);
		return;
	}
	st = check_io(req, ns);
	/* a flag read unless a reservation is held */
	if (!st && nvmf_resv_held(ns->resv))
		st = nvmf_resv_check_io(ns, req);
	if (st) {
		nvmf_req_complete(req, st);
		return;
	}
	nvmf_qos_submit(ns, req);       /* the backend, now or once QoS limits allow */
}
