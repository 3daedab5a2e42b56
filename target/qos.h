/* SPDX-License-Identifier: MIT */
/*
 * QoS: IOPS and bandwidth limits, reads and writes apart, per namespace
 * (its total over every host), per host (its total over everything it
 * reaches) and per host on a namespace (config: hosts[].qos,
 * namespaces[].qos, namespaces[].host_qos[]; docs/configuration.md).
 *
 * A command is delayed, never failed, until every limit that applies to
 * it has tokens. Each limit is a token bucket per dimension (read ops,
 * write ops, read bytes, write bytes) whose tokens sit in a shared pool,
 * refilled by time (rate x elapsed, capped at NVMF_QOS_BURST_MS worth);
 * each reactor takes tokens from the pool in chunks into its own local
 * bucket (one atomic per chunk, none per command) and queues the commands
 * it must delay on the limit's wait list of that reactor (an intrusive
 * list through nvmf_req.qos, no allocation). A reactor with delayed
 * commands runs a NVMF_QOS_TICK_MS timer that moves tokens and submits
 * what may go, in arrival order per limit; without delayed commands no
 * timer runs, so an idle daemon still sleeps in epoll. The sum over all
 * reactors never exceeds rate x time + one burst (+ one command: a
 * command larger than a burst goes when a burst's worth is there, leaving
 * the bucket in debt).
 *
 * Limit objects are created by the control path (start, reload, set-qos)
 * and kept until shutdown, so their counters keep going across reloads
 * and a delayed command's pointers stay valid; a limit removed from the
 * configuration becomes unlimited.
 */
#ifndef TARGET_QOS_H
#define TARGET_QOS_H

#include <stdint.h>

#include "config/config.h"

struct nvmf_tgt;
struct nvmf_ns;
struct nvmf_req;
struct json_object;

#define NVMF_QOS_TICK_MS 2            /* refill tick while commands wait */
#define NVMF_QOS_BURST_MS 50          /* a pool holds at most this long's worth */

/* Build the limits of t->cfg (after the reactors exist). 0 or -ENOMEM. */
int nvmf_qos_init(struct nvmf_tgt *t);
/* At shutdown, reactors stopped: timers stopped, limits freed. */
void nvmf_qos_fini(struct nvmf_tgt *t);

/* Reconfiguration (tgt->lock held). Prepare creates the limit objects
 * cfg names that do not exist yet (harmless if the reconfiguration is
 * then rolled back: they stay unlimited); 0 or -ENOMEM. Commit cannot
 * fail: every limit takes cfg's values (0 for those cfg no longer has),
 * and note(arg, line) is called once per limit that changed. */
int nvmf_qos_prepare(struct nvmf_tgt *t, const struct config *cfg);
void nvmf_qos_commit(struct nvmf_tgt *t, const struct config *cfg, void (*note)(void *arg, const char *line),
		     void *arg);

/* The I/O path (io.c), on the queue's reactor, after every check passed
 * and with req->ns set: submit to the namespace's backend now, or once
 * the limits that apply have tokens. Commands of a queue that is gone
 * (sq->ctrl NULL) by then complete with Command Aborted due to SQ
 * Deletion instead. */
void nvmf_qos_submit(struct nvmf_ns *ns, struct nvmf_req *req);

/* One tick of reactor ri's QoS work (its timer runs it; tests call it):
 * drop commands of queues that went away, move tokens, submit what may
 * go. Returns the commands that left the wait lists. */
int nvmf_qos_run(struct nvmf_tgt *t, unsigned ri);

/* Tests: the clock the token arithmetic uses (NULL: reactor_now_ns). */
void nvmf_qos_set_clock_for_test(uint64_t (*clock_ns)(void));

/*
 * What one configured limit looks like, for statistics and metrics.
 * Label fields point into the limit (valid until nvmf_qos_fini); counters
 * are totals since the limit was first configured (they keep going through
 * reload and set-qos) summed over the reactors with racy reads.
 */
struct nvmf_qos_view {
	const char *type;             /* "namespace", "host" or "host_namespace" */
	const char *subsystem;        /* NULL for "host" */
	uint32_t nsid;                /* 0 for "host" */
	const char *host;             /* NULL for "namespace" */
	uint64_t read_iops, write_iops;   /* the limits, per second; 0 = unlimited */
	uint64_t read_bw, write_bw;       /* bytes per second; 0 = unlimited */
	uint64_t delayed;             /* commands this limit held back (each once) */
	uint64_t waiting;             /* commands waiting for this limit now */
	uint64_t reads, writes;       /* commands it let through (reads: read and compare) */
	uint64_t read_bytes, write_bytes;
};

/* fn(arg, view) for every limit of the running configuration, in the
 * order they were first configured. Any thread; the caller holds
 * tgt->lock if it needs the set of limits not to change meanwhile. */
void nvmf_qos_foreach(struct nvmf_tgt *t, void (*fn)(void *arg, const struct nvmf_qos_view *v), void *arg);

/* The "qos" array of the stats method (rpc.c): one object per limit
 * with the view's fields. */
struct json_object *nvmf_qos_stats_json(struct nvmf_tgt *t);

#endif
