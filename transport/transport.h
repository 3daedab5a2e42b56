/* SPDX-License-Identifier: MIT */
/* What the target asks of "a transport", by port type (transport.c). */
#ifndef TRANSPORT_TRANSPORT_H
#define TRANSPORT_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "target/target.h"

int nvmf_port_listen(struct nvmf_port *p, char *err, size_t errlen);
void nvmf_port_unlisten(struct nvmf_port *p);
/* Close every connection that came in on port p (on every reactor). */
void nvmf_port_close_conns(struct nvmf_tgt *t, struct nvmf_port *p);
/* All transports: stop accepting; drain, idle and free one reactor. */
void nvmf_transports_stop_listening(struct nvmf_tgt *t);
void nvmf_transports_drain(struct nvmf_reactor *nr);
bool nvmf_transports_idle(struct nvmf_reactor *nr);
void nvmf_transports_reactor_fini(struct nvmf_reactor *nr);
void nvmf_transports_fini(void);

#endif
