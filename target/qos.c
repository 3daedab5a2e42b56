/* SPDX-License-Identifier: MIT */
/*
 * QoS limits: token buckets per limit, tokens shared through an atomic
 * pool and spent from per-reactor buckets, delayed commands queued per
 * limit and reactor (see qos.h for the design).
 */
#define LOG_TAG "qos"
#include "target/qos.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "target/target.h"

#define NS_PER_S 1000000000ull

enum qos_dim { QOS_RD_OPS, QOS_WR_OPS, QOS_RD_BYTES, QOS_WR_BYTES, QOS_DIMS };

/* the order a command passes its limits in (nvmf_req.qos.lim[]) */
enum nvmf_qos_kind { QOS_HOST_NS, QOS_NS, QOS_HOST, QOS_KINDS };

/* One limit on one reactor: written by that reactor only, no lock. */
struct qos_local {
	int64_t tokens[QOS_DIMS];     /* taken from the pool, not spent yet (< 0: debt) */
	/* delayed commands in arrival order, reads [0] and writes [1] apart
	 * (a read limit must not hold writes back) */
	struct nvmf_req *head[2], *tail[2];
	/* the arrival time (start_ns) of head[dir], 0 when none waits: other
	 * reactors read it (atomic), so that the oldest command goes first */
	uint64_t since[2];
	struct qos_local *next_active;
	struct nvmf_qos_limit *lim;   /* the limit this is a part of */
	bool active;                  /* on its reactor's active list */
	/* statistics: plain stores by this reactor, racy loads elsewhere */
	uint64_t waiting, delayed;
	uint64_t ios[2], bytes[2];    /* let through: [0] reads, [1] writes */
} __attribute__((aligned(64)));

struct nvmf_qos_limit {
	enum nvmf_qos_kind kind;
	uint32_t nsid;
	char subnqn[CFG_NQN_SIZE];
	char host[CFG_NQN_SIZE];
	uint64_t rate[QOS_DIMS];      /* per second, 0 = unlimited (atomic: the control path stores) */
	bool set;                     /* some rate is set (atomic) */
	bool configured;              /* in the running configuration (tgt->lock) */
	struct nvmf_qos_limit *next;  /* append only, published with release */
	struct qos_local *loc;        /* [nr_loc]: one per reactor */
	unsigned nr_loc;
	/* the shared pool: atomics, on their own line */
	struct {
		int64_t tokens[QOS_DIMS];
		uint64_t last_ns[QOS_DIMS];   /* refilled up to here */
		unsigned waiters;             /* reactors with commands waiting for this limit */
	} pool __attribute__((aligned(64)));
};

/* nvmf_sq.qos: valid while gen is the limits' generation */
struct nvmf_qos_cache {
	uint64_t gen;
	const struct nvmf_ns *ns;
	struct nvmf_qos_limit *lim[QOS_KINDS];
};

struct qos_reactor {
	struct nvmf_qos *q;
	struct nvmf_reactor *nr;
	unsigned idx;
	struct reactor_timer timer;   /* runs while some limit has commands waiting here */
	struct qos_local *active;     /* limits with commands waiting here */
} __attribute__((aligned(64)));

struct nvmf_qos {
	struct nvmf_tgt *t;
	struct nvmf_qos_limit *limits, **tail;
	uint64_t gen;                 /* atomic: bumped by every commit (nvmf_sq.qos.gen) */
	unsigned nr_set;              /* atomic: limits with a rate; 0 = nothing to do */
	unsigned nr_reactors;
	struct qos_reactor *rs;       /* [nr_reactors] */
};

static uint64_t (*test_clock)(void);

void nvmf_qos_set_clock_for_test(uint64_t (*clock_ns)(void))
{
	test_clock = clock_ns;
}

/* the reactor's turn clock, like the commands' other times: no clock read
 * per command */
static uint64_t qos_now(void)
{
	return test_clock ? test_clock() : reactor_clock_ns();
}

/* --- token arithmetic ------------------------------------------------------------------ */

/* what a pool holds at most: NVMF_QOS_BURST_MS worth, at least 1 */
static int64_t burst_of(uint64_t rate)
{
	uint64_t b = rate / (1000 / NVMF_QOS_BURST_MS);

	return b ? (int64_t)(b > INT64_MAX / 4 ? INT64_MAX / 4 : b) : 1;
}

/* what a reactor takes beyond its need, so it does not come back per command */
static int64_t chunk_of(uint64_t rate)
{
	return (int64_t)(rate / (1000 / NVMF_QOS_TICK_MS));
}

/* Add the tokens earned since last_ns to the pool, up to a burst. Whoever
 * wins the exchange on last_ns adds them; the others find them there. */
static void pool_refill(struct nvmf_qos_limit *l, unsigned d, uint64_t rate, int64_t burst, uint64_t now)
{
	uint64_t last = __atomic_load_n(&l->pool.last_ns[d], __ATOMIC_ACQUIRE), next;
	unsigned __int128 earned;
	int64_t add, p;

	if (now <= last)
		return;
	earned = (unsigned __int128)rate * (now - last) / NS_PER_S;
	if (!earned)
		return;
	if (earned >= (unsigned __int128)burst) {
		add = burst;
		next = now;
	} else {
		add = (int64_t)earned;
		/* the time those tokens took, rounded up: never more than earned */
		next = last + (uint64_t)(((unsigned __int128)add * NS_PER_S + rate - 1) / rate);
	}
	if (!__atomic_compare_exchange_n(&l->pool.last_ns[d], &last, next, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return;
	p = __atomic_add_fetch(&l->pool.tokens[d], add, __ATOMIC_ACQ_REL);
	if (p > burst)          /* an idle pool keeps one burst, no more */
		__atomic_sub_fetch(&l->pool.tokens[d], p - burst, __ATOMIC_ACQ_REL);
}

/* Another reactor has a command waiting for l (in direction dir) that
 * arrived before age */
static bool older_elsewhere(const struct nvmf_qos_limit *l, const struct qos_local *mine, unsigned dir, uint64_t age)
{
	for (unsigned i = 0; i < l->nr_loc; i++) {
		uint64_t s = __atomic_load_n(&l->loc[i].since[dir], __ATOMIC_RELAXED);

		if (&l->loc[i] != mine && s && s < age)
			return true;
	}
	return false;
}

/* Up to want tokens from the pool (what it has if less) for a command that
 * arrived at age. While other reactors have commands waiting for the
 * limit, the oldest command goes first (a reactor with a newer one takes
 * nothing), and a reactor takes its share of the pool (but at least min,
 * if there): whichever ticks first must not starve the others. */
static int64_t pool_take(struct nvmf_qos_limit *l, struct qos_local *loc, unsigned d, uint64_t rate, int64_t burst,
			 int64_t min, int64_t want, uint64_t age, uint64_t now)
{
	unsigned n = __atomic_load_n(&l->pool.waiters, __ATOMIC_RELAXED);
	int64_t p, got;

	/* d & 1: the direction of dimension d (see enum qos_dim) */
	if (n > (loc->active ? 1u : 0u) && older_elsewhere(l, loc, d & 1u, age))
		return 0;
	pool_refill(l, d, rate, burst, now);
	p = __atomic_load_n(&l->pool.tokens[d], __ATOMIC_ACQUIRE);
	while (p > 0) {
		got = n > 1 && p / n < want ? p / n : want;
		if (got < min)
			got = min;
		if (got > p)
			got = p;
		if (__atomic_compare_exchange_n(&l->pool.tokens[d], &p, p - got, false, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			return got;
	}
	return 0;
}

/* Does dimension d of l have cost tokens on this reactor (a burst's
 * worth for a command larger than a burst)? Takes from the pool if not. */
static bool dim_ready(struct nvmf_qos_limit *l, struct qos_local *loc, unsigned d, int64_t cost, uint64_t age,
		      uint64_t now)
{
	uint64_t rate = __atomic_load_n(&l->rate[d], __ATOMIC_RELAXED);
	int64_t burst, need;

	if (!rate)
		return true;
	burst = burst_of(rate);
	need = cost < burst ? cost : burst;
	if (loc->tokens[d] >= need)
		return true;
	loc->tokens[d] += pool_take(l, loc, d, rate, burst, need - loc->tokens[d],
				    need - loc->tokens[d] + chunk_of(rate), age, now);
	return loc->tokens[d] >= need;
}

static unsigned req_dir(const struct nvmf_req *req)
{
	return req->cmd.opc == NVME_CMD_READ || req->cmd.opc == NVME_CMD_COMPARE ? 0 : 1;
}

/* Spend req's tokens of l on this reactor if every dimension has them */
static bool limit_pass(struct nvmf_qos_limit *l, struct qos_local *loc, struct nvmf_req *req, uint64_t now)
{
	unsigned dir = req_dir(req);
	unsigned ops = dir ? QOS_WR_OPS : QOS_RD_OPS, bytes = dir ? QOS_WR_BYTES : QOS_RD_BYTES;

	if (!dim_ready(l, loc, ops, 1, req->start_ns, now) || !dim_ready(l, loc, bytes, req->len, req->start_ns, now))
		return false;
	if (__atomic_load_n(&l->rate[ops], __ATOMIC_RELAXED))
		loc->tokens[ops] -= 1;
	if (__atomic_load_n(&l->rate[bytes], __ATOMIC_RELAXED))
		loc->tokens[bytes] -= req->len;
	loc->ios[dir]++;
	loc->bytes[dir] += req->len;
	return true;
}

/* --- delayed commands ------------------------------------------------------------------ */

static void qos_tick(void *arg)
{
	struct qos_reactor *rs = arg;

	nvmf_qos_run(rs->q->t, rs->idx);
}

static void enqueue(struct qos_reactor *rs, struct nvmf_qos_limit *l, struct qos_local *loc, struct nvmf_req *req)
{
	unsigned dir = req_dir(req);

	req->qos.next = NULL;
	if (loc->tail[dir]) {
		loc->tail[dir]->qos.next = req;
	} else {
		loc->head[dir] = req;
		__atomic_store_n(&loc->since[dir], req->start_ns ? req->start_ns : 1, __ATOMIC_RELAXED);
	}
	loc->tail[dir] = req;
	__atomic_store_n(&loc->waiting, loc->waiting + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&loc->delayed, loc->delayed + 1, __ATOMIC_RELAXED);
	if (!loc->active) {
		loc->active = true;
		__atomic_add_fetch(&l->pool.waiters, 1, __ATOMIC_RELAXED);
		loc->next_active = rs->active;
		rs->active = loc;
	}
	if (!rs->timer.armed && rs->nr)
		reactor_timer_start(&rs->nr->r, &rs->timer, NVMF_QOS_TICK_MS, NVMF_QOS_TICK_MS, qos_tick, rs);
}

static struct nvmf_req *dequeue(struct qos_local *loc, unsigned dir, struct nvmf_req *prev, struct nvmf_req *req)
{
	if (prev) {
		prev->qos.next = req->qos.next;
	} else {
		loc->head[dir] = req->qos.next;
		__atomic_store_n(&loc->since[dir], !loc->head[dir] ? 0 : loc->head[dir]->start_ns ? loc->head[dir]->start_ns : 1,
				 __ATOMIC_RELAXED);
	}
	if (loc->tail[dir] == req)
		loc->tail[dir] = prev;
	req->qos.next = NULL;
	__atomic_store_n(&loc->waiting, loc->waiting - 1, __ATOMIC_RELAXED);
	return req;
}

static void backend_submit(struct nvmf_req *req)
{
	if (!req->sq->ctrl) {   /* the queue went away while the command waited */
		nvmf_req_complete(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_ABORT_SQ_DELETED));
		return;
	}
	req->ns->ops->submit(req->ns, req);
}

/* Pass req through its limits from its stage on: to the backend, or onto
 * the wait list of the first limit that holds it back (behind the
 * commands already waiting there: order per limit). */
static void advance(struct qos_reactor *rs, struct nvmf_req *req, uint64_t now)
{
	for (; req->qos.stage < QOS_KINDS; req->qos.stage++) {
		struct nvmf_qos_limit *l = req->qos.lim[req->qos.stage];
		struct qos_local *loc;

		if (!l)
			continue;
		loc = &l->loc[rs->idx];
		if (loc->head[req_dir(req)] || !limit_pass(l, loc, req, now)) {
			enqueue(rs, l, loc, req);
			return;
		}
	}
	backend_submit(req);
}

int nvmf_qos_run(struct nvmf_tgt *t, unsigned ri)
{
	struct nvmf_qos *q = t->qos;
	struct qos_reactor *rs;
	struct qos_local *list, *loc;
	uint64_t now = qos_now();
	int n = 0;

	if (!q || ri >= q->nr_reactors)
		return 0;
	rs = &q->rs[ri];
	/* taken off: what advance() queues meanwhile joins a fresh list */
	list = rs->active;
	rs->active = NULL;
	while ((loc = list)) {
		list = loc->next_active;
		for (unsigned dir = 0; dir < 2; dir++) {
			struct nvmf_req *req, *prev = NULL, *next;

			/* commands of queues that went away go first, without
			 * tokens: their connection waits for them before it is freed */
			for (req = loc->head[dir]; req; req = next) {
				next = req->qos.next;
				if (req->sq->ctrl) {
					prev = req;
					continue;
				}
				dequeue(loc, dir, prev, req);
				nvmf_req_complete(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_ABORT_SQ_DELETED));
				n++;
			}
			while ((req = loc->head[dir]) && limit_pass(loc->lim, loc, req, now)) {
				dequeue(loc, dir, NULL, req);
				req->qos.stage++;
				advance(rs, req, now);
				n++;
			}
		}
		if (loc->head[0] || loc->head[1]) {
			loc->next_active = rs->active;
			rs->active = loc;
		} else {
			loc->active = false;
			__atomic_sub_fetch(&loc->lim->pool.waiters, 1, __ATOMIC_RELAXED);
		}
	}
	if (!rs->active && rs->timer.armed)
		reactor_timer_stop(&rs->nr->r, &rs->timer);
	return n;
}

/* --- the I/O path --------------------------------------------------------------------- */

static bool key_match(const struct nvmf_qos_limit *l, const struct nvmf_ns *ns, const char *host)
{
	switch (l->kind) {
	case QOS_HOST_NS:
		return l->nsid == ns->nsid && !strcmp(l->host, host) && !strcmp(l->subnqn, ns->subsys->nqn);
	case QOS_NS:
		return l->nsid == ns->nsid && !strcmp(l->subnqn, ns->subsys->nqn);
	default:
		return !strcmp(l->host, host);
	}
}

/* The limits of (queue's host, ns) into c */
static void resolve(struct nvmf_qos *q, struct nvmf_sq *sq, const struct nvmf_ns *ns, uint64_t gen,
		    struct nvmf_qos_cache *c)
{
	memset(c->lim, 0, sizeof(c->lim));
	for (struct nvmf_qos_limit *l = __atomic_load_n(&q->limits, __ATOMIC_ACQUIRE); l;
	     l = __atomic_load_n(&l->next, __ATOMIC_ACQUIRE))
		if (__atomic_load_n(&l->set, __ATOMIC_RELAXED) && key_match(l, ns, sq->ctrl->hostnqn))
			c->lim[l->kind] = l;
	c->ns = ns;
	c->gen = gen;
}

void nvmf_qos_submit(struct nvmf_ns *ns, struct nvmf_req *req)
{
	struct nvmf_sq *sq = req->sq;
	struct nvmf_qos *q = sq->port->tgt->qos;
	struct nvmf_qos_cache one, *c;
	uint64_t gen;

	if (!q || !__atomic_load_n(&q->nr_set, __ATOMIC_RELAXED)) {
		ns->ops->submit(ns, req);
		return;
	}
	/* once per queue (not per command); without memory, no cache */
	if (!sq->qos)
		sq->qos = calloc(1, sizeof(*sq->qos));
	c = sq->qos ? sq->qos : &one;
	gen = __atomic_load_n(&q->gen, __ATOMIC_ACQUIRE);
	if (c == &one || c->gen != gen || c->ns != ns)
		resolve(q, sq, ns, gen, c);
	if (!c->lim[0] && !c->lim[1] && !c->lim[2]) {
		ns->ops->submit(ns, req);
		return;
	}
	memcpy(req->qos.lim, c->lim, sizeof(req->qos.lim));
	req->qos.stage = 0;
	req->qos.next = NULL;
	advance(&q->rs[sq->reactor && sq->reactor->idx < q->nr_reactors ? sq->reactor->idx : 0], req, qos_now());
}

/* --- the control path ----------------------------------------------------------------- */

static struct nvmf_qos_limit *find_limit(struct nvmf_qos *q, enum nvmf_qos_kind kind, const char *subnqn,
					 uint32_t nsid, const char *host)
{
	for (struct nvmf_qos_limit *l = q->limits; l; l = l->next)
		if (l->kind == kind && l->nsid == nsid && !strcmp(l->subnqn, subnqn) && !strcmp(l->host, host))
			return l;
	return NULL;
}

static int add_limit(struct nvmf_qos *q, enum nvmf_qos_kind kind, const char *subnqn, uint32_t nsid,
		     const char *host)
{
	struct nvmf_qos_limit *l;

	if (find_limit(q, kind, subnqn, nsid, host))
		return 0;
	l = aligned_alloc(64, (sizeof(*l) + 63) & ~(size_t)63);
	if (!l)
		return -ENOMEM;
	memset(l, 0, sizeof(*l));
	l->loc = aligned_alloc(64, q->nr_reactors * sizeof(*l->loc));
	if (!l->loc) {
		free(l);
		return -ENOMEM;
	}
	memset(l->loc, 0, q->nr_reactors * sizeof(*l->loc));
	for (unsigned i = 0; i < q->nr_reactors; i++)
		l->loc[i].lim = l;
	l->nr_loc = q->nr_reactors;
	l->kind = kind;
	l->nsid = nsid;
	snprintf(l->subnqn, sizeof(l->subnqn), "%s", subnqn);
	snprintf(l->host, sizeof(l->host), "%s", host);
	/* readers walk the list without a lock: publish a complete object */
	__atomic_store_n(q->tail, l, __ATOMIC_RELEASE);
	q->tail = &l->next;
	return 0;
}

int nvmf_qos_prepare(struct nvmf_tgt *t, const struct config *cfg)
{
	struct nvmf_qos *q = t->qos;
	int rc = 0;

	if (!q)
		return 0;
	for (unsigned i = 0; i < cfg->nr_hosts && !rc; i++)
		if (!cfg_qos_unset(&cfg->hosts[i].qos))
			rc = add_limit(q, QOS_HOST, "", 0, cfg->hosts[i].nqn);
	for (unsigned i = 0; i < cfg->nr_subsystems && !rc; i++) {
		const struct cfg_subsystem *s = &cfg->subsystems[i];

		for (unsigned j = 0; j < s->nr_namespaces && !rc; j++) {
			const struct cfg_namespace *ns = &s->namespaces[j];

			if (!cfg_qos_unset(&ns->qos))
				rc = add_limit(q, QOS_NS, s->nqn, ns->nsid, "");
			for (unsigned k = 0; k < ns->nr_host_qos && !rc; k++)
				if (!cfg_qos_unset(&ns->host_qos[k].qos))
					rc = add_limit(q, QOS_HOST_NS, s->nqn, ns->nsid, ns->host_qos[k].host);
		}
	}
	return rc;
}

/* cfg's limits for l's key (NULL: none) */
static const struct cfg_qos *wanted(const struct nvmf_qos_limit *l, const struct config *cfg)
{
	const struct cfg_subsystem *s;
	const struct cfg_host *h;

	if (l->kind == QOS_HOST)
		return (h = cfg_find_host(cfg, l->host)) ? &h->qos : NULL;
	s = config_find_subsystem(cfg, l->subnqn);
	for (unsigned j = 0; s && j < s->nr_namespaces; j++) {
		const struct cfg_namespace *ns = &s->namespaces[j];

		if (ns->nsid != l->nsid)
			continue;
		if (l->kind == QOS_NS)
			return &ns->qos;
		for (unsigned k = 0; k < ns->nr_host_qos; k++)
			if (!strcmp(ns->host_qos[k].host, l->host))
				return &ns->host_qos[k].qos;
	}
	return NULL;
}

static int describe(const struct nvmf_qos_limit *l, char *buf, size_t len)
{
	switch (l->kind) {
	case QOS_HOST:
		return snprintf(buf, len, "host %s", l->host);
	case QOS_NS:
		return snprintf(buf, len, "namespace %u of %s", l->nsid, l->subnqn);
	default:
		return snprintf(buf, len, "host %s on namespace %u of %s", l->host, l->nsid, l->subnqn);
	}
}

static void note_change(const struct nvmf_qos_limit *l, const uint64_t r[QOS_DIMS],
			void (*note)(void *arg, const char *line), void *arg)
{
	char line[700];
	int n = snprintf(line, sizeof(line), "QoS of ");

	n += describe(l, line + n, sizeof(line) - (size_t)n);
	if (!r[0] && !r[1] && !r[2] && !r[3])
		snprintf(line + n, sizeof(line) - (size_t)n, ": unlimited");
	else
		snprintf(line + n, sizeof(line) - (size_t)n,
			 ": read %llu IOPS %llu B/s, write %llu IOPS %llu B/s (0: unlimited)",
			 (unsigned long long)r[QOS_RD_OPS], (unsigned long long)r[QOS_RD_BYTES],
			 (unsigned long long)r[QOS_WR_OPS], (unsigned long long)r[QOS_WR_BYTES]);
	if (note)
		note(arg, line);
}

void nvmf_qos_commit(struct nvmf_tgt *t, const struct config *cfg, void (*note)(void *arg, const char *line),
		     void *arg)
{
	struct nvmf_qos *q = t->qos;
	unsigned nr_set = 0;

	if (!q)
		return;
	for (struct nvmf_qos_limit *l = q->limits; l; l = l->next) {
		const struct cfg_qos *w = wanted(l, cfg);
		uint64_t r[QOS_DIMS] = { 0 };
		bool set, changed = false;

		if (w) {
			r[QOS_RD_OPS] = w->read_iops;
			r[QOS_WR_OPS] = w->write_iops;
			r[QOS_RD_BYTES] = w->read_bw;
			r[QOS_WR_BYTES] = w->write_bw;
		}
		set = r[0] || r[1] || r[2] || r[3];
		for (unsigned d = 0; d < QOS_DIMS; d++) {
			changed |= l->rate[d] != r[d];
			__atomic_store_n(&l->rate[d], r[d], __ATOMIC_RELAXED);
		}
		if (changed)
			note_change(l, r, note, arg);
		__atomic_store_n(&l->set, set, __ATOMIC_RELAXED);
		l->configured = set;
		nr_set += set;
	}
	__atomic_store_n(&q->nr_set, nr_set, __ATOMIC_RELAXED);
	/* queues look their limits up again (release: after the stores above) */
	__atomic_add_fetch(&q->gen, 1, __ATOMIC_RELEASE);
}

static void log_note(void *arg, const char *line)
{
	(void)arg;
	log_info("%s", line);
}

int nvmf_qos_init(struct nvmf_tgt *t)
{
	struct nvmf_qos *q = calloc(1, sizeof(*q));
	unsigned n = t->nr_reactors ? t->nr_reactors : 1;
	int rc;

	if (!q)
		return -ENOMEM;
	q->rs = aligned_alloc(64, n * sizeof(*q->rs));
	if (!q->rs) {
		free(q);
		return -ENOMEM;
	}
	memset(q->rs, 0, n * sizeof(*q->rs));
	q->t = t;
	q->tail = &q->limits;
	q->nr_reactors = n;
	q->gen = 1;
	for (unsigned i = 0; i < n; i++) {
		q->rs[i].q = q;
		q->rs[i].idx = i;
		q->rs[i].nr = t->nr_reactors ? &t->reactors[i] : NULL;
	}
	t->qos = q;
	rc = nvmf_qos_prepare(t, t->cfg);
	if (rc) {
		nvmf_qos_fini(t);
		return rc;
	}
	nvmf_qos_commit(t, t->cfg, log_note, NULL);
	return 0;
}

void nvmf_qos_fini(struct nvmf_tgt *t)
{
	struct nvmf_qos *q = t->qos;

	if (!q)
		return;
	for (unsigned i = 0; i < q->nr_reactors; i++)
		if (q->rs[i].nr && q->rs[i].timer.armed)
			reactor_timer_stop(&q->rs[i].nr->r, &q->rs[i].timer);
	while (q->limits) {
		struct nvmf_qos_limit *l = q->limits;

		q->limits = l->next;
		free(l->loc);
		free(l);
	}
	free(q->rs);
	free(q);
	t->qos = NULL;
}

/* --- statistics --------------------------------------------------------------------------- */

static const char *const kind_names[] = { "host_namespace", "namespace", "host" };

void nvmf_qos_foreach(struct nvmf_tgt *t, void (*fn)(void *arg, const struct nvmf_qos_view *v), void *arg)
{
	struct nvmf_qos *q = t->qos;

	if (!q)
		return;
	for (struct nvmf_qos_limit *l = __atomic_load_n(&q->limits, __ATOMIC_ACQUIRE); l;
	     l = __atomic_load_n(&l->next, __ATOMIC_ACQUIRE)) {
		struct nvmf_qos_view v = {
			.type = kind_names[l->kind],
			.subsystem = l->kind == QOS_HOST ? NULL : l->subnqn,
			.nsid = l->nsid,
			.host = l->kind == QOS_NS ? NULL : l->host,
			.read_iops = __atomic_load_n(&l->rate[QOS_RD_OPS], __ATOMIC_RELAXED),
			.write_iops = __atomic_load_n(&l->rate[QOS_WR_OPS], __ATOMIC_RELAXED),
			.read_bw = __atomic_load_n(&l->rate[QOS_RD_BYTES], __ATOMIC_RELAXED),
			.write_bw = __atomic_load_n(&l->rate[QOS_WR_BYTES], __ATOMIC_RELAXED),
		};

		if (!__atomic_load_n(&l->set, __ATOMIC_RELAXED))
			continue;
		for (unsigned i = 0; i < q->nr_reactors; i++) {
			const struct qos_local *loc = &l->loc[i];

			v.delayed += __atomic_load_n(&loc->delayed, __ATOMIC_RELAXED);
			v.waiting += __atomic_load_n(&loc->waiting, __ATOMIC_RELAXED);
			v.reads += __atomic_load_n(&loc->ios[0], __ATOMIC_RELAXED);
			v.writes += __atomic_load_n(&loc->ios[1], __ATOMIC_RELAXED);
			v.read_bytes += __atomic_load_n(&loc->bytes[0], __ATOMIC_RELAXED);
			v.write_bytes += __atomic_load_n(&loc->bytes[1], __ATOMIC_RELAXED);
		}
		fn(arg, &v);
	}
}

static void add_int(json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_int64((int64_t)v));
}

static void view_json(void *arg, const struct nvmf_qos_view *v)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "type", json_object_new_string(v->type));
	if (v->subsystem) {
		json_object_object_add(o, "subsystem", json_object_new_string(v->subsystem));
		add_int(o, "nsid", v->nsid);
	}
	if (v->host)
		json_object_object_add(o, "host", json_object_new_string(v->host));
	add_int(o, "read_iops", v->read_iops);
	add_int(o, "write_iops", v->write_iops);
	add_int(o, "read_bw", v->read_bw);
	add_int(o, "write_bw", v->write_bw);
	add_int(o, "delayed", v->delayed);
	add_int(o, "waiting", v->waiting);
	add_int(o, "reads", v->reads);
	add_int(o, "writes", v->writes);
	add_int(o, "read_bytes", v->read_bytes);
	add_int(o, "write_bytes", v->write_bytes);
	json_object_array_add(arg, o);
}

struct json_object *nvmf_qos_stats_json(struct nvmf_tgt *t)
{
	json_object *a = json_object_new_array();

	nvmf_qos_foreach(t, view_json, a);
	return a;
}
