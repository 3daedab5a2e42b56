/* SPDX-License-Identifier: MIT */
/*
 * The Prometheus text exposition (format 0.0.4) of the target's counters:
 * the same counters `nvmf-bridgectl stats` reads (stats.c), summed over
 * reactors. Rendered under tgt->lock, which keeps subsystems, namespace
 * tables, controllers and ports alive while they are read; the counters
 * themselves are written by their reactors without locks and read here
 * racily, as 64-bit loads. Labels are bounded: subsystems, namespaces,
 * ports, reactors and devices come from the configuration, hosts are
 * capped per subsystem (NVMF_MAX_HOST_STATS), statuses and reasons are
 * small fixed sets; nothing is labelled per command or per connection.
 */
#define LOG_TAG "metrics"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "pcie/pcie.h"
#include "target/metrics.h"
#include "target/qos.h"
#include "target/target.h"
#include "transport/transport.h"

#define MAX_TEXT (32u << 20)    /* a scrape never grows past this */

struct sb {
	char *p;
	size_t len, cap;
	bool failed;
};

static void sb_printf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(struct sb *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = true;
			return;
		}
		if (b->p && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap * 2 : 65536;
		char *np;

		while (cap < b->len + (size_t)n + 1)
			cap *= 2;
		if (cap > MAX_TEXT || !(np = realloc(b->p, cap))) {
			b->failed = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
}

/* A label value as the text format wants it: \ " and newline escaped.
 * NQNs and addresses are short; longer values are cut. */
static const char *esc(const char *s, char *buf, size_t len)
{
	size_t o = 0;

	for (; *s && o + 3 < len; s++) {
		if (*s == '\\' || *s == '"') {
			buf[o++] = '\\';
			buf[o++] = *s;
		} else if (*s == '\n') {
			buf[o++] = '\\';
			buf[o++] = 'n';
		} else {
			buf[o++] = *s;
		}
	}
	buf[o] = 0;
	return buf;
}

static void family(struct sb *b, const char *name, const char *type, const char *help)
{
	sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Histogram bounds in seconds: NVMe latencies, from tens of microseconds
 * (a read from memory over loopback) to seconds (a stalled device) */
static const double bounds_s[] = {
	0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
	0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
};
#define NR_BOUNDS (sizeof(bounds_s) / sizeof(bounds_s[0]))

/* name{labels,le="..."} from n histograms of 12.5 %-wide µs buckets: a
 * bucket counts under the first bound at or above its top (an
 * observation is never counted below its value) */
static void histogram(struct sb *b, const char *name, const char *labels, const struct nvmf_lat *const *l,
		      unsigned n)
{
	uint64_t cum[NR_BOUNDS] = { 0 }, count = 0, sum_us = 0;

	for (unsigned i = 0; i < n; i++) {
		for (unsigned k = 0; k < NVMF_LAT_BUCKETS; k++) {
			uint64_t c = __atomic_load_n(&l[i]->hist[k], __ATOMIC_RELAXED);
			double top = (double)nvmf_lat_bucket_top(k) / 1e6;

			if (!c)
				continue;
			count += c;
			for (unsigned j = 0; j < NR_BOUNDS; j++) {
				if (top <= bounds_s[j]) {
					cum[j] += c;
					break;
				}
			}
		}
		sum_us += __atomic_load_n(&l[i]->sum_us, __ATOMIC_RELAXED);
	}
	for (unsigned j = 1; j < NR_BOUNDS; j++)
		cum[j] += cum[j - 1];
	for (unsigned j = 0; j < NR_BOUNDS; j++)
		sb_printf(b, "%s_bucket{%s,le=\"%g\"} %llu\n", name, labels, bounds_s[j], (unsigned long long)cum[j]);
	sb_printf(b, "%s_bucket{%s,le=\"+Inf\"} %llu\n", name, labels, (unsigned long long)count);
	sb_printf(b, "%s_sum{%s} %.6f\n", name, labels, (double)sum_us / 1e6);
	sb_printf(b, "%s_count{%s} %llu\n", name, labels, (unsigned long long)count);
}

static const char *const op_names[NVMF_NR_OPS] = { "read", "write", "other" };

static uint64_t ld(const uint64_t *v)
{
	return __atomic_load_n(v, __ATOMIC_RELAXED);
}

/* --- namespaces ------------------------------------------------------------------ */

static void ns_labels(const struct nvmf_subsys *s, const struct nvmf_ns *ns, char *out, size_t len)
{
	char e[CFG_NQN_SIZE * 2];

	snprintf(out, len, "subsystem=\"%s\",nsid=\"%u\"", esc(s->nqn, e, sizeof(e)), ns->nsid);
}

static void render_namespaces(struct sb *b, const struct nvmf_tgt *t)
{
	unsigned nr = t->nr_reactors ? t->nr_reactors : 1;
	char lb[CFG_NQN_SIZE * 2 + 64];

#define EACH_NS                                                                                  \
	for (unsigned i = 0; i < t->nr_subsys; i++)                                              \
		for (const struct nvmf_ns_table *nt = nvmf_subsys_ns(t->subsys[i]); nt; nt = NULL) \
			for (unsigned j = 0; j < nt->nr; j++)

	family(b, "nvmf_bridge_namespace_commands_total", "counter",
	       "I/O commands completed successfully, by kind (read, write, other: flush, write zeroes, DSM, compare)");
	EACH_NS {
		const struct nvmf_ns *ns = nt->ns[j];
		struct nvmf_ns_counts n;

		nvmf_ns_stats_sum(ns, nr, &n);
		ns_labels(t->subsys[i], ns, lb, sizeof(lb));
		sb_printf(b, "nvmf_bridge_namespace_commands_total{%s,op=\"read\"} %llu\n", lb,
			  (unsigned long long)n.reads);
		sb_printf(b, "nvmf_bridge_namespace_commands_total{%s,op=\"write\"} %llu\n", lb,
			  (unsigned long long)n.writes);
		sb_printf(b, "nvmf_bridge_namespace_commands_total{%s,op=\"other\"} %llu\n", lb,
			  (unsigned long long)n.others);
	}
	family(b, "nvmf_bridge_namespace_bytes_total", "counter", "Bytes read and written by successful commands");
	EACH_NS {
		const struct nvmf_ns *ns = nt->ns[j];
		struct nvmf_ns_counts n;

		nvmf_ns_stats_sum(ns, nr, &n);
		ns_labels(t->subsys[i], ns, lb, sizeof(lb));
		sb_printf(b, "nvmf_bridge_namespace_bytes_total{%s,op=\"read\"} %llu\n", lb,
			  (unsigned long long)n.read_bytes);
		sb_printf(b, "nvmf_bridge_namespace_bytes_total{%s,op=\"write\"} %llu\n", lb,
			  (unsigned long long)n.write_bytes);
	}
	family(b, "nvmf_bridge_namespace_errors_total", "counter", "I/O commands that failed, by status class");
	EACH_NS {
		const struct nvmf_ns *ns = nt->ns[j];
		struct nvmf_ns_counts n;

		nvmf_ns_stats_sum(ns, nr, &n);
		ns_labels(t->subsys[i], ns, lb, sizeof(lb));
		for (unsigned e = 0; e < NVMF_NR_ERRS; e++)
			sb_printf(b, "nvmf_bridge_namespace_errors_total{%s,status=\"%s\"} %llu\n", lb, nvmf_err_name(e),
				  (unsigned long long)n.err[e]);
	}
	family(b, "nvmf_bridge_namespace_latency_seconds", "histogram",
	       "I/O command latency in the target (failed commands too), from the capsule parsed to the completion "
	       "handed to the transport");
	EACH_NS {
		const struct nvmf_ns *ns = nt->ns[j];
		const struct nvmf_lat *l[CFG_REACTORS_MAX];
		char lop[sizeof(lb) + 16];

		ns_labels(t->subsys[i], ns, lb, sizeof(lb));
		for (unsigned op = 0; op < NVMF_NR_OPS; op++) {
			for (unsigned k = 0; k < nr; k++)
				l[k] = &ns->stats[k].lat[op];
			snprintf(lop, sizeof(lop), "%s,op=\"%s\"", lb, op_names[op]);
			histogram(b, "nvmf_bridge_namespace_latency_seconds", lop, l, nr);
		}
	}
	family(b, "nvmf_bridge_namespace_inflight_commands", "gauge", "I/O commands in the backend now");
	EACH_NS {
		const struct nvmf_ns *ns = nt->ns[j];
		struct nvmf_ns_counts n;

		nvmf_ns_stats_sum(ns, nr, &n);
		ns_labels(t->subsys[i], ns, lb, sizeof(lb));
		sb_printf(b, "nvmf_bridge_namespace_inflight_commands{%s} %llu\n", lb, (unsigned long long)n.inflight);
	}
	family(b, "nvmf_bridge_namespace_size_bytes", "gauge", "The namespace's size");
	EACH_NS {
		const struct nvmf_ns *ns = nt->ns[j];

		ns_labels(t->subsys[i], ns, lb, sizeof(lb));
		sb_printf(b, "nvmf_bridge_namespace_size_bytes{%s} %llu\n", lb,
			  (unsigned long long)(ns->nsze << ns->lba_shift));
	}
#undef EACH_NS
}

/* --- hosts --------------------------------------------------------------------------- */

struct host_row {
	const struct nvmf_subsys *s;
	const struct nvmf_host_stats *h;
	struct nvmf_io_counts io;
	struct nvmf_lat lat;
	char labels[CFG_NQN_SIZE * 4 + 128];
};

static void render_hosts(struct sb *b, const struct nvmf_tgt *t)
{
	struct host_row *rows;
	unsigned n = 0, cap = 0;

	for (unsigned i = 0; i < t->nr_subsys; i++)
		cap += t->subsys[i]->nr_hstats;
	rows = cap ? calloc(cap, sizeof(*rows)) : NULL;
	if (cap && !rows) {
		b->failed = true;
		return;
	}
	for (unsigned i = 0; i < t->nr_subsys; i++) {
		const struct nvmf_subsys *s = t->subsys[i];

		for (const struct nvmf_host_stats *h = s->hstats; h && n < cap; h = h->next) {
			struct host_row *r = &rows[n++];
			char es[CFG_NQN_SIZE * 2], eh[CFG_NQN_SIZE * 2];

			r->s = s;
			r->h = h;
			nvmf_host_stats_sum(s, h, &r->io, &r->lat);
			snprintf(r->labels, sizeof(r->labels), "subsystem=\"%s\",host=\"%s\",port=\"%u\",transport=\"%s\"",
				 esc(s->nqn, es, sizeof(es)), esc(h->hostnqn, eh, sizeof(eh)), h->port->portid,
				 cfg_trtype_name(h->port->addr.trtype));
		}
	}
	family(b, "nvmf_bridge_host_commands_total", "counter",
	       "I/O commands a host completed successfully on a subsystem through a port, by kind");
	for (unsigned r = 0; r < n; r++)
		for (unsigned op = 0; op < NVMF_NR_OPS; op++)
			sb_printf(b, "nvmf_bridge_host_commands_total{%s,op=\"%s\"} %llu\n", rows[r].labels, op_names[op],
				  (unsigned long long)rows[r].io.cmds[op]);
	family(b, "nvmf_bridge_host_bytes_total", "counter", "Bytes a host read and wrote");
	for (unsigned r = 0; r < n; r++) {
		sb_printf(b, "nvmf_bridge_host_bytes_total{%s,op=\"read\"} %llu\n", rows[r].labels,
			  (unsigned long long)rows[r].io.bytes[0]);
		sb_printf(b, "nvmf_bridge_host_bytes_total{%s,op=\"write\"} %llu\n", rows[r].labels,
			  (unsigned long long)rows[r].io.bytes[1]);
	}
	family(b, "nvmf_bridge_host_errors_total", "counter", "A host's I/O commands that failed, by status class");
	for (unsigned r = 0; r < n; r++)
		for (unsigned e = 0; e < NVMF_NR_ERRS; e++)
			sb_printf(b, "nvmf_bridge_host_errors_total{%s,status=\"%s\"} %llu\n", rows[r].labels,
				  nvmf_err_name(e), (unsigned long long)rows[r].io.err[e]);
	family(b, "nvmf_bridge_host_latency_seconds", "histogram",
	       "Latency of every command of a host (admin and I/O) in the target");
	for (unsigned r = 0; r < n; r++) {
		const struct nvmf_lat *l = &rows[r].lat;

		histogram(b, "nvmf_bridge_host_latency_seconds", rows[r].labels, &l, 1);
	}
	family(b, "nvmf_bridge_host_controllers", "gauge", "A host's controllers on a subsystem through a port");
	for (unsigned r = 0; r < n; r++)
		sb_printf(b, "nvmf_bridge_host_controllers{%s} %u\n", rows[r].labels, rows[r].h->live);
	free(rows);
}

/* --- subsystems, ports, events ---------------------------------------------------------- */

static void render_ctrls(struct sb *b, const struct nvmf_tgt *t)
{
	char es[CFG_NQN_SIZE * 2];

	family(b, "nvmf_bridge_controllers", "gauge", "Live controllers, by subsystem and transport");
	family(b, "nvmf_bridge_io_queues", "gauge", "Connected I/O queues, by subsystem and transport");
	for (unsigned i = 0; i <= t->nr_subsys; i++) {
		const struct nvmf_subsys *s = i < t->nr_subsys ? t->subsys[i] : t->disc;
		const struct nvmf_transport_ops *tr;

		esc(s->nqn, es, sizeof(es));
		for (unsigned k = 0; (tr = nvmf_transport_nth(k)); k++) {
			unsigned ctrls = 0, queues = 0;

			for (const struct nvmf_ctrl *c = s->ctrls; c; c = c->next) {
				if (c->dying || c->port->addr.trtype != tr->trtype)
					continue;
				ctrls++;
				for (unsigned q = 1; q <= NVMF_MAX_IO_QUEUES; q++)
					queues += c->io[q] != NULL;
			}
			sb_printf(b, "nvmf_bridge_controllers{subsystem=\"%s\",transport=\"%s\"} %u\n", es,
				  tr->name, ctrls);
			sb_printf(b, "nvmf_bridge_io_queues{subsystem=\"%s\",transport=\"%s\"} %u\n", es,
				  tr->name, queues);
		}
	}
}

static void port_labels(const struct nvmf_port *p, char *out, size_t len)
{
	char ea[128];

	snprintf(out, len, "port=\"%u\",transport=\"%s\",traddr=\"%s\",trsvcid=\"%s\"", p->portid,
		 cfg_trtype_name(p->addr.trtype), esc(p->addr.traddr, ea, sizeof(ea)), p->addr.trsvcid);
}

static void render_ports(struct sb *b, const struct nvmf_tgt *t)
{
	unsigned nr = t->nr_reactors ? t->nr_reactors : 1;
	char lb[256];

	family(b, "nvmf_bridge_port_io_commands_total", "counter", "I/O commands received on a port");
	family(b, "nvmf_bridge_port_ana_refused_total", "counter",
	       "I/O commands answered with an ANA path status: their group is inaccessible, lost or in change there");
	family(b, "nvmf_bridge_port_connections", "gauge",
	       "Connections admitted on a port (TCP connections, RDMA queue pairs), before and after Connect");
	for (unsigned i = 0; i < t->nr_ports; i++) {
		const struct nvmf_port *p = t->ports[i];
		uint64_t io = 0, refused = 0;

		for (unsigned k = 0; k < nr; k++) {
			io += ld(&p->stats[k].io);
			refused += ld(&p->stats[k].ana_refused);
		}
		port_labels(p, lb, sizeof(lb));
		if (!p->discovery_only) {
			sb_printf(b, "nvmf_bridge_port_io_commands_total{%s} %llu\n", lb, (unsigned long long)io);
			sb_printf(b, "nvmf_bridge_port_ana_refused_total{%s} %llu\n", lb, (unsigned long long)refused);
		}
		sb_printf(b, "nvmf_bridge_port_connections{%s} %u\n", lb, __atomic_load_n(&p->nr_conns, __ATOMIC_RELAXED));
	}
	/* the state of each group a namespace is in, on each port: 1 for the
	 * current state (the usual encoding of an enum) */
	family(b, "nvmf_bridge_port_ana_group_state", "gauge",
	       "1 for an ANA group's current state on a port (optimized, non-optimized, inaccessible, "
	       "persistent-loss, change)");
	for (unsigned i = 0; i < t->nr_ports; i++) {
		const struct nvmf_port *p = t->ports[i];
		bool used[CFG_MAX_ANAGRPID + 1] = { false };

		if (p->discovery_only)
			continue;
		for (unsigned s = 0; s < t->nr_subsys; s++) {
			const struct nvmf_ns_table *nt = nvmf_subsys_ns(t->subsys[s]);

			if (!nvmf_port_has_subsys(p, t->subsys[s]))
				continue;
			for (unsigned j = 0; j < nt->nr; j++)
				used[__atomic_load_n(&nt->ns[j]->anagrpid, __ATOMIC_RELAXED)] = true;
		}
		for (unsigned g = 1; g <= CFG_MAX_ANAGRPID; g++)
			if (used[g])
				sb_printf(b, "nvmf_bridge_port_ana_group_state{port=\"%u\",group=\"%u\",state=\"%s\"} 1\n",
					  p->portid, g, cfg_ana_state_name(nvmf_port_ana_state(p, g)));
	}
}

static void render_events(struct sb *b, const struct nvmf_tgt *t)
{
	family(b, "nvmf_bridge_connections_refused_total", "counter",
	       "Connections and Connect commands refused, by reason");
	for (unsigned r = 0; r < NVMF_NR_REFUSE; r++)
		sb_printf(b, "nvmf_bridge_connections_refused_total{reason=\"%s\"} %llu\n", nvmf_refuse_name(r),
			  (unsigned long long)ld(&t->refused[r]));
	family(b, "nvmf_bridge_keepalive_expired_total", "counter",
	       "Controllers released because the host sent nothing for KATO");
	sb_printf(b, "nvmf_bridge_keepalive_expired_total %llu\n", (unsigned long long)ld(&t->ka_expired));
}

/* --- resources ---------------------------------------------------------------------------- */

static void render_resources(struct sb *b, const struct nvmf_tgt *t)
{
	family(b, "nvmf_bridge_dma_buffers", "gauge", "Data buffers in a reactor's DMA pool");
	family(b, "nvmf_bridge_dma_buffers_in_use", "gauge", "Data buffers of a reactor's pool held by requests now");
	for (unsigned i = 0; i < t->nr_reactors; i++) {
		const struct dma_pool *p = &t->reactors[i].pool;
		unsigned nfree = __atomic_load_n(&p->nfree, __ATOMIC_RELAXED);

		sb_printf(b, "nvmf_bridge_dma_buffers{reactor=\"%u\"} %u\n", i, p->nbufs);
		sb_printf(b, "nvmf_bridge_dma_buffers_in_use{reactor=\"%u\"} %u\n", i,
			  p->nbufs > nfree ? p->nbufs - nfree : 0);
	}
	family(b, "nvmf_bridge_dma_buffer_size_bytes", "gauge", "The size of one data buffer (the largest transfer)");
	sb_printf(b, "nvmf_bridge_dma_buffer_size_bytes %u\n", t->max_xfer);
	family(b, "nvmf_bridge_pcie_controller_resets_total", "counter", "Resets of a PCIe NVMe controller");
	family(b, "nvmf_bridge_pcie_controller_state", "gauge",
	       "1 for a PCIe controller's current state (live, resetting, failed, dead)");
	for (unsigned i = 0; i < __atomic_load_n(&t->nr_pcie, __ATOMIC_ACQUIRE); i++) {
		const struct pcie_ctrl *pc = t->pcie[i];
		unsigned st = __atomic_load_n((const unsigned *)&pc->state, __ATOMIC_RELAXED);  /* an enum */

		sb_printf(b, "nvmf_bridge_pcie_controller_resets_total{device=\"%s\"} %u\n", t->pcie_bdf[i],
			  __atomic_load_n(&pc->resets, __ATOMIC_RELAXED));
		for (unsigned s = PCIE_CTRL_DEAD; s <= PCIE_CTRL_FAILED; s++)
			sb_printf(b, "nvmf_bridge_pcie_controller_state{device=\"%s\",state=\"%s\"} %u\n", t->pcie_bdf[i],
				  pcie_ctrl_state_name((enum pcie_ctrl_state)s), st == s);
	}
	family(b, "nvmf_bridge_reactor_busy_seconds_total", "counter",
	       "A reactor thread's time in turns that did work (timers, pollers, socket and device events)");
	family(b, "nvmf_bridge_reactor_idle_seconds_total", "counter",
	       "A reactor thread's time in turns without work: spinning while polling, or asleep");
	family(b, "nvmf_bridge_reactor_sleeps_total", "counter", "Times a reactor went to sleep in epoll_wait");
	family(b, "nvmf_bridge_reactor_message_wakeups_total", "counter",
	       "Messages from another thread that had to wake the reactor from its sleep (an eventfd write)");
	family(b, "nvmf_bridge_reactor_message_ring_full_total", "counter",
	       "Calls to a reactor refused because its message ring was full (the sender kept the work)");
	for (unsigned i = 0; i < t->nr_reactors; i++) {
		const struct reactor *r = &t->reactors[i].r;
		const struct nvmf_reactor *nr = &t->reactors[i];

		sb_printf(b, "nvmf_bridge_reactor_busy_seconds_total{reactor=\"%u\"} %.6f\n", i,
			  (double)ld(&r->busy_ns) / 1e9);
		sb_printf(b, "nvmf_bridge_reactor_idle_seconds_total{reactor=\"%u\"} %.6f\n", i,
			  (double)ld(&r->idle_ns) / 1e9);
		sb_printf(b, "nvmf_bridge_reactor_sleeps_total{reactor=\"%u\"} %llu\n", i,
			  (unsigned long long)ld(&r->sleeps));
		sb_printf(b, "nvmf_bridge_reactor_message_wakeups_total{reactor=\"%u\"} %llu\n", i,
			  (unsigned long long)ld(&nr->msg_wakeups));
		sb_printf(b, "nvmf_bridge_reactor_message_ring_full_total{reactor=\"%u\"} %llu\n", i,
			  (unsigned long long)ld(&nr->msg_ring_full));
	}
}

/* --- QoS limits ---------------------------------------------------------------------------- */

struct qos_pass {
	struct sb *b;
	unsigned pass;                  /* which family this walk prints */
};

static void qos_labels(const struct nvmf_qos_view *v, char *out, size_t len)
{
	char es[CFG_NQN_SIZE * 2], eh[CFG_NQN_SIZE * 2];
	int n = snprintf(out, len, "type=\"%s\"", v->type);

	if (v->subsystem && n > 0 && (size_t)n < len)
		n += snprintf(out + n, len - (size_t)n, ",subsystem=\"%s\",nsid=\"%u\"", esc(v->subsystem, es, sizeof(es)),
			      v->nsid);
	if (v->host && n > 0 && (size_t)n < len)
		snprintf(out + n, len - (size_t)n, ",host=\"%s\"", esc(v->host, eh, sizeof(eh)));
}

static void qos_row(void *arg, const struct nvmf_qos_view *v)
{
	struct qos_pass *qp = arg;
	char lb[CFG_NQN_SIZE * 4 + 64];
	const struct {
		const char *kind;
		uint64_t v;
	} limits[] = {
		{ "read_iops", v->read_iops }, { "write_iops", v->write_iops },
		{ "read_bytes_per_second", v->read_bw }, { "write_bytes_per_second", v->write_bw },
	};

	qos_labels(v, lb, sizeof(lb));
	switch (qp->pass) {
	case 0:
		for (unsigned i = 0; i < 4; i++)
			if (limits[i].v)
				sb_printf(qp->b, "nvmf_bridge_qos_limit{%s,limit=\"%s\"} %llu\n", lb, limits[i].kind,
					  (unsigned long long)limits[i].v);
		break;
	case 1:
		sb_printf(qp->b, "nvmf_bridge_qos_delayed_commands_total{%s} %llu\n", lb, (unsigned long long)v->delayed);
		break;
	default:
		sb_printf(qp->b, "nvmf_bridge_qos_waiting_commands{%s} %llu\n", lb, (unsigned long long)v->waiting);
	}
}

/* every configured limit (lock-free: limits are never freed while running) */
static void render_qos(struct sb *b, struct nvmf_tgt *t)
{
	struct qos_pass qp = { .b = b };

	family(b, "nvmf_bridge_qos_limit", "gauge",
	       "A configured QoS limit per second (IOPS or bytes); unlimited ones are not shown");
	nvmf_qos_foreach(t, qos_row, &qp);
	qp.pass = 1;
	family(b, "nvmf_bridge_qos_delayed_commands_total", "counter",
	       "Commands a QoS limit held back (delayed, never failed)");
	nvmf_qos_foreach(t, qos_row, &qp);
	qp.pass = 2;
	family(b, "nvmf_bridge_qos_waiting_commands", "gauge", "Commands waiting for a QoS limit now");
	nvmf_qos_foreach(t, qos_row, &qp);
}

char *nvmf_metrics_render(struct nvmf_tgt *t, size_t *len)
{
	struct sb b = { 0 };
	struct timespec real;
	double start;

	clock_gettime(CLOCK_REALTIME, &real);
	start = (double)real.tv_sec + (double)real.tv_nsec / 1e9 - (double)(reactor_now_ns() - t->start_ns) / 1e9;
	family(&b, "nvmf_bridge_build_info", "gauge", "The running nvmf-bridged's version");
	sb_printf(&b, "nvmf_bridge_build_info{version=\"%s\"} 1\n", NVMF_BRIDGE_VERSION);
	family(&b, "nvmf_bridge_start_time_seconds", "gauge", "When the daemon started, in seconds since the epoch");
	sb_printf(&b, "nvmf_bridge_start_time_seconds %.3f\n", start);
	pthread_mutex_lock(&t->lock);
	render_namespaces(&b, t);
	render_hosts(&b, t);
	render_ctrls(&b, t);
	render_ports(&b, t);
	render_events(&b, t);
	render_resources(&b, t);
	render_qos(&b, t);
	pthread_mutex_unlock(&t->lock);
	if (b.failed) {
		free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}
