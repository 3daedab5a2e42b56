/* SPDX-License-Identifier: MIT */
/*
 * QoS limits (target/qos.c, config/qos.c): the configuration schema and
 * its errors, the round trip through the writer, and the token buckets
 * driven through the target's transport interface by a fake transport
 * (as tests/unit/test_target.c does) with a fake clock: the QoS tick is
 * called by the test (nvmf_qos_run) instead of the reactor's timer, so
 * token arithmetic is exact. Checked: a burst goes at once and the rest
 * waits (delayed, never failed) in arrival order, reads and writes apart,
 * several limits on one command, a command larger than a burst, limits
 * changed live by a reconfiguration (counters kept), commands of a queue
 * that went away released.
 *
 * JSON is written with single quotes, turned into double quotes before
 * parsing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"
#include "target/qos.h"
#include "target/rpc_proto.h"
#include "target/target.h"

#define NQN "nqn.2024-01.org.example:qos"
#define HOSTA "nqn.2014-08.org.nvmexpress:uuid:0f0e0d0c-0b0a-0908-0706-050403020100"
#define HOSTB "nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555"
#define MS 1000000ull

#define CC_LINUX (NVME_CC_EN | NVME_CC_CSS(NVME_CC_CSS_NVM) | NVME_CC_MPS(0) | NVME_CC_AMS_RR | \
		  NVME_CC_IOSQES(6) | NVME_CC_IOCQES(4))

/* ---- the fake transport and clock ---- */

struct tq {
	struct nvmf_sq sq;              /* first: the core hands us &sq */
	struct tq *next;
};

struct treq {
	struct nvmf_req req;            /* first: the core hands us &req */
	unsigned completions;
	unsigned order;                 /* completion order */
	struct treq *next;
};

static struct {
	struct config *cfg;
	struct nvmf_tgt t;
	bool up;
	uint16_t cid;
	uint64_t now;
	unsigned done;
	struct tq *queues;
	struct treq *reqs;
} E;

static uint64_t fake_now(void)
{
	return E.now;
}

static void fake_complete(struct nvmf_req *req)
{
	struct treq *r = (struct treq *)req;

	r->completions++;
	r->order = ++E.done;
}

static void fake_disconnect(struct nvmf_sq *sq)
{
	(void)sq;
}

static void fake_req_drop(struct nvmf_req *req)
{
	(void)req;              /* no AERs here */
}

static const struct nvmf_transport_ops fake_ops = {
	.name = "fake",
	.complete = fake_complete,
	.disconnect = fake_disconnect,
	.req_drop = fake_req_drop,
};

static char *dq(const char *s)
{
	char *r = strdup(s);

	assert_non_null(r);
	for (char *p = r; *p; p++)
		if (*p == '\'')
			*p = '"';
	return r;
}

static struct config *parse(const char *json)
{
	struct config *cfg = NULL;
	char err[512] = "";
	char *j = dq(json);

	if (config_parse(j, "t.json", &cfg, err, sizeof(err)))
		fail_msg("config_parse: %s", err);
	free(j);
	return cfg;
}

/* the error config_parse gives for json */
static void parse_fails(const char *json, const char *want)
{
	struct config *cfg = NULL;
	char err[512] = "";
	char *j = dq(json);

	assert_int_not_equal(config_parse(j, "t.json", &cfg, err, sizeof(err)), 0);
	free(j);
	if (!strstr(err, want))
		fail_msg("error \"%s\" does not contain \"%s\"", err, want);
}

static void env_up(const char *json)
{
	char err[512] = "";
	int rc;

	E.now = 1000000 * MS;
	nvmf_qos_set_clock_for_test(fake_now);
	E.cfg = parse(json);
	rc = nvmf_tgt_init(&E.t, E.cfg, err, sizeof(err));
	if (rc)
		fail_msg("nvmf_tgt_init: %d %s", rc, err);
	E.up = true;
}

static void put(struct treq *r)
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

static int env_down(void **state)
{
	(void)state;
	for (struct tq *q = E.queues; q; q = q->next)
		if (q->sq.qid)
			nvmf_sq_destroy(&q->sq);
	for (struct tq *q = E.queues; q; q = q->next)
		nvmf_sq_destroy(&q->sq);
	if (E.up)       /* commands still delayed: released as aborted */
		nvmf_qos_run(&E.t, 0);
	while (E.reqs)
		put(E.reqs);
	while (E.queues) {
		struct tq *q = E.queues;

		E.queues = q->next;
		nvmf_sq_fini(&q->sq);
		free(q);
	}
	if (E.up)
		nvmf_tgt_fini(&E.t);
	config_free(E.cfg);
	nvmf_qos_set_clock_for_test(NULL);
	memset(&E, 0, sizeof(E));
	return 0;
}

static void apply(const char *json)
{
	struct config *cfg = parse(json);
	char err[512] = "", changes[2048];

	if (nvmf_tgt_apply(&E.t, cfg, changes, sizeof(changes), err, sizeof(err)))
		fail_msg("nvmf_tgt_apply: %s", err);
	E.cfg = cfg;
}

static unsigned next_reactor;           /* the reactor new queues go to */

static struct tq *tq_new(void)
{
	struct tq *q = calloc(1, sizeof(*q));

	assert_non_null(q);
	q->sq.port = E.t.ports[0];
	q->sq.ops = &fake_ops;
	q->sq.tconn = q;
	q->sq.reactor = &E.t.reactors[next_reactor % E.t.nr_reactors];
	snprintf(q->sq.local_addr, sizeof(q->sq.local_addr), "127.0.0.1");
	q->next = E.queues;
	E.queues = q;
	return q;
}

static struct nvme_sqe sqe(uint8_t opc, uint32_t nsid, uint32_t len)
{
	struct nvme_sqe c;

	memset(&c, 0, sizeof(c));
	c.opc = opc;
	c.flags = NVME_SQE_PSDT_SGL;
	c.cid = ++E.cid;
	c.nsid = nsid;
	c.dptr.sgl.type = 0x5a;
	c.dptr.sgl.length = len;
	return c;
}

/* a command as a transport receives it; in-capsule data when icd */
static struct treq *exec(struct tq *q, const struct nvme_sqe *cmd, const void *icd, uint32_t icd_len)
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
	}
	if (icd_len)
		memcpy(r->req.buf, icd, icd_len);
	st = nvmf_req_prepare(&r->req, icd_len, 8192);
	if (st) {
		nvmf_req_complete(&r->req, st);
		return r;
	}
	nvmf_req_execute(&r->req);
	return r;
}

static uint16_t status_of(const struct treq *r)
{
	assert_int_equal(r->completions, 1);
	return NVME_CQE_STATUS(&r->req.rsp);
}

static void st_ok(struct treq *r)
{
	assert_int_equal(status_of(r), 0);
	put(r);
}

/* Connect (admin or I/O), as the Linux host sends it */
static uint16_t do_connect(struct tq *q, const char *hostnqn, uint16_t qid, uint16_t cntlid)
{
	struct nvme_sqe c = sqe(NVME_FABRICS_OPC, 0, 0);
	struct nvmf_connect_cmd *cc = (struct nvmf_connect_cmd *)&c;
	struct nvmf_connect_data d;
	struct treq *r;
	uint16_t id;

	memset(&d, 0, sizeof(d));
	d.hostid[0] = (uint8_t)hostnqn[strlen(hostnqn) - 1];
	d.cntlid = cntlid;
	snprintf(d.subnqn, sizeof(d.subnqn), "%s", NQN);
	snprintf(d.hostnqn, sizeof(d.hostnqn), "%s", hostnqn);
	cc->fctype = NVMF_FCTYPE_CONNECT;
	cc->qid = qid;
	cc->sqsize = qid ? 127 : 31;
	cc->kato = qid ? 0 : 5000;
	c.dptr.sgl.type = 0x01;
	c.dptr.sgl.length = sizeof(d);
	r = exec(q, &c, &d, sizeof(d));
	assert_int_equal(status_of(r), 0);
	id = (uint16_t)r->req.rsp.dw0;
	put(r);
	return id;
}

/* an admin queue connected and enabled, and one I/O queue: the I/O queue */
static struct tq *host_up(const char *hostnqn)
{
	struct tq *a = tq_new(), *io = tq_new();
	uint16_t id = do_connect(a, hostnqn, 0, 0xffff);
	struct nvme_sqe c = sqe(NVME_FABRICS_OPC, 0, 0);
	struct nvmf_property_cmd *p = (struct nvmf_property_cmd *)&c;

	p->fctype = NVMF_FCTYPE_PROPERTY_SET;
	p->ofst = NVME_REG_CC;
	p->value = CC_LINUX;
	st_ok(exec(a, &c, NULL, 0));
	do_connect(io, hostnqn, 1, id);
	return io;
}

/* Read (or Write: in-capsule, up to 8 KiB) of nlb 512-byte blocks */
static struct treq *io(struct tq *q, uint8_t opc, uint32_t nlb)
{
	static uint8_t data[8192];
	struct nvme_sqe c = sqe(opc, 1, nlb * 512);

	c.cdw12 = nlb - 1;
	if (opc == NVME_CMD_WRITE) {
		c.dptr.sgl.type = 0x01;
		return exec(q, &c, data, nlb * 512);
	}
	return exec(q, &c, NULL, 0);
}

/* ms of QoS ticks (every NVMF_QOS_TICK_MS, as the reactor's timer runs
 * them): the commands completed meanwhile */
static unsigned run_for(uint64_t ms)
{
	unsigned before = E.done;

	do {
		uint64_t step = ms < NVMF_QOS_TICK_MS ? ms : NVMF_QOS_TICK_MS;

		E.now += step * MS;
		ms -= step;
		nvmf_qos_run(&E.t, 0);
	} while (ms);
	return E.done - before;
}

#define CFG_HEAD "{'bridge': {'discovery_port': 0},"
#define CFG_PORT "'ports': [{'portid': 1, 'addr': {'trtype': 'tcp', 'adrfam': 'ipv4', 'traddr': '127.0.0.1'," \
		 " 'trsvcid': '4420'}, 'subsystems': ['" NQN "']}],"
#define CFG_SUBSYS(nsextra) "'subsystems': [{'nqn': '" NQN "', 'attr': {'allow_any_host': '1'}," \
		 " 'namespaces': [{'nsid': 1, 'device': {'mem': '1MiB'}" nsextra "}]}]}"

/* ---- configuration ---- */

static void test_qos_config(void **state)
{
	struct config *a, *b;
	char *js;

	(void)state;
	a = parse(CFG_HEAD "'hosts': [{'nqn': '" HOSTA "', 'qos': {'read_iops': 2000, 'write_bw': '50MiB'}}],"
		  CFG_PORT CFG_SUBSYS(", 'qos': {'read_bw': 1048576, 'write_iops': '300'},"
				      " 'host_qos': [{'host': '" HOSTB "', 'read_iops': 10, 'read_bw': '1G'}]"));
	assert_int_equal(a->hosts[0].qos.read_iops, 2000);
	assert_int_equal(a->hosts[0].qos.write_bw, 50 << 20);
	assert_int_equal(a->subsystems[0].namespaces[0].qos.read_bw, 1 << 20);
	assert_int_equal(a->subsystems[0].namespaces[0].qos.write_iops, 300);
	assert_int_equal(a->subsystems[0].namespaces[0].nr_host_qos, 1);
	assert_string_equal(a->subsystems[0].namespaces[0].host_qos[0].host, HOSTB);
	assert_int_equal(a->subsystems[0].namespaces[0].host_qos[0].qos.read_bw, 1ull << 30);
	/* written back and read again: the same */
	js = config_to_json(a);
	assert_non_null(js);
	assert_non_null(strstr(js, "\"write_bw\": \"50MiB\""));
	assert_int_equal(config_parse(js, "w.json", &b, NULL, 0), 0);
	assert_true(config_equal(a, b));
	b->subsystems[0].namespaces[0].host_qos[0].qos.read_iops = 11;
	assert_false(config_equal(a, b));
	b->subsystems[0].namespaces[0].host_qos[0].qos.read_iops = 10;
	b->hosts[0].qos.read_iops = 1;
	assert_false(config_equal(a, b));
	free(js);
	config_free(a);
	config_free(b);

	/* errors name the file, the object path and the field */
	parse_fails(CFG_HEAD CFG_PORT CFG_SUBSYS(", 'qos': {'read_bw': 'fast'}"),
		    "t.json: subsystems[0].namespaces[0].qos.read_bw: \"fast\" is not a size per second");
	parse_fails(CFG_HEAD CFG_PORT CFG_SUBSYS(", 'qos': {'read_iop': 1}"),
		    "t.json: subsystems[0].namespaces[0].qos");
	parse_fails(CFG_HEAD CFG_PORT CFG_SUBSYS(", 'qos': {'write_iops': -1}"),
		    "t.json: subsystems[0].namespaces[0].qos.write_iops");
	parse_fails(CFG_HEAD "'hosts': [{'nqn': '" HOSTA "', 'qos': 5}]," CFG_PORT CFG_SUBSYS(""),
		    "t.json: hosts[0].qos");
	parse_fails(CFG_HEAD CFG_PORT CFG_SUBSYS(", 'host_qos': [{'host': '" HOSTA "', 'read_iops': 1},"
						 " {'host': '" HOSTA "', 'read_iops': 2}]"),
		    "t.json: subsystems[0].namespaces[0].host_qos[1].host: duplicate host (also host_qos[0])");
	parse_fails(CFG_HEAD CFG_PORT CFG_SUBSYS(", 'host_qos': [{'read_iops': 1}]"),
		    "t.json: subsystems[0].namespaces[0].host_qos[0].host: missing");
}

/* ---- token buckets ---- */

/* 100 read IOPS for HOSTA: a burst (50 ms: 5) goes at once, the rest
 * waits, never failed, and leaves in arrival order as tokens come (one
 * per 10 ms); writes and other hosts are not held */
static void test_qos_delay_not_fail(void **state)
{
	struct treq *r[20], *w, *other;
	struct tq *q, *qb;
	unsigned i;

	(void)state;
	env_up(CFG_HEAD "'hosts': [{'nqn': '" HOSTA "', 'qos': {'read_iops': 100}}]," CFG_PORT CFG_SUBSYS(""));
	q = host_up(HOSTA);
	qb = host_up(HOSTB);
	for (i = 0; i < 20; i++)
		r[i] = io(q, NVME_CMD_READ, 1);
	for (i = 0; i < 20; i++)
		assert_int_equal(r[i]->completions, i < 5 ? 1 : 0);
	w = io(q, NVME_CMD_WRITE, 1);           /* no write limit */
	st_ok(w);
	other = io(qb, NVME_CMD_READ, 1);        /* another host */
	st_ok(other);
	assert_int_equal(run_for(1), 0);         /* 1 ms: not a whole token yet */
	assert_int_equal(run_for(9), 1);         /* 10 ms: one */
	assert_int_equal(r[5]->completions, 1);
	assert_int_equal(r[6]->completions, 0);
	assert_int_equal(run_for(30), 3);
	for (i = 5; i < 8; i++)         /* in arrival order */
		assert_int_equal(r[i]->order + 1, r[i + 1]->order);
	assert_int_equal(r[9]->completions, 0);
	assert_int_equal(run_for(1000), 11);
	for (i = 1; i < 20; i++)
		assert_true(r[i]->order > r[i - 1]->order);
	for (i = 0; i < 20; i++)
		st_ok(r[i]);
	assert_int_equal(run_for(10), 0);
	env_down(NULL);
}

struct views {
	unsigned n;
	struct nvmf_qos_view v[4];
};

static void collect(void *arg, const struct nvmf_qos_view *v)
{
	struct views *vs = arg;

	if (vs->n < 4)
		vs->v[vs->n++] = *v;
}

static const struct nvmf_qos_view *view(struct views *vs, const char *type)
{
	for (unsigned i = 0; i < vs->n; i++)
		if (!strcmp(vs->v[i].type, type))
			return &vs->v[i];
	fail_msg("no %s limit", type);
	return NULL;
}

/* Namespace 200 IOPS, HOSTA on it 100: a command goes once every limit
 * that applies has tokens; HOSTB only meets the namespace's */
static void test_qos_multi_bucket(void **state)
{
	struct treq *a[8], *b[8];
	struct views vs = { 0 };
	struct tq *qa, *qb;
	unsigned i, done = 0;

	(void)state;
	env_up(CFG_HEAD CFG_PORT CFG_SUBSYS(", 'qos': {'read_iops': 200},"
					    " 'host_qos': [{'host': '" HOSTA "', 'read_iops': 100}]"));
	qa = host_up(HOSTA);
	qb = host_up(HOSTB);
	for (i = 0; i < 8; i++)
		a[i] = io(qa, NVME_CMD_READ, 1);
	for (i = 0; i < 8; i++)
		b[i] = io(qb, NVME_CMD_READ, 1);
	/* A: 5 through its own burst (and the namespace's 10); B: the 5 left */
	for (i = 0; i < 8; i++) {
		assert_int_equal(a[i]->completions, i < 5);
		assert_int_equal(b[i]->completions, i < 5);
	}
	nvmf_qos_foreach(&E.t, collect, &vs);
	assert_int_equal(vs.n, 2);
	assert_int_equal(view(&vs, "host_namespace")->read_iops, 100);
	assert_string_equal(view(&vs, "host_namespace")->host, HOSTA);
	assert_int_equal(view(&vs, "host_namespace")->waiting, 3);
	assert_int_equal(view(&vs, "namespace")->waiting, 3);
	assert_null(view(&vs, "namespace")->host);
	/* 10 ms: the namespace earns 2, A's limit 1; A's command, through
	 * its own limit, then waits behind B's at the namespace's: two
	 * commands in all */
	done = run_for(10);
	assert_int_equal(done, 2);
	/* a second: all of them, none failed */
	run_for(1000);
	for (i = 0; i < 8; i++) {
		st_ok(a[i]);
		st_ok(b[i]);
	}
	vs.n = 0;
	nvmf_qos_foreach(&E.t, collect, &vs);
	assert_int_equal(view(&vs, "namespace")->reads, 16);
	assert_int_equal(view(&vs, "host_namespace")->reads, 8);
	assert_int_equal(view(&vs, "host_namespace")->delayed, 3);
	assert_true(view(&vs, "namespace")->delayed >= 3);
	assert_int_equal(view(&vs, "namespace")->waiting, 0);
	env_down(NULL);
}

/* 64 KiB/s of writes: a burst is 3276 bytes, an 8 KiB write still goes
 * (the bucket in debt), the next one when the debt is paid (~125 ms) */
static void test_qos_bandwidth_debt(void **state)
{
	struct treq *w1, *w2, *r;
	struct tq *q;

	(void)state;
	env_up(CFG_HEAD "'hosts': [{'nqn': '" HOSTA "', 'qos': {'write_bw': '64KiB'}}]," CFG_PORT CFG_SUBSYS(""));
	q = host_up(HOSTA);
	w1 = io(q, NVME_CMD_WRITE, 16);
	st_ok(w1);
	w2 = io(q, NVME_CMD_WRITE, 16);
	assert_int_equal(w2->completions, 0);
	r = io(q, NVME_CMD_READ, 16);           /* reads are not limited */
	st_ok(r);
	assert_int_equal(run_for(100), 0);
	assert_int_equal(w2->completions, 0);
	assert_int_equal(run_for(30), 1);
	st_ok(w2);
	env_down(NULL);
}

#define CFG_LIVE(iops) CFG_HEAD "'hosts': [{'nqn': '" HOSTA "'" iops "}]," CFG_PORT CFG_SUBSYS("")

/* A reconfiguration changes limits live: commands waiting for a limit
 * that went away go at the next tick, new ones are not held; set again,
 * it holds again and its counters went on */
static void test_qos_live_change(void **state)
{
	struct treq *r[10];
	struct views vs = { 0 };
	struct tq *q;
	unsigned i;

	(void)state;
	env_up(CFG_LIVE(", 'qos': {'read_iops': 100}"));
	q = host_up(HOSTA);
	for (i = 0; i < 10; i++)
		r[i] = io(q, NVME_CMD_READ, 1);
	assert_int_equal(r[5]->completions, 0);
	apply(CFG_LIVE(""));
	nvmf_qos_foreach(&E.t, collect, &vs);
	assert_int_equal(vs.n, 0);               /* no limit configured */
	assert_int_equal(run_for(0), 5);
	for (i = 0; i < 10; i++)
		st_ok(r[i]);
	for (i = 0; i < 10; i++)
		st_ok(io(q, NVME_CMD_READ, 1));
	/* 1000 IOPS: a burst of 50 */
	apply(CFG_LIVE(", 'qos': {'read_iops': 1000}"));
	assert_int_equal(run_for(100), 0);       /* the pool fills: one burst */
	for (i = 0; i < 50; i++)
		st_ok(io(q, NVME_CMD_READ, 1));
	r[0] = io(q, NVME_CMD_READ, 1);
	assert_int_equal(r[0]->completions, 0);
	nvmf_qos_foreach(&E.t, collect, &vs);
	assert_int_equal(vs.n, 1);
	assert_int_equal(vs.v[0].read_iops, 1000);
	assert_int_equal(vs.v[0].delayed, 6);    /* 5 before, 1 now */
	assert_int_equal(vs.v[0].reads, 10 + 50);
	assert_int_equal(run_for(1), 1);
	st_ok(r[0]);
	env_down(NULL);
}

/* One host's queues on two reactors: 100 read IOPS for the total, and
 * each reactor gets its share while both have commands waiting (the one
 * whose tick comes first does not starve the other) */
static void test_qos_two_reactors(void **state)
{
	struct treq *r0[200], *r1[200];
	struct tq *q0, *q1;
	unsigned i, n0 = 0, n1 = 0;

	(void)state;
	env_up("{'bridge': {'discovery_port': 0, 'reactors': 2},"
	       "'hosts': [{'nqn': '" HOSTA "', 'qos': {'read_iops': 100}}]," CFG_PORT CFG_SUBSYS(""));
	assert_int_equal(E.t.nr_reactors, 2);
	q0 = host_up(HOSTA);                    /* admin and I/O queue on reactor 0 */
	next_reactor = 1;
	q1 = tq_new();                          /* a second I/O queue, on reactor 1 */
	next_reactor = 0;
	do_connect(q1, HOSTA, 2, q0->sq.ctrl->cntlid);
	for (i = 0; i < 200; i++) {
		r0[i] = io(q0, NVME_CMD_READ, 1);
		r1[i] = io(q1, NVME_CMD_READ, 1);
	}
	/* 2 s of ticks on both reactors, reactor 0's always first */
	for (i = 0; i < 1000; i++) {
		E.now += NVMF_QOS_TICK_MS * MS;
		nvmf_qos_run(&E.t, 0);
		nvmf_qos_run(&E.t, 1);
	}
	for (i = 0; i < 200; i++) {
		n0 += r0[i]->completions;
		n1 += r1[i]->completions;
	}
	/* the burst (5) and 2 s at 100 IOPS, no more */
	assert_in_range(n0 + n1, 200, 205);
	assert_in_range(n0, 90, 115);
	assert_in_range(n1, 90, 115);
	/* the rest, then nothing waits */
	for (i = 0; i < 2000; i++) {
		E.now += NVMF_QOS_TICK_MS * MS;
		nvmf_qos_run(&E.t, 0);
		nvmf_qos_run(&E.t, 1);
	}
	for (i = 0; i < 200; i++) {
		st_ok(r0[i]);
		st_ok(r1[i]);
	}
	env_down(NULL);
}

/* The queue goes away while its commands wait: they are completed as
 * aborted at the next tick, without tokens and without the backend */
static void test_qos_queue_gone(void **state)
{
	struct treq *r[8];
	struct tq *q;
	unsigned i;

	(void)state;
	env_up(CFG_HEAD "'hosts': [{'nqn': '" HOSTA "', 'qos': {'read_iops': 100}}]," CFG_PORT CFG_SUBSYS(""));
	q = host_up(HOSTA);
	for (i = 0; i < 8; i++)
		r[i] = io(q, NVME_CMD_READ, 1);
	nvmf_sq_destroy(&q->sq);
	assert_int_equal(run_for(0), 3);
	for (i = 0; i < 8; i++) {
		assert_int_equal(status_of(r[i]), i < 5 ? 0 : NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_ABORT_SQ_DELETED));
		put(r[i]);
	}
	/* nothing waits any more: the namespace is idle */
	assert_int_equal(E.t.subsys[0]->nst->ns[0]->stats[0].inflight, 0);
	env_down(NULL);
}

/* set-qos as the control socket applies it: edit a JSON copy of the
 * configuration, which the validator then reads */
static int set_qos(json_object *root, const char *params_json, char *msg, size_t msglen)
{
	char *pj = dq(params_json);
	json_object *params = json_tokener_parse(pj), *res = NULL;
	int rc;

	free(pj);
	assert_non_null(params);
	rc = rpc_find_edit("set-qos")(root, params, &res, msg, msglen);
	json_object_put(params);
	json_object_put(res);
	return rc;
}

static void test_qos_set_qos_edit(void **state)
{
	char *js = dq(CFG_HEAD "'hosts': [{'nqn': '" HOSTA "'}]," CFG_PORT CFG_SUBSYS(""));
	json_object *root = json_tokener_parse(js);
	struct config *cfg;
	char msg[512] = "", err[512] = "";

	(void)state;
	free(js);
	assert_non_null(root);
	assert_int_equal(set_qos(root, "{'host': '" HOSTA "', 'read_iops': 500, 'write_bw': '1MiB'}", msg,
				 sizeof(msg)), 0);
	assert_int_equal(set_qos(root, "{'host': '" HOSTB "', 'write_iops': 7}", msg, sizeof(msg)), 0);
	assert_int_equal(set_qos(root, "{'subsystem': '" NQN "', 'nsid': 1, 'read_bw': 4096}", msg, sizeof(msg)), 0);
	assert_int_equal(set_qos(root, "{'subsystem': '" NQN "', 'nsid': 1, 'host': '" HOSTB "', 'read_iops': 3}", msg,
				 sizeof(msg)), 0);
	assert_int_equal(config_parse(json_object_to_json_string(root), "e.json", &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg->hosts[0].qos.read_iops, 500);
	assert_int_equal(cfg->hosts[0].qos.write_bw, 1 << 20);
	assert_string_equal(cfg->hosts[1].nqn, HOSTB);         /* added */
	assert_int_equal(cfg->hosts[1].qos.write_iops, 7);
	assert_int_equal(cfg->subsystems[0].namespaces[0].qos.read_bw, 4096);
	assert_int_equal(cfg->subsystems[0].namespaces[0].host_qos[0].qos.read_iops, 3);
	config_free(cfg);
	/* 0 removes a limit, others stay; an empty one disappears */
	assert_int_equal(set_qos(root, "{'host': '" HOSTA "', 'read_iops': 0}", msg, sizeof(msg)), 0);
	assert_int_equal(set_qos(root, "{'subsystem': '" NQN "', 'nsid': 1, 'host': '" HOSTB "', 'read_iops': 0}", msg,
				 sizeof(msg)), 0);
	assert_int_equal(config_parse(json_object_to_json_string(root), "e.json", &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg->hosts[0].qos.read_iops, 0);
	assert_int_equal(cfg->hosts[0].qos.write_bw, 1 << 20);
	assert_int_equal(cfg->subsystems[0].namespaces[0].nr_host_qos, 0);
	config_free(cfg);
	/* what it refuses */
	assert_int_equal(set_qos(root, "{'read_iops': 1}", msg, sizeof(msg)), RPC_BAD_PARAMS);
	assert_int_equal(set_qos(root, "{'host': '" HOSTA "'}", msg, sizeof(msg)), RPC_BAD_PARAMS);
	assert_int_equal(set_qos(root, "{'subsystem': '" NQN "', 'read_iops': 1}", msg, sizeof(msg)), RPC_BAD_PARAMS);
	assert_int_equal(set_qos(root, "{'subsystem': '" NQN "', 'nsid': 9, 'read_iops': 1}", msg, sizeof(msg)),
			 RPC_REFUSED);
	assert_non_null(strstr(msg, "has no namespace 9"));
	/* a bad value is the validator's to name */
	assert_int_equal(set_qos(root, "{'host': '" HOSTA "', 'read_bw': 'lots'}", msg, sizeof(msg)), 0);
	assert_int_not_equal(config_parse(json_object_to_json_string(root), "e.json", &cfg, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "hosts[0].qos.read_bw"));
	json_object_put(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_qos_config),
		cmocka_unit_test(test_qos_set_qos_edit),
		cmocka_unit_test_teardown(test_qos_delay_not_fail, env_down),
		cmocka_unit_test_teardown(test_qos_multi_bucket, env_down),
		cmocka_unit_test_teardown(test_qos_bandwidth_debt, env_down),
		cmocka_unit_test_teardown(test_qos_live_change, env_down),
		cmocka_unit_test_teardown(test_qos_queue_gone, env_down),
		cmocka_unit_test_teardown(test_qos_two_reactors, env_down),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
