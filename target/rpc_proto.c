/* SPDX-License-Identifier: MIT */
/*
 * The control socket's protocol without the socket: request parsing,
 * response formatting and the configuration edits (see rpc_proto.h). A
 * change is made by editing a JSON copy of the running configuration and
 * parsing it again (rpc.c), so it is validated by exactly the rules a
 * configuration file is; the edits here only place the caller's objects.
 */
#include "target/rpc_proto.h"

#include "common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_DEPTH 32                 /* json-c's default */

static bool only_space(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
			return false;
	return true;
}

int rpc_parse_request(const char *line, size_t len, struct rpc_request *req, char *msg, size_t msglen)
{
	struct json_tokener *tok;
	json_object *method;
	size_t used;

	memset(req, 0, sizeof(*req));
	if (len > RPC_MAX_REQUEST) {
		snprintf(msg, msglen, "request over %u bytes", RPC_MAX_REQUEST);
		return RPC_INVALID;
	}
	tok = json_tokener_new_ex(JSON_DEPTH);
	if (!tok) {
		snprintf(msg, msglen, "out of memory");
		return RPC_INVALID;
	}
	req->root = json_tokener_parse_ex(tok, line, (int)len);
	used = (size_t)json_tokener_get_parse_end(tok);
	/* one complete value and nothing after it (a NUL byte included) */
	if (!req->root || json_tokener_get_error(tok) != json_tokener_success || !only_space(line + used, len - used)) {
		json_tokener_free(tok);
		json_object_put(req->root);
		req->root = NULL;
		snprintf(msg, msglen, "not JSON (one JSON object per line)");
		return RPC_PARSE;
	}
	json_tokener_free(tok);
	if (!json_object_is_type(req->root, json_type_object)) {
		snprintf(msg, msglen, "a request is a JSON object");
		return RPC_INVALID;
	}
	json_object_object_get_ex(req->root, "id", &req->id);
	if (!json_object_object_get_ex(req->root, "method", &method) || !json_object_is_type(method, json_type_string)) {
		snprintf(msg, msglen, "a request needs a string \"method\"");
		return RPC_INVALID;
	}
	req->method = json_object_get_string(method);
	json_object_object_get_ex(req->root, "params", &req->params);
	return 0;
}

void rpc_request_free(struct rpc_request *req)
{
	json_object_put(req->root);
	memset(req, 0, sizeof(*req));
}

char *rpc_format_response(json_object *id, int code, const char *msg, json_object *result)
{
	json_object *resp = json_object_new_object(), *err;
	char *out;

	if (!resp) {
		json_object_put(result);
		return NULL;
	}
	json_object_object_add(resp, "jsonrpc", json_object_new_string("2.0"));
	/* only ids a client can have sent back: string, number or null */
	if (id && !json_object_is_type(id, json_type_string) && !json_object_is_type(id, json_type_int) &&
	    !json_object_is_type(id, json_type_double))
		id = NULL;
	json_object_object_add(resp, "id", id ? json_object_get(id) : NULL);
	if (code) {
		/* messages quote what the client sent (an NQN, a path): escaped,
		 * so that printing one cannot forge lines on a terminal */
		char esc[2048];

		log_escape(esc, sizeof(esc), msg ? msg : "", msg ? strlen(msg) : 0);
		err = json_object_new_object();
		json_object_object_add(err, "code", json_object_new_int(code));
		json_object_object_add(err, "message", json_object_new_string(esc));
		json_object_object_add(resp, "error", err);
		json_object_put(result);
	} else {
		json_object_object_add(resp, "result", result ? result : json_object_new_object());
	}
	out = strdup(json_object_to_json_string_ext(resp, JSON_C_TO_STRING_PLAIN));
	json_object_put(resp);
	return out;
}

/* --- the edits ------------------------------------------------------------------- */

static json_object *array_of(json_object *root, const char *key)
{
	json_object *a;

	if (!json_object_object_get_ex(root, key, &a) || !json_object_is_type(a, json_type_array)) {
		a = json_object_new_array();
		json_object_object_add(root, key, a);
	}
	return a;
}

static const char *param_str(json_object *params, const char *key, char *msg, size_t msglen)
{
	json_object *v;

	if (!json_object_object_get_ex(params, key, &v) || !json_object_is_type(v, json_type_string)) {
		snprintf(msg, msglen, "missing or non-string parameter \"%s\"", key);
		return NULL;
	}
	return json_object_get_string(v);
}

static int64_t param_int(json_object *params, const char *key, bool *ok, char *msg, size_t msglen)
{
	json_object *v;

	*ok = json_object_object_get_ex(params, key, &v) &&
	      (json_object_is_type(v, json_type_int) ||
	       (json_object_is_type(v, json_type_string) && *json_object_get_string(v)));
	if (!*ok) {
		snprintf(msg, msglen, "missing or non-integer parameter \"%s\"", key);
		return 0;
	}
	return json_object_get_int64(v);
}

static json_object *find_subsys_json(json_object *root, const char *nqn, char *msg, size_t msglen)
{
	json_object *subs = array_of(root, "subsystems");

	for (size_t i = 0; i < json_object_array_length(subs); i++) {
		json_object *s = json_object_array_get_idx(subs, i), *n;

		if (json_object_is_type(s, json_type_object) && json_object_object_get_ex(s, "nqn", &n) &&
		    json_object_is_type(n, json_type_string) && !strcmp(json_object_get_string(n), nqn))
			return s;
	}
	snprintf(msg, msglen, "no subsystem %.223s", nqn);
	return NULL;
}

static int64_t json_int(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_is_type(o, json_type_object))
		return -1;
	return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : -1;
}

static int e_add_namespace(json_object *root, json_object *params, json_object **result, char *msg, size_t msglen)
{
	const char *nqn = param_str(params, "subsystem", msg, msglen);
	json_object *s, *ns, *list, *nsid;
	int64_t id;

	if (!nqn || !(s = find_subsys_json(root, nqn, msg, msglen)))
		return RPC_BAD_PARAMS;
	if (!json_object_object_get_ex(params, "namespace", &ns) || !json_object_is_type(ns, json_type_object)) {
		snprintf(msg, msglen, "missing parameter \"namespace\" (an object like the configuration's)");
		return RPC_BAD_PARAMS;
	}
	list = array_of(s, "namespaces");
	if (!json_object_object_get_ex(ns, "nsid", &nsid)) {
		/* the lowest free NSID (the validator refuses one past the limit) */
		for (id = 1; id < 0xffffffffll; id++) {
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
	*result = json_object_new_object();
	json_object_object_add(*result, "nsid", json_object_new_int64(id));
	return 0;
}

static int remove_where(json_object *list, const char *key, int64_t ival, const char *sval)
{
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		json_object *o = json_object_array_get_idx(list, i), *v;
		bool match;

		if (sval)
			match = json_object_is_type(o, json_type_string) && !strcmp(json_object_get_string(o), sval);
		else
			match = json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, key, &v) &&
				json_object_get_int64(v) == ival;
		if (match) {
			json_object_array_del_idx(list, i, 1);
			return 0;
		}
	}
	return -1;
}

static int e_remove_namespace(json_object *root, json_object *params, json_object **result, char *msg,
			      size_t msglen)
{
	const char *nqn = param_str(params, "subsystem", msg, msglen);
	json_object *s;
	bool ok;
	int64_t nsid;

	(void)result;
	if (!nqn || !(s = find_subsys_json(root, nqn, msg, msglen)))
		return RPC_BAD_PARAMS;
	nsid = param_int(params, "nsid", &ok, msg, msglen);
	if (!ok)
		return RPC_BAD_PARAMS;
	if (remove_where(array_of(s, "namespaces"), "nsid", nsid, NULL)) {
		snprintf(msg, msglen, "%.223s has no namespace %lld", nqn, (long long)nsid);
		return RPC_REFUSED;
	}
	return 0;
}

static int e_host(json_object *root, json_object *params, bool add, char *msg, size_t msglen)
{
	const char *nqn = param_str(params, "subsystem", msg, msglen), *host;
	json_object *s, *list;

	if (!nqn || !(s = find_subsys_json(root, nqn, msg, msglen)))
		return RPC_BAD_PARAMS;
	host = param_str(params, "host", msg, msglen);
	if (!host)
		return RPC_BAD_PARAMS;
	list = array_of(s, "allowed_hosts");
	if (!add) {
		if (remove_where(list, NULL, 0, host)) {
			snprintf(msg, msglen, "%.223s is not an allowed host of %.223s", host, nqn);
			return RPC_REFUSED;
		}
		return 0;
	}
	json_object_array_add(list, json_object_new_string(host));
	return 0;
}

static int e_add_host(json_object *root, json_object *params, json_object **result, char *msg, size_t msglen)
{
	(void)result;
	return e_host(root, params, true, msg, msglen);
}

static int e_remove_host(json_object *root, json_object *params, json_object **result, char *msg, size_t msglen)
{
	(void)result;
	return e_host(root, params, false, msg, msglen);
}

static int e_add_port(json_object *root, json_object *params, json_object **result, char *msg, size_t msglen)
{
	json_object *p;

	if (!json_object_object_get_ex(params, "port", &p) || !json_object_is_type(p, json_type_object)) {
		snprintf(msg, msglen, "missing parameter \"port\" (an object like the configuration's)");
		return RPC_BAD_PARAMS;
	}
	json_object_array_add(array_of(root, "ports"), json_object_get(p));
	*result = json_object_new_object();
	json_object_object_add(*result, "portid", json_object_new_int64(json_int(p, "portid")));
	return 0;
}

static int e_remove_port(json_object *root, json_object *params, json_object **result, char *msg, size_t msglen)
{
	bool ok;
	int64_t id = param_int(params, "portid", &ok, msg, msglen);

	(void)result;
	if (!ok)
		return RPC_BAD_PARAMS;
	if (remove_where(array_of(root, "ports"), "portid", id, NULL)) {
		snprintf(msg, msglen, "no port %lld", (long long)id);
		return RPC_REFUSED;
	}
	return 0;
}

/* set-ana-state {portid, grpid, state}: the port's ana_groups entry for
 * the group, added when missing; the validator checks the values */
static int e_set_ana_state(json_object *root, json_object *params, json_object **result, char *msg, size_t msglen)
{
	json_object *ports = array_of(root, "ports"), *port = NULL, *groups, *g = NULL, *ana;
	const char *state = param_str(params, "state", msg, msglen);
	int64_t portid, grpid;
	bool ok;

	(void)result;
	portid = param_int(params, "portid", &ok, msg, msglen);
	if (!ok)
		return RPC_BAD_PARAMS;
	grpid = param_int(params, "grpid", &ok, msg, msglen);
	if (!ok || !state)
		return RPC_BAD_PARAMS;
	for (size_t i = 0; i < json_object_array_length(ports) && !port; i++)
		if (json_int(json_object_array_get_idx(ports, i), "portid") == portid)
			port = json_object_array_get_idx(ports, i);
	if (!port) {
		snprintf(msg, msglen, "no port %lld", (long long)portid);
		return RPC_REFUSED;
	}
	groups = array_of(port, "ana_groups");
	for (size_t i = 0; i < json_object_array_length(groups) && !g; i++)
		if (json_int(json_object_array_get_idx(groups, i), "grpid") == grpid)
			g = json_object_array_get_idx(groups, i);
	if (!g) {
		g = json_object_new_object();
		json_object_object_add(g, "grpid", json_object_new_int64(grpid));
		json_object_array_add(groups, g);
	}
	ana = json_object_new_object();
	json_object_object_add(ana, "state", json_object_new_string(state));
	json_object_object_add(g, "ana", ana);
	return 0;
}

/* The limits of params into the limits object o: a limit given replaces
 * the current one, 0 (or "0") removes it (unlimited), one not given stays.
 * Values are checked by the validator afterwards. */
static int qos_limits(json_object *o, json_object *params, char *msg, size_t msglen)
{
	static const char *const keys[] = { "read_iops", "write_iops", "read_bw", "write_bw" };
	unsigned given = 0;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		json_object *v;

		if (!json_object_object_get_ex(params, keys[i], &v))
			continue;
		given++;
		if ((json_object_is_type(v, json_type_int) && json_object_get_int64(v) == 0) ||
		    (json_object_is_type(v, json_type_string) && !strcmp(json_object_get_string(v), "0")))
			json_object_object_del(o, keys[i]);
		else
			json_object_object_add(o, keys[i], json_object_get(v));
	}
	if (!given) {
		snprintf(msg, msglen, "set-qos needs at least one of read_iops, write_iops, read_bw, write_bw "
				      "(0: unlimited)");
		return RPC_BAD_PARAMS;
	}
	return 0;
}

/* obj.qos, created when missing */
static json_object *qos_object(json_object *obj)
{
	json_object *q;

	if (!json_object_object_get_ex(obj, "qos", &q) || !json_object_is_type(q, json_type_object)) {
		q = json_object_new_object();
		json_object_object_add(obj, "qos", q);
	}
	return q;
}

/* an object without members is dropped, so that a limit set and cleared
 * leaves the configuration as it was */
static void drop_if_empty(json_object *parent, const char *key, json_object *o)
{
	if (!json_object_object_length(o))
		json_object_object_del(parent, key);
}

static json_object *find_by(json_object *list, const char *key, const char *sval, int64_t ival)
{
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		json_object *o = json_object_array_get_idx(list, i), *v;

		if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v))
			continue;
		if (sval ? json_object_is_type(v, json_type_string) && !strcmp(json_object_get_string(v), sval)
			 : json_object_get_int64(v) == ival)
			return o;
	}
	return NULL;
}

/*
 * set-qos {[host], [subsystem, nsid], read_iops?, write_iops?, read_bw?,
 * write_bw?}: host alone sets hosts[].qos (the hosts[] entry is added when
 * missing), subsystem and nsid set that namespace's qos, all three the
 * namespace's host_qos entry for the host.
 */
static int e_set_qos(json_object *root, json_object *params, json_object **result, char *msg, size_t msglen)
{
	json_object *v, *s, *ns, *o, *list;
	const char *host = NULL, *nqn = NULL;
	int64_t nsid = 0;
	bool ok;
	int rc;

	(void)result;
	if (json_object_object_get_ex(params, "host", &v) && !(host = param_str(params, "host", msg, msglen)))
		return RPC_BAD_PARAMS;
	if (json_object_object_get_ex(params, "subsystem", &v)) {
		if (!(nqn = param_str(params, "subsystem", msg, msglen)))
			return RPC_BAD_PARAMS;
		nsid = param_int(params, "nsid", &ok, msg, msglen);
		if (!ok)
			return RPC_BAD_PARAMS;
	} else if (json_object_object_get_ex(params, "nsid", &v)) {
		snprintf(msg, msglen, "set-qos: nsid needs subsystem");
		return RPC_BAD_PARAMS;
	}
	if (!host && !nqn) {
		snprintf(msg, msglen, "set-qos needs host, or subsystem and nsid, or all three");
		return RPC_BAD_PARAMS;
	}
	if (!nqn) {
		list = array_of(root, "hosts");
		o = find_by(list, "nqn", host, 0);
		if (!o) {
			o = json_object_new_object();
			json_object_object_add(o, "nqn", json_object_new_string(host));
			json_object_array_add(list, o);
		}
		rc = qos_limits(qos_object(o), params, msg, msglen);
		drop_if_empty(o, "qos", qos_object(o));
		return rc;
	}
	if (!(s = find_subsys_json(root, nqn, msg, msglen)))
		return RPC_BAD_PARAMS;
	ns = find_by(array_of(s, "namespaces"), "nsid", NULL, nsid);
	if (!ns) {
		snprintf(msg, msglen, "%.223s has no namespace %lld", nqn, (long long)nsid);
		return RPC_REFUSED;
	}
	if (!host) {
		rc = qos_limits(qos_object(ns), params, msg, msglen);
		drop_if_empty(ns, "qos", qos_object(ns));
		return rc;
	}
	list = array_of(ns, "host_qos");
	o = find_by(list, "host", host, 0);
	if (!o) {
		o = json_object_new_object();
		json_object_object_add(o, "host", json_object_new_string(host));
		json_object_array_add(list, o);
	}
	rc = qos_limits(o, params, msg, msglen);
	if (json_object_object_length(o) == 1) {        /* only "host" left */
		for (size_t i = 0; i < json_object_array_length(list); i++)
			if (json_object_array_get_idx(list, i) == o) {
				json_object_array_del_idx(list, i, 1);
				break;
			}
		if (!json_object_array_length(list))
			json_object_object_del(ns, "host_qos");
	}
	return rc;
}

rpc_edit_fn rpc_find_edit(const char *method)
{
	static const struct {
		const char *name;
		rpc_edit_fn fn;
	} edits[] = {
		{ "add-namespace", e_add_namespace },
		{ "remove-namespace", e_remove_namespace },
		{ "add-host", e_add_host },
		{ "remove-host", e_remove_host },
		{ "add-port", e_add_port },
		{ "remove-port", e_remove_port },
		{ "set-ana-state", e_set_ana_state },
		{ "set-qos", e_set_qos },
	};

	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++)
		if (!strcmp(method, edits[i].name))
			return edits[i].fn;
	return NULL;
}
