/* SPDX-License-Identifier: MIT */
/*
 * The host's side of one DH-HMAC-CHAP transaction, as the Linux host runs
 * it (Negotiate, Challenge, Reply, Success1, and Success2 or Failure2 when
 * the controller is authenticated too), over whatever carries
 * Authentication Send and Receive: the NVMe/TCP test initiator
 * (tcp_host.c) and the target's unit tests (a fake transport) share it.
 */
#ifndef TESTS_SUPPORT_DHCHAP_HOST_H
#define TESTS_SUPPORT_DHCHAP_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/dhchap.h"

/* How the messages travel: 0 when the command completed with success,
 * else non-zero (the transaction stops there) */
struct dhchap_host_xfer {
	int (*send)(void *ctx, const void *msg, size_t len);
	int (*recv)(void *ctx, void *buf, size_t al);
	void *ctx;
};

struct dhchap_host_args {
	const char *hostnqn, *subnqn;
	const struct dhchap_key *host;  /* the host's secret */
	const struct dhchap_key *ctrl;  /* the controller's, to check it too; NULL or len 0: not */
	uint16_t tid;
	uint8_t dh_offer;               /* DH groups offered, a bit per id; 0: all, as the Linux host */
};

struct dhchap_host_result {
	uint8_t hash, dhgroup;
	bool ctrl_verified;
	char why[200];                  /* what went wrong, when it did */
};

/* A Negotiate offering SHA-256/384/512 and the groups of dh_mask (0: all);
 * returns its length */
size_t dhchap_host_negotiate(uint8_t *buf, uint16_t tid, uint8_t dh_mask);

/* One transaction. 0: authenticated; > 0: the controller refused with
 * Failure1, the value its explanation; < 0: another failure (r->why),
 * -EACCES when the controller's response was wrong (Failure2 was sent) */
int dhchap_host_run(const struct dhchap_host_xfer *x, const struct dhchap_host_args *a, struct dhchap_host_result *r);

#endif
