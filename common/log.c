/* SPDX-License-Identifier: MIT */
/*
 * Logging: one line per message, escaped (nothing a peer sends can split
 * a line or reach a terminal as a control sequence), and rate-limited per
 * source for lines that peers cause (log_peer_msg).
 */
#include "common/log.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define LINE_MAX_BYTES 1024
/* per source: a burst, then a steady rate */
#define PEER_BURST 20
#define PEER_PER_SEC 2
/* all sources of one thread together */
#define ALL_BURST 200
#define ALL_PER_SEC 50
#define PEER_SLOTS 256
#define PEER_SRC_MAX 64

static enum log_level log_max = LOG_LVL_NOTICE;
static bool log_journal;
static FILE *log_out;
static uint64_t (*log_clock)(void);

void log_set_level(enum log_level max)
{
	log_max = max;
}

void log_set_journal(bool on)
{
	log_journal = on;
}

bool log_enabled(enum log_level lvl)
{
	return lvl <= log_max;
}

void log_set_output_for_test(FILE *f)
{
	log_out = f;
}

void log_set_clock_for_test(uint64_t (*now_ns)(void))
{
	log_clock = now_ns;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	if (log_clock)
		return log_clock();
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Escape src into dst (NUL-terminated); *used: input bytes that fit. */
static size_t escape(char *dst, size_t dstlen, const char *src, size_t srclen, size_t *used)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, i;

	for (i = 0; i < srclen; i++) {
		unsigned char ch = (unsigned char)src[i];
		char esc[4];
		size_t n;

		if (ch == '\\') {
			esc[0] = esc[1] = '\\';
			n = 2;
		} else if (ch < 0x20 || ch >= 0x7f) {
			esc[0] = '\\';
			esc[1] = 'x';
			esc[2] = hex[ch >> 4];
			esc[3] = hex[ch & 15];
			n = 4;
		} else {
			esc[0] = (char)ch;
			n = 1;
		}
		if (o + n >= dstlen)
			break;          /* never half an escape */
		memcpy(dst + o, esc, n);
		o += n;
	}
	dst[o] = '\0';
	*used = i;
	return o;
}

size_t log_escape(char *dst, size_t dstlen, const char *src, size_t srclen)
{
	size_t used;

	if (!dstlen)
		return 0;
	return escape(dst, dstlen, src, srclen, &used);
}

/* Escape line into out; "..." marks a line cut short. */
static void escape_line(char *out, size_t outlen, const char *line, size_t len, bool truncated)
{
	size_t used, n = escape(out, outlen - 3, line, len, &used);

	if (truncated || used < len)
		memcpy(out + n, "...", 4);
}

static void emit(enum log_level lvl, const char *tag, const char *fmt, va_list ap, const char *suffix)
{
	char line[LINE_MAX_BYTES], esc[LINE_MAX_BYTES];
	FILE *f = log_out ? log_out : stderr;
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	size_t len;

	if (n < 0)
		return;
	len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
	escape_line(esc, sizeof(esc) - 96, line, len, (size_t)n >= sizeof(line));
	/* one fprintf per line so concurrent threads do not interleave */
	if (log_journal)
		fprintf(f, "<%d>%s: %s%s\n", (int)lvl, tag, esc, suffix);
	else
		fprintf(f, "%s: %s%s\n", tag, esc, suffix);
}

void log_msg(enum log_level lvl, const char *tag, const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(lvl))
		return;
	va_start(ap, fmt);
	emit(lvl, tag, fmt, ap, "");
	va_end(ap);
}

/* --- per-source rate limiting --------------------------------------------------- */

struct bucket {
	uint64_t last_ns;             /* last refill */
	uint32_t tokens_milli;        /* tokens x 1000 */
	uint32_t dropped;             /* since the last line let through */
};

struct peer_slot {
	char src[PEER_SRC_MAX];
	bool chatter;                 /* info and debug lines: their own budget */
	uint64_t used_ns;             /* for eviction: least recently used goes */
	struct bucket b;
};

/* Per thread (each reactor logs its own connections): no lock. */
static __thread struct peer_slot peers[PEER_SLOTS];
static __thread struct bucket all = { .tokens_milli = ALL_BURST * 1000u };
static __thread bool all_init;

static bool take(struct bucket *b, uint64_t now, unsigned burst, unsigned per_sec)
{
	uint64_t add = (now - b->last_ns) * per_sec / 1000000u;   /* milli-tokens */

	if (now > b->last_ns) {
		b->tokens_milli = add + b->tokens_milli > burst * 1000u ? burst * 1000u : (uint32_t)(add + b->tokens_milli);
		b->last_ns = now;
	}
	if (b->tokens_milli < 1000u) {
		b->dropped++;
		return false;
	}
	b->tokens_milli -= 1000u;
	return true;
}

static uint32_t hash_src(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

/* The source's slot: found by linear probing over a few slots from its
 * hash; a new source takes the least recently used slot among those.
 * Warnings and notices have a budget apart from info lines, so that a
 * host's connect/close chatter never hides why it was refused. */
static struct peer_slot *slot_of(const char *src, bool chatter, uint64_t now)
{
	uint32_t h = hash_src(src) + chatter;
	struct peer_slot *victim = NULL;

	for (unsigned i = 0; i < 8; i++) {
		struct peer_slot *p = &peers[(h + i) % PEER_SLOTS];

		if (p->used_ns && p->chatter == chatter && !strncmp(p->src, src, PEER_SRC_MAX - 1)) {
			p->used_ns = now;
			return p;
		}
		if (!victim || p->used_ns < victim->used_ns)
			victim = p;
	}
	memset(victim, 0, sizeof(*victim));
	snprintf(victim->src, sizeof(victim->src), "%s", src);
	victim->chatter = chatter;
	victim->used_ns = now ? now : 1;
	victim->b = (struct bucket){ .last_ns = now, .tokens_milli = PEER_BURST * 1000u };
	return victim;
}

void log_peer_msg(enum log_level lvl, const char *tag, const char *source, const char *fmt, ...)
{
	char suffix[160] = "", esrc[PEER_SRC_MAX * 4];
	struct peer_slot *p;
	uint64_t now;
	va_list ap;
	size_t n = 0;

	if (!log_enabled(lvl))
		return;
	now = now_ns();
	if (!all_init) {
		all.last_ns = now;
		all_init = true;
	}
	p = slot_of(source ? source : "", lvl >= LOG_LVL_INFO, now);
	if (!take(&p->b, now, PEER_BURST, PEER_PER_SEC))
		return;
	if (!take(&all, now, ALL_BURST, ALL_PER_SEC)) {
		/* counted against everyone: this source's line is lost too */
		return;
	}
	if (p->b.dropped) {
		log_escape(esrc, sizeof(esrc), p->src, strlen(p->src));
		n += (size_t)snprintf(suffix + n, sizeof(suffix) - n, " [%u similar lines from %s suppressed]",
				      p->b.dropped, esrc);
		p->b.dropped = 0;
	}
	if (all.dropped && n < sizeof(suffix)) {
		snprintf(suffix + n, sizeof(suffix) - n, " [%u lines from all peers suppressed]", all.dropped);
		all.dropped = 0;
	}
	va_start(ap, fmt);
	emit(lvl, tag, fmt, ap, suffix);
	va_end(ap);
}

void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}
