/* SPDX-License-Identifier: MIT */
#include "transport/transport.h"

#include "transport/rdma.h"
#include "transport/tcp.h"

int nvmf_port_listen(struct nvmf_port *p, char *err, size_t errlen)
{
	if (p->addr.trtype == CFG_TRTYPE_RDMA)
		return nvmf_rdma_listen(p, err, errlen);
	return nvmf_tcp_listen(p, err, errlen);
}

void nvmf_port_unlisten(struct nvmf_port *p)
{
	if (p->addr.trtype == CFG_TRTYPE_RDMA)
		nvmf_rdma_unlisten(p);
	else
		nvmf_tcp_unlisten(p);
}

void nvmf_port_close_conns(struct nvmf_tgt *t, struct nvmf_port *p)
{
	if (p->addr.trtype == CFG_TRTYPE_RDMA)
		nvmf_rdma_close_port(t, p);
	else
		nvmf_tcp_close_port(t, p);
}

void nvmf_transports_stop_listening(struct nvmf_tgt *t)
{
	nvmf_tcp_stop_listening(t);
	nvmf_rdma_stop_listening(t);
}

void nvmf_transports_drain(struct nvmf_reactor *nr)
{
	nvmf_tcp_reactor_drain(nr);
	nvmf_rdma_reactor_drain(nr);
}

bool nvmf_transports_idle(struct nvmf_reactor *nr)
{
	bool tcp = nvmf_tcp_reactor_idle(nr);

	return nvmf_rdma_reactor_idle(nr) && tcp;
}

void nvmf_transports_reactor_fini(struct nvmf_reactor *nr)
{
	nvmf_tcp_reactor_fini(nr);
	nvmf_rdma_reactor_fini(nr);
}

void nvmf_transports_fini(void)
{
	nvmf_rdma_fini();
}
