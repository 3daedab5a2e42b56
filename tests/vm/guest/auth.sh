#!/bin/sh
# Guest side of the "current" guest's tests (VM_GUEST=current tests/vm/run.sh
# check): Debian's kernel 6.12 with trixie's nvme-cli 2.13 / libnvme 1.13,
# keyutils and ktls-utils. It proves the guest's NVMe in-band authentication
# (DH-HMAC-CHAP) and TLS tooling against the kernel's OWN target, the
# reference later tests of nvmf-bridged's authentication can rest on.
#
#   nvmet_auth  nvmet-tcp on 127.0.0.1:4420 (configfs) exports a memory-backed
#               null_blk (a file on tmpfs when null_blk cannot) to ONE host,
#               whose entry carries a dhchap_key made by `nvme gen-dhchap-key`:
#               - no secret: refused (the host: "qid 0: no key");
#               - the host's secret: connected ("authenticated with hash
#                 hmac(sha256) dhgroup null"), a verified fio run, disconnect;
#               - a wrong secret: refused (nvmet: "host response mismatch");
#               - bidirectional (dhchap_ctrl_key + --dhchap-ctrl-secret):
#                 connected ("controller authenticated"), then again with
#                 hmac(sha512) and the ffdhe2048 DH group, fio each time;
#               - bidirectional with a wrong controller secret: refused (the
#                 host: "controller authentication failed").
#               Each outcome must come with the kernel's own message for it
#               (the 6.12 wording), so nothing passes for another reason.
#   tls_tools   nvme version is 2.13.x, `nvme gen-tls-key` prints an
#               NVMeTLSkey-1:01: key and (--insert) puts it into the kernel's
#               .nvme keyring (libnvme's keyutils support), keyctl runs,
#               tlshd is there and answers --help/--version. No TLS connection
#               (nvmet_tls below makes them).
#
# nvmet_tls (NVMe/TCP TLS through tlshd) and bridge_auth (nvmf-bridged as
# the target) are described with their code below.
#
# Runs the tests named in $TESTS (comma list; all when empty); each prints
# one `RESULT <name> PASS|FAIL <details>` line; every nvme-cli output is in
# $RES/auth_*.out and printed on the console when a step fails.
set -u
. "$(dirname "$0")/lib.sh"

SUBNQN=nqn.2024-01.io.nvmf-bridge:auth
CFS=/sys/kernel/config/nvmet
SUB=$CFS/subsystems/$SUBNQN
PRT=$CFS/ports/1
NULLB=/sys/kernel/config/nullb/nullb0
NSFILE=/tmp/auth-ns.img
NSDEV=
T_FIO=120
FIO_JOB="--ioengine=libaio --direct=1 --verify=crc32c --verify_fatal=1 --rw=randwrite --bs=4k --iodepth=16 --size=8M"

# show LABEL: what nvme-cli printed, on the console (indented)
show() { sed 's/^/    | /' "$RES/$1.out" 2>/dev/null | head -n 20; }
# first line of what nvme-cli printed, for a RESULT line
said() { tr '\n' ' ' < "$RES/$1.out" 2>/dev/null | cut -c1-160; }
# the kernel's messages since dmesg_mark, without timestamps; dmesg_has
# REGEX: the first such line matching (extended regex), or fail
DMESG_MARK=0
dmesg_mark() { DMESG_MARK=$(dmesg | wc -l); }
dmesg_new() { dmesg | sed -n "$((DMESG_MARK + 1)),\$p" | sed 's/^\[[ 0-9.]*\] //'; }
dmesg_has() { dmesg_new | grep -m1 -E "$1"; }
dmesg_auth() { dmesg_new | grep -i -E 'auth|dhchap|dhgroup|key|mismatch' | tail -n 4 | tr '\n' '|' | cut -c1-300; }

nullb_ready() { [ -b /dev/nullb0 ]; }
listening() { grep -q "0100007F:$(printf %04X "$1") 00000000:0000 0A" /proc/net/tcp; }

backend() {
	[ -n "$NSDEV" ] && return 0
	if modprobe null_blk nr_devices=0 2>/dev/null && [ -d /sys/kernel/config/nullb ]; then
		mkdir -p "$NULLB" &&
		echo 512 > "$NULLB/blocksize" &&
		echo 128 > "$NULLB/size" &&
		echo 1 > "$NULLB/memory_backed" &&
		echo 1 > "$NULLB/power" &&
		wait_until 10 nullb_ready && NSDEV=/dev/nullb0 && return 0
		log "null_blk (memory_backed) not usable; exporting a file on tmpfs"
	fi
	truncate -s 128M "$NSFILE" && NSDEV=$NSFILE
}

# nvmet_subsys_up DIR NQN: nvmet-tcp loaded, subsystem NQN (configfs DIR)
# with $NSDEV as namespace 1 and no host allowed yet; TARGET_WHY on failure
nvmet_subsys_up() {
	backend || { TARGET_WHY="no namespace backing (null_blk, tmpfs file)"; return 1; }
	modprobe nvmet-tcp || { TARGET_WHY="modprobe nvmet-tcp failed"; return 1; }
	modprobe nvme-tcp || { TARGET_WHY="modprobe nvme-tcp failed"; return 1; }
	[ -d "$1" ] && return 0
	mkdir "$1" &&
	echo 0 > "$1/attr_allow_any_host" &&
	mkdir "$1/namespaces/1" &&
	printf %s "$NSDEV" > "$1/namespaces/1/device_path" &&
	echo 1 > "$1/namespaces/1/enable" ||
		{ TARGET_WHY="configfs: subsystem $2 with $NSDEV"; return 1; }
}

# target_up: the subsystem (no host allowed yet) with one namespace on port 1
TARGET_WHY=
target_up() {
	TARGET_WHY=
	[ -e "$PRT/subsystems/$SUBNQN" ] && return 0
	nvmet_subsys_up "$SUB" "$SUBNQN" || return 1
	nvmet_port "$PRT" "$TADDR" "$TPORT" || { TARGET_WHY="configfs: port 1"; return 1; }
	ln -s "$SUB" "$PRT/subsystems/$SUBNQN" || { TARGET_WHY="configfs: linking the port"; return 1; }
	wait_until 10 listening "$TPORT" || { TARGET_WHY="no listener on $TADDR:$TPORT"; return 1; }
}

# host_entry KEY [CTRLKEY [HASH DHGROUP]]: the only allowed host, with its
# DH-HMAC-CHAP secrets, hash and DH group
host_entry() {
	_h=$CFS/hosts/$HOSTNQN
	[ -d "$_h" ] || mkdir "$_h" || return 1
	echo "$1" > "$_h/dhchap_key" || return 1
	# (nvmet takes an empty write as "no secret", but echo writes a newline:
	# the tests only ever add the controller's secret)
	[ -z "${2:-}" ] || echo "$2" > "$_h/dhchap_ctrl_key" || return 1
	echo "${3:-hmac(sha256)}" > "$_h/dhchap_hash" || return 1
	echo "${4:-null}" > "$_h/dhchap_dhgroup" || return 1
	[ -e "$SUB/allowed_hosts/$HOSTNQN" ] || ln -s "$_h" "$SUB/allowed_hosts/$HOSTNQN"
}

# gen_key NAME NQN: `nvme gen-dhchap-key --hmac=1 -n NQN` into $NAME
gen_key() {
	nvme_cmd "auth_genkey_$1" gen-dhchap-key --hmac=1 -n "$2" || return 1
	_k=$(grep -o 'DHHC-1:01:[A-Za-z0-9+/=]*:' "$RES/auth_genkey_$1.out" | head -n 1)
	[ -n "$_k" ] || return 1
	eval "$1=\$_k"
}

# connect LABEL ARGS...: nvme connect to the subsystem as our host
connect() {
	_l=$1; shift
	nvme_connect "$_l" "$SUBNQN" --hostnqn="$HOSTNQN" --hostid="$HOSTID" "$@"
}

# connect_ok LABEL WHAT EXPECT ARGS...: must connect, the kernel's log must
# have a line matching EXPECT (how the host authenticated); a verified fio
# run; disconnect. Appends to WHY on failure, to INFO on success.
WHY= INFO=
connect_ok() {
	_l=$1 _what=$2 _expect=$3; shift 3
	dmesg_mark
	if ! connect "$_l" "$@"; then
		log "FAILED: $_what: nvme connect exit $RC; nvme-cli printed:"; show "$_l"
		WHY="$WHY; $_what: connect exit $RC: $(said "$_l") dmesg: $(dmesg_auth)"
		return 1
	fi
	show "$_l"
	if ! wait_until 20 ns_dev "$SUBNQN"; then
		WHY="$WHY; $_what: connected but no namespace block device"
		nvme_disconnect "${_l}_disc" "$SUBNQN"
		return 1
	fi
	_c=$(ctrls_of "$SUBNQN" | head -n 1)
	# the host kept the secrets it authenticated with (sysfs, 6.x)
	_hs=$(cat "/sys/class/nvme/$_c/dhchap_secret" 2>/dev/null | cut -c1-10)
	_cs=$(cat "/sys/class/nvme/$_c/dhchap_ctrl_secret" 2>/dev/null | cut -c1-10)
	log "connected: $_c, $DEV, host secret ${_hs:-none}..., ctrl secret ${_cs:-none}..."
	if ! _seen=$(dmesg_has "$_expect"); then
		WHY="$WHY; $_what: connected, but no kernel message /$_expect/: $(dmesg_auth)"
	elif ! run_fio "$_l" "$T_FIO" --name="$_l" --filename="$DEV" $FIO_JOB; then
		WHY="$WHY; $_what: fio: $FIO_WHY"
	else
		INFO="$INFO; $_what: connected ('${_seen#nvme nvme[0-9]*: }'), fio ${FIO_WKB} KiB verified"
	fi
	if ! nvme_disconnect "${_l}_disc" "$SUBNQN"; then
		WHY="$WHY; $_what: disconnect exit $RC: $(said "${_l}_disc")"
		return 1
	fi
	return 0
}

# connect_refused LABEL WHAT EXPECT ARGS...: must NOT connect, and the
# kernel's log must say why (a line matching EXPECT)
connect_refused() {
	_l=$1 _what=$2 _expect=$3; shift 3
	dmesg_mark
	if connect "$_l" "$@"; then
		WHY="$WHY; $_what: connected although it must be refused: $(said "$_l")"
		log "FAILED: $_what was accepted; nvme-cli printed:"; show "$_l"
		nvme_disconnect "${_l}_disc" "$SUBNQN"
		return 1
	fi
	log "refused as expected ($_what): nvme connect exit $RC; nvme-cli printed:"; show "$_l"
	if ! wait_until 10 no_ctrl_of "$SUBNQN"; then
		WHY="$WHY; $_what: refused but a controller is left: $(ctrls_of "$SUBNQN")"
		nvme_disconnect "${_l}_disc" "$SUBNQN"
		return 1
	fi
	if ! _seen=$(dmesg_has "$_expect"); then
		WHY="$WHY; $_what: refused, but not as expected (no kernel message /$_expect/): $(said "$_l") $(dmesg_auth)"
		return 1
	fi
	INFO="$INFO; $_what: refused ('${_seen#nvme nvme[0-9]*: }')"
}

t_nvmet_auth() {
	WHY= INFO=
	host_identity
	if ! target_up; then
		result nvmet_auth FAIL "kernel target: $TARGET_WHY"
		return
	fi
	KEY= KEY2= CKEY= CKEY2=
	if ! gen_key KEY "$HOSTNQN" || ! gen_key KEY2 "$HOSTNQN" ||
	   ! gen_key CKEY "$SUBNQN" || ! gen_key CKEY2 "$SUBNQN"; then
		for f in "$RES"/auth_genkey_*.out; do show "$(basename "$f" .out)"; done
		result nvmet_auth FAIL "nvme gen-dhchap-key --hmac=1 gave no DHHC-1:01: key: $(said auth_genkey_KEY)"
		return
	fi
	log "host key $(echo "$KEY" | cut -c1-16)..., ctrl key $(echo "$CKEY" | cut -c1-16)..."
	if ! host_entry "$KEY"; then
		result nvmet_auth FAIL "configfs: host entry $HOSTNQN with dhchap_key refused"
		return
	fi
	# (the host's and the target's words for each outcome, Linux 6.12)
	connect_refused auth_nokey "no secret" 'qid 0: no key'
	connect_ok auth_uni "host secret" 'authenticated with hash hmac\(sha256\) dhgroup null' \
		--dhchap-secret="$KEY"
	connect_refused auth_wrong "wrong secret" 'nvmet: .*host response mismatch' \
		--dhchap-secret="$KEY2"
	if host_entry "$KEY" "$CKEY"; then
		connect_ok auth_bidi "bidirectional" 'qid 0: controller authenticated' \
			--dhchap-secret="$KEY" --dhchap-ctrl-secret="$CKEY"
		connect_refused auth_wrongctrl "wrong controller secret" 'controller authentication failed' \
			--dhchap-secret="$KEY" --dhchap-ctrl-secret="$CKEY2"
	else
		WHY="$WHY; configfs: dhchap_ctrl_key refused"
	fi
	if host_entry "$KEY" "$CKEY" "hmac(sha512)" ffdhe2048; then
		connect_ok auth_ffdhe "bidirectional sha512+ffdhe2048" \
			'authenticated with hash hmac\(sha512\) dhgroup ffdhe2048' \
			--dhchap-secret="$KEY" --dhchap-ctrl-secret="$CKEY"
	else
		WHY="$WHY; configfs: dhchap_hash hmac(sha512) / dhchap_dhgroup ffdhe2048 refused"
	fi
	if [ -z "$WHY" ]; then
		result nvmet_auth PASS "nvmet-tcp $TADDR:$TPORT ns=$NSDEV${INFO}"
	else
		result nvmet_auth FAIL "${WHY#; }"
	fi
}

t_tls_tools() {
	WHY= INFO=
	host_identity
	if nvme_cmd auth_version version && grep -q '^nvme version 2\.13\(\.[0-9]*\)\? ' "$RES/auth_version.out"; then
		INFO="$INFO; $(head -n 1 "$RES/auth_version.out"), $(sed -n 's/^\(libnvme version [^ ]*\).*/\1/p' "$RES/auth_version.out")"
	else
		show auth_version
		WHY="$WHY; nvme version: not 2.13.x: $(said auth_version)"
	fi
	if nvme_cmd auth_gentls gen-tls-key && grep -q '^NVMeTLSkey-1:01:[A-Za-z0-9+/=]*:$' "$RES/auth_gentls.out"; then
		INFO="$INFO; gen-tls-key: $(cut -c1-20 "$RES/auth_gentls.out")..."
	else
		show auth_gentls
		WHY="$WHY; nvme gen-tls-key exit $RC: $(said auth_gentls)"
	fi
	# libnvme's keyring support: the retained key goes into the kernel's
	# .nvme keyring (made by nvme-keyring)
	modprobe nvme-keyring
	if nvme_cmd auth_tlsinsert gen-tls-key --insert --hostnqn="$HOSTNQN" --subsysnqn="$SUBNQN" &&
	   grep -q 'Inserted TLS key' "$RES/auth_tlsinsert.out"; then
		_id=$(sed -n 's/.*Inserted TLS key \([0-9a-f]*\).*/\1/p' "$RES/auth_tlsinsert.out" | head -n 1)
		INFO="$INFO; --insert: key ${_id:-?} in .nvme"
		if grep -q '\.nvme' /proc/keys && grep -q ' psk .*NVMe' /proc/keys; then
			INFO="$INFO (in /proc/keys)"
		else
			WHY="$WHY; the inserted key is not in /proc/keys: $(grep -i nvme /proc/keys | head -n 3 | tr '\n' '|')"
		fi
	else
		show auth_tlsinsert
		WHY="$WHY; nvme gen-tls-key --insert exit $RC: $(said auth_tlsinsert)"
	fi
	if keyctl show @s > "$RES/auth_keyctl.out" 2>&1; then
		INFO="$INFO; keyctl: $(keyctl --version 2>&1 | head -n 1 | cut -d' ' -f1-3)"
	else
		show auth_keyctl
		WHY="$WHY; keyctl show @s failed: $(said auth_keyctl)"
	fi
	if [ -x /usr/sbin/tlshd ] && tlshd --help > "$RES/auth_tlshd.out" 2>&1 &&
	   tlshd --version >> "$RES/auth_tlshd.out" 2>&1 && grep -q 'ktls-utils' "$RES/auth_tlshd.out"; then
		INFO="$INFO; $(grep -o 'ktls-utils [0-9.]*' "$RES/auth_tlshd.out" | head -n 1) tlshd"
	else
		show auth_tlshd
		WHY="$WHY; tlshd --help/--version: $(said auth_tlshd)"
	fi
	if [ -z "$WHY" ]; then
		result tls_tools PASS "${INFO#; }"
	else
		result tls_tools FAIL "${WHY#; }"
	fi
}

# --- NVMe/TCP TLS against the kernel's own target -----------------------------
#   nvmet_tls   tlshd (ktls-utils) is the TLS handshake agent of both ends in
#               the guest: the kernel's nvmet-tcp (server) and nvme-tcp (client)
#               over 127.0.0.1. nvmet-tcp port 2 (127.0.0.1:4421) has
#               addr_tsas=tls1.3 and addr_treq=required; subsystem
#               nqn.2024-01.io.nvmf-bridge:tls allows three hosts:
#               - the TLS host: `nvme gen-tls-key --identity=0 --hmac=1
#                 --hostnqn --subsysnqn --insert` makes its configured PSK
#                 and puts the derived TLS PSK into .nvme; `nvme connect
#                 --tls` connects (the handshake in tlshd's log and the
#                 kernel's), a verified fio run, disconnect;
#               - a host without any key: refused (the host's kernel: "no
#                 valid PSK found");
#               - a host whose key only it has (a keyring of its own the
#                 target does not see): the target's tlshd finds no PSK for
#                 the identity ("failed to search 'psk' key '<identity>'"),
#                 nvmet_tcp: "TLS handshake done, key 0, status -13";
#               - a plain (non-TLS) connect to the TLS-only port: refused
#                 (the host: "failed to receive icresp", nvmet_tcp: -13).
#               The kernel's TLS debug messages are on (dynamic debug).
#               Facts for a TLS target of our own go to $RES/tls_facts.txt:
#               the configured key, the PSK identity as in /proc/keys, the
#               inserted payload (keyctl pipe, hex; nvme tls-key --export),
#               the negotiated cipher suite, PSK mode and group (GnuTLS's
#               debug messages in tlshd's log); tests/tools/nvme_tls_psk.py
#               --facts recomputes the payload from them on the host.
TLS_NQN=nqn.2024-01.io.nvmf-bridge:tls
TLS_PORT=4421
TLS_PRT=$CFS/ports/2
TLS_SUB=$CFS/subsystems/$TLS_NQN
FACTS=$RES/tls_facts.txt
DDC=/sys/kernel/debug/dynamic_debug/control
TLSHD_TLS_DEBUG=4    # GnuTLS's debug level in tlshd's log: 4 names the cipher
                     # suite, group, PSK mode (~80 KB for this test)

tlshd_lines() { wc -l < "$TLSHD_LOG" 2>/dev/null || echo 0; }
# tlshd_new N: its log after line N
tlshd_new() { sed -n "$(($1 + 1)),\$p" "$TLSHD_LOG" 2>/dev/null | sed 's/^[^:]*tlshd\[[0-9]*\]: //'; }
dmesg_tls() { dmesg_new | grep -i -E 'tls|psk|key|handshake|icresp|nvmet_tcp|connect' | tail -n 5 | tr '\n' '|' | cut -c1-400; }
tls_stat() { tr -s ' \t' ' ' < /proc/net/tls_stat 2>/dev/null | grep -E '^TlsCurr(Tx|Rx)Sw ' | tr '\n' ' '; }

# tls_connect LABEL HOSTNQN HOSTID ARGS...: nvme connect to the TLS port
tls_connect() {
	_l=$1 _hn=$2 _hi=$3; shift 3
	log "\$ nvme connect -t tcp -a $TADDR -s $TLS_PORT -n $TLS_NQN --hostnqn=$_hn $*"
	nvme_cmd "$_l" connect -t tcp -a "$TADDR" -s "$TLS_PORT" -n "$TLS_NQN" \
		--ctrl-loss-tmo=20 --reconnect-delay=2 --hostnqn="$_hn" --hostid="$_hi" "$@"
}

# tls_target_up: port 2 (tls1.3, treq required) with subsystem $TLS_NQN
# (namespace 1, the three hosts allowed)
tls_target_up() {
	TARGET_WHY=
	nvmet_subsys_up "$TLS_SUB" "$TLS_NQN" || return 1
	for _h in "$TLS_HOST" "$NOKEY_HOST" "$FOREIGN_HOST"; do
		[ -d "$CFS/hosts/$_h" ] || mkdir "$CFS/hosts/$_h" || { TARGET_WHY="configfs: host $_h"; return 1; }
		[ -e "$TLS_SUB/allowed_hosts/$_h" ] || ln -s "$CFS/hosts/$_h" "$TLS_SUB/allowed_hosts/$_h" ||
			{ TARGET_WHY="configfs: allowing host $_h"; return 1; }
	done
	# the port takes the .nvme keyring when it is made (nvmet_ports_make:
	# nvme_keyring_id()); addr_tsas needs trtype tcp first and is refused
	# without a keyring ("TLS keyring not configured")
	if [ ! -d "$TLS_PRT" ]; then
		dmesg_mark
		nvmet_port "$TLS_PRT" "$TADDR" "$TLS_PORT" || { TARGET_WHY="configfs: port 2"; return 1; }
		echo tls1.3 > "$TLS_PRT/addr_tsas" ||
			{ TARGET_WHY="configfs: addr_tsas tls1.3 refused: $(dmesg_new | tail -n 2 | tr '\n' '|')"; return 1; }
		echo required > "$TLS_PRT/addr_treq" ||
			{ TARGET_WHY="configfs: addr_treq required refused: $(dmesg_new | tail -n 2 | tr '\n' '|')"; return 1; }
	fi
	ln -s "$TLS_SUB" "$TLS_PRT/subsystems/$TLS_NQN" || { TARGET_WHY="configfs: linking port 2"; return 1; }
	wait_until 10 listening "$TLS_PORT" || { TARGET_WHY="no listener on $TADDR:$TLS_PORT"; return 1; }
}
tls_target_down() {
	rm -f "$TLS_PRT/subsystems/$TLS_NQN" 2>/dev/null
	rmdir "$TLS_PRT" 2>/dev/null
}

# tls_refused LABEL WHAT KERNEL TLSHD HOSTNQN HOSTID ARGS...: must not
# connect; the kernel's log has a line matching KERNEL, tlshd's one matching
# TLSHD (extended regexes; an empty one is not looked for), and when the
# kernel's TLS debug messages are on, one matching $KERNEL_DBG
KERNEL_DBG=
tls_refused() {
	_l=$1 _what=$2 _kre=$3 _tre=$4; shift 4
	dmesg_mark
	_tl=$(tlshd_lines)
	if tls_connect "$_l" "$@"; then
		WHY="$WHY; $_what: connected although it must be refused: $(said "$_l")"
		log "FAILED: $_what was accepted; nvme-cli printed:"; show "$_l"
		nvme_disconnect "${_l}_disc" "$TLS_NQN"
		return 1
	fi
	tls_refused_check "$_l" "$_what" "$_kre" "$_tre"
}
# tls_refused_check LABEL WHAT KERNEL TLSHD: after a refused connect (dmesg
# and tlshd's log marked before it)
tls_refused_check() {
	_l=$1 _what=$2 _kre=$3 _tre=$4
	log "refused as expected ($_what): nvme connect exit $RC; nvme-cli printed:"; show "$_l"
	wait_until 10 no_ctrl_of "$TLS_NQN"
	sleep 1   # (the target's side of a failed handshake may log a moment later)
	dmesg_new | grep -v 'lookup tls psk' | sed 's/^/    dmesg: /' | tail -n 8
	tlshd_new "$_tl" | sed 's/^/    tlshd: /' | tail -n 10
	_ks= _ts= _ds= _dre=
	[ "$DYNDBG" = 1 ] && _dre=$KERNEL_DBG
	[ -z "$_kre" ] || _ks=$(dmesg_has "$_kre")
	[ -z "$_dre" ] || _ds=$(dmesg_has "$_dre")
	[ -z "$_tre" ] || _ts=$(tlshd_new "$_tl" | grep -m1 -E "$_tre")
	if { [ -n "$_kre" ] && [ -z "$_ks" ]; } || { [ -n "$_tre" ] && [ -z "$_ts" ]; } ||
	   { [ -n "$_dre" ] && [ -z "$_ds" ]; }; then
		WHY="$WHY; $_what: refused, but not as expected (kernel /$_kre/: ${_ks:-none}; kernel debug /$_dre/: ${_ds:-none}; tlshd /$_tre/: ${_ts:-none}): $(said "$_l") dmesg: $(dmesg_tls) tlshd: $(tlshd_new "$_tl" | tail -n 3 | tr '\n' '|')"
		return 1
	fi
	_ks=$(printf '%s\n%s' "$_ks" "$_ds" | grep -v '^$' | sed 's/^nvme nvme[0-9]*: //' | tr '\n' '|' | sed 's/|$//')
	INFO="$INFO; $_what: refused (${_ks:+kernel: '$_ks'}${_ks:+${_ts:+, }}${_ts:+tlshd: '$(echo "$_ts" | cut -c1-150)'})"
	log "refused ($_what): kernel: ${_ks:-} tlshd: ${_ts:-}"
}

t_nvmet_tls() {
	WHY= INFO= CIPHER= DESC= IDENT= PAYLOAD= DYNDBG=0
	# the three host identities (each NQN with its own host ID: the 6.12
	# host refuses one host ID under two NQNs)
	TLS_HOSTID=$(cat /proc/sys/kernel/random/uuid) NOKEY_HOSTID=$(cat /proc/sys/kernel/random/uuid)
	FOREIGN_HOSTID=$(cat /proc/sys/kernel/random/uuid)
	TLS_HOST=nqn.2014-08.org.nvmexpress:uuid:$TLS_HOSTID
	NOKEY_HOST=nqn.2014-08.org.nvmexpress:uuid:$NOKEY_HOSTID
	FOREIGN_HOST=nqn.2014-08.org.nvmexpress:uuid:$FOREIGN_HOSTID
	# the keyring first: nvmet takes it when the port is made, tlshd links
	# it when it starts; kernel TLS and its ciphers (loaded on demand too)
	for m in nvme-keyring tls; do
		modprobe $m || { result nvmet_tls FAIL "modprobe $m failed"; return; }
	done
	for m in aesni-intel ghash-clmulni-intel gcm ccm chacha20poly1305; do modprobe $m 2>/dev/null; done
	for m in nvmet-tcp nvme-tcp; do
		modprobe $m || { result nvmet_tls FAIL "modprobe $m failed"; return; }
	done
	_kr=$(grep ' keyring  *\.nvme:' /proc/keys | head -n 1)
	[ -n "$_kr" ] || { result nvmet_tls FAIL "no .nvme keyring in /proc/keys after modprobe nvme-keyring"; return; }
	log ".nvme keyring: $_kr"
	# the kernel's debug messages on the TLS path (dynamic debug): the
	# handshake's start and end on both ends, the keyring lookups
	if [ -d /sys/kernel/debug ] && { grep -q ' /sys/kernel/debug debugfs ' /proc/mounts || mount -t debugfs debugfs /sys/kernel/debug; } &&
	   [ -w "$DDC" ]; then
		echo 'module nvme_tcp format "TLS" +p' > "$DDC"
		echo 'module nvmet_tcp format "TLS" +p' > "$DDC"
		echo 'module nvme_keyring format "lookup tls psk" +p' > "$DDC"
		grep -E 'nvme_tcp|nvmet_tcp|nvme_keyring' "$DDC" | grep '=p' > "$RES/tls_dyndbg.txt"
		log "dynamic debug: $(wc -l < "$RES/tls_dyndbg.txt") pr_debug sites on"
		grep -q 'TLS handshake done' "$RES/tls_dyndbg.txt" && DYNDBG=1
	else
		log "no dynamic debug control: the kernel's TLS debug messages stay off"
	fi
	if ! tlshd_up; then
		result nvmet_tls FAIL "tlshd did not stay up: $(tail -n 3 "$TLSHD_LOG" | tr '\n' '|')"
		return
	fi
	log "tlshd pid $TLSHD_PID; its log so far:"; sed 's/^/    | /' "$TLSHD_LOG" | head -n 10
	if ! tls_target_up; then
		result nvmet_tls FAIL "kernel target: $TARGET_WHY"
		tlshd_down
		return
	fi
	INFO="$INFO; nvmet-tcp $TADDR:$TLS_PORT addr_tsas=$(cat "$TLS_PRT/addr_tsas") addr_treq=$(cat "$TLS_PRT/addr_treq")"
	log "port 2: $(cat "$TLS_PRT/addr_tsas"), treq $(cat "$TLS_PRT/addr_treq")"

	# the configured PSK, inserted for (TLS host, subsystem)
	if ! nvme_cmd tls_genkey gen-tls-key --hmac=1 --identity=0 --hostnqn="$TLS_HOST" \
		--subsysnqn="$TLS_NQN" --insert; then
		show tls_genkey
		result nvmet_tls FAIL "nvme gen-tls-key --insert exit $RC: $(said tls_genkey)"
		tls_target_down; tlshd_down
		return
	fi
	show tls_genkey
	KEY=$(grep -o 'NVMeTLSkey-1:01:[A-Za-z0-9+/=]*:' "$RES/tls_genkey.out" | head -n 1)
	KID=$(sed -n 's/.*Inserted TLS key \([0-9a-fA-F]*\).*/\1/p' "$RES/tls_genkey.out" | head -n 1)
	_pk=$(grep -i "^0*${KID:-none} " /proc/keys | head -n 1)
	IDENT=$(echo "$_pk" | sed -n 's/^[0-9a-f]* .* psk  *\(.*\): [0-9]*$/\1/p')
	log "configured PSK $KEY, key $KID: $_pk"
	if [ -z "$KEY" ] || [ -z "$KID" ] || [ -z "$IDENT" ]; then
		result nvmet_tls FAIL "no key/serial/identity from gen-tls-key --insert: $(said tls_genkey) /proc/keys: $_pk"
		tls_target_down; tlshd_down
		return
	fi
	# the payload (the TLS PSK the kernel and tlshd use). The key grants
	# read to its possessor only (perm 3b010000), and nvme-cli linked .nvme
	# into a session keyring of its own that died with it (a process
	# without a session keyring gets a new one when it links into @s): read
	# it in a session of ours with .nvme linked in
	PAYLOAD= PAYWHY=
	_ring=$(echo "$_kr" | cut -d' ' -f1)
	# ("keyctl session" says which keyring it joined: not into the file)
	if keyctl session - sh -c "keyctl link $((0x$_ring)) @s && keyctl pipe $((0x$KID)) > /tmp/tls_psk.bin" \
		> "$RES/tls_keyctl.err" 2>&1 && [ -s /tmp/tls_psk.bin ]; then
		PAYLOAD=$(od -An -v -tx1 /tmp/tls_psk.bin | tr -d ' \n')
	else
		PAYWHY="keyctl pipe $((0x$KID)) in a session with .nvme: $(tr '\n' ' ' < "$RES/tls_keyctl.err")"
		WHY="$WHY; payload not readable: $PAYWHY"
	fi
	rm -f /tmp/tls_psk.bin
	keyctl session - sh -c "keyctl link $((0x$_ring)) @s && keyctl describe $((0x$KID)) > $RES/tls_keydesc.out" > /dev/null 2>&1
	nvme_cmd tls_export tls-key --export
	{
		echo "# nvmet_tls (auth.sh): the facts a TLS target needs; recompute with"
		echo "# tests/tools/nvme_tls_psk.py --facts <this file>"
		echo "kernel=$(uname -r)"
		echo "nvme_cli=$(nvme version 2>/dev/null | head -n 1)"
		echo "libnvme=$(nvme version 2>/dev/null | sed -n 's/^libnvme version //p')"
		echo "key=$KEY"
		echo "hostnqn=$TLS_HOST"
		echo "subnqn=$TLS_NQN"
		echo "key_serial=$KID"
		echo "identity=$IDENT"
		echo "proc_keys=$_pk"
		echo "keyctl_describe=$(head -n 1 "$RES/tls_keydesc.out")"
		echo "payload_hex=$PAYLOAD"
		echo "payload_len=$((${#PAYLOAD} / 2))"
		[ -n "$PAYWHY" ] && echo "payload_why=$PAYWHY"
		echo "export=$(grep -m1 "$TLS_HOST" "$RES/tls_export.out")"
	} > "$FACTS"
	log "identity '$IDENT', payload $PAYLOAD"

	# TLS connect: the kernel finds the PSK by identity in .nvme, tlshd
	# shakes hands for both ends
	dmesg_mark
	_tl=$(tlshd_lines)
	if ! tls_connect tls_ok "$TLS_HOST" "$TLS_HOSTID" --tls; then
		log "FAILED: TLS connect exit $RC; nvme-cli printed:"; show tls_ok
		dmesg_new | sed 's/^/    dmesg: /' | tail -n 15
		tlshd_new "$_tl" | sed 's/^/    tlshd: /' | tail -n 15
		WHY="$WHY; TLS connect exit $RC: $(said tls_ok) dmesg: $(dmesg_tls) tlshd: $(tlshd_new "$_tl" | tail -n 3 | tr '\n' '|')"
	else
		show tls_ok
		if ! wait_until 20 ns_dev "$TLS_NQN"; then
			WHY="$WHY; TLS: connected but no namespace block device"
		else
			_c=$(ctrls_of "$TLS_NQN" | head -n 1)
			_tk=$(cat "/sys/class/nvme/$_c/tls_key" 2>/dev/null)
			_st=$(tls_stat)
			log "connected: $_c, $DEV, sysfs tls_key ${_tk:-none}, kTLS: $_st"
			dmesg_new | sed 's/^/    dmesg: /' | tail -n 15
			tlshd_new "$_tl" | sed 's/^/    tlshd: /' | tail -n 15
			tlshd_new "$_tl" > /tmp/tls_ok_tlshd.log
			DESC=$(sed -n 's/.*Session description: //p' /tmp/tls_ok_tlshd.log | head -n 1)
			# GnuTLS's own words (debug level 4) for what was negotiated
			CIPHER=$(sed -n 's/.*Selected cipher suite: GNUTLS_\([A-Z0-9_]*\).*/TLS_\1/p' /tmp/tls_ok_tlshd.log | head -n 1)
			_grp=$(sed -n 's/.*HSK.*Selected group \([A-Z0-9]*\).*/\1/p' /tmp/tls_ok_tlshd.log | head -n 1)
			_mode=$(sed -n 's/.*PSK KE mode \([0-9]*\) received.*/\1/p' /tmp/tls_ok_tlshd.log | sort -u | tr '\n' ' ')
			_shares=$(sed -n 's/.*sending key share for \([A-Z0-9]*\).*/\1/p' /tmp/tls_ok_tlshd.log | awk '!s[$0]++' | tr '\n' ' ')
			_wire=$(sed -n 's/.*selected PSK identity: \(.*\) ([0-9]*)$/\1/p' /tmp/tls_ok_tlshd.log | head -n 1)
			_rsl=$(sed -n 's/.*record_size_limit \([0-9]*\) negotiated.*/\1/p' /tmp/tls_ok_tlshd.log | head -n 1)
			rm -f /tmp/tls_ok_tlshd.log
			{
				echo "session_description=$DESC"
				echo "cipher_suite=$CIPHER"
				echo "psk_key_exchange_modes=$_mode(RFC 8446: 0 psk_ke, 1 psk_dhe_ke)"
				echo "key_share_groups_offered=$_shares"
				echo "group_selected=$_grp"
				echo "record_size_limit=$_rsl"
				echo "identity_on_the_wire=$_wire"
			} >> "$FACTS"
			_ok=$(tlshd_new "$_tl" | grep -c 'was successful')
			echo "tls_stat_connected=$_st" >> "$FACTS"
			dmesg_new | grep -i -E 'tls|psk' > "$RES/tls_ok_dmesg.txt"
			# (the kernel prints the key serial with %x)
			_kx=$(printf %x "$((0x$KID))")
			_hs=$(dmesg_has "nvme nvme[0-9]+: queue 0: TLS handshake done, key $_kx, status 0")
			_ts=$(dmesg_has "nvmet_tcp: queue [0-9]+: TLS handshake done, key $_kx, status 0")
			# the order in which the host's kernel looked for a PSK
			echo "kernel_lookups=$(dmesg_new | sed -n "s/.*lookup tls psk '\(NVMe[^ ]*\) .*/\1/p" | awk '!s[$0]++' | tr '\n' ' ')" >> "$FACTS"
			if [ "$DYNDBG" = 1 ] && { [ -z "$_hs" ] || [ -z "$_ts" ]; }; then
				WHY="$WHY; TLS: connected, but the kernel's debug messages lack 'TLS handshake done, key $_kx, status 0' of the host (${_hs:-none}) or the target (${_ts:-none})"
			elif [ "${_tk:-x}" != "$KID" ] && [ -n "$_tk" ]; then
				WHY="$WHY; TLS: the controller's tls_key $_tk is not the inserted key $KID"
			elif ! echo "$_st" | grep -q 'TlsCurrTxSw [1-9]'; then
				WHY="$WHY; TLS: connected, but no kernel TLS socket (/proc/net/tls_stat: $_st)"
			elif [ "$_ok" -lt 2 ]; then
				WHY="$WHY; TLS: tlshd logged $_ok successful handshakes (want client and server): $(tlshd_new "$_tl" | tail -n 3 | tr '\n' '|')"
			elif [ -z "$DESC" ] || [ -z "$CIPHER" ]; then
				WHY="$WHY; TLS: no session description / selected cipher suite in tlshd's log"
			elif [ "$_wire" != "$IDENT" ]; then
				WHY="$WHY; TLS: the server saw PSK identity '$_wire', not the key's '$IDENT'"
			elif [ "${CIPHER%_SHA256}" = "$CIPHER" ]; then
				WHY="$WHY; TLS: cipher suite $CIPHER does not use the PSK's hash (HH 01: SHA-256)"
			elif ! run_fio tls_ok "$T_FIO" --name=tls_ok --filename="$DEV" $FIO_JOB; then
				WHY="$WHY; TLS: fio: $FIO_WHY"
			else
				INFO="$INFO; TLS host: connected (tls_key ${_tk:-?}; tlshd: $_ok handshakes, '$DESC', $CIPHER, PSK KE mode ${_mode% } (psk_dhe_ke), group $_grp${_hs:+; kernel: host '${_hs#nvme nvme[0-9]*: }', target '${_ts#nvmet_tcp: }'}), fio ${FIO_WKB} KiB verified, kTLS $(tls_stat)"
			fi
		fi
		nvme_disconnect tls_ok_disc "$TLS_NQN" || WHY="$WHY; TLS: disconnect exit $RC: $(said tls_ok_disc)"
	fi

	# a host without any PSK: its kernel finds none and does not even try
	KERNEL_DBG=
	tls_refused tls_nokey "host without a key" 'no valid PSK found' '' \
		"$NOKEY_HOST" "$NOKEY_HOSTID" --tls
	# a host with a PSK the target does not have: a keyring of its own in a
	# session of its own, out of the reach of tlshd's session keyring (which
	# has .nvme); the key made readable for its user (tlshd's client side
	# reads it by serial, without possessing it) and named to the kernel by
	# serial (--tls-key=<id>: libnvme 1.13 ignores --keyring without a key)
	dmesg_mark
	_tl=$(tlshd_lines)
	log "\$ keyctl session - sh -c 'keyctl newring nvmfb-foreign @s; nvme gen-tls-key --keyring=nvmfb-foreign --insert ...; nvme connect --tls --tls-key=<its serial> ...'"
	FH=$FOREIGN_HOST FHI=$FOREIGN_HOSTID N=$TLS_NQN A=$TADDR P=$TLS_PORT R=$RES T=$T_NVME \
	keyctl session - sh -c '
		keyctl newring nvmfb-foreign @s > $R/tls_foreign_ring.out 2>&1 || exit 90
		timeout $T nvme gen-tls-key --hmac=1 --identity=0 --keyring=nvmfb-foreign --hostnqn=$FH \
			--subsysnqn=$N --insert > $R/tls_foreign_genkey.out 2>&1 || exit 91
		kid=$(sed -n "s/.*Inserted TLS key \([0-9a-fA-F]*\).*/\1/p" $R/tls_foreign_genkey.out)
		[ -n "$kid" ] && keyctl setperm $((0x$kid)) 0x3f0b0000 || exit 92
		grep -i "^0*$kid " /proc/keys >> $R/tls_foreign_ring.out
		timeout -k 5 $T nvme connect -t tcp -a $A -s $P -n $N --ctrl-loss-tmo=20 --reconnect-delay=2 \
			--hostnqn=$FH --hostid=$FHI --tls --tls-key=0x$kid > $R/tls_foreign.out 2>&1' \
		> "$RES/tls_foreign.sh.out" 2>&1
	RC=$?
	log "foreign key: $(tail -n 1 "$RES/tls_foreign_ring.out")"
	case $RC in
	0)	WHY="$WHY; host with a key unknown to the target: connected although it must be refused: $(said tls_foreign)"
		nvme_disconnect tls_foreign_disc "$TLS_NQN" ;;
	90|91|92)
		WHY="$WHY; host with a key unknown to the target: could not set up its keyring/key (step $RC): $(said tls_foreign_ring) $(said tls_foreign_genkey) $(said tls_foreign.sh)" ;;
	*)	KERNEL_DBG='nvmet_tcp: queue [0-9]+: TLS handshake done, key 0, status -13'
		tls_refused_check tls_foreign "host with a key unknown to the target" '' \
			"failed to search 'psk' key 'NVMe0R01 $FOREIGN_HOST $TLS_NQN'" ;;
	esac
	# plain NVMe/TCP to the TLS-only port
	# (the target hands the ICReq to tlshd as if it were a ClientHello)
	KERNEL_DBG='nvmet_tcp: queue [0-9]+: TLS handshake done, key 0, status -13'
	tls_refused tls_plain "plain connect to the TLS port" 'failed to receive icresp' \
		"Handshake with .* failed" \
		"$TLS_HOST" "$TLS_HOSTID"

	tls_target_down
	tlshd_down
	[ -w "$DDC" ] && echo 'module nvme_tcp -p; module nvmet_tcp -p; module nvme_keyring -p' > "$DDC" 2>/dev/null
	dmesg | grep -E "lookup tls psk|TLS|tls" > "$RES/tls_dmesg.txt"
	{
		echo "# tlshd's handshake lines"
		grep -E 'Session description|was successful|failed|search' "$TLSHD_LOG"
	} >> "$FACTS"
	if [ -z "$WHY" ]; then
		result nvmet_tls PASS "identity '$IDENT', cipher $CIPHER, payload $PAYLOAD (keyctl pipe of key $KID, configured $KEY)${INFO}"
	else
		result nvmet_tls FAIL "${WHY#; } [identity '$IDENT', cipher ${CIPHER:-?}, payload ${PAYLOAD:-unread}]"
	fi
}

# --- nvmf-bridged as the target ---------------------------------------------
#   bridge_auth  nvmf-bridged exports QEMU's NVMe controller (through VFIO) in a
#               subsystem with require_auth to two hosts with keys from
#               `nvme gen-dhchap-key`; the Linux 6.12 host:
#               - without a secret: refused;
#               - its secret (SHA-256, null group): connected, fio verified;
#               - a wrong secret: refused (the daemon: "wrong response");
#               - the second host, bidirectional, SHA-512 and ffdhe2048:
#                 connected ("controller authenticated"), fio verified, and
#                 the same over NVMe/RDMA (soft-RoCE on a veth pair);
#               - a wrong controller secret: refused by the host;
#               - key rotation: the daemon reloads a file with a new key while
#                 the first host is connected; its I/O goes on (fio verified),
#                 it re-authenticates with the new key through sysfs
#                 (dhchap_secret), and a fresh connect with the old key is
#                 refused while the new one is accepted.
BRIDGE_NQN=nqn.2024-01.io.nvmf-bridge:vm-auth
B_CONF=/tmp/bridge-auth.json
B_RDMA_ADDR=10.99.0.1 B_RDMA_PORT=
# soft-RoCE on a veth pair, for the same exchange over NVMe/RDMA
b_rdma_up() {
	for m in crc32_generic veth rdma_rxe rdma_ucm ib_uverbs nvme-rdma; do modprobe $m || return 1; done
	ip link add veth0 type veth peer name veth1 2>/dev/null
	ip addr add $B_RDMA_ADDR/24 dev veth0 2>/dev/null
	ip link set veth0 up && ip link set veth1 up
	rdma link add rxe0 type rxe netdev veth0 2>/dev/null
	ibv_devices 2>/dev/null | grep -q rxe0
}

# b_config KEY1 KEY2 CKEY2: the daemon's configuration
b_config() {
	cat > "$B_CONF" <<EOC
{
  "bridge": { "discovery_port": 0 },
  "hosts": [
    { "nqn": "$HOSTNQN", "dhchap": { "key": "$1" } },
    { "nqn": "$HOST2", "dhchap": { "key": "$2", "ctrl_key": "$3", "hash": "hmac(sha512)", "dhgroup": "ffdhe2048" } }
  ],
  "ports": [ { "portid": 1,
    "addr": { "trtype": "tcp", "adrfam": "ipv4", "traddr": "$TADDR", "trsvcid": "$TPORT" },
    "subsystems": [ "$BRIDGE_NQN" ] }$B_RDMA_PORT ],
  "subsystems": [ { "nqn": "$BRIDGE_NQN", "require_auth": true,
    "allowed_hosts": [ "$HOSTNQN", "$HOST2" ],
    "namespaces": [ { "nsid": 1, "device": { "pcie": "$BDF", "nsid": 1 } } ] } ]
}
EOC
	cp "$B_CONF" "$RES/bridge-auth.json"
}

# b_connect LABEL HOSTNQN HOSTID ARGS...
b_connect() {
	_l=$1 _hn=$2 _hi=$3; shift 3
	log "\$ nvme connect -t ${B_TR:-tcp} -a $TADDR -s $TPORT -n $BRIDGE_NQN --hostnqn=$_hn $*"
	nvme_cmd "$_l" connect -t "${B_TR:-tcp}" -a "$TADDR" -s "$TPORT" -n "$BRIDGE_NQN" \
		--ctrl-loss-tmo=20 --reconnect-delay=2 --hostnqn="$_hn" --hostid="$_hi" "$@"
}

# b_ok LABEL WHAT EXPECT HOSTNQN HOSTID ARGS...: connect (the kernel says
# EXPECT), a verified fio run; stays connected when KEEP=1
b_ok() {
	_l=$1 _what=$2 _expect=$3; shift 3
	dmesg_mark
	if ! b_connect "$_l" "$@"; then
		log "FAILED: $_what: nvme connect exit $RC"; show "$_l"
		WHY="$WHY; $_what: connect exit $RC: $(said "$_l") dmesg: $(dmesg_auth) daemon: $(log_tail 3)"
		return 1
	fi
	if ! wait_until 20 ns_dev "$BRIDGE_NQN"; then
		WHY="$WHY; $_what: connected but no namespace block device"
		nvme_disconnect "${_l}_disc" "$BRIDGE_NQN"
		return 1
	fi
	if ! _seen=$(dmesg_has "$_expect"); then
		WHY="$WHY; $_what: connected, but no kernel message /$_expect/: $(dmesg_auth)"
	elif ! run_fio "$_l" "$T_FIO" --name="$_l" --filename="$DEV" $FIO_JOB; then
		WHY="$WHY; $_what: fio: $FIO_WHY"
	else
		INFO="$INFO; $_what: connected ('${_seen#nvme nvme[0-9]*: }'), fio ${FIO_WKB} KiB verified"
	fi
	[ "${KEEP:-0}" = 1 ] && return 0
	nvme_disconnect "${_l}_disc" "$BRIDGE_NQN" || WHY="$WHY; $_what: disconnect exit $RC"
}

# b_refused LABEL WHAT WHERE EXPECT HOSTNQN HOSTID ARGS...: no connection;
# WHERE (dmesg or daemon) logs a line matching EXPECT
b_refused() {
	_l=$1 _what=$2 _where=$3 _expect=$4; shift 4
	dmesg_mark
	_dl=$(wc -l < "$DLOG")
	if b_connect "$_l" "$@"; then
		WHY="$WHY; $_what: connected although it must be refused"
		nvme_disconnect "${_l}_disc" "$BRIDGE_NQN"
		return 1
	fi
	log "refused as expected ($_what): nvme connect exit $RC"; show "$_l"
	wait_until 10 no_ctrl_of "$BRIDGE_NQN"
	if [ "$_where" = daemon ]; then
		_seen=$(sed -n "$((_dl + 1)),\$p" "$DLOG" | grep -m1 -E "$_expect" | sed "s/.*failed: /failed: /")
	else
		_seen=$(dmesg_has "$_expect")
	fi
	if [ -z "$_seen" ]; then
		WHY="$WHY; $_what: refused, but no $_where line /$_expect/: $(said "$_l") $(dmesg_auth) $(log_tail 3)"
		return 1
	fi
	INFO="$INFO; $_what: refused ('$(echo "${_seen#nvme nvme[0-9]*: }" | cut -c1-90)')"
}

t_bridge_auth() {
	WHY= INFO=
	_tport=$TPORT
	TPORT=4430              # nvmet_auth's port 4420 may still be configured
	bridge_auth_run
	TPORT=$_tport
}

bridge_auth_run() {
	host_identity
	HOST2_ID=$(cat /proc/sys/kernel/random/uuid)
	HOST2=nqn.2014-08.org.nvmexpress:uuid:$HOST2_ID
	if [ ! -x "$BRIDGED" ]; then
		result bridge_auth FAIL "nvmf-bridged is not in the share (build it: make)"
		return
	fi
	if ! find_controller || ! bind_to vfio-pci; then
		result bridge_auth FAIL "no NVMe controller for VFIO (BDF ${BDF:-none})"
		return
	fi
	K1= K2= C2= KX= K1N=
	if ! gen_key K1 "$HOSTNQN" || ! gen_key KX "$HOSTNQN" || ! gen_key K1N "$HOSTNQN" ||
	   ! nvme_cmd auth_genkey_K2 gen-dhchap-key --hmac=3 -n "$HOST2" ||
	   ! nvme_cmd auth_genkey_C2 gen-dhchap-key --hmac=2 -n "$BRIDGE_NQN"; then
		result bridge_auth FAIL "nvme gen-dhchap-key failed: $(said auth_genkey_K1)"
		return
	fi
	K2=$(grep -o 'DHHC-1:03:[A-Za-z0-9+/=]*:' "$RES/auth_genkey_K2.out" | head -n 1)
	C2=$(grep -o 'DHHC-1:02:[A-Za-z0-9+/=]*:' "$RES/auth_genkey_C2.out" | head -n 1)
	if b_rdma_up; then
		B_RDMA_PORT=', { "portid": 2, "addr": { "trtype": "rdma", "adrfam": "ipv4", "traddr": "'$B_RDMA_ADDR'", "trsvcid": "4420" }, "subsystems": [ "'$BRIDGE_NQN'" ] }'
	else
		WHY="$WHY; soft-RoCE (rdma_rxe on veth) did not come up: $(dmesg | grep -i rxe | tail -n 1)"
	fi
	b_config "$K1" "$K2" "$C2"
	if ! start_bridged "$B_CONF" "$TPORT"; then
		result bridge_auth FAIL "nvmf-bridged did not start: $START_WHY"
		return
	fi
	b_refused b_nokey "no secret" dmesg 'no key' "$HOSTNQN" "$HOSTID"
	b_ok b_uni "host secret" 'authenticated with hash hmac\(sha256\) dhgroup null' "$HOSTNQN" "$HOSTID" \
		--dhchap-secret="$K1"
	b_refused b_wrong "wrong secret" daemon 'wrong response' "$HOSTNQN" "$HOSTID" --dhchap-secret="$KX"
	b_ok b_bidi "bidirectional sha512+ffdhe2048" 'authenticated with hash hmac\(sha512\) dhgroup ffdhe2048' \
		"$HOST2" "$HOST2_ID" --dhchap-secret="$K2" --dhchap-ctrl-secret="$C2"
	dmesg_new | grep -q 'controller authenticated' || WHY="$WHY; bidirectional: no 'controller authenticated' in dmesg"
	if [ -n "$B_RDMA_PORT" ]; then
		# the same host over NVMe/RDMA (soft-RoCE): the Authentication
		# Receive data goes out by RDMA Write from the DMA pool
		_tr=$TADDR _tp=$TPORT
		TADDR=$B_RDMA_ADDR TPORT=4420 B_TR=rdma
		b_ok b_rdma "bidirectional over RDMA" 'authenticated with hash hmac\(sha512\) dhgroup ffdhe2048' \
			"$HOST2" "$HOST2_ID" --dhchap-secret="$K2" --dhchap-ctrl-secret="$C2"
		TADDR=$_tr TPORT=$_tp B_TR=tcp
	fi
	b_refused b_wrongctrl "wrong controller secret" dmesg 'controller authentication failed' \
		"$HOST2" "$HOST2_ID" --dhchap-secret="$K2" --dhchap-ctrl-secret="$K1"
	# rotation: reload with K1N while the host runs with K1
	KEEP=1 b_ok b_rot "before rotation" 'authenticated with hash hmac\(sha256\)' "$HOSTNQN" "$HOSTID" \
		--dhchap-secret="$K1"
	_c=$(ctrls_of "$BRIDGE_NQN" | head -n 1)
	b_config "$K1N" "$K2" "$C2"
	kill -HUP "$DPID"
	if ! wait_until 20 grep -q "DH-HMAC-CHAP settings of host $HOSTNQN changed" "$DLOG"; then
		WHY="$WHY; rotation: the daemon did not report the new key: $(log_tail 3)"
	elif ! run_fio b_rot_io "$T_FIO" --name=b_rot_io --filename="$DEV" $FIO_JOB; then
		WHY="$WHY; rotation: I/O after the reload: $FIO_WHY"
	else
		INFO="$INFO; reload with a new key: connected host kept running (fio ${FIO_WKB} KiB verified)"
		dmesg_mark
		if [ -n "$_c" ] && echo "$K1N" > "/sys/class/nvme/$_c/dhchap_secret" 2>/dev/null &&
		   wait_until 20 dmesg_has 'authenticated with hash' > /dev/null &&
		   run_fio b_reauth_io "$T_FIO" --name=b_reauth_io --filename="$DEV" $FIO_JOB; then
			INFO="$INFO; re-authenticated with it through sysfs ('$(dmesg_has 'authenticated with hash' | cut -c1-70)'), fio verified"
		else
			WHY="$WHY; re-authentication with the new key ($_c): $(dmesg_auth) $(log_tail 3) $FIO_WHY"
		fi
	fi
	nvme_disconnect b_rot_disc "$BRIDGE_NQN" || WHY="$WHY; rotation: disconnect exit $RC"
	b_refused b_oldkey "old key after rotation" daemon 'wrong response' "$HOSTNQN" "$HOSTID" --dhchap-secret="$K1"
	b_ok b_newkey "new key after rotation" 'authenticated with hash hmac\(sha256\)' "$HOSTNQN" "$HOSTID" \
		--dhchap-secret="$K1N"
	grep -q "$K1\|$K2\|$C2" "$DLOG" && WHY="$WHY; a secret appears in the daemon's log"
	if ! stop_bridged 30; then
		WHY="$WHY; nvmf-bridged did not stop cleanly (exit $STOP_RC)"
	fi
	if [ -z "$WHY" ]; then
		result bridge_auth PASS "nvmf-bridged on $BDF, require_auth${INFO}"
	else
		result bridge_auth FAIL "${WHY#; }"
	fi
}

# --- nvmf-bridged over TLS ---------------------------------------------------
#   bridge_tls  nvmf-bridged exports QEMU's controller on a port with tsas
#               tls1.3 (TLS required) and one where TLS is optional ("not
#               required"); the host's PSK comes from `nvme gen-tls-key
#               --insert` (nvme-cli 2.13) and the same configured key is the
#               daemon's hosts[].tls_psk. The Linux 6.12 host with tlshd:
#               - `nvme connect --tls`: TLS 1.3 (the daemon logs the suite and
#                 the identity's host), kTLS on the socket, fio verified;
#               - TLS and DH-HMAC-CHAP together (a second host with both);
#               - a plain connect to the TLS port: refused (the daemon: TLS
#                 handshake failed);
#               - a host whose PSK the daemon does not know: refused (the
#                 daemon: no TLS PSK for host ...);
#               - the optional port: a plain connect and a TLS one both work;
#               - `nvme discover` shows the TLS requirement (sectype tls13,
#                 treq required / not required).
BT_NQN=nqn.2024-01.io.nvmf-bridge:vm-tls
BT_PORT=4460 BT_OPT_PORT=4461 BT_DISC=8019
BT_CONF=/tmp/bridge-tls.json

bt_connect() {   # bt_connect LABEL PORT HOSTNQN HOSTID ARGS...
	_l=$1 _p=$2 _hn=$3 _hi=$4; shift 4
	log "\$ nvme connect -t tcp -a $TADDR -s $_p -n $BT_NQN --hostnqn=$_hn $*"
	nvme_cmd "$_l" connect -t tcp -a "$TADDR" -s "$_p" -n "$BT_NQN" \
		--ctrl-loss-tmo=20 --reconnect-delay=2 --hostnqn="$_hn" --hostid="$_hi" "$@"
}

# bt_ok LABEL WHAT PORT HOSTNQN HOSTID ARGS...: connects, fio verifies, disconnects
bt_ok() {
	_l=$1 _what=$2 _p=$3; shift 3
	_dl=$(wc -l < "$DLOG")
	dmesg_mark
	if ! bt_connect "$_l" "$_p" "$@"; then
		show "$_l"
		WHY="$WHY; $_what: connect exit $RC: $(said "$_l") daemon: $(sed -n "$((_dl + 1)),\$p" "$DLOG" | tail -n 3 | tr '\n' '|') dmesg: $(dmesg_tls)"
		return 1
	fi
	if ! wait_until 20 ns_dev "$BT_NQN"; then
		WHY="$WHY; $_what: connected but no namespace block device"
	elif ! run_fio "$_l" "$T_FIO" --name="$_l" --filename="$DEV" $FIO_JOB; then
		WHY="$WHY; $_what: fio: $FIO_WHY"
	else
		_tl=$(sed -n "$((_dl + 1)),\$p" "$DLOG" | grep -m1 'TLS 1.3' | sed 's/.*: TLS 1.3/TLS 1.3/' | cut -c1-70)
		INFO="$INFO; $_what: connected${_tl:+ ($_tl)}, fio ${FIO_WKB} KiB verified"
	fi
	nvme_disconnect "${_l}_disc" "$BT_NQN" || WHY="$WHY; $_what: disconnect exit $RC"
}

# bt_refused LABEL WHAT WHERE EXPECT PORT HOSTNQN HOSTID ARGS...
bt_refused() {
	_l=$1 _what=$2 _where=$3 _expect=$4 _p=$5; shift 5
	_dl=$(wc -l < "$DLOG")
	dmesg_mark
	if bt_connect "$_l" "$_p" "$@"; then
		WHY="$WHY; $_what: connected although it must be refused"
		nvme_disconnect "${_l}_disc" "$BT_NQN"
		return 1
	fi
	wait_until 10 no_ctrl_of "$BT_NQN"
	if [ "$_where" = daemon ]; then
		wait_until 5 sh -c "sed -n '$((_dl + 1)),\$p' '$DLOG' | grep -q -E '$_expect'"
		_seen=$(sed -n "$((_dl + 1)),\$p" "$DLOG" | grep -m1 -E "$_expect" | sed 's/^[^ ]* [^ ]* //')
	else
		_seen=$(dmesg_has "$_expect")
	fi
	if [ -z "$_seen" ]; then
		WHY="$WHY; $_what: refused, but no $_where line /$_expect/: $(said "$_l") $(dmesg_tls) $(log_tail 3)"
		return 1
	fi
	INFO="$INFO; $_what: refused ('$(echo "$_seen" | sed 's/^nvme nvme[0-9]*: //' | cut -c1-100)')"
}

t_bridge_tls() {
	WHY= INFO=
	_tport=$TPORT
	bridge_tls_run
	TPORT=$_tport
	tlshd_down
}

bridge_tls_run() {
	host_identity           # nvme discover's own host NQN
	if [ ! -x "$BRIDGED" ]; then
		result bridge_tls FAIL "nvmf-bridged is not in the share (build it: make)"
		return
	fi
	if ! find_controller || ! bind_to vfio-pci; then
		result bridge_tls FAIL "no NVMe controller for VFIO"
		return
	fi
	for m in nvme-keyring tls nvme-tcp; do
		modprobe $m || { result bridge_tls FAIL "modprobe $m failed"; return; }
	done
	for m in aesni-intel ghash-clmulni-intel gcm; do modprobe $m 2>/dev/null; done
	tlshd_alive || tlshd_up || { result bridge_tls FAIL "tlshd did not stay up: $(tail -n 3 "$TLSHD_LOG" | tr '\n' '|')"; return; }
	A_ID=$(cat /proc/sys/kernel/random/uuid) B_ID=$(cat /proc/sys/kernel/random/uuid)
	N_ID=$(cat /proc/sys/kernel/random/uuid) F_ID=$(cat /proc/sys/kernel/random/uuid)
	C_ID=$(cat /proc/sys/kernel/random/uuid)
	C_HOST=nqn.2014-08.org.nvmexpress:uuid:$C_ID
	A_HOST=nqn.2014-08.org.nvmexpress:uuid:$A_ID B_HOST=nqn.2014-08.org.nvmexpress:uuid:$B_ID
	N_HOST=nqn.2014-08.org.nvmexpress:uuid:$N_ID F_HOST=nqn.2014-08.org.nvmexpress:uuid:$F_ID
	# the configured PSKs, inserted into the host's keyring for (host, subsystem)
	for h in A B F; do
		eval "_hn=\$${h}_HOST"
		if ! nvme_cmd bt_genkey_$h gen-tls-key --hmac=1 --identity=0 --hostnqn="$_hn" --subsysnqn="$BT_NQN" --insert; then
			result bridge_tls FAIL "nvme gen-tls-key --insert exit $RC: $(said bt_genkey_$h)"
			return
		fi
		eval "${h}_KEY=\$(grep -o 'NVMeTLSkey-1:01:[A-Za-z0-9+/=]*:' \"$RES/bt_genkey_$h.out\" | head -n 1)"
	done
	# C: a version 1 identity (NVMe1R01 <host> <subsystem> <PSK digest>)
	if ! nvme_cmd bt_genkey_C gen-tls-key --hmac=1 --identity=1 --hostnqn="$C_HOST" --subsysnqn="$BT_NQN" --insert; then
		result bridge_tls FAIL "nvme gen-tls-key --identity=1 --insert exit $RC: $(said bt_genkey_C)"
		return
	fi
	C_KEY=$(grep -o 'NVMeTLSkey-1:01:[A-Za-z0-9+/=]*:' "$RES/bt_genkey_C.out" | head -n 1)
	nvme_cmd bt_dhkey gen-dhchap-key --hmac=1 -n "$B_HOST" || { result bridge_tls FAIL "gen-dhchap-key"; return; }
	B_DH=$(grep -o 'DHHC-1:01:[A-Za-z0-9+/=]*:' "$RES/bt_dhkey.out" | head -n 1)
	# F's key is not the daemon's: it gets another one
	nvme_cmd bt_genkey_X gen-tls-key --hmac=1
	X_KEY=$(grep -o 'NVMeTLSkey-1:01:[A-Za-z0-9+/=]*:' "$RES/bt_genkey_X.out" | head -n 1)
	cat > "$BT_CONF" <<EOC
{
  "bridge": { "discovery_port": $BT_DISC },
  "hosts": [
    { "nqn": "$A_HOST", "tls_psk": "$A_KEY" },
    { "nqn": "$B_HOST", "tls_psk": "$B_KEY", "dhchap": { "key": "$B_DH" } },
    { "nqn": "$F_HOST", "tls_psk": "$X_KEY" },
    { "nqn": "$C_HOST", "tls_psk": "$C_KEY" }
  ],
  "ports": [
    { "portid": 1, "addr": { "trtype": "tcp", "adrfam": "ipv4", "traddr": "$TADDR", "trsvcid": "$BT_PORT",
                             "tsas": "tls1.3", "treq": "required" }, "subsystems": [ "$BT_NQN" ] },
    { "portid": 2, "addr": { "trtype": "tcp", "adrfam": "ipv4", "traddr": "$TADDR", "trsvcid": "$BT_OPT_PORT",
                             "tsas": "tls1.3", "treq": "not required" }, "subsystems": [ "$BT_NQN" ] }
  ],
  "subsystems": [ { "nqn": "$BT_NQN", "attr": { "allow_any_host": "1" },
    "namespaces": [ { "nsid": 1, "device": { "pcie": "$BDF", "nsid": 1 } } ] } ]
}
EOC
	cp "$BT_CONF" "$RES/bridge-tls.json"
	if ! start_bridged "$BT_CONF" "$BT_PORT" "$BT_OPT_PORT"; then
		result bridge_tls FAIL "nvmf-bridged did not start: $START_WHY"
		return
	fi
	bt_ok bt_tls "TLS" $BT_PORT "$A_HOST" "$A_ID" --tls
	grep -q 'TLS 1.3 (TLS_AES_128_GCM_SHA256) with the PSK of' "$DLOG" || WHY="$WHY; the daemon did not log the TLS handshake"
	bt_ok bt_tls_auth "TLS and DH-HMAC-CHAP" $BT_PORT "$B_HOST" "$B_ID" --tls --dhchap-secret="$B_DH"
	bt_ok bt_tls_v1 "TLS, a version 1 identity" $BT_PORT "$C_HOST" "$C_ID" --tls
	grep -q "NVMe1R01 $C_HOST" /proc/keys || WHY="$WHY; no NVMe1R01 identity for host C in /proc/keys"
	grep -q "with the PSK of $C_HOST" "$DLOG" || WHY="$WHY; version 1 identity: the daemon did not log its handshake"
	grep -q "host $B_HOST authenticated" "$DLOG" || WHY="$WHY; TLS and DH-HMAC-CHAP: the daemon did not log the authentication"
	bt_refused bt_plain "plain connect to the TLS port" daemon 'TLS handshake failed' $BT_PORT "$A_HOST" "$A_ID"
	bt_refused bt_foreign "a PSK the daemon does not have" daemon 'TLS handshake (refused|failed)' $BT_PORT "$F_HOST" "$F_ID" --tls
	bt_refused bt_nokey "a host without a PSK" dmesg 'no valid PSK|TLS handshake|PSK' $BT_PORT "$N_HOST" "$N_ID" --tls
	bt_ok bt_opt_plain "TLS optional, plain" $BT_OPT_PORT "$A_HOST" "$A_ID"
	bt_ok bt_opt_tls "TLS optional, TLS" $BT_OPT_PORT "$A_HOST" "$A_ID" --tls
	if nvme_cmd bt_discover discover -t tcp -a "$TADDR" -s "$BT_DISC"; then
		_n=$(grep -c 'sectype: *tls13' "$RES/bt_discover.out")
		if [ "$_n" -ge 2 ] && grep -q 'treq: *required' "$RES/bt_discover.out" && grep -q 'treq: *not required' "$RES/bt_discover.out"; then
			INFO="$INFO; discover: $_n entries with sectype tls13, treq required and not required"
		else
			show bt_discover
			WHY="$WHY; discover does not show the TLS requirement"
		fi
	else
		WHY="$WHY; discover exit $RC"
	fi
	for k in "$A_KEY" "$B_KEY" "$X_KEY" "$B_DH"; do
		grep -q -F "$k" "$DLOG" && WHY="$WHY; a secret appears in the daemon's log"
	done
	stop_bridged 30 || WHY="$WHY; nvmf-bridged did not stop cleanly (exit $STOP_RC)"
	if [ -z "$WHY" ]; then
		result bridge_tls PASS "nvmf-bridged on $BDF${INFO}"
	else
		result bridge_tls FAIL "${WHY#; }"
	fi
}

ALL="nvmet_auth tls_tools nvmet_tls bridge_auth bridge_tls"
LIST=$(echo "${TESTS:-$ALL}" | tr ',' ' ')
log "auth: kernel $(uname -r), tests: $LIST"
for t in $LIST; do
	case $t in
	nvmet_auth|tls_tools|nvmet_tls|bridge_auth|bridge_tls)
		log "--- $t"
		"t_$t" ;;
	*) result "$t" FAIL "no such test in auth.sh" ;;
	esac
done
dmesg | grep -i -E 'nvmet|nvme|auth' | tail -n 60 > "$RES/auth-dmesg.txt"
exit 0
