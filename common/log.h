/* SPDX-License-Identifier: MIT */
/*
 * Logging to stderr. Each .c file defines LOG_TAG before including this
 * header; messages read "tag: text". With log_set_journal(true) (the daemon
 * under systemd) every line starts with a "<N>" priority prefix that
 * journald understands.
 *
 * Every line is escaped after formatting: bytes outside printable ASCII
 * become \xNN and a backslash \\, so text from the network (a host NQN)
 * can neither start a line of its own nor send a terminal escape. Lines
 * longer than 1 KiB end in "...".
 *
 * Lines a peer causes go through log_peer_*(source, ...): per source (its
 * address) a burst of 20 lines, then 2 per second, counted apart for
 * warnings and notices and for info lines (so that connect/close chatter
 * never hides a refusal), and 200 / 50 per second for all sources of a
 * thread together; what is dropped is counted and reported on the next
 * line let through ("[N similar lines from SOURCE suppressed]").
 */
#ifndef COMMON_LOG_H
#define COMMON_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifndef LOG_TAG
#define LOG_TAG "nvmf"
#endif

enum log_level {
	LOG_LVL_ERR = 3,
	LOG_LVL_WARNING = 4,
	LOG_LVL_NOTICE = 5,
	LOG_LVL_INFO = 6,
	LOG_LVL_DEBUG = 7,
};

void log_set_level(enum log_level max);
void log_set_journal(bool on);
bool log_enabled(enum log_level lvl);
void log_msg(enum log_level lvl, const char *tag, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A line caused by a peer: rate-limited per source (see above). */
void log_peer_msg(enum log_level lvl, const char *tag, const char *source, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* src escaped as log lines are, into dst (NUL-terminated when dstlen > 0,
 * never half an escape); returns the length written. For printing text
 * that came from the network elsewhere (nvmf-bridgectl). */
size_t log_escape(char *dst, size_t dstlen, const char *src, size_t srclen);
/* Tests only: capture the lines, drive the rate limiter's clock. */
void log_set_output_for_test(FILE *f);
void log_set_clock_for_test(uint64_t (*now_ns)(void));

/* Put a one-line reason in err (may be NULL) for the caller to report:
 * setup functions return -errno and say why through this. */
void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define log_err(...)    log_msg(LOG_LVL_ERR, LOG_TAG, __VA_ARGS__)
#define log_warn(...)   log_msg(LOG_LVL_WARNING, LOG_TAG, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_LVL_NOTICE, LOG_TAG, __VA_ARGS__)
#define log_info(...)   log_msg(LOG_LVL_INFO, LOG_TAG, __VA_ARGS__)
#define log_peer_warn(src, ...)   log_peer_msg(LOG_LVL_WARNING, LOG_TAG, (src), __VA_ARGS__)
#define log_peer_notice(src, ...) log_peer_msg(LOG_LVL_NOTICE, LOG_TAG, (src), __VA_ARGS__)
#define log_peer_info(src, ...)   log_peer_msg(LOG_LVL_INFO, LOG_TAG, (src), __VA_ARGS__)
#define log_debug(...)  do { if (log_enabled(LOG_LVL_DEBUG)) log_msg(LOG_LVL_DEBUG, LOG_TAG, __VA_ARGS__); } while (0)

#endif
