/* SPDX-License-Identifier: MIT */
#include "perf/perf_stats.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define PATTERN_MAGIC 0x4652455046424e4eull   /* "NNBFPERF" */

void lat_reset(struct lat_hist *h)
{
	memset(h, 0, sizeof(*h));
}

void lat_merge(struct lat_hist *dst, const struct lat_hist *src)
{
	if (!src->count)
		return;
	if (!dst->count || src->min_ns < dst->min_ns)
		dst->min_ns = src->min_ns;
	if (src->max_ns > dst->max_ns)
		dst->max_ns = src->max_ns;
	dst->count += src->count;
	dst->sum_ns += src->sum_ns;
	for (unsigned i = 0; i < LAT_BUCKETS; i++)
		dst->b[i] += src->b[i];
}

static uint64_t bucket_mid(unsigned idx)
{
	unsigned e, sub;
	uint64_t low, width;

	if (idx < (1u << LAT_SUB_BITS))
		return idx;
	e = (idx >> LAT_SUB_BITS) + LAT_SUB_BITS - 1;
	sub = idx & ((1u << LAT_SUB_BITS) - 1);
	low = ((uint64_t)(1u << LAT_SUB_BITS) + sub) << (e - LAT_SUB_BITS);
	width = 1ull << (e - LAT_SUB_BITS);
	return low + width / 2;
}

uint64_t lat_percentile(const struct lat_hist *h, double p)
{
	uint64_t want, seen = 0;

	if (!h->count)
		return 0;
	want = (uint64_t)(p * (double)h->count + 0.5);
	if (want < 1)
		want = 1;
	if (want > h->count)
		want = h->count;
	for (unsigned i = 0; i < LAT_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= want) {
			uint64_t v = bucket_mid(i);

			/* never outside what was seen */
			if (v < h->min_ns)
				v = h->min_ns;
			if (v > h->max_ns)
				v = h->max_ns;
			return v;
		}
	}
	return h->max_ns;
}

static uint64_t tv_us(const struct timeval *tv)
{
	return (uint64_t)tv->tv_sec * 1000000u + (uint64_t)tv->tv_usec;
}

void cpu_thread_us(uint64_t *user, uint64_t *sys)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	*user = tv_us(&ru.ru_utime);
	*sys = tv_us(&ru.ru_stime);
}

void cpu_self_us(uint64_t *user, uint64_t *sys)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	*user = tv_us(&ru.ru_utime);
	*sys = tv_us(&ru.ru_stime);
}

int64_t cpu_pid_us(int pid)
{
	char path[64], buf[1024];
	unsigned long long ut, st;
	long hz = sysconf(_SC_CLK_TCK);
	const char *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	/* the command name may contain spaces and parentheses: fields
	 * start after the last ')' (field 3 is the state) */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	if (hz <= 0)
		hz = 100;
	return (int64_t)((ut + st) * 1000000ull / (unsigned long long)hz);
}

/* --- data pattern ------------------------------------------------------ */

struct pat_hdr {
	uint64_t magic;
	uint64_t lba;
	uint64_t seed;
};

static void block_fill(uint8_t *b, uint64_t lba, uint32_t bs, uint64_t seed)
{
	struct pat_hdr h = { PATTERN_MAGIC, lba, seed };
	uint64_t s = (lba * 0x9e3779b97f4a7c15ull) ^ seed ^ 0x632be59bd9b4e019ull;

	if (!s)
		s = 1;
	memcpy(b, &h, sizeof(h));
	for (uint32_t off = sizeof(h); off + 8 <= bs; off += 8) {
		uint64_t v = perf_rand(&s);

		memcpy(b + off, &v, 8);
	}
}

void pattern_fill(uint8_t *buf, uint64_t lba, uint32_t nblocks, uint32_t bs, uint64_t seed)
{
	for (uint32_t i = 0; i < nblocks; i++)
		block_fill(buf + (size_t)i * bs, lba + i, bs, seed);
}

uint32_t pattern_check(const uint8_t *buf, uint64_t lba, uint32_t nblocks, uint32_t bs,
		       uint64_t seed)
{
	uint8_t want[8192];
	uint32_t bad = 0;

	for (uint32_t i = 0; i < nblocks; i++) {
		const uint8_t *b = buf + (size_t)i * bs;

		if (bs <= sizeof(want)) {
			block_fill(want, lba + i, bs, seed);
			if (memcmp(b, want, bs))
				bad++;
		} else {
			struct pat_hdr h;

			/* blocks larger than the scratch: the header only */
			memcpy(&h, b, sizeof(h));
			if (h.magic != PATTERN_MAGIC || h.lba != lba + i || h.seed != seed)
				bad++;
		}
	}
	return bad;
}

/* --- workloads ----------------------------------------------------------- */

static const char *const wl_names[] = {
	[WL_RANDREAD] = "randread",
	[WL_RANDWRITE] = "randwrite",
	[WL_READ] = "read",
	[WL_WRITE] = "write",
	[WL_RANDRW] = "randrw",
};

int perf_workload_parse(const char *s, enum perf_workload *w)
{
	for (unsigned i = 0; i < sizeof(wl_names) / sizeof(wl_names[0]); i++) {
		if (!strcmp(s, wl_names[i])) {
			*w = (enum perf_workload)i;
			return 0;
		}
	}
	return -1;
}

const char *perf_workload_name(enum perf_workload w)
{
	return wl_names[w];
}

int perf_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	errno = 0;
	if (!s || !*s || *s == '-')
		return -1;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		return -1;
	switch (tolower((unsigned char)*end)) {
	case 'k': shift = 10; end++; break;
	case 'm': shift = 20; end++; break;
	case 'g': shift = 30; end++; break;
	case 0: break;
	default: return -1;
	}
	if (shift) {
		if (!strcasecmp(end, "ib") || !strcasecmp(end, "b"))
			end += strlen(end);
	}
	if (*end)
		return -1;
	if (shift && v > (UINT64_MAX >> shift))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

/* --- the report ---------------------------------------------------------- */

void perf_report(FILE *f, const struct perf_result *r)
{
	uint64_t ios = r->reads + r->writes;
	double secs = r->secs > 0 ? r->secs : 1e-9;
	double iops = (double)ios / secs;
	double mibs = (double)r->bytes / secs / (1024.0 * 1024.0);
	double mean = r->lat.count ? (double)r->lat.sum_ns / (double)r->lat.count / 1000.0 : 0;
	double p50 = (double)lat_percentile(&r->lat, 0.50) / 1000.0;
	double p99 = (double)lat_percentile(&r->lat, 0.99) / 1000.0;
	double p999 = (double)lat_percentile(&r->lat, 0.999) / 1000.0;
	double lmin = (double)r->lat.min_ns / 1000.0, lmax = (double)r->lat.max_ns / 1000.0;
	double cpu_s = (double)(r->cpu_user_us + r->cpu_sys_us) / 1e6;
	double cpu_per = ios ? (double)(r->cpu_user_us + r->cpu_sys_us) / (double)ios : 0;
	double tcpu_s = r->target_cpu_us >= 0 ? (double)r->target_cpu_us / 1e6 : -1;
	double tcpu_per = ios && r->target_cpu_us >= 0 ? (double)r->target_cpu_us / (double)ios : -1;

	if (r->json_only)
		goto json;
	fprintf(f, "%s: %s\n", r->tool, r->title);
	fprintf(f, "  IOPS         %.1f (%" PRIu64 " reads, %" PRIu64 " writes in %.2f s)\n", iops,
		r->reads, r->writes, r->secs);
	fprintf(f, "  bandwidth    %.2f MiB/s\n", mibs);
	fprintf(f, "  latency us   mean %.2f  min %.2f  p50 %.2f  p99 %.2f  p99.9 %.2f  max %.2f\n",
		mean, lmin, p50, p99, p999, lmax);
	fprintf(f, "  own CPU      %.3f s (user %.3f, sys %.3f) = %.2f us per command, %.0f %% of a core\n",
		cpu_s, r->cpu_user_us / 1e6, r->cpu_sys_us / 1e6, cpu_per, 100.0 * cpu_s / secs);
	if (r->target_pid > 0) {
		if (r->target_cpu_us >= 0 && ios)
			fprintf(f, "  target CPU   %.3f s (pid %d) = %.2f us per command, %.1f %% of a core\n",
				tcpu_s, r->target_pid, tcpu_per, 100.0 * tcpu_s / secs);
		else if (r->target_cpu_us >= 0)
			fprintf(f, "  target CPU   %.3f s (pid %d) = %.2f %% of a core\n", tcpu_s,
				r->target_pid, 100.0 * tcpu_s / secs);
		else
			fprintf(f, "  target CPU   unknown (cannot read /proc/%d/stat)\n", r->target_pid);
	}
	if (r->errors)
		fprintf(f, "  errors       %" PRIu64 " command(s) failed\n", r->errors);
	if (r->verify)
		fprintf(f, "  verify       %" PRIu64 " blocks checked, %" PRIu64 " mismatches\n",
			r->verified, r->mismatches);
json:
	fprintf(f, "{\"tool\":\"%s\",%s%s\"iops\":%.1f,\"mib_s\":%.3f,\"reads\":%" PRIu64
		",\"writes\":%" PRIu64 ",\"seconds\":%.3f,\"lat_us_mean\":%.3f,\"lat_us_min\":%.3f"
		",\"lat_us_p50\":%.3f,\"lat_us_p99\":%.3f,\"lat_us_p999\":%.3f,\"lat_us_max\":%.3f"
		",\"cpu_s\":%.4f,\"cpu_user_s\":%.4f,\"cpu_sys_s\":%.4f,\"cpu_us_per_cmd\":%.4f",
		r->tool, r->params, r->params[0] ? "," : "", iops, mibs, r->reads, r->writes, r->secs,
		mean, lmin, p50, p99, p999, lmax, cpu_s, r->cpu_user_us / 1e6, r->cpu_sys_us / 1e6,
		cpu_per);
	if (r->target_pid > 0 && r->target_cpu_us >= 0)
	{
		fprintf(f, ",\"target_pid\":%d,\"target_cpu_s\":%.4f,\"target_cpu_pct\":%.3f",
			r->target_pid, tcpu_s, 100.0 * tcpu_s / secs);
		if (ios)
			fprintf(f, ",\"target_cpu_us_per_cmd\":%.4f", tcpu_per);
	}
	fprintf(f, ",\"errors\":%" PRIu64, r->errors);
	if (r->verify)
		fprintf(f, ",\"verify\":true,\"verified_blocks\":%" PRIu64 ",\"mismatches\":%" PRIu64,
			r->verified, r->mismatches);
	fprintf(f, "}\n");
	fflush(f);
}
