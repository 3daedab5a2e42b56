#!/bin/sh
# Guest side of the live-operation tests of `tests/vm/run.sh check`:
# nvmf-bridged owns QEMU's controller through VFIO; the guest kernel's
# NVMe/TCP initiator is connected and fio verifies data while
#   live_namespace: nvmf-bridgectl adds a namespace (it appears on the host
#     as a new block device without reconnecting: the Namespace Attribute
#     Changed event) and removes it (it disappears), fio never sees an error;
#   live_sigterm: SIGTERM arrives during fio: the daemon exits 0 with the
#     controller shut down, the next start of the daemon and then the
#     kernel nvme driver both find a healthy controller.
# Each prints one `RESULT <name> PASS|FAIL <details>` line.
set -u
. "$(dirname "$0")/lib.sh"

NQN=nqn.2024-01.org.nvmf-bridge.test:live
CONF=/tmp/live.json
CTL=$BIN/nvmf-bridgectl
FIO_COMMON="--ioengine=libaio --direct=1 --verify=crc32c --verify_fatal=1"

write_config() {
	cat > "$CONF" <<-EOF
	{
	  "bridge": { "discovery_port": $DISC_PORT },
	  "subsystems": [ { "nqn": "$NQN", "attr": { "allow_any_host": "1" },
	                    "namespaces": [ { "nsid": 1, "device": { "pcie": "$BDF", "nsid": 1 } } ] } ],
	  "ports": [ { "portid": 1,
	               "addr": { "trtype": "tcp", "adrfam": "ipv4", "traddr": "$TADDR", "trsvcid": "$TPORT" },
	               "subsystems": [ "$NQN" ] } ]
	}
	EOF
}

# the block device of namespace NSID of our subsystem (multipath head)
ns_dev_of() {
	for b in /sys/block/nvme*n*; do
		case ${b##*/} in *c*) continue ;; esac
		[ "$(cat "$b/device/subsysnqn" 2>/dev/null)" = "$NQN" ] || continue
		[ "$(cat "$b/nsid" 2>/dev/null || cat "$b/device/nsid" 2>/dev/null)" = "$1" ] || continue
		[ -b "/dev/${b##*/}" ] && [ "$(cat "$b/size")" -gt 0 ] && echo "/dev/${b##*/}" && return 0
	done
	return 1
}
has_ns() { ns_dev_of "$1" > /dev/null; }
no_ns() { ! ns_dev_of "$1" > /dev/null; }

up() {   # bind, config, daemon, connect; sets DEV1 and CTRL
	host_identity
	bind_to vfio-pci || { WHY="could not bind $BDF to vfio-pci"; return 1; }
	write_config
	start_bridged "$CONF" "$TPORT" || { WHY="daemon: $START_WHY"; return 1; }
	nvme_connect live_connect "$NQN" || { WHY="nvme connect: $(out_line live_connect)"; return 1; }
	wait_until 20 has_ns 1 || { WHY="namespace 1 did not appear"; return 1; }
	DEV1=$(ns_dev_of 1)
	CTRL=$(ctrls_of "$NQN" | head -n 1)
	return 0
}

t_namespace() {
	local n=live_namespace why= fio_pid dev2 c_before c_after
	if ! up; then result $n FAIL "$WHY"; return; fi
	c_before=$CTRL
	log "fio on $DEV1 while namespaces come and go"
	timeout 180 fio --name=live --filename="$DEV1" $FIO_COMMON --rw=randwrite --bs=4k --iodepth=16 \
		--size=48M --offset=0 --verify_backlog=256 > "$RES/live_fio.txt" 2>&1 &
	fio_pid=$!
	if ! timeout 20 "$CTL" add-namespace "$NQN" --device mem=32MiB --nsid 2 > "$RES/live_add.out" 2>&1; then
		why="add-namespace failed: $(head -n 1 "$RES/live_add.out")"
	elif ! wait_until 30 has_ns 2; then
		why="namespace 2 did not appear on the host within 30 s (no rescan after the AEN?)"
	else
		dev2=$(ns_dev_of 2)
		if [ "$(dev_sectors "$dev2")" != 65536 ]; then
			why="namespace 2 is $(dev_sectors "$dev2") sectors, expected 65536 (32 MiB)"
		else
			dd if=/dev/urandom of=/tmp/live.pat bs=4096 count=64 2>/dev/null
			dd if=/tmp/live.pat of="$dev2" bs=4096 oflag=direct 2>/dev/null
			dd if="$dev2" of=/tmp/live.back bs=4096 count=64 iflag=direct 2>/dev/null
			cmp -s /tmp/live.pat /tmp/live.back || why="data written to the new namespace did not read back"
		fi
		if [ -z "$why" ] && ! timeout 20 "$CTL" remove-namespace "$NQN" 2 > "$RES/live_rm.out" 2>&1; then
			why="remove-namespace failed: $(head -n 1 "$RES/live_rm.out")"
		elif [ -z "$why" ] && ! wait_until 30 no_ns 2; then
			why="namespace 2 still on the host 30 s after its removal"
		fi
	fi
	wait $fio_pid; rc=$?
	c_after=$(ctrls_of "$NQN" | head -n 1)
	if [ -z "$why" ] && { [ $rc != 0 ] || grep -qiE 'verify: bad|err= *[1-9]' "$RES/live_fio.txt"; }; then
		why="fio on namespace 1 failed (rc $rc): $(grep -iE 'err=|verify' "$RES/live_fio.txt" | head -n 2 | tr '\n' ' ')"
	fi
	if [ -z "$why" ] && [ "$c_before" != "$c_after" ]; then
		why="the host reconnected ($c_before -> $c_after)"
	fi
	timeout 10 "$CTL" stats > "$RES/live_stats.out" 2>&1
	if [ -z "$why" ]; then
		result $n PASS "ns 2 (32 MiB mem) appeared on $c_after without reconnecting, data ok, removed and gone; fio on ns 1 verified throughout: $(grep -o 'write: IOPS=[^,]*' "$RES/live_fio.txt" | head -n 1); stats: $(grep -m1 -iE 'nsid|ns ' "$RES/live_stats.out" | cut -c1-100)"
	else
		result $n FAIL "$why"
	fi
}

t_sigterm() {
	local n=live_sigterm why= fio_pid
	if [ -z "${DPID:-}" ] && ! up; then result $n FAIL "$WHY"; return; fi
	DEV1=$(ns_dev_of 1)
	timeout 120 fio --name=term --filename="$DEV1" $FIO_COMMON --rw=randwrite --bs=4k --iodepth=32 \
		--size=64M --offset=128M > "$RES/live_term_fio.txt" 2>&1 &
	fio_pid=$!
	sleep 2         # let fio have commands in flight when the signal comes
	stop_bridged 10
	if [ "$STOP_RC" != 0 ]; then
		why="nvmf-bridged exit $STOP_RC after ${STOP_SECS}s at SIGTERM during fio"
	elif ! grep -q 'controller shut down' "$DLOG"; then
		why="no 'controller shut down' in the daemon log"
	fi
	# the host lost its target: fio fails, as it must; end the association
	# first, so fio's commands fail now instead of waiting out the host's
	# reconnect attempts (ctrl-loss-tmo)
	kill $fio_pid 2>/dev/null
	nvme_cmd live_disc disconnect -n "$NQN"
	wait $fio_pid 2>/dev/null
	if [ -z "$why" ]; then
		# the next start of the daemon finds a healthy controller
		start_bridged "$CONF" "$TPORT" || why="restart: $START_WHY"
	fi
	if [ -z "$why" ]; then
		nvme_connect live_reconnect "$NQN" || why="reconnect: $(out_line live_reconnect)"
		wait_until 20 has_ns 1 || why="${why:-namespace 1 did not come back}"
		DEV1=$(ns_dev_of 1)
		if [ -z "$why" ] && ! timeout 60 fio --name=after --filename="$DEV1" $FIO_COMMON --rw=randwrite --bs=4k \
			--iodepth=8 --size=4M --offset=256M > "$RES/live_after.txt" 2>&1; then
			why="verified fio after the restart failed"
		fi
		nvme_cmd live_disc2 disconnect -n "$NQN"
		stop_bridged 10 || why="${why:-second SIGTERM: exit $STOP_RC}"
	fi
	# and so does the kernel's nvme driver
	if [ -z "$why" ]; then
		if ! bind_to nvme; then
			why="could not bind $BDF to the kernel nvme driver"
		elif ! wait_until 20 kernel_ns_ready; then
			why="the kernel nvme driver found no namespace"
		elif ! dd if="$KDEV" of=/dev/null bs=4096 count=256 iflag=direct 2>/dev/null; then
			why="reading $KDEV through the kernel driver failed"
		fi
	fi
	if [ -z "$why" ]; then
		result $n PASS "SIGTERM during fio: exit 0 in ${STOP_SECS}s, controller shut down; restarted daemon served verified I/O; kernel nvme driver then read $KDEV"
	else
		result $n FAIL "$why; log: $(log_tail 4)"
	fi
}

find_controller
for t in $(echo "$TESTS" | tr ',' ' '); do
	log "=== $t ==="
	case $t in
	live_namespace) t_namespace ;;
	live_sigterm)   t_sigterm ;;
	*)              result "$t" FAIL "unknown test (see tests/vm/guest/live.sh)" ;;
	esac
done
[ -n "${DPID:-}" ] && stop_bridged 10
kill_leftovers
log "live tests done"
