/* SPDX-License-Identifier: MIT */
/*
 * NVMe/TCP transport: listeners and connections on the reactor. Each
 * connection is one fabric queue; received data lands in DMA buffers of the
 * target's pool and is sent from them.
 */
#ifndef TRANSPORT_TCP_H
#define TRANSPORT_TCP_H

#include <stddef.h>

#include "target/target.h"

/* Start listening on port p. An address that does not exist yet (network
 * not up) is retried every 2 s with a message instead of failing.
 * Returns 0 or -errno with a reason in err. */
int nvmf_tcp_listen(struct nvmf_port *p, char *err, size_t errlen);

/* Stop accepting on one port (reconfiguration). */
void nvmf_tcp_unlisten(struct nvmf_port *p);
/* Close every connection that came in on port p, on every reactor. */
void nvmf_tcp_close_port(struct nvmf_tgt *t, struct nvmf_port *p);

/* Stop accepting on every port (listeners closed). */
void nvmf_tcp_stop_listening(struct nvmf_tgt *t);

/* Free what is left of the transport on a stopped reactor. */
void nvmf_tcp_reactor_fini(struct nvmf_reactor *nr);

/* Serve an already connected stream socket (one end of a socketpair) as
 * if accepted on port p, on the calling reactor: for the engine's tests
 * and fuzzer. 0 or -errno (fd closed). */
int nvmf_tcp_serve_fd(struct nvmf_port *p, int fd);

/* Number of live connections (for status and tests). */
unsigned nvmf_tcp_nr_conns(void);

#endif
