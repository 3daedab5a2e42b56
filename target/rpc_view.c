/* SPDX-License-Identifier: MIT */
/*
 * What the control socket's read-only methods answer (docs/rpc.md): the
 * running state as JSON, built under tgt->lock from the same counters the
 * Prometheus endpoint reads.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pcie/pcie.h"
#include "target/qos.h"
#include "target/rpc_view.h"
#include "target/target.h"
#include "transport/transport.h"

/* --- helpers ----------------------------------------------------------------------- */

static json_object *jstr(const char *s)
{
	return json_object_new_string(s ? s : "");
}

static const char *backend_name(enum cfg_backend b)
{
	switch (b) {
	case CFG_BACKEND_PCIE:
		return "pcie";
	case CFG_BACKEND_FILE:
		return "file";
	case CFG_BACKEND_MEM:
		return "mem";
	case CFG_BACKEND_NULL:
		return "null";
	}
	return "?";
}

static json_object *lat_json(const struct nvmf_lat *const *l, unsigned n)
{
	json_object *o = json_object_new_object();
	uint64_t max = 0;

	for (unsigned i = 0; i < n; i++)
		if (l[i]->max_us > max)
			max = l[i]->max_us;
	json_object_object_add(o, "p50", json_object_new_int64((int64_t)nvmf_lat_pct(l, n, 50)));
	json_object_object_add(o, "p99", json_object_new_int64((int64_t)nvmf_lat_pct(l, n, 99)));
	json_object_object_add(o, "p999", json_object_new_int64((int64_t)nvmf_lat_pct(l, n, 99.9)));
	json_object_object_add(o, "max", json_object_new_int64((int64_t)max));
	return o;
}

static json_object *device_json(const struct cfg_namespace *cn)
{
	json_object *d = json_object_new_object();

	if (!cn)
		return d;
	switch (cn->backend) {
	case CFG_BACKEND_PCIE:
		json_object_object_add(d, "pcie", jstr(cn->pcie_bdf));
		json_object_object_add(d, "nsid", json_object_new_int64(cn->pcie_nsid));
		break;
	case CFG_BACKEND_FILE:
		json_object_object_add(d, "path", jstr(cn->path));
		break;
	case CFG_BACKEND_MEM:
		json_object_object_add(d, "mem", json_object_new_int64((int64_t)cn->mem_bytes));
		break;
	case CFG_BACKEND_NULL:
		json_object_object_add(d, "null", json_object_new_int64((int64_t)cn->mem_bytes));
		break;
	}
	return d;
}

static unsigned count_ctrls(const struct nvmf_subsys *s)
{
	unsigned n = 0;

	for (const struct nvmf_ctrl *c = s->ctrls; c; c = c->next)
		n += !c->dying;
	return n;
}


json_object *nvmf_rpc_status(struct nvmf_tgt *t)
{
	json_object *o = json_object_new_object(), *pcie;
	unsigned nns = 0, nctrl = count_ctrls(t->disc);

	for (unsigned i = 0; i < t->nr_subsys; i++) {
		nns += nvmf_subsys_ns(t->subsys[i])->nr;
		nctrl += count_ctrls(t->subsys[i]);
	}
	json_object_object_add(o, "version", jstr(NVMF_BRIDGE_VERSION));
	json_object_object_add(o, "pid", json_object_new_int(getpid()));
	json_object_object_add(o, "uptime_s", json_object_new_int64((int64_t)((reactor_now_ns() - t->start_ns) / 1000000000u)));
	json_object_object_add(o, "config_file", jstr(t->cfg->file));
	json_object_object_add(o, "reactors", json_object_new_int((int)t->nr_reactors));
	json_object_object_add(o, "ports", json_object_new_int((int)t->nr_ports));
	json_object_object_add(o, "subsystems", json_object_new_int((int)t->nr_subsys));
	json_object_object_add(o, "namespaces", json_object_new_int((int)nns));
	json_object_object_add(o, "controllers", json_object_new_int((int)nctrl));
	json_object_object_add(o, "connections", json_object_new_int((int)nvmf_transports_nr_conns()));
	json_object_object_add(o, "pcie_controllers", json_object_new_int((int)t->nr_pcie));
	pcie = json_object_new_array();
	for (unsigned i = 0; i < t->nr_pcie; i++) {
		json_object *c = json_object_new_object();

		json_object_object_add(c, "pcie", jstr(t->pcie_bdf[i]));
		json_object_object_add(c, "state", jstr(pcie_ctrl_state_name(t->pcie[i]->state)));
		json_object_object_add(c, "resets", json_object_new_int64(t->pcie[i]->resets));
		json_object_array_add(pcie, c);
	}
	json_object_object_add(o, "pcie", pcie);
	json_object_object_add(o, "genctr", json_object_new_int64((int64_t)t->genctr));
	return o;
}

static json_object *queue_json(const struct nvmf_sq *sq)
{
	json_object *q = json_object_new_object();

	json_object_object_add(q, "qid", json_object_new_int(sq->qid));
	json_object_object_add(q, "size", json_object_new_int(sq->size));
	json_object_object_add(q, "reactor", json_object_new_int(sq->reactor ? (int)sq->reactor->idx : 0));
	json_object_object_add(q, "commands", json_object_new_int64((int64_t)sq->cmds));
	json_object_object_add(q, "errors", json_object_new_int64((int64_t)sq->errors));
	return q;
}

json_object *nvmf_rpc_list(struct nvmf_tgt *t)
{
	json_object *o = json_object_new_object(), *ports = json_object_new_array();
	json_object *subs = json_object_new_array();

	for (unsigned i = 0; i < t->nr_ports; i++) {
		const struct nvmf_port *p = t->ports[i];
		json_object *jp = json_object_new_object(), *js = json_object_new_array();

		json_object_object_add(jp, "portid", json_object_new_int(p->portid));
		json_object_object_add(jp, "trtype", jstr(cfg_trtype_name(p->addr.trtype)));
		json_object_object_add(jp, "adrfam", jstr(p->addr.adrfam == CFG_ADRFAM_IPV6 ? "ipv6" : "ipv4"));
		json_object_object_add(jp, "traddr", jstr(p->addr.traddr));
		json_object_object_add(jp, "trsvcid", jstr(p->addr.trsvcid));
		json_object_object_add(jp, "discovery_only", json_object_new_boolean(p->discovery_only));
		json_object_object_add(jp, "listening", json_object_new_boolean(p->listener != NULL));
		for (unsigned j = 0; p->cfg && j < p->cfg->nr_subsystems; j++)
			json_object_array_add(js, jstr(p->cfg->subsystems[j]));
		json_object_object_add(jp, "subsystems", js);
		json_object_array_add(ports, jp);
	}
	for (unsigned i = 0; i < t->nr_subsys; i++) {
		const struct nvmf_subsys *s = t->subsys[i];
		const struct nvmf_ns_table *nt = nvmf_subsys_ns(s);
		json_object *js = json_object_new_object(), *hosts = json_object_new_array();
		json_object *nss = json_object_new_array(), *ctrls = json_object_new_array();

		json_object_object_add(js, "nqn", jstr(s->nqn));
		json_object_object_add(js, "allow_any_host", json_object_new_boolean(s->cfg->allow_any_host));
		for (unsigned j = 0; j < s->cfg->nr_allowed_hosts; j++)
			json_object_array_add(hosts, jstr(s->cfg->allowed_hosts[j]));
		json_object_object_add(js, "allowed_hosts", hosts);
		json_object_object_add(js, "require_auth", json_object_new_boolean(s->cfg->require_auth));
		json_object_object_add(js, "model", jstr(s->model));
		json_object_object_add(js, "serial", jstr(s->serial));
		for (unsigned j = 0; j < nt->nr; j++) {
			const struct nvmf_ns *ns = nt->ns[j];
			json_object *jn = json_object_new_object();

			json_object_object_add(jn, "nsid", json_object_new_int64(ns->nsid));
			json_object_object_add(jn, "backend", jstr(ns->cfg ? backend_name(ns->cfg->backend) : ns->ops->name));
			json_object_object_add(jn, "device", device_json(ns->cfg));
			json_object_object_add(jn, "blocks", json_object_new_int64((int64_t)ns->nsze));
			json_object_object_add(jn, "block_size", json_object_new_int(1 << ns->lba_shift));
			json_object_array_add(nss, jn);
		}
		json_object_object_add(js, "namespaces", nss);
		for (const struct nvmf_ctrl *c = s->ctrls; c; c = c->next) {
			json_object *jc = json_object_new_object(), *qs = json_object_new_array();

			if (c->dying)
				continue;
			json_object_object_add(jc, "cntlid", json_object_new_int(c->cntlid));
			json_object_object_add(jc, "hostnqn", jstr(c->hostnqn));
			json_object_object_add(jc, "host_addr", jstr(c->admin ? c->admin->peer : ""));
			json_object_object_add(jc, "kato_ms", json_object_new_int64(c->kato_ms));
			/* "dhchap": the host authenticates its queues; "authenticated": its admin queue did */
			json_object_object_add(jc, "dhchap", json_object_new_boolean(c->auth));
			json_object_object_add(jc, "authenticated", json_object_new_boolean(c->admin && c->admin->authed));
			if (c->admin)
				json_object_array_add(qs, queue_json(c->admin));
			for (unsigned q = 1; q <= NVMF_MAX_IO_QUEUES; q++)
				if (c->io[q])
					json_object_array_add(qs, queue_json(c->io[q]));
			json_object_object_add(jc, "queues", qs);
			json_object_array_add(ctrls, jc);
		}
		json_object_object_add(js, "controllers", ctrls);
		json_object_array_add(subs, js);
	}
	json_object_object_add(o, "ports", ports);
	json_object_object_add(o, "subsystems", subs);
	return o;
}

static void add_queue_stats(json_object *arr, const struct nvmf_subsys *s, const struct nvmf_ctrl *c,
			    const struct nvmf_sq *sq)
{
	static const struct nvmf_lat none;
	const struct nvmf_lat *l = sq->st ? &sq->st->lat : &none;
	json_object *q = json_object_new_object();

	json_object_object_add(q, "subsystem", jstr(s->nqn));
	json_object_object_add(q, "cntlid", json_object_new_int(c->cntlid));
	json_object_object_add(q, "qid", json_object_new_int(sq->qid));
	json_object_object_add(q, "hostnqn", jstr(c->hostnqn));
	json_object_object_add(q, "reactor", json_object_new_int(sq->reactor ? (int)sq->reactor->idx : 0));
	json_object_object_add(q, "commands", json_object_new_int64((int64_t)sq->cmds));
	json_object_object_add(q, "errors", json_object_new_int64((int64_t)sq->errors));
	json_object_object_add(q, "latency_us", lat_json(&l, 1));
	json_object_array_add(arr, q);
}

json_object *nvmf_rpc_stats(struct nvmf_tgt *t)
{
	json_object *o = json_object_new_object(), *nss = json_object_new_array();
	json_object *qs = json_object_new_array();
	const struct nvmf_lat *lats[CFG_REACTORS_MAX * NVMF_NR_OPS];

	for (unsigned i = 0; i < t->nr_subsys; i++) {
		const struct nvmf_subsys *s = t->subsys[i];
		const struct nvmf_ns_table *nt = nvmf_subsys_ns(s);

		for (unsigned j = 0; j < nt->nr; j++) {
			const struct nvmf_ns *ns = nt->ns[j];
			struct nvmf_ns_counts n;
			json_object *jn = json_object_new_object(), *je = json_object_new_object();

			nvmf_ns_stats_sum(ns, t->nr_reactors, &n);
			for (unsigned k = 0; k < t->nr_reactors; k++)
				for (unsigned op = 0; op < NVMF_NR_OPS; op++)
					lats[k * NVMF_NR_OPS + op] = &ns->stats[k].lat[op];
			json_object_object_add(jn, "subsystem", jstr(s->nqn));
			json_object_object_add(jn, "nsid", json_object_new_int64(ns->nsid));
			json_object_object_add(jn, "reads", json_object_new_int64((int64_t)n.reads));
			json_object_object_add(jn, "writes", json_object_new_int64((int64_t)n.writes));
			json_object_object_add(jn, "read_bytes", json_object_new_int64((int64_t)n.read_bytes));
			json_object_object_add(jn, "write_bytes", json_object_new_int64((int64_t)n.write_bytes));
			json_object_object_add(jn, "others", json_object_new_int64((int64_t)n.others));
			json_object_object_add(jn, "errors", json_object_new_int64((int64_t)n.errors));
			for (unsigned x = 0; x < NVMF_NR_ERRS; x++)
				if (n.err[x])
					json_object_object_add(je, nvmf_err_name(x), json_object_new_int64((int64_t)n.err[x]));
			json_object_object_add(jn, "errors_by_status", je);
			json_object_object_add(jn, "latency_us", lat_json(lats, t->nr_reactors * NVMF_NR_OPS));
			json_object_array_add(nss, jn);
		}
		for (const struct nvmf_ctrl *c = s->ctrls; c; c = c->next) {
			if (c->dying)
				continue;
			if (c->admin)
				add_queue_stats(qs, s, c, c->admin);
			for (unsigned q = 1; q <= NVMF_MAX_IO_QUEUES; q++)
				if (c->io[q])
					add_queue_stats(qs, s, c, c->io[q]);
		}
	}
	json_object_object_add(o, "namespaces", nss);
	json_object_object_add(o, "queues", qs);
	/* per host, subsystem and port: the same accumulators as the metrics
	 * (kept after the host disconnects) */
	qs = json_object_new_array();
	for (unsigned i = 0; i < t->nr_subsys; i++) {
		const struct nvmf_subsys *s = t->subsys[i];

		for (const struct nvmf_host_stats *h = s->hstats; h; h = h->next) {
			struct nvmf_io_counts io;
			struct nvmf_lat lat;
			const struct nvmf_lat *l = &lat;
			json_object *jh;
			uint64_t e = 0;

			nvmf_host_stats_sum(s, h, &io, &lat);
			for (unsigned x = 0; x < NVMF_NR_ERRS; x++)
				e += io.err[x];
			jh = json_object_new_object();
			json_object_object_add(jh, "subsystem", jstr(s->nqn));
			json_object_object_add(jh, "hostnqn", jstr(h->hostnqn));
			json_object_object_add(jh, "portid", json_object_new_int(h->port->portid));
			json_object_object_add(jh, "transport", jstr(cfg_trtype_name(h->port->addr.trtype)));
			json_object_object_add(jh, "controllers", json_object_new_int((int)h->live));
			json_object_object_add(jh, "reads", json_object_new_int64((int64_t)io.cmds[NVMF_OP_READ]));
			json_object_object_add(jh, "writes", json_object_new_int64((int64_t)io.cmds[NVMF_OP_WRITE]));
			json_object_object_add(jh, "others", json_object_new_int64((int64_t)io.cmds[NVMF_OP_OTHER]));
			json_object_object_add(jh, "read_bytes", json_object_new_int64((int64_t)io.bytes[0]));
			json_object_object_add(jh, "write_bytes", json_object_new_int64((int64_t)io.bytes[1]));
			json_object_object_add(jh, "errors", json_object_new_int64((int64_t)e));
			json_object_object_add(jh, "latency_us", lat_json(&l, 1));
			json_object_array_add(qs, jh);
		}
	}
	json_object_object_add(o, "hosts", qs);
	/* per port: I/O commands received, those answered with an ANA status,
	 * and the groups that are not optimized there */
	qs = json_object_new_array();
	for (unsigned i = 0; i < t->nr_ports; i++) {
		const struct nvmf_port *p = t->ports[i];
		json_object *jp, *ana;
		uint64_t io = 0, refused = 0;

		if (p->discovery_only)
			continue;
		for (unsigned k = 0; k < (t->nr_reactors ? t->nr_reactors : 1); k++) {
			io += __atomic_load_n(&p->stats[k].io, __ATOMIC_RELAXED);
			refused += __atomic_load_n(&p->stats[k].ana_refused, __ATOMIC_RELAXED);
		}
		jp = json_object_new_object();
		json_object_object_add(jp, "portid", json_object_new_int(p->portid));
		json_object_object_add(jp, "trtype", jstr(cfg_trtype_name(p->addr.trtype)));
		json_object_object_add(jp, "traddr", jstr(p->addr.traddr));
		json_object_object_add(jp, "trsvcid", jstr(p->addr.trsvcid));
		json_object_object_add(jp, "io_commands", json_object_new_int64((int64_t)io));
		json_object_object_add(jp, "ana_refused", json_object_new_int64((int64_t)refused));
		ana = json_object_new_object();
		for (unsigned g = 1; g <= CFG_MAX_ANAGRPID; g++) {
			uint8_t st = __atomic_load_n(&p->ana_state[g], __ATOMIC_RELAXED);
			char key[8];

			if (!st)
				continue;
			snprintf(key, sizeof(key), "%u", g);
			json_object_object_add(ana, key, jstr(cfg_ana_state_name(st)));
		}
		json_object_object_add(jp, "ana_groups", ana);
		json_object_array_add(qs, jp);
	}
	json_object_object_add(o, "ports", qs);
	/* each reactor's time in turns that did work and in turns that did
	 * not (spinning or asleep): the load, however busy polling makes the
	 * thread look in top */
	qs = json_object_new_array();
	for (unsigned i = 0; i < t->nr_reactors; i++) {
		const struct reactor *r = &t->reactors[i].r;
		json_object *jr = json_object_new_object();

		json_object_object_add(jr, "reactor", json_object_new_int64(i));
		json_object_object_add(jr, "busy_ns",
				       json_object_new_int64((int64_t)__atomic_load_n(&r->busy_ns, __ATOMIC_RELAXED)));
		json_object_object_add(jr, "idle_ns",
				       json_object_new_int64((int64_t)__atomic_load_n(&r->idle_ns, __ATOMIC_RELAXED)));
		json_object_object_add(jr, "sleeps",
				       json_object_new_int64((int64_t)__atomic_load_n(&r->sleeps, __ATOMIC_RELAXED)));
		json_object_object_add(jr, "turns",
				       json_object_new_int64((int64_t)__atomic_load_n(&r->loops, __ATOMIC_RELAXED)));
		/* short sleeps after bursts, while they raise the rate (reactor.h) */
		json_object_object_add(jr, "naps",
				       json_object_new_int64((int64_t)__atomic_load_n(&r->nap.naps, __ATOMIC_RELAXED)));
		/* messages from other threads: wake-ups they needed, refusals of a full ring */
		json_object_object_add(jr, "msg_wakeups",
				       json_object_new_int64((int64_t)__atomic_load_n(&t->reactors[i].msg_wakeups,
										      __ATOMIC_RELAXED)));
		json_object_object_add(jr, "msg_ring_full",
				       json_object_new_int64((int64_t)__atomic_load_n(&t->reactors[i].msg_ring_full,
										      __ATOMIC_RELAXED)));
		json_object_array_add(qs, jr);
	}
	json_object_object_add(o, "reactors", qs);
	json_object_object_add(o, "qos", nvmf_qos_stats_json(t));
	return o;
}
