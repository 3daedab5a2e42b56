/* SPDX-License-Identifier: MIT */
/*
 * The configuration back to JSON, to a file, and compared.
 *
 * config_to_json() lays the text out as "nvmetcli save" does (Python's
 * json.dumps(sort_keys=True, indent=2) and a newline): keys sorted in every
 * object, two-space indentation, configfs attributes and addr fields as
 * strings ("1", "4420", "8192"), portid, nsid and enable as numbers. A file
 * we save and one nvmetcli saves for the same setup then differ only where
 * the two models differ, and diff shows exactly that. Our extensions follow
 * the same rules; they are written only where they say something: a
 * namespace's block_size when it is not 512, uuid and nguid when set, and
 * the bridge keys that differ from the defaults (no "bridge" at all when
 * none does), so a saved file keeps following the daemon's defaults.
 *
 * The text is produced by hand rather than through json-c: json-c's pretty
 * printer lays it out differently (an empty array takes two lines, for
 * one), and the layout is what a person diffing two saved files reads.
 *
 * config_equal() compares what config_to_json() writes, so two
 * configurations are equal exactly when their files would be identical.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "config/config_internal.h"

/* root > ports[] > port > referrals[] > referral > addr is the deepest */
#define JW_MAX_DEPTH 8
#define CFG_BLOCK_SIZE_DEFAULT 512

/* ---- a small JSON emitter ---- */

struct jw {
	char *buf;
	size_t len, cap;
	bool failed;                    /* out of memory: the text is dropped */
	unsigned depth;
	bool empty[JW_MAX_DEPTH + 1];   /* nothing written yet in this container */
	bool keyed;                     /* a key was written; its value follows */
};

static void jw_put(struct jw *w, const char *s, size_t n)
{
	if (w->failed)
		return;
	if (w->len + n + 1 > w->cap) {
		size_t cap = w->cap ? w->cap : 4096;
		char *b;

		while (w->len + n + 1 > cap)
			cap *= 2;
		b = realloc(w->buf, cap);
		if (!b) {
			w->failed = true;
			return;
		}
		w->buf = b;
		w->cap = cap;
	}
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = '\0';
}

static void jw_puts(struct jw *w, const char *s)
{
	jw_put(w, s, strlen(s));
}

static void jw_newline(struct jw *w, unsigned depth)
{
	unsigned i;

	jw_put(w, "\n", 1);
	for (i = 0; i < depth; i++)
		jw_put(w, "  ", 2);
}

/* Before a value or a key: the comma and the line break of its container,
 * unless it is the value of the key just written. */
static void jw_sep(struct jw *w)
{
	if (w->keyed) {
		w->keyed = false;
		return;
	}
	if (!w->depth)
		return;
	if (!w->empty[w->depth])
		jw_put(w, ",", 1);
	w->empty[w->depth] = false;
	jw_newline(w, w->depth);
}

/* A JSON string. Bytes from 0x80 up pass through unchanged: they came
 * from a JSON text (UTF-8) and go back into one as they were. */
static void jw_quote(struct jw *w, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const char *run = s;

	jw_put(w, "\"", 1);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		char esc[7] = "\\u00";

		if (ch >= 0x20 && ch != '"' && ch != '\\')
			continue;
		jw_put(w, run, (size_t)(s - run));
		run = s + 1;
		if (ch == '"' || ch == '\\') {
			esc[1] = (char)ch;
			jw_put(w, esc, 2);
		} else if (ch == '\n') {
			jw_put(w, "\\n", 2);
		} else if (ch == '\t') {
			jw_put(w, "\\t", 2);
		} else {
			esc[4] = hex[ch >> 4];
			esc[5] = hex[ch & 0xf];
			jw_put(w, esc, 6);
		}
	}
	jw_put(w, run, (size_t)(s - run));
	jw_put(w, "\"", 1);
}

static void jw_key(struct jw *w, const char *key)
{
	jw_sep(w);
	jw_quote(w, key);
	jw_put(w, ": ", 2);
	w->keyed = true;
}

static void jw_open(struct jw *w, const char *key, char bracket)
{
	if (key)
		jw_key(w, key);
	jw_sep(w);
	jw_put(w, &bracket, 1);
	if (w->depth == JW_MAX_DEPTH) {
		w->failed = true;       /* a bug in this file, not in the input */
		return;
	}
	w->empty[++w->depth] = true;
}

static void jw_close(struct jw *w, char bracket)
{
	if (!w->depth)
		return;
	if (!w->empty[w->depth])
		jw_newline(w, w->depth - 1);
	w->depth--;
	jw_put(w, &bracket, 1);
}

static void jw_str(struct jw *w, const char *key, const char *s)
{
	if (key)
		jw_key(w, key);
	jw_sep(w);
	jw_quote(w, s);
}

/* nvmetcli's attribute values: what configfs shows, a decimal string */
static void jw_strnum(struct jw *w, const char *key, unsigned long long v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%llu", v);
	jw_str(w, key, buf);
}

static void jw_num(struct jw *w, const char *key, unsigned long long v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%llu", v);
	jw_key(w, key);
	jw_sep(w);
	jw_puts(w, buf);
}

/* ---- values ---- */

static const char *adrfam_name(enum cfg_adrfam f)
{
	switch (f) {
	case CFG_ADRFAM_IPV4:
		return "ipv4";
	case CFG_ADRFAM_IPV6:
		return "ipv6";
	}
	return "";
}

static const char *treq_name(enum cfg_treq t)
{
	switch (t) {
	case CFG_TREQ_NOT_SPECIFIED:
		return "not specified";
	case CFG_TREQ_REQUIRED:
		return "required";
	case CFG_TREQ_NOT_REQUIRED:
		return "not required";
	}
	return "";
}

/*
 * A size parse_size() reads back to the same byte count: the largest
 * binary unit that divides it ("64MiB", "3GiB"), else the bare number of
 * bytes ("1536"). Never rounded: a namespace must not change size because
 * it was saved.
 */
static void format_size(uint64_t bytes, char *buf, size_t len)
{
	static const struct {
		const char *unit;
		unsigned shift;
	} units[] = {
		{ "TiB", 40 }, { "GiB", 30 }, { "MiB", 20 }, { "KiB", 10 },
	};
	size_t i;

	for (i = 0; bytes && i < sizeof(units) / sizeof(units[0]); i++) {
		if (!(bytes & ((1ull << units[i].shift) - 1))) {
			snprintf(buf, len, "%llu%s", (unsigned long long)(bytes >> units[i].shift),
				 units[i].unit);
			return;
		}
	}
	snprintf(buf, len, "%llu", (unsigned long long)bytes);
}

/* 8-4-4-4-12, lower case: how the kernel shows both a UUID and an NGUID */
static void format_uuid(const uint8_t id[16], char *buf, size_t len)
{
	snprintf(buf, len,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 id[0], id[1], id[2], id[3], id[4], id[5], id[6], id[7],
		 id[8], id[9], id[10], id[11], id[12], id[13], id[14], id[15]);
}

/* ---- the schema, keys in sorted order ---- */

static void write_addr(struct jw *w, const struct cfg_addr *a, const uint16_t *referral_portid)
{
	jw_open(w, "addr", '{');
	jw_str(w, "adrfam", adrfam_name(a->adrfam));
	if (referral_portid)
		jw_strnum(w, "portid", *referral_portid);
	jw_str(w, "traddr", a->traddr);
	jw_str(w, "treq", treq_name(a->treq));
	jw_str(w, "trsvcid", a->trsvcid);
	jw_str(w, "trtype", cfg_trtype_name(a->trtype));
	if (a->tls)
		jw_str(w, "tsas", "tls1.3");
	jw_close(w, '}');
}

static void write_port(struct jw *w, const struct cfg_port *p)
{
	unsigned i;

	jw_open(w, NULL, '{');
	write_addr(w, &p->addr, NULL);
	/* the groups that are not optimized, in group order */
	for (i = 1; i <= CFG_MAX_ANAGRPID && !p->ana_state[i]; i++)
		;
	if (i <= CFG_MAX_ANAGRPID) {
		jw_open(w, "ana_groups", '[');
		for (; i <= CFG_MAX_ANAGRPID; i++) {
			if (!p->ana_state[i])
				continue;
			jw_open(w, NULL, '{');
			jw_open(w, "ana", '{');
			jw_str(w, "state", cfg_ana_state_name(p->ana_state[i]));
			jw_close(w, '}');
			jw_num(w, "grpid", i);
			jw_close(w, '}');
		}
		jw_close(w, ']');
	}
	jw_open(w, "param", '{');
	jw_strnum(w, "inline_data_size", p->inline_data_size);
	jw_close(w, '}');
	jw_num(w, "portid", p->portid);
	jw_open(w, "referrals", '[');
	for (i = 0; i < p->nr_referrals; i++) {
		const struct cfg_referral *r = &p->referrals[i];

		jw_open(w, NULL, '{');
		write_addr(w, &r->addr, &r->portid);
		jw_num(w, "enable", r->enable);
		jw_str(w, "name", r->name);
		jw_close(w, '}');
	}
	jw_close(w, ']');
	jw_open(w, "subsystems", '[');
	for (i = 0; i < p->nr_subsystems; i++)
		jw_str(w, NULL, p->subsystems[i]);
	jw_close(w, ']');
	jw_close(w, '}');
}

static void write_device(struct jw *w, const struct cfg_namespace *ns)
{
	bool sized = ns->backend == CFG_BACKEND_FILE || ns->backend == CFG_BACKEND_MEM ||
		     ns->backend == CFG_BACKEND_NULL;
	char buf[40];

	jw_open(w, "device", '{');
	if (sized && ns->block_size != CFG_BLOCK_SIZE_DEFAULT)
		jw_num(w, "block_size", ns->block_size);
	if (ns->backend == CFG_BACKEND_MEM) {
		format_size(ns->mem_bytes, buf, sizeof(buf));
		jw_str(w, "mem", buf);
	}
	if (ns->has_nguid) {
		format_uuid(ns->nguid, buf, sizeof(buf));
		jw_str(w, "nguid", buf);
	}
	if (ns->backend == CFG_BACKEND_PCIE)
		jw_num(w, "nsid", ns->pcie_nsid);
	if (ns->backend == CFG_BACKEND_NULL) {
		format_size(ns->mem_bytes, buf, sizeof(buf));
		jw_str(w, "null", buf);
	}
	if (ns->backend == CFG_BACKEND_FILE)
		jw_str(w, "path", ns->path);
	if (ns->backend == CFG_BACKEND_PCIE)
		jw_str(w, "pcie", ns->pcie_bdf);
	if (ns->has_uuid) {
		format_uuid(ns->uuid, buf, sizeof(buf));
		jw_str(w, "uuid", buf);
	}
	jw_close(w, '}');
}

/* QoS limits, only those set (0 is unlimited); bandwidths as sizes */
static void write_limits(struct jw *w, const struct cfg_qos *q)
{
	char buf[40];

	if (q->read_bw) {
		format_size(q->read_bw, buf, sizeof(buf));
		jw_str(w, "read_bw", buf);
	}
	if (q->read_iops)
		jw_num(w, "read_iops", q->read_iops);
	if (q->write_bw) {
		format_size(q->write_bw, buf, sizeof(buf));
		jw_str(w, "write_bw", buf);
	}
	if (q->write_iops)
		jw_num(w, "write_iops", q->write_iops);
}

static void write_qos(struct jw *w, const struct cfg_qos *q)
{
	if (cfg_qos_unset(q))
		return;
	jw_open(w, "qos", '{');
	write_limits(w, q);
	jw_close(w, '}');
}

static void write_host_qos(struct jw *w, const struct cfg_namespace *ns)
{
	if (!ns->nr_host_qos)
		return;
	jw_open(w, "host_qos", '[');
	for (unsigned i = 0; i < ns->nr_host_qos; i++) {
		jw_open(w, NULL, '{');
		jw_str(w, "host", ns->host_qos[i].host);
		write_limits(w, &ns->host_qos[i].qos);
		jw_close(w, '}');
	}
	jw_close(w, ']');
}

static void write_subsystem(struct jw *w, const struct cfg_subsystem *s)
{
	unsigned i;

	jw_open(w, NULL, '{');
	jw_open(w, "allowed_hosts", '[');
	for (i = 0; i < s->nr_allowed_hosts; i++)
		jw_str(w, NULL, s->allowed_hosts[i]);
	jw_close(w, ']');
	jw_open(w, "attr", '{');
	jw_strnum(w, "allow_any_host", s->allow_any_host);
	jw_strnum(w, "cntlid_max", s->cntlid_max);
	jw_strnum(w, "cntlid_min", s->cntlid_min);
	jw_str(w, "model", s->model);
	/* empty: the daemon makes one up; "" would say the same, less clearly */
	if (s->serial[0])
		jw_str(w, "serial", s->serial);
	if (s->qid_max)
		jw_strnum(w, "qid_max", s->qid_max);
	if (s->version) {
		char v[16];

		snprintf(v, sizeof(v), s->version & 0xff ? "%u.%u.%u" : "%u.%u", s->version >> 16, (s->version >> 8) & 0xff,
			 s->version & 0xff);
		jw_str(w, "version", v);
	}
	if (s->firmware[0])
		jw_str(w, "firmware", s->firmware);
	if (s->has_ieee_oui) {
		char v[16];

		snprintf(v, sizeof(v), "0x%06x", s->ieee_oui);
		jw_str(w, "ieee_oui", v);
	}
	jw_close(w, '}');
	jw_open(w, "namespaces", '[');
	for (i = 0; i < s->nr_namespaces; i++) {
		const struct cfg_namespace *ns = &s->namespaces[i];

		jw_open(w, NULL, '{');
		if (ns->anagrpid != 1)
			jw_num(w, "ana_grpid", ns->anagrpid);
		write_device(w, ns);
		jw_num(w, "enable", ns->enable);
		write_host_qos(w, ns);
		jw_num(w, "nsid", ns->nsid);
		write_qos(w, &ns->qos);
		if (ns->no_resv) {
			jw_open(w, "resv", '{');
			jw_num(w, "enable", 0);
			jw_close(w, '}');
		}
		jw_close(w, '}');
	}
	jw_close(w, ']');
	jw_str(w, "nqn", s->nqn);
	if (s->require_auth)
		jw_num(w, "require_auth", 1);
	jw_close(w, '}');
}

static bool bridge_equal(const struct cfg_bridge *a, const struct cfg_bridge *b);

/* a bridge number, written only when it is not the default */
static void bridge_num(struct jw *w, const char *key, unsigned long long v, unsigned long long def)
{
	if (v != def)
		jw_num(w, key, v);
}

/* keys in sorted order, as everywhere */
static void write_bridge(struct jw *w, const struct cfg_bridge *b)
{
	struct cfg_bridge def;

	cfg_bridge_defaults(&def);
	if (bridge_equal(b, &def))
		return;
	jw_open(w, "bridge", '{');
	bridge_num(w, "connect_timeout_ms", b->connect_timeout_ms, CFG_CONNECT_TIMEOUT_MS_DEFAULT);
	bridge_num(w, "discovery_port", b->discovery_port, CFG_DISCOVERY_PORT_DEFAULT);
	bridge_num(w, "icreq_timeout_ms", b->icreq_timeout_ms, CFG_ICREQ_TIMEOUT_MS_DEFAULT);
	bridge_num(w, "max_connections_per_address", b->max_conns_per_addr, CFG_MAX_CONNS_PER_ADDR_DEFAULT);
	bridge_num(w, "max_connections_per_port", b->max_conns_per_port, CFG_MAX_CONNS_PER_PORT_DEFAULT);
	bridge_num(w, "max_controllers_per_host", b->max_ctrls_per_host, CFG_MAX_CTRLS_PER_HOST_DEFAULT);
	if (b->metrics.enabled) {
		char l[CFG_ADDR_SIZE + 16];

		snprintf(l, sizeof(l), strchr(b->metrics.addr, ':') ? "[%s]:%u" : "%s:%u", b->metrics.addr,
			 b->metrics.port);
		jw_open(w, "metrics", '{');
		jw_str(w, "listen", l);
		jw_close(w, '}');
	}
	bridge_num(w, "rdma_srq_size", b->rdma_srq_size, 0);
	bridge_num(w, "reactors", b->reactors, CFG_REACTORS_DEFAULT);
	if (b->rpc_group[0])
		jw_str(w, "rpc_group", b->rpc_group);
	if (b->nr_rpc_namespace_dirs) {
		jw_open(w, "rpc_namespace_dirs", '[');
		for (unsigned i = 0; i < b->nr_rpc_namespace_dirs; i++)
			jw_str(w, NULL, b->rpc_namespace_dirs[i]);
		jw_close(w, ']');
	}
	if (b->rpc_save_dir[0])
		jw_str(w, "rpc_save_dir", b->rpc_save_dir);
	if (strcmp(b->rpc_socket, CFG_RPC_SOCKET_DEFAULT))
		jw_str(w, "rpc_socket", b->rpc_socket);
	jw_close(w, '}');
}

char *config_to_json(const struct config *cfg)
{
	struct jw w = { 0 };
	unsigned i;

	if (!cfg)
		return NULL;
	jw_open(&w, NULL, '{');
	write_bridge(&w, &cfg->bridge);
	jw_open(&w, "hosts", '[');
	for (i = 0; i < cfg->nr_hosts; i++) {
		const struct cfg_dhchap *d = &cfg->hosts[i].dhchap;

		jw_open(&w, NULL, '{');
		if (d->key[0]) {        /* the four dhchap attributes, as nvmetcli saves them */
			jw_open(&w, "dhchap", '{');
			if (d->ctrl_key[0])
				jw_str(&w, "ctrl_key", d->ctrl_key);
			jw_str(&w, "dhgroup", dhchap_dhgroup_name(d->dhgroup));
			jw_str(&w, "hash", dhchap_hash_name(d->hash));
			jw_str(&w, "key", d->key);
			jw_close(&w, '}');
		}
		jw_str(&w, "nqn", cfg->hosts[i].nqn);
		write_qos(&w, &cfg->hosts[i].qos);
		if (cfg->hosts[i].tls_psk_str[0])
			jw_str(&w, "tls_psk", cfg->hosts[i].tls_psk_str);
		if (cfg->hosts[i].tls_kdf == TLS_PSK_KDF_SPEC)
			jw_str(&w, "tls_psk_derivation", "spec");
		jw_close(&w, '}');
	}
	jw_close(&w, ']');
	jw_open(&w, "ports", '[');
	for (i = 0; i < cfg->nr_ports; i++)
		write_port(&w, &cfg->ports[i]);
	jw_close(&w, ']');
	jw_open(&w, "subsystems", '[');
	for (i = 0; i < cfg->nr_subsystems; i++)
		write_subsystem(&w, &cfg->subsystems[i]);
	jw_close(&w, ']');
	jw_close(&w, '}');
	jw_put(&w, "\n", 1);
	if (w.failed) {
		free(w.buf);
		return NULL;
	}
	return w.buf;
}

/* ---- the file ---- */

static int __attribute__((format(printf, 5, 6)))
write_fail(char *err, size_t errlen, int ret, const char *path, const char *fmt, ...)
{
	va_list ap;
	char *p;
	int n;

	if (!err || !errlen)
		return ret;
	n = snprintf(err, errlen, "%s: ", path);
	if (n >= 0 && (size_t)n < errlen) {
		va_start(ap, fmt);
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	/* one line whatever the path holds */
	for (p = err; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	}
	return ret;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The text into the open temporary file tmp, on disk when this returns 0 */
static int fill_temp(int fd, const char *tmp, const char *text, const char *path,
		     char *err, size_t errlen)
{
	int ret;

	/* mkostemp() asks for 0600 but the umask applies; a file that holds
	 * the daemon's whole setup must end up exactly 0600 whatever it is */
	if (fchmod(fd, S_IRUSR | S_IWUSR))
		return write_fail(err, errlen, -errno, path, "cannot set the mode of %s: %s",
				  tmp, strerror(errno));
	ret = write_all(fd, text, strlen(text));
	if (ret)
		return write_fail(err, errlen, ret, path, "cannot write %s: %s",
				  tmp, strerror(-ret));
	/* before the rename: otherwise a crash can leave the new name
	 * pointing at a file whose blocks never reached the disk */
	if (fsync(fd))
		return write_fail(err, errlen, -errno, path, "cannot sync %s: %s",
				  tmp, strerror(errno));
	return 0;
}

/*
 * path itself is replaced, so a symbolic link there becomes a regular
 * file, as with nvmetcli: following the link would put the file in
 * another directory than the one whose fsync makes the rename durable.
 */
int config_write_file(const struct config *cfg, const char *path, char *err, size_t errlen)
{
	const char *base, *slash;
	char *text = NULL, *tmp = NULL, *dir = NULL;
	int fd, dfd, ret = 0;
	size_t dirlen;

	if (err && errlen)
		err[0] = '\0';
	if (!path || !path[0])
		return write_fail(err, errlen, -EINVAL, "(config)", "no file name to write to");
	if (!cfg)
		return write_fail(err, errlen, -EINVAL, path, "no configuration to write");
	slash = strrchr(path, '/');
	base = slash ? slash + 1 : path;
	if (!base[0] || !strcmp(base, ".") || !strcmp(base, ".."))
		return write_fail(err, errlen, -EISDIR, path, "names a directory, not a file");
	/* "/x" lives in "/", "x" in "." */
	dirlen = slash ? (size_t)(slash - path) : 0;
	text = config_to_json(cfg);
	dir = slash ? strndup(path, dirlen ? dirlen : 1) : strdup(".");
	/* ".NAME.XXXXXX" beside it: hidden from globs like *.json, and a
	 * leftover after a crash says which file it was meant to become */
	if (text && dir && asprintf(&tmp, "%.*s.%s.XXXXXX", (int)(base - path), path, base) < 0)
		tmp = NULL;
	if (!text || !dir || !tmp) {
		ret = write_fail(err, errlen, -ENOMEM, path, "out of memory");
		goto out;
	}
	/* config_load() would refuse it: better not to replace a good file */
	if (strlen(text) > CFG_MAX_FILE_SIZE) {
		ret = write_fail(err, errlen, -EFBIG, path,
				 "the configuration is %zu bytes, over the %u MiB a configuration file may have",
				 strlen(text), CFG_MAX_FILE_SIZE >> 20);
		goto out;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		ret = write_fail(err, errlen, -errno, path,
				 "cannot create a temporary file in %s: %s", dir, strerror(errno));
		goto out;
	}
	ret = fill_temp(fd, tmp, text, path, err, errlen);
	if (close(fd) && !ret)
		ret = write_fail(err, errlen, -errno, path, "cannot close %s: %s",
				 tmp, strerror(errno));
	if (!ret && rename(tmp, path))
		ret = write_fail(err, errlen, -errno, path, "cannot rename %s over it: %s",
				 tmp, strerror(errno));
	if (ret) {
		unlink(tmp);
		goto out;
	}
	/* the rename is an entry in the directory: durable once that is */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd))
		ret = write_fail(err, errlen, -errno, path,
				 "written, but syncing the directory %s failed: %s",
				 dir, strerror(errno));
	if (dfd >= 0)
		close(dfd);
out:
	free(tmp);
	free(dir);
	free(text);
	return ret;
}

/* ---- equality: what config_to_json() would write ---- */

static bool addr_equal(const struct cfg_addr *a, const struct cfg_addr *b)
{
	return a->trtype == b->trtype && a->adrfam == b->adrfam &&
	       !strcmp(a->traddr, b->traddr) && !strcmp(a->trsvcid, b->trsvcid) &&
	       a->treq == b->treq && a->tls == b->tls;
}

static bool qos_equal(const struct cfg_qos *a, const struct cfg_qos *b)
{
	return a->read_iops == b->read_iops && a->write_iops == b->write_iops && a->read_bw == b->read_bw &&
	       a->write_bw == b->write_bw;
}

static bool host_qos_equal(const struct cfg_namespace *a, const struct cfg_namespace *b)
{
	if (a->nr_host_qos != b->nr_host_qos)
		return false;
	for (unsigned i = 0; i < a->nr_host_qos; i++)
		if (strcmp(a->host_qos[i].host, b->host_qos[i].host) || !qos_equal(&a->host_qos[i].qos, &b->host_qos[i].qos))
			return false;
	return true;
}

/* Only the fields of the namespace's backend, and an ID only when it is
 * set: the rest is not part of the configuration, whatever it holds. */
static bool ns_equal(const struct cfg_namespace *a, const struct cfg_namespace *b)
{
	if (!qos_equal(&a->qos, &b->qos) || !host_qos_equal(a, b))
		return false;
	if (a->nsid != b->nsid || a->enable != b->enable || a->backend != b->backend || a->anagrpid != b->anagrpid ||
	    a->no_resv != b->no_resv ||
	    a->has_uuid != b->has_uuid || a->has_nguid != b->has_nguid ||
	    (a->has_uuid && memcmp(a->uuid, b->uuid, sizeof(a->uuid))) ||
	    (a->has_nguid && memcmp(a->nguid, b->nguid, sizeof(a->nguid))))
		return false;
	switch (a->backend) {
	case CFG_BACKEND_PCIE:
		return !strcmp(a->pcie_bdf, b->pcie_bdf) && a->pcie_nsid == b->pcie_nsid;
	case CFG_BACKEND_FILE:
		return !strcmp(a->path, b->path) && a->block_size == b->block_size;
	case CFG_BACKEND_MEM:
	case CFG_BACKEND_NULL:
		return a->mem_bytes == b->mem_bytes && a->block_size == b->block_size;
	}
	return true;    /* no backend: nothing more is written */
}

static bool subsystem_equal(const struct cfg_subsystem *a, const struct cfg_subsystem *b)
{
	unsigned i;

	if (strcmp(a->nqn, b->nqn) || a->allow_any_host != b->allow_any_host ||
	    strcmp(a->serial, b->serial) || strcmp(a->model, b->model) ||
	    a->cntlid_min != b->cntlid_min || a->cntlid_max != b->cntlid_max || a->require_auth != b->require_auth ||
	    a->qid_max != b->qid_max || a->version != b->version || strcmp(a->firmware, b->firmware) ||
	    a->has_ieee_oui != b->has_ieee_oui || a->ieee_oui != b->ieee_oui ||
	    a->nr_allowed_hosts != b->nr_allowed_hosts || a->nr_namespaces != b->nr_namespaces)
		return false;
	for (i = 0; i < a->nr_allowed_hosts; i++) {
		if (strcmp(a->allowed_hosts[i], b->allowed_hosts[i]))
			return false;
	}
	for (i = 0; i < a->nr_namespaces; i++) {
		if (!ns_equal(&a->namespaces[i], &b->namespaces[i]))
			return false;
	}
	return true;
}

static bool referral_equal(const struct cfg_referral *a, const struct cfg_referral *b)
{
	return !strcmp(a->name, b->name) && a->enable == b->enable &&
	       a->portid == b->portid && addr_equal(&a->addr, &b->addr);
}

static bool port_equal(const struct cfg_port *a, const struct cfg_port *b)
{
	unsigned i;

	if (a->portid != b->portid || !addr_equal(&a->addr, &b->addr) ||
	    a->inline_data_size != b->inline_data_size || memcmp(a->ana_state, b->ana_state, sizeof(a->ana_state)) ||
	    a->nr_subsystems != b->nr_subsystems || a->nr_referrals != b->nr_referrals)
		return false;
	for (i = 0; i < a->nr_subsystems; i++) {
		if (strcmp(a->subsystems[i], b->subsystems[i]))
			return false;
	}
	for (i = 0; i < a->nr_referrals; i++) {
		if (!referral_equal(&a->referrals[i], &b->referrals[i]))
			return false;
	}
	return true;
}

static bool dirs_equal(const struct cfg_bridge *a, const struct cfg_bridge *b)
{
	unsigned i;

	if (a->nr_rpc_namespace_dirs != b->nr_rpc_namespace_dirs)
		return false;
	for (i = 0; i < a->nr_rpc_namespace_dirs; i++) {
		if (strcmp(a->rpc_namespace_dirs[i], b->rpc_namespace_dirs[i]))
			return false;
	}
	return !strcmp(a->rpc_save_dir, b->rpc_save_dir);
}

static bool bridge_equal(const struct cfg_bridge *a, const struct cfg_bridge *b)
{
	return a->discovery_port == b->discovery_port && a->reactors == b->reactors &&
	       a->rdma_srq_size == b->rdma_srq_size &&
	       !strcmp(a->rpc_socket, b->rpc_socket) && !strcmp(a->rpc_group, b->rpc_group) &&
	       a->icreq_timeout_ms == b->icreq_timeout_ms && a->connect_timeout_ms == b->connect_timeout_ms &&
	       a->max_conns_per_port == b->max_conns_per_port && a->max_conns_per_addr == b->max_conns_per_addr &&
	       a->max_ctrls_per_host == b->max_ctrls_per_host && dirs_equal(a, b) &&
	       a->metrics.enabled == b->metrics.enabled &&
	       (!a->metrics.enabled || (!strcmp(a->metrics.addr, b->metrics.addr) && a->metrics.port == b->metrics.port));
}

/* Order counts everywhere: it is written, and it is the order in which
 * listeners start and discovery log entries appear. */
bool config_equal(const struct config *a, const struct config *b)
{
	unsigned i;

	if (a == b)
		return true;
	if (!a || !b || a->nr_hosts != b->nr_hosts || a->nr_ports != b->nr_ports ||
	    a->nr_subsystems != b->nr_subsystems || !bridge_equal(&a->bridge, &b->bridge))
		return false;
	for (i = 0; i < a->nr_hosts; i++) {
		const struct cfg_dhchap *x = &a->hosts[i].dhchap, *y = &b->hosts[i].dhchap;

		if (strcmp(a->hosts[i].nqn, b->hosts[i].nqn) || strcmp(x->key, y->key) ||
		    strcmp(a->hosts[i].tls_psk_str, b->hosts[i].tls_psk_str) || a->hosts[i].tls_kdf != b->hosts[i].tls_kdf ||
		    strcmp(x->ctrl_key, y->ctrl_key) || (x->key[0] && (x->hash != y->hash || x->dhgroup != y->dhgroup)) ||
		    !qos_equal(&a->hosts[i].qos, &b->hosts[i].qos))
			return false;
	}
	for (i = 0; i < a->nr_subsystems; i++) {
		if (!subsystem_equal(&a->subsystems[i], &b->subsystems[i]))
			return false;
	}
	for (i = 0; i < a->nr_ports; i++) {
		if (!port_equal(&a->ports[i], &b->ports[i]))
			return false;
	}
	return true;
}
