/* SPDX-License-Identifier: MIT */
/*
 * NVMe/TCP over TLS 1.3 (TP8011): the server handshake with a PSK chosen
 * by the host's PSK identity, done by OpenSSL on the reactor without
 * blocking, after which the kernel holds the keys (kTLS both ways) and
 * the engine reads and writes the socket as before: sendmsg still sends
 * from the DMA buffers, the kernel encrypts.
 */
#ifndef TRANSPORT_TCP_TLS_H
#define TRANSPORT_TCP_TLS_H

#include <stdbool.h>
#include <stddef.h>

struct nvmf_tgt;
struct tcp_tls;

/* A handshake on fd (the first record is due from the host). NULL when
 * the TLS library cannot start one (*why). */
struct tcp_tls *tcp_tls_start(int fd, struct nvmf_tgt *t, const char **why);
/* Drive it: 1 done (the kernel has the keys both ways), 0 it waits for the
 * socket (*want_write: to be writable, else readable), -1 failed (why). */
int tcp_tls_step(struct tcp_tls *s, bool *want_write, char *why, size_t why_len);
/* After success: the host and subsystem NQN of the PSK identity, and the
 * cipher suite */
const char *tcp_tls_hostnqn(const struct tcp_tls *s);
const char *tcp_tls_subnqn(const struct tcp_tls *s);
const char *tcp_tls_cipher(const struct tcp_tls *s);
void tcp_tls_free(struct tcp_tls *s);

#endif
