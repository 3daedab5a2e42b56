/* SPDX-License-Identifier: MIT */
/*
 * The PCIe controllers the target owns (the pcie backend's namespaces are
 * on them): opened through VFIO and brought up once, however many
 * namespaces use them; how many reactors they allow and the DMA mapping
 * the data pools share; their health check (reactor 0, once a second,
 * resets through nvmf_tgt_reset_pcie); their interrupts waking the
 * reactors; their shutdown at exit.
 */
#define LOG_TAG "target"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "common/log.h"
#include "pcie/pcie.h"
#include "target/target.h"

static void irq_event(void *arg, uint32_t events)
{
	struct pcie_queue *q = arg;
	uint64_t v;

	(void)events;
	/* drain; the poller that runs next reaps the completions */
	if (read(q->irq_fd, &v, sizeof(v)) < 0)
		return;
}

/* I/O queue k's interrupt wakes reactor k (epoll_ctl is thread-safe, so
 * this also works for a controller added while reactors run) */
static void watch_ctrl_irqs(struct nvmf_tgt *t, struct pcie_ctrl *pc)
{
	for (unsigned q = 0; q < pc->nr_ioq && q < t->nr_reactors; q++) {
		struct pcie_queue *pq = &pc->ioq[q];
		struct reactor_fd *f;

		if (pq->irq_fd < 0 || t->nr_irq_fds >= NVMF_MAX_PCIE * NVMF_MAX_IO_QUEUES)
			continue;
		f = &t->irq_fds[t->nr_irq_fds];
		*f = (struct reactor_fd){ .fd = pq->irq_fd, .events = EPOLLIN, .cb = irq_event, .arg = pq };
		if (!reactor_add_fd(&t->reactors[q].r, f))
			t->nr_irq_fds++;
	}
}

struct nvmf_pcie_test_dev nvmf_pcie_test_dev;

/* The device through VFIO, or the test's: *dev, or why not (rc) */
static int dev_open(const char *bdf, const struct pcie_dev_ops **ops, void **dev, char *why, size_t len)
{
	struct vfio_dev *v;
	int rc;

	if (nvmf_pcie_test_dev.open)
		return nvmf_pcie_test_dev.open(bdf, ops, dev, why, len);
	rc = vfio_dev_open(bdf, (size_t)NVMF_DATA_BUFS * NVMF_DATA_BUF_SIZE + (64u << 20), &v, why, len);
	*ops = &vfio_dev_ops;
	*dev = v;
	return rc;
}

static void dev_close(void *dev)
{
	if (nvmf_pcie_test_dev.close)
		nvmf_pcie_test_dev.close(dev);
	else
		vfio_dev_close(dev);
}

/* The controller at bdf, opened (and brought up) unless it already is. */
int nvmf_pcie_ctrl_open(struct nvmf_tgt *t, const char *bdf, struct pcie_ctrl **out, char *err, size_t errlen)
{
	const struct pcie_dev_ops *ops;
	struct pcie_ctrl_opts o;
	struct pcie_ctrl *c;
	void *v;
	char why[768];
	int rc;

	for (unsigned i = 0; i < t->nr_pcie; i++) {
		if (!strcmp(t->pcie_bdf[i], bdf)) {
			*out = t->pcie[i];
			return 0;
		}
	}
	if (t->nr_pcie == NVMF_MAX_PCIE) {
		set_err(err, errlen, "%s: more than %u PCIe controllers", bdf, NVMF_MAX_PCIE);
		return -ENOSPC;
	}
	rc = dev_open(bdf, &ops, &v, why, sizeof(why));
	if (rc) {
		set_err(err, errlen, "%s", why);
		return rc;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		dev_close(v);
		return -ENOMEM;
	}
	pcie_ctrl_opts_default(&o);
	/* one I/O queue pair per reactor (before the reactors exist: as many
	 * as configured; the reactor count then follows what is granted) */
	o.nr_io_queues = t->nr_reactors ? t->nr_reactors : (t->cfg->bridge.reactors ? t->cfg->bridge.reactors : 1);
	o.io_queue_depth = 1024;
	o.max_xfer = NVMF_DATA_BUF_SIZE;
	if (nvmf_pcie_test_dev.opts)
		nvmf_pcie_test_dev.opts(&o);
	rc = pcie_ctrl_init(c, ops, v, &o, why, sizeof(why));
	if (rc) {
		set_err(err, errlen, "%s: controller bring-up failed: %s", bdf, why);
		free(c);
		dev_close(v);
		return rc;
	}
	if (t->nr_reactors && c->nr_ioq < t->nr_reactors) {
		/* added while running: every reactor needs its own queue */
		set_err(err, errlen, "%s grants %u I/O queue(s), the daemon runs %u reactors", bdf, c->nr_ioq,
			t->nr_reactors);
		pcie_ctrl_shutdown(c);
		free(c);
		dev_close(v);
		return -ENOSPC;
	}
	t->pcie[t->nr_pcie] = c;
	snprintf(t->pcie_bdf[t->nr_pcie], sizeof(t->pcie_bdf[0]), "%s", bdf);
	/* reactors poll t->pcie[0..nr_pcie): publish the entry first */
	__atomic_store_n(&t->nr_pcie, t->nr_pcie + 1, __ATOMIC_RELEASE);
	if (t->irq_fds)         /* added while running: its interrupts too */
		watch_ctrl_irqs(t, c);
	log_notice("%s: %.40s ready, %u namespace(s), max transfer %u bytes", bdf, c->id.mn, c->nr_ns,
		   c->max_xfer);
	*out = c;
	return 0;
}

/* Every enabled pcie namespace's controller, before the reactors exist:
 * how many queues they grant decides the number of reactors, and the
 * data pools are mapped for them. */
int nvmf_pcie_ctrls_open(struct nvmf_tgt *t, char *err, size_t errlen)
{
	const struct config *cfg = t->cfg;

	for (unsigned i = 0; i < cfg->nr_subsystems; i++)
		for (unsigned j = 0; j < cfg->subsystems[i].nr_namespaces; j++) {
			const struct cfg_namespace *cn = &cfg->subsystems[i].namespaces[j];
			struct pcie_ctrl *pc;
			int rc;

			if (cn->backend != CFG_BACKEND_PCIE || !cn->enable)
				continue;
			rc = nvmf_pcie_ctrl_open(t, cn->pcie_bdf, &pc, err, errlen);
			if (rc)
				return rc;
		}
	return 0;
}

/* As many reactors as wanted, but no more than every controller has I/O
 * queues for: a reactor without its own hardware queue would have to
 * share one, and completions would then land on the wrong thread. */
unsigned nvmf_pcie_max_reactors(const struct nvmf_tgt *t, unsigned want)
{
	unsigned n = want;

	for (unsigned i = 0; i < t->nr_pcie; i++) {
		if (t->pcie[i]->nr_ioq < n) {
			log_warn("%s grants %u I/O queue(s): running %u reactor(s) instead of %u", t->pcie_bdf[i],
				 t->pcie[i]->nr_ioq, t->pcie[i]->nr_ioq, n);
			n = t->pcie[i]->nr_ioq;
		}
	}
	return n;
}

/* The mapping of the data pools for the devices: one VFIO container for
 * all controllers, so one mapping serves all. false: no controller. */
bool nvmf_pcie_dma_mapper(const struct nvmf_tgt *t, struct dma_mapper *m)
{
	if (!t->nr_pcie)
		return false;
	*m = pcie_ctrl_mapper(t->pcie[0]);
	return true;
}

static void health_tick(void *arg)
{
	struct nvmf_tgt *t = arg;

	for (unsigned i = 0; i < t->nr_pcie; i++) {
		struct pcie_ctrl *pc = t->pcie[i];

		if (pc->state == PCIE_CTRL_LIVE && pcie_ctrl_needs_reset(pc)) {
			log_warn("%s: resetting the controller", t->pcie_bdf[i]);
			nvmf_tgt_reset_pcie(t, pc);
		} else if (pc->state == PCIE_CTRL_FAILED && !pc->last_health_ns) {
			log_err("%s: controller failed; its namespaces return errors", t->pcie_bdf[i]);
			pc->last_health_ns = 1;
		}
	}
}

static void watch_irqs(struct nvmf_tgt *t)
{
	t->irq_fds = calloc(NVMF_MAX_PCIE * NVMF_MAX_IO_QUEUES, sizeof(*t->irq_fds));
	if (!t->irq_fds)
		return;
	for (unsigned i = 0; i < t->nr_pcie; i++)
		watch_ctrl_irqs(t, t->pcie[i]);
}

void nvmf_pcie_ctrls_start(struct nvmf_tgt *t)
{
	/* started even without controllers: one may be added while running */
	reactor_timer_start(&t->reactors[0].r, &t->health_timer, 1000, 1000, health_tick, t);
	watch_irqs(t);
}

void nvmf_pcie_ctrls_stop(struct nvmf_tgt *t)
{
	if (t->nr_reactors) {
		reactor_timer_stop(&t->reactors[0].r, &t->health_timer);
		for (unsigned i = 0; i < t->nr_irq_fds; i++)
			for (unsigned r = 0; r < t->nr_reactors; r++)
				reactor_del_fd(&t->reactors[r].r, &t->irq_fds[i]);
	}
	free(t->irq_fds);
}

void nvmf_pcie_ctrls_close(struct nvmf_tgt *t)
{
	for (unsigned i = 0; i < t->nr_pcie; i++) {
		void *dev = t->pcie[i]->dev;

		free(t->pcie[i]->owner);
		t->pcie[i]->owner = NULL;
		if (pcie_ctrl_shutdown(t->pcie[i]))
			log_warn("%s: shutdown not confirmed by the controller", t->pcie_bdf[i]);
		else
			log_notice("%s: controller shut down", t->pcie_bdf[i]);
		dev_close(dev);
		free(t->pcie[i]);
	}
}
