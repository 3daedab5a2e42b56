/* SPDX-License-Identifier: MIT */
/*
 * In-band authentication: DH-HMAC-CHAP (NVMe Base 2.0 section 8.13.5) over
 * Authentication Send and Receive, on the admin and every I/O queue.
 *
 * A host whose hosts[] entry carries a key gets AUTHREQ.ATR in each
 * Connect response; until the queue is authenticated it runs fabrics
 * commands only (everything else gets Authentication Required). One
 * transaction per queue, driven by the host:
 *
 *   Send     Negotiate   hash and DH group chosen      -> Challenge
 *   Receive  Challenge   C1, S1 and our g^x            -> Reply
 *   Send     Reply       R1 checked; C2, S2 if the host wants the
 *                        controller authenticated too   -> Success1
 *   Receive  Success1    R2 when asked for              -> Success2 or done
 *   Send     Success2    the host accepted R2           -> done
 *
 * A failure on our side moves the queue to Failure1, answered on the next
 * Receive; the queue stays unauthenticated and the host (which gives up on
 * a failure) disconnects. A queue may authenticate again at any time with
 * a new Negotiate, and keeps working while it does. Keys are read from the
 * configuration at Negotiate, so a reload that rotates them applies to
 * the next authentication and leaves authenticated queues alone.
 *
 * Everything here runs on the control path with tgt->lock held.
 */
#define LOG_TAG "auth"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "nvme/auth.h"
#include "target/target.h"

struct nvmf_auth {
	uint8_t step;                 /* the message expected next */
	uint8_t fail;                 /* Failure1's explanation */
	uint16_t tid;
	uint8_t hash, dhgid;
	uint8_t hl;
	bool c2_valid;
	uint32_t s1, s2;
	uint8_t c1[DHCHAP_MAX_HASH_LEN], c2[DHCHAP_MAX_HASH_LEN];
	void *dh;                     /* our private DH value */
	uint16_t sess_len;
	uint8_t sess[DHCHAP_MAX_DH_LEN];
	struct cfg_dhchap keys;       /* the host's keys as of Negotiate */
	/* a DH computation on the worker thread, and the command it answers */
	uint8_t job;                  /* JOB_GENERATE (Challenge) or JOB_DERIVE (Reply) */
	int job_rc;
	bool orphan;                  /* its queue went away meanwhile: free when done */
	struct nvmf_req *pending;
	struct nvmf_tgt *t;
	struct nvmf_reactor *reactor; /* where the answer is finished */
	struct nvmf_auth *job_next;
	struct nvmf_msg msg;
	uint8_t pub[DHCHAP_MAX_DH_LEN]; /* ours (generate) or the host's (derive) */
};

enum { JOB_NONE, JOB_GENERATE, JOB_DERIVE };

/*
 * FFDHE costs milliseconds (ffdhe2048) to a tenth of a second (ffdhe8192)
 * per exchange on this kind of machine: far too long for a reactor that
 * serves I/O. The exponentiations run on one worker thread; the command
 * waits (like one in a backend) and is answered on its reactor when the
 * result is back. AUTH_JOBS_MAX bounds what hosts can queue there, and
 * AUTH_TRIES_MAX how many exchanges a queue may start before it is
 * authenticated (the controller is released at connect_timeout_ms anyway).
 */
#define AUTH_JOBS_MAX 16
#define AUTH_TRIES_MAX 4

struct nvmf_auth_worker {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct nvmf_auth *head, *tail;
	bool stop;
	unsigned jobs;                /* queued or running (tgt->lock) */
};

static uint32_t seqnum;       /* S1 of every challenge: nonzero, never repeated soon */

static uint32_t next_seqnum(void)
{
	if (!seqnum && dhchap_random(&seqnum, sizeof(seqnum)))
		seqnum = 1;
	if (!++seqnum)
		seqnum = 1;
	return seqnum;
}

static void auth_release(struct nvmf_auth *a)
{
	dhchap_dh_free(a->dh);
	dhchap_wipe(a, sizeof(*a));
	free(a);
}

void nvmf_auth_free(struct nvmf_sq *sq)
{
	struct nvmf_auth *a = sq->auth;

	if (!a)
		return;
	sq->auth = NULL;
	if (a->pending)         /* the worker still has it: it goes when the job is done */
		a->orphan = true;
	else
		auth_release(a);
}

static void *worker_main(void *arg)
{
	struct nvmf_auth_worker *w = arg;

	pthread_setname_np(pthread_self(), "nvmfb-auth");
	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct nvmf_auth *a;
		size_t len;

		while (!w->head && !w->stop)
			pthread_cond_wait(&w->cond, &w->lock);
		if (w->stop)
			break;
		a = w->head;
		w->head = a->job_next;
		if (!w->head)
			w->tail = NULL;
		pthread_mutex_unlock(&w->lock);
		len = dhchap_dh_len(a->dhgid);
		if (a->job == JOB_GENERATE)
			a->job_rc = (a->dh = dhchap_dh_generate(a->dhgid, a->pub)) ? 0 : -1;
		else
			a->job_rc = dhchap_dh_derive(a->dh, a->pub, len, a->sess, len);
		nvmf_reactor_post(a->reactor, &a->msg);
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

void nvmf_auth_fini(struct nvmf_tgt *t)
{
	struct nvmf_auth_worker *w = t->auth_worker;

	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	/* jobs never run belong to queues long gone: nothing answers them */
	while (w->head) {
		struct nvmf_auth *a = w->head;

		w->head = a->job_next;
		auth_release(a);
	}
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w);
	t->auth_worker = NULL;
}

static void job_done(void *arg);

/* Hand a DH computation to the worker; the request is answered by
 * job_done. false when the worker is saturated (or cannot start). */
static bool submit(struct nvmf_sq *sq, struct nvmf_auth *a, struct nvmf_req *req, uint8_t job)
{
	struct nvmf_tgt *t = sq->port->tgt;
	struct nvmf_auth_worker *w = t->auth_worker;

	if (!w) {
		w = calloc(1, sizeof(*w));
		if (!w)
			return false;
		pthread_mutex_init(&w->lock, NULL);
		pthread_cond_init(&w->cond, NULL);
		if (pthread_create(&w->thread, NULL, worker_main, w)) {
			pthread_cond_destroy(&w->cond);
			pthread_mutex_destroy(&w->lock);
			free(w);
			log_err("cannot start the authentication worker thread");
			return false;
		}
		t->auth_worker = w;
	}
	if (w->jobs >= AUTH_JOBS_MAX)
		return false;
	w->jobs++;
	a->job = job;
	a->pending = req;
	a->t = t;
	a->reactor = sq->reactor ? sq->reactor : &t->reactors[0];
	a->msg = (struct nvmf_msg){ .fn = job_done, .arg = a };
	a->job_next = NULL;
	pthread_mutex_lock(&w->lock);
	if (w->tail)
		w->tail->job_next = a;
	else
		w->head = a;
	w->tail = a;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	return true;
}

bool nvmf_auth_needed(const struct nvmf_subsys *s, const char *hostnqn)
{
	const struct cfg_host *h;

	/* as nvmet: the discovery controller does not authenticate */
	if (s->type == NVMF_SUBSYS_DISCOVERY)
		return false;
	h = cfg_find_host(s->tgt->cfg, hostnqn);
	return h && h->dhchap.key[0];
}

static void fail(struct nvmf_sq *sq, struct nvmf_auth *a, uint8_t why, const char *what)
{
	struct nvmf_ctrl *c = sq->ctrl;

	log_peer_notice(sq->peer_ip, "controller %u of %s, queue %u: DH-HMAC-CHAP with host %s failed: %s",
			c->cntlid, c->subsys->nqn, sq->qid, c->hostnqn, what);
	nvmf_count_refused(c->subsys->tgt, NVMF_REFUSE_AUTH_FAILED);
	a->step = NVMF_AUTH_FAILURE1;
	a->fail = why;
	dhchap_dh_free(a->dh);
	a->dh = NULL;
	sq->authed = false;
	/* the controller has this long to try again before it is released */
	c->auth_deadline_ns = reactor_now_ns() + (uint64_t)c->subsys->tgt->limits.connect_timeout_ms * 1000000u;
}

/* --- Authentication Send: Negotiate, Reply, Success2, Failure2 ------------- */

/* the wanted identifier when offered, else the first usable one, else 0xff */
static uint8_t pick(const uint8_t *ids, unsigned n, uint8_t want, unsigned min_id, unsigned max_id)
{
	int first = -1;

	for (unsigned i = 0; i < n; i++) {
		if (ids[i] == want)
			return want;
		if (first < 0 && ids[i] >= min_id && ids[i] <= max_id)
			first = ids[i];
	}
	return first < 0 ? 0xff : (uint8_t)first;
}

static void negotiate(struct nvmf_sq *sq, const uint8_t *d, uint32_t tl)
{
	const struct nvmf_auth_negotiate *n = (const void *)d;
	const struct nvmf_auth_protocol_desc *p = NULL;
	struct nvmf_ctrl *c = sq->ctrl;
	const struct cfg_host *h = cfg_find_host(c->subsys->tgt->cfg, c->hostnqn);
	struct nvmf_auth *a = sq->auth;

	/* a new Negotiate starts over, whatever state the last one left */
	if (!a && !(a = sq->auth = calloc(1, sizeof(*a)))) {
		log_err("no memory for an authentication transaction");
		return;
	}
	dhchap_dh_free(a->dh);
	memset(a, 0, sizeof(*a));
	a->tid = le16_to_cpu(n->t_id);
	if (!sq->authed && ++sq->auth_tries > AUTH_TRIES_MAX) {
		fail(sq, a, NVMF_AUTH_FAIL_NOT_USABLE, "too many attempts on this queue");
		return;
	}
	if (!h || !h->dhchap.key[0]) {
		fail(sq, a, NVMF_AUTH_FAIL_NOT_USABLE, "the host has no key any more (configuration reloaded)");
		return;
	}
	a->keys = h->dhchap;
	if (n->sc_c) {
		fail(sq, a, NVMF_AUTH_FAIL_CONCAT_MISMATCH, "secure channel concatenation is not supported");
		return;
	}
	for (unsigned i = 0; i < n->napd && sizeof(*n) + (i + 1) * sizeof(*p) <= tl; i++)
		if (n->proto[i].authid == NVMF_AUTH_DHCHAP_AUTHID) {
			p = &n->proto[i];
			break;
		}
	if (!p || p->halen > NVMF_AUTH_MAX_HASH_IDS || p->dhlen > NVMF_AUTH_MAX_DH_IDS) {
		fail(sq, a, NVMF_AUTH_FAIL_INCORRECT_PAYLOAD, "Negotiate offers no valid DH-HMAC-CHAP descriptor");
		return;
	}
	/* the configured hash when offered, else the host's first usable */
	a->hash = pick(p->idlist, p->halen, a->keys.hash, DHCHAP_SHA256, DHCHAP_SHA512);
	if (a->hash == 0xff) {
		fail(sq, a, NVMF_AUTH_FAIL_HASH_UNUSABLE, "the host offers no SHA-2 hash");
		return;
	}
	/* the configured group and no other: neither a weaker one, nor a
	 * dearer one a host that has not proven anything yet would pick */
	a->dhgid = a->keys.dhgroup;
	if (!memchr(p->idlist + NVMF_AUTH_MAX_HASH_IDS, a->dhgid, p->dhlen)) {
		fail(sq, a, NVMF_AUTH_FAIL_DHGROUP_UNUSABLE, "the host does not offer the configured DH group");
		return;
	}
	a->hl = (uint8_t)dhchap_hash_len(a->hash);
	a->step = NVMF_AUTH_CHALLENGE;
}

/* Reply, once the DH secret (if any) is known: check R1, note C2 */
static void reply_check(struct nvmf_sq *sq, struct nvmf_auth *a, bool cvalid, uint32_t s2, const uint8_t *r1,
			const uint8_t *c2)
{
	struct nvmf_ctrl *c = sq->ctrl;
	uint8_t tkey[DHCHAP_MAX_HASH_LEN], chal[DHCHAP_MAX_HASH_LEN], want[DHCHAP_MAX_HASH_LEN];
	size_t tkey_len;
	int bad;

	memcpy(chal, a->c1, a->hl);
	if (a->sess_len && dhchap_augment(a->hash, a->sess, a->sess_len, a->c1, chal)) {
		fail(sq, a, NVMF_AUTH_FAIL_FAILED, "internal error (augmented challenge)");
		return;
	}
	if (dhchap_transform(&a->keys.host, c->hostnqn, tkey, &tkey_len) ||
	    dhchap_response(a->hash, tkey, tkey_len, chal, a->s1, a->tid, 0, false, c->hostnqn, c->subsys->nqn,
			    want)) {
		dhchap_wipe(tkey, sizeof(tkey));
		fail(sq, a, NVMF_AUTH_FAIL_FAILED, "internal error (host response)");
		return;
	}
	dhchap_wipe(tkey, sizeof(tkey));
	bad = dhchap_memcmp(want, r1, a->hl);
	dhchap_wipe(want, sizeof(want));
	if (bad) {
		fail(sq, a, NVMF_AUTH_FAIL_FAILED, "wrong response (the host's key differs)");
		return;
	}
	/* S2 = 0 asks for no controller authentication even with C2 */
	a->c2_valid = cvalid && s2;
	if (a->c2_valid && !a->keys.ctrl_key[0]) {
		fail(sq, a, NVMF_AUTH_FAIL_FAILED,
		     "the host asks to authenticate the controller, but hosts[].dhchap.ctrl_key is not set");
		return;
	}
	if (a->c2_valid) {
		a->s2 = s2;
		memcpy(a->c2, c2, a->hl);
	} else {
		sq->authed = true;
	}
	a->step = NVMF_AUTH_SUCCESS1;
}

/* Reply: true when the answer waits for the worker (the DH secret) */
static bool reply(struct nvmf_sq *sq, struct nvmf_auth *a, struct nvmf_req *req, const uint8_t *d, uint32_t tl)
{
	const struct nvmf_auth_reply *r = (const void *)d;
	size_t dhlen = dhchap_dh_len(a->dhgid);

	if (tl < sizeof(*r) || r->hl != a->hl || tl < sizeof(*r) + 2u * r->hl + le16_to_cpu(r->dhvlen)) {
		fail(sq, a, NVMF_AUTH_FAIL_INCORRECT_PAYLOAD, "malformed Reply");
		return false;
	}
	if (le16_to_cpu(r->dhvlen) != dhlen) {
		fail(sq, a, NVMF_AUTH_FAIL_INCORRECT_PAYLOAD, "Reply carries a DH value of the wrong size");
		return false;
	}
	if (!dhlen) {
		reply_check(sq, a, r->cvalid, le32_to_cpu(r->seqnum), r->rval, r->rval + a->hl);
		return false;
	}
	/* what reply_check needs once the secret is back: the request's
	 * data stays with it until it is answered */
	memcpy(a->pub, r->rval + 2 * a->hl, dhlen);
	if (submit(sq, a, req, JOB_DERIVE))
		return true;
	fail(sq, a, NVMF_AUTH_FAIL_NOT_USABLE, "too many DH-HMAC-CHAP exchanges in progress, try again");
	return false;
}

static void authenticated(struct nvmf_sq *sq)
{
	struct nvmf_ctrl *c = sq->ctrl;
	struct nvmf_auth *a = sq->auth;

	sq->authed = true;
	sq->auth_tries = 0;
	if (sq->qid == 0)
		log_peer_info(sq->peer_ip, "controller %u of %s: host %s authenticated (%s, %s%s)", c->cntlid,
			      c->subsys->nqn, c->hostnqn, dhchap_hash_name(a->hash), dhchap_dhgroup_name(a->dhgid),
			      a->c2_valid ? ", controller authenticated too" : "");
	nvmf_auth_free(sq);
}

/* the checks both directions share; 0 or the status that ends the command */
static uint16_t auth_cmd_check(struct nvmf_req *req, uint32_t min_len)
{
	const struct nvmf_auth_cmd *cmd = (const void *)&req->cmd;
	struct nvmf_sq *sq = req->sq;

	if (!sq->ctrl)
		return nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_CMD_SEQ_ERROR);
	if (cmd->secp != NVMF_AUTH_SECP_DHCHAP || cmd->spsp0 != NVMF_AUTH_SPSP || cmd->spsp1 != NVMF_AUTH_SPSP ||
	    !le32_to_cpu(cmd->len))
		return nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);
	if (req->len != le32_to_cpu(cmd->len) || !req->buf || le32_to_cpu(cmd->len) < min_len)
		return nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_DATA);
	/* nothing to authenticate here, or one command of the queue is
	 * still waiting for the worker (the Linux host sends one at a time) */
	if (!sq->ctrl->auth || (sq->auth && sq->auth->pending))
		return nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_CMD_SEQ_ERROR);
	return 0;
}

void nvmf_exec_auth_send(struct nvmf_req *req)
{
	struct nvmf_sq *sq = req->sq;
	const uint8_t *d = req->buf;
	struct nvmf_auth *a;
	uint32_t tl = le32_to_cpu(((const struct nvmf_auth_cmd *)&req->cmd)->len);
	uint16_t st = auth_cmd_check(req, 2);

	if (st) {
		nvmf_req_complete(req, st);
		return;
	}
	if (d[0] == NVMF_AUTH_COMMON && d[1] == NVMF_AUTH_NEGOTIATE) {
		if (tl < sizeof(struct nvmf_auth_negotiate)) {
			nvmf_req_complete(req, nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD));
			return;
		}
		negotiate(sq, d, tl);
		nvmf_req_complete(req, sq->auth ? 0 : NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INTERNAL));
		return;
	}
	a = sq->auth;
	if (d[1] == NVMF_AUTH_FAILURE2 && (d[0] == NVMF_AUTH_COMMON || d[0] == NVMF_AUTH_DHCHAP)) {
		/* the host gave up (it did not accept our response, say) */
		const struct nvmf_auth_failure *f = (const void *)d;

		if (a) {
			fail(sq, a, tl >= sizeof(*f) ? f->rescode_exp : 0, "the host sent Failure2");
			nvmf_auth_free(sq);
		}
		sq->authed = false;
		nvmf_req_complete(req, 0);
		return;
	}
	if (!a || d[0] != NVMF_AUTH_DHCHAP || d[1] != a->step || tl < 6) {
		if (!a && !(a = sq->auth = calloc(1, sizeof(*a)))) {
			nvmf_req_complete(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INTERNAL));
			return;
		}
		fail(sq, a, NVMF_AUTH_FAIL_INCORRECT_PROTOCOL, "message out of sequence");
		nvmf_req_complete(req, 0);
		return;
	}
	if (le16_to_cpu(((const struct nvmf_auth_success2 *)d)->t_id) != a->tid) {
		fail(sq, a, NVMF_AUTH_FAIL_INCORRECT_PAYLOAD, "wrong transaction identifier");
		nvmf_req_complete(req, 0);
		return;
	}
	if (a->step == NVMF_AUTH_REPLY) {
		if (reply(sq, a, req, d, tl))
			return;         /* answered by job_done */
	} else {                /* Success2: the host accepted our response */
		authenticated(sq);
	}
	nvmf_req_complete(req, 0);
}

/* --- Authentication Receive: Challenge, Success1, Failure1 ----------------- */

/* the Challenge, with our public value when a group is used (a->pub) */
static void challenge_build(struct nvmf_auth *a, uint8_t *d)
{
	struct nvmf_auth_challenge *ch = (void *)d;
	size_t dhlen = dhchap_dh_len(a->dhgid);

	ch->auth_type = NVMF_AUTH_DHCHAP;
	ch->auth_id = NVMF_AUTH_CHALLENGE;
	ch->t_id = cpu_to_le16(a->tid);
	ch->hl = a->hl;
	ch->hashid = a->hash;
	ch->dhgid = a->dhgid;
	ch->dhvlen = cpu_to_le16((uint16_t)dhlen);
	ch->seqnum = cpu_to_le32(a->s1);
	memcpy(ch->cval, a->c1, a->hl);
	memcpy(ch->cval + a->hl, a->pub, dhlen);
	a->step = NVMF_AUTH_REPLY;
}

static uint16_t success1(struct nvmf_sq *sq, struct nvmf_auth *a, uint8_t *d, uint32_t al)
{
	struct nvmf_auth_success1 *s = (void *)d;
	struct nvmf_ctrl *c = sq->ctrl;
	uint8_t tkey[DHCHAP_MAX_HASH_LEN], chal[DHCHAP_MAX_HASH_LEN];
	size_t tkey_len;
	int ret;

	if (al < sizeof(*s) + (a->c2_valid ? a->hl : 0))
		return nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);
	s->auth_type = NVMF_AUTH_DHCHAP;
	s->auth_id = NVMF_AUTH_SUCCESS1;
	s->t_id = cpu_to_le16(a->tid);
	s->hl = a->hl;
	if (!a->c2_valid) {
		authenticated(sq);
		return 0;
	}
	memcpy(chal, a->c2, a->hl);
	ret = a->sess_len ? dhchap_augment(a->hash, a->sess, a->sess_len, a->c2, chal) : 0;
	if (!ret)
		ret = dhchap_transform(&a->keys.ctrl, c->subsys->nqn, tkey, &tkey_len);
	if (!ret)
		ret = dhchap_response(a->hash, tkey, tkey_len, chal, a->s2, a->tid, 0, true, c->subsys->nqn,
				      c->hostnqn, s->rval);
	dhchap_wipe(tkey, sizeof(tkey));
	if (ret)
		return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INTERNAL);
	s->rvalid = 1;
	a->step = NVMF_AUTH_SUCCESS2;
	return 0;
}

/* Answer a Receive: a status that went wrong becomes Failure1 too, which
 * ends the transaction */
static void recv_answer(struct nvmf_sq *sq, struct nvmf_req *req, uint16_t st)
{
	struct nvmf_auth *a = sq->auth;
	uint8_t *d = req->buf;

	if (a && st) {
		memset(d, 0, req->len);
		fail(sq, a, NVMF_AUTH_FAIL_FAILED, "could not build the message");
	}
	if (a && a->step == NVMF_AUTH_FAILURE1) {
		struct nvmf_auth_failure *f = (void *)d;

		f->auth_type = NVMF_AUTH_COMMON;
		f->auth_id = NVMF_AUTH_FAILURE1;
		f->t_id = cpu_to_le16(a->tid);
		f->rescode = NVMF_AUTH_RESCODE_FAILED;
		f->rescode_exp = a->fail;
		nvmf_auth_free(sq);
		st = 0;
	}
	nvmf_req_complete(req, st);
}

void nvmf_exec_auth_recv(struct nvmf_req *req)
{
	struct nvmf_sq *sq = req->sq;
	struct nvmf_auth *a;
	uint8_t *d = req->buf;
	uint32_t al = le32_to_cpu(((const struct nvmf_auth_cmd *)&req->cmd)->len);
	uint16_t st = auth_cmd_check(req, sizeof(struct nvmf_auth_failure));

	if (st) {
		nvmf_req_complete(req, st);
		return;
	}
	memset(d, 0, al);
	a = sq->auth;
	if (!a) {       /* nothing negotiated: a Failure1 says so */
		struct nvmf_auth_failure *f = (void *)d;

		f->auth_type = NVMF_AUTH_COMMON;
		f->auth_id = NVMF_AUTH_FAILURE1;
		f->rescode = NVMF_AUTH_RESCODE_FAILED;
		f->rescode_exp = NVMF_AUTH_FAIL_INCORRECT_PROTOCOL;
		nvmf_req_complete(req, 0);
		return;
	}
	if (a->step == NVMF_AUTH_CHALLENGE) {
		size_t dhlen = dhchap_dh_len(a->dhgid);

		a->s1 = next_seqnum();
		if (al < sizeof(struct nvmf_auth_challenge) + a->hl + dhlen)
			st = nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);
		else if (dhchap_random(a->c1, a->hl))
			st = NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INTERNAL);
		else if (!dhlen)
			challenge_build(a, d);
		else if (submit(sq, a, req, JOB_GENERATE))
			return;         /* answered by job_done */
		else
			fail(sq, a, NVMF_AUTH_FAIL_NOT_USABLE, "too many DH-HMAC-CHAP exchanges in progress, try again");
	} else if (a->step == NVMF_AUTH_SUCCESS1) {
		st = success1(sq, a, d, al);
	} else if (a->step != NVMF_AUTH_FAILURE1) {
		fail(sq, a, NVMF_AUTH_FAIL_INCORRECT_PROTOCOL, "Receive out of sequence");
	}
	recv_answer(sq, req, st);
}

/* A DH computation came back (on the queue's reactor): finish the command
 * it was for */
static void job_done(void *arg)
{
	struct nvmf_auth *a = arg;
	struct nvmf_tgt *t = a->t;
	struct nvmf_req *req = a->pending;
	struct nvmf_sq *sq = req->sq;

	pthread_mutex_lock(&t->lock);
	t->auth_worker->jobs--;
	a->pending = NULL;
	if (a->orphan) {        /* the queue is gone; the transport drops the answer */
		auth_release(a);
		nvmf_req_complete(req, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_ABORT_SQ_DELETED));
	} else if (a->job == JOB_GENERATE) {
		if (a->job_rc)
			fail(sq, a, NVMF_AUTH_FAIL_FAILED, "internal error (DH key generation)");
		else
			challenge_build(a, req->buf);
		recv_answer(sq, req, 0);
	} else {
		const struct nvmf_auth_reply *r = req->buf;

		if (a->job_rc) {
			fail(sq, a, NVMF_AUTH_FAIL_DHGROUP_UNUSABLE, "the host's DH value is not valid in the group");
		} else {
			a->sess_len = (uint16_t)dhchap_dh_len(a->dhgid);
			dhchap_dh_free(a->dh);
			a->dh = NULL;
			reply_check(sq, a, r->cvalid, le32_to_cpu(r->seqnum), r->rval, r->rval + a->hl);
		}
		nvmf_req_complete(req, 0);
	}
	pthread_mutex_unlock(&t->lock);
}
