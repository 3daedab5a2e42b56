/* SPDX-License-Identifier: MIT */
/*
 * nvmf-bridge-perf: an NVMe/TCP load generator in the spirit of
 * spdk_nvme_perf. The controller and its queues are set up by the
 * project's strict initiator (tests/support/tcp_host.c); the I/O runs on
 * the fast path of perf/perf_tcp.c, all queues of a thread in one event
 * loop (epoll, or busy polling with --poll).
 *
 *   nvmf-bridge-perf -a ADDR -s PORT -n SUBNQN -q DEPTH -o SIZE
 *                    -w randread|randwrite|read|write|randrw -t SECONDS -c QUEUES
 *
 * The last line of the output is one JSON object (see perf_report()).
 * Exit status: 0, 1 when a command failed, data did not verify or a queue
 * died, 2 for a usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "common/cli.h"
#include "nvme/regs.h"
#include "perf/perf_stats.h"
#include "perf/perf_tcp.h"
#include "tests/support/tcp_host.h"

#define TOOL "nvmf-bridge-perf"
#define MAX_QUEUES 64
#define MAX_THREADS 16
#define DRAIN_NS (10ull * 1000000000ull)

struct opts {
	const char *addr, *port, *subnqn;
	char hostnqn[256];
	uint8_t hostid[16];
	unsigned qd, queues, threads;
	uint64_t io_size;
	enum perf_workload wl;
	double secs, warmup, idle_secs;
	bool idle;
	unsigned rwmixread;
	uint32_t nsid;
	uint64_t region_bytes;     /* 0 = whole namespace (verify: 64 MiB) */
	bool verify, prefill, hdgst, ddgst, poll, dissqfc;
	int cpus[MAX_THREADS];
	unsigned ncpus;
	int target_pid;
	uint32_t kato_ms;
	uint64_t seed;
	bool quiet;
};

static struct opts o = {
	.addr = "127.0.0.1", .port = "4420", .qd = 1, .queues = 1, .threads = 1,
	.io_size = 4096, .wl = WL_RANDREAD, .secs = 10, .rwmixread = 50, .kato_ms = 10000,
};

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

__attribute__((format(printf, 1, 2)))
static void err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vmsg(TOOL, fmt, ap);
	va_end(ap);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " TOOL " -n SUBNQN [options]\n"
		"  -a, --traddr ADDR      target address (default 127.0.0.1)\n"
		"  -s, --trsvcid PORT     target port (default 4420)\n"
		"  -n, --nqn SUBNQN       subsystem NQN\n"
		"  -q, --qd DEPTH         commands in flight per queue (default 1; at most the\n"
		"                         controller's MQES+1, like the Linux host)\n"
		"  -o, --size SIZE        bytes per command (default 4096; 4k, 128k...)\n"
		"  -w, --workload W       randread|randwrite|read|write|randrw (default randread)\n"
		"  -t, --time SECONDS     measured run time (default 10)\n"
		"  -c, --queues N         I/O queues (connections; default 1)\n"
		"  -T, --threads N        threads sharing the queues (default 1)\n"
		"  -M, --rwmixread PCT    randrw: percent reads (default 50)\n"
		"      --nsid N           namespace (default: the first active one)\n"
		"      --region SIZE      use only the first SIZE bytes of the namespace\n"
		"                         (default all; 64 MiB with --verify)\n"
		"      --verify           write a pattern over the region, run the workload\n"
		"                         checking every read, then read everything back\n"
		"      --prefill          first write the whole region once (sequentially)\n"
		"      --warmup SECONDS   run this long before measuring (default 0)\n"
		"      --poll             busy-poll the sockets instead of sleeping in epoll\n"
		"      --cpu LIST         pin thread i to the i-th CPU of LIST (e.g. 1 or 1,0)\n"
		"      --idle SECONDS     connect, then send nothing but keep-alives\n"
		"      --target-pid PID   also report that process's CPU time (/proc/PID/stat)\n"
		"                         over the measured window, per command\n"
		"      --hostnqn NQN      host NQN (default: a random uuid NQN)\n"
		"      --kato MS          keep-alive timeout (default 10000; sent every KATO/2)\n"
		"      --hdgst, --ddgst   header / data digests\n"
		"      --dissqfc          disable SQ flow control (C2HData SUCCESS saves a PDU)\n"
		"      --seed N           random and pattern seed\n"
		"      --quiet            only the JSON line\n");
}

static int parse_num(const char *s, const char *what, uint64_t lo, uint64_t hi, uint64_t *out)
{
	if (perf_parse_size(s, out) || *out < lo || *out > hi) {
		err("%s: '%s' is not a number in %" PRIu64 "..%" PRIu64, what, s, lo, hi);
		return -1;
	}
	return 0;
}

static int parse_secs(const char *s, const char *what, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	if (errno || end == s || *end || *out < 0 || *out > 86400) {
		err("%s: '%s' is not a number of seconds", what, s);
		return -1;
	}
	return 0;
}

enum {
	OPT_NSID = 256, OPT_REGION, OPT_VERIFY, OPT_PREFILL, OPT_WARMUP, OPT_POLL, OPT_CPU, OPT_IDLE,
	OPT_TPID, OPT_HOSTNQN, OPT_KATO, OPT_HDGST, OPT_DDGST, OPT_DISSQFC, OPT_SEED, OPT_QUIET,
};

static int parse(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "traddr", required_argument, NULL, 'a' },
		{ "trsvcid", required_argument, NULL, 's' },
		{ "nqn", required_argument, NULL, 'n' },
		{ "qd", required_argument, NULL, 'q' },
		{ "size", required_argument, NULL, 'o' },
		{ "workload", required_argument, NULL, 'w' },
		{ "time", required_argument, NULL, 't' },
		{ "queues", required_argument, NULL, 'c' },
		{ "threads", required_argument, NULL, 'T' },
		{ "rwmixread", required_argument, NULL, 'M' },
		{ "nsid", required_argument, NULL, OPT_NSID },
		{ "region", required_argument, NULL, OPT_REGION },
		{ "verify", no_argument, NULL, OPT_VERIFY },
		{ "prefill", no_argument, NULL, OPT_PREFILL },
		{ "warmup", required_argument, NULL, OPT_WARMUP },
		{ "poll", no_argument, NULL, OPT_POLL },
		{ "cpu", required_argument, NULL, OPT_CPU },
		{ "idle", required_argument, NULL, OPT_IDLE },
		{ "target-pid", required_argument, NULL, OPT_TPID },
		{ "hostnqn", required_argument, NULL, OPT_HOSTNQN },
		{ "kato", required_argument, NULL, OPT_KATO },
		{ "hdgst", no_argument, NULL, OPT_HDGST },
		{ "ddgst", no_argument, NULL, OPT_DDGST },
		{ "dissqfc", no_argument, NULL, OPT_DISSQFC },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ "quiet", no_argument, NULL, OPT_QUIET },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool have_hostnqn = false, have_seed = false;
	uint64_t v;
	int c;

	while ((c = getopt_long(argc, argv, "a:s:n:q:o:w:t:c:T:M:h", lo, NULL)) != -1) {
		switch (c) {
		case 'a': o.addr = optarg; break;
		case 's': o.port = optarg; break;
		case 'n': o.subnqn = optarg; break;
		case 'q':
			if (parse_num(optarg, "-q", 1, 65536, &v))
				return -1;
			o.qd = (unsigned)v;
			break;
		case 'o':
			if (parse_num(optarg, "-o", 512, 64u << 20, &v))
				return -1;
			o.io_size = v;
			break;
		case 'w':
			if (perf_workload_parse(optarg, &o.wl)) {
				err("-w: unknown workload '%s'", optarg);
				return -1;
			}
			break;
		case 't':
			if (parse_secs(optarg, "-t", &o.secs))
				return -1;
			break;
		case 'c':
			if (parse_num(optarg, "-c", 1, MAX_QUEUES, &v))
				return -1;
			o.queues = (unsigned)v;
			break;
		case 'T':
			if (parse_num(optarg, "-T", 1, MAX_THREADS, &v))
				return -1;
			o.threads = (unsigned)v;
			break;
		case 'M':
			if (parse_num(optarg, "-M", 0, 100, &v))
				return -1;
			o.rwmixread = (unsigned)v;
			break;
		case OPT_NSID:
			if (parse_num(optarg, "--nsid", 1, 0xfffffffeu, &v))
				return -1;
			o.nsid = (uint32_t)v;
			break;
		case OPT_REGION:
			if (parse_num(optarg, "--region", 512, UINT64_MAX, &o.region_bytes))
				return -1;
			break;
		case OPT_VERIFY: o.verify = true; break;
		case OPT_PREFILL: o.prefill = true; break;
		case OPT_WARMUP:
			if (parse_secs(optarg, "--warmup", &o.warmup))
				return -1;
			break;
		case OPT_POLL: o.poll = true; break;
		case OPT_CPU: {
			char *s = optarg, *end;

			o.ncpus = 0;
			while (*s && o.ncpus < MAX_THREADS) {
				long cpu = strtol(s, &end, 10);

				if (end == s || cpu < 0 || cpu > 4095 || (*end && *end != ',')) {
					err("--cpu: bad CPU list '%s'", optarg);
					return -1;
				}
				o.cpus[o.ncpus++] = (int)cpu;
				s = *end ? end + 1 : end;
			}
			break;
		}
		case OPT_IDLE:
			if (parse_secs(optarg, "--idle", &o.idle_secs))
				return -1;
			o.idle = true;
			break;
		case OPT_TPID:
			if (parse_num(optarg, "--target-pid", 1, 1u << 30, &v))
				return -1;
			o.target_pid = (int)v;
			break;
		case OPT_HOSTNQN:
			if (strlen(optarg) >= sizeof(o.hostnqn)) {
				err("--hostnqn too long");
				return -1;
			}
			snprintf(o.hostnqn, sizeof(o.hostnqn), "%s", optarg);
			have_hostnqn = true;
			break;
		case OPT_KATO:
			if (parse_num(optarg, "--kato", 0, 3600000, &v))
				return -1;
			o.kato_ms = (uint32_t)v;
			break;
		case OPT_HDGST: o.hdgst = true; break;
		case OPT_DDGST: o.ddgst = true; break;
		case OPT_DISSQFC: o.dissqfc = true; break;
		case OPT_SEED:
			if (parse_num(optarg, "--seed", 0, UINT64_MAX, &o.seed))
				return -1;
			have_seed = true;
			break;
		case OPT_QUIET: o.quiet = true; break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc) {
		err("unexpected argument '%s'", argv[optind]);
		return -1;
	}
	if (!o.subnqn) {
		err("-n SUBNQN is required");
		return -1;
	}
	if (o.threads > o.queues) {
		err("-T %u: more threads than queues (-c %u)", o.threads, o.queues);
		return -1;
	}
	{
		uint8_t hostid[16];
		char gen[256];

		tcp_host_gen_hostnqn(gen, hostid);
		if (!have_hostnqn)
			memcpy(o.hostnqn, gen, sizeof(gen));
		memcpy(o.hostid, hostid, sizeof(hostid));
	}
	if (!have_seed)
		o.seed = (uint64_t)perf_now_ns() ^ ((uint64_t)getpid() << 32);
	return 0;
}

/* --- controller setup (the strict initiator) ------------------------------- */

struct ctrl {
	struct tcp_host_q admin;
	struct tcp_host_q *io[MAX_QUEUES];
	unsigned nr_io;
	uint64_t cap;
	uint16_t cntlid;
	struct nvme_id_ctrl id;
	uint32_t nsid;
	uint64_t nsze;
	uint32_t bs;
	uint32_t max_xfer;
	unsigned depth;            /* commands kept in flight per queue */
	unsigned entries;          /* SQ entries asked for in Connect */
	bool enabled;
	uint64_t id_deviations;    /* Identify Controller checks that failed */
};

static struct ctrl ctrl;

/* Deviations from the specification the setup and the queues survived
 * (lenient host), as "kind":count pairs for the JSON line, and in all. */
static uint64_t deviations(char *buf, size_t len)
{
	uint64_t by[TCP_HOST_DEV_NR] = { 0 }, total = ctrl.id_deviations;
	size_t n = 0;

	for (unsigned i = 0; i <= ctrl.nr_io; i++) {
		const struct tcp_host_q *q = i ? ctrl.io[i - 1] : &ctrl.admin;

		for (unsigned k = 0; k < TCP_HOST_DEV_NR; k++)
			by[k] += q->nr_dev[k];
	}
	n += (size_t)snprintf(buf + n, len - n, "\"id-ctrl\":%" PRIu64, ctrl.id_deviations);
	for (unsigned k = 0; k < TCP_HOST_DEV_NR && n < len; k++) {
		n += (size_t)snprintf(buf + n, len - n, ",\"%s\":%" PRIu64,
				      tcp_host_dev_name((enum tcp_host_dev)k), by[k]);
		total += by[k];
	}
	return total;
}

static int qerr(struct tcp_host_q *q, const char *what, int ret)
{
	err("%s: %s", what, tcp_host_error(q));
	return ret ? ret : -EIO;
}

static int ctrl_up(void)
{
	/* lenient: this tool measures other targets too (SPDK, nvmet); a
	 * deviation that leaves the stream usable is warned about once,
	 * counted in the result, and the run goes on */
	struct tcp_host_opts to = { .hdgst = o.hdgst, .ddgst = o.ddgst, .timeout_ms = 10000,
				    .lenient = true };
	struct tcp_host_connect_args a = { 0 };
	struct tcp_host_q *q = &ctrl.admin;
	struct nvme_id_ns *ns = NULL;
	uint32_t *list = NULL;
	unsigned mqes;
	int ret;

	ret = tcp_host_connect(q, o.addr, o.port, &to);
	if (ret)
		return qerr(q, "admin queue", ret);
	a.qid = 0;
	a.sqsize = 31;
	a.cntlid = 0xffff;
	a.kato_ms = o.kato_ms;
	a.subnqn = o.subnqn;
	a.hostnqn = o.hostnqn;
	memcpy(a.hostid, o.hostid, 16);
	ret = tcp_host_fabrics_connect(q, &a, &ctrl.cntlid, NULL);
	if (ret)
		return qerr(q, "admin Connect", ret);
	ret = tcp_host_enable(q, &ctrl.cap);
	if (ret)
		return qerr(q, "enable", ret);
	ctrl.enabled = true;
	ret = tcp_host_identify_ctrl(q, &ctrl.id, NULL);
	if (ret)
		return qerr(q, "Identify Controller", ret);
	if (tcp_host_check_id_ctrl(q, &ctrl.id, false)) {
		/* what the test initiator would refuse: say it, count it */
		fprintf(stderr, "warning: Identify Controller: %s (not fatal here)\n",
			tcp_host_error(q));
		ctrl.id_deviations++;
	}
	ctrl.max_xfer = ctrl.id.mdts ? 4096u << ctrl.id.mdts : 0;

	if (posix_memalign((void **)&ns, 4096, 4096) || posix_memalign((void **)&list, 4096, 4096)) {
		ret = -ENOMEM;
		goto out;
	}
	ctrl.nsid = o.nsid;
	if (!ctrl.nsid) {
		ret = tcp_host_active_ns_list(q, 0, list, NULL);
		if (ret) {
			qerr(q, "Identify active namespaces", ret);
			goto out;
		}
		if (!list[0]) {
			err("%s has no active namespace", o.subnqn);
			ret = -ENOENT;
			goto out;
		}
		ctrl.nsid = list[0];
	}
	ret = tcp_host_identify_ns(q, ctrl.nsid, ns, NULL);
	if (ret) {
		qerr(q, "Identify Namespace", ret);
		goto out;
	}
	{
		unsigned f = nvme_id_ns_flbas_index(ns);
		unsigned lbads = f <= ns->nlbaf ? ns->lbaf[f].lbads : 0;

		if (!le64_to_cpu(ns->nsze) || lbads < 9 || lbads > 16) {
			err("namespace %u: size %" PRIu64 " blocks, LBADS %u: unusable (inactive?)",
			    ctrl.nsid, le64_to_cpu(ns->nsze), lbads);
			ret = -ENOENT;
			goto out;
		}
		ctrl.bs = 1u << lbads;
		ctrl.nsze = le64_to_cpu(ns->nsze);
	}
	/* An SQ of N entries holds N - 1 commands: ask for QD + 1 entries.
	 * MQES + 1 and MAXCMD bound the queue; at that bound the Linux host
	 * keeps SQSIZE + 1 commands in flight, and so does this tool. */
	mqes = NVME_CAP_MQES(ctrl.cap) + 1;
	ctrl.depth = o.qd;
	ctrl.entries = o.qd + 1;
	if (le16_to_cpu(ctrl.id.maxcmd) && ctrl.entries > le16_to_cpu(ctrl.id.maxcmd))
		ctrl.entries = le16_to_cpu(ctrl.id.maxcmd);
	if (ctrl.entries > mqes)
		ctrl.entries = mqes;
	if (ctrl.entries < 2)
		ctrl.entries = 2;
	if (ctrl.depth > ctrl.entries)
		ctrl.depth = ctrl.entries;
	for (unsigned i = 0; i < o.queues; i++) {
		struct tcp_host_q *iq = calloc(1, sizeof(*iq));

		if (!iq) {
			ret = -ENOMEM;
			goto out;
		}
		ctrl.io[i] = iq;
		ctrl.nr_io = i + 1;
		ret = tcp_host_connect(iq, o.addr, o.port, &to);
		if (ret) {
			qerr(iq, "I/O queue", ret);
			goto out;
		}
		memset(&a, 0, sizeof(a));
		a.qid = (uint16_t)(i + 1);
		a.sqsize = (uint16_t)(ctrl.entries - 1);
		a.cntlid = ctrl.cntlid;
		a.kato_ms = o.kato_ms;
		a.dissqfc = o.dissqfc;
		a.subnqn = o.subnqn;
		a.hostnqn = o.hostnqn;
		memcpy(a.hostid, o.hostid, 16);
		ret = tcp_host_fabrics_connect(iq, &a, NULL, NULL);
		if (ret) {
			qerr(iq, "I/O Connect", ret);
			goto out;
		}
		tcp_host_set_ioccsz(iq, le32_to_cpu(ctrl.id.ioccsz));
	}
	ret = 0;
out:
	free(ns);
	free(list);
	return ret;
}

static void ctrl_down(void)
{
	for (unsigned i = 0; i < ctrl.nr_io; i++) {
		tcp_host_close(ctrl.io[i]);
		free(ctrl.io[i]);
	}
	ctrl.nr_io = 0;
	/* like `nvme disconnect`: a normal shutdown over the admin queue */
	if (ctrl.enabled && !ctrl.admin.dead)
		tcp_host_shutdown(&ctrl.admin, 5000);
	tcp_host_close(&ctrl.admin);
}

/* --- workers ----------------------------------------------------------------- */

enum phase { PH_PREFILL, PH_RUN, PH_READBACK };

struct worker {
	pthread_t th;
	unsigned idx;
	int cpu;
	struct ptcp_q *q[MAX_QUEUES];
	unsigned nq;
	struct ptcp_stats st;
	uint64_t cpu_user_us, cpu_sys_us;
	int rc;
	char why[300];
};

struct plan {
	struct ptcp_job job;
	pthread_barrier_t bar;
	uint64_t win_start, win_end;   /* set by main before PH_RUN */
	uint64_t region_start, region_blocks;  /* whole region */
	unsigned nq_total;
};

static struct plan plan;
static struct worker workers[MAX_THREADS];
static struct ptcp_q queues[MAX_QUEUES];
static volatile int abort_all;

static int worker_fail(struct worker *w, const char *fmt, const char *detail)
{
	snprintf(w->why, sizeof(w->why), fmt, detail);
	w->rc = -1;
	abort_all = 1;
	return -1;
}

/* Run one phase on all of this worker's queues until the pass is done
 * (prefill, readback) or the window is over (run), then drain. */
static int run_phase(struct worker *w, int epfd, enum phase ph)
{
	struct epoll_event evs[MAX_QUEUES];
	uint64_t deadline = 0, drain_until = 0;
	bool in_window = false, stopping = false;
	uint64_t u0 = 0, s0 = 0;

	for (unsigned i = 0; i < w->nq; i++) {
		struct ptcp_q *q = w->q[i];

		/* random runs use the whole region (in verify mode: all of it
		 * written by the prefill); sequential runs and the verify
		 * passes stream through the queue's own part */
		if (ph == PH_RUN && perf_workload_random(plan.job.wl)) {
			q->region_start = plan.region_start;
			q->region_blocks = plan.region_blocks;
		} else {
			q->region_start = q->part_start;
			q->region_blocks = q->part_blocks;
		}
		q->seq_next = q->region_start;
		q->check_reads = plan.job.verify;
		switch (ph) {
		case PH_PREFILL:
			q->wl = WL_WRITE;
			q->issue_left = q->region_blocks / plan.job.nlb;
			break;
		case PH_READBACK:
			q->wl = WL_READ;
			q->issue_left = q->region_blocks / plan.job.nlb;
			break;
		case PH_RUN:
			q->wl = plan.job.wl;
			q->issue_left = UINT64_MAX;
			deadline = plan.win_end;
			break;
		}
	}
	w->st.win_start_ns = ph == PH_RUN ? plan.win_start : 1;
	w->st.win_end_ns = ph == PH_RUN ? plan.win_end : 0;

	for (;;) {
		uint64_t now = perf_now_ns();
		unsigned inflight = 0, pending = 0;
		int n, timeout_ms;

		if (ph == PH_RUN && !in_window && now >= plan.win_start) {
			in_window = true;
			cpu_thread_us(&u0, &s0);
		}
		if (!stopping && ((deadline && now >= deadline) || interrupted || abort_all)) {
			stopping = true;
			if (in_window) {
				uint64_t u1, s1;

				cpu_thread_us(&u1, &s1);
				w->cpu_user_us += u1 - u0;
				w->cpu_sys_us += s1 - s0;
				in_window = false;
			}
			for (unsigned i = 0; i < w->nq; i++)
				w->q[i]->issue_left = 0;
			drain_until = now + DRAIN_NS;
		}
		for (unsigned i = 0; i < w->nq; i++) {
			struct ptcp_q *q = w->q[i];

			if (q->dead)
				return worker_fail(w, "%s", q->err);
			ptcp_fill(q, now);
			if (ptcp_tx_pending(q)) {
				int r = ptcp_flush(q);

				if (r && r != -EAGAIN)
					return worker_fail(w, "%s", q->err);
			}
			inflight += q->inflight;
			pending += ptcp_tx_pending(q);
		}
		if (!inflight && !pending) {
			bool more = false;

			for (unsigned i = 0; i < w->nq; i++)
				more |= w->q[i]->issue_left != 0;
			if (!more)
				break;
		}
		if (stopping && now > drain_until)
			return worker_fail(w, "%s", "commands still in flight 10 s after the end of the run");
		if (o.poll) {
			for (unsigned i = 0; i < w->nq; i++)
				if (ptcp_poll(w->q[i]) < 0)
					return worker_fail(w, "%s", w->q[i]->err);
			continue;
		}
		timeout_ms = 100;
		if (!stopping && deadline) {
			uint64_t left = deadline > now ? deadline - now : 0;

			if (left / 1000000 < (uint64_t)timeout_ms)
				timeout_ms = (int)(left / 1000000) + 1;
		}
		if (ph == PH_RUN && !in_window && plan.win_start > now &&
		    (plan.win_start - now) / 1000000 < (uint64_t)timeout_ms)
			timeout_ms = (int)((plan.win_start - now) / 1000000) + 1;
		/* writable interest only while a send is stuck */
		for (unsigned i = 0; i < w->nq; i++) {
			struct ptcp_q *q = w->q[i];
			struct epoll_event ev = { .events = EPOLLIN, .data.ptr = q };

			if (ptcp_tx_pending(q) != q->want_out) {
				q->want_out = ptcp_tx_pending(q);
				if (q->want_out)
					ev.events |= EPOLLOUT;
				epoll_ctl(epfd, EPOLL_CTL_MOD, q->c.fd, &ev);
			}
		}
		n = epoll_wait(epfd, evs, MAX_QUEUES, timeout_ms);
		for (int i = 0; i < n; i++) {
			struct ptcp_q *q = evs[i].data.ptr;

			/* (EPOLLOUT: the flush at the top of the loop) */
			if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
				if (ptcp_poll(q) < 0)
					return worker_fail(w, "%s", q->err);
			}
		}
	}
	if (in_window) {
		uint64_t u1, s1;

		cpu_thread_us(&u1, &s1);
		w->cpu_user_us += u1 - u0;
		w->cpu_sys_us += s1 - s0;
	}
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	int epfd = epoll_create1(EPOLL_CLOEXEC);

	if (w->cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(w->cpu, &set);
		if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set))
			fprintf(stderr, TOOL ": thread %u: cannot pin to CPU %d\n", w->idx, w->cpu);
	}
	for (unsigned i = 0; i < w->nq; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = w->q[i] };

		epoll_ctl(epfd, EPOLL_CTL_ADD, w->q[i]->c.fd, &ev);
	}
	if (plan.job.verify || o.prefill) {
		pthread_barrier_wait(&plan.bar);
		if (!abort_all)
			run_phase(w, epfd, PH_PREFILL);
	}
	pthread_barrier_wait(&plan.bar);   /* all written; main sets the window */
	pthread_barrier_wait(&plan.bar);
	if (!abort_all)
		run_phase(w, epfd, PH_RUN);
	if (plan.job.verify) {
		pthread_barrier_wait(&plan.bar);
		if (!abort_all && !interrupted)
			run_phase(w, epfd, PH_READBACK);
	}
	close(epfd);
	return NULL;
}

/* Main thread: keep-alives on the admin queue while waiting for t. */
static uint64_t next_ka;

static int sleep_until(uint64_t t)
{
	uint64_t period = (uint64_t)(o.kato_ms ? o.kato_ms / 2 : 0) * 1000000ull;

	for (;;) {
		uint64_t now = perf_now_ns(), until = t;
		struct timespec ts;

		if (now >= t || interrupted || abort_all)
			return 0;
		if (period && now >= next_ka) {
			int ret = tcp_host_keep_alive(&ctrl.admin, NULL);

			if (ret) {
				qerr(&ctrl.admin, "Keep Alive", ret);
				return ret;
			}
			next_ka = now + period;
			continue;
		}
		if (period && next_ka < until)
			until = next_ka;
		if (until - now > 50000000ull)
			until = now + 50000000ull;
		ts.tv_sec = (time_t)((until - now) / 1000000000ull);
		ts.tv_nsec = (long)((until - now) % 1000000000ull);
		nanosleep(&ts, NULL);
	}
}

static void fill_params(struct perf_result *r, unsigned depth)
{
	char dev[256];
	uint64_t ndev = deviations(dev, sizeof(dev));
	int n;

	n = snprintf(r->params, sizeof(r->params),
		 "\"transport\":\"tcp\",\"traddr\":\"%s\",\"trsvcid\":\"%s\",\"subnqn\":\"%s\","
		 "\"nsid\":%u,\"workload\":\"%s\",\"bs\":%" PRIu64 ",\"qd\":%u,\"queues\":%u,"
		 "\"threads\":%u,\"rwmixread\":%u,\"time_s\":%.3f,\"warmup_s\":%.3f,\"poll\":%s,"
		 "\"hdgst\":%s,\"ddgst\":%s,\"dissqfc\":%s,\"region_bytes\":%" PRIu64 ",\"idle\":%s",
		 o.addr, o.port, o.subnqn, ctrl.nsid, o.idle ? "idle" : perf_workload_name(o.wl),
		 o.io_size, depth, o.queues, o.threads, o.rwmixread, o.idle ? o.idle_secs : o.secs,
		 o.warmup, o.poll ? "true" : "false", o.hdgst ? "true" : "false",
		 o.ddgst ? "true" : "false", o.dissqfc ? "true" : "false",
		 plan.region_blocks * ctrl.bs, o.idle ? "true" : "false");
	if (n > 0 && (size_t)n < sizeof(r->params))
		snprintf(r->params + n, sizeof(r->params) - (size_t)n,
			 ",\"deviations\":%" PRIu64 ",\"deviations_by_kind\":{%s}", ndev, dev);
	if (ndev && !o.quiet)
		fprintf(stderr, "note: the target deviated from the specification %" PRIu64
			" time(s) (%s); the run went on\n", ndev, dev);
}

static int run_idle(void)
{
	struct perf_result r = { .tool = TOOL, .target_pid = o.target_pid, .target_cpu_us = -1 };
	uint64_t t0, t1, u0, s0, u1, s1;
	int64_t c0 = -1, c1 = -1;
	int ret;

	cpu_self_us(&u0, &s0);
	t0 = perf_now_ns();
	if (o.target_pid)
		c0 = cpu_pid_us(o.target_pid);
	next_ka = t0;
	ret = sleep_until(t0 + (uint64_t)(o.idle_secs * 1e9));
	t1 = perf_now_ns();
	if (o.target_pid)
		c1 = cpu_pid_us(o.target_pid);
	cpu_self_us(&u1, &s1);
	r.secs = (double)(t1 - t0) / 1e9;
	r.cpu_user_us = u1 - u0;
	r.cpu_sys_us = s1 - s0;
	if (c0 >= 0 && c1 >= 0)
		r.target_cpu_us = c1 - c0;
	plan.region_blocks = 0;
	r.json_only = o.quiet;
	fill_params(&r, ctrl.depth);
	snprintf(r.title, sizeof(r.title), "idle: %u I/O queue(s) connected, keep-alive every %u ms, %.1f s",
		 o.queues, o.kato_ms / 2, r.secs);
	perf_report(stdout, &r);
	return ret || interrupted ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct perf_result r = { .tool = TOOL, .target_pid = 0, .target_cpu_us = -1 };
	struct sigaction sa = { .sa_handler = on_signal };
	uint64_t nlb, units, per_q;
	int64_t c0 = -1, c1 = -1;
	unsigned nworkers;
	int ret, rc = 0;

	if (parse(argc, argv))
		return 2;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (ctrl_up()) {
		ctrl_down();
		return 1;
	}
	if (o.io_size % ctrl.bs) {
		err("-o %" PRIu64 " is not a multiple of the %u-byte block size", o.io_size, ctrl.bs);
		ctrl_down();
		return 2;
	}
	if (ctrl.max_xfer && o.io_size > ctrl.max_xfer) {
		err("-o %" PRIu64 " is larger than the controller's MDTS (%u bytes)", o.io_size,
		    ctrl.max_xfer);
		ctrl_down();
		return 2;
	}
	if (o.idle) {
		r.target_pid = o.target_pid;
		ret = run_idle();
		ctrl_down();
		return ret;
	}

	/* the region: whole namespace (verify: 64 MiB), rounded down to a
	 * whole number of commands per queue */
	nlb = o.io_size / ctrl.bs;
	plan.region_blocks = ctrl.nsze;
	if (o.region_bytes)
		plan.region_blocks = o.region_bytes / ctrl.bs;
	else if (o.verify && plan.region_blocks > (64ull << 20) / ctrl.bs)
		plan.region_blocks = (64ull << 20) / ctrl.bs;
	if (plan.region_blocks > ctrl.nsze)
		plan.region_blocks = ctrl.nsze;
	units = plan.region_blocks / nlb;
	per_q = units / o.queues;
	if (!per_q) {
		err("the region (%" PRIu64 " blocks) is smaller than one command per queue",
		    plan.region_blocks);
		ctrl_down();
		return 2;
	}
	plan.region_blocks = per_q * o.queues * nlb;
	plan.nq_total = o.queues;
	plan.job = (struct ptcp_job){
		.wl = o.wl, .rwmixread = o.rwmixread, .nsid = ctrl.nsid, .bs = ctrl.bs,
		.nlb = (uint32_t)nlb, .verify = o.verify, .seed = o.seed, .random_data = !o.verify,
	};

	nworkers = o.threads;
	for (unsigned i = 0; i < nworkers; i++) {
		workers[i].idx = i;
		workers[i].cpu = i < o.ncpus ? o.cpus[i] : -1;
	}
	for (unsigned i = 0; i < o.queues; i++) {
		struct tcp_host_q *hq = ctrl.io[i];
		struct ptcp_conn pc = {
			.fd = hq->fd, .qid = hq->qid, .hdgst = hq->hdgst, .ddgst = hq->ddgst,
			.cpda = hq->cpda, .maxh2cdata = hq->maxh2cdata, .icd_max = hq->icd_max,
		};
		struct worker *w = &workers[i % nworkers];

		hq->fd = -1;   /* the fast path owns the socket now */
		if (ptcp_q_init(&queues[i], &pc, &plan.job, &w->st, ctrl.depth)) {
			err("%s", queues[i].err);
			ctrl_down();
			return 1;
		}
		queues[i].part_start = (uint64_t)i * per_q * nlb;
		queues[i].part_blocks = per_q * nlb;
		w->q[w->nq++] = &queues[i];
	}

	pthread_barrier_init(&plan.bar, NULL, nworkers + 1);
	for (unsigned i = 0; i < nworkers; i++)
		pthread_create(&workers[i].th, NULL, worker_main, &workers[i]);
	next_ka = perf_now_ns() + (uint64_t)(o.kato_ms / 2) * 1000000ull;
	if (o.verify || o.prefill) {
		if (!o.quiet) {
			printf(TOOL ": %s: writing the pattern over %" PRIu64 " MiB\n",
			       o.verify ? "verify" : "prefill", plan.region_blocks * ctrl.bs >> 20);
			fflush(stdout);
		}
		pthread_barrier_wait(&plan.bar);
	}
	pthread_barrier_wait(&plan.bar);
	plan.win_start = perf_now_ns() + (uint64_t)(o.warmup * 1e9);
	plan.win_end = plan.win_start + (uint64_t)(o.secs * 1e9);
	pthread_barrier_wait(&plan.bar);
	if (sleep_until(plan.win_start))
		abort_all = 1;
	if (o.target_pid)
		c0 = cpu_pid_us(o.target_pid);
	if (sleep_until(plan.win_end))
		abort_all = 1;
	if (o.target_pid)
		c1 = cpu_pid_us(o.target_pid);
	if (o.verify) {
		/* the readback pass reads each queue's own part again */
		pthread_barrier_wait(&plan.bar);
	}
	for (unsigned i = 0; i < nworkers; i++)
		pthread_join(workers[i].th, NULL);

	lat_reset(&r.lat);
	for (unsigned i = 0; i < nworkers; i++) {
		struct worker *w = &workers[i];

		r.reads += w->st.reads;
		r.writes += w->st.writes;
		r.bytes += w->st.bytes;
		r.errors += w->st.errors;
		r.mismatches += w->st.mismatches;
		r.verified += w->st.verified;
		r.cpu_user_us += w->cpu_user_us;
		r.cpu_sys_us += w->cpu_sys_us;
		lat_merge(&r.lat, &w->st.lat);
		if (w->rc) {
			err("thread %u: %s", i, w->why);
			rc = 1;
		}
		if (w->st.errors) {
			err("%" PRIu64 " command(s) failed; the first with %s", w->st.errors,
			    tcp_host_status_str((uint16_t)w->st.first_err_status));
			rc = 1;
		}
	}
	r.secs = (double)(plan.win_end - plan.win_start) / 1e9;
	r.verify = o.verify;
	r.target_pid = o.target_pid;
	if (c0 >= 0 && c1 >= 0)
		r.target_cpu_us = c1 - c0;
	if (r.mismatches)
		rc = 1;
	if (interrupted) {
		err("interrupted");
		rc = 1;
	}
	fill_params(&r, ctrl.depth);
	snprintf(r.title, sizeof(r.title),
		 "%s %" PRIu64 " B, QD %u x %u queue(s) on %u thread(s), %s, ns %u of %s at %s:%s%s",
		 perf_workload_name(o.wl), o.io_size, ctrl.depth, o.queues, nworkers,
		 o.poll ? "busy polling" : "epoll", ctrl.nsid, o.subnqn, o.addr, o.port,
		 o.verify ? ", verified" : "");
	r.json_only = o.quiet;
	perf_report(stdout, &r);
	for (unsigned i = 0; i < o.queues; i++)
		ptcp_q_fini(&queues[i]);
	ctrl_down();
	return rc;
}
