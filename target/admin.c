/* SPDX-License-Identifier: MIT */
/*
 * Admin commands of fabrics controllers: Identify built from the device's
 * pages with fabrics fix-ups, Get Log Page (device logs passed through,
 * fabrics logs served here), features served locally, keep-alive, async
 * events. Commands that would change the device are refused.
 */
#define LOG_TAG "admin"
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "nvme/regs.h"
#include "target/target.h"

static void complete_status(struct nvmf_req *req, uint8_t sct, uint8_t sc)
{
	nvmf_req_complete(req, nvmf_status_dnr(sct, sc));
}

/* Copy out a locally built page, as much as the host asked for. */
static void complete_data(struct nvmf_req *req, const void *data, size_t len)
{
	if (req->xfer != NVMF_XFER_C2H || !req->buf) {
		complete_status(req, NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);
		return;
	}
	memset(req->buf, 0, req->len);
	memcpy(req->buf, data, len < req->len ? len : req->len);
	nvmf_req_complete(req, 0);
}

static void pad_copy(char *dst, size_t n, const char *src)
{
	size_t l = strlen(src);

	memset(dst, ' ', n);
	memcpy(dst, src, l < n ? l : n);
}

static unsigned log2_u32(uint32_t v)
{
	unsigned l = 0;

	while (v >>= 1)
		l++;
	return l;
}

static void build_id_ctrl(const struct nvmf_ctrl *c, struct nvme_id_ctrl *id)
{
	const struct nvmf_subsys *s = c->subsys;
	bool disc = s->type == NVMF_SUBSYS_DISCOVERY;
	uint32_t inline_size = c->port->inline_data_size;
	bool vwc = false;

	memset(id, 0, sizeof(*id));
	if (s->dev_id) {
		/* what describes the device itself comes from the device */
		id->vid = s->dev_id->vid;
		id->ssvid = s->dev_id->ssvid;
		memcpy(id->fr, s->dev_id->fr, sizeof(id->fr));
		memcpy(id->ieee, s->dev_id->ieee, sizeof(id->ieee));
		id->rab = s->dev_id->rab;
		id->awun = s->dev_id->awun;
		id->awupf = s->dev_id->awupf;
		id->wctemp = s->dev_id->wctemp;
		id->cctemp = s->dev_id->cctemp;
	} else {
		pad_copy(id->fr, sizeof(id->fr), NVMF_FR_DEFAULT);
	}
	/* what nvmet lets a subsystem set, set the same way */
	if (s->cfg && s->cfg->firmware[0])
		pad_copy(id->fr, sizeof(id->fr), s->cfg->firmware);
	if (s->cfg && s->cfg->has_ieee_oui) {
		id->ieee[0] = (uint8_t)s->cfg->ieee_oui;    /* least significant byte first */
		id->ieee[1] = (uint8_t)(s->cfg->ieee_oui >> 8);
		id->ieee[2] = (uint8_t)(s->cfg->ieee_oui >> 16);
	}
	pad_copy(id->sn, sizeof(id->sn), s->serial);
	pad_copy(id->mn, sizeof(id->mn), s->model);
	/* several hosts may each have a controller in one subsystem: the
	 * Linux host refuses a second controller without CMIC.MCTRS */
	id->cmic = disc ? 0 : (1u << 1);
	if (!disc) {
		/* ANA reporting, as nvmet: every state, NANAGRPID groups; the
		 * Linux host sizes its ANA log buffer from NANAGRPID and MNAN
		 * and wants 0 < MNAN <= NN */
		id->cmic |= 1u << 3;
		id->anacap = (1u << 0) | (1u << 1) | (1u << 2) | (1u << 3) | (1u << 4);
		id->anatt = NVMF_ANATT_S;
		id->anagrpmax = cpu_to_le32(CFG_MAX_ANAGRPID);
		id->nanagrpid = cpu_to_le32(CFG_MAX_ANAGRPID);
		id->mnan = cpu_to_le32(NVMF_NN);
	}
	id->mdts = (uint8_t)log2_u32(s->max_xfer / 4096);
	id->cntlid = cpu_to_le16(c->cntlid);
	id->ver = cpu_to_le32(nvmf_subsys_version(s));
	/* discovery log / NS attribute and ANA change notices */
	id->oaes = cpu_to_le32(disc ? (1u << 31) : (1u << 8) | (1u << 11));
	id->cntrltype = disc ? 2 : 1;
	id->acl = 3;
	id->aerl = NVMF_AERL - 1;
	id->frmw = 1u << 1;                         /* one slot, slot 1 read-only */
	id->lpa = 1u << 2;                          /* extended Get Log Page (LPO, NUMDU) */
	id->kas = cpu_to_le16(NVMF_KAS);
	id->sqes = 0x66;
	id->cqes = 0x44;
	id->maxcmd = cpu_to_le16(disc ? NVMF_ADMIN_QUEUE_DEPTH : NVMF_MAX_QUEUE_DEPTH);
	/* the 128-bit Host Identifier; any command counts as keep-alive
	 * traffic (ka_check looks at the last command, not at Keep Alive) */
	id->ctratt = cpu_to_le32(NVME_CTRATT_HID_128 | NVME_CTRATT_TBKAS);
	if (!disc) {
		const struct nvmf_ns_table *nt = nvmf_subsys_ns(s);
		uint16_t oncs = NVME_ONCS_COMPARE | NVME_ONCS_DSM | NVME_ONCS_WRITE_ZEROES | NVME_ONCS_RESV;

		/* ONCS is per controller: offer an optional command only when
		 * every namespace has it (the Linux host enables discard and
		 * write zeroes for all namespaces from it), while a volatile
		 * write cache on any namespace makes Flush worth sending */
		for (unsigned i = 0; i < nt->nr; i++) {
			oncs &= nt->ns[i]->oncs;
			vwc |= nt->ns[i]->vwc;
		}
		id->nn = cpu_to_le32(NVMF_NN);
		id->oncs = cpu_to_le16(oncs);
		id->vwc = vwc ? 1 : 0;
	}
	/* SGLs supported (byte aligned), offset data blocks for in-capsule;
	 * and what the queue's transport adds (keyed data blocks on RDMA) */
	id->sgls = cpu_to_le32((1u << 0) | (1u << 20) | c->admin->ops->sgls);
	snprintf(id->subnqn, sizeof(id->subnqn), "%s", s->nqn);
	id->ioccsz = cpu_to_le32((uint32_t)((sizeof(struct nvme_sqe) + (disc ? 0 : inline_size)) / 16));
	id->iorcsz = cpu_to_le32(sizeof(struct nvme_cqe) / 16);
	id->icdoff = 0;
	id->msdbd = 1;
}


struct ns_desc {
	uint8_t nidt;
	uint8_t nidl;
	uint16_t rsvd;
} __attribute__((packed));

static void exec_identify(struct nvmf_req *req)
{
	struct nvmf_ctrl *c = req->sq->ctrl;
	struct nvmf_subsys *s = c->subsys;
	uint8_t cns = le32_to_cpu(req->cmd.cdw10) & 0xff;
	uint32_t nsid = le32_to_cpu(req->cmd.nsid);
	uint8_t page[4096];
	struct nvmf_ns *ns;

	memset(page, 0, sizeof(page));
	if (cns == NVME_ID_CNS_CTRL) {
		build_id_ctrl(c, (struct nvme_id_ctrl *)page);
		complete_data(req, page, sizeof(page));
		return;
	}
	if (s->type == NVMF_SUBSYS_DISCOVERY) {
		complete_status(req, NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);
		return;
	}
	switch (cns) {
	case NVME_ID_CNS_NS:
		if (!nsid || nsid > NVMF_NN) {
			complete_status(req, NVME_SCT_GENERIC, NVME_SC_INVALID_NS);
			return;
		}
		ns = nvmf_subsys_find_ns(s, nsid);
		/* an inactive NSID reads as zeros */
		if (ns) {
			memcpy(page, &ns->id, sizeof(ns->id));
			/* a reload may have moved it to another group */
			((struct nvme_id_ns *)page)->anagrpid = cpu_to_le32(__atomic_load_n(&ns->anagrpid, __ATOMIC_RELAXED));
		}
		complete_data(req, page, sizeof(page));
		return;
	case NVME_ID_CNS_NS_ACTIVE_LIST: {
		const struct nvmf_ns_table *nt = nvmf_subsys_ns(s);
		uint32_t *list = (uint32_t *)page;
		unsigned n = 0;

		if (nsid >= 0xfffffffeu) {
			complete_status(req, NVME_SCT_GENERIC, NVME_SC_INVALID_NS);
			return;
		}
		for (unsigned i = 0; i < nt->nr && n < 1024; i++)
			if (nt->ns[i]->nsid > nsid)
				list[n++] = nt->ns[i]->nsid;
		complete_data(req, page, sizeof(page));
		return;
	}
	case NVME_ID_CNS_NS_DESC_LIST: {
		uint8_t *p = page;

		ns = nvmf_subsys_find_ns(s, nsid);
		if (!ns) {
			complete_status(req, NVME_SCT_GENERIC, NVME_SC_INVALID_NS);
			return;
		}
		*(struct ns_desc *)p = (struct ns_desc){ .nidt = 2, .nidl = 16 };   /* NGUID */
		memcpy(p + 4, ns->nguid, 16);
		p += 20;
		*(struct ns_desc *)p = (struct ns_desc){ .nidt = 3, .nidl = 16 };   /* UUID */
		memcpy(p + 4, ns->uuid, 16);
		p += 20;
		*(struct ns_desc *)p = (struct ns_desc){ .nidt = 4, .nidl = 1 };    /* CSI: NVM */
		complete_data(req, page, sizeof(page));
		return;
	}
	default:
		complete_status(req, NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);
	}
}

/* --- log pages --------------------------------------------------------------- */

/*
 * SMART / Health Information of a subsystem without a device (mem, file
 * and null namespaces), as nvmet answers it for its block devices: data
 * units (thousands of 512-byte units, rounded up) and commands read and
 * written, summed over the subsystem's namespaces from their counters;
 * everything a device would measure (temperature, spare, wear) reads 0.
 */
#define SMART_DATA_UNITS_READ    32
#define SMART_DATA_UNITS_WRITTEN 48
#define SMART_HOST_READS         64
#define SMART_HOST_WRITES        80

static void smart_log_of_counters(const struct nvmf_subsys *s, uint8_t page[512])
{
	const struct nvmf_ns_table *nt = nvmf_subsys_ns(s);
	uint64_t rd = 0, wr = 0, rb = 0, wb = 0;

	for (unsigned i = 0; i < nt->nr; i++) {
		struct nvmf_ns_counts n;

		nvmf_ns_stats_sum(nt->ns[i], s->tgt->nr_reactors, &n);
		rd += n.reads;
		wr += n.writes;
		rb += n.read_bytes;
		wb += n.write_bytes;
	}
	memset(page, 0, 512);
	/* 128-bit counters: the low 64 bits hold ours */
	put_le64(page + SMART_DATA_UNITS_READ, (rb / 512 + 999) / 1000);
	put_le64(page + SMART_DATA_UNITS_WRITTEN, (wb / 512 + 999) / 1000);
	put_le64(page + SMART_HOST_READS, rd);
	put_le64(page + SMART_HOST_WRITES, wr);
}

/* The namespace whose device answers the device logs: the first one
 * whose backend has a device (NULL: the target answers them) */
static struct nvmf_ns *subsys_log_ns(const struct nvmf_subsys *s)
{
	const struct nvmf_ns_table *nt = nvmf_subsys_ns(s);

	for (unsigned i = 0; i < nt->nr; i++)
		if (nt->ns[i]->ops->get_log)
			return nt->ns[i];
	return NULL;
}

/*
 * The ANA log page as the controller's port sees it: one descriptor per
 * group that holds a namespace of the subsystem, in group order, each with
 * its NSIDs unless RGO asks for groups only. At most CFG_MAX_ANAGRPID
 * descriptors and NVMF_NN NSIDs: NVMF_ANA_LOG_MAX bytes.
 */
#define NVMF_ANA_LOG_MAX (sizeof(struct nvme_ana_log_hdr) + \
			  CFG_MAX_ANAGRPID * sizeof(struct nvme_ana_group_desc) + NVMF_NN * sizeof(uint32_t))

static size_t build_ana_log(const struct nvmf_ctrl *c, bool rgo, uint8_t *buf)
{
	const struct nvmf_ns_table *nt = nvmf_subsys_ns(c->subsys);
	struct nvme_ana_log_hdr *h = (struct nvme_ana_log_hdr *)buf;
	uint64_t chgcnt = __atomic_load_n(&c->subsys->tgt->ana_chgcnt, __ATOMIC_RELAXED);
	size_t off = sizeof(*h);
	bool used[CFG_MAX_ANAGRPID + 1] = { false };
	uint32_t grp[NVMF_NN];

	memset(h, 0, sizeof(*h));
	h->chgcnt = cpu_to_le64(chgcnt);
	for (unsigned i = 0; i < nt->nr && i < NVMF_NN; i++) {
		grp[i] = __atomic_load_n(&nt->ns[i]->anagrpid, __ATOMIC_RELAXED);
		used[grp[i]] = true;
	}
	for (uint32_t g = 1; g <= CFG_MAX_ANAGRPID; g++) {
		struct nvme_ana_group_desc *d = (struct nvme_ana_group_desc *)(buf + off);

		if (!used[g])
			continue;
		memset(d, 0, sizeof(*d));
		d->grpid = cpu_to_le32(g);
		d->chgcnt = cpu_to_le64(chgcnt);
		d->state = nvmf_port_ana_state(c->port, g);
		off += sizeof(*d);
		for (unsigned i = 0; !rgo && i < nt->nr && i < NVMF_NN; i++) {
			if (grp[i] != g)
				continue;
			put_le32(buf + off, nt->ns[i]->nsid);     /* the table is sorted */
			off += sizeof(uint32_t);
			d->nnsids = cpu_to_le32(le32_to_cpu(d->nnsids) + 1);
		}
		h->ngrps = cpu_to_le16(le16_to_cpu(h->ngrps) + 1);
	}
	return off;
}

static void exec_get_log(struct nvmf_req *req)
{
	struct nvmf_ctrl *c = req->sq->ctrl;
	struct nvmf_subsys *s = c->subsys;
	uint8_t lid = le32_to_cpu(req->cmd.cdw10) & 0xff;
	uint64_t numd = ((uint64_t)(le32_to_cpu(req->cmd.cdw11) & 0xffff) << 16 | (le32_to_cpu(req->cmd.cdw10) >> 16)) + 1;
	uint64_t lpo = le32_to_cpu(req->cmd.cdw12) | (uint64_t)le32_to_cpu(req->cmd.cdw13) << 32;
	uint64_t len = numd * 4;
	struct nvmf_ns *ns;

	if (len > req->len || req->xfer != NVMF_XFER_C2H || (lpo & 3)) {
		complete_status(req, NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);
		return;
	}
	if (s->type == NVMF_SUBSYS_DISCOVERY) {
		if (lid != NVME_LOG_DISCOVERY) {
			complete_status(req, NVME_SCT_CMD_SPECIFIC, NVME_SC_INVALID_LOG_PAGE);
			return;
		}
		nvmf_discovery_log(c, req->buf, lpo, (uint32_t)len);
		nvmf_req_complete(req, 0);
		return;
	}
	switch (lid) {
	case 0x01:      /* error information */
	case 0x02:      /* SMART / health */
	case 0x03:      /* firmware slot */
		ns = subsys_log_ns(s);
		if (ns) {
			ns->ops->get_log(ns, req);
			return;
		}
		{
			uint8_t page[512] = { 0 };

			if (lid == 0x02) {
				smart_log_of_counters(s, page);
			} else if (lid == 0x03) {
				/* slot 1 active, holding what Identify FR says */
				page[0] = 1;
				pad_copy((char *)page + 8, 8,
					 s->cfg && s->cfg->firmware[0] ? s->cfg->firmware : NVMF_FR_DEFAULT);
			}
			/* error information: no entries */
			complete_data(req, page, sizeof(page));
		}
		return;
	case 0x04: {    /* changed namespace list */
		le32 list[1024] = { 0 };

		if (c->nr_changed_ns > 1024)
			list[0] = cpu_to_le32(0xffffffffu);
		else
			for (unsigned i = 0; i < c->nr_changed_ns; i++)
				list[i] = cpu_to_le32(c->changed_ns[i]);
		if (!(le32_to_cpu(req->cmd.cdw10) & (1u << 15)))     /* RAE clear: reading consumes it */
			c->nr_changed_ns = 0;
		if (lpo >= sizeof(list))
			complete_status(req, NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);
		else
			complete_data(req, (uint8_t *)list + lpo, sizeof(list) - lpo);
		return;
	}
	case NVME_LOG_ANA: {
		static_assert(NVMF_ANA_LOG_MAX <= 16384, "the ANA log fits on the stack");
		uint8_t ana[NVMF_ANA_LOG_MAX];
		size_t n = build_ana_log(c, le32_to_cpu(req->cmd.cdw10) & NVME_LOG_ANA_LSP_RGO, ana);

		if (lpo >= n)
			complete_status(req, NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);
		else
			complete_data(req, ana + lpo, n - lpo);
		return;
	}
	case NVME_LOG_RESV_NOTIFY: {    /* reservation notification: one page consumed */
		uint8_t page[64];

		if (lpo >= sizeof(page)) {
			complete_status(req, NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);
			return;
		}
		nvmf_resv_log_read(c, page, le32_to_cpu(req->cmd.cdw10) & (1u << 15));
		complete_data(req, page + lpo, sizeof(page) - lpo);
		return;
	}
	default:
		complete_status(req, NVME_SCT_CMD_SPECIFIC, NVME_SC_INVALID_LOG_PAGE);
	}
}

/* --- features ------------------------------------------------------------------ */

static void exec_features(struct nvmf_req *req, bool set)
{
	struct nvmf_ctrl *c = req->sq->ctrl;
	uint8_t fid = le32_to_cpu(req->cmd.cdw10) & 0xff;
	uint32_t v = le32_to_cpu(req->cmd.cdw11);

	switch (fid) {
	case NVME_FEAT_NUM_QUEUES:
		if (set) {
			unsigned want = (v & 0xffff) + 1u, wantc = (v >> 16) + 1u;

			if ((v & 0xffff) == 0xffff || (v >> 16) == 0xffff) {
				complete_status(req, NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);
				return;
			}
			/* only before any I/O queue exists (NVMe 2.0 5.27.1.7) */
			for (unsigned i = 1; i <= NVMF_MAX_IO_QUEUES; i++) {
				if (c->io[i]) {
					complete_status(req, NVME_SCT_GENERIC, NVME_SC_CMD_SEQ_ERROR);
					return;
				}
			}
			if (wantc < want)
				want = wantc;
			if (want > nvmf_ctrl_max_io_queues(c))
				want = nvmf_ctrl_max_io_queues(c);
			c->nr_io_queues = want;
		}
		req->rsp.dw0 = cpu_to_le32((c->nr_io_queues - 1u) | ((c->nr_io_queues - 1u) << 16));
		break;
	case NVME_FEAT_KATO:
		if (set) {
			c->kato_ms = v;
			reactor_timer_stop(&c->reactor->r, &c->ka_timer);
			c->last_ka_ns = reactor_now_ns();
		}
		req->rsp.dw0 = cpu_to_le32(c->kato_ms);
		break;
	case NVME_FEAT_ASYNC_EVENT:
		if (set)
			c->aen_cfg = v;
		req->rsp.dw0 = cpu_to_le32(c->aen_cfg);
		break;
	case NVME_FEAT_VOLATILE_WC:
		if (set) {
			complete_status(req, NVME_SCT_CMD_SPECIFIC, NVME_SC_FEATURE_NOT_CHANGEABLE);
			return;
		}
		{
			const struct nvmf_ns_table *nt = nvmf_subsys_ns(c->subsys);
			bool vwc = false;

			for (unsigned i = 0; i < nt->nr; i++)
				vwc |= nt->ns[i]->vwc;
			req->rsp.dw0 = cpu_to_le32(vwc);
		}
		break;
	case NVME_FEAT_RESV_MASK:
	case NVME_FEAT_RESV_PERSIST: {
		uint16_t st = nvmf_resv_feature(req, set);

		if (st) {
			nvmf_req_complete(req, st);
			return;
		}
		break;
	}
	case NVME_FEAT_HOST_ID:
		if (set) {
			/* fixed by Connect for fabrics controllers */
			complete_status(req, NVME_SCT_GENERIC, NVME_SC_CMD_SEQ_ERROR);
			return;
		}
		if (!(v & 1u)) {        /* only the 128-bit host identifier */
			complete_status(req, NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);
			return;
		}
		complete_data(req, c->hostid, sizeof(c->hostid));
		return;
	default:
		complete_status(req, NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);
		return;
	}
	if (set && fid == NVME_FEAT_KATO && c->kato_ms) {
		uint64_t period = c->kato_ms / 2 ? c->kato_ms / 2 : 1;

		nvmf_ctrl_arm_keepalive(c, period);
	}
	nvmf_req_complete(req, 0);
}

/* --- async events ----------------------------------------------------------------- */

static void aen_deliver(struct nvmf_ctrl *c)
{
	while (c->pending_aen && c->nr_aer) {
		struct nvmf_req *req = c->aer[--c->nr_aer];
		uint32_t ev = c->pending_aen & (~c->pending_aen + 1);   /* lowest pending */

		c->pending_aen &= ~ev;
		/* type notice (2) or I/O command specific (6), the event, the log page that tells more */
		req->rsp.dw0 = cpu_to_le32(ev == NVMF_AEN_NS ? (0x2u | (0x00u << 8) | (0x04u << 16))      /* NS attribute changed */
			     : ev == NVMF_AEN_ANA ? (0x2u | (0x03u << 8) | (NVME_LOG_ANA << 16))  /* ANA change */
			     : ev == NVMF_AEN_DISC ? (0x2u | (0xf0u << 8) | (0x70u << 16))       /* discovery log changed */
						   : (0x6u | (0x00u << 8) | (0x80u << 16)));      /* reservation log page */
		nvmf_req_complete(req, 0);
	}
}

void nvmf_ctrl_aen_ns_changed(struct nvmf_ctrl *c, uint32_t nsid)
{
	if (c->nr_changed_ns < 1024)
		c->changed_ns[c->nr_changed_ns] = nsid;
	c->nr_changed_ns++;
	if (c->aen_cfg & (1u << 8)) {
		c->pending_aen |= NVMF_AEN_NS;
		aen_deliver(c);
	}
}

void nvmf_ctrl_aen_disc_changed(struct nvmf_ctrl *c)
{
	if (c->aen_cfg & (1u << 31)) {
		c->pending_aen |= NVMF_AEN_DISC;
		aen_deliver(c);
	}
}

void nvmf_ctrl_aen_ana_changed(struct nvmf_ctrl *c)
{
	if (c->aen_cfg & (1u << 11)) {
		c->pending_aen |= NVMF_AEN_ANA;
		aen_deliver(c);
	}
}

/* I/O command specific: no enable bit in Async Event Configuration */
void nvmf_ctrl_aen_resv(struct nvmf_ctrl *c)
{
	c->pending_aen |= NVMF_AEN_RESV;
	aen_deliver(c);
}

static void exec_aer(struct nvmf_req *req)
{
	struct nvmf_ctrl *c = req->sq->ctrl;

	if (c->nr_aer >= NVMF_AERL) {
		complete_status(req, NVME_SCT_CMD_SPECIFIC, NVME_SC_ASYNC_LIMIT);
		return;
	}
	c->aer[c->nr_aer++] = req;      /* completes when an event happens */
	aen_deliver(c);
}

void nvmf_exec_admin(struct nvmf_req *req)
{
	struct nvmf_ctrl *c = req->sq->ctrl;
	bool disc = c->subsys->type == NVMF_SUBSYS_DISCOVERY;

	if (!(c->csts & NVME_CSTS_RDY)) {
		complete_status(req, NVME_SCT_GENERIC, NVME_SC_CMD_SEQ_ERROR);
		return;
	}
	switch (req->cmd.opc) {
	case NVME_ADM_IDENTIFY:
		exec_identify(req);
		return;
	case NVME_ADM_GET_LOG_PAGE:
		exec_get_log(req);
		return;
	case NVME_ADM_SET_FEATURES:
		exec_features(req, true);
		return;
	case NVME_ADM_GET_FEATURES:
		exec_features(req, false);
		return;
	case NVME_ADM_KEEP_ALIVE:
		nvmf_req_complete(req, 0);
		return;
	case NVME_ADM_ASYNC_EVENT:
		exec_aer(req);
		return;
	case NVME_ADM_ABORT:
		if (disc)
			break;
		req->rsp.dw0 = cpu_to_le32(1);       /* not aborted: commands here are never stuck in a queue */
		nvmf_req_complete(req, 0);
		return;
	default:
		/* format, namespace management and attachment, firmware,
		 * sanitize, security, self-test, queue management, vendor
		 * commands: would change or bypass the exported device */
		break;
	}
	complete_status(req, NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE);
}
