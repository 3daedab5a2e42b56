/* SPDX-License-Identifier: MIT */
/*
 * Human output of status, list and stats (docs/rpc.md): aligned tables,
 * sizes in binary units, latencies in microseconds. Keys the daemon does
 * not send show as "-", keys this client does not know are ignored here
 * (--json shows everything).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/log.h"
#include "ctl/ctl.h"

/* --- a small table --------------------------------------------------------- */

#define TABLE_MAX_COLS 16

struct table {
	unsigned ncols, nrows, cap;
	char **cells;              /* nrows x ncols; row 0 is the header */
};

static void table_init(struct table *t, unsigned ncols, const char *const *hdr)
{
	*t = (struct table){ .ncols = ncols };
	t->cap = 16;
	t->cells = calloc((size_t)t->cap * ncols, sizeof(char *));
	if (!t->cells) {
		t->cap = 0;
		return;
	}
	for (unsigned c = 0; c < ncols; c++)
		t->cells[c] = strdup(hdr[c]);
	t->nrows = 1;
}

/* add a row: ncols strings (NULL prints "-") */
static void table_row(struct table *t, ...)
{
	va_list ap;

	if (!t->cells)
		return;
	if (t->nrows == t->cap) {
		char **c = realloc(t->cells, (size_t)t->cap * 2 * t->ncols * sizeof(char *));

		if (!c)
			return;
		t->cells = c;
		t->cap *= 2;
	}
	va_start(ap, t);
	for (unsigned c = 0; c < t->ncols; c++) {
		const char *s = va_arg(ap, const char *);

		t->cells[t->nrows * t->ncols + c] = strdup(s && *s ? s : "-");
	}
	va_end(ap);
	t->nrows++;
}

static void table_print(struct table *t, const char *indent)
{
	size_t w[TABLE_MAX_COLS] = { 0 };

	if (!t->cells)
		return;
	for (unsigned r = 0; r < t->nrows; r++)
		for (unsigned c = 0; c < t->ncols && c < TABLE_MAX_COLS; c++) {
			const char *s = t->cells[r * t->ncols + c];
			size_t l = s ? strlen(s) : 0;

			if (l > w[c])
				w[c] = l;
		}
	for (unsigned r = 0; r < t->nrows; r++) {
		fputs(indent, stdout);
		for (unsigned c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];

			if (c + 1 == t->ncols)
				printf("%s\n", s ? s : "");
			else
				printf("%-*s  ", (int)w[c], s ? s : "");
		}
	}
}

static void table_free(struct table *t)
{
	if (t->cells)
		for (unsigned i = 0; i < t->nrows * t->ncols; i++)
			free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
}

/* --- reading members --------------------------------------------------------- */

static struct json_object *get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (!o || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v))
		return NULL;
	return json_object_is_type(v, json_type_null) ? NULL : v;
}

/* A string for the terminal: host NQNs and addresses come from the
 * network, and one could carry escape sequences or newlines. Escaped as
 * the daemon's log lines are (in the object itself, for human output
 * only: --json prints the daemon's JSON, where json-c escapes them). */
static const char *safe_str(struct json_object *v)
{
	const char *s;
	size_t len;

	if (!v)
		return NULL;
	s = json_object_get_string(v);
	len = strlen(s);
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch < 0x20 || ch >= 0x7f || ch == '\\') {
			char esc[1024];

			log_escape(esc, sizeof(esc), s, len);
			json_object_set_string(v, esc);
			return json_object_get_string(v);
		}
	}
	return s;
}

static const char *get_str(struct json_object *o, const char *key)
{
	return safe_str(get(o, key));
}

static bool get_u64(struct json_object *o, const char *key, uint64_t *out)
{
	struct json_object *v = get(o, key);

	if (!v || !(json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double) ||
		    json_object_is_type(v, json_type_string)))
		return false;
	if (json_object_is_type(v, json_type_string)) {
		char *end;
		const char *s = json_object_get_string(v);

		*out = strtoull(s, &end, 10);
		return *s && !*end;
	}
	*out = (uint64_t)json_object_get_int64(v);
	return true;
}

static bool get_bool(struct json_object *o, const char *key, bool *out)
{
	struct json_object *v = get(o, key);

	if (!v)
		return false;
	*out = json_object_get_boolean(v);
	return true;
}

static size_t arr_len(struct json_object *a)
{
	return a && json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
}

/* number as text, "-" when missing */
static const char *num(char *buf, size_t len, struct json_object *o, const char *key)
{
	uint64_t v;

	if (!get_u64(o, key, &v))
		return NULL;
	snprintf(buf, len, "%" PRIu64, v);
	return buf;
}

static const char *human_bytes(char *buf, size_t len, uint64_t b)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)b;
	unsigned u = 0;

	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%" PRIu64 " B", b);
	else
		snprintf(buf, len, "%.1f %s", v, unit[u]);
	return buf;
}

static const char *bytes_of(char *buf, size_t len, struct json_object *o, const char *key)
{
	uint64_t v;

	return get_u64(o, key, &v) ? human_bytes(buf, len, v) : NULL;
}

/* "a, b, c" of an array of strings; "" when empty */
static void join(char *buf, size_t len, struct json_object *a, const char *sep)
{
	size_t n = 0;

	buf[0] = 0;
	for (size_t i = 0; i < arr_len(a) && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? sep : "",
				      safe_str(json_object_array_get_idx(a, i)));
}

/* a byte count as the configuration would write it: 64MiB, 1GiB, 1000 */
static void size_text(char *buf, size_t len, uint64_t b)
{
	static const char *const unit[] = { "KiB", "MiB", "GiB", "TiB" };
	int u = -1;

	while (u < 3 && b && !(b & 1023)) {
		b >>= 10;
		u++;
	}
	snprintf(buf, len, "%" PRIu64 "%s", b, u < 0 ? "" : unit[u]);
}

/* a device object as pcie=0000:01:00.0,nsid=1 / path=/x / mem=64MiB / null=1GiB */
static void device_text(char *buf, size_t len, struct json_object *dev)
{
	size_t n = 0;

	buf[0] = 0;
	if (!dev || !json_object_is_type(dev, json_type_object))
		return;
	json_object_object_foreach(dev, k, v) {
		char val[32];
		const char *s = safe_str(v);

		if (json_object_is_type(v, json_type_null) || n >= len)
			continue;
		if ((!strcmp(k, "mem") || !strcmp(k, "null")) && json_object_is_type(v, json_type_int)) {
			size_text(val, sizeof(val), (uint64_t)json_object_get_int64(v));
			s = val;
		}
		n += (size_t)snprintf(buf + n, len - n, "%s%s=%s", n ? "," : "", k, s);
	}
}

static void address_text(char *buf, size_t len, struct json_object *port)
{
	const char *fam = get_str(port, "adrfam"), *a = get_str(port, "traddr"), *s = get_str(port, "trsvcid");
	bool v6 = fam && !strcmp(fam, "ipv6");

	snprintf(buf, len, "%s%s%s:%s", v6 ? "[" : "", a ? a : "?", v6 ? "]" : "", s ? s : "?");
}

/* --- status ----------------------------------------------------------------- */

static void print_duration(uint64_t s)
{
	if (s >= 86400)
		printf("%" PRIu64 "d %02" PRIu64 "h %02" PRIu64 "m %02" PRIu64 "s", s / 86400, s % 86400 / 3600,
		       s % 3600 / 60, s % 60);
	else if (s >= 3600)
		printf("%" PRIu64 "h %02" PRIu64 "m %02" PRIu64 "s", s / 3600, s % 3600 / 60, s % 60);
	else if (s >= 60)
		printf("%" PRIu64 "m %02" PRIu64 "s", s / 60, s % 60);
	else
		printf("%" PRIu64 "s", s);
}

void ctl_print_status(struct json_object *res)
{
	static const char *const shown[] = { "version", "pid", "uptime_s" };
	uint64_t v;

	printf("nvmf-bridged %s", get_str(res, "version") ? get_str(res, "version") : "");
	if (get_u64(res, "pid", &v))
		printf(", pid %" PRIu64, v);
	if (get_u64(res, "uptime_s", &v)) {
		printf(", up ");
		print_duration(v);
	}
	printf("\n");
	if (!res || !json_object_is_type(res, json_type_object))
		return;
	/* the rest in the daemon's order: config_file, reactors, ports, ... */
	json_object_object_foreach(res, key, val) {
		bool skip = false;
		char label[64];

		for (unsigned i = 0; i < sizeof(shown) / sizeof(shown[0]); i++)
			skip |= !strcmp(key, shown[i]);
		if (skip)
			continue;
		snprintf(label, sizeof(label), "%s:", key);
		printf("%-18s %s\n", label,
		       json_object_is_type(val, json_type_string) ? json_object_get_string(val)
								  : json_object_to_json_string_ext(val, JSON_C_TO_STRING_PLAIN));
	}
}

/* --- list --------------------------------------------------------------------- */

static void print_ports(struct json_object *ports)
{
	static const char *const hdr[] = { "PORTID", "TRANSPORT", "ADDRESS", "LISTENING", "SUBSYSTEMS" };
	struct table t;

	printf("ports: %zu\n", arr_len(ports));
	if (!arr_len(ports))
		return;
	table_init(&t, 5, hdr);
	for (size_t i = 0; i < arr_len(ports); i++) {
		struct json_object *p = json_object_array_get_idx(ports, i);
		char id[24], tr[32], addr[160], subs[4096];
		const char *listen = NULL;
		bool b, disc = false;

		snprintf(tr, sizeof(tr), "%s %s", get_str(p, "trtype") ? get_str(p, "trtype") : "?",
			 get_str(p, "adrfam") ? get_str(p, "adrfam") : "?");
		address_text(addr, sizeof(addr), p);
		if (get_bool(p, "listening", &b))
			listen = b ? "yes" : "no";
		get_bool(p, "discovery_only", &disc);
		join(subs, sizeof(subs), get(p, "subsystems"), " ");
		table_row(&t, num(id, sizeof(id), p, "portid"), tr, addr, listen,
			  disc ? "(discovery only)" : subs[0] ? subs : "(none)");
	}
	table_print(&t, "  ");
	table_free(&t);
}

static void print_namespaces(struct json_object *nss)
{
	static const char *const hdr[] = { "NSID", "BACKEND", "DEVICE", "SIZE", "BLOCKS", "BLOCK_SIZE" };
	struct table t;

	if (!arr_len(nss)) {
		printf("  namespaces: none\n");
		return;
	}
	table_init(&t, 6, hdr);
	for (size_t i = 0; i < arr_len(nss); i++) {
		struct json_object *ns = json_object_array_get_idx(nss, i);
		char id[24], dev[4200], size[32] = "", blocks[24], bs[24];
		uint64_t nb, b;

		device_text(dev, sizeof(dev), get(ns, "device"));
		if (get_u64(ns, "blocks", &nb) && get_u64(ns, "block_size", &b))
			human_bytes(size, sizeof(size), nb * b);
		table_row(&t, num(id, sizeof(id), ns, "nsid"), get_str(ns, "backend"), dev, size,
			  num(blocks, sizeof(blocks), ns, "blocks"), num(bs, sizeof(bs), ns, "block_size"));
	}
	table_print(&t, "  ");
	table_free(&t);
}

static void print_controllers(struct json_object *ctrls)
{
	static const char *const hdr[] = { "CNTLID", "HOSTNQN", "HOST_ADDRESS", "KATO", "QUEUES", "COMMANDS", "ERRORS" };
	struct table t;

	if (!arr_len(ctrls)) {
		printf("  controllers: none\n");
		return;
	}
	table_init(&t, 7, hdr);
	for (size_t i = 0; i < arr_len(ctrls); i++) {
		struct json_object *c = json_object_array_get_idx(ctrls, i), *qs = get(c, "queues");
		char id[24], kato[32] = "", nq[24], cmds[24] = "", errs[24] = "";
		uint64_t v, sc = 0, se = 0;
		bool have_c = false, have_e = false;

		if (get_u64(c, "kato_ms", &v))
			snprintf(kato, sizeof(kato), v ? "%" PRIu64 " ms" : "off", v);
		for (size_t q = 0; q < arr_len(qs); q++) {
			struct json_object *qo = json_object_array_get_idx(qs, q);

			if (get_u64(qo, "commands", &v)) {
				sc += v;
				have_c = true;
			}
			if (get_u64(qo, "errors", &v)) {
				se += v;
				have_e = true;
			}
		}
		snprintf(nq, sizeof(nq), "%zu", arr_len(qs));
		if (have_c)
			snprintf(cmds, sizeof(cmds), "%" PRIu64, sc);
		if (have_e)
			snprintf(errs, sizeof(errs), "%" PRIu64, se);
		table_row(&t, num(id, sizeof(id), c, "cntlid"), get_str(c, "hostnqn"), get_str(c, "host_addr"), kato,
			  nq, cmds, errs);
	}
	table_print(&t, "  ");
	table_free(&t);
}

void ctl_print_list(struct json_object *res)
{
	struct json_object *subs = get(res, "subsystems");

	print_ports(get(res, "ports"));
	printf("subsystems: %zu\n", arr_len(subs));
	for (size_t i = 0; i < arr_len(subs); i++) {
		struct json_object *s = json_object_array_get_idx(subs, i), *hosts = get(s, "allowed_hosts");
		char list[8192];
		bool any = false;

		printf("\nsubsystem %s\n", get_str(s, "nqn") ? get_str(s, "nqn") : "?");
		get_bool(s, "allow_any_host", &any);
		join(list, sizeof(list), hosts, ", ");
		if (any)
			printf("  hosts: any host may connect\n");
		else if (list[0])
			printf("  hosts: %s\n", list);
		else
			printf("  hosts: none allowed (add one with add-host)\n");
		any = false;
		if (get_bool(s, "require_auth", &any) && any)
			printf("  authentication: DH-HMAC-CHAP required of every host\n");
		if (get(s, "model") || get(s, "serial"))
			printf("  model \"%s\", serial \"%s\"\n", get_str(s, "model") ? get_str(s, "model") : "",
			       get_str(s, "serial") ? get_str(s, "serial") : "");
		print_namespaces(get(s, "namespaces"));
		print_controllers(get(s, "controllers"));
	}
}

/* --- stats ------------------------------------------------------------------- */

static void lat(struct json_object *o, char p50[24], char p99[24], char p999[24], char max[24])
{
	struct json_object *l = get(o, "latency_us");

	if (!num(p50, 24, l, "p50"))
		p50[0] = 0;
	if (!num(p99, 24, l, "p99"))
		p99[0] = 0;
	if (!num(p999, 24, l, "p999"))
		p999[0] = 0;
	if (!num(max, 24, l, "max"))
		max[0] = 0;
}

void ctl_print_stats(struct json_object *res)
{
	static const char *const nhdr[] = { "SUBSYSTEM", "NSID", "READS", "WRITES", "READ", "WRITTEN", "ERRORS",
					     "P50_US", "P99_US", "P99.9_US", "MAX_US" };
	static const char *const qhdr[] = { "SUBSYSTEM", "CNTLID", "QID", "HOSTNQN", "REACTOR", "COMMANDS", "ERRORS",
					     "P50_US", "P99_US", "P99.9_US", "MAX_US" };
	struct json_object *nss = get(res, "namespaces"), *qs = get(res, "queues");
	struct table t;

	printf("namespaces: %zu\n", arr_len(nss));
	if (arr_len(nss)) {
		table_init(&t, 11, nhdr);
		for (size_t i = 0; i < arr_len(nss); i++) {
			struct json_object *n = json_object_array_get_idx(nss, i);
			char id[24], r[24], w[24], rb[32], wb[32], e[24], p50[24], p99[24], p999[24], mx[24];

			lat(n, p50, p99, p999, mx);
			table_row(&t, get_str(n, "subsystem"), num(id, 24, n, "nsid"), num(r, 24, n, "reads"),
				  num(w, 24, n, "writes"), bytes_of(rb, 32, n, "read_bytes"),
				  bytes_of(wb, 32, n, "write_bytes"), num(e, 24, n, "errors"), p50, p99, p999, mx);
		}
		table_print(&t, "  ");
		table_free(&t);
	}
	printf("queues: %zu\n", arr_len(qs));
	if (arr_len(qs)) {
		table_init(&t, 11, qhdr);
		for (size_t i = 0; i < arr_len(qs); i++) {
			struct json_object *q = json_object_array_get_idx(qs, i);
			char c[24], qid[24], re[24], cmd[24], e[24], p50[24], p99[24], p999[24], mx[24];

			lat(q, p50, p99, p999, mx);
			table_row(&t, get_str(q, "subsystem"), num(c, 24, q, "cntlid"), num(qid, 24, q, "qid"),
				  get_str(q, "hostnqn"), num(re, 24, q, "reactor"), num(cmd, 24, q, "commands"),
				  num(e, 24, q, "errors"), p50, p99, p999, mx);
		}
		table_print(&t, "  ");
		table_free(&t);
	}
	if (arr_len(get(res, "hosts"))) {
		static const char *const hhdr[] = { "SUBSYSTEM", "HOSTNQN", "PORT", "CTRLS", "READS", "WRITES", "READ",
						    "WRITTEN", "ERRORS", "P50_US", "P99_US" };
		struct json_object *hs = get(res, "hosts");

		printf("hosts: %zu\n", arr_len(hs));
		table_init(&t, 11, hhdr);
		for (size_t i = 0; i < arr_len(hs); i++) {
			struct json_object *h = json_object_array_get_idx(hs, i);
			char p[24], c[24], r[24], w[24], rb[32], wb[32], e[24], p50[24], p99[24], p999[24], mx[24];

			lat(h, p50, p99, p999, mx);
			table_row(&t, get_str(h, "subsystem"), get_str(h, "hostnqn"), num(p, 24, h, "portid"),
				  num(c, 24, h, "controllers"), num(r, 24, h, "reads"), num(w, 24, h, "writes"),
				  bytes_of(rb, 32, h, "read_bytes"), bytes_of(wb, 32, h, "write_bytes"), num(e, 24, h, "errors"),
				  p50, p99);
		}
		table_print(&t, "  ");
		table_free(&t);
	}
	if (arr_len(get(res, "ports"))) {
		static const char *const phdr[] = { "PORT", "TRTYPE", "ADDRESS", "IO_COMMANDS", "ANA_REFUSED",
						    "ANA_GROUPS_NOT_OPTIMIZED" };
		struct json_object *ps = get(res, "ports");

		printf("ports: %zu\n", arr_len(ps));
		table_init(&t, 6, phdr);
		for (size_t i = 0; i < arr_len(ps); i++) {
			struct json_object *p = json_object_array_get_idx(ps, i), *ana = get(p, "ana_groups");
			char id[24], addr[128], io[24], rf[24], groups[256] = "-";
			size_t n = 0;

			if (ana && json_object_is_type(ana, json_type_object)) {
				json_object_object_foreach(ana, k, v) {
					if (n < sizeof(groups))
						n += (size_t)snprintf(groups + n, sizeof(groups) - n, "%s%s=%s", n ? "," : "",
								      k, json_object_get_string(v));
				}
			}
			snprintf(addr, sizeof(addr), "%s:%s", get_str(p, "traddr"), get_str(p, "trsvcid"));
			table_row(&t, num(id, 24, p, "portid"), get_str(p, "trtype"), addr, num(io, 24, p, "io_commands"),
				  num(rf, 24, p, "ana_refused"), groups);
		}
		table_print(&t, "  ");
		table_free(&t);
	}
	if (arr_len(get(res, "reactors"))) {
		static const char *const rhdr[] = { "REACTOR", "BUSY_S", "IDLE_S", "BUSY_%" };
		struct json_object *rs = get(res, "reactors");

		printf("reactors: %zu\n", arr_len(rs));
		table_init(&t, 4, rhdr);
		for (size_t i = 0; i < arr_len(rs); i++) {
			struct json_object *r = json_object_array_get_idx(rs, i);
			struct json_object *b = get(r, "busy_ns"), *d = get(r, "idle_ns");
			double busy = b ? (double)json_object_get_int64(b) / 1e9 : 0;
			double idle = d ? (double)json_object_get_int64(d) / 1e9 : 0;
			char re[24], bs[32], is[32], pc[16];

			snprintf(bs, sizeof(bs), "%.3f", busy);
			snprintf(is, sizeof(is), "%.3f", idle);
			snprintf(pc, sizeof(pc), "%.1f", busy + idle > 0 ? 100 * busy / (busy + idle) : 0);
			table_row(&t, num(re, 24, r, "reactor"), bs, is, pc);
		}
		table_print(&t, "  ");
		table_free(&t);
	}
	if (arr_len(get(res, "qos"))) {
		static const char *const lhdr[] = { "QOS_LIMIT", "READ_IOPS", "WRITE_IOPS", "READ_BW", "WRITE_BW",
						    "DELAYED", "WAITING" };
		struct json_object *ls = get(res, "qos");

		printf("qos limits: %zu (0: unlimited)\n", arr_len(ls));
		table_init(&t, 7, lhdr);
		for (size_t i = 0; i < arr_len(ls); i++) {
			struct json_object *q = json_object_array_get_idx(ls, i);
			char what[600], ri[24], wi[24], rb[24], wb[24], dl[24], wt[24];
			const char *type = get_str(q, "type");

			if (!strcmp(type, "host"))
				snprintf(what, sizeof(what), "host %s", get_str(q, "host"));
			else if (!strcmp(type, "namespace"))
				snprintf(what, sizeof(what), "%s/%s", get_str(q, "subsystem"),
					 json_object_get_string(get(q, "nsid")));
			else
				snprintf(what, sizeof(what), "host %s on %s/%s", get_str(q, "host"), get_str(q, "subsystem"),
					 json_object_get_string(get(q, "nsid")));
			table_row(&t, what, num(ri, 24, q, "read_iops"), num(wi, 24, q, "write_iops"),
				  num(rb, 24, q, "read_bw"), num(wb, 24, q, "write_bw"), num(dl, 24, q, "delayed"),
				  num(wt, 24, q, "waiting"));
		}
		table_print(&t, "  ");
		table_free(&t);
	}
}

void ctl_print_json(struct json_object *res)
{
	printf("%s\n", json_object_to_json_string_ext(res, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
								  JSON_C_TO_STRING_NOSLASHESCAPE));
}
