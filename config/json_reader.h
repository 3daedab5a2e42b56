/* SPDX-License-Identifier: MIT */
/*
 * The walk over a parsed JSON configuration, shared by the files of
 * config/ (config.c: top level; subsystems.c: hosts, subsystems,
 * namespaces; ports.c: ports) and by nothing else: json-c types stop here.
 *
 * struct cfg_ctx carries the object path ("subsystems[0].namespaces[1]")
 * as the walk descends: cfg_path_key()/cfg_path_index() append and return
 * a mark, cfg_path_pop() goes back to it. Every error goes through
 * cfg_fail*(), which writes "FILE: PATH: problem" and returns -EINVAL.
 *
 * A member that is absent, null or "" is unset: nvmetcli dumps configfs
 * attributes that were never written as "". The cfg_opt_*() readers then
 * give the default, the cfg_req_*() readers refuse with "missing".
 * Integers and booleans are accepted as JSON numbers/booleans and as
 * nvmetcli's strings ("4420", "1").
 */
#ifndef CONFIG_JSON_READER_H
#define CONFIG_JSON_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "config/config.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define CFG_NSID_MAX 0xfffffffeLL
#define CFG_CNTLID_MAX 65519
#define CFG_MODEL_DEFAULT "Linux"
#define CFG_INLINE_DEFAULT 8192
/* Each queue slot of a fabric connection owns an in-capsule buffer this
 * large: 128 KiB times a 128-deep queue is already 16 MiB per connection. */
#define CFG_INLINE_MAX (128 << 10)

struct cfg_ctx {
	const char *file;       /* names the input in every message */
	char *err;
	size_t errlen;
	char path[256];         /* "subsystems[0].namespaces[1].device.pcie" */
	size_t plen;
	struct config *cfg;     /* being filled; arrays count what is parsed */
};

/* object path */
size_t cfg_path_key(struct cfg_ctx *c, const char *key);
size_t cfg_path_index(struct cfg_ctx *c, size_t i);
void cfg_path_pop(struct cfg_ctx *c, size_t mark);

/* errors: all return the error for "return cfg_fail(...)" */
int cfg_fail(struct cfg_ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int cfg_fail_key(struct cfg_ctx *c, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int cfg_fail_file(struct cfg_ctx *c, int ret, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int cfg_no_memory(struct cfg_ctx *c);

/* values at the current path */
struct json_object *cfg_member(struct json_object *obj, const char *key);
bool cfg_unset(struct json_object *v);
const char *cfg_jtype(struct json_object *v);
int cfg_read_string(struct cfg_ctx *c, struct json_object *v, const char **out);
int cfg_read_int(struct cfg_ctx *c, struct json_object *v, int64_t min,
		 int64_t max, int64_t *out);
int cfg_read_bool(struct cfg_ctx *c, struct json_object *v, bool *out);

/* members of obj: errors name obj's path plus key */
int cfg_opt_int(struct cfg_ctx *c, struct json_object *obj, const char *key,
		int64_t min, int64_t max, int64_t def, int64_t *out);
int cfg_req_int(struct cfg_ctx *c, struct json_object *obj, const char *key,
		int64_t min, int64_t max, int64_t *out);
int cfg_opt_bool(struct cfg_ctx *c, struct json_object *obj, const char *key,
		 bool def, bool *out);
int cfg_opt_str(struct cfg_ctx *c, struct json_object *obj, const char *key,
		const char **out);
int cfg_req_str(struct cfg_ctx *c, struct json_object *obj, const char *key,
		const char **out);
int cfg_opt_ascii(struct cfg_ctx *c, struct json_object *obj, const char *key,
		  size_t max, char *out, const char *def);
int cfg_want_off(struct cfg_ctx *c, struct json_object *obj, const char *key,
		 const char *why);

/* containers */
int cfg_check_keys(struct cfg_ctx *c, struct json_object *obj,
		   const char *const *allowed);
int cfg_expect_object(struct cfg_ctx *c, struct json_object *v);
/* One element of an array for cfg_parse_array: index i, arg the caller's */
typedef int (*cfg_elem_fn)(struct cfg_ctx *c, struct json_object *elem, unsigned i, void *arg);
/*
 * The array under obj.key (absent or null: empty), each element through
 * fn under the path key[i], stopping at the first error. With size, *out
 * (a pointer to the caller's array pointer) first gets a zeroed array of
 * that many elements (left NULL when empty). *nr, when given, counts the
 * elements reached, set before each fn so that a check against earlier
 * elements sees only real ones. max bounds the count (0: no bound), what
 * names the elements in that error.
 */
int cfg_parse_array(struct cfg_ctx *c, struct json_object *obj, const char *key, size_t max, const char *what,
		    size_t size, void *out, unsigned *nr, cfg_elem_fn fn, void *arg);
int cfg_opt_array(struct cfg_ctx *c, struct json_object *obj, const char *key,
		  struct json_object **arr, size_t *n);
int cfg_opt_object(struct cfg_ctx *c, struct json_object *obj, const char *key,
		   struct json_object **out);

enum cfg_nqn_role { CFG_NQN_SUBSYSTEM, CFG_NQN_HOST };

int cfg_read_nqn(struct cfg_ctx *c, struct json_object *v, enum cfg_nqn_role role,
		 char *out);
int cfg_req_nqn(struct cfg_ctx *c, struct json_object *obj, const char *key,
		enum cfg_nqn_role role, char *out);

bool cfg_all_zero(const uint8_t *p, size_t n);

/* The schema's parts: element i of the hosts, subsystems and ports arrays,
 * parsed into c->cfg. Subsystems must be complete before ports, which
 * refer to them. */
int cfg_parse_host(struct cfg_ctx *c, struct json_object *obj, unsigned i, void *arg);
int cfg_parse_subsystem(struct cfg_ctx *c, struct json_object *obj, unsigned i, void *arg);
int cfg_parse_port(struct cfg_ctx *c, struct json_object *obj, unsigned i, void *arg);
/* qos.c: parent's "qos" limits object, and a namespace's "host_qos" array */
int cfg_parse_qos(struct cfg_ctx *c, struct json_object *parent, struct cfg_qos *q);
int cfg_parse_host_qos(struct cfg_ctx *c, struct json_object *parent, struct cfg_namespace *ns);

#endif
