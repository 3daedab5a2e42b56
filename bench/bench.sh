#!/bin/bash
# make bench: nvmf-bridge measured against what a user would pick instead,
# on this machine, in one run. Prints a table and writes
# bench/results/<date>.json and .md (see docs/performance.md).
#
# 1. Host, no VM: nvmf-bridged with a mem namespace on 127.0.0.1, pinned to
#    one CPU, driven by nvmf-bridge-perf pinned to another: 4 KiB random read
#    and write at QD 1, 32, 128 and 128 KiB sequential read; the target's
#    CPU time per command from /proc/PID/stat over each measured window; the
#    target's CPU use over BENCH_IDLE_SECS with a host connected and idle.
# 2. VM (tests/vm/run.sh bench, tests/vm/guest/bench.sh): the kernel nvme
#    driver + fio vs nvmf-pcie perf; the kernel's nvmet over TCP vs
#    nvmf-bridged, both driven by the kernel initiator with the same fio jobs;
#    NVMe/RDMA the same once nvmf-bridged serves it.
# 2b. VM, the current guest (tests/vm/guest/tls_bench.sh): the cost of TLS,
#    nvmet-tcp and nvmf-bridged each on a plain and a TLS 1.3 port, the
#    kernel initiator and fio (BENCH_TLS=0 skips it).
#
# env: BUILD (build tree, default build), BENCH_SECS (host seconds per
#      workload, 10), BENCH_WARMUP (1), BENCH_IDLE_SECS (10), BENCH_VM (1;
#      0 = host part only), BENCH_VM_SECS (10), BENCH_ROUNDS (2),
#      BENCH_TARGET_CPU (0), BENCH_PERF_CPU (1), BENCH_OUT (bench/results),
#      BENCH_NAME (file name, default the UTC date and time),
#      BENCH_VM_TESTS (bench_pcie,bench_tcp,bench_rdma), BENCH_VERIFY (1: also a
#      --verify run on the host; the smoke test sets it)
#      BENCH_PEERS (make bench PEERS=...): "spdk" runs 3. below, building SPDK with
#      bench/build-spdk.sh first when SPDK_DIR (default /opt/spdk) has no build
#      (SPDK_SRC: where to clone it from); when SPDK_DIR already holds a build, 3.
#      runs without being asked (BENCH_PEERS=none turns it off). BENCH_PEER_SECS (5),
#      BENCH_PEER_ROUNDS (2), BENCH_PEER_ARGS (more bench/vs_spdk.py options)
# 3. SPDK (bench/vs_spdk.py): nvmf-bridged and SPDK's nvmf_tgt on the same CPU in
#    turn, driven by spdk_nvme_perf and nvmf-bridge-perf (epoll and --poll).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
BUILD=${BUILD:-$REPO/build}
case $BUILD in /*) ;; *) BUILD=$REPO/$BUILD ;; esac
SECS=${BENCH_SECS:-10}
WARMUP=${BENCH_WARMUP:-1}
IDLE_SECS=${BENCH_IDLE_SECS:-10}
VM=${BENCH_VM:-1}
VM_SECS=${BENCH_VM_SECS:-10}
ROUNDS=${BENCH_ROUNDS:-2}
TCPU=${BENCH_TARGET_CPU:-0}
PCPU=${BENCH_PERF_CPU:-1}
OUT=${BENCH_OUT:-$REPO/bench/results}
NAME=${BENCH_NAME:-$(date -u +%Y-%m-%d-%H%M%S)}
DAEMON=$BUILD/nvmf-bridged
PERF=$BUILD/nvmf-bridge-perf
NQN=nqn.2024-01.io.nvmf-bridge:bench-mem
T_START=$SECONDS

for p in "$DAEMON" "$PERF"; do
	[ -x "$p" ] || { echo "bench: $p is missing: build first (make BUILD=$BUILD all)" >&2; exit 2; }
done
command -v python3 >/dev/null || { echo "bench: python3 is needed for the report (tests/install-deps.sh)" >&2; exit 2; }
command -v taskset >/dev/null || { echo "bench: taskset is needed (util-linux)" >&2; exit 2; }

W=$(mktemp -d /tmp/nvmfb-bench.XXXXXX)
DPID=
cleanup() {
	[ -n "$DPID" ] && kill -TERM "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT

# --- the machine and the commit -----------------------------------------------
{
	echo "cpu_model=$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)"
	echo "cpus=$(nproc)"
	echo "kernel=$(uname -r)"
	# loopback TCP runs under it (BBR paces a socket once it leaves startup)
	echo "tcp_cc=$(sysctl -n net.ipv4.tcp_congestion_control 2>/dev/null || echo unknown)"
	echo "hypervisor=$(lscpu | sed -n 's/^Hypervisor vendor: *//p' | head -n 1)"
	echo "commit=$(git -C "$REPO" rev-parse HEAD 2>/dev/null || echo unknown)"
	echo "dirty=$(git -C "$REPO" status --porcelain --untracked-files=no 2>/dev/null | wc -l)"
	echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
	# other VMs on this machine skew every number: say so in the report
	echo "other_qemu_start=$(pgrep -c qemu-system || true)"
	echo "qemu=$(qemu-system-x86_64 --version 2>/dev/null | head -n 1)"
	echo "host_secs=$SECS"
	echo "host_warmup=$WARMUP"
	echo "idle_secs=$IDLE_SECS"
	echo "target_cpu=$TCPU"
	echo "perf_cpu=$PCPU"
	echo "vm=$VM"
	echo "vm_secs=$VM_SECS"
	echo "rounds=$ROUNDS"
} > "$W/machine.txt"

# --- 1. host: nvmf-bridged on 127.0.0.1 with a mem namespace ---------------------
PORT=$((26000 + RANDOM % 1000)) DPORT=$((27000 + RANDOM % 1000))
cat > "$W/config.json" <<EOF
{
  "bridge": { "reactors": 1, "discovery_port": $DPORT, "rpc_socket": "$W/rpc.sock" },
  "ports": [ { "portid": 1,
               "addr": { "trtype": "tcp", "adrfam": "ipv4", "traddr": "127.0.0.1", "trsvcid": "$PORT" },
               "subsystems": [ "$NQN" ] } ],
  "subsystems": [ { "nqn": "$NQN", "attr": { "allow_any_host": "1", "model": "nvmf-bridge bench" },
                    "namespaces": [ { "nsid": 1, "device": { "mem": "512MiB", "block_size": 4096 } } ] } ]
}
EOF
echo "bench: host: nvmf-bridged (mem namespace, 1 reactor) on CPU $TCPU, nvmf-bridge-perf on CPU $PCPU, ${SECS}s per workload"
taskset -c "$TCPU" "$DAEMON" --config "$W/config.json" > "$W/daemon.log" 2>&1 &
DPID=$!
listening() { grep -qi ":$(printf '%04X' "$1") 00000000:0000 0A" /proc/net/tcp; }
for _ in $(seq 100); do listening "$PORT" && break; sleep 0.1; done
listening "$PORT" || { echo "bench: nvmf-bridged did not start:" >&2; cat "$W/daemon.log" >&2; exit 1; }
echo "target_pid=$DPID" >> "$W/machine.txt"

perf() {   # perf NAME ARGS...: one run; its JSON line in $W/host_NAME.json
	local name=$1; shift
	if ! taskset -c "$PCPU" "$PERF" -a 127.0.0.1 -s "$PORT" -n "$NQN" --cpu "$PCPU" \
		--target-pid "$DPID" "$@" > "$W/host_$name.out" 2> "$W/host_$name.err"; then
		echo "bench: nvmf-bridge-perf $name failed:" >&2
		cat "$W/host_$name.out" "$W/host_$name.err" >&2
		return 1
	fi
	tail -n 1 "$W/host_$name.out" > "$W/host_$name.json"
	python3 - "$W/host_$name.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
per = r.get("target_cpu_us_per_cmd")
print("bench: host %-18s %10.0f IOPS %8.1f MiB/s  lat us mean %7.1f p99 %7.1f  target %s  perf %.2f us/cmd" % (
    r["workload"] + (" QD%d" % r["qd"] if r["workload"] != "idle" else ""), r["iops"], r["mib_s"],
    r["lat_us_mean"], r["lat_us_p99"],
    ("%.2f us/cmd" % per) if per is not None else ("%.2f %% of a core" % r.get("target_cpu_pct", -1)),
    r["cpu_us_per_cmd"]))
PY
}

# the namespace written once, so reads do not hit never-touched memory
perf prefill -w write -o 128k -q 32 -t 0 --prefill --quiet > /dev/null
rm -f "$W/host_prefill.json"
perf randread_qd1 -w randread -o 4k -q 1 -t "$SECS" --warmup "$WARMUP" --quiet
perf randread_qd32 -w randread -o 4k -q 32 -t "$SECS" --warmup "$WARMUP" --quiet
perf randread_qd128 -w randread -o 4k -q 128 -t "$SECS" --warmup "$WARMUP" --quiet
perf randwrite_qd1 -w randwrite -o 4k -q 1 -t "$SECS" --warmup "$WARMUP" --quiet
perf randwrite_qd32 -w randwrite -o 4k -q 32 -t "$SECS" --warmup "$WARMUP" --quiet
perf randwrite_qd128 -w randwrite -o 4k -q 128 -t "$SECS" --warmup "$WARMUP" --quiet
perf read128k_qd32 -w read -o 128k -q 32 -t "$SECS" --warmup "$WARMUP" --quiet
# the same with header and data digests (CRC32C over every PDU header and
# payload, both ways): what a digest costs per command
perf randread_qd32_digest -w randread -o 4k -q 32 -t "$SECS" --warmup "$WARMUP" --hdgst --ddgst --quiet
perf randwrite_qd32_digest -w randwrite -o 4k -q 32 -t "$SECS" --warmup "$WARMUP" --hdgst --ddgst --quiet
perf read128k_qd32_digest -w read -o 128k -q 32 -t "$SECS" --warmup "$WARMUP" --hdgst --ddgst --quiet
# idle: a host connected (admin + one I/O queue), nothing but keep-alives
perf idle --idle "$IDLE_SECS" --quiet
if [ -n "${BENCH_VERIFY:-}" ]; then
	perf verify -w randrw -o 4k -q 16 -c 2 -t "$SECS" --verify --region 32M --quiet
fi
kill -TERM "$DPID"
wait "$DPID" || echo "bench: nvmf-bridged exited $? on SIGTERM" >&2
DPID=
echo "loadavg_host_end=$(cut -d' ' -f1-3 /proc/loadavg)" >> "$W/machine.txt"

# --- 2. VM ------------------------------------------------------------------------
VMRES=
if [ "$VM" = 1 ]; then
	echo "bench: VM: tests/vm/run.sh bench (QEMU TCG, null-backed NVMe controller, ${VM_SECS}s per run, $ROUNDS rounds)"
	cat > "$W/env.sh" <<EOF
BENCH_SECS=$VM_SECS
BENCH_ROUNDS=$ROUNDS
EOF
	echo "other_qemu_vm_start=$(pgrep -c qemu-system || true)" >> "$W/machine.txt"
	vm_rc=0
	BUILD=$BUILD VM_GUEST_ENV=$W/env.sh VM_QUIET=${VM_QUIET:-1} VM_TESTS=${BENCH_VM_TESTS:-} \
		"$REPO/tests/vm/run.sh" bench > "$W/vm.log" 2>&1 || vm_rc=$?
	grep -E '^(RESULT|vm:)' "$W/vm.log" | sed 's/^/bench: /' || true
	echo "vm_rc=$vm_rc" >> "$W/machine.txt"
	VMRES=$BUILD/vm/share/results/bench
	[ "$vm_rc" = 0 ] || echo "bench: the VM part failed (exit $vm_rc); see $BUILD/vm/console.txt" >&2
fi
# --- 2b. the cost of TLS, in the current guest (kernel 6.12, tlshd) --------------
TLSRES=
if [ "$VM" = 1 ] && [ "${BENCH_TLS:-1}" = 1 ]; then
	echo "bench: VM: the cost of TLS (VM_GUEST=current, tests/vm/guest/tls_bench.sh)"
	tls_rc=0
	BUILD=$BUILD VM_GUEST=current VM_SCRIPT=tls_bench VM_TESTS=tls_bench VM_GUEST_ENV=$W/env.sh VM_QUIET=${VM_QUIET:-1} \
		"$REPO/tests/vm/run.sh" bench > "$W/vm-tls.log" 2>&1 || tls_rc=$?
	grep -E '^(RESULT|vm:)' "$W/vm-tls.log" | sed 's/^/bench: /' || true
	echo "vm_tls_rc=$tls_rc" >> "$W/machine.txt"
	TLSRES=$BUILD/vm-current/share/results/bench/tls.txt
	[ "$tls_rc" = 0 ] || echo "bench: the TLS part failed (exit $tls_rc); see $BUILD/vm-current/console.txt" >&2
fi
echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >> "$W/machine.txt"
echo "wall_s=$((SECONDS - T_START))" >> "$W/machine.txt"

mkdir -p "$OUT"
python3 "$HERE/report.py" --host "$W" ${VMRES:+--vm "$VMRES"} ${TLSRES:+--tls "$TLSRES"} --out "$OUT/$NAME"
echo "bench: wrote $OUT/$NAME.json and $OUT/$NAME.md ($((SECONDS - T_START)) s)"

# --- 3. SPDK as a peer ------------------------------------------------------------
SPDK_DIR=${SPDK_DIR:-/opt/spdk}
PEERS=${BENCH_PEERS:-}
spdk_built() { [ -x "$SPDK_DIR/build/bin/nvmf_tgt" ] && [ -x "$SPDK_DIR/build/bin/spdk_nvme_perf" ]; }
if [ -z "$PEERS" ] && spdk_built; then
	PEERS=spdk
	echo "bench: SPDK found in $SPDK_DIR: running it side by side (BENCH_PEERS=none skips)"
fi
peer_rc=0
case ",$PEERS," in
*,spdk,*)
	if ! spdk_built; then
		echo "bench: building SPDK in $SPDK_DIR (bench/build-spdk.sh, about 15 minutes on 2 cores)"
		SPDK_DIR=$SPDK_DIR "$HERE/build-spdk.sh" > "$W/build-spdk.log" 2>&1 ||
			{ tail -n 30 "$W/build-spdk.log" >&2; echo "bench: building SPDK failed" >&2; exit 1; }
	fi
	# shellcheck disable=SC2086  # BENCH_PEER_ARGS is a list of options
	python3 "$HERE/vs_spdk.py" --build "$BUILD" --spdk "$SPDK_DIR" --out "$OUT/$NAME-spdk" \
		--secs "${BENCH_PEER_SECS:-5}" --rounds "${BENCH_PEER_ROUNDS:-2}" \
		--tcpu "$TCPU" --pcpu "$PCPU" ${BENCH_PEER_ARGS:-} || peer_rc=$?
	[ "$peer_rc" = 0 ] && echo "bench: wrote $OUT/$NAME-spdk.json and $OUT/$NAME-spdk.md"
	;;
esac
[ "$peer_rc" = 0 ] || { echo "bench: the SPDK comparison failed (exit $peer_rc)" >&2; exit 1; }
[ "$VM" != 1 ] || [ "${vm_rc:-0}" = 0 ]
