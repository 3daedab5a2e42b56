/* SPDX-License-Identifier: MIT */
/*
 * The NVMe/RDMA request state machine with simulated completions: the
 * engine (transport/rdma.c, included here for its static functions) runs
 * against fake verbs — the data path calls go through the context's ops
 * table, which the test owns — and the real target core with a mem
 * namespace. What is checked: a Connect whose data is fetched by RDMA
 * READ, the READ depth limit, RDMA WRITE chained with Send with
 * Invalidate, and an error that flushes everything, each request and
 * receive released exactly once.
 */
#include "transport/rdma.c"

#include "nvme/regs.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

/* --- fake verbs --------------------------------------------------------------------- */

#define MAX_WR 256

struct posted {
	enum ibv_wr_opcode opcode;
	uint64_t wr_id;
	unsigned flags;
	uint64_t local;
	uint32_t len;
	uint64_t remote;
	uint32_t rkey;
	uint32_t inv_rkey;
};

static struct posted sends[MAX_WR];
static unsigned nsends;
static unsigned nrecvs_posted;
static bool qp_in_error;

static int fake_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr, struct ibv_send_wr **bad)
{
	(void)qp;
	(void)bad;
	for (; wr; wr = wr->next) {
		assert_true(nsends < MAX_WR);
		sends[nsends++] = (struct posted){
			.opcode = wr->opcode, .wr_id = wr->wr_id, .flags = wr->send_flags,
			.local = wr->num_sge ? wr->sg_list[0].addr : 0, .len = wr->num_sge ? wr->sg_list[0].length : 0,
			.remote = wr->wr.rdma.remote_addr, .rkey = wr->wr.rdma.rkey, .inv_rkey = wr->invalidate_rkey,
		};
	}
	return 0;
}

static int fake_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad)
{
	(void)qp;
	(void)bad;
	for (; wr; wr = wr->next)
		nrecvs_posted++;
	return 0;
}

static struct ibv_context fake_ctx;
static struct ibv_pd fake_pd;
static struct ibv_mr fake_mr = { .lkey = 0x1234 };

struct ibv_mr *(ibv_reg_mr)(struct ibv_pd *pd, void *addr, size_t length, int access)
{
	(void)pd; (void)addr; (void)length; (void)access;
	return &fake_mr;
}

int ibv_dereg_mr(struct ibv_mr *mr)
{
	(void)mr;
	return 0;
}

int ibv_modify_qp(struct ibv_qp *qp, struct ibv_qp_attr *attr, int mask)
{
	(void)qp;
	(void)mask;
	if (attr->qp_state == IBV_QPS_ERR)
		qp_in_error = true;
	return 0;
}

int rdma_disconnect(struct rdma_cm_id *id)
{
	(void)id;
	return 0;
}

void rdma_destroy_qp(struct rdma_cm_id *id)
{
	(void)id;
}

int rdma_destroy_id(struct rdma_cm_id *id)
{
	(void)id;
	return 0;
}

int ibv_destroy_cq(struct ibv_cq *c)
{
	(void)c;
	return 0;
}

void ibv_ack_cq_events(struct ibv_cq *c, unsigned int nevents)
{
	(void)c;
	(void)nevents;
}

/* --- the environment: a real target with a mem namespace -------------------------------- */

static const char *CFG =
	"{ \"bridge\": { \"discovery_port\": 0 },"
	"  \"ports\": [ { \"portid\": 1, \"addr\": { \"trtype\": \"rdma\", \"adrfam\": \"ipv4\","
	"                 \"traddr\": \"10.0.0.1\", \"trsvcid\": \"4420\" },"
	"               \"subsystems\": [ \"nqn.2024-01.io.test:rdma\" ] } ],"
	"  \"subsystems\": [ { \"nqn\": \"nqn.2024-01.io.test:rdma\", \"attr\": { \"allow_any_host\": \"1\" },"
	"                    \"namespaces\": [ { \"nsid\": 1, \"device\": { \"mem\": \"1MiB\" } } ] } ] }";

static struct config *cfg;
static struct nvmf_tgt tgt;
static struct rdma_rstate rstate;
static struct rdma_dev dev;
static struct ibv_qp qp;
static struct ibv_cq cq;
static struct rdma_cm_id cm_id;

static int setup(void **state)
{
	char err[512];

	(void)state;
	assert_int_equal(config_parse(CFG, "t.json", &cfg, err, sizeof(err)), 0);
	assert_int_equal(nvmf_tgt_init(&tgt, cfg, err, sizeof(err)), 0);
	fake_ctx.ops.post_send = fake_post_send;
	fake_ctx.ops.post_recv = fake_post_recv;
	rstate = (struct rdma_rstate){ .nr = &tgt.reactors[0] };
	dev = (struct rdma_dev){ .ctx = &fake_ctx, .pd = &fake_pd };
	dev.pool_mr[0] = &fake_mr;
	qp = (struct ibv_qp){ .context = &fake_ctx };
	cq = (struct ibv_cq){ .context = &fake_ctx };
	cm_id = (struct rdma_cm_id){ .qp = &qp, .verbs = &fake_ctx };
	nsends = nrecvs_posted = 0;
	qp_in_error = false;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	nvmf_tgt_fini(&tgt);
	config_free(cfg);
	return 0;
}

static struct rdma_conn *new_conn(uint8_t read_depth)
{
	struct rdma_conn *c = calloc(1, sizeof(*c));

	c->tgt = &tgt;
	c->rs = &rstate;
	c->id = &cm_id;
	c->dev = &dev;
	c->cq = &cq;
	c->params = (struct rdma_conn_params){ .qid = 0, .queue_size = 32, .host_recv_size = 32,
					       .read_depth = read_depth };
	c->max_icd = RDMA_MIN_ICD;
	c->recv_size = (uint32_t)sizeof(struct nvme_sqe) + c->max_icd;
	c->sq.port = tgt.ports[0];
	c->sq.ops = &nvmf_rdma_transport;
	c->sq.tconn = c;
	c->sq.reactor = &tgt.reactors[0];
	c->sq.keyed_sgl = true;
	snprintf(c->peer, sizeof(c->peer), "test");
	assert_int_equal(conn_alloc(c), 0);
	for (unsigned i = 0; i < c->params.queue_size; i++)
		assert_int_equal(post_recv(c, &c->recvs[i]), 0);
	rstate.conns = c;
	return c;
}

static void free_conn(struct rdma_conn *c)
{
	conn_destroy(c);        /* the fakes stand in for the verbs calls */
}

static void wc(struct rdma_conn *c, uint64_t wr_id, enum ibv_wc_status st, uint32_t byte_len)
{
	struct ibv_wc w = { .wr_id = wr_id, .status = st, .byte_len = byte_len };

	handle_wc(c, &w);
}

/* a capsule arrives in receive buffer i */
static void arrive(struct rdma_conn *c, unsigned i, const struct nvme_sqe *sqe)
{
	memcpy(c->recvs[i].buf, sqe, sizeof(*sqe));
	wc(c, (uintptr_t)&c->recvs[i] | TAG_RECV, IBV_WC_SUCCESS, sizeof(*sqe));
}

static struct nvme_sqe keyed(uint8_t opc, uint8_t type, uint64_t addr, uint32_t len, uint32_t key)
{
	struct nvme_sqe s;

	memset(&s, 0, sizeof(s));
	s.opc = opc;
	s.flags = NVME_SQE_PSDT_SGL;
	s.dptr.ksgl.type = type;
	s.dptr.ksgl.addr = addr;
	s.dptr.ksgl.length[0] = (uint8_t)len;
	s.dptr.ksgl.length[1] = (uint8_t)(len >> 8);
	s.dptr.ksgl.length[2] = (uint8_t)(len >> 16);
	s.dptr.ksgl.key = key;
	return s;
}

static struct nvme_sqe connect_cmd(uint16_t cid)
{
	struct nvme_sqe s = keyed(NVME_FABRICS_OPC, RDMA_SGL_KEYED_ADDR, 0x10000, 1024, 0x77);
	struct nvmf_connect_cmd *cc = (void *)&s;

	s.cid = cid;
	cc->fctype = NVMF_FCTYPE_CONNECT;
	cc->qid = 0;
	cc->sqsize = 31;
	cc->kato = 0;
	return s;
}

static void fill_connect_data(void *buf)
{
	struct nvmf_connect_data *d = buf;

	memset(d, 0, sizeof(*d));
	d->cntlid = 0xffff;
	/* the uuid of the host NQN (a null Host Identifier is refused) */
	memcpy(d->hostid, (const uint8_t[16]){ 0x11, 0x11, 0x11, 0x11, 0x22, 0x22, 0x33, 0x33, 0x44, 0x44, 0x55, 0x55,
					     0x55, 0x55, 0x55, 0x55 }, 16);
	snprintf(d->subnqn, sizeof(d->subnqn), "nqn.2024-01.io.test:rdma");
	snprintf(d->hostnqn, sizeof(d->hostnqn), "nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555");
}

/* --- the tests ------------------------------------------------------------------------------- */

static void test_connect_by_rdma_read(void **state)
{
	struct rdma_conn *c = new_conn(4);
	struct nvme_sqe s = connect_cmd(7);
	struct rdma_req *r;
	struct nvme_cqe *rsp;

	(void)state;
	assert_int_equal(nrecvs_posted, 32);
	arrive(c, 0, &s);
	/* the receive goes back at once; the data is fetched by RDMA READ */
	assert_int_equal(nrecvs_posted, 33);
	assert_int_equal(nsends, 1);
	assert_int_equal(sends[0].opcode, IBV_WR_RDMA_READ);
	assert_int_equal(sends[0].remote, 0x10000);
	assert_int_equal(sends[0].rkey, 0x77);
	assert_int_equal(sends[0].len, 1024);
	assert_true(sends[0].flags & IBV_SEND_SIGNALED);
	assert_int_equal(sends[0].wr_id & TAG_MASK, TAG_READ);
	assert_int_equal(c->reads_out, 1);
	r = (struct rdma_req *)(uintptr_t)(sends[0].wr_id & ~(uint64_t)TAG_MASK);
	/* the host's memory, as the READ would bring it, into the pool buffer */
	assert_ptr_equal((void *)(uintptr_t)sends[0].local, r->req.buf);
	fill_connect_data(r->req.buf);
	wc(c, sends[0].wr_id, IBV_WC_SUCCESS, 1024);
	/* executed: the response is sent, signaled */
	assert_int_equal(c->reads_out, 0);
	assert_int_equal(nsends, 2);
	assert_int_equal(sends[1].opcode, IBV_WR_SEND);
	assert_int_equal(sends[1].len, sizeof(struct nvme_cqe));
	rsp = (struct nvme_cqe *)(uintptr_t)sends[1].local;
	assert_int_equal(rsp->cid, 7);
	assert_int_equal(NVME_CQE_STATUS(rsp), 0);
	assert_int_not_equal(rsp->dw0 & 0xffff, 0xffff);        /* the CNTLID */
	assert_non_null(c->sq.ctrl);
	assert_int_equal(c->busy, 1);                           /* until the SEND completes */
	wc(c, sends[1].wr_id, IBV_WC_SUCCESS, 0);
	assert_int_equal(c->busy, 0);
	assert_int_equal(c->sends_out, 0);
	conn_close(c, "test end");
	free_conn(c);
}

static void test_read_depth_limit(void **state)
{
	struct rdma_conn *c = new_conn(1);
	struct nvme_sqe a = connect_cmd(1), b = connect_cmd(2), con = connect_cmd(9);
	struct rdma_req *first;

	(void)state;
	/* connected first: before Connect a queue may hold one data buffer
	 * only (its Connect's), and this test needs two commands with data */
	arrive(c, 2, &con);
	first = (struct rdma_req *)(uintptr_t)(sends[0].wr_id & ~(uint64_t)TAG_MASK);
	fill_connect_data(first->req.buf);
	wc(c, sends[0].wr_id, IBV_WC_SUCCESS, 1024);
	wc(c, sends[1].wr_id, IBV_WC_SUCCESS, 0);
	assert_non_null(c->sq.ctrl);
	nsends = 0;
	/* two more commands whose data comes by RDMA READ (Connects again:
	 * refused once executed, but their data is fetched first) */
	arrive(c, 0, &a);
	arrive(c, 1, &b);
	/* depth 1: the second command waits for the first READ */
	assert_int_equal(nsends, 1);
	assert_int_equal(c->reads_out, 1);
	assert_non_null(c->wait_head);
	assert_int_equal(c->wait_head->state, RQ_WAIT_READ);
	first = (struct rdma_req *)(uintptr_t)(sends[0].wr_id & ~(uint64_t)TAG_MASK);
	fill_connect_data(first->req.buf);
	wc(c, sends[0].wr_id, IBV_WC_SUCCESS, 1024);
	/* the first executes (its SEND is posted), the second READ starts */
	assert_int_equal(nsends, 3);
	assert_int_equal(sends[1].opcode, IBV_WR_SEND);
	assert_int_equal(sends[2].opcode, IBV_WR_RDMA_READ);
	assert_int_equal(c->reads_out, 1);
	assert_null(c->wait_head);
	/* an error on the connection: everything outstanding is flushed */
	wc(c, sends[2].wr_id, IBV_WC_REM_ACCESS_ERR, 0);
	assert_true(c->closing);
	assert_true(qp_in_error);
	wc(c, sends[1].wr_id, IBV_WC_WR_FLUSH_ERR, 0);
	for (unsigned i = 0; i < c->params.queue_size; i++)
		wc(c, (uintptr_t)&c->recvs[i] | TAG_RECV, IBV_WC_WR_FLUSH_ERR, 0);
	/* every request and receive came back exactly once: free to go */
	assert_int_equal(c->busy, 0);
	assert_int_equal(c->sends_out, 0);
	assert_int_equal(c->recvs_out, 0);
	conn_maybe_free(c);
	assert_true(c->freed);
	free_conn(c);
}

static void test_write_then_send_with_invalidate(void **state)
{
	struct rdma_conn *c = new_conn(4);
	struct nvme_sqe s = connect_cmd(1), cc, id;
	struct nvmf_property_cmd *p;
	struct rdma_req *r;
	unsigned n;

	(void)state;
	/* connect and enable the controller */
	arrive(c, 0, &s);
	r = (struct rdma_req *)(uintptr_t)(sends[0].wr_id & ~(uint64_t)TAG_MASK);
	fill_connect_data(r->req.buf);
	wc(c, sends[0].wr_id, IBV_WC_SUCCESS, 1024);
	wc(c, sends[1].wr_id, IBV_WC_SUCCESS, 0);
	cc = keyed(NVME_FABRICS_OPC, RDMA_SGL_KEYED_ADDR, 0, 0, 0);
	cc.cid = 2;
	p = (void *)&cc;
	p->fctype = NVMF_FCTYPE_PROPERTY_SET;
	p->ofst = NVME_REG_CC;
	p->value = NVME_CC_EN | NVME_CC_IOSQES(6) | NVME_CC_IOCQES(4);
	arrive(c, 1, &cc);
	assert_int_equal(sends[2].opcode, IBV_WR_SEND);
	wc(c, sends[2].wr_id, IBV_WC_SUCCESS, 0);
	/* Identify with a keyed SGL that asks for invalidation */
	id = keyed(NVME_ADM_IDENTIFY, RDMA_SGL_KEYED_INVALIDATE, 0x20000, 4096, 0xabcd);
	id.cid = 3;
	id.cdw10 = NVME_ID_CNS_CTRL;
	n = nsends;
	arrive(c, 2, &id);
	/* the data by RDMA WRITE (unsignaled), then the response, chained */
	assert_int_equal(nsends, n + 2);
	assert_int_equal(sends[n].opcode, IBV_WR_RDMA_WRITE);
	assert_int_equal(sends[n].remote, 0x20000);
	assert_int_equal(sends[n].rkey, 0xabcd);
	assert_int_equal(sends[n].len, 4096);
	assert_false(sends[n].flags & IBV_SEND_SIGNALED);
	assert_int_equal(sends[n + 1].opcode, IBV_WR_SEND_WITH_INV);
	assert_int_equal(sends[n + 1].inv_rkey, 0xabcd);
	assert_true(sends[n + 1].flags & IBV_SEND_SIGNALED);
	/* what the WRITE carries is the Identify data, from the pool buffer */
	assert_memory_equal(((struct nvme_id_ctrl *)(uintptr_t)sends[n].local)->subnqn,
			    "nqn.2024-01.io.test:rdma", 24);
	wc(c, sends[n + 1].wr_id, IBV_WC_SUCCESS, 0);
	assert_int_equal(c->busy, 0);
	conn_close(c, "test end");
	free_conn(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_connect_by_rdma_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_depth_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_then_send_with_invalidate, setup, teardown),
	};

	return cmocka_run_group_tests_name("rdma_req", tests, NULL, NULL);
}
