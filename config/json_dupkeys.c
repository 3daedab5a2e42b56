/* SPDX-License-Identifier: MIT */
/*
 * Duplicate keys in a JSON text. json-c keeps the last of two equal keys
 * without a word, so a second "allow_any_host" further down a subsystem
 * would silently win. This scanner walks the text json-c has already
 * accepted (so it can trust the syntax), keeps the keys of every open
 * object and checks them when the object closes. Keys are compared by
 * what they decode to, as json-c sees them: "allow_any_hos\u0074" is
 * "allow_any_host", a surrogate that is not half of a pair is U+FFFD, and
 * a key ends at its first \u0000 ("allow_any_host\u0000x" is
 * "allow_any_host" to json-c too).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "config/config_internal.h"

/* json-c's own default nesting limit is 32 */
#define SCAN_MAX_DEPTH 64

struct scan_key {
	const char *name;       /* decoded (points into the text when it has no escape) */
	size_t len;
	size_t offset;          /* of the opening quote */
	char *owned;            /* the decoded copy, when the key had escapes */
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

static int hexval(char ch)
{
	return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 :
	       ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

static unsigned read_u4(const char *p, size_t left)
{
	unsigned v = 0;

	for (unsigned i = 0; i < 4; i++) {
		int h = i < left ? hexval(p[i]) : -1;

		if (h < 0)
			return 0xfffd;  /* json-c accepted the text: not reached */
		v = v << 4 | (unsigned)h;
	}
	return v;
}

static size_t put_utf8(char *o, unsigned cp)
{
	/* json-c writes a lone surrogate as the replacement character */
	if (cp >= 0xd800 && cp < 0xe000)
		cp = 0xfffd;
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Decode the JSON escapes of raw[0..len) into out (room for len bytes:
 * no escape decodes longer than it is written). Returns the length, up to
 * the first NUL: json-c keeps keys as C strings. */
static size_t decode_key(const char *raw, size_t len, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned cp;

		if (raw[i] == '\0')
			break;
		if (raw[i] != '\\' || i + 1 >= len) {
			out[o++] = raw[i];
			continue;
		}
		switch (raw[++i]) {
		case 'b': out[o++] = '\b'; break;
		case 'f': out[o++] = '\f'; break;
		case 'n': out[o++] = '\n'; break;
		case 'r': out[o++] = '\r'; break;
		case 't': out[o++] = '\t'; break;
		case 'u':
			cp = read_u4(raw + i + 1, len - i - 1);
			i += 4;
			/* a surrogate pair is one code point */
			if (cp >= 0xd800 && cp < 0xdc00 && i + 6 < len && raw[i + 1] == '\\' && raw[i + 2] == 'u') {
				unsigned lo = read_u4(raw + i + 3, len - i - 3);

				if (lo >= 0xdc00 && lo < 0xe000) {
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
					i += 6;
				}
			}
			if (!cp)
				return o;
			o += put_utf8(out + o, cp);
			break;
		default:        /* \" \\ \/ */
			out[o++] = raw[i];
		}
	}
	return o;
}

static int push_key(struct scan *s, const char *raw, size_t len, size_t offset)
{
	struct scan_key k = { raw, strnlen(raw, len), offset, NULL };

	if (s->nr_keys == s->cap_keys) {
		size_t cap = s->cap_keys ? s->cap_keys * 2 : 64;
		struct scan_key *nk = realloc(s->keys, cap * sizeof(*nk));

		if (!nk)
			return -ENOMEM;
		s->keys = nk;
		s->cap_keys = cap;
	}
	if (memchr(raw, '\\', len)) {
		k.owned = malloc(len ? len : 1);
		if (!k.owned)
			return -ENOMEM;
		k.len = decode_key(raw, len, k.owned);
		k.name = k.owned;
	}
	s->keys[s->nr_keys++] = k;
	return 0;
}

static void free_keys(struct scan *s, size_t from)
{
	for (size_t i = from; i < s->nr_keys; i++)
		free(s->keys[i].owned);
	s->nr_keys = from;
}

/* append a key, decoded then escaped for printing */
static size_t path_key(char *path, size_t pathlen, size_t n, const char *name, size_t len, bool raw)
{
	char dec[256], esc[256];
	size_t dl;

	if (n >= pathlen)
		return n;
	if (raw && len <= sizeof(dec) && memchr(name, '\\', len)) {
		dl = decode_key(name, len, dec);
	} else {
		dl = len < sizeof(dec) ? len : sizeof(dec);
		memcpy(dec, name, dl);
	}
	log_escape(esc, sizeof(esc), dec, dl);
	return n + (size_t)snprintf(path + n, pathlen - n, "%s%s", n ? "." : "", esc);
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
			n = path_key(path, pathlen, n, f->key, f->keylen, true);
		else
			n += (size_t)snprintf(path + n, pathlen - n, "[%zu]", f->index);
	}
	path_key(path, pathlen, n, key->name, key->len, false);
}

/* The innermost object closes: are two of its keys equal? */
static bool close_object(struct scan *s, char *path, size_t pathlen, size_t *offset)
{
	struct scan_frame *f = &s->frames[s->depth - 1];
	size_t n = s->nr_keys - f->first_key, i;
	struct scan_key *k = n ? s->keys + f->first_key : NULL;  /* keys is NULL before the first key */
	const struct scan_key *dup = NULL;

	if (n > 1)
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
	free_keys(s, f->first_key);
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
	free_keys(&s, 0);
	free(s.keys);
	/* deeper than we track: json-c refuses such text before we get here */
	return ret == -E2BIG ? 0 : ret;
}
