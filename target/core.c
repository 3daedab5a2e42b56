/* SPDX-License-Identifier: MIT */
/*
 * The target built from a validated configuration and torn down: PCIe
 * controllers first (they decide the number of reactors), reactors and
 * their pollers, data pools, subsystems with their namespaces (each opened
 * through its backend's ops), ports; and the lookups of what was built.
 */
#define LOG_TAG "target"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include "common/log.h"
#include "target/qos.h"
#include "target/target.h"
#include "transport/transport.h"

static void subsys_free(struct nvmf_subsys *s)
{
	while (s->ctrls)
		nvmf_ctrl_free(s->ctrls);
	nvmf_host_stats_free(s);
	for (unsigned j = 0; s->nst && j < s->nst->nr; j++)
		nvmf_ns_free(s->nst->ns[j]);
	free(s->nst);
	free(s);
}

/* --- lookups --------------------------------------------------------------- */

struct nvmf_subsys *nvmf_tgt_find_subsys(struct nvmf_tgt *t, const char *nqn)
{
	if (!strcmp(nqn, NVMF_DISCOVERY_NQN))
		return t->disc;
	for (unsigned i = 0; i < t->nr_subsys; i++)
		if (!strcmp(t->subsys[i]->nqn, nqn))
			return t->subsys[i];
	return NULL;
}

bool nvmf_port_has_subsys(const struct nvmf_port *p, const struct nvmf_subsys *s)
{
	if (s->type == NVMF_SUBSYS_DISCOVERY)
		return true;            /* discovery answers on every port */
	if (p->discovery_only || !p->cfg)
		return false;
	for (unsigned i = 0; i < p->cfg->nr_subsystems; i++)
		if (!strcmp(p->cfg->subsystems[i], s->nqn))
			return true;
	return false;
}

bool nvmf_subsys_host_allowed(const struct nvmf_subsys *s, const char *hostnqn)
{
	if (s->type == NVMF_SUBSYS_DISCOVERY || s->cfg->allow_any_host)
		return true;
	for (unsigned i = 0; i < s->cfg->nr_allowed_hosts; i++)
		if (!strcmp(s->cfg->allowed_hosts[i], hostnqn))
			return true;
	return false;
}

/* --- construction ---------------------------------------------------------- */

/* A stable serial number when the configuration gives none: the same
 * subsystem must report the same serial on every controller. */
static void default_serial(struct nvmf_subsys *s)
{
	uint64_t h = 1469598103934665603ull;

	for (const char *p = s->nqn; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ull;
	snprintf(s->serial, sizeof(s->serial), "%016llx", (unsigned long long)h);
}

/* Namespace identifiers unique per subsystem and namespace, stable across
 * restarts: configured ones win; otherwise derived from NQN and NSID.
 * Never the device's own, which another subsystem (or the kernel driver)
 * may expose too: the Linux host ignores a namespace whose IDs collide. */
static void ns_ids(struct nvmf_ns *ns)
{
	uint64_t h1 = 1469598103934665603ull, h2 = 0x9e3779b97f4a7c15ull;

	for (const char *p = ns->subsys->nqn; *p; p++) {
		h1 = (h1 ^ (uint8_t)*p) * 1099511628211ull;
		h2 = (h2 ^ (uint8_t)*p) * 0x100000001b3ull + 7;
	}
	h1 ^= ns->nsid * 0xff51afd7ed558ccdull;
	h2 ^= ns->nsid * 0xc4ceb9fe1a85ec53ull;
	memcpy(ns->nguid, &h1, 8);
	memcpy(ns->nguid + 8, &h2, 8);
	memcpy(ns->uuid, ns->nguid, 16);
	ns->uuid[6] = (uint8_t)((ns->uuid[6] & 0x0f) | 0x40);   /* version 4 */
	ns->uuid[8] = (uint8_t)((ns->uuid[8] & 0x3f) | 0x80);   /* variant 1 */
	if (ns->cfg->has_uuid)
		memcpy(ns->uuid, ns->cfg->uuid, 16);
	if (ns->cfg->has_nguid)
		memcpy(ns->nguid, ns->cfg->nguid, 16);
}

/* The backends by configuration type (cfg_namespace.backend) */
static const struct nvmf_backend_ops *const backends[] = {
	[CFG_BACKEND_PCIE] = &nvmf_backend_pcie,
	[CFG_BACKEND_FILE] = &nvmf_backend_file,
	[CFG_BACKEND_MEM] = &nvmf_backend_mem,
	[CFG_BACKEND_NULL] = &nvmf_backend_null,
};

/* Open a namespace's backend (a pcie one opens its controller if needed).
 * The namespace is not published: the caller puts it in a table. */
int nvmf_ns_open(struct nvmf_tgt *t, struct nvmf_subsys *s, const struct cfg_namespace *cn,
		 struct nvmf_ns **out, char *err, size_t errlen)
{
	struct nvmf_ns *ns = calloc(1, sizeof(*ns));
	const struct nvmf_backend_ops *ops;
	unsigned nr = t->nr_reactors ? t->nr_reactors : 1;
	char why[768] = "";
	int rc;

	if (!ns)
		return -ENOMEM;
	ns->stats = aligned_alloc(64, nr * sizeof(*ns->stats));
	if (!ns->stats) {
		free(ns);
		return -ENOMEM;
	}
	memset(ns->stats, 0, nr * sizeof(*ns->stats));
	ns->subsys = s;
	ns->nsid = cn->nsid;
	ns->cfg = cn;
	ns_ids(ns);
	ops = (unsigned)cn->backend < sizeof(backends) / sizeof(backends[0]) ? backends[cn->backend] : NULL;
	if (ops) {
		rc = ops->open(t, ns, why, sizeof(why));
	} else {
		rc = -EINVAL;
		snprintf(why, sizeof(why), "unknown backend");
	}
	if (rc) {
		snprintf(err, errlen, "%s", why);
		free(ns->stats);
		free(ns);
		return rc;
	}
	ns->ops = ops;
	/* fabrics fix-ups of what the backend filled in */
	ns->id.nmic = 1;                /* may be shared by several controllers */
	ns->anagrpid = cn->anagrpid ? cn->anagrpid : 1;
	ns->id.anagrpid = cpu_to_le32(ns->anagrpid);
	memset(ns->id.eui64, 0, sizeof(ns->id.eui64));
	memcpy(ns->id.nguid, ns->nguid, 16);
	rc = nvmf_resv_ns_init(t, ns);
	if (rc) {
		snprintf(err, errlen, "out of memory for its reservations");
		nvmf_ns_free(ns);
		return rc;
	}
	*out = ns;
	return 0;
}

void nvmf_ns_free(struct nvmf_ns *ns)
{
	if (ns->ops && ns->ops->close)
		ns->ops->close(ns);
	nvmf_resv_ns_fini(ns);
	free(ns->stats);
	free(ns);
}

static int ns_cmp(const void *a, const void *b)
{
	const struct nvmf_ns *x = *(struct nvmf_ns *const *)a, *y = *(struct nvmf_ns *const *)b;

	return x->nsid < y->nsid ? -1 : x->nsid > y->nsid;
}

struct nvmf_ns_table *nvmf_ns_table_new(unsigned nr)
{
	struct nvmf_ns_table *nt = calloc(1, sizeof(*nt) + (nr ? nr : 1) * sizeof(nt->ns[0]));

	return nt;
}

void nvmf_ns_table_sort(struct nvmf_ns_table *nt)
{
	qsort(nt->ns, nt->nr, sizeof(nt->ns[0]), ns_cmp);
}

/* The MDTS and device identity a subsystem reports follow its namespaces */
void nvmf_subsys_update_limits(struct nvmf_subsys *s)
{
	const struct nvmf_ns_table *nt = s->nst;

	s->max_xfer = s->tgt->max_xfer;
	s->dev_id = NULL;
	for (unsigned i = 0; nt && i < nt->nr; i++) {
		const struct nvmf_ns *ns = nt->ns[i];
		const struct nvme_id_ctrl *id;
		uint32_t max_xfer;

		if (!ns->ops->dev_id)
			continue;
		id = ns->ops->dev_id(ns, &max_xfer);
		if (max_xfer < s->max_xfer)
			s->max_xfer = max_xfer;
		if (!s->dev_id)
			s->dev_id = id;
	}
}

void nvmf_subsys_set_attrs(struct nvmf_subsys *s, const struct cfg_subsystem *cs)
{
	s->cfg = cs;
	snprintf(s->model, sizeof(s->model), "%s", cs->model[0] ? cs->model : "Linux");
	if (cs->serial[0])
		snprintf(s->serial, sizeof(s->serial), "%s", cs->serial);
	else
		default_serial(s);
}

struct nvmf_subsys *nvmf_subsys_new(struct nvmf_tgt *t, const struct cfg_subsystem *cs)
{
	struct nvmf_subsys *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->tgt = t;
	s->type = NVMF_SUBSYS_NVME;
	snprintf(s->nqn, sizeof(s->nqn), "%s", cs->nqn);
	nvmf_subsys_set_attrs(s, cs);
	s->next_cntlid = cs->cntlid_min ? cs->cntlid_min : 1;
	s->nst = nvmf_ns_table_new(0);
	if (!s->nst) {
		free(s);
		return NULL;
	}
	nvmf_subsys_update_limits(s);
	return s;
}

static int add_subsys(struct nvmf_tgt *t, const struct cfg_subsystem *cs, unsigned si, char *err, size_t errlen)
{
	struct nvmf_subsys *s = nvmf_subsys_new(t, cs);
	struct nvmf_ns_table *nt;
	char why[768];
	int rc;

	if (!s)
		return -ENOMEM;
	t->subsys[t->nr_subsys++] = s;
	nt = nvmf_ns_table_new(cs->nr_namespaces);
	if (!nt)
		return -ENOMEM;
	free(s->nst);
	s->nst = nt;
	for (unsigned i = 0; i < cs->nr_namespaces; i++) {
		if (!cs->namespaces[i].enable)
			continue;
		rc = nvmf_ns_open(t, s, &cs->namespaces[i], &nt->ns[nt->nr], why, sizeof(why));
		if (rc) {
			set_err(err, errlen, "%s: subsystems[%u].namespaces[%u]: %s", t->cfg->file, si, i, why);
			return rc;
		}
		nt->nr++;
	}
	nvmf_ns_table_sort(nt);
	nvmf_subsys_update_limits(s);
	return 0;
}

struct nvmf_port *nvmf_port_new(struct nvmf_tgt *t, const struct cfg_port *cp, const struct cfg_addr *a,
			       bool disc_only)
{
	unsigned nr = t->nr_reactors ? t->nr_reactors : 1;
	/* the stats are cache-line aligned: so is the size aligned_alloc takes */
	size_t size = (sizeof(struct nvmf_port) + nr * (sizeof(struct nvmf_port_stats) + sizeof(struct nvmf_msg)) +
		       63) & ~(size_t)63;
	struct nvmf_port *p = aligned_alloc(64, size);

	if (!p)
		return NULL;
	memset(p, 0, size);
	p->close_msgs = (struct nvmf_msg *)&p->stats[nr];
	p->tgt = t;
	p->cfg = cp;
	if (cp)
		memcpy(p->ana_state, cp->ana_state, sizeof(p->ana_state));
	p->addr = *a;
	p->portid = cp ? cp->portid : 0;
	p->discovery_only = disc_only;
	if (disc_only) {
		/* our own discovery listener speaks plain NVMe/TCP: hosts learn
		 * there which ports require TLS */
		p->addr.tls = false;
		p->addr.treq = CFG_TREQ_NOT_SPECIFIED;
	}
	p->inline_data_size = cp ? cp->inline_data_size : 0;
	if (p->inline_data_size > t->max_xfer)
		p->inline_data_size = t->max_xfer;
	return p;
}

/* The discovery listeners bridge.discovery_port adds (one per address of
 * a port whose transport has a well-known discovery port), unless a port
 * is already there. */
static int add_discovery_ports(struct nvmf_tgt *t)
{
	const struct config *cfg = t->cfg;

	for (unsigned i = 0; i < cfg->nr_ports; i++) {
		struct cfg_addr d;
		bool have = false;

		if (!nvmf_transport_disc_addr(cfg, i, &d))
			continue;
		for (unsigned j = 0; j < t->nr_ports; j++)
			have |= nvmf_same_listener(&t->ports[j]->addr, &d);
		if (have)
			continue;
		t->ports[t->nr_ports] = nvmf_port_new(t, NULL, &d, true);
		if (!t->ports[t->nr_ports])
			return -ENOMEM;
		t->nr_ports++;
	}
	return 0;
}

/* Each reactor's poller: its share of every backend's devices, then the
 * queues waiting for data buffers. */
static int reactor_poll(void *arg)
{
	struct nvmf_reactor *nr = arg;
	int work = 0;

	for (unsigned i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (backends[i] && backends[i]->poll)
			work += backends[i]->poll(nr);
	return work + nvmf_buf_run_waiters(nr);
}

/* As many reactors as configured, as far as the PCIe controllers allow */
static int setup_reactors(struct nvmf_tgt *t, unsigned want)
{
	unsigned n = nvmf_pcie_max_reactors(t, want ? want : 1);
	int rc;

	t->reactors = calloc(n, sizeof(*t->reactors));
	if (!t->reactors)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		rc = nvmf_reactor_init(&t->reactors[i], t, i);
		if (rc)
			return rc;
		t->nr_reactors++;
		t->reactors[i].poller = (struct reactor_poller){ .cb = reactor_poll, .arg = &t->reactors[i],
								 .phase = REACTOR_PHASE_DEVICE };
		reactor_add_poller(&t->reactors[i].r, &t->reactors[i].poller);
	}
	nvmf_this_reactor = &t->reactors[0];
	return 0;
}

int nvmf_tgt_init(struct nvmf_tgt *t, struct config *cfg, char *err, size_t errlen)
{
	int rc;

	memset(t, 0, sizeof(*t));
	t->cfg = cfg;
	t->genctr = 1;
	pthread_mutex_init(&t->lock, NULL);
	nvmf_tgt_set_limits(t, cfg);
	t->rdma_srq_size = cfg->bridge.rdma_srq_size;
	rc = nvmf_addr_table_init(t);
	if (rc) {
		set_err(err, errlen, "out of memory");
		goto fail;
	}

	/* PCIe controllers first: how many queues they grant decides the
	 * number of reactors, and the data pools are mapped for them */
	rc = nvmf_pcie_ctrls_open(t, err, errlen);
	if (rc)
		goto fail;
	rc = setup_reactors(t, cfg->bridge.reactors);
	if (rc) {
		set_err(err, errlen, "cannot create reactors: %s", strerror(-rc));
		goto fail;
	}
	rc = nvmf_buf_pools_init(t, err, errlen);
	if (rc)
		goto fail;
	rc = nvmf_qos_init(t);
	if (rc) {
		set_err(err, errlen, "cannot set QoS limits up: %s", strerror(-rc));
		goto fail;
	}

	t->subsys = calloc(NVMF_MAX_SUBSYS, sizeof(*t->subsys));
	if (cfg->nr_subsystems > NVMF_MAX_SUBSYS || 2 * cfg->nr_ports + 1 > NVMF_MAX_PORTS) {
		set_err(err, errlen, "%s: more than %u subsystems or %u ports", cfg->file, NVMF_MAX_SUBSYS,
			NVMF_MAX_PORTS / 2);
		rc = -ENOSPC;
		goto fail;
	}
	t->ports = calloc(NVMF_MAX_PORTS, sizeof(*t->ports));
	t->disc = calloc(1, sizeof(*t->disc));
	if (!t->subsys || !t->ports || !t->disc) {
		rc = -ENOMEM;
		goto fail;
	}
	t->disc->tgt = t;
	t->disc->type = NVMF_SUBSYS_DISCOVERY;
	snprintf(t->disc->nqn, sizeof(t->disc->nqn), "%s", NVMF_DISCOVERY_NQN);
	snprintf(t->disc->model, sizeof(t->disc->model), "nvmf-bridge discovery");
	default_serial(t->disc);
	t->disc->next_cntlid = 1;
	t->disc->max_xfer = t->max_xfer;
	t->disc->nst = nvmf_ns_table_new(0);
	if (!t->disc->nst) {
		rc = -ENOMEM;
		goto fail;
	}

	/* persistent reservations, before the namespaces they belong to */
	rc = nvmf_resv_store_open(t, cfg->file);
	if (rc) {
		set_err(err, errlen, "out of memory");
		goto fail;
	}
	for (unsigned i = 0; i < cfg->nr_subsystems; i++) {
		rc = add_subsys(t, &cfg->subsystems[i], i, err, errlen);
		if (rc)
			goto fail;
	}
	for (unsigned i = 0; i < cfg->nr_ports; i++) {
		t->ports[t->nr_ports] = nvmf_port_new(t, &cfg->ports[i], &cfg->ports[i].addr, false);
		if (!t->ports[t->nr_ports]) {
			rc = -ENOMEM;
			goto fail;
		}
		t->nr_ports++;
	}
	rc = add_discovery_ports(t);
	if (rc)
		goto fail;

	nvmf_pcie_ctrls_start(t);
	t->start_ns = reactor_now_ns();
	return 0;

fail:
	nvmf_tgt_fini(t);
	return rc;
}

void nvmf_tgt_fini(struct nvmf_tgt *t)
{
	/* messages still queued point at what goes below: run them first */
	for (unsigned i = 0; t->reactors && i < t->nr_reactors; i++)
		nvmf_reactor_run_msgs(&t->reactors[i]);
	nvmf_auth_fini(t);
	nvmf_qos_fini(t);
	nvmf_pcie_ctrls_stop(t);
	/* retired namespaces first: they still point at their subsystems */
	nvmf_tgt_reclaim(t, true);
	for (unsigned i = 0; t->subsys && i < t->nr_subsys; i++)
		subsys_free(t->subsys[i]);
	free(t->subsys);
	while (t->dead_subsys) {
		struct nvmf_subsys *s = t->dead_subsys;

		t->dead_subsys = s->next_dead;
		subsys_free(s);
	}
	if (t->disc)
		subsys_free(t->disc);
	nvmf_resv_store_close(t);
	nvmf_addr_table_fini(t);
	for (unsigned i = 0; t->ports && i < t->nr_ports; i++)
		free(t->ports[i]);
	free(t->ports);
	while (t->dead_ports) {
		struct nvmf_port *p = t->dead_ports;

		t->dead_ports = p->next_dead;
		free(p);
	}
	for (unsigned i = 0; i < t->nr_reactors; i++) {
		nvmf_buf_pool_fini(&t->reactors[i]);
		nvmf_reactor_fini(&t->reactors[i]);
	}
	free(t->reactors);
	nvmf_this_reactor = NULL;
	nvmf_pcie_ctrls_close(t);
	pthread_mutex_destroy(&t->lock);
	memset(t, 0, sizeof(*t));
}
