/* SPDX-License-Identifier: MIT */
/*
 * The transports the target knows, by port type (transport.c): each is a
 * struct nvmf_transport_ops (target/target.h). The core calls these for
 * every port and reactor; nothing outside transport/ names a transport.
 */
#ifndef TRANSPORT_TRANSPORT_H
#define TRANSPORT_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "target/target.h"

/* The transport of a port or discovery entry type, or NULL (none). */
const struct nvmf_transport_ops *nvmf_transport_get(enum cfg_trtype trtype);
/* The i-th transport the target knows (NULL past the last): for counting
 * by transport without naming one */
const struct nvmf_transport_ops *nvmf_transport_nth(unsigned i);

/* Start accepting on p: 0, or -errno with a reason in err. An address
 * that does not exist yet is tried again every 2 s, with a message. */
int nvmf_port_listen(struct nvmf_port *p, char *err, size_t errlen);
/* Stop accepting on p (it left the configuration). */
void nvmf_port_unlisten(struct nvmf_port *p);
/* Close every connection that came in on port p (on every reactor). */
void nvmf_port_close_conns(struct nvmf_tgt *t, struct nvmf_port *p);
/* Every transport: stop accepting (sockets the service manager keeps for
 * a restart stay open there); drain, idle and free one reactor; exit. */
void nvmf_transports_stop_listening(struct nvmf_tgt *t);
void nvmf_transports_drain(struct nvmf_reactor *nr);
bool nvmf_transports_idle(struct nvmf_reactor *nr);
void nvmf_transports_reactor_fini(struct nvmf_reactor *nr);
void nvmf_transports_fini(void);
/* The discovery listener bridge.discovery_port adds for configured port i,
 * in *d, when its transport has a well-known discovery port (NVMe/TCP's
 * 8009); false when none. Callers skip an address already listened on. */
bool nvmf_transport_disc_addr(const struct config *cfg, unsigned i, struct cfg_addr *d);
/* Two addresses one listener serves (transport, address, service) */
bool nvmf_same_listener(const struct cfg_addr *a, const struct cfg_addr *b);
/* Live connections of every transport. */
unsigned nvmf_transports_nr_conns(void);

#endif
