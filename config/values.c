/* SPDX-License-Identifier: MIT */
/*
 * Parsers for the scalar values of the configuration: integers written as
 * strings (nvmetcli writes "4420"), sizes ("256MiB"), UUIDs, NGUIDs and PCI
 * addresses. Pure functions with no JSON in sight, tested one by one.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"
#include "config/config_internal.h"

static int hex_digit(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static bool is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

/* Unsigned decimal digits at *sp; advances *sp. -EINVAL if there are none. */
static int parse_digits(const char **sp, uint64_t *out)
{
	const char *s = *sp;
	uint64_t v = 0;

	if (!is_digit(*s))
		return -EINVAL;
	for (; is_digit(*s); s++) {
		unsigned d = (unsigned)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*sp = s;
	*out = v;
	return 0;
}

int cfg_parse_int64(const char *s, int64_t *out)
{
	bool neg = false;
	uint64_t v;
	int ret;

	if (!s)
		return -EINVAL;
	if (*s == '-') {
		neg = true;
		s++;
	}
	ret = parse_digits(&s, &v);
	if (ret)
		return ret;
	if (*s)
		return -EINVAL;
	if (neg) {
		if (v > (uint64_t)INT64_MAX + 1)
			return -ERANGE;
		*out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	} else {
		if (v > INT64_MAX)
			return -ERANGE;
		*out = (int64_t)v;
	}
	return 0;
}

/*
 * Binary units only. "GB" and friends are refused rather than guessed:
 * half the world reads them as powers of ten, and a namespace that is 7%
 * smaller than intended is a nasty surprise.
 */
static const struct {
	const char *suffix;
	unsigned shift;
} size_units[] = {
	{ "", 0 },   { "B", 0 },
	{ "K", 10 }, { "KiB", 10 },
	{ "M", 20 }, { "MiB", 20 },
	{ "G", 30 }, { "GiB", 30 },
	{ "T", 40 }, { "TiB", 40 },
};

int parse_size(const char *s, uint64_t *bytes)
{
	uint64_t v;
	size_t i;

	if (!s || !bytes || parse_digits(&s, &v))
		return -EINVAL;
	if (*s == ' ')          /* "1 GiB" */
		s++;
	for (i = 0; i < sizeof(size_units) / sizeof(size_units[0]); i++) {
		if (strcasecmp(s, size_units[i].suffix))
			continue;
		if (s[0] == '\0' && s[-1] == ' ')
			return -EINVAL; /* trailing space */
		if (v > (UINT64_MAX >> size_units[i].shift))
			return -EINVAL;
		*bytes = v << size_units[i].shift;
		return 0;
	}
	return -EINVAL;
}

int cfg_parse_uuid(const char *s, uint8_t out[16])
{
	uint8_t buf[16];
	unsigned n = 0;
	size_t i = 0;

	if (!s || strlen(s) != 36)
		return -EINVAL;
	while (i < 36) {
		int hi, lo;

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i++] != '-')
				return -EINVAL;
			continue;
		}
		hi = hex_digit(s[i]);
		lo = hex_digit(s[i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		buf[n++] = (uint8_t)(hi << 4 | lo);
		i += 2;
	}
	memcpy(out, buf, sizeof(buf));
	return 0;
}

int cfg_parse_nguid(const char *s, uint8_t out[16])
{
	unsigned digits = 0;
	uint8_t buf[16] = { 0 };

	if (!s || *s == '-')
		return -EINVAL;
	for (; *s; s++) {
		int d;

		if (*s == '-') {
			if (s[1] == '-' || s[1] == '\0')
				return -EINVAL;
			continue;
		}
		d = hex_digit(*s);
		if (d < 0 || digits == 32)
			return -EINVAL;
		buf[digits / 2] |= (uint8_t)(digits % 2 ? d : d << 4);
		digits++;
	}
	if (digits != 32)
		return -EINVAL;
	memcpy(out, buf, 16);
	return 0;
}

/* n hex digits at s into *v */
static int hex_field(const char *s, unsigned n, unsigned *v)
{
	unsigned i;

	*v = 0;
	for (i = 0; i < n; i++) {
		int d = hex_digit(s[i]);

		if (d < 0)
			return -EINVAL;
		*v = *v << 4 | (unsigned)d;
	}
	return 0;
}

int cfg_parse_bdf(const char *s, char *out, size_t outlen)
{
	unsigned dom = 0, bus, dev, fn;
	size_t len;

	if (!s)
		return -EINVAL;
	len = strlen(s);
	if (len == 12) {
		if (hex_field(s, 4, &dom) || s[4] != ':')
			return -EINVAL;
		s += 5;
	} else if (len != 7) {
		return -EINVAL;
	}
	if (hex_field(s, 2, &bus) || s[2] != ':' ||
	    hex_field(s + 3, 2, &dev) || s[5] != '.' ||
	    hex_field(s + 6, 1, &fn))
		return -EINVAL;
	if (dev > 0x1f || fn > 7)
		return -EINVAL;
	if (snprintf(out, outlen, "%04x:%02x:%02x.%x", dom, bus, dev, fn) >= (int)outlen)
		return -EINVAL;
	return 0;
}

static const struct {
	const char *name;
	unsigned state;
} ana_states[] = {
	{ "optimized", CFG_ANA_OPTIMIZED },
	{ "non-optimized", CFG_ANA_NON_OPTIMIZED },
	{ "inaccessible", CFG_ANA_INACCESSIBLE },
	{ "persistent-loss", CFG_ANA_PERSISTENT_LOSS },
	{ "change", CFG_ANA_CHANGE },
};

unsigned cfg_ana_state_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(ana_states) / sizeof(ana_states[0]); i++)
		if (!strcmp(s, ana_states[i].name))
			return ana_states[i].state;
	return 0;
}

const char *cfg_ana_state_name(unsigned state)
{
	for (size_t i = 0; i < sizeof(ana_states) / sizeof(ana_states[0]); i++)
		if (state == ana_states[i].state)
			return ana_states[i].name;
	return "optimized";
}

const char *cfg_trtype_name(enum cfg_trtype t)
{
	switch (t) {
	case CFG_TRTYPE_TCP:
		return "tcp";
	case CFG_TRTYPE_RDMA:
		return "rdma";
	}
	return "";      /* unset to the reader: a broken model is refused there */
}
