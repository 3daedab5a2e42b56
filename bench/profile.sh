#!/bin/bash
# Profile nvmf-bridged on the host loopback run of make bench (4 KiB random
# read, QD32 by default): the daemon pinned to CPU 0, nvmf-bridge-perf to
# CPU 1, the same configuration as bench/bench.sh. Prints
#   1. system calls per command (perf stat on syscalls:sys_enter_* tracepoints),
#   2. where the time goes, kernel included (perf record -e cpu-clock: a
#      sampled software clock, which works without hardware counters),
#   3. user-space instructions per function (valgrind --tool=callgrind on a
#      second daemon; the run is slower under valgrind, the shares are what
#      count).
# usage: bench/profile.sh [WORKLOAD [QD]]   env: BUILD (default build), SECS (8)
# Output also in the directory it names at the end.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
BUILD=${BUILD:-$REPO/build}
WL=${1:-randread} QD=${2:-32} SECS=${SECS:-8}
W=$(mktemp -d /tmp/nvmfb-profile.XXXXXX)
NQN=nqn.2024-01.io.nvmf-bridge:profile
PORT=$((29000 + RANDOM % 500))
DPID=
trap '[ -n "$DPID" ] && kill -TERM $DPID 2>/dev/null; wait 2>/dev/null; true' EXIT
cat > "$W/config.json" <<EOF
{ "bridge": { "reactors": 1, "discovery_port": $((PORT + 500)), "rpc_socket": "$W/rpc.sock" },
  "ports": [ { "portid": 1, "addr": { "trtype": "tcp", "adrfam": "ipv4", "traddr": "127.0.0.1", "trsvcid": "$PORT" },
               "subsystems": [ "$NQN" ] } ],
  "subsystems": [ { "nqn": "$NQN", "attr": { "allow_any_host": "1" },
                    "namespaces": [ { "nsid": 1, "device": { "mem": "512MiB", "block_size": 4096 } } ] } ] }
EOF
listening() { grep -qi ":$(printf '%04X' "$PORT") 00000000:0000 0A" /proc/net/tcp; }
start() {   # start [WRAPPER...]: the daemon on CPU 0
	taskset -c 0 "$@" "$BUILD/nvmf-bridged" --config "$W/config.json" > "$W/daemon.log" 2>&1 &
	DPID=$!
	for _ in $(seq 300); do listening && break; sleep 0.1; done
	listening || { cat "$W/daemon.log"; exit 1; }
}
perf_tool() {   # perf_tool SECS EXTRA...: the load on CPU 1
	local secs=$1; shift
	taskset -c 1 "$BUILD/nvmf-bridge-perf" -a 127.0.0.1 -s "$PORT" -n "$NQN" --cpu 1 -w "$WL" -o 4k -q "$QD" -t "$secs" "$@"
}

start
perf_tool 0 --prefill --quiet > /dev/null
echo "== $WL QD$QD, ${SECS}s: the load generator's report"
perf_tool "$SECS" --target-pid "$DPID" > "$W/run.out" &
LPID=$!
sleep 2
EV=
for s in recvfrom sendmsg epoll_wait epoll_ctl read write; do EV="$EV,syscalls:sys_enter_$s"; done
perf stat -e "${EV#,}" -p "$DPID" -o "$W/syscalls.txt" -- sleep 2 || true
perf record -q -e cpu-clock -F 4000 -g -p "$DPID" -o "$W/perf.data" -- sleep 3 2>/dev/null || true
wait "$LPID"
sed -n '1,6p' "$W/run.out"
IOPS=$(tail -n 1 "$W/run.out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["iops"])')
echo
echo "== system calls of the daemon per command (2 s sample at $IOPS IOPS)"
awk -v iops="$IOPS" '/syscalls:sys_enter_/ { gsub(",", "", $1); printf "  %-14s %10d  %6.3f per command\n", substr($2, 20), $1, $1 / (iops * 2) }' "$W/syscalls.txt"
echo
echo "== perf record -e cpu-clock: share of the daemon's samples"
{ perf report -i "$W/perf.data" --no-children --sort dso --stdio 2>/dev/null | grep -E '^ +[0-9.]+%' | head -n 6; } || true
{ perf report -i "$W/perf.data" --no-children --sort symbol --stdio -g none 2>/dev/null | grep -E '^ +[0-9.]+%' | head -n 25; } || true
kill -TERM "$DPID"; wait "$DPID" || true; DPID=

if command -v valgrind >/dev/null; then
	echo
	echo "== callgrind: user-space instructions of the daemon (${SECS}s run under valgrind)"
	start valgrind --tool=callgrind --callgrind-out-file="$W/callgrind.out"
	perf_tool 0 --prefill --quiet > /dev/null
	perf_tool "$SECS" --quiet > "$W/cg_run.json"
	kill -TERM "$DPID"; wait "$DPID" || true; DPID=
	CMDS=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["reads"]+r["writes"])' "$W/cg_run.json")
	TOTAL=$(callgrind_annotate "$W/callgrind.out" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
	echo "  $TOTAL instructions for $CMDS commands (plus start-up): $((TOTAL / (CMDS ? CMDS : 1))) per command"
	{ callgrind_annotate "$W/callgrind.out" 2>/dev/null | grep -E '^ *[0-9,]+ \([ 0-9.]+%\)' | grep -v 'PROGRAM TOTALS' | head -n 20 |
		sed -E 's|/[^ ]*/([a-z_]+/[a-z_0-9]+\.[chS]):|\1:|; s| \[[^]]*\]$||'; } || true
fi
echo
echo "profile: raw files in $W"
trap - EXIT
