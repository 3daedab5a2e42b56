/* SPDX-License-Identifier: MIT */
/*
 * The transports by port type, and the listeners of every port: opened
 * through the port's transport, retried while the address is not there
 * yet, closed when the port goes or the target stops.
 */
#define LOG_TAG "transport"
#include "transport/transport.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "transport/rdma.h"
#include "transport/tcp.h"

#define LISTEN_RETRY_MS 2000

static const struct nvmf_transport_ops *const transports[] = {
	&nvmf_tcp_transport,
	&nvmf_rdma_transport,
};
#define NR_TRANSPORTS (sizeof(transports) / sizeof(transports[0]))

/* every open (or retrying) listener, on reactor 0 */
static struct nvmf_listener **listeners;
static unsigned nr_listeners;

const struct nvmf_transport_ops *nvmf_transport_get(enum cfg_trtype trtype)
{
	for (unsigned i = 0; i < NR_TRANSPORTS; i++)
		if (transports[i]->trtype == trtype)
			return transports[i];
	return NULL;
}

const struct nvmf_transport_ops *nvmf_transport_nth(unsigned i)
{
	return i < NR_TRANSPORTS ? transports[i] : NULL;
}

static void listener_retry(void *arg)
{
	struct nvmf_listener *l = arg;
	char err[256];

	if (l->tr->listen(l, err, sizeof(err)) == 0)
		reactor_timer_stop(&l->port->tgt->reactors[0].r, &l->retry);
}

int nvmf_port_listen(struct nvmf_port *p, char *err, size_t errlen)
{
	const struct nvmf_transport_ops *tr = nvmf_transport_get(p->addr.trtype);
	struct nvmf_listener *l, **nl;
	int rc;

	if (!tr) {
		snprintf(err, errlen, "%s:%s: no transport of type %u", p->addr.traddr, p->addr.trsvcid,
			 (unsigned)p->addr.trtype);
		return -EPROTONOSUPPORT;
	}
	nl = realloc(listeners, (nr_listeners + 1) * sizeof(*listeners));
	if (!nl)
		return -ENOMEM;
	listeners = nl;
	l = calloc(1, tr->listener_size);
	if (!l)
		return -ENOMEM;
	l->port = p;
	l->tr = tr;
	rc = tr->listen(l, err, errlen);
	if (rc == -EADDRNOTAVAIL) {
		log_warn("%s; retrying every %u s", err, LISTEN_RETRY_MS / 1000);
		reactor_timer_start(&p->tgt->reactors[0].r, &l->retry, LISTEN_RETRY_MS, LISTEN_RETRY_MS,
				    listener_retry, l);
		rc = 0;
	}
	if (rc) {
		tr->unlisten(l, false);
		free(l);
		return rc;
	}
	listeners[nr_listeners++] = l;
	p->listener = l;
	return 0;
}

static void listener_close(struct nvmf_listener *l, bool removed)
{
	struct nvmf_port *p = l->port;

	reactor_timer_stop(&p->tgt->reactors[0].r, &l->retry);
	l->tr->unlisten(l, removed);
	p->listener = NULL;
	free(l);
}

void nvmf_port_unlisten(struct nvmf_port *p)
{
	struct nvmf_listener *l = p->listener;

	if (!l)
		return;
	for (unsigned i = 0; i < nr_listeners; i++) {
		if (listeners[i] == l) {
			listeners[i] = listeners[--nr_listeners];
			break;
		}
	}
	log_notice("stopped listening on %s:%s (%s, port %u)", p->addr.traddr, p->addr.trsvcid, l->tr->name,
		   p->portid);
	listener_close(l, true);
}

static void close_port_run(void *arg)
{
	struct nvmf_port *p = arg;

	nvmf_transport_get(p->addr.trtype)->close_port(nvmf_this_reactor, p);
}

void nvmf_port_close_conns(struct nvmf_tgt *t, struct nvmf_port *p)
{
	/* the port's own messages: nothing to allocate, nothing to lose */
	if (!nvmf_transport_get(p->addr.trtype) || p->conns_closed)
		return;
	p->conns_closed = true;
	for (unsigned i = 0; i < t->nr_reactors; i++) {
		p->close_msgs[i] = (struct nvmf_msg){ .fn = close_port_run, .arg = p };
		nvmf_reactor_post(&t->reactors[i], &p->close_msgs[i]);
	}
}

void nvmf_transports_stop_listening(struct nvmf_tgt *t)
{
	(void)t;
	for (unsigned i = 0; i < nr_listeners; i++)
		listener_close(listeners[i], false);
	free(listeners);
	listeners = NULL;
	nr_listeners = 0;
}

void nvmf_transports_drain(struct nvmf_reactor *nr)
{
	for (unsigned i = 0; i < NR_TRANSPORTS; i++)
		transports[i]->reactor_drain(nr);
}

bool nvmf_transports_idle(struct nvmf_reactor *nr)
{
	bool idle = true;

	/* ask every one: an idle check may also make progress (RDMA polls) */
	for (unsigned i = 0; i < NR_TRANSPORTS; i++)
		idle &= transports[i]->reactor_idle(nr);
	return idle;
}

void nvmf_transports_reactor_fini(struct nvmf_reactor *nr)
{
	nvmf_reactor_run_msgs(nr);      /* they may still need the transports' state */
	for (unsigned i = 0; i < NR_TRANSPORTS; i++)
		transports[i]->reactor_fini(nr);
}

void nvmf_transports_fini(void)
{
	for (unsigned i = 0; i < NR_TRANSPORTS; i++)
		if (transports[i]->fini)
			transports[i]->fini();
}

bool nvmf_transport_disc_addr(const struct config *cfg, unsigned i, struct cfg_addr *d)
{
	const struct nvmf_transport_ops *tr = nvmf_transport_get(cfg->ports[i].addr.trtype);

	if (!cfg->bridge.discovery_port || !tr || !tr->discovery_port)
		return false;
	*d = cfg->ports[i].addr;
	snprintf(d->trsvcid, sizeof(d->trsvcid), "%u", cfg->bridge.discovery_port);
	return true;
}

bool nvmf_same_listener(const struct cfg_addr *a, const struct cfg_addr *b)
{
	return a->trtype == b->trtype && !strcmp(a->traddr, b->traddr) && !strcmp(a->trsvcid, b->trsvcid);
}

unsigned nvmf_transports_nr_conns(void)
{
	unsigned n = 0;

	for (unsigned i = 0; i < NR_TRANSPORTS; i++)
		n += transports[i]->nr_conns();
	return n;
}
