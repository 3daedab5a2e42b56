/* SPDX-License-Identifier: MIT */
/*
 * DH-HMAC-CHAP arithmetic (common/dhchap.c) against values computed
 * independently (Python's hmac and hashlib, see the comments), the DHHC-1
 * parser on good and damaged secrets, and the FFDHE exchange in every
 * group, including peer values that must be refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/dhchap.h"
#include "common/tls_psk.h"

#define HOSTNQN "nqn.2014-08.org.nvmexpress:uuid:0f0e0d0c-0b0a-0908-0706-050403020100"
#define SUBNQN "nqn.2024-01.org.example:nvmf-bridge.test"

static void unhex(const char *s, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		assert_int_equal(sscanf(s + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

static void test_key_parse(void **state)
{
	struct dhchap_key k;
	const char *why = NULL;

	(void)state;
	/* bytes 0..31, CRC-32 LE appended (python: zlib.crc32) */
	assert_int_equal(dhchap_key_parse("DHHC-1:01:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:", &k, &why), 0);
	assert_int_equal(k.len, 32);
	assert_int_equal(k.hash, DHCHAP_SHA256);
	for (unsigned i = 0; i < 32; i++)
		assert_int_equal(k.key[i], i);
	/* the closing ':' is optional, as for the Linux host */
	assert_int_equal(dhchap_key_parse("DHHC-1:00:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR", &k, &why), 0);
	assert_int_equal(k.hash, DHCHAP_HASH_NONE);
	/* 64 bytes with one '=' of padding */
	assert_int_equal(dhchap_key_parse("DHHC-1:03:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P4zODhA=:",
					  &k, &why), 0);
	assert_int_equal(k.len, 64);
	assert_int_equal(k.key[63], 63);
	/* damaged: one character, the CRC, the length, the alphabet */
	assert_int_equal(dhchap_key_parse("DHHC-1:01:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaS:", &k, &why), -1);
	assert_non_null(strstr(why, "CRC-32"));
	assert_int_equal(k.len, 0);
	assert_int_equal(dhchap_key_parse("DHHC-1:01:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdWF9mxQ==:", &k, &why), -1);
	assert_non_null(strstr(why, "wrong length"));
	assert_int_equal(dhchap_key_parse("DHHC-1:01:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh*KfiaR:", &k, &why), -1);
	assert_non_null(strstr(why, "base64"));
	assert_int_equal(dhchap_key_parse("DHHC-1:01:AAE=AwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:", &k, &why), -1);
	assert_int_equal(dhchap_key_parse("DHHC-1:1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:", &k, &why), -1);
	assert_int_equal(dhchap_key_parse("DHHC-1:01:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR::", &k, &why), -1);
	assert_int_equal(dhchap_key_parse("", &k, &why), -1);
}

static void test_names(void **state)
{
	(void)state;
	assert_int_equal(dhchap_hash_id("hmac(sha384)"), DHCHAP_SHA384);
	assert_int_equal(dhchap_hash_id("sha384"), -1);
	assert_string_equal(dhchap_hash_name(DHCHAP_SHA512), "hmac(sha512)");
	assert_null(dhchap_hash_name(0));
	assert_int_equal(dhchap_hash_len(DHCHAP_SHA256), 32);
	assert_int_equal(dhchap_hash_len(4), 0);
	assert_int_equal(dhchap_dhgroup_id("null"), DHCHAP_DH_NULL);
	assert_int_equal(dhchap_dhgroup_id("ffdhe6144"), DHCHAP_FFDHE6144);
	assert_int_equal(dhchap_dhgroup_id("ffdhe1024"), -1);
	assert_int_equal(dhchap_dh_len(DHCHAP_FFDHE8192), 1024);
	assert_int_equal(dhchap_dh_len(DHCHAP_DH_NULL), 0);
}

/* python3: hmac.new(bytes(range(32)), HOSTNQN + b"NVMe-over-Fabrics", sha256) */
static void test_transform(void **state)
{
	struct dhchap_key k = { .len = 32, .hash = DHCHAP_SHA256 };
	uint8_t out[DHCHAP_MAX_HASH_LEN], want[32];
	size_t n = 0;

	(void)state;
	for (unsigned i = 0; i < 32; i++)
		k.key[i] = (uint8_t)i;
	unhex("166d822042f045f0fbf284e3931db29827617f77a5d1615e12160de2815a9cbd", want, 32);
	assert_int_equal(dhchap_transform(&k, HOSTNQN, out, &n), 0);
	assert_int_equal(n, 32);
	assert_memory_equal(out, want, 32);
	/* hash 00: the key itself */
	k.hash = DHCHAP_HASH_NONE;
	assert_int_equal(dhchap_transform(&k, HOSTNQN, out, &n), 0);
	assert_int_equal(n, 32);
	assert_memory_equal(out, k.key, 32);
	k.len = 0;
	assert_int_equal(dhchap_transform(&k, HOSTNQN, out, &n), -1);
}

/* python3: HMAC(key, C || le32(seq) || le16(tid) || 00 || role || nqn_a || 00 || nqn_b) */
static void test_responses(void **state)
{
	struct dhchap_key k = { .len = 64, .hash = DHCHAP_SHA512 };
	uint8_t tk[64], chal[64], out[64], want[64];
	size_t n;

	(void)state;
	/* host response, SHA-384, keyed with the transformed key above */
	unhex("166d822042f045f0fbf284e3931db29827617f77a5d1615e12160de2815a9cbd", tk, 32);
	memset(chal, 0xa5, 48);
	unhex("69ec5e43433a83a9b273c0c2d9dca5f54c947e29b11c0b9c9092c6f0f8c5b87b98f5b579db0d0cacd10a8696a9a76882",
	      want, 48);
	assert_int_equal(dhchap_response(DHCHAP_SHA384, tk, 32, chal, 0x01020304, 0x0506, 0, false, HOSTNQN, SUBNQN,
					 out), 0);
	assert_memory_equal(out, want, 48);
	/* a different sequence number changes it */
	assert_int_equal(dhchap_response(DHCHAP_SHA384, tk, 32, chal, 0x01020305, 0x0506, 0, false, HOSTNQN, SUBNQN,
					 out), 0);
	assert_memory_not_equal(out, want, 48);
	/* controller response, SHA-512, the controller key (bytes 0..63,
	 * SHA-512) transformed with the subsystem NQN */
	for (unsigned i = 0; i < 64; i++)
		k.key[i] = (uint8_t)i;
	assert_int_equal(dhchap_transform(&k, SUBNQN, tk, &n), 0);
	assert_int_equal(n, 64);
	unhex("ee560402a0c0f03752cdb72bf017021be65ce6ea7f43f9e19bda3641a31a91a9ac05413300867afdc0942fc547f8a9c7"
	      "8530c44914fd91b2e2d4b7e5d2759df5", want, 64);
	assert_memory_equal(tk, want, 64);
	memset(chal, 0x5a, 64);
	unhex("d2c36463f4670a5968d6002b1b4a0b1ffcd98227ba43c0db1a5b49f1862b9baa4d04ce3f77dd7079e311eb05483236f5"
	      "1d92c0cc590df73f262ec529bc72a737", want, 64);
	assert_int_equal(dhchap_response(DHCHAP_SHA512, tk, 64, chal, 7, 9, 0, true, SUBNQN, HOSTNQN, out), 0);
	assert_memory_equal(out, want, 64);
}

/* python3: hmac.new(sha256(bytes(range(256))).digest(), b"\x11" * 32, sha256) */
static void test_augment(void **state)
{
	uint8_t sess[256], chal[32], out[32], want[32];

	(void)state;
	for (unsigned i = 0; i < 256; i++)
		sess[i] = (uint8_t)i;
	memset(chal, 0x11, sizeof(chal));
	unhex("6517f094dd1532611646f7b7979b3eb72c37a63a91929c9d90855b5b43124c50", want, 32);
	assert_int_equal(dhchap_augment(DHCHAP_SHA256, sess, sizeof(sess), chal, out), 0);
	assert_memory_equal(out, want, 32);
	assert_int_equal(dhchap_augment(0, sess, sizeof(sess), chal, out), -1);
}

/* Both sides of each group arrive at the same secret; values that are not
 * in the group (0, 1, p - 1, all ones) are refused */
static void test_dh_groups(void **state)
{
	static uint8_t pa[DHCHAP_MAX_DH_LEN], pb[DHCHAP_MAX_DH_LEN], sa[DHCHAP_MAX_DH_LEN], sb[DHCHAP_MAX_DH_LEN];
	static uint8_t bad[DHCHAP_MAX_DH_LEN];

	(void)state;
	for (int g = DHCHAP_FFDHE2048; g <= DHCHAP_FFDHE8192; g++) {
		size_t len = dhchap_dh_len(g);
		void *a = dhchap_dh_generate(g, pa), *b = dhchap_dh_generate(g, pb);

		assert_non_null(a);
		assert_non_null(b);
		assert_memory_not_equal(pa, pb, len);
		assert_int_equal(dhchap_dh_derive(a, pb, len, sa, len), 0);
		assert_int_equal(dhchap_dh_derive(b, pa, len, sb, len), 0);
		assert_memory_equal(sa, sb, len);
		memset(bad, 0, len);
		assert_int_equal(dhchap_dh_derive(a, bad, len, sa, len), -1);
		bad[len - 1] = 1;
		assert_int_equal(dhchap_dh_derive(a, bad, len, sa, len), -1);
		memset(bad, 0xff, len);         /* greater than p */
		assert_int_equal(dhchap_dh_derive(a, bad, len, sa, len), -1);
		dhchap_dh_free(a);
		dhchap_dh_free(b);
	}
	assert_null(dhchap_dh_generate(DHCHAP_DH_NULL, pa));
	assert_null(dhchap_dh_generate(6, pa));
}

/* NVMe/TCP TLS PSKs: the payload nvme-cli 2.13 inserted into the Linux
 * host's keyring (VM test nvmet_tls) for this configured key and these
 * NQNs, and tests/tools/nvme_tls_psk.py's values for both derivations */
#define TLS_KEY1 "NVMeTLSkey-1:01:KI0kE4hVRuRk7cIbb6/zFjH17CYYDFxxB56ivclWbTziEdvn:"
#define TLS_HOST1 "nqn.2014-08.org.nvmexpress:uuid:1c670ceb-7fab-4893-875c-bdd7b7ae1497"
#define TLS_SUB1 "nqn.2024-01.io.nvmf-bridge:tls"
#define TLS_KEY2 "NVMeTLSkey-1:02:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vcSEgBQ==:"

static void test_tls_psk(void **state)
{
	struct tls_psk k;
	char id[TLS_PSK_IDENTITY_MAX], h[224], sub[224];
	uint8_t psk[48], want[48];
	const char *why = NULL;
	int v, c;

	(void)state;
	assert_int_equal(tls_psk_parse(TLS_KEY1, &k, &why), 0);
	assert_int_equal(k.len, 32);
	assert_int_equal(k.hash, 1);
	assert_int_equal(tls_psk_cipher(&k), 1);
	assert_int_equal(tls_psk_derive(&k, TLS_PSK_KDF_COMPAT, 0, TLS_HOST1, TLS_SUB1, id, psk), 0);
	assert_string_equal(id, "NVMe0R01 " TLS_HOST1 " " TLS_SUB1);
	unhex("6b08b3f7db72c221582e6c1d1fdcf91bba171921d246bded90b699b4fe763474", want, 32);
	assert_memory_equal(psk, want, 32);        /* what nvme-cli 2.13 inserted */
	assert_int_equal(tls_psk_derive(&k, TLS_PSK_KDF_SPEC, 0, TLS_HOST1, TLS_SUB1, id, psk), 0);
	unhex("3135f6730a9dfc2a5a18a9b9dd76ec758063e6326030d9c3e458a60508e97e76", want, 32);
	assert_memory_equal(psk, want, 32);
	/* SHA-384, 48 bytes counting up */
	assert_int_equal(tls_psk_parse(TLS_KEY2, &k, &why), 0);
	assert_int_equal(tls_psk_cipher(&k), 2);
	assert_int_equal(tls_psk_derive(&k, TLS_PSK_KDF_COMPAT, 0, HOSTNQN, "nqn.2024-01.org.example:ssd0", id, psk), 0);
	assert_string_equal(id, "NVMe0R02 " HOSTNQN " nqn.2024-01.org.example:ssd0");
	unhex("6a50b78afa45dfdd1a829e2b1cc1aa38fb4719f9003fbbf937424e4b147ed2eaf7b6caae5803bbf978fe60ae3f997cdc", want, 48);
	assert_memory_equal(psk, want, 48);
	assert_int_equal(tls_psk_derive(&k, TLS_PSK_KDF_SPEC, 0, HOSTNQN, "nqn.2024-01.org.example:ssd0", id, psk), 0);
	unhex("6f161fb42e0629f13d360d1330c273be01c8d69dd5830564eb40cf5b348d7380051c004fa949bea1b5568d2c2f873c75", want, 48);
	assert_memory_equal(psk, want, 48);
	/* identities */
	assert_int_equal(tls_psk_identity_parse("NVMe0R01 " TLS_HOST1 " " TLS_SUB1, &v, &c, h, sizeof(h), sub, sizeof(sub)), 0);
	assert_int_equal(v, 0);
	assert_int_equal(c, 1);
	assert_string_equal(h, TLS_HOST1);
	assert_string_equal(sub, TLS_SUB1);
	assert_int_equal(tls_psk_identity_parse("NVMe1R02 h s digest", &v, &c, h, sizeof(h), sub, sizeof(sub)), 0);
	assert_int_equal(v, 1);
	assert_int_equal(tls_psk_identity_parse("NVMe0R01 h s extra", &v, &c, h, sizeof(h), sub, sizeof(sub)), -1);
	assert_int_equal(tls_psk_identity_parse("NVMe0R03 h s", &v, &c, h, sizeof(h), sub, sizeof(sub)), -1);
	assert_int_equal(tls_psk_identity_parse("NVMe0R01 h", &v, &c, h, sizeof(h), sub, sizeof(sub)), -1);
	assert_int_equal(tls_psk_identity_parse("client1", &v, &c, h, sizeof(h), sub, sizeof(sub)), -1);
	/* damaged keys */
	assert_int_equal(tls_psk_parse("NVMeTLSkey-1:01:KI0kE4hVRuRk7cIbb6/zFjH17CYYDFxxB56ivclWbTziEdvm:", &k, &why), -1);
	assert_non_null(strstr(why, "CRC-32"));
	assert_int_equal(tls_psk_parse("NVMeTLSkey-1:02:KI0kE4hVRuRk7cIbb6/zFjH17CYYDFxxB56ivclWbTziEdvn:", &k, &why), -1);
	assert_non_null(strstr(why, "wrong length"));
	assert_int_equal(tls_psk_parse("NVMeTLSkey-1:01:KI0kE4hVRuRk7cIbb6/zFjH17CYYDFxxB56ivclWbTziEdvn", &k, &why), -1);
	assert_int_equal(tls_psk_parse("DHHC-1:01:KI0kE4hVRuRk7cIbb6/zFjH17CYYDFxxB56ivclWbTziEdvn:", &k, &why), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_parse),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_transform),
		cmocka_unit_test(test_responses),
		cmocka_unit_test(test_augment),
		cmocka_unit_test(test_dh_groups),
		cmocka_unit_test(test_tls_psk),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
