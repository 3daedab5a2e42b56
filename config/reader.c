/* SPDX-License-Identifier: MIT */
/*
 * The walk's tools: object paths, one-line error messages, and typed
 * readers for members as nvmetcli writes them (strings) or people write
 * them (numbers, booleans). See json_reader.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config/config_internal.h"
#include "config/json_reader.h"

/* ---- object paths and messages ---- */

static size_t cfg_path_append(struct cfg_ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static size_t cfg_path_append(struct cfg_ctx *c, const char *fmt, ...)
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

size_t cfg_path_key(struct cfg_ctx *c, const char *key)
{
	return cfg_path_append(c, "%s%s", c->plen ? "." : "", key);
}

size_t cfg_path_index(struct cfg_ctx *c, size_t i)
{
	return cfg_path_append(c, "[%zu]", i);
}

void cfg_path_pop(struct cfg_ctx *c, size_t mark)
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

/* An error at the current path. Returns -EINVAL for "return cfg_fail(...)". */
int cfg_fail(struct cfg_ctx *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(c, c->plen ? c->path : "top level", fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* An error at member key of the current object */
int cfg_fail_key(struct cfg_ctx *c, const char *key, const char *fmt, ...)
{
	size_t mark = cfg_path_key(c, key);
	va_list ap;

	va_start(ap, fmt);
	vmsg(c, c->path, fmt, ap);
	va_end(ap);
	cfg_path_pop(c, mark);
	return -EINVAL;
}

/* An error about the file itself (no object path) */
int cfg_fail_file(struct cfg_ctx *c, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(c, NULL, fmt, ap);
	va_end(ap);
	return ret;
}

int cfg_no_memory(struct cfg_ctx *c)
{
	return cfg_fail_file(c, -ENOMEM, "out of memory");
}

const char *cfg_jtype(struct json_object *v)
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

struct json_object *cfg_member(struct json_object *obj, const char *key)
{
	struct json_object *v = NULL;

	if (!json_object_object_get_ex(obj, key, &v))
		return NULL;
	return v;
}

bool cfg_unset(struct json_object *v)
{
	return !v || json_object_is_type(v, json_type_null) ||
	       (json_object_is_type(v, json_type_string) &&
		json_object_get_string_len(v) == 0);
}

int cfg_read_string(struct cfg_ctx *c, struct json_object *v, const char **out)
{
	const char *s;

	if (!json_object_is_type(v, json_type_string))
		return cfg_fail(c, "expected a string, got %s", cfg_jtype(v));
	s = json_object_get_string(v);
	if (strlen(s) != (size_t)json_object_get_string_len(v))
		return cfg_fail(c, "the string contains a NUL character");
	*out = s;
	return 0;
}

/* Integers come as JSON numbers or as nvmetcli's decimal strings. */
int cfg_read_int(struct cfg_ctx *c, struct json_object *v, int64_t min,
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
		if (cfg_read_string(c, v, &s))
			return -EINVAL;
		if (cfg_parse_int64(s, &n))
			return cfg_fail(c, "expected an integer, got \"%s\"", s);
		break;
	default:
		return cfg_fail(c, "expected an integer, got %s", cfg_jtype(v));
	}
	if (n < min || n > max)
		return cfg_fail(c, "%lld is out of range (%lld..%lld)", (long long)n,
				(long long)min, (long long)max);
	*out = n;
	return 0;
}

/* Booleans: true/false, 0/1, "0"/"1" (nvmetcli), "true"/"false". */
int cfg_read_bool(struct cfg_ctx *c, struct json_object *v, bool *out)
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
		return cfg_fail(c, "expected 0, 1, true or false, got %lld",
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
		return cfg_fail(c, "expected 0, 1, true or false, got \"%s\"", s);
	default:
		return cfg_fail(c, "expected 0, 1, true or false, got %s", cfg_jtype(v));
	}
}

int cfg_opt_int(struct cfg_ctx *c, struct json_object *obj, const char *key,
		int64_t min, int64_t max, int64_t def, int64_t *out)
{
	struct json_object *v = cfg_member(obj, key);
	size_t mark;
	int ret;

	if (cfg_unset(v)) {
		*out = def;
		return 0;
	}
	mark = cfg_path_key(c, key);
	ret = cfg_read_int(c, v, min, max, out);
	cfg_path_pop(c, mark);
	return ret;
}

int cfg_req_int(struct cfg_ctx *c, struct json_object *obj, const char *key,
		int64_t min, int64_t max, int64_t *out)
{
	if (cfg_unset(cfg_member(obj, key)))
		return cfg_fail_key(c, key, "missing (required)");
	return cfg_opt_int(c, obj, key, min, max, 0, out);
}

int cfg_opt_bool(struct cfg_ctx *c, struct json_object *obj, const char *key,
		 bool def, bool *out)
{
	struct json_object *v = cfg_member(obj, key);
	size_t mark;
	int ret;

	if (cfg_unset(v)) {
		*out = def;
		return 0;
	}
	mark = cfg_path_key(c, key);
	ret = cfg_read_bool(c, v, out);
	cfg_path_pop(c, mark);
	return ret;
}

/* *out is NULL when unset */
int cfg_opt_str(struct cfg_ctx *c, struct json_object *obj, const char *key,
		const char **out)
{
	struct json_object *v = cfg_member(obj, key);
	size_t mark;
	int ret;

	*out = NULL;
	if (cfg_unset(v))
		return 0;
	mark = cfg_path_key(c, key);
	ret = cfg_read_string(c, v, out);
	cfg_path_pop(c, mark);
	return ret;
}

int cfg_req_str(struct cfg_ctx *c, struct json_object *obj, const char *key,
		const char **out)
{
	int ret = cfg_opt_str(c, obj, key, out);

	if (!ret && !*out)
		return cfg_fail_key(c, key, "missing (required)");
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
int cfg_check_keys(struct cfg_ctx *c, struct json_object *obj,
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
		return cfg_fail_key(c, key, "unknown key (expected one of: %s)", list);
	}
	return 0;
}

int cfg_expect_object(struct cfg_ctx *c, struct json_object *v)
{
	if (!json_object_is_type(v, json_type_object))
		return cfg_fail(c, "expected an object, got %s", cfg_jtype(v));
	return 0;
}

/* obj.key as an array; *arr NULL and *n 0 when absent or null */
int cfg_opt_array(struct cfg_ctx *c, struct json_object *obj, const char *key,
		  struct json_object **arr, size_t *n)
{
	struct json_object *v = cfg_member(obj, key);

	*arr = NULL;
	*n = 0;
	if (!v || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_array))
		return cfg_fail_key(c, key, "expected an array, got %s", cfg_jtype(v));
	*arr = v;
	*n = json_object_array_length(v);
	return 0;
}

int cfg_parse_array(struct cfg_ctx *c, struct json_object *obj, const char *key, size_t max, const char *what,
		    size_t size, void *out, unsigned *nr, cfg_elem_fn fn, void *arg)
{
	struct json_object *arr;
	size_t n, mark;
	int ret = 0;

	if (cfg_opt_array(c, obj, key, &arr, &n))
		return -EINVAL;
	if (max && n > max)
		return cfg_fail_key(c, key, "%zu %s; at most %zu", n, what, max);
	if (size && n) {
		void *a = calloc(n, size);

		if (!a)
			return cfg_no_memory(c);
		*(void **)out = a;
	}
	mark = cfg_path_key(c, key);
	for (size_t i = 0; i < n && !ret; i++) {
		size_t m = cfg_path_index(c, i);

		if (nr)
			*nr = (unsigned)i + 1;
		ret = fn(c, json_object_array_get_idx(arr, i), (unsigned)i, arg);
		cfg_path_pop(c, m);
	}
	cfg_path_pop(c, mark);
	return ret;
}

/* obj.key as an object; NULL when absent or null */
int cfg_opt_object(struct cfg_ctx *c, struct json_object *obj, const char *key,
		   struct json_object **out)
{
	struct json_object *v = cfg_member(obj, key);

	*out = NULL;
	if (!v || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_object))
		return cfg_fail_key(c, key, "expected an object, got %s", cfg_jtype(v));
	*out = v;
	return 0;
}

/* ---- typed values ---- */

/* The value at the current path must be a valid NQN; copied into out
 * (CFG_NQN_SIZE bytes). */
int cfg_read_nqn(struct cfg_ctx *c, struct json_object *v, enum cfg_nqn_role role, char *out)
{
	const char *s;
	char why[128];

	if (cfg_read_string(c, v, &s))
		return -EINVAL;
	if (!nqn_valid(s, why, sizeof(why)))
		return cfg_fail(c, "invalid NQN \"%.*s\": %s", 64, s, why);
	if (!strcmp(s, CFG_DISCOVERY_NQN))
		return cfg_fail(c, "the discovery NQN %s", role == CFG_NQN_SUBSYSTEM ?
				"is served by nvmf-bridge itself and cannot be configured" :
				"cannot be a host NQN");
	snprintf(out, CFG_NQN_SIZE, "%s", s);
	return 0;
}

int cfg_req_nqn(struct cfg_ctx *c, struct json_object *obj, const char *key,
		enum cfg_nqn_role role, char *out)
{
	struct json_object *v = cfg_member(obj, key);
	size_t mark;
	int ret;

	if (cfg_unset(v))
		return cfg_fail_key(c, key, "missing (required)");
	mark = cfg_path_key(c, key);
	ret = cfg_read_nqn(c, v, role, out);
	cfg_path_pop(c, mark);
	return ret;
}

/* printable ASCII, at most max characters (Identify Controller SN, MN) */
int cfg_opt_ascii(struct cfg_ctx *c, struct json_object *obj, const char *key,
		  size_t max, char *out, const char *def)
{
	const char *s;
	int ret = cfg_opt_str(c, obj, key, &s);
	size_t i;

	if (ret)
		return ret;
	if (!s)
		s = def;
	if (strlen(s) > max)
		return cfg_fail_key(c, key, "\"%s\" is %zu characters; the maximum is %zu",
				    s, strlen(s), max);
	for (i = 0; s[i]; i++) {
		if (s[i] < 0x20 || s[i] > 0x7e)
			return cfg_fail_key(c, key, "only printable ASCII characters are allowed");
	}
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

/* Keys nvmetcli writes that hold a feature we do not have: accepted only
 * while off, so a file that turns them on is refused rather than half
 * honoured. */
int cfg_want_off(struct cfg_ctx *c, struct json_object *obj, const char *key,
		 const char *why)
{
	bool on;
	int ret = cfg_opt_bool(c, obj, key, false, &on);

	if (ret)
		return ret;
	if (on)
		return cfg_fail_key(c, key, "%s", why);
	return 0;
}

bool cfg_all_zero(const uint8_t *p, size_t n)
{
	while (n--) {
		if (*p++)
			return false;
	}
	return true;
}
