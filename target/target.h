/* SPDX-License-Identifier: MIT */
/*
 * The NVMe-oF target core: subsystems, namespaces, ports, controllers,
 * fabric queues and requests; command execution (fabrics, admin, I/O) and
 * the discovery subsystem. Transports feed requests in and get them back
 * through struct nvmf_transport_ops; namespaces are served by a backend
 * through struct nvmf_backend_ops.
 *
 * Locking. The I/O path (nvmf_exec_io, the backends' submit and poll of
 * I/O queues, completions) runs on its queue's reactor and takes no lock,
 * but for reservations (resv.c: a namespace's reservation mutex while one
 * is held, tgt->lock to notify other hosts' controllers).
 * Controllers, subsystems, ports and the configuration are shared between
 * reactors; what reads or changes them takes the one target lock,
 * tgt->lock:
 *   - nvmf_req_execute, for fabrics and admin commands and any command of
 *     a queue not yet connected or authenticated (request.c);
 *   - controller lifetime: queue teardown (nvmf_sq_destroy, ctrl.c),
 *     keep-alive expiry and the authentication deadline (fabrics.c),
 *     DH-HMAC-CHAP results back from the worker (auth.c);
 *   - reconfiguration (nvmf_tgt_apply) and its messages to controllers on
 *     other reactors (reconfig.c); reservation notifications and their
 *     events (resv.c);
 *   - PCIe admin queues: reactor 0 reaping them (backend_pcie.c) and
 *     re-enabling a controller after a reset (reactors.c);
 *   - readers of the whole state: the control socket's status, list,
 *     stats and save-config (rpc.c), a metrics scrape (metrics.c), the
 *     TLS PSK lookup of a handshake (transport/tcp_tls.c).
 * Functions documented as "tgt->lock held" expect their caller to hold it.
 * Other mutexes guard one object each: the reservation store and a
 * namespace's reservations (resv.c), the address table (limits.c), the
 * authentication worker (auth.c), each reactor's message list.
 */
#ifndef TARGET_TARGET_H
#define TARGET_TARGET_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "common/dma.h"
#include "common/reactor.h"
#include "config/config.h"
#include "nvme/regs.h"
#include "nvme/cmd.h"
#include "nvme/fabrics.h"
#include "nvme/identify.h"
#include "target/resv.h"

struct nvmf_tgt;
struct nvmf_subsys;
struct nvmf_ns;
struct nvmf_ctrl;
struct nvmf_sq;
struct nvmf_req;
struct pcie_ctrl;
struct pcie_ctrl_opts;
struct pcie_dev_ops;
struct nvmf_qos;
struct nvmf_qos_limit;
struct nvmf_qos_cache;
struct nvmf_listener;

#define NVMF_BRIDGE_VERSION "0.3"      /* status, metrics */
#define NVMF_FR_DEFAULT "nvmfb01"     /* Identify FR without a device or attr.firmware */
#define NVMF_MAX_IO_QUEUES 64
#define NVMF_MAX_QUEUE_DEPTH 128      /* entries per fabric queue (CAP.MQES + 1) */
#define NVMF_ADMIN_QUEUE_DEPTH 32
#define NVMF_AERL 4                   /* outstanding AERs (ACL/AERL 0's based: 3) */
#define NVMF_DISC_KATO_MS 120000      /* discovery controllers without KATO */
#define NVMF_KAS 10                   /* Identify KAS: 100 ms units -> 1 s granularity */
#define NVMF_ANATT_S 10               /* Identify ANATT: a group leaves "change" within this */
#define NVMF_MAX_PCIE 32                  /* PCIe controllers one daemon owns */
#define NVMF_MAX_SUBSYS 1024
#define NVMF_MAX_PORTS 256
#define NVMF_NN CFG_MAX_NSID              /* Identify Controller NN: highest NSID */
#define NVMF_DATA_BUF_SIZE (128u * 1024)  /* largest data transfer per command (MDTS) */
#define NVMF_DATA_BUFS 512                /* data buffers per reactor pool */
/* data buffer quotas per reactor pool (see nvmf_sq_buf_get) */
#define NVMF_BUF_QUOTA_SQ_DIV 4           /* a queue: at most pool / 4 */
#define NVMF_BUF_QUOTA_CTRL_DIV 2         /* a controller: at most pool / 2 */
#define NVMF_BUF_RESERVE_DIV 8            /* the last pool / 8 ... */
#define NVMF_BUF_MIN_SQ 2                 /* ... only for queues holding fewer than this */

/* --- reactors ----------------------------------------------------------------- */

/*
 * One thread each. A reactor owns its connections (every fabric queue
 * lives on exactly one reactor and never moves), its pool of DMA data
 * buffers, and I/O queue pair k of every PCIe controller; so the I/O path
 * takes no lock. Work for another reactor travels as a message.
 *
 * Messages (reactors.c) take no lock and, once the reactor is set up, no
 * allocation. Each reactor receives on two queues, both polled on every
 * turn and checked once more before it sleeps:
 * - a ring of NVMF_MSG_RING (fn, arg) slots, allocated with the reactor,
 *   for nvmf_reactor_call: any number of producers claim a slot with a
 *   compare-and-swap on the tail, the reactor alone consumes; full, a
 *   call fails with -EAGAIN;
 * - a list of messages their callers own, for nvmf_reactor_post: pushed
 *   with a compare-and-swap, taken whole by the reactor and reversed; it
 *   cannot fail.
 * Each queue keeps the order of one sender's messages; the two queues
 * are not ordered with each other. A sender writes the reactor's wake-up
 * eventfd only when the reactor announced it is about to sleep
 * (reactor_asleep), never while it is polling.
 */
#define NVMF_MSG_RING 1024                /* slots per reactor: a power of two */

struct nvmf_msg {
	void (*fn)(void *arg);
	void *arg;
	struct nvmf_msg *next;
};

struct nvmf_msg_slot {
	uint64_t seq;                     /* its ticket + 1 once filled; + NVMF_MSG_RING once free again */
	void (*fn)(void *arg);
	void *arg;
};

/* A queue waiting for a data buffer of its reactor's pool (nvmf_sq_buf_get
 * returned NULL). Woken, in order, when buffers come back. */
struct nvmf_buf_wait {
	struct nvmf_buf_wait *prev, *next;
	bool queued;
};

struct nvmf_reactor {
	struct reactor r;
	unsigned idx;
	struct nvmf_tgt *tgt;
	pthread_t thread;
	bool thread_started;
	struct dma_pool pool;
	/* messages: written by senders */
	uint64_t ring_tail;               /* the next ticket to claim */
	struct nvmf_msg *posted;          /* nvmf_reactor_post, newest first */
	uint64_t msg_wakeups;             /* eventfd writes by senders (statistics, tests) */
	uint64_t msg_ring_full;           /* nvmf_reactor_call refused: ring full */
	/* messages: the reactor's own */
	struct nvmf_msg_slot *ring;
	uint64_t ring_head;               /* the next ticket to run */
	struct reactor_poller msg_poller;
	struct nvmf_msg drain_msg;        /* shutdown: close connections, stop */
	/* a PCIe controller reset (one at a time, tgt->resets_pending) */
	struct pcie_ctrl *reset_pc;
	struct nvmf_msg reset_msg;        /* reactor 0 -> here: abort this reactor's queue */
	struct nvmf_msg reset_done_msg;   /* here -> reactor 0: done */
	/* reclamation epochs (retire.c): at most one message queued */
	struct nvmf_msg epoch_msg;
	bool epoch_msg_queued;
	struct reactor_poller poller;     /* this reactor's PCIe queues */
	uint64_t seen_epoch;              /* reclamation epoch this reactor went through */
	struct nvmf_buf_wait buf_waiters; /* list head: queues waiting for a data buffer */
	bool buf_kick;                    /* a buffer came back while some queue waited */
	void *tcp;                        /* the TCP transport's per-reactor state */
	void *rdma;                       /* the RDMA transport's per-reactor state */
};

/* The reactor the calling thread runs (NULL outside reactors). */
extern __thread struct nvmf_reactor *nvmf_this_reactor;

/* Set up and tear down a reactor (core.c). fini runs the messages still
 * queued, on the calling thread. */
int nvmf_reactor_init(struct nvmf_reactor *nr, struct nvmf_tgt *t, unsigned idx);
void nvmf_reactor_fini(struct nvmf_reactor *nr);
/* A stopped reactor's messages still queued, run now on the calling
 * thread as that reactor: at shutdown, before what they use is freed
 * (nvmf_transports_reactor_fini, nvmf_tgt_fini). */
void nvmf_reactor_run_msgs(struct nvmf_reactor *nr);

/* Run fn(arg) on reactor `to`, asynchronously, after the calls this
 * thread sent there before. From any thread. Allocates nothing; -EAGAIN
 * when the reactor's ring is full (NVMF_MSG_RING calls it has not run
 * yet): the caller keeps the work. */
int nvmf_reactor_call(struct nvmf_reactor *to, void (*fn)(void *arg), void *arg);
/* The same with a message the caller owns (m->fn and m->arg set; m must
 * stay valid, and not be posted again, until fn runs): cannot fail. For
 * work that must not be lost: the steps of a controller reset, the
 * completions and disconnects of a teardown. Ordered after the posts
 * this thread sent there before (not with its nvmf_reactor_calls). */
void nvmf_reactor_post(struct nvmf_reactor *to, struct nvmf_msg *m);
/* Tests only: the next N nvmf_reactor_call fail as if the ring were full. */
extern unsigned nvmf_test_fail_reactor_calls;
/* Reset a PCIe controller (reactor 0): disable, each reactor aborts its
 * own queue's commands, re-enable. Allocates nothing. 0: the reset runs
 * (or the controller failed to disable and is FAILED); -EBUSY: another
 * runs (the health check tries again on its next tick); -ENODEV: nothing
 * to reset. */
int nvmf_tgt_reset_pcie(struct nvmf_tgt *t, struct pcie_ctrl *pc);

/* Tests: PCIe controllers on a device of the test's (a fake) instead of
 * VFIO. open gives the device and its ops for bdf, opts may change the
 * driver's options, close frees the device. All NULL: VFIO. */
struct nvmf_pcie_test_dev {
	int (*open)(const char *bdf, const struct pcie_dev_ops **ops, void **dev, char *why, size_t len);
	void (*opts)(struct pcie_ctrl_opts *o);
	void (*close)(void *dev);
};
extern struct nvmf_pcie_test_dev nvmf_pcie_test_dev;

/* --- backends ------------------------------------------------------------ */

/*
 * Everything the core asks of a backend goes through its ops (ns->ops);
 * nvmf_ns_open picks them by the configuration's backend type. The core
 * knows nothing of what is behind a namespace.
 */
struct nvmf_backend_ops {
	const char *name;
	/* Open the namespace's storage as ns->cfg describes it (ns->subsys,
	 * nsid and cfg are set) into ns->priv, and fill in what Identify
	 * says of it: ns->id (Identify Namespace, before the target's
	 * fix-ups), nsze, lba_shift, oncs (the optional commands it
	 * executes) and vwc (a volatile write cache: Flush is worth
	 * sending). 0, or -errno with a one-line reason in err. */
	int (*open)(struct nvmf_tgt *t, struct nvmf_ns *ns, char *err, size_t errlen);
	/* Execute an I/O command (read, write, flush, write zeroes, DSM,
	 * compare) on the namespace; the LBA range and transfer size were
	 * checked by the core. Completes, now or later, with
	 * nvmf_req_complete. On the request's reactor. */
	void (*submit)(struct nvmf_ns *ns, struct nvmf_req *req);
	/* Optional: the calling reactor's share of the backend's devices
	 * (its own queue of each), called by every reactor's poller once per
	 * turn; returns work done. Per backend, not per namespace: the
	 * namespaces of one device share its queues. */
	int (*poll)(struct nvmf_reactor *nr);
	/* Optional: release what open took (the namespace is retired and
	 * has no command in flight). */
	void (*close)(struct nvmf_ns *ns);
	/* Optional: the Identify Controller page of the device behind the
	 * namespace (its VID, firmware, IEEE... are the subsystem's) and the
	 * largest transfer it takes in bytes (the subsystem's MDTS). */
	const struct nvme_id_ctrl *(*dev_id)(const struct nvmf_ns *ns, uint32_t *max_xfer);
	/* Optional: Get Log Page of a device log (error information,
	 * SMART / health, firmware slot) answered by the device into
	 * req->buf; completes the request. tgt->lock held. */
	void (*get_log)(struct nvmf_ns *ns, struct nvmf_req *req);
};

extern const struct nvmf_backend_ops nvmf_backend_pcie;   /* backend_pcie.c */
extern const struct nvmf_backend_ops nvmf_backend_file;   /* backend_file.c */
extern const struct nvmf_backend_ops nvmf_backend_mem;    /* backend_mem.c */
extern const struct nvmf_backend_ops nvmf_backend_null;   /* backend_null.c */

/* Latency histogram: buckets of 12.5 % width (8 per power of two, in µs) */
#define NVMF_LAT_BUCKETS 256

struct nvmf_lat {
	uint32_t hist[NVMF_LAT_BUCKETS];
	uint64_t max_us;
	uint64_t sum_us;              /* for a Prometheus histogram's _sum */
};

void nvmf_lat_add(struct nvmf_lat *l, uint64_t us);
/* the largest latency (µs) bucket b holds */
uint64_t nvmf_lat_bucket_top(unsigned b);
/* percentile (0 < pct < 100) over the sum of n histograms, in µs */
uint64_t nvmf_lat_pct(const struct nvmf_lat *const *l, unsigned n, double pct);

/* I/O commands by kind, for counters and latency histograms */
enum nvmf_op {
	NVMF_OP_READ,
	NVMF_OP_WRITE,
	NVMF_OP_OTHER,                /* flush, write zeroes, DSM, compare, ... */
	NVMF_NR_OPS,
};

/* Failed commands by what the status means to an operator (a bounded
 * label set for metrics): nvmf_err_class() maps a status to one */
enum nvmf_err {
	NVMF_ERR_INVALID,             /* invalid opcode, field, SGL, ...: the host's command */
	NVMF_ERR_INVALID_NS,
	NVMF_ERR_LBA_RANGE,
	NVMF_ERR_ANA,                 /* ANA path status: the group is not accessible here */
	NVMF_ERR_PATH,                /* other path-related status */
	NVMF_ERR_MEDIA,               /* media and data integrity (SCT 2) */
	NVMF_ERR_RESERVATION,         /* reservation conflict */
	NVMF_ERR_ABORTED,
	NVMF_ERR_INTERNAL,            /* internal error, device failure */
	NVMF_ERR_OTHER,
	NVMF_NR_ERRS,
};

unsigned nvmf_err_class(uint16_t status);
const char *nvmf_err_name(unsigned cls);
static inline unsigned nvmf_op_of(uint8_t opc)
{
	return opc == NVME_CMD_READ ? NVMF_OP_READ : opc == NVME_CMD_WRITE ? NVMF_OP_WRITE : NVMF_OP_OTHER;
}

/* Per namespace and reactor: written only by that reactor, no lock and no
 * atomic read-modify-write on the I/O path; read racily for statistics. */
struct nvmf_ns_stats {
	uint64_t inflight;            /* commands in the backend from this reactor */
	uint64_t reads, writes, read_bytes, write_bytes, errors;   /* reads, writes: successful */
	uint64_t others;              /* other commands completed successfully */
	uint64_t err[NVMF_NR_ERRS];   /* errors by class */
	struct nvmf_lat lat[NVMF_NR_OPS];
} __attribute__((aligned(64)));

/* A namespace's counters summed over its reactors (nvmf_ns_stats_sum) */
struct nvmf_ns_counts {
	uint64_t inflight;
	uint64_t reads, writes, others, read_bytes, write_bytes, errors;
	uint64_t err[NVMF_NR_ERRS];
};

/* stats.c: ns's counters over the first nr reactors (racy reads, as
 * statistics may) */
void nvmf_ns_stats_sum(const struct nvmf_ns *ns, unsigned nr, struct nvmf_ns_counts *out);

/* A host's I/O counters: per queue (written by its reactor), folded into
 * the host's nvmf_host_stats when the queue goes */
struct nvmf_io_counts {
	uint64_t cmds[NVMF_NR_OPS];   /* completed successfully */
	uint64_t bytes[2];            /* read, written */
	uint64_t err[NVMF_NR_ERRS];
};

struct nvmf_ns {
	struct nvmf_subsys *subsys;
	uint32_t nsid;                /* as the host sees it */
	const struct cfg_namespace *cfg;  /* re-pointed on reconfiguration; not on the I/O path */
	struct nvmf_ns_stats *stats;  /* [tgt->nr_reactors] */
	uint64_t nsze;                /* blocks */
	uint32_t lba_shift;
	uint16_t oncs;                /* the backend's supported optional commands */
	bool vwc;                     /* volatile write cache present */
	uint32_t anagrpid;            /* ANA group, 1..CFG_MAX_ANAGRPID (a reload may change it:
	                                 atomic load/store) */
	struct nvme_id_ns id;         /* built at open: what Identify returns */
	uint8_t nguid[16];
	uint8_t uuid[16];

	const struct nvmf_backend_ops *ops;
	void *priv;                   /* backend state */
	struct nvmf_resv *resv;       /* reservations (resv.c); NULL when disabled */

};

/* A subsystem's namespaces, sorted by NSID. Published by pointer swap; a
 * replaced table is freed only after every reactor went through a
 * quiescent point (see nvmf_tgt_retire). */
struct nvmf_ns_table {
	unsigned nr;
	struct nvmf_ns *ns[];
};

/* A connected queue's own counters (allocated at Connect: an idle
 * connection stays small): every command's latency, its I/O commands */
struct nvmf_sq_stats {
	struct nvmf_lat lat;
	struct nvmf_io_counts io;         /* ctrl->hstats sums them */
};

/* --- per-host statistics --------------------------------------------------- */

/* At most this many hosts per subsystem are counted by name; further ones
 * while all are connected count as NVMF_HOST_OTHER */
#define NVMF_MAX_HOST_STATS 256
#define NVMF_HOST_OTHER "_other"

/* What one host did on one subsystem through one port, across its
 * controllers, for as long as the entry lives (tgt->lock): kept after the
 * host disconnects, dropped (oldest first) only to make room for a new
 * host when NVMF_MAX_HOST_STATS are counted */
struct nvmf_host_stats {
	struct nvmf_host_stats *next;
	char hostnqn[CFG_NQN_SIZE];
	struct nvmf_port *port;
	unsigned live;                    /* controllers that count here */
	uint64_t last_used;               /* a sequence number: eviction order */
	struct nvmf_io_counts io;         /* of the queues that are gone */
	struct nvmf_lat lat;              /* every command of those queues */
};

/* stats.c: count a completed I/O command (on the queue's reactor) */
void nvmf_count_io(struct nvmf_ns_stats *st, struct nvmf_io_counts *q, uint8_t opc, uint16_t status, uint32_t len,
		   uint64_t us);
void nvmf_lat_merge(struct nvmf_lat *to, const struct nvmf_lat *from);
/* The host's entry on s for port p, counted as live (tgt->lock held);
 * NULL only when out of memory (the host is then not counted) */
struct nvmf_host_stats *nvmf_host_stats_get(struct nvmf_subsys *s, const char *hostnqn, struct nvmf_port *p);
/* A queue of a controller counting into h goes: its counters move to h */
void nvmf_host_stats_fold(struct nvmf_host_stats *h, struct nvmf_sq *sq);
/* A controller counting into h is released */
void nvmf_host_stats_put(struct nvmf_host_stats *h);
/* h's counters with those of the live queues that count into it */
void nvmf_host_stats_sum(const struct nvmf_subsys *s, const struct nvmf_host_stats *h, struct nvmf_io_counts *io,
			 struct nvmf_lat *lat);
void nvmf_host_stats_free(struct nvmf_subsys *s);

/* --- subsystems and ports ----------------------------------------------- */

enum nvmf_subsys_type {
	NVMF_SUBSYS_NVME,
	NVMF_SUBSYS_DISCOVERY,
};

struct nvmf_subsys {
	struct nvmf_tgt *tgt;
	enum nvmf_subsys_type type;
	const struct cfg_subsystem *cfg;  /* NULL for discovery and once removed */
	char nqn[CFG_NQN_SIZE];
	char serial[21];
	char model[41];
	struct nvmf_ns_table *nst;        /* read with nvmf_subsys_ns() */
	bool removed;
	uint16_t next_cntlid;
	struct nvmf_ctrl *ctrls;          /* live controllers */
	uint32_t max_xfer;                /* MDTS in bytes for this subsystem */
	const struct nvme_id_ctrl *dev_id; /* identify page of the backing device, if any */
	struct nvmf_host_stats *hstats;   /* per host and port (tgt->lock) */
	unsigned nr_hstats;
	uint64_t hstats_seq;
	struct nvmf_subsys *next_dead;    /* removed, kept until shutdown for pointers still around */
};

static inline const struct nvmf_ns_table *nvmf_subsys_ns(const struct nvmf_subsys *s)
{
	return __atomic_load_n(&s->nst, __ATOMIC_ACQUIRE);
}

/* Namespace nsid of the subsystem's published table, or NULL (the table,
 * and what it points to, outlives every reactor's use: nvmf_tgt_retire) */
static inline struct nvmf_ns *nvmf_subsys_find_ns(const struct nvmf_subsys *s, uint32_t nsid)
{
	const struct nvmf_ns_table *nt = nvmf_subsys_ns(s);

	for (unsigned i = 0; i < nt->nr; i++)
		if (nt->ns[i]->nsid == nsid)
			return nt->ns[i];
	return NULL;
}

/* Per port and reactor: written only by that reactor (no lock, no atomic
 * read-modify-write); read racily for statistics. */
struct nvmf_port_stats {
	uint64_t io;                  /* I/O commands received */
	uint64_t ana_refused;         /* answered with an ANA status (group not accessible here) */
} __attribute__((aligned(64)));

struct nvmf_port {
	struct nvmf_tgt *tgt;
	const struct cfg_port *cfg;       /* NULL for the extra discovery port */
	struct cfg_addr addr;
	uint16_t portid;
	bool discovery_only;
	uint32_t inline_data_size;
	unsigned nr_conns;                /* connections admitted (atomic; nvmf_conn_admit) */
	struct nvmf_listener *listener;
	bool removed;
	struct nvmf_port *next_dead;
	/* each ANA group's state on this port (enum cfg_ana_state, 0 =
	 * optimized); the control path stores, the I/O path loads */
	uint8_t ana_state[CFG_MAX_ANAGRPID + 1];
	/* closing its connections, one message per reactor (in the same
	 * allocation, after stats: nvmf_port_close_conns cannot fail) */
	struct nvmf_msg *close_msgs;
	bool conns_closed;
	struct nvmf_port_stats stats[];   /* [max(tgt->nr_reactors, 1)] */
};

/* The state of ANA group grpid on port p, as the ANA log page reports it */
static inline uint8_t nvmf_port_ana_state(const struct nvmf_port *p, uint32_t grpid)
{
	uint8_t st = __atomic_load_n(&p->ana_state[grpid], __ATOMIC_RELAXED);

	return st ? st : CFG_ANA_OPTIMIZED;
}

/* --- controllers and queues ------------------------------------------------- */

/* nvmf_ctrl.pending_aen: asynchronous events waiting for an AER */
#define NVMF_AEN_NS   (1u << 0)       /* namespace attribute changed (log 04h) */
#define NVMF_AEN_DISC (1u << 1)       /* discovery log changed (log 70h) */
#define NVMF_AEN_ANA  (1u << 2)       /* ANA change (log 0Ch) */
#define NVMF_AEN_RESV (1u << 3)       /* reservation log page available (log 80h) */

struct nvmf_ctrl {
	struct nvmf_subsys *subsys;
	struct nvmf_port *port;
	uint16_t cntlid;
	char hostnqn[CFG_NQN_SIZE];
	uint8_t hostid[16];
	uint32_t cc;
	uint32_t csts;
	uint32_t kato_ms;
	uint64_t last_ka_ns;
	struct reactor_timer ka_timer;
	uint32_t aen_cfg;
	struct nvmf_req *aer[NVMF_AERL];
	unsigned nr_aer;
	uint32_t pending_aen;             /* events waiting for an AER (NVMF_AEN_*) */
	uint32_t changed_ns[1024];        /* changed namespace list (log 04h) */
	unsigned nr_changed_ns;
	unsigned nr_io_queues;            /* granted by Set Features */
	struct nvmf_sq *admin;
	struct nvmf_sq *io[NVMF_MAX_IO_QUEUES + 1];
	bool dying;
	bool auth;                        /* the host authenticates its queues (DH-HMAC-CHAP, auth.c) */
	uint64_t auth_deadline_ns;        /* released if the admin queue is not authenticated by then */
	struct nvmf_reactor *reactor;     /* the admin queue's: runs the keep-alive timer */
	char traddr[64];                  /* the local address the host used */
	struct nvmf_host_stats *hstats;   /* where its queues' counters go (NULL: discovery) */
	struct nvmf_resv_log resv_log;    /* reservation notifications (resv.c), under tgt->lock */
	struct nvmf_ctrl *next;
	/* data buffers its queues hold, per reactor: [r] is written only by
	 * reactor r (nvmf_sq_buf_get/put), so no lock */
	unsigned bufs[];
};

struct nvmf_transport_ops;

/* The NQNs a TLS connection's PSK identity named (allocated only for TLS
 * connections: an idle plain one stays small) */
struct nvmf_tls_peer {
	char hostnqn[CFG_NQN_SIZE];
	char subnqn[CFG_NQN_SIZE];
};

/* A fabric submission queue: one TCP connection or one RDMA QP. */
struct nvmf_sq {
	struct nvmf_ctrl *ctrl;           /* NULL until Connect */
	struct nvmf_port *port;
	uint16_t qid;
	uint16_t size;                    /* entries (SQSIZE + 1) */
	uint16_t sqhd;                    /* the fabric queue's own head */
	struct nvmf_sq_stats *st;         /* from Connect on; owned by the queue's reactor */
	bool sqflow_off;                  /* CATTR.DISSQFC: SQHD reported as 0xffff */
	bool c2h_any_memory;              /* the transport sends C2H data from any
	                                     memory (TCP), not only the DMA pool
	                                     (RDMA): see nvmf_req.c2h_data */
	bool keyed_sgl;                   /* RDMA: data by keyed SGL; TCP: transport SGL */
	bool authed;                      /* runs more than fabrics commands: set at Connect,
	                                     or by DH-HMAC-CHAP when the host must authenticate */
	uint8_t auth_tries;               /* transactions started while not authenticated */
	struct nvmf_auth *auth;           /* a DH-HMAC-CHAP transaction (control path) */
	struct nvmf_tls_peer *tls;        /* TLS 1.3: the PSK identity's NQNs, the only ones it may use */
	const struct nvmf_transport_ops *ops;
	void *tconn;                      /* transport connection */
	struct nvmf_reactor *reactor;     /* the reactor the queue lives on */
	char local_addr[64];              /* for discovery log traddr fix-up */
	char peer[64];                    /* the host's address:port, for status */
	char peer_ip[48];                 /* the host's address alone: log rate limits */
	uint64_t cmds, errors;
	unsigned bufs;                    /* data buffers its requests hold */
	struct nvmf_buf_wait buf_wait;    /* on the reactor's waiters while out of buffers */
	/* QoS (qos.c): the limits of the namespace last used; allocated at
	 * the queue's first command while limits are set (an idle queue stays
	 * small), freed by nvmf_sq_fini; the queue's reactor only */
	struct nvmf_qos_cache *qos;
};

/* --- requests ------------------------------------------------------------------ */

enum nvmf_xfer {
	NVMF_XFER_NONE,
	NVMF_XFER_H2C,                    /* host to controller (write) */
	NVMF_XFER_C2H,                    /* controller to host (read) */
};

struct nvmf_req {
	struct nvmf_sq *sq;
	struct nvme_sqe cmd;
	struct nvme_cqe rsp;
	enum nvmf_xfer xfer;
	uint32_t len;                     /* data length from the SGL */
	void *buf;                        /* data buffer (DMA pool), len bytes */
	uint64_t buf_iova;
	/* Zero copy for reads (only where sq->c2h_any_memory): the backend
	 * may point this at the data itself (a mem namespace's memory, the
	 * null device's zero pages) instead of copying into buf. The
	 * namespace then stays busy (not freed by a reconfiguration) until
	 * the transport calls nvmf_req_c2h_done(), once the data is sent or
	 * the request dropped. */
	const void *c2h_data;
	struct nvmf_ns *c2h_ns;
	struct nvmf_ns *ns;
	void *tpriv;                      /* transport's own request */
	struct nvmf_req *next_pending;    /* backend wait list (queue full) */
	struct nvmf_msg done_msg;         /* a completion handed to the queue's reactor */
	uint64_t start_ns;
	/* QoS (qos.c): delayed until every limit that applies has tokens */
	struct nvmf_req_qos {
		struct nvmf_req *next;        /* a limit's wait list on the reactor */
		struct nvmf_qos_limit *lim[3];
		uint8_t stage;                /* limits lim[0..stage-1] passed */
	} qos;
};

/*
 * A transport: the one table through which the core reaches NVMe/TCP
 * (transport/tcp.c) and NVMe/RDMA (transport/rdma.c); transport/
 * transport.c finds a port's by its trtype. Nothing outside transport/
 * tests the transport type. Port and shutdown operations run on reactor
 * 0 with tgt->lock not held; queue operations where each says.
 */
struct nvmf_transport_ops {
	const char *name;                 /* "tcp", "rdma" */
	enum cfg_trtype trtype;

	/* --- listeners (transport.c keeps them and retries) --- */
	size_t listener_size;             /* the transport's listener, starting with struct nvmf_listener */
	/* Open l (zeroed but for its first member, or left by a failed
	 * try) to accept on l->port. -EADDRNOTAVAIL: the address does not
	 * exist yet (network or RDMA device not up): tried again every 2 s.
	 * Other -errno: refused. A reason in err either way. */
	int (*listen)(struct nvmf_listener *l, char *err, size_t errlen);
	/* Close what listen opened (also after a failed listen). removed:
	 * the port left the configuration, so a socket kept for a restart
	 * is let go too. The caller frees l. */
	void (*unlisten)(struct nvmf_listener *l, bool removed);
	/* On reactor nr (its own thread): close the reactor's connections
	 * that came in on port p (transport.c asks every reactor). */
	void (*close_port)(struct nvmf_reactor *nr, struct nvmf_port *p);

	/* --- shutdown, on each reactor --- */
	/* Close the reactor's connections; commands in a backend still
	 * complete through the reactor's pollers. */
	void (*reactor_drain)(struct nvmf_reactor *nr);
	/* Every connection of the reactor is gone. */
	bool (*reactor_idle)(struct nvmf_reactor *nr);
	/* Free what is left of the transport on a stopped reactor. */
	void (*reactor_fini)(struct nvmf_reactor *nr);
	/* Optional: process-wide state, at exit. */
	void (*fini)(void);
	/* Live connections on every reactor (status). */
	unsigned (*nr_conns)(void);

	/* --- what the core reports about the transport --- */
	uint32_t sgls;                    /* Identify Controller SGLS bits of its own (keyed: RDMA) */
	/* bridge.discovery_port adds a discovery listener at the address of
	 * each of its ports (NVMe/TCP's well-known discovery port, 8009) */
	bool discovery_port;
	/* The discovery log entry's TSAS for a port or referral at a. */
	void (*disc_tsas)(const struct cfg_addr *a, uint8_t tsas[256]);

	/* --- queues --- */
	/* The request is done (rsp filled, data in buf for C2H): send data
	 * and response, then release the request. */
	void (*complete)(struct nvmf_req *req);
	/* End the connection (keep-alive expiry, controller teardown). */
	void (*disconnect)(struct nvmf_sq *sq);
	/* Optional. A Connect on this queue is about to succeed (sq->ctrl,
	 * qid and size are set; tgt->lock held): allocate what a connected
	 * queue needs. Non-zero refuses the Connect (controller busy). */
	int (*queue_connected)(struct nvmf_sq *sq);
	/* The core lets go of a request it held without answering it (an
	 * AER of an admin queue whose connection is going): release it.
	 * On the queue's reactor, inside nvmf_sq_destroy. */
	void (*req_drop)(struct nvmf_req *req);
	/* Optional. Data buffers came back to the queue's reactor while it
	 * waited for one (nvmf_sq_buf_get returned NULL): try again. Runs
	 * from the reactor's poller, never inside a buffer release. */
	void (*buf_available)(struct nvmf_sq *sq);
};

/* What every transport's listener starts with (transport.c owns it). */
struct nvmf_listener {
	struct nvmf_port *port;
	const struct nvmf_transport_ops *tr;
	struct reactor_timer retry;       /* the address is not there yet */
};

/* --- the target -------------------------------------------------------------- */

/* Why a connection or a Connect was refused (metrics: a bounded label) */
enum nvmf_refuse {
	NVMF_REFUSE_PORT_CAP,             /* bridge.max_connections_per_port */
	NVMF_REFUSE_ADDR_CAP,             /* bridge.max_connections_per_address */
	NVMF_REFUSE_ICREQ_TIMEOUT,        /* no ICReq in icreq_timeout_ms */
	NVMF_REFUSE_CONNECT_TIMEOUT,      /* no Connect (or authentication) in connect_timeout_ms */
	NVMF_REFUSE_UNKNOWN_SUBSYS,
	NVMF_REFUSE_HOST_NOT_ALLOWED,     /* allowed_hosts, require_auth, a TLS identity's NQNs */
	NVMF_REFUSE_HOST_CTRL_CAP,        /* bridge.max_controllers_per_host */
	NVMF_REFUSE_AUTH_FAILED,          /* DH-HMAC-CHAP failed */
	NVMF_REFUSE_TLS,                  /* TLS handshake failed or refused */
	NVMF_NR_REFUSE,
};

const char *nvmf_refuse_name(unsigned why);

struct nvmf_tgt {
	struct config *cfg;
	struct nvmf_reactor *reactors;    /* [0] runs on the thread that called nvmf_tgt_run */
	unsigned nr_reactors;
	pthread_mutex_t lock;             /* the control path: who takes it is listed at the top */
	struct nvmf_subsys **subsys;
	unsigned nr_subsys;
	struct nvmf_subsys *disc;
	struct nvmf_port **ports;
	unsigned nr_ports;
	uint64_t genctr;
	uint64_t ana_chgcnt;              /* ANA log change count: any group state or membership (tgt->lock) */
	uint32_t max_xfer;                /* largest data buffer */
	struct pcie_ctrl *pcie[NVMF_MAX_PCIE];  /* opened controllers; nr_pcie published last */
	char pcie_bdf[NVMF_MAX_PCIE][16];
	unsigned nr_pcie;
	struct reactor_timer health_timer;
	struct reactor_fd *irq_fds;
	unsigned nr_irq_fds;
	unsigned resets_pending;          /* reactors still aborting for a reset */
	bool stopping;
	uint64_t start_ns;
	/* hostile-network limits from the configuration's bridge object
	 * (re-read on reload; plain loads on other reactors are fine) */
	struct nvmf_limits {
		uint32_t icreq_timeout_ms, connect_timeout_ms;
		uint32_t max_conns_per_port, max_conns_per_addr, max_ctrls_per_host;
	} limits;
	struct nvmf_addr_table *addrs;    /* connections per host address (limits.c) */
	uint32_t rdma_srq_size;           /* bridge.rdma_srq_size at start (0: automatic) */
	/* reconfiguration: what was removed but may still be referenced */
	struct nvmf_subsys *dead_subsys;
	struct nvmf_port *dead_ports;
	struct nvmf_retired *retired;     /* freed once every reactor passed epoch */
	uint64_t epoch;
	struct reactor_timer reclaim_timer;
	void *rpc;                        /* the control socket (rpc.c) */
	void *metrics;                    /* the Prometheus endpoint (metrics_http.c) */
	/* events counted for metrics: atomic adds, off the I/O path */
	uint64_t refused[NVMF_NR_REFUSE]; /* connections and Connects refused, by reason */
	uint64_t ka_expired;              /* controllers released by keep-alive expiry */
	struct nvmf_auth_worker *auth_worker; /* DH computations off the reactors (auth.c) */
	struct nvmf_resv_store *resv_store;   /* the PTPL state file (resv.c) */
	struct nvmf_qos *qos;             /* QoS limits (qos.c) */
};

static inline void nvmf_count_refused(struct nvmf_tgt *t, enum nvmf_refuse why)
{
	__atomic_add_fetch(&t->refused[why], 1, __ATOMIC_RELAXED);
}

struct nvmf_retired {
	void *ptr;
	bool is_ns;                       /* an nvmf_ns to close and free, else a table */
	uint64_t epoch;
	struct nvmf_retired *next;
};

/* Free ptr (a namespace table, or a namespace: closed first, once its
 * commands in flight are done) after every reactor went through epoch. */
void nvmf_tgt_retire(struct nvmf_tgt *t, void *ptr, bool is_ns);

/* Building blocks shared by start-up and reconfiguration (core.c) */
int nvmf_ns_open(struct nvmf_tgt *t, struct nvmf_subsys *s, const struct cfg_namespace *cn,
		 struct nvmf_ns **out, char *err, size_t errlen);
void nvmf_ns_free(struct nvmf_ns *ns);
struct nvmf_ns_table *nvmf_ns_table_new(unsigned nr);
void nvmf_ns_table_sort(struct nvmf_ns_table *nt);
struct nvmf_subsys *nvmf_subsys_new(struct nvmf_tgt *t, const struct cfg_subsystem *cs);
void nvmf_subsys_set_attrs(struct nvmf_subsys *s, const struct cfg_subsystem *cs);
void nvmf_subsys_update_limits(struct nvmf_subsys *s);
struct nvmf_port *nvmf_port_new(struct nvmf_tgt *t, const struct cfg_port *cp, const struct cfg_addr *a,
			       bool disc_only);
/* Free retired objects whose grace period is over (all: at shutdown). */
void nvmf_tgt_reclaim(struct nvmf_tgt *t, bool all);

/* The control socket (rpc.c), on reactor 0. */
int nvmf_rpc_start(struct nvmf_tgt *t, char *err, size_t errlen);
void nvmf_rpc_stop(struct nvmf_tgt *t);

/* Re-read the configuration file and apply the difference (SIGHUP,
 * reload). 0, or -errno with the reason in err and nothing changed. */
int nvmf_tgt_reload(struct nvmf_tgt *t, char *err, size_t errlen);
/* Apply a new, validated configuration; takes ownership of cfg on success
 * (the old one is freed). changes receives one line per change applied.
 * Caller: reactor 0, tgt->lock not held. */
int nvmf_tgt_apply(struct nvmf_tgt *t, struct config *cfg, char *changes, size_t changes_len,
		   char *err, size_t errlen);

/* Build the target from a validated configuration: open backends (PCIe
 * controllers first), allocate the data pool. Returns 0 or -errno with a
 * one-line reason in err. */
int nvmf_tgt_init(struct nvmf_tgt *t, struct config *cfg, char *err, size_t errlen);
void nvmf_tgt_fini(struct nvmf_tgt *t);
/* Start reactors 1..n-1 on their own threads and run reactor 0 on this one
 * until nvmf_tgt_stop; then every reactor drains (connections closed,
 * commands in flight completed) and its thread is joined. */
int nvmf_tgt_run(struct nvmf_tgt *t);
void nvmf_tgt_stop(struct nvmf_tgt *t);
struct nvmf_subsys *nvmf_tgt_find_subsys(struct nvmf_tgt *t, const char *nqn);
bool nvmf_port_has_subsys(const struct nvmf_port *p, const struct nvmf_subsys *s);
bool nvmf_subsys_host_allowed(const struct nvmf_subsys *s, const char *hostnqn);

/* Data buffers for requests, from the calling reactor's pool (NULL when
 * it is exhausted). Always returned on the reactor that took them.
 * Unaccounted: transports use nvmf_sq_buf_get/put. */
void *nvmf_buf_get(struct nvmf_tgt *t, uint64_t *iova);
void nvmf_buf_put(struct nvmf_tgt *t, void *buf);

/*
 * A data buffer for a request of sq, within the quotas that keep one host
 * from starving the others (docs/security.md): a queue holds at most
 * NVMF_BUF_QUOTA_SQ buffers (and never more than its depth), a controller
 * at most NVMF_BUF_QUOTA_CTRL of one reactor's pool, and the last
 * NVMF_BUF_RESERVE buffers of the pool go only to queues holding fewer
 * than NVMF_BUF_MIN_SQ, so every queue can make progress. NULL: over
 * quota or none free; sq is then queued and its transport's
 * buf_available() runs once buffers came back. On the sq's reactor.
 */
void *nvmf_sq_buf_get(struct nvmf_sq *sq, uint64_t *iova);
void nvmf_sq_buf_put(struct nvmf_sq *sq, void *buf);
/* The transport is done with req->c2h_data (sent, or the request is
 * dropped): the namespace may go. No-op when c2h_data is not set. */
void nvmf_req_c2h_done(struct nvmf_req *req);
/* Stop waiting for a buffer (the connection is going away). */
void nvmf_sq_buf_cancel(struct nvmf_sq *sq);
/* Each reactor's pool (bufpool.c), at start; and one reactor's at exit */
int nvmf_buf_pools_init(struct nvmf_tgt *t, char *err, size_t errlen);
void nvmf_buf_pool_fini(struct nvmf_reactor *nr);
/* Wake the queues waiting for buffers on this reactor (its poller). */
int nvmf_buf_run_waiters(struct nvmf_reactor *nr);
/* The transport is freeing a queue's connection: what the core attached
 * to the queue (latency histogram) goes. After nvmf_sq_destroy and once no
 * request of the queue is in the core any more. */
void nvmf_sq_fini(struct nvmf_sq *sq);

/* --- admission of connections (limits.c) ------------------------------------- */

/* A new connection from ss arrives on port p: within the port's and the
 * address's caps? 0, or -EBUSY with *why naming the cap. Admitted
 * connections are released with nvmf_conn_release, on any thread. */
int nvmf_conn_admit(struct nvmf_port *p, const uint8_t addr[16], const char **why);
void nvmf_conn_release(struct nvmf_port *p, const uint8_t addr[16]);
/* The address of ss as the 16-byte key the caps count by (IPv4 mapped) */
void nvmf_addr_key(const struct sockaddr_storage *ss, uint8_t key[16]);
/* "192.0.2.7" / "2001:db8::1" (no port) into out (>= 48 bytes) */
void nvmf_addr_str(const struct sockaddr_storage *ss, char *out, size_t len);
int nvmf_addr_table_init(struct nvmf_tgt *t);
void nvmf_addr_table_fini(struct nvmf_tgt *t);
/* The limits of a configuration into t->limits. */
void nvmf_tgt_set_limits(struct nvmf_tgt *t, const struct config *cfg);

/* --- request execution (request.c) ----------------------------------------- */

/*
 * Look at a freshly received command: fill req->xfer/len from its SGL and
 * validate the descriptor. Returns 0 or an NVMe status (the transport then
 * completes the request with it without executing).
 * max_icd: in-capsule data the transport accepts on this queue.
 */
uint16_t nvmf_req_prepare(struct nvmf_req *req, uint32_t icd_len, uint32_t max_icd);

/* Execute a request whose data (if H2C) is in req->buf. */
void nvmf_req_execute(struct nvmf_req *req);

/* Fill the CQE (status, SQHD, SQID, CID) and hand the request back to the
 * transport. status is the 15-bit status without the phase bit. */
void nvmf_req_complete(struct nvmf_req *req, uint16_t status);

/* attr.version (VS and Identify VER), 1.4.0 unless set */
static inline uint32_t nvmf_subsys_version(const struct nvmf_subsys *s)
{
	return s->cfg && s->cfg->version ? s->cfg->version : NVME_VS(1, 4, 0);
}

/* I/O queues a controller may have: attr.qid_max, at most ours */
static inline unsigned nvmf_ctrl_max_io_queues(const struct nvmf_ctrl *c)
{
	unsigned q = c->subsys->cfg ? c->subsys->cfg->qid_max : 0;

	return q && q < NVMF_MAX_IO_QUEUES ? q : NVMF_MAX_IO_QUEUES;
}

/* auth.c: DH-HMAC-CHAP (tgt->lock held) */
bool nvmf_auth_needed(const struct nvmf_subsys *s, const char *hostnqn);
void nvmf_exec_auth_send(struct nvmf_req *req);
void nvmf_exec_auth_recv(struct nvmf_req *req);
void nvmf_auth_free(struct nvmf_sq *sq);
void nvmf_auth_fini(struct nvmf_tgt *t);

/* A queue's connection is gone: release its association if it was the
 * admin queue, detach it from its controller otherwise. */
void nvmf_sq_destroy(struct nvmf_sq *sq);

/* Tear a controller down: every queue is disconnected. The caller holds
 * tgt->lock and runs on the controller's reactor (c->reactor). */
void nvmf_ctrl_destroy(struct nvmf_ctrl *c);
/* Free a controller now, whatever queues it has (its subsystem goes). */
void nvmf_ctrl_free(struct nvmf_ctrl *c);

/* fabrics.c */
void nvmf_exec_fabrics(struct nvmf_req *req);
/* (Re)start the keep-alive check every period_ms. */
void nvmf_ctrl_arm_keepalive(struct nvmf_ctrl *c, uint64_t period_ms);
/* admin.c */
void nvmf_exec_admin(struct nvmf_req *req);
/* Async events: queue and deliver to an outstanding AER if enabled. */
void nvmf_ctrl_aen_ns_changed(struct nvmf_ctrl *c, uint32_t nsid);
void nvmf_ctrl_aen_disc_changed(struct nvmf_ctrl *c);
void nvmf_ctrl_aen_ana_changed(struct nvmf_ctrl *c);
/* Reservation log page available (tgt->lock held, on the controller's reactor) */
void nvmf_ctrl_aen_resv(struct nvmf_ctrl *c);
/* io.c */
void nvmf_exec_io(struct nvmf_req *req);
/* discovery.c: fill buf (len bytes from offset) with the discovery log
 * page for the host on ctrl */
void nvmf_discovery_log(struct nvmf_ctrl *ctrl, void *buf, uint64_t offset, uint32_t len);

/* Identify Namespace and ONCS of a plain block device of nsze blocks of
 * bs bytes (mem, file and null backends, backend_plain.c) */
void nvmf_backend_plain_id_ns(struct nvmf_ns *ns, uint64_t nsze, uint32_t bs);
/* The byte offset and length in the namespace of a read, write, compare
 * or write zeroes command (its LBA range was checked by io.c) */
void nvmf_backend_plain_range(const struct nvmf_req *req, uint64_t *off, uint64_t *len);
/* Reset steps that run on each reactor (see pcie_ctrl_reset_disable;
 * backend_pcie.c: they fail the backend's commands on that queue). */
void nvmf_pcie_abort_own_queue(struct pcie_ctrl *pc);

/* The PCIe controllers the target owns (pcie_ctrls.c): open one (or find
 * it open), open those of the configuration at start, the reactors they
 * allow (want at most) and the DMA mapping for the data pools (false: no
 * controller); start and stop the health check and interrupts; shut them
 * down at exit. */
int nvmf_pcie_ctrl_open(struct nvmf_tgt *t, const char *bdf, struct pcie_ctrl **out, char *err, size_t errlen);
int nvmf_pcie_ctrls_open(struct nvmf_tgt *t, char *err, size_t errlen);
unsigned nvmf_pcie_max_reactors(const struct nvmf_tgt *t, unsigned want);
bool nvmf_pcie_dma_mapper(const struct nvmf_tgt *t, struct dma_mapper *m);
void nvmf_pcie_ctrls_start(struct nvmf_tgt *t);
void nvmf_pcie_ctrls_stop(struct nvmf_tgt *t);
void nvmf_pcie_ctrls_close(struct nvmf_tgt *t);

static inline uint16_t nvmf_status_dnr(uint8_t sct, uint8_t sc)
{
	return (uint16_t)(NVME_STATUS(sct, sc) | NVME_STATUS_DNR);
}

#endif
