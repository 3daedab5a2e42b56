/* SPDX-License-Identifier: MIT */
/* NVMe/RDMA transport (rdma.c): listeners and queues on the reactors. */
#ifndef TRANSPORT_RDMA_H
#define TRANSPORT_RDMA_H

#include "target/target.h"

/* The transport's table (transport.c lists it). */
extern const struct nvmf_transport_ops nvmf_rdma_transport;

#endif
