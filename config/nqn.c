/* SPDX-License-Identifier: MIT */
/*
 * NQN validation, after SPDK's nvmf_nqn_is_valid (lib/nvmf/subsystem.c) and
 * NVMe Base 2.0 section 4.5, with two deliberate differences: a domain
 * label may start with a digit (RFC 1123 allows it, SPDK does not) and the
 * month of the date code must be 01..12 (SPDK only checks for digits).
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "config/config_internal.h"

#define DOMAIN_LABEL_MAX_LEN 63

static bool __attribute__((format(printf, 3, 4)))
invalid(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why && whylen) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return false;
}

static bool is_alnum(char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
	       (ch >= 'A' && ch <= 'Z');
}

static bool is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

/* "yyyy-mm." right after "nqn." */
static bool date_valid(const char *d, char *why, size_t whylen)
{
	int month;

	if (!(is_digit(d[0]) && is_digit(d[1]) && is_digit(d[2]) &&
	      is_digit(d[3]) && d[4] == '-' && is_digit(d[5]) &&
	      is_digit(d[6]) && d[7] == '.'))
		return invalid(why, whylen,
			       "expected a date code \"nqn.yyyy-mm.\" before the domain name");
	month = (d[5] - '0') * 10 + (d[6] - '0');
	if (month < 1 || month > 12)
		return invalid(why, whylen, "month %c%c of the date code is not 01..12",
			       d[5], d[6]);
	return true;
}

/* The reverse domain name [begin, end): dot-separated labels of
 * [A-Za-z0-9-], 1..63 characters, not starting or ending with '-'. */
static bool domain_valid(const char *begin, const char *end, char *why, size_t whylen)
{
	const char *label = begin, *p;

	if (begin == end)
		return invalid(why, whylen, "empty domain name before ':'");
	for (p = begin; p <= end; p++) {
		if (p < end && *p != '.') {
			if (!is_alnum(*p) && *p != '-')
				return invalid(why, whylen,
					       "domain name may contain only letters, digits, '-' and '.', not '%c'",
					       *p);
			continue;
		}
		/* end of a label */
		if (p == label)
			return invalid(why, whylen, "empty label in the domain name");
		if (p - label > DOMAIN_LABEL_MAX_LEN)
			return invalid(why, whylen, "domain label longer than %d characters",
				       DOMAIN_LABEL_MAX_LEN);
		if (*label == '-' || p[-1] == '-')
			return invalid(why, whylen,
				       "a domain label may not start or end with '-'");
		label = p + 1;
	}
	return true;
}

/* Length of the UTF-8 sequence at s, 0 if it is malformed, overlong, a
 * surrogate or beyond U+10FFFF. */
static size_t utf8_seq_len(const unsigned char *s)
{
	uint32_t cp, min;
	size_t n, i;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2, cp = s[0] & 0x1f, min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3, cp = s[0] & 0x0f, min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4, cp = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)  /* also stops at the NUL */
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* The user string after ':' : any UTF-8 but no control characters (they
 * would end up in log lines and in the discovery log page). */
static bool user_string_valid(const char *s, char *why, size_t whylen)
{
	const unsigned char *p = (const unsigned char *)s;

	if (!*p)
		return invalid(why, whylen, "empty name after ':'");
	while (*p) {
		size_t n = utf8_seq_len(p);

		if (!n)
			return invalid(why, whylen, "the name after ':' is not valid UTF-8");
		if (n == 1 && (*p < 0x20 || *p == 0x7f))
			return invalid(why, whylen, "control character in the name after ':'");
		p += n;
	}
	return true;
}

bool nqn_valid(const char *nqn, char *why, size_t whylen)
{
	const size_t uuid_pre = strlen(CFG_UUID_NQN_PREFIX);
	const char *colon;
	uint8_t uuid[16];
	size_t len;

	if (why && whylen)
		why[0] = '\0';
	if (!nqn || !*nqn)
		return invalid(why, whylen, "empty NQN");
	len = strlen(nqn);
	if (len > CFG_NQN_MAX_LEN)
		return invalid(why, whylen, "%zu bytes long; the maximum is %d",
			       len, CFG_NQN_MAX_LEN);
	if (!strcmp(nqn, CFG_DISCOVERY_NQN))
		return true;
	if (!strncmp(nqn, CFG_UUID_NQN_PREFIX, uuid_pre)) {
		if (cfg_parse_uuid(nqn + uuid_pre, uuid))
			return invalid(why, whylen,
				       "expected a UUID (8-4-4-4-12 hex digits) after \"%s\"",
				       CFG_UUID_NQN_PREFIX);
		return true;
	}
	if (strncmp(nqn, "nqn.", 4))
		return invalid(why, whylen, "does not start with \"nqn.\"");
	/* the && chain in date_valid stops at the NUL of a short string */
	if (!date_valid(nqn + 4, why, whylen))
		return false;
	colon = strchr(nqn + 12, ':');
	if (!colon)
		return invalid(why, whylen,
			       "no ':' between the reverse domain name and the name");
	return domain_valid(nqn + 12, colon, why, whylen) &&
	       user_string_valid(colon + 1, why, whylen);
}
