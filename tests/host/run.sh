#!/bin/bash
# Host end-to-end tests, no VM: nvmf-bridged with mem and file namespaces on
# 127.0.0.1, driven by the project's own NVMe/TCP initiator (nvmf-test-host).
# usage: run.sh DAEMON INITIATOR LABEL
# Prints one line per test and "host[LABEL]: N passed, N failed".
set -uo pipefail
DAEMON=$(readlink -f "$1") HOST=$(readlink -f "$2") LABEL=$3
W=$(mktemp -d /tmp/nvmfb-host.XXXXXX)
PORT=$((24000 + RANDOM % 1000)) DPORT=$((25000 + RANDOM % 1000))
OPEN=nqn.2024-01.io.nvmf-bridge:host-open
RESTRICTED=nqn.2024-01.io.nvmf-bridge:host-restricted
GOOD_HOST=nqn.2014-08.org.nvmexpress:uuid:6b1e6a52-0f5c-4c1e-9b7e-1c0ffee00001
OTHER_HOST=nqn.2014-08.org.nvmexpress:uuid:6b1e6a52-0f5c-4c1e-9b7e-1c0ffee00002
# DH-HMAC-CHAP: a subsystem that requires it, hosts with keys of each hash
SECURE=nqn.2024-01.io.nvmf-bridge:secure
SECURE_ANY=nqn.2024-01.io.nvmf-bridge:secure-any
AUTH_HOST=nqn.2014-08.org.nvmexpress:uuid:6b1e6a52-0f5c-4c1e-9b7e-1c0ffee00011
AUTH2_HOST=nqn.2014-08.org.nvmexpress:uuid:6b1e6a52-0f5c-4c1e-9b7e-1c0ffee00012
# a secret as nvme gen-dhchap-key (or, with the prefix NVMeTLSkey-1,
# gen-tls-key) prints it: PREFIX:HH:base64(key || CRC-32 LE):
genkey() { python3 -c 'import base64,os,sys,zlib
k=os.urandom(int(sys.argv[2]))
print("%s:%02d:%s:" % (sys.argv[3], int(sys.argv[1]), base64.b64encode(k + zlib.crc32(k).to_bytes(4, "little")).decode()))' "$1" "$2" "${3:-DHHC-1}"; }
K1=$(genkey 1 32) K1_NEW=$(genkey 0 32) K2=$(genkey 2 48) C2=$(genkey 3 64) K_OTHER=$(genkey 1 32)
# one host per further DH group (a host authenticates in its configured group only)
GROUPS_MORE="ffdhe3072 ffdhe4096 ffdhe6144 ffdhe8192" AUTH_G_HOST=nqn.2024-01.io.nvmf-bridge:host-
# TLS: a port that requires it, one where it is optional; a host's PSK
TLSPORT=$((PORT + 1)) OPTPORT=$((PORT + 2))
TLS_HOST=nqn.2014-08.org.nvmexpress:uuid:6b1e6a52-0f5c-4c1e-9b7e-1c0ffee00021
TLS_KEY=$(genkey 1 32 NVMeTLSkey-1)
pass=0 fail=0 DPID=
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=99 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

cleanup() {
	[ -n "$DPID" ] && kill -KILL "$DPID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT

ok() { pass=$((pass + 1)); echo "ok   [host/$LABEL] $1"; }
bad() { fail=$((fail + 1)); echo "FAIL [host/$LABEL] $1"; shift; for f in "$@"; do [ -f "$f" ] && sed 's/^/    /' "$f" | tail -n 20; done; }
h() { local cmd=$1; shift; timeout 60 "$HOST" "$cmd" -a 127.0.0.1 -s "$PORT" -t 5000 "$@"; }

truncate -s 32M "$W/file.img"
cat > "$W/config.json" <<EOC
{
  "bridge": { "discovery_port": $DPORT, "reactors": 2, "rpc_socket": "$W/rpc.sock" },
  "hosts": [ { "nqn": "$GOOD_HOST" },
             { "nqn": "$AUTH_HOST", "dhchap": { "key": "$K1" } },
             { "nqn": "$TLS_HOST", "tls_psk": "$TLS_KEY" },
             { "nqn": "$AUTH2_HOST", "dhchap": { "key": "$K2", "ctrl_key": "$C2", "hash": "hmac(sha384)", "dhgroup": "ffdhe2048" } }$(
	for g in $GROUPS_MORE; do printf ',\n             { "nqn": "%s%s", "dhchap": { "key": "%s", "ctrl_key": "%s", "hash": "hmac(sha512)", "dhgroup": "%s" } }' \
		"$AUTH_G_HOST" "$g" "$K2" "$C2" "$g"; done) ],
  "ports": [ { "portid": 1,
               "addr": { "trtype": "tcp", "adrfam": "ipv4", "traddr": "127.0.0.1", "trsvcid": "$PORT" },
               "param": { "inline_data_size": "16384" },
               "subsystems": [ "$OPEN", "$RESTRICTED", "$SECURE", "$SECURE_ANY" ] },
             { "portid": 2,
               "addr": { "trtype": "tcp", "adrfam": "ipv4", "traddr": "127.0.0.1", "trsvcid": "$TLSPORT", "tsas": "tls1.3" },
               "subsystems": [ "$OPEN" ] },
             { "portid": 3,
               "addr": { "trtype": "tcp", "adrfam": "ipv4", "traddr": "127.0.0.1", "trsvcid": "$OPTPORT", "tsas": "tls1.3",
                         "treq": "not required" },
               "subsystems": [ "$OPEN" ] } ],
  "subsystems": [
    { "nqn": "$OPEN",
      "attr": { "allow_any_host": "1", "model": "host test model", "serial": "HOSTTEST0001" },
      "namespaces": [ { "nsid": 1, "device": { "mem": "64MiB" } },
                      { "nsid": 2, "device": { "path": "$W/file.img" } } ] },
    { "nqn": "$RESTRICTED",
      "attr": { "allow_any_host": "0" },
      "allowed_hosts": [ "$GOOD_HOST" ],
      "namespaces": [ { "nsid": 1, "device": { "mem": "16MiB", "block_size": 4096 } } ] },
    { "nqn": "$SECURE", "require_auth": true,
      "allowed_hosts": [ "$AUTH_HOST", "$AUTH2_HOST"$(for g in $GROUPS_MORE; do printf ', "%s%s"' "$AUTH_G_HOST" "$g"; done) ],
      "namespaces": [ { "nsid": 1, "device": { "mem": "16MiB" } } ] },
    { "nqn": "$SECURE_ANY", "require_auth": true,
      "attr": { "allow_any_host": "1" },
      "namespaces": [ { "nsid": 1, "device": { "null": "16MiB" } } ] }
  ]
}
EOC

# --- configuration refused before anything starts ---------------------------
bad_cfg() {   # bad_cfg NAME JSON EXPECTED_PATH
	printf '%s\n' "$2" > "$W/bad.json"
	if timeout 10 "$DAEMON" --config "$W/bad.json" > "$W/bad.out" 2>&1; then
		bad "config_refused_$1 (accepted)" "$W/bad.out"
	elif ! grep -q "bad.json: $3" "$W/bad.out"; then
		bad "config_refused_$1 (message does not name file and '$3')" "$W/bad.out"
	else
		ok "config_refused_$1: $(head -n 1 "$W/bad.out" | cut -c1-150)"
	fi
}
bad_cfg nqn '{"subsystems":[{"nqn":"nqn.2024-13.io.x:bad","namespaces":[]}]}' 'subsystems\[0\].nqn'
bad_cfg nsid_dup '{"subsystems":[{"nqn":"nqn.2024-01.io.x:a","namespaces":[{"nsid":1,"device":{"mem":"1MiB"}},{"nsid":1,"device":{"mem":"1MiB"}}]}]}' 'subsystems\[0\].namespaces\[1\].nsid'
bad_cfg port '{"ports":[{"portid":1,"addr":{"trtype":"tcp","adrfam":"ipv4","traddr":"127.0.0.1","trsvcid":"70000"},"subsystems":[]}]}' 'ports\[0\].addr.trsvcid'
bad_cfg unknown_key '{"subsystems":[{"nqn":"nqn.2024-01.io.x:a","bogus":1,"namespaces":[]}]}' 'subsystems\[0\].bogus'
K1_TYPO=${K1:0:12}$([ "${K1:12:1}" = A ] && echo B || echo A)${K1:13}   # one character mistyped
bad_cfg dhchap_crc "{\"hosts\":[{\"nqn\":\"$AUTH_HOST\",\"dhchap\":{\"key\":\"$K1_TYPO\"}}]}" 'hosts\[0\].dhchap.key: fails its CRC-32 check'
bad_cfg dhchap_hash "{\"hosts\":[{\"nqn\":\"$AUTH_HOST\",\"dhchap\":{\"key\":\"$K1\",\"hash\":\"hmac(md5)\"}}]}" 'hosts\[0\].dhchap.hash'
bad_cfg require_auth_keyless "{\"hosts\":[{\"nqn\":\"$GOOD_HOST\"}],\"subsystems\":[{\"nqn\":\"$SECURE\",\"require_auth\":true,\"allowed_hosts\":[\"$GOOD_HOST\"],\"namespaces\":[]}]}" 'subsystems\[0\].allowed_hosts\[0\]: host .* has no DH-HMAC-CHAP key'
if timeout 10 "$DAEMON" --config "$W/config.json" --check > "$W/check.out" 2>&1; then
	ok "config_check: $(cat "$W/check.out")"
else
	bad "config_check" "$W/check.out"
fi

# --- the daemon ----------------------------------------------------------------
"$DAEMON" --config "$W/config.json" --verbose > "$W/daemon.log" 2>&1 &
DPID=$!
listening() { grep -qi ":$(printf '%04X' "$1") 00000000:0000 0A" /proc/net/tcp; }
for _ in $(seq 100); do listening "$PORT" && listening "$DPORT" && break; sleep 0.1; done
if listening "$PORT" && listening "$DPORT"; then ok "listen on $PORT and discovery on $DPORT"; else bad listen "$W/daemon.log"; fi

if h discover -s "$DPORT" --hostnqn "$GOOD_HOST" > "$W/disc.out" 2>&1 &&
   grep -q "$OPEN" "$W/disc.out" && grep -q "$RESTRICTED" "$W/disc.out" && ! grep -q '0\.0\.0\.0' "$W/disc.out"; then
	ok "discover (allowed host sees both subsystems)"
else
	bad discover "$W/disc.out"
fi
if h discover -s "$DPORT" --hostnqn "$OTHER_HOST" > "$W/disc2.out" 2>&1 &&
   grep -q "$OPEN" "$W/disc2.out" && ! grep -q "$RESTRICTED" "$W/disc2.out"; then
	ok "discover (other host does not see the restricted subsystem)"
else
	bad discover_filtered "$W/disc2.out"
fi
if h identify -n "$OPEN" > "$W/id.out" 2>&1 && grep -q 'host test model' "$W/id.out" && grep -q HOSTTEST0001 "$W/id.out"; then
	ok "identify (model and serial from attr)"
else
	bad identify "$W/id.out"
fi

selftest() {   # selftest NAME ARGS...
	local n=$1; shift
	if h selftest "$@" > "$W/$n.out" 2>&1 && grep -q ' 0 mismatches' "$W/$n.out"; then
		ok "$n: $(tail -n 1 "$W/$n.out")"
	else
		bad "$n" "$W/$n.out"
	fi
}
selftest selftest_mem -n "$OPEN" --nsid 1
selftest selftest_file -n "$OPEN" --nsid 2
selftest selftest_digests -n "$OPEN" --nsid 1 -g -G
selftest selftest_hdgst_only -n "$OPEN" --nsid 2 -g
selftest selftest_dissqfc -n "$OPEN" --nsid 1 --dissqfc
selftest selftest_no_inline -n "$OPEN" --nsid 1 --no-inline --r2t-small
selftest selftest_hpda -n "$OPEN" --nsid 1 --hpda 3 -G
selftest selftest_4k_blocks -n "$RESTRICTED" --hostnqn "$GOOD_HOST"

if h selftest -n "$RESTRICTED" --hostnqn "$OTHER_HOST" > "$W/refused.out" 2>&1; then
	bad "unknown_host_refused (connected)" "$W/refused.out"
elif grep -qiE 'invalid host|0x184|status 0x4184|refused' "$W/refused.out"; then
	ok "unknown_host_refused: $(grep -iE 'invalid host|0x184|refused' "$W/refused.out" | head -n 1 | cut -c1-120)"
else
	bad "unknown_host_refused (failed, but not with Invalid Host)" "$W/refused.out"
fi

# --- DH-HMAC-CHAP (in-band authentication) ---------------------------------------
# expect_auth NAME PATTERN ARGS...: the command passes and prints PATTERN
expect_auth() {
	local n=$1 pat=$2; shift 2
	if h "$@" > "$W/$n.out" 2>&1 && grep -qE "$pat" "$W/$n.out"; then
		ok "$n: $(grep -E "$pat" "$W/$n.out" | head -n 1 | cut -c1-110)"
	else
		bad "$n" "$W/$n.out"
	fi
}
# refuse_auth NAME PATTERN ARGS...: the command fails and says PATTERN
refuse_auth() {
	local n=$1 pat=$2; shift 2
	if h "$@" > "$W/$n.out" 2>&1; then
		bad "$n (connected)" "$W/$n.out"
	elif grep -qE "$pat" "$W/$n.out"; then
		ok "$n: $(grep -E "$pat" "$W/$n.out" | head -n 1 | sed 's/.*: q0: //' | cut -c1-110)"
	else
		bad "$n (failed otherwise)" "$W/$n.out"
	fi
}
AUTH_OK='authenticated: DH-HMAC-CHAP'
selftest auth_selftest_sha256 -n "$SECURE" --hostnqn "$AUTH_HOST" --dhchap-secret "$K1"
grep -q "authenticated: DH-HMAC-CHAP hmac(sha256), DH group null$" "$W/auth_selftest_sha256.out" ||
	bad "auth_selftest_sha256 did not authenticate" "$W/auth_selftest_sha256.out"
selftest auth_selftest_bidirectional -n "$SECURE" --hostnqn "$AUTH2_HOST" --dhchap-secret "$K2" --dhchap-ctrl-secret "$C2"
grep -q "authenticated: DH-HMAC-CHAP hmac(sha384), DH group ffdhe2048, controller verified" "$W/auth_selftest_bidirectional.out" ||
	bad "auth_selftest_bidirectional did not authenticate both ways" "$W/auth_selftest_bidirectional.out"
for g in $GROUPS_MORE; do
	expect_auth "auth_group_$g" "$AUTH_OK hmac\(sha512\), DH group $g, controller verified" selftest -n "$SECURE" \
		--hostnqn "$AUTH_G_HOST$g" --dhchap-secret "$K2" --dhchap-ctrl-secret "$C2" -q 1
done
refuse_auth auth_other_group_refused 'Failure1 reason 1 explanation 5 ' identify -n "$SECURE" \
	--hostnqn "$AUTH2_HOST" --dhchap-secret "$K2" --dhgroups ffdhe8192
refuse_auth auth_wrong_secret 'refused by the controller: Failure1 reason 1 explanation 1 ' identify -n "$SECURE" \
	--hostnqn "$AUTH_HOST" --dhchap-secret "$K_OTHER"
refuse_auth auth_wrong_ctrl_secret "the controller's response is wrong" identify -n "$SECURE" \
	--hostnqn "$AUTH2_HOST" --dhchap-secret "$K2" --dhchap-ctrl-secret "$K_OTHER"
refuse_auth auth_ctrl_key_not_configured 'Failure1 reason 1 explanation 1 ' identify -n "$SECURE" \
	--hostnqn "$AUTH_HOST" --dhchap-secret "$K1" --dhchap-ctrl-secret "$C2"
refuse_auth auth_null_group_refused 'Failure1 reason 1 explanation 5 ' identify -n "$SECURE" \
	--hostnqn "$AUTH2_HOST" --dhchap-secret "$K2" --dhgroups null
refuse_auth auth_missing_secret 'requires DH-HMAC-CHAP and no secret was given' identify -n "$SECURE" --hostnqn "$AUTH_HOST"
refuse_auth auth_required_before_auth 'Identify .*SCT 1 SC 0x91 \(authentication required\)' identify -n "$SECURE" \
	--hostnqn "$AUTH_HOST" --auth-skip
expect_auth auth_keyed_host_on_open_subsystem "$AUTH_OK hmac\(sha256\)" identify -n "$OPEN" --hostnqn "$AUTH_HOST" --dhchap-secret "$K1"
expect_auth auth_require_any_keyed "$AUTH_OK" identify -n "$SECURE_ANY" --hostnqn "$AUTH2_HOST" --dhchap-secret "$K2"
refuse_auth auth_require_any_keyless 'invalid host|0x184' identify -n "$SECURE_ANY" --hostnqn "$OTHER_HOST"
grep -q "has no DH-HMAC-CHAP key but $SECURE_ANY requires authentication" "$W/daemon.log" ||
	bad "auth_require_any_keyless not logged" "$W/daemon.log"
if h identify -n "$OPEN" --hostnqn "$GOOD_HOST" > "$W/auth_plain.out" 2>&1 && ! grep -q "$AUTH_OK" "$W/auth_plain.out"; then
	ok "auth_not_asked_of_hosts_without_keys"
else
	bad auth_not_asked_of_hosts_without_keys "$W/auth_plain.out"
fi
# the key rotated by a reload (SIGHUP) while an authenticated host runs I/O:
# the old key is refused afterwards, the new one (here untransformed, 00)
# accepted, and the running host never notices
h selftest -n "$SECURE" --hostnqn "$AUTH_HOST" --dhchap-secret "$K1" --rounds 40 > "$W/auth_rot_io.out" 2>&1 &
ROT_IO=$!
sed "s|$K1|$K1_NEW|" "$W/config.json" > "$W/config.rot" && mv "$W/config.rot" "$W/config.json"
for _ in $(seq 50); do grep -q 'authenticated' "$W/auth_rot_io.out" && break; sleep 0.1; done
kill -HUP "$DPID"
for _ in $(seq 100); do grep -q "DH-HMAC-CHAP settings of host $AUTH_HOST changed" "$W/daemon.log" && break; sleep 0.1; done
refuse_auth auth_rotated_old_key 'explanation 1 ' identify -n "$SECURE" --hostnqn "$AUTH_HOST" --dhchap-secret "$K1"
expect_auth auth_rotated_new_key "$AUTH_OK" identify -n "$SECURE" --hostnqn "$AUTH_HOST" --dhchap-secret "$K1_NEW"
if wait "$ROT_IO" && grep -q ' 0 mismatches' "$W/auth_rot_io.out" &&
   grep -q "DH-HMAC-CHAP settings of host $AUTH_HOST changed (rotated or retuned)" "$W/daemon.log"; then
	ok "auth_rotation_keeps_authenticated_host: $(tail -n 1 "$W/auth_rot_io.out")"
else
	bad auth_rotation_keeps_authenticated_host "$W/auth_rot_io.out" "$W/daemon.log"
fi
if grep -q "$K1\|$K2\|${C2:10:20}" "$W/daemon.log"; then bad "auth_secrets_not_logged" "$W/daemon.log"; else ok "auth_secrets_not_logged"; fi

# --- TLS (NVMe/TCP TLS 1.3) ---------------------------------------------------
# The kernel here has no kTLS (TCP_ULP "tls"), which the daemon needs after
# the handshake: a real TLS connection is tested in the VM (bridge_tls).
# Here: the handshake itself with OpenSSL's s_client as the host, its PSK
# derived independently (tests/tools/nvme_tls_psk.py, libnvme's "compat"
# derivation as nvme-cli 2.13 uses it), and the refusals.
TLS_PSK=$(python3 "$(dirname "$0")/../tools/nvme_tls_psk.py" --key "$TLS_KEY" --hostnqn "$TLS_HOST" --subnqn "$OPEN" |
	sed -n 's/^compat  TLS PSK  //p')
# tls_client NAME IDENTITY PSK: s_client's handshake, then the daemon's
# verdict on that connection
tls_client() {
	local mark
	mark=$(wc -l < "$W/daemon.log")
	timeout 10 openssl s_client -connect "127.0.0.1:$TLSPORT" -tls1_3 -psk_identity "$2" -psk "$3" \
		-ciphersuites TLS_AES_128_GCM_SHA256 < /dev/null > "$W/$1.out" 2>&1
	for _ in $(seq 50); do
		sed -n "$((mark + 1)),\$p" "$W/daemon.log" | grep -q 'connection closed' && break
		sleep 0.1
	done
	sed -n "$((mark + 1)),\$p" "$W/daemon.log" > "$W/$1.log"
}
expect_log() {   # expect_log NAME PATTERN: the daemon's lines for that test match
	if grep -qE "$2" "$W/$1.log"; then
		ok "$1: $(grep -m1 -E "$2" "$W/$1.log" | sed 's/^[^ ]* [^ ]* //' | cut -c1-120)"
	else
		bad "$1" "$W/$1.log" "$W/$1.out"
	fi
}
if [ -n "$TLS_PSK" ] && command -v openssl > /dev/null; then
	tls_client tls_handshake "NVMe0R01 $TLS_HOST $OPEN" "$TLS_PSK"
	# the handshake completed (s_client negotiated TLS 1.3 with the PSK);
	# without kTLS the daemon then says why it cannot go on
	if grep -q 'TLSv1.3, Cipher is TLS_AES_128_GCM_SHA256' "$W/tls_handshake.out"; then
		expect_log tls_handshake 'did not take the TLS keys \(kTLS|TLS 1.3 \(TLS_AES_128_GCM_SHA256\) with the PSK of'
	else
		bad "tls_handshake (s_client did not complete it)" "$W/tls_handshake.out" "$W/tls_handshake.log"
	fi
	tls_client tls_wrong_psk "NVMe0R01 $TLS_HOST $OPEN" "00$TLS_PSK"
	expect_log tls_wrong_psk 'binder does not verify'
	tls_client tls_unknown_host "NVMe0R01 $OTHER_HOST $OPEN" "$TLS_PSK"
	expect_log tls_unknown_host "no TLS PSK for host $OTHER_HOST"
	tls_client tls_not_nvme "client1" "$TLS_PSK"
	expect_log tls_not_nvme 'not an NVMe one'
else
	bad "tls: no PSK from tests/tools/nvme_tls_psk.py or no openssl ($TLS_PSK)"
fi
refuse_auth tls_plain_refused 'closed|Connection reset|ICResp' identify -n "$OPEN" -s "$TLSPORT"
grep -q 'TLS handshake failed: wrong version number' "$W/daemon.log" || bad "tls_plain_refused not logged" "$W/daemon.log"
expect_auth tls_optional_plain 'controller: cntlid' identify -n "$OPEN" -s "$OPTPORT"

# malformed PDUs end their own connection only: a healthy one keeps working
h selftest -n "$OPEN" --nsid 1 --rounds 20 -Q 4 > "$W/healthy.out" 2>&1 &
HPID=$!
for c in "pfv 6" "icreq-plen 1" "icreq-hlen 1" "no-icreq 2" "second-icreq 2" "hdgst 3" "hlen 1" "h2cdata-ttag 1"; do
	set -- $c
	if h malformed -n "$OPEN" --case "$1" --expect-fes "$2" > "$W/mal-$1.out" 2>&1; then
		ok "malformed_$1: C2HTermReq FES $2, connection closed"
	else
		bad "malformed_$1" "$W/mal-$1.out"
	fi
done
if wait $HPID && grep -q ' 0 mismatches' "$W/healthy.out"; then
	ok "healthy connection kept serving during the malformed ones: $(tail -n 1 "$W/healthy.out")"
else
	bad healthy_connection "$W/healthy.out"
fi

if "$HOST" --help 2>&1 | grep -q '^  kato-expiry'; then
	if h kato-expiry -n "$OPEN" --kato 500 > "$W/kato.out" 2>&1; then
		ok "keep-alive expiry: $(tail -n 1 "$W/kato.out")"
	else
		bad kato_expiry "$W/kato.out" "$W/daemon.log"
	fi
else
	bad "kato_expiry (the initiator has no kato-expiry command)"
fi

if kill -0 "$DPID" 2>/dev/null; then ok "daemon alive after all of the above"; else bad "daemon died" "$W/daemon.log"; fi
t0=$(date +%s%N)
kill -TERM "$DPID"
rc=0; wait "$DPID" || rc=$?
DPID=
ms=$((($(date +%s%N) - t0) / 1000000))
if [ $rc = 0 ] && [ $ms -lt 10000 ] && grep -q 'stopped' "$W/daemon.log"; then
	ok "SIGTERM: exit 0 in $ms ms"
else
	bad "SIGTERM (exit $rc after $ms ms)" "$W/daemon.log"
fi
# sd_notify: READY=1 with a STATUS line once listening, WATCHDOG=1 from the
# event loop while the watchdog is on, STOPPING=1 at SIGTERM
python3 "$(dirname "$0")/notify_listen.py" "$W/notify.sock" "$W/notify.log" 30 &
NPID=$!
for _ in $(seq 50); do [ -S "$W/notify.sock" ] && break; sleep 0.1; done
NOTIFY_SOCKET=$W/notify.sock WATCHDOG_USEC=200000 "$DAEMON" --config "$W/config.json" > "$W/daemon2.log" 2>&1 &
DPID=$!
for _ in $(seq 100); do grep -q 'READY=1' "$W/notify.log" 2>/dev/null && break; sleep 0.1; done
ready_ok=0; listening "$PORT" && grep -q 'READY=1' "$W/notify.log" && ready_ok=1
for _ in $(seq 30); do [ "$(grep -c 'WATCHDOG=1' "$W/notify.log")" -ge 3 ] && break; sleep 0.1; done
kill -TERM "$DPID"; rc=0; wait "$DPID" || rc=$?; DPID=
wait $NPID
status=$(grep -m1 'STATUS=' "$W/notify.log" | cut -d' ' -f2-)
if [ $ready_ok = 1 ] && echo "$status" | grep -q "tcp:127.0.0.1:$PORT" && echo "$status" | grep -q "$OPEN (2 ns)"; then
	ok "sd_notify READY=1 once listening, $status"
else
	bad "sd_notify READY/STATUS" "$W/notify.log" "$W/daemon2.log"
fi
wd=$(grep -c 'WATCHDOG=1' "$W/notify.log")
if [ "$wd" -ge 3 ]; then ok "sd_notify WATCHDOG=1 pings ($wd within the run)"; else bad "sd_notify WATCHDOG ($wd pings)" "$W/notify.log"; fi
if [ $rc = 0 ] && tail -n 3 "$W/notify.log" | grep -q 'STOPPING=1' &&
   [ "$(grep -n 'READY=1' "$W/notify.log" | cut -d: -f1)" -lt "$(grep -n 'STOPPING=1' "$W/notify.log" | cut -d: -f1)" ]; then
	ok "sd_notify STOPPING=1 at SIGTERM, after READY"
else
	bad "sd_notify STOPPING (exit $rc)" "$W/notify.log"
fi

# a restart that refuses nobody: the listening socket goes to the service
# manager's file descriptor store (FDSTORE=1) and comes back to the next
# daemon (LISTEN_FDS); a host connecting in between waits in its backlog
if out=$(timeout 120 python3 "$(dirname "$0")/handoff.py" "$DAEMON" "$W/config.json" "$W" "$PORT" \
		"$HOST" identify -a 127.0.0.1 -s "$PORT" -n "$OPEN" -t 10000 2>&1) && [ "${out#ok: }" != "$out" ]; then
	ok "restart_handoff: ${out#ok: }"
else
	bad "restart_handoff: $out" "$W/handoff.notify" "$W/handoff.d2.log" "$W/handoff.host.log"
fi

if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$W/daemon.log" "$W/daemon2.log" "$W"/handoff.d*.log; then
	bad "sanitizer report in the daemon log" "$W/daemon.log"
else
	ok "no sanitizer report"
fi
echo "host[$LABEL]: $pass passed, $fail failed"
[ $fail = 0 ]
