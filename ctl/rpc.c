/* SPDX-License-Identifier: MIT */
/*
 * The JSON-RPC 2.0 client of nvmf-bridged's control socket (docs/rpc.md):
 * one request line, one response line, on a Unix stream socket, within one
 * deadline for the whole exchange. When the socket cannot be reached the
 * message says why in terms an administrator can act on: whether
 * nvmf-bridged runs at all, and if it does, which socket it listens on.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "ctl/ctl.h"

#define MAX_RESPONSE (64u << 20)

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int remaining_ms(int64_t deadline)
{
	int64_t left = deadline - now_ms();

	return left < 0 ? 0 : (int)left;
}

/* --- is nvmf-bridged running, and on which socket? ------------------------- */

/* the pids of processes named nvmf-bridged (at most max) */
static unsigned daemon_pids(int *pids, unsigned max)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	unsigned n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)) && n < max) {
		char path[300], comm[64] = "";
		FILE *f;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f)) {
			comm[strcspn(comm, "\n")] = 0;
			if (!strcmp(comm, "nvmf-bridged"))
				pids[n++] = atoi(e->d_name);
		}
		fclose(f);
	}
	closedir(d);
	return n;
}

/* The path of a listening Unix socket of process pid, from its fds and
 * /proc/net/unix (needs the right to read /proc/PID/fd: root or the same
 * user). Returns 1 found, 0 none, -1 cannot tell. */
struct sock_inodes {
	unsigned long inode[64];
	unsigned nr;
};

static bool add_sock_inode(const char *target, void *arg)
{
	struct sock_inodes *si = arg;

	if (!strncmp(target, "socket:[", 8))
		si->inode[si->nr++] = strtoul(target + 8, NULL, 10);
	return si->nr == 64;
}

static int daemon_socket(int pid, char *out, size_t outlen)
{
	char path[PATH_MAX];
	struct sock_inodes si = { .nr = 0 };
	unsigned long *inodes = si.inode;
	unsigned nr;
	FILE *f;
	char line[PATH_MAX + 128];
	int found = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	if (ctl_fd_links(path, add_sock_inode, &si) < 0)
		return -1;
	nr = si.nr;
	f = fopen("/proc/net/unix", "r");
	if (!f)
		return -1;
	/* Num RefCount Protocol Flags Type St Inode Path; Flags 00010000 = listening */
	while (fgets(line, sizeof(line), f)) {
		unsigned long flags, inode;
		char sockpath[128] = "";

		if (sscanf(line, "%*s %*s %*s %lx %*s %*s %lu %127s", &flags, &inode, sockpath) != 3)
			continue;
		if (!(flags & 0x10000) || sockpath[0] != '/')
			continue;
		for (unsigned i = 0; i < nr; i++) {
			if (inodes[i] == inode) {
				snprintf(out, outlen, "%s", sockpath);
				found = 1;
			}
		}
		if (found)
			break;
	}
	fclose(f);
	return found;
}

/* the end of the "cannot connect" message: what runs, where it listens */
static void daemon_hint(const char *tried, char *out, size_t outlen)
{
	int pids[8];
	unsigned n = daemon_pids(pids, 8);
	char sock[128];
	int r;

	if (!n) {
		snprintf(out, outlen, "nvmf-bridged is not running (start it: systemctl start nvmf-bridge, "
				      "or nvmf-bridged --config FILE)");
		return;
	}
	r = daemon_socket(pids[0], sock, sizeof(sock));
	if (r > 0 && strcmp(sock, tried))
		snprintf(out, outlen, "nvmf-bridged is running (pid %d) but listens on %s: use --socket %s", pids[0],
			 sock, sock);
	else if (r == 0)
		snprintf(out, outlen, "nvmf-bridged is running (pid %d) but has no control socket open", pids[0]);
	else if (r < 0)
		snprintf(out, outlen, "nvmf-bridged is running (pid %d), maybe with another bridge.rpc_socket: "
				      "see its configuration, then use --socket PATH", pids[0]);
	else
		snprintf(out, outlen, "nvmf-bridged is running (pid %d) and listening there, yet refused", pids[0]);
}

/* --- the exchange ---------------------------------------------------------- */

static int connect_socket(const char *path, int64_t deadline)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char hint[600];
	struct stat st;
	int fd, err;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		ctl_err("%s: socket path too long (at most %zu bytes)", path, sizeof(sa.sun_path) - 1);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		ctl_err("socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return fd;
	err = errno;
	if (err == EAGAIN || err == EINPROGRESS) {
		/* the listen backlog is full: wait for room, bounded */
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		socklen_t len = sizeof(err);

		if (poll(&p, 1, remaining_ms(deadline)) == 1 &&
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0)
			return fd;
		if (!err)
			err = ETIMEDOUT;
	}
	close(fd);
	switch (err) {
	case ENOENT:
	case ENOTDIR:
		daemon_hint(path, hint, sizeof(hint));
		ctl_err("cannot connect to %s: no such socket; %s", path, hint);
		break;
	case ECONNREFUSED:
		if (stat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
			ctl_err("cannot connect to %s: not a socket", path);
			break;
		}
		daemon_hint(path, hint, sizeof(hint));
		ctl_err("cannot connect to %s: nobody listens on it (a stale socket?); %s", path, hint);
		break;
	case EACCES:
	case EPERM:
		ctl_err("cannot connect to %s: permission denied: the control socket is for root and the group "
			"named in bridge.rpc_group (you are uid %u); run as root or join that group",
			path, (unsigned)getuid());
		break;
	case ETIMEDOUT:
		ctl_err("cannot connect to %s: nvmf-bridged did not accept the connection within the timeout", path);
		break;
	default:
		ctl_err("cannot connect to %s: %s", path, strerror(err));
	}
	return -1;
}

static int send_all(int fd, const char *buf, size_t len, int64_t deadline, const char *path)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = send(fd, buf + off, len - off, MSG_NOSIGNAL);

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };

			if (poll(&p, 1, remaining_ms(deadline)) <= 0) {
				ctl_err("%s: timed out sending the request", path);
				return -1;
			}
			continue;
		}
		ctl_err("%s: sending the request: %s", path, n < 0 ? strerror(errno) : "connection closed");
		return -1;
	}
	return 0;
}

/* one line (without its '\n'); malloc'd, or NULL after printing why */
static char *recv_line(int fd, int64_t deadline, const char *path, int timeout_s)
{
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap);

	if (!buf) {
		ctl_err("out of memory");
		return NULL;
	}
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char *nl;
		ssize_t n;
		int pr = poll(&p, 1, remaining_ms(deadline));

		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0) {
			ctl_err("%s: no answer from nvmf-bridged within %d s (--timeout)", path, timeout_s);
			goto fail;
		}
		if (cap - len < 4096) {
			char *b;

			if (cap >= MAX_RESPONSE) {
				ctl_err("%s: answer larger than %u MiB", path, MAX_RESPONSE >> 20);
				goto fail;
			}
			b = realloc(buf, cap * 2);
			if (!b) {
				ctl_err("out of memory");
				goto fail;
			}
			buf = b;
			cap *= 2;
		}
		n = recv(fd, buf + len, cap - len - 1, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0) {
			ctl_err("%s: nvmf-bridged closed the connection without answering%s%s", path,
				n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
			goto fail;
		}
		buf[len + (size_t)n] = 0;
		nl = memchr(buf + len, '\n', (size_t)n);
		len += (size_t)n;
		if (nl) {
			*nl = 0;
			return buf;
		}
	}
fail:
	free(buf);
	return NULL;
}

int ctl_rpc_call(const char *sock_path, int timeout_s, const char *method, struct json_object *params,
		 struct json_object **result)
{
	int64_t deadline = now_ms() + (int64_t)timeout_s * 1000;
	struct json_object *req = json_object_new_object(), *resp = NULL, *v, *err;
	struct json_tokener *tok = NULL;
	const char *text;
	char *line = NULL, *out = NULL;
	int fd, rc = CTL_UNREACHABLE;

	*result = NULL;
	json_object_object_add(req, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(req, "id", json_object_new_int(1));
	json_object_object_add(req, "method", json_object_new_string(method));
	if (params)
		json_object_object_add(req, "params", params);
	text = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (asprintf(&out, "%s\n", text) < 0) {
		out = NULL;
		ctl_err("out of memory");
		goto put_req;
	}
	fd = connect_socket(sock_path, deadline);
	if (fd < 0)
		goto put_req;
	if (send_all(fd, out, strlen(out), deadline, sock_path))
		goto close_fd;
	line = recv_line(fd, deadline, sock_path, timeout_s);
	if (!line)
		goto close_fd;
	tok = json_tokener_new();
	resp = tok ? json_tokener_parse_ex(tok, line, (int)strlen(line)) : NULL;
	if (!resp || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(resp, json_type_object)) {
		ctl_err("%s: the answer is not a JSON object: %.80s", sock_path, line);
		goto close_fd;
	}
	if (!json_object_object_get_ex(resp, "jsonrpc", &v) || strcmp(json_object_get_string(v), "2.0")) {
		ctl_err("%s: the answer is not JSON-RPC 2.0 (no \"jsonrpc\":\"2.0\"): %.80s", sock_path, line);
		goto close_fd;
	}
	if (!json_object_object_get_ex(resp, "id", &v) || json_object_get_int(v) != 1) {
		/* an error about the request itself may carry "id": null */
		if (!json_object_object_get_ex(resp, "error", &err)) {
			ctl_err("%s: the answer is for another request (id %s)", sock_path,
				v ? json_object_to_json_string(v) : "missing");
			goto close_fd;
		}
	}
	if (json_object_object_get_ex(resp, "error", &err) && !json_object_is_type(err, json_type_null)) {
		struct json_object *m = NULL, *c = NULL;
		const char *msg = "(no message)";
		int code = 0;

		if (json_object_object_get_ex(err, "message", &m) && json_object_is_type(m, json_type_string))
			msg = json_object_get_string(m);
		if (json_object_object_get_ex(err, "code", &c))
			code = json_object_get_int(c);
		if (code == -32601)
			ctl_err("%s: %s (this nvmf-bridged does not know the method: an older version?)", method, msg);
		else
			ctl_err("%s: %s", method, msg);
		rc = CTL_FAILED;
		goto close_fd;
	}
	if (!json_object_object_get_ex(resp, "result", &v)) {
		ctl_err("%s: the answer has neither \"result\" nor \"error\": %.80s", sock_path, line);
		goto close_fd;
	}
	*result = json_object_get(v);
	rc = CTL_OK;
close_fd:
	close(fd);
put_req:
	if (tok)
		json_tokener_free(tok);
	json_object_put(resp);
	json_object_put(req);
	free(line);
	free(out);
	return rc;
}
