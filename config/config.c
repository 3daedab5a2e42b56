/* SPDX-License-Identifier: MIT */
/*
 * The configuration file: nvmetcli's JSON schema, read with json-c into the
 * plain C model of config.h.
 *
 * Members are looked up by name in a fixed order (bridge, hosts,
 * subsystems, ports; within an object, in the order of the schema), so the
 * error reported first does not depend on how the file orders its keys.
 * Unknown keys are refused: a misspelt key must never quietly become a
 * default. nvmetcli writes every configfs attribute, including ones we
 * cannot honour; those are accepted when they hold the value that means
 * "off" and refused, with the reason, otherwise.
 *
 * Every error is one line, "FILE: OBJECT.PATH: problem". The path is kept
 * in struct cfg_ctx as the walk descends.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "config/config.h"
#include "config/config_internal.h"

#define CFG_MAX_FILE_SIZE (4u << 20)
#define CFG_INLINE_DEFAULT 8192
/* Each queue slot of a fabric connection owns an in-capsule buffer this
 * large: 128 KiB times a 128-deep queue is already 16 MiB per connection. */
#define CFG_INLINE_MAX (128 << 10)
#define CFG_CNTLID_MAX 65519
#define CFG_NSID_MAX 0xfffffffeLL
#define CFG_DISCOVERY_PORT_DEFAULT 8009
#define CFG_REACTORS_MAX 64
#define CFG_RPC_SOCKET_DEFAULT "/run/nvmf-bridge/rpc.sock"
#define CFG_MODEL_DEFAULT "Linux"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

struct cfg_ctx {
	const char *file;
	char *err;
	size_t errlen;
	char path[256];         /* "subsystems[0].namespaces[1].device.pcie" */
	size_t plen;
	struct config *cfg;
};

/* ---- object paths and messages ---- */

static size_t path_append(struct cfg_ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static size_t path_append(struct cfg_ctx *c, const char *fmt, ...)
{
	size_t mark = c->plen;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(c->path + c->plen, sizeof(c->path) - c->plen, fmt, ap);
	va_end(ap);
	if (n > 0)
		c->plen += (size_t)n;
	if (c->plen >= sizeof(c->path))
		c->plen = sizeof(c->path) - 1;
	return mark;
}

static size_t path_key(struct cfg_ctx *c, const char *key)
{
	return path_append(c, "%s%s", c->plen ? "." : "", key);
}

static size_t path_index(struct cfg_ctx *c, size_t i)
{
	return path_append(c, "[%zu]", i);
}

static void path_pop(struct cfg_ctx *c, size_t mark)
{
	c->plen = mark;
	c->path[mark] = '\0';
}

/* A message must stay one line whatever the file holds. */
static void one_line(char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
	}
}

static void vmsg(struct cfg_ctx *c, const char *where, const char *fmt, va_list ap)
{
	int n;

	if (!c->err || !c->errlen)
		return;
	if (where)
		n = snprintf(c->err, c->errlen, "%s: %s: ", c->file, where);
	else
		n = snprintf(c->err, c->errlen, "%s: ", c->file);
	if (n >= 0 && (size_t)n < c->errlen)
		vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
	one_line(c->err);
}

/* An error at the current path. Returns -EINVAL for "return fail(...)". */
static int __attribute__((format(printf, 2, 3)))
fail(struct cfg_ctx *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(c, c->plen ? c->path : "top level", fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* An error at member key of the current object */
static int __attribute__((format(printf, 3, 4)))
fail_key(struct cfg_ctx *c, const char *key, const char *fmt, ...)
{
	size_t mark = path_key(c, key);
	va_list ap;

	va_start(ap, fmt);
	vmsg(c, c->path, fmt, ap);
	va_end(ap);
	path_pop(c, mark);
	return -EINVAL;
}

/* An error about the file itself (no object path) */
static int __attribute__((format(printf, 3, 4)))
fail_file(struct cfg_ctx *c, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(c, NULL, fmt, ap);
	va_end(ap);
	return ret;
}

static int no_memory(struct cfg_ctx *c)
{
	return fail_file(c, -ENOMEM, "out of memory");
}

static const char *jtype(struct json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_null:
		return "null";
	case json_type_boolean:
		return "a boolean";
	case json_type_double:
		return "a fractional number";
	case json_type_int:
		return "a number";
	case json_type_object:
		return "an object";
	case json_type_array:
		return "an array";
	case json_type_string:
		return "a string";
	}
	return "an unknown JSON type";
}

/* ---- scalar members ----
 * A member that is absent, null or "" is unset: nvmetcli dumps configfs
 * attributes that were never written as "". */

static struct json_object *member(struct json_object *obj, const char *key)
{
	struct json_object *v = NULL;

	if (!json_object_object_get_ex(obj, key, &v))
		return NULL;
	return v;
}

static bool unset(struct json_object *v)
{
	return !v || json_object_is_type(v, json_type_null) ||
	       (json_object_is_type(v, json_type_string) &&
		json_object_get_string_len(v) == 0);
}

static int read_string(struct cfg_ctx *c, struct json_object *v, const char **out)
{
	const char *s;

	if (!json_object_is_type(v, json_type_string))
		return fail(c, "expected a string, got %s", jtype(v));
	s = json_object_get_string(v);
	if (strlen(s) != (size_t)json_object_get_string_len(v))
		return fail(c, "the string contains a NUL character");
	*out = s;
	return 0;
}

/* Integers come as JSON numbers or as nvmetcli's decimal strings. */
static int read_int(struct cfg_ctx *c, struct json_object *v, int64_t min,
		    int64_t max, int64_t *out)
{
	const char *s;
	int64_t n;

	switch (json_object_get_type(v)) {
	case json_type_int:
		/* json-c saturates beyond int64; still out of any range here */
		n = json_object_get_int64(v);
		break;
	case json_type_string:
		if (read_string(c, v, &s))
			return -EINVAL;
		if (cfg_parse_int64(s, &n))
			return fail(c, "expected an integer, got \"%s\"", s);
		break;
	default:
		return fail(c, "expected an integer, got %s", jtype(v));
	}
	if (n < min || n > max)
		return fail(c, "%lld is out of range (%lld..%lld)", (long long)n,
			    (long long)min, (long long)max);
	*out = n;
	return 0;
}

/* Booleans: true/false, 0/1, "0"/"1" (nvmetcli), "true"/"false". */
static int read_bool(struct cfg_ctx *c, struct json_object *v, bool *out)
{
	const char *s;

	switch (json_object_get_type(v)) {
	case json_type_boolean:
		*out = json_object_get_boolean(v);
		return 0;
	case json_type_int:
		if (json_object_get_int64(v) == 0 || json_object_get_int64(v) == 1) {
			*out = json_object_get_int64(v) == 1;
			return 0;
		}
		return fail(c, "expected 0, 1, true or false, got %lld",
			    (long long)json_object_get_int64(v));
	case json_type_string:
		s = json_object_get_string(v);
		if (!strcmp(s, "1") || !strcmp(s, "true")) {
			*out = true;
			return 0;
		}
		if (!strcmp(s, "0") || !strcmp(s, "false")) {
			*out = false;
			return 0;
		}
		return fail(c, "expected 0, 1, true or false, got \"%s\"", s);
	default:
		return fail(c, "expected 0, 1, true or false, got %s", jtype(v));
	}
}

static int opt_int(struct cfg_ctx *c, struct json_object *obj, const char *key,
		   int64_t min, int64_t max, int64_t def, int64_t *out)
{
	struct json_object *v = member(obj, key);
	size_t mark;
	int ret;

	if (unset(v)) {
		*out = def;
		return 0;
	}
	mark = path_key(c, key);
	ret = read_int(c, v, min, max, out);
	path_pop(c, mark);
	return ret;
}

static int req_int(struct cfg_ctx *c, struct json_object *obj, const char *key,
		   int64_t min, int64_t max, int64_t *out)
{
	if (unset(member(obj, key)))
		return fail_key(c, key, "missing (required)");
	return opt_int(c, obj, key, min, max, 0, out);
}

static int opt_bool(struct cfg_ctx *c, struct json_object *obj, const char *key,
		    bool def, bool *out)
{
	struct json_object *v = member(obj, key);
	size_t mark;
	int ret;

	if (unset(v)) {
		*out = def;
		return 0;
	}
	mark = path_key(c, key);
	ret = read_bool(c, v, out);
	path_pop(c, mark);
	return ret;
}

/* *out is NULL when unset */
static int opt_str(struct cfg_ctx *c, struct json_object *obj, const char *key,
		   const char **out)
{
	struct json_object *v = member(obj, key);
	size_t mark;
	int ret;

	*out = NULL;
	if (unset(v))
		return 0;
	mark = path_key(c, key);
	ret = read_string(c, v, out);
	path_pop(c, mark);
	return ret;
}

static int req_str(struct cfg_ctx *c, struct json_object *obj, const char *key,
		   const char **out)
{
	int ret = opt_str(c, obj, key, out);

	if (!ret && !*out)
		return fail_key(c, key, "missing (required)");
	return ret;
}

/* ---- containers ---- */

static bool in_list(const char *key, const char *const *list)
{
	for (; *list; list++) {
		if (!strcmp(key, *list))
			return true;
	}
	return false;
}

/* Every member of obj must be one of allowed (NULL-terminated). */
static int check_keys(struct cfg_ctx *c, struct json_object *obj,
		      const char *const *allowed)
{
	struct json_object_iterator it = json_object_iter_begin(obj);
	struct json_object_iterator end = json_object_iter_end(obj);
	char list[256];
	size_t n = 0;

	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
		const char *key = json_object_iter_peek_name(&it);
		const char *const *a;

		if (in_list(key, allowed))
			continue;
		list[0] = '\0';
		for (a = allowed; *a && n < sizeof(list); a++)
			n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s",
					      a == allowed ? "" : ", ", *a);
		return fail_key(c, key, "unknown key (expected one of: %s)", list);
	}
	return 0;
}

static int expect_object(struct cfg_ctx *c, struct json_object *v)
{
	if (!json_object_is_type(v, json_type_object))
		return fail(c, "expected an object, got %s", jtype(v));
	return 0;
}

/* obj.key as an array; *arr NULL and *n 0 when absent or null */
static int opt_array(struct cfg_ctx *c, struct json_object *obj, const char *key,
		     struct json_object **arr, size_t *n)
{
	struct json_object *v = member(obj, key);

	*arr = NULL;
	*n = 0;
	if (!v || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_array))
		return fail_key(c, key, "expected an array, got %s", jtype(v));
	*arr = v;
	*n = json_object_array_length(v);
	return 0;
}

/* obj.key as an object; NULL when absent or null */
static int opt_object(struct cfg_ctx *c, struct json_object *obj, const char *key,
		      struct json_object **out)
{
	struct json_object *v = member(obj, key);

	*out = NULL;
	if (!v || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_object))
		return fail_key(c, key, "expected an object, got %s", jtype(v));
	*out = v;
	return 0;
}

/* ---- typed values ---- */

enum nqn_role { NQN_SUBSYSTEM, NQN_HOST };

/* The value at the current path must be a valid NQN; copied into out
 * (CFG_NQN_SIZE bytes). */
static int read_nqn(struct cfg_ctx *c, struct json_object *v, enum nqn_role role, char *out)
{
	const char *s;
	char why[128];

	if (read_string(c, v, &s))
		return -EINVAL;
	if (!nqn_valid(s, why, sizeof(why)))
		return fail(c, "invalid NQN \"%.*s\": %s", 64, s, why);
	if (!strcmp(s, CFG_DISCOVERY_NQN))
		return fail(c, "the discovery NQN %s", role == NQN_SUBSYSTEM ?
			    "is served by nvmf-bridge itself and cannot be configured" :
			    "cannot be a host NQN");
	snprintf(out, CFG_NQN_SIZE, "%s", s);
	return 0;
}

static int req_nqn(struct cfg_ctx *c, struct json_object *obj, const char *key,
		   enum nqn_role role, char *out)
{
	struct json_object *v = member(obj, key);
	size_t mark;
	int ret;

	if (unset(v))
		return fail_key(c, key, "missing (required)");
	mark = path_key(c, key);
	ret = read_nqn(c, v, role, out);
	path_pop(c, mark);
	return ret;
}

/* printable ASCII, at most max characters (Identify Controller SN, MN) */
static int opt_ascii(struct cfg_ctx *c, struct json_object *obj, const char *key,
		     size_t max, char *out, const char *def)
{
	const char *s;
	int ret = opt_str(c, obj, key, &s);
	size_t i;

	if (ret)
		return ret;
	if (!s)
		s = def;
	if (strlen(s) > max)
		return fail_key(c, key, "\"%s\" is %zu characters; the maximum is %zu",
				s, strlen(s), max);
	for (i = 0; s[i]; i++) {
		if (s[i] < 0x20 || s[i] > 0x7e)
			return fail_key(c, key, "only printable ASCII characters are allowed");
	}
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

/* Keys nvmetcli writes that hold a feature we do not have: accepted only
 * while off, so a file that turns them on is refused rather than half
 * honoured. */
static int want_off(struct cfg_ctx *c, struct json_object *obj, const char *key,
		    const char *why)
{
	bool on;
	int ret = opt_bool(c, obj, key, false, &on);

	if (ret)
		return ret;
	if (on)
		return fail_key(c, key, "%s", why);
	return 0;
}

/* ---- bridge ---- */

static int parse_bridge(struct cfg_ctx *c, struct json_object *obj)
{
	static const char *const keys[] = { "discovery_port", "reactors", "rpc_socket", NULL };
	struct cfg_bridge *b = &c->cfg->bridge;
	const char *sock;
	int64_t v;

	if (expect_object(c, obj) || check_keys(c, obj, keys))
		return -EINVAL;
	if (opt_int(c, obj, "discovery_port", 0, 65535, CFG_DISCOVERY_PORT_DEFAULT, &v))
		return -EINVAL;
	b->discovery_port = (uint16_t)v;
	if (opt_int(c, obj, "reactors", 1, CFG_REACTORS_MAX, 1, &v))
		return -EINVAL;
	b->reactors = (unsigned)v;
	if (opt_str(c, obj, "rpc_socket", &sock))
		return -EINVAL;
	if (sock) {
		if (strlen(sock) >= sizeof(b->rpc_socket))
			return fail_key(c, "rpc_socket",
					"%zu bytes; a unix socket path must be shorter than %zu",
					strlen(sock), sizeof(b->rpc_socket));
		memcpy(b->rpc_socket, sock, strlen(sock) + 1);
	}
	return 0;
}

/* ---- hosts ---- */

static int parse_dhchap(struct cfg_ctx *c, struct json_object *obj)
{
	/* A kernel with CONFIG_NVME_TARGET_AUTH shows hash "hmac(sha256)" and
	 * dhgroup "null" for every host: harmless without a key. */
	static const char *const keys[] = { "key", "ctrl_key", "hash", "dhgroup", NULL };
	static const char *const secrets[] = { "key", "ctrl_key" };
	size_t i;

	if (expect_object(c, obj) || check_keys(c, obj, keys))
		return -EINVAL;
	for (i = 0; i < ARRAY_SIZE(secrets); i++) {
		if (!unset(member(obj, secrets[i])))
			return fail_key(c, secrets[i],
					"DH-HMAC-CHAP authentication is not supported; remove the key (access is controlled by host NQN through allowed_hosts)");
	}
	return 0;
}

static int parse_host(struct cfg_ctx *c, struct json_object *obj, unsigned i)
{
	static const char *const keys[] = { "nqn", "dhchap", NULL };
	struct cfg_host *h = &c->cfg->hosts[i];
	struct json_object *dh;
	unsigned j;

	if (expect_object(c, obj) || check_keys(c, obj, keys))
		return -EINVAL;
	if (req_nqn(c, obj, "nqn", NQN_HOST, h->nqn))
		return -EINVAL;
	for (j = 0; j < i; j++) {
		if (!strcmp(c->cfg->hosts[j].nqn, h->nqn))
			return fail_key(c, "nqn", "duplicate host NQN (also hosts[%u])", j);
	}
	if (opt_object(c, obj, "dhchap", &dh))
		return -EINVAL;
	if (dh) {
		size_t mark = path_key(c, "dhchap");
		int ret = parse_dhchap(c, dh);

		path_pop(c, mark);
		return ret;
	}
	return 0;
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
	size_t mark = path_key(c, "device");
	unsigned s, n;
	int ret = 0;

	for (s = 0; s <= si && !ret; s++) {
		unsigned end = s == si ? ni : c->cfg->subsystems[s].nr_namespaces;

		for (n = 0; n < end && !ret; n++) {
			const struct cfg_namespace *o = ns_at(c->cfg, s, n);

			if (ns->backend == CFG_BACKEND_PCIE && o->backend == CFG_BACKEND_PCIE &&
			    !strcmp(ns->pcie_bdf, o->pcie_bdf) && ns->pcie_nsid == o->pcie_nsid)
				ret = fail_key(c, "pcie", "namespace %u of %s is already exported by subsystems[%u].namespaces[%u]",
					       ns->pcie_nsid, ns->pcie_bdf, s, n);
			else if (ns->has_uuid && o->has_uuid && !memcmp(ns->uuid, o->uuid, 16))
				ret = fail_key(c, "uuid", "duplicate UUID (also subsystems[%u].namespaces[%u])",
					       s, n);
			else if (ns->has_nguid && o->has_nguid && !memcmp(ns->nguid, o->nguid, 16))
				ret = fail_key(c, "nguid", "duplicate NGUID (also subsystems[%u].namespaces[%u])",
					       s, n);
		}
	}
	path_pop(c, mark);
	return ret;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	while (n--) {
		if (*p++)
			return false;
	}
	return true;
}

/* uuid and nguid: optional; all zeroes means "not set", as the kernel shows
 * a namespace that never had one. */
static int parse_ns_ids(struct cfg_ctx *c, struct json_object *dev, struct cfg_namespace *ns)
{
	const char *s;

	if (opt_str(c, dev, "uuid", &s))
		return -EINVAL;
	if (s) {
		if (cfg_parse_uuid(s, ns->uuid))
			return fail_key(c, "uuid", "\"%s\" is not a UUID (8-4-4-4-12 hex digits)", s);
		ns->has_uuid = !all_zero(ns->uuid, 16);
	}
	if (opt_str(c, dev, "nguid", &s))
		return -EINVAL;
	if (s) {
		if (cfg_parse_nguid(s, ns->nguid))
			return fail_key(c, "nguid", "\"%s\" is not an NGUID (32 hex digits, dashes allowed)", s);
		ns->has_nguid = !all_zero(ns->nguid, 16);
	}
	return 0;
}

static int parse_dev_pcie(struct cfg_ctx *c, struct json_object *dev,
			  const char *bdf, struct cfg_namespace *ns)
{
	int64_t v;

	if (cfg_parse_bdf(bdf, ns->pcie_bdf, sizeof(ns->pcie_bdf)))
		return fail_key(c, "pcie", "\"%s\" is not a PCI address (DDDD:BB:DD.F or BB:DD.F)", bdf);
	if (opt_int(c, dev, "nsid", 1, CFG_NSID_MAX, 1, &v))
		return -EINVAL;
	ns->pcie_nsid = (uint32_t)v;
	if (!unset(member(dev, "block_size")))
		return fail_key(c, "block_size",
				"only for path and mem devices; a PCIe namespace keeps the controller's LBA format");
	ns->backend = CFG_BACKEND_PCIE;
	return 0;
}

static int parse_block_size(struct cfg_ctx *c, struct json_object *dev,
			    struct cfg_namespace *ns)
{
	int64_t v;

	if (!unset(member(dev, "nsid")))
		return fail_key(c, "nsid", "only with pcie (the namespace on that controller)");
	if (opt_int(c, dev, "block_size", 512, 4096, 512, &v))
		return -EINVAL;
	if (v != 512 && v != 4096)
		return fail_key(c, "block_size", "%lld is not supported; use 512 or 4096",
				(long long)v);
	ns->block_size = (uint32_t)v;
	return 0;
}

static int parse_dev_path(struct cfg_ctx *c, struct json_object *dev,
			  const char *path, struct cfg_namespace *ns)
{
	if (path[0] != '/')
		return fail_key(c, "path", "\"%s\" is not an absolute path", path);
	if (strlen(path) >= sizeof(ns->path))
		return fail_key(c, "path", "longer than %zu bytes", sizeof(ns->path) - 1);
	memcpy(ns->path, path, strlen(path) + 1);
	ns->backend = CFG_BACKEND_FILE;
	return parse_block_size(c, dev, ns);
}

static int parse_dev_mem(struct cfg_ctx *c, struct json_object *dev,
			 struct json_object *mem, struct cfg_namespace *ns)
{
	size_t mark = path_key(c, "mem");
	int64_t n;
	int ret = 0;

	if (json_object_is_type(mem, json_type_string)) {
		const char *s;

		ret = read_string(c, mem, &s);
		if (!ret && parse_size(s, &ns->mem_bytes))
			ret = fail(c, "\"%s\" is not a size (e.g. \"256MiB\", \"1G\" or a number of bytes)", s);
	} else if (!(ret = read_int(c, mem, 0, INT64_MAX, &n))) {
		ns->mem_bytes = (uint64_t)n;
	}
	if (!ret && ns->mem_bytes == 0)
		ret = fail(c, "the size must be greater than 0");
	path_pop(c, mark);
	if (ret)
		return ret;
	ns->backend = CFG_BACKEND_MEM;
	ret = parse_block_size(c, dev, ns);
	if (!ret && ns->mem_bytes % ns->block_size)
		ret = fail_key(c, "mem", "%llu bytes is not a multiple of the block size %u",
			       (unsigned long long)ns->mem_bytes, ns->block_size);
	return ret;
}

static int parse_ns_device(struct cfg_ctx *c, struct json_object *dev,
			   struct cfg_namespace *ns)
{
	static const char *const keys[] = {
		"pcie", "nsid", "path", "mem", "block_size", "uuid", "nguid", "eui64", NULL
	};
	struct json_object *mem = member(dev, "mem");
	const char *pcie, *path;
	unsigned count;

	if (expect_object(c, dev) || check_keys(c, dev, keys))
		return -EINVAL;
	if (opt_str(c, dev, "pcie", &pcie) || opt_str(c, dev, "path", &path))
		return -EINVAL;
	if (unset(mem))
		mem = NULL;
	count = !!pcie + !!path + !!mem;
	if (count == 0)
		return fail(c, "no backing device: set one of pcie, path or mem");
	if (count > 1)
		return fail(c, "%s%s%s%s%s are exclusive: set exactly one of pcie, path or mem",
			    pcie ? "pcie" : "", pcie && path ? " and " : "", path ? "path" : "",
			    mem ? " and " : "", mem ? "mem" : "");
	if (parse_ns_ids(c, dev, ns))
		return -EINVAL;
	if (pcie)
		return parse_dev_pcie(c, dev, pcie, ns);
	if (path)
		return parse_dev_path(c, dev, path, ns);
	return parse_dev_mem(c, dev, mem, ns);
}

/* ANA: one group, 1, always optimized. 0 is what nvmetcli writes on a
 * kernel without ANA and means the same. */
static int check_ana_grpid(struct cfg_ctx *c, struct json_object *obj, const char *key)
{
	int64_t v;

	if (opt_int(c, obj, key, 0, UINT32_MAX, 1, &v))
		return -EINVAL;
	if (v > 1)
		return fail_key(c, key, "ANA group %lld is not supported; only group 1 (optimized) exists",
				(long long)v);
	return 0;
}

static int parse_ns_extras(struct cfg_ctx *c, struct json_object *obj)
{
	static const char *const ana_keys[] = { "grpid", NULL };
	static const char *const resv_keys[] = { "enable", NULL };
	struct json_object *ana, *resv;
	size_t mark;
	int ret = 0;

	if (check_ana_grpid(c, obj, "ana_grpid"))
		return -EINVAL;
	if (opt_object(c, obj, "ana", &ana) || opt_object(c, obj, "resv", &resv))
		return -EINVAL;
	if (ana) {
		mark = path_key(c, "ana");
		ret = check_keys(c, ana, ana_keys) ?: check_ana_grpid(c, ana, "grpid");
		path_pop(c, mark);
	}
	if (!ret && resv) {
		mark = path_key(c, "resv");
		ret = check_keys(c, resv, resv_keys) ?:
		      want_off(c, resv, "enable", "reservations are not supported");
		path_pop(c, mark);
	}
	return ret;
}

static int parse_namespace(struct cfg_ctx *c, struct json_object *obj,
			   unsigned si, unsigned ni)
{
	static const char *const keys[] = {
		"nsid", "enable", "ana_grpid", "ana", "device", "resv", NULL
	};
	struct cfg_subsystem *s = &c->cfg->subsystems[si];
	struct cfg_namespace *ns = &s->namespaces[ni];
	struct json_object *dev = member(obj, "device");
	size_t mark;
	int64_t v;
	unsigned j;
	int ret;

	if (expect_object(c, obj) || check_keys(c, obj, keys))
		return -EINVAL;
	if (req_int(c, obj, "nsid", 1, CFG_NSID_MAX, &v))
		return -EINVAL;
	ns->nsid = (uint32_t)v;
	for (j = 0; j < ni; j++) {
		if (s->namespaces[j].nsid == ns->nsid)
			return fail_key(c, "nsid", "duplicate NSID %u (also subsystems[%u].namespaces[%u])",
					ns->nsid, si, j);
	}
	if (opt_bool(c, obj, "enable", true, &ns->enable) || parse_ns_extras(c, obj))
		return -EINVAL;
	if (unset(dev))
		return fail_key(c, "device", "missing (required): the backing device");
	mark = path_key(c, "device");
	ret = parse_ns_device(c, dev, ns);
	path_pop(c, mark);
	return ret ?: check_ns_conflicts(c, si, ni);
}

/* ---- subsystems ---- */

static int parse_attr(struct cfg_ctx *c, struct json_object *attr, struct cfg_subsystem *s)
{
	/* version, qid_max, firmware and ieee_oui are nvmet's; accepted and
	 * ignored (Identify Controller comes from the device). */
	static const char *const keys[] = {
		"allow_any_host", "serial", "model", "version", "cntlid_min",
		"cntlid_max", "pi_enable", "qid_max", "firmware", "ieee_oui", NULL
	};
	int64_t lo, hi;

	if (expect_object(c, attr) || check_keys(c, attr, keys))
		return -EINVAL;
	if (opt_bool(c, attr, "allow_any_host", false, &s->allow_any_host) ||
	    opt_ascii(c, attr, "serial", sizeof(s->serial) - 1, s->serial, "") ||
	    opt_ascii(c, attr, "model", sizeof(s->model) - 1, s->model, CFG_MODEL_DEFAULT) ||
	    opt_int(c, attr, "cntlid_min", 1, CFG_CNTLID_MAX, 1, &lo) ||
	    opt_int(c, attr, "cntlid_max", 1, CFG_CNTLID_MAX, CFG_CNTLID_MAX, &hi) ||
	    want_off(c, attr, "pi_enable", "protection information is not supported"))
		return -EINVAL;
	if (lo > hi)
		return fail_key(c, "cntlid_min", "%lld is greater than cntlid_max %lld",
				(long long)lo, (long long)hi);
	s->cntlid_min = (uint16_t)lo;
	s->cntlid_max = (uint16_t)hi;
	if (!s->model[0])
		memcpy(s->model, CFG_MODEL_DEFAULT, sizeof(CFG_MODEL_DEFAULT));
	return 0;
}

static int parse_allowed_hosts(struct cfg_ctx *c, struct json_object *obj,
			       struct cfg_subsystem *s, unsigned si)
{
	struct json_object *arr;
	size_t n, i, mark;
	int ret = 0;

	if (opt_array(c, obj, "allowed_hosts", &arr, &n))
		return -EINVAL;
	if (!n)
		return 0;
	s->allowed_hosts = calloc(n, sizeof(*s->allowed_hosts));
	if (!s->allowed_hosts)
		return no_memory(c);
	s->nr_allowed_hosts = (unsigned)n;
	mark = path_key(c, "allowed_hosts");
	for (i = 0; i < n && !ret; i++) {
		size_t m = path_index(c, i), j;

		ret = read_nqn(c, json_object_array_get_idx(arr, i), NQN_HOST,
			       s->allowed_hosts[i]);
		for (j = 0; !ret && j < i; j++) {
			if (!strcmp(s->allowed_hosts[j], s->allowed_hosts[i]))
				ret = fail(c, "duplicate host NQN (also subsystems[%u].allowed_hosts[%zu])",
					   si, j);
		}
		path_pop(c, m);
	}
	path_pop(c, mark);
	return ret;
}

static int parse_passthru_one(struct cfg_ctx *c, struct json_object *pt)
{
	/* what nvmetcli dumps for the passthru directory that exists in
	 * every subsystem of a kernel with CONFIG_NVME_TARGET_PASSTHRU */
	static const char *const keys[] = {
		"device", "enable", "clear_ids", "admin_timeout", "io_timeout", NULL
	};

	if (expect_object(c, pt) || check_keys(c, pt, keys))
		return -EINVAL;
	return want_off(c, pt, "enable",
			"passthru subsystems are not supported; export controller namespaces with device.pcie");
}

static int parse_passthru(struct cfg_ctx *c, struct json_object *obj)
{
	struct json_object *pt = member(obj, "passthru");
	size_t mark, i, n;
	int ret = 0;

	if (!pt || json_object_is_type(pt, json_type_null))
		return 0;
	mark = path_key(c, "passthru");
	if (json_object_is_type(pt, json_type_array)) {
		n = json_object_array_length(pt);
		for (i = 0; i < n && !ret; i++) {
			size_t m = path_index(c, i);

			ret = parse_passthru_one(c, json_object_array_get_idx(pt, i));
			path_pop(c, m);
		}
	} else {
		ret = parse_passthru_one(c, pt);
	}
	path_pop(c, mark);
	return ret;
}

static int parse_namespaces(struct cfg_ctx *c, struct json_object *obj, unsigned si)
{
	struct cfg_subsystem *s = &c->cfg->subsystems[si];
	struct json_object *arr;
	size_t n, i, mark;
	int ret = 0;

	if (opt_array(c, obj, "namespaces", &arr, &n))
		return -EINVAL;
	if (!n)
		return 0;
	s->namespaces = calloc(n, sizeof(*s->namespaces));
	if (!s->namespaces)
		return no_memory(c);
	mark = path_key(c, "namespaces");
	for (i = 0; i < n && !ret; i++) {
		size_t m = path_index(c, i);

		/* counted as parsed so that conflict checks see only real ones */
		s->nr_namespaces = (unsigned)i + 1;
		ret = parse_namespace(c, json_object_array_get_idx(arr, i), si, (unsigned)i);
		path_pop(c, m);
	}
	path_pop(c, mark);
	return ret;
}

static int parse_subsystem(struct cfg_ctx *c, struct json_object *obj, unsigned si)
{
	static const char *const keys[] = {
		"nqn", "attr", "allowed_hosts", "namespaces", "passthru", NULL
	};
	struct cfg_subsystem *s = &c->cfg->subsystems[si];
	struct json_object *attr;
	unsigned j;
	size_t mark;
	int ret;

	if (expect_object(c, obj) || check_keys(c, obj, keys))
		return -EINVAL;
	if (req_nqn(c, obj, "nqn", NQN_SUBSYSTEM, s->nqn))
		return -EINVAL;
	for (j = 0; j < si; j++) {
		if (!strcmp(c->cfg->subsystems[j].nqn, s->nqn))
			return fail_key(c, "nqn", "duplicate subsystem NQN (also subsystems[%u])", j);
	}
	s->cntlid_min = 1;
	s->cntlid_max = CFG_CNTLID_MAX;
	memcpy(s->model, CFG_MODEL_DEFAULT, sizeof(CFG_MODEL_DEFAULT));
	if (opt_object(c, obj, "attr", &attr))
		return -EINVAL;
	if (attr) {
		mark = path_key(c, "attr");
		ret = parse_attr(c, attr, s);
		path_pop(c, mark);
		if (ret)
			return ret;
	}
	if (parse_allowed_hosts(c, obj, s, si))
		return -EINVAL;
	/* nvmet refuses this pair too: the list would be silently moot */
	if (s->allow_any_host && s->nr_allowed_hosts) {
		mark = path_key(c, "attr");
		ret = fail_key(c, "allow_any_host",
			       "is 1 but allowed_hosts lists %u host(s); use one or the other",
			       s->nr_allowed_hosts);
		path_pop(c, mark);
		return ret;
	}
	if (parse_passthru(c, obj))
		return -EINVAL;
	return parse_namespaces(c, obj, si);
}

/* ---- ports ---- */

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

static const char *trtype_name(enum cfg_trtype t)
{
	return t == CFG_TRTYPE_TCP ? "tcp" : "rdma";
}

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

	if (req_str(c, addr, "trtype", &s))
		return -EINVAL;
	if (!lookup(trtypes, ARRAY_SIZE(trtypes), s, &v)) {
		a->trtype = (enum cfg_trtype)v;
		return 0;
	}
	if (!strcmp(s, "fc") || !strcmp(s, "loop"))
		return fail_key(c, "trtype", "transport \"%s\" is not supported (tcp and rdma are)", s);
	return fail_key(c, "trtype", "unknown transport \"%s\" (expected tcp or rdma)", s);
}

static int parse_adrfam(struct cfg_ctx *c, struct json_object *addr, struct cfg_addr *a)
{
	const char *s;
	int v;

	if (req_str(c, addr, "adrfam", &s))
		return -EINVAL;
	if (!lookup(adrfams, ARRAY_SIZE(adrfams), s, &v)) {
		a->adrfam = (enum cfg_adrfam)v;
		return 0;
	}
	if (!strcmp(s, "ib") || !strcmp(s, "fc") || !strcmp(s, "pcie") || !strcmp(s, "loop"))
		return fail_key(c, "adrfam", "address family \"%s\" is not supported (ipv4 and ipv6 are)", s);
	return fail_key(c, "adrfam", "unknown address family \"%s\" (expected ipv4 or ipv6)", s);
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
	return all_zero(buf, a->adrfam == CFG_ADRFAM_IPV6 ? 16 : 4);
}

static int parse_traddr(struct cfg_ctx *c, struct json_object *addr,
			struct cfg_addr *a, bool referral)
{
	uint8_t buf[16];
	const char *s;

	if (req_str(c, addr, "traddr", &s))
		return -EINVAL;
	if (strlen(s) >= sizeof(a->traddr) || inet_pton(addr_af(a->adrfam), s, buf) != 1)
		return fail_key(c, "traddr", "\"%s\" is not a numeric %s address", s,
				a->adrfam == CFG_ADRFAM_IPV6 ? "IPv6" : "IPv4");
	memcpy(a->traddr, s, strlen(s) + 1);
	if (referral && addr_is_any(a))
		return fail_key(c, "traddr", "a referral must name the address of a discovery controller, not %s", s);
	return 0;
}

/* The TSAS values a kernel shows: "none" (tcp), "connected" (rdma), and ""
 * or "reserved" (older kernels, before the trtype is set). TLS is not. */
static int parse_tsas(struct cfg_ctx *c, struct json_object *addr, const struct cfg_addr *a)
{
	const char *s;

	if (opt_str(c, addr, "tsas", &s))
		return -EINVAL;
	if (!s || !strcmp(s, "none") || !strcmp(s, "reserved"))
		return 0;
	if (a->trtype == CFG_TRTYPE_RDMA && !strcmp(s, "connected"))
		return 0;
	if (!strcmp(s, "tls1.3"))
		return fail_key(c, "tsas", "TLS is not supported (use \"none\")");
	return fail_key(c, "tsas", "\"%s\" is not supported for %s (use \"none\")", s,
			trtype_name(a->trtype));
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

	if (expect_object(c, addr) || check_keys(c, addr, referral ? referral_keys : port_keys))
		return -EINVAL;
	if (parse_trtype(c, addr, a) || parse_adrfam(c, addr, a) ||
	    parse_traddr(c, addr, a, referral))
		return -EINVAL;
	if (req_int(c, addr, "trsvcid", 1, 65535, &v))
		return -EINVAL;
	snprintf(a->trsvcid, sizeof(a->trsvcid), "%lld", (long long)v);
	if (opt_str(c, addr, "treq", &treq))
		return -EINVAL;
	a->treq = CFG_TREQ_NOT_SPECIFIED;
	if (treq) {
		if (lookup(treqs, ARRAY_SIZE(treqs), treq, &t))
			return fail_key(c, "treq", "\"%s\" is not one of \"not specified\", \"required\", \"not required\"",
					treq);
		a->treq = (enum cfg_treq)t;
	}
	if (parse_tsas(c, addr, a))
		return -EINVAL;
	if (referral) {
		if (opt_int(c, addr, "portid", 0, 65535, 0, &v))
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

	if (expect_object(c, param) || check_keys(c, param, keys))
		return -EINVAL;
	/* -1 is how the kernel shows "the transport's default" */
	if (opt_int(c, param, "inline_data_size", -1, CFG_INLINE_MAX, -1, &v))
		return -EINVAL;
	p->inline_data_size = v < 0 ? CFG_INLINE_DEFAULT : (uint32_t)v;
	if (want_off(c, param, "pi_enable", "protection information is not supported"))
		return -EINVAL;
	if (opt_int(c, param, "max_queue_size", INT64_MIN, INT64_MAX, -1, &v))
		return -EINVAL;
	if (v != -1)
		return fail_key(c, "max_queue_size",
				"is not supported; the queue size is negotiated by the transport (use -1)");
	return 0;
}

static int parse_ana_group(struct cfg_ctx *c, struct json_object *g)
{
	static const char *const keys[] = { "grpid", "ana", NULL };
	static const char *const ana_keys[] = { "state", NULL };
	struct json_object *ana;
	const char *state;
	size_t mark;
	int64_t v;
	int ret;

	if (expect_object(c, g) || check_keys(c, g, keys))
		return -EINVAL;
	if (req_int(c, g, "grpid", 0, UINT32_MAX, &v))
		return -EINVAL;
	if (v != 1)
		return fail_key(c, "grpid", "ANA group %lld is not supported; only group 1 (optimized) exists",
				(long long)v);
	if (opt_object(c, g, "ana", &ana))
		return -EINVAL;
	if (!ana)
		return 0;
	mark = path_key(c, "ana");
	ret = check_keys(c, ana, ana_keys) ?: opt_str(c, ana, "state", &state);
	if (!ret && state && strcmp(state, "optimized"))
		ret = fail_key(c, "state", "ANA state \"%s\" is not supported; group 1 is always optimized",
			       state);
	path_pop(c, mark);
	return ret;
}

static int parse_ana_groups(struct cfg_ctx *c, struct json_object *obj)
{
	struct json_object *arr;
	size_t n, i, mark;
	int ret = 0;

	if (opt_array(c, obj, "ana_groups", &arr, &n))
		return -EINVAL;
	mark = path_key(c, "ana_groups");
	for (i = 0; i < n && !ret; i++) {
		size_t m = path_index(c, i);

		ret = parse_ana_group(c, json_object_array_get_idx(arr, i));
		if (!ret && i > 0)
			ret = fail(c, "duplicate ANA group 1 (also ana_groups[0] of this port)");
		path_pop(c, m);
	}
	path_pop(c, mark);
	return ret;
}

static int parse_referral(struct cfg_ctx *c, struct json_object *obj,
			  struct cfg_port *p, unsigned pi, unsigned ri)
{
	static const char *const keys[] = { "name", "enable", "addr", NULL };
	struct cfg_referral *r = &p->referrals[ri];
	struct json_object *addr = member(obj, "addr");
	const char *name;
	size_t mark;
	unsigned j;
	int ret;

	if (expect_object(c, obj) || check_keys(c, obj, keys) || req_str(c, obj, "name", &name))
		return -EINVAL;
	if (strlen(name) >= sizeof(r->name))
		return fail_key(c, "name", "longer than %zu bytes", sizeof(r->name) - 1);
	memcpy(r->name, name, strlen(name) + 1);
	for (j = 0; j < ri; j++) {
		if (!strcmp(p->referrals[j].name, r->name))
			return fail_key(c, "name", "duplicate referral name (also ports[%u].referrals[%u])",
					pi, j);
	}
	/* the kernel creates referrals disabled; a referral written into a
	 * configuration file is meant to be served unless it says otherwise */
	if (opt_bool(c, obj, "enable", true, &r->enable))
		return -EINVAL;
	if (unset(addr))
		return fail_key(c, "addr", "missing (required)");
	mark = path_key(c, "addr");
	ret = parse_addr(c, addr, &r->addr, true, &r->portid);
	path_pop(c, mark);
	return ret;
}

static int parse_referrals(struct cfg_ctx *c, struct json_object *obj,
			   struct cfg_port *p, unsigned pi)
{
	struct json_object *arr;
	size_t n, i, mark;
	int ret = 0;

	if (opt_array(c, obj, "referrals", &arr, &n))
		return -EINVAL;
	if (!n)
		return 0;
	p->referrals = calloc(n, sizeof(*p->referrals));
	if (!p->referrals)
		return no_memory(c);
	p->nr_referrals = (unsigned)n;
	mark = path_key(c, "referrals");
	for (i = 0; i < n && !ret; i++) {
		size_t m = path_index(c, i);

		ret = parse_referral(c, json_object_array_get_idx(arr, i), p, pi, (unsigned)i);
		path_pop(c, m);
	}
	path_pop(c, mark);
	return ret;
}

static int parse_port_subsystems(struct cfg_ctx *c, struct json_object *obj,
				 struct cfg_port *p, unsigned pi)
{
	struct json_object *arr;
	size_t n, i, mark;
	int ret = 0;

	if (opt_array(c, obj, "subsystems", &arr, &n))
		return -EINVAL;
	if (!n)
		return 0;
	p->subsystems = calloc(n, sizeof(*p->subsystems));
	if (!p->subsystems)
		return no_memory(c);
	p->nr_subsystems = (unsigned)n;
	mark = path_key(c, "subsystems");
	for (i = 0; i < n && !ret; i++) {
		size_t m = path_index(c, i);
		const char *nqn;
		unsigned j;

		ret = read_string(c, json_object_array_get_idx(arr, i), &nqn);
		if (!ret && !config_find_subsystem(c->cfg, nqn))
			ret = fail(c, "no subsystem \"%.*s\" in this file", 64, nqn);
		for (j = 0; !ret && j < i; j++) {
			if (!strcmp(p->subsystems[j], nqn))
				ret = fail(c, "duplicate subsystem NQN (also ports[%u].subsystems[%u])",
					   pi, j);
		}
		if (!ret)
			snprintf(p->subsystems[i], CFG_NQN_SIZE, "%s", nqn);
		path_pop(c, m);
	}
	path_pop(c, mark);
	return ret;
}

static void format_addr(const struct cfg_addr *a, char *buf, size_t len)
{
	snprintf(buf, len, a->adrfam == CFG_ADRFAM_IPV6 ? "%s [%s]:%s" : "%s %s:%s",
		 trtype_name(a->trtype), a->traddr, a->trsvcid);
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
			return fail_key(c, "addr", "duplicate listen address %s (also ports[%u])", sa, j);
		if (addr_is_any(a) || addr_is_any(b))
			return fail_key(c, "addr", "%s overlaps ports[%u] (%s): a wildcard address listens on every address",
					sa, j, sb);
	}
	return 0;
}

static int parse_port(struct cfg_ctx *c, struct json_object *obj, unsigned pi)
{
	static const char *const keys[] = {
		"portid", "addr", "param", "subsystems", "referrals", "ana_groups", NULL
	};
	struct cfg_port *p = &c->cfg->ports[pi];
	struct json_object *addr = member(obj, "addr"), *param;
	size_t mark;
	int64_t v;
	unsigned j;
	int ret;

	if (expect_object(c, obj) || check_keys(c, obj, keys))
		return -EINVAL;
	if (req_int(c, obj, "portid", 1, 65535, &v))
		return -EINVAL;
	p->portid = (uint16_t)v;
	for (j = 0; j < pi; j++) {
		if (c->cfg->ports[j].portid == p->portid)
			return fail_key(c, "portid", "duplicate portid %u (also ports[%u])", p->portid, j);
	}
	if (unset(addr))
		return fail_key(c, "addr", "missing (required)");
	mark = path_key(c, "addr");
	ret = parse_addr(c, addr, &p->addr, false, NULL);
	path_pop(c, mark);
	if (ret || check_port_addr(c, pi))
		return -EINVAL;
	p->inline_data_size = CFG_INLINE_DEFAULT;
	if (opt_object(c, obj, "param", &param))
		return -EINVAL;
	if (param) {
		mark = path_key(c, "param");
		ret = parse_param(c, param, p);
		path_pop(c, mark);
		if (ret)
			return ret;
	}
	return parse_port_subsystems(c, obj, p, pi) ?: parse_referrals(c, obj, p, pi) ?:
	       parse_ana_groups(c, obj);
}

/* ---- top level ---- */

typedef int (*parse_elem_fn)(struct cfg_ctx *c, struct json_object *obj, unsigned i);

/* root.key: an array of n elements of size sz each, allocated into *items
 * and parsed one by one */
static int parse_list(struct cfg_ctx *c, struct json_object *root, const char *key,
		      void **items, unsigned *nr, size_t sz, parse_elem_fn fn)
{
	struct json_object *arr;
	size_t n, i, mark;
	int ret = 0;

	if (opt_array(c, root, key, &arr, &n))
		return -EINVAL;
	if (!n)
		return 0;
	*items = calloc(n, sz);
	if (!*items)
		return no_memory(c);
	mark = path_key(c, key);
	for (i = 0; i < n && !ret; i++) {
		size_t m = path_index(c, i);

		/* counted as it is parsed: later checks look only backwards */
		*nr = (unsigned)i + 1;
		ret = fn(c, json_object_array_get_idx(arr, i), (unsigned)i);
		path_pop(c, m);
	}
	path_pop(c, mark);
	return ret;
}

static int parse_root(struct cfg_ctx *c, struct json_object *root)
{
	static const char *const keys[] = {
		"hosts", "ports", "subsystems", "discovery", "bridge", NULL
	};
	struct config *cfg = c->cfg;
	struct json_object *bridge, *disc;

	if (expect_object(c, root) || check_keys(c, root, keys))
		return -EINVAL;
	cfg->bridge.discovery_port = CFG_DISCOVERY_PORT_DEFAULT;
	cfg->bridge.reactors = 1;
	memcpy(cfg->bridge.rpc_socket, CFG_RPC_SOCKET_DEFAULT, sizeof(CFG_RPC_SOCKET_DEFAULT));
	/* nvmetcli's root "discovery" group (discovery_nqn): ours is fixed */
	if (opt_object(c, root, "discovery", &disc) || opt_object(c, root, "bridge", &bridge))
		return -EINVAL;
	if (bridge) {
		size_t mark = path_key(c, "bridge");
		int ret = parse_bridge(c, bridge);

		path_pop(c, mark);
		if (ret)
			return ret;
	}
	return parse_list(c, root, "hosts", (void **)&cfg->hosts, &cfg->nr_hosts,
			  sizeof(*cfg->hosts), parse_host) ?:
	       parse_list(c, root, "subsystems", (void **)&cfg->subsystems, &cfg->nr_subsystems,
			  sizeof(*cfg->subsystems), parse_subsystem) ?:
	       parse_list(c, root, "ports", (void **)&cfg->ports, &cfg->nr_ports,
			  sizeof(*cfg->ports), parse_port);
}

/* ---- JSON text ---- */

static void line_col(const char *text, size_t off, unsigned *line, unsigned *col)
{
	size_t i;

	*line = 1;
	*col = 1;
	for (i = 0; i < off; i++) {
		if (text[i] == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

static bool only_space(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
			return false;
	}
	return true;
}

static int syntax_error(struct cfg_ctx *c, const char *text, size_t off, const char *what)
{
	unsigned line, col;

	line_col(text, off, &line, &col);
	return fail_file(c, -EINVAL, "line %u column %u: invalid JSON: %s", line, col, what);
}

/* json-c's strict mode still takes 'single-quoted' member names; JSON does
 * not, and nvmetcli's Python reader would refuse the file. Returns the
 * offset of the first ' outside a string, or len. */
static size_t stray_single_quote(const char *text, size_t len)
{
	bool in_string = false;
	size_t i;

	for (i = 0; i < len; i++) {
		if (in_string && text[i] == '\\')
			i++;
		else if (text[i] == '"')
			in_string = !in_string;
		else if (!in_string && text[i] == '\'')
			return i;
	}
	return len;
}

static int dup_key_error(struct cfg_ctx *c, const char *text, size_t len)
{
	unsigned line, col;
	size_t off;
	int ret = cfg_json_find_dup_key(text, len, c->path, sizeof(c->path), &off);

	if (ret <= 0) {
		c->path[0] = '\0';
		return ret == 0 ? 0 : no_memory(c);
	}
	c->plen = strlen(c->path);
	line_col(text, off, &line, &col);
	return fail(c, "duplicate key (line %u column %u); JSON readers would keep only the last one",
		    line, col);
}

/* Strict JSON (no comments, no trailing commas, one value) into *root */
static int parse_json(struct cfg_ctx *c, const char *text, size_t len,
		      struct json_object **root)
{
	struct json_tokener *tok;
	enum json_tokener_error jerr;
	const char *nul;
	size_t end;
	int ret;

	*root = NULL;
	if (only_space(text, len))
		return fail_file(c, -EINVAL, "empty file (expected a JSON object)");
	nul = memchr(text, '\0', len);
	if (nul)
		return syntax_error(c, text, (size_t)(nul - text), "NUL byte");
	if (len > INT32_MAX)
		return fail_file(c, -EFBIG, "too large");
	tok = json_tokener_new();
	if (!tok)
		return no_memory(c);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	*root = json_tokener_parse_ex(tok, text, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (jerr == json_tokener_continue)
		ret = syntax_error(c, text, len, "unexpected end of file");
	else if (jerr != json_tokener_success)
		ret = syntax_error(c, text, end, json_tokener_error_desc(jerr));
	else if (!only_space(text + end, len - end))
		ret = syntax_error(c, text, end, "unexpected text after the JSON value");
	else if ((end = stray_single_quote(text, len)) < len)
		ret = syntax_error(c, text, end, "single quotes are not JSON (use double quotes)");
	else
		ret = dup_key_error(c, text, len);
	if (ret) {
		json_object_put(*root);
		*root = NULL;
	}
	return ret;
}

static int parse_text(const char *text, size_t len, const char *name,
		      struct config **out, char *err, size_t errlen)
{
	struct cfg_ctx c = { .file = name ? name : "(config)", .err = err, .errlen = errlen };
	struct json_object *root = NULL;
	int ret;

	if (err && errlen)
		err[0] = '\0';
	if (!out)
		return -EINVAL;
	*out = NULL;
	/* editors on some systems start files with a UTF-8 byte order mark */
	if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3)) {
		text += 3;
		len -= 3;
	}
	ret = parse_json(&c, text, len, &root);
	if (ret)
		return ret;
	c.cfg = calloc(1, sizeof(*c.cfg));
	if (c.cfg)
		c.cfg->file = strdup(c.file);
	if (!c.cfg || !c.cfg->file) {
		free(c.cfg);
		json_object_put(root);
		return no_memory(&c);
	}
	ret = parse_root(&c, root);
	json_object_put(root);
	if (ret) {
		config_free(c.cfg);
		return ret;
	}
	*out = c.cfg;
	return 0;
}

int config_parse(const char *json, const char *name, struct config **out,
		 char *err, size_t errlen)
{
	if (!json) {
		if (out)
			*out = NULL;
		return -EINVAL;
	}
	return parse_text(json, strlen(json), name, out, err, errlen);
}

/* The whole file into a NUL-terminated buffer, at most CFG_MAX_FILE_SIZE */
static int read_file(struct cfg_ctx *c, const char *path, char **out, size_t *outlen)
{
	size_t len = 0, cap = 64 << 10;
	char *buf = NULL, *nbuf;
	struct stat st;
	ssize_t n;
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return fail_file(c, -errno, "cannot open: %s", strerror(errno));
	if (fstat(fd, &st)) {
		ret = fail_file(c, -errno, "cannot stat: %s", strerror(errno));
		goto close_fd;
	}
	if (S_ISDIR(st.st_mode)) {
		ret = fail_file(c, -EISDIR, "is a directory, not a configuration file");
		goto close_fd;
	}
	if (S_ISREG(st.st_mode) && st.st_size > (off_t)CFG_MAX_FILE_SIZE)
		goto too_big;
	for (;;) {
		if (len + 1 >= cap || !buf) {
			cap = buf ? cap * 2 : cap;
			nbuf = realloc(buf, cap);
			if (!nbuf) {
				ret = no_memory(c);
				goto free_buf;
			}
			buf = nbuf;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = fail_file(c, -errno, "cannot read: %s", strerror(errno));
			goto free_buf;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > CFG_MAX_FILE_SIZE)
			goto too_big;
	}
	buf[len] = '\0';
	close(fd);
	*out = buf;
	*outlen = len;
	return 0;

too_big:
	ret = fail_file(c, -EFBIG, "larger than the %u MiB limit for a configuration file",
			CFG_MAX_FILE_SIZE >> 20);
free_buf:
	free(buf);
close_fd:
	close(fd);
	return ret;
}

int config_load(const char *path, struct config **out, char *err, size_t errlen)
{
	struct cfg_ctx c = { .file = path, .err = err, .errlen = errlen };
	char *buf = NULL;
	size_t len = 0;
	int ret;

	if (out)
		*out = NULL;
	if (!path || !out)
		return -EINVAL;
	ret = read_file(&c, path, &buf, &len);
	if (ret)
		return ret;
	ret = parse_text(buf, len, path, out, err, errlen);
	free(buf);
	return ret;
}

void config_free(struct config *cfg)
{
	unsigned i;

	if (!cfg)
		return;
	for (i = 0; i < cfg->nr_subsystems; i++) {
		free(cfg->subsystems[i].allowed_hosts);
		free(cfg->subsystems[i].namespaces);
	}
	for (i = 0; i < cfg->nr_ports; i++) {
		free(cfg->ports[i].subsystems);
		free(cfg->ports[i].referrals);
	}
	free(cfg->subsystems);
	free(cfg->ports);
	free(cfg->hosts);
	free(cfg->file);
	free(cfg);
}

const struct cfg_subsystem *config_find_subsystem(const struct config *cfg, const char *nqn)
{
	unsigned i;

	if (!cfg || !nqn)
		return NULL;
	for (i = 0; i < cfg->nr_subsystems; i++) {
		if (!strcmp(cfg->subsystems[i].nqn, nqn))
			return &cfg->subsystems[i];
	}
	return NULL;
}
