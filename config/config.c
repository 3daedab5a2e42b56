/* SPDX-License-Identifier: MIT */
/*
 * The configuration file: nvmetcli's JSON schema, read with json-c into the
 * plain C model of config.h. This file holds the API, the file and JSON
 * text checks, and the top level; subsystems.c and ports.c walk the rest
 * with the readers of reader.c (see json_reader.h).
 *
 * Members are looked up by name in a fixed order (bridge, hosts,
 * subsystems, ports; within an object, in the order of the schema), so the
 * error reported first does not depend on how the file orders its keys.
 * Unknown keys are refused: a misspelt key must never quietly become a
 * default. nvmetcli writes every configfs attribute, including ones we
 * cannot honour; those are accepted when they hold the value that means
 * "off" and refused, with the reason, otherwise.
 *
 * Every error is one line, "FILE: OBJECT.PATH: problem".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "config/config_internal.h"
#include "config/json_reader.h"


/* ---- bridge ---- */

void cfg_bridge_defaults(struct cfg_bridge *b)
{
	*b = (struct cfg_bridge){
		.discovery_port = CFG_DISCOVERY_PORT_DEFAULT,
		.reactors = CFG_REACTORS_DEFAULT,
		.rpc_socket = CFG_RPC_SOCKET_DEFAULT,
		.icreq_timeout_ms = CFG_ICREQ_TIMEOUT_MS_DEFAULT,
		.connect_timeout_ms = CFG_CONNECT_TIMEOUT_MS_DEFAULT,
		.max_conns_per_port = CFG_MAX_CONNS_PER_PORT_DEFAULT,
		.max_conns_per_addr = CFG_MAX_CONNS_PER_ADDR_DEFAULT,
		.max_ctrls_per_host = CFG_MAX_CTRLS_PER_HOST_DEFAULT,
	};
}

/*
 * A group name from POSIX's portable set (letters, digits, '.', '_', '-'),
 * not starting with '-', which would read as an option to the tools it is
 * handed to. Whether the group exists is left to the daemon when it
 * creates the socket: a file then reads the same on every machine, and
 * the group may be created after the file is written.
 */
static int parse_rpc_group(struct cfg_ctx *c, struct json_object *obj, struct cfg_bridge *b)
{
	const char *g;
	size_t i, len;

	if (cfg_opt_str(c, obj, "rpc_group", &g))
		return -EINVAL;
	if (!g)
		return 0;
	len = strlen(g);
	if (len >= sizeof(b->rpc_group))
		return cfg_fail_key(c, "rpc_group", "%zu characters; a group name has at most %zu",
				    len, sizeof(b->rpc_group) - 1);
	if (g[0] == '-')
		return cfg_fail_key(c, "rpc_group", "\"%s\" starts with '-'; a group name must not", g);
	for (i = 0; i < len; i++) {
		char ch = g[i];

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-')
			continue;
		return cfg_fail_key(c, "rpc_group",
				    "\"%s\" is not a group name (letters, digits, '_', '.' and '-' only)", g);
	}
	memcpy(b->rpc_group, g, len + 1);
	return 0;
}

/*
 * A directory for rpc_namespace_dirs / rpc_save_dir, at the current path:
 * absolute, shorter than CFG_DIR_SIZE, normalised (no "//", "/./", "/../",
 * no trailing slash), since the daemon compares it with resolved paths as
 * a string; and not "/" itself, which would allow every file.
 */
static int check_dir(struct cfg_ctx *c, const char *d, char *out)
{
	size_t len = strlen(d);

	if (d[0] != '/')
		return cfg_fail(c, "\"%s\" is not an absolute path", d);
	if (len >= CFG_DIR_SIZE)
		return cfg_fail(c, "%zu characters; at most %d", len, CFG_DIR_SIZE - 1);
	if (!strcmp(d, "/"))
		return cfg_fail(c, "\"/\" would allow every file; name a directory kept for this purpose");
	if (d[len - 1] == '/' || strstr(d, "//") || strstr(d, "/./") || strstr(d, "/../") ||
	    (len >= 2 && !strcmp(d + len - 2, "/.")) || (len >= 3 && !strcmp(d + len - 3, "/..")))
		return cfg_fail(c, "\"%s\" is not a normalised path (no \"//\", \".\", \"..\" or trailing '/')", d);
	memcpy(out, d, len + 1);
	return 0;
}

/* rpc_namespace_dirs[i]: a directory, listed once */
static int parse_ns_dir(struct cfg_ctx *c, struct json_object *v, unsigned i, void *arg)
{
	struct cfg_bridge *b = arg;
	const char *d;
	unsigned j;

	if (cfg_read_string(c, v, &d) || check_dir(c, d, b->rpc_namespace_dirs[i]))
		return -EINVAL;
	for (j = 0; j < i; j++) {
		if (!strcmp(b->rpc_namespace_dirs[j], d))
			return cfg_fail(c, "duplicate directory (also bridge.rpc_namespace_dirs[%u])", j);
	}
	return 0;
}

static int parse_rpc_dirs(struct cfg_ctx *c, struct json_object *obj, struct cfg_bridge *b)
{
	const char *d;
	unsigned n = 0;
	size_t mark;
	int ret;

	ret = cfg_parse_array(c, obj, "rpc_namespace_dirs", CFG_MAX_DIRS, "directories", 0, NULL, &n,
			      parse_ns_dir, b);
	if (ret)
		return ret;
	b->nr_rpc_namespace_dirs = n;
	if (cfg_opt_str(c, obj, "rpc_save_dir", &d))
		return -EINVAL;
	if (!d)
		return 0;
	mark = cfg_path_key(c, "rpc_save_dir");
	ret = check_dir(c, d, b->rpc_save_dir);
	cfg_path_pop(c, mark);
	return ret;
}

static int parse_limits(struct cfg_ctx *c, struct json_object *obj, struct cfg_bridge *b)
{
	int64_t v;

	if (cfg_opt_int(c, obj, "icreq_timeout_ms", 100, 600000, CFG_ICREQ_TIMEOUT_MS_DEFAULT, &v))
		return -EINVAL;
	b->icreq_timeout_ms = (uint32_t)v;
	if (cfg_opt_int(c, obj, "connect_timeout_ms", 100, 600000, CFG_CONNECT_TIMEOUT_MS_DEFAULT, &v))
		return -EINVAL;
	b->connect_timeout_ms = (uint32_t)v;
	if (cfg_opt_int(c, obj, "max_connections_per_port", 1, 1000000, CFG_MAX_CONNS_PER_PORT_DEFAULT, &v))
		return -EINVAL;
	b->max_conns_per_port = (uint32_t)v;
	if (cfg_opt_int(c, obj, "max_connections_per_address", 1, 1000000, CFG_MAX_CONNS_PER_ADDR_DEFAULT, &v))
		return -EINVAL;
	b->max_conns_per_addr = (uint32_t)v;
	if (cfg_opt_int(c, obj, "max_controllers_per_host", 1, 65535, CFG_MAX_CTRLS_PER_HOST_DEFAULT, &v))
		return -EINVAL;
	b->max_ctrls_per_host = (uint32_t)v;
	return 0;
}

/* "metrics": {"listen": "127.0.0.1:10420" | "[::1]:10420" | "0.0.0.0"} */
static int parse_metrics(struct cfg_ctx *c, struct json_object *obj, struct cfg_bridge *b)
{
	static const char *const keys[] = { "listen", NULL };
	struct cfg_metrics *m = &b->metrics;
	struct json_object *mo;
	const char *listen, *colon, *host;
	char buf[CFG_ADDR_SIZE + 8], bin[16];
	size_t mark, hlen;
	int ret = 0;

	if (cfg_opt_object(c, obj, "metrics", &mo))
		return -EINVAL;
	if (!mo)
		return 0;
	mark = cfg_path_key(c, "metrics");
	if (cfg_check_keys(c, mo, keys) || cfg_req_str(c, mo, "listen", &listen)) {
		cfg_path_pop(c, mark);
		return -EINVAL;
	}
	m->port = CFG_METRICS_PORT_DEFAULT;
	if (strlen(listen) >= sizeof(buf)) {
		ret = cfg_fail_key(c, "listen", "longer than %zu bytes", sizeof(buf) - 1);
		goto out;
	}
	memcpy(buf, listen, strlen(listen) + 1);
	host = buf;
	if (buf[0] == '[') {                    /* [IPv6]:port */
		char *end = strchr(buf, ']');

		if (!end || (end[1] && end[1] != ':')) {
			ret = cfg_fail_key(c, "listen", "\"%s\": expected [IPv6]:PORT", listen);
			goto out;
		}
		*end = 0;
		host = buf + 1;
		colon = end[1] ? end + 1 : NULL;
	} else {
		colon = strrchr(buf, ':');
		if (colon && strchr(buf, ':') != colon)
			colon = NULL;           /* a bare IPv6 address */
	}
	if (colon) {
		char *e;
		unsigned long p = strtoul(colon + 1, &e, 10);

		if (!colon[1] || *e || p < 1 || p > 65535) {
			ret = cfg_fail_key(c, "listen", "\"%s\": the port must be 1..65535", listen);
			goto out;
		}
		m->port = (uint16_t)p;
		if (host == buf)
			buf[colon - buf] = 0;
	}
	hlen = strlen(host);
	if (hlen >= sizeof(m->addr) || (inet_pton(AF_INET, host, bin) != 1 && inet_pton(AF_INET6, host, bin) != 1)) {
		ret = cfg_fail_key(c, "listen", "\"%s\": expected a numeric IPv4 or IPv6 address, and :PORT "
				   "(default %d)", listen, CFG_METRICS_PORT_DEFAULT);
		goto out;
	}
	memcpy(m->addr, host, hlen + 1);
	m->enabled = true;
out:
	cfg_path_pop(c, mark);
	return ret;
}

static int parse_bridge(struct cfg_ctx *c, struct json_object *obj)
{
	static const char *const keys[] = {
		"discovery_port", "reactors", "rdma_srq_size", "rpc_socket", "rpc_group",
		"icreq_timeout_ms", "connect_timeout_ms", "max_connections_per_port",
		"max_connections_per_address", "max_controllers_per_host",
		"rpc_namespace_dirs", "rpc_save_dir", "metrics", NULL
	};
	struct cfg_bridge *b = &c->cfg->bridge;
	const char *sock;
	int64_t v;

	if (cfg_expect_object(c, obj) || cfg_check_keys(c, obj, keys))
		return -EINVAL;
	if (cfg_opt_int(c, obj, "discovery_port", 0, 65535, CFG_DISCOVERY_PORT_DEFAULT, &v))
		return -EINVAL;
	b->discovery_port = (uint16_t)v;
	if (cfg_opt_int(c, obj, "reactors", 1, CFG_REACTORS_MAX, CFG_REACTORS_DEFAULT, &v))
		return -EINVAL;
	b->reactors = (unsigned)v;
	if (cfg_opt_int(c, obj, "rdma_srq_size", 0, CFG_RDMA_SRQ_SIZE_MAX, 0, &v))
		return -EINVAL;
	if (v && v < CFG_RDMA_SRQ_SIZE_MIN)
		return cfg_fail_key(c, "rdma_srq_size", "%lld receive buffers; 0 (automatic) or %u to %u",
				    (long long)v, CFG_RDMA_SRQ_SIZE_MIN, CFG_RDMA_SRQ_SIZE_MAX);
	b->rdma_srq_size = (uint32_t)v;
	if (cfg_opt_str(c, obj, "rpc_socket", &sock))
		return -EINVAL;
	if (sock) {
		if (strlen(sock) >= sizeof(b->rpc_socket))
			return cfg_fail_key(c, "rpc_socket",
					    "%zu bytes; a unix socket path must be shorter than %zu",
					    strlen(sock), sizeof(b->rpc_socket));
		memcpy(b->rpc_socket, sock, strlen(sock) + 1);
	}
	return parse_rpc_group(c, obj, b) ?: parse_limits(c, obj, b) ?: parse_rpc_dirs(c, obj, b) ?:
	       parse_metrics(c, obj, b);
}

/* ---- top level ---- */

static int parse_root(struct cfg_ctx *c, struct json_object *root)
{
	static const char *const keys[] = {
		"hosts", "ports", "subsystems", "discovery", "bridge", NULL
	};
	struct config *cfg = c->cfg;
	struct json_object *bridge, *disc;

	if (cfg_expect_object(c, root) || cfg_check_keys(c, root, keys))
		return -EINVAL;
	/* a file without a bridge object still gets every limit */
	cfg_bridge_defaults(&cfg->bridge);
	/* nvmetcli's root "discovery" group (discovery_nqn): ours is fixed */
	if (cfg_opt_object(c, root, "discovery", &disc) || cfg_opt_object(c, root, "bridge", &bridge))
		return -EINVAL;
	if (bridge) {
		size_t mark = cfg_path_key(c, "bridge");
		int ret = parse_bridge(c, bridge);

		cfg_path_pop(c, mark);
		if (ret)
			return ret;
	}
	/* ports name subsystems, so they come last */
	return cfg_parse_array(c, root, "hosts", 0, NULL, sizeof(*cfg->hosts), &cfg->hosts, &cfg->nr_hosts,
			       cfg_parse_host, NULL) ?:
	       cfg_parse_array(c, root, "subsystems", 0, NULL, sizeof(*cfg->subsystems), &cfg->subsystems,
			       &cfg->nr_subsystems, cfg_parse_subsystem, NULL) ?:
	       cfg_parse_array(c, root, "ports", 0, NULL, sizeof(*cfg->ports), &cfg->ports, &cfg->nr_ports,
			       cfg_parse_port, NULL);
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
	return cfg_fail_file(c, -EINVAL, "line %u column %u: invalid JSON: %s", line, col, what);
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
		return ret == 0 ? 0 : cfg_no_memory(c);
	}
	c->plen = strlen(c->path);
	line_col(text, off, &line, &col);
	return cfg_fail(c, "duplicate key (line %u column %u); JSON readers would keep only the last one",
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
		return cfg_fail_file(c, -EINVAL, "empty file (expected a JSON object)");
	nul = memchr(text, '\0', len);
	if (nul)
		return syntax_error(c, text, (size_t)(nul - text), "NUL byte");
	if (len > INT32_MAX)
		return cfg_fail_file(c, -EFBIG, "too large");
	tok = json_tokener_new();
	if (!tok)
		return cfg_no_memory(c);
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
		return cfg_no_memory(&c);
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
	struct cfg_ctx c = { .file = name ? name : "(config)", .err = err, .errlen = errlen };

	if (!json) {
		if (out)
			*out = NULL;
		return cfg_fail_file(&c, -EINVAL, "no JSON text");
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
		return cfg_fail_file(c, -errno, "cannot open: %s", strerror(errno));
	if (fstat(fd, &st)) {
		ret = cfg_fail_file(c, -errno, "cannot stat: %s", strerror(errno));
		goto close_fd;
	}
	if (S_ISDIR(st.st_mode)) {
		ret = cfg_fail_file(c, -EISDIR, "is a directory, not a configuration file");
		goto close_fd;
	}
	if (S_ISREG(st.st_mode) && st.st_size > (off_t)CFG_MAX_FILE_SIZE)
		goto too_big;
	for (;;) {
		if (len + 1 >= cap || !buf) {
			cap = buf ? cap * 2 : cap;
			nbuf = realloc(buf, cap);
			if (!nbuf) {
				ret = cfg_no_memory(c);
				goto free_buf;
			}
			buf = nbuf;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = cfg_fail_file(c, -errno, "cannot read: %s", strerror(errno));
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
	ret = cfg_fail_file(c, -EFBIG, "larger than the %u MiB limit for a configuration file",
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
		for (unsigned j = 0; j < cfg->subsystems[i].nr_namespaces; j++)
			free(cfg->subsystems[i].namespaces[j].host_qos);
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
