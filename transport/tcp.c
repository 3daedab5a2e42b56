/* SPDX-License-Identifier: MIT */
/*
 * NVMe/TCP connection engine. Receive: a per-connection state machine
 * (CH, rest of header, padding, data, data digest) reading headers into a
 * small buffer and data straight into the request's DMA buffer. Send: a
 * queue of PDU units flushed with one sendmsg per reactor turn, data sent
 * straight from the DMA buffer. The pure PDU checks and builders are in
 * tcp_pdu.c.
 *
 * Every byte from the network is hostile until Connect (docs/security.md):
 * a connection starts as a few hundred bytes with nothing else behind it,
 * reads exactly the bytes of the PDU it expects (no staging buffer), may
 * send ICReq and then one Connect capsule with its data in-capsule (at
 * most 8 KiB, received into a buffer of that size), nothing else, and has
 * a deadline for each. Only a successful Connect gives it its request
 * slots (as many as its queue has entries), a receive staging buffer and
 * access to the DMA pool, and even then the core's quotas bound what it
 * may hold. A connection that breaks the rules gets a C2HTermReq and is
 * closed; one that then does not take its C2HTermReq is closed anyway.
 *
 * Liveness rules that keep a reactor from hanging or spinning:
 *  - bytes already taken from the socket are processed whatever else
 *    happens: a connection with bytes in its staging buffer or with its
 *    PDU budget spent is "rx_pending" and the poller comes back to it;
 *  - a connection that must not read (waiting for a buffer, or closing
 *    after a C2HTermReq) drops EPOLLIN, so level-triggered readiness does
 *    not fire again and again for nothing;
 *  - a transmit unit is on the send queue at most once;
 *  - a closed connection is freed by the poller once no request of it is
 *    left in the core, whatever state the requests were in.
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
#include <linux/sockios.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/listen_fds.h"
#include "common/log.h"
#include "transport/tcp.h"
#include "transport/tcp_pdu.h"
#include "transport/tcp_tls.h"

#define RX_BUDGET 64                    /* PDUs per turn and connection, for fairness */
/* iovecs per sendmsg: a read's answer takes 3 (C2HData header, payload,
 * CapsuleResp; 2 when SUCCESS replaces the CapsuleResp), so 128 carry
 * about 42 reads. At QD128 (a recv brings about 64 commands) that is two
 * calls instead of four with 64: +3 % to +7 % IOPS on 4 KiB reads, QD32
 * and QD1 unchanged. With 256 (one call), under BBR (this test bed's
 * congestion control) the socket left startup and was paced in about
 * half the runs, at half the IOPS; 128 did not slow down in the runs
 * docs/performance.md lists. */
#define TX_IOV_MAX 128
/* Receive staging once connected: one recv() brings many capsules and
 * their headers; payload still outstanding in bulk goes straight into
 * its DMA buffer. */
#define RX_BUF_SIZE (64u * 1024)
#define RX_DIRECT_MIN (16u * 1024)
#define ADMIN_ICD TCP_PDU_FABRICS_ICD
/* A read's payload is sent from where the backend left it (a mem
 * namespace, a DMA buffer), often not in the cache: the kernel's copy into
 * the socket then waits on memory line after line. Before each sendmsg,
 * a prefetch every 2 KiB of the first 4 KiB of each payload in it starts
 * those loads side by side; the hardware streams the rest of each. On
 * 4 KiB random reads from a 512 MiB mem namespace: +9 % IOPS at QD32 and
 * +13 % at QD128 with spdk_nvme_perf, +7 % with nvmf-bridge-perf --poll;
 * with a 1 KiB stride, 128 KiB reads and a null namespace were unchanged.
 * Prefetching as each read completed (a whole receive batch ahead of the
 * copy) lost 4 % at QD128; a prefetch every 256 or 512 bytes lost 3-18 %
 * (docs/performance.md). */
#define TX_PREFETCH_MIN 1024u           /* iovecs this long are payloads */
#define TX_PREFETCH_STRIDE 2048u
#define TX_PREFETCH_MAX 4096u
/* how long a connection being closed for a protocol error (or a refused
 * Connect) may take to read what we still send it */
#define LINGER_MS 2000
/* deadlines are checked with this granularity at most */
#define DEADLINE_SLACK_MS 20
/* accept() failing for lack of fds or memory: wait this long */
#define ACCEPT_PAUSE_MS 100

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
	bool queued;
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
	uint8_t icd[];                  /* the Connect request only: its data */
};

/* An ICResp or a C2HTermReq, allocated when one is needed: a connection
 * that never sends an ICReq costs none */
struct tx_ctl {
	struct tx_unit unit;
	uint8_t buf[TCP_PDU_BUF_MAX];
};

struct tcp_listener {
	struct nvmf_listener base;      /* first: transport.c allocates and keeps it */
	struct reactor_fd rfd;
	bool open;                      /* fd listens (and rfd is on reactor 0) */
	struct reactor_timer resume;    /* accept() paused (EMFILE...) */
	int fd;
};

/* The transport's state on one reactor */
struct tcp_rstate {
	struct nvmf_reactor *nr;
	struct tcp_conn *conns;         /* all, doubly linked */
	struct tcp_conn *work_list;     /* flush / close / receive pending */
	struct tcp_conn *deadlines;     /* connections with a deadline, doubly linked */
	struct reactor_timer deadline_timer;
	struct reactor_poller poller;
	/* disconnects asked for by other reactors: one message at most */
	struct nvmf_msg disconnect_msg;
	bool disconnect_queued;
};

struct tcp_conn {
	struct nvmf_sq sq;
	struct tcp_rstate *rs;
	int fd;
	bool disconnect_req;            /* another reactor asked to close it (disconnect_msg) */
	struct reactor_fd rfd;
	uint8_t addr[16];               /* the peer's address, as admitted */
	struct tcp_pdu_ctx ctx;
	uint64_t accept_ns;
	uint64_t deadline_ns;
	const char *deadline_why;

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
	uint8_t *rbuf;                  /* RX_BUF_SIZE staging once connected */
	uint32_t rb_off, rb_len;

	/* send */
	struct tx_unit *tx_head, *tx_tail;
	struct tx_ctl *icresp;
	struct tx_ctl *term;
	uint32_t events;                /* what epoll watches */

	/* requests: none before Connect but the Connect itself */
	struct tcp_req *reqs;
	unsigned nr_reqs;
	struct tcp_req *free_reqs;
	struct tcp_req *creq;           /* the Connect, before the queue is connected */
	unsigned busy;                  /* requests not free */

	bool rx_pending;                /* bytes taken or budget spent: read on */
	bool rx_drained;                /* this pass's last recv came back short:
	                                   the socket is empty, do not ask again
	                                   (level-triggered EPOLLIN says when) */
	bool rx_stalled;                /* waiting for a data buffer: header kept */
	bool rx_retry;                  /* a buffer may be there now */
	bool connected;                 /* the Connect succeeded (queue_connected) */
	bool closing;
	bool close_after_tx;            /* send what is queued, read nothing more */
	bool draining;                  /* all sent, write side shut: discard input until EOF */
	bool close_queued;
	bool on_work;
	bool on_deadline;
	/* TLS (a port with tsas tls1.3): the handshake before the ICReq
	 * (tls), or a look at the first byte where TLS is optional */
	bool tls_peek;
	struct tcp_tls *tls;
	struct tcp_conn *prev, *next;   /* all connections of the reactor */
	struct tcp_conn *next_work;
	struct tcp_conn *dl_prev, *dl_next;
};

static unsigned next_reactor;           /* round robin for new connections */
static unsigned nr_conns;               /* all reactors; atomic */

static void conn_close(struct tcp_conn *c, const char *why);
static int tcp_poll(void *arg);
static void conn_fatal(struct tcp_conn *c, const struct tcp_pdu_err *err);

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
	/* after the devices: what they completed this turn goes out this turn */
	rs->poller = (struct reactor_poller){ .cb = tcp_poll, .arg = rs, .phase = REACTOR_PHASE_OUTPUT };
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

/* Watch the socket for what the connection can use now: reading only
 * while it may read, writing only while a send is blocked. */
static void update_events(struct tcp_conn *c, bool want_out)
{
	bool reading = c->draining || (!c->rx_stalled && !c->close_after_tx);
	uint32_t ev = (reading ? EPOLLIN : 0) | (want_out ? EPOLLOUT : 0);

	if (c->closing || ev == c->events)
		return;
	c->events = ev;
	reactor_mod_fd(conn_reactor(c), &c->rfd, ev);
}

/* --- deadlines: ICReq, Connect, linger after a C2HTermReq ---------------------- */

static void deadline_tick(void *arg);

static void deadline_arm(struct tcp_rstate *rs, uint64_t when_ns)
{
	uint64_t now = reactor_now_ns();
	uint64_t ms = when_ns > now ? (when_ns - now + 999999u) / 1000000u : 0;

	if (rs->deadline_timer.armed && rs->deadline_timer.deadline_ns <= when_ns)
		return;
	reactor_timer_start(&rs->nr->r, &rs->deadline_timer, ms < DEADLINE_SLACK_MS ? DEADLINE_SLACK_MS : ms, 0,
			    deadline_tick, rs);
}

static void deadline_clear(struct tcp_conn *c)
{
	struct tcp_rstate *rs = c->rs;

	if (!c->on_deadline)
		return;
	if (c->dl_prev)
		c->dl_prev->dl_next = c->dl_next;
	else
		rs->deadlines = c->dl_next;
	if (c->dl_next)
		c->dl_next->dl_prev = c->dl_prev;
	c->dl_prev = c->dl_next = NULL;
	c->on_deadline = false;
}

static const char why_no_icreq[] = "no ICReq in time", why_no_connect[] = "no Connect in time";

static void deadline_set(struct tcp_conn *c, uint64_t when_ns, const char *why)
{
	struct tcp_rstate *rs = c->rs;

	c->deadline_ns = when_ns;
	c->deadline_why = why;
	if (!c->on_deadline) {
		c->dl_prev = NULL;
		c->dl_next = rs->deadlines;
		if (rs->deadlines)
			rs->deadlines->dl_prev = c;
		rs->deadlines = c;
		c->on_deadline = true;
	}
	deadline_arm(rs, when_ns);
}

static void deadline_tick(void *arg)
{
	struct tcp_rstate *rs = arg;
	uint64_t now = reactor_now_ns(), next = UINT64_MAX;

	for (struct tcp_conn *c = rs->deadlines, *n; c; c = n) {
		n = c->dl_next;
		if (c->deadline_ns <= now) {
			/* no ICReq, or no Connect, in time (not the linger
			 * after a last PDU: that connection was done anyway) */
			if (c->deadline_why == why_no_icreq || c->deadline_why == why_no_connect)
				nvmf_count_refused(c->sq.port->tgt, c->deadline_why == why_no_icreq
									   ? NVMF_REFUSE_ICREQ_TIMEOUT
									   : NVMF_REFUSE_CONNECT_TIMEOUT);
			conn_close(c, c->deadline_why);         /* takes it off the list */
		}
		else if (c->deadline_ns < next)
			next = c->deadline_ns;
	}
	if (next != UINT64_MAX)
		deadline_arm(rs, next);
}

static uint64_t ms_after(uint64_t from_ns, uint32_t ms)
{
	return from_ns + (uint64_t)ms * 1000000u;
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

	if (r == c->creq) {
		/* the Connect's data lives in the request itself */
		c->creq = NULL;
		free(r);
	} else {
		nvmf_req_c2h_done(&r->req);
		if (r->req.buf) {
			nvmf_sq_buf_put(&c->sq, r->req.buf);
			r->req.buf = NULL;
		}
		r->state = TREQ_FREE;
		r->next_free = c->free_reqs;
		c->free_reqs = r;
	}
	c->busy--;
	if (c->closing && !c->busy)
		queue_work(c);          /* freed by the poller, never under a caller */
}

/* --- send -------------------------------------------------------------------------- */

static void tx_queue(struct tcp_conn *c, struct tx_unit *u)
{
	if (u->queued)          /* a unit sits on the queue once (a loop otherwise) */
		return;
	u->queued = true;
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

static void tx_retire(struct tcp_conn *c, struct tx_unit *u)
{
	c->tx_head = u->next;
	if (!c->tx_head)
		c->tx_tail = NULL;
	u->queued = false;
	u->next = NULL;
	if (u->release)
		req_put(u->release);
}

static inline void prefetch_payload(const void *p, size_t len)
{
	for (size_t o = 0; o < len && o < TX_PREFETCH_MAX; o += TX_PREFETCH_STRIDE)
		__builtin_prefetch((const char *)p + o, 0, 3);
}

/* Send as much of the queue as the socket takes, one sendmsg per batch. */
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
				if (iov[cnt].iov_len >= TX_PREFETCH_MIN)
					prefetch_payload(iov[cnt].iov_base, iov[cnt].iov_len);
				cnt++;
				skip = 0;
			}
		}
		msg.msg_iovlen = (size_t)cnt;
		n = sendmsg(c->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				update_events(c, true);
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
			tx_retire(c, u);
		}
	}
	if (c->closing)
		return;
	if (c->close_after_tx && !c->draining) {
		/* All is out. Closing now with unread input would send a
		 * reset that can destroy our last PDUs before the peer reads
		 * them: shut our side and discard its input until it closes
		 * (the linger deadline bounds how long). */
		c->draining = true;
		if (shutdown(c->fd, SHUT_WR)) {
			conn_close(c, c->term ? "after C2HTermReq" : "Connect refused");
			return;
		}
	}
	update_events(c, false);
}

static void drain_input(struct tcp_conn *c)
{
	uint8_t scratch[4096];

	for (int i = 0; i < 16; i++) {
		ssize_t n = recv(c->fd, scratch, sizeof(scratch), MSG_DONTWAIT);

		if (n > 0)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return;
		conn_close(c, c->term ? "after C2HTermReq" : "Connect refused");
		return;
	}
}

/* Stop reading; send what is queued, then close (at most LINGER_MS). */
static void conn_finish(struct tcp_conn *c)
{
	c->close_after_tx = true;
	update_events(c, false);
	deadline_set(c, ms_after(reactor_now_ns(), LINGER_MS), "peer did not take our last PDUs");
	queue_work(c);
}

/* Protocol error: C2HTermReq with the offending header after whatever is
 * queued (an ICResp first, say), then close; nothing more is read. */
static void conn_fatal(struct tcp_conn *c, const struct tcp_pdu_err *err)
{
	int n;

	if (c->closing || c->close_after_tx)
		return;
	log_peer_warn(c->sq.peer_ip, "%s: protocol error: %s (FES %u %s, FEI %u); closing the connection", c->sq.peer,
		      err->msg ? err->msg : "", err->fes, tcp_pdu_fes_str(err->fes), err->fei);
	if (err->silent) {
		conn_close(c, "H2CTermReq");
		return;
	}
	c->term = calloc(1, sizeof(*c->term));
	n = c->term ? tcp_build_c2h_term(c->term->buf, err->fes, err->fei, c->hdr, c->hdr_have) : -ENOMEM;
	if (n < 0) {
		conn_close(c, "protocol error");
		return;
	}
	c->term->unit = (struct tx_unit){ .iov = { { c->term->buf, (size_t)n } }, .cnt = 1 };
	tx_queue(c, &c->term->unit);
	conn_finish(c);
}

static void fatal(struct tcp_conn *c, uint16_t fes, uint32_t fei, const char *msg)
{
	struct tcp_pdu_err err;

	tcp_pdu_set_err(&err, fes, fei, msg);
	conn_fatal(c, &err);
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
		n = tcp_build_c2h_data(r->data_hdr, &c->ctx, le16_to_cpu(nr->cmd.cid), 0, nr->len, true, success);
		if (n < 0) {
			req_put(r);
			conn_close(c, "cannot build C2HData");
			return;
		}
		/* from the pool buffer, or (zero copy) where the backend
		 * pointed c2h_data; with a data digest, from a stable copy, so
		 * that an overlapping write cannot make data and digest differ */
		void *src = nr->buf;

		if (nr->c2h_data && c->ctx.ddgst) {
			memcpy(nr->buf, nr->c2h_data, nr->len);
			nvmf_req_c2h_done(nr);
		} else if (nr->c2h_data) {
			src = (void *)(uintptr_t)nr->c2h_data;
		}

		u->iov[u->cnt++] = (struct iovec){ r->data_hdr, (size_t)n };
		u->iov[u->cnt++] = (struct iovec){ src, nr->len };
		if (c->ctx.ddgst) {
			struct iovec d = { src, nr->len };

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

/* The flag is cleared before the connections are looked at (both
 * sequentially consistent): a request made meanwhile is either seen here
 * or finds the flag clear and posts the message again. */
static void disconnect_msg(void *arg)
{
	struct tcp_rstate *rs = arg;

	__atomic_store_n(&rs->disconnect_queued, false, __ATOMIC_SEQ_CST);
	for (struct tcp_conn *c = rs->conns; c; c = c->next) {
		if (__atomic_exchange_n(&c->disconnect_req, false, __ATOMIC_SEQ_CST)) {
			c->close_queued = true;
			queue_work(c);
		}
	}
}

/* nvmf_transport_ops.disconnect, called by the core (tgt->lock held) on
 * any reactor: close on the connection's own reactor, on its next poller
 * turn, never inside the core's call stack. From another reactor: a flag
 * and the reactor's one disconnect message, which finds the connection
 * by the flag (so nothing points at a connection freed meanwhile), and
 * which cannot fail: a teardown must not lose a disconnect. */
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
	__atomic_store_n(&c->disconnect_req, true, __ATOMIC_SEQ_CST);
	if (__atomic_exchange_n(&c->rs->disconnect_queued, true, __ATOMIC_SEQ_CST))
		return;         /* queued, and not started yet: it will see the flag */
	c->rs->disconnect_msg = (struct nvmf_msg){ .fn = disconnect_msg, .arg = c->rs };
	nvmf_reactor_post(c->rs->nr, &c->rs->disconnect_msg);
}

/* nvmf_transport_ops.queue_connected: the Connect is about to succeed
 * (on this connection's reactor, tgt->lock held). A request slot per
 * queue entry, so a host can never have more commands in flight than its
 * SQSIZE allows, and the staging buffer. */
static int tcp_queue_connected(struct nvmf_sq *sq)
{
	struct tcp_conn *c = sq->tconn;
	unsigned n = sq->size;
	struct tcp_req *reqs = calloc(n, sizeof(*reqs));
	uint8_t *rbuf = malloc(RX_BUF_SIZE);

	if (!reqs || !rbuf) {
		free(reqs);
		free(rbuf);
		return -ENOMEM;
	}
	c->reqs = reqs;
	c->nr_reqs = n;
	c->rbuf = rbuf;
	c->rb_off = c->rb_len = 0;
	for (unsigned i = n; i-- > 0;) {
		struct tcp_req *r = &reqs[i];

		r->conn = c;
		r->ttag = (uint16_t)(i + 1);
		r->next_free = c->free_reqs;
		c->free_reqs = r;
	}
	c->ctx.max_icd = sq->qid ? sq->port->inline_data_size : ADMIN_ICD;
	deadline_clear(c);
	if (c->icresp && !c->icresp->unit.queued) {
		free(c->icresp);
		c->icresp = NULL;
	}
	c->connected = true;
	return 0;
}

/* nvmf_transport_ops.req_drop: an AER the core held, never to be answered */
static void tcp_req_drop(struct nvmf_req *nr)
{
	req_put(nr->tpriv);
}

/* nvmf_transport_ops.buf_available: retry the capsule that waits */
static void tcp_buf_available(struct nvmf_sq *sq)
{
	struct tcp_conn *c = sq->tconn;

	if (c->rx_stalled && !c->closing) {
		c->rx_retry = true;
		queue_work(c);
	}
}

static void send_r2t(struct tcp_conn *c, struct tcp_req *r)
{
	struct tx_unit *u = &r->r2t_unit;
	int n = tcp_build_r2t(r->r2t_hdr, &c->ctx, le16_to_cpu(r->req.cmd.cid), r->ttag, r->r2t_off, r->r2t_left);

	*u = (struct tx_unit){ .iov = { { r->r2t_hdr, (size_t)n } }, .cnt = 1 };
	tx_queue(c, u);
}

/* --- receive ------------------------------------------------------------------------ */

static void start_exec(struct tcp_conn *c, struct tcp_req *r)
{
	bool is_connect = r == c->creq;

	r->state = TREQ_EXEC;
	if (r->status)
		nvmf_req_complete(&r->req, r->status);
	else
		nvmf_req_execute(&r->req);
	/* a refused Connect ends the connection once its answer is out
	 * (the Connect completes synchronously) */
	if (is_connect && !c->connected && !c->closing)
		conn_finish(c);
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

/* Before Connect: the Connect capsule and nothing else, its data
 * in-capsule, into a buffer of exactly its size. */
static int handle_connect_capsule(struct tcp_conn *c, uint32_t icd)
{
	const struct nvme_tcp_cmd_pdu *pdu = (const void *)c->hdr;
	const struct nvmf_connect_cmd *cmd = (const void *)&pdu->cmd;
	struct tcp_req *r;

	if (pdu->cmd.opc != NVME_FABRICS_OPC || cmd->fctype != NVMF_FCTYPE_CONNECT || c->creq) {
		fatal(c, NVME_TCP_FES_PDU_SEQ_ERR, 0,
		      c->creq ? "a second command before Connect completed" : "a command other than Connect before Connect");
		return -EPROTO;
	}
	if (!icd) {
		/* an R2T before Connect would let anyone pin a data buffer */
		fatal(c, NVME_TCP_FES_UNSUPPORTED_PARAM, 0, "Connect without in-capsule data");
		return -EPROTO;
	}
	r = calloc(1, sizeof(*r) + icd);
	if (!r) {
		conn_close(c, "out of memory");
		return -ENOMEM;
	}
	r->conn = c;
	r->req.sq = &c->sq;
	r->req.tpriv = r;
	r->req.buf = r->icd;
	r->req.cmd = pdu->cmd;
	c->creq = r;
	c->busy++;
	r->status = nvmf_req_prepare(&r->req, icd, tcp_pdu_icd_limit(&c->ctx, &pdu->cmd));
	r->state = TREQ_RECV;
	expect_data(c, r, r->status ? NULL : r->icd);
	return 0;
}

static int handle_capsule(struct tcp_conn *c)
{
	const struct nvme_tcp_cmd_pdu *pdu = (const void *)c->hdr;
	uint32_t icd = tcp_pdu_data_len(&c->ctx, &pdu->hdr);
	struct tcp_req *r;
	uint64_t iova = 0;
	void *buf = NULL;

	if (!c->connected)
		return handle_connect_capsule(c, icd);
	if (!c->free_reqs) {
		/* more commands than the queue has entries */
		fatal(c, NVME_TCP_FES_PDU_SEQ_ERR, 0, "more commands in flight than the queue's SQSIZE");
		return -EPROTO;
	}
	if (icd || pdu->cmd.dptr.sgl.length) {
		buf = nvmf_sq_buf_get(&c->sq, &iova);
		if (!buf) {
			/* over quota or none free: keep the header, stop
			 * reading, wait for buf_available */
			c->rx_stalled = true;
			update_events(c, false);
			return -EAGAIN;
		}
	}
	r = req_get(c);
	reactor_cmds++;
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

	/* no slots before Connect: no TTAG is valid then */
	if (tcp_pdu_check_ttag(le16_to_cpu(d->ttag), 1, (uint16_t)c->nr_reqs, &err))
		goto fatal;
	r = &c->reqs[le16_to_cpu(d->ttag) - 1];
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
	expect_data(c, r, (uint8_t *)r->req.buf + le32_to_cpu(d->datao));
	return 0;
fatal:
	conn_fatal(c, &err);
	return -EPROTO;
}

static int handle_icreq(struct tcp_conn *c)
{
	struct tcp_pdu_err err = { 0 };
	int n;

	if (tcp_pdu_accept_icreq(&c->ctx, (const void *)c->hdr, &err)) {
		conn_fatal(c, &err);
		return -EPROTO;
	}
	log_peer_info(c->sq.peer_ip, "%s: ICReq: header digest %s, data digest %s, HPDA %u", c->sq.peer,
		      c->ctx.hdgst ? "on" : "off", c->ctx.ddgst ? "on" : "off", c->ctx.hpda);
	c->icresp = calloc(1, sizeof(*c->icresp));
	if (!c->icresp) {
		conn_close(c, "out of memory");
		return -ENOMEM;
	}
	n = tcp_build_icresp(c->icresp->buf, &c->ctx);
	if (n < 0) {
		fatal(c, NVME_TCP_FES_UNSUPPORTED_PARAM, 0, "cannot build ICResp");
		return -EPROTO;
	}
	c->icresp->unit = (struct tx_unit){ .iov = { { c->icresp->buf, (size_t)n } }, .cnt = 1 };
	tx_queue(c, &c->icresp->unit);
	deadline_set(c, ms_after(c->accept_ns, c->sq.port->tgt->limits.connect_timeout_ms), why_no_connect);
	expect_ch(c);
	return 0;
}

static int handle_header(struct tcp_conn *c)
{
	const struct nvme_tcp_hdr *ch = (const void *)c->hdr;
	struct tcp_pdu_err err = { 0 };

	if (ch->type == NVME_TCP_ICREQ)
		return handle_icreq(c);
	if (tcp_pdu_check_hdr(&c->ctx, c->hdr, &err))
		goto fatal;
	switch (ch->type) {
	case NVME_TCP_CMD:
		return handle_capsule(c);
	case NVME_TCP_H2C_DATA:
		return handle_h2c_data(c);
	case NVME_TCP_H2C_TERM: {
		const struct nvme_tcp_term_pdu *t = (const void *)c->hdr;

		log_peer_notice(c->sq.peer_ip, "%s: host terminated the connection: %s", c->sq.peer,
				tcp_pdu_fes_str(le16_to_cpu(t->fes)));
		conn_close(c, "H2CTermReq");
		return -EPROTO;
	}
	}
	tcp_pdu_set_err(&err, NVME_TCP_FES_INVALID_HEADER, 0, "unexpected PDU type");
fatal:
	conn_fatal(c, &err);
	return -EPROTO;
}

/* A header was handled: a PDU without data (and digest) is complete. */
static void after_header(struct tcp_conn *c)
{
	if ((c->rx == RX_PAD || c->rx == RX_DATA) && !c->pad_left && !c->data_left)
		c->rx = RX_DDGST;
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
		/* reported on the command as a transient transport error: the
		 * data was damaged on the way, a retry may well succeed */
		log_peer_warn(c->sq.peer_ip, "%s: data digest mismatch on cid %u", c->sq.peer, r->req.cmd.cid);
		r->status = NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_TRANSIENT_TRANSPORT);
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
 * Take up to len bytes of the stream. Before Connect (no staging buffer):
 * exactly from the socket, never more than asked, into dst (or a scratch
 * buffer when skipping). Once connected: from the staging buffer while it
 * has any, else (direct and len large) straight from the socket into dst,
 * else by refilling the staging buffer with one recv(). dst NULL: skip.
 * Returns bytes taken, 0 when the socket has nothing (EAGAIN), -1 closed.
 */
static ssize_t rx_take(struct tcp_conn *c, void *dst, size_t len, bool direct)
{
	size_t k;
	ssize_t n;

	if (!c->rbuf) {
		uint8_t scratch[64];

		if (dst)
			return rx_some(c, dst, len);
		return rx_some(c, scratch, len < sizeof(scratch) ? len : sizeof(scratch));
	}
	if (c->rb_off == c->rb_len) {
		/* a recv that came back short emptied the socket: another one
		 * in this pass would be a system call for EAGAIN, before the
		 * responses of this pass are sent */
		if (c->rx_drained)
			return 0;
		if (direct && dst && len >= RX_DIRECT_MIN) {
			n = rx_some(c, dst, len);
			c->rx_drained = n >= 0 && (size_t)n < len;
			return n;
		}
		n = rx_some(c, c->rbuf, RX_BUF_SIZE);
		if (n <= 0)
			return n;
		c->rx_drained = n < (ssize_t)RX_BUF_SIZE;
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

/* Data of a command refused while receiving: skipped, digest included.
 * Only once connected (before Connect no data is ever refused: such a
 * capsule ends the connection), so the staging buffer exists. */
static ssize_t rx_skip_data(struct tcp_conn *c)
{
	size_t k = c->rb_len - c->rb_off;

	if (!c->rbuf) {
		fatal(c, NVME_TCP_FES_INVALID_HEADER, 0, "data that cannot be received");
		return -1;
	}
	if (!k) {
		ssize_t n = rx_take(c, NULL, 0, false);

		if (n < 0)
			return -1;
		k = c->rb_len - c->rb_off;
		if (!k)
			return 0;
	}
	if (k > c->data_left)
		k = c->data_left;
	if (c->ctx.ddgst)
		c->ddgst = tcp_ddgst_update(c->ddgst, c->rbuf + c->rb_off, k);
	c->rb_off += (uint32_t)k;
	return (ssize_t)k;
}

/* One step of the receive state machine. Returns > 0 to go on, 0 when
 * the socket has nothing more now, < 0 when reading must stop. */
static int rx_step(struct tcp_conn *c, unsigned *pdus)
{
	ssize_t n;

	switch (c->rx) {
	case RX_CH:
	case RX_HDR:
		n = rx_take(c, c->hdr + c->hdr_have, c->hdr_need - c->hdr_have, false);
		if (n <= 0)
			return (int)n;
		c->hdr_have += (uint32_t)n;
		if (c->hdr_have < c->hdr_need)
			return 1;
		if (c->rx == RX_CH) {
			struct tcp_pdu_err err = { 0 };

			if (tcp_pdu_check_ch(&c->ctx, (const void *)c->hdr, &err)) {
				conn_fatal(c, &err);
				return -1;
			}
			c->hdr_need = tcp_pdu_hdr_total(&c->ctx, (const void *)c->hdr);
			c->rx = RX_HDR;
			if (c->hdr_have < c->hdr_need)
				return 1;
		}
		(*pdus)++;
		if (handle_header(c) < 0)
			return -1;
		after_header(c);
		return 1;
	case RX_PAD:
		n = rx_take(c, NULL, c->pad_left, false);
		if (n <= 0)
			return (int)n;
		c->pad_left -= (uint32_t)n;
		if (!c->pad_left)
			c->rx = RX_DATA;
		return 1;
	case RX_DATA:
		if (!c->data_left) {
			c->rx = RX_DDGST;
			return 1;
		}
		if (!c->data_dst) {
			n = rx_skip_data(c);
		} else {
			n = rx_take(c, c->data_dst, c->data_left, true);
			if (n > 0 && c->ctx.ddgst)
				c->ddgst = tcp_ddgst_update(c->ddgst, c->data_dst, (size_t)n);
			if (n > 0)
				c->data_dst += n;
		}
		if (n <= 0)
			return (int)n;
		c->data_left -= (uint32_t)n;
		if (!c->data_left) {
			if (tcp_pdu_has_ddgst((const void *)c->hdr))
				c->rx = RX_DDGST;
			else
				data_done(c, true);
		}
		return 1;
	case RX_DDGST:
		if (!tcp_pdu_has_ddgst((const void *)c->hdr)) {
			data_done(c, true);
			return 1;
		}
		n = rx_take(c, c->ddgst_wire + c->ddgst_have, 4 - c->ddgst_have, false);
		if (n <= 0)
			return (int)n;
		c->ddgst_have += (uint32_t)n;
		if (c->ddgst_have == 4)
			data_done(c, tcp_dgst_get(c->ddgst_wire) == tcp_ddgst_final(c->ddgst));
		return 1;
	}
	return -1;
}

static bool can_read(const struct tcp_conn *c)
{
	return !c->closing && !c->close_after_tx && !c->rx_stalled;
}

/* Advance the receive state machine as far as the socket and the budget
 * allow. Bytes taken from the socket are never left without a way back:
 * with the budget spent, or bytes in the staging buffer (which no socket
 * event will announce again), the connection is marked rx_pending and the
 * poller continues on its next turn. */
static void conn_rx(struct tcp_conn *c)
{
	unsigned pdus = 0;
	int rc = 1;

	c->rx_pending = false;
	c->rx_drained = false;
	while (can_read(c) && pdus < RX_BUDGET) {
		rc = rx_step(c, &pdus);
		if (rc <= 0)
			break;
	}
	if (can_read(c) && (pdus >= RX_BUDGET || c->rb_off < c->rb_len)) {
		c->rx_pending = true;
		queue_work(c);
	}
}

/* Before the ICReq on a TLS port: the handshake, then the kernel has the
 * keys and the connection goes on in the clear as far as we can see. A
 * port where TLS is optional looks at the first byte: 16h begins a TLS
 * record, an ICReq begins with 00h. */
static void tls_event(struct tcp_conn *c)
{
	char why[256];
	bool want_write = false;
	int rc;

	if (c->tls_peek) {
		uint8_t b;
		ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			conn_close(c, n == 0 ? "closed by peer" : "socket error");
			return;
		}
		if (n < 0)
			return;
		c->tls_peek = false;
		if (b != 0x16) {        /* plain NVMe/TCP on a port where TLS is optional */
			conn_rx(c);
			return;
		}
		{
			const char *err;

			c->tls = tcp_tls_start(c->fd, c->sq.port->tgt, &err);
			if (!c->tls) {
				conn_close(c, err);
				return;
			}
		}
	}
	rc = tcp_tls_step(c->tls, &want_write, why, sizeof(why));
	if (rc == 0) {
		update_events(c, want_write);
		return;
	}
	if (rc < 0) {
		log_peer_notice(c->sq.peer_ip, "%s: %s", c->sq.peer, why);
		nvmf_count_refused(c->sq.port->tgt, NVMF_REFUSE_TLS);
		conn_close(c, "TLS handshake failed");
		return;
	}
	c->sq.tls = calloc(1, sizeof(*c->sq.tls));
	if (!c->sq.tls) {
		conn_close(c, "no memory");
		return;
	}
	snprintf(c->sq.tls->hostnqn, sizeof(c->sq.tls->hostnqn), "%s", tcp_tls_hostnqn(c->tls));
	snprintf(c->sq.tls->subnqn, sizeof(c->sq.tls->subnqn), "%s", tcp_tls_subnqn(c->tls));
	log_peer_info(c->sq.peer_ip, "%s: TLS 1.3 (%s) with the PSK of %s for %s", c->sq.peer, tcp_tls_cipher(c->tls),
		      c->sq.tls->hostnqn, c->sq.tls->subnqn);
	tcp_tls_free(c->tls);
	c->tls = NULL;
	update_events(c, false);
	conn_rx(c);             /* an ICReq may be there already */
}

static void conn_event(void *arg, uint32_t events)
{
	struct tcp_conn *c = arg;

	if (c->tls || c->tls_peek) {
		if (events & (EPOLLIN | EPOLLOUT))
			tls_event(c);
		else if (!c->closing)
			conn_close(c, "socket error or hang-up");
		return;
	}
	if ((events & EPOLLIN) && c->draining)
		drain_input(c);
	else if (events & EPOLLIN)
		conn_rx(c);
	if (!c->closing && (events & (EPOLLERR | EPOLLHUP)) && !(events & EPOLLIN))
		conn_close(c, "socket error or hang-up");
	if (!c->closing && c->tx_head)
		tx_flush(c);
}

/* --- connection lifetime --------------------------------------------------------------- */

static void conn_unlink(struct tcp_conn *c)
{
	struct tcp_rstate *rs = c->rs;

	if (c->prev)
		c->prev->next = c->next;
	else
		rs->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
}

static void conn_release_memory(struct tcp_conn *c)
{
	tcp_tls_free(c->tls);
	nvmf_sq_fini(&c->sq);
	free(c->reqs);
	free(c->rbuf);
	free(c->icresp);
	free(c->term);
	free(c->creq);
	free(c);
}

/* Only from the poller, with the connection just taken off the work list */
static void conn_free(struct tcp_conn *c)
{
	conn_unlink(c);
	__atomic_sub_fetch(&nr_conns, 1, __ATOMIC_RELAXED);
	conn_release_memory(c);
}

/* Data the peer never took would keep the kernel's socket (and its
 * buffers) alive after close, retrying at a peer that does not read:
 * reset the connection instead. */
static void abort_if_unsent(struct tcp_conn *c)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int unsent = 0;

	if (c->tx_head || (!ioctl(c->fd, SIOCOUTQ, &unsent) && unsent > 0))
		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

static void conn_close(struct tcp_conn *c, const char *why)
{
	if (c->closing)
		return;
	c->closing = true;
	log_peer_info(c->sq.peer_ip, "%s: connection closed (%s)%s", c->sq.peer, why,
		      c->connected ? "" : " before Connect");
	deadline_clear(c);
	nvmf_sq_buf_cancel(&c->sq);
	c->rx_stalled = c->rx_pending = c->rx_retry = false;
	reactor_del_fd(conn_reactor(c), &c->rfd);
	abort_if_unsent(c);
	close(c->fd);
	c->fd = -1;
	nvmf_conn_release(c->sq.port, c->addr);
	c->busy++;                      /* hold the connection during the sweep */
	/* requests queued for sending will never be sent */
	while (c->tx_head)
		tx_retire(c, c->tx_head);
	/* requests still receiving or waiting for data are dropped; those in
	 * a backend come back through tcp_complete and are released there */
	if (c->creq && c->creq->state == TREQ_RECV)
		req_put(c->creq);
	for (unsigned i = 0; i < c->nr_reqs; i++) {
		struct tcp_req *r = &c->reqs[i];

		if (r->state == TREQ_RECV || r->state == TREQ_WAIT_H2C)
			req_put(r);
	}
	nvmf_sq_destroy(&c->sq);        /* the AERs it held come back through tcp_req_drop */
	c->busy--;
	queue_work(c);                  /* the poller frees it once nothing is in flight */
}

static void format_peer(const struct sockaddr_storage *ss, char *out, size_t len)
{
	char host[INET6_ADDRSTRLEN];
	unsigned port = 0;

	nvmf_addr_str(ss, host, sizeof(host));
	if (ss->ss_family == AF_INET)
		port = ntohs(((const struct sockaddr_in *)ss)->sin_port);
	else if (ss->ss_family == AF_INET6)
		port = ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	snprintf(out, len, "%s:%u", host, port);
}

static void local_addr(int fd, char *out, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	out[0] = 0;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl))
		return;
	/* the address alone: the discovery log wants it */
	nvmf_addr_str(&ss, out, len);
}

/* On the reactor that will own the connection, already admitted (port and
 * address caps): the caller's admission is ours to release. */
static int conn_new(struct nvmf_port *p, int fd, const struct sockaddr_storage *ss, const uint8_t addr[16])
{
	struct tcp_rstate *rs = rs_of(nvmf_this_reactor);
	struct tcp_conn *c = rs ? calloc(1, sizeof(*c)) : NULL;
	int one = 1;

	if (!c)
		goto refuse;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fd = fd;
	c->rs = rs;
	memcpy(c->addr, addr, sizeof(c->addr));
	c->sq.port = p;
	c->sq.ops = &nvmf_tcp_transport;
	c->sq.tconn = c;
	c->sq.reactor = rs->nr;
	c->sq.c2h_any_memory = true;   /* sendmsg sends from any memory */
	format_peer(ss, c->sq.peer, sizeof(c->sq.peer));
	nvmf_addr_str(ss, c->sq.peer_ip, sizeof(c->sq.peer_ip));
	local_addr(fd, c->sq.local_addr, sizeof(c->sq.local_addr));
	/* MAXH2CDATA covers the largest R2T (one R2T per command, for all of
	 * its data), so even hosts that ignore MAXH2CDATA stay within it.
	 * Until Connect only fabrics-size in-capsule data. */
	tcp_pdu_ctx_init(&c->ctx, p->tgt->max_xfer, ADMIN_ICD);
	expect_ch(c);
	c->events = EPOLLIN;
	c->rfd = (struct reactor_fd){ .fd = fd, .events = EPOLLIN, .cb = conn_event, .arg = c };
	if (reactor_add_fd(&rs->nr->r, &c->rfd)) {
		free(c);
		goto refuse;
	}
	c->next = rs->conns;
	if (rs->conns)
		rs->conns->prev = c;
	rs->conns = c;
	__atomic_add_fetch(&nr_conns, 1, __ATOMIC_RELAXED);
	c->accept_ns = reactor_now_ns();
	deadline_set(c, ms_after(c->accept_ns, p->tgt->limits.icreq_timeout_ms), why_no_icreq);
	log_peer_info(c->sq.peer_ip, "%s: connected to port %u (reactor %u)", c->sq.peer, p->portid, rs->nr->idx);
	if (p->addr.tls && p->addr.treq == CFG_TREQ_NOT_REQUIRED) {
		c->tls_peek = true;
	} else if (p->addr.tls) {
		const char *why;

		c->tls = tcp_tls_start(fd, p->tgt, &why);
		if (!c->tls)
			conn_close(c, why);
	}
	return 0;

refuse:
	close(fd);
	nvmf_conn_release(p, addr);
	return -ENOMEM;
}

struct adopt {
	struct nvmf_port *port;
	int fd;
	struct sockaddr_storage ss;
	uint8_t addr[16];
};

static void adopt_msg(void *arg)
{
	struct adopt *a = arg;

	conn_new(a->port, a->fd, &a->ss, a->addr);
	free(a);
}

/* Hand a new connection to the next reactor: it owns it for good. */
static void dispatch_conn(struct nvmf_port *p, int fd, const struct sockaddr_storage *ss, const uint8_t addr[16])
{
	struct nvmf_tgt *t = p->tgt;
	unsigned k = next_reactor++ % t->nr_reactors;
	struct adopt *a;

	if (&t->reactors[k] == nvmf_this_reactor) {
		conn_new(p, fd, ss, addr);
		return;
	}
	a = malloc(sizeof(*a));
	if (!a)
		goto refuse;
	*a = (struct adopt){ .port = p, .fd = fd, .ss = *ss };
	memcpy(a->addr, addr, sizeof(a->addr));
	if (nvmf_reactor_call(&t->reactors[k], adopt_msg, a)) {
		free(a);
		goto refuse;
	}
	return;
refuse:
	close(fd);
	nvmf_conn_release(p, addr);
}

int nvmf_tcp_serve_fd(struct nvmf_port *p, int fd)
{
	struct sockaddr_storage ss = { .ss_family = AF_UNSPEC };
	uint8_t addr[16] = { 0 };
	const char *why;

	if (nvmf_conn_admit(p, addr, &why)) {
		close(fd);
		return -EBUSY;
	}
	return conn_new(p, fd, &ss, addr);
}

/* --- the poller: flush, deferred closes, pending receives ----------------------------- */

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
			if (!c->busy && !c->on_work)
				conn_free(c);
			continue;
		}
		if (c->rx_retry) {
			c->rx_retry = false;
			c->rx_stalled = false;
			update_events(c, c->events & EPOLLOUT);
			if (handle_header(c) == -EAGAIN)
				continue;       /* still no buffer: waiting again */
			if (!c->closing && !c->close_after_tx) {
				after_header(c);
				c->rx_pending = true;
			}
		}
		if (c->rx_pending)
			conn_rx(c);
		if (!c->closing && c->tx_head)
			tx_flush(c);
	}
	return work;
}

/* --- listeners ------------------------------------------------------------------------- */

static void listener_resume(void *arg)
{
	struct tcp_listener *l = arg;

	reactor_mod_fd(&l->base.port->tgt->reactors[0].r, &l->rfd, EPOLLIN);
}

/* Out of fds or memory: stop accepting for a moment instead of spinning
 * on a listener that stays readable (the backlog keeps the callers). */
static void listener_pause(struct tcp_listener *l, int err)
{
	char src[32];

	snprintf(src, sizeof(src), "listener:%u", l->base.port->portid);
	log_peer_warn(src, "port %u: accept: %s; pausing the listener for %u ms (%u connections on the port)",
		      l->base.port->portid, strerror(err), ACCEPT_PAUSE_MS,
		      __atomic_load_n(&l->base.port->nr_conns, __ATOMIC_RELAXED));
	reactor_mod_fd(&l->base.port->tgt->reactors[0].r, &l->rfd, 0);
	reactor_timer_start(&l->base.port->tgt->reactors[0].r, &l->resume, ACCEPT_PAUSE_MS, 0, listener_resume, l);
}

static void listener_event(void *arg, uint32_t events)
{
	struct tcp_listener *l = arg;

	(void)events;
	for (int i = 0; i < 16; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		uint8_t addr[16];
		const char *why;

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				listener_pause(l, errno);
			else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
				log_peer_warn("accept", "port %u: accept: %s", l->base.port->portid, strerror(errno));
			return;
		}
		nvmf_addr_key(&ss, addr);
		if (nvmf_conn_admit(l->base.port, addr, &why)) {
			char ip[48];

			nvmf_addr_str(&ss, ip, sizeof(ip));
			log_peer_notice(ip, "%s: connection refused on port %u: %s reached", ip, l->base.port->portid, why);
			close(fd);
			continue;
		}
		dispatch_conn(l->base.port, fd, &ss, addr);
	}
}

/* A listening socket for the address: the one the service manager handed
 * over (*handed set) when it has one bound there, else a new one */
static int listen_socket(const struct cfg_addr *a, int *out, bool *handed, char *err, size_t errlen)
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
	*handed = false;
	fd = listen_fds_take(ai->ai_addr, ai->ai_addrlen);
	if (fd >= 0) {
		*handed = true;
		*out = fd;
		rc = 0;
		goto out;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s:%s: socket: %s", a->traddr, a->trsvcid, strerror(errno));
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 1024)) {
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

/* nvmf_transport_ops.listen */
static int tcp_listen(struct nvmf_listener *base, char *err, size_t errlen)
{
	struct tcp_listener *l = (struct tcp_listener *)base;
	char name[128];
	bool handed;
	int rc;

	rc = listen_socket(&l->base.port->addr, &l->fd, &handed, err, errlen);
	if (rc)
		return rc;
	l->rfd = (struct reactor_fd){ .fd = l->fd, .events = EPOLLIN, .cb = listener_event, .arg = l };
	rc = reactor_add_fd(&l->base.port->tgt->reactors[0].r, &l->rfd);
	if (rc) {
		snprintf(err, errlen, "%s:%s: epoll: %s", l->base.port->addr.traddr, l->base.port->addr.trsvcid, strerror(-rc));
		close(l->fd);
		return rc;
	}
	l->open = true;
	log_notice("listening on %s:%s (tcp, port %u%s%s)", l->base.port->addr.traddr, l->base.port->addr.trsvcid,
		   l->base.port->portid, l->base.port->discovery_only ? ", discovery" : "",
		   handed ? ", socket handed over by the service manager" : "");
	/* kept open by the service manager across a restart */
	listen_fds_name(name, sizeof(name), l->base.port->addr.traddr, l->base.port->addr.trsvcid);
	listen_fds_store(l->fd, name);
	return 0;
}

/* nvmf_transport_ops.unlisten */
static void tcp_unlisten(struct nvmf_listener *base, bool removed)
{
	struct tcp_listener *l = (struct tcp_listener *)base;
	struct nvmf_port *p = base->port;

	reactor_timer_stop(&p->tgt->reactors[0].r, &l->resume);
	if (!l->open)
		return;
	reactor_del_fd(&p->tgt->reactors[0].r, &l->rfd);
	close(l->fd);
	l->open = false;
	if (removed) {
		/* the service manager lets go of its copy too */
		char name[128];

		listen_fds_name(name, sizeof(name), p->addr.traddr, p->addr.trsvcid);
		listen_fds_unstore(name);
	}
}

/* nvmf_transport_ops.close_port, on reactor nr */
static void tcp_close_port(struct nvmf_reactor *nr, struct nvmf_port *p)
{
	struct tcp_rstate *rs = nr->tcp;

	for (struct tcp_conn *c = rs ? rs->conns : NULL; c; c = c->next) {
		if (c->sq.port == p && !c->closing) {
			c->close_queued = true;
			queue_work(c);
		}
	}
}

unsigned nvmf_tcp_nr_conns(void)
{
	return __atomic_load_n(&nr_conns, __ATOMIC_RELAXED);
}

/* nvmf_transport_ops.reactor_drain: requests still in a backend complete
 * through the reactor's pollers and release their connections. */
static void tcp_reactor_drain(struct nvmf_reactor *nr)
{
	struct tcp_rstate *rs = nr->tcp;

	if (!rs)
		return;
	for (struct tcp_conn *c = rs->conns; c; c = c->next)
		if (!c->closing)
			conn_close(c, "target shutting down");
}

/* nvmf_transport_ops.reactor_idle */
static bool tcp_reactor_idle(struct nvmf_reactor *nr)
{
	struct tcp_rstate *rs = nr->tcp;

	return !rs || !rs->conns;
}

/* nvmf_transport_ops.reactor_fini */
void nvmf_tcp_reactor_fini(struct nvmf_reactor *nr)
{
	struct tcp_rstate *rs = nr->tcp;

	if (!rs)
		return;
	while (rs->conns) {
		struct tcp_conn *c = rs->conns;

		log_warn("%s: %u command(s) still in flight at shutdown", c->sq.peer, c->busy);
		if (!c->closing)
			conn_close(c, "target shutting down");
		conn_unlink(c);
		conn_release_memory(c);
	}
	reactor_timer_stop(&nr->r, &rs->deadline_timer);
	reactor_del_poller(&nr->r, &rs->poller);
	free(rs);
	nr->tcp = NULL;
}

/* TSAS of a discovery log entry: SECTYPE (TLS 1.3 or none) */
static void tcp_disc_tsas(const struct cfg_addr *a, uint8_t tsas[256])
{
	if (a->tls)
		tsas[0] = 2;            /* SECTYPE: TLS 1.3 */
}

const struct nvmf_transport_ops nvmf_tcp_transport = {
	.name = "tcp",
	.trtype = CFG_TRTYPE_TCP,
	.listener_size = sizeof(struct tcp_listener),
	.listen = tcp_listen,
	.unlisten = tcp_unlisten,
	.close_port = tcp_close_port,
	.reactor_drain = tcp_reactor_drain,
	.reactor_idle = tcp_reactor_idle,
	.reactor_fini = nvmf_tcp_reactor_fini,
	.nr_conns = nvmf_tcp_nr_conns,
	.sgls = 0,                      /* transport SGL data blocks: in the core's base set */
	.discovery_port = true,
	.disc_tsas = tcp_disc_tsas,
	.complete = tcp_complete,
	.disconnect = tcp_disconnect,
	.queue_connected = tcp_queue_connected,
	.req_drop = tcp_req_drop,
	.buf_available = tcp_buf_available,
};
