/* SPDX-License-Identifier: MIT */
/*
 * DH-HMAC-CHAP arithmetic on OpenSSL 3 (see dhchap.h). The formulas are
 * the specification's, in the byte order the Linux host and nvmet use.
 */
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/dh.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "common/dhchap.h"

static const struct {
	const char *hmac;
	size_t len;
} hashes[] = {
	[DHCHAP_SHA256] = { "hmac(sha256)", 32 },
	[DHCHAP_SHA384] = { "hmac(sha384)", 48 },
	[DHCHAP_SHA512] = { "hmac(sha512)", 64 },
};

static const struct {
	const char *name;
	size_t len;
} groups[] = {
	[DHCHAP_DH_NULL] = { "null", 0 },
	[DHCHAP_FFDHE2048] = { "ffdhe2048", 256 },
	[DHCHAP_FFDHE3072] = { "ffdhe3072", 384 },
	[DHCHAP_FFDHE4096] = { "ffdhe4096", 512 },
	[DHCHAP_FFDHE6144] = { "ffdhe6144", 768 },
	[DHCHAP_FFDHE8192] = { "ffdhe8192", 1024 },
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

int dhchap_hash_id(const char *name)
{
	for (unsigned i = DHCHAP_SHA256; i < NELEM(hashes); i++)
		if (!strcmp(hashes[i].hmac, name))
			return (int)i;
	return -1;
}

const char *dhchap_hash_name(int id)
{
	return id >= DHCHAP_SHA256 && (unsigned)id < NELEM(hashes) ? hashes[id].hmac : NULL;
}

size_t dhchap_hash_len(int id)
{
	return id >= DHCHAP_SHA256 && (unsigned)id < NELEM(hashes) ? hashes[id].len : 0;
}

int dhchap_dhgroup_id(const char *name)
{
	for (unsigned i = 0; i < NELEM(groups); i++)
		if (!strcmp(groups[i].name, name))
			return (int)i;
	return -1;
}

const char *dhchap_dhgroup_name(int id)
{
	return id >= 0 && (unsigned)id < NELEM(groups) ? groups[id].name : NULL;
}

size_t dhchap_dh_len(int gid)
{
	return gid >= 0 && (unsigned)gid < NELEM(groups) ? groups[gid].len : 0;
}

static const EVP_MD *md_of(int id)
{
	switch (id) {
	case DHCHAP_SHA256:
		return EVP_sha256();
	case DHCHAP_SHA384:
		return EVP_sha384();
	case DHCHAP_SHA512:
		return EVP_sha512();
	default:
		return NULL;
	}
}

static int hmac(int id, const uint8_t *key, size_t key_len, const uint8_t *data, size_t len, uint8_t *out)
{
	const EVP_MD *md = md_of(id);
	unsigned out_len = 0;

	if (!md || !HMAC(md, key, (int)key_len, data, len, out, &out_len) || out_len != dhchap_hash_len(id))
		return -1;
	return 0;
}

int nvme_secret_decode(const char *p, size_t n, uint8_t *key, size_t max, const char **why)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
	uint8_t buf[100];
	size_t pad = 0;
	int dec;
	uint32_t crc;

	if (n % 4 || n > 4 * (sizeof(buf) / 3) || strspn(p, b64) < n) {
		*why = "does not hold valid base64";
		return -1;
	}
	if (n && p[n - 1] == '=')
		pad = n > 1 && p[n - 2] == '=' ? 2 : 1;
	if (memchr(p, '=', n - pad)) {
		*why = "does not hold valid base64";
		return -1;
	}
	dec = EVP_DecodeBlock(buf, (const unsigned char *)p, (int)n);
	if (dec < 0 || (size_t)dec < pad + 4) {
		*why = "does not hold valid base64";
		return -1;
	}
	dec -= (int)pad + 4;
	if ((size_t)dec > max) {
		*why = "holds a key of the wrong length";
		dhchap_wipe(buf, sizeof(buf));
		return -1;
	}
	crc = (uint32_t)crc32(0L, buf, (uInt)dec);
	if (buf[dec] != (uint8_t)crc || buf[dec + 1] != (uint8_t)(crc >> 8) || buf[dec + 2] != (uint8_t)(crc >> 16) ||
	    buf[dec + 3] != (uint8_t)(crc >> 24)) {
		*why = "fails its CRC-32 check (mistyped or truncated?)";
		dhchap_wipe(buf, sizeof(buf));
		return -1;
	}
	memcpy(key, buf, (size_t)dec);
	dhchap_wipe(buf, sizeof(buf));
	return dec;
}

int dhchap_key_parse(const char *s, struct dhchap_key *k, const char **why)
{
	const char *p, *end;
	size_t n;
	int len;

	memset(k, 0, sizeof(*k));
	if (strncmp(s, "DHHC-1:", 7) || s[7] != '0' || s[8] < '0' || s[8] > '3' || s[9] != ':') {
		*why = "is not a DH-HMAC-CHAP secret (expected \"DHHC-1:0N:<base64>:\" with N 0 to 3, as nvme gen-dhchap-key prints)";
		return -1;
	}
	p = s + 10;
	end = strchr(p, ':');
	if (end && end[1]) {
		*why = "has text after the closing ':'";
		return -1;
	}
	n = end ? (size_t)(end - p) : strlen(p);
	len = nvme_secret_decode(p, n, k->key, sizeof(k->key), why);
	if (len < 0)
		return -1;
	if (len != 32 && len != 48 && len != 64) {
		*why = "holds a key of the wrong length (32, 48 or 64 bytes and a 4-byte CRC)";
		dhchap_wipe(k, sizeof(*k));
		return -1;
	}
	k->len = (uint8_t)len;
	k->hash = (uint8_t)(s[8] - '0');
	return 0;
}

int dhchap_transform(const struct dhchap_key *k, const char *nqn, uint8_t out[DHCHAP_MAX_HASH_LEN], size_t *out_len)
{
	uint8_t data[256 + 17];
	size_t n = strlen(nqn);

	if (!k->len)
		return -1;
	if (k->hash == DHCHAP_HASH_NONE) {
		memcpy(out, k->key, k->len);
		*out_len = k->len;
		return 0;
	}
	if (n > 255)
		return -1;
	memcpy(data, nqn, n);
	memcpy(data + n, "NVMe-over-Fabrics", 17);
	if (hmac(k->hash, k->key, k->len, data, n + 17, out))
		return -1;
	*out_len = dhchap_hash_len(k->hash);
	return 0;
}

int dhchap_augment(int hash, const uint8_t *sess, size_t sess_len, const uint8_t *chal, uint8_t *out)
{
	uint8_t hkey[DHCHAP_MAX_HASH_LEN];
	unsigned hl = 0;
	int ret;

	if (!md_of(hash) || !EVP_Digest(sess, sess_len, hkey, &hl, md_of(hash), NULL))
		return -1;
	ret = hmac(hash, hkey, hl, chal, hl, out);
	dhchap_wipe(hkey, sizeof(hkey));
	return ret;
}

int dhchap_response(int hash, const uint8_t *tkey, size_t tkey_len, const uint8_t *chal, uint32_t seq,
		    uint16_t tid, uint8_t sc_c, bool controller, const char *nqn_a, const char *nqn_b,
		    uint8_t *out)
{
	uint8_t data[DHCHAP_MAX_HASH_LEN + 4 + 2 + 1 + 10 + 256 + 1 + 256];
	size_t hl = dhchap_hash_len(hash), a = strlen(nqn_a), b = strlen(nqn_b), n = 0;
	const char *role = controller ? "Controller" : "HostHost";

	if (!hl || a > 255 || b > 255)
		return -1;
	memcpy(data, chal, hl);
	n = hl;
	data[n++] = (uint8_t)seq;
	data[n++] = (uint8_t)(seq >> 8);
	data[n++] = (uint8_t)(seq >> 16);
	data[n++] = (uint8_t)(seq >> 24);
	data[n++] = (uint8_t)tid;
	data[n++] = (uint8_t)(tid >> 8);
	data[n++] = sc_c;
	memcpy(data + n, role, strlen(role));
	n += strlen(role);
	memcpy(data + n, nqn_a, a);
	n += a;
	data[n++] = 0;
	memcpy(data + n, nqn_b, b);
	n += b;
	return hmac(hash, tkey, tkey_len, data, n, out);
}

void *dhchap_dh_generate(int gid, uint8_t *pub)
{
	const char *name = dhchap_dhgroup_name(gid);
	size_t len = dhchap_dh_len(gid);
	EVP_PKEY_CTX *ctx;
	EVP_PKEY *key = NULL;
	BIGNUM *y = NULL;
	OSSL_PARAM params[2];

	if (!name || !len)
		return NULL;
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "DH", NULL);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)name, 0);
	params[1] = OSSL_PARAM_construct_end();
	if (!ctx || EVP_PKEY_keygen_init(ctx) <= 0 || EVP_PKEY_CTX_set_params(ctx, params) <= 0 ||
	    EVP_PKEY_generate(ctx, &key) <= 0 || !EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PUB_KEY, &y) ||
	    BN_bn2binpad(y, pub, (int)len) != (int)len) {
		EVP_PKEY_free(key);
		key = NULL;
	}
	BN_free(y);
	EVP_PKEY_CTX_free(ctx);
	return key;
}

int dhchap_dh_derive(void *priv, const uint8_t *peer, size_t peer_len, uint8_t *secret, size_t secret_len)
{
	EVP_PKEY *key = priv, *pk = EVP_PKEY_new();
	EVP_PKEY_CTX *ctx = NULL;
	size_t out = secret_len;
	int ret = -1;

	if (!pk || EVP_PKEY_copy_parameters(pk, key) <= 0 || EVP_PKEY_set1_encoded_public_key(pk, peer, peer_len) <= 0)
		goto out;
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
	/* the peer's value is checked (1 < y < p - 1, in the group) */
	if (!ctx || EVP_PKEY_derive_init(ctx) <= 0 || EVP_PKEY_CTX_set_dh_pad(ctx, 1) <= 0 ||
	    EVP_PKEY_derive_set_peer_ex(ctx, pk, 1) <= 0 || EVP_PKEY_derive(ctx, secret, &out) <= 0 ||
	    out != secret_len)
		goto out;
	ret = 0;
out:
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pk);
	return ret;
}

void dhchap_dh_free(void *priv)
{
	EVP_PKEY_free(priv);
}

int dhchap_random(void *buf, size_t len)
{
	return RAND_bytes(buf, (int)len) == 1 ? 0 : -1;
}

int dhchap_memcmp(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len);
}

void dhchap_wipe(void *p, size_t len)
{
	OPENSSL_cleanse(p, len);
}
