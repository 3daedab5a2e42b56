/* SPDX-License-Identifier: MIT */
/*
 * Listening sockets handed over at start and kept in systemd's file
 * descriptor store while running (see listen_fds.h).
 */
#define LOG_TAG "listen"
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/listen_fds.h"
#include "common/log.h"
#include "common/sd_notify.h"

#define LISTEN_FDS_START 3
#define LISTEN_FDS_MAX 256

static int fds[LISTEN_FDS_MAX];
static char *names[LISTEN_FDS_MAX];      /* from LISTEN_FDNAMES, or NULL */
static unsigned nr_fds;

static bool is_listening_stream(int fd)
{
	int v = 0;
	socklen_t l = sizeof(v);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &l) || v != SOCK_STREAM)
		return false;
	l = sizeof(v);
	return !getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &l) && v;
}

unsigned listen_fds_init(void)
{
	const char *pid = getenv("LISTEN_PID"), *n = getenv("LISTEN_FDS"), *fdnames = getenv("LISTEN_FDNAMES");
	char *end, *list = fdnames ? strdup(fdnames) : NULL, *save = NULL, *name;
	long count;

	nr_fds = 0;
	/* meant for this process only: a child must not take them */
	if (!pid || !n || strtol(pid, &end, 10) != (long)getpid() || *end)
		goto out;
	count = strtol(n, &end, 10);
	if (*end || count <= 0)
		goto out;
	if (count > LISTEN_FDS_MAX) {
		log_warn("LISTEN_FDS=%ld: only the first %d are looked at", count, LISTEN_FDS_MAX);
		count = LISTEN_FDS_MAX;
	}
	name = list ? strtok_r(list, ":", &save) : NULL;
	for (int fd = LISTEN_FDS_START; fd < LISTEN_FDS_START + count;
	     fd++, name = name ? strtok_r(NULL, ":", &save) : NULL) {
		if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
			continue;
		if (!is_listening_stream(fd)) {
			/* not ours to use: leave it to the manager */
			log_warn("handed-over fd %d is not a listening stream socket: ignored", fd);
			close(fd);
			continue;
		}
		names[nr_fds] = name ? strdup(name) : NULL;
		fds[nr_fds++] = fd;
	}
out:
	free(list);
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return nr_fds;
}

static bool same_addr(int fd, const struct sockaddr *sa, socklen_t len)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &l) || ss.ss_family != sa->sa_family)
		return false;
	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *a = (const void *)&ss, *b = (const void *)sa;

		return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
	}
	if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *a = (const void *)&ss, *b = (const void *)sa;

		return a->sin6_port == b->sin6_port && !memcmp(&a->sin6_addr, &b->sin6_addr, sizeof(a->sin6_addr));
	}
	return false;
}

int listen_fds_take(const struct sockaddr *sa, socklen_t len)
{
	for (unsigned i = 0; i < nr_fds; i++) {
		int fd = fds[i];

		if (!same_addr(fd, sa, len))
			continue;
		free(names[i]);
		fds[i] = fds[--nr_fds];
		names[i] = names[nr_fds];
		if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
			close(fd);
			return -1;
		}
		return fd;
	}
	return -1;
}

unsigned listen_fds_close_unused(void)
{
	unsigned n = nr_fds;

	while (nr_fds) {
		nr_fds--;
		close(fds[nr_fds]);
		/* no port of ours any more: the store need not keep it */
		if (names[nr_fds])
			listen_fds_unstore(names[nr_fds]);
		free(names[nr_fds]);
	}
	return n;
}

void listen_fds_name(char *out, size_t len, const char *traddr, const char *trsvcid)
{
	/* FDNAME may not hold ':' */
	snprintf(out, len, "tcp-%s-%s", traddr, trsvcid);
	for (char *p = out; *p; p++)
		if (*p == ':')
			*p = '_';
}

void listen_fds_store(int fd, const char *name)
{
	char msg[320];

	if (!getenv("NOTIFY_SOCKET"))
		return;
	snprintf(msg, sizeof(msg), "FDSTORE=1\nFDNAME=%s", name);
	if (sd_pid_notify_with_fds(0, 0, msg, &fd, 1) <= 0)
		log_debug("%s: not kept in the service manager's file descriptor store", name);
}

void listen_fds_unstore(const char *name)
{
	char msg[320];

	if (!getenv("NOTIFY_SOCKET"))
		return;
	snprintf(msg, sizeof(msg), "FDSTOREREMOVE=1\nFDNAME=%s", name);
	sd_notify(0, msg);
}
