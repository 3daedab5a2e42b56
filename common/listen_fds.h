/* SPDX-License-Identifier: MIT */
/*
 * Listening sockets that outlive the daemon, so that a restart never
 * refuses a host: while a new process starts, connections wait in the
 * kernel's backlog of a socket someone still holds.
 *
 * - At start, sockets handed over by the service manager (the sd_listen_fds
 *   protocol: LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES; from systemd's file
 *   descriptor store after a restart, or from socket activation) are taken
 *   in place of new ones for the addresses they are bound to.
 * - While running, every TCP listening socket is given to systemd's file
 *   descriptor store (FDSTORE=1, FDNAME=tcp-ADDRESS-PORT; the unit sets
 *   FileDescriptorStoreMax=), and taken back out (FDSTOREREMOVE=1) when a
 *   reload removes its port. Without NOTIFY_SOCKET these are no-ops.
 */
#ifndef COMMON_LISTEN_FDS_H
#define COMMON_LISTEN_FDS_H

#include <stddef.h>
#include <sys/socket.h>

/* Read and unset LISTEN_* (once, early in main). Returns the number of
 * listening stream sockets handed over. */
unsigned listen_fds_init(void);
/* The handed-over socket bound to exactly this address, or -1. The caller
 * owns it from now on. */
int listen_fds_take(const struct sockaddr *sa, socklen_t len);
/* Close the handed-over sockets no port took; returns how many. */
unsigned listen_fds_close_unused(void);
/* The store's name of a listener: tcp-ADDRESS-PORT (':' of IPv6 as '_') */
void listen_fds_name(char *out, size_t len, const char *traddr, const char *trsvcid);
void listen_fds_store(int fd, const char *name);
void listen_fds_unstore(const char *name);

#endif
