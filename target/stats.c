/* SPDX-License-Identifier: MIT */
/*
 * Statistics: latency histograms, the counting of each completed I/O
 * command (per namespace and reactor, per queue), error classes, and the
 * per-host accumulators that outlive a host's controllers. One source for
 * `nvmf-bridgectl stats` (rpc.c) and the Prometheus endpoint (metrics.c).
 */
#define LOG_TAG "stats"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "target/target.h"

/* --- latency histograms ------------------------------------------------------ */

static unsigned lat_bucket(uint64_t us)
{
	unsigned e;

	if (us < 8)
		return (unsigned)us;
	e = 63u - (unsigned)__builtin_clzll(us);            /* 2^e <= us */
	return (e - 2) * 8 + (unsigned)((us >> (e - 3)) & 7u);
}

uint64_t nvmf_lat_bucket_top(unsigned b)
{
	unsigned e, m;

	if (b < 8)
		return b;
	e = b / 8 + 2;
	m = b % 8;
	return ((uint64_t)(9 + m) << (e - 3)) - 1;
}

void nvmf_lat_add(struct nvmf_lat *l, uint64_t us)
{
	unsigned b = lat_bucket(us);

	l->hist[b < NVMF_LAT_BUCKETS ? b : NVMF_LAT_BUCKETS - 1]++;
	l->sum_us += us;
	if (us > l->max_us)
		l->max_us = us;
}

uint64_t nvmf_lat_pct(const struct nvmf_lat *const *l, unsigned n, double pct)
{
	uint64_t total = 0, need, seen = 0;

	for (unsigned i = 0; i < n; i++)
		for (unsigned b = 0; b < NVMF_LAT_BUCKETS; b++)
			total += l[i]->hist[b];
	if (!total)
		return 0;
	need = (uint64_t)((double)total * pct / 100.0 + 0.5);
	if (!need)
		need = 1;
	for (unsigned b = 0; b < NVMF_LAT_BUCKETS; b++) {
		for (unsigned i = 0; i < n; i++)
			seen += l[i]->hist[b];
		if (seen >= need)
			return nvmf_lat_bucket_top(b);
	}
	return nvmf_lat_bucket_top(NVMF_LAT_BUCKETS - 1);
}

/* --- counting one command ------------------------------------------------------ */

unsigned nvmf_err_class(uint16_t status)
{
	uint8_t sct = (status >> 8) & 0x7, sc = status & 0xff;

	switch (sct) {
	case NVME_SCT_GENERIC:
		switch (sc) {
		case NVME_SC_INVALID_NS:
			return NVMF_ERR_INVALID_NS;
		case NVME_SC_LBA_RANGE:
			return NVMF_ERR_LBA_RANGE;
		case 0x83:                      /* reservation conflict */
			return NVMF_ERR_RESERVATION;
		case 0x06:                      /* internal error */
			return NVMF_ERR_INTERNAL;
		case 0x04: case 0x07: case 0x08: case 0x0a: /* data transfer error, aborted */
			return sc == 0x04 ? NVMF_ERR_INTERNAL : NVMF_ERR_ABORTED;
		default:
			return sc < 0x80 ? NVMF_ERR_INVALID : NVMF_ERR_OTHER;
		}
	case NVME_SCT_CMD_SPECIFIC:
		return NVMF_ERR_INVALID;
	case NVME_SCT_MEDIA:
		return NVMF_ERR_MEDIA;
	case NVME_SCT_PATH:
		return sc >= NVME_SC_ANA_PERSISTENT_LOSS && sc <= NVME_SC_ANA_TRANSITION ? NVMF_ERR_ANA : NVMF_ERR_PATH;
	default:
		return NVMF_ERR_OTHER;
	}
}

const char *nvmf_err_name(unsigned cls)
{
	static const char *const names[NVMF_NR_ERRS] = {
		[NVMF_ERR_INVALID] = "invalid", [NVMF_ERR_INVALID_NS] = "invalid_namespace",
		[NVMF_ERR_LBA_RANGE] = "lba_out_of_range", [NVMF_ERR_ANA] = "ana_inaccessible",
		[NVMF_ERR_PATH] = "path", [NVMF_ERR_MEDIA] = "media", [NVMF_ERR_RESERVATION] = "reservation_conflict",
		[NVMF_ERR_ABORTED] = "aborted", [NVMF_ERR_INTERNAL] = "internal", [NVMF_ERR_OTHER] = "other",
	};

	return cls < NVMF_NR_ERRS ? names[cls] : "other";
}

const char *nvmf_refuse_name(unsigned why)
{
	static const char *const names[NVMF_NR_REFUSE] = {
		[NVMF_REFUSE_PORT_CAP] = "port_connection_limit", [NVMF_REFUSE_ADDR_CAP] = "address_connection_limit",
		[NVMF_REFUSE_ICREQ_TIMEOUT] = "icreq_timeout", [NVMF_REFUSE_CONNECT_TIMEOUT] = "connect_timeout",
		[NVMF_REFUSE_UNKNOWN_SUBSYS] = "unknown_subsystem", [NVMF_REFUSE_HOST_NOT_ALLOWED] = "host_not_allowed",
		[NVMF_REFUSE_HOST_CTRL_CAP] = "host_controller_limit", [NVMF_REFUSE_AUTH_FAILED] = "authentication_failed",
		[NVMF_REFUSE_TLS] = "tls",
	};

	return why < NVMF_NR_REFUSE ? names[why] : "other";
}

void nvmf_count_io(struct nvmf_ns_stats *st, struct nvmf_io_counts *q, uint8_t opc, uint16_t status, uint32_t len,
		   uint64_t us)
{
	unsigned op = nvmf_op_of(opc);
	static __thread struct nvmf_io_counts none;

	if (!q)
		q = &none;      /* a queue without its counters (never once connected) */
	if (status) {
		unsigned e = nvmf_err_class(status);

		st->errors++;
		st->err[e]++;
		q->err[e]++;
	} else if (op == NVMF_OP_READ) {
		st->reads++;
		st->read_bytes += len;
		q->cmds[op]++;
		q->bytes[0] += len;
	} else if (op == NVMF_OP_WRITE) {
		st->writes++;
		st->write_bytes += len;
		q->cmds[op]++;
		q->bytes[1] += len;
	} else {
		st->others++;
		q->cmds[op]++;
	}
	nvmf_lat_add(&st->lat[op], us);
}

/* --- per-host accumulators (tgt->lock) ------------------------------------------ */

static void io_add(struct nvmf_io_counts *to, const struct nvmf_io_counts *from)
{
	for (unsigned i = 0; i < NVMF_NR_OPS; i++)
		to->cmds[i] += from->cmds[i];
	to->bytes[0] += from->bytes[0];
	to->bytes[1] += from->bytes[1];
	for (unsigned i = 0; i < NVMF_NR_ERRS; i++)
		to->err[i] += from->err[i];
}

void nvmf_ns_stats_sum(const struct nvmf_ns *ns, unsigned nr, struct nvmf_ns_counts *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned k = 0; k < nr; k++) {
		const struct nvmf_ns_stats *st = &ns->stats[k];

		out->inflight += __atomic_load_n(&st->inflight, __ATOMIC_RELAXED);
		out->reads += __atomic_load_n(&st->reads, __ATOMIC_RELAXED);
		out->writes += __atomic_load_n(&st->writes, __ATOMIC_RELAXED);
		out->others += __atomic_load_n(&st->others, __ATOMIC_RELAXED);
		out->read_bytes += __atomic_load_n(&st->read_bytes, __ATOMIC_RELAXED);
		out->write_bytes += __atomic_load_n(&st->write_bytes, __ATOMIC_RELAXED);
		out->errors += __atomic_load_n(&st->errors, __ATOMIC_RELAXED);
		for (unsigned x = 0; x < NVMF_NR_ERRS; x++)
			out->err[x] += __atomic_load_n(&st->err[x], __ATOMIC_RELAXED);
	}
}

void nvmf_lat_merge(struct nvmf_lat *to, const struct nvmf_lat *from)
{
	for (unsigned b = 0; b < NVMF_LAT_BUCKETS; b++)
		to->hist[b] += from->hist[b];
	to->sum_us += from->sum_us;
	if (from->max_us > to->max_us)
		to->max_us = from->max_us;
}

static struct nvmf_host_stats *hstats_find(struct nvmf_subsys *s, const char *hostnqn, const struct nvmf_port *p)
{
	for (struct nvmf_host_stats *h = s->hstats; h; h = h->next)
		if (h->port == p && !strcmp(h->hostnqn, hostnqn))
			return h;
	return NULL;
}

struct nvmf_host_stats *nvmf_host_stats_get(struct nvmf_subsys *s, const char *hostnqn, struct nvmf_port *p)
{
	struct nvmf_host_stats *h = hstats_find(s, hostnqn, p), *victim = NULL;

	if (!h && s->nr_hstats >= NVMF_MAX_HOST_STATS) {
		/* full: the entry unused the longest goes, if one is idle */
		for (struct nvmf_host_stats *e = s->hstats; e; e = e->next)
			if (!e->live && strcmp(e->hostnqn, NVMF_HOST_OTHER) && (!victim || e->last_used < victim->last_used))
				victim = e;
		if (victim) {
			struct nvmf_host_stats *next = victim->next;

			memset(victim, 0, sizeof(*victim));
			victim->next = next;
			h = victim;
		} else {
			h = hstats_find(s, NVMF_HOST_OTHER, p);
			hostnqn = NVMF_HOST_OTHER;
		}
	}
	if (!h) {
		h = calloc(1, sizeof(*h));
		if (!h)
			return NULL;
		h->next = s->hstats;
		s->hstats = h;
		s->nr_hstats++;
	}
	if (!h->hostnqn[0]) {
		snprintf(h->hostnqn, sizeof(h->hostnqn), "%s", hostnqn);
		h->port = p;
	}
	h->live++;
	h->last_used = ++s->hstats_seq;
	return h;
}

void nvmf_host_stats_fold(struct nvmf_host_stats *h, struct nvmf_sq *sq)
{
	if (!h)
		return;
	if (!sq->st)
		return;
	io_add(&h->io, &sq->st->io);
	nvmf_lat_merge(&h->lat, &sq->st->lat);
	memset(sq->st, 0, sizeof(*sq->st));
}

void nvmf_host_stats_put(struct nvmf_host_stats *h)
{
	if (h && h->live)
		h->live--;
}

void nvmf_host_stats_sum(const struct nvmf_subsys *s, const struct nvmf_host_stats *h, struct nvmf_io_counts *io,
			 struct nvmf_lat *lat)
{
	*io = h->io;
	*lat = h->lat;
	for (const struct nvmf_ctrl *c = s->ctrls; c; c = c->next) {
		if (c->hstats != h)
			continue;
		for (unsigned q = 0; q <= NVMF_MAX_IO_QUEUES; q++) {
			const struct nvmf_sq *sq = q ? c->io[q] : c->admin;

			if (!sq || !sq->st)
				continue;
			io_add(io, &sq->st->io);
			nvmf_lat_merge(lat, &sq->st->lat);
		}
	}
}

void nvmf_host_stats_free(struct nvmf_subsys *s)
{
	while (s->hstats) {
		struct nvmf_host_stats *h = s->hstats;

		s->hstats = h->next;
		free(h);
	}
	s->nr_hstats = 0;
}
