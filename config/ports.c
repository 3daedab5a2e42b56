/* SPDX-License-Identifier: MIT */
/*
 * ports[]: listen addresses, parameters, the subsystems each port exports,
 * referrals and ANA groups. Runs after every subsystem is read, since a
 * port may only name subsystems of the same file.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/json_reader.h"

struct name_value {
	const char *name;
	int value;
};

static const struct name_value trtypes[] = {
	{ "tcp", CFG_TRTYPE_TCP }, { "rdma", CFG_TRTYPE_RDMA },
};
static const struct name_value adrfams[] = {
	{ "ipv4", CFG_ADRFAM_IPV4 }, { "ipv6", CFG_ADRFAM_IPV6 },
};
static const struct name_value treqs[] = {
	{ "not specified", CFG_TREQ_NOT_SPECIFIED },
	{ "required", CFG_TREQ_REQUIRED },
	{ "not required", CFG_TREQ_NOT_REQUIRED },
};

static int lookup(const struct name_value *tab, size_t n, const char *s, int *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!strcmp(tab[i].name, s)) {
			*out = tab[i].value;
			return 0;
		}
	}
	return -ENOENT;
}

static int parse_trtype(struct cfg_ctx *c, struct json_object *addr, struct cfg_addr *a)
{
	const char *s;
	int v;

	if (cfg_req_str(c, addr, "trtype", &s))
		return -EINVAL;
	if (!lookup(trtypes, ARRAY_SIZE(trtypes), s, &v)) {
		a->trtype = (enum cfg_trtype)v;
		return 0;
	}
	if (!strcmp(s, "fc") || !strcmp(s, "loop"))
		return cfg_fail_key(c, "trtype", "transport \"%s\" is not supported (tcp and rdma are)", s);
	return cfg_fail_key(c, "trtype", "unknown transport \"%s\" (expected tcp or rdma)", s);
}

static int parse_adrfam(struct cfg_ctx *c, struct json_object *addr, struct cfg_addr *a)
{
	const char *s;
	int v;

	if (cfg_req_str(c, addr, "adrfam", &s))
		return -EINVAL;
	if (!lookup(adrfams, ARRAY_SIZE(adrfams), s, &v)) {
		a->adrfam = (enum cfg_adrfam)v;
		return 0;
	}
	if (!strcmp(s, "ib") || !strcmp(s, "fc") || !strcmp(s, "pcie") || !strcmp(s, "loop"))
		return cfg_fail_key(c, "adrfam", "address family \"%s\" is not supported (ipv4 and ipv6 are)", s);
	return cfg_fail_key(c, "adrfam", "unknown address family \"%s\" (expected ipv4 or ipv6)", s);
}

static int addr_af(enum cfg_adrfam f)
{
	return f == CFG_ADRFAM_IPV6 ? AF_INET6 : AF_INET;
}

/* 0.0.0.0 or :: */
static bool addr_is_any(const struct cfg_addr *a)
{
	uint8_t buf[16];

	if (inet_pton(addr_af(a->adrfam), a->traddr, buf) != 1)
		return false;
	return cfg_all_zero(buf, a->adrfam == CFG_ADRFAM_IPV6 ? 16 : 4);
}

static int parse_traddr(struct cfg_ctx *c, struct json_object *addr,
			struct cfg_addr *a, bool referral)
{
	uint8_t buf[16];
	const char *s;

	if (cfg_req_str(c, addr, "traddr", &s))
		return -EINVAL;
	if (strlen(s) >= sizeof(a->traddr) || inet_pton(addr_af(a->adrfam), s, buf) != 1)
		return cfg_fail_key(c, "traddr", "\"%s\" is not a numeric %s address", s,
				    a->adrfam == CFG_ADRFAM_IPV6 ? "IPv6" : "IPv4");
	memcpy(a->traddr, s, strlen(s) + 1);
	if (referral && addr_is_any(a))
		return cfg_fail_key(c, "traddr", "a referral must name the address of a discovery controller, not %s", s);
	return 0;
}

/* The TSAS values "nvmetcli save" can write: "none" (tcp without TLS),
 * "connected" (rdma), and "" or "reserved" (what some kernels show when
 * there is nothing to show). TLS is not supported. */
static int parse_tsas(struct cfg_ctx *c, struct json_object *addr, struct cfg_addr *a)
{
	const char *s;

	if (cfg_opt_str(c, addr, "tsas", &s))
		return -EINVAL;
	if (!s || !strcmp(s, "none") || !strcmp(s, "reserved"))
		return 0;
	if (a->trtype == CFG_TRTYPE_RDMA && !strcmp(s, "connected"))
		return 0;
	if (!strcmp(s, "tls1.3")) {
		if (a->trtype != CFG_TRTYPE_TCP)
			return cfg_fail_key(c, "tsas", "TLS is for NVMe/TCP ports only");
		a->tls = true;
		return 0;
	}
	return cfg_fail_key(c, "tsas", "\"%s\" is not supported for %s (use \"none\")", s,
			    cfg_trtype_name(a->trtype));
}

static int parse_addr(struct cfg_ctx *c, struct json_object *addr, struct cfg_addr *a,
		      bool referral, uint16_t *portid)
{
	static const char *const port_keys[] = {
		"trtype", "adrfam", "traddr", "trsvcid", "treq", "tsas", NULL
	};
	static const char *const referral_keys[] = {
		"trtype", "adrfam", "traddr", "trsvcid", "treq", "tsas", "portid", NULL
	};
	const char *treq;
	int64_t v;
	int t;

	if (cfg_expect_object(c, addr) || cfg_check_keys(c, addr, referral ? referral_keys : port_keys))
		return -EINVAL;
	if (parse_trtype(c, addr, a) || parse_adrfam(c, addr, a) ||
	    parse_traddr(c, addr, a, referral))
		return -EINVAL;
	if (cfg_req_int(c, addr, "trsvcid", 1, 65535, &v))
		return -EINVAL;
	snprintf(a->trsvcid, sizeof(a->trsvcid), "%lld", (long long)v);
	if (cfg_opt_str(c, addr, "treq", &treq))
		return -EINVAL;
	a->treq = CFG_TREQ_NOT_SPECIFIED;
	if (treq) {
		if (lookup(treqs, ARRAY_SIZE(treqs), treq, &t))
			return cfg_fail_key(c, "treq", "\"%s\" is not one of \"not specified\", \"required\", \"not required\"",
					    treq);
		a->treq = (enum cfg_treq)t;
	}
	if (parse_tsas(c, addr, a))
		return -EINVAL;
	/* a referral describes another target, which may offer TLS; one of
	 * our ports requires it only with TLS on */
	if (!referral && a->treq == CFG_TREQ_REQUIRED && !a->tls)
		return cfg_fail_key(c, "treq", "\"required\" asks hosts for TLS: set \"tsas\": \"tls1.3\" too, or use "
				    "\"not specified\"");
	/* TLS on, nothing said: required (as nvmet does) */
	if (!referral && a->tls && a->treq == CFG_TREQ_NOT_SPECIFIED)
		a->treq = CFG_TREQ_REQUIRED;
	if (referral) {
		if (cfg_opt_int(c, addr, "portid", 0, 65535, 0, &v))
			return -EINVAL;
		*portid = (uint16_t)v;
	}
	return 0;
}

static int parse_param(struct cfg_ctx *c, struct json_object *param, struct cfg_port *p)
{
	static const char *const keys[] = {
		"inline_data_size", "pi_enable", "max_queue_size", NULL
	};
	int64_t v;

	if (cfg_expect_object(c, param) || cfg_check_keys(c, param, keys))
		return -EINVAL;
	/* -1 is how the kernel shows "the transport's default" */
	if (cfg_opt_int(c, param, "inline_data_size", -1, CFG_INLINE_MAX, -1, &v))
		return -EINVAL;
	p->inline_data_size = v < 0 ? CFG_INLINE_DEFAULT : (uint32_t)v;
	if (cfg_want_off(c, param, "pi_enable", "protection information is not supported"))
		return -EINVAL;
	if (cfg_opt_int(c, param, "max_queue_size", INT64_MIN, INT64_MAX, -1, &v))
		return -EINVAL;
	if (v != -1)
		return cfg_fail_key(c, "max_queue_size",
				    "%lld is not supported: the transport negotiates the queue size (use -1)",
				    (long long)v);
	return 0;
}

/* ports[pi]'s walk through its ana_groups: the groups seen so far */
struct ana_walk {
	unsigned pi;
	uint32_t grpids[CFG_MAX_ANAGRPID];
};

static int parse_ana_group(struct cfg_ctx *c, struct json_object *g, unsigned gi, void *arg)
{
	struct ana_walk *w = arg;
	struct cfg_port *p = &c->cfg->ports[w->pi];
	uint32_t *grpids = w->grpids;
	unsigned pi = w->pi;
	static const char *const keys[] = { "grpid", "ana", NULL };
	static const char *const ana_keys[] = { "state", NULL };
	struct json_object *ana;
	const char *state = NULL;
	unsigned st = CFG_ANA_OPTIMIZED;
	size_t mark;
	int64_t v;
	int ret;

	if (cfg_expect_object(c, g) || cfg_check_keys(c, g, keys))
		return -EINVAL;
	if (cfg_req_int(c, g, "grpid", INT64_MIN, INT64_MAX, &v))
		return -EINVAL;
	if (v < 1 || v > CFG_MAX_ANAGRPID)
		return cfg_fail_key(c, "grpid", "ANA group %lld is out of range (1..%d)", (long long)v,
				    CFG_MAX_ANAGRPID);
	for (unsigned j = 0; j < gi; j++)
		if (grpids[j] == v)
			return cfg_fail_key(c, "grpid", "duplicate ANA group %lld (also ports[%u].ana_groups[%u])",
					    (long long)v, pi, j);
	grpids[gi] = (uint32_t)v;
	if (cfg_opt_object(c, g, "ana", &ana))
		return -EINVAL;
	if (ana) {
		mark = cfg_path_key(c, "ana");
		ret = cfg_check_keys(c, ana, ana_keys) ?: cfg_opt_str(c, ana, "state", &state);
		if (!ret && state && !(st = cfg_ana_state_parse(state)))
			ret = cfg_fail_key(c, "state", "\"%s\" is not one of \"optimized\", \"non-optimized\", "
					   "\"inaccessible\", \"persistent-loss\", \"change\"", state);
		cfg_path_pop(c, mark);
		if (ret)
			return ret;
	}
	/* optimized is what a group not listed is: stored (and written) as such */
	p->ana_state[v] = st == CFG_ANA_OPTIMIZED ? CFG_ANA_UNSET : (uint8_t)st;
	return 0;
}

/* arg: the port's index */
static int parse_referral(struct cfg_ctx *c, struct json_object *obj, unsigned ri, void *arg)
{
	static const char *const keys[] = { "name", "enable", "addr", NULL };
	unsigned pi = *(const unsigned *)arg;
	struct cfg_port *p = &c->cfg->ports[pi];
	struct cfg_referral *r = &p->referrals[ri];
	struct json_object *addr = cfg_member(obj, "addr");
	const char *name;
	size_t mark;
	unsigned j;
	int ret;

	if (cfg_expect_object(c, obj) || cfg_check_keys(c, obj, keys) || cfg_req_str(c, obj, "name", &name))
		return -EINVAL;
	if (strlen(name) >= sizeof(r->name))
		return cfg_fail_key(c, "name", "longer than %zu bytes", sizeof(r->name) - 1);
	memcpy(r->name, name, strlen(name) + 1);
	for (j = 0; j < ri; j++) {
		if (!strcmp(p->referrals[j].name, r->name))
			return cfg_fail_key(c, "name", "duplicate referral name (also ports[%u].referrals[%u])",
					    pi, j);
	}
	/* the kernel creates referrals disabled; a referral written into a
	 * configuration file is meant to be served unless it says otherwise */
	if (cfg_opt_bool(c, obj, "enable", true, &r->enable))
		return -EINVAL;
	if (cfg_unset(addr))
		return cfg_fail_key(c, "addr", "missing (required)");
	mark = cfg_path_key(c, "addr");
	ret = parse_addr(c, addr, &r->addr, true, &r->portid);
	cfg_path_pop(c, mark);
	return ret;
}

/* arg: the port's index */
static int parse_port_subsystem(struct cfg_ctx *c, struct json_object *elem, unsigned i, void *arg)
{
	unsigned pi = *(const unsigned *)arg;
	struct cfg_port *p = &c->cfg->ports[pi];
	const char *nqn;
	int ret;

	ret = cfg_read_string(c, elem, &nqn);
	if (!ret && !config_find_subsystem(c->cfg, nqn))
		ret = cfg_fail(c, "no subsystem \"%.*s\" in this file", 64, nqn);
	for (unsigned j = 0; !ret && j < i; j++) {
		if (!strcmp(p->subsystems[j], nqn))
			ret = cfg_fail(c, "duplicate subsystem NQN (also ports[%u].subsystems[%u])", pi, j);
	}
	if (!ret)
		snprintf(p->subsystems[i], CFG_NQN_SIZE, "%s", nqn);
	return ret;
}

static void format_addr(const struct cfg_addr *a, char *buf, size_t len)
{
	snprintf(buf, len, a->adrfam == CFG_ADRFAM_IPV6 ? "%s [%s]:%s" : "%s %s:%s",
		 cfg_trtype_name(a->trtype), a->traddr, a->trsvcid);
}

/*
 * Two listeners on one transport, family and service: the same address
 * (however it is spelt), or one of them the wildcard, which covers the
 * other. Either way the second bind would fail at start-up.
 */
static int check_port_addr(struct cfg_ctx *c, unsigned pi)
{
	const struct cfg_addr *a = &c->cfg->ports[pi].addr;
	uint8_t x[16] = { 0 }, y[16] = { 0 };
	char sa[96], sb[96];
	unsigned j;

	inet_pton(addr_af(a->adrfam), a->traddr, x);
	for (j = 0; j < pi; j++) {
		const struct cfg_addr *b = &c->cfg->ports[j].addr;

		if (a->trtype != b->trtype || a->adrfam != b->adrfam ||
		    strcmp(a->trsvcid, b->trsvcid))
			continue;
		inet_pton(addr_af(b->adrfam), b->traddr, y);
		format_addr(a, sa, sizeof(sa));
		format_addr(b, sb, sizeof(sb));
		if (!memcmp(x, y, sizeof(x)))
			return cfg_fail_key(c, "addr", "duplicate listen address %s (also ports[%u])", sa, j);
		if (addr_is_any(a) || addr_is_any(b))
			return cfg_fail_key(c, "addr", "%s overlaps ports[%u] (%s): a wildcard address listens on every address",
					    sa, j, sb);
	}
	return 0;
}

int cfg_parse_port(struct cfg_ctx *c, struct json_object *obj, unsigned pi, void *arg)
{
	static const char *const keys[] = {
		"portid", "addr", "param", "subsystems", "referrals", "ana_groups", NULL
	};
	struct cfg_port *p = &c->cfg->ports[pi];
	struct json_object *addr = cfg_member(obj, "addr"), *param;
	struct ana_walk ana;
	size_t mark;
	int64_t v;
	unsigned j;
	int ret;

	if (cfg_expect_object(c, obj) || cfg_check_keys(c, obj, keys))
		return -EINVAL;
	if (cfg_req_int(c, obj, "portid", 1, 65535, &v))
		return -EINVAL;
	p->portid = (uint16_t)v;
	for (j = 0; j < pi; j++) {
		if (c->cfg->ports[j].portid == p->portid)
			return cfg_fail_key(c, "portid", "duplicate portid %u (also ports[%u])", p->portid, j);
	}
	if (cfg_unset(addr))
		return cfg_fail_key(c, "addr", "missing (required)");
	mark = cfg_path_key(c, "addr");
	ret = parse_addr(c, addr, &p->addr, false, NULL);
	cfg_path_pop(c, mark);
	if (ret || check_port_addr(c, pi))
		return -EINVAL;
	p->inline_data_size = CFG_INLINE_DEFAULT;
	if (cfg_opt_object(c, obj, "param", &param))
		return -EINVAL;
	if (param) {
		mark = cfg_path_key(c, "param");
		ret = parse_param(c, param, p);
		cfg_path_pop(c, mark);
		if (ret)
			return ret;
	}
	ana.pi = pi;
	return cfg_parse_array(c, obj, "subsystems", 0, NULL, sizeof(*p->subsystems), &p->subsystems,
			       &p->nr_subsystems, parse_port_subsystem, &pi) ?:
	       cfg_parse_array(c, obj, "referrals", 0, NULL, sizeof(*p->referrals), &p->referrals,
			       &p->nr_referrals, parse_referral, &pi) ?:
	       cfg_parse_array(c, obj, "ana_groups", CFG_MAX_ANAGRPID, "ANA groups", 0, NULL, NULL,
			       parse_ana_group, &ana);
}

