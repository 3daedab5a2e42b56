/* SPDX-License-Identifier: MIT */
/*
 * The host's side of a DH-HMAC-CHAP transaction (see dhchap_host.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "nvme/auth.h"
#include "tests/support/dhchap_host.h"

size_t dhchap_host_negotiate(uint8_t *buf, uint16_t tid, uint8_t dh_mask)
{
	struct nvmf_auth_negotiate *n = (void *)buf;
	uint8_t ng = 0;

	memset(buf, 0, sizeof(*n) + sizeof(n->proto[0]));
	n->auth_type = NVMF_AUTH_COMMON;
	n->auth_id = NVMF_AUTH_NEGOTIATE;
	n->t_id = tid;
	n->napd = 1;
	n->proto[0].authid = NVMF_AUTH_DHCHAP_AUTHID;
	n->proto[0].halen = 3;
	for (uint8_t i = 0; i < 3; i++)
		n->proto[0].idlist[i] = (uint8_t)(DHCHAP_SHA256 + i);
	for (uint8_t g = DHCHAP_DH_NULL; g <= DHCHAP_FFDHE8192; g++)
		if (!dh_mask || (dh_mask & (1u << g)))
			n->proto[0].idlist[NVMF_AUTH_MAX_HASH_IDS + ng++] = g;
	n->proto[0].dhlen = ng;
	return sizeof(*n) + sizeof(n->proto[0]);
}

/* A received message must be the one expected; Failure1 gives its reason */
static int expect(const uint8_t *m, uint8_t id, uint16_t tid, struct dhchap_host_result *r)
{
	const struct nvmf_auth_failure *f = (const void *)m;

	if (m[0] == NVMF_AUTH_COMMON && m[1] == NVMF_AUTH_FAILURE1) {
		snprintf(r->why, sizeof(r->why), "refused by the controller: Failure1 reason %u explanation %u",
			 f->rescode, f->rescode_exp);
		return f->rescode_exp ? f->rescode_exp : 0xff;
	}
	if (m[0] != NVMF_AUTH_DHCHAP || m[1] != id || f->t_id != tid) {
		snprintf(r->why, sizeof(r->why), "message %02x/%02x tid %u, expected 01/%02x tid %u", m[0], m[1],
			 f->t_id, id, tid);
		return -EPROTO;
	}
	return 0;
}

int dhchap_host_run(const struct dhchap_host_xfer *x, const struct dhchap_host_args *a, struct dhchap_host_result *r)
{
	static uint32_t seq;
	static uint8_t buf[4096];
	uint8_t tkey[DHCHAP_MAX_HASH_LEN], chal[DHCHAP_MAX_HASH_LEN], resp[DHCHAP_MAX_HASH_LEN];
	uint8_t c2[DHCHAP_MAX_HASH_LEN], sess[DHCHAP_MAX_DH_LEN], pub[DHCHAP_MAX_DH_LEN];
	const struct nvmf_auth_challenge *ch = (const void *)buf;
	struct nvmf_auth_reply *rep = (void *)buf;
	const struct nvmf_auth_success1 *s1 = (const void *)buf;
	bool ctrl = a->ctrl && a->ctrl->len;
	uint16_t tid = a->tid;
	uint32_t s1num, cseq = 0;
	size_t tkey_len, hl, dhlen = 0;
	void *dh = NULL;
	uint8_t hash, gid;
	int ret;

	memset(r, 0, sizeof(*r));
	if (x->send(x->ctx, buf, dhchap_host_negotiate(buf, tid, a->dh_offer))) {
		snprintf(r->why, sizeof(r->why), "Negotiate failed");
		return -EIO;
	}
	memset(buf, 0, sizeof(buf));
	if (x->recv(x->ctx, buf, sizeof(buf))) {
		snprintf(r->why, sizeof(r->why), "Receive (Challenge) failed");
		return -EIO;
	}
	if ((ret = expect(buf, NVMF_AUTH_CHALLENGE, tid, r)))
		return ret;
	hash = ch->hashid;
	gid = ch->dhgid;
	hl = dhchap_hash_len(hash);
	if (!hl || ch->hl != hl || gid > DHCHAP_FFDHE8192 || ch->dhvlen != dhchap_dh_len(gid) || !ch->seqnum ||
	    sizeof(*ch) + hl + ch->dhvlen > sizeof(buf)) {
		snprintf(r->why, sizeof(r->why), "bad Challenge (hash %u hl %u group %u dhvlen %u seqnum %u)", hash, ch->hl,
			 gid, ch->dhvlen, ch->seqnum);
		return -EPROTO;
	}
	memcpy(chal, ch->cval, hl);
	dhlen = dhchap_dh_len(gid);
	if (dhlen && (!(dh = dhchap_dh_generate(gid, pub)) || dhchap_dh_derive(dh, ch->cval + hl, dhlen, sess, dhlen) ||
		      dhchap_augment(hash, sess, dhlen, ch->cval, chal))) {
		snprintf(r->why, sizeof(r->why), "the controller's DH value is not usable");
		ret = -EPROTO;
		goto out;
	}
	s1num = ch->seqnum;
	if (dhchap_transform(a->host, a->hostnqn, tkey, &tkey_len) ||
	    dhchap_response(hash, tkey, tkey_len, chal, s1num, tid, 0, false, a->hostnqn, a->subnqn, resp)) {
		snprintf(r->why, sizeof(r->why), "host response");
		ret = -EIO;
		goto out;
	}
	/* Reply: R1, C2 when the controller is to answer too, g^y */
	memset(buf, 0, sizeof(*rep) + 2 * hl + dhlen);
	rep->auth_type = NVMF_AUTH_DHCHAP;
	rep->auth_id = NVMF_AUTH_REPLY;
	rep->t_id = tid;
	rep->hl = (uint8_t)hl;
	rep->dhvlen = (uint16_t)dhlen;
	memcpy(rep->rval, resp, hl);
	if (ctrl) {
		if (!++seq)
			seq = 1;
		cseq = seq;
		dhchap_random(c2, hl);
		rep->cvalid = 1;
		rep->seqnum = cseq;
		memcpy(rep->rval + hl, c2, hl);
	}
	memcpy(rep->rval + 2 * hl, pub, dhlen);
	if (x->send(x->ctx, buf, sizeof(*rep) + 2 * hl + dhlen)) {
		snprintf(r->why, sizeof(r->why), "Reply failed");
		ret = -EIO;
		goto out;
	}
	memset(buf, 0, sizeof(buf));
	if (x->recv(x->ctx, buf, sizeof(buf))) {
		snprintf(r->why, sizeof(r->why), "Receive (Success1) failed");
		ret = -EIO;
		goto out;
	}
	if ((ret = expect(buf, NVMF_AUTH_SUCCESS1, tid, r)))
		goto out;
	if (s1->hl != hl || s1->rvalid != (ctrl ? 1 : 0)) {
		snprintf(r->why, sizeof(r->why), "Success1 hl %u rvalid %u, expected %zu and %u", s1->hl, s1->rvalid, hl,
			 ctrl ? 1u : 0u);
		ret = -EPROTO;
		goto out;
	}
	if (ctrl) {
		struct nvmf_auth_failure *f = (void *)buf;
		struct nvmf_auth_success2 *s2 = (void *)buf;
		bool ok;

		memcpy(chal, c2, hl);
		ok = (!dhlen || !dhchap_augment(hash, sess, dhlen, c2, chal)) &&
		     !dhchap_transform(a->ctrl, a->subnqn, tkey, &tkey_len) &&
		     !dhchap_response(hash, tkey, tkey_len, chal, cseq, tid, 0, true, a->subnqn, a->hostnqn, resp) &&
		     !dhchap_memcmp(resp, s1->rval, hl);
		if (!ok) {      /* Failure2, as the Linux host sends it */
			memset(buf, 0, sizeof(*f));
			f->auth_type = NVMF_AUTH_COMMON;
			f->auth_id = NVMF_AUTH_FAILURE2;
			f->t_id = tid;
			f->rescode = NVMF_AUTH_RESCODE_FAILED;
			f->rescode_exp = NVMF_AUTH_FAIL_FAILED;
			x->send(x->ctx, buf, sizeof(*f));
			snprintf(r->why, sizeof(r->why), "the controller's response is wrong");
			ret = -EACCES;
			goto out;
		}
		memset(buf, 0, sizeof(*s2));
		s2->auth_type = NVMF_AUTH_DHCHAP;
		s2->auth_id = NVMF_AUTH_SUCCESS2;
		s2->t_id = tid;
		if (x->send(x->ctx, buf, sizeof(*s2))) {
			snprintf(r->why, sizeof(r->why), "Success2 failed");
			ret = -EIO;
			goto out;
		}
		r->ctrl_verified = true;
	}
	r->hash = hash;
	r->dhgroup = gid;
	ret = 0;
out:
	dhchap_dh_free(dh);
	dhchap_wipe(sess, sizeof(sess));
	dhchap_wipe(tkey, sizeof(tkey));
	return ret;
}
