/* SPDX-License-Identifier: MIT */
/* What a process holds open, from /proc (nvmf-bridgectl). */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "ctl/ctl.h"

int ctl_fd_links(const char *fd_dir, bool (*fn)(const char *target, void *arg), void *arg)
{
	DIR *d = opendir(fd_dir);
	struct dirent *e;
	bool stop = false;

	if (!d)
		return -1;
	while (!stop && (e = readdir(d))) {
		char path[PATH_MAX * 2], target[PATH_MAX];
		ssize_t n;

		snprintf(path, sizeof(path), "%s/%s", fd_dir, e->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = 0;
		stop = fn(target, arg);
	}
	closedir(d);
	return stop;
}
