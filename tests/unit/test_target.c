/* SPDX-License-Identifier: MIT */
/*
 * The target core, driven through its transport interface by a fake
 * transport (no sockets): a target built from JSON with mem namespaces,
 * struct nvmf_sq objects made by hand and bound to a port, requests with
 * data buffers from the target's pool, commands filled as the Linux host
 * fills them (SGL descriptors, PSDT = SGL, Connect data in-capsule with an
 * offset data block), nvmf_req_prepare then nvmf_req_execute, and the CQE
 * checked field by field. The fake transport's complete() records the CQE;
 * disconnect() records the call (a real transport closes later, then calls
 * nvmf_sq_destroy; the tests do that themselves).
 *
 * The target owns its reactors; the test thread is reactor 0 (queues are
 * bound to it, so are the controllers' keep-alive timers). Keep-alive tests
 * run that reactor for a bounded time with a one-shot stop timer, so
 * timers fire as they do in the daemon, and never sleep blindly.
 *
 * JSON is written with single quotes, turned into double quotes before
 * parsing.
 */
#include <errno.h>
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
#include "target/metrics.h"
#include "target/target.h"
#include "tests/unit/tgt_harness.h"
#include "tests/fake_nvme.h"
#include "tests/support/dhchap_host.h"

#define NQN_UNKNOWN "nqn.2024-01.org.example:nothere"
#define DISC_NQN NVMF_DISCOVERY_NQN


/*
 * NQN1: any host, attr serial/model, CNTLIDs 5..7; namespaces 1 (1 MiB of
 * 512-byte blocks), 3 (1 MiB of 4 KiB blocks), 5 (disabled).
 * NQN2: only HOSTB; namespace 1.
 * Port 1 127.0.0.1:4420 (inline 16 KiB, both subsystems, one referral),
 * port 2 127.0.0.1:4421 (NQN2), port 3 0.0.0.0:4422 (NQN1). Discovery
 * listeners on 8009 are added by the target (bridge default).
 */
static const char cfg_main[] =
	"{'subsystems': ["
	" {'nqn': '" NQN1 "',"
	"  'attr': {'allow_any_host': '1', 'serial': 'SN0001', 'model': 'Bridge Test Model',"
	"           'cntlid_min': '5', 'cntlid_max': '7'},"
	"  'namespaces': [{'nsid': 1, 'device': {'mem': '1MiB'}},"
	"                 {'nsid': 3, 'device': {'mem': '1MiB', 'block_size': 4096}},"
	"                 {'nsid': 5, 'enable': 0, 'device': {'mem': '1MiB'}}]},"
	" {'nqn': '" NQN2 "', 'allowed_hosts': ['" HOSTB "'],"
	"  'namespaces': [{'nsid': 1, 'device': {'mem': '1MiB'}}]}],"
	" 'ports': ["
	" {'portid': 1, 'addr': {" TCP("127.0.0.1", "4420") "}, 'param': {'inline_data_size': '16384'},"
	"  'subsystems': ['" NQN1 "', '" NQN2 "'],"
	"  'referrals': [{'name': 'ref-b', 'enable': 1,"
	"                 'addr': {" TCP("192.0.2.11", "8009") ", 'portid': '7'}}]},"
	" {'portid': 2, 'addr': {" TCP("127.0.0.1", "4421") "}, 'subsystems': ['" NQN2 "']},"
	" {'portid': 3, 'addr': {" TCP("0.0.0.0", "4422") "}, 'subsystems': ['" NQN1 "']}]}";



/* ---- the fake transport ---- */




/* ---- environment ---- */

/* the discovery listener the target added for a configured address */
static struct nvmf_port *disc_port(const char *traddr)
{
	for (unsigned i = 0; i < E.t.nr_ports; i++)
		if (E.t.ports[i]->discovery_only && !strcmp(E.t.ports[i]->addr.traddr, traddr))
			return E.t.ports[i];
	fail_msg("no discovery port on %s", traddr);
	return NULL;
}

/* ---- commands ---- */

/* ---- fabrics ---- */


/* ---- admin ---- */

/* ---- I/O ---- */

static void pattern(uint8_t *p, size_t n, unsigned seed)
{
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (uint8_t)(x >> 16);
	}
}

static bool all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/* ---- reactor ---- */

/* run in 5 ms turns until q saw a disconnect or max_ms passed; returns
 * the time it ran in ms */
static uint64_t run_until_disconnect(struct tq *q, unsigned max_ms)
{
	uint64_t t0 = reactor_now_ns();

	while (!q->disconnects && reactor_now_ns() - t0 < max_ms * 1000000ull)
		run_reactor_ns(5);
	return (reactor_now_ns() - t0) / 1000000u;
}

/* ======================================================================== */
/* Connect: admin queue                                                      */
/* ======================================================================== */

static void test_connect_admin_ok(void **state)
{
	struct tq *q;
	struct conn_args a;
	uint16_t id;

	(void)state;
	env_up(cfg_main);
	q = tq_new(1);
	a = conn_admin(NQN1, HOSTA);
	id = connect_ok(q, &a);
	/* DW0 is the CNTLID from the subsystem's range (cntlid_min 5) */
	assert_int_equal(E.last.dw0, id);
	assert_in_range(id, 5, 7);
	assert_int_equal(E.last.dw1, 0);
	/* SQHD: the fabric queue's head after taking the Connect (entry 0) */
	assert_int_equal(E.last.sqhd, 1);
	assert_int_equal(E.last.sqid, 0);
	assert_non_null(q->sq.ctrl);
	assert_int_equal(q->sq.ctrl->cntlid, id);
	assert_int_equal(q->sq.size, 32);
	assert_int_equal(q->completions, 1);
	/* the next command reports the next head */
	assert_int_equal(prop_get(q, NVME_REG_VS, false, NULL), ST_OK);
	assert_int_equal(E.last.sqhd, 2);
	assert_int_equal(E.last.sqid, 0);
}

/* 4b.1: the dynamic controller model only: admin Connect must carry
 * CNTLID 0xFFFF; SPDK and the kernel reject anything else (0xFFFE too)
 * with Connect Invalid Parameters, IPO = 16 in the data (IATTR bit 0). */
static void test_connect_admin_cntlid_not_ffff(void **state)
{
	static const uint16_t bad[] = { 0x0001, 0x0005, 0xfffe, 0x0000 };

	(void)state;
	env_up(cfg_main);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct tq *q = tq_new(1);
		struct conn_args a = conn_admin(NQN1, HOSTA);

		a.cntlid = bad[i];
		assert_int_equal(connect_st(q, &a), spec(NVMF_SC_CONNECT_INVALID_PARAM));
		assert_int_equal(E.last.dw0, 16u | NVMF_CONNECT_IATTR_DATA);
		assert_int_equal(E.last.sqid, 0);
		assert_null(q->sq.ctrl);
	}
	assert_null(E.t.subsys[0]->ctrls);
}

static void test_connect_recfmt(void **state)
{
	struct tq *q;
	struct conn_args a;

	(void)state;
	env_up(cfg_main);
	q = tq_new(1);
	a = conn_admin(NQN1, HOSTA);
	a.recfmt = 1;
	assert_int_equal(connect_st(q, &a), spec(NVMF_SC_CONNECT_INCOMPATIBLE_FORMAT));
	assert_null(q->sq.ctrl);
	/* the queue may still connect properly */
	a.recfmt = 0;
	connect_ok(q, &a);
}

/* 4b.2: SQSIZE is 0's based, 0 is invalid: IPO 44 in the SQE (IATTR 0) */
static void test_connect_sqsize_zero(void **state)
{
	struct tq *q;
	struct conn_args a;

	(void)state;
	env_up(cfg_main);
	q = tq_new(1);
	a = conn_admin(NQN1, HOSTA);
	a.sqsize = 0;
	assert_int_equal(connect_st(q, &a), spec(NVMF_SC_CONNECT_INVALID_PARAM));
	assert_int_equal(E.last.dw0, 44);
	assert_null(q->sq.ctrl);
}

/* the admin queue holds at most 32 entries (Linux: NVME_AQ_DEPTH - 1 = 31) */
static void test_connect_admin_sqsize_too_big(void **state)
{
	static const uint16_t bad[] = { 32, 127, 0xffff };
	struct tq *q;
	struct conn_args a;

	(void)state;
	env_up(cfg_main);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		q = tq_new(1);
		a = conn_admin(NQN1, HOSTA);
		a.sqsize = bad[i];
		assert_int_equal(connect_st(q, &a), spec(NVMF_SC_CONNECT_INVALID_PARAM));
		assert_int_equal(E.last.dw0, 44);
		assert_null(q->sq.ctrl);
	}
	q = tq_new(1);
	a = conn_admin(NQN1, HOSTA);
	a.sqsize = 31;
	connect_ok(q, &a);
	assert_int_equal(q->sq.size, 32);
}

static void test_connect_unknown_subsystem(void **state)
{
	struct tq *q;
	struct conn_args a;

	(void)state;
	env_up(cfg_main);
	q = tq_new(1);
	a = conn_admin(NQN_UNKNOWN, HOSTA);
	assert_int_equal(connect_st(q, &a), spec(NVMF_SC_CONNECT_INVALID_PARAM));
	assert_int_equal(E.last.dw0, 256u | NVMF_CONNECT_IATTR_DATA);
	assert_null(q->sq.ctrl);
}

static void test_connect_host_not_allowed(void **state)
{
	struct tq *q;
	struct conn_args a;

	(void)state;
	env_up(cfg_main);
	/* NQN2 allows HOSTB only */
	q = tq_new(1);
	a = conn_admin(NQN2, HOSTA);
	assert_int_equal(connect_st(q, &a), spec(NVMF_SC_CONNECT_INVALID_HOST));
	assert_null(q->sq.ctrl);
	assert_null(E.t.subsys[1]->ctrls);
	q = tq_new(1);
	a = conn_admin(NQN2, HOSTB);
	connect_ok(q, &a);
	/* and NQN1 allows any host */
	q = tq_new(1);
	a = conn_admin(NQN1, HOSTB);
	connect_ok(q, &a);
}

static void test_connect_port_without_subsystem(void **state)
{
	struct tq *q;
	struct conn_args a;

	(void)state;
	env_up(cfg_main);
	/* port 2 exports NQN2 only */
	q = tq_new(2);
	a = conn_admin(NQN1, HOSTA);
	assert_int_equal(connect_st(q, &a), spec(NVMF_SC_CONNECT_INVALID_PARAM));
	assert_int_equal(E.last.dw0, 256u | NVMF_CONNECT_IATTR_DATA);
	assert_null(q->sq.ctrl);
	/* a discovery listener exports no NVM subsystem */
	q = tq_on(disc_port("127.0.0.1"), "127.0.0.1");
	assert_int_equal(connect_st(q, &a), spec(NVMF_SC_CONNECT_INVALID_PARAM));
	assert_int_equal(E.last.dw0, 256u | NVMF_CONNECT_IATTR_DATA);
	/* but the discovery subsystem answers on every port */
	q = tq_new(2);
	a = conn_admin(DISC_NQN, HOSTA);
	connect_ok(q, &a);
}

/* Connect data are 1024 bytes; less is a data SGL length error */
static void test_connect_short_data(void **state)
{
	struct tq *q;
	struct conn_args a;

	(void)state;
	env_up(cfg_main);
	q = tq_new(1);
	a = conn_admin(NQN1, HOSTA);
	a.data_len = 512;
	assert_int_equal(connect_st(q, &a), gen(NVME_SC_SGL_INVALID_DATA));
	assert_null(q->sq.ctrl);
}

static void test_connect_twice(void **state)
{
	struct tq *q;
	struct conn_args a;
	uint16_t id;

	(void)state;
	env_up(cfg_main);
	q = tq_new(1);
	a = conn_admin(NQN1, HOSTA);
	id = connect_ok(q, &a);
	assert_int_equal(connect_st(q, &a), gen(NVME_SC_CMD_SEQ_ERROR));
	/* the association is untouched: one controller, still ours */
	assert_non_null(q->sq.ctrl);
	assert_int_equal(q->sq.ctrl->cntlid, id);
	assert_null(E.t.subsys[0]->ctrls->next);
	enable(q);
	assert_int_equal(xs(q, sqe(NVME_ADM_KEEP_ALIVE, 0)), ST_OK);
}

static void test_commands_before_connect(void **state)
{
	struct tq *q;
	struct treq *r;

	(void)state;
	env_up(cfg_main);
	q = tq_new(1);
	assert_int_equal(xs(q, sqe(NVME_ADM_KEEP_ALIVE, 0)), gen(NVME_SC_CMD_SEQ_ERROR));
	r = identify(q, NVME_ID_CNS_CTRL, 0);
	assert_int_equal(status_of(r), gen(NVME_SC_CMD_SEQ_ERROR));
	put(r);
	assert_int_equal(prop_get(q, NVME_REG_CAP, true, NULL), gen(NVME_SC_CMD_SEQ_ERROR));
	assert_int_equal(prop_set(q, NVME_REG_CC, false, CC_LINUX), gen(NVME_SC_CMD_SEQ_ERROR));
	assert_int_equal(xs(q, rw(NVME_CMD_FLUSH, 1, 0, 1)), gen(NVME_SC_CMD_SEQ_ERROR));
	assert_null(q->sq.ctrl);
	assert_null(E.t.subsys[0]->ctrls);
}

/* 4b.3: with CATTR.DISSQFC every CQE, the Connect response included,
 * carries SQHD 0xFFFF */
static void test_connect_dissqfc(void **state)
{
	struct tq *q, *io;
	struct conn_args a;
	uint16_t id;

	(void)state;
	env_up(cfg_main);
	q = tq_new(1);
	a = conn_admin(NQN1, HOSTA);
	a.cattr = NVMF_CATTR_DISSQFC;
	id = connect_ok(q, &a);
	assert_int_equal(E.last.sqhd, 0xffff);
	enable(q);
	assert_int_equal(E.last.sqhd, 0xffff);
	assert_int_equal(xs(q, sqe(NVME_ADM_KEEP_ALIVE, 0)), ST_OK);
	assert_int_equal(E.last.sqhd, 0xffff);
	assert_int_equal(xs(q, sqe(0x80, 0)), gen(NVME_SC_INVALID_OPCODE));
	assert_int_equal(E.last.sqhd, 0xffff);
	/* per queue: an I/O queue without the flag reports its head */
	io = tq_new(1);
	a = conn_io(NQN1, HOSTA, id, 1);
	connect_ok(io, &a);
	assert_int_equal(E.last.sqhd, 1);
	io = tq_new(1);
	a = conn_io(NQN1, HOSTA, id, 2);
	a.cattr = NVMF_CATTR_DISSQFC;
	connect_ok(io, &a);
	assert_int_equal(E.last.sqhd, 0xffff);
	assert_int_equal(xs(io, rw(NVME_CMD_FLUSH, 1, 0, 1)), ST_OK);
	assert_int_equal(E.last.sqhd, 0xffff);
	assert_int_equal(E.last.sqid, 2);
}

/* 4b.1: CNTLIDs unique within the subsystem and inside cntlid_min..max */
static void test_cntlid_unique_in_range(void **state)
{
	struct tq *q[3], *extra, *d1, *d2;
	struct conn_args a;
	uint16_t id[3], again;
	unsigned seen = 0;

	(void)state;
	env_up(cfg_main);
	for (unsigned i = 0; i < 3; i++) {
		q[i] = tq_new(1);
		a = conn_admin(NQN1, i == 1 ? HOSTB : HOSTA);
		id[i] = connect_ok(q[i], &a);
		assert_in_range(id[i], 5, 7);
		assert_false(seen & (1u << id[i]));
		seen |= 1u << id[i];
	}
	/* the range (5..7) is used up */
	extra = tq_new(1);
	a = conn_admin(NQN1, HOSTA);
	assert_int_equal(connect_st(extra, &a) & 0x7ff, NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVMF_SC_CONNECT_CTRL_BUSY));
	assert_null(extra->sq.ctrl);
	/* a released CNTLID is available again, and only that one */
	tq_destroy(q[1]);
	extra = tq_new(1);
	again = connect_ok(extra, &a);
	assert_int_equal(again, id[1]);
	/* another subsystem has its own CNTLIDs; the discovery subsystem too */
	d1 = tq_new(1);
	a = conn_admin(DISC_NQN, HOSTA);
	a.kato = 0;
	id[0] = connect_ok(d1, &a);
	d2 = tq_new(2);
	id[1] = connect_ok(d2, &a);
	assert_int_not_equal(id[0], id[1]);
	assert_in_range(id[0], 1, 0xffef);
	assert_in_range(id[1], 1, 0xffef);
}

/* ======================================================================== */
/* Connect: I/O queues                                                       */
/* ======================================================================== */

static void test_connect_io_ok(void **state)
{
	struct tq *admin, *io1, *io4;
	struct conn_args a;
	uint16_t id;

	(void)state;
	env_up(cfg_main);
	admin = admin_up(1, NQN1, HOSTA, &id);
	assert_int_equal(xs(admin, feat(true, NVME_FEAT_NUM_QUEUES, 3u | 3u << 16)), ST_OK);
	assert_int_equal(E.last.dw0, 3u | 3u << 16);
	io1 = tq_new(1);
	a = conn_io(NQN1, HOSTA, id, 1);
	assert_int_equal(connect_ok(io1, &a), id);
	assert_int_equal(E.last.dw0, id);
	assert_int_equal(E.last.sqid, 1);
	assert_int_equal(E.last.sqhd, 1);
	assert_ptr_equal(io1->sq.ctrl, admin->sq.ctrl);
	assert_int_equal(io1->sq.qid, 1);
	assert_int_equal(io1->sq.size, 128);
	io4 = tq_new(1);
	a = conn_io(NQN1, HOSTA, id, 4);
	connect_ok(io4, &a);
	assert_int_equal(E.last.sqid, 4);
	assert_ptr_equal(admin->sq.ctrl->io[1], &io1->sq);
	assert_ptr_equal(admin->sq.ctrl->io[4], &io4->sq);
}

/* 4b.1: the I/O queue joins the association of the same host: CNTLID,
 * host NQN and host ID must match; otherwise IPO 16 in the data */
static void test_connect_io_wrong_identity(void **state)
{
	static const uint8_t other_id[16] = { 1, 2, 3 };
	struct tq *q;
	struct conn_args a;
	uint16_t id;

	(void)state;
	env_up(cfg_main);
	admin_up(1, NQN1, HOSTA, &id);

	q = tq_new(1);
	a = conn_io(NQN1, HOSTA, id == 5 ? 6 : 5, 1);          /* no such controller */
	assert_int_equal(connect_st(q, &a), spec(NVMF_SC_CONNECT_INVALID_PARAM));
	assert_int_equal(E.last.dw0, 16u | NVMF_CONNECT_IATTR_DATA);
	assert_null(q->sq.ctrl);

	a = conn_io(NQN1, HOSTB, id, 1);                         /* another host NQN */
	a.hostid = hostid_a;
	assert_int_equal(connect_st(q, &a), spec(NVMF_SC_CONNECT_INVALID_PARAM));
	assert_int_equal(E.last.dw0, 16u | NVMF_CONNECT_IATTR_DATA);
	assert_null(q->sq.ctrl);

	a = conn_io(NQN1, HOSTA, id, 1);                         /* another host ID */
	a.hostid = other_id;
	assert_int_equal(connect_st(q, &a), spec(NVMF_SC_CONNECT_INVALID_PARAM));
	assert_int_equal(E.last.dw0, 16u | NVMF_CONNECT_IATTR_DATA);
	assert_null(q->sq.ctrl);

	a = conn_io(NQN1, HOSTA, 0xffff, 1);                     /* the admin "dynamic" value */
	assert_int_equal(connect_st(q, &a), spec(NVMF_SC_CONNECT_INVALID_PARAM));
	assert_int_equal(E.last.dw0, 16u | NVMF_CONNECT_IATTR_DATA);
	assert_null(q->sq.ctrl);

	a = conn_io(NQN1, HOSTA, id, 1);
	connect_ok(q, &a);
}

/* the controller is found in the subsystem named by SUBNQN only */
static void test_connect_io_other_subsystem(void **state)
{
	struct tq *q;
	struct conn_args a;
	uint16_t id1, id2;

	(void)state;
	env_up(cfg_main);
	admin_up(1, NQN1, HOSTB, &id1);
	admin_up(1, NQN2, HOSTB, &id2);
	q = tq_new(1);
	a = conn_io(NQN2, HOSTB, id1, 1);
	if (id1 != id2) {
		assert_int_equal(connect_st(q, &a), spec(NVMF_SC_CONNECT_INVALID_PARAM));
		assert_int_equal(E.last.dw0, 16u | NVMF_CONNECT_IATTR_DATA);
	}
	a = conn_io(NQN2, HOSTB, id2, 1);
	connect_ok(q, &a);
	assert_ptr_equal(q->sq.ctrl->subsys, E.t.subsys[1]);
}

static void test_connect_io_qid_invalid(void **state)
{
	struct tq *admin, *q, *io2;
	struct conn_args a;
	uint16_t id;

	(void)state;
	env_up(cfg_main);
	admin = admin_up(1, NQN1, HOSTA, &id);
	/* Linux asks for as many queues as CPUs, 0's based */
	assert_int_equal(xs(admin, feat(true, NVME_FEAT_NUM_QUEUES, 1u | 1u << 16)), ST_OK);
	assert_int_equal(E.last.dw0, 1u | 1u << 16);
	q = tq_new(1);
	a = conn_io(NQN1, HOSTA, id, 3);                         /* beyond the 2 granted */
	assert_int_equal(connect_st(q, &a), spec(NVME_SC_QID_INVALID));
	assert_null(q->sq.ctrl);
	a.qid = 0xffff;
	assert_int_equal(connect_st(q, &a), spec(NVME_SC_QID_INVALID));
	assert_null(q->sq.ctrl);
	io2 = tq_new(1);
	a.qid = 2;
	connect_ok(io2, &a);
	/* the same QID twice */
	assert_int_equal(connect_st(q, &a), spec(NVME_SC_QID_INVALID));
	assert_null(q->sq.ctrl);
	assert_ptr_equal(io2->sq.ctrl->io[2], &io2->sq);
	a.qid = 1;
	connect_ok(q, &a);
}

static void test_connect_io_before_enable(void **state)
{
	struct tq *admin, *q;
	struct conn_args a;
	uint16_t id;

	(void)state;
	env_up(cfg_main);
	admin = tq_new(1);
	a = conn_admin(NQN1, HOSTA);
	id = connect_ok(admin, &a);
	q = tq_new(1);
	a = conn_io(NQN1, HOSTA, id, 1);
	assert_int_equal(connect_st(q, &a), gen(NVME_SC_CMD_SEQ_ERROR));
	assert_null(q->sq.ctrl);
	enable(admin);
	connect_ok(q, &a);
}

/* 4b.2: I/O SQSIZE at most CAP.MQES (127) */
static void test_connect_io_sqsize_too_big(void **state)
{
	struct tq *q;
	struct conn_args a;
	uint16_t id;

	(void)state;
	env_up(cfg_main);
	admin_up(1, NQN1, HOSTA, &id);
	q = tq_new(1);
	a = conn_io(NQN1, HOSTA, id, 1);
	a.sqsize = 128;
	assert_int_equal(connect_st(q, &a), spec(NVMF_SC_CONNECT_INVALID_PARAM));
	assert_int_equal(E.last.dw0, 44);
	assert_null(q->sq.ctrl);
	a.sqsize = 0;
	assert_int_equal(connect_st(q, &a), spec(NVMF_SC_CONNECT_INVALID_PARAM));
	assert_int_equal(E.last.dw0, 44);
	a.sqsize = 127;
	connect_ok(q, &a);
}

/* A discovery controller has no I/O queues (NVMe-oF: a discovery
 * controller supports the admin queue only). The kernel target sets
 * max_qid 0 for the discovery subsystem and answers an I/O Connect with
 * Invalid Queue Identifier (IPO = QID); SPDK with Connect Invalid
 * Parameters, IPO 42 ("I/O connect not allowed on discovery controller").
 * Either refusal will do; accepting it will not. */
static void test_connect_io_to_discovery_refused(void **state)
{
	struct tq *q;
	struct conn_args a;
	uint16_t id, st;

	(void)state;
	env_up(cfg_main);
	admin_up_kato(1, DISC_NQN, HOSTA, 0, &id);
	q = tq_new(1);
	a = conn_io(DISC_NQN, HOSTA, id, 1);
	st = connect_st(q, &a);
	if (st == spec(NVME_SC_QID_INVALID)) {
		/* the kernel's answer (nvmet_execute_io_connect) */
	} else {
		/* SPDK's: Connect Invalid Parameters, IPO = QID in the SQE */
		assert_int_equal(st, spec(NVMF_SC_CONNECT_INVALID_PARAM));
		assert_int_equal(E.last.dw0, 42);
	}
	assert_null(q->sq.ctrl);
}

/* ======================================================================== */
/* Property Get / Set                                                        */
/* ======================================================================== */

static void test_property_cap(void **state)
{
	struct tq *q;
	uint64_t cap, lo, hi;

	(void)state;
	env_up(cfg_main);
	q = tq_new(1);
	{
		struct conn_args a = conn_admin(NQN1, HOSTA);

		connect_ok(q, &a);
	}
	/* the Linux host reads CAP with one 8-byte Get */
	assert_int_equal(prop_get(q, NVME_REG_CAP, true, &cap), ST_OK);
	assert_int_equal(NVME_CAP_MQES(cap), 127);
	assert_int_equal(NVME_CAP_CQR(cap), 1);
	assert_int_not_equal(NVME_CAP_TO(cap), 0);
	assert_int_equal(NVME_CAP_CSS(cap) & NVME_CAP_CSS_NVM, NVME_CAP_CSS_NVM);
	assert_int_equal(NVME_CAP_MPSMIN(cap), 0);      /* 4 KiB: the unit of MDTS */
	assert_int_equal(NVME_CAP_DSTRD(cap), 0);
	/* split 4-byte access (4b.5: supported here, as SPDK does) */
	assert_int_equal(prop_get(q, NVME_REG_CAP, false, &lo), ST_OK);
	assert_int_equal(lo, cap & 0xffffffffu);
	assert_int_equal(prop_get(q, NVME_REG_CAP + 4, false, &hi), ST_OK);
	assert_int_equal(hi, cap >> 32);
	/* an 8-byte read starting in the middle of CAP */
	assert_int_equal(prop_get(q, NVME_REG_CAP + 4, true, NULL), gen(NVME_SC_INVALID_FIELD));
}

static void test_property_vs(void **state)
{
	struct tq *q;
	struct conn_args a;

	(void)state;
	env_up(cfg_main);
	q = tq_new(1);
	a = conn_admin(NQN1, HOSTA);
	connect_ok(q, &a);
	assert_int_equal(get32(q, NVME_REG_VS), 0x00010400);
}

static void test_property_cc_enable_disable(void **state)
{
	struct tq *q;
	struct conn_args a;

	(void)state;
	env_up(cfg_main);
	q = tq_new(1);
	a = conn_admin(NQN1, HOSTA);
	connect_ok(q, &a);
	assert_int_equal(get32(q, NVME_REG_CC), 0);
	assert_int_equal(get32(q, NVME_REG_CSTS), 0);
	/* admin commands wait for CC.EN */
	assert_int_equal(xs(q, sqe(NVME_ADM_KEEP_ALIVE, 0)), gen(NVME_SC_CMD_SEQ_ERROR));
	assert_int_equal(prop_set(q, NVME_REG_CC, false, CC_LINUX), ST_OK);
	assert_int_equal(get32(q, NVME_REG_CC), CC_LINUX);
	assert_int_equal(get32(q, NVME_REG_CSTS), NVME_CSTS_RDY);
	assert_int_equal(xs(q, sqe(NVME_ADM_KEEP_ALIVE, 0)), ST_OK);
	/* EN 1 -> 0: a controller reset, RDY clears */
	assert_int_equal(prop_set(q, NVME_REG_CC, false, CC_LINUX & ~NVME_CC_EN), ST_OK);
	assert_int_equal(get32(q, NVME_REG_CSTS) & NVME_CSTS_RDY, 0);
	assert_int_equal(xs(q, sqe(NVME_ADM_KEEP_ALIVE, 0)), gen(NVME_SC_CMD_SEQ_ERROR));
	/* and again */
	enable(q);
}

static void test_property_cc_bad_entry_sizes(void **state)
{
	static const uint32_t bad[] = {
		NVME_CC_EN | NVME_CC_IOSQES(5) | NVME_CC_IOCQES(4),
		NVME_CC_EN | NVME_CC_IOSQES(6) | NVME_CC_IOCQES(5),
		NVME_CC_EN | NVME_CC_IOSQES(0) | NVME_CC_IOCQES(0),
	};

	(void)state;
	env_up(cfg_main);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct tq *q = tq_new(1);
		struct conn_args a = conn_admin(NQN1, HOSTA);
		uint32_t csts;

		connect_ok(q, &a);
		assert_int_equal(prop_set(q, NVME_REG_CC, false, bad[i]), ST_OK);
		csts = get32(q, NVME_REG_CSTS);
		assert_int_equal(csts & NVME_CSTS_CFS, NVME_CSTS_CFS);
		assert_int_equal(csts & NVME_CSTS_RDY, 0);
		assert_int_equal(xs(q, sqe(NVME_ADM_KEEP_ALIVE, 0)), gen(NVME_SC_CMD_SEQ_ERROR));
		tq_destroy(q);
	}
}

static void test_property_shutdown(void **state)
{
	struct tq *q;
	struct conn_args a;

	(void)state;
	env_up(cfg_main);
	q = tq_new(1);
	a = conn_admin(NQN1, HOSTA);
	connect_ok(q, &a);
	enable(q);
	/* Linux nvme_disable_ctrl(shutdown): CC.SHN normal, poll CSTS.SHST */
	assert_int_equal(prop_set(q, NVME_REG_CC, false, CC_LINUX | NVME_CC_SHN_NORMAL), ST_OK);
	assert_int_equal(get32(q, NVME_REG_CSTS) & NVME_CSTS_SHST_MASK, NVME_CSTS_SHST_CMPLT);
	assert_int_equal(get32(q, NVME_REG_CC) & NVME_CC_SHN_MASK, NVME_CC_SHN_NORMAL);

	q = tq_new(1);
	connect_ok(q, &a);
	enable(q);
	assert_int_equal(prop_set(q, NVME_REG_CC, false, CC_LINUX | NVME_CC_SHN_ABRUPT), ST_OK);
	assert_int_equal(get32(q, NVME_REG_CSTS) & NVME_CSTS_SHST_MASK, NVME_CSTS_SHST_CMPLT);
}

static void test_property_invalid(void **state)
{
	static const uint32_t unknown[] = { NVME_REG_INTMS, NVME_REG_INTMC, 0x18, NVME_REG_NSSR, NVME_REG_AQA,
					    NVME_REG_ASQ, NVME_REG_ACQ, NVME_REG_CMBLOC, 0x100, 0x1000,
					    0xffffffffu };
	struct tq *q;
	struct conn_args a;

	(void)state;
	env_up(cfg_main);
	q = tq_new(1);
	a = conn_admin(NQN1, HOSTA);
	connect_ok(q, &a);
	enable(q);
	for (unsigned i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		assert_int_equal(prop_get(q, unknown[i], false, NULL), gen(NVME_SC_INVALID_FIELD));
	/* 8-byte access to 4-byte properties */
	assert_int_equal(prop_get(q, NVME_REG_VS, true, NULL), gen(NVME_SC_INVALID_FIELD));
	assert_int_equal(prop_get(q, NVME_REG_CC, true, NULL), gen(NVME_SC_INVALID_FIELD));
	assert_int_equal(prop_get(q, NVME_REG_CSTS, true, NULL), gen(NVME_SC_INVALID_FIELD));
	/* reserved sizes */
	{
		struct nvme_sqe c = sqe(NVME_FABRICS_OPC, 0);
		struct nvmf_property_cmd *p = (struct nvmf_property_cmd *)&c;

		p->fctype = NVMF_FCTYPE_PROPERTY_GET;
		p->attrib = 2;
		p->ofst = NVME_REG_VS;
		assert_int_equal(xs(q, c), gen(NVME_SC_INVALID_FIELD));
	}
	/* Property Set of anything but CC, and CC as 8 bytes */
	assert_int_equal(prop_set(q, NVME_REG_CAP, true, 0), gen(NVME_SC_INVALID_FIELD));
	assert_int_equal(prop_set(q, NVME_REG_VS, false, 0), gen(NVME_SC_INVALID_FIELD));
	assert_int_equal(prop_set(q, NVME_REG_CSTS, false, 0), gen(NVME_SC_INVALID_FIELD));
	assert_int_equal(prop_set(q, NVME_REG_INTMS, false, 0), gen(NVME_SC_INVALID_FIELD));
	assert_int_equal(prop_set(q, NVME_REG_CC, true, CC_LINUX), gen(NVME_SC_INVALID_FIELD));
	/* none of which touched CC */
	assert_int_equal(get32(q, NVME_REG_CC), CC_LINUX);
	assert_int_equal(get32(q, NVME_REG_CSTS), NVME_CSTS_RDY);
}

/* Property Get/Set belong to the admin queue */
static void test_property_on_io_queue(void **state)
{
	struct tq *io;
	uint16_t id, st;

	(void)state;
	env_up(cfg_main);
	admin_up(1, NQN1, HOSTA, &id);
	io = io_up(1, NQN1, HOSTA, id, 1);
	st = prop_get(io, NVME_REG_CSTS, false, NULL);
	assert_int_not_equal(st, ST_OK);
	assert_true(st & NVME_STATUS_DNR);
	st = prop_set(io, NVME_REG_CC, false, 0);
	assert_int_not_equal(st, ST_OK);
	assert_true(st & NVME_STATUS_DNR);
	assert_int_equal(io->sq.ctrl->cc, CC_LINUX);
}

/* ======================================================================== */
/* SQHD                                                                      */
/* ======================================================================== */

static void test_sqhd_increments_and_wraps(void **state)
{
	/* admin SQ of 4 entries: Connect took entry 0, the enable two more */
	static const uint16_t want[] = { 0, 1, 2, 3, 0, 1, 2 };
	struct tq *q, *io;
	struct conn_args a;
	uint16_t id;

	(void)state;
	env_up(cfg_main);
	q = tq_new(1);
	a = conn_admin(NQN1, HOSTA);
	a.sqsize = 3;
	id = connect_ok(q, &a);
	assert_int_equal(E.last.sqhd, 1);
	assert_int_equal(prop_set(q, NVME_REG_CC, false, CC_LINUX), ST_OK);
	assert_int_equal(E.last.sqhd, 2);
	assert_int_equal(get32(q, NVME_REG_CSTS), NVME_CSTS_RDY);
	assert_int_equal(E.last.sqhd, 3);
	for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		/* successes and failures alike take an entry off the queue */
		assert_int_equal(xs(q, i & 1 ? sqe(NVME_ADM_KEEP_ALIVE, 0) : sqe(0x80, 0)),
				 i & 1 ? ST_OK : gen(NVME_SC_INVALID_OPCODE));
		assert_int_equal(E.last.sqhd, want[i]);
		assert_int_equal(E.last.sqid, 0);
	}
	/* an I/O queue of 2 entries */
	io = tq_new(1);
	a = conn_io(NQN1, HOSTA, id, 1);
	a.sqsize = 1;
	connect_ok(io, &a);
	assert_int_equal(E.last.sqhd, 1);
	for (unsigned i = 0; i < 5; i++) {
		assert_int_equal(xs(io, rw(NVME_CMD_FLUSH, 1, 0, 1)), ST_OK);
		assert_int_equal(E.last.sqhd, i & 1 ? 1 : 0);
		assert_int_equal(E.last.sqid, 1);
	}
}

/* ======================================================================== */
/* Identify                                                                  */
/* ======================================================================== */

static void assert_padded(const char *field, size_t n, const char *want)
{
	char buf[64];

	assert_true(n <= sizeof(buf));
	memset(buf, ' ', n);
	memcpy(buf, want, strlen(want));
	assert_memory_equal(field, buf, n);
}

static void test_identify_ctrl_nvm(void **state)
{
	struct tq *q;
	struct treq *r;
	const struct nvme_id_ctrl *id;
	uint16_t cntlid;

	(void)state;
	env_up(cfg_main);
	q = admin_up(1, NQN1, HOSTA, &cntlid);
	r = identify(q, NVME_ID_CNS_CTRL, 0);
	assert_int_equal(status_of(r), ST_OK);
	id = r->req.buf;
	assert_string_equal(id->subnqn, NQN1);
	/* Linux nvme_check_ctrl_fabric_info: "Mismatching cntlid" otherwise */
	assert_int_equal(id->cntlid, cntlid);
	assert_padded(id->sn, sizeof(id->sn), "SN0001");
	assert_padded(id->mn, sizeof(id->mn), "Bridge Test Model");
	assert_int_not_equal(id->fr[0], 0);
	assert_int_equal(id->ver, 0x00010400);
	/* port 1 has 16 KiB of in-capsule data: (64 + 16384) / 16 */
	assert_int_equal(id->ioccsz, (64 + 16384) / 16);
	assert_int_equal(id->iorcsz, 1);
	assert_int_equal(id->icdoff, 0);
	assert_int_equal(id->sgls & 3u, 1);            /* SGLs, no alignment requirement */
	assert_true(id->sgls & (1u << 20));             /* offsets in data block descriptors */
	assert_int_equal(id->msdbd, 1);
	assert_int_not_equal(id->kas, 0);               /* 4b.6: mandatory for fabrics */
	assert_true(id->cmic & (1u << 1));              /* MCTRS: several controllers */
	assert_int_equal(id->cntrltype, 1);             /* I/O controller */
	assert_int_equal(id->sqes, 0x66);
	assert_int_equal(id->cqes, 0x44);
	assert_int_not_equal(id->nn, 0);
	assert_int_equal(id->oncs & (NVME_ONCS_COMPARE | NVME_ONCS_DSM | NVME_ONCS_WRITE_ZEROES),
			 NVME_ONCS_COMPARE | NVME_ONCS_DSM | NVME_ONCS_WRITE_ZEROES);
	assert_int_equal(id->aerl + 1, NVMF_AERL);
	/* MDTS in CAP.MPSMIN (4 KiB) units: the largest power of two the
	 * target's data buffers hold, nonzero */
	assert_int_not_equal(id->mdts, 0);
	assert_true((4096ull << id->mdts) <= E.t.max_xfer);
	assert_true((4096ull << (id->mdts + 1)) > E.t.max_xfer);
	assert_true(id->maxcmd >= 128);
	/* the rest of the 4 KiB page is ours too: nothing left unwritten */
	assert_int_equal(r->req.len, 4096);
	put(r);
}

/* IOCCSZ follows the port the controller was created on */
static void test_identify_ctrl_default_inline(void **state)
{
	struct tq *q;
	struct treq *r;
	const struct nvme_id_ctrl *id;
	uint16_t cntlid;

	(void)state;
	env_up(cfg_main);
	q = admin_up(2, NQN2, HOSTB, &cntlid);
	r = identify(q, NVME_ID_CNS_CTRL, 0);
	assert_int_equal(status_of(r), ST_OK);
	id = r->req.buf;
	assert_string_equal(id->subnqn, NQN2);
	assert_int_equal(id->cntlid, cntlid);
	assert_int_equal(id->ioccsz, (64 + 8192) / 16);
	/* no serial/model configured: model "Linux", a generated serial */
	assert_padded(id->mn, sizeof(id->mn), "Linux");
	assert_int_not_equal(id->sn[0], ' ');
	assert_int_not_equal(id->sn[0], 0);
	put(r);
}

static void test_identify_ctrl_discovery(void **state)
{
	struct tq *q;
	struct treq *r;
	const struct nvme_id_ctrl *id;
	uint16_t cntlid;

	(void)state;
	env_up(cfg_main);
	q = admin_up_kato(1, DISC_NQN, HOSTA, 0, &cntlid);
	r = identify(q, NVME_ID_CNS_CTRL, 0);
	assert_int_equal(status_of(r), ST_OK);
	id = r->req.buf;
	assert_int_equal(id->cntrltype, 2);
	assert_string_equal(id->subnqn, DISC_NQN);
	assert_int_equal(id->cntlid, cntlid);
	assert_int_not_equal(id->kas, 0);
	assert_int_equal(id->iorcsz, 1);
	assert_int_equal(id->ioccsz, 4);
	put(r);
	/* a discovery controller has no namespaces */
	r = identify(q, NVME_ID_CNS_NS, 1);
	assert_int_not_equal(status_of(r), ST_OK);
	put(r);
}

static void test_identify_ns(void **state)
{
	struct tq *q, *q2;
	struct treq *r;
	struct nvme_id_ns ns1, ns3, other;

	(void)state;
	env_up(cfg_main);
	q = admin_up(1, NQN1, HOSTB, NULL);
	identify_ns(q, 1, &ns1);
	assert_int_equal(ns1.nsze, (1u << 20) / 512);
	assert_int_equal(ns1.ncap, ns1.nsze);
	assert_int_equal(ns1.lbaf[nvme_id_ns_flbas_index(&ns1)].lbads, 9);
	assert_int_equal(ns1.lbaf[nvme_id_ns_flbas_index(&ns1)].ms, 0);
	assert_int_equal(ns1.nmic & 1u, 1);             /* may be shared */
	assert_false(all_zero(ns1.nguid, 16));
	assert_true(all_zero(ns1.eui64, 8));            /* 4b.13: no copied IDs */
	assert_int_equal(ns1.anagrpid, 1);          /* nvmet's default ANA group */

	identify_ns(q, 3, &ns3);
	assert_int_equal(ns3.nsze, (1u << 20) / 4096);
	assert_int_equal(ns3.lbaf[nvme_id_ns_flbas_index(&ns3)].lbads, 12);
	assert_false(all_zero(ns3.nguid, 16));
	assert_memory_not_equal(ns1.nguid, ns3.nguid, 16);

	/* 4b.13: NSID 1 of another subsystem has another NGUID */
	q2 = admin_up(1, NQN2, HOSTB, NULL);
	identify_ns(q2, 1, &other);
	assert_false(all_zero(other.nguid, 16));
	assert_memory_not_equal(ns1.nguid, other.nguid, 16);
	assert_memory_not_equal(ns3.nguid, other.nguid, 16);

	/* another controller of the same subsystem sees the same namespace */
	q2 = admin_up(1, NQN1, HOSTA, NULL);
	r = identify(q2, NVME_ID_CNS_NS, 1);
	assert_int_equal(status_of(r), ST_OK);
	assert_memory_equal(r->req.buf, &ns1, sizeof(ns1));
	put(r);
}

static void test_identify_ns_inactive(void **state)
{
	static const uint32_t inactive[] = { 2, 4, 5 /* disabled */, 1024 };
	struct tq *q;
	struct treq *r;

	(void)state;
	env_up(cfg_main);
	q = admin_up(1, NQN1, HOSTA, NULL);
	/* an allocated-but-inactive (or unused) NSID reads as zeros */
	for (unsigned i = 0; i < sizeof(inactive) / sizeof(inactive[0]); i++) {
		r = identify(q, NVME_ID_CNS_NS, inactive[i]);
		assert_int_equal(status_of(r), ST_OK);
		assert_true(all_zero(r->req.buf, 4096));
		put(r);
	}
	/* NSID 0 and beyond NN are invalid */
	r = identify(q, NVME_ID_CNS_NS, 0);
	assert_int_equal(status_of(r), gen(NVME_SC_INVALID_NS));
	put(r);
	r = identify(q, NVME_ID_CNS_NS, 0xfffffffeu);
	assert_int_equal(status_of(r), gen(NVME_SC_INVALID_NS));
	put(r);
}

static void check_ns_list(struct tq *q, uint32_t from, const uint32_t *want, unsigned n)
{
	struct treq *r = identify(q, NVME_ID_CNS_NS_ACTIVE_LIST, from);
	const uint32_t *list;

	assert_int_equal(status_of(r), ST_OK);
	list = r->req.buf;
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(list[i], want[i]);
	assert_true(all_zero(list + n, 4096 - n * 4));
	put(r);
}

static void test_identify_active_ns_list(void **state)
{
	static const uint32_t all[] = { 1, 3 };
	struct tq *q;
	struct treq *r;

	(void)state;
	env_up(cfg_main);
	q = admin_up(1, NQN1, HOSTA, NULL);
	check_ns_list(q, 0, all, 2);            /* ascending; 5 is disabled */
	check_ns_list(q, 1, all + 1, 1);        /* strictly greater than NSID */
	check_ns_list(q, 2, all + 1, 1);
	check_ns_list(q, 3, NULL, 0);
	r = identify(q, NVME_ID_CNS_NS_ACTIVE_LIST, 0xfffffffeu);
	assert_int_equal(status_of(r), gen(NVME_SC_INVALID_NS));
	put(r);
	r = identify(q, NVME_ID_CNS_NS_ACTIVE_LIST, 0xffffffffu);
	assert_int_equal(status_of(r), gen(NVME_SC_INVALID_NS));
	put(r);
}

static void test_identify_ns_desc_list(void **state)
{
	struct tq *q;
	struct treq *r;
	struct nvme_id_ns ns;
	const uint8_t *p;
	uint8_t uuid1[16];

	(void)state;
	env_up(cfg_main);
	q = admin_up(1, NQN1, HOSTA, NULL);
	identify_ns(q, 1, &ns);

	r = identify(q, NVME_ID_CNS_NS_DESC_LIST, 1);
	assert_int_equal(status_of(r), ST_OK);
	p = r->req.buf;
	/* NIDT 2 NGUID: the same as Identify Namespace */
	assert_int_equal(p[0], 2);
	assert_int_equal(p[1], 16);
	assert_memory_equal(p + 4, ns.nguid, 16);
	p += 20;
	/* NIDT 3 UUID: not zero */
	assert_int_equal(p[0], 3);
	assert_int_equal(p[1], 16);
	assert_false(all_zero(p + 4, 16));
	memcpy(uuid1, p + 4, 16);
	p += 20;
	/* NIDT 4 CSI: NVM (0) */
	assert_int_equal(p[0], 4);
	assert_int_equal(p[1], 1);
	assert_int_equal(p[4], 0);
	p += 5;
	/* then the end of the list */
	assert_true(all_zero(p, 4096 - 45));
	put(r);

	r = identify(q, NVME_ID_CNS_NS_DESC_LIST, 3);
	assert_int_equal(status_of(r), ST_OK);
	assert_memory_not_equal((uint8_t *)r->req.buf + 24 + 4, uuid1, 16);
	put(r);

	/* an inactive NSID (admin.c: Invalid Namespace) */
	r = identify(q, NVME_ID_CNS_NS_DESC_LIST, 2);
	assert_int_equal(status_of(r), gen(NVME_SC_INVALID_NS));
	put(r);
}

static void test_identify_unknown_cns(void **state)
{
	struct tq *q;
	struct treq *r;

	(void)state;
	env_up(cfg_main);
	q = admin_up(1, NQN1, HOSTA, NULL);
	r = identify(q, 0x10, 0);
	assert_int_equal(status_of(r), gen(NVME_SC_INVALID_FIELD));
	put(r);
}

/* ======================================================================== */
/* Features, Keep Alive, AER                                                 */
/* ======================================================================== */

static void test_features_num_queues(void **state)
{
	struct tq *q;

	(void)state;
	env_up(cfg_main);
	q = admin_up(1, NQN1, HOSTA, NULL);
	/* 0's based both ways: 4 asked, 4 granted */
	assert_int_equal(xs(q, feat(true, NVME_FEAT_NUM_QUEUES, 3u | 3u << 16)), ST_OK);
	assert_int_equal(E.last.dw0, 3u | 3u << 16);
	assert_int_equal(xs(q, feat(false, NVME_FEAT_NUM_QUEUES, 0)), ST_OK);
	assert_int_equal(E.last.dw0, 3u | 3u << 16);
	/* fabrics queues are pairs: the smaller of the two */
	assert_int_equal(xs(q, feat(true, NVME_FEAT_NUM_QUEUES, 7u | 1u << 16)), ST_OK);
	assert_int_equal(E.last.dw0, 1u | 1u << 16);
	/* clamped to what the target has */
	assert_int_equal(xs(q, feat(true, NVME_FEAT_NUM_QUEUES, 999u | 999u << 16)), ST_OK);
	assert_int_equal(E.last.dw0, (NVMF_MAX_IO_QUEUES - 1u) | (NVMF_MAX_IO_QUEUES - 1u) << 16);
	assert_int_equal(xs(q, feat(false, NVME_FEAT_NUM_QUEUES, 0)), ST_OK);
	assert_int_equal(E.last.dw0, (NVMF_MAX_IO_QUEUES - 1u) | (NVMF_MAX_IO_QUEUES - 1u) << 16);
	/* 65535 (0's based 65536) is invalid */
	assert_int_equal(xs(q, feat(true, NVME_FEAT_NUM_QUEUES, 0xffffu)), gen(NVME_SC_INVALID_FIELD));
	assert_int_equal(xs(q, feat(true, NVME_FEAT_NUM_QUEUES, 0xffffu << 16)), gen(NVME_SC_INVALID_FIELD));
}

/* NVMe Base (Number of Queues feature): it "shall only be issued during
 * initialization prior to creation of any I/O Submission and/or
 * Completion Queues"; a Set Features issued afterwards aborts with Command
 * Sequence Error. QEMU (nvme_set_feature_numqs: qs_created) and SPDK
 * (nvmf_ctrlr_set_features_number_of_queues: "Queue pairs already
 * active!") both answer so; the count granted must not shrink under live
 * queues. */
static void test_features_num_queues_after_io_queues(void **state)
{
	struct tq *q;
	uint16_t id;

	(void)state;
	env_up(cfg_main);
	q = admin_up(1, NQN1, HOSTA, &id);
	assert_int_equal(xs(q, feat(true, NVME_FEAT_NUM_QUEUES, 3u | 3u << 16)), ST_OK);
	io_up(1, NQN1, HOSTA, id, 4);
	assert_int_equal(xs(q, feat(true, NVME_FEAT_NUM_QUEUES, 0)), gen(NVME_SC_CMD_SEQ_ERROR));
	assert_int_equal(xs(q, feat(false, NVME_FEAT_NUM_QUEUES, 0)), ST_OK);
	assert_int_equal(E.last.dw0, 3u | 3u << 16);
}

static void test_features_kato(void **state)
{
	struct tq *q;

	(void)state;
	env_up(cfg_main);
	q = admin_up_kato(1, NQN1, HOSTA, 5000, NULL);
	/* milliseconds, as Connect gave it */
	assert_int_equal(xs(q, feat(false, NVME_FEAT_KATO, 0)), ST_OK);
	assert_int_equal(E.last.dw0, 5000);
	assert_int_equal(xs(q, feat(true, NVME_FEAT_KATO, 15000)), ST_OK);
	assert_int_equal(xs(q, feat(false, NVME_FEAT_KATO, 0)), ST_OK);
	assert_int_equal(E.last.dw0, 15000);
	assert_int_equal(q->sq.ctrl->kato_ms, 15000);
	assert_true(q->sq.ctrl->ka_timer.armed);
	/* 0 turns keep-alive off */
	assert_int_equal(xs(q, feat(true, NVME_FEAT_KATO, 0)), ST_OK);
	assert_int_equal(xs(q, feat(false, NVME_FEAT_KATO, 0)), ST_OK);
	assert_int_equal(E.last.dw0, 0);
	assert_false(q->sq.ctrl->ka_timer.armed);
}

static void test_features_host_id(void **state)
{
	struct tq *q;
	struct treq *r;

	(void)state;
	env_up(cfg_main);
	q = admin_up(1, NQN1, HOSTB, NULL);
	/* EXHID: the 128-bit identifier given in Connect */
	r = exec_c2h(q, feat(false, NVME_FEAT_HOST_ID, 1), 16);
	assert_int_equal(status_of(r), ST_OK);
	assert_memory_equal(r->req.buf, hostid_b, 16);
	put(r);
	/* the 64-bit form does not exist on fabrics */
	r = exec_c2h(q, feat(false, NVME_FEAT_HOST_ID, 0), 16);
	assert_int_equal(status_of(r), gen(NVME_SC_INVALID_FIELD));
	put(r);
	/* fixed by Connect: Set Features Host Identifier is a sequence error */
	r = exec_h2c(q, feat(true, NVME_FEAT_HOST_ID, 1), hostid_a, 16, true);
	assert_int_equal(status_of(r), gen(NVME_SC_CMD_SEQ_ERROR));
	put(r);
	r = exec_c2h(q, feat(false, NVME_FEAT_HOST_ID, 1), 16);
	assert_int_equal(status_of(r), ST_OK);
	assert_memory_equal(r->req.buf, hostid_b, 16);
	put(r);
}

static void test_features_unknown_fid(void **state)
{
	static const uint8_t fids[] = { 0x00, 0x7f, 0x78, 0xff };
	struct tq *q;

	(void)state;
	env_up(cfg_main);
	q = admin_up(1, NQN1, HOSTA, NULL);
	for (unsigned i = 0; i < sizeof(fids); i++) {
		assert_int_equal(xs(q, feat(false, fids[i], 0)), gen(NVME_SC_INVALID_FIELD));
		assert_int_equal(xs(q, feat(true, fids[i], 0)), gen(NVME_SC_INVALID_FIELD));
	}
	/* async event configuration round-trips */
	assert_int_equal(xs(q, feat(true, NVME_FEAT_ASYNC_EVENT, 1u << 8)), ST_OK);
	assert_int_equal(xs(q, feat(false, NVME_FEAT_ASYNC_EVENT, 0)), ST_OK);
	assert_int_equal(E.last.dw0, 1u << 8);
}

static void test_keep_alive_cmd(void **state)
{
	struct tq *q;

	(void)state;
	env_up(cfg_main);
	q = admin_up(1, NQN1, HOSTA, NULL);
	assert_int_equal(xs(q, sqe(NVME_ADM_KEEP_ALIVE, 0)), ST_OK);
	assert_int_equal(E.last.dw0, 0);
	q = admin_up_kato(1, DISC_NQN, HOSTA, 0, NULL);
	assert_int_equal(xs(q, sqe(NVME_ADM_KEEP_ALIVE, 0)), ST_OK);
}

static void test_aer_limit(void **state)
{
	struct tq *q;
	struct treq *aer[NVMF_AERL];
	struct treq *r;
	unsigned done = 0;

	(void)state;
	env_up(cfg_main);
	q = admin_up(1, NQN1, HOSTA, NULL);
	for (unsigned i = 0; i < NVMF_AERL; i++) {
		struct nvme_sqe c = sqe(NVME_ADM_ASYNC_EVENT, 0);

		aer[i] = exec_raw(q, &c, NULL, 0, NULL, 0);
		assert_int_equal(aer[i]->completions, 0);       /* held */
	}
	{
		struct nvme_sqe c = sqe(NVME_ADM_ASYNC_EVENT, 0);

		r = exec_raw(q, &c, NULL, 0, NULL, 0);
		assert_int_equal(status_of(r), spec(NVME_SC_ASYNC_LIMIT));
		put(r);
	}
	for (unsigned i = 0; i < NVMF_AERL; i++)
		assert_int_equal(aer[i]->completions, 0);
	/* an enabled event completes one of them: notice, NS attribute
	 * changed, log page 04h */
	assert_int_equal(xs(q, feat(true, NVME_FEAT_ASYNC_EVENT, 1u << 8)), ST_OK);
	nvmf_ctrl_aen_ns_changed(q->sq.ctrl, 3);
	for (unsigned i = 0; i < NVMF_AERL; i++) {
		if (!aer[i]->completions)
			continue;
		done++;
		assert_int_equal(status_of(aer[i]), ST_OK);
		assert_int_equal(aer[i]->req.rsp.dw0, 0x2u | 0x04u << 16);
		assert_int_equal(aer[i]->req.rsp.sqid, 0);
		put(aer[i]);
	}
	assert_int_equal(done, 1);
	/* the changed namespace list names it; reading clears it */
	r = get_log(q, 0x04, 0, 4096);
	assert_int_equal(status_of(r), ST_OK);
	assert_int_equal(((uint32_t *)r->req.buf)[0], 3);
	assert_int_equal(((uint32_t *)r->req.buf)[1], 0);
	put(r);
	r = get_log(q, 0x04, 0, 4096);
	assert_int_equal(status_of(r), ST_OK);
	assert_true(all_zero(r->req.buf, 4096));
	put(r);
	/* with room again, one more AER is accepted and held */
	{
		struct nvme_sqe c = sqe(NVME_ADM_ASYNC_EVENT, 0);

		r = exec_raw(q, &c, NULL, 0, NULL, 0);
		assert_int_equal(r->completions, 0);
	}
	/* the remaining AERs are freed by env_down, as a transport would */
}

/* an event without an outstanding AER waits for the next one */
static void test_aen_pending(void **state)
{
	struct tq *q;
	struct treq *r;
	struct nvme_sqe c;

	(void)state;
	env_up(cfg_main);
	q = admin_up(1, NQN1, HOSTA, NULL);
	assert_int_equal(xs(q, feat(true, NVME_FEAT_ASYNC_EVENT, 1u << 8)), ST_OK);
	nvmf_ctrl_aen_ns_changed(q->sq.ctrl, 1);
	c = sqe(NVME_ADM_ASYNC_EVENT, 0);
	r = exec_raw(q, &c, NULL, 0, NULL, 0);
	assert_int_equal(status_of(r), ST_OK);
	assert_int_equal(r->req.rsp.dw0, 0x2u | 0x04u << 16);
	put(r);
	/* delivered once */
	c = sqe(NVME_ADM_ASYNC_EVENT, 0);
	r = exec_raw(q, &c, NULL, 0, NULL, 0);
	assert_int_equal(r->completions, 0);
	/* events the host did not enable are not reported */
	assert_int_equal(xs(q, feat(true, NVME_FEAT_ASYNC_EVENT, 0)), ST_OK);
	nvmf_ctrl_aen_ns_changed(q->sq.ctrl, 3);
	assert_int_equal(r->completions, 0);
}


/* ======================================================================== */
/* ANA                                                                       */
/* ======================================================================== */

/* NQN1 on ports 1 and 3; namespace 1 in group 1, namespace 3 in group 2,
 * which port 1 reports as `state1` (and port 3 leaves optimized) */
#define CFG_ANA(state1, ns3grp)                                                                  \
	"{'subsystems': [{'nqn': '" NQN1 "', 'attr': {'allow_any_host': '1'},"                   \
	"  'namespaces': [{'nsid': 1, 'device': {'mem': '1MiB'}},"                               \
	"                 {'nsid': 3, 'ana_grpid': " ns3grp ", 'device': {'mem': '1MiB'}}]}],"   \
	" 'ports': ["                                                                            \
	" {'portid': 1, 'addr': {" TCP("127.0.0.1", "4420") "}, 'subsystems': ['" NQN1 "'],"     \
	"  'ana_groups': [{'grpid': 1, 'ana': {'state': 'optimized'}},"                          \
	"                 {'grpid': 2, 'ana': {'state': '" state1 "'}}]},"                       \
	" {'portid': 3, 'addr': {" TCP("127.0.0.1", "4422") "}, 'subsystems': ['" NQN1 "']}]}"

static uint16_t ana_st(uint8_t sc)
{
	return NVME_STATUS(NVME_SCT_PATH, sc);  /* no DNR: the host fails over */
}

struct ana_log {
	struct nvme_ana_log_hdr h;
	uint8_t rest[4096];
};

static void read_ana_log(struct tq *q, bool rgo, struct ana_log *out)
{
	struct nvme_sqe c = sqe(NVME_ADM_GET_LOG_PAGE, 0xffffffffu);
	struct treq *r;

	c.cdw10 = NVME_LOG_ANA | (rgo ? NVME_LOG_ANA_LSP_RGO : 0) | ((sizeof(*out) / 4 - 1) << 16);
	r = exec_c2h(q, c, sizeof(*out));
	assert_int_equal(status_of(r), ST_OK);
	memcpy(out, r->req.buf, sizeof(*out));
	put(r);
}

/* descriptor i of the log (and, when nsids, its NSIDs) */
static const struct nvme_ana_group_desc *ana_desc(const struct ana_log *l, unsigned i)
{
	const uint8_t *p = l->rest;

	for (unsigned k = 0; k < i; k++) {
		const struct nvme_ana_group_desc *d = (const void *)p;

		p += sizeof(*d) + d->nnsids * sizeof(uint32_t);
	}
	return (const void *)p;
}

static uint32_t desc_nsid(const struct nvme_ana_group_desc *d, unsigned i)
{
	uint32_t v;

	memcpy(&v, (const uint8_t *)d + sizeof(*d) + i * sizeof(v), sizeof(v));
	return v;
}

static void test_ana_identify_and_log(void **state)
{
	struct tq *q, *q3;
	struct treq *r;
	struct ana_log l;
	const struct nvme_ana_group_desc *d;
	struct nvme_id_ns ns3;
	uint16_t cntlid;

	(void)state;
	env_up(CFG_ANA("inaccessible", "2"));
	q = admin_up(1, NQN1, HOSTA, &cntlid);
	r = identify(q, NVME_ID_CNS_CTRL, 0);
	{
		const struct nvme_id_ctrl *id = r->req.buf;

		assert_int_equal(status_of(r), ST_OK);
		assert_int_equal(id->cmic & (1u << 3), 1u << 3);        /* ANA reporting */
		assert_int_equal(id->anacap & 0x1f, 0x1f);              /* all five states */
		assert_int_equal(id->anatt, NVMF_ANATT_S);
		assert_int_equal(id->anagrpmax, CFG_MAX_ANAGRPID);
		assert_int_equal(id->nanagrpid, CFG_MAX_ANAGRPID);
		assert_int_equal(id->mnan, NVMF_NN);                    /* 0 < MNAN <= NN, or Linux gives up */
		assert_true(id->mnan <= id->nn);
		assert_int_equal(id->oaes & (1u << 11), 1u << 11);      /* ANA change notices */
	}
	put(r);
	identify_ns(q, 3, &ns3);
	assert_int_equal(ns3.anagrpid, 2);

	/* port 1: group 1 optimized with NSID 1, group 2 inaccessible with NSID 3 */
	read_ana_log(q, false, &l);
	assert_int_equal(l.h.ngrps, 2);
	d = ana_desc(&l, 0);
	assert_int_equal(d->grpid, 1);
	assert_int_equal(d->state, CFG_ANA_OPTIMIZED);
	assert_int_equal(d->nnsids, 1);
	assert_int_equal(desc_nsid(d, 0), 1);
	assert_int_equal(d->chgcnt, l.h.chgcnt);
	d = ana_desc(&l, 1);
	assert_int_equal(d->grpid, 2);
	assert_int_equal(d->state, CFG_ANA_INACCESSIBLE);
	assert_int_equal(d->nnsids, 1);
	assert_int_equal(desc_nsid(d, 0), 3);
	/* RGO: the groups without their NSIDs */
	read_ana_log(q, true, &l);
	assert_int_equal(l.h.ngrps, 2);
	assert_int_equal(ana_desc(&l, 0)->nnsids, 0);
	assert_int_equal(ana_desc(&l, 1)->grpid, 2);
	assert_int_equal(ana_desc(&l, 1)->state, CFG_ANA_INACCESSIBLE);
	assert_true(all_zero(l.rest + 2 * sizeof(struct nvme_ana_group_desc), 64));

	/* port 3 sees group 2 optimized */
	q3 = admin_up(3, NQN1, HOSTB, NULL);
	read_ana_log(q3, false, &l);
	assert_int_equal(ana_desc(&l, 1)->state, CFG_ANA_OPTIMIZED);
}

static void test_ana_io_status(void **state)
{
	static const struct {
		const char *name;
		uint16_t st;
	} cases[] = {
		{ "optimized", ST_OK },
		{ "non-optimized", ST_OK },
		{ "inaccessible", 0 },
		{ "persistent-loss", 0 },
		{ "change", 0 },
	};
	uint8_t buf[512];

	(void)state;
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char json[4096];
		uint16_t want = i == 2 ? ana_st(NVME_SC_ANA_INACCESSIBLE) : i == 3 ? ana_st(NVME_SC_ANA_PERSISTENT_LOSS)
			      : i == 4 ? ana_st(NVME_SC_ANA_TRANSITION) : cases[i].st;
		struct tq *q, *io, *q3, *io3;
		struct nvmf_port *p1;
		uint16_t cntlid, cntlid3;

		snprintf(json, sizeof(json), CFG_ANA("%s", "2"), cases[i].name);
		env_up(json);
		q = admin_up(1, NQN1, HOSTA, &cntlid);
		io = io_up(1, NQN1, HOSTA, cntlid, 1);
		q3 = admin_up(3, NQN1, HOSTB, &cntlid3);
		io3 = io_up(3, NQN1, HOSTB, cntlid3, 1);
		(void)q;
		(void)q3;
		/* group 1 is optimized everywhere; group 2 is cases[i] on port 1 */
		assert_int_equal(io_read(io, 1, 0, 1, buf, sizeof(buf)), ST_OK);
		assert_int_equal(io_read(io, 3, 0, 1, buf, sizeof(buf)), want);
		assert_int_equal(io_write(io, 3, 0, 1, buf, sizeof(buf)), want);
		assert_int_equal(io_read(io3, 3, 0, 1, buf, sizeof(buf)), ST_OK);
		p1 = port_by_id(1);
		assert_int_equal(p1->stats[0].io, 3);
		assert_int_equal(p1->stats[0].ana_refused, want ? 2 : 0);
		assert_int_equal(port_by_id(3)->stats[0].io, 1);
		env_down(NULL);
	}
}

static void apply_json(const char *json, char *changes, size_t len)
{
	struct config *cfg;
	char err[512] = "";
	char *j = dq(json);

	assert_int_equal(config_parse(j, "t.json", &cfg, err, sizeof(err)), 0);
	free(j);
	if (nvmf_tgt_apply(&E.t, cfg, changes, len, err, sizeof(err)))
		fail_msg("nvmf_tgt_apply: %s", err);
	E.cfg = cfg;                    /* the old one was freed by apply */
}

/* a reload changes a group's state on a port: the I/O path follows at
 * once, the port's controllers get an ANA change notice, the log's
 * change count moves; moving a namespace to another group does the same */
static void test_ana_reload(void **state)
{
	struct tq *q, *io, *q3;
	struct treq *aer, *aer3;
	struct ana_log l;
	struct nvme_sqe c;
	uint64_t cc0;
	uint16_t cntlid;
	uint8_t buf[512];
	char changes[2048];

	(void)state;
	env_up(CFG_ANA("optimized", "2"));
	q = admin_up(1, NQN1, HOSTA, &cntlid);
	io = io_up(1, NQN1, HOSTA, cntlid, 1);
	q3 = admin_up(3, NQN1, HOSTB, NULL);
	assert_int_equal(xs(q, feat(true, NVME_FEAT_ASYNC_EVENT, 1u << 11)), ST_OK);
	assert_int_equal(xs(q3, feat(true, NVME_FEAT_ASYNC_EVENT, 1u << 11)), ST_OK);
	c = sqe(NVME_ADM_ASYNC_EVENT, 0);
	aer = exec_raw(q, &c, NULL, 0, NULL, 0);
	aer3 = exec_raw(q3, &c, NULL, 0, NULL, 0);
	assert_int_equal(aer->completions, 0);
	read_ana_log(q, false, &l);
	cc0 = l.h.chgcnt;
	assert_int_equal(io_read(io, 3, 0, 1, buf, sizeof(buf)), ST_OK);

	apply_json(CFG_ANA("inaccessible", "2"), changes, sizeof(changes));
	assert_non_null(strstr(changes, "port 1: ANA group 2 is now inaccessible (was optimized)"));
	assert_int_equal(io_read(io, 3, 0, 1, buf, sizeof(buf)), ana_st(NVME_SC_ANA_INACCESSIBLE));
	/* the notice reaches port 1's controller, not port 3's */
	assert_int_equal(status_of(aer), ST_OK);
	assert_int_equal(aer->req.rsp.dw0, 0x2u | 0x03u << 8 | (uint32_t)NVME_LOG_ANA << 16);
	assert_int_equal(aer3->completions, 0);
	read_ana_log(q, false, &l);
	assert_true(l.h.chgcnt > cc0);
	assert_int_equal(ana_desc(&l, 1)->state, CFG_ANA_INACCESSIBLE);
	cc0 = l.h.chgcnt;

	/* namespace 3 moves to group 1 (optimized): one group of two NSIDs */
	apply_json(CFG_ANA("inaccessible", "1"), changes, sizeof(changes));
	assert_non_null(strstr(changes, "namespace 3 of " NQN1 " moved from ANA group 2 to 1"));
	assert_int_equal(io_read(io, 3, 0, 1, buf, sizeof(buf)), ST_OK);
	read_ana_log(q, false, &l);
	assert_true(l.h.chgcnt > cc0);
	assert_int_equal(l.h.ngrps, 1);
	assert_int_equal(ana_desc(&l, 0)->nnsids, 2);
	assert_int_equal(desc_nsid(ana_desc(&l, 0), 1), 3);
	/* every controller of the subsystem heard of it */
	assert_int_equal(status_of(aer3), ST_OK);
	assert_int_equal(aer3->req.rsp.dw0, 0x2u | 0x03u << 8 | (uint32_t)NVME_LOG_ANA << 16);
	put(aer);
	put(aer3);
}

/* ======================================================================== */
/* Metrics: the exposition and the per-host accumulators                    */
/* ======================================================================== */

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)); p += n)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

static void test_metrics_hosts(void **state)
{
	struct tq *q, *io;
	uint16_t cntlid;
	uint8_t buf[1024] = { 0 };
	char *text, want[512];
	size_t len;
	struct nvmf_subsys *s;

	(void)state;
	env_up(cfg_main);
	q = admin_up(1, NQN1, HOSTA, &cntlid);
	io = io_up(1, NQN1, HOSTA, cntlid, 1);
	assert_int_equal(io_write(io, 1, 0, 2, buf, 1024), ST_OK);
	assert_int_equal(io_write(io, 1, 2, 1, buf, 512), ST_OK);
	assert_int_equal(io_read(io, 1, 0, 1, buf, 512), ST_OK);
	assert_int_equal(io_read(io, 1, 4096, 1, buf, 512), gen(NVME_SC_LBA_RANGE));

	text = nvmf_metrics_render(&E.t, &len);
	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	assert_true(has_line(text, "nvmf_bridge_namespace_commands_total{subsystem=\"" NQN1 "\",nsid=\"1\",op=\"write\"} 2"));
	assert_true(has_line(text, "nvmf_bridge_namespace_bytes_total{subsystem=\"" NQN1 "\",nsid=\"1\",op=\"write\"} 1536"));
	assert_true(has_line(text, "nvmf_bridge_namespace_errors_total{subsystem=\"" NQN1
				   "\",nsid=\"1\",status=\"lba_out_of_range\"} 1"));
	snprintf(want, sizeof(want), "nvmf_bridge_host_commands_total{subsystem=\"%s\",host=\"%s\",port=\"1\","
		 "transport=\"tcp\",op=\"read\"} 1", NQN1, HOSTA);
	assert_true(has_line(text, want));
	snprintf(want, sizeof(want), "nvmf_bridge_host_controllers{subsystem=\"%s\",host=\"%s\",port=\"1\","
		 "transport=\"tcp\"} 1", NQN1, HOSTA);
	assert_true(has_line(text, want));
	assert_true(has_line(text, "nvmf_bridge_port_io_commands_total{port=\"1\",transport=\"tcp\",traddr=\"127.0.0.1\","
				   "trsvcid=\"4420\"} 4"));
	/* every read counted once in the histogram, the failed one too */
	assert_true(has_line(text, "nvmf_bridge_namespace_latency_seconds_bucket{subsystem=\"" NQN1
				   "\",nsid=\"1\",op=\"read\",le=\"+Inf\"} 2"));
	free(text);

	/* the host disconnects: its counts stay, its controllers go to 0 */
	tq_destroy(io);
	tq_destroy(q);
	text = nvmf_metrics_render(&E.t, &len);
	snprintf(want, sizeof(want), "nvmf_bridge_host_commands_total{subsystem=\"%s\",host=\"%s\",port=\"1\","
		 "transport=\"tcp\",op=\"write\"} 2", NQN1, HOSTA);
	assert_true(has_line(text, want));
	snprintf(want, sizeof(want), "nvmf_bridge_host_controllers{subsystem=\"%s\",host=\"%s\",port=\"1\","
		 "transport=\"tcp\"} 0", NQN1, HOSTA);
	assert_true(has_line(text, want));
	free(text);

	/* bounded: NVMF_MAX_HOST_STATS hosts by name; the one idle the
	 * longest (HOSTA) makes room for the next */
	s = nvmf_tgt_find_subsys(&E.t, NQN1);
	for (unsigned i = 0; i < NVMF_MAX_HOST_STATS + 20; i++) {
		char nqn[96];
		struct tq *h;

		snprintf(nqn, sizeof(nqn), "nqn.2014-08.org.nvmexpress:uuid:00000000-0000-4000-8000-%012u", i);
		h = admin_up(1, NQN1, nqn, NULL);
		tq_destroy(h);
	}
	assert_int_equal(s->nr_hstats, NVMF_MAX_HOST_STATS);
	text = nvmf_metrics_render(&E.t, &len);
	assert_null(strstr(text, HOSTA));
	assert_non_null(strstr(text, "8000-000000000275\""));  /* the last one */
	free(text);
}

/* ======================================================================== */
/* Refused admin commands                                                    */
/* ======================================================================== */

static void test_refused_admin_opcodes(void **state)
{
	/* would change or bypass the exported device; fabrics controllers
	 * have no queue management commands */
	static const uint8_t none[] = { NVME_ADM_FORMAT_NVM, NVME_ADM_FW_COMMIT, NVME_ADM_SANITIZE,
					NVME_ADM_DEV_SELF_TEST, NVME_ADM_DELETE_SQ, NVME_ADM_DELETE_CQ,
					NVME_ADM_VIRT_MGMT, 0xc0 };
	static const uint8_t h2c[] = { NVME_ADM_NS_MGMT, NVME_ADM_FW_DOWNLOAD, NVME_ADM_SECURITY_SEND,
				       NVME_ADM_NS_ATTACH, NVME_ADM_CREATE_SQ, NVME_ADM_CREATE_CQ };
	static const uint8_t c2h[] = { NVME_ADM_SECURITY_RECV, NVME_ADM_GET_LBA_STATUS };
	uint8_t data[512];
	struct tq *q;
	struct treq *r;

	(void)state;
	env_up(cfg_main);
	q = admin_up(1, NQN1, HOSTA, NULL);
	memset(data, 0x5c, sizeof(data));
	for (unsigned i = 0; i < sizeof(none); i++)
		assert_int_equal(xs(q, sqe(none[i], 1)), gen(NVME_SC_INVALID_OPCODE));
	for (unsigned i = 0; i < sizeof(h2c); i++) {
		r = exec_h2c(q, sqe(h2c[i], 1), data, sizeof(data), true);
		assert_int_equal(status_of(r), gen(NVME_SC_INVALID_OPCODE));
		put(r);
		r = exec_h2c(q, sqe(h2c[i], 1), data, sizeof(data), false);
		assert_int_equal(status_of(r), gen(NVME_SC_INVALID_OPCODE));
		put(r);
	}
	for (unsigned i = 0; i < sizeof(c2h); i++) {
		r = exec_c2h(q, sqe(c2h[i], 1), sizeof(data));
		assert_int_equal(status_of(r), gen(NVME_SC_INVALID_OPCODE));
		put(r);
	}
	/* nothing happened to the namespace */
	{
		uint8_t back[512];
		struct tq *io = io_up(1, NQN1, HOSTA, q->sq.ctrl->cntlid, 1);

		assert_int_equal(io_read(io, 1, 0, 1, back, sizeof(back)), ST_OK);
		assert_true(all_zero(back, sizeof(back)));
	}
}

/* ======================================================================== */
/* I/O                                                                       */
/* ======================================================================== */

/* an enabled controller of NQN1 (its admin queue in *admin) and one I/O queue */
static struct tq *io_queue(struct tq **admin)
{
	struct tq *q;
	uint16_t id;

	q = admin_up(1, NQN1, HOSTA, &id);
	if (admin)
		*admin = q;
	return io_up(1, NQN1, HOSTA, id, 1);
}

static void test_io_write_read(void **state)
{
	static const struct {
		uint32_t nsid, bs, nlb;
		uint64_t slba;
	} cases[] = {
		{ 1, 512, 1, 0 },
		{ 1, 512, 8, 9 },               /* 4 KiB, in-capsule */
		{ 1, 512, 32, 100 },            /* 16 KiB: exactly the inline size */
		{ 1, 512, 33, 200 },            /* just over: through R2T */
		{ 1, 512, 128, 300 },           /* 64 KiB */
		{ 1, 512, 256, 2048 - 256 },    /* 128 KiB = MDTS, up to the last block */
		{ 3, 4096, 1, 0 },
		{ 3, 4096, 3, 17 },
		{ 3, 4096, 32, 256 - 32 },      /* MDTS on 4 KiB blocks, the last blocks */
	};
	uint8_t *in = malloc(128 * 1024), *out = malloc(128 * 1024);
	struct tq *io;

	(void)state;
	assert_non_null(in);
	assert_non_null(out);
	env_up(cfg_main);
	io = io_queue(NULL);
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t len = cases[i].nlb * cases[i].bs;

		pattern(in, len, i + 1);
		assert_int_equal(io_write(io, cases[i].nsid, cases[i].slba, cases[i].nlb, in, len), ST_OK);
		assert_int_equal(E.last.sqid, 1);
		assert_int_equal(E.last.dw0, 0);
		memset(out, 0, len);
		assert_int_equal(io_read(io, cases[i].nsid, cases[i].slba, cases[i].nlb, out, len), ST_OK);
		assert_memory_equal(in, out, len);
	}
	/* nothing spilled: the blocks between cases are still zero, and
	 * every case reads back after all the others were written */
	assert_int_equal(io_read(io, 1, 1, 8, out, 4096), ST_OK);
	assert_true(all_zero(out, 4096));
	assert_int_equal(io_read(io, 1, 17, 83, out, 83 * 512), ST_OK);
	assert_true(all_zero(out, 83 * 512));
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t len = cases[i].nlb * cases[i].bs;

		pattern(in, len, i + 1);
		assert_int_equal(io_read(io, cases[i].nsid, cases[i].slba, cases[i].nlb, out, len), ST_OK);
		assert_memory_equal(in, out, len);
	}
	/* the namespaces are separate: NQN2's namespace 1 is still empty */
	{
		struct tq *io2;
		uint16_t id;

		admin_up(1, NQN2, HOSTB, &id);
		io2 = io_up(1, NQN2, HOSTB, id, 1);
		assert_int_equal(io_read(io2, 1, 0, 1, out, 512), ST_OK);
		assert_true(all_zero(out, 512));
	}
	free(in);
	free(out);
}

static void test_io_invalid_namespace(void **state)
{
	static const uint32_t bad[] = { 0, 2, 4, 5 /* disabled */, 1024, 0xffffffffu };
	uint8_t buf[512] = { 0 };
	struct tq *io;

	(void)state;
	env_up(cfg_main);
	io = io_queue(NULL);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(io_read(io, bad[i], 0, 1, NULL, 512), gen(NVME_SC_INVALID_NS));
		assert_int_equal(io_write(io, bad[i], 0, 1, buf, 512), gen(NVME_SC_INVALID_NS));
	}
}

static void test_io_lba_range(void **state)
{
	uint8_t buf[1024] = { 0 };
	struct tq *io;

	(void)state;
	env_up(cfg_main);
	io = io_queue(NULL);
	/* namespace 1: 2048 blocks */
	assert_int_equal(io_read(io, 1, 2048, 1, NULL, 512), gen(NVME_SC_LBA_RANGE));
	assert_int_equal(io_read(io, 1, 2047, 2, NULL, 1024), gen(NVME_SC_LBA_RANGE));
	assert_int_equal(io_write(io, 1, 2047, 2, buf, 1024), gen(NVME_SC_LBA_RANGE));
	assert_int_equal(io_read(io, 1, 1ull << 32, 1, NULL, 512), gen(NVME_SC_LBA_RANGE));
	assert_int_equal(io_read(io, 1, ~0ull, 1, NULL, 512), gen(NVME_SC_LBA_RANGE));
	assert_int_equal(io_read(io, 1, ~0ull - 1, 2, NULL, 1024), gen(NVME_SC_LBA_RANGE));
	assert_int_equal(xs(io, rw(NVME_CMD_WRITE_ZEROES, 1, 2040, 9)), gen(NVME_SC_LBA_RANGE));
	assert_int_equal(io_read(io, 1, 2047, 1, NULL, 512), ST_OK);
	/* namespace 3: 256 blocks of 4 KiB */
	assert_int_equal(io_read(io, 3, 256, 1, NULL, 4096), gen(NVME_SC_LBA_RANGE));
	assert_int_equal(io_read(io, 3, 255, 1, NULL, 4096), ST_OK);
}

static void test_io_sgl_length_mismatch(void **state)
{
	uint8_t buf[2048] = { 0 };
	struct tq *io;
	struct treq *r;

	(void)state;
	env_up(cfg_main);
	io = io_queue(NULL);
	/* the SGL must describe exactly the blocks addressed (kernel
	 * nvmet_check_transfer_len: Data SGL Length Invalid) */
	assert_int_equal(io_read(io, 1, 0, 1, NULL, 1024), gen(NVME_SC_SGL_INVALID_DATA));
	assert_int_equal(io_read(io, 1, 0, 2, NULL, 512), gen(NVME_SC_SGL_INVALID_DATA));
	assert_int_equal(io_read(io, 3, 0, 1, NULL, 512), gen(NVME_SC_SGL_INVALID_DATA));
	assert_int_equal(io_write(io, 1, 0, 2, buf, 512), gen(NVME_SC_SGL_INVALID_DATA));
	assert_int_equal(io_write(io, 1, 0, 1, buf, 2048), gen(NVME_SC_SGL_INVALID_DATA));
	/* no data at all */
	assert_int_equal(xs(io, rw(NVME_CMD_READ, 1, 0, 1)), gen(NVME_SC_SGL_INVALID_DATA));
	/* the wrong direction: a Read with host-to-controller data */
	r = exec_h2c(io, rw(NVME_CMD_READ, 1, 0, 1), buf, 512, true);
	assert_int_not_equal(status_of(r), ST_OK);
	assert_true(NVME_CQE_STATUS(&r->req.rsp) & NVME_STATUS_DNR);
	put(r);
	/* nothing was written by the refused writes */
	assert_int_equal(io_read(io, 1, 0, 1, buf, 512), ST_OK);
	assert_true(all_zero(buf, 512));
}

static void test_io_mdts(void **state)
{
	uint8_t *buf = calloc(1, 136 * 1024);
	struct tq *io;
	struct treq *r;

	(void)state;
	assert_non_null(buf);
	env_up(cfg_main);
	io = io_queue(NULL);
	/* 257 blocks of 512 bytes: one block more than 128 KiB */
	assert_int_equal(io_read(io, 1, 0, 257, NULL, 257 * 512), gen(NVME_SC_INVALID_FIELD));
	assert_int_equal(io_write(io, 1, 0, 257, buf, 257 * 512), gen(NVME_SC_INVALID_FIELD));
	/* even with an SGL that fits the buffer */
	r = exec_c2h(io, rw(NVME_CMD_READ, 1, 0, 257), 128 * 1024);
	assert_int_equal(status_of(r), gen(NVME_SC_INVALID_FIELD));
	put(r);
	/* 4 KiB blocks: 33 */
	assert_int_equal(io_read(io, 3, 0, 33, NULL, 33 * 4096), gen(NVME_SC_INVALID_FIELD));
	r = exec_c2h(io, rw(NVME_CMD_READ, 3, 0, 33), 128 * 1024);
	assert_int_equal(status_of(r), gen(NVME_SC_INVALID_FIELD));
	put(r);
	assert_int_equal(io_read(io, 3, 0, 32, NULL, 32 * 4096), ST_OK);
	free(buf);
}

static void test_io_write_zeroes(void **state)
{
	uint8_t in[16 * 512], out[16 * 512];
	struct tq *io;

	(void)state;
	env_up(cfg_main);
	io = io_queue(NULL);
	pattern(in, sizeof(in), 7);
	assert_int_equal(io_write(io, 1, 10, 16, in, sizeof(in)), ST_OK);
	assert_int_equal(xs(io, rw(NVME_CMD_WRITE_ZEROES, 1, 14, 5)), ST_OK);
	assert_int_equal(E.last.sqid, 1);
	assert_int_equal(io_read(io, 1, 10, 16, out, sizeof(out)), ST_OK);
	assert_memory_equal(out, in, 4 * 512);
	assert_true(all_zero(out + 4 * 512, 5 * 512));
	assert_memory_equal(out + 9 * 512, in + 9 * 512, 7 * 512);
	/* 4 KiB blocks */
	assert_int_equal(io_write(io, 3, 0, 2, in, 8192), ST_OK);
	assert_int_equal(xs(io, rw(NVME_CMD_WRITE_ZEROES, 3, 1, 1)), ST_OK);
	assert_int_equal(io_read(io, 3, 0, 2, out, 8192), ST_OK);
	assert_memory_equal(out, in, 4096);
	assert_true(all_zero(out + 4096, 4096));
	/* Write Zeroes moves no data: MDTS does not limit it (no WZSL
	 * reported), the whole namespace at once is fine */
	assert_int_equal(io_write(io, 1, 2000, 8, in, 4096), ST_OK);
	assert_int_equal(xs(io, rw(NVME_CMD_WRITE_ZEROES, 1, 0, 2048)), ST_OK);
	assert_int_equal(io_read(io, 1, 2000, 8, out, 4096), ST_OK);
	assert_true(all_zero(out, 4096));
}

static void test_io_compare(void **state)
{
	uint8_t in[4096], other[4096];
	struct tq *io;
	struct treq *r;

	(void)state;
	env_up(cfg_main);
	io = io_queue(NULL);
	pattern(in, sizeof(in), 3);
	assert_int_equal(io_write(io, 1, 40, 8, in, sizeof(in)), ST_OK);
	r = exec_h2c(io, rw(NVME_CMD_COMPARE, 1, 40, 8), in, sizeof(in), true);
	assert_int_equal(status_of(r), ST_OK);
	put(r);
	r = exec_h2c(io, rw(NVME_CMD_COMPARE, 1, 40, 8), in, sizeof(in), false);
	assert_int_equal(status_of(r), ST_OK);
	put(r);
	memcpy(other, in, sizeof(other));
	other[4095] ^= 1;               /* the very last byte differs */
	r = exec_h2c(io, rw(NVME_CMD_COMPARE, 1, 40, 8), other, sizeof(other), true);
	assert_int_equal(status_of(r), nvmf_status_dnr(NVME_SCT_MEDIA, NVME_SC_COMPARE_FAILED));
	put(r);
	/* compare does not write */
	assert_int_equal(io_read(io, 1, 40, 8, other, sizeof(other)), ST_OK);
	assert_memory_equal(other, in, sizeof(in));
	/* range and length checks apply */
	r = exec_h2c(io, rw(NVME_CMD_COMPARE, 1, 2047, 8), in, sizeof(in), true);
	assert_int_equal(status_of(r), gen(NVME_SC_LBA_RANGE));
	put(r);
	r = exec_h2c(io, rw(NVME_CMD_COMPARE, 1, 40, 8), in, 512, true);
	assert_int_equal(status_of(r), gen(NVME_SC_SGL_INVALID_DATA));
	put(r);
}

static void test_io_dsm_deallocate(void **state)
{
	uint8_t in[16 * 512], out[16 * 512];
	struct nvme_dsm_range ranges[2] = {
		{ .nlb = 3, .slba = 102 },
		{ .nlb = 1, .slba = 110 },
	};
	struct nvme_sqe c;
	struct tq *io;
	struct treq *r;

	(void)state;
	env_up(cfg_main);
	io = io_queue(NULL);
	pattern(in, sizeof(in), 11);
	assert_int_equal(io_write(io, 1, 100, 16, in, sizeof(in)), ST_OK);
	/* Linux nvme_setup_discard: NR 0's based, AD, ranges in-capsule */
	c = sqe(NVME_CMD_DSM, 1);
	c.cdw10 = 1;
	c.cdw11 = 1u << 2;
	r = exec_h2c(io, c, ranges, sizeof(ranges), true);
	assert_int_equal(status_of(r), ST_OK);
	put(r);
	assert_int_equal(io_read(io, 1, 100, 16, out, sizeof(out)), ST_OK);
	assert_memory_equal(out, in, 2 * 512);
	assert_true(all_zero(out + 2 * 512, 3 * 512));          /* 102..104 */
	assert_memory_equal(out + 5 * 512, in + 5 * 512, 5 * 512);
	assert_true(all_zero(out + 10 * 512, 512));             /* 110 */
	assert_memory_equal(out + 11 * 512, in + 11 * 512, 5 * 512);
	/* a range beyond the namespace */
	ranges[0] = (struct nvme_dsm_range){ .nlb = 2, .slba = 2047 };
	c = sqe(NVME_CMD_DSM, 1);
	c.cdw11 = 1u << 2;
	r = exec_h2c(io, c, ranges, sizeof(ranges[0]), true);
	assert_int_equal(status_of(r), gen(NVME_SC_LBA_RANGE));
	put(r);
	/* fewer ranges in the data than NR says */
	c = sqe(NVME_CMD_DSM, 1);
	c.cdw10 = 1;
	c.cdw11 = 1u << 2;
	r = exec_h2c(io, c, ranges, sizeof(ranges[0]), true);
	assert_int_equal(status_of(r), gen(NVME_SC_SGL_INVALID_DATA));
	put(r);
}

static void test_io_flush(void **state)
{
	struct tq *io;

	(void)state;
	env_up(cfg_main);
	io = io_queue(NULL);
	assert_int_equal(xs(io, sqe(NVME_CMD_FLUSH, 1)), ST_OK);
	assert_int_equal(E.last.sqid, 1);
	assert_int_equal(xs(io, sqe(NVME_CMD_FLUSH, 3)), ST_OK);
	assert_int_equal(xs(io, sqe(NVME_CMD_FLUSH, 2)), gen(NVME_SC_INVALID_NS));
}

static void test_io_unknown_opcode(void **state)
{
	/* (reservation commands are known: tests/unit/test_resv.c) */
	static const uint8_t opc[] = { NVME_CMD_WRITE_UNCOR, NVME_CMD_VERIFY, 0x7e, 0x80, NVME_ADM_IDENTIFY };
	struct tq *io;

	(void)state;
	env_up(cfg_main);
	io = io_queue(NULL);
	for (unsigned i = 0; i < sizeof(opc); i++)
		assert_int_equal(xs(io, sqe(opc[i], 1)), gen(NVME_SC_INVALID_OPCODE));
}

/* What nvmf_req_prepare accepts of a data descriptor (the Linux TCP host:
 * PSDT = SGL, in-capsule data as a data block with offset 0, the rest as
 * transport data blocks) and what it refuses before anything executes. */
static void test_io_data_descriptors(void **state)
{
	uint8_t data[512], back[512];
	struct nvme_sqe c;
	struct tq *io;
	struct treq *r;
	uint8_t *big = calloc(1, 16384 + 512);

	(void)state;
	assert_non_null(big);
	env_up(cfg_main);
	io = io_queue(NULL);
	pattern(data, sizeof(data), 5);
	/* PRPs do not exist on fabrics (kernel nvmet_parse_io_cmd: Invalid
	 * Field when PSDT is not "SGL, metadata buffer") */
	c = rw(NVME_CMD_WRITE, 1, 0, 1);
	c.flags = NVME_SQE_PSDT_PRP;
	r = exec_h2c(io, c, data, sizeof(data), false);
	assert_int_equal(status_of(r), gen(NVME_SC_INVALID_FIELD));
	put(r);
	/* a keyed SGL (RDMA's) on this transport */
	c = rw(NVME_CMD_READ, 1, 0, 1);
	sgl_tdb(&c, 512);
	c.dptr.sgl.type = 0x40;
	r = exec_raw(io, &c, NULL, 0, NULL, 0);
	assert_int_equal(status_of(r), gen(NVME_SC_SGL_INVALID_TYPE));
	put(r);
	/* in-capsule data at a nonzero offset (ICDOFF is 0) */
	c = rw(NVME_CMD_WRITE, 1, 0, 1);
	sgl_icd(&c, 512);
	c.dptr.sgl.addr = 64;
	r = exec_raw(io, &c, big, 1024, NULL, 0);
	assert_int_equal(status_of(r), gen(NVME_SC_SGL_INVALID_OFFSET));
	put(r);
	/* more in-capsule data than the port's inline_data_size (kernel
	 * nvmet_tcp_map_data: SGL Offset Invalid) */
	c = rw(NVME_CMD_WRITE, 1, 0, 33);
	r = exec_h2c(io, c, big, 16384 + 512, true);
	assert_int_equal(status_of(r), gen(NVME_SC_SGL_INVALID_OFFSET));
	put(r);
	/* in-capsule data for a read */
	r = exec_h2c(io, rw(NVME_CMD_READ, 1, 0, 1), data, sizeof(data), true);
	assert_int_not_equal(status_of(r), ST_OK);
	assert_true(NVME_CQE_STATUS(&r->req.rsp) & NVME_STATUS_DNR);
	put(r);
	/* nothing of it reached the namespace */
	assert_int_equal(io_read(io, 1, 0, 1, back, sizeof(back)), ST_OK);
	assert_true(all_zero(back, sizeof(back)));
	/* a write that fits the inline size goes in-capsule and lands */
	r = exec_h2c(io, rw(NVME_CMD_WRITE, 1, 0, 1), data, sizeof(data), true);
	assert_int_equal(status_of(r), ST_OK);
	assert_int_equal(r->req.xfer, NVMF_XFER_H2C);
	assert_int_equal(r->req.len, 512);
	put(r);
	assert_int_equal(io_read(io, 1, 0, 1, back, sizeof(back)), ST_OK);
	assert_memory_equal(back, data, sizeof(data));
	free(big);
}

/* NQN1 with namespace 1 in memory and namespaces 2 (512-byte blocks) and
 * 3 (4 KiB blocks) on the null backend, 1 MiB each */
static const char cfg_null[] =
	"{'subsystems': [{'nqn': '" NQN1 "', 'attr': {'allow_any_host': '1'},"
	"  'namespaces': [{'nsid': 1, 'device': {'mem': '1MiB'}},"
	"                 {'nsid': 2, 'device': {'null': '1MiB'}},"
	"                 {'nsid': 3, 'device': {'null': 1048576, 'block_size': 4096}}]}],"
	" 'ports': [{'portid': 1, 'addr': {" TCP("127.0.0.1", "4420") "}, 'param': {'inline_data_size': '16384'},"
	"  'subsystems': ['" NQN1 "']}]}";

/* Zero-copy reads, on a queue whose transport sends from any memory (as
 * TCP's does): a mem read points c2h_data at the namespace's own bytes and
 * a null read at zero pages, the pool buffer is left alone, and the
 * namespace counts the command as in flight (so a reconfiguration cannot
 * free it) until the transport calls nvmf_req_c2h_done(). A refused read
 * carries no c2h_data; on a queue that cannot (RDMA) the data is copied. */
static void test_io_zero_copy_reads(void **state)
{
	uint8_t *in = malloc(8192);
	const struct nvmf_ns_table *nt;
	struct nvmf_ns *mem_ns = NULL, *null_ns = NULL;
	struct tq *admin, *io;
	struct treq *r;

	(void)state;
	assert_non_null(in);
	env_up(cfg_null);
	io = io_queue(&admin);
	nt = nvmf_subsys_ns(E.t.subsys[0]);
	for (unsigned i = 0; i < nt->nr; i++) {
		if (nt->ns[i]->nsid == 1)
			mem_ns = nt->ns[i];
		if (nt->ns[i]->nsid == 2)
			null_ns = nt->ns[i];
	}
	assert_non_null(mem_ns);
	assert_non_null(null_ns);
	pattern(in, 8192, 33);
	assert_int_equal(io_write(io, 1, 40, 16, in, 8192), ST_OK);

	io->sq.c2h_any_memory = true;
	r = exec_c2h(io, rw(NVME_CMD_READ, 1, 40, 16), 8192);
	assert_int_equal(status_of(r), ST_OK);
	assert_non_null(r->req.c2h_data);
	assert_ptr_not_equal(r->req.c2h_data, r->req.buf);
	assert_memory_equal(r->req.c2h_data, in, 8192);
	assert_false(memcmp(r->req.buf, in, 8192) == 0);        /* not copied */
	assert_int_equal(mem_ns->stats[0].inflight, 1);         /* still busy */
	nvmf_req_c2h_done(&r->req);
	assert_null(r->req.c2h_data);
	assert_int_equal(mem_ns->stats[0].inflight, 0);
	nvmf_req_c2h_done(&r->req);                             /* twice: no-op */
	assert_int_equal(mem_ns->stats[0].inflight, 0);
	put(r);

	r = exec_c2h(io, rw(NVME_CMD_READ, 2, 0, 16), 8192);
	assert_int_equal(status_of(r), ST_OK);
	assert_non_null(r->req.c2h_data);
	assert_true(all_zero(r->req.c2h_data, 8192));
	assert_int_equal(null_ns->stats[0].inflight, 1);
	nvmf_req_c2h_done(&r->req);
	assert_int_equal(null_ns->stats[0].inflight, 0);
	put(r);

	/* refused: nothing to send, nothing held */
	r = exec_c2h(io, rw(NVME_CMD_READ, 1, 2047, 2), 1024);
	assert_int_equal(status_of(r), gen(NVME_SC_LBA_RANGE));
	assert_null(r->req.c2h_data);
	assert_int_equal(mem_ns->stats[0].inflight, 0);
	put(r);

	/* a transport that sends only from the pool: copied as before */
	io->sq.c2h_any_memory = false;
	r = exec_c2h(io, rw(NVME_CMD_READ, 1, 40, 16), 8192);
	assert_int_equal(status_of(r), ST_OK);
	assert_null(r->req.c2h_data);
	assert_memory_equal(r->req.buf, in, 8192);
	assert_int_equal(mem_ns->stats[0].inflight, 0);
	put(r);
	free(in);
}

/* null: writes are discarded and reads return zeroes, into a buffer that
 * held something else (exec_raw poisons every buffer); a mem namespace
 * beside it keeps what was written. */
static void test_io_null_backend(void **state)
{
	uint8_t *in = malloc(128 * 1024), *out = malloc(128 * 1024);
	struct tq *admin, *io;
	struct treq *r;
	struct nvme_id_ns id;
	struct nvme_sqe c;
	struct nvme_dsm_range range = { .nlb = 8, .slba = 16 };

	(void)state;
	assert_non_null(in);
	assert_non_null(out);
	env_up(cfg_null);
	io = io_queue(&admin);
	pattern(in, 128 * 1024, 21);

	/* null, 512-byte blocks: written (in-capsule and through R2T), read
	 * back as zeroes */
	assert_int_equal(io_write(io, 2, 16, 8, in, 4096), ST_OK);
	memset(out, 0x5a, 4096);
	assert_int_equal(io_read(io, 2, 16, 8, out, 4096), ST_OK);
	assert_true(all_zero(out, 4096));
	assert_int_equal(io_write(io, 2, 0, 256, in, 128 * 1024), ST_OK);
	assert_int_equal(io_read(io, 2, 0, 256, out, 128 * 1024), ST_OK);
	assert_true(all_zero(out, 128 * 1024));
	/* the last block, and the range checks still apply */
	assert_int_equal(io_read(io, 2, 2047, 1, out, 512), ST_OK);
	assert_true(all_zero(out, 512));
	assert_int_equal(io_read(io, 2, 2048, 1, NULL, 512), gen(NVME_SC_LBA_RANGE));
	assert_int_equal(io_write(io, 2, 2047, 2, in, 1024), gen(NVME_SC_LBA_RANGE));
	assert_int_equal(io_read(io, 2, 0, 2, NULL, 512), gen(NVME_SC_SGL_INVALID_DATA));

	/* null, 4 KiB blocks */
	assert_int_equal(io_write(io, 3, 3, 2, in, 8192), ST_OK);
	assert_int_equal(io_read(io, 3, 3, 2, out, 8192), ST_OK);
	assert_true(all_zero(out, 8192));
	assert_int_equal(io_read(io, 3, 256, 1, NULL, 4096), gen(NVME_SC_LBA_RANGE));

	/* Compare against zeroes: equal only when the data is all zero, the
	 * last byte included */
	memset(out, 0, 4096);
	r = exec_h2c(io, rw(NVME_CMD_COMPARE, 2, 16, 8), out, 4096, true);
	assert_int_equal(status_of(r), ST_OK);
	put(r);
	out[4095] = 1;
	r = exec_h2c(io, rw(NVME_CMD_COMPARE, 2, 16, 8), out, 4096, false);
	assert_int_equal(status_of(r), nvmf_status_dnr(NVME_SCT_MEDIA, NVME_SC_COMPARE_FAILED));
	put(r);
	r = exec_h2c(io, rw(NVME_CMD_COMPARE, 2, 16, 8), in, 4096, true);
	assert_int_equal(status_of(r), nvmf_status_dnr(NVME_SCT_MEDIA, NVME_SC_COMPARE_FAILED));
	put(r);

	/* Write Zeroes, Deallocate and Flush succeed */
	assert_int_equal(xs(io, rw(NVME_CMD_WRITE_ZEROES, 2, 0, 2048)), ST_OK);
	assert_int_equal(xs(io, sqe(NVME_CMD_FLUSH, 2)), ST_OK);
	c = sqe(NVME_CMD_DSM, 2);
	c.cdw11 = 1u << 2;
	r = exec_h2c(io, c, &range, sizeof(range), true);
	assert_int_equal(status_of(r), ST_OK);
	put(r);

	/* the mem namespace keeps what was written */
	assert_int_equal(io_write(io, 1, 16, 8, in, 4096), ST_OK);
	assert_int_equal(io_read(io, 1, 16, 8, out, 4096), ST_OK);
	assert_memory_equal(out, in, 4096);
	assert_int_equal(io_write(io, 1, 0, 256, in, 128 * 1024), ST_OK);
	assert_int_equal(io_read(io, 1, 0, 256, out, 128 * 1024), ST_OK);
	assert_memory_equal(out, in, 128 * 1024);

	/* Identify: the size and block size configured; deallocated (here:
	 * all) blocks read as zeroes (DLFEAT 001b) */
	identify_ns(admin, 2, &id);
	assert_int_equal(id.nsze, 2048);
	assert_int_equal(id.lbaf[nvme_id_ns_flbas_index(&id)].lbads, 9);
	assert_int_equal(id.dlfeat & 7u, 1);
	identify_ns(admin, 3, &id);
	assert_int_equal(id.nsze, 256);
	assert_int_equal(id.lbaf[nvme_id_ns_flbas_index(&id)].lbads, 12);
	free(in);
	free(out);
}

/* a field of /proc/meminfo ("MemAvailable:"), in its unit (kB, or pages
 * for "HugePages_Free:"); 0 when unknown */
static uint64_t meminfo(const char *field)
{
	FILE *f = fopen("/proc/meminfo", "r");
	size_t n = strlen(field);
	char line[128];
	uint64_t v = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, n)) {
			v = strtoull(line + n, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* The lines the target logged at info and above while running fn */
static char *logged(void (*fn)(void *), void *arg)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	log_set_output_for_test(f);
	log_set_level(LOG_LVL_INFO);
	fn(arg);
	log_set_level(LOG_LVL_ERR);
	log_set_output_for_test(NULL);
	fclose(f);
	assert_non_null(text);
	return text;
}

static void env_up_cb(void *json)
{
	env_up(json);
}

static void apply_cb(void *json)
{
	struct config *cfg;
	char err[512] = "", changes[1024];
	char *j = dq(json);

	assert_int_equal(config_parse(j, "t.json", &cfg, err, sizeof(err)), 0);
	free(j);
	if (nvmf_tgt_apply(&E.t, cfg, changes, sizeof(changes), err, sizeof(err)))
		fail_msg("nvmf_tgt_apply: %s", err);
	E.cfg = cfg;                    /* the old one was freed by apply */
}

/* the line of text that contains what (without its newline), or NULL */
static char *line_with(const char *text, const char *what)
{
	const char *at = strstr(text, what), *b, *e;

	if (!at)
		return NULL;
	for (b = at; b > text && b[-1] != '\n'; b--)
		;
	e = strchr(at, '\n');
	return strndup(b, e ? (size_t)(e - b) : strlen(b));
}

static bool overcommit_strict(void)
{
	FILE *f = fopen("/proc/sys/vm/overcommit_memory", "r");
	int mode = 0;

	if (f) {
		if (fscanf(f, "%d", &mode) != 1)
			mode = 0;
		fclose(f);
	}
	return mode == 2;
}

/* A mem namespace is faulted in at start when it fits in half of the
 * memory available (on hugepages, or on small pages with THP asked for),
 * not when it does not, nor when it is added while running; one line per
 * namespace says which. It reads back what was written either way. */
static void test_mem_prefault(void **state)
{
	static const char *const ns_json[] = {
		"{'nsid': 1, 'device': {'mem': '2MiB'}}, {'nsid': 2, 'device': {'mem': %llu}}",
		"{'nsid': 1, 'device': {'mem': '2MiB'}}, {'nsid': 2, 'device': {'mem': %llu}},"
		" {'nsid': 3, 'device': {'mem': '1MiB'}}",
	};
	uint64_t avail = meminfo("MemAvailable:") << 10, huge_free = meminfo("HugePages_Free:") << 21;
	/* more than half of what is available, and more than the free
	 * hugepages (so this test never takes the pool from anyone): mapped
	 * with MAP_NORESERVE, not faulted in */
	uint64_t big = (((avail > huge_free ? avail : huge_free) >> 20) + 2) << 20;
	char json[2][1024], fmt[1024], *log1, *log2, *l;
	uint8_t in[4096], out[4096];
	struct tq *io;

	(void)state;
	if (!avail || overcommit_strict())
		skip();
	for (unsigned i = 0; i < 2; i++) {
		snprintf(fmt, sizeof(fmt),
			 "{'subsystems': [{'nqn': '" NQN1 "', 'attr': {'allow_any_host': '1'}, 'namespaces': [%s]}],"
			 " 'ports': [{'portid': 1, 'addr': {" TCP("127.0.0.1", "4420") "}, 'subsystems': ['" NQN1 "']}]}",
			 ns_json[i]);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		snprintf(json[i], sizeof(json[i]), fmt, (unsigned long long)big);
#pragma GCC diagnostic pop
	}
	log1 = logged(env_up_cb, json[0]);
	/* namespace 1: faulted in, on whichever pages it got */
	l = line_with(log1, "namespace 1 of " NQN1 ": mem 2 MiB on ");
	if (!l || (!strstr(l, ": mem 2 MiB on 2 MiB hugepages, pre-faulted in ") &&
		   !strstr(l, " pages (transparent hugepages requested), pre-faulted in ")))
		fail_msg("namespace 1 was not pre-faulted:\n%s", log1);
	free(l);
	/* namespace 2: too big to fault in */
	l = line_with(log1, "namespace 2 of " NQN1 ": mem ");
	if (!l || !strstr(l, " pages (transparent hugepages requested), not pre-faulted: ") ||
	    !strstr(l, " is more than half of the ") || strcmp(l + strlen(l) - 10, " available"))
		fail_msg("namespace 2 (%llu bytes, %llu available) should not be pre-faulted:\n%s",
			 (unsigned long long)big, (unsigned long long)avail, log1);
	free(l);
	/* both read back what was written */
	io = io_queue(NULL);
	pattern(in, sizeof(in), 9);
	assert_int_equal(io_write(io, 1, 4088, 8, in, sizeof(in)), ST_OK);
	assert_int_equal(io_read(io, 1, 4088, 8, out, sizeof(out)), ST_OK);
	assert_memory_equal(out, in, sizeof(in));
	assert_int_equal(io_write(io, 2, big / 512 - 8, 8, in, sizeof(in)), ST_OK);
	assert_int_equal(io_read(io, 2, big / 512 - 8, 8, out, sizeof(out)), ST_OK);
	assert_memory_equal(out, in, sizeof(in));

	/* added while running: not faulted in, however small */
	log2 = logged(apply_cb, json[1]);
	l = line_with(log2, "namespace 3 of " NQN1 ": mem 1 MiB on ");
	if (!l || strcmp(l + strlen(l) - 38, ", not pre-faulted: added while running"))
		fail_msg("namespace 3 should not be pre-faulted:\n%s", log2);
	free(l);
	/* the namespaces that stayed were not opened again */
	assert_null(strstr(log2, "namespace 1 of "));
	assert_null(strstr(log2, "namespace 2 of "));
	assert_int_equal(io_write(io, 3, 2040, 8, in, sizeof(in)), ST_OK);
	assert_int_equal(io_read(io, 3, 2040, 8, out, sizeof(out)), ST_OK);
	assert_memory_equal(out, in, sizeof(in));
	assert_int_equal(io_read(io, 1, 4088, 8, out, sizeof(out)), ST_OK);
	assert_memory_equal(out, in, sizeof(in));
	free(log1);
	free(log2);
}

/* Identify Controller reports FUSES 0: fused operations are not
 * supported, so a fused command must not run as two independent ones (a
 * fused Compare and Write would lose its atomicity). The kernel target
 * refuses FUSE != 0 on every command before parsing it (nvmet_req_init:
 * "no support for fused commands yet", Invalid Field in Command, DNR). */
static void test_io_fused_refused(void **state)
{
	uint8_t data[512], back[512];
	struct nvme_sqe cmp, wr;
	struct treq *r;
	struct tq *io, *admin;

	(void)state;
	env_up(cfg_main);
	io = io_queue(&admin);
	{
		struct treq *id = identify(admin, NVME_ID_CNS_CTRL, 0);

		assert_int_equal(status_of(id), ST_OK);
		assert_int_equal(((const struct nvme_id_ctrl *)id->req.buf)->fuses, 0);
		put(id);
	}
	pattern(data, sizeof(data), 9);
	/* Compare (first) + Write (second) of block 0, which holds zeros */
	cmp = rw(NVME_CMD_COMPARE, 1, 0, 1);
	cmp.flags |= 0x1;               /* FUSE: first command */
	r = exec_h2c(io, cmp, data, sizeof(data), true);
	assert_int_equal(status_of(r), gen(NVME_SC_INVALID_FIELD));
	put(r);
	wr = rw(NVME_CMD_WRITE, 1, 0, 1);
	wr.flags |= 0x2;                /* FUSE: second command */
	r = exec_h2c(io, wr, data, sizeof(data), true);
	assert_int_equal(status_of(r), gen(NVME_SC_INVALID_FIELD));
	put(r);
	assert_int_equal(io_read(io, 1, 0, 1, back, sizeof(back)), ST_OK);
	assert_true(all_zero(back, sizeof(back)));
}

/* after CC.EN 1 -> 0 the I/O queues carry nothing (kernel
 * nvmet_check_ctrl_status: Command Sequence Error) */
static void test_io_after_disable(void **state)
{
	struct tq *admin, *io;
	uint16_t id;

	(void)state;
	env_up(cfg_main);
	admin = admin_up(1, NQN1, HOSTA, &id);
	io = io_up(1, NQN1, HOSTA, id, 1);
	assert_int_equal(io_read(io, 1, 0, 1, NULL, 512), ST_OK);
	assert_int_equal(prop_set(admin, NVME_REG_CC, false, 0), ST_OK);
	assert_int_equal(io_read(io, 1, 0, 1, NULL, 512), gen(NVME_SC_CMD_SEQ_ERROR));
}

/* ======================================================================== */
/* Discovery                                                                 */
/* ======================================================================== */

static void assert_field(const char *field, size_t n, const char *want)
{
	char buf[300];

	assert_true(n < sizeof(buf));
	memcpy(buf, field, n);
	buf[n] = 0;
	assert_string_equal(buf, want);
	/* NUL padded */
	assert_true(all_zero(field + strlen(want), n - strlen(want)));
}

static void check_entry(const struct nvmf_disc_log_entry *e, uint8_t subtype, uint16_t portid,
			const char *traddr, const char *trsvcid, const char *subnqn)
{
	assert_int_equal(e->trtype, NVMF_TRTYPE_TCP);
	assert_int_equal(e->adrfam, NVMF_ADRFAM_IPV4);
	assert_int_equal(e->subtype, subtype);
	/* "not specified" plus 4b.3: SQ flow control disable supported */
	assert_int_equal(e->treq, NVMF_TREQ_NOT_SPECIFIED | NVMF_TREQ_DISABLE_SQFLOW);
	assert_int_equal(e->portid, portid);
	assert_int_equal(e->cntlid, 0xffff);
	assert_int_equal(e->asqsz, NVMF_ADMIN_QUEUE_DEPTH);
	assert_field(e->trsvcid, sizeof(e->trsvcid), trsvcid);
	assert_field(e->subnqn, sizeof(e->subnqn), subnqn);
	assert_field(e->traddr, sizeof(e->traddr), traddr);
	assert_true(all_zero(e->tsas, sizeof(e->tsas)));
}

/* a discovery controller of host on a queue of port p, local address local */
static struct tq *disc_up(struct nvmf_port *p, const char *local, const char *host)
{
	struct tq *q = tq_on(p, local);
	struct conn_args a = conn_admin(DISC_NQN, host);

	a.kato = 0;                     /* nvme discover: no KATO */
	connect_ok(q, &a);
	enable(q);
	return q;
}

/* the whole log as nvme discover reads it: header, then everything */
static uint8_t *read_disc_log(struct tq *q, uint64_t *numrec)
{
	struct treq *r = get_log(q, NVME_LOG_DISCOVERY, 0, 1024);
	const struct nvmf_disc_log_hdr *h;
	uint8_t *log;
	uint32_t len;

	assert_int_equal(status_of(r), ST_OK);
	h = r->req.buf;
	*numrec = h->numrec;
	assert_int_equal(h->recfmt, 0);
	assert_int_equal(h->genctr, E.t.genctr);
	put(r);
	len = (uint32_t)(1024 * (*numrec + 1));
	r = get_log(q, NVME_LOG_DISCOVERY, 0, len);
	assert_int_equal(status_of(r), ST_OK);
	h = r->req.buf;
	assert_int_equal(h->numrec, *numrec);
	log = malloc(len);
	assert_non_null(log);
	memcpy(log, r->req.buf, len);
	put(r);
	return log;
}

static void test_discovery_log(void **state)
{
	const struct nvmf_disc_log_entry *e;
	uint64_t n;
	uint8_t *log;
	struct tq *q;

	(void)state;
	env_up(cfg_main);
	q = disc_up(port_by_id(1), "127.0.0.1", HOSTA);
	log = read_disc_log(q, &n);
	/* HOSTA may not see NQN2: port 1/NQN1, port 3/NQN1, the referral of
	 * port 1, the current discovery subsystem */
	assert_int_equal(n, 4);
	e = (const void *)(log + 1024);
	check_entry(&e[0], NVMF_SUBTYPE_NVME, 1, "127.0.0.1", "4420", NQN1);
	check_entry(&e[1], NVMF_SUBTYPE_NVME, 3, "127.0.0.1", "4422", NQN1);
	check_entry(&e[2], NVMF_SUBTYPE_DISCOVERY_REFERRAL, 7, "192.0.2.11", "8009", DISC_NQN);
	check_entry(&e[3], NVMF_SUBTYPE_DISCOVERY_CURRENT, 1, "127.0.0.1", "4420", DISC_NQN);
	free(log);
}

static void test_discovery_log_allowed_hosts(void **state)
{
	const struct nvmf_disc_log_entry *e;
	uint64_t n;
	uint8_t *log;
	struct tq *q;

	(void)state;
	env_up(cfg_main);
	q = disc_up(port_by_id(1), "127.0.0.1", HOSTB);
	log = read_disc_log(q, &n);
	assert_int_equal(n, 6);
	e = (const void *)(log + 1024);
	check_entry(&e[0], NVMF_SUBTYPE_NVME, 1, "127.0.0.1", "4420", NQN1);
	check_entry(&e[1], NVMF_SUBTYPE_NVME, 1, "127.0.0.1", "4420", NQN2);
	check_entry(&e[2], NVMF_SUBTYPE_NVME, 2, "127.0.0.1", "4421", NQN2);
	check_entry(&e[3], NVMF_SUBTYPE_NVME, 3, "127.0.0.1", "4422", NQN1);
	check_entry(&e[4], NVMF_SUBTYPE_DISCOVERY_REFERRAL, 7, "192.0.2.11", "8009", DISC_NQN);
	check_entry(&e[5], NVMF_SUBTYPE_DISCOVERY_CURRENT, 1, "127.0.0.1", "4420", DISC_NQN);
	free(log);
}

/* 4b.12: never 0.0.0.0: an unspecified listen address becomes the local
 * address of the host's connection (kernel nvmet disc_traddr) */
static void test_discovery_log_wildcard_address(void **state)
{
	const struct nvmf_disc_log_entry *e;
	uint64_t n;
	uint8_t *log;
	struct tq *q;

	(void)state;
	env_up(cfg_main);
	q = disc_up(port_by_id(3), "10.1.2.3", HOSTA);
	log = read_disc_log(q, &n);
	/* no referrals on port 3 */
	assert_int_equal(n, 3);
	e = (const void *)(log + 1024);
	check_entry(&e[0], NVMF_SUBTYPE_NVME, 1, "127.0.0.1", "4420", NQN1);
	check_entry(&e[1], NVMF_SUBTYPE_NVME, 3, "10.1.2.3", "4422", NQN1);
	check_entry(&e[2], NVMF_SUBTYPE_DISCOVERY_CURRENT, 3, "10.1.2.3", "4422", DISC_NQN);
	for (unsigned i = 0; i < n; i++)
		assert_null(strstr(e[i].traddr, "0.0.0.0"));
	free(log);
}

/* on the discovery listener the target added (8009) */
static void test_discovery_log_on_discovery_port(void **state)
{
	const struct nvmf_disc_log_entry *e;
	uint64_t n;
	uint8_t *log;
	struct tq *q;

	(void)state;
	env_up(cfg_main);
	q = disc_up(disc_port("127.0.0.1"), "127.0.0.1", HOSTB);
	log = read_disc_log(q, &n);
	assert_int_equal(n, 6);
	e = (const void *)(log + 1024);
	check_entry(&e[0], NVMF_SUBTYPE_NVME, 1, "127.0.0.1", "4420", NQN1);
	check_entry(&e[1], NVMF_SUBTYPE_NVME, 1, "127.0.0.1", "4420", NQN2);
	check_entry(&e[2], NVMF_SUBTYPE_NVME, 2, "127.0.0.1", "4421", NQN2);
	check_entry(&e[3], NVMF_SUBTYPE_NVME, 3, "127.0.0.1", "4422", NQN1);
	/* port 1's referral: the listener at its address shows it too */
	check_entry(&e[4], NVMF_SUBTYPE_DISCOVERY_REFERRAL, 7, "192.0.2.11", "8009", DISC_NQN);
	assert_int_equal(e[5].subtype, NVMF_SUBTYPE_DISCOVERY_CURRENT);
	assert_field(e[5].trsvcid, sizeof(e[5].trsvcid), "8009");
	assert_field(e[5].traddr, sizeof(e[5].traddr), "127.0.0.1");
	assert_field(e[5].subnqn, sizeof(e[5].subnqn), DISC_NQN);
	assert_int_equal(e[5].cntlid, 0xffff);
	assert_true(e[5].treq & NVMF_TREQ_DISABLE_SQFLOW);
	free(log);
	/* the wildcard discovery listener of port 3's address */
	q = disc_up(disc_port("0.0.0.0"), "192.0.2.50", HOSTA);
	log = read_disc_log(q, &n);
	assert_int_equal(n, 3);
	e = (const void *)(log + 1024);
	check_entry(&e[1], NVMF_SUBTYPE_NVME, 3, "192.0.2.50", "4422", NQN1);
	assert_field(e[2].traddr, sizeof(e[2].traddr), "192.0.2.50");
	assert_field(e[2].trsvcid, sizeof(e[2].trsvcid), "8009");
	free(log);
}

/* two ports at one address refer to the same and to different discovery
 * controllers: the discovery listener at that address lists each once,
 * each port's own discovery controller only its own */
static void test_discovery_referrals_merged(void **state)
{
	static const char cfg[] =
		"{'subsystems': [{'nqn': '" NQN1 "', 'attr': {'allow_any_host': '1'}, 'namespaces': []}],"
		" 'ports': ["
		" {'portid': 1, 'addr': {" TCP("127.0.0.1", "4420") "}, 'subsystems': ['" NQN1 "'],"
		"  'referrals': [{'name': 'b', 'addr': {" TCP("192.0.2.11", "8009") ", 'portid': 7}}]},"
		" {'portid': 2, 'addr': {" TCP("127.0.0.1", "4421") "}, 'subsystems': [],"
		"  'referrals': [{'name': 'b', 'addr': {" TCP("192.0.2.11", "8009") ", 'portid': 7}},"
		"                {'name': 'c', 'addr': {" TCP("192.0.2.12", "8009") ", 'portid': 8}},"
		"                {'name': 'off', 'enable': 0, 'addr': {" TCP("192.0.2.13", "8009") "}}]}]}";
	const struct nvmf_disc_log_entry *e;
	uint64_t n;
	uint8_t *log;
	struct tq *q;

	(void)state;
	env_up(cfg);
	q = disc_up(disc_port("127.0.0.1"), "127.0.0.1", HOSTA);
	log = read_disc_log(q, &n);
	assert_int_equal(n, 4);
	e = (const void *)(log + 1024);
	check_entry(&e[0], NVMF_SUBTYPE_NVME, 1, "127.0.0.1", "4420", NQN1);
	check_entry(&e[1], NVMF_SUBTYPE_DISCOVERY_REFERRAL, 7, "192.0.2.11", "8009", DISC_NQN);
	check_entry(&e[2], NVMF_SUBTYPE_DISCOVERY_REFERRAL, 8, "192.0.2.12", "8009", DISC_NQN);
	assert_int_equal(e[3].subtype, NVMF_SUBTYPE_DISCOVERY_CURRENT);
	free(log);
	q = disc_up(port_by_id(1), "127.0.0.1", HOSTA);
	log = read_disc_log(q, &n);
	assert_int_equal(n, 3);
	e = (const void *)(log + 1024);
	check_entry(&e[1], NVMF_SUBTYPE_DISCOVERY_REFERRAL, 7, "192.0.2.11", "8009", DISC_NQN);
	free(log);
}

static void test_discovery_log_offset(void **state)
{
	uint64_t n;
	uint8_t *log;
	struct tq *q;
	struct treq *r;

	(void)state;
	env_up(cfg_main);
	q = disc_up(port_by_id(1), "127.0.0.1", HOSTB);
	log = read_disc_log(q, &n);
	assert_int_equal(n, 6);
	/* entries 2 and 3 by offset */
	r = get_log(q, NVME_LOG_DISCOVERY, 1024 * 3, 2048);
	assert_int_equal(status_of(r), ST_OK);
	assert_memory_equal(r->req.buf, log + 1024 * 3, 2048);
	put(r);
	/* the last entry, asking for more than there is: the rest is zero */
	r = get_log(q, NVME_LOG_DISCOVERY, 1024 * 6, 4096);
	assert_int_equal(status_of(r), ST_OK);
	assert_memory_equal(r->req.buf, log + 1024 * 6, 1024);
	assert_true(all_zero((uint8_t *)r->req.buf + 1024, 3072));
	put(r);
	/* a dword inside the header: numrec (offset 8) */
	r = get_log(q, NVME_LOG_DISCOVERY, 8, 8);
	assert_int_equal(status_of(r), ST_OK);
	assert_int_equal(*(uint64_t *)r->req.buf, 6);
	put(r);
	/* LPO must be dword aligned */
	r = get_log(q, NVME_LOG_DISCOVERY, 1026, 1024);
	assert_int_equal(status_of(r), gen(NVME_SC_INVALID_FIELD));
	put(r);
	/* more dwords than the data buffer */
	{
		struct nvme_sqe c = sqe(NVME_ADM_GET_LOG_PAGE, 0);

		c.cdw10 = NVME_LOG_DISCOVERY | (2048u / 4 - 1) << 16;
		r = exec_c2h(q, c, 1024);
		assert_int_equal(status_of(r), gen(NVME_SC_INVALID_FIELD));
		put(r);
	}
	free(log);
}

static void test_discovery_other_logs(void **state)
{
	struct tq *q;
	struct treq *r;

	(void)state;
	env_up(cfg_main);
	q = disc_up(port_by_id(1), "127.0.0.1", HOSTA);
	r = get_log(q, 0x02, 0, 512);
	assert_int_equal(status_of(r), spec(NVME_SC_INVALID_LOG_PAGE));
	put(r);
	/* and an NVM controller has no discovery log */
	q = admin_up(1, NQN1, HOSTA, NULL);
	r = get_log(q, NVME_LOG_DISCOVERY, 0, 1024);
	assert_int_equal(status_of(r), spec(NVME_SC_INVALID_LOG_PAGE));
	put(r);
}

/* The AERs an admin queue's controller held go back to the transport,
 * unanswered, when the queue goes: none is leaked, none answered */
static void test_aer_dropped_with_admin_queue(void **state)
{
	struct nvme_sqe c = sqe(NVME_ADM_ASYNC_EVENT, 0);
	struct treq *aer[2];
	struct tq *q;

	(void)state;
	env_up(cfg_main);
	q = admin_up(1, NQN1, HOSTA, NULL);
	for (unsigned i = 0; i < 2; i++) {
		aer[i] = exec_raw(q, &c, NULL, 0, NULL, 0);
		assert_int_equal(aer[i]->completions, 0);
		assert_int_equal(aer[i]->drops, 0);
	}
	tq_destroy(q);
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(aer[i]->completions, 0);
		assert_int_equal(aer[i]->drops, 1);
		put(aer[i]);
	}
}

/* A subsystem without a device answers SMART / health from its counters,
 * as nvmet does, and the firmware slot with what Identify FR says */
static void test_device_logs_without_device(void **state)
{
	static uint8_t buf[256 * 512];
	struct tq *admin, *io;
	struct treq *r;

	(void)state;
	env_up(cfg_main);
	io = io_queue(&admin);
	pattern(buf, 8 * 512, 3);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(io_write(io, 1, 8 * i, 8, buf, 8 * 512), ST_OK);
	/* 4 x 256 blocks: 1024 units of 512 bytes, 2 data units (rounded up) */
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(io_read(io, 1, 256 * i, 256, NULL, sizeof(buf)), ST_OK);
	r = get_log(admin, 0x02, 0, 512);
	assert_int_equal(status_of(r), ST_OK);
	assert_int_equal(get_le64((uint8_t *)r->req.buf + 32), 2);    /* data units read */
	assert_int_equal(get_le64((uint8_t *)r->req.buf + 48), 1);    /* data units written: 24 blocks */
	assert_int_equal(get_le64((uint8_t *)r->req.buf + 64), 4);    /* host read commands */
	assert_int_equal(get_le64((uint8_t *)r->req.buf + 80), 3);    /* host write commands */
	assert_int_equal(get_le16((uint8_t *)r->req.buf + 1), 0);     /* no temperature is made up */
	put(r);
	r = get_log(admin, 0x03, 0, 512);
	assert_int_equal(status_of(r), ST_OK);
	assert_int_equal(((uint8_t *)r->req.buf)[0], 1);
	assert_memory_equal((uint8_t *)r->req.buf + 8, NVMF_FR_DEFAULT " ", 8);
	put(r);
	r = get_log(admin, 0x01, 0, 512);
	assert_int_equal(status_of(r), ST_OK);
	assert_true(all_zero(r->req.buf, 512));
	put(r);
}

/* ======================================================================== */
/* Keep-alive                                                                */
/* ======================================================================== */

static void traffic_cb(void *arg)
{
	struct tq *q = arg;
	struct nvme_sqe c = q->sq.qid ? rw(NVME_CMD_FLUSH, 1, 0, 1) : sqe(NVME_ADM_KEEP_ALIVE, 0);
	struct treq *r = exec_raw(q, &c, NULL, 0, NULL, 0);

	/* no cmocka asserts inside the reactor */
	if (r->completions != 1 || NVME_CQE_STATUS(&r->req.rsp))
		E.traffic_errors++;
	E.traffic++;
	put(r);
}

static void test_keepalive_expiry(void **state)
{
	struct tq *admin, *io;
	struct conn_args a;
	uint64_t t0, ran;
	uint16_t id;

	(void)state;
	env_up(cfg_main);
	admin = admin_up_kato(1, NQN1, HOSTA, 100, &id);
	io = io_up(1, NQN1, HOSTA, id, 1);
	t0 = reactor_now_ns();          /* the last traffic was just before */
	/* a little while, well under KATO: nothing happens */
	run_reactor_ns(20);
	if (reactor_now_ns() - t0 < 95 * 1000000ull) {
		assert_int_equal(admin->disconnects, 0);
		assert_int_equal(io->disconnects, 0);
	}
	/* no traffic: torn down after KATO, within 1.5 KATO plus slack */
	run_until_disconnect(admin, 800);
	ran = (reactor_now_ns() - t0) / 1000000u;
	assert_int_equal(admin->disconnects, 1);
	assert_int_equal(io->disconnects, 1);
	assert_true(ran >= 100);
	assert_true(admin->sq.ctrl->dying);
	/* the dying controller takes no new queue */
	{
		struct tq *q = tq_new(1);

		a = conn_io(NQN1, HOSTA, id, 2);
		assert_int_equal(connect_st(q, &a), spec(NVMF_SC_CONNECT_INVALID_PARAM));
		assert_null(q->sq.ctrl);
	}
	/* the transport closes both connections */
	tq_destroy(io);
	assert_non_null(E.t.subsys[0]->ctrls);
	tq_destroy(admin);
	assert_null(E.t.subsys[0]->ctrls);
	/* nothing more */
	run_reactor_ns(20);
	assert_int_equal(admin->disconnects, 1);
	assert_int_equal(io->disconnects, 1);
}

static void test_keepalive_traffic(void **state)
{
	struct reactor_timer traffic = { 0 };
	struct tq *admin, *io;
	uint16_t id;

	(void)state;
	env_up(cfg_main);
	admin = admin_up_kato(1, NQN1, HOSTA, 150, &id);
	io = io_up(1, NQN1, HOSTA, id, 1);
	/* Keep Alive on the admin queue every 20 ms, for 2 KATO */
	reactor_timer_start(tgt_reactor(), &traffic, 20, 20, traffic_cb, admin);
	run_reactor_ns(300);
	reactor_timer_stop(tgt_reactor(), &traffic);
	assert_true(E.traffic >= 5);
	assert_int_equal(E.traffic_errors, 0);
	assert_int_equal(admin->disconnects, 0);
	assert_int_equal(io->disconnects, 0);
	/* any command counts: I/O on the I/O queue only */
	E.traffic = 0;
	reactor_timer_start(tgt_reactor(), &traffic, 20, 20, traffic_cb, io);
	run_reactor_ns(300);
	reactor_timer_stop(tgt_reactor(), &traffic);
	assert_true(E.traffic >= 5);
	assert_int_equal(E.traffic_errors, 0);
	assert_int_equal(admin->disconnects, 0);
	assert_int_equal(io->disconnects, 0);
	/* then silence */
	run_until_disconnect(admin, 800);
	assert_int_equal(admin->disconnects, 1);
	assert_int_equal(io->disconnects, 1);
}

/* KATO from Set Features arms the timer; KATO 0 means none */
static void test_keepalive_set_features(void **state)
{
	struct tq *admin;
	uint64_t ran;

	(void)state;
	env_up(cfg_main);
	admin = admin_up_kato(1, NQN1, HOSTA, 0, NULL);
	ran = run_reactor_ns(200) / 1000000u;
	assert_true(ran >= 199);
	assert_int_equal(admin->disconnects, 0);
	assert_int_equal(xs(admin, feat(true, NVME_FEAT_KATO, 100)), ST_OK);
	run_until_disconnect(admin, 800);
	assert_int_equal(admin->disconnects, 1);
}

/* ======================================================================== */
/* Controller lifetime                                                       */
/* ======================================================================== */

static void test_admin_queue_gone_ends_association(void **state)
{
	struct tq *admin, *io1, *io2, *q;
	struct treq *aer;
	struct conn_args a;
	uint16_t id;

	(void)state;
	env_up(cfg_main);
	admin = admin_up(1, NQN1, HOSTA, &id);
	io1 = io_up(1, NQN1, HOSTA, id, 1);
	io2 = io_up(1, NQN1, HOSTA, id, 2);
	{
		struct nvme_sqe c = sqe(NVME_ADM_ASYNC_EVENT, 0);

		aer = exec_raw(admin, &c, NULL, 0, NULL, 0);
		assert_int_equal(aer->completions, 0);
	}
	/* the host's admin connection drops */
	tq_destroy(admin);
	assert_int_equal(io1->disconnects, 1);
	assert_int_equal(io2->disconnects, 1);
	assert_int_equal(admin->disconnects, 0);        /* already gone */
	assert_null(admin->sq.ctrl);
	/* the held AER is the transport's to free, never completed */
	assert_int_equal(aer->completions, 0);
	put(aer);
	/* the controller lives until its last queue is gone */
	assert_non_null(E.t.subsys[0]->ctrls);
	q = tq_new(1);
	a = conn_io(NQN1, HOSTA, id, 3);
	assert_int_equal(connect_st(q, &a), spec(NVMF_SC_CONNECT_INVALID_PARAM));
	tq_destroy(io1);
	assert_non_null(E.t.subsys[0]->ctrls);
	tq_destroy(io2);
	assert_null(E.t.subsys[0]->ctrls);
	assert_int_equal(io1->disconnects, 1);
	assert_int_equal(io2->disconnects, 1);
	/* a new association gets a CNTLID again */
	admin_up(1, NQN1, HOSTA, NULL);
	assert_non_null(E.t.subsys[0]->ctrls);
}

static void test_io_queue_gone_detaches(void **state)
{
	struct tq *admin, *io1, *io2;
	uint16_t id;

	(void)state;
	env_up(cfg_main);
	admin = admin_up(1, NQN1, HOSTA, &id);
	io1 = io_up(1, NQN1, HOSTA, id, 1);
	io2 = io_up(1, NQN1, HOSTA, id, 2);
	tq_destroy(io1);
	assert_null(admin->sq.ctrl->io[1]);
	assert_ptr_equal(admin->sq.ctrl->io[2], &io2->sq);
	assert_int_equal(admin->disconnects + io2->disconnects, 0);
	assert_int_equal(xs(admin, sqe(NVME_ADM_KEEP_ALIVE, 0)), ST_OK);
	assert_int_equal(xs(io2, sqe(NVME_CMD_FLUSH, 1)), ST_OK);
	/* QID 1 may connect again */
	io1 = io_up(1, NQN1, HOSTA, id, 1);
	assert_int_equal(xs(io1, sqe(NVME_CMD_FLUSH, 1)), ST_OK);
}

static void test_ctrl_destroy(void **state)
{
	struct tq *admin, *io1;
	uint16_t id;

	(void)state;
	env_up(cfg_main);
	admin = admin_up(1, NQN1, HOSTA, &id);
	io1 = io_up(1, NQN1, HOSTA, id, 1);
	nvmf_ctrl_destroy(admin->sq.ctrl);
	assert_int_equal(admin->disconnects, 1);
	assert_int_equal(io1->disconnects, 1);
	/* idempotent while the transport closes */
	nvmf_ctrl_destroy(admin->sq.ctrl);
	assert_int_equal(admin->disconnects, 1);
	assert_int_equal(io1->disconnects, 1);
	tq_destroy(admin);
	assert_non_null(E.t.subsys[0]->ctrls);
	tq_destroy(io1);
	assert_null(E.t.subsys[0]->ctrls);
}

/* ---- hostile-network regressions (issue "Survive a hostile network") ---- */

/* A null Host Identifier is refused (nvmet does too): IPO at hostid in
 * the connect data. */
static void test_connect_null_hostid(void **state)
{
	static const uint8_t zero[16];
	struct tq *q;
	struct conn_args a;

	(void)state;
	env_up(cfg_main);
	q = tq_new(1);
	a = conn_admin(NQN1, HOSTA);
	a.hostid = zero;
	assert_int_equal(connect_st(q, &a), spec(NVMF_SC_CONNECT_INVALID_PARAM));
	assert_int_equal(E.last.dw0, offsetof(struct nvmf_connect_data, hostid) | NVMF_CONNECT_IATTR_DATA);
	assert_null(q->sq.ctrl);
}

/* Traffic-based keep-alive is what the target does: say so (CTRATT.TBKAS),
 * with the 128-bit Host Identifier it supports. */
static void test_identify_ctrl_ctratt(void **state)
{
	struct tq *q;
	struct treq *r;
	const struct nvme_id_ctrl *id;

	(void)state;
	env_up(cfg_main);
	q = admin_up(1, NQN1, HOSTA, NULL);
	r = identify(q, NVME_ID_CNS_CTRL, 0);
	assert_int_equal(status_of(r), ST_OK);
	id = r->req.buf;
	assert_int_equal(id->ctratt & (NVME_CTRATT_TBKAS | NVME_CTRATT_HID_128), NVME_CTRATT_TBKAS | NVME_CTRATT_HID_128);
	put(r);
}

/* nvmet's subsystem attributes reach the host: version (VS, VER),
 * firmware (FR), ieee_oui (IEEE), qid_max (Number of Queues granted) */
static void test_nvmet_subsys_attrs(void **state)
{
	static const char cfg[] =
		"{'subsystems': [{'nqn': '" NQN1 "', 'attr': {'allow_any_host': '1', 'qid_max': '3', 'version': '1.3',"
		"  'firmware': 'fw-7', 'ieee_oui': '0x001b44'}, 'namespaces': [{'nsid': 1, 'device': {'mem': '1MiB'}}]},"
		" {'nqn': '" NQN2 "', 'attr': {'allow_any_host': '1'}, 'namespaces': []}],"
		" 'ports': [{'portid': 1, 'addr': {" TCP("127.0.0.1", "4420") "}, 'subsystems': ['" NQN1 "', '" NQN2 "']}]}";
	const struct nvme_id_ctrl *id;
	struct tq *q;
	struct treq *r;

	(void)state;
	env_up(cfg);
	q = admin_up(1, NQN1, HOSTA, NULL);
	assert_int_equal(get32(q, NVME_REG_VS), 0x10300);
	r = identify(q, NVME_ID_CNS_CTRL, 0);
	assert_int_equal(status_of(r), ST_OK);
	id = r->req.buf;
	assert_int_equal(id->ver, 0x10300);
	assert_memory_equal(id->fr, "fw-7    ", 8);
	assert_int_equal(id->ieee[0], 0x44);
	assert_int_equal(id->ieee[1], 0x1b);
	assert_int_equal(id->ieee[2], 0x00);
	put(r);
	/* asks for 8 I/O queues, gets qid_max = 3 */
	assert_int_equal(xs(q, feat(true, NVME_FEAT_NUM_QUEUES, 7u | 7u << 16)), ST_OK);
	assert_int_equal(E.last.dw0, 2u | 2u << 16);
	/* the other subsystem keeps the defaults */
	q = admin_up(1, NQN2, HOSTA, NULL);
	assert_int_equal(get32(q, NVME_REG_VS), 0x10400);
	assert_int_equal(xs(q, feat(true, NVME_FEAT_NUM_QUEUES, 7u | 7u << 16)), ST_OK);
	assert_int_equal(E.last.dw0, 7u | 7u << 16);
}

/* ONCS is combined from the namespaces (as VWC is): a namespace without
 * DSM or Write Zeroes (a PCIe device that lacks them) takes them out, or
 * the Linux host enables discard and every discard fails. */
static void test_identify_ctrl_oncs_combined(void **state)
{
	struct tq *q;
	struct treq *r;
	const struct nvme_id_ctrl *id;
	const struct nvmf_ns_table *nt;

	(void)state;
	env_up(cfg_main);
	nt = nvmf_subsys_ns(E.t.subsys[0]);
	assert_true(nt->nr >= 2);
	nt->ns[1]->oncs = NVME_ONCS_COMPARE;    /* as a device reporting only Compare */
	q = admin_up(1, NQN1, HOSTA, NULL);
	r = identify(q, NVME_ID_CNS_CTRL, 0);
	assert_int_equal(status_of(r), ST_OK);
	id = r->req.buf;
	assert_int_equal(id->oncs & (NVME_ONCS_COMPARE | NVME_ONCS_DSM | NVME_ONCS_WRITE_ZEROES), NVME_ONCS_COMPARE);
	put(r);
}

static const char cfg_two_ctrls[] =
	"{'bridge': {'max_controllers_per_host': 2},"
	" 'subsystems': [{'nqn': '" NQN1 "', 'attr': {'allow_any_host': '1'},"
	"  'namespaces': [{'nsid': 1, 'device': {'mem': '1MiB'}}]}],"
	" 'ports': [{'portid': 1, 'addr': {" TCP("127.0.0.1", "4420") "}, 'subsystems': ['" NQN1 "']}]}";

/* One host NQN gets at most max_controllers_per_host controllers, the
 * discovery ones included; others are not affected. */
static void test_ctrls_per_host_capped(void **state)
{
	struct tq *q1, *q2, *q3, *qb;
	struct conn_args a;

	(void)state;
	env_up(cfg_two_ctrls);
	q1 = admin_up(1, NQN1, HOSTA, NULL);
	q2 = tq_on(disc_port("127.0.0.1"), "127.0.0.1");
	connect_ok(q2, &(struct conn_args){ .qid = 0, .sqsize = 31, .cntlid = 0xffff, .subnqn = DISC_NQN,
					   .hostnqn = HOSTA, .hostid = hostid_a });
	q3 = tq_new(1);
	a = conn_admin(NQN1, HOSTA);
	assert_int_equal(connect_st(q3, &a), NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVMF_SC_CONNECT_CTRL_BUSY));
	assert_null(q3->sq.ctrl);
	/* another host is not held back */
	qb = admin_up(1, NQN1, HOSTB, NULL);
	assert_non_null(qb->sq.ctrl);
	/* a controller of HOSTA goes: room for one again */
	tq_destroy(q1);
	connect_ok(q3, &a);
	(void)q2;
}

/* A data buffer per request, within quotas: a queue at most pool/4 and
 * its depth, a controller at most pool/2, the last pool/8 only for
 * queues below the minimum; waiters woken in order when buffers return. */
static void test_buffer_quotas(void **state)
{
	static void *held[4][512];
	unsigned n[4] = { 0 };
	struct tq *adm, *io[3], *other_adm, *other;
	struct dma_pool *pool;
	unsigned nbufs;
	uint16_t id, id2;

	(void)state;
	env_up(cfg_main);
	pool = &E.t.reactors[0].pool;
	nbufs = pool->nbufs;
	adm = admin_up(1, NQN1, HOSTA, &id);
	for (unsigned i = 0; i < 3; i++)
		io[i] = io_up(1, NQN1, HOSTA, id, (uint16_t)(i + 1));
	/* one queue: its share, then NULL and a place on the wait list */
	while ((held[0][n[0]] = nvmf_sq_buf_get(&io[0]->sq, NULL)))
		n[0]++;
	assert_int_equal(n[0], nbufs / NVMF_BUF_QUOTA_SQ_DIV < 128 ? nbufs / NVMF_BUF_QUOTA_SQ_DIV : 128);
	assert_int_equal(io[0]->sq.bufs, n[0]);
	/* the controller: its share over all its queues, then only the
	 * minimum for a queue that has less */
	while ((held[1][n[1]] = nvmf_sq_buf_get(&io[1]->sq, NULL)))
		n[1]++;
	while ((held[2][n[2]] = nvmf_sq_buf_get(&io[2]->sq, NULL)))
		n[2]++;
	assert_int_equal(n[0] + n[1] + n[2], nbufs / NVMF_BUF_QUOTA_CTRL_DIV + NVMF_BUF_MIN_SQ);
	assert_int_equal(n[2], NVMF_BUF_MIN_SQ);
	assert_int_equal(adm->sq.ctrl->bufs[0], n[0] + n[1] + n[2]);
	/* another controller fills the pool down to the reserve */
	other_adm = admin_up(1, NQN1, HOSTB, &id2);
	(void)other_adm;
	other = io_up(1, NQN1, HOSTB, id2, 1);
	while ((held[3][n[3]] = nvmf_sq_buf_get(&other->sq, NULL)))
		n[3]++;
	assert_true(pool->nfree >= nbufs / NVMF_BUF_RESERVE_DIV);
	/* the wait list, in order: io[0] (first to fail), io[1], io[2], other */
	for (unsigned i = 0; i < 3; i++)
		assert_true(io[i]->sq.buf_wait.queued);
	/* returning buffers wakes them in the order they waited */
	nvmf_sq_buf_put(&io[0]->sq, held[0][--n[0]]);
	assert_int_equal(io[0]->buf_wakeups, 0);        /* never inside the put */
	nvmf_buf_run_waiters(&E.t.reactors[0]);
	assert_int_equal(io[0]->buf_wakeups, 1);
	assert_int_equal(io[1]->buf_wakeups, 1);
	assert_true(io[0]->wake_order < io[1]->wake_order);
	assert_true(io[1]->wake_order < io[2]->wake_order);
	/* nothing returned since: no second round */
	assert_int_equal(nvmf_buf_run_waiters(&E.t.reactors[0]), 0);
	/* a queue leaving its controller takes its count with it */
	for (unsigned q = 0; q < 4; q++) {
		struct tq *tq = q < 3 ? io[q] : other;

		while (n[q])
			nvmf_sq_buf_put(&tq->sq, held[q][--n[q]]);
		assert_int_equal(tq->sq.bufs, 0);
	}
	assert_int_equal(adm->sq.ctrl->bufs[0], 0);
	assert_int_equal(pool->nfree, nbufs);
}

/* Before Connect a queue may hold one buffer (the Connect's data), no more */
static void test_buffer_before_connect(void **state)
{
	struct tq *q;
	void *b1, *b2;

	(void)state;
	env_up(cfg_main);
	q = tq_new(1);
	b1 = nvmf_sq_buf_get(&q->sq, NULL);
	assert_non_null(b1);
	b2 = nvmf_sq_buf_get(&q->sq, NULL);
	assert_null(b2);
	nvmf_sq_buf_put(&q->sq, b1);
	nvmf_sq_buf_cancel(&q->sq);
	assert_false(q->sq.buf_wait.queued);
}

/* A namespace removed by reload, then the target stops: its retirement
 * must not touch the freed subsystem or configuration (ASan found this;
 * the message is only formatted when info is logged). */
static void test_removed_namespace_freed_at_exit(void **state)
{
	static const char cfg_less[] =
		"{'subsystems': ["
		" {'nqn': '" NQN1 "', 'attr': {'allow_any_host': '1', 'serial': 'SN0001', 'model': 'Bridge Test Model',"
		"  'cntlid_min': '5', 'cntlid_max': '7'},"
		"  'namespaces': [{'nsid': 1, 'device': {'mem': '1MiB'}}]},"
		" {'nqn': '" NQN2 "', 'allowed_hosts': ['" HOSTB "'],"
		"  'namespaces': [{'nsid': 1, 'device': {'mem': '1MiB'}}]}],"
		" 'ports': ["
		" {'portid': 1, 'addr': {" TCP("127.0.0.1", "4420") "}, 'param': {'inline_data_size': '16384'},"
		"  'subsystems': ['" NQN1 "', '" NQN2 "'],"
		"  'referrals': [{'name': 'ref-b', 'enable': 1,"
		"                 'addr': {" TCP("192.0.2.11", "8009") ", 'portid': '7'}}]},"
		" {'portid': 2, 'addr': {" TCP("127.0.0.1", "4421") "}, 'subsystems': ['" NQN2 "']},"
		" {'portid': 3, 'addr': {" TCP("0.0.0.0", "4422") "}, 'subsystems': ['" NQN1 "']}]}";
	struct config *cfg;
	char err[512] = "", changes[1024];
	char *j = dq(cfg_less);

	(void)state;
	env_up(cfg_main);
	assert_int_equal(config_parse(j, "t.json", &cfg, err, sizeof(err)), 0);
	free(j);
	assert_int_equal(nvmf_tgt_apply(&E.t, cfg, changes, sizeof(changes), err, sizeof(err)), 0);
	E.cfg = cfg;                    /* the old one was freed by apply */
	assert_non_null(strstr(changes, "removed namespace 3"));
	assert_non_null(E.t.retired);
	log_set_level(LOG_LVL_INFO);    /* format every message */
	nvmf_tgt_fini(&E.t);
	log_set_level(LOG_LVL_ERR);
	E.tgt_up = false;
}

/* A controller reset must complete even when the allocation of a
 * cross-reactor message fails: a lost step used to leave resets_pending
 * above zero for good, and every later reset was skipped. */
static uint64_t fake_now_ns = 1000000000ull;

static uint64_t fake_clock(void)
{
	return fake_now_ns += 1000;
}

static void fake_delay(unsigned us)
{
	fake_now_ns += (uint64_t)us * 1000u;
}

/* The driver's options for a fake device: polled, no hugepages, the
 * fake clock */
static void fake_ctrl_opts(struct pcie_ctrl_opts *o)
{
	o->irq = false;
	o->try_huge = false;
	o->clock_ns = fake_clock;
	o->delay_us = fake_delay;
}

/* turns of reactor 0 until the resets asked for have run (at most 100) */
static void run_resets(void)
{
	for (int i = 0; i < 100 && E.t.resets_pending; i++)
		reactor_run_once(&E.t.reactors[0].r, 0);
	assert_int_equal(E.t.resets_pending, 0);
}

static void test_reset_survives_failed_messages(void **state)
{
	struct fake_nvme_config fc;
	struct pcie_ctrl_opts o;
	struct fake_nvme *dev;
	struct pcie_ctrl pc;
	char err[256];

	(void)state;
	env_up(cfg_main);
	fake_nvme_config_default(&fc);
	dev = fake_nvme_create(&fc);
	assert_non_null(dev);
	pcie_ctrl_opts_default(&o);
	o.nr_io_queues = 1;
	o.io_queue_depth = 64;
	fake_ctrl_opts(&o);
	memset(&pc, 0, sizeof(pc));
	assert_int_equal(pcie_ctrl_init(&pc, &fake_nvme_ops, dev, &o, err, sizeof(err)), 0);
	for (int round = 0; round < 2; round++) {
		nvmf_test_fail_reactor_calls = 1000;    /* every allocated message fails */
		nvmf_tgt_reset_pcie(&E.t, &pc);
		run_resets();
		nvmf_test_fail_reactor_calls = 0;
		assert_int_equal(pc.state, PCIE_CTRL_LIVE);
	}
	pcie_ctrl_shutdown(&pc);
	fake_nvme_destroy(dev);
}


/* A namespace on a PCIe controller (a fake device behind the target, as
 * nvmf_pcie_ctrl_open would open one through VFIO) whose reset fails: the
 * commands that waited for the reset, and those that come after, get an
 * error at once instead of waiting for good; a second reset (what
 * nvmf-bridgectl reset-controller does for a failed controller) brings it
 * back. */
static struct fake_nvme *pcie_tdev;

static int tdev_open(const char *bdf, const struct pcie_dev_ops **ops, void **dev, char *why, size_t len)
{
	struct fake_nvme_config fc;

	(void)bdf;
	fake_nvme_config_default(&fc);
	fc.manual = true;       /* I/O waits for fake_nvme_process: commands stay in flight */
	pcie_tdev = fake_nvme_create(&fc);
	if (!pcie_tdev) {
		snprintf(why, len, "no fake device");
		return -ENOMEM;
	}
	*ops = &fake_nvme_ops;
	*dev = pcie_tdev;
	return 0;
}

static void tdev_close(void *dev)
{
	fake_nvme_destroy(dev);
	pcie_tdev = NULL;
}

static int pcie_env_down(void **state)
{
	int rc = env_down(state);

	nvmf_pcie_test_dev = (struct nvmf_pcie_test_dev){ 0 };
	return rc;
}

static const char cfg_pcie[] =
	"{'subsystems': [{'nqn': '" NQN1 "', 'attr': {'allow_any_host': '1'},"
	"  'namespaces': [{'nsid': 1, 'device': {'pcie': '0000:00:01.0', 'nsid': 1}}]}],"
	" 'ports': [{'portid': 1, 'addr': {" TCP("127.0.0.1", "4420") "}, 'subsystems': ['" NQN1 "']}]}";

/* turns of reactor 0 (the device processing its I/O queues when asked) */
static void pcie_turns(unsigned n, bool device)
{
	for (unsigned i = 0; i < n; i++) {
		if (device)
			fake_nvme_process(pcie_tdev, 64);
		reactor_run_once(&E.t.reactors[0].r, 0);
	}
}

static void test_pcie_failed_reset_waiting_commands(void **state)
{
	const uint16_t aborted = NVME_STATUS(NVME_SCT_PATH, NVME_SC_HOST_ABORTED_CMD);
	struct treq *inflight[4], *waiting[4], *late, *again;
	struct pcie_ctrl *pc;
	struct tq *io;
	uint16_t id;

	(void)state;
	nvmf_pcie_test_dev = (struct nvmf_pcie_test_dev){ tdev_open, fake_ctrl_opts, tdev_close };
	env_up(cfg_pcie);
	assert_int_equal(E.t.nr_pcie, 1);
	pc = E.t.pcie[0];
	admin_up(1, NQN1, HOSTA, &id);
	io = io_up(1, NQN1, HOSTA, id, 1);
	/* a read goes through the device */
	again = exec_c2h(io, rw(NVME_CMD_READ, 1, 0, 8), 4096);
	pcie_turns(8, true);
	assert_int_equal(status_of(again), ST_OK);
	/* four in flight on the device, which does not process them */
	for (unsigned i = 0; i < 4; i++)
		inflight[i] = exec_c2h(io, rw(NVME_CMD_READ, 1, 8 * i, 8), 4096);
	pcie_turns(2, false);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(inflight[i]->completions, 0);
	/* the reset's re-enable fails: the device refuses Create I/O SQ */
	fake_nvme_fail_opcode(pcie_tdev, true, NVME_ADM_CREATE_SQ, gen(NVME_SC_INTERNAL));
	assert_int_equal(nvmf_tgt_reset_pcie(&E.t, pc), 0);
	assert_int_equal(nvmf_tgt_reset_pcie(&E.t, pc), -EBUSY);      /* one at a time */
	/* four arrive while it runs: they wait for the queues */
	for (unsigned i = 0; i < 4; i++)
		waiting[i] = exec_c2h(io, rw(NVME_CMD_READ, 1, 64 + 8 * i, 8), 4096);
	run_resets();
	assert_int_equal(pc->state, PCIE_CTRL_FAILED);
	pcie_turns(4, false);
	/* in flight: aborted, no DNR (the host retries them) */
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(status_of(inflight[i]), aborted);
	/* waiting: an error now, not a wait for good */
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(status_of(waiting[i]), gen(NVME_SC_INTERNAL));
	late = exec_c2h(io, rw(NVME_CMD_READ, 1, 128, 8), 4096);
	pcie_turns(1, false);
	assert_int_equal(status_of(late), gen(NVME_SC_INTERNAL));
	/* another reset brings the failed controller back */
	assert_int_equal(nvmf_tgt_reset_pcie(&E.t, pc), 0);
	run_resets();
	assert_int_equal(pc->state, PCIE_CTRL_LIVE);
	again = exec_c2h(io, rw(NVME_CMD_READ, 1, 0, 8), 4096);
	pcie_turns(8, true);
	assert_int_equal(status_of(again), ST_OK);
	assert_int_equal(fake_nvme_stats(pcie_tdev)->errors, 0);
}

/* ======================================================================== */
/* DH-HMAC-CHAP                                                              */
/* ======================================================================== */

/* HOSTA: a SHA-256 key; HOSTB: a key and a controller key, SHA-384 and
 * ffdhe2048 configured. NQN1 requires authentication. */
#define AKEY_A "DHHC-1:01:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:"
#define AKEY_B "DHHC-1:00:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHnhxivBC:"
#define AKEY_C "DHHC-1:03:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P4zODhA=:"
static const char cfg_auth[] =
	"{'bridge': {'connect_timeout_ms': 200},"
	" 'hosts': [{'nqn': '" HOSTA "', 'dhchap': {'key': '" AKEY_A "'}},"
	"           {'nqn': '" HOSTB "', 'dhchap': {'key': '" AKEY_B "', 'ctrl_key': '" AKEY_C "',"
	"                                           'hash': 'hmac(sha384)', 'dhgroup': 'ffdhe2048'}}],"
	" 'subsystems': ["
	" {'nqn': '" NQN1 "', 'require_auth': 1, 'allowed_hosts': ['" HOSTA "', '" HOSTB "'],"
	"  'namespaces': [{'nsid': 1, 'device': {'mem': '1MiB'}}]},"
	" {'nqn': '" NQN2 "', 'attr': {'allow_any_host': '1'},"
	"  'namespaces': [{'nsid': 1, 'device': {'mem': '1MiB'}}]}],"
	" 'ports': [{'portid': 1, 'addr': {" TCP("127.0.0.1", "4420") "}, 'subsystems': ['" NQN1 "', '" NQN2 "']}]}";

static struct nvme_sqe auth_sqe(uint8_t fctype, uint32_t len)
{
	struct nvme_sqe c = sqe(NVME_FABRICS_OPC, 0);
	struct nvmf_auth_cmd *a = (struct nvmf_auth_cmd *)&c;

	a->fctype = fctype;
	a->secp = NVMF_AUTH_SECP_DHCHAP;
	a->spsp0 = a->spsp1 = NVMF_AUTH_SPSP;
	a->len = len;
	return c;
}

/* DH work is answered from the worker thread through the reactor */
static void settle(struct treq *r)
{
	for (unsigned i = 0; !r->completions && i < 5000; i++)
		run_reactor_ns(1);
}

static uint16_t auth_send(struct tq *q, const void *msg, uint32_t len)
{
	struct treq *r = exec_h2c(q, auth_sqe(NVMF_FCTYPE_AUTH_SEND, len), msg, len, true);
	uint16_t st;

	settle(r);
	st = status_of(r);

	put(r);
	return st;
}

static uint16_t auth_recv(struct tq *q, void *buf, uint32_t al)
{
	struct treq *r = exec_c2h(q, auth_sqe(NVMF_FCTYPE_AUTH_RECV, al), al);
	uint16_t st;

	settle(r);
	st = status_of(r);

	if (!st)
		memcpy(buf, r->req.buf, al);
	put(r);
	return st;
}

/* The Failure1 a Receive returns: its explanation, or -1 for another message */
static int failure1(struct tq *q)
{
	uint8_t buf[64];
	const struct nvmf_auth_failure *f = (const void *)buf;

	assert_int_equal(auth_recv(q, buf, sizeof(buf)), ST_OK);
	if (f->auth_type != NVMF_AUTH_COMMON || f->auth_id != NVMF_AUTH_FAILURE1)
		return -1;
	assert_int_equal(f->rescode, NVMF_AUTH_RESCODE_FAILED);
	return f->rescode_exp;
}

/* Authentication Send/Receive for the shared host side
 * (tests/support/dhchap_host.c): 0 only for a success status */
static int xfer_send(void *ctx, const void *msg, size_t len)
{
	return auth_send(ctx, msg, (uint32_t)len) != ST_OK;
}

static int xfer_recv(void *ctx, void *buf, size_t al)
{
	return auth_recv(ctx, buf, (uint32_t)al) != ST_OK;
}

/* A whole transaction as the Linux host runs it; the controller's response
 * is checked when ctrl_secret is given. Returns the Failure1 explanation,
 * 0 when authenticated; anything else fails the test. */
static int host_auth(struct tq *q, const char *subnqn, const char *hostnqn, const char *secret,
		     const char *ctrl_secret, uint16_t tid)
{
	struct dhchap_key hk, ck = { 0 };
	struct dhchap_host_xfer x = { .send = xfer_send, .recv = xfer_recv, .ctx = q };
	struct dhchap_host_args a = { .hostnqn = hostnqn, .subnqn = subnqn, .host = &hk, .ctrl = &ck, .tid = tid,
				      .dh_offer = 0x3f };
	struct dhchap_host_result r;
	const char *why;
	int rc;

	assert_int_equal(dhchap_key_parse(secret, &hk, &why), 0);
	if (ctrl_secret)
		assert_int_equal(dhchap_key_parse(ctrl_secret, &ck, &why), 0);
	rc = dhchap_host_run(&x, &a, &r);
	if (rc < 0)
		fail_msg("DH-HMAC-CHAP transaction %u: %s (%d)", tid, r.why, rc);
	assert_int_equal(r.ctrl_verified, rc == 0 && ck.len);
	return rc;
}

static struct tq *auth_admin(const char *hostnqn, uint16_t *cntlid)
{
	struct tq *q = tq_new(1);
	struct conn_args a = conn_admin(NQN1, hostnqn);

	assert_int_equal(connect_st(q, &a), ST_OK);
	assert_int_equal(E.last.dw0 & NVMF_CONNECT_AUTHREQ_ATR, NVMF_CONNECT_AUTHREQ_ATR);
	*cntlid = (uint16_t)E.last.dw0;
	return q;
}

/* Connect asks for authentication; until then only fabrics commands run;
 * after it, the admin and an I/O queue (authenticated on its own) work */
static void test_auth_gate_and_success(void **state)
{
	struct tq *q, *io;
	struct conn_args a;
	uint8_t data[512];
	uint16_t id;
	uint64_t v;

	(void)state;
	env_up(cfg_auth);
	q = auth_admin(HOSTA, &id);
	assert_int_equal(prop_get(q, NVME_REG_CAP, true, &v), ST_OK);         /* fabrics: allowed */
	assert_int_equal(status_of(identify(q, NVME_ID_CNS_CTRL, 0)), spec(NVMF_SC_AUTH_REQUIRED));
	assert_int_equal(host_auth(q, NQN1, HOSTA, AKEY_A, NULL, 1), 0);
	enable(q);
	assert_int_equal(status_of(identify(q, NVME_ID_CNS_CTRL, 0)), ST_OK);
	io = tq_new(1);
	a = conn_io(NQN1, HOSTA, id, 1);
	assert_int_equal(connect_st(io, &a), ST_OK);
	assert_int_equal(E.last.dw0, (uint32_t)id | NVMF_CONNECT_AUTHREQ_ATR);
	assert_int_equal(io_read(io, 1, 0, 1, data, 512), spec(NVMF_SC_AUTH_REQUIRED));
	assert_int_equal(host_auth(io, NQN1, HOSTA, AKEY_A, NULL, 2), 0);
	assert_int_equal(io_read(io, 1, 0, 1, data, 512), ST_OK);
	/* a host without a key on a subsystem that does not require one:
	 * no authentication, and Authentication Send is out of place */
	q = tq_new(1);
	a = conn_admin(NQN2, HOSTB);
	a.hostnqn = "nqn.2014-08.org.example:keyless";
	assert_int_equal(connect_st(q, &a), ST_OK);
	assert_int_equal(E.last.dw0 >> 16, 0);
	assert_int_equal(auth_send(q, data, dhchap_host_negotiate(data, 1, 1)), gen(NVME_SC_CMD_SEQ_ERROR));
}

/* bidirectional with ffdhe2048 (HOSTB's settings); a host that does not
 * offer the configured group is refused (no fallback to null, or to a
 * dearer group the host picks) */
static void test_auth_bidirectional_dh(void **state)
{
	struct tq *q;
	uint8_t buf[256];
	uint16_t id;

	(void)state;
	env_up(cfg_auth);
	q = auth_admin(HOSTB, &id);
	assert_int_equal(host_auth(q, NQN1, HOSTB, AKEY_B, AKEY_C, 9), 0);
	enable(q);
	assert_int_equal(status_of(identify(q, NVME_ID_CNS_CTRL, 0)), ST_OK);
	q = auth_admin(HOSTB, &id);
	assert_int_equal(auth_send(q, buf, dhchap_host_negotiate(buf, 3, 1u << DHCHAP_DH_NULL)), ST_OK);
	assert_int_equal(failure1(q), NVMF_AUTH_FAIL_DHGROUP_UNUSABLE);
	assert_int_equal(auth_send(q, buf, dhchap_host_negotiate(buf, 3, 1u << DHCHAP_FFDHE8192)), ST_OK);
	assert_int_equal(failure1(q), NVMF_AUTH_FAIL_DHGROUP_UNUSABLE);
	assert_int_equal(status_of(identify(q, NVME_ID_CNS_CTRL, 0)), spec(NVMF_SC_AUTH_REQUIRED));
	/* a wrong host key, then the right one on the same queue */
	assert_int_equal(host_auth(q, NQN1, HOSTB, AKEY_A, NULL, 4), NVMF_AUTH_FAIL_FAILED);
	assert_int_equal(host_auth(q, NQN1, HOSTB, AKEY_B, AKEY_C, 5), 0);
	/* a host that asks for the controller's response when no ctrl_key is set */
	q = auth_admin(HOSTA, &id);
	assert_int_equal(host_auth(q, NQN1, HOSTA, AKEY_A, AKEY_C, 6), NVMF_AUTH_FAIL_FAILED);
}

/* messages out of order, the wrong transaction, bad fields: Failure1 or a
 * status, never a crash or an authenticated queue */
static void test_auth_protocol_errors(void **state)
{
	struct tq *q, *io;
	struct conn_args a;
	uint8_t buf[256];
	struct nvmf_auth_reply *rep = (void *)buf;
	struct nvmf_auth_negotiate *n = (void *)buf;
	struct nvme_sqe c;
	struct treq *r;
	uint16_t id;

	(void)state;
	env_up(cfg_auth);
	q = auth_admin(HOSTA, &id);
	/* Receive before anything was negotiated */
	assert_int_equal(failure1(q), NVMF_AUTH_FAIL_INCORRECT_PROTOCOL);
	/* a Reply before the Negotiate */
	memset(buf, 0, sizeof(buf));
	rep->auth_type = NVMF_AUTH_DHCHAP;
	rep->auth_id = NVMF_AUTH_REPLY;
	rep->hl = 32;
	assert_int_equal(auth_send(q, buf, sizeof(*rep) + 64), ST_OK);
	assert_int_equal(failure1(q), NVMF_AUTH_FAIL_INCORRECT_PROTOCOL);
	/* the wrong protocol, SPSP, no length, TL unlike the data */
	c = auth_sqe(NVMF_FCTYPE_AUTH_SEND, 72);
	((struct nvmf_auth_cmd *)&c)->secp = 0xea;
	r = exec_h2c(q, c, buf, 72, true);
	assert_int_equal(status_of(r), gen(NVME_SC_INVALID_FIELD));
	put(r);
	c = auth_sqe(NVMF_FCTYPE_AUTH_RECV, 64);
	((struct nvmf_auth_cmd *)&c)->spsp1 = 2;
	r = exec_c2h(q, c, 64);
	assert_int_equal(status_of(r), gen(NVME_SC_INVALID_FIELD));
	put(r);
	r = exec_h2c(q, auth_sqe(NVMF_FCTYPE_AUTH_SEND, 0), buf, 72, true);
	assert_int_equal(status_of(r), gen(NVME_SC_INVALID_FIELD));
	put(r);
	r = exec_h2c(q, auth_sqe(NVMF_FCTYPE_AUTH_SEND, 100), buf, 72, true);
	assert_int_equal(status_of(r), gen(NVME_SC_SGL_INVALID_DATA));
	put(r);
	/* Negotiate without a DH-HMAC-CHAP descriptor, or with too many ids */
	dhchap_host_negotiate(buf, 1, 1);
	n->proto[0].authid = 2;
	assert_int_equal(auth_send(q, buf, 72), ST_OK);
	assert_int_equal(failure1(q), NVMF_AUTH_FAIL_INCORRECT_PAYLOAD);
	dhchap_host_negotiate(buf, 1, 1);
	n->proto[0].dhlen = 31;
	assert_int_equal(auth_send(q, buf, 72), ST_OK);
	assert_int_equal(failure1(q), NVMF_AUTH_FAIL_INCORRECT_PAYLOAD);
	dhchap_host_negotiate(buf, 1, 1);
	n->napd = 2;            /* says two, carries one: the one it carries counts */
	assert_int_equal(auth_send(q, buf, 72), ST_OK);
	assert_int_equal(auth_recv(q, buf, sizeof(buf)), ST_OK);
	assert_int_equal(buf[1], NVMF_AUTH_CHALLENGE);
	/* a queue starts at most 4 exchanges before it authenticates: a new one */
	q = auth_admin(HOSTA, &id);
	/* secure channel concatenation */
	dhchap_host_negotiate(buf, 1, 1);
	n->sc_c = 1;
	assert_int_equal(auth_send(q, buf, 72), ST_OK);
	assert_int_equal(failure1(q), NVMF_AUTH_FAIL_CONCAT_MISMATCH);
	/* only MD5-like hash identifiers */
	dhchap_host_negotiate(buf, 1, 1);
	n->proto[0].idlist[0] = 7;
	n->proto[0].halen = 1;
	assert_int_equal(auth_send(q, buf, 72), ST_OK);
	assert_int_equal(failure1(q), NVMF_AUTH_FAIL_HASH_UNUSABLE);
	/* a Reply of another transaction */
	assert_int_equal(auth_send(q, buf, dhchap_host_negotiate(buf, 5, 1)), ST_OK);
	assert_int_equal(auth_recv(q, buf, sizeof(buf)), ST_OK);
	memset(buf, 0, sizeof(buf));
	rep->auth_type = NVMF_AUTH_DHCHAP;
	rep->auth_id = NVMF_AUTH_REPLY;
	rep->t_id = 6;
	rep->hl = 32;
	assert_int_equal(auth_send(q, buf, sizeof(*rep) + 64), ST_OK);
	assert_int_equal(failure1(q), NVMF_AUTH_FAIL_INCORRECT_PAYLOAD);
	/* a Reply shorter than it says, and one with a DH value for the null group */
	assert_int_equal(auth_send(q, buf, dhchap_host_negotiate(buf, 7, 1)), ST_OK);
	assert_int_equal(auth_recv(q, buf, sizeof(buf)), ST_OK);
	memset(buf, 0, sizeof(buf));
	rep->auth_type = NVMF_AUTH_DHCHAP;
	rep->auth_id = NVMF_AUTH_REPLY;
	rep->t_id = 7;
	rep->hl = 32;
	rep->dhvlen = 200;
	assert_int_equal(auth_send(q, buf, sizeof(*rep) + 64), ST_OK);
	assert_int_equal(failure1(q), NVMF_AUTH_FAIL_INCORRECT_PAYLOAD);
	/* that was the fourth: the fifth is refused */
	assert_int_equal(auth_send(q, buf, dhchap_host_negotiate(buf, 1, 1)), ST_OK);
	assert_int_equal(failure1(q), NVMF_AUTH_FAIL_NOT_USABLE);
	/* an I/O queue cannot join before the admin queue authenticated */
	enable(q);
	io = tq_new(1);
	a = conn_io(NQN1, HOSTA, id, 1);
	assert_int_equal(connect_st(io, &a), spec(NVMF_SC_AUTH_REQUIRED));
	q = auth_admin(HOSTA, &id);
	/* a Challenge that does not fit the allocation length */
	assert_int_equal(auth_send(q, buf, dhchap_host_negotiate(buf, 8, 1)), ST_OK);
	assert_int_equal(auth_recv(q, buf, 20), ST_OK);
	assert_int_equal(buf[1], NVMF_AUTH_FAILURE1);
	/* after all that, still not authenticated; then a good transaction */
	assert_int_equal(status_of(identify(q, NVME_ID_CNS_CTRL, 0)), spec(NVMF_SC_AUTH_REQUIRED));
	assert_int_equal(host_auth(q, NQN1, HOSTA, AKEY_A, NULL, 9), 0);
	enable(q);
	assert_int_equal(status_of(identify(q, NVME_ID_CNS_CTRL, 0)), ST_OK);
}

/* re-authentication: the queue keeps working during it, and a failed one
 * takes the authentication away */
static void test_auth_reauth(void **state)
{
	struct tq *q;
	uint8_t buf[4096];
	uint16_t id;

	(void)state;
	env_up(cfg_auth);
	q = auth_admin(HOSTA, &id);
	assert_int_equal(host_auth(q, NQN1, HOSTA, AKEY_A, NULL, 1), 0);
	enable(q);
	assert_int_equal(auth_send(q, buf, dhchap_host_negotiate(buf, 2, 1)), ST_OK);
	assert_int_equal(status_of(identify(q, NVME_ID_CNS_CTRL, 0)), ST_OK);
	assert_int_equal(auth_recv(q, buf, sizeof(buf)), ST_OK);
	assert_int_equal(status_of(identify(q, NVME_ID_CNS_CTRL, 0)), ST_OK);
	assert_int_equal(host_auth(q, NQN1, HOSTA, AKEY_A, NULL, 3), 0);
	assert_int_equal(status_of(identify(q, NVME_ID_CNS_CTRL, 0)), ST_OK);
	assert_int_equal(host_auth(q, NQN1, HOSTA, AKEY_B, NULL, 4), NVMF_AUTH_FAIL_FAILED);
	assert_int_equal(status_of(identify(q, NVME_ID_CNS_CTRL, 0)), spec(NVMF_SC_AUTH_REQUIRED));
}

/* FFDHE runs on the worker thread: the command that needs it is answered
 * later, the queue's other commands and other queues are not held up, a
 * second authentication command meanwhile is refused, and a queue that
 * goes away while its job runs is cleaned up when the job is back */
static void test_auth_worker(void **state)
{
	struct tq *q, *other;
	struct treq *r, *r2;
	uint8_t buf[256];
	uint16_t id;

	(void)state;
	env_up(cfg_auth);
	other = auth_admin(HOSTA, &id);
	assert_int_equal(host_auth(other, NQN1, HOSTA, AKEY_A, NULL, 1), 0);
	enable(other);
	q = auth_admin(HOSTB, &id);
	assert_int_equal(auth_send(q, buf, dhchap_host_negotiate(buf, 2, 0x3f)), ST_OK);
	r = exec_c2h(q, auth_sqe(NVMF_FCTYPE_AUTH_RECV, 2048), 2048);
	assert_int_equal(r->completions, 0);                    /* waits for g^x */
	assert_int_equal(status_of(identify(other, NVME_ID_CNS_CTRL, 0)), ST_OK);
	r2 = exec_c2h(q, auth_sqe(NVMF_FCTYPE_AUTH_RECV, 2048), 2048);
	assert_int_equal(status_of(r2), gen(NVME_SC_CMD_SEQ_ERROR));
	put(r2);
	settle(r);
	assert_int_equal(status_of(r), ST_OK);
	assert_int_equal(((uint8_t *)r->req.buf)[1], NVMF_AUTH_CHALLENGE);
	assert_int_equal(((struct nvmf_auth_challenge *)r->req.buf)->dhgid, DHCHAP_FFDHE2048);
	put(r);
	/* the same again, but the queue is torn down while the job runs */
	q = auth_admin(HOSTB, &id);
	assert_int_equal(auth_send(q, buf, dhchap_host_negotiate(buf, 3, 0x3f)), ST_OK);
	r = exec_c2h(q, auth_sqe(NVMF_FCTYPE_AUTH_RECV, 2048), 2048);
	assert_int_equal(r->completions, 0);
	tq_destroy(q);
	settle(r);
	assert_int_equal(status_of(r), gen(NVME_SC_ABORT_SQ_DELETED) & (uint16_t)~NVME_STATUS_DNR);
	put(r);
}

/* a controller whose host never authenticates is released after
 * connect_timeout_ms (200 ms here), even though it keeps talking */
static void test_auth_deadline(void **state)
{
	struct tq *q, *good;
	uint64_t v, ms = 0, t0;
	uint16_t id;

	(void)state;
	env_up(cfg_auth);
	good = auth_admin(HOSTB, &id);
	assert_int_equal(host_auth(good, NQN1, HOSTB, AKEY_B, NULL, 1), 0);
	q = auth_admin(HOSTA, &id);
	t0 = reactor_now_ns();
	while (!q->disconnects && ms < 2000) {
		assert_int_equal(prop_get(q, NVME_REG_CAP, true, &v), ST_OK);
		run_reactor_ns(20);
		ms = (reactor_now_ns() - t0) / 1000000u;
	}
	assert_int_equal(q->disconnects, 1);
	assert_in_range(ms, 150, 600);
	assert_int_equal(good->disconnects, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_teardown(f, env_down)
		T(test_auth_gate_and_success),
		T(test_auth_bidirectional_dh),
		T(test_auth_protocol_errors),
		T(test_auth_reauth),
		T(test_auth_worker),
		T(test_auth_deadline),
		T(test_connect_admin_ok),
		T(test_connect_admin_cntlid_not_ffff),
		T(test_connect_recfmt),
		T(test_connect_sqsize_zero),
		T(test_connect_admin_sqsize_too_big),
		T(test_connect_unknown_subsystem),
		T(test_connect_host_not_allowed),
		T(test_connect_port_without_subsystem),
		T(test_connect_short_data),
		T(test_connect_twice),
		T(test_commands_before_connect),
		T(test_connect_dissqfc),
		T(test_cntlid_unique_in_range),
		T(test_connect_io_ok),
		T(test_connect_io_wrong_identity),
		T(test_connect_io_other_subsystem),
		T(test_connect_io_qid_invalid),
		T(test_connect_io_before_enable),
		T(test_connect_io_sqsize_too_big),
		T(test_connect_io_to_discovery_refused),
		T(test_property_cap),
		T(test_property_vs),
		T(test_property_cc_enable_disable),
		T(test_property_cc_bad_entry_sizes),
		T(test_property_shutdown),
		T(test_property_invalid),
		T(test_property_on_io_queue),
		T(test_sqhd_increments_and_wraps),
		T(test_identify_ctrl_nvm),
		T(test_identify_ctrl_default_inline),
		T(test_identify_ctrl_discovery),
		T(test_identify_ns),
		T(test_identify_ns_inactive),
		T(test_identify_active_ns_list),
		T(test_identify_ns_desc_list),
		T(test_identify_unknown_cns),
		T(test_features_num_queues),
		T(test_features_num_queues_after_io_queues),
		T(test_features_kato),
		T(test_features_host_id),
		T(test_features_unknown_fid),
		T(test_keep_alive_cmd),
		T(test_aer_limit),
		T(test_aen_pending),
		T(test_ana_identify_and_log),
		T(test_ana_io_status),
		T(test_ana_reload),
		T(test_metrics_hosts),
		T(test_refused_admin_opcodes),
		T(test_io_write_read),
		T(test_io_invalid_namespace),
		T(test_io_lba_range),
		T(test_io_sgl_length_mismatch),
		T(test_io_mdts),
		T(test_io_write_zeroes),
		T(test_io_compare),
		T(test_io_dsm_deallocate),
		T(test_io_flush),
		T(test_io_unknown_opcode),
		T(test_io_data_descriptors),
		T(test_io_null_backend),
		T(test_io_zero_copy_reads),
		T(test_mem_prefault),
		T(test_io_fused_refused),
		T(test_io_after_disable),
		T(test_discovery_log),
		T(test_discovery_log_allowed_hosts),
		T(test_discovery_log_wildcard_address),
		T(test_discovery_log_on_discovery_port),
		T(test_discovery_referrals_merged),
		T(test_discovery_log_offset),
		T(test_discovery_other_logs),
		T(test_device_logs_without_device),
		T(test_aer_dropped_with_admin_queue),
		T(test_keepalive_expiry),
		T(test_keepalive_traffic),
		T(test_keepalive_set_features),
		T(test_admin_queue_gone_ends_association),
		T(test_io_queue_gone_detaches),
		T(test_ctrl_destroy),
		T(test_connect_null_hostid),
		T(test_identify_ctrl_ctratt),
		T(test_nvmet_subsys_attrs),
		T(test_identify_ctrl_oncs_combined),
		T(test_ctrls_per_host_capped),
		T(test_buffer_quotas),
		T(test_buffer_before_connect),
		T(test_removed_namespace_freed_at_exit),
		T(test_reset_survives_failed_messages),
		cmocka_unit_test_teardown(test_pcie_failed_reset_waiting_commands, pcie_env_down),
#undef T
	};

	log_set_level(LOG_LVL_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
