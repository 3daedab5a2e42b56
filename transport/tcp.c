/* SPDX-License-Identifier: MIT */
/*
 * NVMe/TCP connection engine. Receive: a per-connection state machine
 * (CH, rest of header, padding, data, data digest) reading headers into a
 * small buffer and data straight into the request's DMA buffer. Send: a
 * queue of PDU units flushed with one sendmsg per reactor turn, data sent
 * straight from the DMA buffer. The pure PDU checks and builders are in
 * tcp_pdu.c.
 */
#define LOG_TAG "tcp"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "transport/tcp.h"
#include "transport/tcp_pdu.h"

#define CONN_REQS (NVMF_MAX_QUEUE_DEPTH + NVMF_AERL)
#define RX_BUDGET 64                    /* PDUs per readiness event, for fairness */
#define TX_IOV_MAX 64
/* Receive staging: one recv() brings many capsules and their headers;
 * payload still outstanding in bulk goes straight into its DMA buffer. */
#define RX_BUF_SIZE (64u * 1024)
#define RX_DIRECT_MIN (16u * 1024)
#define ADMIN_ICD TCP_PDU_FABRICS_ICD

enum rx_state {
	RX_CH,
	RX_HDR,
	RX_PAD,
	RX_DATA,
	RX_DDGST,
};

enum treq_state {
	TREQ_FREE,
	TREQ_RECV,                      /* receiving in-capsule or H2C data */
	TREQ_WAIT_H2C,                  /* R2T sent, waiting for H2CData */
	TREQ_EXEC,                      /* in the core or a backend */
	TREQ_SEND,                      /* completion queued for sending */
};

struct tx_unit {
	struct iovec iov[4];
	int cnt;
	size_t off;                     /* bytes of this unit already sent */
	struct tcp_req *release;        /* released once fully sent */
	struct tx_unit *next;
};

struct tcp_conn;

struct tcp_req {
	struct nvmf_req req;
	struct tcp_conn *conn;
	uint16_t ttag;                  /* index + 1: TTAG 0 is never valid */
	enum treq_state state;
	uint16_t status;                /* error found while receiving data */
	uint32_t r2t_off;               /* DATAO expected next */
	uint32_t r2t_left;              /* bytes of the outstanding R2T not yet received */
	struct tcp_req *next_free;
	struct tx_unit r2t_unit;
	struct tx_unit done_unit;
	uint8_t r2t_hdr[32];
	uint8_t data_hdr[TCP_PDU_BUF_MAX];
	uint8_t rsp_hdr[32];
	uint8_t ddgst[4];
};

struct tcp_listener {
	struct nvmf_port *port;
	struct reactor_fd rfd;
	struct reactor_timer retry;
	int fd;
};

/* The transport's state on one reactor */
struct tcp_rstate {
	struct nvmf_reactor *nr;
	struct tcp_conn *conns;
	struct tcp_conn *work_list;     /* flush / close / stalled */
	struct reactor_poller poller;
};

struct tcp_conn {
	struct nvmf_sq sq;
	struct nvmf_tgt *tgt;
	struct tcp_rstate *rs;
	unsigned pending_msgs;          /* disconnect messages from other reactors in flight */
	struct reactor_fd rfd;
	int fd;
	char peer[64];
	struct tcp_pdu_ctx ctx;

	/* receive */
	enum rx_state rx;
	uint8_t hdr[NVME_TCP_TERM_MAX_PLEN + 8];
	uint32_t hdr_have, hdr_need;
	uint32_t pad_left;
	uint8_t *data_dst;              /* NULL: discard */
	uint32_t data_left;
	uint32_t ddgst;
	uint8_t ddgst_wire[4];
	uint32_t ddgst_have;
	struct tcp_req *rx_req;         /* request receiving data */
	bool rx_stalled;                /* waiting for a data buffer */
	uint8_t *rbuf;                  /* RX_BUF_SIZE staging, read by rx_take */
	uint32_t rb_off, rb_len;

	/* send */
	struct tx_unit *tx_head, *tx_tail;
	struct tx_unit ctrl_unit;       /* ICResp or C2HTermReq */
	uint8_t ctrl_buf[TCP_PDU_BUF_MAX];
	bool want_out;

	struct tcp_req reqs[CONN_REQS];
	struct tcp_req *free_reqs;
	unsigned busy;                  /* requests not free */

	bool closing;
	bool close_after_tx;
	bool close_queued;
	struct tcp_conn *next;          /* all connections */
	struct tcp_conn *next_work;     /* flush / close / stalled lists */
	bool on_work;
};

static struct tcp_listener **listeners;
static unsigned nr_listeners;
static unsigned next_reactor;           /* round robin for new connections */
static unsigned nr_conns;               /* all reactors; atomic */

static const struct nvmf_transport_ops tcp_ops;
static void conn_close(struct tcp_conn *c, const char *why);
static int tcp_poll(void *arg);

static struct tcp_rstate *rs_of(struct nvmf_reactor *nr)
{
	struct tcp_rstate *rs = nr->tcp;

	if (rs)
		return rs;
	/* first use, on the reactor's own thread */
	rs = calloc(1, sizeof(*rs));
	if (!rs)
		return NULL;
	rs->nr = nr;
	rs->poller = (struct reactor_poller){ .cb = tcp_poll, .arg = rs };
	reactor_add_poller(&nr->r, &rs->poller);
	nr->tcp = rs;
	return rs;
}

static struct reactor *conn_reactor(const struct tcp_conn *c)
{
	return &c->rs->nr->r;
}

static void queue_work(struct tcp_conn *c)
{
	if (c->on_work)
		return;
	c->on_work = true;
	c->next_work = c->rs->work_list;
	c->rs->work_list = c;
}

/* --- requests ----------------------------------------------------------------- */

static struct tcp_req *req_get(struct tcp_conn *c)
{
	struct tcp_req *r = c->free_reqs;

	if (!r)
		return NULL;
	c->free_reqs = r->next_free;
	c->busy++;
	memset(&r->req, 0, sizeof(r->req));
	r->req.sq = &c->sq;
	r->req.tpriv = r;
	r->status = 0;
	r->r2t_off = r->r2t_left = 0;
	return r;
}

static void req_put(struct tcp_req *r)
{
	struct tcp_conn *c = r->conn;

	if (r->req.buf) {
		nvmf_buf_put(c->tgt, r->req.buf);
		r->req.buf = NULL;
	}
	r->state = TREQ_FREE;
	r->next_free = c->free_reqs;
	c->free_reqs = r;
	c->busy--;
	if (c->closing && !c->busy)
		queue_work(c);          /* freed by the poller, never under a caller */
}

/* --- send -------------------------------------------------------------------------- */

static void tx_queue(struct tcp_conn *c, struct tx_unit *u)
{
	u->next = NULL;
	u->off = 0;
	if (c->tx_tail)
		c->tx_tail->next = u;
	else
		c->tx_head = u;
	c->tx_tail = u;
	queue_work(c);
}

static size_t unit_len(const struct tx_unit *u)
{
	size_t n = 0;

	for (int i = 0; i < u->cnt; i++)
		n += u->iov[i].iov_len;
	return n;
}

static void set_out_interest(struct tcp_conn *c, bool on)
{
	if (c->want_out == on || c->closing)
		return;
	c->want_out = on;
	reactor_mod_fd(conn_reactor(c), &c->rfd, EPOLLIN | (on ? EPOLLOUT : 0));
}

/* Send as much of the queue as the socket takes, in one sendmsg. */
static void tx_flush(struct tcp_conn *c)
{
	while (c->tx_head && !c->closing) {
		struct iovec iov[TX_IOV_MAX];
		struct msghdr msg = { .msg_iov = iov };
		struct tx_unit *u;
		size_t skip;
		ssize_t n;
		int cnt = 0;

		for (u = c->tx_head; u && cnt + 4 <= TX_IOV_MAX; u = u->next) {
			skip = u == c->tx_head ? u->off : 0;
			for (int i = 0; i < u->cnt; i++) {
				if (skip >= u->iov[i].iov_len) {
					skip -= u->iov[i].iov_len;
					continue;
				}
				iov[cnt].iov_base = (char *)u->iov[i].iov_base + skip;
				iov[cnt].iov_len = u->iov[i].iov_len - skip;
				cnt++;
				skip = 0;
			}
		}
		msg.msg_iovlen = (size_t)cnt;
		n = sendmsg(c->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				set_out_interest(c, true);
				return;
			}
			if (errno == EINTR)
				continue;
			conn_close(c, strerror(errno));
			return;
		}
		/* retire fully sent units */
		while (c->tx_head && n > 0) {
			u = c->tx_head;
			size_t left = unit_len(u) - u->off;

			if ((size_t)n < left) {
				u->off += (size_t)n;
				break;
			}
			n -= (ssize_t)left;
			c->tx_head = u->next;
			if (!c->tx_head)
				c->tx_tail = NULL;
			if (u->release)
				req_put(u->release);
		}
	}
	if (!c->closing) {
		set_out_interest(c, false);
		if (c->close_after_tx && !c->tx_head)
			conn_close(c, "after C2HTermReq");
	}
}

/* Protocol error: C2HTermReq with the offending header, then close; no
 * further PDUs are read from this connection. */
static void conn_fatal(struct tcp_conn *c, const struct tcp_pdu_err *err)
{
	int n;

	log_warn("%s: protocol error: %s (FES %u %s, FEI %u); closing the connection", c->peer,
		 err->msg ? err->msg : "", err->fes, tcp_pdu_fes_str(err->fes), err->fei);
	if (err->silent) {
		conn_close(c, "H2CTermReq");
		return;
	}
	n = tcp_build_c2h_term(c->ctrl_buf, err->fes, err->fei, c->hdr, c->hdr_have);
	if (n < 0) {
		conn_close(c, "protocol error");
		return;
	}
	c->ctrl_unit = (struct tx_unit){ .iov = { { c->ctrl_buf, (size_t)n } }, .cnt = 1 };
	tx_queue(c, &c->ctrl_unit);
	c->close_after_tx = true;
	c->rx = RX_CH;
	c->hdr_have = 0;
}

/* nvmf_transport_ops.complete */
static void tcp_complete(struct nvmf_req *nr)
{
	struct tcp_req *r = nr->tpriv;
	struct tcp_conn *c = r->conn;
	struct tx_unit *u = &r->done_unit;
	bool data = nr->xfer == NVMF_XFER_C2H && nr->len && NVME_CQE_STATUS(&nr->rsp) == 0;
	bool success;
	int n;

	if (c->closing || c->close_after_tx) {
		req_put(r);
		return;
	}
	r->state = TREQ_SEND;
	*u = (struct tx_unit){ .release = r };
	if (data) {
		/* SUCCESS saves the CapsuleResp, only when the host disabled
		 * SQ flow control and the CQE would carry nothing else */
		success = c->sq.sqflow_off && !nr->rsp.dw0 && !nr->rsp.dw1;
		n = tcp_build_c2h_data(r->data_hdr, &c->ctx, nr->cmd.cid, 0, nr->len, true, success);
		if (n < 0) {
			req_put(r);
			conn_close(c, "cannot build C2HData");
			return;
		}
		u->iov[u->cnt++] = (struct iovec){ r->data_hdr, (size_t)n };
		u->iov[u->cnt++] = (struct iovec){ nr->buf, nr->len };
		if (c->ctx.ddgst) {
			struct iovec d = { nr->buf, nr->len };

			tcp_dgst_put(r->ddgst, tcp_ddgst_iov(&d, 1));
			u->iov[u->cnt++] = (struct iovec){ r->ddgst, 4 };
		}
		if (success) {
			tx_queue(c, u);
			return;
		}
	}
	n = tcp_build_capsule_resp(r->rsp_hdr, &c->ctx, &nr->rsp);
	u->iov[u->cnt++] = (struct iovec){ r->rsp_hdr, (size_t)n };
	tx_queue(c, u);
}

static void disconnect_msg(void *arg)
{
	struct tcp_conn *c = arg;

	__atomic_sub_fetch(&c->pending_msgs, 1, __ATOMIC_ACQ_REL);
	c->close_queued = true;
	queue_work(c);          /* closes, or frees an already closed one */
}

/* nvmf_transport_ops.disconnect, called by the core (tgt->lock held) on
 * any reactor: close on the connection's own reactor, on its next poller
 * turn, never inside the core's call stack. The pending message keeps the
 * connection's memory alive until it has run. */
static void tcp_disconnect(struct nvmf_sq *sq)
{
	struct tcp_conn *c = sq->tconn;

	if (c->rs->nr == nvmf_this_reactor) {
		if (!c->closing) {
			c->close_queued = true;
			queue_work(c);
		}
		return;
	}
	__atomic_add_fetch(&c->pending_msgs, 1, __ATOMIC_ACQ_REL);
	if (nvmf_reactor_call(c->rs->nr, disconnect_msg, c))
		__atomic_sub_fetch(&c->pending_msgs, 1, __ATOMIC_ACQ_REL);
}

static const struct nvmf_transport_ops tcp_ops = {
	.name = "tcp",
	.complete = tcp_complete,
	.disconnect = tcp_disconnect,
};

static void send_r2t(struct tcp_conn *c, struct tcp_req *r)
{
	struct tx_unit *u = &r->r2t_unit;
	int n = tcp_build_r2t(r->r2t_hdr, &c->ctx, r->req.cmd.cid, r->ttag, r->r2t_off, r->r2t_left);

	*u = (struct tx_unit){ .iov = { { r->r2t_hdr, (size_t)n } }, .cnt = 1 };
	tx_queue(c, u);
}

/* --- receive ------------------------------------------------------------------------ */

static void start_exec(struct tcp_conn *c, struct tcp_req *r)
{
	(void)c;
	r->state = TREQ_EXEC;
	if (r->status) {
		nvmf_req_complete(&r->req, r->status);
		return;
	}
	nvmf_req_execute(&r->req);
	/* a Connect just told us which queue this is */
	if (c->sq.ctrl && !c->closing)
		c->ctx.max_icd = c->sq.qid ? c->sq.port->inline_data_size : ADMIN_ICD;
}

static void expect_ch(struct tcp_conn *c)
{
	c->rx = RX_CH;
	c->hdr_have = 0;
	c->hdr_need = sizeof(struct nvme_tcp_hdr);
	c->rx_req = NULL;
}

/* After the header: padding, then data into dst (NULL: discard), then the
 * digest, then done(). */
static void expect_data(struct tcp_conn *c, struct tcp_req *r, uint8_t *dst)
{
	const struct nvme_tcp_hdr *ch = (const void *)c->hdr;

	c->rx_req = r;
	c->pad_left = tcp_pdu_pad_len(&c->ctx, ch);
	c->data_dst = dst;
	c->data_left = tcp_pdu_data_len(&c->ctx, ch);
	c->ddgst = tcp_ddgst_init();
	c->ddgst_have = 0;
	c->rx = c->pad_left ? RX_PAD : RX_DATA;
}

static int handle_capsule(struct tcp_conn *c)
{
	const struct nvme_tcp_cmd_pdu *pdu = (const void *)c->hdr;
	uint32_t icd = tcp_pdu_data_len(&c->ctx, &pdu->hdr);
	struct tcp_pdu_err err;
	struct tcp_req *r;
	uint64_t iova = 0;
	void *buf = NULL;

	if (!c->free_reqs) {
		/* more commands than the queue has entries */
		tcp_pdu_set_err(&err, NVME_TCP_FES_INVALID_HEADER, 0, "queue overrun");
		conn_fatal(c, &err);
		return -EPROTO;
	}
	if (icd || pdu->cmd.dptr.sgl.length) {
		buf = nvmf_buf_get(c->tgt, &iova);
		if (!buf) {
			/* no buffer now: keep the header, retry next turn */
			c->rx_stalled = true;
			queue_work(c);
			return -EAGAIN;
		}
	}
	r = req_get(c);
	r->req.buf = buf;
	r->req.buf_iova = iova;
	r->req.cmd = pdu->cmd;
	r->status = nvmf_req_prepare(&r->req, icd, tcp_pdu_icd_limit(&c->ctx, &pdu->cmd));
	if (icd) {
		r->state = TREQ_RECV;
		expect_data(c, r, r->status ? NULL : r->req.buf);
		return 0;
	}
	expect_ch(c);
	if (!r->status && r->req.xfer == NVMF_XFER_H2C) {
		r->state = TREQ_WAIT_H2C;
		r->r2t_off = 0;
		r->r2t_left = r->req.len;
		send_r2t(c, r);
		return 0;
	}
	start_exec(c, r);
	return 0;
}

static int handle_h2c_data(struct tcp_conn *c)
{
	const struct nvme_tcp_data_pdu *d = (const void *)c->hdr;
	struct tcp_pdu_err err;
	struct tcp_req *r;

	if (tcp_pdu_check_ttag(d->ttag, 1, CONN_REQS, &err))
		goto fatal;
	r = &c->reqs[d->ttag - 1];
	if (r->state != TREQ_WAIT_H2C) {
		tcp_pdu_set_err(&err, NVME_TCP_FES_INVALID_HEADER, TCP_PDU_FEI_TTAG, "no R2T outstanding for TTAG");
		goto fatal;
	}
	if (d->cccid != r->req.cmd.cid) {
		tcp_pdu_set_err(&err, NVME_TCP_FES_INVALID_HEADER, TCP_PDU_FEI_CCCID, "CCCID does not match TTAG");
		goto fatal;
	}
	if (tcp_pdu_check_h2c_data(d, r->r2t_off, r->r2t_left, r->req.len, &err))
		goto fatal;
	r->state = TREQ_RECV;
	expect_data(c, r, (uint8_t *)r->req.buf + d->datao);
	return 0;
fatal:
	conn_fatal(c, &err);
	return -EPROTO;
}

static int handle_header(struct tcp_conn *c)
{
	const struct nvme_tcp_hdr *ch = (const void *)c->hdr;
	struct tcp_pdu_err err = { 0 };
	int n;

	if (ch->type == NVME_TCP_ICREQ) {
		if (tcp_pdu_accept_icreq(&c->ctx, (const void *)c->hdr, &err))
			goto fatal;
		log_info("%s: ICReq: header digest %s, data digest %s, HPDA %u", c->peer,
			 c->ctx.hdgst ? "on" : "off", c->ctx.ddgst ? "on" : "off", c->ctx.hpda);
		n = tcp_build_icresp(c->ctrl_buf, &c->ctx);
		if (n < 0) {
			tcp_pdu_set_err(&err, NVME_TCP_FES_UNSUPPORTED_PARAM, 0, "cannot build ICResp");
			goto fatal;
		}
		c->ctrl_unit = (struct tx_unit){ .iov = { { c->ctrl_buf, (size_t)n } }, .cnt = 1 };
		tx_queue(c, &c->ctrl_unit);
		expect_ch(c);
		return 0;
	}
	if (tcp_pdu_check_hdr(&c->ctx, c->hdr, &err))
		goto fatal;
	switch (ch->type) {
	case NVME_TCP_CMD:
		return handle_capsule(c);
	case NVME_TCP_H2C_DATA:
		return handle_h2c_data(c);
	case NVME_TCP_H2C_TERM: {
		const struct nvme_tcp_term_pdu *t = (const void *)c->hdr;

		log_notice("%s: host terminated the connection: %s", c->peer, tcp_pdu_fes_str(t->fes));
		conn_close(c, "H2CTermReq");
		return -EPROTO;
	}
	}
	tcp_pdu_set_err(&err, NVME_TCP_FES_INVALID_HEADER, 0, "unexpected PDU type");
fatal:
	conn_fatal(c, &err);
	return -EPROTO;
}

/* All data of the current PDU is in (and the digest checked). */
static void data_done(struct tcp_conn *c, bool digest_ok)
{
	const struct nvme_tcp_hdr *ch = (const void *)c->hdr;
	struct tcp_req *r = c->rx_req;
	uint32_t len = tcp_pdu_data_len(&c->ctx, ch);

	expect_ch(c);
	if (!r)
		return;
	if (!digest_ok && !r->status) {
		/* reported on the command (not DNR: a retry may succeed) */
		log_warn("%s: data digest mismatch on cid %u", c->peer, r->req.cmd.cid);
		r->status = NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_DATA_XFER_ERROR);
	}
	if (ch->type == NVME_TCP_H2C_DATA) {
		r->r2t_off += len;
		r->r2t_left -= len;
		if (r->r2t_left) {
			r->state = TREQ_WAIT_H2C;
			return;
		}
	}
	start_exec(c, r);
}

/* Receive into dst; returns bytes read, 0 on EAGAIN, -1 when closed. */
static ssize_t rx_some(struct tcp_conn *c, void *dst, size_t len)
{
	ssize_t n = recv(c->fd, dst, len, MSG_DONTWAIT);

	if (n > 0)
		return n;
	if (n == 0) {
		conn_close(c, "closed by peer");
		return -1;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return 0;
	conn_close(c, strerror(errno));
	return -1;
}

/*
 * Take up to len bytes of the stream: from the staging buffer while it has
 * any, else (direct and len large) straight from the socket into dst, else
 * by refilling the staging buffer with one recv(). dst NULL: skip the bytes.
 * Returns bytes taken, 0 when the socket has nothing (EAGAIN), -1 closed.
 */
static ssize_t rx_take(struct tcp_conn *c, void *dst, size_t len, bool direct)
{
	size_t k;
	ssize_t n;

	if (c->rb_off == c->rb_len) {
		if (direct && dst && len >= RX_DIRECT_MIN)
			return rx_some(c, dst, len);
		if (!c->rbuf) {
			c->rbuf = malloc(RX_BUF_SIZE);
			if (!c->rbuf) {
				conn_close(c, "out of memory");
				return -1;
			}
		}
		n = rx_some(c, c->rbuf, RX_BUF_SIZE);
		if (n <= 0)
			return n;
		c->rb_off = 0;
		c->rb_len = (uint32_t)n;
	}
	k = c->rb_len - c->rb_off;
	if (k > len)
		k = len;
	if (dst)
		memcpy(dst, c->rbuf + c->rb_off, k);
	c->rb_off += (uint32_t)k;
	return (ssize_t)k;
}

/* Advance the receive state machine as far as the socket allows. */
static void conn_rx(struct tcp_conn *c)
{
	unsigned pdus = 0;

	while (!c->closing && !c->close_after_tx && !c->rx_stalled && pdus < RX_BUDGET) {
		ssize_t n;

		switch (c->rx) {
		case RX_CH:
		case RX_HDR:
			n = rx_take(c, c->hdr + c->hdr_have, c->hdr_need - c->hdr_have, false);
			if (n <= 0)
				return;
			c->hdr_have += (uint32_t)n;
			if (c->hdr_have < c->hdr_need)
				break;
			if (c->rx == RX_CH) {
				struct tcp_pdu_err err = { 0 };

				if (tcp_pdu_check_ch(&c->ctx, (const void *)c->hdr, &err)) {
					conn_fatal(c, &err);
					return;
				}
				c->hdr_need = tcp_pdu_hdr_total(&c->ctx, (const void *)c->hdr);
				c->rx = RX_HDR;
				if (c->hdr_have < c->hdr_need)
					break;
			}
			pdus++;
			if (handle_header(c) < 0)
				return;
			/* a PDU without data is complete */
			if (c->rx == RX_PAD || c->rx == RX_DATA) {
				if (!c->pad_left && !c->data_left)
					c->rx = RX_DDGST;
			}
			break;
		case RX_PAD:
			n = rx_take(c, NULL, c->pad_left, false);
			if (n <= 0)
				return;
			c->pad_left -= (uint32_t)n;
			if (!c->pad_left)
				c->rx = RX_DATA;
			break;
		case RX_DATA: {
			uint8_t *dst = c->data_dst;

			if (!dst) {
				/* data of a refused command: skip it, digest included */
				size_t k = c->rb_len - c->rb_off;

				if (!k) {
					n = rx_take(c, NULL, 0, false);
					if (n < 0 || (n == 0 && c->rb_off == c->rb_len))
						return;
					k = c->rb_len - c->rb_off;
				}
				if (k > c->data_left)
					k = c->data_left;
				if (c->ctx.ddgst)
					c->ddgst = tcp_ddgst_update(c->ddgst, c->rbuf + c->rb_off, k);
				c->rb_off += (uint32_t)k;
				n = (ssize_t)k;
			} else {
				n = rx_take(c, dst, c->data_left, true);
				if (n <= 0)
					return;
				if (c->ctx.ddgst)
					c->ddgst = tcp_ddgst_update(c->ddgst, dst, (size_t)n);
				c->data_dst += n;
			}
			c->data_left -= (uint32_t)n;
			if (!c->data_left) {
				if (tcp_pdu_has_ddgst((const void *)c->hdr))
					c->rx = RX_DDGST;
				else
					data_done(c, true);
			}
			break;
		}
		case RX_DDGST:
			if (!tcp_pdu_has_ddgst((const void *)c->hdr)) {
				data_done(c, true);
				break;
			}
			n = rx_take(c, c->ddgst_wire + c->ddgst_have, 4 - c->ddgst_have, false);
			if (n <= 0)
				return;
			c->ddgst_have += (uint32_t)n;
			if (c->ddgst_have == 4)
				data_done(c, tcp_dgst_get(c->ddgst_wire) == tcp_ddgst_final(c->ddgst));
			break;
		}
	}
	/* budget spent, or bytes left in the staging buffer that no socket
	 * event will announce again: come back next turn */
	if (pdus >= RX_BUDGET || (c->rb_off < c->rb_len && !c->closing && !c->close_after_tx))
		queue_work(c);
}

static void conn_event(void *arg, uint32_t events)
{
	struct tcp_conn *c = arg;

	if (events & EPOLLIN)
		conn_rx(c);
	if (!c->closing && (events & (EPOLLERR | EPOLLHUP)) && !(events & EPOLLIN))
		conn_close(c, "socket error");
	if (!c->closing && c->tx_head)
		tx_flush(c);
}

/* --- connection lifetime --------------------------------------------------------------- */

static void conn_free(struct tcp_conn *c)
{
	struct tcp_rstate *rs = c->rs;

	for (struct tcp_conn **pp = &rs->conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	/* it may still be on the work list: remove it */
	for (struct tcp_conn **pp = &rs->work_list; *pp; pp = &(*pp)->next_work) {
		if (*pp == c) {
			*pp = c->next_work;
			break;
		}
	}
	__atomic_sub_fetch(&nr_conns, 1, __ATOMIC_RELAXED);
	free(c->rbuf);
	free(c);
}

static void conn_close(struct tcp_conn *c, const char *why)
{
	if (c->closing)
		return;
	c->closing = true;
	log_info("%s: connection closed (%s)%s", c->peer, why, c->sq.ctrl ? "" : " before Connect");
	reactor_del_fd(conn_reactor(c), &c->rfd);
	close(c->fd);
	c->fd = -1;
	/* requests queued for sending will never be sent */
	while (c->tx_head) {
		struct tx_unit *u = c->tx_head;

		c->tx_head = u->next;
		if (u->release)
			req_put(u->release);
	}
	c->tx_tail = NULL;
	/* requests still receiving or waiting for data are dropped; those in
	 * a backend come back through tcp_complete and are released there */
	c->busy++;                      /* hold the connection during the sweep */
	for (unsigned i = 0; i < CONN_REQS; i++) {
		struct tcp_req *r = &c->reqs[i];

		if (r->state == TREQ_RECV || r->state == TREQ_WAIT_H2C)
			req_put(r);
	}
	nvmf_sq_destroy(&c->sq);        /* may free AER requests' owner: ours */
	/* AERs and other requests held by the core without a backend */
	for (unsigned i = 0; i < CONN_REQS; i++) {
		struct tcp_req *r = &c->reqs[i];

		if (r->state == TREQ_EXEC && r->req.cmd.opc == NVME_ADM_ASYNC_EVENT && r->req.sq->qid == 0)
			req_put(r);
	}
	c->busy--;
	queue_work(c);                  /* the poller frees it once nothing is in flight */
}

static void format_peer(const struct sockaddr_storage *ss, char *out, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)ss;

		inet_ntop(AF_INET, &s->sin_addr, host, sizeof(host));
		port = ntohs(s->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const void *)ss;

		inet_ntop(AF_INET6, &s->sin6_addr, host, sizeof(host));
		port = ntohs(s->sin6_port);
	}
	snprintf(out, len, "%s:%u", host, port);
}

static void local_addr(int fd, char *out, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char buf[64];

	out[0] = 0;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl))
		return;
	format_peer(&ss, buf, sizeof(buf));
	/* strip the port: the discovery log wants the address */
	char *colon = strrchr(buf, ':');

	if (colon)
		*colon = 0;
	snprintf(out, len, "%s", buf);
}

/* On the reactor that will own the connection. */
static void conn_new(struct nvmf_port *p, int fd, const struct sockaddr_storage *ss)
{
	struct tcp_rstate *rs = rs_of(nvmf_this_reactor);
	struct tcp_conn *c = rs ? calloc(1, sizeof(*c)) : NULL;
	int one = 1;

	if (!c) {
		close(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fd = fd;
	c->tgt = p->tgt;
	c->rs = rs;
	c->sq.port = p;
	c->sq.ops = &tcp_ops;
	c->sq.tconn = c;
	c->sq.reactor = rs->nr;
	format_peer(ss, c->peer, sizeof(c->peer));
	snprintf(c->sq.peer, sizeof(c->sq.peer), "%s", c->peer);
	local_addr(fd, c->sq.local_addr, sizeof(c->sq.local_addr));
	/* MAXH2CDATA covers the largest R2T (one R2T per command, for all of
	 * its data), so even hosts that ignore MAXH2CDATA stay within it */
	tcp_pdu_ctx_init(&c->ctx, p->tgt->max_xfer, ADMIN_ICD > p->inline_data_size ? ADMIN_ICD
										     : p->inline_data_size);
	for (unsigned i = CONN_REQS; i-- > 0;) {
		struct tcp_req *r = &c->reqs[i];

		r->conn = c;
		r->ttag = (uint16_t)(i + 1);
		r->next_free = c->free_reqs;
		c->free_reqs = r;
	}
	expect_ch(c);
	c->rfd = (struct reactor_fd){ .fd = fd, .events = EPOLLIN, .cb = conn_event, .arg = c };
	if (reactor_add_fd(&rs->nr->r, &c->rfd)) {
		close(fd);
		free(c);
		return;
	}
	c->next = rs->conns;
	rs->conns = c;
	__atomic_add_fetch(&nr_conns, 1, __ATOMIC_RELAXED);
	log_info("%s: connected to port %u (reactor %u)", c->peer, p->portid, rs->nr->idx);
}

struct adopt {
	struct nvmf_port *port;
	int fd;
	struct sockaddr_storage ss;
};

static void adopt_msg(void *arg)
{
	struct adopt *a = arg;

	conn_new(a->port, a->fd, &a->ss);
	free(a);
}

/* Hand a new connection to the next reactor: it owns it for good. */
static void dispatch_conn(struct nvmf_port *p, int fd, const struct sockaddr_storage *ss)
{
	struct nvmf_tgt *t = p->tgt;
	unsigned k = next_reactor++ % t->nr_reactors;
	struct adopt *a;

	if (&t->reactors[k] == nvmf_this_reactor) {
		conn_new(p, fd, ss);
		return;
	}
	a = malloc(sizeof(*a));
	if (!a) {
		close(fd);
		return;
	}
	*a = (struct adopt){ .port = p, .fd = fd, .ss = *ss };
	if (nvmf_reactor_call(&t->reactors[k], adopt_msg, a)) {
		close(fd);
		free(a);
	}
}

/* --- the poller: flush, deferred closes, stalled receivers ----------------------------- */

static int tcp_poll(void *arg)
{
	struct tcp_rstate *rs = arg;
	struct tcp_conn *list = rs->work_list;
	int work = 0;

	rs->work_list = NULL;
	while (list) {
		struct tcp_conn *c = list;

		list = c->next_work;
		c->on_work = false;
		work++;
		if (c->close_queued && !c->closing)
			conn_close(c, "controller teardown");
		if (c->closing) {
			if (!c->busy && !__atomic_load_n(&c->pending_msgs, __ATOMIC_ACQUIRE))
				conn_free(c);
			continue;
		}
		if (c->rx_stalled) {
			c->rx_stalled = false;
			if (handle_header(c) == -EAGAIN)
				continue;       /* still no buffer: re-queued */
			if (!c->closing && (c->rx == RX_PAD || c->rx == RX_DATA) && !c->pad_left && !c->data_left)
				c->rx = RX_DDGST;
			conn_rx(c);
		} else if (!c->tx_head) {
			conn_rx(c);     /* RX budget ran out last time */
		}
		if (!c->closing && c->tx_head)
			tx_flush(c);
	}
	return work;
}

/* --- listeners ------------------------------------------------------------------------- */

static void listener_event(void *arg, uint32_t events)
{
	struct tcp_listener *l = arg;

	(void)events;
	for (int i = 0; i < 16; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				log_warn("port %u: accept: %s", l->port->portid, strerror(errno));
			return;
		}
		dispatch_conn(l->port, fd, &ss);
	}
}

static int listen_socket(const struct cfg_addr *a, int *out, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE };
	struct addrinfo *ai;
	int fd, one = 1, rc;

	hints.ai_family = a->adrfam == CFG_ADRFAM_IPV6 ? AF_INET6 : AF_INET;
	rc = getaddrinfo(a->traddr, a->trsvcid, &hints, &ai);
	if (rc) {
		snprintf(err, errlen, "%s:%s: %s", a->traddr, a->trsvcid, gai_strerror(rc));
		return -EINVAL;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 128)) {
		rc = -errno;
		snprintf(err, errlen, "%s:%s: %s", a->traddr, a->trsvcid, strerror(errno));
		close(fd);
		goto out;
	}
	*out = fd;
	rc = 0;
out:
	freeaddrinfo(ai);
	return rc;
}

static void listener_try(void *arg);

static int listener_open(struct tcp_listener *l, char *err, size_t errlen)
{
	int rc = listen_socket(&l->port->addr, &l->fd, err, errlen);

	if (rc)
		return rc;
	l->rfd = (struct reactor_fd){ .fd = l->fd, .events = EPOLLIN, .cb = listener_event, .arg = l };
	rc = reactor_add_fd(&l->port->tgt->reactors[0].r, &l->rfd);
	if (rc) {
		close(l->fd);
		l->fd = -1;
		return rc;
	}
	log_notice("listening on %s:%s (tcp, port %u%s)", l->port->addr.traddr, l->port->addr.trsvcid,
		   l->port->portid, l->port->discovery_only ? ", discovery" : "");
	return 0;
}

static void listener_try(void *arg)
{
	struct tcp_listener *l = arg;
	char err[256];

	if (listener_open(l, err, sizeof(err)) == 0)
		reactor_timer_stop(&l->port->tgt->reactors[0].r, &l->retry);
}

int nvmf_tcp_listen(struct nvmf_port *p, char *err, size_t errlen)
{
	struct tcp_listener *l = calloc(1, sizeof(*l));
	struct tcp_listener **nl;
	int rc;

	if (!l)
		return -ENOMEM;
	nl = realloc(listeners, (nr_listeners + 1) * sizeof(*listeners));
	if (!nl) {
		free(l);
		return -ENOMEM;
	}
	listeners = nl;
	l->port = p;
	l->fd = -1;
	rc = listener_open(l, err, errlen);
	if (rc == -EADDRNOTAVAIL) {
		/* the address is not configured yet (network not up): retry */
		log_warn("%s; retrying every 2 s", err);
		reactor_timer_start(&p->tgt->reactors[0].r, &l->retry, 2000, 2000, listener_try, l);
		rc = 0;
	}
	if (rc) {
		free(l);
		return rc;
	}
	listeners[nr_listeners++] = l;
	p->listener = (struct nvmf_listener *)l;
	return 0;
}

void nvmf_tcp_stop_listening(struct nvmf_tgt *t)
{
	for (unsigned i = 0; i < nr_listeners; i++) {
		struct tcp_listener *l = listeners[i];

		reactor_timer_stop(&t->reactors[0].r, &l->retry);
		if (l->fd >= 0) {
			reactor_del_fd(&t->reactors[0].r, &l->rfd);
			close(l->fd);
		}
		l->port->listener = NULL;
		free(l);
	}
	free(listeners);
	listeners = NULL;
	nr_listeners = 0;
}

void nvmf_tcp_unlisten(struct nvmf_port *p)
{
	struct tcp_listener *l = (struct tcp_listener *)p->listener;
	struct nvmf_tgt *t = p->tgt;

	if (!l)
		return;
	for (unsigned i = 0; i < nr_listeners; i++) {
		if (listeners[i] != l)
			continue;
		listeners[i] = listeners[--nr_listeners];
		break;
	}
	reactor_timer_stop(&t->reactors[0].r, &l->retry);
	if (l->fd >= 0) {
		reactor_del_fd(&t->reactors[0].r, &l->rfd);
		close(l->fd);
	}
	log_notice("stopped listening on %s:%s (port %u)", p->addr.traddr, p->addr.trsvcid, p->portid);
	p->listener = NULL;
	free(l);
}

static void close_port_msg(void *arg)
{
	struct nvmf_port *p = arg;
	struct tcp_rstate *rs = nvmf_this_reactor->tcp;

	for (struct tcp_conn *c = rs ? rs->conns : NULL; c; c = c->next) {
		if (c->sq.port == p && !c->closing) {
			c->close_queued = true;
			queue_work(c);
		}
	}
}

void nvmf_tcp_close_port(struct nvmf_tgt *t, struct nvmf_port *p)
{
	for (unsigned i = 0; i < t->nr_reactors; i++)
		nvmf_reactor_call(&t->reactors[i], close_port_msg, p);
}

unsigned nvmf_tcp_nr_conns(void)
{
	return __atomic_load_n(&nr_conns, __ATOMIC_RELAXED);
}

/* At shutdown, on each reactor: close its connections; requests still in a
 * backend complete through the reactor's pollers and release them. */
void nvmf_tcp_reactor_drain(struct nvmf_reactor *nr)
{
	struct tcp_rstate *rs = nr->tcp;

	if (!rs)
		return;
	for (struct tcp_conn *c = rs->conns; c; c = c->next)
		if (!c->closing)
			conn_close(c, "target shutting down");
}

bool nvmf_tcp_reactor_idle(struct nvmf_reactor *nr)
{
	struct tcp_rstate *rs = nr->tcp;

	return !rs || !rs->conns;
}

void nvmf_tcp_reactor_fini(struct nvmf_reactor *nr)
{
	struct tcp_rstate *rs = nr->tcp;

	if (!rs)
		return;
	while (rs->conns) {
		struct tcp_conn *c = rs->conns;

		log_warn("%s: %u command(s) still in flight at shutdown", c->peer, c->busy);
		rs->conns = c->next;
		free(c->rbuf);
		free(c);
	}
	reactor_del_poller(&nr->r, &rs->poller);
	free(rs);
	nr->tcp = NULL;
}
