/* SPDX-License-Identifier: MIT */
/*
 * The Prometheus endpoint's HTTP server: libmicrohttpd with its own
 * polling thread, so a scrape never runs on a reactor. GET (or HEAD)
 * /metrics answers the text exposition; / a pointer to it; anything else
 * 404, other methods 405. Bounded: a few connections at once, a few per
 * client address, a small per-connection memory pool, a 10 s idle
 * timeout. The endpoint has no authentication: listen on loopback or a
 * management network (docs/operations.md).
 */
#define LOG_TAG "metrics"
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "target/metrics.h"
#include "target/target.h"

struct metrics_srv {
	struct MHD_Daemon *d;
	struct nvmf_tgt *t;
	struct cfg_metrics cfg;
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned code, const char *type, void *body, size_t len,
			     enum MHD_ResponseMemoryMode mode, const char *allow)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
	enum MHD_Result ret;

	if (!r) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	ret = MHD_queue_response(conn, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
			      const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	static char index_page[] = "nvmf-bridged: metrics at /metrics\n";
	static char not_found[] = "not found: try /metrics\n";
	static char no_method[] = "only GET and HEAD\n";
	static char no_memory[] = "out of memory\n";
	struct metrics_srv *srv = cls;
	size_t len = 0;
	char *text;

	(void)version;
	(void)upload;
	if (*upload_size) {     /* a body we do not want: drop it */
		*upload_size = 0;
		return MHD_YES;
	}
	(void)con_cls;
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", no_method, strlen(no_method),
			     MHD_RESPMEM_PERSISTENT, "GET, HEAD");
	if (!strcmp(url, "/"))
		return reply(conn, MHD_HTTP_OK, "text/plain", index_page, strlen(index_page), MHD_RESPMEM_PERSISTENT,
			     NULL);
	if (strcmp(url, "/metrics"))
		return reply(conn, MHD_HTTP_NOT_FOUND, "text/plain", not_found, strlen(not_found),
			     MHD_RESPMEM_PERSISTENT, NULL);
	text = nvmf_metrics_render(srv->t, &len);
	if (!text)
		return reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", no_memory, strlen(no_memory),
			     MHD_RESPMEM_PERSISTENT, NULL);
	return reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text, len, MHD_RESPMEM_MUST_FREE,
		     NULL);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = 0;
	log_warn("HTTP: %s", line);
}

static void addr_str(const struct cfg_metrics *m, char *out, size_t len)
{
	snprintf(out, len, strchr(m->addr, ':') ? "[%s]:%u" : "%s:%u", m->addr, m->port);
}

int nvmf_metrics_start(struct nvmf_tgt *t, const struct cfg_metrics *m, char *err, size_t errlen)
{
	struct metrics_srv *old = t->metrics, *srv;
	struct sockaddr_storage ss = { 0 };
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	char where[CFG_ADDR_SIZE + 16];

	if (old && m->enabled && !strcmp(old->cfg.addr, m->addr) && old->cfg.port == m->port)
		return 0;       /* already there */
	if (!m->enabled) {
		nvmf_metrics_stop(t);
		return 0;
	}
	addr_str(m, where, sizeof(where));
	if (strchr(m->addr, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(m->port);
		inet_pton(AF_INET6, m->addr, &s6->sin6_addr);
		flags |= MHD_USE_IPv6;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(m->port);
		inet_pton(AF_INET, m->addr, &s4->sin_addr);
	}
	srv = calloc(1, sizeof(*srv));
	if (!srv) {
		snprintf(err, errlen, "metrics on %s: out of memory", where);
		return -ENOMEM;
	}
	srv->t = t;
	srv->cfg = *m;
	errno = 0;
	srv->d = MHD_start_daemon(flags, m->port, NULL, NULL, handle, srv,
				  MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned)16,
				  MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)4,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
				  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768,
				  MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				  MHD_OPTION_END);
	if (!srv->d) {
		int e = errno ? errno : EADDRNOTAVAIL;

		snprintf(err, errlen, "metrics: cannot listen on %s: %s", where, strerror(e));
		free(srv);
		return -e;
	}
	t->metrics = srv;
	if (old) {
		MHD_stop_daemon(old->d);
		free(old);
	}
	log_notice("metrics: serving http://%s/metrics", where);
	return 0;
}

void nvmf_metrics_stop(struct nvmf_tgt *t)
{
	struct metrics_srv *srv = t->metrics;

	if (!srv)
		return;
	t->metrics = NULL;
	MHD_stop_daemon(srv->d);
	free(srv);
}
