/* SPDX-License-Identifier: MIT */
/*
 * Duplicate keys in a JSON text. json-c keeps the last of two equal keys
 * without a word, so a second "allow_any_host" further down a subsystem
 * would silently win. This scanner walks the text json-c has already
 * accepted (so it can trust the syntax), keeps the keys of every open
 * object and checks them when the object closes.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_internal.h"

/* json-c's own default nesting limit is 32 */
#define SCAN_MAX_DEPTH 64

struct scan_key {
	const char *name;       /* raw text between the quotes */
	size_t len;
	size_t offset;          /* of the opening quote */
};

struct scan_frame {
	bool is_object;
	bool want_key;          /* object: the next string is a key */
	size_t index;           /* array: current element */
	const char *key;        /* object: key of the current member */
	size_t keylen;
	size_t first_key;       /* object: its keys start here in scan.keys */
};

struct scan {
	struct scan_key *keys;
	size_t nr_keys, cap_keys;
	struct scan_frame frames[SCAN_MAX_DEPTH];
	unsigned depth;
};

static int key_cmp(const void *a, const void *b)
{
	const struct scan_key *x = a, *y = b;
	int r;

	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	r = memcmp(x->name, y->name, x->len);
	if (r)
		return r;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int push_key(struct scan *s, const char *name, size_t len, size_t offset)
{
	if (s->nr_keys == s->cap_keys) {
		size_t cap = s->cap_keys ? s->cap_keys * 2 : 64;
		struct scan_key *k = realloc(s->keys, cap * sizeof(*k));

		if (!k)
			return -ENOMEM;
		s->keys = k;
		s->cap_keys = cap;
	}
	s->keys[s->nr_keys++] = (struct scan_key){ name, len, offset };
	return 0;
}

/* "subsystems[0].attr" for the frames below the innermost, then key */
static void build_path(const struct scan *s, const struct scan_key *key,
		       char *path, size_t pathlen)
{
	size_t n = 0;
	unsigned i;

	path[0] = '\0';
	for (i = 0; i + 1 < s->depth && n < pathlen; i++) {
		const struct scan_frame *f = &s->frames[i];

		if (f->is_object)
			n += (size_t)snprintf(path + n, pathlen - n, "%s%.*s", n ? "." : "",
					      (int)f->keylen, f->key);
		else
			n += (size_t)snprintf(path + n, pathlen - n, "[%zu]", f->index);
	}
	if (n < pathlen)
		snprintf(path + n, pathlen - n, "%s%.*s", n ? "." : "",
			 (int)key->len, key->name);
}

/* The innermost object closes: are two of its keys equal? */
static bool close_object(struct scan *s, char *path, size_t pathlen, size_t *offset)
{
	struct scan_frame *f = &s->frames[s->depth - 1];
	struct scan_key *k = s->keys + f->first_key;
	size_t n = s->nr_keys - f->first_key, i;
	const struct scan_key *dup = NULL;

	if (n > 1)      /* k may be NULL when no key was seen at all */
		qsort(k, n, sizeof(*k), key_cmp);
	for (i = 1; i < n; i++) {
		if (k[i].len != k[i - 1].len || memcmp(k[i].name, k[i - 1].name, k[i].len))
			continue;
		/* the earliest second occurrence in the text */
		if (!dup || k[i].offset < dup->offset)
			dup = &k[i];
	}
	if (dup) {
		build_path(s, dup, path, pathlen);
		*offset = dup->offset;
		return true;
	}
	s->nr_keys = f->first_key;
	return false;
}

/* Index of the closing quote of the string whose opening quote is at i */
static size_t skip_string(const char *text, size_t len, size_t i)
{
	for (i++; i < len && text[i] != '"'; i++) {
		if (text[i] == '\\')
			i++;
	}
	return i;
}

static int open_frame(struct scan *s, bool is_object)
{
	struct scan_frame *f;

	if (s->depth == SCAN_MAX_DEPTH)
		return -E2BIG;
	f = &s->frames[s->depth++];
	*f = (struct scan_frame){ .is_object = is_object, .want_key = is_object,
				  .first_key = s->nr_keys };
	return 0;
}

static int scan_string(struct scan *s, const char *text, size_t len, size_t *i)
{
	size_t start = *i, end = skip_string(text, len, start);
	struct scan_frame *f = s->depth ? &s->frames[s->depth - 1] : NULL;
	int ret = 0;

	if (f && f->is_object && f->want_key) {
		ret = push_key(s, text + start + 1, end - start - 1, start);
		f->key = text + start + 1;
		f->keylen = end - start - 1;
		f->want_key = false;
	}
	*i = end;
	return ret;
}

int cfg_json_find_dup_key(const char *text, size_t len, char *path,
			  size_t pathlen, size_t *offset)
{
	struct scan s = { 0 };
	int ret = 0;
	size_t i;

	for (i = 0; i < len && ret == 0; i++) {
		struct scan_frame *f = s.depth ? &s.frames[s.depth - 1] : NULL;

		switch (text[i]) {
		case '"':
			ret = scan_string(&s, text, len, &i);
			break;
		case '{':
		case '[':
			ret = open_frame(&s, text[i] == '{');
			break;
		case '}':
			if (f && close_object(&s, path, pathlen, offset))
				ret = 1;
			else if (f)
				s.depth--;
			break;
		case ']':
			if (f)
				s.depth--;
			break;
		case ',':
			if (f && f->is_object)
				f->want_key = true;
			else if (f)
				f->index++;
			break;
		default:
			break;
		}
	}
	free(s.keys);
	/* deeper than we track: json-c refuses such text before we get here */
	return ret == -E2BIG ? 0 : ret;
}
