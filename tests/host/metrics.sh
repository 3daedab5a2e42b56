#!/bin/bash
# The Prometheus endpoint with its real consumers: nvmf-bridged with
# bridge.metrics on loopback, I/O from nvmf-bridge-perf (two hosts) and a
# refused Connect; then
#   - curl /metrics passes `promtool check metrics` (Debian's prometheus),
#   - the counters agree with `nvmf-bridgectl stats` (one source) and with
#     what perf did,
#   - a Prometheus server scrapes the daemon and answers queries through
#     its HTTP API with the same numbers,
#   - 404 and 405 where they belong, and a reload moves the endpoint.
# usage: metrics.sh BRIDGED CTL PERF TEST_HOST LABEL
set -uo pipefail
BRIDGED=$(readlink -f "$1") CTL=$(readlink -f "$2") PERF=$(readlink -f "$3") HOST=$(readlink -f "$4") LABEL=${5:-plain}
W=$(mktemp -d /tmp/nvmfb-metrics.XXXXXX)
DPID= PPID_PROM=
cleanup() {
	[ -n "$PPID_PROM" ] && kill "$PPID_PROM" 2>/dev/null && wait "$PPID_PROM" 2>/dev/null
	[ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   [metrics/$LABEL] $1"; }
bad() { fail=$((fail + 1)); echo "FAIL [metrics/$LABEL] $1"; shift; for f in "$@"; do [ -f "$f" ] && sed 's/^/    /' "$f" | tail -n 15; done; }

# free TCP ports on loopback, picked by the kernel
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port) MPORT=$(free_port) MPORT2=$(free_port) PROMPORT=$(free_port)
NQN=nqn.2024-01.io.nvmf-bridge:metrics
H1=nqn.2014-08.org.nvmexpress:uuid:aaaaaaaa-0000-4000-8000-000000000001
H2=nqn.2014-08.org.nvmexpress:uuid:aaaaaaaa-0000-4000-8000-000000000002
SOCK=$W/rpc.sock

write_config() {   # write_config METRICS_PORT
	cat > "$W/c.json" <<EOF
{ "bridge": { "rpc_socket": "$SOCK", "discovery_port": 0, "metrics": { "listen": "127.0.0.1:$1" } },
  "ports": [ { "portid": 1, "addr": { "trtype": "tcp", "adrfam": "ipv4", "traddr": "127.0.0.1", "trsvcid": "$PORT" },
               "subsystems": [ "$NQN" ] } ],
  "subsystems": [ { "nqn": "$NQN", "attr": { "allow_any_host": "1" },
                    "namespaces": [ { "nsid": 1, "device": { "mem": "32MiB" } } ] } ] }
EOF
}
scrape() { curl -sS --max-time 10 "http://127.0.0.1:$1/metrics" > "$2" 2> "$2.err"; }
# metric VALUE of the line that starts with SELECTOR in FILE
metric() { awk -v s="$2" 'index($0, s) == 1 { print $NF; exit }' "$1"; }

write_config "$MPORT"
"$BRIDGED" --config "$W/c.json" > "$W/d.log" 2>&1 &
DPID=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$MPORT/" && break; sleep 0.1; done

# I/O from two hosts, a Connect refused (unknown subsystem)
"$PERF" -s "$PORT" -n "$NQN" --hostnqn "$H1" -w randrw -q 8 -t 1 --quiet > "$W/p1.json" 2>&1 &
P1=$!
"$PERF" -s "$PORT" -n "$NQN" --hostnqn "$H2" -w randread -q 4 -t 1 --quiet > "$W/p2.json" 2>&1
wait $P1
timeout 30 "$HOST" identify -a 127.0.0.1 -s "$PORT" -n nqn.2024-01.io.nvmf-bridge:nothere > "$W/refused.out" 2>&1

if scrape "$MPORT" "$W/m.txt" && [ -s "$W/m.txt" ]; then
	ok "curl /metrics: $(grep -vc '^#' "$W/m.txt") samples, $(grep -c '^# TYPE' "$W/m.txt") families"
else
	bad "curl /metrics" "$W/m.txt.err" "$W/d.log"
fi
if promtool check metrics < "$W/m.txt" > "$W/promtool.out" 2>&1 && [ ! -s "$W/promtool.out" ]; then
	ok "promtool check metrics: clean ($(promtool --version 2>&1 | head -n 1 | cut -d' ' -f1-3))"
else
	bad "promtool check metrics" "$W/promtool.out"
fi

# one source: the same numbers as nvmf-bridgectl stats, and as perf's
"$CTL" --socket "$SOCK" --json stats > "$W/stats.json" 2> "$W/stats.err"
if out=$(python3 - "$W/m.txt" "$W/stats.json" "$W/p1.json" "$W/p2.json" "$NQN" "$H1" "$H2" 2>&1 <<'PY'
import json, re, sys
text, stats = open(sys.argv[1]).read(), json.load(open(sys.argv[2]))
p1, p2 = (json.loads(open(f).read().strip().splitlines()[-1]) for f in sys.argv[3:5])
nqn, h1, h2 = sys.argv[5:8]
def m(name, **labels):
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            got = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
            if all(got.get(k) == v for k, v in labels.items()):
                return float(line.split()[-1])
    raise AssertionError("no %s %s" % (name, labels))
ns = stats["namespaces"][0]
assert m("nvmf_bridge_namespace_commands_total", subsystem=nqn, nsid="1", op="read") == ns["reads"], "reads differ"
assert m("nvmf_bridge_namespace_commands_total", subsystem=nqn, nsid="1", op="write") == ns["writes"], "writes differ"
assert m("nvmf_bridge_namespace_bytes_total", subsystem=nqn, nsid="1", op="read") == ns["read_bytes"]
hosts = {h["hostnqn"]: h for h in stats["hosts"]}
for h, p in ((h1, p1), (h2, p2)):
    r = m("nvmf_bridge_host_commands_total", subsystem=nqn, host=h, port="1", transport="tcp", op="read")
    w = m("nvmf_bridge_host_commands_total", subsystem=nqn, host=h, port="1", transport="tcp", op="write")
    assert r == hosts[h]["reads"] and w == hosts[h]["writes"], "host %s: metrics %d/%d, stats %d/%d" % (h, r, w, hosts[h]["reads"], hosts[h]["writes"])
    # perf counts the commands that completed inside its measured window;
    # the target also served the few still in flight when it ended (QD 8)
    assert 0 <= r - p["reads"] <= 8, "host %s: %d reads, perf did %d" % (h, r, p["reads"])
    assert 0 <= w - p["writes"] <= 8, "host %s: %d writes, perf did %d" % (h, w, p["writes"])
    assert m("nvmf_bridge_host_controllers", subsystem=nqn, host=h) == 0, "perf disconnected"
total = m("nvmf_bridge_namespace_commands_total", subsystem=nqn, nsid="1", op="read") + \
        m("nvmf_bridge_namespace_commands_total", subsystem=nqn, nsid="1", op="write")
assert m("nvmf_bridge_port_io_commands_total", port="1") >= total
assert m("nvmf_bridge_connections_refused_total", reason="unknown_subsystem") == 1, "refused Connect not counted"
c = m("nvmf_bridge_namespace_latency_seconds_count", subsystem=nqn, nsid="1", op="read")
inf = m("nvmf_bridge_namespace_latency_seconds_bucket", subsystem=nqn, nsid="1", op="read", le="+Inf")
assert c == inf == ns["reads"], "latency count %d, +Inf %d, reads %d" % (c, inf, ns["reads"])
print("namespace %d reads %d writes, host %s %d+%d, host %s %d+%d, one refused Connect: metrics = stats = perf"
      % (ns["reads"], ns["writes"], h1[-2:], p1["reads"], p1["writes"], h2[-2:], p2["reads"], p2["writes"]))
PY
); then
	ok "$out"
else
	bad "metrics against stats and perf: $out" "$W/stats.err"
fi

# a Prometheus server scrapes it; its query API answers the same numbers
cat > "$W/prometheus.yml" <<EOF
global: { scrape_interval: 1s, evaluation_interval: 1s }
scrape_configs:
  - job_name: nvmf-bridge
    static_configs: [ { targets: [ "127.0.0.1:$MPORT" ] } ]
EOF
prometheus --config.file="$W/prometheus.yml" --storage.tsdb.path="$W/tsdb" \
	--web.listen-address="127.0.0.1:$PROMPORT" > "$W/prometheus.log" 2>&1 &
PPID_PROM=$!
query() { curl -sS --max-time 5 -G "http://127.0.0.1:$PROMPORT/api/v1/query" --data-urlencode "query=$1" 2>/dev/null; }
value() { python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")' 2>/dev/null; }
want=$(metric "$W/m.txt" "nvmf_bridge_namespace_commands_total{subsystem=\"$NQN\",nsid=\"1\",op=\"read\"}")
got= up=
for _ in $(seq 300); do
	up=$(query 'up{job="nvmf-bridge"}' | value)
	got=$(query "nvmf_bridge_namespace_commands_total{op=\"read\"}" | value)
	[ "$up" = 1 ] && [ -n "$got" ] && break
	sleep 0.1
done
if [ "$up" = 1 ] && [ "$got" = "$want" ] &&
   [ "$(query "sum(nvmf_bridge_host_commands_total{op=\"write\"})" | value)" = \
     "$(metric "$W/m.txt" "nvmf_bridge_namespace_commands_total{subsystem=\"$NQN\",nsid=\"1\",op=\"write\"}")" ]; then
	ok "Prometheus $(prometheus --version 2>&1 | head -n 1 | cut -d' ' -f3) scraped it: up 1, reads $got, the hosts' writes sum to the namespace's"
else
	bad "Prometheus: up '$up', reads '$got' (want $want)" "$W/prometheus.log"
fi
# every query of the example Grafana dashboard runs on that server
if out=$(python3 - "$(dirname "$0")/../../docs/grafana-dashboard.json" "$PROMPORT" 2>&1 <<'PY'
import json, sys, urllib.parse, urllib.request
d = json.load(open(sys.argv[1]))
n = 0
for p in d["panels"]:
    for t in p["targets"]:
        e = t["expr"].replace("$__rate_interval", "1m").replace("$subsystem", ".*")
        url = "http://127.0.0.1:%s/api/v1/query?%s" % (sys.argv[2], urllib.parse.urlencode({"query": e}))
        r = json.load(urllib.request.urlopen(url, timeout=5))
        assert r["status"] == "success", "%s: %s" % (p["title"], r)
        n += 1
print("%d queries of %d panels" % (n, len(d["panels"])))
PY
); then
	ok "docs/grafana-dashboard.json: $out answered by Prometheus"
else
	bad "dashboard queries: $out"
fi
kill "$PPID_PROM" 2>/dev/null; wait "$PPID_PROM" 2>/dev/null; PPID_PROM=

# what is not /metrics
c404=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MPORT/nothere")
c405=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data x "http://127.0.0.1:$MPORT/metrics")
[ "$c404" = 404 ] && [ "$c405" = 405 ] && ok "/nothere 404, POST /metrics 405" || bad "/nothere $c404, POST $c405"

# a reload moves the endpoint: the new port serves, the old one is closed
write_config "$MPORT2"
"$CTL" --socket "$SOCK" reload > "$W/reload.out" 2>&1
if grep -q "metrics now served on 127.0.0.1:$MPORT2" "$W/reload.out" && scrape "$MPORT2" "$W/m2.txt" &&
   grep -q '^nvmf_bridge_build_info' "$W/m2.txt" && ! curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$MPORT/metrics"; then
	ok "reload: endpoint moved to :$MPORT2, :$MPORT closed"
else
	bad "reload of the metrics address" "$W/reload.out" "$W/d.log"
fi
kill "$DPID"; wait "$DPID"; rc=$?; DPID=
[ $rc = 0 ] && ok "daemon exit 0 after SIGTERM" || bad "daemon exit $rc" "$W/d.log"
grep -E 'ERROR|runtime error|AddressSanitizer' "$W/d.log" && bad "sanitizer or error lines in the daemon's log"
echo "metrics[$LABEL]: $pass passed, $fail failed"
[ $fail = 0 ]
