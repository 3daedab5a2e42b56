/* SPDX-License-Identifier: MIT */
/*
 * systemd notification, through libsystemd when the build has it; without
 * it these are no-ops (as rdma-core's daemons do), so call sites carry no
 * #ifdef. Built with libsystemd by default when pkg-config finds it.
 */
#ifndef COMMON_SD_NOTIFY_H
#define COMMON_SD_NOTIFY_H

#include <stdint.h>
#include <sys/types.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#else
static inline int sd_notify(int unset_environment, const char *state)
{
	(void)unset_environment;
	(void)state;
	return 0;
}

static inline int sd_notifyf(int unset_environment, const char *format, ...)
{
	(void)unset_environment;
	(void)format;
	return 0;
}

static inline int sd_watchdog_enabled(int unset_environment, uint64_t *usec)
{
	(void)unset_environment;
	(void)usec;
	return 0;
}

static inline int sd_pid_notify_with_fds(int pid, int unset_environment, const char *state, const int *fds,
					 unsigned n_fds)
{
	(void)pid;
	(void)unset_environment;
	(void)state;
	(void)fds;
	(void)n_fds;
	return 0;
}
#endif

#endif
