/* SPDX-License-Identifier: MIT */
/*
 * Logging to stderr. Each .c file defines LOG_TAG before including this
 * header; messages read "tag: text". With log_set_journal(true) (the daemon
 * under systemd) every line starts with a "<N>" priority prefix that
 * journald understands.
 */
#ifndef COMMON_LOG_H
#define COMMON_LOG_H

#include <stdbool.h>
#include <stddef.h>

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

/* Put a one-line reason in err (may be NULL) for the caller to report:
 * setup functions return -errno and say why through this. */
void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define log_err(...)    log_msg(LOG_LVL_ERR, LOG_TAG, __VA_ARGS__)
#define log_warn(...)   log_msg(LOG_LVL_WARNING, LOG_TAG, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_LVL_NOTICE, LOG_TAG, __VA_ARGS__)
#define log_info(...)   log_msg(LOG_LVL_INFO, LOG_TAG, __VA_ARGS__)
#define log_debug(...)  do { if (log_enabled(LOG_LVL_DEBUG)) log_msg(LOG_LVL_DEBUG, LOG_TAG, __VA_ARGS__); } while (0)

#endif
