/* SPDX-License-Identifier: MIT */
/* The unit tests' harness for the target core: see tgt_harness.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/tgt_harness.h"

struct tenv E;
char tgt_cfg_name[256] = "t.json";
const uint8_t hostid_a[16] = { 0x0f, 0x0e, 0x0d, 0x0c, 0x0b, 0x0a, 0x09, 0x08,
			       0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, 0x00 };
const uint8_t hostid_b[16] = { 0x11, 0x11, 0x11, 0x11, 0x22, 0x22, 0x33, 0x33,
			       0x44, 0x44, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55 };
const uint8_t hostid_c[16] = { 0x99, 0x99, 0x99, 0x99, 0x88, 0x88, 0x77, 0x77,
			       0x66, 0x66, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55 };
static unsigned wake_seq;

uint16_t gen(uint8_t sc)
{
	return nvmf_status_dnr(NVME_SCT_GENERIC, sc);
}

uint16_t spec(uint8_t sc)
{
	return nvmf_status_dnr(NVME_SCT_CMD_SPECIFIC, sc);
}

void fake_complete(struct nvmf_req *req)
{
	struct treq *r = (struct treq *)req;
	struct tq *q = (struct tq *)req->sq;

	r->completions++;
	q->completions++;
	q->last = req->rsp;
}

void fake_disconnect(struct nvmf_sq *sq)
{
	((struct tq *)sq)->disconnects++;
}

void fake_req_drop(struct nvmf_req *req)
{
	((struct treq *)req)->drops++;
}

void fake_buf_available(struct nvmf_sq *sq)
{
	((struct tq *)sq)->buf_wakeups++;
	((struct tq *)sq)->wake_order = ++wake_seq;
}

char *dq(const char *s)
{
	char *r = strdup(s);

	assert_non_null(r);
	for (char *p = r; *p; p++)
		if (*p == '\'')
			*p = '"';
	return r;
}

void env_up(const char *json)
{
	char err[512] = "";
	char *j = dq(json);
	int rc;

	rc = config_parse(j, tgt_cfg_name, &E.cfg, err, sizeof(err));
	free(j);
	if (rc)
		fail_msg("config_parse: %d %s", rc, err);
	rc = nvmf_tgt_init(&E.t, E.cfg, err, sizeof(err));
	if (rc)
		fail_msg("nvmf_tgt_init: %d %s", rc, err);
	E.tgt_up = true;
}

void tq_destroy(struct tq *q)
{
	if (!q->destroyed) {
		q->destroyed = true;
		nvmf_sq_destroy(&q->sq);
	}
}

void put(struct treq *r)
{
	for (struct treq **pp = &E.reqs; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
	if (r->req.buf)
		nvmf_buf_put(&E.t, r->req.buf);
	free(r);
}

int env_down(void **state)
{
	(void)state;
	/* the transport closes every connection: I/O queues first here,
	 * then the admin queues (either order must work) */
	for (struct tq *q = E.queues; q; q = q->next)
		if (q->sq.qid)
			tq_destroy(q);
	for (struct tq *q = E.queues; q; q = q->next)
		tq_destroy(q);
	/* requests the core still held (AERs) belong to the transport */
	while (E.reqs)
		put(E.reqs);
	while (E.queues) {
		struct tq *q = E.queues;

		E.queues = q->next;
		nvmf_sq_fini(&q->sq);
		free(q);
	}
	if (E.tgt_up)
		nvmf_tgt_fini(&E.t);
	if (E.cfg)
		config_free(E.cfg);
	memset(&E, 0, sizeof(E));
	return 0;
}

struct nvmf_port *port_by_id(uint16_t portid)
{
	for (unsigned i = 0; i < E.t.nr_ports; i++)
		if (E.t.ports[i]->cfg && E.t.ports[i]->portid == portid)
			return E.t.ports[i];
	fail_msg("no port %u", portid);
	return NULL;
}

struct tq *tq_on(struct nvmf_port *p, const char *local)
{
	struct tq *q = calloc(1, sizeof(*q));

	assert_non_null(q);
	q->sq.port = p;
	q->sq.ops = &fake_ops;
	q->sq.tconn = q;
	q->sq.reactor = &E.t.reactors[0];        /* the test thread runs reactor 0 */
	snprintf(q->sq.local_addr, sizeof(q->sq.local_addr), "%s", local);
	q->next = E.queues;
	E.queues = q;
	return q;
}

struct tq *tq_new(uint16_t portid)
{
	return tq_on(port_by_id(portid), "127.0.0.1");
}

uint32_t max_icd(const struct tq *q)
{
	uint32_t inl = q->sq.port->inline_data_size;

	if (q->sq.ctrl && q->sq.qid)
		return inl;
	return ADMIN_ICD > inl ? ADMIN_ICD : inl;
}

struct treq *exec_raw(struct tq *q, const struct nvme_sqe *cmd, const void *icd, uint32_t icd_len,
			     const void *h2c, uint32_t h2c_len)
{
	struct treq *r = calloc(1, sizeof(*r));
	uint16_t st;

	assert_non_null(r);
	r->next = E.reqs;
	E.reqs = r;
	r->req.sq = &q->sq;
	r->req.cmd = *cmd;
	r->req.tpriv = r;
	if (icd_len || cmd->dptr.sgl.length) {
		r->req.buf = nvmf_buf_get(&E.t, &r->req.buf_iova);
		assert_non_null(r->req.buf);
		memset(r->req.buf, 0xa5, E.t.max_xfer);    /* poison: data must be written */
	}
	if (icd_len)
		memcpy(r->req.buf, icd, icd_len);
	st = nvmf_req_prepare(&r->req, icd_len, max_icd(q));
	if (st) {
		nvmf_req_complete(&r->req, st);
		return r;
	}
	if (r->req.xfer == NVMF_XFER_H2C && !icd_len && h2c)
		memcpy(r->req.buf, h2c, h2c_len < r->req.len ? h2c_len : r->req.len);
	nvmf_req_execute(&r->req);
	return r;
}

uint16_t status_of(const struct treq *r)
{
	assert_int_equal(r->completions, 1);
	assert_int_equal(r->req.rsp.cid, r->req.cmd.cid);
	assert_int_equal(r->req.rsp.status & 1u, 0);
	return NVME_CQE_STATUS(&r->req.rsp);
}

struct nvme_sqe sqe(uint8_t opc, uint32_t nsid)
{
	struct nvme_sqe c;

	memset(&c, 0, sizeof(c));
	c.opc = opc;
	c.flags = NVME_SQE_PSDT_SGL;
	c.cid = ++E.cid;
	c.nsid = nsid;
	c.dptr.sgl.type = 0x5a;         /* Linux TCP host: null transport data block */
	return c;
}

void sgl_tdb(struct nvme_sqe *c, uint32_t len)
{
	c->dptr.sgl.addr = 0;
	c->dptr.sgl.length = len;
	c->dptr.sgl.type = 0x5a;        /* transport data block (R2T / C2HData) */
}

void sgl_icd(struct nvme_sqe *c, uint32_t len)
{
	c->dptr.sgl.addr = 0;           /* ICDOFF 0 */
	c->dptr.sgl.length = len;
	c->dptr.sgl.type = 0x01;        /* data block, offset: in-capsule */
}

uint16_t xs(struct tq *q, struct nvme_sqe c)
{
	struct treq *r = exec_raw(q, &c, NULL, 0, NULL, 0);
	uint16_t st = status_of(r);

	E.last = r->req.rsp;
	put(r);
	return st;
}

struct treq *exec_c2h(struct tq *q, struct nvme_sqe c, uint32_t len)
{
	sgl_tdb(&c, len);
	return exec_raw(q, &c, NULL, 0, NULL, 0);
}

struct treq *exec_h2c(struct tq *q, struct nvme_sqe c, const void *data, uint32_t len, bool inline_data)
{
	if (inline_data) {
		sgl_icd(&c, len);
		return exec_raw(q, &c, data, len, NULL, 0);
	}
	sgl_tdb(&c, len);
	return exec_raw(q, &c, NULL, 0, data, len);
}

const uint8_t *hostid_of(const char *hostnqn)
{
	return !strcmp(hostnqn, HOSTB) ? hostid_b : !strcmp(hostnqn, HOSTC) ? hostid_c : hostid_a;
}

struct conn_args conn_admin(const char *subnqn, const char *hostnqn)
{
	return (struct conn_args){ .qid = 0, .sqsize = 31, .cntlid = 0xffff, .kato = 5000,
				   .subnqn = subnqn, .hostnqn = hostnqn, .hostid = hostid_of(hostnqn) };
}

struct conn_args conn_io(const char *subnqn, const char *hostnqn, uint16_t cntlid, uint16_t qid)
{
	return (struct conn_args){ .qid = qid, .sqsize = 127, .cntlid = cntlid, .subnqn = subnqn,
				   .hostnqn = hostnqn, .hostid = hostid_of(hostnqn) };
}

struct treq *connect_raw(struct tq *q, const struct conn_args *a)
{
	struct nvme_sqe c = sqe(NVME_FABRICS_OPC, 0);
	struct nvmf_connect_cmd *cc = (struct nvmf_connect_cmd *)&c;
	struct nvmf_connect_data d;
	uint32_t len = a->data_len ? a->data_len : sizeof(d);

	memset(&d, 0, sizeof(d));
	memcpy(d.hostid, a->hostid, sizeof(d.hostid));
	d.cntlid = a->cntlid;
	snprintf(d.subnqn, sizeof(d.subnqn), "%s", a->subnqn);
	snprintf(d.hostnqn, sizeof(d.hostnqn), "%s", a->hostnqn);
	cc->fctype = NVMF_FCTYPE_CONNECT;
	cc->recfmt = a->recfmt;
	cc->qid = a->qid;
	cc->sqsize = a->sqsize;
	cc->cattr = a->cattr;
	cc->kato = a->kato;
	sgl_icd(&c, len);
	return exec_raw(q, &c, &d, len, NULL, 0);
}

uint16_t connect_st(struct tq *q, const struct conn_args *a)
{
	struct treq *r = connect_raw(q, a);
	uint16_t st = status_of(r);

	E.last = r->req.rsp;
	put(r);
	return st;
}

uint16_t connect_ok(struct tq *q, const struct conn_args *a)
{
	assert_int_equal(connect_st(q, a), ST_OK);
	assert_int_equal(E.last.sqid, a->qid);
	assert_int_equal(E.last.dw0 >> 16, 0);          /* no authentication required */
	assert_int_not_equal(E.last.dw0 & 0xffff, 0xffff);
	return (uint16_t)E.last.dw0;
}

struct treq *prop(struct tq *q, bool set, uint32_t ofst, bool wide, uint64_t val)
{
	struct nvme_sqe c = sqe(NVME_FABRICS_OPC, 0);
	struct nvmf_property_cmd *p = (struct nvmf_property_cmd *)&c;

	p->fctype = set ? NVMF_FCTYPE_PROPERTY_SET : NVMF_FCTYPE_PROPERTY_GET;
	p->attrib = wide ? 1 : 0;
	p->ofst = ofst;
	p->value = set ? val : 0;
	return exec_raw(q, &c, NULL, 0, NULL, 0);
}

uint16_t prop_get(struct tq *q, uint32_t ofst, bool wide, uint64_t *val)
{
	struct treq *r = prop(q, false, ofst, wide, 0);
	uint16_t st = status_of(r);

	E.last = r->req.rsp;
	if (val)
		*val = r->req.rsp.dw0 | (uint64_t)r->req.rsp.dw1 << 32;
	put(r);
	return st;
}

uint16_t prop_set(struct tq *q, uint32_t ofst, bool wide, uint64_t val)
{
	struct treq *r = prop(q, true, ofst, wide, val);
	uint16_t st = status_of(r);

	E.last = r->req.rsp;
	put(r);
	return st;
}

uint32_t get32(struct tq *q, uint32_t ofst)
{
	uint64_t v = ~0ull;

	assert_int_equal(prop_get(q, ofst, false, &v), ST_OK);
	assert_int_equal(v >> 32, 0);
	return (uint32_t)v;
}

void enable(struct tq *q)
{
	assert_int_equal(prop_set(q, NVME_REG_CC, false, CC_LINUX), ST_OK);
	assert_int_equal(get32(q, NVME_REG_CSTS) & (NVME_CSTS_RDY | NVME_CSTS_CFS), NVME_CSTS_RDY);
}

struct tq *admin_up_kato(uint16_t portid, const char *subnqn, const char *hostnqn, uint32_t kato,
				uint16_t *cntlid)
{
	struct tq *q = tq_new(portid);
	struct conn_args a = conn_admin(subnqn, hostnqn);
	uint16_t id;

	a.kato = kato;
	id = connect_ok(q, &a);
	enable(q);
	if (cntlid)
		*cntlid = id;
	return q;
}

struct tq *admin_up(uint16_t portid, const char *subnqn, const char *hostnqn, uint16_t *cntlid)
{
	return admin_up_kato(portid, subnqn, hostnqn, 5000, cntlid);
}

struct tq *io_up(uint16_t portid, const char *subnqn, const char *hostnqn, uint16_t cntlid, uint16_t qid)
{
	struct tq *q = tq_new(portid);
	struct conn_args a = conn_io(subnqn, hostnqn, cntlid, qid);

	assert_int_equal(connect_ok(q, &a), cntlid);
	return q;
}

struct nvme_sqe feat(bool set, uint8_t fid, uint32_t cdw11)
{
	struct nvme_sqe c = sqe(set ? NVME_ADM_SET_FEATURES : NVME_ADM_GET_FEATURES, 0);

	c.cdw10 = fid;
	c.cdw11 = cdw11;
	return c;
}

struct treq *get_log(struct tq *q, uint8_t lid, uint64_t lpo, uint32_t len)
{
	struct nvme_sqe c = sqe(NVME_ADM_GET_LOG_PAGE, 0);
	uint32_t numd = len / 4 - 1;    /* 0's based dwords */

	c.cdw10 = lid | (numd & 0xffffu) << 16;
	c.cdw11 = numd >> 16;
	c.cdw12 = (uint32_t)lpo;
	c.cdw13 = (uint32_t)(lpo >> 32);
	return exec_c2h(q, c, len);
}

struct treq *identify(struct tq *q, uint8_t cns, uint32_t nsid)
{
	struct nvme_sqe c = sqe(NVME_ADM_IDENTIFY, nsid);

	c.cdw10 = cns;
	return exec_c2h(q, c, 4096);
}

void identify_ns(struct tq *q, uint32_t nsid, struct nvme_id_ns *id)
{
	struct treq *r = identify(q, NVME_ID_CNS_NS, nsid);

	assert_int_equal(status_of(r), ST_OK);
	memcpy(id, r->req.buf, sizeof(*id));
	put(r);
}

struct nvme_sqe rw(uint8_t opc, uint32_t nsid, uint64_t slba, uint32_t nlb)
{
	struct nvme_sqe c = sqe(opc, nsid);

	c.cdw10 = (uint32_t)slba;
	c.cdw11 = (uint32_t)(slba >> 32);
	c.cdw12 = (nlb - 1) & 0xffffu;
	return c;
}

uint16_t io_write(struct tq *q, uint32_t nsid, uint64_t slba, uint32_t nlb, const void *data, uint32_t len)
{
	bool inl = len <= q->sq.port->inline_data_size;
	struct treq *r = exec_h2c(q, rw(NVME_CMD_WRITE, nsid, slba, nlb), data, len, inl);
	uint16_t st = status_of(r);

	E.last = r->req.rsp;
	put(r);
	return st;
}

uint16_t io_read(struct tq *q, uint32_t nsid, uint64_t slba, uint32_t nlb, void *out, uint32_t len)
{
	struct treq *r = exec_c2h(q, rw(NVME_CMD_READ, nsid, slba, nlb), len);
	uint16_t st = status_of(r);

	E.last = r->req.rsp;
	if (!st && out)
		memcpy(out, r->req.buf, len);
	put(r);
	return st;
}

void stop_cb(void *arg)
{
	reactor_stop(arg);
}

struct reactor *tgt_reactor(void)
{
	return &E.t.reactors[0].r;
}

uint64_t run_reactor_ns(unsigned ms)
{
	struct reactor *r = tgt_reactor();
	struct reactor_timer stop = { 0 };
	uint64_t t0 = reactor_now_ns();

	r->stop = false;
	reactor_timer_start(r, &stop, ms, 0, stop_cb, r);
	assert_int_equal(reactor_run(r), 0);
	reactor_timer_stop(r, &stop);
	r->stop = false;
	return reactor_now_ns() - t0;
}


const struct nvmf_transport_ops fake_ops = {
	.name = "fake",
	.complete = fake_complete,
	.disconnect = fake_disconnect,
	.req_drop = fake_req_drop,
	.buf_available = fake_buf_available,
};
