#!/bin/sh
# ANA multipath against the kernel's native NVMe multipath (VM_GUEST=current):
#   bridge_ana  one subsystem (QEMU's controller through VFIO) on two ports,
#               127.0.0.1 and 127.0.0.2; ANA group 1 is optimized on port 1
#               and non-optimized on port 2. The host connects both paths
#               (one multipath head) and fio writes and verifies through
#               the head while nvmf-bridgectl set-ana-state moves the group:
#               port 1 inaccessible, optimized again, in change, optimized
#               again, then the other way (port 2 optimized, port 1
#               inaccessible, then back). After each step the per-port
#               counters (nvmf-bridgectl stats) must show the I/O on the
#               expected port, the host's per-path ana_state must follow,
#               and fio must end with no I/O and no verify error. Prints
#               the pause the I/O saw at each move.
set -u
. "$(dirname "$0")/lib.sh"

CTL=$BIN/nvmf-bridgectl
SOCK=/tmp/ana.sock
A1=127.0.0.1 A2=127.0.0.2 P1=4460 P2=4461
NQN=nqn.2024-01.io.nvmf-bridge:ana
# 2 loops of 48 MiB written then read back: about twice as long as the six
# steps take (a step fails if fio has ended before it)
FIO_JOB="--ioengine=libaio --direct=1 --verify=crc32c --verify_fatal=1 --rw=randwrite --bs=4k --iodepth=16 --size=48M --loops=2"

ana_config() {
	cat > "$1" <<EOC
{
  "bridge": { "rpc_socket": "$SOCK", "discovery_port": 0 },
  "ports": [
    { "portid": 1, "addr": { "trtype": "tcp", "adrfam": "ipv4", "traddr": "$A1", "trsvcid": "$P1" },
      "ana_groups": [ { "grpid": 1, "ana": { "state": "optimized" } } ],
      "subsystems": [ "$NQN" ] },
    { "portid": 2, "addr": { "trtype": "tcp", "adrfam": "ipv4", "traddr": "$A2", "trsvcid": "$P2" },
      "ana_groups": [ { "grpid": 1, "ana": { "state": "non-optimized" } } ],
      "subsystems": [ "$NQN" ] } ],
  "subsystems": [ { "nqn": "$NQN", "attr": { "allow_any_host": "1" },
    "namespaces": [ { "nsid": 1, "ana_grpid": 1, "device": { "pcie": "$2", "nsid": 1 } } ] } ]
}
EOC
	cp "$1" "$RES/ana.json"
}

# port_io PORTID: the I/O commands port PORTID served (nvmf-bridgectl stats,
# its ports table: received less those answered with an ANA status)
port_io() {
	"$CTL" --socket "$SOCK" stats 2>/dev/null | awk -v p="$1" '
		/^ports:/ { s = 1; next } /^[a-z]/ { s = 0 } s && $1 == p { print $4 - $5; exit }'
}

# the I/O moves: PORT served at least N (default 64) more commands since
# IO_BASE (the old path may refuse a few in flight: the host retries them)
IO_BASE=
io_on() { _n=$(port_io "$1"); [ -n "$_n" ] && [ "$_n" -ge $((IO_BASE + ${2:-64})) ]; }

# path_state ADDR: the host's ana_state of the path through ADDR
path_state() {
	for _c in /sys/class/nvme/nvme*; do
		[ "$(cat "$_c/subsysnqn" 2>/dev/null)" = "$NQN" ] || continue
		case $(cat "$_c/address" 2>/dev/null) in traddr=$1,*) ;; *) continue ;; esac
		for _p in "$_c"/nvme*c*n*; do
			[ -r "$_p/ana_state" ] && cat "$_p/ana_state" && return 0
		done
	done
	return 1
}
path_is() { [ "$(path_state "$1")" = "$2" ]; }

fio_running() { [ -n "$FIO_PID" ] && kill -0 "$FIO_PID" 2>/dev/null; }

# step NAME TO_PORT ADDR STATE [PORT GROUP STATE]...: set the states, then
# wait for the host to see ADDR's path as STATE and for the I/O to flow on
# TO_PORT; records the pause
step() {
	_name=$1 _to=$2 _addr=$3 _want=$4; shift 4
	fio_running || { WHY="$WHY; $_name: fio ended before this step"; return 1; }
	_other=$((3 - _to))
	_t0=$(now)
	while [ $# -ge 3 ]; do
		if ! "$CTL" --socket "$SOCK" set-ana-state "$1" "$2" "$3" > "$RES/ana_$_name.out" 2>&1; then
			WHY="$WHY; $_name: set-ana-state $1 $2 $3 failed: $(head -n 1 "$RES/ana_$_name.out")"
			return 1
		fi
		shift 3
	done
	IO_BASE=$(port_io "$_to")
	if ! wait_until 30 io_on "$_to"; then
		WHY="$WHY; $_name: no I/O on port $_to within 30 s (port $_to: $(port_io "$_to"), port $_other: $(port_io "$_other"))"
		return 1
	fi
	_pause=$(since "$_t0")
	# it stays there: the next 1000 commands all go to TO_PORT (the host
	# sends to one path, the best: numa iopolicy), the other port serves
	# at most a few stragglers
	_ob=$(port_io "$_other")
	IO_BASE=$(port_io "$_to")
	if ! wait_until 60 io_on "$_to" 1000; then
		WHY="$WHY; $_name: port $_to stopped serving I/O (port $_to: $(port_io "$_to"), port $_other: $(port_io "$_other"))"
		return 1
	fi
	_od=$(( $(port_io "$_other") - _ob ))
	if [ "$_od" -gt 64 ]; then
		WHY="$WHY; $_name: port $_other still served $_od commands while port $_to served 1000"
		return 1
	fi
	if ! wait_until 15 path_is "$_addr" "$_want"; then
		WHY="$WHY; $_name: the host's path via $_addr is $(path_state "$_addr"), expected $_want"
		return 1
	fi
	PAUSES="$PAUSES $_name ${_pause}s (then 1000 there, $_od on port $_other);"
	log "ana step $_name: I/O on port $_to after ${_pause}s, host path $_addr $_want"
	return 0
}

t_bridge_ana() {
	WHY= PAUSES= FIO_PID=
	host_identity
	find_controller || { result bridge_ana FAIL "no NVMe controller"; return; }
	bind_to vfio-pci || { result bridge_ana FAIL "could not bind $BDF to vfio-pci"; return; }
	ana_config /tmp/ana.json "$BDF"
	if ! start_bridged /tmp/ana.json "$P1" "$P2"; then
		result bridge_ana FAIL "nvmf-bridged did not start: $START_WHY"
		return
	fi
	modprobe nvme-core 2>/dev/null
	_mp=$(cat /sys/module/nvme_core/parameters/multipath 2>/dev/null)
	for a in "$A1:$P1" "$A2:$P2"; do
		nvme_cmd "ana_connect_${a%%:*}" connect -t tcp -a "${a%%:*}" -s "${a##*:}" -n "$NQN" \
			--ctrl-loss-tmo=30 --reconnect-delay=1 || WHY="$WHY; connect $a exit $RC: $(out_line "ana_connect_${a%%:*}")"
	done
	if [ -n "$WHY" ] || ! wait_until 20 ns_dev "$NQN"; then
		result bridge_ana FAIL "${WHY#; }; no block device (multipath=$_mp)"
		stop_bridged 20
		return
	fi
	if ! wait_until 15 path_is "$A1" optimized || ! wait_until 15 path_is "$A2" non-optimized; then
		WHY="$WHY; the host's paths: $A1 $(path_state "$A1"), $A2 $(path_state "$A2") (expected optimized, non-optimized)"
	fi
	HEAD=$DEV
	log "multipath=$_mp, head $DEV, paths: $A1 $(path_state "$A1"), $A2 $(path_state "$A2")"
	( run_fio ana 300 --name=ana --filename="$DEV" $FIO_JOB
	  echo "$FIO_WHY" > "$RES/ana_fio.why"; echo "$FIO_WKB" > "$RES/ana_fio.wkb" ) &
	FIO_PID=$!
	IO_BASE=0
	if [ -z "$WHY" ] && ! wait_until 30 io_on 1; then
		WHY="$WHY; fio's I/O did not reach port 1 (the optimized path) within 30 s: port 1 $(port_io 1), port 2 $(port_io 2)"
	fi
	[ -z "$WHY" ] && step p1_inaccessible 2 "$A1" inaccessible 1 1 inaccessible &&
		step p1_optimized 1 "$A1" optimized 1 1 optimized &&
		step p1_change 2 "$A1" change 1 1 change &&
		step p1_back 1 "$A1" optimized 1 1 optimized &&
		step p2_optimized_p1_inaccessible 2 "$A1" inaccessible 2 1 optimized 1 1 inaccessible &&
		step p1_optimized_p2_inaccessible 1 "$A2" inaccessible 1 1 optimized 2 1 inaccessible
	# the last state (port 2 inaccessible) stays until fio is done
	wait "$FIO_PID" 2>/dev/null
	FIO_PID=
	_fwhy=$(cat "$RES/ana_fio.why" 2>/dev/null || echo "no result")
	[ -n "$_fwhy" ] && WHY="$WHY; fio: $_fwhy"
	"$CTL" --socket "$SOCK" stats > "$RES/ana_stats.out" 2>&1
	sed -n '/^ports:/,/^reactors:/p' "$RES/ana_stats.out" | sed 's/^/    | /'
	dmesg | grep -iE 'nvme.*(ana|path|I/O error|failover)' | tail -n 20 > "$RES/ana_dmesg.txt"
	grep -qi 'I/O error\|blk_update_request' "$RES/ana_dmesg.txt" && WHY="$WHY; the kernel logged I/O errors: $(grep -i -m1 'I/O error' "$RES/ana_dmesg.txt")"
	nvme_disconnect ana_disconnect "$NQN" || WHY="$WHY; disconnect did not finish"
	stop_bridged 20 || WHY="$WHY; nvmf-bridged exit $STOP_RC"
	if [ -z "$WHY" ]; then
		result bridge_ana PASS "one head ($HEAD, multipath=$_mp) over $A1 and $A2; fio $(cat "$RES/ana_fio.wkb") KiB written and verified with 0 errors while the group moved; I/O on the expected port (64 commands served there) after each move:$PAUSES port 1 $(port_io_last 1), port 2 $(port_io_last 2)"
	else
		result bridge_ana FAIL "${WHY#; }"
	fi
}

# the final per-port counters, from the saved table
port_io_last() { awk -v p="$1" '/^ports:/ { s = 1; next } /^[a-z]/ { s = 0 } s && $1 == p { print $4 " I/O commands, " $5 " answered with an ANA status" }' "$RES/ana_stats.out"; }

for t in $(echo "${TESTS:-bridge_ana}" | tr ',' ' '); do
	case $t in
	bridge_ana) log "--- $t"; t_bridge_ana ;;
	*) result "$t" FAIL "no such test in ana.sh" ;;
	esac
done
exit 0
