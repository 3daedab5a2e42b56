/* SPDX-License-Identifier: MIT */
/* The control socket's read-only methods (rpc_view.c); tgt->lock held. */
#ifndef TARGET_RPC_VIEW_H
#define TARGET_RPC_VIEW_H

#include <json-c/json.h>

struct nvmf_tgt;

/* status: counts, version, uptime, configuration file */
json_object *nvmf_rpc_status(struct nvmf_tgt *t);
/* list: ports, subsystems, namespaces, hosts, controllers and queues */
json_object *nvmf_rpc_list(struct nvmf_tgt *t);
/* stats: namespaces, controllers and queues, hosts, ports, reactors, QoS */
json_object *nvmf_rpc_stats(struct nvmf_tgt *t);

#endif
