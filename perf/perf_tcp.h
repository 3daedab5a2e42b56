/* SPDX-License-Identifier: MIT */
/*
 * The load generator's NVMe/TCP I/O path. The connection is set up by the
 * project's strict test initiator (tests/support/tcp_host.c: ICReq, Fabrics
 * Connect); the queue's socket is then handed to this engine, which is
 * built for speed rather than for checking:
 *
 *  - non-blocking socket; every command's PDUs are appended to an iovec
 *    list and everything queued is sent with one sendmsg per turn;
 *  - one large recv per turn into a receive buffer, from which as many
 *    PDUs as arrived are parsed (C2HData payload is skipped in place, or
 *    copied to the command's buffer only with --verify);
 *  - a fixed slot table per queue (CID = slot), headers built inside the
 *    slot, latency in a fixed histogram: nothing is allocated per I/O.
 *
 * It still refuses what would make the numbers meaningless: a PDU type it
 * does not expect, a CID not in flight, a bad header or data digest, a
 * C2HTermReq. Such a queue is marked dead with a reason.
 */
#ifndef PERF_PERF_TCP_H
#define PERF_PERF_TCP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "perf/perf_stats.h"

/* What the ICReq/Connect exchange settled for one queue. */
struct ptcp_conn {
	int fd;
	uint16_t qid;
	bool hdgst, ddgst;
	uint8_t cpda;
	uint32_t maxh2cdata;
	uint32_t icd_max;          /* in-capsule write data limit (IOCCSZ) */
};

/* The namespace and what to do with it (shared by a thread's queues). */
struct ptcp_job {
	enum perf_workload wl;
	unsigned rwmixread;        /* percent reads for randrw */
	uint32_t nsid;
	uint32_t bs;               /* LBA size */
	uint32_t nlb;              /* blocks per command */
	bool verify;
	uint64_t seed;             /* pattern seed (--verify) */
	bool random_data;          /* non-verify writes: buffers filled once */
};

/* Per-thread counters, updated by every queue of the thread. */
struct ptcp_stats {
	uint64_t win_start_ns, win_end_ns; /* completions inside are counted */
	uint64_t reads, writes, bytes;
	uint64_t errors, mismatches, verified;
	uint64_t first_err_status;
	struct lat_hist lat;
};

struct ptcp_slot;

struct ptcp_q {
	struct ptcp_conn c;
	const struct ptcp_job *job;
	struct ptcp_stats *st;
	unsigned depth;            /* commands kept in flight */
	struct ptcp_slot *slots;
	uint16_t *free;
	unsigned nfree;
	unsigned inflight;
	/* what this queue covers now: [region_start, +region_blocks); its own
	 * part of the namespace (sequential workloads, verify passes) */
	uint64_t region_start, region_blocks;
	uint64_t part_start, part_blocks;
	uint64_t seq_next;         /* sequential workloads: next LBA */
	uint64_t rng;
	/* a pass over the region (verify prefill/readback): ios left to issue;
	 * UINT64_MAX = unlimited (timed run) */
	uint64_t issue_left;
	enum perf_workload wl;     /* this pass's workload */
	bool check_reads;          /* compare read data with the pattern */

	/* send */
	struct iovec *iov;
	unsigned iov_head, iov_cnt, iov_cap;
	size_t iov_off;            /* bytes of iov[iov_head] already sent */
	uint64_t sendmsgs;
	bool want_out;             /* the owner watches for writability */

	/* receive */
	uint8_t *rx;
	uint32_t rx_size, rx_have, rx_pos;
	bool rx_in_data;           /* inside a C2HData's pad/data/digest */
	struct ptcp_slot *rx_slot;
	uint32_t rx_pad_left, rx_data_left, rx_data_off;
	uint8_t rx_flags;
	uint32_t rx_dgst;
	uint8_t rx_dd[4];
	uint32_t rx_dd_have;
	uint64_t recvs;

	int dead;                  /* negative errno once failed */
	char err[256];
};

/* Allocate the queue's slots (each with a data buffer of nlb * bs bytes),
 * iovecs and receive buffer; make the socket non-blocking. */
int ptcp_q_init(struct ptcp_q *q, const struct ptcp_conn *c, const struct ptcp_job *job,
		struct ptcp_stats *st, unsigned depth);
void ptcp_q_fini(struct ptcp_q *q);

/* Queue new commands while slots are free and the pass has some left.
 * Returns the number queued. */
unsigned ptcp_fill(struct ptcp_q *q, uint64_t now);
/* Send what is queued: 0, or -EAGAIN when the socket is full (try again
 * when it is writable), or a negative errno (the queue is dead). */
int ptcp_flush(struct ptcp_q *q);
static inline bool ptcp_tx_pending(const struct ptcp_q *q)
{
	return q->iov_cnt > 0;
}
/* One recv and everything it brought. Returns completions (>= 0), or a
 * negative errno (the queue is dead). */
int ptcp_poll(struct ptcp_q *q);

#endif
