/* SPDX-License-Identifier: MIT */
/* NVMe/RDMA transport (rdma.c): listeners and queues on the reactors. */
#ifndef TRANSPORT_RDMA_H
#define TRANSPORT_RDMA_H

#include <stdbool.h>
#include <stddef.h>

#include "target/target.h"

/* Listen on an RDMA port (reactor 0). An address no RDMA device has yet is
 * retried every 2 s with a message. 0 or -errno with a reason in err. */
int nvmf_rdma_listen(struct nvmf_port *p, char *err, size_t errlen);
void nvmf_rdma_unlisten(struct nvmf_port *p);
void nvmf_rdma_stop_listening(struct nvmf_tgt *t);
/* Close every RDMA connection that came in on port p. */
void nvmf_rdma_close_port(struct nvmf_tgt *t, struct nvmf_port *p);
/* Shutdown, on each reactor: close its connections; idle once all gone. */
void nvmf_rdma_reactor_drain(struct nvmf_reactor *nr);
bool nvmf_rdma_reactor_idle(struct nvmf_reactor *nr);
void nvmf_rdma_reactor_fini(struct nvmf_reactor *nr);
/* Release protection domains and memory registrations (at exit). */
void nvmf_rdma_fini(void);

#endif
