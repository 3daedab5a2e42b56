/* SPDX-License-Identifier: MIT */
/*
 * NVMe/RDMA transport on librdmacm and libibverbs.
 *
 * - One listener per RDMA port on reactor 0's CM event channel. A
 *   connection request is validated (rdma_proto.c), then handed to the
 *   reactor that will own the queue: its cm_id migrates to that reactor's
 *   event channel, where the QP is created and the connection accepted.
 * - One QP and CQ per fabric queue; each reactor has one completion
 *   channel per device in its epoll set, and its poller polls the CQs of
 *   its connections every turn while there is work.
 * - Receive buffers (SQE + in-capsule data) are re-posted as soon as the
 *   command has been taken out of them.
 * - Data: host writes are pulled with RDMA READ (at most the negotiated
 *   depth outstanding per QP) into a buffer of the reactor's DMA pool;
 *   host reads are pushed with RDMA WRITE from such a buffer, chained with
 *   the response SEND (Send with Invalidate when the host asked for it).
 *   The pool is registered once per device with ibv_reg_mr and is also
 *   mapped for the NVMe controllers through VFIO: the NIC and the
 *   controller use the same memory, no copy. In-capsule data (small
 *   writes) is copied once out of the receive buffer.
 * - Disconnects and QP errors move the QP to the error state; every posted
 *   work request then completes (flushed) and releases what it holds
 *   exactly once; the connection is destroyed when nothing is left.
 */
#define LOG_TAG "rdma"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <infiniband/verbs.h>
#include <netdb.h>
#include <pthread.h>
#include <rdma/rdma_cma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "common/log.h"
#include "transport/rdma.h"
#include "transport/rdma_proto.h"

#define RDMA_MIN_ICD 4096u              /* I/O Connect (1 KiB) always fits in-capsule */
#define WC_BATCH 32

enum wr_tag {
	TAG_RECV = 1,
	TAG_READ = 2,
	TAG_SEND = 3,
	TAG_MASK = 7,
};

enum rreq_state {
	RQ_FREE,
	RQ_WAIT_BUF,                    /* no data buffer yet */
	RQ_WAIT_READ,                   /* waiting for an RDMA READ slot */
	RQ_READING,
	RQ_EXEC,
	RQ_SENDING,
};

struct rdma_dev {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_mr *pool_mr[NVMF_MAX_IO_QUEUES];  /* per reactor pool */
	struct rdma_dev *next;
};

struct rdma_conn;

struct rdma_recv {
	struct rdma_conn *conn;
	uint8_t *buf;
} __attribute__((aligned(8)));

struct rdma_req {
	struct nvmf_req req;
	struct rdma_conn *conn;
	struct rdma_sgl sgl;
	enum rreq_state state;
	uint16_t status;                /* error found before execution */
	uint16_t idx;
	struct rdma_recv *held_recv;    /* receive buffer not yet re-posted (in-capsule, no buffer) */
	uint32_t held_icd;
	struct rdma_req *next;
} __attribute__((aligned(8)));

struct rdma_chan {                      /* a device's completion channel on one reactor */
	struct rdma_dev *dev;
	struct ibv_comp_channel *ch;
	struct reactor_fd rfd;
	struct rdma_chan *next;
};

struct rdma_rstate {
	struct nvmf_reactor *nr;
	struct rdma_event_channel *ec;
	struct reactor_fd ec_rfd;
	struct rdma_chan *chans;
	struct rdma_conn *conns;
	struct reactor_poller poller;
	/* disconnects asked for by the core: one message at most */
	struct nvmf_msg disconnect_msg;
	bool disconnect_queued;
};

struct rdma_conn {
	struct nvmf_sq sq;
	struct nvmf_tgt *tgt;
	struct rdma_rstate *rs;
	struct rdma_cm_id *id;
	struct rdma_dev *dev;
	struct ibv_cq *cq;
	unsigned cq_events;             /* to acknowledge before destroying the CQ */
	struct rdma_conn_params params;
	uint32_t recv_size;             /* SQE + in-capsule data */
	uint32_t max_icd;
	uint8_t *recv_area;
	struct ibv_mr *recv_mr;
	struct rdma_recv *recvs;
	struct nvme_cqe *rsp_area;
	struct ibv_mr *rsp_mr;
	struct rdma_req *reqs;
	struct rdma_req *free_reqs;
	struct rdma_req *wait_head, *wait_tail;   /* RQ_WAIT_BUF / RQ_WAIT_READ, in order */
	unsigned nreqs;
	unsigned reads_out;
	unsigned sends_out;             /* signaled send-queue WRs not completed */
	unsigned recvs_out;
	unsigned busy;
	bool disconnect_req;            /* the core asked to close it (disconnect_msg) */
	bool closing;
	bool connected;                 /* the Connect succeeded (queue_connected) */
	bool established;
	bool freed;
	char peer[64];
	uint8_t addr[16];               /* the peer's address, as admitted */
	struct reactor_timer connect_timer;  /* Fabrics Connect due */
	struct rdma_conn *next;
};

struct rdma_listener {
	struct nvmf_listener base;      /* first: transport.c allocates and keeps it */
	struct rdma_event_channel *ec;
	struct rdma_cm_id *id;
	struct reactor_fd rfd;          /* the event channel's: on reactor 0 while ec is set */
};

static pthread_mutex_t devs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rdma_dev *devs;
static unsigned nr_conns;               /* all reactors; atomic */
static unsigned next_reactor;

static void conn_close(struct rdma_conn *c, const char *why);
static int rdma_poll(void *arg);

/* --- devices and per-reactor state ------------------------------------------------ */

static struct rdma_dev *dev_get(struct ibv_context *ctx)
{
	struct rdma_dev *d;

	pthread_mutex_lock(&devs_lock);
	for (d = devs; d; d = d->next)
		if (d->ctx == ctx)
			break;
	if (!d) {
		d = calloc(1, sizeof(*d));
		if (d) {
			d->ctx = ctx;
			d->pd = ibv_alloc_pd(ctx);
			if (!d->pd) {
				free(d);
				d = NULL;
			} else {
				d->next = devs;
				devs = d;
			}
		}
	}
	pthread_mutex_unlock(&devs_lock);
	return d;
}

/* The reactor's DMA pool, registered with the device once: data buffers
 * are then usable by the NIC and the NVMe controller alike. */
static struct ibv_mr *pool_mr(struct rdma_dev *d, struct nvmf_reactor *nr)
{
	struct dma_pool *p = &nr->pool;

	if (!d->pool_mr[nr->idx]) {
		d->pool_mr[nr->idx] = ibv_reg_mr(d->pd, p->region.va, p->region.len, IBV_ACCESS_LOCAL_WRITE);
		if (!d->pool_mr[nr->idx])
			log_err("ibv_reg_mr of the data pool (%zu bytes): %s", p->region.len, strerror(errno));
		else
			log_info("reactor %u: data pool registered with %s (%zu MiB)", nr->idx,
				 ibv_get_device_name(d->ctx->device), p->region.len >> 20);
	}
	return d->pool_mr[nr->idx];
}

static void cm_event(void *arg, uint32_t events);

static struct rdma_rstate *rs_of(struct nvmf_reactor *nr)
{
	struct rdma_rstate *rs = nr->rdma;

	if (rs)
		return rs;
	rs = calloc(1, sizeof(*rs));
	if (!rs)
		return NULL;
	rs->nr = nr;
	rs->ec = rdma_create_event_channel();
	if (!rs->ec) {
		free(rs);
		return NULL;
	}
	fcntl(rs->ec->fd, F_SETFL, fcntl(rs->ec->fd, F_GETFL) | O_NONBLOCK);
	rs->ec_rfd = (struct reactor_fd){ .fd = rs->ec->fd, .events = EPOLLIN, .cb = cm_event, .arg = rs };
	reactor_add_fd(&nr->r, &rs->ec_rfd);
	rs->poller = (struct reactor_poller){ .cb = rdma_poll, .arg = rs };
	reactor_add_poller(&nr->r, &rs->poller);
	nr->rdma = rs;
	return rs;
}

static void chan_event(void *arg, uint32_t events)
{
	struct rdma_chan *ch = arg;
	struct ibv_cq *cq;
	void *ctx;

	(void)events;
	/* re-arm and let the poller, which runs next, reap the completions */
	while (ibv_get_cq_event(ch->ch, &cq, &ctx) == 0) {
		struct rdma_conn *c = ctx;

		c->cq_events++;
		ibv_req_notify_cq(cq, 0);
	}
}

static struct rdma_chan *chan_of(struct rdma_rstate *rs, struct rdma_dev *d)
{
	struct rdma_chan *ch;

	for (ch = rs->chans; ch; ch = ch->next)
		if (ch->dev == d)
			return ch;
	ch = calloc(1, sizeof(*ch));
	if (!ch)
		return NULL;
	ch->dev = d;
	ch->ch = ibv_create_comp_channel(d->ctx);
	if (!ch->ch) {
		free(ch);
		return NULL;
	}
	fcntl(ch->ch->fd, F_SETFL, fcntl(ch->ch->fd, F_GETFL) | O_NONBLOCK);
	ch->rfd = (struct reactor_fd){ .fd = ch->ch->fd, .events = EPOLLIN, .cb = chan_event, .arg = ch };
	reactor_add_fd(&rs->nr->r, &ch->rfd);
	ch->next = rs->chans;
	rs->chans = ch;
	return ch;
}

/* --- requests ----------------------------------------------------------------------- */

static int post_recv(struct rdma_conn *c, struct rdma_recv *rv)
{
	struct ibv_sge sge = { .addr = (uintptr_t)rv->buf, .length = c->recv_size, .lkey = c->recv_mr->lkey };
	struct ibv_recv_wr wr = { .wr_id = (uintptr_t)rv | TAG_RECV, .sg_list = &sge, .num_sge = 1 }, *bad;

	if (c->closing)
		return 0;
	if (ibv_post_recv(c->id->qp, &wr, &bad)) {
		log_err("%s: ibv_post_recv: %s", c->peer, strerror(errno));
		return -EIO;
	}
	c->recvs_out++;
	return 0;
}

static void conn_maybe_free(struct rdma_conn *c);

static void req_release(struct rdma_req *r)
{
	struct rdma_conn *c = r->conn;

	if (r->req.buf) {
		nvmf_sq_buf_put(&c->sq, r->req.buf);
		r->req.buf = NULL;
	}
	if (r->held_recv) {
		post_recv(c, r->held_recv);
		r->held_recv = NULL;
	}
	r->state = RQ_FREE;
	r->next = c->free_reqs;
	c->free_reqs = r;
	c->busy--;
	conn_maybe_free(c);
}

static void wait_push(struct rdma_conn *c, struct rdma_req *r)
{
	r->next = NULL;
	if (c->wait_tail)
		c->wait_tail->next = r;
	else
		c->wait_head = r;
	c->wait_tail = r;
}

static void start_exec(struct rdma_req *r)
{
	struct rdma_conn *c = r->conn;

	r->state = RQ_EXEC;
	if (r->status) {
		nvmf_req_complete(&r->req, r->status);
		return;
	}
	nvmf_req_execute(&r->req);
	(void)c;
}

static int post_read(struct rdma_req *r)
{
	struct rdma_conn *c = r->conn;
	struct ibv_mr *mr = pool_mr(c->dev, c->rs->nr);
	struct ibv_sge sge;
	struct ibv_send_wr wr = { 0 }, *bad;

	if (!mr)
		return -ENOMEM;
	sge = (struct ibv_sge){ .addr = (uintptr_t)r->req.buf, .length = r->req.len, .lkey = mr->lkey };
	wr.wr_id = (uintptr_t)r | TAG_READ;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = IBV_WR_RDMA_READ;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.wr.rdma.remote_addr = r->sgl.addr;
	wr.wr.rdma.rkey = r->sgl.key;
	if (ibv_post_send(c->id->qp, &wr, &bad)) {
		log_err("%s: RDMA READ post: %s", c->peer, strerror(errno));
		return -EIO;
	}
	r->state = RQ_READING;
	c->reads_out++;
	c->sends_out++;
	return 0;
}

/* Give buffers and READ slots to waiting requests, in arrival order. */
static int run_waiters(struct rdma_conn *c)
{
	int work = 0;

	while (c->wait_head && !c->closing) {
		struct rdma_req *r = c->wait_head;

		if (r->state == RQ_WAIT_BUF) {
			r->req.buf = nvmf_sq_buf_get(&c->sq, &r->req.buf_iova);
			if (!r->req.buf)
				break;
			if (r->held_recv) {
				/* in-capsule data: the one copy, out of the receive buffer */
				memcpy(r->req.buf, r->held_recv->buf + sizeof(struct nvme_sqe), r->held_icd);
				post_recv(c, r->held_recv);
				r->held_recv = NULL;
			}
			r->state = r->sgl.keyed && r->req.xfer == NVMF_XFER_H2C && !r->status ? RQ_WAIT_READ
											     : RQ_EXEC;
		}
		if (r->state == RQ_WAIT_READ) {
			if (c->reads_out >= c->params.read_depth)
				break;
			c->wait_head = r->next;
			if (!c->wait_head)
				c->wait_tail = NULL;
			if (post_read(r))
				conn_close(c, "cannot post RDMA READ");
			work++;
			continue;
		}
		c->wait_head = r->next;
		if (!c->wait_head)
			c->wait_tail = NULL;
		start_exec(r);
		work++;
	}
	return work;
}

static void handle_command(struct rdma_conn *c, struct rdma_recv *rv, uint32_t byte_len)
{
	struct rdma_req *r = c->free_reqs;
	uint32_t icd;

	if (byte_len < sizeof(struct nvme_sqe) || !r) {
		/* a runt capsule, or more commands than the queue has entries */
		log_warn("%s: %s; disconnecting", c->peer, r ? "capsule shorter than an SQE" : "queue overrun");
		conn_close(c, "protocol error");
		return;
	}
	c->free_reqs = r->next;
	c->busy++;
	memset(&r->req, 0, sizeof(r->req));
	r->req.sq = &c->sq;
	r->req.tpriv = r;
	r->status = 0;
	r->held_recv = NULL;
	memcpy(&r->req.cmd, rv->buf, sizeof(r->req.cmd));
	icd = byte_len - (uint32_t)sizeof(struct nvme_sqe);
	r->status = nvmf_req_prepare(&r->req, icd, c->max_icd);
	if (!r->status)
		r->status = rdma_decode_sgl(&r->req.cmd, icd, &r->sgl);
	if (!r->status && icd) {
		/* keep the receive buffer until the data is copied out */
		r->held_recv = rv;
		r->held_icd = r->req.len;
	} else {
		post_recv(c, rv);
	}
	if (r->status || !r->req.len) {
		if (r->held_recv) {
			post_recv(c, r->held_recv);
			r->held_recv = NULL;
		}
		start_exec(r);
		return;
	}
	r->state = RQ_WAIT_BUF;
	wait_push(c, r);
	run_waiters(c);
}

/* nvmf_transport_ops.complete */
static void rdma_complete(struct nvmf_req *nr)
{
	struct rdma_req *r = nr->tpriv;
	struct rdma_conn *c = r->conn;
	struct nvme_cqe *rsp = &c->rsp_area[r->idx];
	struct ibv_sge wsge, ssge;
	struct ibv_send_wr write = { 0 }, send = { 0 }, *first = &send, *bad;
	struct ibv_mr *mr;

	if (c->closing) {
		req_release(r);
		return;
	}
	*rsp = nr->rsp;
	ssge = (struct ibv_sge){ .addr = (uintptr_t)rsp, .length = sizeof(*rsp), .lkey = c->rsp_mr->lkey };
	send.wr_id = (uintptr_t)r | TAG_SEND;
	send.sg_list = &ssge;
	send.num_sge = 1;
	send.send_flags = IBV_SEND_SIGNALED;
	if (r->sgl.invalidate) {
		send.opcode = IBV_WR_SEND_WITH_INV;
		send.invalidate_rkey = r->sgl.key;
	} else {
		send.opcode = IBV_WR_SEND;
	}
	if (nr->xfer == NVMF_XFER_C2H && nr->len && NVME_CQE_STATUS(&nr->rsp) == 0 && r->sgl.keyed) {
		mr = pool_mr(c->dev, c->rs->nr);
		if (!mr) {
			req_release(r);
			conn_close(c, "no memory registration");
			return;
		}
		/* the data first, then the response on the same QP: RC keeps order */
		wsge = (struct ibv_sge){ .addr = (uintptr_t)nr->buf, .length = nr->len, .lkey = mr->lkey };
		write.wr_id = (uintptr_t)r;
		write.sg_list = &wsge;
		write.num_sge = 1;
		write.opcode = IBV_WR_RDMA_WRITE;
		write.wr.rdma.remote_addr = r->sgl.addr;
		write.wr.rdma.rkey = r->sgl.key;
		write.next = &send;
		first = &write;
	}
	r->state = RQ_SENDING;
	if (ibv_post_send(c->id->qp, first, &bad)) {
		log_err("%s: post send: %s", c->peer, strerror(errno));
		req_release(r);
		conn_close(c, "cannot post a send");
		return;
	}
	c->sends_out++;
}

/* --- completions ---------------------------------------------------------------------- */

static void handle_wc(struct rdma_conn *c, const struct ibv_wc *wc)
{
	unsigned tag = wc->wr_id & TAG_MASK;
	void *ptr = (void *)(uintptr_t)(wc->wr_id & ~(uint64_t)TAG_MASK);

	switch (tag) {
	case TAG_RECV:
		c->recvs_out--;
		if (wc->status == IBV_WC_SUCCESS && !c->closing)
			handle_command(c, ptr, wc->byte_len);
		break;
	case TAG_READ: {
		struct rdma_req *r = ptr;

		c->reads_out--;
		c->sends_out--;
		if (wc->status != IBV_WC_SUCCESS || c->closing) {
			req_release(r);
		} else {
			start_exec(r);
		}
		run_waiters(c);
		break;
	}
	case TAG_SEND:
		c->sends_out--;
		req_release(ptr);
		break;
	default:
		/* unsignaled RDMA WRITE that failed: only its error shows up */
		break;
	}
	if (wc->status != IBV_WC_SUCCESS && wc->status != IBV_WC_WR_FLUSH_ERR && !c->closing) {
		log_warn("%s: work completion error: %s", c->peer, ibv_wc_status_str(wc->status));
		conn_close(c, "work completion error");
	}
}

static int poll_conn(struct rdma_conn *c)
{
	struct ibv_wc wc[WC_BATCH];
	int n, total = 0;

	do {
		n = ibv_poll_cq(c->cq, WC_BATCH, wc);
		for (int i = 0; i < n; i++)
			handle_wc(c, &wc[i]);
		total += n > 0 ? n : 0;
	} while (n == WC_BATCH);
	return total;
}

/* --- connection lifetime ------------------------------------------------------------------ */

/* What a connection holds of the NIC and memory, then the connection:
 * also for one that was never accepted (no events, not on a reactor). */
static void conn_free_verbs(struct rdma_conn *c)
{
	if (c->id && c->id->qp)
		rdma_destroy_qp(c->id);
	if (c->cq) {
		ibv_ack_cq_events(c->cq, c->cq_events);
		ibv_destroy_cq(c->cq);
	}
	if (c->recv_mr)
		ibv_dereg_mr(c->recv_mr);
	if (c->rsp_mr)
		ibv_dereg_mr(c->rsp_mr);
	free(c->recv_area);
	free(c->rsp_area);
	free(c->recvs);
	free(c->reqs);
}

static void conn_destroy(struct rdma_conn *c)
{
	struct rdma_rstate *rs = c->rs;

	for (struct rdma_conn **pp = &rs->conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			__atomic_sub_fetch(&nr_conns, 1, __ATOMIC_RELAXED);
			break;
		}
	}
	conn_free_verbs(c);
	if (c->id)
		rdma_destroy_id(c->id);
	reactor_timer_stop(&rs->nr->r, &c->connect_timer);
	nvmf_sq_fini(&c->sq);
	nvmf_conn_release(c->sq.port, c->addr);
	free(c);
}

/* Everything posted has come back and nothing is in a backend: go. */
static void conn_maybe_free(struct rdma_conn *c)
{
	if (!c->closing || c->freed || c->busy || c->sends_out || c->recvs_out)
		return;
	c->freed = true;        /* the poller destroys it: never under a caller */
}

static void conn_close(struct rdma_conn *c, const char *why)
{
	struct ibv_qp_attr attr = { .qp_state = IBV_QPS_ERR };

	if (c->closing)
		return;
	c->closing = true;
	log_peer_info(c->sq.peer_ip, "%s: connection closed (%s)%s", c->peer, why, c->connected ? "" : " before Connect");
	reactor_timer_stop(&c->rs->nr->r, &c->connect_timer);
	nvmf_sq_buf_cancel(&c->sq);
	rdma_disconnect(c->id);
	/* every posted work request completes now, flushed */
	if (c->id->qp)
		ibv_modify_qp(c->id->qp, &attr, IBV_QP_STATE);
	c->busy++;              /* hold the connection during the sweep */
	while (c->wait_head) {
		struct rdma_req *r = c->wait_head;

		c->wait_head = r->next;
		req_release(r);
	}
	c->wait_tail = NULL;
	nvmf_sq_destroy(&c->sq);
	c->busy--;
	conn_maybe_free(c);
}

/* The flag is cleared before the connections are looked at (both
 * sequentially consistent): a request made meanwhile is either seen here
 * or finds the flag clear and posts the message again. */
static void disconnect_msg(void *arg)
{
	struct rdma_rstate *rs = arg;

	__atomic_store_n(&rs->disconnect_queued, false, __ATOMIC_SEQ_CST);
	for (struct rdma_conn *c = rs->conns; c; c = c->next) {
		if (__atomic_exchange_n(&c->disconnect_req, false, __ATOMIC_SEQ_CST)) {
			conn_close(c, "controller teardown");
			conn_maybe_free(c);
		}
	}
}

/* nvmf_transport_ops.disconnect: on the connection's own reactor, by a
 * flag and the reactor's one disconnect message, which finds the
 * connection by the flag (nothing points at a connection freed
 * meanwhile) and cannot fail: a teardown must not lose a disconnect. */
static void rdma_disconnect_sq(struct nvmf_sq *sq)
{
	struct rdma_conn *c = sq->tconn;
	struct rdma_rstate *rs = c->rs;

	__atomic_store_n(&c->disconnect_req, true, __ATOMIC_SEQ_CST);
	if (__atomic_exchange_n(&rs->disconnect_queued, true, __ATOMIC_SEQ_CST))
		return;         /* queued, and not started yet: it will see the flag */
	rs->disconnect_msg = (struct nvmf_msg){ .fn = disconnect_msg, .arg = rs };
	nvmf_reactor_post(rs->nr, &rs->disconnect_msg);
}

/* nvmf_transport_ops.req_drop: an AER the core held, never to be answered */
static void rdma_req_drop(struct nvmf_req *nr)
{
	req_release(nr->tpriv);
}

/* nvmf_transport_ops.queue_connected: the Connect deadline is met */
static int rdma_queue_connected(struct nvmf_sq *sq)
{
	struct rdma_conn *c = sq->tconn;

	reactor_timer_stop(&c->rs->nr->r, &c->connect_timer);
	c->connected = true;
	return 0;
}

static void connect_overdue(void *arg)
{
	struct rdma_conn *c = arg;

	nvmf_count_refused(c->sq.port->tgt, NVMF_REFUSE_CONNECT_TIMEOUT);
	conn_close(c, "no Connect in time");
	conn_maybe_free(c);
}

static int rdma_poll(void *arg)
{
	struct rdma_rstate *rs = arg;
	int work = 0;

	for (struct rdma_conn *c = rs->conns, *next; c; c = next) {
		next = c->next;
		if (c->cq)
			work += poll_conn(c);
		if (!c->closing)
			work += run_waiters(c);
		else
			conn_maybe_free(c);     /* the last flushed receive may just have come back */
		if (c->freed)
			conn_destroy(c);
	}
	return work;
}

/* --- connection setup ----------------------------------------------------------------------- */

struct conn_request {
	struct nvmf_port *port;
	struct rdma_cm_id *id;
	uint8_t addr[16];
	uint8_t pd[64];
	uint8_t pd_len;
	uint8_t initiator_depth;
	uint8_t responder_resources;
};

static void reject(struct rdma_cm_id *id, int status, const char *why)
{
	struct nvme_rdma_cm_rej rej;

	rdma_fill_reject(&rej, status);
	log_peer_notice("rdma", "connection request refused: %s (NVMe/RDMA status %d)", why, status);
	rdma_reject(id, &rej, sizeof(rej));
	rdma_destroy_id(id);
}

static int conn_alloc(struct rdma_conn *c)
{
	unsigned n = c->params.queue_size;

	c->nreqs = n;
	c->recv_area = aligned_alloc(64, (size_t)n * c->recv_size);
	c->recvs = calloc(n, sizeof(*c->recvs));
	c->rsp_area = aligned_alloc(64, ((size_t)n * sizeof(struct nvme_cqe) + 63) & ~(size_t)63);
	c->reqs = calloc(n, sizeof(*c->reqs));
	if (!c->recv_area || !c->recvs || !c->rsp_area || !c->reqs)
		return -ENOMEM;
	c->recv_mr = ibv_reg_mr(c->dev->pd, c->recv_area, (size_t)n * c->recv_size, IBV_ACCESS_LOCAL_WRITE);
	c->rsp_mr = ibv_reg_mr(c->dev->pd, c->rsp_area, (size_t)n * sizeof(struct nvme_cqe), IBV_ACCESS_LOCAL_WRITE);
	if (!c->recv_mr || !c->rsp_mr)
		return -errno;
	for (unsigned i = n; i-- > 0;) {
		c->recvs[i] = (struct rdma_recv){ .conn = c, .buf = c->recv_area + (size_t)i * c->recv_size };
		c->reqs[i].conn = c;
		c->reqs[i].idx = (uint16_t)i;
		c->reqs[i].next = c->free_reqs;
		c->free_reqs = &c->reqs[i];
	}
	return 0;
}


static void peer_name(struct rdma_cm_id *id, char *out, size_t len)
{
	struct sockaddr *sa = rdma_get_peer_addr(id);
	char host[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, host, sizeof(host));
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, host, sizeof(host));
	snprintf(out, len, "rdma %s:%u", host, ntohs((NVME_FORCE uint16_t)rdma_get_dst_port(id)));
}

/* QP, CQ, buffers; posts the receives. Returns NULL and an NVMe/RDMA
 * reject status in *st on failure (nothing left allocated). */
static struct rdma_conn *conn_create(struct rdma_rstate *rs, struct conn_request *cr, int *st)
{
	struct rdma_cm_id *id = cr->id;
	struct nvmf_port *p = cr->port;
	struct ibv_qp_init_attr qa = { 0 };
	struct rdma_conn *c = calloc(1, sizeof(*c));
	struct rdma_chan *ch;

	*st = NVME_RDMA_CM_NO_RSC;
	if (!c)
		return NULL;
	*st = rdma_check_conn_req(cr->pd, cr->pd_len, cr->initiator_depth, NVMF_ADMIN_QUEUE_DEPTH,
				  NVMF_MAX_QUEUE_DEPTH, &c->params);
	if (*st) {
		free(c);
		return NULL;
	}
	*st = NVME_RDMA_CM_NO_RSC;
	peer_name(id, c->peer, sizeof(c->peer));
	memcpy(c->addr, cr->addr, sizeof(c->addr));
	{
		struct sockaddr *sa = rdma_get_peer_addr(id);
		struct sockaddr_storage ss = { 0 };

		memcpy(&ss, sa, sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
		nvmf_addr_str(&ss, c->sq.peer_ip, sizeof(c->sq.peer_ip));
	}
	c->tgt = p->tgt;
	c->rs = rs;
	c->id = id;
	c->dev = dev_get(id->verbs);
	/* in-capsule data: the configured size on I/O queues (at least 4 KiB
	 * so an I/O Connect fits), 4 KiB on the admin queue */
	c->max_icd = c->params.qid && p->inline_data_size > RDMA_MIN_ICD ? p->inline_data_size : RDMA_MIN_ICD;
	c->recv_size = (uint32_t)sizeof(struct nvme_sqe) + c->max_icd;
	c->sq.port = p;
	c->sq.ops = &nvmf_rdma_transport;
	c->sq.tconn = c;
	c->sq.reactor = rs->nr;
	c->sq.keyed_sgl = true;
	snprintf(c->sq.peer, sizeof(c->sq.peer), "%s", c->peer);
	snprintf(c->sq.local_addr, sizeof(c->sq.local_addr), "%s", p->addr.traddr);
	ch = c->dev ? chan_of(rs, c->dev) : NULL;
	if (!ch || conn_alloc(c) || !pool_mr(c->dev, rs->nr))
		goto fail;
	/* a READ, or a WRITE and a SEND, per command, plus the receives */
	c->cq = ibv_create_cq(id->verbs, (int)(4 * c->params.queue_size + 8), c, ch->ch, 0);
	if (!c->cq)
		goto fail;
	ibv_req_notify_cq(c->cq, 0);
	qa.send_cq = c->cq;
	qa.recv_cq = c->cq;
	qa.qp_type = IBV_QPT_RC;
	qa.cap.max_send_wr = 3u * c->params.queue_size + 4;
	qa.cap.max_recv_wr = c->params.queue_size;
	qa.cap.max_send_sge = 1;
	qa.cap.max_recv_sge = 1;
	if (rdma_create_qp(id, c->dev->pd, &qa)) {
		log_warn("%s: rdma_create_qp: %s", c->peer, strerror(errno));
		goto fail;
	}
	for (unsigned i = 0; i < c->params.queue_size; i++)
		if (post_recv(c, &c->recvs[i]))
			goto fail;
	id->context = c;
	return c;
fail:
	conn_free_verbs(c);
	free(c);
	return NULL;
}

/* On the reactor that owns the new queue. */
static void conn_setup(void *arg)
{
	struct conn_request *cr = arg;
	struct rdma_rstate *rs = rs_of(nvmf_this_reactor);
	struct rdma_conn_param param = { 0 };
	struct nvme_rdma_cm_rep rep;
	struct rdma_conn *c;
	int st = NVME_RDMA_CM_NO_RSC;

	if (!rs || rdma_migrate_id(cr->id, rs->ec)) {
		reject(cr->id, NVME_RDMA_CM_NO_RSC, "cannot take the connection on its reactor");
		nvmf_conn_release(cr->port, cr->addr);
		goto out;
	}
	c = conn_create(rs, cr, &st);
	if (!c) {
		reject(cr->id, st, st == NVME_RDMA_CM_NO_RSC ? "no resources for the queue"
							      : "invalid connection request");
		nvmf_conn_release(cr->port, cr->addr);
		goto out;
	}
	rdma_fill_accept(&rep, c->params.queue_size);
	param.private_data = &rep;
	param.private_data_len = sizeof(rep);
	param.initiator_depth = c->params.read_depth;
	param.responder_resources = cr->responder_resources;
	param.rnr_retry_count = 7;
	param.flow_control = 1;
	c->next = rs->conns;
	rs->conns = c;
	__atomic_add_fetch(&nr_conns, 1, __ATOMIC_RELAXED);
	/* accepted, but nothing is served before a Connect: bound the wait */
	reactor_timer_start(&rs->nr->r, &c->connect_timer,
			    __atomic_load_n(&cr->port->tgt->limits.connect_timeout_ms, __ATOMIC_RELAXED), 0,
			    connect_overdue, c);
	if (rdma_accept(cr->id, &param)) {
		log_warn("%s: rdma_accept: %s", c->peer, strerror(errno));
		conn_close(c, "accept failed");
		goto out;
	}
	log_info("%s: queue %u of %u entries accepted on port %u (reactor %u, RDMA READ depth %u, in-capsule %u)",
		 c->peer, c->params.qid, c->params.queue_size, cr->port->portid, rs->nr->idx, c->params.read_depth,
		 c->max_icd);
out:
	free(cr);
}

/* Returns true when the refused id must be destroyed once the event is
 * acknowledged (rdma_destroy_id waits for that: never before). */
static bool handle_connect_request(struct nvmf_port *p, struct rdma_cm_event *ev)
{
	struct nvmf_tgt *t = p->tgt;
	struct conn_request *cr = calloc(1, sizeof(*cr));
	unsigned k = next_reactor++ % t->nr_reactors;
	struct sockaddr *sa = rdma_get_peer_addr(ev->id);
	struct sockaddr_storage ss = { 0 };
	const char *why;

	if (!cr) {
		rdma_reject(ev->id, NULL, 0);
		return true;
	}
	memcpy(&ss, sa, sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	nvmf_addr_key(&ss, cr->addr);
	if (nvmf_conn_admit(p, cr->addr, &why)) {
		char ip[48];

		nvmf_addr_str(&ss, ip, sizeof(ip));
		log_peer_notice(ip, "rdma %s: connection refused on port %u: %s reached", ip, p->portid, why);
		rdma_reject(ev->id, NULL, 0);
		free(cr);
		return true;
	}
	cr->port = p;
	cr->id = ev->id;
	cr->pd_len = ev->param.conn.private_data_len < sizeof(cr->pd) ? ev->param.conn.private_data_len
								       : sizeof(cr->pd);
	if (ev->param.conn.private_data)
		memcpy(cr->pd, ev->param.conn.private_data, cr->pd_len);
	cr->initiator_depth = ev->param.conn.initiator_depth;
	cr->responder_resources = ev->param.conn.responder_resources;
	/* the event is acknowledged by the caller before the id migrates
	 * (conn_setup runs later, also on this reactor when k is 0) */
	if (nvmf_reactor_call(&t->reactors[k], conn_setup, cr)) {
		rdma_reject(ev->id, NULL, 0);
		nvmf_conn_release(p, cr->addr);
		free(cr);
		return true;
	}
	return false;
}

/* CM events on a reactor's channel (listeners on reactor 0, connections on
 * their owners) */
static void process_cm(struct rdma_event_channel *ec, struct nvmf_port *listener_port)
{
	struct rdma_cm_event *ev;

	while (rdma_get_cm_event(ec, &ev) == 0) {
		struct rdma_conn *c = ev->id->context;
		enum rdma_cm_event_type type = ev->event;

		if (type == RDMA_CM_EVENT_CONNECT_REQUEST) {
			struct nvmf_port *p = listener_port ? listener_port : ev->listen_id->context;
			struct rdma_cm_id *id = ev->id;
			bool refused = handle_connect_request(p, ev);

			rdma_ack_cm_event(ev);
			if (refused)
				rdma_destroy_id(id);
			continue;
		}
		rdma_ack_cm_event(ev);
		if (!c || listener_port)
			continue;
		switch (type) {
		case RDMA_CM_EVENT_ESTABLISHED:
			c->established = true;
			break;
		case RDMA_CM_EVENT_DISCONNECTED:
		case RDMA_CM_EVENT_TIMEWAIT_EXIT:
		case RDMA_CM_EVENT_DEVICE_REMOVAL:
		case RDMA_CM_EVENT_CONNECT_ERROR:
		case RDMA_CM_EVENT_UNREACHABLE:
		case RDMA_CM_EVENT_REJECTED:
			conn_close(c, rdma_event_str(type));
			break;
		default:
			break;
		}
	}
}

static void cm_event(void *arg, uint32_t events)
{
	struct rdma_rstate *rs = arg;

	(void)events;
	process_cm(rs->ec, NULL);
}

static void listener_event(void *arg, uint32_t events)
{
	struct rdma_listener *l = arg;

	(void)events;
	process_cm(l->ec, l->base.port);
}

/* --- listeners ------------------------------------------------------------------------------- */

/* nvmf_transport_ops.listen: the event channel once, then an id bound to
 * the address (again on each retry) */
static int rdma_port_listen(struct nvmf_listener *base, char *err, size_t errlen)
{
	struct rdma_listener *l = (struct rdma_listener *)base;
	struct nvmf_port *p = base->port;
	const struct cfg_addr *a = &p->addr;
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE };
	struct addrinfo *ai;
	int rc;

	if (!l->ec) {
		l->ec = rdma_create_event_channel();
		if (!l->ec) {
			snprintf(err, errlen, "rdma_create_event_channel: %s (is rdma_ucm loaded?)", strerror(errno));
			return -ENODEV;
		}
		fcntl(l->ec->fd, F_SETFL, fcntl(l->ec->fd, F_GETFL) | O_NONBLOCK);
		l->rfd = (struct reactor_fd){ .fd = l->ec->fd, .events = EPOLLIN, .cb = listener_event, .arg = l };
		rc = reactor_add_fd(&p->tgt->reactors[0].r, &l->rfd);
		if (rc) {
			snprintf(err, errlen, "%s:%s (rdma): epoll: %s", a->traddr, a->trsvcid, strerror(-rc));
			rdma_destroy_event_channel(l->ec);
			l->ec = NULL;
			return rc;
		}
	}
	hints.ai_family = a->adrfam == CFG_ADRFAM_IPV6 ? AF_INET6 : AF_INET;
	rc = getaddrinfo(a->traddr, a->trsvcid, &hints, &ai);
	if (rc) {
		snprintf(err, errlen, "%s:%s: %s", a->traddr, a->trsvcid, gai_strerror(rc));
		return -EINVAL;
	}
	rc = rdma_create_id(l->ec, &l->id, p, RDMA_PS_TCP);
	if (!rc)
		rc = rdma_bind_addr(l->id, ai->ai_addr);
	if (!rc)
		rc = rdma_listen(l->id, 128);
	freeaddrinfo(ai);
	if (rc) {
		bool not_yet = errno == EADDRNOTAVAIL || errno == ENODEV;

		snprintf(err, errlen, "%s:%s (rdma): %s%s", a->traddr, a->trsvcid, strerror(errno),
			 not_yet ? " (no RDMA device has this address yet)" : "");
		if (l->id)
			rdma_destroy_id(l->id);
		l->id = NULL;
		/* transport.c tries again later */
		return not_yet ? -EADDRNOTAVAIL : -errno;
	}
	log_notice("listening on %s:%s (rdma, port %u%s)", a->traddr, a->trsvcid, p->portid,
		   l->id->verbs ? "" : ", no device bound yet");
	return 0;
}

/* nvmf_transport_ops.unlisten */
static void rdma_port_unlisten(struct nvmf_listener *base, bool removed)
{
	struct rdma_listener *l = (struct rdma_listener *)base;

	(void)removed;          /* nothing is kept for a restart */
	if (l->ec)
		reactor_del_fd(&base->port->tgt->reactors[0].r, &l->rfd);
	if (l->id)
		rdma_destroy_id(l->id);
	if (l->ec)
		rdma_destroy_event_channel(l->ec);
	l->id = NULL;
	l->ec = NULL;
}

/* nvmf_transport_ops.close_port, on reactor nr */
static void rdma_close_port(struct nvmf_reactor *nr, struct nvmf_port *p)
{
	struct rdma_rstate *rs = nr->rdma;

	for (struct rdma_conn *c = rs ? rs->conns : NULL; c; c = c->next)
		if (c->sq.port == p)
			conn_close(c, "port removed");
}

/* nvmf_transport_ops.reactor_drain */
static void rdma_reactor_drain(struct nvmf_reactor *nr)
{
	struct rdma_rstate *rs = nr->rdma;

	for (struct rdma_conn *c = rs ? rs->conns : NULL; c; c = c->next)
		conn_close(c, "target shutting down");
}

/* nvmf_transport_ops.reactor_idle */
static bool rdma_reactor_idle(struct nvmf_reactor *nr)
{
	struct rdma_rstate *rs = nr->rdma;

	if (rs)
		rdma_poll(rs);  /* flushed completions release the last ones */
	return !rs || !rs->conns;
}

/* nvmf_transport_ops.reactor_fini */
static void rdma_reactor_fini(struct nvmf_reactor *nr)
{
	struct rdma_rstate *rs = nr->rdma;

	if (!rs)
		return;
	while (rs->conns) {
		struct rdma_conn *c = rs->conns;

		log_warn("%s: %u command(s) still in flight at shutdown", c->peer, c->busy);
		conn_destroy(c);
	}
	reactor_del_poller(&nr->r, &rs->poller);
	reactor_del_fd(&nr->r, &rs->ec_rfd);
	while (rs->chans) {
		struct rdma_chan *ch = rs->chans;

		rs->chans = ch->next;
		reactor_del_fd(&nr->r, &ch->rfd);
		ibv_destroy_comp_channel(ch->ch);
		free(ch);
	}
	rdma_destroy_event_channel(rs->ec);
	free(rs);
	nr->rdma = NULL;
}

/* nvmf_transport_ops.fini: protection domains and memory registrations */
static void rdma_fini(void)
{
	pthread_mutex_lock(&devs_lock);
	while (devs) {
		struct rdma_dev *d = devs;

		devs = d->next;
		for (unsigned i = 0; i < NVMF_MAX_IO_QUEUES; i++)
			if (d->pool_mr[i])
				ibv_dereg_mr(d->pool_mr[i]);
		ibv_dealloc_pd(d->pd);
		free(d);
	}
	pthread_mutex_unlock(&devs_lock);
}

/* nvmf_transport_ops.nr_conns */
static unsigned rdma_nr_conns(void)
{
	return __atomic_load_n(&nr_conns, __ATOMIC_RELAXED);
}

/* TSAS of a discovery log entry: reliable connected QPs, no particular
 * provider, connection through RDMA_CM */
static void rdma_disc_tsas(const struct cfg_addr *a, uint8_t tsas[256])
{
	(void)a;
	tsas[0] = 1;            /* RDMA_QPTYPE: reliable connected */
	tsas[1] = 1;            /* RDMA_PRTYPE: not specified */
	tsas[2] = 1;            /* RDMA_CMS: RDMA_CM */
}

const struct nvmf_transport_ops nvmf_rdma_transport = {
	.name = "rdma",
	.trtype = CFG_TRTYPE_RDMA,
	.listener_size = sizeof(struct rdma_listener),
	.listen = rdma_port_listen,
	.unlisten = rdma_port_unlisten,
	.close_port = rdma_close_port,
	.reactor_drain = rdma_reactor_drain,
	.reactor_idle = rdma_reactor_idle,
	.reactor_fini = rdma_reactor_fini,
	.fini = rdma_fini,
	.nr_conns = rdma_nr_conns,
	.sgls = 1u << 2,                /* keyed SGL data blocks (the Linux RDMA host requires them) */
	.disc_tsas = rdma_disc_tsas,
	.complete = rdma_complete,
	.disconnect = rdma_disconnect_sq,
	.queue_connected = rdma_queue_connected,
	.req_drop = rdma_req_drop,
};
