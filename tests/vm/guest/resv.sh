#!/bin/sh
# NVMe reservations in nvmf-bridged, driven by the kernel initiator and
# nvme-cli (VM_GUEST=current: kernel 6.12, nvme-cli 2.13):
#   bridge_resv  one subsystem (QEMU's controller through VFIO, namespace 1)
#                connected three times with three host NQNs and host IDs:
#                A holds reservations, B is registered, C is not. For each
#                of the six types: A acquires; reads and writes of A, B and
#                C succeed or fail with Reservation Conflict exactly as the
#                specification's table says; resv-report -e shows type,
#                holder and registrants; A releases (a wrong type is Invalid
#                Field). Then B preempts A; preempt and abort; clear; PTPL:
#                A registers with --cptpl=3, acquires, the daemon restarts
#                (SIGTERM, same configuration), hosts reconnect and the
#                report still shows the reservation, which still blocks C.
#
# Each host is addressed through its own controller's character device
# (/dev/nvmeN with -n 1): with native multipath the three controllers are
# paths of one namespace head, so /dev/nvmeXnY would pick any of them. The
# kernel accepts I/O commands on a controller device when it has a single
# namespace (NVME_IOCTL_IO_CMD; it logs a deprecation warning), which is
# how resv-* and io-passthru reach one host's controller here.
set -u
. "$(dirname "$0")/lib.sh"

NQN=nqn.2024-01.io.nvmf-bridge:resv
TPORT=4460
DIR=/tmp/resv
CFG=$DIR/config.json
STATE=$CFG.resv
KA=41377 KB=45746 KC=50115        # decimal: nvme-cli takes them as given
WHY= NCHECK=0

show() { sed 's/^/    | /' "$RES/$1.out" 2>/dev/null | head -n 20; }
fail() { WHY="$WHY; $*"; log "FAIL: $*"; }

# the three hosts: NQN and host ID from a UUID each
mk_host() { _u=$(cat /proc/sys/kernel/random/uuid); echo "nqn.2014-08.org.nvmexpress:uuid:$_u $_u"; }

write_config() {
	mkdir -p "$DIR"
	cat > "$CFG" <<EOC
{
  "ports": [ { "portid": 1,
    "addr": { "trtype": "tcp", "adrfam": "ipv4", "traddr": "$TADDR", "trsvcid": "$TPORT" },
    "subsystems": [ "$NQN" ] } ],
  "subsystems": [ { "nqn": "$NQN", "attr": { "allow_any_host": "1" },
    "namespaces": [ { "nsid": 1, "resv": { "enable": 1 },
      "device": { "pcie": "$BDF", "nsid": 1, "uuid": "6f1d3c52-93a4-4b7e-8c1d-2b5e0f7a9c31" } } ] } ]
}
EOC
	cp "$CFG" "$RES/resv-config.json"
}

# ctrl_of HOSTNQN: sets C to /dev/nvmeN, that host's controller of $NQN
C=
ctrl_of() {
	C=
	for _c in $(ctrls_of "$NQN"); do
		[ "$(cat "/sys/class/nvme/$_c/hostnqn" 2>/dev/null)" = "$1" ] || continue
		[ "$(cat "/sys/class/nvme/$_c/state" 2>/dev/null)" = live ] || continue
		[ -c "/dev/$_c" ] || continue
		C=/dev/$_c
		return 0
	done
	return 1
}

connect_all() {
	for _h in A B C; do
		eval "_n=\$H${_h}NQN _i=\$H${_h}ID"
		if ! nvme_connect "resv_connect_$_h" "$NQN" --hostnqn="$_n" --hostid="$_i"; then
			fail "host $_h: nvme connect exit $RC: $(out_line "resv_connect_$_h")"
			return 1
		fi
		if ! wait_until 20 ctrl_of "$_n"; then
			fail "host $_h: no live controller after connect"
			return 1
		fi
		eval "C$_h=\$C"
		log "host $_h ($_n): $C"
	done
	# the namespace is there (the I/O ioctl on a controller needs it)
	wait_until 20 ns_dev "$NQN" || { fail "no namespace device for $NQN"; return 1; }
	return 0
}

disconnect_all() { nvme_disconnect resv_disconnect "$NQN" || fail "disconnect did not finish"; }

# dev_of_host A|B|C: the controller device of that host
ctl() { eval "echo \$C$1"; }

# ok LABEL DESC nvme-args...: the command must succeed
ok() {
	_l=$1 _d=$2; shift 2
	NCHECK=$((NCHECK + 1))
	if ! nvme_cmd "$_l" "$@"; then
		fail "$_d: expected success, got exit $RC: $(grep -v '^$' "$RES/$_l.out" | grep -iv deprecated | head -n 1 | cut -c1-160)"
		return 1
	fi
	return 0
}

# refused LABEL DESC PATTERN nvme-args...: the command must fail with a
# status whose text matches PATTERN (grep -i)
refused() {
	_l=$1 _d=$2 _p=$3; shift 3
	NCHECK=$((NCHECK + 1))
	if nvme_cmd "$_l" "$@"; then
		fail "$_d: expected $_p, but it succeeded"
		return 1
	fi
	if ! grep -qi "$_p" "$RES/$_l.out"; then
		fail "$_d: expected $_p, got exit $RC: $(grep -v '^$' "$RES/$_l.out" | head -n 2 | tr '\n' ' ' | cut -c1-200)"
		return 1
	fi
	return 0
}

CONFLICT="reservation.conflict"

# io HOST read|write EXPECT(ok|conflict) TAG: one block at LBA 0 through
# that host's controller
io() {
	_h=$1 _op=$2 _e=$3 _t=$4
	if [ "$_op" = write ]; then
		set -- io-passthru "$(ctl "$_h")" --namespace-id=1 --opcode=0x01 --data-len=512 --write \
			--input-file=/tmp/resv/block --cdw10=0 --cdw11=0 --cdw12=0
	else
		set -- io-passthru "$(ctl "$_h")" --namespace-id=1 --opcode=0x02 --data-len=512 --read \
			--raw-binary --cdw10=0 --cdw11=0 --cdw12=0
	fi
	if [ "$_e" = ok ]; then
		ok "resv_${_t}_${_h}_$_op" "$_t: host $_h $_op" "$@"
	else
		refused "resv_${_t}_${_h}_$_op" "$_t: host $_h $_op" "$CONFLICT" "$@"
	fi
}

# report HOST TAG: resv-report -e from that host, raw, into RPT (hex bytes,
# one per line); sets R_GEN R_TYPE R_REGCTL R_PTPLS
report() {
	R_GEN= R_TYPE= R_REGCTL= R_PTPLS=
	NCHECK=$((NCHECK + 1))
	if ! timeout -k 5 "$T_NVME" nvme resv-report "$(ctl "$1")" --namespace-id=1 --eds --numd=1023 --raw-binary \
		> "$RES/resv_report_$2.bin" 2> "$RES/resv_report_$2.out"; then
		fail "$2: resv-report from host $1 failed: $(head -n 1 "$RES/resv_report_$2.out")"
		return 1
	fi
	od -An -tx1 -v "$RES/resv_report_$2.bin" | tr -s ' ' '\n' | grep -v '^$' > "$RES/resv_report_$2.hex"
	RPT=$RES/resv_report_$2.hex
	R_GEN=$(byte 3)$(byte 2)$(byte 1)$(byte 0)
	R_TYPE=$((0x$(byte 4)))
	R_REGCTL=$((0x$(byte 6)$(byte 5)))
	R_PTPLS=$((0x$(byte 9)))
	return 0
}
byte() { sed -n "$(($1 + 1))p" "$RPT"; }
# the registrant entry of host ID $1 (uuid with dashes): "rcsts key" or nothing
entry_of() {
	_want=$(echo "$1" | tr -d '-' | tr 'A-F' 'a-f')
	_i=0
	while [ $_i -lt "$R_REGCTL" ]; do
		_o=$((64 + 64 * _i))
		_id=
		_k=16
		while [ $_k -lt 32 ]; do _id=$_id$(byte $((_o + _k))); _k=$((_k + 1)); done
		if [ "$_id" = "$_want" ]; then
			_key=
			_k=15
			while [ $_k -ge 8 ]; do _key=$_key$(byte $((_o + _k))); _k=$((_k - 1)); done
			echo "$((0x$(byte $((_o + 2))))) $(printf '0x%x' $((0x$_key)))"
			return 0
		fi
		_i=$((_i + 1))
	done
}

# expect_report TAG TYPE REGCTL HOLDERS...: as seen from host A; HOLDERS
# are the hosts whose entry must show "holds" (the others must not)
expect_report() {
	_t=$1 _ty=$2 _rc=$3; shift 3
	report A "$_t" || return 1
	[ "$R_TYPE" = "$_ty" ] || fail "$_t: report type $R_TYPE, expected $_ty"
	[ "$R_REGCTL" = "$_rc" ] || fail "$_t: report lists $R_REGCTL registrant(s), expected $_rc"
	for _h in A B C; do
		eval "_id=\$H${_h}ID _key=\$K$_h"
		_e=$(entry_of "$_id")
		_hold=0
		for _x; do [ "$_x" = "$_h" ] && _hold=1; done
		if [ "$_h" = C ]; then
			[ -z "$_e" ] || fail "$_t: host C is listed ($_e) but is not registered"
		elif [ -z "$_e" ]; then
			fail "$_t: host $_h is not listed"
		else
			[ "${_e% *}" = "$_hold" ] || fail "$_t: host $_h rcsts ${_e% *}, expected $_hold"
			[ "${_e#* }" = "$(printf '0x%x' $((_key)))" ] || fail "$_t: host $_h key ${_e#* }, expected $(printf '0x%x' $((_key)))"
		fi
	done
}

# the spec's table (NVMe Base 2.0, "Command Behavior in the Presence of a
# Reservation"): for type T, what a registrant (B) and a non-registrant
# (C) may do; the holder (A) may do everything
#            type  B_read B_write C_read C_write
TABLE="1 ok conflict ok conflict
2 conflict conflict conflict conflict
3 ok ok ok conflict
4 ok ok conflict conflict
5 ok ok ok conflict
6 ok ok conflict conflict"
TYPE_NAMES="1:write-exclusive 2:exclusive-access 3:we-registrants-only 4:ea-registrants-only 5:we-all-registrants 6:ea-all-registrants"
tname() { for _x in $TYPE_NAMES; do [ "${_x%%:*}" = "$1" ] && echo "${_x#*:}"; done; }

t_types() {
	ok resv_reg_A "host A register" resv-register "$CA" --namespace-id=1 --nrkey=$KA --rrega=0 || return
	ok resv_reg_B "host B register" resv-register "$CB" --namespace-id=1 --nrkey=$KB --rrega=0 || return
	# registering again with another key is a conflict
	refused resv_rereg_B "host B re-register with another key" "$CONFLICT" \
		resv-register "$CB" --namespace-id=1 --nrkey=0x1234 --rrega=0
	# Report with EDS cleared: fabrics host IDs are 128-bit, only the
	# extended structure carries them (nvme-cli's resv-report sets EDS by
	# itself when CTRATT says 128-bit host IDs, so the command is built here)
	refused resv_report_noeds "Reservation Report with EDS=0" "host.identifier.inconsistent" \
		io-passthru "$CA" --namespace-id=1 --opcode=0x0e --data-len=4096 --read --raw-binary \
		--cdw10=1023 --cdw11=0
	for ty in 1 2 3 4 5 6; do
		set -- $(echo "$TABLE" | sed -n "${ty}p")
		br=$2 bw=$3 cr=$4 cw=$5
		n=$(tname "$ty")
		ok "resv_acq_$ty" "$n: host A acquire" resv-acquire "$CA" --namespace-id=1 --crkey=$KA --rtype="$ty" --racqa=0 || continue
		# another host cannot acquire over it
		refused "resv_acq_${ty}_C" "$n: host C (unregistered) acquire" "$CONFLICT" \
			resv-acquire "$CC" --namespace-id=1 --crkey=$KC --rtype="$ty" --racqa=0
		case $ty in
		5|6) expect_report "$n" "$ty" 2 A B ;;
		*) expect_report "$n" "$ty" 2 A ;;
		esac
		io A read ok "$n"; io A write ok "$n"
		io B read "$br" "$n"; io B write "$bw" "$n"
		io C read "$cr" "$n"; io C write "$cw" "$n"
		[ "$ty" = 3 ] && refused "resv_rel_wrongtype" "$n: release with the wrong type" "invalid.field" \
			resv-release "$CA" --namespace-id=1 --crkey=$KA --rtype=1 --rrela=0
		ok "resv_rel_$ty" "$n: host A release" resv-release "$CA" --namespace-id=1 --crkey=$KA --rtype="$ty" --rrela=0
		report A "${n}_released" && { [ "$R_TYPE" = 0 ] || fail "$n: type $R_TYPE after release"; }
		# with no reservation anyone may write
		io C write ok "${n}_released"
	done
}

t_preempt() {
	ok resv_pre_acq "preempt: host A acquires write exclusive" \
		resv-acquire "$CA" --namespace-id=1 --crkey=$KA --rtype=1 --racqa=0 || return
	# a preempt with a key nobody holds is a conflict
	refused resv_pre_bad "preempt with an unknown key" "$CONFLICT" \
		resv-acquire "$CB" --namespace-id=1 --crkey=$KB --prkey=0x9999 --rtype=2 --racqa=1
	ok resv_pre "host B preempts A (exclusive access)" \
		resv-acquire "$CB" --namespace-id=1 --crkey=$KB --prkey=$KA --rtype=2 --racqa=1 || return
	report A preempt
	[ "$R_TYPE" = 2 ] || fail "preempt: type $R_TYPE, expected 2"
	[ "$R_REGCTL" = 1 ] || fail "preempt: $R_REGCTL registrant(s), expected 1 (A preempted)"
	_e=$(entry_of "$HBID")
	[ "${_e% *}" = 1 ] || fail "preempt: host B is not the holder (entry: '$_e')"
	[ -z "$(entry_of "$HAID")" ] || fail "preempt: host A is still registered"
	io A write conflict preempted; io A read conflict preempted
	io B write ok preempted
	# A's key is gone: its release is a conflict
	refused resv_pre_a_rel "preempted host A release" "$CONFLICT" \
		resv-release "$CA" --namespace-id=1 --crkey=$KA --rtype=1 --rrela=0
	# preempt and abort, back to A
	ok resv_pa_reg "host A registers again" resv-register "$CA" --namespace-id=1 --nrkey=$KA --rrega=0
	ok resv_pa "host A preempts and aborts B" \
		resv-acquire "$CA" --namespace-id=1 --crkey=$KA --prkey=$KB --rtype=1 --racqa=2
	report A preempt_abort
	[ "$R_TYPE" = 1 ] && [ "$R_REGCTL" = 1 ] || fail "preempt and abort: type $R_TYPE, $R_REGCTL registrant(s); expected 1, 1"
	io B write conflict preempt_abort
	# clear: everything goes
	ok resv_pa_regb "host B registers again" resv-register "$CB" --namespace-id=1 --nrkey=$KB --rrega=0
	ok resv_clear "host B clears" resv-release "$CB" --namespace-id=1 --crkey=$KB --rtype=0 --rrela=1
	report A cleared
	[ "$R_TYPE" = 0 ] && [ "$R_REGCTL" = 0 ] || fail "clear: type $R_TYPE, $R_REGCTL registrant(s) left"
	io C write ok cleared
}

t_ptpl() {
	ok resv_ptpl_reg "host A registers with --cptpl=3" \
		resv-register "$CA" --namespace-id=1 --nrkey=$KA --rrega=0 --cptpl=3 || return
	ok resv_ptpl_regb "host B registers" resv-register "$CB" --namespace-id=1 --nrkey=$KB --rrega=0
	ok resv_ptpl_acq "host A acquires write exclusive" \
		resv-acquire "$CA" --namespace-id=1 --crkey=$KA --rtype=1 --racqa=0 || return
	report A ptpl_before
	[ "$R_PTPLS" = 1 ] || fail "ptpl: report PTPLS $R_PTPLS, expected 1"
	GEN_BEFORE=$R_GEN
	[ -s "$STATE" ] || fail "ptpl: no state file $STATE"
	cp "$STATE" "$RES/resv-state-before-restart.txt" 2>/dev/null
	disconnect_all
	stop_bridged 20 || fail "ptpl: the daemon did not stop cleanly (exit $STOP_RC)"
	if ! start_bridged "$CFG" "$TPORT"; then
		fail "ptpl: restart failed: $START_WHY"
		return
	fi
	connect_all || return
	report A ptpl_after || return
	[ "$R_TYPE" = 1 ] || fail "ptpl: after the restart the type is $R_TYPE, expected 1"
	[ "$R_REGCTL" = 2 ] || fail "ptpl: after the restart $R_REGCTL registrant(s), expected 2"
	[ "$R_PTPLS" = 1 ] || fail "ptpl: after the restart PTPLS $R_PTPLS"
	[ "$R_GEN" = "$GEN_BEFORE" ] || fail "ptpl: generation $R_GEN after the restart, $GEN_BEFORE before"
	_e=$(entry_of "$HAID")
	[ "$_e" = "1 $(printf '0x%x' $((KA)))" ] || fail "ptpl: host A entry after the restart '$_e', expected '1 $(printf '0x%x' $((KA)))'"
	grep -q "restored from $STATE" "$DLOG" || fail "ptpl: the daemon log does not say it restored the reservation"
	io C write conflict ptpl_after
	io B write conflict ptpl_after
	io A write ok ptpl_after
	# done: clear (which also drops it from the state file)
	ok resv_ptpl_clear "host A clears" resv-release "$CA" --namespace-id=1 --crkey=$KA --rtype=0 --rrela=1
	# PTPL stays on: the namespace is listed with no reservation and no registrant
	grep -q "^ns .* 0 00000000000000000000000000000000 0\$" "$STATE" ||
		fail "ptpl: after clear the state file does not list the namespace empty: $(grep '^ns' "$STATE" | cut -c1-200)"
	cp "$STATE" "$RES/resv-state-after-clear.txt" 2>/dev/null
}

t_bridge_resv() {
	WHY=
	set -- $(mk_host); HANQN=$1 HAID=$2
	set -- $(mk_host); HBNQN=$1 HBID=$2
	set -- $(mk_host); HCNQN=$1 HCID=$2
	if ! find_controller || ! bind_to vfio-pci; then
		result bridge_resv FAIL "could not bind the NVMe controller to vfio-pci"
		return
	fi
	rm -rf "$DIR"
	write_config
	head -c 512 /dev/urandom > "$DIR/block"
	if ! start_bridged "$CFG" "$TPORT"; then
		result bridge_resv FAIL "nvmf-bridged did not start: $START_WHY"
		return
	fi
	if connect_all; then
		# ONCS bit 5 and RESCAP as the host reads them
		nvme_cmd resv_idctrl id-ctrl "$CA" -o json
		_oncs=$(sed -n 's/.*"oncs" *: *\([0-9]*\).*/\1/p' "$RES/resv_idctrl.out" | head -n 1)
		[ -n "$_oncs" ] && [ $((_oncs & 32)) = 32 ] || fail "id-ctrl ONCS '$_oncs' lacks reservations (bit 5)"
		nvme_cmd resv_idns id-ns "$CA" --namespace-id=1 -o json
		_rescap=$(sed -n 's/.*"rescap" *: *\([0-9]*\).*/\1/p' "$RES/resv_idns.out" | head -n 1)
		[ "$_rescap" = 255 ] || fail "id-ns RESCAP '$_rescap', expected 255"
		t_types
		t_preempt
		t_ptpl
		disconnect_all
	fi
	stop_bridged 20 || fail "the daemon did not stop cleanly (exit $STOP_RC)"
	if [ -z "$WHY" ]; then
		result bridge_resv PASS "$NCHECK checks: six types from holder/registrant/non-registrant, report -e, preempt, preempt and abort, clear, PTPL across a restart"
	else
		result bridge_resv FAIL "${WHY#; }"
	fi
}

for t in $(echo "${TESTS:-bridge_resv}" | tr ',' ' '); do
	case $t in
	bridge_resv) log "--- $t"; t_bridge_resv ;;
	*) result "$t" FAIL "no such test in resv.sh" ;;
	esac
done
exit 0
