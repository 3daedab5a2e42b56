/* SPDX-License-Identifier: MIT */
/*
 * QoS limits in the configuration (ours; nvmet has no words for them):
 *   hosts[].qos                   a host's total over everything it reaches
 *   namespaces[].qos              a namespace's total over every host
 *   namespaces[].host_qos[]       {"host": NQN, limits...}: one host on that namespace
 * A limits object holds read_iops, write_iops (operations per second) and
 * read_bw, write_bw (bytes per second: a number or a size string such as
 * "100MiB", as mem devices take). Absent or 0: unlimited.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config/json_reader.h"

/* read_bw / write_bw: a byte count or a size string ("100MiB") */
static int parse_bw(struct cfg_ctx *c, struct json_object *obj, const char *key, uint64_t *out)
{
	struct json_object *v = cfg_member(obj, key);
	int64_t n;

	*out = 0;
	if (cfg_unset(v))
		return 0;
	if (json_object_is_type(v, json_type_string)) {
		const char *s = json_object_get_string(v);

		if (parse_size(s, out))
			return cfg_fail_key(c, key, "\"%s\" is not a size per second (e.g. \"100MiB\", \"1G\" or a number "
					    "of bytes)", s);
		return 0;
	}
	if (cfg_opt_int(c, obj, key, 0, INT64_MAX, 0, &n))
		return -EINVAL;
	*out = (uint64_t)n;
	return 0;
}

/* The limit members of obj (other members are the caller's to check) */
static int parse_limits(struct cfg_ctx *c, struct json_object *obj, struct cfg_qos *q)
{
	int64_t r, w;

	if (cfg_opt_int(c, obj, "read_iops", 0, UINT32_MAX, 0, &r) ||
	    cfg_opt_int(c, obj, "write_iops", 0, UINT32_MAX, 0, &w))
		return -EINVAL;
	q->read_iops = (uint64_t)r;
	q->write_iops = (uint64_t)w;
	return parse_bw(c, obj, "read_bw", &q->read_bw) ?: parse_bw(c, obj, "write_bw", &q->write_bw);
}

int cfg_parse_qos(struct cfg_ctx *c, struct json_object *parent, struct cfg_qos *q)
{
	static const char *const keys[] = { "read_iops", "write_iops", "read_bw", "write_bw", NULL };
	struct json_object *obj;
	size_t mark;
	int ret;

	memset(q, 0, sizeof(*q));
	if (cfg_opt_object(c, parent, "qos", &obj))
		return -EINVAL;
	if (!obj)
		return 0;
	mark = cfg_path_key(c, "qos");
	ret = cfg_check_keys(c, obj, keys) ?: parse_limits(c, obj, q);
	cfg_path_pop(c, mark);
	return ret;
}

static int parse_host_qos_entry(struct cfg_ctx *c, struct json_object *obj, unsigned i, void *arg)
{
	struct cfg_namespace *ns = arg;
	static const char *const keys[] = { "host", "read_iops", "write_iops", "read_bw", "write_bw", NULL };
	struct cfg_host_qos *h = &ns->host_qos[i];

	if (cfg_expect_object(c, obj) || cfg_check_keys(c, obj, keys) ||
	    cfg_req_nqn(c, obj, "host", CFG_NQN_HOST, h->host))
		return -EINVAL;
	for (unsigned j = 0; j < i; j++)
		if (!strcmp(ns->host_qos[j].host, h->host))
			return cfg_fail_key(c, "host", "duplicate host (also host_qos[%u])", j);
	return parse_limits(c, obj, &h->qos);
}

int cfg_parse_host_qos(struct cfg_ctx *c, struct json_object *parent, struct cfg_namespace *ns)
{
	ns->host_qos = NULL;
	ns->nr_host_qos = 0;
	return cfg_parse_array(c, parent, "host_qos", 0, NULL, sizeof(*ns->host_qos), &ns->host_qos,
			       &ns->nr_host_qos, parse_host_qos_entry, ns);
}
