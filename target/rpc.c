/* SPDX-License-Identifier: MIT */
/*
 * The control socket: JSON-RPC 2.0, one request per line, on a Unix stream
 * socket served by reactor 0 (docs/rpc.md). Changes are made by editing a
 * JSON copy of the running configuration and parsing it again, so a change
 * is validated by exactly the rules a configuration file is, with the same
 * messages, before nvmf_tgt_apply touches anything.
 */
#define LOG_TAG "rpc"
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <json-c/json.h>
#include <libgen.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "pcie/pcie.h"
#include "target/target.h"
#include "transport/tcp.h"

#define RPC_MAX_REQUEST (1u << 20)
#define NVMF_BRIDGE_VERSION "0.3"

struct rpc_client {
	struct rpc_server *srv;
	struct reactor_fd rfd;
	char *buf;
	size_t len, cap;
	struct rpc_client *next;
};

struct rpc_server {
	struct nvmf_tgt *t;
	struct reactor_fd rfd;
	char path[108];
	struct rpc_client *clients;
};

enum {
	RPC_PARSE = -32700,
	RPC_INVALID = -32600,
	RPC_NO_METHOD = -32601,
	RPC_BAD_PARAMS = -32602,
	RPC_REFUSED = -32000,
};

/* --- helpers ----------------------------------------------------------------------- */

static json_object *jstr(const char *s)
{
	return json_object_new_string(s ? s : "");
}

static const char *backend_name(enum cfg_backend b)
{
	return b == CFG_BACKEND_PCIE ? "pcie" : b == CFG_BACKEND_FILE ? "file" : "mem";
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

/* --- read-only methods (t->lock held) ------------------------------------------------------ */

static json_object *m_status(struct nvmf_tgt *t)
{
	json_object *o = json_object_new_object();
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
	json_object_object_add(o, "connections", json_object_new_int((int)nvmf_tcp_nr_conns()));
	json_object_object_add(o, "pcie_controllers", json_object_new_int((int)t->nr_pcie));
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

static json_object *m_list(struct nvmf_tgt *t)
{
	json_object *o = json_object_new_object(), *ports = json_object_new_array();
	json_object *subs = json_object_new_array();

	for (unsigned i = 0; i < t->nr_ports; i++) {
		const struct nvmf_port *p = t->ports[i];
		json_object *jp = json_object_new_object(), *js = json_object_new_array();

		json_object_object_add(jp, "portid", json_object_new_int(p->portid));
		json_object_object_add(jp, "trtype", jstr(p->addr.trtype == CFG_TRTYPE_TCP ? "tcp" : "rdma"));
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
	const struct nvmf_lat *l = &sq->lat;
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

static json_object *m_stats(struct nvmf_tgt *t)
{
	json_object *o = json_object_new_object(), *nss = json_object_new_array();
	json_object *qs = json_object_new_array();
	const struct nvmf_lat *lats[NVMF_MAX_IO_QUEUES];

	for (unsigned i = 0; i < t->nr_subsys; i++) {
		const struct nvmf_subsys *s = t->subsys[i];
		const struct nvmf_ns_table *nt = nvmf_subsys_ns(s);

		for (unsigned j = 0; j < nt->nr; j++) {
			const struct nvmf_ns *ns = nt->ns[j];
			uint64_t r = 0, w = 0, rb = 0, wb = 0, e = 0;
			json_object *jn = json_object_new_object();

			/* other reactors write these: racy reads are fine for statistics */
			for (unsigned k = 0; k < t->nr_reactors; k++) {
				r += ns->stats[k].reads;
				w += ns->stats[k].writes;
				rb += ns->stats[k].read_bytes;
				wb += ns->stats[k].write_bytes;
				e += ns->stats[k].errors;
				lats[k] = &ns->stats[k].lat;
			}
			json_object_object_add(jn, "subsystem", jstr(s->nqn));
			json_object_object_add(jn, "nsid", json_object_new_int64(ns->nsid));
			json_object_object_add(jn, "reads", json_object_new_int64((int64_t)r));
			json_object_object_add(jn, "writes", json_object_new_int64((int64_t)w));
			json_object_object_add(jn, "read_bytes", json_object_new_int64((int64_t)rb));
			json_object_object_add(jn, "write_bytes", json_object_new_int64((int64_t)wb));
			json_object_object_add(jn, "errors", json_object_new_int64((int64_t)e));
			json_object_object_add(jn, "latency_us", lat_json(lats, t->nr_reactors));
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
	return o;
}

/* --- changes: edit a JSON copy of the running configuration ----------------------------------- */

struct edit {
	json_object *params;
	json_object *result;
	char msg[1024];
};

typedef int (*edit_fn)(json_object *root, struct edit *e);

static json_object *array_of(json_object *root, const char *key)
{
	json_object *a;

	if (!json_object_object_get_ex(root, key, &a) || !json_object_is_type(a, json_type_array)) {
		a = json_object_new_array();
		json_object_object_add(root, key, a);
	}
	return a;
}

static const char *param_str(struct edit *e, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(e->params, key, &v) || !json_object_is_type(v, json_type_string)) {
		snprintf(e->msg, sizeof(e->msg), "missing or non-string parameter \"%s\"", key);
		return NULL;
	}
	return json_object_get_string(v);
}

static int64_t param_int(struct edit *e, const char *key, bool *ok)
{
	json_object *v;

	*ok = json_object_object_get_ex(e->params, key, &v) &&
	      (json_object_is_type(v, json_type_int) ||
	       (json_object_is_type(v, json_type_string) && *json_object_get_string(v)));
	if (!*ok) {
		snprintf(e->msg, sizeof(e->msg), "missing or non-integer parameter \"%s\"", key);
		return 0;
	}
	return json_object_get_int64(v);
}

static json_object *find_subsys_json(json_object *root, const char *nqn, struct edit *e)
{
	json_object *subs = array_of(root, "subsystems");

	for (size_t i = 0; i < json_object_array_length(subs); i++) {
		json_object *s = json_object_array_get_idx(subs, i), *n;

		if (json_object_object_get_ex(s, "nqn", &n) && !strcmp(json_object_get_string(n), nqn))
			return s;
	}
	snprintf(e->msg, sizeof(e->msg), "no subsystem %s", nqn);
	return NULL;
}

static int64_t json_int(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : -1;
}

static int e_add_namespace(json_object *root, struct edit *e)
{
	const char *nqn = param_str(e, "subsystem");
	json_object *s, *ns, *list, *nsid;
	int64_t id;

	if (!nqn || !(s = find_subsys_json(root, nqn, e)))
		return RPC_BAD_PARAMS;
	if (!json_object_object_get_ex(e->params, "namespace", &ns) || !json_object_is_type(ns, json_type_object)) {
		snprintf(e->msg, sizeof(e->msg), "missing parameter \"namespace\" (an object like the configuration's)");
		return RPC_BAD_PARAMS;
	}
	list = array_of(s, "namespaces");
	if (!json_object_object_get_ex(ns, "nsid", &nsid)) {
		/* the lowest free NSID */
		for (id = 1;; id++) {
			bool used = false;

			for (size_t i = 0; i < json_object_array_length(list); i++)
				used |= json_int(json_object_array_get_idx(list, i), "nsid") == id;
			if (!used)
				break;
		}
		json_object_object_add(ns, "nsid", json_object_new_int64(id));
	} else {
		id = json_object_get_int64(nsid);
	}
	json_object_array_add(list, json_object_get(ns));
	e->result = json_object_new_object();
	json_object_object_add(e->result, "nsid", json_object_new_int64(id));
	return 0;
}

static int remove_where(json_object *list, const char *key, int64_t ival, const char *sval)
{
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		json_object *o = json_object_array_get_idx(list, i), *v;
		bool match;

		if (sval)
			match = json_object_is_type(o, json_type_string) ? !strcmp(json_object_get_string(o), sval)
									    : false;
		else
			match = json_object_object_get_ex(o, key, &v) && json_object_get_int64(v) == ival;
		if (match) {
			json_object_array_del_idx(list, i, 1);
			return 0;
		}
	}
	return -1;
}

static int e_remove_namespace(json_object *root, struct edit *e)
{
	const char *nqn = param_str(e, "subsystem");
	json_object *s;
	bool ok;
	int64_t nsid;

	if (!nqn || !(s = find_subsys_json(root, nqn, e)))
		return RPC_BAD_PARAMS;
	nsid = param_int(e, "nsid", &ok);
	if (!ok)
		return RPC_BAD_PARAMS;
	if (remove_where(array_of(s, "namespaces"), "nsid", nsid, NULL)) {
		snprintf(e->msg, sizeof(e->msg), "%s has no namespace %lld", nqn, (long long)nsid);
		return RPC_REFUSED;
	}
	return 0;
}

static int e_host(json_object *root, struct edit *e, bool add)
{
	const char *nqn = param_str(e, "subsystem"), *host;
	json_object *s, *list;

	if (!nqn || !(s = find_subsys_json(root, nqn, e)))
		return RPC_BAD_PARAMS;
	host = param_str(e, "host");
	if (!host)
		return RPC_BAD_PARAMS;
	list = array_of(s, "allowed_hosts");
	if (!add) {
		if (remove_where(list, NULL, 0, host)) {
			snprintf(e->msg, sizeof(e->msg), "%s is not an allowed host of %s", host, nqn);
			return RPC_REFUSED;
		}
		return 0;
	}
	json_object_array_add(list, jstr(host));
	return 0;
}

static int e_add_host(json_object *root, struct edit *e)
{
	return e_host(root, e, true);
}

static int e_remove_host(json_object *root, struct edit *e)
{
	return e_host(root, e, false);
}

static int e_add_port(json_object *root, struct edit *e)
{
	json_object *p;

	if (!json_object_object_get_ex(e->params, "port", &p) || !json_object_is_type(p, json_type_object)) {
		snprintf(e->msg, sizeof(e->msg), "missing parameter \"port\" (an object like the configuration's)");
		return RPC_BAD_PARAMS;
	}
	json_object_array_add(array_of(root, "ports"), json_object_get(p));
	e->result = json_object_new_object();
	json_object_object_add(e->result, "portid", json_object_new_int64(json_int(p, "portid")));
	return 0;
}

static int e_remove_port(json_object *root, struct edit *e)
{
	bool ok;
	int64_t id = param_int(e, "portid", &ok);

	if (!ok)
		return RPC_BAD_PARAMS;
	if (remove_where(array_of(root, "ports"), "portid", id, NULL)) {
		snprintf(e->msg, sizeof(e->msg), "no port %lld", (long long)id);
		return RPC_REFUSED;
	}
	return 0;
}

/* Edit a copy, validate it like a file, apply the difference. */
static int edit_config(struct nvmf_tgt *t, edit_fn fn, struct edit *e)
{
	char *js = config_to_json(t->cfg);
	json_object *root = js ? json_tokener_parse(js) : NULL;
	struct config *cfg = NULL;
	char changes[4096];
	int rc;

	free(js);
	if (!root) {
		snprintf(e->msg, sizeof(e->msg), "cannot serialise the running configuration");
		return RPC_REFUSED;
	}
	rc = fn(root, e);
	if (!rc && config_parse(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN), t->cfg->file, &cfg,
				e->msg, sizeof(e->msg)))
		rc = RPC_REFUSED;
	json_object_put(root);
	if (rc)
		return rc;
	if (nvmf_tgt_apply(t, cfg, changes, sizeof(changes), e->msg, sizeof(e->msg))) {
		config_free(cfg);
		return RPC_REFUSED;
	}
	return 0;
}

static json_object *changes_json(const char *changes)
{
	json_object *a = json_object_new_array();
	const char *p = changes;

	while (p && *p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);

		json_object_array_add(a, json_object_new_string_len(p, (int)n));
		p = nl ? nl + 1 : p + n;
	}
	return a;
}

/* --- dispatch --------------------------------------------------------------------------------- */

static json_object *error_obj(int code, const char *msg)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "code", json_object_new_int(code));
	json_object_object_add(o, "message", jstr(msg));
	return o;
}

static json_object *dispatch(struct nvmf_tgt *t, const char *method, json_object *params, int *code, char *msg,
			     size_t msglen)
{
	static const struct {
		const char *name;
		edit_fn fn;
	} edits[] = {
		{ "add-namespace", e_add_namespace },
		{ "remove-namespace", e_remove_namespace },
		{ "add-host", e_add_host },
		{ "remove-host", e_remove_host },
		{ "add-port", e_add_port },
		{ "remove-port", e_remove_port },
	};
	json_object *res = NULL;

	*code = 0;
	if (!strcmp(method, "status") || !strcmp(method, "list") || !strcmp(method, "stats")) {
		pthread_mutex_lock(&t->lock);
		if (!strcmp(method, "status"))
			res = m_status(t);
		else if (!strcmp(method, "list"))
			res = m_list(t);
		else
			res = m_stats(t);
		pthread_mutex_unlock(&t->lock);
		return res;
	}
	if (!strcmp(method, "reload")) {
		struct config *cfg;
		char changes[4096];

		if (config_load(t->cfg->file, &cfg, msg, msglen)) {
			*code = RPC_REFUSED;
			return NULL;
		}
		if (nvmf_tgt_apply(t, cfg, changes, sizeof(changes), msg, msglen)) {
			config_free(cfg);
			*code = RPC_REFUSED;
			return NULL;
		}
		res = json_object_new_object();
		json_object_object_add(res, "changes", changes_json(changes));
		return res;
	}
	if (!strcmp(method, "save-config")) {
		json_object *p;
		const char *path = t->cfg->file;

		if (params && json_object_object_get_ex(params, "path", &p) && json_object_is_type(p, json_type_string))
			path = json_object_get_string(p);
		pthread_mutex_lock(&t->lock);
		*code = config_write_file(t->cfg, path, msg, msglen) ? RPC_REFUSED : 0;
		pthread_mutex_unlock(&t->lock);
		if (*code)
			return NULL;
		res = json_object_new_object();
		json_object_object_add(res, "path", jstr(path));
		log_notice("configuration saved to %s", path);
		return res;
	}
	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		struct edit e = { .params = params };

		if (strcmp(method, edits[i].name))
			continue;
		if (!params || !json_object_is_type(params, json_type_object)) {
			*code = RPC_BAD_PARAMS;
			snprintf(msg, msglen, "%s needs an object of parameters", method);
			return NULL;
		}
		*code = edit_config(t, edits[i].fn, &e);
		if (*code) {
			snprintf(msg, msglen, "%s", e.msg);
			json_object_put(e.result);
			return NULL;
		}
		log_notice("%s done", method);
		return e.result ? e.result : json_object_new_object();
	}
	*code = RPC_NO_METHOD;
	snprintf(msg, msglen, "unknown method \"%s\"", method);
	return NULL;
}

static void send_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);

		if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };

			if (poll(&pfd, 1, 1000) <= 0)
				return;         /* a client that does not read loses its answer */
			continue;
		}
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

static void handle_line(struct rpc_client *cl, const char *line)
{
	json_object *req = json_tokener_parse(line), *resp = json_object_new_object();
	json_object *id = NULL, *method = NULL, *params = NULL, *result = NULL;
	char msg[1024] = "";
	int code = 0;
	const char *out;

	if (!req) {
		code = RPC_PARSE;
		snprintf(msg, sizeof(msg), "not JSON");
	} else if (!json_object_is_type(req, json_type_object) ||
		   !json_object_object_get_ex(req, "method", &method) ||
		   !json_object_is_type(method, json_type_string)) {
		code = RPC_INVALID;
		snprintf(msg, sizeof(msg), "a request needs a string \"method\"");
	} else {
		json_object_object_get_ex(req, "id", &id);
		json_object_object_get_ex(req, "params", &params);
		result = dispatch(cl->srv->t, json_object_get_string(method), params, &code, msg, sizeof(msg));
	}
	json_object_object_add(resp, "jsonrpc", jstr("2.0"));
	json_object_object_add(resp, "id", id ? json_object_get(id) : NULL);
	if (code)
		json_object_object_add(resp, "error", error_obj(code, msg));
	else
		json_object_object_add(resp, "result", result ? result : json_object_new_object());
	out = json_object_to_json_string_ext(resp, JSON_C_TO_STRING_PLAIN);
	send_all(cl->rfd.fd, out, strlen(out));
	send_all(cl->rfd.fd, "\n", 1);
	json_object_put(resp);
	json_object_put(req);
}

static void client_close(struct rpc_client *cl)
{
	struct rpc_server *srv = cl->srv;

	for (struct rpc_client **pp = &srv->clients; *pp; pp = &(*pp)->next) {
		if (*pp == cl) {
			*pp = cl->next;
			break;
		}
	}
	reactor_del_fd(&srv->t->reactors[0].r, &cl->rfd);
	close(cl->rfd.fd);
	free(cl->buf);
	free(cl);
}

static void client_event(void *arg, uint32_t events)
{
	struct rpc_client *cl = arg;
	char *nl;

	(void)events;
	for (;;) {
		ssize_t n;

		if (cl->cap - cl->len < 4096) {
			size_t ncap = cl->cap ? cl->cap * 2 : 8192;
			char *nb;

			if (ncap > RPC_MAX_REQUEST + 1) {
				log_warn("control request over %u bytes: closing", RPC_MAX_REQUEST);
				client_close(cl);
				return;
			}
			nb = realloc(cl->buf, ncap);
			if (!nb) {
				client_close(cl);
				return;
			}
			cl->buf = nb;
			cl->cap = ncap;
		}
		n = recv(cl->rfd.fd, cl->buf + cl->len, cl->cap - cl->len - 1, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			client_close(cl);
			return;
		}
		if (n < 0)
			break;
		cl->len += (size_t)n;
		cl->buf[cl->len] = 0;
		while ((nl = memchr(cl->buf, '\n', cl->len))) {
			*nl = 0;
			if (nl != cl->buf)
				handle_line(cl, cl->buf);
			cl->len -= (size_t)(nl + 1 - cl->buf);
			memmove(cl->buf, nl + 1, cl->len);
			cl->buf[cl->len] = 0;
		}
	}
}

static void server_event(void *arg, uint32_t events)
{
	struct rpc_server *srv = arg;

	(void)events;
	for (;;) {
		int fd = accept4(srv->rfd.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct rpc_client *cl;

		if (fd < 0)
			return;
		cl = calloc(1, sizeof(*cl));
		if (!cl) {
			close(fd);
			return;
		}
		cl->srv = srv;
		cl->rfd = (struct reactor_fd){ .fd = fd, .events = EPOLLIN, .cb = client_event, .arg = cl };
		if (reactor_add_fd(&srv->t->reactors[0].r, &cl->rfd)) {
			close(fd);
			free(cl);
			return;
		}
		cl->next = srv->clients;
		srv->clients = cl;
	}
}

/* mkdir -p of the socket's directory (systemd's RuntimeDirectory makes it
 * when run as a service) */
static int make_dir(const char *path)
{
	char tmp[108];
	char *dir;

	snprintf(tmp, sizeof(tmp), "%s", path);
	dir = dirname(tmp);
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(dir, 0755) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(dir, 0750) && errno != EEXIST)
		return -errno;
	return 0;
}

int nvmf_rpc_start(struct nvmf_tgt *t, char *err, size_t errlen)
{
	const struct cfg_bridge *b = &t->cfg->bridge;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct rpc_server *srv = calloc(1, sizeof(*srv));
	gid_t gid = (gid_t)-1;
	int fd, rc;

	if (!srv)
		return -ENOMEM;
	srv->t = t;
	snprintf(srv->path, sizeof(srv->path), "%s", b->rpc_socket[0] ? b->rpc_socket : "/run/nvmf-bridge/rpc.sock");
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", srv->path);
	if (b->rpc_group[0]) {
		struct group *g = getgrnam(b->rpc_group);

		if (!g) {
			snprintf(err, errlen, "bridge.rpc_group: no group \"%s\" on this system", b->rpc_group);
			free(srv);
			return -ENOENT;
		}
		gid = g->gr_gid;
	}
	rc = make_dir(srv->path);
	if (rc) {
		snprintf(err, errlen, "cannot create the directory of %s: %s", srv->path, strerror(-rc));
		free(srv);
		return rc;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		free(srv);
		return -errno;
	}
	/* a socket file left by a dead daemon goes; a live daemon's stays */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		snprintf(err, errlen, "%s: another nvmf-bridged is running (its control socket answers)", srv->path);
		close(fd);
		free(srv);
		return -EADDRINUSE;
	}
	close(fd);
	unlink(srv->path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 16)) {
		rc = -errno;
		snprintf(err, errlen, "control socket %s: %s", srv->path, strerror(errno));
		if (fd >= 0)
			close(fd);
		free(srv);
		return rc;
	}
	/* root only, or root and the configured group */
	if ((gid != (gid_t)-1 && (chown(srv->path, (uid_t)-1, gid) || chmod(srv->path, 0660))) ||
	    (gid == (gid_t)-1 && chmod(srv->path, 0600))) {
		rc = -errno;
		snprintf(err, errlen, "control socket %s: cannot set its owner or mode: %s", srv->path, strerror(errno));
		close(fd);
		unlink(srv->path);
		free(srv);
		return rc;
	}
	srv->rfd = (struct reactor_fd){ .fd = fd, .events = EPOLLIN, .cb = server_event, .arg = srv };
	rc = reactor_add_fd(&t->reactors[0].r, &srv->rfd);
	if (rc) {
		close(fd);
		unlink(srv->path);
		free(srv);
		return rc;
	}
	t->rpc = srv;
	log_notice("control socket %s (%s)", srv->path, gid != (gid_t)-1 ? "root and group" : "root only");
	return 0;
}

void nvmf_rpc_stop(struct nvmf_tgt *t)
{
	struct rpc_server *srv = t->rpc;

	if (!srv)
		return;
	while (srv->clients)
		client_close(srv->clients);
	reactor_del_fd(&t->reactors[0].r, &srv->rfd);
	close(srv->rfd.fd);
	unlink(srv->path);
	free(srv);
	t->rpc = NULL;
}
