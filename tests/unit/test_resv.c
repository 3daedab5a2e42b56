/* SPDX-License-Identifier: MIT */
/*
 * Reservations (target/resv.c) driven through the target core with the
 * fake transport of test_target.c (its harness, trimmed): three hosts A, B
 * and C with their own host NQNs and host IDs, each an admin and an I/O
 * queue on reactor 0 (the test thread), commands built as the Linux host
 * builds them. Covers Register/Unregister/Replace with CRKEY and IEKEY,
 * Acquire of the six types and the conflict table for reads and writes of
 * holder, registrant and non-registrant, Preempt (and Abort), Release with
 * a wrong type and Clear, the generation, Report in both layouts and its
 * truncation, the notification log and its event, the mask, PTPL across a
 * restart of the target and a damaged state file.
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

#include "common/log.h"
#include "common/reactor.h"
#include "config/config.h"
#include "common/dhchap.h"
#include "nvme/auth.h"
#include "nvme/regs.h"
#include "pcie/pcie.h"
#include "target/target.h"
#include "tests/unit/tgt_harness.h"
#include "tests/fake_nvme.h"
#include "tests/support/dhchap_host.h"
#include <unistd.h>
#include <sys/stat.h>



/* namespace 1 with reservations (512-byte blocks), 2 without */
static const char cfg_resv[] =
	"{'subsystems': ["
	" {'nqn': '" NQN1 "', 'attr': {'allow_any_host': '1'},"
	"  'namespaces': [{'nsid': 1, 'device': {'mem': '1MiB', 'uuid': '6f1d3c52-93a4-4b7e-8c1d-2b5e0f7a9c31'}},"
	"                 {'nsid': 2, 'resv': {'enable': 0}, 'device': {'mem': '1MiB'}}]}],"
	" 'ports': ["
	" {'portid': 1, 'addr': {" TCP("127.0.0.1", "4420") "}, 'param': {'inline_data_size': '16384'},"
	"  'subsystems': ['" NQN1 "']}]}";


/* ---- the fake transport ---- */




/* ---- environment ---- */



/* ---- commands ---- */

/* ---- fabrics ---- */


/* ---- I/O ---- */

/* ---- reactor ---- */


/* a command the writer thread completes (a PTPL change): run the reactor
 * until its completion came back, 2 s at most */
static void settle(const struct treq *r)
{
	uint64_t t0 = reactor_now_ns();

	while (!r->completions && reactor_now_ns() - t0 < 2000000000ull)
		run_reactor_ns(2);
}

/* ---- reservations ---- */

static char tmpdir[128];

static int resv_setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/nvmfb-resv-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(tgt_cfg_name, sizeof(tgt_cfg_name), "%s/t.json", tmpdir);
	return 0;
}

static int resv_teardown(void **state)
{
	char p[300];

	env_down(state);
	snprintf(p, sizeof(p), "%s.resv", tgt_cfg_name);
	unlink(p);
	snprintf(p, sizeof(p), "%s.resv.damaged", tgt_cfg_name);
	unlink(p);
	snprintf(p, sizeof(p), "%s.resv.tmp", tgt_cfg_name);
	unlink(p);
	rmdir(tmpdir);
	return 0;
}

struct host {
	struct tq *adm, *io;
	uint16_t cntlid;
};

static struct host host_up(const char *hostnqn)
{
	struct host h;

	h.adm = admin_up(1, NQN1, hostnqn, &h.cntlid);
	h.io = io_up(1, NQN1, hostnqn, h.cntlid, 1);
	return h;
}

/* cdw10 fields */
#define RREGA(a) (a)
#define IEKEY (1u << 3)
#define CPTPL(v) ((uint32_t)(v) << 30)
#define RTYPE(t) ((uint32_t)(t) << 8)

static uint16_t resv_cmd(struct tq *io, uint8_t opc, uint32_t nsid, uint32_t cdw10, uint64_t k1, uint64_t k2)
{
	uint64_t d[2] = { k1, k2 };
	struct nvme_sqe c = sqe(opc, nsid);
	struct treq *r;
	uint16_t st;

	c.cdw10 = cdw10;
	r = exec_h2c(io, c, d, opc == NVME_CMD_RESV_RELEASE ? 8 : 16, true);
	settle(r);
	st = status_of(r);
	put(r);
	return st;
}

static uint16_t reg(struct tq *io, uint32_t cdw10, uint64_t crkey, uint64_t nrkey)
{
	return resv_cmd(io, NVME_CMD_RESV_REGISTER, 1, cdw10, crkey, nrkey);
}

static uint16_t acq(struct tq *io, unsigned act, uint8_t rtype, uint64_t crkey, uint64_t prkey)
{
	return resv_cmd(io, NVME_CMD_RESV_ACQUIRE, 1, act | RTYPE(rtype), crkey, prkey);
}

static uint16_t rel(struct tq *io, unsigned act, uint8_t rtype, uint64_t crkey)
{
	return resv_cmd(io, NVME_CMD_RESV_RELEASE, 1, act | RTYPE(rtype), crkey, 0);
}

/* Reservation Report: sgl_len bytes asked for by the SGL, numd_bytes by
 * NUMD; the status, the data in out (sgl_len bytes) */
static uint16_t report_raw(struct tq *io, bool eds, uint32_t numd_bytes, uint32_t sgl_len, uint8_t *out)
{
	struct nvme_sqe c = sqe(NVME_CMD_RESV_REPORT, 1);
	struct treq *r;
	uint16_t st;

	c.cdw10 = numd_bytes / 4 - 1;
	c.cdw11 = eds ? 1 : 0;
	r = exec_c2h(io, c, sgl_len);
	st = status_of(r);
	if (!st && out)
		memcpy(out, r->req.buf, sgl_len);
	put(r);
	return st;
}

struct rpt {
	uint32_t gen;
	uint8_t rtype, ptpls;
	uint16_t regctl;
	struct {
		uint16_t cntlid;
		uint8_t rcsts;
		uint64_t key;
		uint8_t hostid[16];
	} e[8];
};

static struct rpt report(struct tq *io)
{
	uint8_t b[64 + 64 * 8];
	struct rpt r;

	memset(&r, 0, sizeof(r));
	assert_int_equal(report_raw(io, true, sizeof(b), sizeof(b), b), ST_OK);
	memcpy(&r.gen, b, 4);
	r.rtype = b[4];
	memcpy(&r.regctl, b + 5, 2);
	r.ptpls = b[9];
	for (unsigned i = 0; i < r.regctl && i < 8; i++) {
		const uint8_t *e = b + 64 + 64 * i;

		memcpy(&r.e[i].cntlid, e, 2);
		r.e[i].rcsts = e[2];
		memcpy(&r.e[i].key, e + 8, 8);
		memcpy(r.e[i].hostid, e + 16, 16);
	}
	return r;
}

/* the entry of a host in a report, or NULL */
static const void *entry(const struct rpt *r, const uint8_t id[16], uint64_t *key, uint8_t *rcsts)
{
	for (unsigned i = 0; i < r->regctl && i < 8; i++) {
		if (memcmp(r->e[i].hostid, id, 16))
			continue;
		if (key)
			*key = r->e[i].key;
		if (rcsts)
			*rcsts = r->e[i].rcsts;
		return &r->e[i];
	}
	return NULL;
}

static uint16_t wr(struct tq *io)
{
	uint8_t b[512];

	memset(b, 0x5a, sizeof(b));
	return io_write(io, 1, 0, 1, b, sizeof(b));
}

static uint16_t rd(struct tq *io)
{
	return io_read(io, 1, 0, 1, NULL, 512);
}

#define CONFLICT gen(NVME_SC_RESV_CONFLICT)
#define INVALID gen(NVME_SC_INVALID_FIELD)

static struct nvmf_ns *ns1(void)
{
	return nvmf_subsys_find_ns(nvmf_tgt_find_subsys(&E.t, NQN1), 1);
}

/* ======================================================================== */

static void test_resv_identify(void **state)
{
	struct nvme_id_ns id;
	struct host a;
	struct treq *r;
	uint8_t *ctrl;

	(void)state;
	env_up(cfg_resv);
	a = host_up(HOSTA);
	r = identify(a.adm, NVME_ID_CNS_CTRL, 0);
	assert_int_equal(status_of(r), ST_OK);
	ctrl = r->req.buf;
	/* ONCS (offset 520): reservations only when every namespace has them */
	assert_int_equal(ctrl[520] & NVME_ONCS_RESV, 0);
	put(r);
	identify_ns(a.adm, 1, &id);
	assert_int_equal(id.rescap, 0xff);      /* PTPL, six types, IEKEY */
	assert_int_equal(id.nmic, 1);
	identify_ns(a.adm, 2, &id);
	assert_int_equal(id.rescap, 0);
	/* the namespace without reservations does not know the commands */
	assert_int_equal(resv_cmd(a.io, NVME_CMD_RESV_REGISTER, 2, 0, 0, 1), gen(NVME_SC_INVALID_OPCODE));
	/* features on it are refused */
	{
		struct nvme_sqe c = feat(false, NVME_FEAT_RESV_PERSIST, 0);

		c.nsid = 2;
		assert_int_equal(xs(a.adm, c), INVALID);
	}
}

/* with reservations on every namespace, ONCS bit 5 */
static void test_resv_oncs(void **state)
{
	struct host a;
	struct treq *r;

	(void)state;
	env_up("{'subsystems': [{'nqn': '" NQN1 "', 'attr': {'allow_any_host': '1'},"
	       " 'namespaces': [{'nsid': 1, 'device': {'mem': '1MiB'}}]}],"
	       " 'ports': [{'portid': 1, 'addr': {" TCP("127.0.0.1", "4420") "}, 'subsystems': ['" NQN1 "']}]}");
	a = host_up(HOSTA);
	r = identify(a.adm, NVME_ID_CNS_CTRL, 0);
	assert_int_equal(status_of(r), ST_OK);
	assert_int_equal(((uint8_t *)r->req.buf)[520] & NVME_ONCS_RESV, NVME_ONCS_RESV);
	put(r);
}

static void test_resv_register(void **state)
{
	struct host a, b;
	struct rpt r;
	uint64_t k;
	uint32_t g;

	(void)state;
	env_up(cfg_resv);
	a = host_up(HOSTA);
	b = host_up(HOSTB);
	r = report(a.io);
	assert_int_equal(r.regctl, 0);
	g = r.gen;
	/* unregister and replace need a registration (replace with IEKEY
	 * registers, as SPDK does) */
	assert_int_equal(reg(a.io, RREGA(1) | IEKEY, 0, 0), CONFLICT);
	assert_int_equal(reg(a.io, RREGA(2), 0, 5), CONFLICT);
	assert_int_equal(reg(a.io, RREGA(2) | IEKEY, 0, 5), ST_OK);
	assert_int_equal(reg(a.io, RREGA(1), 5, 0), ST_OK);
	g += 2;
	assert_int_equal(reg(a.io, RREGA(0), 0, 0xaa), ST_OK);
	/* the same key again: fine; another: conflict */
	assert_int_equal(reg(a.io, RREGA(0), 0, 0xaa), ST_OK);
	assert_int_equal(reg(a.io, RREGA(0), 0, 0xab), CONFLICT);
	/* CPTPL 01b is reserved; action 3 does not exist */
	assert_int_equal(reg(a.io, RREGA(0) | CPTPL(1), 0, 0xaa), INVALID);
	assert_int_equal(reg(a.io, RREGA(3), 0xaa, 0xaa), INVALID);
	r = report(a.io);
	assert_int_equal(r.regctl, 1);
	assert_int_equal(r.gen, g + 2);         /* two successful registers */
	assert_non_null(entry(&r, hostid_a, &k, NULL));
	assert_int_equal(k, 0xaa);
	assert_int_equal(r.e[0].cntlid, 0xffff);
	/* replace: CRKEY must match unless IEKEY */
	assert_int_equal(reg(a.io, RREGA(2), 0xbad, 0xbb), CONFLICT);
	assert_int_equal(reg(a.io, RREGA(2), 0xaa, 0xbb), ST_OK);
	assert_int_equal(reg(a.io, RREGA(2) | IEKEY, 0xbad, 0xcc), ST_OK);
	r = report(b.io);
	entry(&r, hostid_a, &k, NULL);
	assert_int_equal(k, 0xcc);
	/* B is another host: its own registration */
	assert_int_equal(reg(b.io, RREGA(1), 0xcc, 0), CONFLICT);
	assert_int_equal(reg(b.io, RREGA(0), 0, 0xcc), ST_OK);
	r = report(b.io);
	assert_int_equal(r.regctl, 2);
	/* unregister: CRKEY must match unless IEKEY */
	assert_int_equal(reg(a.io, RREGA(1), 0xbad, 0), CONFLICT);
	assert_int_equal(reg(a.io, RREGA(1), 0xcc, 0), ST_OK);
	assert_int_equal(reg(b.io, RREGA(1) | IEKEY, 0xbad, 0), ST_OK);
	r = report(a.io);
	assert_int_equal(r.regctl, 0);
	assert_int_equal(r.gen, g + 7);
	/* data shorter than the command's 16 bytes */
	{
		struct nvme_sqe c = sqe(NVME_CMD_RESV_REGISTER, 1);
		uint64_t d = 0;
		struct treq *t = exec_h2c(a.io, c, &d, 8, true);

		assert_int_equal(status_of(t), gen(NVME_SC_SGL_INVALID_DATA));
		put(t);
	}
}

/* two controllers with the same host ID are one host */
static void test_resv_same_host_two_ctrls(void **state)
{
	struct host a1, a2, b;
	struct rpt r;

	(void)state;
	env_up(cfg_resv);
	a1 = host_up(HOSTA);
	a2 = host_up(HOSTA);
	b = host_up(HOSTB);
	assert_int_not_equal(a1.cntlid, a2.cntlid);
	assert_int_equal(reg(a1.io, RREGA(0), 0, 1), ST_OK);
	assert_int_equal(reg(a2.io, RREGA(0), 0, 2), CONFLICT);     /* already registered, key 1 */
	assert_int_equal(acq(a2.io, 0, NVMF_RTYPE_EA, 1, 0), ST_OK);
	r = report(b.io);
	assert_int_equal(r.regctl, 1);
	assert_int_equal(r.rtype, NVMF_RTYPE_EA);
	assert_int_equal(wr(a1.io), ST_OK);
	assert_int_equal(rd(a2.io), ST_OK);
	assert_int_equal(rd(b.io), CONFLICT);
	assert_int_equal(rel(a1.io, 0, NVMF_RTYPE_EA, 1), ST_OK);
	assert_int_equal(rd(b.io), ST_OK);
}

/* the specification's table: for each type, may a registrant (B) and a
 * non-registrant (C) read and write; the holder (A) always may */
static const struct {
	uint8_t type;
	bool b_read, b_write, c_read, c_write;
} table[] = {
	{ NVMF_RTYPE_WE, true, false, true, false },
	{ NVMF_RTYPE_EA, false, false, false, false },
	{ NVMF_RTYPE_WE_RO, true, true, true, false },
	{ NVMF_RTYPE_EA_RO, true, true, false, false },
	{ NVMF_RTYPE_WE_AR, true, true, true, false },
	{ NVMF_RTYPE_EA_AR, true, true, false, false },
};

/* the target up with hosts A, B and C connected; A (key 0xa) and B (key
 * 0xb) registered when asked */
static void three_hosts(struct host *a, struct host *b, struct host *c, bool register_ab)
{
	env_up(cfg_resv);
	*a = host_up(HOSTA);
	*b = host_up(HOSTB);
	*c = host_up(HOSTC);
	if (register_ab) {
		assert_int_equal(reg(a->io, 0, 0, 0xa), ST_OK);
		assert_int_equal(reg(b->io, 0, 0, 0xb), ST_OK);
	}
}

static uint16_t want(bool ok)
{
	return ok ? ST_OK : CONFLICT;
}

static void test_resv_types(void **state)
{
	struct host a, b, c;

	(void)state;
	three_hosts(&a, &b, &c, true);
	/* registrations alone restrict nothing, and cost the I/O path nothing */
	assert_false(nvmf_resv_held(ns1()->resv));
	assert_int_equal(wr(c.io), ST_OK);
	for (unsigned i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		uint8_t t = table[i].type;
		bool ar = t == NVMF_RTYPE_WE_AR || t == NVMF_RTYPE_EA_AR;
		struct rpt r;
		uint8_t rc;
		uint32_t g;

		/* type 0 and 7 do not exist; a wrong key is a conflict */
		assert_int_equal(acq(a.io, 0, 0, 0xa, 0), INVALID);
		assert_int_equal(acq(a.io, 0, 7, 0xa, 0), INVALID);
		assert_int_equal(acq(a.io, 0, t, 0xbad, 0), CONFLICT);
		/* IEKEY does not apply to Acquire */
		assert_int_equal(acq(a.io, IEKEY, t, 0xa, 0), INVALID);
		g = report(a.io).gen;
		assert_int_equal(acq(a.io, 0, t, 0xa, 0), ST_OK);
		assert_true(nvmf_resv_held(ns1()->resv));
		/* acquiring the same again is fine, another type is not */
		assert_int_equal(acq(a.io, 0, t, 0xa, 0), ST_OK);
		assert_int_equal(acq(a.io, 0, t == 1 ? 2 : 1, 0xa, 0), CONFLICT);
		/* others cannot acquire (all-registrants: B holds it too, same type only) */
		assert_int_equal(acq(b.io, 0, t, 0xb, 0), ar ? ST_OK : CONFLICT);
		assert_int_equal(acq(c.io, 0, t, 0xc, 0), CONFLICT);
		r = report(c.io);
		assert_int_equal(r.rtype, t);
		assert_int_equal(r.regctl, 2);
		assert_int_equal(r.gen, g);     /* acquire does not change the generation */
		assert_non_null(entry(&r, hostid_a, NULL, &rc));
		assert_int_equal(rc, 1);
		assert_non_null(entry(&r, hostid_b, NULL, &rc));
		assert_int_equal(rc, ar ? 1 : 0);
		assert_null(entry(&r, hostid_c, NULL, NULL));
		/* the table */
		assert_int_equal(rd(a.io), ST_OK);
		assert_int_equal(wr(a.io), ST_OK);
		assert_int_equal(rd(b.io), want(table[i].b_read));
		assert_int_equal(wr(b.io), want(table[i].b_write));
		assert_int_equal(rd(c.io), want(table[i].c_read));
		assert_int_equal(wr(c.io), want(table[i].c_write));
		/* write zeroes and flush are writes, compare is a read */
		{
			struct nvme_sqe z = rw(NVME_CMD_WRITE_ZEROES, 1, 0, 1);

			assert_int_equal(xs(c.io, z), want(table[i].c_write));
			assert_int_equal(xs(c.io, sqe(NVME_CMD_FLUSH, 1)), want(table[i].c_write));
		}
		/* the other namespace has no reservation */
		assert_int_equal(io_read(c.io, 2, 0, 1, NULL, 512), ST_OK);
		/* release: a non-holder's is a no-op (all-registrants: B holds it),
		 * a wrong type is Invalid Field, a wrong key a conflict */
		if (!ar) {
			assert_int_equal(rel(b.io, 0, t, 0xb), ST_OK);
			assert_int_equal(report(a.io).rtype, t);
		}
		assert_int_equal(rel(c.io, 0, t, 0xc), CONFLICT);
		assert_int_equal(rel(a.io, 0, t == 1 ? 2 : 1, 0xa), INVALID);
		assert_int_equal(rel(a.io, 0, t, 0xbad), CONFLICT);
		assert_int_equal(rel(a.io, IEKEY, t, 0xa), INVALID);
		assert_int_equal(rel(ar ? b.io : a.io, 0, t, ar ? 0xb : 0xa), ST_OK);
		r = report(a.io);
		assert_int_equal(r.rtype, 0);
		assert_int_equal(r.regctl, 2);
		assert_false(nvmf_resv_held(ns1()->resv));
		assert_int_equal(wr(c.io), ST_OK);
		/* releasing what is not held is fine */
		assert_int_equal(rel(a.io, 0, t, 0xa), ST_OK);
	}
}

/* the holder unregisters: types 1-4 release, all-registrants only with the last one */
static void test_resv_unregister_holder(void **state)
{
	struct host a, b, c;

	(void)state;
	three_hosts(&a, &b, &c, true);
	assert_int_equal(acq(a.io, 0, NVMF_RTYPE_WE_RO, 0xa, 0), ST_OK);
	assert_int_equal(reg(a.io, RREGA(1), 0xa, 0), ST_OK);
	assert_int_equal(report(c.io).rtype, 0);
	assert_int_equal(wr(c.io), ST_OK);
	assert_int_equal(reg(a.io, 0, 0, 0xa), ST_OK);
	assert_int_equal(acq(a.io, 0, NVMF_RTYPE_EA_AR, 0xa, 0), ST_OK);
	assert_int_equal(reg(a.io, RREGA(1), 0xa, 0), ST_OK);
	assert_int_equal(report(c.io).rtype, NVMF_RTYPE_EA_AR);    /* B still registered */
	assert_int_equal(rd(c.io), CONFLICT);
	assert_int_equal(reg(b.io, RREGA(1), 0xb, 0), ST_OK);
	assert_int_equal(report(c.io).rtype, 0);
	assert_int_equal(rd(c.io), ST_OK);
}

static void test_resv_preempt(void **state)
{
	struct host a, b, c;
	struct rpt r;
	uint8_t rc;
	uint32_t g;

	(void)state;
	three_hosts(&a, &b, &c, true);
	assert_int_equal(reg(c.io, 0, 0, 0xc), ST_OK);
	/* no reservation: preempt unregisters the key's owners */
	g = report(a.io).gen;
	assert_int_equal(acq(b.io, 1, NVMF_RTYPE_WE, 0xb, 0xc), ST_OK);
	r = report(a.io);
	assert_int_equal(r.regctl, 2);
	assert_int_equal(r.rtype, 0);
	assert_int_equal(r.gen, g + 1);
	assert_null(entry(&r, hostid_c, NULL, NULL));
	assert_int_equal(acq(b.io, 1, NVMF_RTYPE_WE, 0xb, 0x77), CONFLICT);     /* nobody has that key */
	assert_int_equal(reg(c.io, 0, 0, 0xc), ST_OK);
	/* A holds write exclusive; B preempts it with A's key as exclusive access */
	assert_int_equal(acq(a.io, 0, NVMF_RTYPE_WE, 0xa, 0), ST_OK);
	assert_int_equal(acq(b.io, 1, NVMF_RTYPE_EA, 0xbad, 0xa), CONFLICT);    /* B's own key is checked */
	assert_int_equal(acq(b.io, 1, NVMF_RTYPE_EA, 0xb, 0), INVALID);         /* PRKEY 0, not all-registrants */
	g = report(a.io).gen;
	assert_int_equal(acq(b.io, 1, NVMF_RTYPE_EA, 0xb, 0xa), ST_OK);
	r = report(c.io);
	assert_int_equal(r.rtype, NVMF_RTYPE_EA);
	assert_int_equal(r.regctl, 2);
	assert_int_equal(r.gen, g + 1);
	assert_null(entry(&r, hostid_a, NULL, NULL));
	assert_non_null(entry(&r, hostid_b, NULL, &rc));
	assert_int_equal(rc, 1);
	assert_int_equal(wr(a.io), CONFLICT);
	assert_int_equal(rd(a.io), CONFLICT);
	assert_int_equal(wr(b.io), ST_OK);
	/* the preempted host's key is gone */
	assert_int_equal(rel(a.io, 0, NVMF_RTYPE_EA, 0xa), CONFLICT);
	/* the holder preempting with its own key changes the type */
	g = report(a.io).gen;
	assert_int_equal(acq(b.io, 1, NVMF_RTYPE_WE, 0xb, 0xb), ST_OK);
	r = report(a.io);
	assert_int_equal(r.rtype, NVMF_RTYPE_WE);
	assert_int_equal(r.regctl, 2);
	assert_int_equal(r.gen, g + 1);
	assert_int_equal(rd(a.io), ST_OK);
	assert_int_equal(acq(b.io, 1, NVMF_RTYPE_EA, 0xb, 0xb), ST_OK);
	/* preempting a non-holder's key leaves the reservation alone */
	assert_int_equal(acq(b.io, 1, NVMF_RTYPE_EA, 0xb, 0xc), ST_OK);
	r = report(a.io);
	assert_int_equal(r.rtype, NVMF_RTYPE_EA);
	assert_int_equal(r.regctl, 1);
	/* preempt and abort: the same, A takes over */
	assert_int_equal(reg(a.io, 0, 0, 0xa), ST_OK);
	assert_int_equal(acq(a.io, 2, NVMF_RTYPE_WE_RO, 0xa, 0xb), ST_OK);
	r = report(a.io);
	assert_int_equal(r.rtype, NVMF_RTYPE_WE_RO);
	assert_int_equal(r.regctl, 1);
	assert_int_equal(wr(b.io), CONFLICT);
	/* all registrants: PRKEY 0 takes it and removes every other registrant */
	assert_int_equal(reg(b.io, 0, 0, 0xb), ST_OK);
	assert_int_equal(reg(c.io, 0, 0, 0xc), ST_OK);
	assert_int_equal(rel(a.io, 0, NVMF_RTYPE_WE_RO, 0xa), ST_OK);
	assert_int_equal(acq(a.io, 0, NVMF_RTYPE_WE_AR, 0xa, 0), ST_OK);
	assert_int_equal(acq(b.io, 1, NVMF_RTYPE_EA, 0xb, 0), ST_OK);
	r = report(a.io);
	assert_int_equal(r.rtype, NVMF_RTYPE_EA);
	assert_int_equal(r.regctl, 1);
	assert_non_null(entry(&r, hostid_b, NULL, &rc));
	assert_int_equal(rc, 1);
	assert_int_equal(rd(a.io), CONFLICT);
	/* clear: everyone goes, the generation moves */
	assert_int_equal(reg(c.io, 0, 0, 0xc), ST_OK);
	g = report(a.io).gen;
	assert_int_equal(rel(c.io, 1, 0, 0xbad), CONFLICT);
	assert_int_equal(rel(c.io, 1, 0, 0xc), ST_OK);
	r = report(a.io);
	assert_int_equal(r.rtype, 0);
	assert_int_equal(r.regctl, 0);
	assert_int_equal(r.gen, g + 1);
	assert_int_equal(rd(a.io), ST_OK);
}

static void test_resv_report_layouts(void **state)
{
	uint8_t b[64 + 64 * 2 + 64];
	struct host a, bb;
	uint64_t key;
	uint16_t regctl;

	(void)state;
	env_up(cfg_resv);
	a = host_up(HOSTA);
	bb = host_up(HOSTB);
	assert_int_equal(reg(a.io, 0, 0, 0x1122334455667788ull), ST_OK);
	assert_int_equal(reg(bb.io, 0, 0, 0x99), ST_OK);
	assert_int_equal(acq(a.io, 0, NVMF_RTYPE_WE, 0x1122334455667788ull, 0), ST_OK);
	/* EDS cleared: a 64-bit host ID cannot carry a fabrics host's */
	assert_int_equal(report_raw(a.io, false, 4096, 4096, NULL), gen(NVME_SC_HOST_ID_INCONSIST));
	/* EDS: header (64 bytes), then 64 per registrant */
	assert_int_equal(report_raw(a.io, true, sizeof(b), sizeof(b), b), ST_OK);
	assert_int_equal(b[4], NVMF_RTYPE_WE);
	memcpy(&regctl, b + 5, 2);
	assert_int_equal(regctl, 2);
	assert_int_equal(b[9], 0);              /* PTPLS */
	assert_int_equal(b[64], 0xff);          /* CNTLID FFFFh */
	assert_int_equal(b[65], 0xff);
	assert_int_equal(b[66], 1);             /* RCSTS: holds */
	memcpy(&key, b + 72, 8);
	assert_int_equal(key, 0x1122334455667788ull);
	assert_memory_equal(b + 80, hostid_a, 16);
	assert_int_equal(b[128 + 2], 0);
	assert_memory_equal(b + 128 + 16, hostid_b, 16);
	for (unsigned i = 192; i < sizeof(b); i++)
		assert_int_equal(b[i], 0);
	/* truncated to NUMD: the header and half an entry; REGCTL still counts all */
	assert_int_equal(report_raw(a.io, true, 96, sizeof(b), b), ST_OK);
	memcpy(&regctl, b + 5, 2);
	assert_int_equal(regctl, 2);
	assert_int_equal(b[66], 1);
	memcpy(&key, b + 72, 8);
	assert_int_equal(key, 0x1122334455667788ull);
	for (unsigned i = 96; i < sizeof(b); i++)
		assert_int_equal(b[i], 0);
	/* and to the buffer, when the SGL is shorter than NUMD */
	assert_int_equal(report_raw(a.io, true, 4096, 8, b), ST_OK);
	assert_int_equal(b[4], NVMF_RTYPE_WE);
}

/* ---- notifications ---- */

/* an AER outstanding on the admin queue */
static struct treq *aer(struct tq *adm)
{
	struct nvme_sqe c = sqe(NVME_ADM_ASYNC_EVENT, 0);
	struct treq *r = exec_raw(adm, &c, NULL, 0, NULL, 0);

	assert_int_equal(r->completions, 0);
	return r;
}

struct logpage {
	uint64_t count;
	uint8_t type, avail;
	uint32_t nsid;
};

static struct logpage resv_log(struct tq *adm)
{
	struct treq *r = get_log(adm, NVME_LOG_RESV_NOTIFY, 0, 64);
	struct logpage p;
	const uint8_t *b;

	assert_int_equal(status_of(r), ST_OK);
	b = r->req.buf;
	memcpy(&p.count, b, 8);
	p.type = b[8];
	p.avail = b[9];
	memcpy(&p.nsid, b + 12, 4);
	put(r);
	return p;
}

static void test_resv_notifications(void **state)
{
	struct host a, b, c;
	struct treq *ea, *eb;
	struct logpage p;

	(void)state;
	three_hosts(&a, &b, &c, false);
	ea = aer(a.adm);
	eb = aer(b.adm);
	assert_int_equal(reg(a.io, 0, 0, 0xa), ST_OK);
	assert_int_equal(reg(b.io, 0, 0, 0xb), ST_OK);
	assert_int_equal(reg(c.io, 0, 0, 0xc), ST_OK);
	/* nothing yet: the log is empty */
	p = resv_log(a.adm);
	assert_int_equal(p.type, NVMF_RESV_LOG_EMPTY);
	assert_int_equal(p.count, 0);
	/* B preempts A: A's registration is preempted, an event for A only */
	assert_int_equal(acq(a.io, 0, NVMF_RTYPE_WE, 0xa, 0), ST_OK);
	assert_int_equal(acq(b.io, 1, NVMF_RTYPE_WE_RO, 0xb, 0xa), ST_OK);
	assert_int_equal(ea->completions, 1);
	assert_int_equal(ea->req.rsp.dw0, 0x6u | 0x80u << 16);    /* I/O command specific, log 80h */
	assert_int_equal(eb->completions, 0);
	p = resv_log(a.adm);
	assert_int_equal(p.type, NVMF_RESV_LOG_REG_PREEMPTED);
	assert_int_equal(p.nsid, 1);
	assert_int_equal(p.count, 1);
	assert_int_equal(p.avail, 0);
	assert_int_equal(resv_log(a.adm).type, NVMF_RESV_LOG_EMPTY);
	/* the type changed (write exclusive to registrants only): C, still
	 * registered, is told; reading the log answers its pending event */
	p = resv_log(c.adm);
	assert_int_equal(p.type, NVMF_RESV_LOG_RESV_RELEASED);
	assert_int_equal(p.count, 1);
	/* B releases its registrants-only reservation: C is told (A is no
	 * longer registered, B did it) */
	put(ea);
	ea = aer(a.adm);
	{
		struct treq *ec = aer(c.adm);

		assert_int_equal(rel(b.io, 0, NVMF_RTYPE_WE_RO, 0xb), ST_OK);
		assert_int_equal(ec->completions, 1);
		assert_int_equal(ea->completions, 0);
		assert_int_equal(eb->completions, 0);
		p = resv_log(c.adm);
		assert_int_equal(p.type, NVMF_RESV_LOG_RESV_RELEASED);
		/* clear by B: C's reservation is preempted */
		put(ec);
		ec = aer(c.adm);
		assert_int_equal(rel(b.io, 1, 0, 0xb), ST_OK);
		assert_int_equal(ec->completions, 1);
		p = resv_log(c.adm);
		assert_int_equal(p.type, NVMF_RESV_LOG_RESV_PREEMPTED);
		assert_int_equal(p.count, 3);   /* C's third page */
	}
	/* the mask (per namespace): registration preempted masked */
	{
		struct nvme_sqe f = feat(true, NVME_FEAT_RESV_MASK, 1u << 1);

		f.nsid = 1;
		assert_int_equal(xs(a.adm, f), ST_OK);
		f = feat(false, NVME_FEAT_RESV_MASK, 0);
		f.nsid = 1;
		assert_int_equal(xs(b.adm, f), ST_OK);
		assert_int_equal(E.last.dw0, 1u << 1);
		f = feat(true, NVME_FEAT_RESV_MASK, 1u << 0);   /* bit 0 is reserved */
		f.nsid = 1;
		assert_int_equal(xs(a.adm, f), INVALID);
		f = feat(false, NVME_FEAT_RESV_MASK, 0);
		f.nsid = 9;
		assert_int_equal(xs(a.adm, f), gen(NVME_SC_INVALID_NS));
	}
	assert_int_equal(reg(a.io, 0, 0, 0xa), ST_OK);
	assert_int_equal(reg(b.io, 0, 0, 0xb), ST_OK);
	assert_int_equal(acq(b.io, 1, NVMF_RTYPE_WE, 0xb, 0xa), ST_OK);
	assert_int_equal(ea->completions, 0);
	assert_int_equal(resv_log(a.adm).type, NVMF_RESV_LOG_EMPTY);
	{
		struct nvme_sqe f = feat(true, NVME_FEAT_RESV_MASK, 0);

		f.nsid = 0xffffffffu;           /* every namespace */
		assert_int_equal(xs(a.adm, f), ST_OK);
	}
	assert_int_equal(ns1()->resv->mask, 0);
}

/* the log is a queue of 64 pages; lost pages show in the Log Page Count */
static void test_resv_log_overflow(void **state)
{
	struct host a, b;
	struct logpage p;
	unsigned n = NVMF_RESV_LOG_DEPTH + 6;

	(void)state;
	env_up(cfg_resv);
	a = host_up(HOSTA);
	b = host_up(HOSTB);
	assert_int_equal(reg(a.io, 0, 0, 0xa), ST_OK);
	assert_int_equal(reg(b.io, 0, 0, 0xb), ST_OK);
	for (unsigned i = 0; i < n; i++) {      /* each release tells B */
		assert_int_equal(acq(a.io, 0, NVMF_RTYPE_WE_RO, 0xa, 0), ST_OK);
		assert_int_equal(rel(a.io, 0, NVMF_RTYPE_WE_RO, 0xa), ST_OK);
	}
	for (unsigned i = 1; i <= NVMF_RESV_LOG_DEPTH; i++) {
		p = resv_log(b.adm);
		assert_int_equal(p.type, NVMF_RESV_LOG_RESV_RELEASED);
		assert_int_equal(p.avail, NVMF_RESV_LOG_DEPTH - i);
		/* the last one queued stands for the 6 lost after it */
		assert_int_equal(p.count, i < NVMF_RESV_LOG_DEPTH ? i : n);
	}
	p = resv_log(b.adm);
	assert_int_equal(p.type, NVMF_RESV_LOG_EMPTY);
	/* A got nothing */
	assert_int_equal(resv_log(a.adm).type, NVMF_RESV_LOG_EMPTY);
}

/* one event until the log is read */
static void test_resv_aen_once_per_read(void **state)
{
	struct host a, b;
	struct treq *e1, *e2;

	(void)state;
	env_up(cfg_resv);
	a = host_up(HOSTA);
	b = host_up(HOSTB);
	e1 = aer(b.adm);
	e2 = aer(b.adm);
	assert_int_equal(reg(a.io, 0, 0, 0xa), ST_OK);
	assert_int_equal(reg(b.io, 0, 0, 0xb), ST_OK);
	assert_int_equal(acq(a.io, 0, NVMF_RTYPE_EA_RO, 0xa, 0), ST_OK);
	assert_int_equal(rel(a.io, 0, NVMF_RTYPE_EA_RO, 0xa), ST_OK);
	assert_int_equal(e1->completions + e2->completions, 1);
	assert_int_equal(acq(a.io, 0, NVMF_RTYPE_EA_RO, 0xa, 0), ST_OK);
	assert_int_equal(rel(a.io, 0, NVMF_RTYPE_EA_RO, 0xa), ST_OK);
	assert_int_equal(e1->completions + e2->completions, 1);
	/* read with Retain Asynchronous Event: still no new event */
	{
		struct nvme_sqe c = sqe(NVME_ADM_GET_LOG_PAGE, 0);
		struct treq *r;

		c.cdw10 = NVME_LOG_RESV_NOTIFY | 1u << 15 | (64u / 4 - 1) << 16;
		r = exec_c2h(b.adm, c, 64);
		assert_int_equal(status_of(r), ST_OK);
		assert_int_equal(((uint8_t *)r->req.buf)[8], NVMF_RESV_LOG_RESV_RELEASED);
		assert_int_equal(((uint8_t *)r->req.buf)[9], 1);
		put(r);
	}
	assert_int_equal(acq(a.io, 0, NVMF_RTYPE_EA_RO, 0xa, 0), ST_OK);
	assert_int_equal(rel(a.io, 0, NVMF_RTYPE_EA_RO, 0xa), ST_OK);
	assert_int_equal(e1->completions + e2->completions, 1);
	/* a read without it: the next notification is an event again */
	assert_int_equal(resv_log(b.adm).avail, 1);
	assert_int_equal(acq(a.io, 0, NVMF_RTYPE_EA_RO, 0xa, 0), ST_OK);
	assert_int_equal(rel(a.io, 0, NVMF_RTYPE_EA_RO, 0xa), ST_OK);
	assert_int_equal(e1->completions + e2->completions, 2);
}

/* the registrant cap: a clear status, nothing changed */
static void test_resv_registrant_cap(void **state)
{
	struct host a;
	struct nvmf_resv *r;

	(void)state;
	env_up(cfg_resv);
	a = host_up(HOSTA);
	r = ns1()->resv;
	for (unsigned i = 0; i < NVMF_RESV_MAX_REGS; i++) {
		memset(r->regs[i].hostid, 0x40 + (int)(i & 0x3f), 16);
		r->regs[i].hostid[0] = (uint8_t)i;
		r->regs[i].key = i;
	}
	r->nr = NVMF_RESV_MAX_REGS;
	assert_int_equal(reg(a.io, 0, 0, 0xa), gen(NVME_SC_CAP_EXCEEDED));
	assert_int_equal(r->nr, NVMF_RESV_MAX_REGS);
	/* one goes (preempted by key), then A fits */
	r->regs[5].key = 0x5555;
	r->nr = NVMF_RESV_MAX_REGS;
	assert_int_equal(reg(a.io, 0, 0, 0xa), gen(NVME_SC_CAP_EXCEEDED));
	r->nr--;
	assert_int_equal(reg(a.io, 0, 0, 0xa), ST_OK);
	assert_int_equal(acq(a.io, 1, NVMF_RTYPE_WE, 0xa, 0x5555), ST_OK);
	assert_int_equal(r->nr, NVMF_RESV_MAX_REGS - 1);
}

/* ---- PTPL ---- */

static char *read_state(void)
{
	char p[300];
	FILE *f;
	char *s = calloc(1, 65536);

	assert_non_null(s);
	snprintf(p, sizeof(p), "%s.resv", tgt_cfg_name);
	f = fopen(p, "r");
	if (f) {
		size_t n = fread(s, 1, 65535, f);

		s[n] = 0;
		fclose(f);
	}
	return s;
}

static void restart(const char *json)
{
	env_down(NULL);
	env_up(json);
}

static void test_resv_ptpl_restart(void **state)
{
	struct host a, b, c;
	struct nvme_sqe f;
	struct rpt r;
	uint8_t rc;
	char *s;

	(void)state;
	env_up(cfg_resv);
	a = host_up(HOSTA);
	b = host_up(HOSTB);
	f = feat(false, NVME_FEAT_RESV_PERSIST, 0);
	f.nsid = 1;
	assert_int_equal(xs(a.adm, f), ST_OK);
	assert_int_equal(E.last.dw0, 0);
	/* without PTPL nothing is written */
	assert_int_equal(reg(a.io, 0, 0, 0xa), ST_OK);
	s = read_state();
	assert_string_equal(s, "");
	free(s);
	/* CPTPL 11b: on, and written at once */
	assert_int_equal(reg(b.io, CPTPL(3), 0, 0xb), ST_OK);
	assert_int_equal(xs(a.adm, f), ST_OK);
	assert_int_equal(E.last.dw0, 1);
	assert_int_equal(acq(b.io, 0, NVMF_RTYPE_EA_RO, 0xb, 0), ST_OK);
	r = report(a.io);
	assert_int_equal(r.ptpls, 1);
	s = read_state();
	assert_non_null(strstr(s, "nvmf-bridge-reservations 1\nns " NQN1 " 1 "));
	free(s);
	restart(cfg_resv);
	a = host_up(HOSTA);
	c = host_up(HOSTC);
	r = report(c.io);
	assert_int_equal(r.rtype, NVMF_RTYPE_EA_RO);
	assert_int_equal(r.regctl, 2);
	assert_int_equal(r.ptpls, 1);
	assert_int_equal(r.gen, 2);
	assert_non_null(entry(&r, hostid_b, NULL, &rc));
	assert_int_equal(rc, 1);
	assert_int_equal(rd(c.io), CONFLICT);
	assert_int_equal(rd(a.io), ST_OK);
	/* a different namespace under the same NSID (another UUID) does not inherit it */
	{
		char *other = strdup(cfg_resv);
		char *u = strstr(other, "6f1d3c52");

		assert_non_null(u);
		memcpy(u, "7f1d3c52", 8);
		restart(other);
		a = host_up(HOSTA);
		r = report(a.io);
		assert_int_equal(r.regctl, 0);
		assert_int_equal(r.ptpls, 0);
		free(other);
	}
	/* the original is still in the file; PTPL off (Set Features) drops it */
	restart(cfg_resv);
	a = host_up(HOSTA);
	assert_int_equal(report(a.io).regctl, 2);
	f = feat(true, NVME_FEAT_RESV_PERSIST, 0);
	f.nsid = 1;
	assert_int_equal(xs(a.adm, f), ST_OK);
	s = read_state();
	assert_null(strstr(s, "\nns "));
	free(s);
	restart(cfg_resv);
	a = host_up(HOSTA);
	assert_int_equal(report(a.io).regctl, 0);
	/* Register's CPTPL 10b turns it off as well */
	assert_int_equal(reg(a.io, CPTPL(3), 0, 0xa), ST_OK);
	s = read_state();
	assert_non_null(strstr(s, "\nns "));
	free(s);
	assert_int_equal(reg(a.io, CPTPL(2), 0, 0xa), ST_OK);
	s = read_state();
	assert_null(strstr(s, "\nns "));
	free(s);
}

/* A PTPL change completes only once the writer thread wrote it, on the
 * command's reactor; commands without PTPL complete at once */
static void test_resv_ptpl_writer_thread(void **state)
{
	uint64_t d[2] = { 0, 0xb };
	struct treq *r1, *r2;
	struct host a, b;
	struct nvme_sqe c;
	char *s;

	(void)state;
	env_up(cfg_resv);
	a = host_up(HOSTA);
	b = host_up(HOSTB);
	c = sqe(NVME_CMD_RESV_REGISTER, 1);
	c.cdw10 = CPTPL(3);
	d[1] = 0xa;
	r1 = exec_h2c(a.io, c, d, 16, true);
	/* not yet: the reactor (this thread) has not run */
	assert_int_equal(r1->completions, 0);
	c = sqe(NVME_CMD_RESV_REGISTER, 1);
	d[1] = 0xb;
	r2 = exec_h2c(b.io, c, d, 16, true);
	assert_int_equal(r2->completions, 0);
	settle(r1);
	settle(r2);
	assert_int_equal(status_of(r1), ST_OK);
	assert_int_equal(status_of(r2), ST_OK);
	put(r1);
	put(r2);
	s = read_state();
	assert_non_null(strstr(s, ":000000000000000a"));
	assert_non_null(strstr(s, ":000000000000000b"));
	free(s);
	/* a Report changes nothing: answered at once */
	{
		struct nvme_sqe rc = sqe(NVME_CMD_RESV_REPORT, 1);
		struct treq *r;

		rc.cdw10 = 4096 / 4 - 1;
		rc.cdw11 = 1;
		r = exec_c2h(a.io, rc, 4096);
		assert_int_equal(r->completions, 1);
		put(r);
	}
	/* without PTPL a change completes at once */
	c = sqe(NVME_CMD_RESV_REGISTER, 1);
	c.cdw10 = CPTPL(2) | RREGA(1);
	d[0] = 0xa;
	r1 = exec_h2c(a.io, c, d, 16, true);
	settle(r1);
	assert_int_equal(status_of(r1), ST_OK);         /* (the PTPL-off write) */
	put(r1);
	c = sqe(NVME_CMD_RESV_REGISTER, 1);
	d[1] = 0xc;
	r1 = exec_h2c(a.io, c, d, 16, true);
	assert_int_equal(r1->completions, 1);
	put(r1);
}

static void test_resv_ptpl_damaged_file(void **state)
{
	char p[300], d[320];
	struct host a;
	struct stat st;
	FILE *f;

	(void)state;
	env_up(cfg_resv);
	a = host_up(HOSTA);
	assert_int_equal(reg(a.io, CPTPL(3), 0, 0xa), ST_OK);
	assert_int_equal(acq(a.io, 0, NVMF_RTYPE_WE, 0xa, 0), ST_OK);
	env_down(NULL);
	/* cut in the middle of a line */
	snprintf(p, sizeof(p), "%s.resv", tgt_cfg_name);
	assert_int_equal(truncate(p, 60), 0);
	/* the error names the file and says what happened */
	{
		char line[1024] = "";
		FILE *lf = tmpfile();

		assert_non_null(lf);
		log_set_output_for_test(lf);
		env_up(cfg_resv);
		log_set_output_for_test(NULL);
		rewind(lf);
		assert_non_null(fgets(line, sizeof(line), lf));
		fclose(lf);
		assert_non_null(strstr(line, p));
		assert_non_null(strstr(line, "line 2: damaged; no reservation in it is restored; the file is kept as"));
	}
	a = host_up(HOSTA);
	assert_int_equal(report(a.io).regctl, 0);
	snprintf(d, sizeof(d), "%s.damaged", p);
	assert_int_equal(stat(d, &st), 0);      /* set aside, not lost */
	assert_int_not_equal(stat(p, &st), 0);
	env_down(NULL);
	/* not a state file at all; a holder that is not registered */
	f = fopen(p, "w");
	assert_non_null(f);
	fputs("nvmf-bridge-reservations 1\nns " NQN1 " 1 00 00 1 1 00 0\n", f);
	fclose(f);
	env_up(cfg_resv);
	a = host_up(HOSTA);
	assert_int_equal(report(a.io).regctl, 0);
}

int main(void)
{
#define T(t) cmocka_unit_test_setup_teardown(t, resv_setup, resv_teardown)
	const struct CMUnitTest tests[] = {
		T(test_resv_identify),
		T(test_resv_oncs),
		T(test_resv_register),
		T(test_resv_same_host_two_ctrls),
		T(test_resv_types),
		T(test_resv_unregister_holder),
		T(test_resv_preempt),
		T(test_resv_report_layouts),
		T(test_resv_notifications),
		T(test_resv_log_overflow),
		T(test_resv_aen_once_per_read),
		T(test_resv_registrant_cap),
		T(test_resv_ptpl_restart),
		T(test_resv_ptpl_writer_thread),
		T(test_resv_ptpl_damaged_file),
#undef T
	};

	log_set_level(LOG_LVL_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
