/* SPDX-License-Identifier: MIT */
/*
 * tcp_host_check: the initiator checking itself. A scripted fake controller
 * on the other end of a socketpair breaks the NVMe/TCP rules in one way per
 * case (bad ICResp fields, C2HData sequence and flag errors, bad digests,
 * impossible R2Ts, SQHD past the tail, ...); each case states what
 * tcp_host must return and which H2CTermReq FES the fake must receive.
 * Valid exchanges (split data, digests, SUCCESS, CPDA padding, H2CData
 * split at MAXH2CDATA) are cases too, so a check cannot pass by refusing
 * everything. No network or target needed: runs anywhere in a second.
 */
#ifndef TESTS_SUPPORT_TCP_HOST_CHECK_H
#define TESTS_SUPPORT_TCP_HOST_CHECK_H

#include <stdbool.h>

/* Runs every case (or those whose name contains only, if not NULL), one
 * line each on stdout when verbose, failures always. Returns the number of
 * failed cases; *total gets the number run. */
unsigned int tcp_host_check_run(const char *only, bool verbose, unsigned int *total);

#endif
