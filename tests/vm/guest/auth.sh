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
#               tlshd is there and answers --help/--version. No TLS connection.
#
# Runs the tests named in $TESTS (comma list; both when empty); each prints
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
FIO_JOB="--ioengine=libaio --direct=1 --verify=crc32c --verify_fatal=1 --rw=randwrite --bs=4k --iodepth=16 --size=16M"

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

# target_up: the subsystem (no host allowed yet) with one namespace on port 1
TARGET_WHY=
target_up() {
	TARGET_WHY=
	[ -e "$PRT/subsystems/$SUBNQN" ] && return 0
	backend || { TARGET_WHY="no namespace backing (null_blk, tmpfs file)"; return 1; }
	modprobe nvmet-tcp || { TARGET_WHY="modprobe nvmet-tcp failed"; return 1; }
	modprobe nvme-tcp || { TARGET_WHY="modprobe nvme-tcp failed"; return 1; }
	if [ ! -d "$SUB" ]; then
		mkdir "$SUB" &&
		echo 0 > "$SUB/attr_allow_any_host" &&
		mkdir "$SUB/namespaces/1" &&
		printf %s "$NSDEV" > "$SUB/namespaces/1/device_path" &&
		echo 1 > "$SUB/namespaces/1/enable" ||
			{ TARGET_WHY="configfs: subsystem $SUBNQN with $NSDEV"; return 1; }
	fi
	if [ ! -d "$PRT" ]; then
		mkdir "$PRT" &&
		echo tcp > "$PRT/addr_trtype" &&
		echo ipv4 > "$PRT/addr_adrfam" &&
		echo "$TADDR" > "$PRT/addr_traddr" &&
		echo "$TPORT" > "$PRT/addr_trsvcid" ||
			{ TARGET_WHY="configfs: port 1"; return 1; }
	fi
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

ALL="nvmet_auth tls_tools bridge_auth"
LIST=$(echo "${TESTS:-$ALL}" | tr ',' ' ')
log "auth: kernel $(uname -r), tests: $LIST"
for t in $LIST; do
	case $t in
	nvmet_auth|tls_tools|bridge_auth)
		log "--- $t"
		"t_$t" ;;
	*) result "$t" FAIL "no such test in auth.sh" ;;
	esac
done
dmesg | grep -i -E 'nvmet|nvme|auth' | tail -n 60 > "$RES/auth-dmesg.txt"
exit 0
