#!/bin/bash
# A short run of the host part of `make bench` (bench/bench.sh), so that
# `make check` notices when the benchmark breaks. Not a measurement: one
# second per workload. Checks that every workload's JSON line parses with
# IOPS > 0, that the idle run reports the target's CPU, that a --verify run
# (random read/write with header and data digests) finds no mismatch, and
# that the report (.json, .md) is written.
# usage: bench_smoke.sh BUILD_DIR
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BUILD=$(readlink -f "${1:-$REPO/build}")
W=$(mktemp -d /tmp/nvmfb-bench-smoke.XXXXXX)
trap 'rm -rf "$W"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   [bench-smoke] $1"; }
bad() { fail=$((fail + 1)); echo "FAIL [bench-smoke] $1"; }

if BUILD=$BUILD BENCH_SECS=1 BENCH_WARMUP=0 BENCH_IDLE_SECS=1 BENCH_VM=0 BENCH_VERIFY=1 BENCH_PEERS=none \
	BENCH_OUT="$W/out" BENCH_NAME=smoke "$REPO/bench/bench.sh" > "$W/bench.log" 2>&1; then
	ok "bench/bench.sh (host part, 1 s per workload) exit 0"
else
	bad "bench/bench.sh exit $?"
	tail -n 30 "$W/bench.log" | sed 's/^/    /'
fi
if out=$(python3 - "$W/out/smoke.json" 2>&1 <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
h = r["host"]
names = [x["name"] for x in h["runs"]]
want = ["randread_qd1", "randread_qd32", "randread_qd128", "randwrite_qd1", "randwrite_qd32",
        "randwrite_qd128", "read128k_qd32"]
missing = [n for n in want if n not in names]
assert not missing, "missing workloads: %s" % missing
for x in h["runs"]:
    for k in ("iops", "mib_s", "lat_us_mean", "lat_us_p50", "lat_us_p99", "lat_us_p999", "cpu_s"):
        assert k in x, "%s: no %s" % (x["name"], k)
    assert x["iops"] > 0, "%s: IOPS %s" % (x["name"], x["iops"])
    assert x.get("target_cpu_us_per_cmd") is not None, "%s: no target CPU" % x["name"]
    assert x["errors"] == 0, "%s: %d errors" % (x["name"], x["errors"])
assert h["idle"] and "target_cpu_pct" in h["idle"], "idle run without the target's CPU"
v = h["verify"]
assert v and v["verified_blocks"] > 0 and v["mismatches"] == 0, "verify: %s" % v
print("%d workloads, randread QD32 %.0f IOPS, idle target %.2f %% of a core, verify %d blocks 0 mismatches"
      % (len(names), next(x["iops"] for x in h["runs"] if x["name"] == "randread_qd32"),
         h["idle"]["target_cpu_pct"], v["verified_blocks"]))
PY
); then
	ok "report: $out"
else
	bad "report: $out"
fi
[ -s "$W/out/smoke.md" ] && grep -q '^| 4 KiB random read | 32 |' "$W/out/smoke.md" && ok "report table written" ||
	bad "report table missing ($W/out/smoke.md)"
# loopback numbers depend on the congestion control (docs/performance.md)
cc=$(sysctl -n net.ipv4.tcp_congestion_control 2>/dev/null || echo unknown)
grep -q "^- machine: .*, TCP congestion control $cc\$" "$W/out/smoke.md" &&
	ok "report names the TCP congestion control ($cc)" ||
	bad "report does not name the TCP congestion control $cc: $(grep '^- machine' "$W/out/smoke.md")"

# the SPDK comparison's report (bench/vs_spdk.py; SPDK itself only runs in
# make bench): ratios per round, min-max, and the bars judged on the minimum
if out=$(python3 - "$REPO/bench" 2>&1 <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import vs_spdk
def run(rnd, tgt, ini, wl, iops, share, p50):
    return {"round": rnd, "target": tgt, "initiator": ini, "workload": wl, "device": "mem",
            "iops": iops, "mib_s": iops / 256, "lat_us_mean": p50, "lat_us_p50": p50, "lat_us_p99": 2 * p50,
            "target_core_share": share, "iops_per_target_cpu_s": iops / share}
runs = []
for rnd in (0, 1):
    # QD32: ours 1.5x and 1.2x of SPDK in the two rounds (the minimum misses 1.3x);
    # QD128: 1.4x and 1.35x (met); QD1: ours 20 us against 22 us (met)
    runs += [run(rnd, "ours", "spdk_nvme_perf", "randread_qd32", (150, 120)[rnd], 1.0, 60),
             run(rnd, "spdk", "spdk_nvme_perf", "randread_qd32", 100, 1.0, 80),
             run(rnd, "ours", "spdk_nvme_perf", "randread_qd128", (140, 135)[rnd], 1.0, 60),
             run(rnd, "spdk", "spdk_nvme_perf", "randread_qd128", 100, 1.0, 80),
             run(rnd, "ours", "spdk_nvme_perf", "randread_qd1", 50, 1.0, 20),
             run(rnd, "spdk", "spdk_nvme_perf", "randread_qd1", 45, 1.0, 22)]
res = {"params": {"tcpu": 0, "pcpu": 1, "rounds": 2, "secs": 5, "warmup": 1, "ns_mib": 512},
       "runs": runs, "footprint": {"ours": [], "spdk": []}, "idle_pct": {"ours": [0.1], "spdk": [99.9]},
       "workloads": {w[0]: w[1] for w in vs_spdk.WORKLOADS}, "initiators": dict(vs_spdk.INITIATORS)}
md = vs_spdk.report(res)
def bar(text):
    line = next(l for l in md.splitlines() if l.startswith("| " + text))
    return line.rsplit("|", 2)[1].strip()
assert "**1.35x** (1.20-1.50)" in md, md
assert bar("4 KiB random read QD32, spdk_nvme_perf: IOPS per target") == "**no**", md
assert bar("4 KiB random read QD128, spdk_nvme_perf: IOPS per target") == "yes", md
assert bar("4 KiB random read QD1, spdk_nvme_perf: p50") == "yes", md
assert bar("idle with a host connected") == "yes", md
print("ratios 1.35x (1.20-1.50); QD32 bar missed on its minimum, QD128 and QD1 met")
PY
); then
	ok "vs_spdk report: $out"
else
	bad "vs_spdk report: $out"
fi

# the load generator with digests, verifying, against a daemon of its own
PORT=$((28000 + RANDOM % 1000))
NQN=nqn.2024-01.io.nvmf-bridge:bench-smoke
cat > "$W/cfg.json" <<EOF
{ "bridge": { "discovery_port": $((PORT + 1000)), "rpc_socket": "$W/rpc.sock" },
  "ports": [ { "portid": 1, "addr": { "trtype": "tcp", "adrfam": "ipv4", "traddr": "127.0.0.1", "trsvcid": "$PORT" },
               "param": { "inline_data_size": "4096" }, "subsystems": [ "$NQN" ] } ],
  "subsystems": [ { "nqn": "$NQN", "attr": { "allow_any_host": "1" },
                    "namespaces": [ { "nsid": 1, "device": { "mem": "64MiB" } } ] } ] }
EOF
"$BUILD/nvmf-bridged" --config "$W/cfg.json" > "$W/daemon.log" 2>&1 &
DPID=$!
for _ in $(seq 50); do grep -qi ":$(printf '%04X' "$PORT") 00000000:0000 0A" /proc/net/tcp && break; sleep 0.1; done
# 8 KiB writes do not fit in 4 KiB of in-capsule data: R2T and H2CData
if timeout 60 "$BUILD/nvmf-bridge-perf" -a 127.0.0.1 -s "$PORT" -n "$NQN" -w randrw -o 8k -q 8 -c 2 -T 2 -t 1 \
	--verify --region 8M --hdgst --ddgst > "$W/digest.out" 2>&1 &&
   tail -n 1 "$W/digest.out" | python3 -c 'import json,sys; r=json.load(sys.stdin); assert r["mismatches"]==0 and r["verified_blocks"]>0 and r["iops"]>0' 2>/dev/null; then
	ok "perf --verify --hdgst --ddgst, 8 KiB randrw via R2T, 2 queues on 2 threads: $(grep -o 'verify .*' "$W/digest.out" | head -n 1)"
else
	bad "perf --verify with digests"
	tail -n 12 "$W/digest.out" | sed 's/^/    /'
fi
kill -TERM "$DPID" 2>/dev/null
wait "$DPID" 2>/dev/null
echo "bench-smoke: $pass passed, $fail failed"
[ "$fail" = 0 ]
