/* SPDX-License-Identifier: MIT */
/*
 * NVMe reservations (NVMe Base 2.0 section 8.19, NVM Command Set 4.x):
 * the target keeps them itself for every backend, since a device's own
 * reservations would not know the fabric hosts (and QEMU's controller has
 * none). See resv.h for the locking.
 *
 * Semantics follow the specification; where it leaves room, Linux nvmet
 * (drivers/nvme/target/pr.c) and SPDK agree and we do the same:
 * - Report with EDS cleared is refused with Host Identifier Inconsistent
 *   Format: fabrics hosts always have a 128-bit Host Identifier, which
 *   only the extended data structure carries. Registrants are reported
 *   one per host with CNTLID FFFFh (dynamic controllers).
 * - Preempt and Abort is Preempt: commands here never wait in a queue of
 *   ours, and what a preempted host sends afterwards is checked against
 *   the new state.
 * - IEKEY in Acquire and Release is Invalid Field (it applies to Register
 *   only since NVMe 1.3; RESCAP bit 7 says so).
 * - The notification mask (feature 82h) is kept per namespace.
 *
 * Persist Through Power Loss: namespaces with PTPL set are written to a
 * state file beside the configuration (<config>.resv) whenever their state
 * changes (a temporary file, fsync, rename, fsync of the directory), and
 * the command completes only once its change is on disk, as the host
 * expects of PTPL. The writing runs on one writer thread (started with the
 * first PTPL change), so a reactor never waits for an fsync; commands that
 * arrive while a write is under way share the next one. Set Features 83h
 * (an admin command) and the rare cases where the thread cannot take a
 * command (out of memory) write on the calling thread.
 */
#define LOG_TAG "resv"
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "target/resv.h"
#include "target/target.h"

/* --- helpers ----------------------------------------------------------------- */

static bool type_all_regs(uint8_t t)
{
	return t == NVMF_RTYPE_WE_AR || t == NVMF_RTYPE_EA_AR;
}

static bool type_reg_only(uint8_t t)
{
	return t == NVMF_RTYPE_WE_RO || t == NVMF_RTYPE_EA_RO;
}

static int find_reg(const struct nvmf_resv *r, const uint8_t id[16])
{
	for (unsigned i = 0; i < r->nr; i++)
		if (!memcmp(r->regs[i].hostid, id, 16))
			return (int)i;
	return -1;
}

static bool holds(const struct nvmf_resv *r, const uint8_t id[16])
{
	if (!r->rtype)
		return false;
	if (type_all_regs(r->rtype))
		return find_reg(r, id) >= 0;
	return !memcmp(r->holder, id, 16);
}

static void set_resv(struct nvmf_resv *r, uint8_t rtype, const uint8_t *holder)
{
	r->rtype = rtype;
	if (holder)
		memcpy(r->holder, holder, 16);
	else
		memset(r->holder, 0, 16);
	/* pairs with the acquire load of nvmf_resv_held on the I/O path */
	__atomic_store_n(&r->held, rtype != 0, __ATOMIC_RELEASE);
}

static uint16_t conflict(void)
{
	return nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_RESV_CONFLICT);
}

static uint16_t invalid_field(void)
{
	return nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);
}

/* --- notifications --------------------------------------------------------------- */

/* Notifications a command causes, sent once the namespace's mutex is
 * released (they take tgt->lock). */
struct notes {
	unsigned n;
	struct {
		uint8_t hostid[16];
		uint8_t type;
	} e[NVMF_RESV_MAX_REGS + 1];
};

static void note(struct notes *nt, const struct nvmf_resv *r, const uint8_t id[16], uint8_t type)
{
	/* mask bits 1, 2, 3 are the log page types they mask */
	if (r->mask & (1u << type))
		return;
	if (nt->n < sizeof(nt->e) / sizeof(nt->e[0])) {
		memcpy(nt->e[nt->n].hostid, id, 16);
		nt->e[nt->n].type = type;
		nt->n++;
	}
}

/* every registrant but one: type */
static void note_registrants(struct notes *nt, const struct nvmf_resv *r, const uint8_t except[16], uint8_t type)
{
	for (unsigned i = 0; i < r->nr; i++)
		if (memcmp(r->regs[i].hostid, except, 16))
			note(nt, r, r->regs[i].hostid, type);
}

static void log_add(struct nvmf_ctrl *c, uint8_t type, uint32_t nsid)
{
	struct nvmf_resv_log *l = &c->resv_log;

	if (++l->counter == 0)          /* 0 is never a page's count */
		l->counter = 1;
	if (l->nr == NVMF_RESV_LOG_DEPTH) {
		/* lost: the next page read reports a count that skips it */
		log_warn("controller %u of %s: reservation notification log full, a page is lost",
			 c->cntlid, c->subsys->nqn);
		return;
	}
	l->q[(l->head + l->nr) % NVMF_RESV_LOG_DEPTH] =
		(struct nvmf_resv_log_page){ .count = l->counter, .nsid = nsid, .type = type };
	l->nr++;
}

struct aen_msg {
	struct nvmf_tgt *t;
	struct nvmf_subsys *s;            /* never freed before shutdown */
	uint16_t cntlid;
};

static void aen_raise_locked(struct nvmf_subsys *s, uint16_t cntlid)
{
	for (struct nvmf_ctrl *c = s->ctrls; c; c = c->next)
		if (c->cntlid == cntlid && !c->dying)
			nvmf_ctrl_aen_resv(c);
}

static void aen_msg_run(void *arg)
{
	struct aen_msg *m = arg;

	pthread_mutex_lock(&m->t->lock);
	aen_raise_locked(m->s, m->cntlid);
	pthread_mutex_unlock(&m->t->lock);
	free(m);
}

/* tgt->lock held: a log page was added; the event, once per read of the
 * log, on the controller's own reactor (where its AERs complete) */
static void aen_raise(struct nvmf_tgt *t, struct nvmf_ctrl *c)
{
	struct aen_msg *m;

	if (c->resv_log.aen_out)
		return;
	c->resv_log.aen_out = true;
	if (c->reactor == nvmf_this_reactor || !c->reactor) {
		nvmf_ctrl_aen_resv(c);
		return;
	}
	m = malloc(sizeof(*m));
	if (m) {
		*m = (struct aen_msg){ .t = t, .s = c->subsys, .cntlid = c->cntlid };
		if (!nvmf_reactor_call(c->reactor, aen_msg_run, m))
			return;
		free(m);
	}
	/* the page is in the log; the next notification tries again */
	c->resv_log.aen_out = false;
	log_err("controller %u of %s: out of memory, reservation log event not sent", c->cntlid, c->subsys->nqn);
}

static void notify(struct nvmf_ns *ns, const struct notes *nt)
{
	struct nvmf_subsys *s = ns->subsys;
	struct nvmf_tgt *t = s->tgt;

	if (!nt->n)
		return;
	pthread_mutex_lock(&t->lock);
	for (struct nvmf_ctrl *c = s->ctrls; c; c = c->next) {
		bool added = false;

		if (c->dying)
			continue;
		for (unsigned i = 0; i < nt->n; i++) {
			if (memcmp(c->hostid, nt->e[i].hostid, 16))
				continue;
			log_add(c, nt->e[i].type, ns->nsid);
			added = true;
		}
		if (added)
			aen_raise(t, c);
	}
	pthread_mutex_unlock(&t->lock);
}

void nvmf_resv_log_read(struct nvmf_ctrl *c, uint8_t page[64], bool rae)
{
	struct nvmf_resv_log *l = &c->resv_log;
	struct nvmf_resv_log_page p;
	uint64_t count;

	memset(page, 0, 64);
	if (!rae) {
		l->aen_out = false;
		c->pending_aen &= ~NVMF_AEN_RESV;  /* an event not sent yet is answered by this read */
	}
	if (!l->nr)
		return;                 /* type 0: empty */
	p = l->q[l->head];
	l->head = (l->head + 1) % NVMF_RESV_LOG_DEPTH;
	l->nr--;
	/* pages lost after this one show as a jump in the count: report the
	 * count just below the next page's (or the newest made) */
	count = l->nr ? l->q[l->head].count - 1 : l->counter;
	if (count < p.count)            /* the counter wrapped: never report less */
		count = p.count;
	put_le64(page, count);
	page[8] = p.type;
	page[9] = (uint8_t)(l->nr > 255 ? 255 : l->nr);
	put_le32(page + 12, p.nsid);
}

/* --- the PTPL state file ------------------------------------------------------------ */

struct resv_rec {
	char nqn[CFG_NQN_SIZE];
	uint32_t nsid;
	uint8_t nguid[16], uuid[16];
	uint32_t gen;
	uint8_t rtype;
	uint8_t holder[16];
	unsigned nr;
	struct nvmf_resv_reg regs[NVMF_RESV_MAX_REGS];
};

/* A command whose change waits for the state file before it completes */
struct resv_wait {
	struct nvmf_msg msg;              /* back to the command's reactor */
	struct nvmf_req *req;
	struct resv_wait *next;
};

/*
 * The records of every PTPL namespace (lock), and the thread that writes
 * them out. Lock order: a namespace's mutex, write_lock, lock. The file is
 * always written whole, under write_lock, from a snapshot taken under
 * lock once write_lock is held: so writes land in the order of the
 * snapshots, each as new as every change recorded before it.
 */
struct nvmf_resv_store {
	pthread_mutex_t lock;
	char *path;
	struct resv_rec *recs;
	unsigned nr, cap;
	pthread_mutex_t write_lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool started, stop;
	struct resv_wait *waiting;        /* complete once the next write is done */
};

#define STATE_MAGIC "nvmf-bridge-reservations 1"

static void hex_out(FILE *f, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%02x", b[i]);
}

static bool hex_in(const char *s, uint8_t *b, size_t n)
{
	if (!s || strlen(s) != 2 * n)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		if (!isxdigit((unsigned char)s[2 * i]) || !isxdigit((unsigned char)s[2 * i + 1]) ||
		    sscanf(s + 2 * i, "%2x", &v) != 1)
			return false;
		b[i] = (uint8_t)v;
	}
	return true;
}

/* NQNs are written with %XX for anything but printable ASCII other
 * than space and '%' */
static void nqn_out(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch <= ' ' || ch >= 0x7f || ch == '%')
			fprintf(f, "%%%02X", ch);
		else
			fputc(ch, f);
	}
}

static bool nqn_in(const char *s, char *out, size_t len)
{
	size_t o = 0;

	for (; *s; s++) {
		unsigned v;

		if (o + 1 >= len)
			return false;
		if (*s == '%') {
			if (!isxdigit((unsigned char)s[1]) || !isxdigit((unsigned char)s[2]) ||
			    sscanf(s + 1, "%2x", &v) != 1)
				return false;
			out[o++] = (char)v;
			s += 2;
		} else {
			out[o++] = *s;
		}
	}
	out[o] = 0;
	return o > 0;
}

static int fsync_dir(const char *path)
{
	char buf[PATH_MAX];
	int fd, rc = 0;

	snprintf(buf, sizeof(buf), "%s", path);
	fd = open(dirname(buf), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd))
		rc = -errno;
	close(fd);
	return rc;
}

/* st->lock held: the whole file's text into a new buffer */
static int serialize(const struct nvmf_resv_store *st, char **buf, size_t *len)
{
	FILE *f = open_memstream(buf, len);

	if (!f)
		return -ENOMEM;
	fprintf(f, "%s\n", STATE_MAGIC);
	for (unsigned i = 0; i < st->nr; i++) {
		const struct resv_rec *r = &st->recs[i];

		fputs("ns ", f);
		nqn_out(f, r->nqn);
		fprintf(f, " %u ", r->nsid);
		hex_out(f, r->nguid, 16);
		fputc(' ', f);
		hex_out(f, r->uuid, 16);
		fprintf(f, " %u %u ", r->gen, r->rtype);
		hex_out(f, r->holder, 16);
		fprintf(f, " %u", r->nr);
		for (unsigned j = 0; j < r->nr; j++) {
			fputc(' ', f);
			hex_out(f, r->regs[j].hostid, 16);
			fprintf(f, ":%016llx", (unsigned long long)r->regs[j].key);
		}
		fputc('\n', f);
	}
	if (ferror(f)) {
		fclose(f);
		free(*buf);
		*buf = NULL;
		return -ENOMEM;
	}
	return fclose(f) ? -ENOMEM : 0;
}

/* path atomically: a temporary file, fsync, rename, fsync of the directory */
static int write_file(const char *path, const char *buf, size_t len)
{
	char tmp[PATH_MAX];
	size_t done = 0;
	int fd, rc = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	while (done < len) {
		ssize_t n = write(fd, buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			break;
		}
		done += (size_t)n;
	}
	if (!rc && fsync(fd))
		rc = -errno;
	if (close(fd) && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path))
		rc = -errno;
	if (rc) {
		unlink(tmp);
		return rc;
	}
	return fsync_dir(path);
}

/* Write the file as it stands now. No lock of the store held. */
static int store_flush(struct nvmf_resv_store *st)
{
	char *buf = NULL;
	size_t len = 0;
	int rc;

	pthread_mutex_lock(&st->write_lock);
	pthread_mutex_lock(&st->lock);
	rc = serialize(st, &buf, &len);
	pthread_mutex_unlock(&st->lock);
	if (!rc)
		rc = write_file(st->path, buf, len);
	pthread_mutex_unlock(&st->write_lock);
	free(buf);
	return rc;
}

static void wait_done(void *arg)
{
	struct resv_wait *w = arg;

	nvmf_req_complete(w->req, 0);
	free(w);
}

/* The writer thread: every batch of waiting commands gets one write (the
 * fsyncs stay off the reactors), then their completions go back to their
 * reactors. On a failed write they still succeed: the change holds in
 * memory (logged), as the specification has no status for it. */
static void *writer_main(void *arg)
{
	struct nvmf_resv_store *st = arg;

	pthread_mutex_lock(&st->lock);
	for (;;) {
		struct resv_wait *batch;
		int rc;

		while (!st->waiting && !st->stop)
			pthread_cond_wait(&st->cond, &st->lock);
		if (!st->waiting)
			break;
		batch = st->waiting;
		st->waiting = NULL;
		pthread_mutex_unlock(&st->lock);
		rc = store_flush(st);
		if (rc)
			log_err("%s: cannot write the persistent reservations: %s; the changes hold until the daemon stops",
				st->path, strerror(-rc));
		while (batch) {
			struct resv_wait *w = batch;

			batch = w->next;
			w->msg = (struct nvmf_msg){ .fn = wait_done, .arg = w };
			nvmf_reactor_post(w->req->sq->reactor, &w->msg);
		}
		pthread_mutex_lock(&st->lock);
	}
	pthread_mutex_unlock(&st->lock);
	return NULL;
}

/* Have the writer thread complete req once the file holds what the store
 * holds now. false: it cannot (no reactor to come back to, out of memory,
 * no thread): the caller writes itself. */
static bool write_later(struct nvmf_resv_store *st, struct nvmf_req *req)
{
	struct resv_wait *w;

	if (!req->sq->reactor)
		return false;
	w = calloc(1, sizeof(*w));
	if (!w)
		return false;
	w->req = req;
	pthread_mutex_lock(&st->lock);
	if (!st->started) {
		if (pthread_create(&st->thread, NULL, writer_main, st)) {
			pthread_mutex_unlock(&st->lock);
			free(w);
			log_err("%s: cannot start the writer thread: written on the reactor", st->path);
			return false;
		}
		st->started = true;
	}
	w->next = st->waiting;
	st->waiting = w;
	pthread_cond_signal(&st->cond);
	pthread_mutex_unlock(&st->lock);
	return true;
}

/* One "ns" line into r; false when it is not one. */
static bool parse_line(char *line, struct resv_rec *r)
{
	char *save = NULL, *tok[5 + 3 + 1 + NVMF_RESV_MAX_REGS + 1];
	unsigned n = 0;
	char *end;
	unsigned long v;

	for (char *t = strtok_r(line, " \t\n", &save); t; t = strtok_r(NULL, " \t\n", &save)) {
		if (n == sizeof(tok) / sizeof(tok[0]))
			return false;
		tok[n++] = t;
	}
	memset(r, 0, sizeof(*r));
	if (n < 9 || strcmp(tok[0], "ns") || !nqn_in(tok[1], r->nqn, sizeof(r->nqn)))
		return false;
	errno = 0;
	v = strtoul(tok[2], &end, 10);
	if (errno || *end || !v || v > 0xfffffffeul)
		return false;
	r->nsid = (uint32_t)v;
	if (!hex_in(tok[3], r->nguid, 16) || !hex_in(tok[4], r->uuid, 16))
		return false;
	v = strtoul(tok[5], &end, 10);
	if (errno || *end || v > UINT32_MAX)
		return false;
	r->gen = (uint32_t)v;
	v = strtoul(tok[6], &end, 10);
	if (errno || *end || v > NVMF_RTYPE_EA_AR)
		return false;
	r->rtype = (uint8_t)v;
	if (!hex_in(tok[7], r->holder, 16))
		return false;
	v = strtoul(tok[8], &end, 10);
	if (errno || *end || v > NVMF_RESV_MAX_REGS || n != 9 + v)
		return false;
	r->nr = (unsigned)v;
	for (unsigned i = 0; i < r->nr; i++) {
		char *colon = strchr(tok[9 + i], ':');

		if (!colon)
			return false;
		*colon = 0;
		if (!hex_in(tok[9 + i], r->regs[i].hostid, 16) || strlen(colon + 1) != 16)
			return false;
		r->regs[i].key = strtoull(colon + 1, &end, 16);
		if (errno || *end)
			return false;
	}
	/* a holder of types 1-4 is a registrant; all-registrants types need one */
	if (r->rtype && !type_all_regs(r->rtype)) {
		bool found = false;

		for (unsigned i = 0; i < r->nr; i++)
			found |= !memcmp(r->regs[i].hostid, r->holder, 16);
		if (!found)
			return false;
	}
	if (r->rtype && !r->nr)
		return false;
	return true;
}

static int store_add(struct nvmf_resv_store *st, const struct resv_rec *r)
{
	if (st->nr == st->cap) {
		unsigned cap = st->cap ? 2 * st->cap : 8;
		struct resv_rec *n = realloc(st->recs, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		st->recs = n;
		st->cap = cap;
	}
	st->recs[st->nr++] = *r;
	return 0;
}

static struct resv_rec *store_find(struct nvmf_resv_store *st, const char *nqn, uint32_t nsid,
				   const uint8_t nguid[16], const uint8_t uuid[16])
{
	for (unsigned i = 0; i < st->nr; i++) {
		struct resv_rec *r = &st->recs[i];

		if (r->nsid == nsid && !strcmp(r->nqn, nqn) && !memcmp(r->nguid, nguid, 16) &&
		    !memcmp(r->uuid, uuid, 16))
			return r;
	}
	return NULL;
}

static void store_set_aside(struct nvmf_resv_store *st, unsigned lineno, const char *why)
{
	char damaged[PATH_MAX];

	snprintf(damaged, sizeof(damaged), "%s.damaged", st->path);
	if (rename(st->path, damaged))
		log_err("%s: line %u: %s; no reservation in it is restored (and it could not be renamed to %s: %s)",
			st->path, lineno, why, damaged, strerror(errno));
	else
		log_err("%s: line %u: %s; no reservation in it is restored; the file is kept as %s",
			st->path, lineno, why, damaged);
	st->nr = 0;
}

int nvmf_resv_store_open(struct nvmf_tgt *t, const char *cfg_file)
{
	struct nvmf_resv_store *st;
	struct resv_rec *rec;
	char *line = NULL;
	size_t cap = 0;
	unsigned lineno = 0;
	FILE *f;
	int rc = 0;

	if (!cfg_file)
		return 0;
	st = calloc(1, sizeof(*st));
	rec = malloc(sizeof(*rec));
	if (!st || !rec || asprintf(&st->path, "%s.resv", cfg_file) < 0) {
		free(st);
		free(rec);
		return -ENOMEM;
	}
	pthread_mutex_init(&st->lock, NULL);
	pthread_mutex_init(&st->write_lock, NULL);
	pthread_cond_init(&st->cond, NULL);
	t->resv_store = st;
	f = fopen(st->path, "re");
	if (!f) {
		if (errno != ENOENT)
			log_err("%s: %s; no reservation is restored", st->path, strerror(errno));
		free(rec);
		return 0;
	}
	while (getline(&line, &cap, f) > 0) {
		lineno++;
		if (lineno == 1) {
			if (strncmp(line, STATE_MAGIC, strlen(STATE_MAGIC))) {
				store_set_aside(st, lineno, "not a reservation state file of this version");
				break;
			}
			continue;
		}
		if (!parse_line(line, rec)) {
			store_set_aside(st, lineno, "damaged");
			break;
		}
		if (store_find(st, rec->nqn, rec->nsid, rec->nguid, rec->uuid)) {
			store_set_aside(st, lineno, "namespace listed twice");
			break;
		}
		rc = store_add(st, rec);
		if (rc)
			break;
	}
	if (!rc && ferror(f))
		log_err("%s: read error; reservations after line %u are not restored", st->path, lineno);
	fclose(f);
	free(line);
	free(rec);
	if (!rc && st->nr)
		log_notice("%s: persistent reservations of %u namespace(s) read", st->path, st->nr);
	return rc;
}

void nvmf_resv_store_close(struct nvmf_tgt *t)
{
	struct nvmf_resv_store *st = t->resv_store;

	if (!st)
		return;
	/* the writer finishes what waits for it, then ends */
	pthread_mutex_lock(&st->lock);
	st->stop = true;
	pthread_cond_signal(&st->cond);
	pthread_mutex_unlock(&st->lock);
	if (st->started)
		pthread_join(st->thread, NULL);
	pthread_cond_destroy(&st->cond);
	pthread_mutex_destroy(&st->write_lock);
	pthread_mutex_destroy(&st->lock);
	free(st->recs);
	free(st->path);
	free(st);
	t->resv_store = NULL;
}

/* The namespace's mutex held: its state into the store's records (or
 * out, when PTPL went off). true: the file must be written. */
static bool store_update(struct nvmf_ns *ns, bool was_ptpl)
{
	struct nvmf_resv_store *st = ns->subsys->tgt->resv_store;
	const struct nvmf_resv *r = ns->resv;
	struct resv_rec *rec;
	int rc = 0;

	if (!st || (!r->ptpl && !was_ptpl))
		return false;
	pthread_mutex_lock(&st->lock);
	rec = store_find(st, ns->subsys->nqn, ns->nsid, ns->nguid, ns->uuid);
	if (!r->ptpl) {
		if (rec)
			*rec = st->recs[--st->nr];
	} else {
		if (!rec) {
			struct resv_rec *n = calloc(1, sizeof(*n));

			if (!n) {
				rc = -ENOMEM;
			} else {
				snprintf(n->nqn, sizeof(n->nqn), "%s", ns->subsys->nqn);
				n->nsid = ns->nsid;
				memcpy(n->nguid, ns->nguid, 16);
				memcpy(n->uuid, ns->uuid, 16);
				rc = store_add(st, n);
				free(n);
				if (!rc)
					rec = &st->recs[st->nr - 1];
			}
		}
		if (rec) {
			rec->gen = r->gen;
			rec->rtype = r->rtype;
			memcpy(rec->holder, r->holder, 16);
			rec->nr = r->nr;
			memcpy(rec->regs, r->regs, r->nr * sizeof(r->regs[0]));
		}
	}
	pthread_mutex_unlock(&st->lock);
	if (rc)
		log_err("%s: out of memory: the reservations of namespace %u of %s are not saved; they hold until the daemon stops",
			st->path, ns->nsid, ns->subsys->nqn);
	return !rc;
}

/* Write the file now, on the calling thread (the admin path, or when the
 * writer thread cannot take it) */
static void flush_now(struct nvmf_resv_store *st)
{
	int rc = store_flush(st);

	if (rc)
		log_err("%s: cannot write the persistent reservations: %s; the changes hold until the daemon stops",
			st->path, strerror(-rc));
}

/* --- namespaces ----------------------------------------------------------------------- */

int nvmf_resv_ns_init(struct nvmf_tgt *t, struct nvmf_ns *ns)
{
	struct nvmf_resv_store *st = t->resv_store;
	struct nvmf_resv *r;

	ns->oncs &= (uint16_t)~NVME_ONCS_RESV;  /* a device's own are not exported */
	ns->id.rescap = 0;
	if (ns->cfg && ns->cfg->no_resv)
		return 0;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	pthread_mutex_init(&r->lock, NULL);
	ns->resv = r;
	ns->oncs |= NVME_ONCS_RESV;
	/* every type, IEKEY as of NVMe 1.3 (bit 7); PTPL when there is a file */
	ns->id.rescap = (uint8_t)(0x7eu | 0x80u | (st ? 1u : 0u));
	if (st) {
		const struct resv_rec *rec;

		pthread_mutex_lock(&st->lock);
		rec = store_find(st, ns->subsys->nqn, ns->nsid, ns->nguid, ns->uuid);
		if (rec) {
			r->ptpl = true;
			r->gen = rec->gen;
			r->nr = rec->nr;
			memcpy(r->regs, rec->regs, rec->nr * sizeof(rec->regs[0]));
			set_resv(r, rec->rtype, type_all_regs(rec->rtype) ? NULL : rec->holder);
			log_notice("namespace %u of %s: %u registrant(s) and %s restored from %s", ns->nsid,
				   ns->subsys->nqn, r->nr, r->rtype ? "a reservation" : "no reservation", st->path);
		}
		pthread_mutex_unlock(&st->lock);
	}
	return 0;
}

void nvmf_resv_ns_fini(struct nvmf_ns *ns)
{
	if (!ns->resv)
		return;
	pthread_mutex_destroy(&ns->resv->lock);
	free(ns->resv);
	ns->resv = NULL;
}

/* --- I/O ---------------------------------------------------------------------------------- */

uint16_t nvmf_resv_check_io(struct nvmf_ns *ns, const struct nvmf_req *req)
{
	struct nvmf_resv *r = ns->resv;
	const uint8_t *id = req->sq->ctrl->hostid;
	bool write, ok = true;

	switch (req->cmd.opc) {
	case NVME_CMD_WRITE:
	case NVME_CMD_WRITE_ZEROES:
	case NVME_CMD_WRITE_UNCOR:
	case NVME_CMD_DSM:
	case NVME_CMD_FLUSH:
		write = true;
		break;
	case NVME_CMD_READ:
	case NVME_CMD_COMPARE:
	case NVME_CMD_VERIFY:
		write = false;
		break;
	default:
		return 0;
	}
	pthread_mutex_lock(&r->lock);
	switch (r->rtype) {
	case NVMF_RTYPE_WE:
		ok = !write || holds(r, id);
		break;
	case NVMF_RTYPE_EA:
		ok = holds(r, id);
		break;
	case NVMF_RTYPE_WE_RO:
	case NVMF_RTYPE_WE_AR:
		ok = !write || find_reg(r, id) >= 0;
		break;
	case NVMF_RTYPE_EA_RO:
	case NVMF_RTYPE_EA_AR:
		ok = find_reg(r, id) >= 0;
		break;
	default:
		break;
	}
	pthread_mutex_unlock(&r->lock);
	return ok ? 0 : conflict();
}

/* --- the commands ------------------------------------------------------------------------ */

/* Remove registrant i; what that does to the reservation. */
static void unregister_at(struct nvmf_resv *r, unsigned i, struct notes *nt)
{
	uint8_t id[16];
	uint8_t t = r->rtype;

	memcpy(id, r->regs[i].hostid, 16);
	memmove(&r->regs[i], &r->regs[i + 1], (r->nr - i - 1) * sizeof(r->regs[0]));
	r->nr--;
	if (!t)
		return;
	if (type_all_regs(t)) {
		if (!r->nr)             /* held by all registrants: the last one left */
			set_resv(r, 0, NULL);
		return;
	}
	if (memcmp(r->holder, id, 16))
		return;
	set_resv(r, 0, NULL);
	if (type_reg_only(t))
		note_registrants(nt, r, id, NVMF_RESV_LOG_RESV_RELEASED);
}

/* Unregister the hosts with key k (others: all but the caller), each told
 * its registration was preempted. The number removed. */
static unsigned unregister_key(struct nvmf_resv *r, uint64_t k, bool any_key, const uint8_t caller[16],
			       bool spare_caller, struct notes *nt)
{
	unsigned n = 0;

	for (unsigned i = 0; i < r->nr;) {
		bool me = !memcmp(r->regs[i].hostid, caller, 16);
		uint8_t id[16];

		if ((!any_key && r->regs[i].key != k) || (me && spare_caller)) {
			i++;
			continue;
		}
		memcpy(id, r->regs[i].hostid, 16);
		unregister_at(r, i, nt);
		if (!me)
			note(nt, r, id, NVMF_RESV_LOG_REG_PREEMPTED);
		n++;
	}
	return n;
}

static uint16_t do_register(struct nvmf_resv *r, const uint8_t id[16], uint32_t cdw10, const uint64_t d[2],
			    struct notes *nt)
{
	unsigned act = cdw10 & 7u, cptpl = cdw10 >> 30;
	bool iekey = cdw10 & (1u << 3);
	int i = find_reg(r, id);

	if (cptpl == 1)
		return invalid_field();
	switch (act) {
	case 0:         /* register */
		if (i >= 0) {
			if (r->regs[i].key != d[1])
				return conflict();
			break;
		}
		if (r->nr == NVMF_RESV_MAX_REGS) {
			log_warn("registrant limit (%u) reached", NVMF_RESV_MAX_REGS);
			return nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_CAP_EXCEEDED);
		}
		memcpy(r->regs[r->nr].hostid, id, 16);
		r->regs[r->nr].key = d[1];
		r->nr++;
		break;
	case 1:         /* unregister */
		if (i < 0 || (!iekey && r->regs[i].key != d[0]))
			return conflict();
		unregister_at(r, (unsigned)i, nt);
		break;
	case 2:         /* replace; a host not registered may register this way with IEKEY */
		if (i < 0 && iekey) {
			if (r->nr == NVMF_RESV_MAX_REGS)
				return nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_CAP_EXCEEDED);
			memcpy(r->regs[r->nr].hostid, id, 16);
			r->regs[r->nr].key = d[1];
			r->nr++;
			break;
		}
		if (i < 0 || (!iekey && r->regs[i].key != d[0]))
			return conflict();
		r->regs[i].key = d[1];
		break;
	default:
		return invalid_field();
	}
	if (cptpl == 2)
		r->ptpl = false;
	else if (cptpl == 3)
		r->ptpl = true;
	r->gen++;
	return 0;
}

static uint16_t do_preempt(struct nvmf_resv *r, const uint8_t id[16], uint8_t rtype, uint64_t prkey,
			   struct notes *nt)
{
	uint8_t old = r->rtype;
	int h;

	if (!old)
		return unregister_key(r, prkey, false, id, false, nt) ? 0 : conflict();
	if (type_all_regs(old)) {
		if (prkey)
			return unregister_key(r, prkey, false, id, false, nt) ? 0 : conflict();
		/* the caller first becomes the holder, then the others go */
		set_resv(r, rtype, type_all_regs(rtype) ? NULL : id);
		unregister_key(r, 0, true, id, true, nt);
		return 0;
	}
	/* PRKEY is the holder's (the caller's own too: a change of type) */
	h = find_reg(r, r->holder);
	if (h >= 0 && r->regs[h].key == prkey) {
		set_resv(r, rtype, type_all_regs(rtype) ? NULL : id);
		unregister_key(r, prkey, false, id, true, nt);
		if (old != rtype)
			note_registrants(nt, r, id, NVMF_RESV_LOG_RESV_RELEASED);
		return 0;
	}
	if (!prkey)
		return invalid_field();
	return unregister_key(r, prkey, false, id, false, nt) ? 0 : conflict();
}

static uint16_t do_acquire(struct nvmf_resv *r, const uint8_t id[16], uint32_t cdw10, const uint64_t d[2],
			   struct notes *nt)
{
	unsigned act = cdw10 & 7u;
	uint8_t rtype = (uint8_t)(cdw10 >> 8);
	int i;
	uint16_t st;

	if ((cdw10 & (1u << 3)) || rtype < NVMF_RTYPE_WE || rtype > NVMF_RTYPE_EA_AR || act > 2)
		return invalid_field();
	i = find_reg(r, id);
	if (i < 0 || r->regs[i].key != d[0])
		return conflict();
	if (act == 0) {
		if (!r->rtype) {
			set_resv(r, rtype, type_all_regs(rtype) ? NULL : id);
			return 0;
		}
		return holds(r, id) && r->rtype == rtype ? 0 : conflict();
	}
	/* preempt, and preempt and abort (nothing of ours waits to be aborted) */
	st = do_preempt(r, id, rtype, d[1], nt);
	if (!st)
		r->gen++;
	return st;
}

static uint16_t do_release(struct nvmf_resv *r, const uint8_t id[16], uint32_t cdw10, uint64_t crkey,
			   struct notes *nt, bool *changed)
{
	unsigned act = cdw10 & 7u;
	uint8_t rtype = (uint8_t)(cdw10 >> 8), old = r->rtype;
	int i;

	if ((cdw10 & (1u << 3)) || act > 1)
		return invalid_field();
	i = find_reg(r, id);
	if (i < 0 || r->regs[i].key != crkey)
		return conflict();
	if (act == 1) {         /* clear */
		note_registrants(nt, r, id, NVMF_RESV_LOG_RESV_PREEMPTED);
		r->nr = 0;
		set_resv(r, 0, NULL);
		r->gen++;
		*changed = true;
		return 0;
	}
	if (!holds(r, id))
		return 0;               /* nothing of the caller's to release */
	if (rtype != old)
		return invalid_field();
	set_resv(r, 0, NULL);
	*changed = true;
	if (old != NVMF_RTYPE_WE && old != NVMF_RTYPE_EA)
		note_registrants(nt, r, id, NVMF_RESV_LOG_RESV_RELEASED);
	return 0;
}

/* Reservation Report: always the extended data structure */
static uint16_t do_report(struct nvmf_resv *r, struct nvmf_req *req)
{
	uint64_t want = ((uint64_t)le32_to_cpu(req->cmd.cdw10) + 1) * 4;
	uint8_t page[64 + 64 * NVMF_RESV_MAX_REGS];
	uint16_t regctl = (uint16_t)r->nr;
	size_t len = 64 + 64 * (size_t)r->nr;

	if (!(le32_to_cpu(req->cmd.cdw11) & 1u))
		/* fabrics Host Identifiers are 128-bit: only EDS=1 can carry them */
		return nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_HOST_ID_INCONSIST);
	if (req->xfer != NVMF_XFER_C2H || !req->buf)
		return invalid_field();
	memset(page, 0, sizeof(page));
	put_le32(page, r->gen);
	page[4] = r->rtype;
	put_le16(page + 5, regctl);
	page[9] = r->ptpl;
	for (unsigned i = 0; i < r->nr; i++) {
		uint8_t *e = page + 64 + 64 * i;

		put_le16(e, 0xffff);    /* dynamic controllers: the host's registration */
		e[2] = holds(r, r->regs[i].hostid) ? 1 : 0;
		put_le64(e + 8, r->regs[i].key);
		memcpy(e + 16, r->regs[i].hostid, 16);
	}
	if (len > want)
		len = (size_t)want;
	if (len > req->len)
		len = req->len;
	memset(req->buf, 0, req->len);
	memcpy(req->buf, page, len);
	return 0;
}

bool nvmf_resv_exec(struct nvmf_ns *ns, struct nvmf_req *req)
{
	struct nvmf_resv *r = ns->resv;
	const uint8_t *id = req->sq->ctrl->hostid;
	struct notes nt = { .n = 0 };
	uint64_t d[2] = { 0, 0 };
	uint8_t opc = req->cmd.opc;
	uint32_t gen;
	bool changed = false, was_ptpl, write = false;
	uint16_t st;

	if (opc != NVME_CMD_RESV_REGISTER && opc != NVME_CMD_RESV_REPORT && opc != NVME_CMD_RESV_ACQUIRE &&
	    opc != NVME_CMD_RESV_RELEASE)
		return false;
	if (!r) {
		nvmf_req_complete(req, nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE));
		return true;
	}
	if (opc != NVME_CMD_RESV_REPORT) {
		uint32_t need = opc == NVME_CMD_RESV_RELEASE ? 8 : 16;

		if (req->xfer != NVMF_XFER_H2C || req->len < need || !req->buf) {
			nvmf_req_complete(req, nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_DATA));
			return true;
		}
		/* CRKEY (or the only key), then NRKEY or PRKEY */
		for (uint32_t i = 0; i < need / 8; i++)
			d[i] = get_le64((const uint8_t *)req->buf + 8 * i);
	}
	/* PTPL needs the state file */
	if (opc == NVME_CMD_RESV_REGISTER && le32_to_cpu(req->cmd.cdw10) >> 30 == 3 && !ns->subsys->tgt->resv_store) {
		nvmf_req_complete(req, invalid_field());
		return true;
	}
	pthread_mutex_lock(&r->lock);
	gen = r->gen;
	was_ptpl = r->ptpl;
	switch (opc) {
	case NVME_CMD_RESV_REGISTER:
		st = do_register(r, id, le32_to_cpu(req->cmd.cdw10), d, &nt);
		break;
	case NVME_CMD_RESV_ACQUIRE: {
		uint8_t old = r->rtype;
		uint8_t holder[16];

		memcpy(holder, r->holder, 16);
		st = do_acquire(r, id, le32_to_cpu(req->cmd.cdw10), d, &nt);
		changed = r->rtype != old || memcmp(holder, r->holder, 16);
		break;
	}
	case NVME_CMD_RESV_RELEASE:
		st = do_release(r, id, le32_to_cpu(req->cmd.cdw10), d[0], &nt, &changed);
		break;
	default:
		st = do_report(r, req);
		break;
	}
	if (!st && (changed || r->gen != gen || r->ptpl != was_ptpl))
		write = store_update(ns, was_ptpl);
	pthread_mutex_unlock(&r->lock);
	notify(ns, &nt);
	/* a PTPL namespace's change completes once it is in the file */
	if (write) {
		struct nvmf_resv_store *store = ns->subsys->tgt->resv_store;

		if (write_later(store, req))
			return true;
		flush_now(store);
	}
	nvmf_req_complete(req, st);
	return true;
}

/* --- features (admin, tgt->lock held) ----------------------------------------------------- */

uint16_t nvmf_resv_feature(struct nvmf_req *req, bool set)
{
	struct nvmf_subsys *s = req->sq->ctrl->subsys;
	uint8_t fid = le32_to_cpu(req->cmd.cdw10) & 0xff;
	uint32_t nsid = le32_to_cpu(req->cmd.nsid), v = le32_to_cpu(req->cmd.cdw11);
	struct nvmf_ns *ns;
	bool write = false;

	if (fid == NVME_FEAT_RESV_MASK && set && nsid == 0xffffffffu) {
		const struct nvmf_ns_table *nt = nvmf_subsys_ns(s);

		if (v & ~0xeu)
			return invalid_field();
		for (unsigned i = 0; i < nt->nr; i++) {
			struct nvmf_resv *r = nt->ns[i]->resv;

			if (r) {
				pthread_mutex_lock(&r->lock);
				r->mask = v;
				pthread_mutex_unlock(&r->lock);
			}
		}
		req->rsp.dw0 = cpu_to_le32(v);
		return 0;
	}
	ns = nvmf_subsys_find_ns(s, nsid);
	if (!ns)
		return nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_INVALID_NS);
	if (!ns->resv)
		return invalid_field();
	pthread_mutex_lock(&ns->resv->lock);
	if (fid == NVME_FEAT_RESV_MASK) {
		if (set) {
			if (v & ~0xeu) {
				pthread_mutex_unlock(&ns->resv->lock);
				return invalid_field();
			}
			ns->resv->mask = v;
		}
		req->rsp.dw0 = cpu_to_le32(ns->resv->mask);
	} else {
		if (set && (v & 1u) != ns->resv->ptpl) {
			bool was = ns->resv->ptpl;

			if ((v & 1u) && !s->tgt->resv_store) {
				pthread_mutex_unlock(&ns->resv->lock);
				return invalid_field();
			}
			ns->resv->ptpl = v & 1u;
			write = store_update(ns, was);
		}
		req->rsp.dw0 = cpu_to_le32(ns->resv->ptpl);
	}
	pthread_mutex_unlock(&ns->resv->lock);
	if (write)
		flush_now(s->tgt->resv_store);
	return 0;
}
