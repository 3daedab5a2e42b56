/* SPDX-License-Identifier: MIT */
/*
 * NVMe/TCP over TLS 1.3 (see tcp_tls.h). The PSK a host offers is found by
 * its identity, "NVMe0R0H <hostnqn> <subnqn>" (or the version 1 form with
 * a digest): the host's configured PSK (hosts[].tls_psk) is turned into the
 * retained PSK and then the TLS PSK exactly as the host's libnvme did
 * (common/tls_psk.c), and must give the same identity. TLS 1.3 only,
 * TLS_AES_128_GCM_SHA256 or TLS_AES_256_GCM_SHA384 as the key's hash
 * says, no session tickets, PSK with (EC)DHE as the host offers it.
 */
#define LOG_TAG "tls"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/dhchap.h"
#include "common/log.h"
#include "common/tls_psk.h"
#include "target/target.h"
#include "transport/tcp_tls.h"

struct tcp_tls {
	SSL *ssl;
	struct nvmf_tgt *t;
	char hostnqn[CFG_NQN_SIZE];
	char subnqn[CFG_NQN_SIZE];
	bool psk_found;
	char no_psk[160];               /* why the identity found no PSK */
};

static SSL_CTX *ctx;
static int ex_idx = -1;
static pthread_once_t ctx_once = PTHREAD_ONCE_INIT;

static int find_psk(SSL *ssl, const unsigned char *id, size_t id_len, SSL_SESSION **sess)
{
	struct tcp_tls *s = SSL_get_ex_data(ssl, ex_idx);
	char ident[TLS_PSK_IDENTITY_MAX], want[TLS_PSK_IDENTITY_MAX];
	char host[CFG_NQN_SIZE], sub[CFG_NQN_SIZE];
	uint8_t psk[TLS_PSK_MAX];
	const struct cfg_host *h;
	unsigned char suite[2] = { 0x13, 0x01 };
	int version, cipher, rc = -1, len = 0;
	SSL_SESSION *ss;

	*sess = NULL;
	if (id_len >= sizeof(ident)) {
		snprintf(s->no_psk, sizeof(s->no_psk), "a PSK identity of %zu bytes", id_len);
		return 1;
	}
	memcpy(ident, id, id_len);
	ident[id_len] = 0;
	if (memchr(ident, 0, id_len) ||
	    tls_psk_identity_parse(ident, &version, &cipher, host, sizeof(host), sub, sizeof(sub))) {
		snprintf(s->no_psk, sizeof(s->no_psk), "a PSK identity that is not an NVMe one");
		return 1;
	}
	pthread_mutex_lock(&s->t->lock);
	h = cfg_find_host(s->t->cfg, host);
	if (h && h->tls_psk.len) {
		rc = tls_psk_derive(&h->tls_psk, h->tls_kdf, version, host, sub, want, psk);
		len = h->tls_psk.len;
	}
	pthread_mutex_unlock(&s->t->lock);
	if (rc) {
		snprintf(s->no_psk, sizeof(s->no_psk), "no TLS PSK for host %.100s (hosts[].tls_psk)", host);
		return 1;
	}
	if (strcmp(want, ident)) {
		/* another hash, or a version 1 digest of another key */
		snprintf(s->no_psk, sizeof(s->no_psk), "host %.100s offers a PSK identity its key does not give", host);
		dhchap_wipe(psk, sizeof(psk));
		return 1;
	}
	if (cipher == 2)
		suite[1] = 0x02;
	ss = SSL_SESSION_new();
	if (!ss || !SSL_SESSION_set1_master_key(ss, psk, (size_t)len) ||
	    !SSL_SESSION_set_cipher(ss, SSL_CIPHER_find(ssl, suite)) ||
	    !SSL_SESSION_set_protocol_version(ss, TLS1_3_VERSION)) {
		SSL_SESSION_free(ss);
		dhchap_wipe(psk, sizeof(psk));
		snprintf(s->no_psk, sizeof(s->no_psk), "internal error (TLS session)");
		return 0;
	}
	dhchap_wipe(psk, sizeof(psk));
	snprintf(s->hostnqn, sizeof(s->hostnqn), "%s", host);
	snprintf(s->subnqn, sizeof(s->subnqn), "%s", sub);
	s->psk_found = true;
	*sess = ss;
	return 1;
}

static void ctx_init(void)
{
	SSL_CTX *c = SSL_CTX_new(TLS_server_method());

	if (!c)
		return;
	if (!SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION) || !SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION) ||
	    !SSL_CTX_set_ciphersuites(c, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384") ||
	    !SSL_CTX_set_num_tickets(c, 0)) {
		SSL_CTX_free(c);
		return;
	}
	/* the kernel encrypts after the handshake; no resumption */
	SSL_CTX_set_options(c, SSL_OP_ENABLE_KTLS | SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_psk_find_session_callback(c, find_psk);
	ex_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	ctx = c;
}

struct tcp_tls *tcp_tls_start(int fd, struct nvmf_tgt *t, const char **why)
{
	struct tcp_tls *s;

	pthread_once(&ctx_once, ctx_init);
	if (!ctx || ex_idx < 0) {
		*why = "the TLS library could not be set up";
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s || !(s->ssl = SSL_new(ctx)) || !SSL_set_fd(s->ssl, fd) || !SSL_set_ex_data(s->ssl, ex_idx, s)) {
		if (s)
			SSL_free(s->ssl);
		free(s);
		*why = "no memory for a TLS handshake";
		return NULL;
	}
	s->t = t;
	SSL_set_accept_state(s->ssl);
	return s;
}

int tcp_tls_step(struct tcp_tls *s, bool *want_write, char *why, size_t why_len)
{
	int rc, err;
	unsigned long e;

	ERR_clear_error();
	rc = SSL_do_handshake(s->ssl);
	if (rc == 1) {
		/* the engine reads and writes the socket itself from now on:
		 * the kernel must hold the keys both ways */
		if (!BIO_get_ktls_send(SSL_get_wbio(s->ssl)) || !BIO_get_ktls_recv(SSL_get_rbio(s->ssl))) {
			snprintf(why, why_len, "the kernel did not take the TLS keys (kTLS %s%s; modprobe tls)",
				 BIO_get_ktls_send(SSL_get_wbio(s->ssl)) ? "" : "send",
				 BIO_get_ktls_recv(SSL_get_rbio(s->ssl)) ? "" : " receive");
			return -1;
		}
		return 1;
	}
	err = SSL_get_error(s->ssl, rc);
	if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
		*want_write = err == SSL_ERROR_WANT_WRITE;
		return 0;
	}
	e = ERR_peek_error();
	if (!s->psk_found && s->no_psk[0])
		snprintf(why, why_len, "TLS handshake refused: %s", s->no_psk);
	else if (e)
		snprintf(why, why_len, "TLS handshake failed: %s%s", ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "?",
			 s->psk_found ? " (the host's TLS PSK differs: another key, or tls_psk_derivation)" : "");
	else if (err == SSL_ERROR_ZERO_RETURN || err == SSL_ERROR_SYSCALL)
		snprintf(why, why_len, "TLS handshake: the host closed the connection");
	else
		snprintf(why, why_len, "TLS handshake failed (error %d)", err);
	return -1;
}

const char *tcp_tls_hostnqn(const struct tcp_tls *s)
{
	return s->hostnqn;
}

const char *tcp_tls_subnqn(const struct tcp_tls *s)
{
	return s->subnqn;
}

const char *tcp_tls_cipher(const struct tcp_tls *s)
{
	const SSL_CIPHER *c = SSL_get_current_cipher(s->ssl);

	return c ? SSL_CIPHER_get_name(c) : "?";
}

void tcp_tls_free(struct tcp_tls *s)
{
	if (!s)
		return;
	SSL_free(s->ssl);
	free(s);
}
