/* SPDX-License-Identifier: MIT */
/*
 * NVMe/TCP TLS pre-shared keys (see tls_psk.h). The byte strings follow
 * the NVMe/TCP transport specification section 3.6.1 and, for the older
 * derivation, what libnvme 1.13 computes.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>

#include "common/dhchap.h"
#include "common/tls_psk.h"

int tls_psk_parse(const char *s, struct tls_psk *k, const char **why)
{
	const char *p, *end;
	size_t n;
	int len;

	memset(k, 0, sizeof(*k));
	if (strncmp(s, "NVMeTLSkey-1:", 13) || s[13] != '0' || s[14] < '0' || s[14] > '2' || s[15] != ':') {
		*why = "is not a TLS PSK in the interchange format (expected \"NVMeTLSkey-1:0N:<base64>:\" with N 0 to 2, as nvme gen-tls-key prints)";
		return -1;
	}
	p = s + 16;
	end = strchr(p, ':');
	if (!end || end[1]) {
		*why = "must end with the one ':' after the base64";
		return -1;
	}
	n = (size_t)(end - p);
	len = nvme_secret_decode(p, n, k->key, sizeof(k->key), why);
	if (len < 0)
		return -1;
	k->hash = (uint8_t)(s[14] - '0');
	if ((len != 32 && len != 48) || (k->hash == 1 && len != 32) || (k->hash == 2 && len != 48)) {
		*why = "holds a key of the wrong length (32 bytes for 01, 48 for 02, either for 00)";
		dhchap_wipe(k, sizeof(*k));
		return -1;
	}
	k->len = (uint8_t)len;
	return 0;
}

int tls_psk_cipher(const struct tls_psk *k)
{
	if (k->hash)
		return k->hash;
	return k->len == 48 ? 2 : 1;
}

static const EVP_MD *md_of(int hash)
{
	return hash == 1 ? EVP_sha256() : hash == 2 ? EVP_sha384() : NULL;
}

/* HKDF-Extract(0, key) then Expand(info, len) */
static int hkdf(int hash, const uint8_t *key, size_t klen, const uint8_t *info, size_t ilen, uint8_t *out,
		size_t olen)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
	int ok;

	ok = ctx && md_of(hash) && EVP_PKEY_derive_init(ctx) > 0 && EVP_PKEY_CTX_set_hkdf_md(ctx, md_of(hash)) > 0 &&
	     EVP_PKEY_CTX_set1_hkdf_key(ctx, key, (int)klen) > 0 && EVP_PKEY_CTX_add1_hkdf_info(ctx, info, (int)ilen) > 0 &&
	     EVP_PKEY_derive(ctx, out, &olen) > 0;
	EVP_PKEY_CTX_free(ctx);
	return ok ? 0 : -1;
}

/* HKDF info: the length, "tls13 " LABEL, CONTEXT (with a prefix), laid out
 * as the chosen derivation has it */
static size_t label(uint8_t *buf, enum tls_psk_kdf kdf, size_t len, const char *lbl, const char *prefix,
		    const char *ctx)
{
	size_t n = 0, l = strlen(lbl) + 6, c = strlen(prefix) + strlen(ctx);

	if (kdf == TLS_PSK_KDF_SPEC) {
		buf[n++] = (uint8_t)(len >> 8);
		buf[n++] = (uint8_t)len;
		buf[n++] = (uint8_t)l;
	} else {
		buf[n++] = (uint8_t)len;
		buf[n++] = (uint8_t)(len >> 8);
	}
	memcpy(buf + n, "tls13 ", 6);
	memcpy(buf + n + 6, lbl, strlen(lbl));
	n += l;
	if (kdf == TLS_PSK_KDF_SPEC)
		buf[n++] = (uint8_t)c;
	memcpy(buf + n, prefix, strlen(prefix));
	memcpy(buf + n + strlen(prefix), ctx, strlen(ctx));
	return n + c;
}

int tls_psk_identity_parse(const char *id, int *version, int *cipher, char *hostnqn, size_t hlen, char *subnqn,
			   size_t slen)
{
	const char *h, *sp, *sp2;

	if (strncmp(id, "NVMe", 4) || (id[4] != '0' && id[4] != '1') || (id[5] != 'R' && id[5] != 'G') ||
	    id[6] != '0' || (id[7] != '1' && id[7] != '2') || id[8] != ' ')
		return -1;
	*version = id[4] - '0';
	*cipher = id[7] - '0';
	h = id + 9;
	sp = strchr(h, ' ');
	if (!sp || (size_t)(sp - h) >= hlen || sp == h)
		return -1;
	memcpy(hostnqn, h, (size_t)(sp - h));
	hostnqn[sp - h] = 0;
	sp2 = strchr(sp + 1, ' ');
	if (*version == 0 ? sp2 != NULL : sp2 == NULL)
		return -1;
	if (!sp2)
		sp2 = sp + 1 + strlen(sp + 1);
	if ((size_t)(sp2 - sp - 1) >= slen || sp2 == sp + 1)
		return -1;
	memcpy(subnqn, sp + 1, (size_t)(sp2 - sp - 1));
	subnqn[sp2 - sp - 1] = 0;
	return 0;
}

int tls_psk_derive(const struct tls_psk *k, enum tls_psk_kdf kdf, int version, const char *hostnqn,
		   const char *subnqn, char *identity, uint8_t *psk)
{
	uint8_t retained[TLS_PSK_MAX], info[600];
	char digest[2 * TLS_PSK_MAX + 4] = "", prefix[8] = "";
	int cipher = tls_psk_cipher(k);
	size_t n;
	int ret = -1;

	if (!k->len || strlen(hostnqn) > 223 || strlen(subnqn) > 223 || version < 0 || version > 1)
		return -1;
	/* the retained PSK: the configured one, transformed with the host NQN */
	if (k->hash == 0) {
		memcpy(retained, k->key, k->len);
	} else {
		n = label(info, kdf, k->len, "HostNQN", "", hostnqn);
		if (hkdf(k->hash, k->key, k->len, info, n, retained, k->len))
			goto out;
	}
	if (version == 1) {
		/* PSK digest: base64 of HMAC(retained, hostnqn " " subnqn " NVMe-over-Fabrics") */
		uint8_t mac[EVP_MAX_MD_SIZE], data[470];
		unsigned ml = 0;
		size_t dl;

		dl = (size_t)snprintf((char *)data, sizeof(data), "%s %s NVMe-over-Fabrics", hostnqn, subnqn);
		if (!HMAC(md_of(cipher), retained, k->len, data, dl, mac, &ml))
			goto out;
		EVP_EncodeBlock((unsigned char *)digest, mac, (int)ml);
		snprintf(prefix, sizeof(prefix), "%02d ", cipher);
		snprintf(identity, TLS_PSK_IDENTITY_MAX, "NVMe1R%02d %s %s %s", cipher, hostnqn, subnqn, digest);
	} else {
		snprintf(identity, TLS_PSK_IDENTITY_MAX, "NVMe0R%02d %s %s", cipher, hostnqn, subnqn);
	}
	/* the TLS PSK: expanded from the retained one with the identity (v0)
	 * or the digest (v1) as context */
	n = label(info, kdf, k->len, "nvme-tls-psk", prefix, version == 1 ? digest : identity);
	ret = hkdf(cipher, retained, k->len, info, n, psk, k->len);
out:
	dhchap_wipe(retained, sizeof(retained));
	return ret;
}
