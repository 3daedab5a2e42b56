/* SPDX-License-Identifier: MIT */
/*
 * DH-HMAC-CHAP arithmetic (NVMe Base 2.0 section 8.13.5), shared by the
 * target and the test initiator: secrets in the DHHC-1 representation that
 * `nvme gen-dhchap-key` prints, the key transformation, the augmented
 * challenge, the host and controller responses, and the FFDHE exchange.
 * Every primitive comes from OpenSSL 3 (HMAC, SHA-2, DH through EVP);
 * nothing here keeps state between calls except a DH private key.
 */
#ifndef COMMON_DHCHAP_H
#define COMMON_DHCHAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum dhchap_hash {
	DHCHAP_HASH_NONE = 0,         /* a secret used as is (DHHC-1:00:) */
	DHCHAP_SHA256 = 1,
	DHCHAP_SHA384 = 2,
	DHCHAP_SHA512 = 3,
};

enum dhchap_dhgroup {
	DHCHAP_DH_NULL = 0,
	DHCHAP_FFDHE2048 = 1,
	DHCHAP_FFDHE3072 = 2,
	DHCHAP_FFDHE4096 = 3,
	DHCHAP_FFDHE6144 = 4,
	DHCHAP_FFDHE8192 = 5,
};

#define DHCHAP_MAX_HASH_LEN 64
#define DHCHAP_MAX_DH_LEN 1024        /* ffdhe8192 */
#define DHCHAP_SECRET_MAX 128         /* longest DHHC-1 string (103 bytes), with room */

/* A secret: 32, 48 or 64 bytes, and the hash its transformation uses */
struct dhchap_key {
	uint8_t len;                  /* 0: no key */
	uint8_t hash;                 /* enum dhchap_hash */
	uint8_t key[64];
};

/* The base64 of a key and its CRC-32 (little endian), as the DHHC-1 and
 * NVMeTLSkey-1 representations carry them: the key's length, or -1 with
 * *why set (the bytes are never quoted). */
int nvme_secret_decode(const char *b64, size_t n, uint8_t *key, size_t max, const char **why);

/* "DHHC-1:HH:<base64 of key and its CRC-32>:". 0, or -1 with *why set to
 * a sentence naming what is wrong (the secret itself is never quoted). */
int dhchap_key_parse(const char *s, struct dhchap_key *k, const char **why);

/* Identifiers by the names nvmet and nvmetcli use: "hmac(sha256)",
 * "null", "ffdhe2048". -1 when unknown. */
int dhchap_hash_id(const char *name);
const char *dhchap_hash_name(int id);          /* NULL when unknown */
int dhchap_dhgroup_id(const char *name);
const char *dhchap_dhgroup_name(int id);
size_t dhchap_hash_len(int id);                 /* 32, 48, 64; 0 when unknown */
size_t dhchap_dh_len(int gid);                  /* bytes of p; 0 for null or unknown */

/* The key the HMAC is keyed with: HMAC-<key hash>(key, nqn ||
 * "NVMe-over-Fabrics"), or the key itself when its hash is none. */
int dhchap_transform(const struct dhchap_key *k, const char *nqn, uint8_t out[DHCHAP_MAX_HASH_LEN],
		     size_t *out_len);

/* With a DH group: Ca = HMAC(H(g^xy), C) replaces the challenge. */
int dhchap_augment(int hash, const uint8_t *sess, size_t sess_len, const uint8_t *chal, uint8_t *out);

/* The response to a challenge:
 *   HMAC(tkey, chal || seq (le32) || tid (le16) || sc_c || role || nqn_a || 0 || nqn_b)
 * the host answers with role "HostHost", nqn_a the host NQN; the
 * controller with "Controller", nqn_a the subsystem NQN. */
int dhchap_response(int hash, const uint8_t *tkey, size_t tkey_len, const uint8_t *chal, uint32_t seq,
		    uint16_t tid, uint8_t sc_c, bool controller, const char *nqn_a, const char *nqn_b,
		    uint8_t *out);

/* Finite-field DH in an RFC 7919 group: a fresh private key and its public
 * value (dhchap_dh_len bytes, big endian, zero padded), then the shared
 * secret with a peer's public value (checked; padded to the same length). */
void *dhchap_dh_generate(int gid, uint8_t *pub);
int dhchap_dh_derive(void *priv, const uint8_t *peer, size_t peer_len, uint8_t *secret, size_t secret_len);
void dhchap_dh_free(void *priv);

int dhchap_random(void *buf, size_t len);
/* constant time: 0 when equal */
int dhchap_memcmp(const void *a, const void *b, size_t len);
/* wipe a secret so the compiler cannot elide it */
void dhchap_wipe(void *p, size_t len);

#endif
