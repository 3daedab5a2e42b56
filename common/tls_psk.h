/* SPDX-License-Identifier: MIT */
/*
 * NVMe/TCP TLS pre-shared keys (NVMe/TCP transport specification 3.6,
 * TP8011): the PSK interchange format `nvme gen-tls-key` prints
 * ("NVMeTLSkey-1:HH:<base64 of key and CRC-32>:"), the retained PSK derived
 * from it with the host NQN, the PSK identity ("NVMe0R0H <hostnqn>
 * <subnqn>", or "NVMe1R0H <hostnqn> <subnqn> <digest>") and the TLS PSK
 * derived from the retained one. HKDF and HMAC are OpenSSL's.
 *
 * Two derivations are in the field: the specification's (HkdfLabel as RFC
 * 8446 lays it out: big-endian length, length-prefixed label and context),
 * used by libnvme 1.16 and later; and libnvme up to 1.15 (nvme-cli up to
 * 2.15: Debian 13's 2.13 among them), which wrote the length little endian
 * and the label and context without their length bytes ("compat" in
 * libnvme now, `nvme gen-tls-key --compat`). Nothing on the wire tells them
 * apart: the configuration says which one a host's keys were made with.
 */
#ifndef COMMON_TLS_PSK_H
#define COMMON_TLS_PSK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TLS_PSK_MAX 48
#define TLS_PSK_SECRET_MAX 96            /* the longest interchange string, with room */
#define TLS_PSK_IDENTITY_MAX (12 + 223 + 1 + 223 + 1 + 66 + 32 + 1)

struct tls_psk {
	uint8_t len;                      /* 32 or 48; 0: none */
	uint8_t hash;                     /* HH: 0 (used as is), 1 SHA-256, 2 SHA-384 */
	uint8_t key[TLS_PSK_MAX];
};

enum tls_psk_kdf {
	TLS_PSK_KDF_COMPAT = 0,           /* libnvme <= 1.15 (nvme-cli <= 2.15): "compat" */
	TLS_PSK_KDF_SPEC,                 /* HkdfLabel per RFC 8446: libnvme >= 1.16 */
};

/* "NVMeTLSkey-1:HH:<base64>:". 0, or -1 with *why a sentence (the
 * secret is never quoted). */
int tls_psk_parse(const char *s, struct tls_psk *k, const char **why);

/* The cipher suite's hash of a key: 1 (TLS_AES_128_GCM_SHA256) or 2
 * (TLS_AES_256_GCM_SHA384) */
int tls_psk_cipher(const struct tls_psk *k);

/* An identity a host sent: version 0 or 1, the cipher hash, the NQNs.
 * 0, or -1 when it is not an NVMe PSK identity. */
int tls_psk_identity_parse(const char *id, int *version, int *cipher, char *hostnqn, size_t hlen, char *subnqn,
			   size_t slen);

/* The identity and TLS PSK for a host/subsystem pair: identity must hold
 * TLS_PSK_IDENTITY_MAX bytes, psk k->len. 0 or -1. */
int tls_psk_derive(const struct tls_psk *k, enum tls_psk_kdf kdf, int version, const char *hostnqn,
		   const char *subnqn, char *identity, uint8_t *psk);

#endif
