/* SPDX-License-Identifier: MIT */
#include "common/cli.h"

#include <stdio.h>

void cli_vmsg(const char *prefix, const char *fmt, va_list ap)
{
	fflush(stdout);
	fprintf(stderr, "%s: ", prefix);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}
