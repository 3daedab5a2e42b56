/* SPDX-License-Identifier: MIT */
/*
 * The control socket: JSON-RPC 2.0, one request per line, on a Unix stream
 * socket served by reactor 0 (docs/rpc.md). Changes are made by editing a
 * JSON copy of the running configuration and parsing it again, so a change
 * is validated by exactly the rules a configuration file is, with the same
 * messages, before nvmf_tgt_apply touches anything.
 */
#define LOG_TAG "rpc"
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <json-c/json.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "pcie/pcie.h"
#include "target/rpc_proto.h"
#include "target/rpc_view.h"
#include "target/target.h"

/* Reactor 0 also carries I/O: nothing here may block it. Clients are
 * served with non-blocking sockets and bounded buffers; one that does not
 * read its answers is dropped. */
#define RPC_MAX_CLIENTS 64
#define RPC_MAX_OUT (16u << 20)       /* answers waiting for a slow reader */
#define RPC_STALL_MS 10000            /* an answer not taken for this long drops the client */
#define RPC_LINES_PER_TURN 8          /* then the reactor's other work comes first */

struct rpc_client {
	struct rpc_server *srv;
	struct reactor_fd rfd;
	char *buf;                    /* input not yet handled */
	size_t len, cap;
	char *out;                    /* answers not yet sent */
	size_t out_off, out_len, out_cap;
	struct reactor_timer stall;
	struct reactor_timer more;    /* lines left over from a turn */
	uint32_t events;
	uid_t uid;                    /* SO_PEERCRED */
	pid_t pid;
	struct rpc_client *next;
};

struct rpc_server {
	struct nvmf_tgt *t;
	struct reactor_fd rfd;
	char path[108];
	struct rpc_client *clients;
	unsigned nr_clients;
};

/* --- changes: edit a JSON copy of the running configuration ----------------------------------- */

/* Edit a copy, validate it like a file, apply the difference. */
static int edit_config(struct nvmf_tgt *t, rpc_edit_fn fn, json_object *params, json_object **result, char *msg,
		       size_t msglen)
{
	char *js = config_to_json(t->cfg);
	json_object *root = js ? json_tokener_parse(js) : NULL;
	struct config *cfg = NULL;
	char changes[4096];
	int rc;

	free(js);
	if (!root) {
		snprintf(msg, msglen, "cannot serialise the running configuration");
		return RPC_REFUSED;
	}
	rc = fn(root, params, result, msg, msglen);
	if (!rc && config_parse(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN), t->cfg->file, &cfg,
				msg, msglen))
		rc = RPC_REFUSED;
	json_object_put(root);
	if (rc)
		return rc;
	if (nvmf_tgt_apply(t, cfg, changes, sizeof(changes), msg, msglen)) {
		config_free(cfg);
		return RPC_REFUSED;
	}
	return 0;
}

/* --- least privilege for clients that are not root ---------------------------------------------- */

/* path (absolute, normalised) lies strictly inside dir */
static bool path_inside(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return n && !strncmp(path, dir, n) && path[n] == '/' && path[n + 1];
}

/*
 * A member of bridge.rpc_group is not root: the daemon must not become
 * its way to read or write what root alone may (docs/security.md). It may
 * export memory and null devices, and files under
 * bridge.rpc_namespace_dirs (the path is resolved here and stored
 * resolved; the file backend opens paths under those directories without
 * following symlinks, so a swap after this check gains nothing); never a
 * PCIe device or another file.
 */
static int check_namespace_param(struct nvmf_tgt *t, json_object *params, char *msg, size_t msglen)
{
	const struct cfg_bridge *b = &t->cfg->bridge;
	json_object *ns, *dev, *v;
	char real[PATH_MAX];

	if (!params || !json_object_object_get_ex(params, "namespace", &ns) ||
	    !json_object_object_get_ex(ns, "device", &dev) || !json_object_is_type(dev, json_type_object))
		return 0;       /* the validator names what is missing */
	if (json_object_object_get_ex(dev, "pcie", &v)) {
		snprintf(msg, msglen, "only root may export a PCIe device over the control socket");
		return RPC_REFUSED;
	}
	if (!json_object_object_get_ex(dev, "path", &v))
		return 0;
	if (!json_object_is_type(v, json_type_string)) {
		snprintf(msg, msglen, "device.path must be a string");
		return RPC_BAD_PARAMS;
	}
	if (!b->nr_rpc_namespace_dirs) {
		snprintf(msg, msglen, "only root may export a file: bridge.rpc_namespace_dirs names no directory "
				      "for other control socket users");
		return RPC_REFUSED;
	}
	if (!realpath(json_object_get_string(v), real)) {
		snprintf(msg, msglen, "device.path %.200s: %s", json_object_get_string(v), strerror(errno));
		return RPC_REFUSED;
	}
	for (unsigned i = 0; i < b->nr_rpc_namespace_dirs; i++) {
		if (path_inside(real, b->rpc_namespace_dirs[i])) {
			json_object_object_add(dev, "path", json_object_new_string(real));
			return 0;
		}
	}
	snprintf(msg, msglen, "device.path %.200s is not under bridge.rpc_namespace_dirs: only root may export it",
		 real);
	return RPC_REFUSED;
}

/* save-config by a client that is not root: the daemon's own file, or a
 * file directly in bridge.rpc_save_dir */
static int check_save_path(struct nvmf_tgt *t, const char *path, char *msg, size_t msglen)
{
	const char *dir = t->cfg->bridge.rpc_save_dir;
	char tmp[PATH_MAX], real[PATH_MAX], *slash;

	if (!strcmp(path, t->cfg->file))
		return 0;
	if (dir[0] && path[0] == '/' && strlen(path) < sizeof(tmp)) {
		/* the directory part resolved, the name itself plain */
		snprintf(tmp, sizeof(tmp), "%s", path);
		slash = strrchr(tmp, '/');
		*slash = 0;
		if (realpath(tmp[0] ? tmp : "/", real) && !strcmp(real, dir) && slash[1] && strcmp(slash + 1, ".") &&
		    strcmp(slash + 1, ".."))
			return 0;
	}
	snprintf(msg, msglen, "only root may save the configuration to %.200s: other users may write %s%s%s", path,
		 t->cfg->file, dir[0] ? " or a file in " : "", dir);
	return RPC_REFUSED;
}

static json_object *changes_json(const char *changes)
{
	json_object *a = json_object_new_array();
	const char *p = changes;

	while (p && *p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);

		json_object_array_add(a, json_object_new_string_len(p, (int)n));
		p = nl ? nl + 1 : p + n;
	}
	return a;
}

/* reset-controller {"pcie": BDF}: reset a live PCIe controller the way a
 * command timeout does (disable, commands in flight completed with an
 * abort status that hosts retry, enable, queues re-created; commands that
 * arrive meanwhile wait), or try again with one whose reset failed. The
 * answer comes once it has begun; status shows the controller's state and
 * its resets. Runs on reactor 0, as the health check's resets do. */
static json_object *reset_controller(struct rpc_client *cl, json_object *params, int *code, char *msg, size_t msglen)
{
	struct nvmf_tgt *t = cl->srv->t;
	struct pcie_ctrl *pc = NULL;
	const char *bdf;
	json_object *p, *res;
	bool resettable = false;
	int rc;

	if (!params || !json_object_is_type(params, json_type_object) || !json_object_object_get_ex(params, "pcie", &p) ||
	    !json_object_is_type(p, json_type_string)) {
		*code = RPC_BAD_PARAMS;
		snprintf(msg, msglen, "reset-controller needs {\"pcie\": BDF}");
		return NULL;
	}
	bdf = json_object_get_string(p);
	pthread_mutex_lock(&t->lock);
	for (unsigned i = 0; i < t->nr_pcie && !pc; i++)
		if (!strcmp(t->pcie_bdf[i], bdf))
			pc = t->pcie[i];
	if (!pc)
		snprintf(msg, msglen, "no PCIe controller %.32s in use (status lists them)", bdf);
	else if (!(resettable = pc->state == PCIE_CTRL_LIVE || pc->state == PCIE_CTRL_FAILED))
		snprintf(msg, msglen, "%.32s is %s: nothing to reset now", bdf, pcie_ctrl_state_name(pc->state));
	pthread_mutex_unlock(&t->lock);
	if (!resettable) {
		*code = RPC_REFUSED;
		return NULL;
	}
	log_notice("%s: controller reset asked for (uid %u)", bdf, (unsigned)cl->uid);
	rc = nvmf_tgt_reset_pcie(t, pc);
	if (rc) {
		*code = RPC_REFUSED;
		snprintf(msg, msglen, "%.32s: %s", bdf,
			 rc == -EBUSY ? "a controller reset is running already" : "the controller cannot be reset");
		return NULL;
	}
	res = json_object_new_object();
	json_object_object_add(res, "pcie", json_object_new_string(bdf));
	pthread_mutex_lock(&t->lock);
	json_object_object_add(res, "state", json_object_new_string(pcie_ctrl_state_name(pc->state)));
	json_object_object_add(res, "resets", json_object_new_int64(pc->resets));
	pthread_mutex_unlock(&t->lock);
	return res;
}

/* --- dispatch --------------------------------------------------------------------------------- */

static json_object *dispatch(struct rpc_client *cl, const char *method, json_object *params, int *code, char *msg,
			     size_t msglen)
{
	struct nvmf_tgt *t = cl->srv->t;
	bool root = cl->uid == 0;
	json_object *res = NULL;
	rpc_edit_fn edit;

	*code = 0;
	if (!strcmp(method, "status") || !strcmp(method, "list") || !strcmp(method, "stats")) {
		pthread_mutex_lock(&t->lock);
		if (!strcmp(method, "status"))
			res = nvmf_rpc_status(t);
		else if (!strcmp(method, "list"))
			res = nvmf_rpc_list(t);
		else
			res = nvmf_rpc_stats(t);
		pthread_mutex_unlock(&t->lock);
		return res;
	}
	if (!strcmp(method, "reload")) {
		struct config *cfg;
		char changes[4096];

		if (config_load(t->cfg->file, &cfg, msg, msglen)) {
			*code = RPC_REFUSED;
			return NULL;
		}
		if (nvmf_tgt_apply(t, cfg, changes, sizeof(changes), msg, msglen)) {
			config_free(cfg);
			*code = RPC_REFUSED;
			return NULL;
		}
		res = json_object_new_object();
		json_object_object_add(res, "changes", changes_json(changes));
		return res;
	}
	if (!strcmp(method, "reset-controller"))
		return reset_controller(cl, params, code, msg, msglen);
	if (!strcmp(method, "save-config")) {
		json_object *p;
		const char *path = t->cfg->file;

		if (params && json_object_is_type(params, json_type_object) &&
		    json_object_object_get_ex(params, "path", &p) && json_object_is_type(p, json_type_string))
			path = json_object_get_string(p);
		if (!root && (*code = check_save_path(t, path, msg, msglen)))
			return NULL;
		pthread_mutex_lock(&t->lock);
		*code = config_write_file(t->cfg, path, msg, msglen) ? RPC_REFUSED : 0;
		pthread_mutex_unlock(&t->lock);
		if (*code)
			return NULL;
		res = json_object_new_object();
		json_object_object_add(res, "path", json_object_new_string(path));
		log_notice("configuration saved to %s (uid %u)", path, (unsigned)cl->uid);
		return res;
	}
	edit = rpc_find_edit(method);
	if (edit) {
		if (!params || !json_object_is_type(params, json_type_object)) {
			*code = RPC_BAD_PARAMS;
			snprintf(msg, msglen, "%s needs an object of parameters", method);
			return NULL;
		}
		if (!root && edit == rpc_find_edit("add-namespace") && (*code = check_namespace_param(t, params, msg, msglen)))
			return NULL;
		*code = edit_config(t, edit, params, &res, msg, msglen);
		if (*code) {
			json_object_put(res);
			return NULL;
		}
		log_notice("%s done (uid %u)", method, (unsigned)cl->uid);
		return res ? res : json_object_new_object();
	}
	*code = RPC_NO_METHOD;
	snprintf(msg, msglen, "unknown method \"%.64s\"", method);
	return NULL;
}

/* --- clients: non-blocking, bounded, never a blocked reactor --------------------------------- */

static void client_close(struct rpc_client *cl, const char *why)
{
	struct rpc_server *srv = cl->srv;

	if (why)
		log_notice("control client pid %d uid %u dropped: %s", (int)cl->pid, (unsigned)cl->uid, why);
	for (struct rpc_client **pp = &srv->clients; *pp; pp = &(*pp)->next) {
		if (*pp == cl) {
			*pp = cl->next;
			break;
		}
	}
	srv->nr_clients--;
	reactor_timer_stop(&srv->t->reactors[0].r, &cl->stall);
	reactor_timer_stop(&srv->t->reactors[0].r, &cl->more);
	reactor_del_fd(&srv->t->reactors[0].r, &cl->rfd);
	close(cl->rfd.fd);
	free(cl->buf);
	free(cl->out);
	free(cl);
}

static void client_stalled(void *arg)
{
	client_close(arg, "it did not read its answers for 10 s");
}

static void client_watch(struct rpc_client *cl, uint32_t ev)
{
	if (ev == cl->events)
		return;
	cl->events = ev;
	reactor_mod_fd(&cl->srv->t->reactors[0].r, &cl->rfd, ev);
}

/* Queue one answer line. false: the client is over its output bound. */
static bool out_append(struct rpc_client *cl, const char *s)
{
	size_t n = strlen(s) + 1;

	if (cl->out_off && cl->out_off == cl->out_len)
		cl->out_off = cl->out_len = 0;
	if (cl->out_len + n > cl->out_cap) {
		size_t cap = cl->out_cap ? cl->out_cap : 4096;
		char *o;

		while (cap < cl->out_len + n)
			cap *= 2;
		if (cap > RPC_MAX_OUT)
			return false;
		o = realloc(cl->out, cap);
		if (!o)
			return false;
		cl->out = o;
		cl->out_cap = cap;
	}
	memcpy(cl->out + cl->out_len, s, n - 1);
	cl->out[cl->out_len + n - 1] = '\n';
	cl->out_len += n;
	return true;
}

/* Send what the socket takes. 0 all sent, 1 more pending, -1 dropped. */
static int out_flush(struct rpc_client *cl)
{
	while (cl->out_off < cl->out_len) {
		ssize_t w = send(cl->rfd.fd, cl->out + cl->out_off, cl->out_len - cl->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (!cl->stall.armed)
				reactor_timer_start(&cl->srv->t->reactors[0].r, &cl->stall, RPC_STALL_MS, 0,
						    client_stalled, cl);
			client_watch(cl, EPOLLOUT);
			return 1;
		}
		if (w <= 0) {
			client_close(cl, NULL);
			return -1;
		}
		cl->out_off += (size_t)w;
		/* progress: the client reads */
		if (cl->stall.armed)
			reactor_timer_start(&cl->srv->t->reactors[0].r, &cl->stall, RPC_STALL_MS, 0, client_stalled,
					    cl);
	}
	cl->out_off = cl->out_len = 0;
	reactor_timer_stop(&cl->srv->t->reactors[0].r, &cl->stall);
	client_watch(cl, EPOLLIN);
	return 0;
}

static bool handle_line(struct rpc_client *cl, const char *line, size_t len)
{
	struct rpc_request req;
	json_object *result = NULL;
	char msg[1024] = "";
	char *out;
	int code;
	bool ok;

	code = rpc_parse_request(line, len, &req, msg, sizeof(msg));
	if (!code)
		result = dispatch(cl, req.method, req.params, &code, msg, sizeof(msg));
	out = rpc_format_response(req.id, code, msg, result);
	ok = out && out_append(cl, out);
	free(out);
	rpc_request_free(&req);
	return ok;
}

/* Handle complete lines while no answer is waiting: a client that sends
 * requests without reading answers gets nothing more done until it reads.
 * -1: the client was dropped (freed). */
static void more_input(void *arg);

static int handle_input(struct rpc_client *cl)
{
	unsigned lines = 0;
	char *nl;

	while (cl->out_len == 0 && cl->len && (nl = memchr(cl->buf, '\n', cl->len))) {
		size_t n = (size_t)(nl - cl->buf);

		if (lines++ == RPC_LINES_PER_TURN) {
			reactor_timer_start(&cl->srv->t->reactors[0].r, &cl->more, 0, 0, more_input, cl);
			break;
		}
		if (n && !handle_line(cl, cl->buf, n)) {
			client_close(cl, "its answers exceed the output bound");
			return -1;
		}
		cl->len -= n + 1;
		memmove(cl->buf, nl + 1, cl->len);
		if (cl->out_len && out_flush(cl) < 0)
			return -1;
	}
	if (cl->len > RPC_MAX_REQUEST && !memchr(cl->buf, '\n', cl->len)) {
		client_close(cl, "a request over 1 MiB");
		return -1;
	}
	client_watch(cl, cl->out_len ? EPOLLOUT : EPOLLIN);
	return 0;
}

static void more_input(void *arg)
{
	handle_input(arg);
}

static void client_event(void *arg, uint32_t events)
{
	struct rpc_client *cl = arg;

	if (cl->out_len) {
		if (out_flush(cl))
			return;         /* still pending, or dropped */
		handle_input(cl);       /* lines that waited for the answer to go */
		return;
	}
	if (!(events & EPOLLIN)) {
		if (events & (EPOLLERR | EPOLLHUP))
			client_close(cl, NULL);
		return;
	}
	for (int i = 0; i < 16 && !cl->out_len; i++) {
		ssize_t n;

		if (cl->cap - cl->len < 4096) {
			size_t ncap = cl->cap ? cl->cap * 2 : 8192;
			char *nb;

			if (ncap > 2 * (size_t)RPC_MAX_REQUEST + 8192) {
				client_close(cl, "a request over 1 MiB");
				return;
			}
			nb = realloc(cl->buf, ncap);
			if (!nb) {
				client_close(cl, "out of memory");
				return;
			}
			cl->buf = nb;
			cl->cap = ncap;
		}
		n = recv(cl->rfd.fd, cl->buf + cl->len, cl->cap - cl->len, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
			client_close(cl, NULL);
			return;
		}
		if (n < 0)
			break;
		cl->len += (size_t)n;
		if (handle_input(cl) < 0)
			return;         /* dropped */
	}
}

static void server_event(void *arg, uint32_t events)
{
	struct rpc_server *srv = arg;

	(void)events;
	for (int i = 0; i < 16; i++) {
		int fd = accept4(srv->rfd.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct ucred cred = { .pid = 0, .uid = (uid_t)-1, .gid = (gid_t)-1 };
		socklen_t cl_len = sizeof(cred);
		struct rpc_client *cl;

		if (fd < 0)
			return;
		if (srv->nr_clients >= RPC_MAX_CLIENTS) {
			log_peer_warn("rpc", "control socket: %u clients already connected; refusing another",
				      RPC_MAX_CLIENTS);
			close(fd);
			continue;
		}
		cl = calloc(1, sizeof(*cl));
		if (!cl || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl_len)) {
			free(cl);
			close(fd);
			continue;
		}
		cl->srv = srv;
		cl->uid = cred.uid;
		cl->pid = cred.pid;
		cl->events = EPOLLIN;
		cl->rfd = (struct reactor_fd){ .fd = fd, .events = EPOLLIN, .cb = client_event, .arg = cl };
		if (reactor_add_fd(&srv->t->reactors[0].r, &cl->rfd)) {
			close(fd);
			free(cl);
			continue;
		}
		cl->next = srv->clients;
		srv->clients = cl;
		srv->nr_clients++;
	}
}

/* mkdir -p of the socket's directory (systemd's RuntimeDirectory makes it
 * when run as a service) */
static int make_dir(const char *path)
{
	char tmp[108];
	char *dir;

	snprintf(tmp, sizeof(tmp), "%s", path);
	dir = dirname(tmp);
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(dir, 0755) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(dir, 0750) && errno != EEXIST)
		return -errno;
	return 0;
}

int nvmf_rpc_start(struct nvmf_tgt *t, char *err, size_t errlen)
{
	const struct cfg_bridge *b = &t->cfg->bridge;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct rpc_server *srv = calloc(1, sizeof(*srv));
	gid_t gid = (gid_t)-1;
	int fd, rc;

	if (!srv)
		return -ENOMEM;
	srv->t = t;
	snprintf(srv->path, sizeof(srv->path), "%s", b->rpc_socket[0] ? b->rpc_socket : "/run/nvmf-bridge/rpc.sock");
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", srv->path);
	if (b->rpc_group[0]) {
		struct group *g = getgrnam(b->rpc_group);

		if (!g) {
			snprintf(err, errlen, "bridge.rpc_group: no group \"%s\" on this system", b->rpc_group);
			free(srv);
			return -ENOENT;
		}
		gid = g->gr_gid;
	}
	rc = make_dir(srv->path);
	if (rc) {
		snprintf(err, errlen, "cannot create the directory of %s: %s", srv->path, strerror(-rc));
		free(srv);
		return rc;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		free(srv);
		return -errno;
	}
	/* a socket file left by a dead daemon goes; a live daemon's stays */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		snprintf(err, errlen, "%s: another nvmf-bridged is running (its control socket answers)", srv->path);
		close(fd);
		free(srv);
		return -EADDRINUSE;
	}
	close(fd);
	unlink(srv->path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 16)) {
		rc = -errno;
		snprintf(err, errlen, "control socket %s: %s", srv->path, strerror(errno));
		if (fd >= 0)
			close(fd);
		free(srv);
		return rc;
	}
	/* root only, or root and the configured group */
	if ((gid != (gid_t)-1 && (chown(srv->path, (uid_t)-1, gid) || chmod(srv->path, 0660))) ||
	    (gid == (gid_t)-1 && chmod(srv->path, 0600))) {
		rc = -errno;
		snprintf(err, errlen, "control socket %s: cannot set its owner or mode: %s", srv->path, strerror(errno));
		close(fd);
		unlink(srv->path);
		free(srv);
		return rc;
	}
	srv->rfd = (struct reactor_fd){ .fd = fd, .events = EPOLLIN, .cb = server_event, .arg = srv };
	rc = reactor_add_fd(&t->reactors[0].r, &srv->rfd);
	if (rc) {
		close(fd);
		unlink(srv->path);
		free(srv);
		return rc;
	}
	t->rpc = srv;
	log_notice("control socket %s (%s)", srv->path, gid != (gid_t)-1 ? "root and group" : "root only");
	return 0;
}

void nvmf_rpc_stop(struct nvmf_tgt *t)
{
	struct rpc_server *srv = t->rpc;

	if (!srv)
		return;
	while (srv->clients)
		client_close(srv->clients, NULL);
	reactor_del_fd(&t->reactors[0].r, &srv->rfd);
	close(srv->rfd.fd);
	unlink(srv->path);
	free(srv);
	t->rpc = NULL;
}
