/* SPDX-License-Identifier: MIT */
/*
 * Live reconfiguration: compute the difference between the running
 * configuration and a new, validated one, and apply it without disturbing
 * what it does not concern.
 *
 * Two phases. Prepare opens everything new (namespaces, PCIe controllers,
 * listeners) without publishing it; any failure closes what was opened and
 * leaves the running state untouched. Commit then cannot fail: it removes
 * what went away, publishes what came, re-points the objects that stay to
 * the new configuration, raises the async events, and frees the old
 * configuration.
 *
 * What it replaces or removes is retired (retire.c), not freed.
 */
#define LOG_TAG "reconfig"
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "target/qos.h"
#include "target/target.h"
#include "target/metrics.h"
#include "transport/transport.h"

/* --- work on a controller's own reactor ------------------------------------------ */

struct ctrl_msg {
	struct nvmf_tgt *t;
	struct nvmf_subsys *s;            /* never freed before shutdown */
	uint16_t cntlid;
	uint32_t nsid;                    /* 0: destroy; else: namespace changed */
	bool disc;                        /* discovery log changed */
	bool ana;                         /* ANA log changed */
	struct nvmf_msg msg;
};

static struct nvmf_ctrl *find_ctrl(struct nvmf_subsys *s, uint16_t cntlid)
{
	for (struct nvmf_ctrl *c = s->ctrls; c; c = c->next)
		if (c->cntlid == cntlid)
			return c;
	return NULL;
}

static void ctrl_msg_run(struct ctrl_msg *m)
{
	struct nvmf_ctrl *c = find_ctrl(m->s, m->cntlid);

	if (!c)
		return;         /* gone meanwhile */
	if (m->ana)
		nvmf_ctrl_aen_ana_changed(c);
	else if (m->disc)
		nvmf_ctrl_aen_disc_changed(c);
	else if (m->nsid)
		nvmf_ctrl_aen_ns_changed(c, m->nsid);
	else
		nvmf_ctrl_destroy(c);
}

static void ctrl_msg_handler(void *arg)
{
	struct ctrl_msg *m = arg;

	pthread_mutex_lock(&m->t->lock);
	ctrl_msg_run(m);
	pthread_mutex_unlock(&m->t->lock);
	free(m);
}

/* Caller holds t->lock. AER completions and keep-alive timers belong to
 * the controller's reactor: act there. */
static void on_ctrl_msg(struct nvmf_tgt *t, struct nvmf_ctrl *c, struct ctrl_msg m)
{
	struct ctrl_msg *mp;

	if (c->dying)
		return;
	if (c->reactor == nvmf_this_reactor || !c->reactor) {
		ctrl_msg_run(&m);
		return;
	}
	mp = malloc(sizeof(*mp));
	if (!mp)
		return;
	*mp = m;
	mp->msg = (struct nvmf_msg){ .fn = ctrl_msg_handler, .arg = mp };
	nvmf_reactor_post(c->reactor, &mp->msg);
}

static void on_ctrl(struct nvmf_tgt *t, struct nvmf_ctrl *c, uint32_t nsid, bool disc)
{
	on_ctrl_msg(t, c, (struct ctrl_msg){ .t = t, .s = c->subsys, .cntlid = c->cntlid, .nsid = nsid, .disc = disc });
}

/* The ANA log of c's port changed: an ANA change notice (caller: t->lock) */
static void on_ctrl_ana(struct nvmf_tgt *t, struct nvmf_ctrl *c)
{
	on_ctrl_msg(t, c, (struct ctrl_msg){ .t = t, .s = c->subsys, .cntlid = c->cntlid, .ana = true });
}

/* --- change log --------------------------------------------------------------------- */

struct changes {
	char *buf;
	size_t len, used;
	unsigned n;
};

static void change(struct changes *ch, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void change(struct changes *ch, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_notice("%s", line);
	ch->n++;
	if (!ch->buf || ch->used >= ch->len)
		return;
	n = snprintf(ch->buf + ch->used, ch->len - ch->used, "%s\n", line);
	if (n > 0)
		ch->used += (size_t)n;
}

/* --- the plan --------------------------------------------------------------------------- */

static bool same_device(const struct cfg_namespace *a, const struct cfg_namespace *b)
{
	if (a->backend != b->backend || a->block_size != b->block_size || a->no_resv != b->no_resv ||
	    a->has_uuid != b->has_uuid || a->has_nguid != b->has_nguid ||
	    (a->has_uuid && memcmp(a->uuid, b->uuid, 16)) || (a->has_nguid && memcmp(a->nguid, b->nguid, 16)))
		return false;
	switch (a->backend) {
	case CFG_BACKEND_PCIE:
		return !strcmp(a->pcie_bdf, b->pcie_bdf) && a->pcie_nsid == b->pcie_nsid;
	case CFG_BACKEND_FILE:
		return !strcmp(a->path, b->path);
	case CFG_BACKEND_MEM:
	case CFG_BACKEND_NULL:
		return a->mem_bytes == b->mem_bytes;
	}
	return false;
}

static bool same_addr(const struct cfg_addr *a, const struct cfg_addr *b)
{
	return a->trtype == b->trtype && a->adrfam == b->adrfam && a->treq == b->treq &&
	       !strcmp(a->traddr, b->traddr) && !strcmp(a->trsvcid, b->trsvcid);
}

struct subsys_plan {
	const struct cfg_subsystem *cs;
	struct nvmf_subsys *s;            /* the running one, or a new unpublished one */
	bool is_new;
	struct nvmf_ns_table *nt;         /* the table to publish */
	bool *opened;                     /* nt->ns[i] was opened by this plan */
};

struct port_plan {
	const struct cfg_port *cp;        /* NULL: an extra discovery port */
	struct cfg_addr addr;
	struct nvmf_port *p;              /* the running one, or a new listening one */
	bool is_new;
};

struct plan {
	struct subsys_plan *sp;
	unsigned nr_sp;
	struct port_plan *pp;
	unsigned nr_pp;
};

static struct nvmf_subsys *live_subsys(struct nvmf_tgt *t, const char *nqn)
{
	for (unsigned i = 0; i < t->nr_subsys; i++)
		if (!strcmp(t->subsys[i]->nqn, nqn))
			return t->subsys[i];
	return NULL;
}

static struct nvmf_ns *table_find(const struct nvmf_ns_table *nt, uint32_t nsid)
{
	for (unsigned i = 0; nt && i < nt->nr; i++)
		if (nt->ns[i]->nsid == nsid)
			return nt->ns[i];
	return NULL;
}

static void plan_free(struct nvmf_tgt *t, struct plan *pl, bool rollback)
{
	for (unsigned i = 0; i < pl->nr_sp; i++) {
		struct subsys_plan *sp = &pl->sp[i];

		if (rollback && sp->nt) {
			for (unsigned j = 0; j < sp->nt->nr; j++)
				if (sp->opened[j])
					nvmf_ns_free(sp->nt->ns[j]);
			free(sp->nt);
		}
		if (rollback && sp->is_new) {
			free(sp->s->nst);
			free(sp->s);
		}
		free(sp->opened);
	}
	for (unsigned i = 0; rollback && i < pl->nr_pp; i++) {
		if (pl->pp[i].is_new && pl->pp[i].p) {
			nvmf_port_unlisten(pl->pp[i].p);
			free(pl->pp[i].p);
		}
	}
	free(pl->sp);
	free(pl->pp);
	(void)t;
}

static int prepare_subsys(struct nvmf_tgt *t, const struct config *cfg, unsigned si, struct subsys_plan *sp,
			  char *err, size_t errlen)
{
	const struct cfg_subsystem *cs = &cfg->subsystems[si];
	const struct nvmf_ns_table *old;
	char why[768];
	int rc;

	sp->cs = cs;
	sp->s = live_subsys(t, cs->nqn);
	if (!sp->s) {
		sp->s = nvmf_subsys_new(t, cs);
		if (!sp->s)
			return -ENOMEM;
		sp->is_new = true;
	}
	old = sp->is_new ? NULL : sp->s->nst;
	sp->nt = nvmf_ns_table_new(cs->nr_namespaces);
	sp->opened = calloc(cs->nr_namespaces ? cs->nr_namespaces : 1, sizeof(bool));
	if (!sp->nt || !sp->opened)
		return -ENOMEM;
	for (unsigned i = 0; i < cs->nr_namespaces; i++) {
		const struct cfg_namespace *cn = &cs->namespaces[i];
		struct nvmf_ns *ns = cn->enable ? table_find(old, cn->nsid) : NULL;

		if (!cn->enable)
			continue;
		if (ns && same_device(ns->cfg, cn)) {
			sp->nt->ns[sp->nt->nr++] = ns;  /* stays, re-pointed at commit */
			continue;
		}
		rc = nvmf_ns_open(t, sp->s, cn, &sp->nt->ns[sp->nt->nr], why, sizeof(why));
		if (rc) {
			snprintf(err, errlen, "%s: subsystems[%u].namespaces[%u]: %s", cfg->file, si, i, why);
			return rc;
		}
		sp->opened[sp->nt->nr++] = true;
	}
	nvmf_ns_table_sort(sp->nt);
	/* keep opened[] aligned with the sorted table */
	for (unsigned i = 0; i < sp->nt->nr; i++)
		sp->opened[i] = !table_find(old, sp->nt->ns[i]->nsid) ||
				table_find(old, sp->nt->ns[i]->nsid) != sp->nt->ns[i];
	return 0;
}

static struct nvmf_port *live_port(struct nvmf_tgt *t, const struct cfg_port *cp, const struct cfg_addr *a)
{
	for (unsigned i = 0; i < t->nr_ports; i++) {
		struct nvmf_port *p = t->ports[i];

		if (!!p->cfg != !!cp || !same_addr(&p->addr, a))
			continue;
		if (cp && p->portid != cp->portid)
			continue;
		return p;
	}
	return NULL;
}

static int prepare_port(struct nvmf_tgt *t, struct port_plan *pp, const struct cfg_port *cp,
			const struct cfg_addr *a, char *err, size_t errlen)
{
	char why[256];
	int rc;

	pp->cp = cp;
	pp->addr = *a;
	pp->p = live_port(t, cp, a);
	if (pp->p)
		return 0;
	pp->p = nvmf_port_new(t, cp, a, !cp);
	if (!pp->p)
		return -ENOMEM;
	pp->is_new = true;
	rc = nvmf_port_listen(pp->p, why, sizeof(why));
	if (rc) {
		snprintf(err, errlen, "cannot listen on %s:%s: %s", a->traddr, a->trsvcid, why);
		free(pp->p);
		pp->p = NULL;
		pp->is_new = false;
	}
	return rc;
}

/* The same extra discovery listeners start-up creates (core.c) */
static int plan_ports(struct nvmf_tgt *t, const struct config *cfg, struct plan *pl, char *err, size_t errlen)
{
	int rc;

	pl->pp = calloc(2 * cfg->nr_ports + 1, sizeof(*pl->pp));
	if (!pl->pp)
		return -ENOMEM;
	for (unsigned i = 0; i < cfg->nr_ports; i++) {
		rc = prepare_port(t, &pl->pp[pl->nr_pp], &cfg->ports[i], &cfg->ports[i].addr, err, errlen);
		if (rc)
			return rc;
		pl->nr_pp++;
	}
	for (unsigned i = 0; i < cfg->nr_ports; i++) {
		struct cfg_addr d;
		bool have = false;

		if (!nvmf_transport_disc_addr(cfg, i, &d))
			continue;
		for (unsigned j = 0; j < pl->nr_pp; j++)
			have |= nvmf_same_listener(&pl->pp[j].addr, &d);
		if (have)
			continue;
		rc = prepare_port(t, &pl->pp[pl->nr_pp], NULL, &d, err, errlen);
		if (rc)
			return rc;
		pl->nr_pp++;
	}
	return 0;
}

/* --- commit ---------------------------------------------------------------------------- */

static void destroy_ctrls_where(struct nvmf_tgt *t, struct nvmf_subsys *s, struct nvmf_port *p, bool host_check,
			       struct changes *ch)
{
	for (struct nvmf_ctrl *c = s->ctrls; c; c = c->next) {
		bool go = false;

		if (c->dying)
			continue;
		if (p && c->port == p && !nvmf_port_has_subsys(p, s))
			go = true;
		if (host_check && !nvmf_subsys_host_allowed(s, c->hostnqn))
			go = true;
		if (!go)
			continue;
		change(ch, "disconnecting controller %u of %s (host %s)", c->cntlid, s->nqn, c->hostnqn);
		on_ctrl(t, c, 0, false);
	}
}

static void remove_subsys(struct nvmf_tgt *t, unsigned idx, struct changes *ch)
{
	struct nvmf_subsys *s = t->subsys[idx];

	t->subsys[idx] = t->subsys[--t->nr_subsys];
	s->removed = true;
	s->cfg = NULL;
	for (struct nvmf_ctrl *c = s->ctrls; c; c = c->next)
		on_ctrl(t, c, 0, false);
	for (unsigned i = 0; i < s->nst->nr; i++)
		nvmf_tgt_retire(t, s->nst->ns[i], true);
	s->nst->nr = 0;         /* the (empty) table stays with the dead subsystem */
	s->next_dead = t->dead_subsys;
	t->dead_subsys = s;
	change(ch, "removed subsystem %s", s->nqn);
}

static bool commit_subsys(struct nvmf_tgt *t, struct subsys_plan *sp, struct changes *ch)
{
	struct nvmf_subsys *s = sp->s;
	struct nvmf_ns_table *old = s->nst;
	bool hosts_changed = !sp->is_new && (s->cfg->allow_any_host != sp->cs->allow_any_host ||
					     s->cfg->nr_allowed_hosts != sp->cs->nr_allowed_hosts);
	bool ns_changed = false, ana_moved = false;

	for (unsigned i = 0; !hosts_changed && !sp->is_new && i < sp->cs->nr_allowed_hosts; i++)
		hosts_changed = strcmp(s->cfg->allowed_hosts[i], sp->cs->allowed_hosts[i]) != 0;
	nvmf_subsys_set_attrs(s, sp->cs);
	for (unsigned i = 0; i < sp->nt->nr; i++)
		sp->nt->ns[i]->cfg = NULL;
	/* re-point every namespace that stays to its new configuration */
	for (unsigned i = 0; i < sp->cs->nr_namespaces; i++) {
		struct nvmf_ns *ns = table_find(sp->nt, sp->cs->namespaces[i].nsid);

		if (ns && sp->cs->namespaces[i].enable) {
			ns->cfg = &sp->cs->namespaces[i];
			if (ns->anagrpid != ns->cfg->anagrpid) {     /* a namespace that stays */
				change(ch, "namespace %u of %s moved from ANA group %u to %u", ns->nsid, s->nqn,
				       ns->anagrpid, ns->cfg->anagrpid);
				__atomic_store_n(&ns->anagrpid, ns->cfg->anagrpid, __ATOMIC_RELAXED);
				ana_moved = true;
			}
		}
	}
	if (ana_moved) {
		t->ana_chgcnt++;
		for (struct nvmf_ctrl *c = s->ctrls; c; c = c->next)
			on_ctrl_ana(t, c);
	}
	if (!sp->is_new) {
		for (unsigned i = 0; i < old->nr; i++) {
			struct nvmf_ns *ns = old->ns[i];

			if (table_find(sp->nt, ns->nsid) == ns)
				continue;
			ns_changed = true;
			change(ch, "removed namespace %u from %s", ns->nsid, s->nqn);
			for (struct nvmf_ctrl *c = s->ctrls; c; c = c->next)
				on_ctrl(t, c, ns->nsid, false);
			nvmf_tgt_retire(t, ns, true);
		}
	}
	for (unsigned i = 0; i < sp->nt->nr; i++) {
		if (!sp->opened[i])
			continue;
		ns_changed = true;
		if (!sp->is_new) {
			change(ch, "added namespace %u to %s (%s)", sp->nt->ns[i]->nsid, s->nqn, sp->nt->ns[i]->ops->name);
			for (struct nvmf_ctrl *c = s->ctrls; c; c = c->next)
				on_ctrl(t, c, sp->nt->ns[i]->nsid, false);
		}
	}
	if (ns_changed || sp->is_new) {
		__atomic_store_n(&s->nst, sp->nt, __ATOMIC_RELEASE);
		if (!sp->is_new)
			nvmf_tgt_retire(t, old, false);
		else
			free(old);
	} else {
		free(sp->nt);   /* same namespaces: keep the published table */
	}
	sp->nt = NULL;
	nvmf_subsys_update_limits(s);
	if (sp->is_new) {
		t->subsys[t->nr_subsys++] = s;
		change(ch, "added subsystem %s with %u namespace(s)", s->nqn, nvmf_subsys_ns(s)->nr);
	} else if (hosts_changed) {
		change(ch, "allowed hosts of %s changed", s->nqn);
		destroy_ctrls_where(t, s, NULL, true, ch);
	}
	return sp->is_new || hosts_changed;
}

static bool port_subsys_changed(const struct cfg_port *a, const struct cfg_port *b)
{
	if (!a || !b)
		return !!a != !!b;
	if (a->nr_subsystems != b->nr_subsystems || a->nr_referrals != b->nr_referrals)
		return true;
	for (unsigned i = 0; i < a->nr_subsystems; i++)
		if (strcmp(a->subsystems[i], b->subsystems[i]))
			return true;
	return false;
}

/* A port that stays takes its new ANA group states: the I/O path sees
 * each at once, the hosts on the port get an ANA change notice */
static void ana_states_changes(struct nvmf_tgt *t, struct nvmf_port *p, const struct cfg_port *cp,
			       struct changes *ch)
{
	bool changed = false;

	for (unsigned g = 1; g <= CFG_MAX_ANAGRPID; g++) {
		if (p->ana_state[g] == cp->ana_state[g])
			continue;
		change(ch, "port %u: ANA group %u is now %s (was %s)", p->portid, g, cfg_ana_state_name(cp->ana_state[g]),
		       cfg_ana_state_name(p->ana_state[g]));
		__atomic_store_n(&p->ana_state[g], cp->ana_state[g], __ATOMIC_RELAXED);
		changed = true;
	}
	if (!changed)
		return;
	t->ana_chgcnt++;
	for (unsigned i = 0; i < t->nr_subsys; i++)
		for (struct nvmf_ctrl *c = t->subsys[i]->ctrls; c; c = c->next)
			if (c->port == p)
				on_ctrl_ana(t, c);
}

static bool commit_ports(struct nvmf_tgt *t, struct plan *pl, struct changes *ch)
{
	bool changed = false;

	/* ports that go */
	for (unsigned i = 0; i < t->nr_ports;) {
		struct nvmf_port *p = t->ports[i];
		bool kept = false;

		for (unsigned j = 0; j < pl->nr_pp; j++)
			kept |= pl->pp[j].p == p;
		if (kept) {
			i++;
			continue;
		}
		change(ch, "removed port %u (%s:%s%s)", p->portid, p->addr.traddr, p->addr.trsvcid,
		       p->discovery_only ? ", discovery" : "");
		nvmf_port_unlisten(p);
		p->removed = true;
		p->cfg = NULL;
		nvmf_port_close_conns(t, p);
		t->ports[i] = t->ports[--t->nr_ports];
		p->next_dead = t->dead_ports;
		t->dead_ports = p;
		changed = true;
	}
	/* ports that stay or come */
	for (unsigned j = 0; j < pl->nr_pp; j++) {
		struct port_plan *pp = &pl->pp[j];
		struct nvmf_port *p = pp->p;

		if (pp->is_new) {
			t->ports[t->nr_ports++] = p;
			change(ch, "added port %u (%s:%s%s)", p->portid, p->addr.traddr, p->addr.trsvcid,
			       p->discovery_only ? ", discovery" : "");
			changed = true;
			continue;
		}
		if (port_subsys_changed(p->cfg, pp->cp)) {
			p->cfg = pp->cp;
			change(ch, "port %u now exports %u subsystem(s)", p->portid, pp->cp ? pp->cp->nr_subsystems : 0);
			for (unsigned i = 0; i < t->nr_subsys; i++)
				destroy_ctrls_where(t, t->subsys[i], p, false, ch);
			changed = true;
		}
		p->cfg = pp->cp;
		if (pp->cp)
			ana_states_changes(t, p, pp->cp, ch);
		if (pp->cp) {
			p->inline_data_size = pp->cp->inline_data_size;
			if (p->inline_data_size > t->max_xfer)
				p->inline_data_size = t->max_xfer;
		}
	}
	pl->nr_pp = 0;
	return changed;
}

/* DH-HMAC-CHAP keys and require_auth apply to the next authentication or
 * Connect: queues already authenticated keep working (the secrets
 * themselves are never logged) */
static void host_keys_changes(const struct config *old, const struct config *cfg, struct changes *ch)
{
	for (unsigned i = 0; i < cfg->nr_hosts; i++) {
		const struct cfg_host *h = &cfg->hosts[i], *o = cfg_find_host(old, h->nqn);
		const struct cfg_dhchap *d = &h->dhchap, *od = o ? &o->dhchap : NULL;

		if (!od || (!od->key[0] && !d->key[0]))
			continue;
		if (strcmp(od->key, d->key) || strcmp(od->ctrl_key, d->ctrl_key) || od->hash != d->hash ||
		    od->dhgroup != d->dhgroup)
			change(ch, "DH-HMAC-CHAP settings of host %s changed (%s): they apply from its next authentication",
			       h->nqn, !d->key[0] ? "key removed" : !od->key[0] ? "key added" : "rotated or retuned");
	}
	for (unsigned i = 0; i < cfg->nr_subsystems; i++)
		for (unsigned j = 0; j < old->nr_subsystems; j++)
			if (!strcmp(cfg->subsystems[i].nqn, old->subsystems[j].nqn) &&
			    cfg->subsystems[i].require_auth != old->subsystems[j].require_auth)
				change(ch, "require_auth of %s is now %s: it applies from the next Connect", cfg->subsystems[i].nqn,
				       cfg->subsystems[i].require_auth ? "on" : "off");
}

/* QoS limits change live: the next command of each queue sees them */
static void qos_change(void *arg, const char *line)
{
	change(arg, "%s", line);
}

int nvmf_tgt_apply(struct nvmf_tgt *t, struct config *cfg, char *changes, size_t changes_len,
		   char *err, size_t errlen)
{
	struct changes ch = { .buf = changes, .len = changes_len };
	struct plan pl = { 0 };
	struct config *old = t->cfg;
	bool disc_changed = false;
	bool metrics_changed = memcmp(&cfg->bridge.metrics, &old->bridge.metrics, sizeof(cfg->bridge.metrics)) != 0;
	int rc = 0;

	if (changes && changes_len)
		changes[0] = 0;
	/* the metrics server first, outside tgt->lock (a scrape in progress
	 * holds it, and stopping the server waits for the scrape) */
	if (metrics_changed) {
		rc = nvmf_metrics_start(t, &cfg->bridge.metrics, err, errlen);
		if (rc)
			return rc;
	}
	pthread_mutex_lock(&t->lock);
	if (cfg->nr_subsystems > NVMF_MAX_SUBSYS || 2 * cfg->nr_ports + 1 > NVMF_MAX_PORTS) {
		snprintf(err, errlen, "%s: more than %u subsystems or %u ports", cfg->file, NVMF_MAX_SUBSYS,
			 NVMF_MAX_PORTS / 2);
		rc = -ENOSPC;
		goto unlock;
	}
	/* prepare: open everything new, publish nothing */
	pl.sp = calloc(cfg->nr_subsystems ? cfg->nr_subsystems : 1, sizeof(*pl.sp));
	if (!pl.sp) {
		rc = -ENOMEM;
		goto rollback;
	}
	for (unsigned i = 0; i < cfg->nr_subsystems; i++) {
		rc = prepare_subsys(t, cfg, i, &pl.sp[i], err, errlen);
		pl.nr_sp++;
		if (rc)
			goto rollback;
	}
	rc = plan_ports(t, cfg, &pl, err, errlen);
	if (rc)
		goto rollback;
	rc = nvmf_qos_prepare(t, cfg);
	if (rc)
		goto rollback;

	/* commit: nothing below fails */
	if (cfg->bridge.reactors != old->bridge.reactors)
		change(&ch, "bridge.reactors changes only at the next start (running %u)", t->nr_reactors);
	if (cfg->bridge.rdma_srq_size != old->bridge.rdma_srq_size)
		change(&ch, "bridge.rdma_srq_size changes only at the next start (running %u%s)", t->rdma_srq_size,
		       t->rdma_srq_size ? "" : ": automatic");
	if (strcmp(cfg->bridge.rpc_socket, old->bridge.rpc_socket) || strcmp(cfg->bridge.rpc_group, old->bridge.rpc_group))
		change(&ch, "bridge.rpc_socket and rpc_group change only at the next start");
	if (memcmp(&cfg->bridge.icreq_timeout_ms, &old->bridge.icreq_timeout_ms,
		   offsetof(struct cfg_bridge, rpc_namespace_dirs) - offsetof(struct cfg_bridge, icreq_timeout_ms))) {
		nvmf_tgt_set_limits(t, cfg);
		change(&ch, "bridge limits: icreq %u ms, connect %u ms, %u connections per port, %u per address, "
			    "%u controllers per host", cfg->bridge.icreq_timeout_ms, cfg->bridge.connect_timeout_ms,
		       cfg->bridge.max_conns_per_port, cfg->bridge.max_conns_per_addr, cfg->bridge.max_ctrls_per_host);
	}
	if (memcmp(cfg->bridge.rpc_namespace_dirs, old->bridge.rpc_namespace_dirs, sizeof(cfg->bridge.rpc_namespace_dirs)) ||
	    cfg->bridge.nr_rpc_namespace_dirs != old->bridge.nr_rpc_namespace_dirs ||
	    strcmp(cfg->bridge.rpc_save_dir, old->bridge.rpc_save_dir))
		change(&ch, "bridge.rpc_namespace_dirs and rpc_save_dir apply to the next control request");
	if (metrics_changed && cfg->bridge.metrics.enabled)
		change(&ch, "metrics now served on %s%s%s:%u", strchr(cfg->bridge.metrics.addr, ':') ? "[" : "",
		       cfg->bridge.metrics.addr, strchr(cfg->bridge.metrics.addr, ':') ? "]" : "", cfg->bridge.metrics.port);
	else if (metrics_changed)
		change(&ch, "metrics endpoint closed");
	for (unsigned i = 0; i < t->nr_subsys;) {
		bool wanted = false;

		for (unsigned j = 0; j < pl.nr_sp; j++)
			wanted |= pl.sp[j].s == t->subsys[i];
		if (wanted) {
			i++;
			continue;
		}
		remove_subsys(t, i, &ch);
		disc_changed = true;
	}
	for (unsigned j = 0; j < pl.nr_sp; j++)
		disc_changed |= commit_subsys(t, &pl.sp[j], &ch);
	disc_changed |= commit_ports(t, &pl, &ch);
	if (disc_changed) {
		t->genctr++;
		for (struct nvmf_ctrl *c = t->disc->ctrls; c; c = c->next)
			on_ctrl(t, c, 0, true);
	}
	host_keys_changes(old, cfg, &ch);
	nvmf_qos_commit(t, cfg, qos_change, &ch);
	t->cfg = cfg;
	plan_free(t, &pl, false);
	if (!ch.n)
		log_notice("configuration unchanged");
	pthread_mutex_unlock(&t->lock);
	config_free(old);
	return 0;

rollback:
	plan_free(t, &pl, true);
unlock:
	pthread_mutex_unlock(&t->lock);
	if (metrics_changed) {
		char e2[256];

		if (nvmf_metrics_start(t, &old->bridge.metrics, e2, sizeof(e2)))
			log_err("the refused configuration's metrics endpoint stays: %s", e2);
	}
	if (rc == -ENOMEM && !err[0])
		snprintf(err, errlen, "out of memory");
	return rc;
}

int nvmf_tgt_reload(struct nvmf_tgt *t, char *err, size_t errlen)
{
	struct config *cfg;
	char changes[4096];
	int rc;

	rc = config_load(t->cfg->file, &cfg, err, errlen);
	if (rc) {
		log_err("reload refused: %s", err);
		return rc;
	}
	rc = nvmf_tgt_apply(t, cfg, changes, sizeof(changes), err, errlen);
	if (rc) {
		log_err("reload refused: %s", err);
		config_free(cfg);
	}
	return rc;
}
