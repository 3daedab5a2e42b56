/* SPDX-License-Identifier: MIT */
/*
 * Fabrics commands: Connect (admin and I/O), Property Get and Set, and the
 * controller enable/shutdown state machine behind CC and CSTS.
 */
#define LOG_TAG "fabrics"
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "nvme/auth.h"
#include "nvme/regs.h"
#include "target/target.h"

/* Connect failed because of a field: DW0 carries its offset (IPO) and
 * whether it is in the SQE or the connect data (IATTR bit 0). */
static void connect_invalid(struct nvmf_req *req, bool in_data, uint16_t offset)
{
	req->rsp.dw0 = cpu_to_le32(offset | (in_data ? NVMF_CONNECT_IATTR_DATA : 0));
	nvmf_req_complete(req, nvmf_status_dnr(NVME_SCT_CMD_SPECIFIC, NVMF_SC_CONNECT_INVALID_PARAM));
}

static uint64_t ctrl_cap(const struct nvmf_ctrl *c)
{
	uint64_t mqes = c->subsys->type == NVMF_SUBSYS_DISCOVERY ? NVMF_ADMIN_QUEUE_DEPTH - 1
								  : NVMF_MAX_QUEUE_DEPTH - 1;

	return mqes | (1ull << 16) /* CQR */ | (15ull << 24) /* TO 7.5 s */ |
	       ((uint64_t)NVME_CAP_CSS_NVM << 37);
}

static void ka_check(void *arg)
{
	struct nvmf_ctrl *c = arg;
	struct nvmf_tgt *t = c->subsys->tgt;
	uint64_t last = __atomic_load_n(&c->last_ka_ns, __ATOMIC_RELAXED);
	uint64_t now = reactor_now_ns();
	uint64_t idle_ms = now > last ? (now - last) / 1000000u : 0;

	if (c->auth && c->admin && !c->admin->authed && now > c->auth_deadline_ns) {
		pthread_mutex_lock(&t->lock);
		log_warn("controller %u of %s: host %s did not authenticate in time (connect_timeout_ms %u)",
			 c->cntlid, c->subsys->nqn, c->hostnqn, t->limits.connect_timeout_ms);
		nvmf_count_refused(t, NVMF_REFUSE_CONNECT_TIMEOUT);
		nvmf_ctrl_destroy(c);
		pthread_mutex_unlock(&t->lock);
		return;
	}
	if (!c->kato_ms || idle_ms <= c->kato_ms)
		return;
	pthread_mutex_lock(&t->lock);
	log_warn("controller %u of %s: keep-alive timeout (%llu ms without traffic, KATO %u ms), host %s",
		 c->cntlid, c->subsys->nqn, (unsigned long long)idle_ms, c->kato_ms, c->hostnqn);
	__atomic_add_fetch(&t->ka_expired, 1, __ATOMIC_RELAXED);
	nvmf_ctrl_destroy(c);
	pthread_mutex_unlock(&t->lock);
}

/* check at half the timeout so expiry is detected within 1.5 KATO; a
 * host that must authenticate is checked against connect_timeout_ms too */
static uint64_t keepalive_period_ms(const struct nvmf_ctrl *c, const struct nvmf_tgt *t)
{
	uint64_t p = c->kato_ms ? c->kato_ms / 2 : UINT32_MAX;

	if (c->auth && t->limits.connect_timeout_ms / 2 < p)
		p = t->limits.connect_timeout_ms / 2;
	return p ? p : 1;
}

void nvmf_ctrl_arm_keepalive(struct nvmf_ctrl *c, uint64_t period_ms)
{
	reactor_timer_start(&c->reactor->r, &c->ka_timer, period_ms, period_ms, ka_check, c);
}

static bool cntlid_in_use(const struct nvmf_subsys *s, uint16_t id)
{
	for (const struct nvmf_ctrl *c = s->ctrls; c; c = c->next)
		if (c->cntlid == id)
			return true;
	return false;
}

static int alloc_cntlid(struct nvmf_subsys *s)
{
	uint16_t lo = s->cfg ? s->cfg->cntlid_min : 1, hi = s->cfg ? s->cfg->cntlid_max : 0xffef;

	if (!lo)
		lo = 1;
	if (!hi || hi > 0xffef)
		hi = 0xffef;
	for (unsigned tries = 0; tries <= (unsigned)(hi - lo); tries++) {
		uint16_t id = s->next_cntlid;

		if (id < lo || id > hi)
			id = lo;
		s->next_cntlid = (uint16_t)(id == hi ? lo : id + 1);
		if (!cntlid_in_use(s, id))
			return id;
	}
	return -1;
}

/* Live controllers of one host NQN, in every subsystem (tgt->lock held) */
static unsigned ctrls_of_host(const struct nvmf_tgt *t, const char *hostnqn)
{
	unsigned n = 0;

	for (unsigned i = 0; i <= t->nr_subsys; i++) {
		const struct nvmf_subsys *s = i < t->nr_subsys ? t->subsys[i] : t->disc;

		for (const struct nvmf_ctrl *c = s->ctrls; c; c = c->next)
			n += !c->dying && !strcmp(c->hostnqn, hostnqn);
	}
	return n;
}

/* The queue joins controller c as queue qid, as the Connect asks: what a
 * connected queue needs, then the transport's own allocation. 0, or the
 * status that refuses the Connect (the queue is then not joined). */
static uint16_t queue_attach(struct nvmf_sq *sq, struct nvmf_ctrl *c, uint16_t qid, const struct nvmf_connect_cmd *cmd)
{
	sq->ctrl = c;
	sq->qid = qid;
	sq->size = (uint16_t)(le16_to_cpu(cmd->sqsize) + 1);
	sq->sqflow_off = !!(cmd->cattr & NVMF_CATTR_DISSQFC);
	sq->authed = !c->auth;
	if (!sq->st)
		sq->st = calloc(1, sizeof(*sq->st));
	if (!sq->st || (sq->ops->queue_connected && sq->ops->queue_connected(sq))) {
		sq->ctrl = NULL;
		return NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVMF_SC_CONNECT_CTRL_BUSY);
	}
	return 0;
}

static void connect_admin(struct nvmf_req *req, struct nvmf_subsys *s, const struct nvmf_connect_data *d,
			  const struct nvmf_connect_cmd *cmd)
{
	struct nvmf_sq *sq = req->sq;
	struct nvmf_tgt *t = s->tgt;
	struct nvmf_ctrl *c;
	uint16_t st;
	int id;

	if (le16_to_cpu(d->cntlid) != 0xffff) {
		/* dynamic controller model only */
		connect_invalid(req, true, offsetof(struct nvmf_connect_data, cntlid));
		return;
	}
	if ((uint32_t)le16_to_cpu(cmd->sqsize) + 1 > NVMF_ADMIN_QUEUE_DEPTH) {
		connect_invalid(req, false, offsetof(struct nvmf_connect_cmd, sqsize));
		return;
	}
	if (ctrls_of_host(t, d->hostnqn) >= t->limits.max_ctrls_per_host) {
		log_peer_notice(sq->peer_ip, "host %s already has %u controllers (max_controllers_per_host): "
			       "Connect to %s refused", d->hostnqn, t->limits.max_ctrls_per_host, s->nqn);
		nvmf_count_refused(t, NVMF_REFUSE_HOST_CTRL_CAP);
		nvmf_req_complete(req, NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVMF_SC_CONNECT_CTRL_BUSY));
		return;
	}
	id = alloc_cntlid(s);
	c = calloc(1, sizeof(*c) + t->nr_reactors * sizeof(c->bufs[0]));
	if (id < 0 || !c) {
		free(c);
		nvmf_req_complete(req, NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVMF_SC_CONNECT_CTRL_BUSY));
		return;
	}
	c->subsys = s;
	c->port = sq->port;
	c->cntlid = (uint16_t)id;
	memcpy(c->hostnqn, d->hostnqn, sizeof(c->hostnqn) - 1);
	memcpy(c->hostid, d->hostid, sizeof(c->hostid));
	c->kato_ms = le32_to_cpu(cmd->kato);
	if (!c->kato_ms && s->type == NVMF_SUBSYS_DISCOVERY)
		c->kato_ms = NVMF_DISC_KATO_MS;
	c->auth = nvmf_auth_needed(s, c->hostnqn);
	c->auth_deadline_ns = reactor_now_ns() + (uint64_t)t->limits.connect_timeout_ms * 1000000u;
	c->nr_io_queues = nvmf_ctrl_max_io_queues(c);
	c->admin = sq;
	c->reactor = sq->reactor ? sq->reactor : &s->tgt->reactors[0];
	c->last_ka_ns = reactor_now_ns();
	snprintf(c->traddr, sizeof(c->traddr), "%s", sq->local_addr);
	st = queue_attach(sq, c, 0, cmd);
	if (st) {
		free(c);
		nvmf_req_complete(req, st);
		return;
	}
	if (s->type != NVMF_SUBSYS_DISCOVERY)
		c->hstats = nvmf_host_stats_get(s, c->hostnqn, sq->port);
	c->next = s->ctrls;
	s->ctrls = c;
	if (c->kato_ms || c->auth)
		nvmf_ctrl_arm_keepalive(c, keepalive_period_ms(c, t));
	log_peer_info(sq->peer_ip, "controller %u of %s for host %s (kato %u ms%s)", c->cntlid, s->nqn, c->hostnqn,
		      c->kato_ms, c->auth ? ", DH-HMAC-CHAP" : "");
	req->rsp.dw0 = cpu_to_le32(c->cntlid | (c->auth ? NVMF_CONNECT_AUTHREQ_ATR : 0));
	nvmf_req_complete(req, 0);
}

static void connect_io(struct nvmf_req *req, struct nvmf_subsys *s, const struct nvmf_connect_data *d,
		       const struct nvmf_connect_cmd *cmd)
{
	struct nvmf_sq *sq = req->sq;
	struct nvmf_ctrl *c;
	uint16_t st;

	if (s->type == NVMF_SUBSYS_DISCOVERY) {
		/* a discovery controller has an admin queue only */
		nvmf_req_complete(req, nvmf_status_dnr(NVME_SCT_CMD_SPECIFIC, NVME_SC_QID_INVALID));
		return;
	}
	for (c = s->ctrls; c; c = c->next)
		if (c->cntlid == le16_to_cpu(d->cntlid) && !c->dying)
			break;
	/* the I/O queue must join the association of the same host */
	if (!c || strncmp(c->hostnqn, d->hostnqn, sizeof(d->hostnqn)) ||
	    memcmp(c->hostid, d->hostid, sizeof(d->hostid))) {
		connect_invalid(req, true, offsetof(struct nvmf_connect_data, cntlid));
		return;
	}
	if (!(c->csts & NVME_CSTS_RDY)) {
		nvmf_req_complete(req, nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_CMD_SEQ_ERROR));
		return;
	}
	/* I/O queues (and their DH exchanges) only for a host that proved
	 * itself on the admin queue */
	if (c->auth && (!c->admin || !c->admin->authed)) {
		nvmf_req_complete(req, nvmf_status_dnr(NVME_SCT_CMD_SPECIFIC, NVMF_SC_AUTH_REQUIRED));
		return;
	}
	if (le16_to_cpu(cmd->qid) > c->nr_io_queues || c->io[le16_to_cpu(cmd->qid)]) {
		nvmf_req_complete(req, nvmf_status_dnr(NVME_SCT_CMD_SPECIFIC, NVME_SC_QID_INVALID));
		return;
	}
	if ((uint32_t)le16_to_cpu(cmd->sqsize) + 1 > NVMF_MAX_QUEUE_DEPTH) {
		connect_invalid(req, false, offsetof(struct nvmf_connect_cmd, sqsize));
		return;
	}
	st = queue_attach(sq, c, le16_to_cpu(cmd->qid), cmd);
	if (st) {
		nvmf_req_complete(req, st);
		return;
	}
	c->io[le16_to_cpu(cmd->qid)] = sq;
	req->rsp.dw0 = cpu_to_le32(c->cntlid | (c->auth ? NVMF_CONNECT_AUTHREQ_ATR : 0));
	nvmf_req_complete(req, 0);
}

static void exec_connect(struct nvmf_req *req)
{
	const struct nvmf_connect_cmd *cmd = (const void *)&req->cmd;
	struct nvmf_connect_data *d = req->buf;
	struct nvmf_sq *sq = req->sq;
	struct nvmf_subsys *s;

	if (sq->ctrl) {
		/* a queue connects once */
		nvmf_req_complete(req, nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_CMD_SEQ_ERROR));
		return;
	}
	if (cmd->recfmt != 0) {
		nvmf_req_complete(req, nvmf_status_dnr(NVME_SCT_CMD_SPECIFIC,
						       NVMF_SC_CONNECT_INCOMPATIBLE_FORMAT));
		return;
	}
	if (!d || req->len < sizeof(*d)) {
		nvmf_req_complete(req, nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_DATA));
		return;
	}
	if (le16_to_cpu(cmd->sqsize) == 0) {
		connect_invalid(req, false, offsetof(struct nvmf_connect_cmd, sqsize));
		return;
	}
	/* NQNs must be NUL-terminated inside their 256-byte fields */
	d->subnqn[NVMF_NQN_FIELD_LEN - 1] = 0;
	d->hostnqn[NVMF_NQN_FIELD_LEN - 1] = 0;
	/* the Host Identifier is mandatory on fabrics (NVMe-oF 1.1 3.3.1;
	 * nvmet refuses a null one too) */
	if (!memcmp(d->hostid, (const uint8_t[16]){ 0 }, sizeof(d->hostid))) {
		log_peer_notice(sq->peer_ip, "connect from %.223s with a null Host Identifier refused", d->hostnqn);
		connect_invalid(req, true, offsetof(struct nvmf_connect_data, hostid));
		return;
	}
	/* over TLS the PSK identity named the host and the subsystem: a
	 * Connect for anything else is refused (as nvmet) */
	if (sq->tls && (strcmp(d->hostnqn, sq->tls->hostnqn) || strcmp(d->subnqn, sq->tls->subnqn))) {
		log_peer_notice(sq->peer_ip, "connect from %.223s to %.223s over a TLS connection made for %s and %s: refused",
				d->hostnqn, d->subnqn, sq->tls->hostnqn, sq->tls->subnqn);
		nvmf_count_refused(sq->port->tgt, NVMF_REFUSE_HOST_NOT_ALLOWED);
		req->rsp.dw0 = cpu_to_le32(offsetof(struct nvmf_connect_data, hostnqn) | NVMF_CONNECT_IATTR_DATA);
		nvmf_req_complete(req, nvmf_status_dnr(NVME_SCT_CMD_SPECIFIC, NVMF_SC_CONNECT_INVALID_HOST));
		return;
	}
	s = nvmf_tgt_find_subsys(sq->port->tgt, d->subnqn);
	if (!s || !nvmf_port_has_subsys(sq->port, s)) {
		log_peer_notice(sq->peer_ip, "connect from %.223s to unknown subsystem %.223s on port %u", d->hostnqn,
				d->subnqn, sq->port->portid);
		nvmf_count_refused(sq->port->tgt, NVMF_REFUSE_UNKNOWN_SUBSYS);
		connect_invalid(req, true, offsetof(struct nvmf_connect_data, subnqn));
		return;
	}
	if (!nvmf_subsys_host_allowed(s, d->hostnqn)) {
		log_peer_notice(sq->peer_ip, "host %.223s not allowed on %s", d->hostnqn, s->nqn);
		nvmf_count_refused(sq->port->tgt, NVMF_REFUSE_HOST_NOT_ALLOWED);
		req->rsp.dw0 = cpu_to_le32(offsetof(struct nvmf_connect_data, hostnqn) | NVMF_CONNECT_IATTR_DATA);
		nvmf_req_complete(req, nvmf_status_dnr(NVME_SCT_CMD_SPECIFIC, NVMF_SC_CONNECT_INVALID_HOST));
		return;
	}
	if (s->cfg && s->cfg->require_auth && !nvmf_auth_needed(s, d->hostnqn)) {
		log_peer_notice(sq->peer_ip, "host %.223s has no DH-HMAC-CHAP key but %s requires authentication",
				d->hostnqn, s->nqn);
		nvmf_count_refused(sq->port->tgt, NVMF_REFUSE_HOST_NOT_ALLOWED);
		req->rsp.dw0 = cpu_to_le32(offsetof(struct nvmf_connect_data, hostnqn) | NVMF_CONNECT_IATTR_DATA);
		nvmf_req_complete(req, nvmf_status_dnr(NVME_SCT_CMD_SPECIFIC, NVMF_SC_CONNECT_INVALID_HOST));
		return;
	}
	if (le16_to_cpu(cmd->qid) == 0)
		connect_admin(req, s, d, cmd);
	else
		connect_io(req, s, d, cmd);
}

static void cc_write(struct nvmf_ctrl *c, uint32_t new_cc)
{
	uint32_t old = c->cc;

	c->cc = new_cc;
	if ((new_cc & NVME_CC_EN) && !(old & NVME_CC_EN)) {
		if (NVME_CC_GET_IOSQES(new_cc) != 6 || NVME_CC_GET_IOCQES(new_cc) != 4 ||
		    NVME_CC_GET_MPS(new_cc) != 0) {
			log_warn("controller %u: CC 0x%x has unsupported queue entry or page size", c->cntlid, new_cc);
			c->csts |= NVME_CSTS_CFS;
			return;
		}
		c->csts = (c->csts & ~NVME_CSTS_SHST_MASK) | NVME_CSTS_RDY;
	} else if (!(new_cc & NVME_CC_EN) && (old & NVME_CC_EN)) {
		c->csts &= ~(NVME_CSTS_RDY | NVME_CSTS_SHST_MASK);
	}
	if ((new_cc & NVME_CC_SHN_MASK) && !(old & NVME_CC_SHN_MASK)) {
		/* nothing cached to write back here: the backends complete
		 * writes before answering, so shutdown completes at once */
		c->csts = (c->csts & ~NVME_CSTS_SHST_MASK) | NVME_CSTS_SHST_CMPLT;
	}
}

static void exec_property(struct nvmf_req *req, bool set)
{
	const struct nvmf_property_cmd *cmd = (const void *)&req->cmd;
	struct nvmf_ctrl *c = req->sq->ctrl;
	bool wide = (cmd->attrib & 7u) == 1;
	uint64_t v;

	if (!c || req->sq->qid != 0) {
		nvmf_req_complete(req, nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_CMD_SEQ_ERROR));
		return;
	}
	if ((cmd->attrib & 7u) > 1)
		goto invalid;
	if (set) {
		if (le32_to_cpu(cmd->ofst) != NVME_REG_CC || wide)
			goto invalid;
		cc_write(c, (uint32_t)le64_to_cpu(cmd->value));
		nvmf_req_complete(req, 0);
		return;
	}
	switch (le32_to_cpu(cmd->ofst)) {
	case NVME_REG_CAP:
		v = ctrl_cap(c);
		if (!wide)
			v &= 0xffffffffu;
		break;
	case NVME_REG_CAP + 4:          /* upper half by a 4-byte read, as SPDK allows */
		if (wide)
			goto invalid;
		v = ctrl_cap(c) >> 32;
		break;
	case NVME_REG_VS:
		v = nvmf_subsys_version(c->subsys);
		break;
	case NVME_REG_CC:
		v = c->cc;
		break;
	case NVME_REG_CSTS:
		v = c->csts;
		break;
	default:
		goto invalid;
	}
	if (wide && le32_to_cpu(cmd->ofst) != NVME_REG_CAP)
		goto invalid;
	req->rsp.dw0 = cpu_to_le32((uint32_t)v);
	req->rsp.dw1 = cpu_to_le32((uint32_t)(v >> 32));
	nvmf_req_complete(req, 0);
	return;
invalid:
	nvmf_req_complete(req, nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD));
}

void nvmf_exec_fabrics(struct nvmf_req *req)
{
	const struct nvmf_connect_cmd *cmd = (const void *)&req->cmd;

	switch (cmd->fctype) {
	case NVMF_FCTYPE_CONNECT:
		exec_connect(req);
		return;
	case NVMF_FCTYPE_PROPERTY_GET:
		exec_property(req, false);
		return;
	case NVMF_FCTYPE_PROPERTY_SET:
		exec_property(req, true);
		return;
	case NVMF_FCTYPE_AUTH_SEND:
		nvmf_exec_auth_send(req);
		return;
	case NVMF_FCTYPE_AUTH_RECV:
		nvmf_exec_auth_recv(req);
		return;
	default:
		/* disconnect is not supported */
		nvmf_req_complete(req, nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE));
	}
}
