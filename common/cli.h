/* SPDX-License-Identifier: MIT */
/* The command-line tools' one-line messages on stderr (cli.c). */
#ifndef COMMON_CLI_H
#define COMMON_CLI_H

#include <stdarg.h>

/* "PREFIX: MESSAGE\n" on stderr, after what stdout holds so far */
void cli_vmsg(const char *prefix, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#endif
