/* SPDX-License-Identifier: MIT */
/*
 * The NVMe/RDMA request state machine with simulated completions: the
 * engine (transport/rdma.c, included here for its static functions) runs
 * against fake verbs — the data path calls go through the context's ops
 * table, which the test owns — and the real target core with a mem
 * namespace. What is checked: a Connect whose data is fetched by RDMA
 * READ, the READ depth limit, RDMA WRITE chained with Send with
 * Invalidate, an error that flushes everything (each request released
 * exactly once, each receive buffer back in the SRQ), the receive buffers
 * of a turn posted in one list, a refused post, receives of a closed or
 * unknown queue,
 * and the bounds of the shared receive queue and the shared CQ.
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
static unsigned recvs_at_send[MAX_WR];  /* receive buffers posted when each send was */
static unsigned nsends;
static unsigned npost_send_calls;
static unsigned nrecvs_posted;
static bool qp_in_error;

static bool fail_post_send;

static int fake_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr, struct ibv_send_wr **bad)
{
	(void)qp;
	npost_send_calls++;
	if (fail_post_send) {
		*bad = wr;
		errno = ENOMEM;
		return ENOMEM;
	}
	for (; wr; wr = wr->next) {
		assert_true(nsends < MAX_WR);
		recvs_at_send[nsends] = nrecvs_posted;
		sends[nsends++] = (struct posted){
			.opcode = wr->opcode, .wr_id = wr->wr_id, .flags = wr->send_flags,
			.local = wr->num_sge ? wr->sg_list[0].addr : 0, .len = wr->num_sge ? wr->sg_list[0].length : 0,
			.remote = wr->wr.rdma.remote_addr, .rkey = wr->wr.rdma.rkey, .inv_rkey = wr->invalidate_rkey,
		};
	}
	return 0;
}

static int fake_post_srq_recv(struct ibv_srq *srq, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad)
{
	(void)srq;
	(void)bad;
	for (; wr; wr = wr->next)
		nrecvs_posted++;
	return 0;
}

int ibv_resize_cq(struct ibv_cq *c, int cqe)
{
	c->cqe = cqe;
	return 0;
}

static struct ibv_srq fake_srq;

struct ibv_srq *ibv_create_srq(struct ibv_pd *pd, struct ibv_srq_init_attr *attr)
{
	(void)pd;
	(void)attr;
	return &fake_srq;
}

int ibv_destroy_srq(struct ibv_srq *q)
{
	(void)q;
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

static int last_modify_mask;
static struct ibv_qp_attr last_modify_attr;

int ibv_modify_qp(struct ibv_qp *qp, struct ibv_qp_attr *attr, int mask)
{
	(void)qp;
	last_modify_mask = mask;
	last_modify_attr = *attr;
	if ((mask & IBV_QP_STATE) && attr->qp_state == IBV_QPS_ERR)
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
static struct rdma_rdev rdev;
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
	fake_ctx.ops.post_srq_recv = fake_post_srq_recv;
	rstate = (struct rdma_rstate){ .nr = &tgt.reactors[0] };
	dev = (struct rdma_dev){ .ctx = &fake_ctx, .pd = &fake_pd, .max_cqe = 8192 };
	dev.pool_mr[0] = &fake_mr;
	qp = (struct ibv_qp){ .context = &fake_ctx, .qp_num = 42 };
	cq = (struct ibv_cq){ .context = &fake_ctx, .cqe = RDMA_CQ_MIN };
	fake_srq = (struct ibv_srq){ .context = &fake_ctx };
	/* the device on the reactor: its CQ, no channel, SRQs made on demand */
	rdev = (struct rdma_rdev){ .dev = &dev, .cq = &cq, .cq_size = RDMA_CQ_MIN };
	rstate.rdevs = &rdev;
	cm_id = (struct rdma_cm_id){ .qp = &qp, .verbs = &fake_ctx };
	nsends = nrecvs_posted = npost_send_calls = 0;
	qp_in_error = fail_post_send = false;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	while (rdev.srqs) {
		struct rdma_srq *q = rdev.srqs;

		rdev.srqs = q->next;
		srq_destroy(q);
	}
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
	c->rdev = &rdev;
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
	assert_int_equal(srq_attach(c, 0), 0);
	c->send_wrs = 2u * c->nreqs + 4;
	assert_int_equal(cq_reserve(&rdev, c->send_wrs), 0);
	qp_hash_add(c, qp.qp_num);
	rstate.conns = c;
	return c;
}

static void free_conn(struct rdma_conn *c)
{
	conn_destroy(c);        /* the fakes stand in for the verbs calls */
}

/* receive buffer i of the connection's SRQ (of its first chunk) */
static struct rdma_recv *rbuf(struct rdma_conn *c, unsigned i)
{
	struct rdma_rchunk *k = c->srq->chunks;

	while (k->next)
		k = k->next;
	return &k->recvs[i];
}

/* the end of a turn: the receive buffers it gave back are posted */
static void end_turn(void)
{
	post_recvs(&rstate);
}

static void wc_qp(uint32_t qp_num, uint64_t wr_id, enum ibv_wc_status st, uint32_t byte_len)
{
	struct ibv_wc w = { .wr_id = wr_id, .status = st, .byte_len = byte_len, .qp_num = qp_num };

	handle_wc(&rstate, &w);
	end_turn();
}

static void wc(struct rdma_conn *c, uint64_t wr_id, enum ibv_wc_status st, uint32_t byte_len)
{
	wc_qp(c->qp_num, wr_id, st, byte_len);
}

/* a capsule arrives in receive buffer i (not in a turn of its own) */
static void arrive_only(struct rdma_conn *c, unsigned i, const struct nvme_sqe *sqe)
{
	struct ibv_wc w = { .wr_id = (uintptr_t)rbuf(c, i) | TAG_RECV, .status = IBV_WC_SUCCESS,
			    .byte_len = sizeof(*sqe), .qp_num = c->qp_num };

	memcpy(rbuf(c, i)->buf, sqe, sizeof(*sqe));
	handle_wc(&rstate, &w);
}

static void arrive(struct rdma_conn *c, unsigned i, const struct nvme_sqe *sqe)
{
	arrive_only(c, i, sqe);
	end_turn();
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
	/* every request came back exactly once, and every receive buffer is
	 * the SRQ's again (the 32 first posts and the 3 taken): free to go */
	assert_int_equal(c->busy, 0);
	assert_int_equal(c->sends_out, 0);
	assert_int_equal(nrecvs_posted, 32 + 3);
	conn_maybe_free(c);
	assert_true(c->freed);
	free_conn(c);
}

/* Connected and enabled, as the Linux host leaves an admin queue. */
static struct rdma_conn *enabled_conn(void)
{
	struct rdma_conn *c = new_conn(4);
	struct nvme_sqe s = connect_cmd(1), cc;
	struct nvmf_property_cmd *p;
	struct rdma_req *r;

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
	assert_int_equal(c->busy, 0);
	nsends = npost_send_calls = 0;
	return c;
}

static void test_write_then_send_with_invalidate(void **state)
{
	struct rdma_conn *c = enabled_conn();
	struct nvme_sqe id;
	unsigned n;

	(void)state;
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

static struct nvme_sqe identify(uint16_t cid, uint64_t addr)
{
	struct nvme_sqe id = keyed(NVME_ADM_IDENTIFY, RDMA_SGL_KEYED_ADDR, addr, 4096, 0x99);

	id.cid = cid;
	id.cdw10 = NVME_ID_CNS_CTRL;
	return id;
}

/* A command's data and response go in one post as soon as it completes;
 * the receive buffers given back go to the SRQ in one list before a
 * response, or else at the turn's end. */
static void test_posts_in_a_turn(void **state)
{
	struct rdma_conn *c = enabled_conn();
	struct nvme_sqe a = identify(10, 0x30000), b = identify(11, 0x40000), w = connect_cmd(12);
	unsigned recvs = nrecvs_posted;
	struct rdma_req *r;

	(void)state;
	/* data to fetch first (an RDMA READ): no response yet, the buffer waits */
	arrive_only(c, 4, &w);
	assert_int_equal(npost_send_calls, 1);
	assert_int_equal(sends[0].opcode, IBV_WR_RDMA_READ);
	assert_int_equal(nrecvs_posted, recvs);
	end_turn();
	assert_int_equal(nrecvs_posted, recvs + 1);
	r = (struct rdma_req *)(uintptr_t)(sends[0].wr_id & ~(uint64_t)TAG_MASK);
	fill_connect_data(r->req.buf);
	wc(c, sends[0].wr_id, IBV_WC_SUCCESS, 1024);    /* a second Connect: refused */
	assert_int_equal(sends[1].opcode, IBV_WR_SEND);
	wc(c, sends[1].wr_id, IBV_WC_SUCCESS, 0);
	nsends = npost_send_calls = 0;
	recvs = nrecvs_posted;
	arrive_only(c, 2, &a);
	assert_int_equal(npost_send_calls, 1);
	assert_int_equal(nrecvs_posted, recvs + 1);     /* posted before the response */
	arrive_only(c, 3, &b);
	assert_int_equal(npost_send_calls, 2);
	assert_int_equal(nsends, 4);
	assert_int_equal(nrecvs_posted, recvs + 2);
	assert_int_equal(recvs_at_send[1], recvs + 1);
	assert_int_equal(recvs_at_send[3], recvs + 2);
	assert_int_equal(c->sends_out, 2);
	end_turn();
	assert_int_equal(nrecvs_posted, recvs + 2);
	assert_int_equal(sends[0].opcode, IBV_WR_RDMA_WRITE);
	assert_int_equal(sends[0].remote, 0x30000);
	assert_int_equal(sends[1].opcode, IBV_WR_SEND);
	assert_int_equal(((struct nvme_cqe *)(uintptr_t)sends[1].local)->cid, 10);
	assert_int_equal(sends[2].opcode, IBV_WR_RDMA_WRITE);
	assert_int_equal(sends[2].remote, 0x40000);
	assert_int_equal(sends[3].opcode, IBV_WR_SEND);
	assert_int_equal(((struct nvme_cqe *)(uintptr_t)sends[3].local)->cid, 11);
	/* an empty turn posts nothing */
	end_turn();
	assert_int_equal(npost_send_calls, 2);
	assert_int_equal(nrecvs_posted, recvs + 2);
	wc(c, sends[1].wr_id, IBV_WC_SUCCESS, 0);
	wc(c, sends[3].wr_id, IBV_WC_SUCCESS, 0);
	assert_int_equal(c->busy, 0);
	conn_close(c, "test end");
	free_conn(c);
}

/* A post the provider refuses: the requests it carried are released, the
 * queue closes, and nothing is left to free it. */
static void test_refused_post(void **state)
{
	struct rdma_conn *c = enabled_conn();
	struct nvme_sqe a = identify(10, 0x30000);

	(void)state;
	fail_post_send = true;
	/* refused in the completion, which runs under the target's lock:
	 * released at once, closed by the output phase */
	arrive_only(c, 2, &a);
	assert_int_equal(c->busy, 0);
	assert_false(c->closing);
	assert_non_null(c->fail_why);
	c->busy++;              /* keep it from being destroyed by that pass */
	rdma_post(&rstate);
	assert_true(c->closing);
	assert_true(qp_in_error);
	c->busy--;
	assert_int_equal(c->sends_out, 0);
	conn_maybe_free(c);
	assert_true(c->freed);
	free_conn(c);
}

/* Receives belong to the SRQ: one of a queue that is closing, or of a QP
 * no queue has any more, gives its buffer back and executes nothing. */
static void test_receive_of_gone_queue(void **state)
{
	struct rdma_conn *c = enabled_conn();
	struct nvme_sqe a = identify(10, 0x30000);
	unsigned recvs = nrecvs_posted;

	(void)state;
	memcpy(rbuf(c, 4)->buf, &a, sizeof(a));
	wc_qp(c->qp_num + 1, (uintptr_t)rbuf(c, 4) | TAG_RECV, IBV_WC_SUCCESS, sizeof(a));
	assert_int_equal(nrecvs_posted, recvs + 1);
	assert_int_equal(nsends, 0);
	assert_int_equal(c->busy, 0);
	conn_close(c, "test");
	wc(c, (uintptr_t)rbuf(c, 5) | TAG_RECV, IBV_WC_SUCCESS, sizeof(a));
	assert_int_equal(nrecvs_posted, recvs + 2);
	assert_int_equal(nsends, 0);
	assert_true(c->freed);
	free_conn(c);
	assert_null(conn_of_qp(&rstate, qp.qp_num));
}

/* The SRQ grows by each queue's depth up to its bound, the CQ with what
 * may complete at once, up to the device's maximum. */
static void test_srq_and_cq_bounds(void **state)
{
	uint32_t size = (uint32_t)sizeof(struct nvme_sqe) + 8192;
	unsigned bound = RDMA_SRQ_MAX_BYTES / size < RDMA_SRQ_MAX_BUFS ? RDMA_SRQ_MAX_BYTES / size
								       : RDMA_SRQ_MAX_BUFS;
	struct rdma_srq *q = NULL, *small;
	unsigned need;

	(void)state;
	for (unsigned i = 0; i < 40; i++) {
		q = srq_of(&rdev, size, 128, 0);
		assert_non_null(q);
		assert_int_equal(q->nr_bufs, (i + 1) * 128 < bound ? (i + 1) * 128 : bound);
	}
	assert_int_equal(q->nr_bufs, bound);
	assert_int_equal(nrecvs_posted, bound);
	assert_int_equal(rdev.cq_need, bound);
	assert_true(rdev.cq_size >= rdev.cq_need);
	/* another receive size: an SRQ of its own */
	small = srq_of(&rdev, (uint32_t)sizeof(struct nvme_sqe) + RDMA_MIN_ICD, 32, 0);
	assert_ptr_not_equal(small, q);
	assert_int_equal(small->nr_bufs, 32);
	assert_int_equal(rdev.cq_need, bound + 32);
	/* beyond the device's CQ: refused, nothing counted */
	need = rdev.cq_need;
	assert_int_equal(cq_reserve(&rdev, dev.max_cqe), -ENOSPC);
	assert_int_equal(rdev.cq_need, need);
	assert_int_equal(cq_reserve(&rdev, dev.max_cqe - need), 0);
	assert_int_equal(rdev.cq_size, dev.max_cqe);
}

/* A host may send a new command as soon as it has a response, before our
 * SEND's completion frees the request: a queue of depth 32 keeps 32 such
 * responses in that window and 32 new commands. One more is an overrun. */
static void test_send_completion_window(void **state)
{
	struct rdma_conn *c = enabled_conn();
	struct nvmf_property_cmd *p;
	struct nvme_sqe g;
	unsigned i, n = nsends, nrecvs_at_start = nrecvs_posted;

	(void)state;
	for (i = 0; i < 64; i++) {
		g = keyed(NVME_FABRICS_OPC, RDMA_SGL_KEYED_ADDR, 0, 0, 0);
		g.cid = (uint16_t)(100 + i);
		p = (void *)&g;
		p->fctype = NVMF_FCTYPE_PROPERTY_GET;
		p->ofst = NVME_REG_CSTS;
		arrive_only(c, i % 32, &g);     /* the response goes out in the capsule's turn */
		assert_false(c->closing);
	}
	/* 64 responses posted, none of their SENDs completed yet */
	assert_int_equal(nsends, n + 64);
	assert_int_equal(c->busy, 64);
	for (i = 0; i < 64; i++)
		assert_int_equal(sends[n + i].opcode, IBV_WR_SEND);
	/* each capsule's buffer went back to the SRQ before its response:
	 * the 32 first posts, then one more for every capsule so far */
	for (i = 0; i < 64; i++)
		assert_int_equal(recvs_at_send[n + i], nrecvs_at_start + i + 1);
	/* the first SEND completes: room for one more */
	wc(c, sends[n].wr_id, IBV_WC_SUCCESS, 0);
	g.cid = 200;
	arrive(c, 0, &g);
	assert_false(c->closing);
	assert_int_equal(nsends, n + 65);
	/* 65 in flight on a queue of 32: not a host we can serve */
	g.cid = 201;
	arrive(c, 1, &g);
	assert_true(c->closing);
	for (i = 1; i < 65; i++)
		wc(c, sends[n + i].wr_id, IBV_WC_WR_FLUSH_ERR, 0);
	assert_int_equal(c->busy, 0);
	conn_maybe_free(c);
	assert_true(c->freed);
	free_conn(c);
}

/* bridge.rdma_srq_size sets the bound, capped by the device's maximum */
static void test_srq_configured_size(void **state)
{
	uint32_t size = (uint32_t)sizeof(struct nvme_sqe) + 8192;
	struct rdma_srq *q = NULL;

	(void)state;
	for (unsigned i = 0; i < 3; i++) {
		q = srq_of(&rdev, size, 128, 200);
		assert_non_null(q);
		assert_int_equal(q->max_bufs, 200);
		assert_int_equal(q->nr_bufs, i ? 200 : 128);
	}
	assert_int_equal(nrecvs_posted, 200);
	/* above the automatic bound (32 MiB of 8 KiB capsules) when asked */
	q = srq_of(&rdev, size + 64, 128, 8000);
	assert_int_equal(q->max_bufs, 8000);
	dev.max_srq_wr = 1000;
	q = srq_of(&rdev, size + 128, 128, 8000);
	assert_int_equal(q->max_bufs, 1000);
	q = srq_of(&rdev, size + 192, 128, 0);
	assert_int_equal(q->max_bufs, 1000);
}

/* The SRQ counts its queues' entries: more than its buffers is said once,
 * and a queue that goes gives its entries back. */
static void test_srq_entries(void **state)
{
	struct rdma_conn *a = new_conn(4), *b;
	struct rdma_srq *q = a->srq;

	(void)state;
	assert_int_equal(q->entries, 32);
	b = calloc(1, sizeof(*b));
	*b = (struct rdma_conn){ .tgt = a->tgt, .rs = a->rs, .dev = a->dev, .rdev = a->rdev, .params = a->params,
				 .recv_size = a->recv_size };
	snprintf(b->peer, sizeof(b->peer), "test b");
	/* a second queue on an SRQ of 48 buffers: 64 entries */
	q->max_bufs = 48;
	assert_int_equal(srq_attach(b, 48), 0);
	assert_ptr_equal(b->srq, q);
	assert_int_equal(q->entries, 64);
	assert_true(q->over_warned);
	conn_free_verbs(b);
	assert_null(b->srq);
	assert_int_equal(q->entries, 32);
	free(b);
	free_conn(a);
	assert_int_equal(q->entries, 0);
}

/* An accepted queue's RNR timer is short: the connection manager's 0
 * would make a host wait 655 ms each time the SRQ is empty. */
static void test_rnr_timer(void **state)
{
	struct rdma_conn *c = new_conn(4);

	(void)state;
	last_modify_mask = 0;
	set_rnr_timer(c);
	assert_int_equal(last_modify_mask, IBV_QP_MIN_RNR_TIMER);
	assert_int_equal(last_modify_attr.min_rnr_timer, RDMA_MIN_RNR_TIMER);
	assert_true(last_modify_attr.min_rnr_timer >= 1 && last_modify_attr.min_rnr_timer <= 12);
	free_conn(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_connect_by_rdma_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_depth_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_then_send_with_invalidate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_posts_in_a_turn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_post, setup, teardown),
		cmocka_unit_test_setup_teardown(test_receive_of_gone_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_srq_and_cq_bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_srq_configured_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_send_completion_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_srq_entries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rnr_timer, setup, teardown),
	};

	return cmocka_run_group_tests_name("rdma_req", tests, NULL, NULL);
}
