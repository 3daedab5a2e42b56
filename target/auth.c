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

void nvmf_auth_free(struct nvmf_sq *sq)
{
	struct nvmf_auth *a = sq->auth;

	if (!a)
		return;
	dhchap_dh_free(a->dh);
	dhchap_wipe(a, sizeof(*a));
	free(a);
	sq->auth = NULL;
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
	a->step = NVMF_AUTH_FAILURE1;
	a->fail = why;
	dhchap_dh_free(a->dh);
	a->dh = NULL;
	sq->authed = false;
	/* the controller has this long to try again before it is released */
	c->auth_deadline_ns = reactor_now_ns() + (uint64_t)c->subsys->tgt->limits.connect_timeout_ms * 1000000u;
}

/* --- Authentication Send: Negotiate, Reply, Success2, Failure2 ------------- */

static uint8_t pick(const uint8_t *ids, unsigned n, uint8_t want, unsigned max_id, bool any_but_zero)
{
	int first = -1;

	for (unsigned i = 0; i < n; i++) {
		if (ids[i] == want)
			return want;
		if (first < 0 && ids[i] <= max_id && (!any_but_zero || ids[i]))
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
	a->tid = n->t_id;
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
	a->hash = pick(p->idlist, p->halen, a->keys.hash, DHCHAP_SHA512, true);
	if (a->hash == 0xff) {
		fail(sq, a, NVMF_AUTH_FAIL_HASH_UNUSABLE, "the host offers no SHA-2 hash");
		return;
	}
	/* the configured group when offered; never the null group in place
	 * of a configured one */
	a->dhgid = pick(p->idlist + NVMF_AUTH_MAX_HASH_IDS, p->dhlen, a->keys.dhgroup, DHCHAP_FFDHE8192,
			a->keys.dhgroup != DHCHAP_DH_NULL);
	if (a->dhgid == 0xff) {
		fail(sq, a, NVMF_AUTH_FAIL_DHGROUP_UNUSABLE, "the host offers no usable DH group");
		return;
	}
	a->hl = (uint8_t)dhchap_hash_len(a->hash);
	a->step = NVMF_AUTH_CHALLENGE;
}

static void reply(struct nvmf_sq *sq, struct nvmf_auth *a, const uint8_t *d, uint32_t tl)
{
	const struct nvmf_auth_reply *r = (const void *)d;
	struct nvmf_ctrl *c = sq->ctrl;
	uint8_t tkey[DHCHAP_MAX_HASH_LEN], chal[DHCHAP_MAX_HASH_LEN], want[DHCHAP_MAX_HASH_LEN];
	size_t tkey_len, dhlen = dhchap_dh_len(a->dhgid);
	int bad;

	if (tl < sizeof(*r) || r->hl != a->hl || tl < sizeof(*r) + 2u * r->hl + r->dhvlen) {
		fail(sq, a, NVMF_AUTH_FAIL_INCORRECT_PAYLOAD, "malformed Reply");
		return;
	}
	if (r->dhvlen != dhlen) {
		fail(sq, a, NVMF_AUTH_FAIL_INCORRECT_PAYLOAD, "Reply carries a DH value of the wrong size");
		return;
	}
	memcpy(chal, a->c1, a->hl);
	if (dhlen) {
		if (dhchap_dh_derive(a->dh, r->rval + 2 * a->hl, dhlen, a->sess, dhlen)) {
			fail(sq, a, NVMF_AUTH_FAIL_DHGROUP_UNUSABLE, "the host's DH value is not valid in the group");
			return;
		}
		a->sess_len = (uint16_t)dhlen;
		dhchap_dh_free(a->dh);
		a->dh = NULL;
		if (dhchap_augment(a->hash, a->sess, a->sess_len, a->c1, chal)) {
			fail(sq, a, NVMF_AUTH_FAIL_FAILED, "internal error (augmented challenge)");
			return;
		}
	}
	if (dhchap_transform(&a->keys.host, c->hostnqn, tkey, &tkey_len) ||
	    dhchap_response(a->hash, tkey, tkey_len, chal, a->s1, a->tid, 0, false, c->hostnqn, c->subsys->nqn,
			    want)) {
		dhchap_wipe(tkey, sizeof(tkey));
		fail(sq, a, NVMF_AUTH_FAIL_FAILED, "internal error (host response)");
		return;
	}
	dhchap_wipe(tkey, sizeof(tkey));
	bad = dhchap_memcmp(want, r->rval, a->hl);
	dhchap_wipe(want, sizeof(want));
	if (bad) {
		fail(sq, a, NVMF_AUTH_FAIL_FAILED, "wrong response (the host's key differs)");
		return;
	}
	/* S2 = 0 asks for no controller authentication even with C2 */
	a->c2_valid = r->cvalid && r->seqnum;
	if (a->c2_valid && !a->keys.ctrl_key[0]) {
		fail(sq, a, NVMF_AUTH_FAIL_FAILED,
		     "the host asks to authenticate the controller, but hosts[].dhchap.ctrl_key is not set");
		return;
	}
	if (a->c2_valid) {
		a->s2 = r->seqnum;
		memcpy(a->c2, r->rval + a->hl, a->hl);
	} else {
		sq->authed = true;
	}
	a->step = NVMF_AUTH_SUCCESS1;
}

static void authenticated(struct nvmf_sq *sq)
{
	struct nvmf_ctrl *c = sq->ctrl;
	struct nvmf_auth *a = sq->auth;

	sq->authed = true;
	if (sq->qid == 0)
		log_peer_info(sq->peer_ip, "controller %u of %s: host %s authenticated (%s, %s%s)", c->cntlid,
			      c->subsys->nqn, c->hostnqn, dhchap_hash_name(a->hash), dhchap_dhgroup_name(a->dhgid),
			      a->c2_valid ? ", controller authenticated too" : "");
	nvmf_auth_free(sq);
}

void nvmf_exec_auth_send(struct nvmf_req *req)
{
	const struct nvmf_auth_cmd *cmd = (const void *)&req->cmd;
	struct nvmf_sq *sq = req->sq;
	const uint8_t *d = req->buf;
	struct nvmf_auth *a;
	uint32_t tl = cmd->len;

	if (!sq->ctrl) {
		nvmf_req_complete(req, nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_CMD_SEQ_ERROR));
		return;
	}
	if (cmd->secp != NVMF_AUTH_SECP_DHCHAP || cmd->spsp0 != NVMF_AUTH_SPSP || cmd->spsp1 != NVMF_AUTH_SPSP ||
	    !tl) {
		nvmf_req_complete(req, nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD));
		return;
	}
	if (req->len != tl || !d || tl < 2) {
		nvmf_req_complete(req, nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_DATA));
		return;
	}
	if (!sq->ctrl->auth) {          /* nothing to authenticate here */
		nvmf_req_complete(req, nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_CMD_SEQ_ERROR));
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
	if (((const struct nvmf_auth_success2 *)d)->t_id != a->tid) {
		fail(sq, a, NVMF_AUTH_FAIL_INCORRECT_PAYLOAD, "wrong transaction identifier");
		nvmf_req_complete(req, 0);
		return;
	}
	if (a->step == NVMF_AUTH_REPLY)
		reply(sq, a, d, tl);
	else            /* Success2: the host accepted our response */
		authenticated(sq);
	nvmf_req_complete(req, 0);
}

/* --- Authentication Receive: Challenge, Success1, Failure1 ----------------- */

static uint16_t challenge(struct nvmf_sq *sq, struct nvmf_auth *a, uint8_t *d, uint32_t al)
{
	struct nvmf_auth_challenge *ch = (void *)d;
	size_t dhlen = dhchap_dh_len(a->dhgid);

	if (al < sizeof(*ch) + a->hl + dhlen)
		return nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD);
	a->s1 = next_seqnum();
	if (dhchap_random(a->c1, a->hl))
		return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INTERNAL);
	ch->auth_type = NVMF_AUTH_DHCHAP;
	ch->auth_id = NVMF_AUTH_CHALLENGE;
	ch->t_id = a->tid;
	ch->hl = a->hl;
	ch->hashid = a->hash;
	ch->dhgid = a->dhgid;
	ch->dhvlen = (uint16_t)dhlen;
	ch->seqnum = a->s1;
	memcpy(ch->cval, a->c1, a->hl);
	if (dhlen && !(a->dh = dhchap_dh_generate(a->dhgid, ch->cval + a->hl)))
		return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INTERNAL);
	a->step = NVMF_AUTH_REPLY;
	return 0;
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
	s->t_id = a->tid;
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

void nvmf_exec_auth_recv(struct nvmf_req *req)
{
	const struct nvmf_auth_cmd *cmd = (const void *)&req->cmd;
	struct nvmf_sq *sq = req->sq;
	struct nvmf_auth *a;
	uint8_t *d = req->buf;
	uint32_t al = cmd->len;
	uint16_t st = 0;

	if (!sq->ctrl) {
		nvmf_req_complete(req, nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_CMD_SEQ_ERROR));
		return;
	}
	if (cmd->secp != NVMF_AUTH_SECP_DHCHAP || cmd->spsp0 != NVMF_AUTH_SPSP || cmd->spsp1 != NVMF_AUTH_SPSP ||
	    !al) {
		nvmf_req_complete(req, nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD));
		return;
	}
	if (req->len != al || !d || al < sizeof(struct nvmf_auth_failure)) {
		nvmf_req_complete(req, nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_DATA));
		return;
	}
	if (!sq->ctrl->auth) {
		nvmf_req_complete(req, nvmf_status_dnr(NVME_SCT_GENERIC, NVME_SC_CMD_SEQ_ERROR));
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
	if (a->step == NVMF_AUTH_CHALLENGE)
		st = challenge(sq, a, d, al);
	else if (a->step == NVMF_AUTH_SUCCESS1)
		st = success1(sq, a, d, al);
	else if (a->step != NVMF_AUTH_FAILURE1)
		fail(sq, a, NVMF_AUTH_FAIL_INCORRECT_PROTOCOL, "Receive out of sequence");
	if (st) {
		memset(d, 0, al);
		fail(sq, a, NVMF_AUTH_FAIL_FAILED, "could not build the message");
	}
	if (sq->auth && sq->auth->step == NVMF_AUTH_FAILURE1) {
		struct nvmf_auth_failure *f = (void *)d;

		f->auth_type = NVMF_AUTH_COMMON;
		f->auth_id = NVMF_AUTH_FAILURE1;
		f->t_id = a->tid;
		f->rescode = NVMF_AUTH_RESCODE_FAILED;
		f->rescode_exp = a->fail;
		nvmf_auth_free(sq);
		st = 0;
	}
	nvmf_req_complete(req, st);
}
