/* SPDX-License-Identifier: MIT */
/*
 * Measurement helpers shared by the load generators (nvmf-bridge-perf and
 * `nvmf-pcie perf`): a fixed-size latency histogram with no allocation on
 * the I/O path, CPU time of this process and of another one (/proc), and
 * the common report (human lines, then one JSON object as the last line).
 */
#ifndef PERF_PERF_STATS_H
#define PERF_PERF_STATS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

/* Log-linear buckets: exact below 64 ns, then 64 sub-buckets per power of
 * two (relative error under 1.6 %), up to 2^63 ns. */
#define LAT_SUB_BITS 6
#define LAT_BUCKETS ((64 - LAT_SUB_BITS + 1) << LAT_SUB_BITS)

struct lat_hist {
	uint64_t count;
	uint64_t sum_ns;
	uint64_t min_ns;
	uint64_t max_ns;
	uint64_t b[LAT_BUCKETS];
};

static inline unsigned lat_bucket(uint64_t v)
{
	unsigned e;

	if (v < (1u << LAT_SUB_BITS))
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v);
	return ((e - LAT_SUB_BITS + 1) << LAT_SUB_BITS) +
	       (unsigned)((v >> (e - LAT_SUB_BITS)) & ((1u << LAT_SUB_BITS) - 1));
}

static inline void lat_add(struct lat_hist *h, uint64_t ns)
{
	h->count++;
	h->sum_ns += ns;
	if (ns < h->min_ns || h->count == 1)
		h->min_ns = ns;
	if (ns > h->max_ns)
		h->max_ns = ns;
	h->b[lat_bucket(ns)]++;
}

static inline uint64_t perf_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void lat_reset(struct lat_hist *h);
void lat_merge(struct lat_hist *dst, const struct lat_hist *src);
/* The value (ns) below which a fraction p (0..1) of the samples lie; the
 * middle of the bucket that holds it. */
uint64_t lat_percentile(const struct lat_hist *h, double p);

/* CPU time of this thread (RUSAGE_THREAD) / process, in microseconds. */
void cpu_thread_us(uint64_t *user, uint64_t *sys);
void cpu_self_us(uint64_t *user, uint64_t *sys);
/* utime + stime of another process (all its threads) from /proc/PID/stat,
 * in microseconds (clock tick resolution); -1 when it cannot be read. */
int64_t cpu_pid_us(int pid);

/* Xorshift64*: the workloads' random numbers. */
static inline uint64_t perf_rand(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* Data pattern for --verify: every block of bs bytes starts with
 * {magic, lba, seed} and continues with bytes derived from (lba, seed), so
 * its content depends only on where it is: writes racing for a block
 * still leave a known content, and a misplaced block is told apart. */
void pattern_fill(uint8_t *buf, uint64_t lba, uint32_t nblocks, uint32_t bs, uint64_t seed);
/* Number of blocks in buf that do not match. */
uint32_t pattern_check(const uint8_t *buf, uint64_t lba, uint32_t nblocks, uint32_t bs,
		       uint64_t seed);

enum perf_workload {
	WL_RANDREAD,
	WL_RANDWRITE,
	WL_READ,
	WL_WRITE,
	WL_RANDRW,
};
int perf_workload_parse(const char *s, enum perf_workload *w);
const char *perf_workload_name(enum perf_workload w);
static inline bool perf_workload_random(enum perf_workload w)
{
	return w == WL_RANDREAD || w == WL_RANDWRITE || w == WL_RANDRW;
}

/* What a run measured; perf_report prints it. */
struct perf_result {
	const char *tool;          /* "nvmf-bridge-perf", "nvmf-pcie perf" */
	double secs;               /* measured window */
	uint64_t reads, writes;    /* commands completed in the window */
	uint64_t bytes;
	uint64_t errors;           /* commands with a non-zero status */
	uint64_t mismatches;       /* --verify: blocks that read back wrong */
	uint64_t verified;         /* --verify: blocks checked */
	bool verify;
	struct lat_hist lat;
	uint64_t cpu_user_us, cpu_sys_us;   /* this process's I/O threads in the window */
	/* Optional: a target process measured over the same window (-1 = none) */
	int target_pid;
	int64_t target_cpu_us;
	/* Extra JSON members (the workload's parameters), without braces:
	 * "\"workload\":\"randread\",\"bs\":4096,..." */
	char params[1024];
	/* One human-readable line describing the workload */
	char title[256];
	bool json_only;            /* print only the JSON line */
};

/* Human-readable lines, then the JSON object on one last line. */
void perf_report(FILE *f, const struct perf_result *r);

/* Parse sizes like 4096, 4k, 128K, 1m, 1GiB. Returns 0 or -1. */
int perf_parse_size(const char *s, uint64_t *out);

#endif
