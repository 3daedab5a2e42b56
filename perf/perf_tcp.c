/* SPDX-License-Identifier: MIT */
/*
 * The load generator's NVMe/TCP I/O path: see perf_tcp.h.
 */
#include "perf/perf_tcp.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "nvme/cmd.h"
#include "nvme/tcp.h"

/* SGL descriptor types of the TCP transport (TCP 1.0 3.3.7) */
#define SGL_TYPE_ICD        0x01
#define SGL_TYPE_TRANSPORT  0x5a

/* a command capsule or data PDU header, its digest and padding up to
 * CPDA 31 (128 bytes) */
#define PDU_ROOM (sizeof(struct nvme_tcp_cmd_pdu) + NVME_TCP_DIGEST_LEN + 128)
#define RX_BUF_SIZE (1u << 20)
#define SEND_IOV_MAX 1024

struct ptcp_slot {
	bool busy;
	bool read;
	bool icd;                  /* write data went in the capsule */
	bool dd_err;               /* a C2HData digest did not match */
	uint16_t cid;
	uint64_t lba;
	uint32_t len;
	uint32_t xfer;             /* data bytes moved so far */
	uint64_t t_submit;
	uint8_t *buf;
	uint32_t ddgst_out;
	uint8_t hdr[PDU_ROOM];
	/* H2CData PDUs answering R2Ts, used round robin */
	unsigned h2c_max, h2c_next;
	uint8_t (*h2c_hdr)[PDU_ROOM];
	uint32_t *h2c_dd;
};

__attribute__((format(printf, 3, 4)))
static int q_fail(struct ptcp_q *q, int err, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (q->dead)
		return q->dead;
	n = snprintf(q->err, sizeof(q->err), "qid %u: ", q->c.qid);
	va_start(ap, fmt);
	vsnprintf(q->err + n, sizeof(q->err) - (size_t)n, fmt, ap);
	va_end(ap);
	q->dead = err;
	return err;
}

static uint32_t align_up(uint32_t v, uint32_t a)
{
	return (v + a - 1) / a * a;
}

int ptcp_q_init(struct ptcp_q *q, const struct ptcp_conn *c, const struct ptcp_job *job,
		struct ptcp_stats *st, unsigned depth)
{
	uint32_t len = job->nlb * job->bs;
	uint8_t *data = NULL;
	unsigned per_slot_iov;
	int fl;

	memset(q, 0, sizeof(*q));
	q->c = *c;
	q->job = job;
	q->st = st;
	q->depth = depth;
	q->wl = job->wl;
	q->issue_left = UINT64_MAX;
	q->rng = job->seed * 0x9e3779b97f4a7c15ull + c->qid + 1;
	if (!q->c.maxh2cdata)
		q->c.maxh2cdata = 4096;
	q->slots = calloc(depth, sizeof(*q->slots));
	q->free = calloc(depth, sizeof(*q->free));
	if (posix_memalign((void **)&data, 4096, (size_t)depth * len))
		data = NULL;
	q->rx_size = RX_BUF_SIZE;
	q->rx = malloc(q->rx_size);
	if (!q->slots || !q->free || !data || !q->rx)
		goto nomem;
	for (unsigned i = 0; i < depth; i++) {
		struct ptcp_slot *s = &q->slots[i];

		s->cid = (uint16_t)i;
		s->buf = data + (size_t)i * len;
		s->h2c_max = (len + q->c.maxh2cdata - 1) / q->c.maxh2cdata;
		if (!s->h2c_max)
			s->h2c_max = 1;
		s->h2c_hdr = calloc(s->h2c_max, sizeof(*s->h2c_hdr));
		s->h2c_dd = calloc(s->h2c_max, sizeof(*s->h2c_dd));
		if (!s->h2c_hdr || !s->h2c_dd)
			goto nomem;
		q->free[q->nfree++] = (uint16_t)(depth - 1 - i);
	}
	if (job->random_data) {
		uint64_t s = job->seed ^ 0xa5a5a5a5deadbeefull;

		for (size_t off = 0; off + 8 <= (size_t)depth * len; off += 8) {
			uint64_t v = perf_rand(&s);

			memcpy(data + off, &v, 8);
		}
	}
	/* a command: header, data, digest; each H2CData PDU the same */
	per_slot_iov = 3 + 3 * q->slots[0].h2c_max;
	q->iov_cap = depth * per_slot_iov + 8;
	q->iov = calloc(q->iov_cap, sizeof(*q->iov));
	if (!q->iov)
		goto nomem;
	fl = fcntl(c->fd, F_GETFL);
	if (fl < 0 || fcntl(c->fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return q_fail(q, -errno, "O_NONBLOCK: %s", strerror(errno));
	return 0;
nomem:
	if (!q->slots || q->slots[0].buf != data)
		free(data);   /* else ptcp_q_fini frees it */
	return q_fail(q, -ENOMEM, "out of memory for %u slots of %u bytes", depth, len);
}

void ptcp_q_fini(struct ptcp_q *q)
{
	if (q->slots) {
		free(q->slots[0].buf);
		for (unsigned i = 0; i < q->depth; i++) {
			free(q->slots[i].h2c_hdr);
			free(q->slots[i].h2c_dd);
		}
	}
	free(q->slots);
	free(q->free);
	free(q->iov);
	free(q->rx);
	if (q->c.fd >= 0)
		close(q->c.fd);
	q->c.fd = -1;
	q->slots = NULL;
	q->free = NULL;
	q->iov = NULL;
	q->rx = NULL;
}

/* --- send ------------------------------------------------------------------ */

static void iov_push(struct ptcp_q *q, void *base, size_t len)
{
	if (!len)
		return;
	if (q->iov_head + q->iov_cnt == q->iov_cap) {
		/* compact: what is still unsent moves to the front */
		memmove(q->iov, q->iov + q->iov_head, q->iov_cnt * sizeof(*q->iov));
		q->iov_head = 0;
	}
	q->iov[q->iov_head + q->iov_cnt++] = (struct iovec){ base, len };
}

int ptcp_flush(struct ptcp_q *q)
{
	if (q->dead)
		return q->dead;
	while (q->iov_cnt) {
		struct iovec *v = &q->iov[q->iov_head];
		struct iovec first = v[0];
		struct msghdr mh = { .msg_iov = v };
		ssize_t n;

		mh.msg_iovlen = q->iov_cnt < SEND_IOV_MAX ? q->iov_cnt : SEND_IOV_MAX;
		v[0].iov_base = (uint8_t *)v[0].iov_base + q->iov_off;
		v[0].iov_len -= q->iov_off;
		n = sendmsg(q->c.fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		v[0] = first;
		q->sendmsgs++;
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return -EAGAIN;
			if (errno == EINTR)
				continue;
			return q_fail(q, -errno, "send: %s", strerror(errno));
		}
		while (n > 0) {
			size_t left = q->iov[q->iov_head].iov_len - q->iov_off;

			if ((size_t)n >= left) {
				n -= (ssize_t)left;
				q->iov_head++;
				q->iov_cnt--;
				q->iov_off = 0;
			} else {
				q->iov_off += (size_t)n;
				n = 0;
			}
		}
	}
	q->iov_head = 0;
	q->iov_off = 0;
	return 0;
}

static uint64_t pick_lba(struct ptcp_q *q, bool random)
{
	uint32_t nlb = q->job->nlb;
	uint64_t lba;

	if (random) {
		uint64_t units = q->region_blocks / nlb;

		return q->region_start + (perf_rand(&q->rng) % units) * nlb;
	}
	lba = q->seq_next;
	q->seq_next += nlb;
	if (q->seq_next + nlb > q->region_start + q->region_blocks)
		q->seq_next = q->region_start;
	return lba;
}

static void submit_one(struct ptcp_q *q, uint64_t now)
{
	const struct ptcp_job *j = q->job;
	struct ptcp_slot *s = &q->slots[q->free[--q->nfree]];
	struct nvme_tcp_cmd_pdu *pdu = (void *)s->hdr;
	uint32_t hd = q->c.hdgst ? NVME_TCP_DIGEST_LEN : 0;
	uint32_t dd = q->c.ddgst ? NVME_TCP_DIGEST_LEN : 0;
	uint32_t hlen;
	bool random;

	switch (q->wl) {
	case WL_RANDREAD: s->read = true; random = true; break;
	case WL_READ: s->read = true; random = false; break;
	case WL_RANDWRITE: s->read = false; random = true; break;
	case WL_WRITE: s->read = false; random = false; break;
	default:
		s->read = perf_rand(&q->rng) % 100 < j->rwmixread;
		random = true;
		break;
	}
	s->lba = pick_lba(q, random);
	s->len = j->nlb * j->bs;
	s->xfer = 0;
	s->dd_err = false;
	s->busy = true;
	s->icd = !s->read && s->len <= q->c.icd_max;
	s->t_submit = now;
	if (!s->read && j->verify)
		pattern_fill(s->buf, s->lba, j->nlb, j->bs, j->seed);

	memset(pdu, 0, sizeof(*pdu));
	pdu->cmd.opc = s->read ? NVME_CMD_READ : NVME_CMD_WRITE;
	pdu->cmd.flags = NVME_SQE_PSDT_SGL;
	pdu->cmd.cid = cpu_to_le16(s->cid);
	pdu->cmd.nsid = cpu_to_le32(j->nsid);
	pdu->cmd.cdw10 = cpu_to_le32((uint32_t)s->lba);
	pdu->cmd.cdw11 = cpu_to_le32((uint32_t)(s->lba >> 32));
	pdu->cmd.cdw12 = cpu_to_le32((j->nlb - 1) & 0xffff);
	pdu->cmd.dptr.sgl.length = cpu_to_le32(s->len);
	pdu->cmd.dptr.sgl.type = s->icd ? SGL_TYPE_ICD : SGL_TYPE_TRANSPORT;
	pdu->hdr.type = NVME_TCP_CMD;
	pdu->hdr.flags = hd ? NVME_TCP_F_HDGST : 0;
	pdu->hdr.hlen = sizeof(*pdu);
	if (s->icd) {
		uint32_t pdo = align_up(sizeof(*pdu) + hd, (q->c.cpda + 1u) * 4);

		if (dd)
			pdu->hdr.flags |= NVME_TCP_F_DDGST;
		pdu->hdr.pdo = (uint8_t)pdo;
		pdu->hdr.plen = cpu_to_le32(pdo + s->len + dd);
		hlen = pdo;
		memset(s->hdr + sizeof(*pdu), 0, pdo - sizeof(*pdu));
	} else {
		pdu->hdr.plen = cpu_to_le32(sizeof(*pdu) + hd);
		hlen = le32_to_cpu(pdu->hdr.plen);
	}
	if (hd) {
		uint32_t dg = crc32c(0, pdu, sizeof(*pdu));

		put_le32(s->hdr + sizeof(*pdu), dg);
	}
	iov_push(q, s->hdr, hlen);
	if (s->icd) {
		iov_push(q, s->buf, s->len);
		if (dd) {
			s->ddgst_out = crc32c(0, s->buf, s->len);
			iov_push(q, &s->ddgst_out, 4);
		}
		s->xfer = s->len;
	}
	q->inflight++;
	if (q->issue_left != UINT64_MAX)
		q->issue_left--;
}

unsigned ptcp_fill(struct ptcp_q *q, uint64_t now)
{
	unsigned n = 0;

	if (q->dead)
		return 0;
	while (q->nfree && q->issue_left) {
		submit_one(q, now);
		n++;
	}
	return n;
}

/* --- receive ----------------------------------------------------------------- */

static void slot_done(struct ptcp_q *q, struct ptcp_slot *s, uint16_t status, uint64_t now)
{
	struct ptcp_stats *st = q->st;
	const struct ptcp_job *j = q->job;

	if (s->dd_err && !status)
		status = NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_DATA_XFER_ERROR);
	if (status) {
		if (!st->errors)
			st->first_err_status = status;
		st->errors++;
	} else if (s->read && q->check_reads) {
		st->mismatches += pattern_check(s->buf, s->lba, j->nlb, j->bs, j->seed);
		st->verified += j->nlb;
	}
	if (now >= st->win_start_ns && now <= st->win_end_ns) {
		if (s->read)
			st->reads++;
		else
			st->writes++;
		st->bytes += s->len;
		lat_add(&st->lat, now - s->t_submit);
	}
	s->busy = false;
	q->free[q->nfree++] = s->cid;
	q->inflight--;
}

static struct ptcp_slot *find_slot(struct ptcp_q *q, uint16_t cid)
{
	if (cid >= q->depth || !q->slots[cid].busy)
		return NULL;
	return &q->slots[cid];
}

static int handle_r2t(struct ptcp_q *q, const struct nvme_tcp_r2t_pdu *r)
{
	struct ptcp_slot *s = find_slot(q, le16_to_cpu(r->cccid));
	uint32_t hd = q->c.hdgst ? NVME_TCP_DIGEST_LEN : 0;
	uint32_t dd = q->c.ddgst ? NVME_TCP_DIGEST_LEN : 0;
	uint32_t pdo = align_up(sizeof(struct nvme_tcp_data_pdu) + hd, (q->c.cpda + 1u) * 4);
	uint32_t off = le32_to_cpu(r->r2to), left = le32_to_cpu(r->r2tl);

	if (!s || s->read || s->icd)
		return q_fail(q, -EPROTO, "R2T for cccid %#x: no write waiting for one", le16_to_cpu(r->cccid));
	if (!left || (uint64_t)off + left > s->len)
		return q_fail(q, -EPROTO, "R2T for cccid %#x: offset %u length %u of %u bytes",
			      le16_to_cpu(r->cccid), off, left, s->len);
	while (left) {
		uint32_t chunk = left < q->c.maxh2cdata ? left : q->c.maxh2cdata;
		unsigned k = s->h2c_next++ % s->h2c_max;
		struct nvme_tcp_data_pdu *d = (void *)s->h2c_hdr[k];

		memset(d, 0, pdo);
		d->hdr.type = NVME_TCP_H2C_DATA;
		d->hdr.flags = (hd ? NVME_TCP_F_HDGST : 0) | (dd ? NVME_TCP_F_DDGST : 0) |
			       (chunk == left ? NVME_TCP_F_DATA_LAST : 0);
		d->hdr.hlen = sizeof(*d);
		d->hdr.pdo = (uint8_t)pdo;
		d->hdr.plen = cpu_to_le32(pdo + chunk + dd);
		d->cccid = r->cccid;
		d->ttag = r->ttag;
		d->datao = cpu_to_le32(off);
		d->datal = cpu_to_le32(chunk);
		if (hd) {
			uint32_t dg = crc32c(0, d, sizeof(*d));

			put_le32((uint8_t *)d + sizeof(*d), dg);
		}
		iov_push(q, d, pdo);
		iov_push(q, s->buf + off, chunk);
		if (dd) {
			s->h2c_dd[k] = crc32c(0, s->buf + off, chunk);
			iov_push(q, &s->h2c_dd[k], 4);
		}
		off += chunk;
		left -= chunk;
		s->xfer += chunk;
	}
	return 0;
}

/* The end of a C2HData PDU: its digest checked, maybe the command done. */
static void c2h_end(struct ptcp_q *q, uint64_t now)
{
	struct ptcp_slot *s = q->rx_slot;

	q->rx_in_data = false;
	if (q->c.ddgst) {
		uint32_t got;

		memcpy(&got, q->rx_dd, 4);
		if (got != q->rx_dgst)   /* crc32c() chains: the running value is the digest */
			s->dd_err = true;
	}
	if (q->rx_flags & NVME_TCP_F_DATA_SUCCESS)
		slot_done(q, s, 0, now);
}

static int parse(struct ptcp_q *q, uint64_t now)
{
	uint32_t hd = q->c.hdgst ? NVME_TCP_DIGEST_LEN : 0;
	int done = 0;

	for (;;) {
		uint32_t avail = q->rx_have - q->rx_pos;
		uint8_t *p = q->rx + q->rx_pos;
		const struct nvme_tcp_hdr *ch;
		uint32_t need;

		if (q->rx_in_data) {
			struct ptcp_slot *s = q->rx_slot;
			uint32_t k;

			if (q->rx_pad_left) {
				if (!avail)
					break;
				k = avail < q->rx_pad_left ? avail : q->rx_pad_left;
				q->rx_pad_left -= k;
				q->rx_pos += k;
			} else if (q->rx_data_left) {
				if (!avail)
					break;
				k = avail < q->rx_data_left ? avail : q->rx_data_left;
				if (q->c.ddgst)
					q->rx_dgst = crc32c(q->rx_dgst, p, k);
				if (q->check_reads)
					memcpy(s->buf + q->rx_data_off, p, k);
				q->rx_data_off += k;
				q->rx_data_left -= k;
				q->rx_pos += k;
			} else if ((q->rx_flags & NVME_TCP_F_DDGST) && q->rx_dd_have < 4) {
				if (!avail)
					break;
				k = avail < 4 - q->rx_dd_have ? avail : 4 - q->rx_dd_have;
				memcpy(q->rx_dd + q->rx_dd_have, p, k);
				q->rx_dd_have += k;
				q->rx_pos += k;
			} else {
				bool was_done = q->rx_flags & NVME_TCP_F_DATA_SUCCESS;

				c2h_end(q, now);
				done += was_done;
			}
			continue;
		}
		if (avail < sizeof(*ch))
			break;
		ch = (const void *)p;
		if (ch->type == NVME_TCP_C2H_TERM) {
			const struct nvme_tcp_term_pdu *t = (const void *)p;

			if (avail < sizeof(*t))
				break;
			return q_fail(q, -ECONNABORTED, "controller sent C2HTermReq, FES %#x", t->fes);
		}
		if (ch->hlen != 24 || (ch->type != NVME_TCP_RSP && ch->type != NVME_TCP_C2H_DATA &&
				       ch->type != NVME_TCP_R2T))
			return q_fail(q, -EPROTO, "unexpected PDU type %#x hlen %u", ch->type, ch->hlen);
		if (!!(ch->flags & NVME_TCP_F_HDGST) != !!hd)
			return q_fail(q, -EPROTO, "PDU type %#x: header digest flag %s negotiation",
				      ch->type, hd ? "missing after" : "set without");
		need = ch->hlen + hd;
		if (avail < need)
			break;
		if (hd) {
			uint32_t got, want = crc32c(0, p, ch->hlen);

			memcpy(&got, p + ch->hlen, 4);
			if (got != want)
				return q_fail(q, -EPROTO, "header digest error on PDU type %#x", ch->type);
		}
		switch (ch->type) {
		case NVME_TCP_RSP: {
			const struct nvme_tcp_rsp_pdu *r = (const void *)p;
			struct ptcp_slot *s = find_slot(q, le16_to_cpu(r->cqe.cid));

			if (!s)
				return q_fail(q, -EPROTO, "CapsuleResp for cid %#x not in flight",
					      le16_to_cpu(r->cqe.cid));
			q->rx_pos += need;
			slot_done(q, s, NVME_CQE_STATUS(&r->cqe), now);
			done++;
			break;
		}
		case NVME_TCP_C2H_DATA: {
			const struct nvme_tcp_data_pdu *d = (const void *)p;
			struct ptcp_slot *s = find_slot(q, le16_to_cpu(d->cccid));

			if (!s || !s->read)
				return q_fail(q, -EPROTO, "C2HData for cccid %#x: no read in flight",
					      le16_to_cpu(d->cccid));
			if (d->hdr.pdo < need || (uint64_t)le32_to_cpu(d->datao) + le32_to_cpu(d->datal) > s->len ||
			    (uint64_t)d->hdr.pdo + le32_to_cpu(d->datal) +
			    ((d->hdr.flags & NVME_TCP_F_DDGST) ? 4 : 0) != le32_to_cpu(d->hdr.plen))
				return q_fail(q, -EPROTO,
					      "C2HData for cccid %#x: PDO %u DATAO %u DATAL %u PLEN %u",
					      le16_to_cpu(d->cccid), d->hdr.pdo, le32_to_cpu(d->datao), le32_to_cpu(d->datal), le32_to_cpu(d->hdr.plen));
			if (!!(d->hdr.flags & NVME_TCP_F_DDGST) != q->c.ddgst)
				return q_fail(q, -EPROTO, "C2HData: data digest flag vs negotiation");
			q->rx_in_data = true;
			q->rx_slot = s;
			q->rx_flags = d->hdr.flags;
			q->rx_pad_left = d->hdr.pdo - need;
			q->rx_data_left = le32_to_cpu(d->datal);
			q->rx_data_off = le32_to_cpu(d->datao);
			q->rx_dgst = 0;
			q->rx_dd_have = 0;
			s->xfer += le32_to_cpu(d->datal);
			q->rx_pos += need;
			break;
		}
		default:
			q->rx_pos += need;
			if (handle_r2t(q, (const void *)p))
				return q->dead;
			break;
		}
	}
	return done;
}

int ptcp_poll(struct ptcp_q *q)
{
	ssize_t n;
	int done;

	if (q->dead)
		return q->dead;
	/* what is left is less than one header (data is consumed as it
	 * comes): move it to the front */
	if (q->rx_pos) {
		uint32_t left = q->rx_have - q->rx_pos;

		if (left)
			memmove(q->rx, q->rx + q->rx_pos, left);
		q->rx_have = left;
		q->rx_pos = 0;
	}
	n = recv(q->c.fd, q->rx + q->rx_have, q->rx_size - q->rx_have, MSG_DONTWAIT);
	q->recvs++;
	if (n == 0)
		return q_fail(q, -ECONNRESET, "connection closed by the controller");
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return 0;
		return q_fail(q, -errno, "recv: %s", strerror(errno));
	}
	q->rx_have += (uint32_t)n;
	done = parse(q, perf_now_ns());
	return done;
}
