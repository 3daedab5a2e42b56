/* SPDX-License-Identifier: MIT */
/*
 * nvmf-bridged: validate the configuration before touching anything, open
 * the PCIe controllers and other backends, listen, serve; on SIGTERM or
 * SIGINT stop accepting, disconnect hosts, finish or fail what is in
 * flight, shut every controller down with CC.SHN, exit 0.
 */
#define LOG_TAG "nvmf-bridged"
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "common/log.h"
#include "common/reactor.h"
#include "common/listen_fds.h"
#include "common/sd_notify.h"
#include "config/config.h"
#include "target/metrics.h"
#include "target/target.h"
#include "transport/transport.h"

struct daemon {
	struct nvmf_tgt tgt;
	struct reactor_timer watchdog;
	struct config *cfg;
	struct reactor_fd sigfd;
	int sig;
};

static void on_signal(void *arg, uint32_t events)
{
	struct daemon *d = arg;
	struct signalfd_siginfo si;

	(void)events;
	while (read(d->sigfd.fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
			log_notice("%s: shutting down", strsignal((int)si.ssi_signo));
			d->sig = (int)si.ssi_signo;
			sd_notify(0, "STOPPING=1");
			/* stop accepting first, then every reactor drains */
			nvmf_rpc_stop(&d->tgt);
			nvmf_transports_stop_listening(&d->tgt);
			nvmf_tgt_stop(&d->tgt);
		} else if (si.ssi_signo == SIGHUP && !d->tgt.stopping) {
			char err[1024];

			log_notice("SIGHUP: reloading %s", d->tgt.cfg->file);
			sd_notify(0, "RELOADING=1");
			/* an invalid file is refused with its reason; nothing changes */
			nvmf_tgt_reload(&d->tgt, err, sizeof(err));
			sd_notify(0, "READY=1");
		}
	}
}

static int setup_signals(struct daemon *d)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGPIPE);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		return -errno;
	sigdelset(&set, SIGPIPE);
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	d->sigfd = (struct reactor_fd){ .fd = fd, .events = EPOLLIN, .cb = on_signal, .arg = d };
	return reactor_add_fd(&d->tgt.reactors[0].r, &d->sigfd);
}

/* From the event loop itself: if reactor 0 hangs, systemd notices. */
static void watchdog_ping(void *arg)
{
	(void)arg;
	sd_notify(0, "WATCHDOG=1");
}

/* READY=1 with a STATUS= line naming ports, subsystems and namespaces */
static void notify_ready(struct daemon *d)
{
	const struct nvmf_tgt *t = &d->tgt;
	char status[1024];
	size_t n = 0;
	uint64_t usec = 0;

	n += (size_t)snprintf(status + n, sizeof(status) - n, "serving");
	for (unsigned i = 0; i < t->nr_ports && n < sizeof(status); i++)
		n += (size_t)snprintf(status + n, sizeof(status) - n, " %s:%s:%s%s",
				      cfg_trtype_name(t->ports[i]->addr.trtype), t->ports[i]->addr.traddr,
				      t->ports[i]->addr.trsvcid, t->ports[i]->discovery_only ? "(discovery)" : "");
	for (unsigned i = 0; i < t->nr_subsys && n < sizeof(status); i++)
		n += (size_t)snprintf(status + n, sizeof(status) - n, "; %s (%u ns)", t->subsys[i]->nqn,
				      nvmf_subsys_ns(t->subsys[i])->nr);
	sd_notifyf(0, "READY=1\nSTATUS=%s", status);
	if (sd_watchdog_enabled(0, &usec) > 0 && usec) {
		uint64_t ms = usec / 2000 ? usec / 2000 : 1;

		reactor_timer_start(&t->reactors[0].r, &d->watchdog, ms, ms, watchdog_ping, d);
		log_info("watchdog on: pinging every %llu ms", (unsigned long long)ms);
	}
}

/* Connections are fds: take every one the hard limit allows (systemd's
 * default soft limit is 1024 for select()'s sake; we use epoll). The
 * per-port and per-address caps, not the fd limit, bound what peers get;
 * accept() failing with EMFILE anyway pauses the listener. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		log_warn("cannot raise the open file limit to %llu: %s", (unsigned long long)rl.rlim_max,
			 strerror(errno));
}

static void usage(FILE *f)
{
	fprintf(f, "usage: nvmf-bridged --config FILE [--systemd] [--verbose] [--check]\n"
		   "  --config FILE  configuration in nvmetcli's JSON schema (see docs/configuration.md)\n"
		   "  --check        validate the configuration and exit\n"
		   "  --verbose      debug messages\n");
}

static void summary(const struct daemon *d)
{
	const struct nvmf_tgt *t = &d->tgt;
	unsigned nns = 0;

	for (unsigned i = 0; i < t->nr_subsys; i++)
		nns += nvmf_subsys_ns(t->subsys[i])->nr;
	log_notice("ready: %u port(s), %u subsystem(s), %u namespace(s), %u PCIe controller(s), %u reactor(s)",
		   t->nr_ports, t->nr_subsys, nns, t->nr_pcie, t->nr_reactors);
	for (unsigned i = 0; i < t->nr_subsys; i++) {
		const struct nvmf_subsys *s = t->subsys[i];

		const struct nvmf_ns_table *nt = nvmf_subsys_ns(s);

		for (unsigned j = 0; j < nt->nr; j++) {
			const struct nvmf_ns *ns = nt->ns[j];

			log_notice("  %s nsid %u: %s, %llu blocks of %u bytes", s->nqn, ns->nsid, ns->ops->name,
				   (unsigned long long)ns->nsze, 1u << ns->lba_shift);
		}
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "systemd", no_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "check", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cfg_path = NULL;
	char abs_path[PATH_MAX];
	bool check_only = false;
	struct daemon d = { .sigfd.fd = -1 };
	char err[1024] = "";
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "c:svkh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			cfg_path = optarg;
			break;
		case 's':
			log_set_journal(true);
			break;
		case 'v':
			log_set_level(LOG_LVL_DEBUG);
			break;
		case 'k':
			check_only = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!cfg_path || optind != argc) {
		usage(stderr);
		return 2;
	}
	/* absolute, so that reload and save-config do not depend on where the
	 * daemon happens to run */
	if (!realpath(cfg_path, abs_path)) {
		log_err("%s: %s", cfg_path, strerror(errno));
		return 1;
	}
	cfg_path = abs_path;
	/* everything is validated before any device is touched */
	rc = config_load(cfg_path, &d.cfg, err, sizeof(err));
	if (rc) {
		log_err("%s", err);
		return 1;
	}
	if (check_only) {
		printf("%s: configuration is valid\n", cfg_path);
		config_free(d.cfg);
		return 0;
	}
	raise_fd_limit();
	{
		unsigned handed = listen_fds_init();

		if (handed)
			log_notice("%u listening socket(s) handed over by the service manager", handed);
	}
	/* signals are blocked before any reactor thread exists, so that
	 * every thread inherits the mask and only the signalfd sees them */
	{
		sigset_t set;

		sigemptyset(&set);
		sigaddset(&set, SIGTERM);
		sigaddset(&set, SIGINT);
		sigaddset(&set, SIGHUP);
		sigaddset(&set, SIGPIPE);
		pthread_sigmask(SIG_BLOCK, &set, NULL);
	}
	rc = nvmf_tgt_init(&d.tgt, d.cfg, err, sizeof(err));
	if (rc) {
		log_err("%s", err);
		goto free_cfg;
	}
	rc = setup_signals(&d);
	if (rc) {
		log_err("signals: %s", strerror(-rc));
		goto fini_tgt;
	}
	for (unsigned i = 0; i < d.tgt.nr_ports; i++) {
		rc = nvmf_port_listen(d.tgt.ports[i], err, sizeof(err));
		if (rc) {
			log_err("cannot listen: %s", err);
			nvmf_transports_stop_listening(&d.tgt);
			goto fini_tgt;
		}
	}
	{
		unsigned unused = listen_fds_close_unused();

		if (unused)
			log_notice("%u handed-over listening socket(s) match no port: closed", unused);
	}
	rc = nvmf_rpc_start(&d.tgt, err, sizeof(err));
	if (rc) {
		log_err("%s", err);
		nvmf_transports_stop_listening(&d.tgt);
		goto fini_tgt;
	}
	rc = nvmf_metrics_start(&d.tgt, &d.tgt.cfg->bridge.metrics, err, sizeof(err));
	if (rc) {
		log_err("%s", err);
		nvmf_rpc_stop(&d.tgt);
		nvmf_transports_stop_listening(&d.tgt);
		goto fini_tgt;
	}
	summary(&d);
	notify_ready(&d);
	rc = nvmf_tgt_run(&d.tgt);
	reactor_timer_stop(&d.tgt.reactors[0].r, &d.watchdog);
	nvmf_rpc_stop(&d.tgt);
	nvmf_transports_stop_listening(&d.tgt);
fini_tgt:
	nvmf_metrics_stop(&d.tgt);
	for (unsigned i = 0; i < d.tgt.nr_reactors; i++)
		nvmf_transports_reactor_fini(&d.tgt.reactors[i]);
	/* memory registrations go before the pools they cover */
	nvmf_transports_fini();
	if (d.sigfd.fd >= 0) {
		reactor_del_fd(&d.tgt.reactors[0].r, &d.sigfd);
		close(d.sigfd.fd);
	}
	/* a reload replaced (and freed) the configuration we started with */
	if (d.tgt.cfg)
		d.cfg = d.tgt.cfg;
	nvmf_tgt_fini(&d.tgt);
free_cfg:
	config_free(d.cfg);
	if (!rc)
		log_notice("stopped");
	return rc ? 1 : 0;
}
