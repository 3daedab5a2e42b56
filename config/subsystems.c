/* SPDX-License-Identifier: MIT */
/*
 * hosts[], subsystems[] and their namespaces: the nvmetcli schema plus the
 * device extension ({"pcie": BDF, "nsid": N}, {"path": P}, {"mem": SIZE},
 * {"null": SIZE}).
 * Cross-object rules that look back at what was parsed before (duplicate
 * NQNs and NSIDs, a PCIe namespace exported twice, UUID and NGUID
 * collisions) are checked as each object is read, so the message names the
 * later object and points at the earlier one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_internal.h"
#include "config/json_reader.h"

/* ---- hosts ---- */

/* One DHHC-1 secret: checked here so that a mistyped key is refused with
 * the file, object and field named, never at the host's first Connect. */
static int parse_secret(struct cfg_ctx *c, struct json_object *obj, const char *key, char *out,
			struct dhchap_key *k)
{
	const char *s, *why;

	if (cfg_opt_str(c, obj, key, &s))
		return -EINVAL;
	if (!s)
		return 0;
	if (strlen(s) >= DHCHAP_SECRET_MAX || dhchap_key_parse(s, k, &why))
		return cfg_fail_key(c, key, "%s", strlen(s) >= DHCHAP_SECRET_MAX ? "is too long for a DHHC-1 secret" : why);
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

static int parse_dhchap(struct cfg_ctx *c, struct json_object *obj, struct cfg_dhchap *d)
{
	static const char *const keys[] = { "key", "ctrl_key", "hash", "dhgroup", NULL };
	const char *s;
	int id;

	if (cfg_expect_object(c, obj) || cfg_check_keys(c, obj, keys))
		return -EINVAL;
	if (parse_secret(c, obj, "key", d->key, &d->host) || parse_secret(c, obj, "ctrl_key", d->ctrl_key, &d->ctrl))
		return -EINVAL;
	if (d->ctrl_key[0] && !d->key[0])
		return cfg_fail_key(c, "ctrl_key", "needs \"key\" too: the controller is authenticated only after the host");
	/* nvmet shows hash "hmac(sha256)" and dhgroup "null" for every host,
	 * with or without a key; nvmetcli saves them as they are */
	d->hash = DHCHAP_SHA256;
	d->dhgroup = DHCHAP_DH_NULL;
	if (cfg_opt_str(c, obj, "hash", &s))
		return -EINVAL;
	if (s) {
		if ((id = dhchap_hash_id(s)) < 0)
			return cfg_fail_key(c, "hash", "\"%s\" is not one of hmac(sha256), hmac(sha384), hmac(sha512)", s);
		d->hash = (uint8_t)id;
	}
	if (cfg_opt_str(c, obj, "dhgroup", &s))
		return -EINVAL;
	if (s) {
		if ((id = dhchap_dhgroup_id(s)) < 0)
			return cfg_fail_key(c, "dhgroup",
					    "\"%s\" is not one of null, ffdhe2048, ffdhe3072, ffdhe4096, ffdhe6144, ffdhe8192", s);
		d->dhgroup = (uint8_t)id;
	}
	return 0;
}

static int parse_tls_psk(struct cfg_ctx *c, struct json_object *obj, struct cfg_host *h)
{
	const char *s, *why;

	if (cfg_opt_str(c, obj, "tls_psk", &s))
		return -EINVAL;
	if (s) {
		if (strlen(s) >= sizeof(h->tls_psk_str))
			return cfg_fail_key(c, "tls_psk", "is too long for a TLS PSK in the interchange format");
		if (tls_psk_parse(s, &h->tls_psk, &why))
			return cfg_fail_key(c, "tls_psk", "%s", why);
		memcpy(h->tls_psk_str, s, strlen(s) + 1);
	}
	if (cfg_opt_str(c, obj, "tls_psk_derivation", &s))
		return -EINVAL;
	h->tls_kdf = TLS_PSK_KDF_COMPAT;
	if (s) {
		if (!strcmp(s, "spec"))
			h->tls_kdf = TLS_PSK_KDF_SPEC;
		else if (strcmp(s, "compat"))
			return cfg_fail_key(c, "tls_psk_derivation",
					    "\"%s\" is not one of \"compat\" (nvme-cli up to 2.15) and \"spec\" (nvme-cli 2.16 on)", s);
	}
	return 0;
}

int cfg_parse_host(struct cfg_ctx *c, struct json_object *obj, unsigned i, void *arg)
{
	static const char *const keys[] = { "nqn", "dhchap", "tls_psk", "tls_psk_derivation", "qos", NULL };
	struct cfg_host *h = &c->cfg->hosts[i];
	struct json_object *dh;
	unsigned j;

	if (cfg_expect_object(c, obj) || cfg_check_keys(c, obj, keys))
		return -EINVAL;
	if (cfg_req_nqn(c, obj, "nqn", CFG_NQN_HOST, h->nqn))
		return -EINVAL;
	for (j = 0; j < i; j++) {
		if (!strcmp(c->cfg->hosts[j].nqn, h->nqn))
			return cfg_fail_key(c, "nqn", "duplicate host NQN (also hosts[%u])", j);
	}
	if (parse_tls_psk(c, obj, h) || cfg_parse_qos(c, obj, &h->qos))
		return -EINVAL;
	if (cfg_opt_object(c, obj, "dhchap", &dh))
		return -EINVAL;
	if (dh) {
		size_t mark = cfg_path_key(c, "dhchap");
		int ret = parse_dhchap(c, dh, &h->dhchap);

		cfg_path_pop(c, mark);
		return ret;
	}
	return 0;
}

const struct cfg_host *cfg_find_host(const struct config *cfg, const char *nqn)
{
	for (unsigned i = 0; cfg && i < cfg->nr_hosts; i++)
		if (!strcmp(cfg->hosts[i].nqn, nqn))
			return &cfg->hosts[i];
	return NULL;
}

/* ---- namespaces ---- */

static const struct cfg_namespace *ns_at(const struct config *cfg, unsigned s, unsigned n)
{
	return &cfg->subsystems[s].namespaces[n];
}

/*
 * The namespace at (si, ni) against every namespace parsed before it, in
 * this and earlier subsystems: one PCIe controller namespace must not be
 * exported twice (two subsystems would write to the same blocks behind
 * each other's back), and UUIDs and NGUIDs must be unique.
 */
static int check_ns_conflicts(struct cfg_ctx *c, unsigned si, unsigned ni)
{
	const struct cfg_namespace *ns = ns_at(c->cfg, si, ni);
	size_t mark = cfg_path_key(c, "device");
	unsigned s, n;
	int ret = 0;

	for (s = 0; s <= si && !ret; s++) {
		unsigned end = s == si ? ni : c->cfg->subsystems[s].nr_namespaces;

		for (n = 0; n < end && !ret; n++) {
			const struct cfg_namespace *o = ns_at(c->cfg, s, n);

			if (ns->backend == CFG_BACKEND_PCIE && o->backend == CFG_BACKEND_PCIE &&
			    !strcmp(ns->pcie_bdf, o->pcie_bdf) && ns->pcie_nsid == o->pcie_nsid)
				ret = cfg_fail_key(c, "pcie", "namespace %u of %s is already exported by subsystems[%u].namespaces[%u]",
						   ns->pcie_nsid, ns->pcie_bdf, s, n);
			else if (ns->has_uuid && o->has_uuid && !memcmp(ns->uuid, o->uuid, 16))
				ret = cfg_fail_key(c, "uuid", "duplicate UUID (also subsystems[%u].namespaces[%u])",
						   s, n);
			else if (ns->has_nguid && o->has_nguid && !memcmp(ns->nguid, o->nguid, 16))
				ret = cfg_fail_key(c, "nguid", "duplicate NGUID (also subsystems[%u].namespaces[%u])",
						   s, n);
		}
	}
	cfg_path_pop(c, mark);
	return ret;
}

/* uuid and nguid: optional; all zeroes means "not set", as the kernel shows
 * a namespace that never had one. */
static int parse_ns_ids(struct cfg_ctx *c, struct json_object *dev, struct cfg_namespace *ns)
{
	const char *s;

	if (cfg_opt_str(c, dev, "uuid", &s))
		return -EINVAL;
	if (s) {
		if (cfg_parse_uuid(s, ns->uuid))
			return cfg_fail_key(c, "uuid", "\"%s\" is not a UUID (8-4-4-4-12 hex digits)", s);
		ns->has_uuid = !cfg_all_zero(ns->uuid, 16);
	}
	if (cfg_opt_str(c, dev, "nguid", &s))
		return -EINVAL;
	if (s) {
		if (cfg_parse_nguid(s, ns->nguid))
			return cfg_fail_key(c, "nguid", "\"%s\" is not an NGUID (32 hex digits, dashes allowed)", s);
		ns->has_nguid = !cfg_all_zero(ns->nguid, 16);
	}
	return 0;
}

static int parse_dev_pcie(struct cfg_ctx *c, struct json_object *dev,
			  const char *bdf, struct cfg_namespace *ns)
{
	int64_t v;

	if (cfg_parse_bdf(bdf, ns->pcie_bdf, sizeof(ns->pcie_bdf)))
		return cfg_fail_key(c, "pcie", "\"%s\" is not a PCI address (DDDD:BB:DD.F or BB:DD.F)", bdf);
	if (cfg_opt_int(c, dev, "nsid", 1, CFG_NSID_MAX, 1, &v))
		return -EINVAL;
	ns->pcie_nsid = (uint32_t)v;
	if (!cfg_unset(cfg_member(dev, "block_size")))
		return cfg_fail_key(c, "block_size",
				    "only for path, mem and null devices; a PCIe namespace keeps the controller's LBA format");
	ns->backend = CFG_BACKEND_PCIE;
	return 0;
}

static int parse_block_size(struct cfg_ctx *c, struct json_object *dev,
			    struct cfg_namespace *ns)
{
	int64_t v;

	if (!cfg_unset(cfg_member(dev, "nsid")))
		return cfg_fail_key(c, "nsid", "only with pcie (the namespace on that controller)");
	if (cfg_opt_int(c, dev, "block_size", 512, 4096, 512, &v))
		return -EINVAL;
	if (v != 512 && v != 4096)
		return cfg_fail_key(c, "block_size", "%lld is not supported; use 512 or 4096",
				    (long long)v);
	ns->block_size = (uint32_t)v;
	return 0;
}

static int parse_dev_path(struct cfg_ctx *c, struct json_object *dev,
			  const char *path, struct cfg_namespace *ns)
{
	if (path[0] != '/')
		return cfg_fail_key(c, "path", "\"%s\" is not an absolute path", path);
	if (strlen(path) >= sizeof(ns->path))
		return cfg_fail_key(c, "path", "longer than %zu bytes", sizeof(ns->path) - 1);
	memcpy(ns->path, path, strlen(path) + 1);
	ns->backend = CFG_BACKEND_FILE;
	return parse_block_size(c, dev, ns);
}

/* mem and null: a size (a byte count, or a string with a binary unit) that
 * is a multiple of the block size. key is "mem" or "null". */
static int parse_dev_sized(struct cfg_ctx *c, struct json_object *dev, const char *key,
			   struct json_object *size, enum cfg_backend backend, struct cfg_namespace *ns)
{
	size_t mark = cfg_path_key(c, key);
	int64_t n;
	int ret = 0;

	if (json_object_is_type(size, json_type_string)) {
		const char *s;

		ret = cfg_read_string(c, size, &s);
		if (!ret && parse_size(s, &ns->mem_bytes))
			ret = cfg_fail(c, "\"%s\" is not a size (e.g. \"256MiB\", \"1G\" or a number of bytes)", s);
	} else if (!(ret = cfg_read_int(c, size, 0, INT64_MAX, &n))) {
		ns->mem_bytes = (uint64_t)n;
	}
	if (!ret && ns->mem_bytes == 0)
		ret = cfg_fail(c, "the size must be greater than 0");
	cfg_path_pop(c, mark);
	if (ret)
		return ret;
	ns->backend = backend;
	ret = parse_block_size(c, dev, ns);
	if (!ret && ns->mem_bytes % ns->block_size)
		ret = cfg_fail_key(c, key, "%llu bytes is not a multiple of the block size %u",
				   (unsigned long long)ns->mem_bytes, ns->block_size);
	return ret;
}

static int parse_ns_device(struct cfg_ctx *c, struct json_object *dev,
			   struct cfg_namespace *ns)
{
	static const char *const keys[] = {
		"pcie", "nsid", "path", "mem", "null", "block_size", "uuid", "nguid", "eui64", NULL
	};
	struct json_object *mem = cfg_member(dev, "mem"), *null = cfg_member(dev, "null");
	const char *pcie, *path, *set[4];
	char names[64];
	unsigned count = 0;
	size_t len = 0;

	if (cfg_expect_object(c, dev) || cfg_check_keys(c, dev, keys))
		return -EINVAL;
	if (cfg_opt_str(c, dev, "pcie", &pcie) || cfg_opt_str(c, dev, "path", &path))
		return -EINVAL;
	if (cfg_unset(mem))
		mem = NULL;
	if (cfg_unset(null))
		null = NULL;
	if (pcie)
		set[count++] = "pcie";
	if (path)
		set[count++] = "path";
	if (mem)
		set[count++] = "mem";
	if (null)
		set[count++] = "null";
	if (count == 0)
		return cfg_fail(c, "no backing device: set one of pcie, path, mem or null");
	if (count > 1) {
		/* "pcie and path", "pcie, path and mem" */
		names[0] = '\0';
		for (unsigned i = 0; i < count; i++)
			len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s",
						i == 0 ? "" : i == count - 1 ? " and " : ", ", set[i]);
		return cfg_fail(c, "%s are exclusive: set exactly one of pcie, path, mem or null", names);
	}
	if (parse_ns_ids(c, dev, ns))
		return -EINVAL;
	if (pcie)
		return parse_dev_pcie(c, dev, pcie, ns);
	if (path)
		return parse_dev_path(c, dev, path, ns);
	if (mem)
		return parse_dev_sized(c, dev, "mem", mem, CFG_BACKEND_MEM, ns);
	return parse_dev_sized(c, dev, "null", null, CFG_BACKEND_NULL, ns);
}

/* The namespace's ANA group: 0 is what nvmetcli writes on a kernel
 * without ANA and means group 1, nvmet's default group. */
static int parse_ana_grpid(struct cfg_ctx *c, struct json_object *obj, const char *key, int64_t *out)
{
	if (cfg_opt_int(c, obj, key, INT64_MIN, INT64_MAX, -1, out))
		return -EINVAL;
	if (*out == 0)
		*out = 1;
	if (*out != -1 && (*out < 1 || *out > CFG_MAX_ANAGRPID))
		return cfg_fail_key(c, key, "ANA group %lld is out of range (1..%d)", (long long)*out,
				    CFG_MAX_ANAGRPID);
	return 0;
}

static int parse_ns_extras(struct cfg_ctx *c, struct json_object *obj, struct cfg_namespace *ns)
{
	static const char *const ana_keys[] = { "grpid", NULL };
	static const char *const resv_keys[] = { "enable", NULL };
	struct json_object *ana, *resv;
	int64_t top, grp = -1;
	size_t mark;
	int ret = 0;

	if (parse_ana_grpid(c, obj, "ana_grpid", &top))
		return -EINVAL;
	if (cfg_opt_object(c, obj, "ana", &ana) || cfg_opt_object(c, obj, "resv", &resv))
		return -EINVAL;
	if (ana) {
		mark = cfg_path_key(c, "ana");
		ret = cfg_check_keys(c, ana, ana_keys) ?: parse_ana_grpid(c, ana, "grpid", &grp);
		/* nvmetcli writes both, from the same attribute */
		if (!ret && grp != -1 && top != -1 && grp != top)
			ret = cfg_fail_key(c, "grpid", "ANA group %lld differs from ana_grpid %lld", (long long)grp,
					   (long long)top);
		cfg_path_pop(c, mark);
	}
	ns->anagrpid = grp != -1 ? (uint32_t)grp : top != -1 ? (uint32_t)top : 1;
	if (!ret && resv) {
		bool on = true;

		/* reservations are on unless turned off (nvmet needs resv_enable) */
		mark = cfg_path_key(c, "resv");
		ret = cfg_check_keys(c, resv, resv_keys) ?: cfg_opt_bool(c, resv, "enable", true, &on);
		ns->no_resv = !on;
		cfg_path_pop(c, mark);
	}
	return ret;
}

/* arg: the subsystem's index */
static int parse_namespace(struct cfg_ctx *c, struct json_object *obj, unsigned ni, void *arg)
{
	unsigned si = *(const unsigned *)arg;
	static const char *const keys[] = {
		"nsid", "enable", "ana_grpid", "ana", "device", "resv",
		"qos", "host_qos", NULL
	};
	struct cfg_subsystem *s = &c->cfg->subsystems[si];
	struct cfg_namespace *ns = &s->namespaces[ni];
	struct json_object *dev = cfg_member(obj, "device");
	size_t mark;
	int64_t v;
	unsigned j;
	int ret;

	if (cfg_expect_object(c, obj) || cfg_check_keys(c, obj, keys))
		return -EINVAL;
	/* any integer here, so that the range named is the real one */
	if (cfg_req_int(c, obj, "nsid", INT64_MIN, INT64_MAX, &v))
		return -EINVAL;
	if (v < 1)
		return cfg_fail_key(c, "nsid", "%lld is out of range (1..%d)", (long long)v, CFG_MAX_NSID);
	/* a host looks no further than Identify Controller NN: a namespace
	 * above it would be listed active and then be unreachable */
	if (v > CFG_MAX_NSID)
		return cfg_fail_key(c, "nsid", "%lld is above %d, the highest NSID this target reports "
				    "(Identify Controller NN)", (long long)v, CFG_MAX_NSID);
	ns->nsid = (uint32_t)v;
	for (j = 0; j < ni; j++) {
		if (s->namespaces[j].nsid == ns->nsid)
			return cfg_fail_key(c, "nsid", "duplicate NSID %u (also subsystems[%u].namespaces[%u])",
					    ns->nsid, si, j);
	}
	if (cfg_opt_bool(c, obj, "enable", true, &ns->enable) || parse_ns_extras(c, obj, ns))
		return -EINVAL;
	if (cfg_parse_qos(c, obj, &ns->qos) || cfg_parse_host_qos(c, obj, ns))
		return -EINVAL;
	if (cfg_unset(dev))
		return cfg_fail_key(c, "device", "missing (required): the backing device");
	mark = cfg_path_key(c, "device");
	ret = parse_ns_device(c, dev, ns);
	cfg_path_pop(c, mark);
	return ret ?: check_ns_conflicts(c, si, ni);
}

/* ---- subsystems ---- */

/* What nvmet lets a subsystem change in what hosts see, honoured the same
 * way: qid_max (I/O queues per controller), version (VS), firmware (FR),
 * ieee_oui (IEEE). nvmetcli saves all four for every subsystem. */
static int parse_nvmet_attrs(struct cfg_ctx *c, struct json_object *attr, struct cfg_subsystem *s)
{
	const char *v;
	int64_t n;
	unsigned maj = 0, min = 0, ter = 0;
	int pos = 0, more = 0;

	if (cfg_opt_int(c, attr, "qid_max", 1, 65535, 0, &n))
		return -EINVAL;
	s->qid_max = (uint16_t)n;
	if (cfg_opt_str(c, attr, "version", &v))
		return -EINVAL;
	if (v) {
		bool ok = v[0] >= '0' && v[0] <= '9' && sscanf(v, "%u.%u%n", &maj, &min, &pos) == 2;

		if (ok && v[pos] == '.')
			ok = v[pos + 1] >= '0' && v[pos + 1] <= '9' && sscanf(v + pos, ".%u%n", &ter, &more) == 1;
		if (!ok || v[pos + more] || maj < 1 || maj > 2 || min > 255 || ter > 255)
			return cfg_fail_key(c, "version", "\"%s\" is not an NVMe version (\"1.3\", \"2.0\", \"1.4.0\": major 1 or 2)", v);
		s->version = maj << 16 | min << 8 | ter;
	}
	if (cfg_opt_ascii(c, attr, "firmware", sizeof(s->firmware) - 1, s->firmware, ""))
		return -EINVAL;
	if (cfg_opt_str(c, attr, "ieee_oui", &v))
		return -EINVAL;
	if (v) {
		char *end;
		unsigned long oui = strtoul(v, &end, 16);

		if (*end || end == v || oui > 0xffffff || v[0] == '-' || v[0] == '+')
			return cfg_fail_key(c, "ieee_oui", "\"%s\" is not a 24-bit hexadecimal OUI (\"0x001b44\")", v);
		s->has_ieee_oui = true;
		s->ieee_oui = (uint32_t)oui;
	}
	return 0;
}

static int parse_attr(struct cfg_ctx *c, struct json_object *attr, struct cfg_subsystem *s)
{
	static const char *const keys[] = {
		"allow_any_host", "serial", "model", "version", "cntlid_min",
		"cntlid_max", "pi_enable", "qid_max", "firmware", "ieee_oui", NULL
	};
	int64_t lo, hi;

	if (cfg_expect_object(c, attr) || cfg_check_keys(c, attr, keys))
		return -EINVAL;
	if (cfg_opt_bool(c, attr, "allow_any_host", false, &s->allow_any_host) ||
	    cfg_opt_ascii(c, attr, "serial", sizeof(s->serial) - 1, s->serial, "") ||
	    cfg_opt_ascii(c, attr, "model", sizeof(s->model) - 1, s->model, CFG_MODEL_DEFAULT) ||
	    cfg_opt_int(c, attr, "cntlid_min", 1, CFG_CNTLID_MAX, 1, &lo) ||
	    cfg_opt_int(c, attr, "cntlid_max", 1, CFG_CNTLID_MAX, CFG_CNTLID_MAX, &hi) ||
	    cfg_want_off(c, attr, "pi_enable", "protection information is not supported"))
		return -EINVAL;
	if (lo > hi)
		return cfg_fail_key(c, "cntlid_min", "%lld is greater than cntlid_max %lld",
				    (long long)lo, (long long)hi);
	s->cntlid_min = (uint16_t)lo;
	s->cntlid_max = (uint16_t)hi;
	if (!s->model[0])
		memcpy(s->model, CFG_MODEL_DEFAULT, sizeof(CFG_MODEL_DEFAULT));
	return parse_nvmet_attrs(c, attr, s);
}

/* arg: the subsystem's index */
static int parse_allowed_host(struct cfg_ctx *c, struct json_object *elem, unsigned i, void *arg)
{
	unsigned si = *(const unsigned *)arg;
	struct cfg_subsystem *s = &c->cfg->subsystems[si];
	int ret;

	ret = cfg_read_nqn(c, elem, CFG_NQN_HOST, s->allowed_hosts[i]);
	for (unsigned j = 0; !ret && j < i; j++) {
		if (!strcmp(s->allowed_hosts[j], s->allowed_hosts[i]))
			ret = cfg_fail(c, "duplicate host NQN (also subsystems[%u].allowed_hosts[%u])", si, j);
	}
	return ret;
}

static int parse_passthru_one(struct cfg_ctx *c, struct json_object *pt)
{
	/* what nvmetcli dumps for the passthru directory that exists in
	 * every subsystem of a kernel with CONFIG_NVME_TARGET_PASSTHRU */
	static const char *const keys[] = {
		"device", "enable", "clear_ids", "admin_timeout", "io_timeout", NULL
	};

	if (cfg_expect_object(c, pt) || cfg_check_keys(c, pt, keys))
		return -EINVAL;
	return cfg_want_off(c, pt, "enable",
			    "passthru subsystems are not supported; export controller namespaces with device.pcie");
}

static int parse_passthru(struct cfg_ctx *c, struct json_object *obj)
{
	struct json_object *pt = cfg_member(obj, "passthru");
	size_t mark, i, n;
	int ret = 0;

	if (!pt || json_object_is_type(pt, json_type_null))
		return 0;
	mark = cfg_path_key(c, "passthru");
	if (json_object_is_type(pt, json_type_array)) {
		n = json_object_array_length(pt);
		for (i = 0; i < n && !ret; i++) {
			size_t m = cfg_path_index(c, i);

			ret = parse_passthru_one(c, json_object_array_get_idx(pt, i));
			cfg_path_pop(c, m);
		}
	} else {
		ret = parse_passthru_one(c, pt);
	}
	cfg_path_pop(c, mark);
	return ret;
}


int cfg_parse_subsystem(struct cfg_ctx *c, struct json_object *obj, unsigned si, void *arg)
{
	static const char *const keys[] = {
		"nqn", "attr", "allowed_hosts", "namespaces", "passthru", "require_auth", NULL
	};
	struct cfg_subsystem *s = &c->cfg->subsystems[si];
	struct json_object *attr;
	unsigned j;
	size_t mark;
	int ret;

	if (cfg_expect_object(c, obj) || cfg_check_keys(c, obj, keys))
		return -EINVAL;
	if (cfg_req_nqn(c, obj, "nqn", CFG_NQN_SUBSYSTEM, s->nqn))
		return -EINVAL;
	for (j = 0; j < si; j++) {
		if (!strcmp(c->cfg->subsystems[j].nqn, s->nqn))
			return cfg_fail_key(c, "nqn", "duplicate subsystem NQN (also subsystems[%u])", j);
	}
	s->cntlid_min = 1;
	s->cntlid_max = CFG_CNTLID_MAX;
	memcpy(s->model, CFG_MODEL_DEFAULT, sizeof(CFG_MODEL_DEFAULT));
	if (cfg_opt_object(c, obj, "attr", &attr))
		return -EINVAL;
	if (attr) {
		mark = cfg_path_key(c, "attr");
		ret = parse_attr(c, attr, s);
		cfg_path_pop(c, mark);
		if (ret)
			return ret;
	}
	if (cfg_parse_array(c, obj, "allowed_hosts", 0, NULL, sizeof(*s->allowed_hosts), &s->allowed_hosts,
			    &s->nr_allowed_hosts, parse_allowed_host, &si))
		return -EINVAL;
	/* nvmet refuses this pair too: the list would be silently moot */
	if (s->allow_any_host && s->nr_allowed_hosts) {
		mark = cfg_path_key(c, "attr");
		ret = cfg_fail_key(c, "allow_any_host",
				   "is 1 but allowed_hosts lists %u host(s); use one or the other",
				   s->nr_allowed_hosts);
		cfg_path_pop(c, mark);
		return ret;
	}
	if (cfg_opt_bool(c, obj, "require_auth", false, &s->require_auth))
		return -EINVAL;
	for (j = 0; s->require_auth && j < s->nr_allowed_hosts; j++) {
		const struct cfg_host *h = cfg_find_host(c->cfg, s->allowed_hosts[j]);

		if (!h || !h->dhchap.key[0]) {
			mark = cfg_path_key(c, "allowed_hosts");
			cfg_path_index(c, j);
			ret = cfg_fail(c, "host %s has no DH-HMAC-CHAP key (hosts[].dhchap.key) but the subsystem sets require_auth: it could never connect",
				       s->allowed_hosts[j]);
			cfg_path_pop(c, mark);
			return ret;
		}
	}
	if (parse_passthru(c, obj))
		return -EINVAL;
	/* nr_namespaces counts those parsed, so conflict checks see only real ones */
	return cfg_parse_array(c, obj, "namespaces", 0, NULL, sizeof(*s->namespaces), &s->namespaces,
			       &s->nr_namespaces, parse_namespace, &si);
}

