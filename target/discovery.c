/* SPDX-License-Identifier: MIT */
/*
 * The discovery log page (log 70h): one entry per port and subsystem the
 * host may see, the referrals of the port it came in on, and the current
 * discovery subsystem; TREQ advertises that SQ flow control may be
 * disabled; an unspecified listen address is replaced by the address the
 * host used, never 0.0.0.0.
 */
#define LOG_TAG "discovery"
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "target/target.h"
#include "transport/transport.h"

/* src is NUL-terminated (config strings); dst is a fixed-width field */
static void copy_field(char *dst, size_t n, const char *src)
{
	size_t l = strlen(src);

	memset(dst, 0, n);
	memcpy(dst, src, l < n ? l : n);
}

static bool addr_unspecified(const struct cfg_addr *a)
{
	return !strcmp(a->traddr, "0.0.0.0") || !strcmp(a->traddr, "::");
}

static void fill_entry(struct nvmf_disc_log_entry *e, const struct nvmf_ctrl *c, const struct cfg_addr *a,
		       uint16_t portid, uint8_t subtype, const char *nqn)
{
	const struct nvmf_transport_ops *tr;

	memset(e, 0, sizeof(*e));
	e->trtype = (uint8_t)a->trtype;
	e->adrfam = (uint8_t)a->adrfam;
	e->subtype = subtype;
	e->treq = (uint8_t)(a->treq | NVMF_TREQ_DISABLE_SQFLOW);
	e->portid = cpu_to_le16(portid);
	e->cntlid = cpu_to_le16(0xffff);
	e->asqsz = cpu_to_le16(NVMF_ADMIN_QUEUE_DEPTH);
	copy_field(e->trsvcid, sizeof(e->trsvcid), a->trsvcid);
	copy_field(e->subnqn, sizeof(e->subnqn), nqn);
	copy_field(e->traddr, sizeof(e->traddr),
		   addr_unspecified(a) && c->traddr[0] ? c->traddr : a->traddr);
	/* TSAS: as the entry's transport defines it */
	tr = nvmf_transport_get(a->trtype);
	if (tr)
		tr->disc_tsas(a, e->tsas);
}

/* The ports whose referrals a discovery controller on 'here' shows: its
 * own (as nvmet), or, on a discovery listener of our own (bridge.
 * discovery_port, no configuration), those of every configured port at
 * the same address: a host that discovers at ADDR:8009 learns what it
 * would through the ports at ADDR. */
static bool refers_for(const struct nvmf_port *here, const struct nvmf_port *p)
{
	if (!p->cfg)
		return false;
	if (here->cfg)
		return p == here;
	return p->addr.trtype == here->addr.trtype && p->addr.adrfam == here->addr.adrfam &&
	       !strcmp(p->addr.traddr, here->addr.traddr);
}

/* the same referral through two ports is listed once */
static bool referral_seen(const struct nvmf_tgt *t, const struct nvmf_port *here, unsigned pi, unsigned ri)
{
	const struct cfg_referral *r = &t->ports[pi]->cfg->referrals[ri];

	for (unsigned p = 0; p <= pi; p++) {
		const struct nvmf_port *port = t->ports[p];

		if (!refers_for(here, port))
			continue;
		for (unsigned i = 0; i < (p == pi ? ri : port->cfg->nr_referrals); i++) {
			const struct cfg_referral *o = &port->cfg->referrals[i];

			if (o->enable && o->addr.trtype == r->addr.trtype && !strcmp(o->addr.traddr, r->addr.traddr) &&
			    !strcmp(o->addr.trsvcid, r->addr.trsvcid))
				return true;
		}
	}
	return false;
}

/* Build the whole log into a newly allocated buffer; returns its size. */
static size_t build_log(const struct nvmf_ctrl *c, uint8_t **out)
{
	const struct nvmf_tgt *t = c->subsys->tgt;
	const struct nvmf_port *here = c->port;
	size_t max = 1 + (size_t)t->nr_ports * (t->nr_subsys + 1);
	struct nvmf_disc_log_hdr *hdr;
	struct nvmf_disc_log_entry *e;
	uint64_t n = 0;

	for (unsigned p = 0; p < t->nr_ports; p++)
		if (refers_for(here, t->ports[p]))
			max += t->ports[p]->cfg->nr_referrals;
	*out = calloc(1, sizeof(*hdr) + max * sizeof(*e));
	if (!*out)
		return 0;
	hdr = (void *)*out;
	e = (void *)(*out + sizeof(*hdr));
	for (unsigned p = 0; p < t->nr_ports; p++) {
		const struct nvmf_port *port = t->ports[p];

		for (unsigned s = 0; s < t->nr_subsys; s++) {
			const struct nvmf_subsys *sub = t->subsys[s];

			if (!nvmf_port_has_subsys(port, sub) || !nvmf_subsys_host_allowed(sub, c->hostnqn))
				continue;
			fill_entry(&e[n++], c, &port->addr, port->portid, NVMF_SUBTYPE_NVME, sub->nqn);
		}
	}
	for (unsigned p = 0; p < t->nr_ports; p++) {
		const struct nvmf_port *port = t->ports[p];

		if (!refers_for(here, port))
			continue;
		for (unsigned i = 0; i < port->cfg->nr_referrals; i++) {
			const struct cfg_referral *r = &port->cfg->referrals[i];

			if (r->enable && !referral_seen(t, here, p, i))
				fill_entry(&e[n++], c, &r->addr, r->portid, NVMF_SUBTYPE_DISCOVERY_REFERRAL,
					   NVMF_DISCOVERY_NQN);
		}
	}
	fill_entry(&e[n++], c, &here->addr, here->portid, NVMF_SUBTYPE_DISCOVERY_CURRENT, NVMF_DISCOVERY_NQN);
	hdr->genctr = cpu_to_le64(t->genctr);
	hdr->numrec = cpu_to_le64(n);
	hdr->recfmt = 0;
	return sizeof(*hdr) + n * sizeof(*e);
}

void nvmf_discovery_log(struct nvmf_ctrl *c, void *buf, uint64_t offset, uint32_t len)
{
	uint8_t *log;
	size_t n = build_log(c, &log);

	memset(buf, 0, len);
	if (log && offset < n)
		memcpy(buf, log + offset, n - offset < len ? n - offset : len);
	free(log);
}
