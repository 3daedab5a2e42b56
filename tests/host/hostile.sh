#!/bin/bash
# The hostile-network suite, no VM: nvmf-bridged (normally the ASan+UBSan
# build) on 127.0.0.1 with a mem namespace, a good host doing verified I/O
# (nvmf-bridge-perf --verify) while nvmf-attack plays every attack class of
# docs/security.md against the port, and the control socket abused by a
# client that never reads. Each check says what it measured; the figures
# the issue asks for are printed as "figure:" lines.
#
# usage: hostile.sh DAEMON ATTACK PERF CTL LABEL [PLAIN_DAEMON]
# The good host's IOPS alone and under attack (and the memory an idle
# connection costs) are measured on PLAIN_DAEMON when given (a sanitizer
# build makes the daemon's own work several times dearer than the kernel's
# socket work, so its figures mean little); everything else runs on DAEMON.
# Prints one line per check and "hostile[LABEL]: N passed, N failed".
set -uo pipefail
DAEMON=$(readlink -f "$1") ATTACK=$(readlink -f "$2") PERF=$(readlink -f "$3") CTL=$(readlink -f "$4") LABEL=$5
PLAIN=$(readlink -f "${6:-$1}")
W=$(mktemp -d /tmp/nvmfb-hostile.XXXXXX)
PORT=$((30000 + RANDOM % 1000))
NQN=nqn.2024-01.io.nvmf-bridge:hostile
SOCK=$W/rpc.sock
pass=0 fail=0 DPID= BG=()
# ASan's quarantine keeps freed memory for a while: small, so that RSS
# shows what the daemon holds
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=99:quarantine_size_mb=16 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

cleanup() {
	for p in "${BG[@]}"; do kill -KILL "$p" 2>/dev/null; done
	[ -n "$DPID" ] && kill -KILL "$DPID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT

ok() { pass=$((pass + 1)); echo "ok   [hostile/$LABEL] $1"; }
bad() { fail=$((fail + 1)); echo "FAIL [hostile/$LABEL] $1"; shift; for f in "$@"; do [ -f "$f" ] && sed 's/^/    /' "$f" | tail -n 15; done; }
figure() { echo "figure [hostile/$LABEL] $1"; }
listening() { grep -qi ":$(printf '%04X' "$1") 00000000:0000 0A" /proc/net/tcp; }
A() { timeout 120 $PIN_ATTACK "$ATTACK" "$1" -a 127.0.0.1 -s "$PORT" -n "$NQN" "${@:2}"; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
nfds() { ls "/proc/$1/fd" | wc -l; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
conns() { "$CTL" --socket "$SOCK" --json status 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["connections"])' 2>/dev/null; }
json_field() { python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])[sys.argv[2]])" "$1" "$2" 2>/dev/null; }
# the good host: verified random read/write, 4 KiB, QD 16
good_host() {   # good_host SECONDS OUT
	timeout $(($1 + 60)) "$PERF" -a 127.0.0.1 -s "$PORT" -n "$NQN" --verify -w randrw -q 16 -t "$1" --quiet > "$2" 2>&1
}
good_ok() {     # the run verified and had no error
	[ "$(json_field "$1" mismatches)" = 0 ] && [ "$(json_field "$1" errors)" = 0 ]
}
wait_conns() {  # wait_conns N SECONDS: the daemon down to N connections
	local end=$((SECONDS + $2))
	while [ $SECONDS -lt $end ]; do [ "$(conns)" = "$1" ] && return 0; sleep 0.2; done
	return 1
}

write_config() {   # write_config FILE EXTRA_BRIDGE
	cat > "$1" <<EOC
{
  "bridge": { "discovery_port": 0, "reactors": 1, "rpc_socket": "$SOCK",
              "icreq_timeout_ms": 8000, "connect_timeout_ms": 8000,
              "max_connections_per_address": 300$2 },
  "ports": [ { "portid": 1,
               "addr": { "trtype": "tcp", "adrfam": "ipv4", "traddr": "127.0.0.1", "trsvcid": "$PORT" },
               "param": { "inline_data_size": "16384" }, "subsystems": [ "$NQN" ] } ],
  "subsystems": [ { "nqn": "$NQN", "attr": { "allow_any_host": "1" },
                    "namespaces": [ { "nsid": 1, "device": { "mem": "256MiB" } } ] } ]
}
EOC
}

# with two CPUs or more, the daemon runs on CPU 0 and the good host on 1
# The attacker runs on the good host's CPU, not the daemon's: on a real
# network it is another machine, and its own CPU on the daemon's core
# would be charged to the daemon (measured: unpinned 1.029 and 0.953,
# pinned 1.054 and 0.990, in alternate runs)
PIN_D= PIN_HOST= PIN_ATTACK=
if [ "$(nproc)" -ge 2 ] && command -v taskset > /dev/null; then
	PIN_D="taskset -c 0" PIN_HOST="--cpu 1" PIN_ATTACK="taskset -c 1"
fi

start_daemon() {   # start_daemon CONFIG LOG [ULIMIT_N]
	if [ -n "${3:-}" ]; then
		( ulimit -n "$3"; exec $PIN_D "$DAEMON" --config "$1" --verbose ) > "$2" 2>&1 &
	else
		( ulimit -n 20000 2>/dev/null; exec $PIN_D "$DAEMON" --config "$1" --verbose ) > "$2" 2>&1 &
	fi
	DPID=$!
	for _ in $(seq 100); do listening "$PORT" && [ -S "$SOCK" ] && return 0; sleep 0.1; done
	return 1
}

stop_daemon() {   # SIGTERM; exit 0 within the 10 s shutdown limit
	local rc=0 t0=$SECONDS
	kill -TERM "$DPID"
	for _ in $(seq 150); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$DPID" 2>/dev/null; then kill -KILL "$DPID"; wait "$DPID" 2>/dev/null; DPID=; return 1; fi
	wait "$DPID" || rc=$?
	DPID=
	[ $rc = 0 ] && [ $((SECONDS - t0)) -le 10 ]
}

write_config "$W/config.json" ""
# --- the good host alone, then under 2,000 idle and hundreds of malformed connections ---
# On the plain daemon. Seven rounds of A (alone) then B (under attack), 3 s
# of 4 KiB random reads at QD 16 each, the daemon on CPU 0 and the good
# host on CPU 1. Each round's B is compared with its own A, run just before
# under the same conditions, and the median of the seven ratios is judged:
# single 3 s runs on this machine differ by up to 25 % with nothing else
# going on, and comparing the medians of A and of B (as this test did)
# failed at 0.899 on a run whose paired ratios had a median of 0.98. The
# idle connections are
# closed by the attacker after each B (their deadline is shown on the
# sanitized daemon below).
SAVED_DAEMON=$DAEMON DAEMON=$PLAIN
if ! start_daemon "$W/config.json" "$W/plain.log"; then
	bad "daemon ($PLAIN) did not start" "$W/plain.log"
	echo "hostile[$LABEL]: $pass passed, $((fail + 1)) failed"
	exit 1
fi
iops() { json_field "$1" iops | cut -d. -f1; }
read_host() { timeout 60 "$PERF" -a 127.0.0.1 -s "$PORT" -n "$NQN" -w randread -q 16 -t 3 --region 16M $PIN_HOST --quiet > "$1" 2>&1; }
# the region written once first: no first-touch page fault of the mem
# namespace is charged to either side
timeout 60 "$PERF" -a 127.0.0.1 -s "$PORT" -n "$NQN" -w randread -q 16 -t 1 --region 16M --prefill --quiet > "$W/warm.json" 2>&1
list_a= list_b= rounds=
rss0=$(rss_kb "$DPID") fds0=$(nfds "$DPID")
for r in 1 2 3 4 5 6 7; do
	read_host "$W/alone$r.json"
	A idle --count 2000 --source 127.0.0.2 --sources 8 --hold 4000 > "$W/idle$r.out" 2>&1 &
	BG+=($!); idle_pid=$!
	for _ in $(seq 200); do grep -q holding "$W/idle$r.out" && break; sleep 0.1; done
	if [ "$r" = 1 ]; then
		held=$(conns)
		rss_idle=$(rss_kb "$DPID") fds_idle=$(nfds "$DPID")
	fi
	A malformed --count 150 --rate 50 --source 127.0.1.1 > "$W/malformed$r.out" 2>&1 &
	BG+=($!); mal_pid=$!
	read_host "$W/attacked$r.json"
	wait "$mal_pid"
	wait "$idle_pid"
	a=$(iops "$W/alone$r.json") b=$(iops "$W/attacked$r.json")
	list_a="$list_a,${a:-0}" list_b="$list_b,${b:-0}"
	rounds="$rounds ${a:-?}/${b:-?}"
	grep -q PASS "$W/malformed$r.out" || bad "malformed stream, round $r" "$W/malformed$r.out"
done
med_a=$(python3 -c "import statistics; print(int(statistics.median([${list_a#,}])))")
med_b=$(python3 -c "import statistics; print(int(statistics.median([${list_b#,}])))")
ratio=$(python3 -c "
import statistics
a, b = [${list_a#,}], [${list_b#,}]
print(f'{statistics.median(y / max(x, 1) for x, y in zip(a, b)):.3f}')")
figure "good host 4 KiB randread QD16, alone/attacked per round:$rounds IOPS; medians $med_a / $med_b; median of the rounds' ratios: attacked = ${ratio} of alone (2,000 idle connections held and 150 malformed ones at 50/s in each attacked round)"
figure "idle connections: daemon RSS ${rss0} kB -> ${rss_idle} kB with $held held ($(( (rss_idle - rss0) * 1024 / (held > 0 ? held : 1) )) bytes each), fds ${fds0} -> ${fds_idle}"
if python3 -c "import sys; sys.exit(0 if $ratio >= 0.9 and $med_a > 0 else 1)"; then
	ok "good host under attack: ${ratio} of its IOPS alone (>= 0.9; rounds alone/attacked:$rounds)"
else
	bad "good host under attack: ${ratio} of alone (rounds:$rounds)"
fi
[ "${held:-0}" -ge 2000 ] && ok "2,000 idle connections from 8 addresses held at once ($held connections)" ||
	bad "idle connections held: ${held:-0}"
ok "$(cut -c1-160 "$W/malformed1.out") (x5 rounds)"
wait_conns 0 5 && ok "every connection freed after the rounds (status: 0 connections)" || bad "connections left: $(conns)"
stop_daemon || bad "SIGTERM (plain daemon)" "$W/plain.log"
DAEMON=$SAVED_DAEMON

if ! start_daemon "$W/config.json" "$W/daemon.log"; then
	bad "daemon did not start" "$W/daemon.log"
	echo "hostile[$LABEL]: $pass passed, $((fail + 1)) failed"
	exit 1
fi
ok "daemon listening on 127.0.0.1:$PORT (pid $DPID)"

# --- deadlines and caps: 2,000 idle connections closed by the ICReq deadline;
# 400 from one more address, 100 over the per-address cap closed at once ---
A idle --count 2000 --source 127.0.0.2 --sources 8 --hold 12000 > "$W/idle.out" 2>&1 &
BG+=($!); idle_pid=$!
A idle --count 400 --source 127.0.2.1 --hold 12000 > "$W/cap.out" 2>&1
wait "$idle_pid"
if grep -q 'PASS' "$W/idle.out" && grep -qE 'closed by the daemon between [0-9]{4}' "$W/idle.out"; then
	ok "$(tail -n 1 "$W/idle.out" | cut -c1-170)"
else
	bad "idle connections not closed by the ICReq deadline" "$W/idle.out"
fi
if grep -q '100 closed at once' "$W/cap.out" && grep -q PASS "$W/cap.out"; then
	ok "max_connections_per_address 300: 400 from one address, 100 closed at once, the rest by the deadline"
else
	bad "per-address cap" "$W/cap.out"
fi
wait_conns 0 5 && ok "every connection freed (status: 0 connections)" || bad "connections left: $(conns)"

# --- the rest, while the good host verifies I/O the whole time ---------------------------
good_host 40 "$W/during.json" &
BG+=($!); good_pid=$!
sleep 1
for t in "pipelined --count 10" "r2t-hog --count 20" "churn --count 300" "fields" "cycles --count 50"; do
	# shellcheck disable=SC2086
	A $t > "$W/a.out" 2>&1
	if grep -q PASS "$W/a.out"; then ok "$(cut -c1-170 "$W/a.out")"; else bad "${t%% *}" "$W/a.out"; fi
done
A slow-reader --queues 8 --kato 2000 --hold 15000 --hostnqn nqn.2014-08.org.nvmexpress:uuid:a77ac0de-0000-4000-8000-0000000005ee > "$W/slow.out" 2>&1
if grep -q PASS "$W/slow.out"; then ok "$(tail -n 1 "$W/slow.out" | cut -c1-170)"; else bad "slow reader" "$W/slow.out"; fi
# the control socket: a client that sends 20,000 requests and never reads
python3 - "$SOCK" > "$W/rpc_hog.out" 2>&1 <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.setblocking(False)
req = b'{"jsonrpc":"2.0","id":1,"method":"list"}\n' * 20000
sent = 0
t0 = time.time()
while sent < len(req) and time.time() - t0 < 20:
    try:
        sent += s.send(req[sent:])
    except BlockingIOError:
        time.sleep(0.05)
    except (BrokenPipeError, ConnectionResetError):
        break
# never read; wait to be dropped
while time.time() - t0 < 20:
    try:
        s.send(b'{"jsonrpc":"2.0","id":2,"method":"status"}\n')
    except BlockingIOError:
        pass
    except (BrokenPipeError, ConnectionResetError):
        print(f"dropped after {time.time() - t0:.1f} s, {sent} bytes of requests sent")
        sys.exit(0)
    time.sleep(0.2)
print("not dropped")
sys.exit(1)
PY
rpc_pid=$!
BG+=($rpc_pid)
sleep 1
t0=$(date +%s%N)
if "$CTL" --socket "$SOCK" status > "$W/status_during.out" 2>&1; then
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	ok "control socket answers another client in ${ms} ms while one pipelines requests and never reads"
else
	bad "status while a client hogs the control socket" "$W/status_during.out"
fi
if wait "$rpc_pid" && grep -q dropped "$W/rpc_hog.out" && grep -q 'control client .* dropped: it did not read' "$W/daemon.log"; then
	ok "the client that never reads was dropped: $(cat "$W/rpc_hog.out")"
else
	bad "control socket hog not dropped" "$W/rpc_hog.out"
fi
# the good host saw all of it
wait "$good_pid"
if good_ok "$W/during.json"; then
	ok "good host verified I/O during all of the above: $(json_field "$W/during.json" iops | cut -d. -f1) IOPS, 0 errors, 0 mismatches"
else
	bad "good host during the attacks" "$W/during.json"
fi

# --- 1,000 associations: fds and memory flat -----------------------------------------------
# warm up: every block the cycles write (1,024 x 4 KiB of the mem
# namespace) touched once, the allocator and ASan's quarantine filled
A cycles --count 1024 > /dev/null 2>&1
wait_conns 0 5
rss_a=$(rss_kb "$DPID") fds_a=$(nfds "$DPID")
A cycles --count 1000 > "$W/cycles.out" 2>&1
wait_conns 0 5
rss_b=$(rss_kb "$DPID") fds_b=$(nfds "$DPID")
figure "1,000 associations: fds ${fds_a} -> ${fds_b}, RSS ${rss_a} kB -> ${rss_b} kB"
if grep -q PASS "$W/cycles.out" && [ "$fds_a" = "$fds_b" ] && [ $((rss_b - rss_a)) -lt 1024 ]; then
	ok "1,000 associations: fds ${fds_a} -> ${fds_b}, RSS +$((rss_b - rss_a)) kB (< 1 MiB)"
else
	bad "1,000 associations: fds ${fds_a} -> ${fds_b}, RSS ${rss_a} -> ${rss_b} kB" "$W/cycles.out"
fi

# --- logs: escaped, and bounded per source ----------------------------------------------------
A forge-nqn --hold 3000 > "$W/forge.out" 2>&1 &
BG+=($!); forge_pid=$!
for _ in $(seq 50); do grep -q holding "$W/forge.out" && break; sleep 0.1; done
"$CTL" --socket "$SOCK" list > "$W/forge_list.out" 2>&1
wait "$forge_pid"
if grep -q 'uuid:x\\x0anvmf-bridged: FORGED root login\\x1b' "$W/forge_list.out" && ! grep -q '^nvmf-bridged: FORGED' "$W/forge_list.out"; then
	ok "nvmf-bridgectl list shows that host NQN escaped too"
else
	bad "nvmf-bridgectl list printed the host NQN raw" "$W/forge_list.out"
fi
if grep -q '^nvmf-bridged: FORGED' "$W/daemon.log" || grep -q $'\x1b' "$W/daemon.log"; then
	bad "a host NQN forged a log line or wrote an escape sequence" "$W/daemon.log"
elif grep -q 'uuid:x\\x0anvmf-bridged: FORGED root login\\x1b' "$W/daemon.log"; then
	ok "a host NQN with a newline and ESC is logged escaped (\\x0a, \\x1b) on its own line"
else
	bad "the forged NQN is not in the log as escaped text" "$W/forge.out"
fi
before=$(grep -c '127.0.3.1' "$W/daemon.log")
A malformed --count 500 --source 127.0.3.1 > "$W/flood.out" 2>&1
lines=$(( $(grep -c '127.0.3.1' "$W/daemon.log") - before ))
figure "500 malformed connections from one address ($(grep -o 'in [0-9]* ms' "$W/flood.out")): ${lines} log lines about it"
if grep -q PASS "$W/flood.out" && [ "$lines" -lt 150 ]; then
	ok "log lines caused by one peer are rate-limited: ${lines} lines for 500 malformed connections"
else
	bad "log flood: ${lines} lines for 500 malformed connections" "$W/flood.out"
fi
A malformed --count 1 --source 127.0.3.1 > /dev/null 2>&1
sleep 1.1
A malformed --count 1 --source 127.0.3.1 > /dev/null 2>&1
if grep -q 'lines from 127.0.3.1 suppressed' "$W/daemon.log"; then
	ok "suppressed lines are counted: $(grep -o '\[[0-9]* similar lines from 127.0.3.1 suppressed\]' "$W/daemon.log" | tail -n 1)"
else
	bad "no count of suppressed lines"
fi

if stop_daemon; then ok "SIGTERM after all of it: exit 0 within 10 s"; else bad "SIGTERM" "$W/daemon.log"; fi

# --- accept() out of fds: the listener pauses instead of spinning ---------------------------
write_config "$W/emfile.json" ""
if start_daemon "$W/emfile.json" "$W/emfile.log" 48; then
	A idle --count 120 --hold 1500 > /dev/null 2>&1 &
	BG+=($!); idle2=$!
	sleep 0.5
	c1=$(cpu_ticks "$DPID"); l1=$(wc -l < "$W/emfile.log")
	sleep 3
	c2=$(cpu_ticks "$DPID"); l2=$(wc -l < "$W/emfile.log")
	wait "$idle2"
	figure "accept() failing with EMFILE: daemon CPU $((c2 - c1)) ticks (1/100 s) in 3 s, $((l2 - l1)) log lines"
	if grep -q 'Too many open files; pausing the listener' "$W/emfile.log" && [ $((c2 - c1)) -lt 60 ] && [ $((l2 - l1)) -lt 40 ]; then
		ok "EMFILE: listener paused, $((c2 - c1))/300 ticks of CPU, $((l2 - l1)) log lines in 3 s"
	else
		bad "EMFILE: $((c2 - c1)) ticks, $((l2 - l1)) lines" "$W/emfile.log"
	fi
	# once fds are free again, hosts get in
	wait_conns 0 15
	good_host 1 "$W/after_emfile.json"
	if good_ok "$W/after_emfile.json"; then ok "after EMFILE, a host connects and verifies I/O"; else bad "after EMFILE" "$W/after_emfile.json"; fi
	stop_daemon || bad "SIGTERM (EMFILE daemon)" "$W/emfile.log"
else
	bad "EMFILE daemon did not start" "$W/emfile.log"
fi

if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$W/daemon.log" "$W/emfile.log" "$W/plain.log"; then
	bad "sanitizer report" "$W/daemon.log" "$W/emfile.log"
else
	ok "no sanitizer report"
fi
echo "hostile[$LABEL]: $pass passed, $fail failed"
[ "$fail" = 0 ]
