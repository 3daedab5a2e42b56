/* SPDX-License-Identifier: MIT */
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>

static enum log_level log_max = LOG_LVL_NOTICE;
static bool log_journal;

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

void log_msg(enum log_level lvl, const char *tag, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	if (!log_enabled(lvl))
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	/* one fprintf per line so concurrent threads do not interleave */
	if (log_journal)
		fprintf(stderr, "<%d>%s: %s\n", (int)lvl, tag, line);
	else
		fprintf(stderr, "%s: %s\n", tag, line);
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
