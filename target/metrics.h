/* SPDX-License-Identifier: MIT */
/*
 * The Prometheus endpoint: the text exposition of the target's counters
 * (metrics.c) and the HTTP server that serves it on bridge.metrics.listen
 * (metrics_http.c, libmicrohttpd on its own thread).
 */
#ifndef TARGET_METRICS_H
#define TARGET_METRICS_H

#include <stddef.h>

#include "config/config.h"

struct nvmf_tgt;

/* The exposition text (format 0.0.4), malloc'd, *len bytes; NULL when out
 * of memory. Takes tgt->lock while it reads; any thread. */
char *nvmf_metrics_render(struct nvmf_tgt *t, size_t *len);

/* Serve GET /metrics on m's address (nothing when m is off). 0, or -errno
 * with the reason in err. A running server is replaced only once the new
 * one listens. */
int nvmf_metrics_start(struct nvmf_tgt *t, const struct cfg_metrics *m, char *err, size_t errlen);
void nvmf_metrics_stop(struct nvmf_tgt *t);

#endif
