#!/bin/sh
# Guest side of the test initiator's proof: build/nvmf-test-host against a
# known-good target, the Linux kernel's own nvmet-tcp, on 127.0.0.1:4420.
#
#   VM_SCRIPT=tests/vm/guest/host_selftest.sh \
#   VM_TESTS=hostcheck,target,discover,selftest_plain,selftest_hdgst,selftest_digests,selftest_r2t,selftest_dissqfc,crosscheck,malformed,kato_expiry \
#   tests/vm/run.sh check
#
# Runs the tests named in $TESTS (comma list, in that order; all of them when
# empty); each prints one `RESULT <name> PASS|FAIL <details>` line. Every test
# sets up the target it needs, so any subset runs on its own.
#
# The namespace is a memory-backed null_blk device (configfs nullb, 256 MiB,
# 512-byte blocks); when null_blk cannot do that, QEMU's NVMe controller
# bound to the kernel nvme driver is exported instead.
set -u
. "$(dirname "$0")/lib.sh"

HOST=$BIN/nvmf-test-host
NQN=nqn.2024-01.io.nvmf-bridge:host-selftest
ADDR=127.0.0.1
PORT=4420
CFS=/sys/kernel/config/nvmet
SUB=$CFS/subsystems/$NQN
PRT=$CFS/ports/1
# a second port whose inline_data_size (4 KiB instead of 16 KiB) sends
# mid-size writes through R2T
PORT2=4421
PRT2=$CFS/ports/2
NULLB=/sys/kernel/config/nullb/nullb0
DEV=
BS=512

# time limits per run (TCG is slow, the host is shared)
T_DISC=60
T_SELF=240
T_RW=60
T_BAD=30

# run_host LABEL SECS ARGS...: run_timed (lib.sh) for nvmf-test-host.
run_host() {
	run_timed nvmf-test-host "$HOST" 80 "$@"
}

have_host() {
	[ -x "$HOST" ] && return 0
	result "$1" FAIL "nvmf-test-host is not in the share (build it: make)"
	return 1
}

# --- the kernel target -----------------------------------------------------

nullb_ready() { [ -b /dev/nullb0 ]; }
listening() {   # listening PORT: 127.0.0.1:PORT in LISTEN state (0A) in /proc/net/tcp
	grep -q "0100007F:$(printf %04X "$1") 00000000:0000 0A" /proc/net/tcp
}

backend() {
	[ -n "$DEV" ] && return 0
	if modprobe null_blk nr_devices=0 2>/dev/null && [ -d /sys/kernel/config/nullb ]; then
		mkdir -p "$NULLB" &&
		echo 512 > "$NULLB/blocksize" &&
		echo 256 > "$NULLB/size" &&
		echo 1 > "$NULLB/memory_backed" &&
		echo 1 > "$NULLB/power" &&
		wait_until 10 nullb_ready && DEV=/dev/nullb0 && BS=512 && return 0
		log "null_blk (memory_backed) not usable; falling back to the QEMU controller"
	fi
	find_controller && bind_to nvme || return 1
	DEV=$KDEV
	BS=$(cat "/sys/block/${DEV#/dev/}/queue/logical_block_size")
}

# port_up DIR PORT [INLINE]: nvmet-tcp port DIR on 127.0.0.1:PORT with the
# subsystem linked in
port_up() {
	if [ ! -d "$1" ]; then
		nvmet_port "$1" "$ADDR" "$2" || return 1
		[ -n "${3:-}" ] && echo "$3" > "$1/param_inline_data_size"
	fi
	[ -e "$1/subsystems/$NQN" ] || ln -s "$SUB" "$1/subsystems/$NQN" || return 1
	wait_until 10 listening "$2"
}

# target_up: the subsystem with $DEV as ns 1 on ports 1 and 2
target_up() {
	[ -e "$PRT/subsystems/$NQN" ] && [ -e "$PRT2/subsystems/$NQN" ] && return 0
	backend || return 1
	modprobe nvmet-tcp || return 1
	if [ ! -d "$SUB" ]; then
		mkdir "$SUB" || return 1
		echo 1 > "$SUB/attr_allow_any_host"
		mkdir "$SUB/namespaces/1"
		echo -n "$DEV" > "$SUB/namespaces/1/device_path"
		echo 1 > "$SUB/namespaces/1/enable" || return 1
	fi
	port_up "$PRT" "$PORT" && port_up "$PRT2" "$PORT2" 4096
}

need_target() {
	target_up && return 0
	result "$1" FAIL "could not set up the kernel nvmet-tcp target (see the console)"
	return 1
}

# --- the tests ---------------------------------------------------------------

t_target() {
	if target_up; then
		result target PASS "nvmet-tcp on $ADDR:$PORT and :$PORT2, $NQN ns 1 = $DEV" \
			"($(($(cat "/sys/block/${DEV#/dev/}/size") / 2048)) MiB)," \
			"inline_data_size $(cat "$PRT/param_inline_data_size" 2>/dev/null || echo ?)" \
			"and $(cat "$PRT2/param_inline_data_size" 2>/dev/null || echo ?)"
	else
		result target FAIL "could not set up the kernel nvmet-tcp target"
	fi
}

t_discover() {
	have_host discover && need_target discover || return
	run_host discover "$T_DISC" discover -a "$ADDR" -s "$PORT"
	if [ "$TIMED_OUT" = 0 ] && [ "$RC" = 0 ] &&
	   grep -q "^subnqn:  $NQN\$" "$RES/discover.out" &&
	   grep -q "^trsvcid: $PORT\$" "$RES/discover.out"; then
		result discover PASS "$(grep -c '^=====Discovery Log Entry' "$RES/discover.out") entries," \
			"$NQN listed on $ADDR:$PORT; $(grep -m1 '^treq:' "$RES/discover.out")"
	else
		result discover FAIL "$(rc_text); $(err_line discover)"
	fi
}

# selftest NAME PORT ARGS...: PASS when it exits 0 and its last line says
# 0 mismatches
selftest() {
	_name=$1 _port=$2; shift 2
	have_host "$_name" && need_target "$_name" || return
	run_host "$_name" "$T_SELF" selftest -a "$ADDR" -s "$_port" -n "$NQN" "$@"
	_sum=$(tail -n 1 "$RES/$_name.out")
	_pdus=$(grep -m1 '^selftest: PDUs' "$RES/$_name.out" | sed 's/^selftest: //')
	if [ "$TIMED_OUT" = 0 ] && [ "$RC" = 0 ] &&
	   echo "$_sum" | grep -q '^selftest: [1-9][0-9]* commands, 0 mismatches$'; then
		result "$_name" PASS "${_sum#selftest: }; $_pdus"
	else
		result "$_name" FAIL "$(rc_text); ${_sum:-no summary}; $(err_line "$_name")"
	fi
}

t_selftest_plain() { selftest selftest_plain "$PORT"; }
t_selftest_hdgst() { selftest selftest_hdgst "$PORT" --hdgst; }
t_selftest_digests() { selftest selftest_digests "$PORT" --hdgst --ddgst; }
# 4 KiB of in-capsule data: writes of 4.5..16 KiB take the R2T path too
t_selftest_r2t() { selftest selftest_r2t "$PORT2" --hdgst --ddgst --max-size 256k; }
# DISSQFC: the kernel then completes reads with C2HData SUCCESS and no
# CapsuleResp, so the host's synthesised completions are exercised too
t_selftest_dissqfc() {
	selftest selftest_dissqfc "$PORT" --hdgst --ddgst --dissqfc -q 3 -Q 32
	if ! grep -q ' [1-9][0-9]* reads completed by C2HData SUCCESS' "$RES/selftest_dissqfc.out"; then
		result selftest_dissqfc_success FAIL "no read was completed by C2HData SUCCESS"
	else
		result selftest_dissqfc_success PASS \
			"$(grep -o '[0-9]* reads completed by C2HData SUCCESS' "$RES/selftest_dissqfc.out")"
	fi
}

# Data placement seen from the other side: what nvmf-test-host writes the
# kernel reads from the block device, and the other way round.
t_crosscheck() {
	have_host crosscheck && need_target crosscheck || return
	_why=
	_lba=100003 _blocks=265   # odd LBA, odd size (132.5 KiB at 512 B blocks)
	dd if=/dev/urandom of=/tmp/hw.bin bs=$BS count=$_blocks 2>/dev/null
	run_host cross_write "$T_RW" write -a "$ADDR" -s "$PORT" -n "$NQN" --lba $_lba --file /tmp/hw.bin -g -G
	if [ "$RC" = 0 ]; then
		echo 3 > /proc/sys/vm/drop_caches   # no stale page cache either
		dd if="$DEV" of=/tmp/kr.bin bs=$BS skip=$_lba count=$_blocks iflag=direct 2>/dev/null
		cmp -s /tmp/hw.bin /tmp/kr.bin || _why="$_why; host write != kernel read ($(cmp /tmp/hw.bin /tmp/kr.bin 2>&1 | head -n 1))"
	else
		_why="$_why; write: $(rc_text) $(err_line cross_write)"
	fi
	_lba=300007 _blocks=2053  # just over 1 MiB, one Read command
	dd if=/dev/urandom of=/tmp/kw.bin bs=$BS count=$_blocks 2>/dev/null
	# conv=fsync as well: should busybox dd fall back to buffered I/O
	# (O_DIRECT needs aligned buffers), the data still reaches the device
	# that nvmet reads with bios, below the page cache
	if ! dd if=/tmp/kw.bin of="$DEV" bs=$BS seek=$_lba oflag=direct conv=notrunc,fsync 2> "$RES/dd.err"; then
		_why="$_why; kernel write failed: $(head -n 1 "$RES/dd.err")"
	fi
	run_host cross_read "$T_RW" read -a "$ADDR" -s "$PORT" -n "$NQN" --lba $_lba --blocks $_blocks --file /tmp/hr.bin
	if [ "$RC" = 0 ]; then
		if ! cmp -s /tmp/kw.bin /tmp/hr.bin; then
			_why="$_why; kernel write != host read ($(cmp /tmp/kw.bin /tmp/hr.bin 2>&1 | head -n 1))"
			log "kernel wrote: $(od -An -tx1 -N16 /tmp/kw.bin)"
			log "host read:    $(od -An -tx1 -N16 /tmp/hr.bin)"
			dd if="$DEV" of=/tmp/kr2.bin bs=$BS skip=$_lba count=$_blocks iflag=direct 2>/dev/null
			log "kernel reads: $(od -An -tx1 -N16 /tmp/kr2.bin)"
		fi
	else
		_why="$_why; read: $(rc_text) $(err_line cross_read)"
	fi
	rm -f /tmp/hw.bin /tmp/kr.bin /tmp/kw.bin /tmp/hr.bin /tmp/kr2.bin
	if [ -z "$_why" ]; then
		result crosscheck PASS "host write -> $DEV read and $DEV write -> host read agree (odd LBAs, 132.5 KiB and 1 MiB+)"
	else
		result crosscheck FAIL "${_why#; }"
	fi
}

# Malformed PDUs: the kernel target answers protocol errors by closing the
# socket (it never sends C2HTermReq), so only "closed" is required here; the
# same cases with --expect-fes test our own target.
t_malformed() {
	have_host malformed && need_target malformed || return
	_bad= _ok=0
	for _c in pfv icreq-plen icreq-hlen no-icreq second-icreq hdgst ddgst hlen h2cdata-ttag; do
		run_host "bad_$_c" "$T_BAD" malformed -a "$ADDR" -s "$PORT" -n "$NQN" --case "$_c" -t 5000
		if [ "$RC" = 0 ] && [ "$TIMED_OUT" = 0 ]; then
			_ok=$((_ok + 1))
		else
			_bad="$_bad $_c($(rc_text): $(err_line "bad_$_c"))"
		fi
	done
	# and the target still works afterwards
	run_host bad_after "$T_DISC" identify -a "$ADDR" -s "$PORT" -n "$NQN"
	[ "$RC" = 0 ] || _bad="$_bad identify-afterwards($(rc_text))"
	if [ -z "$_bad" ]; then
		result malformed PASS "$_ok cases: the kernel target closed the connection each time; identify still works"
	else
		result malformed FAIL "$_bad"
	fi
}

# Silence after Connect with KATO 1 s: the kernel must end the association.
t_kato_expiry() {
	have_host kato_expiry && need_target kato_expiry || return
	run_host kato_expiry "$T_DISC" kato-expiry -a "$ADDR" -s "$PORT" -n "$NQN" --kato 1000
	if [ "$RC" = 0 ] && [ "$TIMED_OUT" = 0 ]; then
		result kato_expiry PASS "$(tail -n 1 "$RES/kato_expiry.out" | sed 's/^kato-expiry: //')"
	else
		result kato_expiry FAIL "$(rc_text); $(err_line kato_expiry)"
	fi
}

# The initiator's own strictness cases against its in-process fake
# controller (no target involved; here so every VM run proves them too).
t_hostcheck() {
	have_host hostcheck || return
	run_host hostcheck "$T_DISC" hostcheck
	_sum=$(tail -n 1 "$RES/hostcheck.out")
	if [ "$RC" = 0 ] && echo "$_sum" | grep -q '^hostcheck: [1-9][0-9]* cases, 0 failed$'; then
		result hostcheck PASS "${_sum#hostcheck: }"
	else
		result hostcheck FAIL "$(rc_text); ${_sum:-no summary}; $(grep -m1 FAIL "$RES/hostcheck.out")"
	fi
}

# The load generator against the kernel's target: nvmf-bridge-perf must
# measure targets other than ours (issue 10): it runs to the end, verifies
# every read, and says in its JSON line what it saw of the specification
# ("deviations"; a deviation is warned about and counted, never fatal).
# Once with SQ flow control, once with DISSQFC (reads completed by C2HData
# SUCCESS) and busy polling.
t_perf() {
	_perf=$BIN/nvmf-bridge-perf
	[ -x "$_perf" ] || { result perf FAIL "nvmf-bridge-perf is not in the share (build it: make)"; return; }
	need_target perf || return
	_why= _info=
	for _mode in sqfc dissqfc; do
		_extra=
		[ $_mode = dissqfc ] && _extra="--dissqfc --poll"
		# shellcheck disable=SC2086  # _extra is a list of options
		run_timed nvmf-bridge-perf "$_perf" 20 "perf_$_mode" 120 -a "$ADDR" -s "$PORT" -n "$NQN" \
			-w randrw -o 4k -q 16 -c 2 -t 3 --verify --region 8M --quiet $_extra
		_j=$(tail -n 1 "$RES/perf_$_mode.out")
		_iops=$(echo "$_j" | sed -n 's/.*"iops":\([0-9]*\).*/\1/p')
		_ver=$(echo "$_j" | sed -n 's/.*"verified_blocks":\([0-9]*\).*/\1/p')
		_dev=$(echo "$_j" | sed -n 's/.*"deviations":\([0-9]*\).*/\1/p')
		if [ "$TIMED_OUT" = 1 ] || [ "$RC" != 0 ]; then
			_why="$_why; $_mode: $(rc_text) $(err_line "perf_$_mode")"
		elif ! echo "$_j" | grep -q '"mismatches":0' || ! echo "$_j" | grep -q '"errors":0' ||
		     [ "${_ver:-0}" -le 0 ] || [ -z "$_dev" ]; then
			_why="$_why; $_mode: bad result line: $(echo "$_j" | cut -c1-200)"
		else
			_info="$_info; $_mode: $_iops IOPS, $_ver blocks verified, $_dev deviation(s)"
		fi
	done
	if [ -z "$_why" ]; then
		result perf PASS "nvmf-bridge-perf against nvmet-tcp${_info}"
	else
		result perf FAIL "${_why#; }"
	fi
}

# --- main --------------------------------------------------------------------
ALL="hostcheck target discover selftest_plain selftest_hdgst selftest_digests selftest_r2t selftest_dissqfc crosscheck malformed kato_expiry perf"
LIST=$(echo "${TESTS:-$ALL}" | tr ',' ' ')
log "host_selftest: tests: $LIST"
for t in $LIST; do
	case $t in
	hostcheck|target|discover|selftest_plain|selftest_hdgst|selftest_digests|selftest_r2t|selftest_dissqfc|crosscheck|malformed|kato_expiry|perf)
		log "--- $t"
		"t_$t" ;;
	*) result "$t" FAIL "no such test in host_selftest.sh" ;;
	esac
done
dmesg | grep -E 'nvmet|nvme' | tail -n 40 > "$RES/nvmet-dmesg.txt"
exit 0
