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

/* The transport's table (transport.c lists it). */
extern const struct nvmf_transport_ops nvmf_tcp_transport;

/* Serve an already connected stream socket (one end of a socketpair) as
 * if accepted on port p, on the calling reactor: for the engine's tests
 * and fuzzer. 0 or -errno (fd closed). */
int nvmf_tcp_serve_fd(struct nvmf_port *p, int fd);

/* For the engine's tests and fuzzer: live connections, and the
 * transport's end on a reactor (nvmf_tcp_transport's own operations). */
unsigned nvmf_tcp_nr_conns(void);
void nvmf_tcp_reactor_fini(struct nvmf_reactor *nr);

#endif
