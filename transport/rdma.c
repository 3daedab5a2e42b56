/* SPDX-License-Identifier: MIT */
/*
 * NVMe/RDMA transport on librdmacm and libibverbs.
 *
 * - One listener per RDMA port on reactor 0's CM event channel. A
 *   connection request is validated (rdma_proto.c), then handed to the
 *   reactor that will own the queue: its cm_id migrates to that reactor's
 *   event channel, where the QP is created and the connection accepted.
 * - One QP per fabric queue. Per reactor and device there is one CQ (send
 *   and receive completions of all the reactor's QPs on that device), one
 *   completion channel in the reactor's epoll set, and one shared receive
 *   queue (SRQ) per receive size: the buffers a capsule (SQE + in-capsule
 *   data) lands in are shared by the queues, grow by each new queue's depth
 *   up to a bound (RDMA_SRQ_MAX_BUFS, RDMA_SRQ_MAX_BYTES, or
 *   bridge.rdma_srq_size) and stay with the reactor. A receive completion
 *   finds its queue by QP number.
 * - The receive buffers given back go to their SRQ in one list, before
 *   any response (the host may answer it with a capsule at once) or at the
 *   turn's end (rdma_post, the output phase). Sends are posted when
 *   ready, one list per request (RDMA READ, or RDMA WRITE + response SEND):
 *   gathering a turn's sends into one post measured slower on soft-RoCE
 *   (see tx_post).
 * - Data: host writes are pulled with RDMA READ (at most the negotiated
 *   depth outstanding per QP) into a buffer of the reactor's DMA pool;
 *   host reads are pushed with RDMA WRITE from such a buffer, chained with
 *   the response SEND (Send with Invalidate when the host asked for it).
 *   The pool is registered once per device with ibv_reg_mr and is also
 *   mapped for the NVMe controllers through VFIO: the NIC and the
 *   controller use the same memory, no copy. In-capsule data (small
 *   writes) is copied once out of the receive buffer.
 * - Disconnects and QP errors move the QP to the error state; every posted
 *   send work request then completes (flushed) and releases what it holds
 *   exactly once, and the connection is destroyed when nothing is left.
 *   Receives belong to the SRQ, not the QP: a receive completion of a queue
 *   that is closing or gone gives its buffer back to the SRQ.
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
#define WC_MAX_PER_TURN 128             /* then the other pollers have their turn */
#define RDMA_SRQ_MAX_BUFS 4096u         /* receive buffers of one size per reactor and device */
#define RDMA_SRQ_MAX_BYTES (32u << 20)  /* ... and their memory */
#define RDMA_SRQ_MIN_BUFS 64u
/* The RNR NAK timer (IB encoding): 6 = 0.08 ms, 12 = 0.64 ms, 0 = 655 ms */
#define RDMA_MIN_RNR_TIMER 6
#define RDMA_CQ_MIN 1024u
#define QP_HASH 64u

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
	unsigned max_cqe, max_srq_wr;
	struct rdma_dev *next;
};

struct rdma_conn;
struct rdma_srq;

/* A receive buffer of an SRQ, with the work request that posts it. */
struct rdma_recv {
	struct ibv_recv_wr wr;          /* wr.next links the SRQ's re-post list */
	struct ibv_sge sge;
	struct rdma_srq *srq;
	uint8_t *buf;
} __attribute__((aligned(8)));

struct rdma_rchunk {                    /* receive buffers added to an SRQ at once */
	uint8_t *area;
	struct ibv_mr *mr;
	struct rdma_recv *recvs;
	struct rdma_rchunk *next;
};

struct rdma_srq {                       /* receives of one size, shared by one reactor's QPs on a device */
	struct ibv_srq *srq;
	uint32_t recv_size;
	unsigned nr_bufs, max_bufs;
	struct rdma_rchunk *chunks;
	struct ibv_recv_wr *repost;     /* done with: posted in one list before a response or in the output phase */
	struct ibv_recv_wr **repost_tail;
	bool post_failed;               /* logged once */
	unsigned entries;               /* the queue entries of the QPs on it */
	bool over_warned;               /* entries > max_bufs logged once */
	struct rdma_srq *next;
};

struct rdma_req {
	struct nvmf_req req;
	struct rdma_conn *conn;
	struct rdma_sgl sgl;
	enum rreq_state state;
	uint16_t status;                /* error found before execution */
	uint16_t idx;
	struct rdma_recv *held_recv;    /* receive buffer not yet given back (in-capsule, no buffer) */
	uint32_t held_icd;
	struct rdma_req *next;
} __attribute__((aligned(8)));

struct rdma_rstate;

struct rdma_rdev {                      /* one device on one reactor */
	struct rdma_dev *dev;
	struct ibv_comp_channel *ch;
	struct reactor_fd rfd;
	struct ibv_cq *cq;              /* every QP of the reactor on the device, send and receive */
	unsigned cq_size;
	unsigned cq_need;               /* completions that can be due at once: SRQ buffers + send queues */
	unsigned cq_events;             /* to acknowledge before destroying the CQ */
	struct rdma_srq *srqs;
	struct rdma_rdev *next;
};

struct rdma_rstate {
	struct nvmf_reactor *nr;
	struct rdma_event_channel *ec;
	struct reactor_fd ec_rfd;
	struct rdma_rdev *rdevs;
	struct rdma_conn *conns;
	struct rdma_conn *qp_hash[QP_HASH];
	struct reactor_poller poller;   /* REACTOR_PHASE_INPUT: rdma_poll */
	struct reactor_poller post_poller;  /* REACTOR_PHASE_OUTPUT: rdma_post */
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
	struct rdma_rdev *rdev;
	struct rdma_srq *srq;
	uint32_t qp_num;
	unsigned send_wrs;              /* the QP's send queue, counted in rdev->cq_need */
	struct rdma_conn_params params;
	uint32_t recv_size;             /* SQE + in-capsule data */
	uint32_t max_icd;
	struct nvme_cqe *rsp_area;
	struct ibv_mr *rsp_mr;
	struct rdma_req *reqs;
	struct rdma_req *free_reqs;
	struct rdma_req *wait_head, *wait_tail;   /* RQ_WAIT_BUF / RQ_WAIT_READ, in order */
	unsigned nreqs;
	unsigned reads_out;
	unsigned sends_out;             /* signaled send-queue WRs posted, not completed */
	unsigned busy;
	bool disconnect_req;            /* the core asked to close it (disconnect_msg) */
	const char *fail_why;           /* to close in the output phase (conn_fail) */
	bool closing;
	bool connected;                 /* the Connect succeeded (queue_connected) */
	bool established;
	bool freed;
	char peer[64];
	uint8_t addr[16];               /* the peer's address, as admitted */
	struct reactor_timer connect_timer;  /* Fabrics Connect due */
	struct rdma_conn *next;
	struct rdma_conn *qp_next;      /* rs->qp_hash */
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
static bool rnr_timer_warned;           /* atomic; warn once: all queues share the cause */

static void conn_close(struct rdma_conn *c, const char *why);
static void conn_fail(struct rdma_conn *c, const char *why);
static int rdma_poll(void *arg);
static int rdma_post(void *arg);

/* --- devices and per-reactor state ------------------------------------------------ */

static struct rdma_dev *dev_get(struct ibv_context *ctx)
{
	struct ibv_device_attr attr;
	struct rdma_dev *d;

	pthread_mutex_lock(&devs_lock);
	for (d = devs; d; d = d->next)
		if (d->ctx == ctx)
			break;
	if (!d && !ibv_query_device(ctx, &attr)) {
		d = calloc(1, sizeof(*d));
		if (d) {
			d->ctx = ctx;
			d->max_cqe = attr.max_cqe > 0 ? (unsigned)attr.max_cqe : 0;
			d->max_srq_wr = attr.max_srq_wr > 0 ? (unsigned)attr.max_srq_wr : 0;
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
	/* completions (new commands, data read) before the devices; the
	 * turn's receive buffers back to their SRQs, and connections freed,
	 * after them */
	rs->poller = (struct reactor_poller){ .cb = rdma_poll, .arg = rs };
	reactor_add_poller(&nr->r, &rs->poller);
	rs->post_poller = (struct reactor_poller){ .cb = rdma_post, .arg = rs, .phase = REACTOR_PHASE_OUTPUT };
	reactor_add_poller(&nr->r, &rs->post_poller);
	nr->rdma = rs;
	return rs;
}

static void chan_event(void *arg, uint32_t events)
{
	struct rdma_rdev *rd = arg;
	struct ibv_cq *cq;
	void *ctx;

	(void)events;
	/* re-arm; the input poller reaps the completions on the next turn */
	while (ibv_get_cq_event(rd->ch, &cq, &ctx) == 0) {
		rd->cq_events++;
		ibv_req_notify_cq(cq, 0);
	}
}

static void rchunk_free(struct rdma_rchunk *k)
{
	if (k->mr)
		ibv_dereg_mr(k->mr);
	free(k->area);
	free(k->recvs);
	free(k);
}

static void srq_destroy(struct rdma_srq *q)
{
	if (q->srq)
		ibv_destroy_srq(q->srq);
	while (q->chunks) {
		struct rdma_rchunk *k = q->chunks;

		q->chunks = k->next;
		rchunk_free(k);
	}
	free(q);
}

static void rdev_destroy(struct rdma_rstate *rs, struct rdma_rdev *rd)
{
	while (rd->srqs) {
		struct rdma_srq *q = rd->srqs;

		rd->srqs = q->next;
		srq_destroy(q);
	}
	if (rd->cq) {
		ibv_ack_cq_events(rd->cq, rd->cq_events);
		ibv_destroy_cq(rd->cq);
	}
	if (rd->rfd.cb)
		reactor_del_fd(&rs->nr->r, &rd->rfd);
	if (rd->ch)
		ibv_destroy_comp_channel(rd->ch);
	free(rd);
}

/* The device's completion channel, CQ and SRQs on this reactor. */
static struct rdma_rdev *rdev_of(struct rdma_rstate *rs, struct rdma_dev *d)
{
	struct rdma_rdev *rd;

	for (rd = rs->rdevs; rd; rd = rd->next)
		if (rd->dev == d)
			return rd;
	rd = calloc(1, sizeof(*rd));
	if (!rd)
		return NULL;
	rd->dev = d;
	rd->ch = ibv_create_comp_channel(d->ctx);
	if (!rd->ch)
		goto fail;
	fcntl(rd->ch->fd, F_SETFL, fcntl(rd->ch->fd, F_GETFL) | O_NONBLOCK);
	rd->cq_size = d->max_cqe && d->max_cqe < RDMA_CQ_MIN ? d->max_cqe : RDMA_CQ_MIN;
	rd->cq = ibv_create_cq(d->ctx, (int)rd->cq_size, rd, rd->ch, 0);
	if (!rd->cq) {
		log_err("reactor %u: ibv_create_cq (%u entries): %s", rs->nr->idx, rd->cq_size, strerror(errno));
		goto fail;
	}
	rd->cq_size = (unsigned)rd->cq->cqe;    /* the provider may round up */
	ibv_req_notify_cq(rd->cq, 0);
	rd->rfd = (struct reactor_fd){ .fd = rd->ch->fd, .events = EPOLLIN, .cb = chan_event, .arg = rd };
	if (reactor_add_fd(&rs->nr->r, &rd->rfd)) {
		rd->rfd.cb = NULL;
		goto fail;
	}
	rd->next = rs->rdevs;
	rs->rdevs = rd;
	return rd;
fail:
	rdev_destroy(rs, rd);
	return NULL;
}

/* Room in the shared CQ for n more completions that may be due at once
 * (a new QP's send queue, new receive buffers): grown when needed. */
static int cq_reserve(struct rdma_rdev *rd, unsigned n)
{
	unsigned want = rd->cq_need + n, size;

	if (want > rd->cq_size) {
		size = rd->cq_size * 2 > want ? rd->cq_size * 2 : want;
		if (rd->dev->max_cqe && size > rd->dev->max_cqe)
			size = rd->dev->max_cqe;
		if (size < want)
			return -ENOSPC;
		if (ibv_resize_cq(rd->cq, (int)size)) {
			log_warn("ibv_resize_cq to %u entries: %s", size, strerror(errno));
			return -ENOSPC;
		}
		rd->cq_size = (unsigned)rd->cq->cqe;
	}
	rd->cq_need = want;
	return 0;
}

static void srq_post(struct rdma_srq *q)
{
	struct ibv_recv_wr *bad;

	if (!q->repost)
		return;
	if (ibv_post_srq_recv(q->srq, q->repost, &bad)) {
		/* keep what was not posted for the next turn */
		if (!q->post_failed)
			log_err("ibv_post_srq_recv: %s", strerror(errno));
		q->post_failed = true;
		q->repost = bad;
		return;
	}
	q->repost = NULL;
	q->repost_tail = &q->repost;
}

/* A receive buffer is free again: posted with the turn's others. */
static void recv_give_back(struct rdma_recv *rv)
{
	struct rdma_srq *q = rv->srq;

	rv->wr.next = NULL;
	*q->repost_tail = &rv->wr;
	q->repost_tail = &rv->wr.next;
}

/* n more receive buffers for the SRQ, posted at once. */
static int srq_grow(struct rdma_rdev *rd, struct rdma_srq *q, unsigned n)
{
	struct rdma_rchunk *k;

	if (n > q->max_bufs - q->nr_bufs)
		n = q->max_bufs - q->nr_bufs;
	if (!n)
		return 0;
	if (cq_reserve(rd, n))
		return -ENOSPC;
	k = calloc(1, sizeof(*k));
	if (!k)
		goto fail;
	k->area = aligned_alloc(64, ((size_t)n * q->recv_size + 63) & ~(size_t)63);
	k->recvs = calloc(n, sizeof(*k->recvs));
	if (!k->area || !k->recvs)
		goto fail;
	k->mr = ibv_reg_mr(rd->dev->pd, k->area, (size_t)n * q->recv_size, IBV_ACCESS_LOCAL_WRITE);
	if (!k->mr)
		goto fail;
	for (unsigned i = 0; i < n; i++) {
		struct rdma_recv *rv = &k->recvs[i];

		rv->srq = q;
		rv->buf = k->area + (size_t)i * q->recv_size;
		rv->sge = (struct ibv_sge){ .addr = (uintptr_t)rv->buf, .length = q->recv_size, .lkey = k->mr->lkey };
		rv->wr = (struct ibv_recv_wr){ .wr_id = (uintptr_t)rv | TAG_RECV, .sg_list = &rv->sge, .num_sge = 1 };
		recv_give_back(rv);
	}
	k->next = q->chunks;
	q->chunks = k;
	q->nr_bufs += n;
	srq_post(q);
	return 0;
fail:
	if (k)
		rchunk_free(k);
	rd->cq_need -= n;
	return -ENOMEM;
}

/* The SRQ for receives of recv_size bytes, with at least one queue's worth
 * of buffers while the bound allows (depth more are added per queue). The
 * bound is bridge.rdma_srq_size buffers (size), or when that is 0,
 * RDMA_SRQ_MAX_BUFS and RDMA_SRQ_MAX_BYTES; the device's maximum caps it. */
static struct rdma_srq *srq_of(struct rdma_rdev *rd, uint32_t recv_size, unsigned depth, unsigned size)
{
	struct ibv_srq_init_attr attr = { 0 };
	struct rdma_srq *q;
	unsigned max;

	for (q = rd->srqs; q; q = q->next)
		if (q->recv_size == recv_size)
			break;
	if (!q) {
		if (size) {
			max = size;
		} else {
			max = RDMA_SRQ_MAX_BYTES / recv_size;
			if (max > RDMA_SRQ_MAX_BUFS)
				max = RDMA_SRQ_MAX_BUFS;
			if (max < RDMA_SRQ_MIN_BUFS)
				max = RDMA_SRQ_MIN_BUFS;
		}
		if (rd->dev->max_srq_wr && max > rd->dev->max_srq_wr) {
			log_info("shared receive queue of %u buffers: the device allows %u", max, rd->dev->max_srq_wr);
			max = rd->dev->max_srq_wr;
		}
		q = calloc(1, sizeof(*q));
		if (!q)
			return NULL;
		q->recv_size = recv_size;
		q->max_bufs = max;
		q->repost_tail = &q->repost;
		attr.attr.max_wr = max;
		attr.attr.max_sge = 1;
		q->srq = ibv_create_srq(rd->dev->pd, &attr);
		if (!q->srq) {
			log_err("ibv_create_srq (%u entries): %s", max, strerror(errno));
			free(q);
			return NULL;
		}
		q->next = rd->srqs;
		rd->srqs = q;
	}
	if (srq_grow(rd, q, depth) && !q->nr_bufs)
		return NULL;
	return q;
}

/* The connection's SRQ, with its depth counted. Past max_bufs a burst of
 * capsules can find no buffer: the host's NIC is told to send again later
 * (RNR). Hardware does; soft-RoCE (rxe, kernels 6.1 and 6.12) fails the
 * host's connection instead, so say once when it can happen. */
static int srq_attach(struct rdma_conn *c, unsigned size)
{
	struct rdma_srq *q = srq_of(c->rdev, c->recv_size, c->params.queue_size, size);

	if (!q)
		return -ENOMEM;
	c->srq = q;
	q->entries += c->params.queue_size;
	if (q->entries > q->max_bufs && !q->over_warned) {
		q->over_warned = true;
		log_warn("%s: reactor %u's queues on this device have %u entries for %u receive buffers of %u bytes "
			 "(bridge.rdma_srq_size): a burst may be refused and retried (RNR), which soft-RoCE hosts "
			 "do not survive", c->peer, c->rs->nr->idx, q->entries, q->max_bufs, q->recv_size);
	}
	return 0;
}

static struct rdma_conn *conn_of_qp(struct rdma_rstate *rs, uint32_t qp_num)
{
	struct rdma_conn *c = rs->qp_hash[qp_num % QP_HASH];

	while (c && c->qp_num != qp_num)
		c = c->qp_next;
	return c;
}

static void qp_hash_add(struct rdma_conn *c, uint32_t qp_num)
{
	c->qp_num = qp_num;
	c->qp_next = c->rs->qp_hash[qp_num % QP_HASH];
	c->rs->qp_hash[qp_num % QP_HASH] = c;
}

static void qp_hash_del(struct rdma_conn *c)
{
	for (struct rdma_conn **pp = &c->rs->qp_hash[c->qp_num % QP_HASH]; *pp; pp = &(*pp)->qp_next) {
		if (*pp == c) {
			*pp = c->qp_next;
			return;
		}
	}
}

/* --- requests ----------------------------------------------------------------------- */

static void conn_maybe_free(struct rdma_conn *c);

static void req_release(struct rdma_req *r)
{
	struct rdma_conn *c = r->conn;

	if (r->req.buf) {
		nvmf_sq_buf_put(&c->sq, r->req.buf);
		r->req.buf = NULL;
	}
	if (r->held_recv) {
		recv_give_back(r->held_recv);
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
	r->state = RQ_EXEC;
	if (r->status) {
		nvmf_req_complete(&r->req, r->status);
		return;
	}
	nvmf_req_execute(&r->req);
}

/* Work requests never posted: release what they hold. */
static void tx_drop(struct rdma_conn *c, struct ibv_send_wr *wr)
{
	c->busy++;              /* the releases must not free the connection under us */
	while (wr) {
		struct ibv_send_wr *next = wr->next;
		unsigned tag = wr->wr_id & TAG_MASK;
		struct rdma_req *r = (void *)(uintptr_t)(wr->wr_id & ~(uint64_t)TAG_MASK);

		if (tag == TAG_READ)
			c->reads_out--;
		if (tag == TAG_READ || tag == TAG_SEND) {
			c->sends_out--;
			req_release(r);
		}
		wr = next;
	}
	c->busy--;
	conn_maybe_free(c);
}

/* Sends are posted when they are ready, not gathered per turn: with the
 * READs and responses of a turn in one post, 4 KiB reads over soft-RoCE
 * ran at 0.72-0.99x (three rounds in one boot, writes even), so the list
 * is a request's own: READ, or WRITE + SEND. */
static void tx_post(struct rdma_conn *c, struct ibv_send_wr *first)
{
	struct ibv_send_wr *bad = NULL;

	if (ibv_post_send(c->id->qp, first, &bad)) {
		log_err("%s: ibv_post_send: %s", c->peer, strerror(errno));
		tx_drop(c, bad ? bad : first);
		conn_fail(c, "cannot post a send");
	}
}

static int post_read(struct rdma_req *r)
{
	struct rdma_conn *c = r->conn;
	struct ibv_mr *mr = pool_mr(c->dev, c->rs->nr);
	struct ibv_sge sge;
	struct ibv_send_wr wr;

	if (!mr)
		return -ENOMEM;
	sge = (struct ibv_sge){ .addr = (uintptr_t)r->req.buf, .length = r->req.len, .lkey = mr->lkey };
	wr = (struct ibv_send_wr){ .wr_id = (uintptr_t)r | TAG_READ, .sg_list = &sge, .num_sge = 1,
				   .opcode = IBV_WR_RDMA_READ, .send_flags = IBV_SEND_SIGNALED };
	wr.wr.rdma.remote_addr = r->sgl.addr;
	wr.wr.rdma.rkey = r->sgl.key;
	r->state = RQ_READING;
	c->reads_out++;
	c->sends_out++;
	tx_post(c, &wr);
	return 0;
}

/* Give buffers and READ slots to waiting requests, in arrival order. */
static int run_waiters(struct rdma_conn *c)
{
	int work = 0;

	while (c->wait_head && !c->closing && !c->fail_why) {
		struct rdma_req *r = c->wait_head;

		if (r->state == RQ_WAIT_BUF) {
			r->req.buf = nvmf_sq_buf_get(&c->sq, &r->req.buf_iova);
			if (!r->req.buf)
				break;
			if (r->held_recv) {
				/* in-capsule data: the one copy, out of the receive buffer */
				memcpy(r->req.buf, r->held_recv->buf + sizeof(struct nvme_sqe), r->held_icd);
				recv_give_back(r->held_recv);
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
			if (post_read(r)) {
				req_release(r);
				conn_fail(c, "cannot post RDMA READ");
			}
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
		recv_give_back(rv);
		conn_close(c, "protocol error");
		return;
	}
	c->free_reqs = r->next;
	c->busy++;
	reactor_cmds++;
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
		recv_give_back(rv);
	}
	if (r->status || !r->req.len) {
		if (r->held_recv) {
			recv_give_back(r->held_recv);
			r->held_recv = NULL;
		}
		start_exec(r);
		return;
	}
	r->state = RQ_WAIT_BUF;
	wait_push(c, r);
	run_waiters(c);
}

/* nvmf_transport_ops.complete: the response, after the data for a read,
 * in one post. */
static void rdma_complete(struct nvmf_req *nr)
{
	struct rdma_req *r = nr->tpriv;
	struct rdma_conn *c = r->conn;
	struct nvme_cqe *rsp = &c->rsp_area[r->idx];
	struct ibv_sge wsge, ssge;
	struct ibv_send_wr write, send, *first = &send;
	struct ibv_mr *mr;

	if (c->closing || c->fail_why) {
		req_release(r);
		return;
	}
	*rsp = nr->rsp;
	ssge = (struct ibv_sge){ .addr = (uintptr_t)rsp, .length = sizeof(*rsp), .lkey = c->rsp_mr->lkey };
	send = (struct ibv_send_wr){ .wr_id = (uintptr_t)r | TAG_SEND, .sg_list = &ssge, .num_sge = 1,
				     .send_flags = IBV_SEND_SIGNALED };
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
			conn_fail(c, "no memory registration");
			return;
		}
		/* the data first, then the response on the same QP: RC keeps order */
		wsge = (struct ibv_sge){ .addr = (uintptr_t)nr->buf, .length = nr->len, .lkey = mr->lkey };
		write = (struct ibv_send_wr){ .wr_id = (uintptr_t)r, .sg_list = &wsge, .num_sge = 1,
					      .opcode = IBV_WR_RDMA_WRITE, .next = &send };
		write.wr.rdma.remote_addr = r->sgl.addr;
		write.wr.rdma.rkey = r->sgl.key;
		first = &write;
	}
	r->state = RQ_SENDING;
	c->sends_out++;
	/* The host may send its next capsule as soon as it has this response:
	 * the buffers given back so far, this command's among them, are
	 * posted first. The SRQ holds a buffer per entry of its queues, and a
	 * capsule would otherwise find none (RNR) while the turn's list still
	 * held one. */
	srq_post(c->srq);
	tx_post(c, first);
}

/* --- completions ---------------------------------------------------------------------- */

static void handle_wc(struct rdma_rstate *rs, const struct ibv_wc *wc)
{
	unsigned tag = wc->wr_id & TAG_MASK;
	void *ptr = (void *)(uintptr_t)(wc->wr_id & ~(uint64_t)TAG_MASK);
	struct rdma_conn *c;

	if (tag == TAG_RECV) {
		/* the buffer is the SRQ's; the queue is the QP's */
		c = conn_of_qp(rs, wc->qp_num);
		if (wc->status == IBV_WC_SUCCESS && c && !c->closing) {
			handle_command(c, ptr, wc->byte_len);
			return;
		}
		recv_give_back(ptr);
	} else {
		struct rdma_req *r = ptr;

		c = tag == TAG_READ || tag == TAG_SEND ? r->conn : NULL;
		switch (tag) {
		case TAG_READ:
			c->reads_out--;
			c->sends_out--;
			if (wc->status != IBV_WC_SUCCESS || c->closing)
				req_release(r);
			else
				start_exec(r);
			run_waiters(c);
			break;
		case TAG_SEND:
			c->sends_out--;
			req_release(r);
			break;
		default:
			/* an unsignaled RDMA WRITE that failed (only errors show up):
			 * its request may be gone if the SEND after it was never
			 * posted, so the queue comes from the QP number */
			c = conn_of_qp(rs, wc->qp_num);
			break;
		}
	}
	if (c && wc->status != IBV_WC_SUCCESS && wc->status != IBV_WC_WR_FLUSH_ERR && !c->closing) {
		log_warn("%s: work completion error: %s", c->peer, ibv_wc_status_str(wc->status));
		conn_close(c, "work completion error");
	}
}

static int poll_cq(struct rdma_rstate *rs, struct ibv_cq *cq)
{
	struct ibv_wc wc[WC_BATCH];
	int n, total = 0;

	do {
		n = ibv_poll_cq(cq, WC_BATCH, wc);
		for (int i = 0; i < n; i++)
			handle_wc(rs, &wc[i]);
		total += n > 0 ? n : 0;
	} while (n == WC_BATCH && total < (int)WC_MAX_PER_TURN);
	return total;
}

/* --- connection lifetime ------------------------------------------------------------------ */

/* What a connection holds of the NIC and memory, then the connection:
 * also for one that was never accepted (no events, not on a reactor). */
static void conn_free_verbs(struct rdma_conn *c)
{
	if (c->qp_num) {                /* 0 and 1 are never an RC QP's number */
		qp_hash_del(c);
		c->qp_num = 0;
	}
	if (c->id && c->id->qp)
		rdma_destroy_qp(c->id);
	if (c->rdev)
		c->rdev->cq_need -= c->send_wrs;
	c->send_wrs = 0;
	if (c->srq) {
		c->srq->entries -= c->params.queue_size;
		c->srq = NULL;
	}
	if (c->rsp_mr)
		ibv_dereg_mr(c->rsp_mr);
	free(c->rsp_area);
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

/* Every send posted has come back and nothing is in a backend: go. (The
 * receives are the SRQ's: one of this QP still in the CQ finds no queue
 * by its number and gives its buffer back.) */
static void conn_maybe_free(struct rdma_conn *c)
{
	if (!c->closing || c->freed || c->busy || c->sends_out)
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
	/* every posted send work request completes now, flushed */
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

/* A failure found where the connection cannot be closed at once: the
 * completion of an admin command runs under the target's lock, which the
 * close takes. No more is posted; the output phase closes it. */
static void conn_fail(struct rdma_conn *c, const char *why)
{
	if (!c->fail_why)
		c->fail_why = why;
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

/* Input phase: the completions of every device (new commands, data
 * read, responses sent) and the requests they free. */
static int rdma_poll(void *arg)
{
	struct rdma_rstate *rs = arg;
	int work = 0;

	for (struct rdma_rdev *rd = rs->rdevs; rd; rd = rd->next)
		work += poll_cq(rs, rd->cq);
	for (struct rdma_conn *c = rs->conns; c; c = c->next)
		if (!c->closing)
			work += run_waiters(c);
	return work;
}

/* The receive buffers the turn gave back, one list per SRQ. */
static void post_recvs(struct rdma_rstate *rs)
{
	for (struct rdma_rdev *rd = rs->rdevs; rd; rd = rd->next)
		for (struct rdma_srq *q = rd->srqs; q; q = q->next)
			srq_post(q);
}

/* Output phase: the receive lists, then the connections done. */
static int rdma_post(void *arg)
{
	struct rdma_rstate *rs = arg;

	post_recvs(rs);
	for (struct rdma_conn *c = rs->conns, *next; c; c = next) {
		next = c->next;
		if (c->fail_why && !c->closing)
			conn_close(c, c->fail_why);
		if (c->closing)
			conn_maybe_free(c);
		if (c->freed)
			conn_destroy(c);
	}
	return 0;       /* nothing here is work that needs another turn */
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

/* Requests: twice the queue's depth. The host may reuse a command slot as
 * soon as it has our response, and that is before our side has the SEND's
 * completion, which frees the request: with one request per entry, a
 * host at full depth finds none free now and then (seen as "queue
 * overrun" under fio at QD 128 on soft-RoCE). The kernel's nvmet-rdma
 * allocates twice as many responses for the same reason. More than that
 * in flight is still an overrun. */
static int conn_alloc(struct rdma_conn *c)
{
	unsigned n = 2u * c->params.queue_size;

	c->nreqs = n;
	c->rsp_area = aligned_alloc(64, ((size_t)n * sizeof(struct nvme_cqe) + 63) & ~(size_t)63);
	c->reqs = calloc(n, sizeof(*c->reqs));
	if (!c->rsp_area || !c->reqs)
		return -ENOMEM;
	c->rsp_mr = ibv_reg_mr(c->dev->pd, c->rsp_area, (size_t)n * sizeof(struct nvme_cqe), IBV_ACCESS_LOCAL_WRITE);
	if (!c->rsp_mr)
		return -errno;
	for (unsigned i = n; i-- > 0;) {
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

/* QP on the reactor's CQ and SRQ, requests, responses. Returns NULL and
 * an NVMe/RDMA reject status in *st on failure (nothing of the queue's own
 * left allocated; receive buffers added to the SRQ stay there). */
static struct rdma_conn *conn_create(struct rdma_rstate *rs, struct conn_request *cr, int *st)
{
	struct rdma_cm_id *id = cr->id;
	struct nvmf_port *p = cr->port;
	struct ibv_qp_init_attr qa = { 0 };
	struct rdma_conn *c = calloc(1, sizeof(*c));

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
	c->rdev = c->dev ? rdev_of(rs, c->dev) : NULL;
	if (!c->rdev || conn_alloc(c) || !pool_mr(c->dev, rs->nr))
		goto fail;
	/* the receive buffers: the reactor's SRQ for this size, grown by this
	 * queue's depth while its bound allows */
	if (srq_attach(c, c->tgt->rdma_srq_size))
		goto fail;
	/* a READ, or a WRITE and a SEND, per request: each may complete in the
	 * shared CQ (flushed, the unsignaled WRITE too) */
	c->send_wrs = 2u * c->nreqs + 4;
	if (cq_reserve(c->rdev, c->send_wrs)) {
		log_warn("%s: no room in the reactor's completion queue (%u entries, device maximum %u)", c->peer,
			 c->rdev->cq_size, c->dev->max_cqe);
		c->send_wrs = 0;
		goto fail;
	}
	qa.send_cq = c->rdev->cq;
	qa.recv_cq = c->rdev->cq;
	qa.srq = c->srq->srq;
	qa.qp_type = IBV_QPT_RC;
	qa.cap.max_send_wr = c->send_wrs;
	qa.cap.max_send_sge = 1;
	if (rdma_create_qp(id, c->dev->pd, &qa)) {
		log_warn("%s: rdma_create_qp: %s", c->peer, strerror(errno));
		goto fail;
	}
	qp_hash_add(c, id->qp->qp_num);
	id->context = c;
	return c;
fail:
	conn_free_verbs(c);
	free(c);
	return NULL;
}

/* A capsule that finds the SRQ empty is refused with an RNR NAK, and the
 * host's NIC sends it again after the timer the NAK carries: our QP's
 * min_rnr_timer. The connection manager leaves it at 0, which is the
 * longest, 655 ms; a queue of a busy reactor would stall that long each
 * time. rdma_accept has moved the QP to RTS, where the timer may change. */
static void set_rnr_timer(struct rdma_conn *c)
{
	struct ibv_qp_attr a = { .min_rnr_timer = RDMA_MIN_RNR_TIMER };

	if (ibv_modify_qp(c->id->qp, &a, IBV_QP_MIN_RNR_TIMER) &&
	    !__atomic_exchange_n(&rnr_timer_warned, true, __ATOMIC_RELAXED))
		log_warn("%s: cannot set the QP's RNR timer (%s): a capsule that finds no receive buffer "
			 "waits 655 ms", c->peer, strerror(errno));
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
	set_rnr_timer(c);
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

	if (rs) {
		rdma_poll(rs);  /* flushed completions release the last ones */
		rdma_post(rs);
	}
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
	reactor_del_poller(&nr->r, &rs->post_poller);
	reactor_del_fd(&nr->r, &rs->ec_rfd);
	while (rs->rdevs) {
		struct rdma_rdev *rd = rs->rdevs;

		rs->rdevs = rd->next;
		rdev_destroy(rs, rd);
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
