#!/usr/bin/env python3
"""NVMe/TCP TLS PSK derivation, independent of libnvme (Python stdlib only).

From a configured PSK in interchange format
(NVMeTLSkey-1:HH:base64(key || crc32(key) little-endian):), a host NQN and a
subsystem NQN it computes what libnvme's `nvme gen-tls-key --insert` /
`nvme check-tls-key --insert` put into the kernel's .nvme keyring: the PSK
identity (version 0: "NVMe0R<cipher> <hostnqn> <subnqn>") and the TLS PSK
(the key's payload), in both of libnvme's derivations:

  compat  libnvme <= 1.15 (nvme-cli <= 2.15, e.g. trixie's 1.13/2.13; kept
          as the *_compat functions from 1.16 on, `nvme gen-tls-key
          --compat` in nvme-cli 2.16):
          HKDF-Expand info = LE uint16 length || "tls13 " || label || context,
          no length prefixes
  spec    libnvme >= 1.16 (commit fde6b1f5 "TLS PSK derivation fixes"; RFC
          8446 HkdfLabel, as the NVMe/TCP spec says):
          HKDF-Expand info = BE uint16 length || len || "tls13 " label
                             || len || context

Both: PRK = HKDF-Extract(salt = empty, IKM); output length = the configured
key's length.
  retained PSK = HKDF-Expand-Label(HKDF-Extract(configured), "HostNQN",
                 hostnqn) with the hash HH names (01 SHA-256, 02 SHA-384);
                 HH 00: the configured key is the retained key
  TLS PSK      = HKDF-Expand-Label(HKDF-Extract(retained), "nvme-tls-psk",
                 identity) with the cipher's hash: HH, or for HH 00 the one
                 the key length implies (32: SHA-256, 48: SHA-384)
(libnvme's src/nvme/linux.c: derive_retained_key{,_compat},
derive_tls_key{,_compat}, derive_nvme_keys, v1.13 and v1.16.2.)

usage:
  nvme_tls_psk.py --key KEY --hostnqn H --subnqn S [--payload HEX]
  nvme_tls_psk.py --facts tls_facts.txt     (what auth.sh's nvmet_tls wrote:
                                             key=, hostnqn=, subnqn=,
                                             payload_hex=, identity= lines)
  nvme_tls_psk.py --self-test               (libnvme's own test vectors)
With a payload (or facts) it says which variant reproduces it; exit 0 when
one does, 1 when none does, 2 on bad input.
"""
import argparse
import base64
import hashlib
import hmac
import struct
import sys
import zlib

HASHES = {1: hashlib.sha256, 2: hashlib.sha384}
HASH_NAMES = {1: "SHA-256", 2: "SHA-384"}
VARIANTS = ("compat", "spec")


def parse_configured(key, prefixes=("NVMeTLSkey-1",)):
    """NVMeTLSkey-1:HH:base64:  ->  (hh, key bytes); checks the CRC-32.
    (`nvme tls-key --export` writes the inserted payload the same way,
    as NVMeTLSkey-0:HH:...: in nvme-cli 2.13)"""
    parts = key.strip().split(":")
    if len(parts) != 4 or parts[0] not in prefixes or parts[3] != "":
        raise ValueError("not %s:HH:<base64>: : %r" % ("|".join(prefixes), key))
    hh = int(parts[1], 10)
    if hh not in (0, 1, 2):
        raise ValueError("unknown hash indicator %s" % parts[1])
    raw = base64.b64decode(parts[2], validate=True)
    if len(raw) not in (36, 52):
        raise ValueError("decoded length %d is not 32 or 48 bytes + CRC-32" % len(raw))
    psk, crc = raw[:-4], raw[-4:]
    if struct.pack("<I", zlib.crc32(psk) & 0xFFFFFFFF) != crc:
        raise ValueError("CRC-32 mismatch in %r" % key)
    return hh, psk


def hkdf_extract(hfunc, ikm):
    # OpenSSL's EVP_PKEY_HKDF without a salt: an empty salt (HMAC pads the
    # key with zeros, the same as HashLen zero bytes)
    return hmac.new(b"", ikm, hfunc).digest()


def hkdf_expand(hfunc, prk, info, length):
    out, t, i = b"", b"", 1
    while len(out) < length:
        t = hmac.new(prk, t + info + bytes([i]), hfunc).digest()
        out += t
        i += 1
    return out[:length]


def hkdf_info(variant, length, label, context):
    label = b"tls13 " + label
    if variant == "compat":
        return struct.pack("<H", length) + label + context
    if len(label) > 255 or len(context) > 255:
        raise ValueError("label or context longer than 255 bytes")
    return (struct.pack(">H", length) + bytes([len(label)]) + label
            + bytes([len(context)]) + context)


def expand_label(variant, hfunc, secret, label, context, length):
    prk = hkdf_extract(hfunc, secret)
    return hkdf_expand(hfunc, prk, hkdf_info(variant, length, label, context), length)


def cipher_of(hh, psk):
    if hh:
        return hh
    return {32: 1, 48: 2}[len(psk)]


def retained_psk(variant, hh, psk, hostnqn):
    if hh == 0:
        return psk
    return expand_label(variant, HASHES[hh], psk, b"HostNQN", hostnqn.encode(), len(psk))


def psk_digest(cipher, retained, hostnqn, subnqn):
    """identity version 1's digest: base64(HMAC(retained, "<host> <sub> NVMe-over-Fabrics"))"""
    d = hmac.new(retained, ("%s %s NVMe-over-Fabrics" % (hostnqn, subnqn)).encode(),
                 HASHES[cipher]).digest()
    return base64.b64encode(d).decode()


def identity(version, cipher, hostnqn, subnqn, digest=None):
    if version == 0:
        return "NVMe0R%02d %s %s" % (cipher, hostnqn, subnqn)
    return "NVMe1R%02d %s %s %s" % (cipher, hostnqn, subnqn, digest)


def tls_psk(variant, cipher, retained, ident_or_digest, version=0):
    context = ident_or_digest.encode()
    if version == 1:
        context = ("%02d " % cipher).encode() + context
    return expand_label(variant, HASHES[cipher], retained, b"nvme-tls-psk", context, len(retained))


def derive(variant, key, hostnqn, subnqn, version=0):
    hh, psk = parse_configured(key)
    cipher = cipher_of(hh, psk)
    ret = retained_psk(variant, hh, psk, hostnqn)
    digest = psk_digest(cipher, ret, hostnqn, subnqn) if version == 1 else None
    ident = identity(version, cipher, hostnqn, subnqn, digest)
    context = digest if version == 1 else ident
    return {"hh": hh, "configured": psk, "cipher": cipher, "retained": ret,
            "identity": ident, "tls_psk": tls_psk(variant, cipher, ret, context, version)}


def self_test():
    """libnvme v1.16.2 test/psk.c: interchange format and the version 1
    identities of both variants (which exercise the retained derivation)."""
    k = bytes.fromhex("5512DBB6737D0106F65975B773DFB011FFC344BCF442E2DD6D8BC4870B5D5B03")
    k48 = k + bytes.fromhex("FFC344BCF442E2DD6D8BC4870B5D5B03")
    fails = 0

    def check(what, got, exp):
        nonlocal fails
        ok = got == exp
        fails += not ok
        print("%s %s%s" % ("ok  " if ok else "FAIL", what, "" if ok else ": got %s, expected %s" % (got, exp)))

    for hh, raw, exp in ((1, k, "NVMeTLSkey-1:01:VRLbtnN9AQb2WXW3c9+wEf/DRLz0QuLdbYvEhwtdWwNf9LrZ:"),
                         (2, k48, "NVMeTLSkey-1:02:VRLbtnN9AQb2WXW3c9+wEf/DRLz0QuLdbYvEhwtdWwP/w0S89ELi3W2LxIcLXVsDn8kXZQ==:")):
        enc = "NVMeTLSkey-1:%02d:%s:" % (hh, base64.b64encode(raw + struct.pack("<I", zlib.crc32(raw))).decode())
        check("interchange format HH %02d" % hh, enc, exp)
        check("parse HH %02d" % hh, parse_configured(exp), (hh, raw))
    h, s = "nqn.psk-test-host", "nqn.psk-test-subsys"
    vectors = {
        ("spec", 1): "NVMe1R01 nqn.psk-test-host nqn.psk-test-subsys iSbjiStwJ/1TrTvDlt2fjFmzvsytOJelidNnA+X5lEU=",
        ("spec", 2): "NVMe1R02 nqn.psk-test-host nqn.psk-test-subsys QhW2+Rp6RzHlNtCslyRxMnwJ11tKKhz8JCAQpQ+XUD8f9td1VeH5h53yz2wKJG1a",
        ("compat", 1): "NVMe1R01 nqn.psk-test-host nqn.psk-test-subsys 66GuqV08TsAGII39teWUfwQwizjv06Jy8jOcX3NAAzM=",
        ("compat", 2): "NVMe1R02 nqn.psk-test-host nqn.psk-test-subsys RsKmYJ3nAn1ApjjMloJFbAkLPivONDAX/xW327YBUsn2eGShXSjCZvBaOxscLqmz",
    }
    for (variant, hh), exp in sorted(vectors.items()):
        raw = k if hh == 1 else k48
        key = "NVMeTLSkey-1:%02d:%s:" % (hh, base64.b64encode(raw + struct.pack("<I", zlib.crc32(raw))).decode())
        check("identity v1 %s HH %02d" % (variant, hh), derive(variant, key, h, s, version=1)["identity"], exp)
    # RFC 5869 test case 3 (SHA-256, empty salt and info): HKDF itself
    prk = hkdf_extract(hashlib.sha256, bytes([0x0b] * 22))
    check("RFC 5869 A.3 PRK", prk.hex(), "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04")
    check("RFC 5869 A.3 OKM", hkdf_expand(hashlib.sha256, prk, b"", 42).hex(),
          "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8")
    print("self-test: %s" % ("PASS" if not fails else "%d FAILED" % fails))
    return 0 if not fails else 1


def read_facts(path):
    facts = {}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if "=" in line and not line.startswith("#"):
                k, v = line.split("=", 1)
                facts[k.strip()] = v
    return facts


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--key", help="configured PSK, NVMeTLSkey-1:HH:...:")
    ap.add_argument("--hostnqn")
    ap.add_argument("--subnqn")
    ap.add_argument("--payload", help="the inserted key's payload (hex) to compare with")
    ap.add_argument("--identity", help="the key's description (/proc/keys) to compare with")
    ap.add_argument("--facts", help="a file of key=, hostnqn=, subnqn=, payload_hex=, identity= lines")
    ap.add_argument("--self-test", action="store_true")
    a = ap.parse_args()
    if a.self_test:
        return self_test()
    if a.facts:
        f = read_facts(a.facts)
        a.key = a.key or f.get("key")
        a.hostnqn = a.hostnqn or f.get("hostnqn")
        a.subnqn = a.subnqn or f.get("subnqn")
        a.payload = a.payload or f.get("payload_hex") or None
        a.identity = a.identity or f.get("identity") or None
        a.export = f.get("export") or None
    else:
        a.export = None
    if not (a.key and a.hostnqn and a.subnqn):
        ap.error("need --key, --hostnqn and --subnqn (or --facts)")
    try:
        res = {v: derive(v, a.key, a.hostnqn, a.subnqn) for v in VARIANTS}
    except ValueError as e:
        print("nvme_tls_psk: %s" % e, file=sys.stderr)
        return 2
    r0 = res["compat"]
    print("configured key  HH %02d, %d bytes: %s" % (r0["hh"], len(r0["configured"]), r0["configured"].hex()))
    print("identity (v0)   %s" % r0["identity"])
    print("cipher hash     %02d (%s)" % (r0["cipher"], HASH_NAMES[r0["cipher"]]))
    for v in VARIANTS:
        print("%-7s retained %s" % (v, res[v]["retained"].hex()))
        print("%-7s TLS PSK  %s" % (v, res[v]["tls_psk"].hex()))
    rc = 0
    if a.identity is not None:
        ok = a.identity == r0["identity"]
        print("identity given  %s: %s" % (a.identity, "matches" if ok else "DIFFERS"))
        rc = 0 if ok else 1
    if a.export:
        # "<identity> NVMeTLSkey-0:01:<base64>:" from `nvme tls-key --export`
        try:
            _, exported = parse_configured(a.export.split()[-1], ("NVMeTLSkey-0", "NVMeTLSkey-1"))
            print("exported        %s (nvme tls-key --export)" % exported.hex())
            if a.payload and exported.hex() != a.payload.strip().lower():
                print("EXPORT DIFFERS from the payload read with keyctl")
                rc = 1
            a.payload = a.payload or exported.hex()
        except ValueError as e:
            print("export not parsed: %s" % e)
    if a.payload is not None:
        p = a.payload.strip().lower().replace(" ", "").replace(":", "")
        match = [v for v in VARIANTS if res[v]["tls_psk"].hex() == p]
        also = [v for v in VARIANTS if res[v]["retained"].hex() == p]
        print("payload         %s" % p)
        if match:
            print("MATCH: the payload is the TLS PSK of the %s derivation" % " and ".join(match))
        elif also:
            print("NO TLS PSK MATCH; the payload equals the %s retained PSK" % " and ".join(also))
            rc = 1
        else:
            print("NO MATCH: neither derivation reproduces the payload")
            rc = 1
        if match and rc:
            print("(but see the differences above)")
    return rc


if __name__ == "__main__":
    sys.exit(main())
