#!/bin/bash
# Host tests of nvmf-bridgectl, no VM: nvmf-bridged with memory namespaces on
# 127.0.0.1 and its control socket in a temporary directory; every command
# of nvmf-bridgectl against it, checked with the project's initiator
# (nvmf-test-host): namespaces appear and vanish, hosts are refused and
# allowed, ports listen and stop, invalid changes and files are refused
# with nothing changed, reload (RPC and SIGHUP) under I/O that must see no
# error, save-config round trip through a restart, the socket's group
# permission, and the errors without a daemon. The device setup helper
# (setup/release) is checked against a made-up sysfs
# (NVMF_BRIDGECTL_SYSROOT): IOMMU off, shared group, mounted, swap, held,
# idempotent, a process holding /dev/vfio/N.
#
# usage: ctl.sh DAEMON CTL INITIATOR LABEL
# Prints one line per test and "ctl[LABEL]: N passed, N failed".
set -uo pipefail
DAEMON=$(readlink -f "$1") CTL=$(readlink -f "$2") HOST=$(readlink -f "$3") LABEL=$4
W=$(mktemp -d /tmp/nvmfb-ctl.XXXXXX)
chmod 755 "$W"   # the socket's own mode is what the permission test checks
PORT=$((26000 + RANDOM % 1000)) PORT2=$((27000 + RANDOM % 1000)) PORT3=$((28000 + RANDOM % 1000))
DPORT=$((29000 + RANDOM % 1000))
SOCK=$W/rpc.sock
CONF=$W/config.json
OPEN=nqn.2024-01.io.nvmf-bridge:ctl-open
RESTR=nqn.2024-01.io.nvmf-bridge:ctl-restricted
GOOD_HOST=nqn.2014-08.org.nvmexpress:uuid:6b1e6a52-0f5c-4c1e-9b7e-1c0ffee00011
OTHER_HOST=nqn.2014-08.org.nvmexpress:uuid:6b1e6a52-0f5c-4c1e-9b7e-1c0ffee00012
pass=0 fail=0 DPID= IOPID=
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=99 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

cleanup() {
	[ -n "$IOPID" ] && kill -KILL "$IOPID" 2>/dev/null
	[ -n "$DPID" ] && kill -KILL "$DPID" 2>/dev/null
	[ -n "${FAKEPID:-}" ] && kill -KILL "$FAKEPID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT

ok() { pass=$((pass + 1)); echo "ok   [ctl/$LABEL] $1"; }
bad() { fail=$((fail + 1)); echo "FAIL [ctl/$LABEL] $1"; shift; for f in "$@"; do [ -f "$f" ] && sed 's/^/    /' "$f" | tail -n 20; done; }
h() { local cmd=$1; shift; timeout 60 "$HOST" "$cmd" -a 127.0.0.1 -s "$PORT" -t 5000 "$@"; }
# c NAME ARGS...: nvmf-bridgectl on our socket; stdout in $W/NAME.out,
# stderr in $W/NAME.err, exit status in RC
RC=0
c() { local n=$1; shift; RC=0; timeout 30 "$CTL" --socket "$SOCK" "$@" > "$W/$n.out" 2> "$W/$n.err" || RC=$?; }
one_line() { [ "$(grep -c . "$1")" = 1 ]; }
first() { head -n 1 "$1" | cut -c1-170; }
listening() { grep -qi ":$(printf '%04X' "$1") 00000000:0000 0A" /proc/net/tcp; }
# the list as JSON without what changes by itself (controllers come and go)
norm_list() {
	"$CTL" --socket "$SOCK" --json list | python3 -c '
import json, sys
l = json.load(sys.stdin)
for s in l.get("subsystems", []):
    s.pop("controllers", None)
print(json.dumps(l, sort_keys=True, indent=1))'
}
json_get() {   # json_get FILE PYTHON-EXPR (on variable r)
	python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print($2)" "$1" 2>/dev/null
}

write_config() {   # write_config [EXTRA_OPEN_NS_JSON] [EXTRA_PORT_JSON]
	local group=
	[ -n "$RPC_GROUP" ] && group=", \"rpc_group\": \"$RPC_GROUP\", \"rpc_namespace_dirs\": [ \"$W/exports\" ], \"rpc_save_dir\": \"$W/saves\""
	cat > "$CONF.tmp" <<EOC
{
  "bridge": { "discovery_port": $DPORT, "reactors": 2, "rpc_socket": "$SOCK"$group },
  "ports": [ { "portid": 1,
               "addr": { "trtype": "tcp", "adrfam": "ipv4", "traddr": "127.0.0.1", "trsvcid": "$PORT" },
               "subsystems": [ "$OPEN", "$RESTR" ] }${2:+, $2} ],
  "subsystems": [
    { "nqn": "$OPEN",
      "attr": { "allow_any_host": "1", "serial": "CTLTEST0001" },
      "namespaces": [ { "nsid": 1, "device": { "mem": "64MiB" } },
                      { "nsid": 2, "device": { "mem": "32MiB" } }${1:+, $1} ] },
    { "nqn": "$RESTR",
      "attr": { "allow_any_host": "0", "serial": "CTLTEST0002" },
      "allowed_hosts": [ "$GOOD_HOST" ],
      "namespaces": [ { "nsid": 1, "device": { "mem": "16MiB", "block_size": 4096 } } ] }
  ]
}
EOC
	mv "$CONF.tmp" "$CONF"
}

# the permission test needs root (to become another user), setpriv and a
# group for the socket
RPC_GROUP=
if [ "$(id -u)" = 0 ] && command -v setpriv > /dev/null && getent group nogroup > /dev/null &&
   getent passwd nobody > /dev/null; then
	RPC_GROUP=nogroup
fi
# What runs as nobody runs from $W (mode 755): the checkout may lie under a
# 0700 directory (root cloning into /root) that nobody cannot enter.
NCTL=$W/bin/nvmf-bridgectl
mkdir -p "$W/bin" "$W/exports" "$W/saves"
cp "$CTL" "$NCTL"
chmod 755 "$W/bin" "$NCTL" "$W/exports" "$W/saves"
# as a member of the socket's group, not root
nc_group() { local n=$1; shift; RC=0; timeout 30 setpriv --reuid=nobody --regid=nogroup --clear-groups "$NCTL" --socket "$SOCK" "$@" > "$W/$n.out" 2> "$W/$n.err" || RC=$?; }

# --- the systemd unit and make install ------------------------------------------------
# Installed under a temporary PREFIX (binaries from CTL's build tree), the
# unit must name the installed binaries and pass systemd-analyze verify
# (which also checks that the binaries exist and the man pages it names
# are found); with PREFIX=/usr and DESTDIR it must be the repository's unit
# unchanged, in /lib/systemd/system.
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BUILDDIR=$(cd "$(dirname "$CTL")" && pwd)
if make --no-print-directory -C "$REPO" BUILD="$BUILDDIR" PREFIX="$W/inst" SYSCONFDIR="$W/inst/etc" install \
	> "$W/install.out" 2>&1 &&
   make --no-print-directory -C "$REPO" BUILD="$BUILDDIR" PREFIX=/usr DESTDIR="$W/destdir" install \
	>> "$W/install.out" 2>&1; then
	why=
	for f in sbin/nvmf-bridged sbin/nvmf-bridgectl sbin/nvmf-pcie; do
		[ -x "$W/inst/$f" ] && [ -x "$W/destdir/usr/$f" ] || why="$why; $f missing"
	done
	for f in share/man/man8/nvmf-bridged.8 share/man/man8/nvmf-bridgectl.8 share/doc/nvmf-bridge/operations.md \
		 share/doc/nvmf-bridge/configuration.md share/doc/nvmf-bridge/rpc.md share/doc/nvmf-bridge/examples/example-pcie.json; do
		[ -f "$W/inst/$f" ] && [ -f "$W/destdir/usr/$f" ] || why="$why; $f missing"
	done
	UNIT=$W/inst/lib/systemd/system/nvmf-bridge.service
	grep -qx "ExecStart=$W/inst/sbin/nvmf-bridged --config $W/inst/etc/nvmf-bridge/config.json --systemd" "$UNIT" ||
		why="$why; the installed unit's ExecStart does not name $W/inst/sbin/nvmf-bridged"
	cmp -s "$REPO/systemd/nvmf-bridge.service" "$W/destdir/lib/systemd/system/nvmf-bridge.service" ||
		why="$why; PREFIX=/usr: the unit in DESTDIR/lib/systemd/system differs from systemd/nvmf-bridge.service"
	[ -d "$W/destdir/etc/nvmf-bridge" ] || why="$why; DESTDIR/etc/nvmf-bridge not created"
	if [ -z "$why" ]; then
		ok "make install: PREFIX=$W/inst and PREFIX=/usr DESTDIR=...: binaries, unit, man pages, docs, examples"
	else
		bad "make install: ${why#; }" "$W/install.out"
	fi
	if command -v systemd-analyze > /dev/null; then
		man_opt=
		command -v man > /dev/null || { man_opt=--man=no; echo "note [ctl/$LABEL] no man(1): the unit's man pages are not looked up"; }
		if MANPATH=$W/inst/share/man systemd-analyze verify $man_opt "$UNIT" > "$W/verify.out" 2>&1 && ! grep -q . "$W/verify.out"; then
			ok "systemd-analyze verify: the installed unit is clean (binaries and man pages found)"
		else
			bad "systemd-analyze verify" "$W/verify.out"
		fi
	else
		echo
		echo "################################################################"
		echo "#  SKIP [ctl/$LABEL]: systemd-analyze not found: the unit was NOT verified"
		echo "#  (Debian package systemd; tests/install-deps.sh installs it)"
		echo "################################################################"
	fi
else
	bad "make install" "$W/install.out"
fi

# --- without a daemon ------------------------------------------------------------
c nodaemon status
if [ $RC = 3 ] && one_line "$W/nodaemon.err" && grep -q "$SOCK" "$W/nodaemon.err" &&
   grep -qE 'not running|is running' "$W/nodaemon.err"; then
	ok "no daemon: exit 3, $(first "$W/nodaemon.err")"
else
	bad "no daemon (exit $RC)" "$W/nodaemon.err"
fi
c usage add-namespace "$OPEN"
if [ $RC = 2 ] && one_line "$W/usage.err"; then ok "usage error: exit 2, $(first "$W/usage.err")"; else bad "usage error (exit $RC)" "$W/usage.err"; fi
if "$CTL" --help > "$W/help.out" 2>&1 &&
   for cmd in status list stats add-namespace remove-namespace add-host remove-host add-port remove-port set-ana-state reset-controller reload save-config setup release; do
	grep -q "^  $cmd" "$W/help.out" || exit 1
   done; then
	ok "--help lists every command"
else
	bad "--help does not list every command" "$W/help.out"
fi
# a server that accepts and never answers: the client gives up on time
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(4)
c, _ = s.accept(); time.sleep(30)' "$W/silent.sock" &
FAKEPID=$!
for _ in $(seq 50); do [ -S "$W/silent.sock" ] && break; sleep 0.1; done
t0=$(date +%s%N)
RC=0; "$CTL" --socket "$W/silent.sock" --timeout 1 status > /dev/null 2> "$W/silent.err" || RC=$?
ms=$((($(date +%s%N) - t0) / 1000000))
kill "$FAKEPID" 2>/dev/null; wait "$FAKEPID" 2>/dev/null; FAKEPID=
if [ $RC = 3 ] && [ $ms -lt 3000 ] && one_line "$W/silent.err" && grep -q 'no answer' "$W/silent.err"; then
	ok "silent server: exit 3 after $ms ms, $(first "$W/silent.err")"
else
	bad "silent server (exit $RC after $ms ms)" "$W/silent.err"
fi

# --- the daemon --------------------------------------------------------------------
start_daemon() {   # start_daemon CONFIG LOG
	"$DAEMON" --config "$1" > "$2" 2>&1 &
	DPID=$!
	for _ in $(seq 100); do [ -S "$SOCK" ] && listening "$PORT" && break; sleep 0.1; done
	[ -S "$SOCK" ] && listening "$PORT"
}
stop_daemon() {
	local rc=0
	kill -TERM "$DPID" 2>/dev/null
	wait "$DPID" || rc=$?
	DPID=
	return $rc
}
write_config
if start_daemon "$CONF" "$W/daemon.log"; then
	ok "daemon up, control socket $SOCK"
else
	bad "daemon did not come up (socket or listener missing)" "$W/daemon.log"
	echo "ctl[$LABEL]: $pass passed, $fail failed"
	exit 1
fi

c status status
if [ $RC = 0 ] && grep -q "pid $DPID" "$W/status.out" && grep -qE '^subsystems: +2$' "$W/status.out" &&
   grep -qE '^namespaces: +3$' "$W/status.out" && grep -qE '^ports: +2$' "$W/status.out"; then
	ok "status: $(head -n 1 "$W/status.out"), 2 subsystems, 3 namespaces, 2 ports (1 + the discovery listener)"
else
	bad "status (exit $RC)" "$W/status.out" "$W/status.err"
fi
c status_json --json status
if [ $RC = 0 ] && [ "$(json_get "$W/status_json.out" 'r["pid"], r["subsystems"], r["namespaces"], r["ports"], r["reactors"]')" = "$DPID 2 3 2 2" ]; then
	ok "status --json: pid, 2 subsystems, 3 namespaces, 2 ports, 2 reactors"
else
	bad "status --json (exit $RC)" "$W/status_json.out" "$W/status_json.err"
fi

# some I/O for list and stats to show
h selftest -n "$OPEN" --nsid 1 > "$W/io1.out" 2>&1 || bad "selftest before stats" "$W/io1.out"
c list list
if [ $RC = 0 ] && grep -qE "^  1 +tcp ipv4 +127\.0\.0\.1:$PORT +yes +$OPEN $RESTR\$" "$W/list.out" &&
   grep -qE "^  0 +tcp ipv4 +127\.0\.0\.1:$DPORT +yes +\(discovery only\)\$" "$W/list.out" &&
   grep -q "^subsystem $OPEN\$" "$W/list.out" && grep -q "^subsystem $RESTR\$" "$W/list.out" &&
   grep -qE '^  1 +mem +mem=64MiB +64\.0 MiB +131072 +512$' "$W/list.out" &&
   grep -qE '^  1 +mem +mem=16MiB +16\.0 MiB +4096 +4096$' "$W/list.out" &&
   grep -q "hosts: $GOOD_HOST" "$W/list.out" && grep -q 'hosts: any host' "$W/list.out"; then
	ok "list: port table (with the discovery listener), both subsystems, namespace tables, allowed hosts"
else
	bad "list (exit $RC)" "$W/list.out" "$W/list.err"
fi
c stats stats
c stats_json --json stats
n1=$(json_get "$W/stats_json.out" '[(n["reads"], n["writes"]) for n in r["namespaces"] if n["subsystem"] == "'"$OPEN"'" and n["nsid"] == 1][0]')
if [ $RC = 0 ] && grep -qE "^  $OPEN +1 +[1-9][0-9]* +[1-9][0-9]* " "$W/stats.out" && grep -q 'P99_US' "$W/stats.out" &&
   [ -n "$n1" ] && [ "$n1" != "(0, 0)" ]; then
	ok "stats: namespace 1 of $OPEN has (reads, writes) $n1, latency columns"
else
	bad "stats (exit $RC, ns 1: '$n1')" "$W/stats.out" "$W/stats_json.out" "$W/stats.err"
fi
# each reactor's busy and idle time: both reactors went idle, the I/O above
# made some of them busy
rs=$(json_get "$W/stats_json.out" '(len(r["reactors"]), all(x["idle_ns"] > 0 for x in r["reactors"]), sum(x["busy_ns"] for x in r["reactors"]) > 0)')
if [ "$rs" = "(2, True, True)" ] && grep -q '^reactors: 2' "$W/stats.out" && grep -q 'BUSY_%' "$W/stats.out"; then
	ok "stats: reactors table, both reactors with idle time, busy time after I/O"
else
	bad "stats reactors: '$rs'" "$W/stats.out" "$W/stats_json.out"
fi

# --- add-namespace / remove-namespace ---------------------------------------------------
c addns add-namespace "$OPEN" --device mem=8MiB --block-size 4096 --uuid 0f0e0d0c-0b0a-4908-8706-050403020100
h identify -n "$OPEN" > "$W/id_add.out" 2>&1
if [ $RC = 0 ] && grep -q "added namespace 3 to $OPEN" "$W/addns.out" && grep -q '^  ns 3: 2048 blocks x 4096 bytes' "$W/id_add.out"; then
	ok "add-namespace: $(cat "$W/addns.out"); identify shows ns 3: 2048 x 4096"
else
	bad "add-namespace (exit $RC)" "$W/addns.out" "$W/addns.err" "$W/id_add.out"
fi
c rmns remove-namespace "$OPEN" 3
h identify -n "$OPEN" > "$W/id_rm.out" 2>&1
if [ $RC = 0 ] && grep -q "removed namespace 3" "$W/rmns.out" && ! grep -q '^  ns 3:' "$W/id_rm.out" && grep -q '^  ns 2:' "$W/id_rm.out"; then
	ok "remove-namespace: identify no longer shows ns 3"
else
	bad "remove-namespace (exit $RC)" "$W/rmns.out" "$W/rmns.err" "$W/id_rm.out"
fi
truncate -s 4M "$W/ns.img"
# a relative path is sent absolute (from where nvmf-bridgectl runs)
(cd "$W" && timeout 30 "$CTL" --socket "$SOCK" add-namespace "$OPEN" --device path=ns.img --nsid 9 > "$W/rel.out" 2> "$W/rel.err") && RC=0 || RC=$?
dev9=$(norm_list | python3 -c 'import json,sys; l=json.load(sys.stdin); print([n["device"].get("path") for s in l["subsystems"] for n in s["namespaces"] if n["nsid"] == 9])')
c rmns9 remove-namespace "$OPEN" 9
if [ $RC = 0 ] && [ "$dev9" = "['$W/ns.img']" ]; then
	ok "add-namespace --device path=ns.img (relative) exported $W/ns.img"
else
	bad "add-namespace relative path (exit $RC, device $dev9)" "$W/rel.out" "$W/rel.err"
fi

# --- add-host / remove-host -------------------------------------------------------------
refused() { ! h selftest -n "$RESTR" --hostnqn "$OTHER_HOST" > "$W/$1.out" 2>&1; }
if refused host0; then
	c addhost add-host "$RESTR" "$OTHER_HOST"
	if [ $RC = 0 ] && h selftest -n "$RESTR" --hostnqn "$OTHER_HOST" > "$W/host1.out" 2>&1; then
		ok "add-host: $OTHER_HOST refused before, connects after: $(tail -n 1 "$W/host1.out")"
	else
		bad "add-host (exit $RC)" "$W/addhost.out" "$W/addhost.err" "$W/host1.out"
	fi
	c rmhost remove-host "$RESTR" "$OTHER_HOST"
	if [ $RC = 0 ] && refused host2; then
		ok "remove-host: $OTHER_HOST refused again ($(grep -iE 'invalid host|refused|0x184' "$W/host2.out" | head -n 1 | cut -c1-80))"
	else
		bad "remove-host (exit $RC)" "$W/rmhost.out" "$W/rmhost.err" "$W/host2.out"
	fi
else
	bad "add-host: $OTHER_HOST was not refused to begin with" "$W/host0.out"
fi

# --- add-port / remove-port ---------------------------------------------------------------
c addport add-port --portid 2 --traddr 127.0.0.1 --trsvcid "$PORT2" --subsystem "$OPEN"
if [ $RC = 0 ] && listening "$PORT2" && grep -q "added port 2 (tcp 127.0.0.1:$PORT2)" "$W/addport.out" &&
   timeout 60 "$HOST" selftest -a 127.0.0.1 -s "$PORT2" -n "$OPEN" --nsid 2 > "$W/port2.out" 2>&1; then
	ok "add-port: listening on $PORT2, I/O through it: $(tail -n 1 "$W/port2.out")"
else
	bad "add-port (exit $RC)" "$W/addport.out" "$W/addport.err" "$W/port2.out"
fi
c rmport remove-port 2
sleep 0.2
if [ $RC = 0 ] && ! listening "$PORT2" && listening "$PORT"; then
	ok "remove-port: $PORT2 closed, $PORT still listening"
else
	bad "remove-port (exit $RC)" "$W/rmport.out" "$W/rmport.err"
fi

# --- reset-controller: refused without such a controller (the VM test resets a real one) ------
c rst_bad reset-controller not-a-bdf
RC_BAD=$RC
c rst_none reset-controller 0000:00:1f.7
if [ $RC = 1 ] && one_line "$W/rst_none.err" && grep -q 'no PCIe controller 0000:00:1f.7 in use' "$W/rst_none.err" &&
   [ "$RC_BAD" = 2 ] && grep -q 'not a PCI address' "$W/rst_bad.err" &&
   c rst_status --json status && [ $RC = 0 ] && json_get "$W/rst_status.out" 'r["pcie"] == [] and r["pcie_controllers"] == 0' | grep -qx True; then
	ok "reset-controller: a controller the daemon does not drive is refused ($(first "$W/rst_none.err")), a bad address is a usage error; status lists no PCIe controller"
else
	bad "reset-controller refusals (exit $RC, bad address exit $RC_BAD)" "$W/rst_none.err" "$W/rst_bad.err" "$W/rst_status.out"
fi

# --- set-ana-state: the port's group state, live, and the per-port counters ---------------------
c ana_off set-ana-state 1 1 inaccessible
if [ $RC = 0 ] && grep -q "port 1: ANA group 1 is inaccessible" "$W/ana_off.out" &&
   ! h selftest -n "$OPEN" --nsid 2 > "$W/ana_io_off.out" 2>&1 &&
   c ana_stats_off --json stats && [ $RC = 0 ] &&
   json_get "$W/ana_stats_off.out" '[p for p in r["ports"] if p["portid"] == 1][0]["ana_refused"] > 0 and [p for p in r["ports"] if p["portid"] == 1][0]["ana_groups"] == {"1": "inaccessible"}' | grep -qx True; then
	ok "set-ana-state inaccessible: I/O on port 1 refused ($(grep . "$W/ana_io_off.out" | tail -n 1 | cut -c1-110)), counted in stats"
else
	bad "set-ana-state inaccessible (exit $RC)" "$W/ana_off.out" "$W/ana_off.err" "$W/ana_io_off.out" "$W/ana_stats_off.out"
fi
c ana_on set-ana-state 1 1 optimized
if [ $RC = 0 ] && h selftest -n "$OPEN" --nsid 2 > "$W/ana_io_on.out" 2>&1; then
	ok "set-ana-state optimized: I/O on port 1 again: $(tail -n 1 "$W/ana_io_on.out")"
else
	bad "set-ana-state optimized (exit $RC)" "$W/ana_on.out" "$W/ana_on.err" "$W/ana_io_on.out"
fi
c ana_bad_state set-ana-state 1 1 standby
if [ $RC = 2 ] && one_line "$W/ana_bad_state.err"; then ok "set-ana-state with an unknown state: exit 2, $(first "$W/ana_bad_state.err")"; else bad "set-ana-state standby (exit $RC)" "$W/ana_bad_state.err"; fi

# --- invalid changes: refused with one line, nothing changed --------------------------------
norm_list > "$W/before.json"
invalid() {   # invalid NAME ARGS...
	local n=$1; shift
	c "$n" "$@"
	norm_list > "$W/after_$n.json"
	if [ $RC = 1 ] && one_line "$W/$n.err" && cmp -s "$W/before.json" "$W/after_$n.json"; then
		ok "refused $n: $(first "$W/$n.err")"
	else
		bad "invalid $n (exit $RC, or the state changed)" "$W/$n.out" "$W/$n.err"
		diff "$W/before.json" "$W/after_$n.json" | head -n 10
	fi
}
invalid ns_dup_nsid add-namespace "$OPEN" --device mem=8MiB --nsid 1
invalid ns_bad_size add-namespace "$OPEN" --device mem=8MB
invalid ns_no_subsystem add-namespace nqn.2024-01.io.nvmf-bridge:nosuch --device mem=8MiB
invalid rm_no_ns remove-namespace "$OPEN" 77
invalid port_dup_addr add-port --portid 5 --traddr 127.0.0.1 --trsvcid "$PORT" --subsystem "$OPEN"
invalid port_no_subsystem add-port --portid 5 --traddr 127.0.0.1 --trsvcid "$PORT2" --subsystem nqn.2024-01.io.nvmf-bridge:nosuch
invalid host_bad_nqn add-host "$RESTR" not-an-nqn
invalid ana_no_port set-ana-state 9 1 inaccessible

# --- reload: file edited, invalid file -----------------------------------------------------
write_config '{ "nsid": 4, "device": { "mem": "8MiB" } }'
c reload reload
if [ $RC = 0 ] && grep -q 'namespace 4' "$W/reload.out" && h identify -n "$OPEN" > "$W/id_reload.out" 2>&1 &&
   grep -q '^  ns 4:' "$W/id_reload.out"; then
	ok "reload after editing the file: $(tr '\n' ' ' < "$W/reload.out" | cut -c1-150)"
else
	bad "reload (exit $RC)" "$W/reload.out" "$W/reload.err" "$W/id_reload.out"
fi
norm_list > "$W/before_bad.json"
cp "$CONF" "$W/good.json"
sed -i 's/"nsid": 4/"nsid": 4,,/' "$CONF"
c reload_bad reload
norm_list > "$W/after_bad.json"
if [ $RC = 1 ] && one_line "$W/reload_bad.err" && grep -q "$CONF: line" "$W/reload_bad.err" &&
   cmp -s "$W/before_bad.json" "$W/after_bad.json"; then
	ok "reload of an invalid file refused, state unchanged: $(first "$W/reload_bad.err")"
else
	bad "reload of an invalid file (exit $RC)" "$W/reload_bad.out" "$W/reload_bad.err"
fi
cp "$W/good.json" "$CONF"
sed -i 's/"nsid": 4, "device": { "mem": "8MiB" }/"nsid": 4, "device": { "mem": "8MiB" } }, { "nsid": 1, "device": { "mem": "8MiB" }/' "$CONF"
c reload_dup reload
norm_list > "$W/after_dup.json"
if [ $RC = 1 ] && one_line "$W/reload_dup.err" && grep -q 'duplicate NSID' "$W/reload_dup.err" &&
   cmp -s "$W/before_bad.json" "$W/after_dup.json"; then
	ok "reload of a file with a duplicate NSID refused, state unchanged: $(first "$W/reload_dup.err" | cut -c1-120)"
else
	bad "reload of an invalid configuration (exit $RC)" "$W/reload_dup.out" "$W/reload_dup.err"
fi
write_config
c reload_back reload
c reload_same reload
if [ $RC = 0 ] && grep -qx 'reloaded: no changes' "$W/reload_same.out"; then
	ok "reload of an unchanged file: no changes"
else
	bad "reload of an unchanged file (exit $RC)" "$W/reload_same.out" "$W/reload_same.err"
fi

# --- reload under I/O: a namespace and a port come and go while namespace 1 works -----------
# about 6 s of I/O: time 5 rounds first
t0=$(date +%s%N)
h selftest -n "$OPEN" --nsid 1 --rounds 5 > /dev/null 2>&1
ms=$((($(date +%s%N) - t0) / 1000000 + 1))
ROUNDS=$((6000 * 5 / ms + 5))
h selftest -n "$OPEN" --nsid 1 --rounds "$ROUNDS" -Q 8 --hostnqn "$GOOD_HOST" > "$W/underio.out" 2>&1 &
IOPID=$!
sleep 0.3
why=
# list and stats show the connected host, its address and its queues
c list_io list
c stats_io stats
nq=$(grep -cE "^  $OPEN +[0-9]+ +[0-9]+ +$GOOD_HOST +[0-9]+ +[0-9]+ " "$W/stats_io.out")
if grep -qE "^  [0-9]+ +$GOOD_HOST +127\.0\.0\.1:[0-9]+ +10000 ms +3 +[0-9]+ +0\$" "$W/list_io.out" && [ "$nq" = 3 ]; then
	ok "list and stats under I/O: controller of $GOOD_HOST from 127.0.0.1, 3 queues"
else
	bad "list/stats under I/O ($nq queue rows)" "$W/list_io.out" "$W/stats_io.out"
fi
PORT3_JSON='{ "portid": 3, "addr": { "trtype": "tcp", "adrfam": "ipv4", "traddr": "127.0.0.1", "trsvcid": "'$PORT3'" }, "subsystems": [ "'$OPEN'" ] }'
for i in 1 2 3; do
	write_config '{ "nsid": 5, "device": { "mem": "4MiB" } }' "$PORT3_JSON"
	c io_reload_add reload
	[ $RC = 0 ] || why="$why; reload (add) exit $RC: $(first "$W/io_reload_add.err")"
	listening "$PORT3" || why="$why; port $PORT3 not listening after the reload that added it"
	h identify -n "$OPEN" > "$W/io_id.out" 2>&1
	grep -q '^  ns 5:' "$W/io_id.out" || why="$why; ns 5 not visible after the reload that added it"
	write_config
	if [ $i = 2 ]; then
		# the unit's ExecReload: SIGHUP
		kill -HUP "$DPID"
		for _ in $(seq 50); do listening "$PORT3" || break; sleep 0.1; done
	else
		c io_reload_rm reload
		[ $RC = 0 ] || why="$why; reload (remove) exit $RC: $(first "$W/io_reload_rm.err")"
	fi
	sleep 0.2
	! listening "$PORT3" || why="$why; port $PORT3 still listening after the reload that removed it (round $i)"
	h identify -n "$OPEN" > "$W/io_id2.out" 2>&1
	! grep -q '^  ns 5:' "$W/io_id2.out" || why="$why; ns 5 still visible after the reload that removed it (round $i)"
done
kill -0 "$IOPID" 2>/dev/null || why="$why; the I/O ended before the reloads did (raise the rounds)"
rc=0; wait "$IOPID" || rc=$?
IOPID=
if [ $rc = 0 ] && grep -q ' 0 mismatches' "$W/underio.out" && [ -z "$why" ]; then
	ok "3 reloads (RPC, SIGHUP, RPC) adding and removing ns 5 and port $PORT3 during I/O on ns 1: $(tail -n 1 "$W/underio.out")"
else
	bad "reload under I/O (I/O exit $rc${why})" "$W/underio.out" "$W/daemon.log"
fi

# --- save-config, restart with the saved file ------------------------------------------------
c addns_save add-namespace "$OPEN" --device mem=4MiB --nsid 6
c addhost_save add-host "$RESTR" "$OTHER_HOST"
c save save-config "$W/saved.json"
norm_list > "$W/list_before_restart.json"
mode=$(stat -c %a "$W/saved.json" 2>/dev/null)
if [ $RC = 0 ] && grep -q "saved the running configuration to $W/saved.json" "$W/save.out" && [ "$mode" = 600 ] &&
   "$DAEMON" --config "$W/saved.json" --check > "$W/save_check.out" 2>&1; then
	ok "save-config: $W/saved.json, mode $mode, valid"
else
	bad "save-config (exit $RC, mode $mode)" "$W/save.out" "$W/save.err" "$W/save_check.out"
fi
if stop_daemon; then ok "SIGTERM: exit 0"; else bad "SIGTERM: exit not 0" "$W/daemon.log"; fi
c stopped status
if [ $RC = 3 ] && one_line "$W/stopped.err" && grep -qE 'not running|is running' "$W/stopped.err"; then
	ok "daemon stopped: exit 3, $(first "$W/stopped.err")"
else
	bad "daemon stopped (exit $RC)" "$W/stopped.err"
fi
if start_daemon "$W/saved.json" "$W/daemon2.log"; then
	norm_list > "$W/list_after_restart.json"
	if cmp -s "$W/list_before_restart.json" "$W/list_after_restart.json" && grep -q '"nsid": 6' "$W/list_after_restart.json"; then
		ok "restart with the saved file: list --json identical (incl. ns 6 and the added host)"
	else
		bad "restart with the saved file: list differs"
		diff "$W/list_before_restart.json" "$W/list_after_restart.json" | head -n 20
	fi
	c save_default save-config
	if [ $RC = 0 ] && grep -q "to $W/saved.json" "$W/save_default.out" && "$DAEMON" --config "$W/saved.json" --check > /dev/null 2>&1; then
		ok "save-config without a path: back to the file the daemon was started with"
	else
		bad "save-config without a path (exit $RC)" "$W/save_default.out" "$W/save_default.err"
	fi
else
	bad "restart with the saved file" "$W/daemon2.log"
fi

# --- the socket's permissions ---------------------------------------------------------------
if [ -n "$RPC_GROUP" ] && [ -n "$DPID" ]; then
	perm=$(stat -c '%a %G' "$SOCK")
	RC=0; setpriv --reuid=nobody --regid=nogroup --clear-groups "$NCTL" --socket "$SOCK" status > "$W/perm_ok.out" 2> "$W/perm_ok.err" || RC=$?
	if [ "$perm" = "660 nogroup" ] && [ $RC = 0 ]; then
		ok "socket $perm: a member of bridge.rpc_group ($RPC_GROUP) may use it"
	else
		bad "socket group access (socket $perm, exit $RC)" "$W/perm_ok.err"
	fi
	RC=0; setpriv --reuid=nobody --regid=12345 --clear-groups "$NCTL" --socket "$SOCK" status > /dev/null 2> "$W/perm_no.err" || RC=$?
	if [ $RC = 3 ] && one_line "$W/perm_no.err" && grep -q 'permission denied' "$W/perm_no.err"; then
		ok "a user outside the group: exit 3, $(first "$W/perm_no.err" | cut -c1-120)"
	else
		bad "a user outside the group (exit $RC)" "$W/perm_no.err"
	fi
	# least privilege: the daemon (root) must not read or write for a
	# group member what root alone may
	secret=$W/root-only.img
	truncate -s 1M "$secret"; chmod 600 "$secret"
	nc_group priv_path add-namespace "$OPEN" --device "path=$secret"
	if [ $RC = 1 ] && grep -q 'not under bridge.rpc_namespace_dirs: only root may export it' "$W/priv_path.err" &&
	   ! "$CTL" --socket "$SOCK" --json list | grep -q "$secret"; then
		ok "group member: a root-only file refused: $(first "$W/priv_path.err" | cut -c1-120)"
	else
		bad "group member exported a root-only file (exit $RC)" "$W/priv_path.out" "$W/priv_path.err"
	fi
	ln -sf "$secret" "$W/exports/link.img"
	nc_group priv_link add-namespace "$OPEN" --device "path=$W/exports/link.img"
	if [ $RC = 1 ] && grep -q 'not under bridge.rpc_namespace_dirs' "$W/priv_link.err"; then
		ok "group member: a symlink in rpc_namespace_dirs to a root-only file refused"
	else
		bad "group member: symlink out of rpc_namespace_dirs (exit $RC)" "$W/priv_link.err"
	fi
	nc_group priv_pcie add-namespace "$OPEN" --device "pcie=0000:00:02.0"
	if [ $RC = 1 ] && grep -q 'only root may export a PCIe device' "$W/priv_pcie.err"; then
		ok "group member: a PCIe device refused"
	else
		bad "group member: PCIe device (exit $RC)" "$W/priv_pcie.err"
	fi
	truncate -s 4M "$W/exports/ok.img"
	nc_group priv_ok add-namespace "$OPEN" --device "path=$W/exports/ok.img" --nsid 9
	if [ $RC = 0 ] && h identify -n "$OPEN" > "$W/priv_ok_id.out" 2>&1 && grep -q '^  ns 9:' "$W/priv_ok_id.out"; then
		ok "group member: a file under rpc_namespace_dirs exported (ns 9)"
	else
		bad "group member: file under rpc_namespace_dirs (exit $RC)" "$W/priv_ok.err" "$W/priv_ok_id.out"
	fi
	c priv_ok_rm remove-namespace "$OPEN" 9
	nc_group priv_save save-config /etc/nvmfb-should-not-exist.json
	if [ $RC = 1 ] && [ ! -e /etc/nvmfb-should-not-exist.json ] && grep -q 'only root may save the configuration' "$W/priv_save.err"; then
		ok "group member: save-config outside rpc_save_dir refused"
	else
		bad "group member: save-config elsewhere (exit $RC)" "$W/priv_save.err"
		rm -f /etc/nvmfb-should-not-exist.json
	fi
	nc_group priv_save_ok save-config "$W/saves/by-group.json"
	if [ $RC = 0 ] && "$DAEMON" --config "$W/saves/by-group.json" --check > /dev/null 2>&1; then
		ok "group member: save-config into rpc_save_dir"
	else
		bad "group member: save-config into rpc_save_dir (exit $RC)" "$W/priv_save_ok.err"
	fi
else
	echo "skip [ctl/$LABEL] socket permissions (needs root, setpriv, user nobody and group nogroup)"
fi
if [ -n "$DPID" ]; then stop_daemon || bad "second SIGTERM: exit not 0" "$W/daemon2.log"; fi
if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$W/daemon.log" "$W/daemon2.log" 2>/dev/null; then
	bad "sanitizer report in the daemon log" "$W/daemon.log" "$W/daemon2.log"
fi

# --- setup / release against a made-up sysfs ----------------------------------------------------
BDF=0000:01:00.0
R=
fake_root() {   # a new tree: BDF, an NVMe controller on nvme, IOMMU group 7 of its own
	R=$W/root.$1
	rm -rf "$R"
	local d=$R/sys/bus/pci/devices/$BDF
	mkdir -p "$d/nvme/nvme0/nvme0c0n1" "$R/sys/bus/pci/drivers/nvme" "$R/sys/bus/pci/drivers/vfio-pci" \
		"$R/sys/kernel/iommu_groups/7/devices" "$R/sys/block/nvme0n1/nvme0n1p1" \
		"$R/sys/class/block/nvme0n1/holders" "$R/sys/class/block/nvme0n1p1/holders" "$R/proc/self" "$R/dev/vfio" \
		"$R/sys/module/nvme"
	echo 0x010802 > "$d/class"
	ln -s "$R/sys/bus/pci/drivers/nvme" "$d/driver"
	ln -s "$R/sys/kernel/iommu_groups/7" "$d/iommu_group"
	ln -s "$d" "$R/sys/kernel/iommu_groups/7/devices/$BDF"
	echo 259:0 > "$R/sys/block/nvme0n1/dev"
	echo 259:1 > "$R/sys/block/nvme0n1/nvme0n1p1/dev"
	echo 1 > "$R/sys/block/nvme0n1/nvme0n1p1/partition"
	echo '22 1 0:21 / /proc rw - proc proc rw' > "$R/proc/self/mountinfo"
	echo 'Filename				Type		Size		Used		Priority' > "$R/proc/swaps"
	echo 'BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro quiet' > "$R/proc/cmdline"
	printf 'processor\t: 0\nvendor_id\t: GenuineIntel\n' > "$R/proc/cpuinfo"
}
setup_case() {   # setup_case NAME WANT_RC REGEX [setup|release] ARGS...
	local n=$1 want=$2 re=$3 cmd=${4:-setup}; shift 4
	RC=0
	NVMF_BRIDGECTL_SYSROOT=$R timeout 30 "$CTL" "$cmd" "$@" > "$W/$n.out" 2> "$W/$n.err" || RC=$?
	if [ "$RC" = "$want" ] && grep -qE "$re" "$W/$n.err" "$W/$n.out"; then
		ok "$cmd $n: exit $RC, $(grep -hE "$re" "$W/$n.err" "$W/$n.out" | head -n 1 | cut -c1-160)"
	else
		bad "$cmd $n (exit $RC, want $want and /$re/)" "$W/$n.out" "$W/$n.err"
	fi
}
fake_root iommu_off
rm -rf "$R/sys/kernel/iommu_groups/7"
setup_case iommu_off 1 'IOMMU is off .*intel_iommu=on' setup $BDF
echo 'BOOT_IMAGE=/vmlinuz intel_iommu=off' > "$R/proc/cmdline"
setup_case iommu_cmdline_off 1 'turns it off \(intel_iommu=off' setup $BDF

fake_root shared
mkdir -p "$R/sys/bus/pci/devices/0000:01:00.1" "$R/sys/bus/pci/drivers/xhci_hcd"
ln -s "$R/sys/bus/pci/drivers/xhci_hcd" "$R/sys/bus/pci/devices/0000:01:00.1/driver"
ln -s "$R/sys/bus/pci/devices/0000:01:00.1" "$R/sys/kernel/iommu_groups/7/devices/0000:01:00.1"
setup_case shared_group 1 'IOMMU group 7 is shared with 0000:01:00.1, which is bound to xhci_hcd' setup $BDF

fake_root mounted
echo '98 1 259:1 / /mnt/data\040disk rw,relatime shared:50 - ext4 /dev/nvme0n1p1 rw' >> "$R/proc/self/mountinfo"
setup_case mounted 1 '/dev/nvme0n1p1 \(259:1\) is mounted on /mnt/data disk \(ext4\); unmount it first' setup 01:00.0
grep -q 'refused' "$W/mounted.err" || bad "mounted: no final 'refused' line" "$W/mounted.err"

fake_root btrfs
echo '99 1 0:55 / /srv rw - btrfs /dev/nvme0n1 rw' >> "$R/proc/self/mountinfo"
setup_case mounted_btrfs 1 '/dev/nvme0n1 .* is mounted on /srv \(btrfs\)' setup $BDF

fake_root swap
echo '/dev/nvme0n1p1                          partition	1048572		0		-2' >> "$R/proc/swaps"
setup_case swap 1 '/dev/nvme0n1p1 is used as swap; swapoff it first' setup $BDF

fake_root held
mkdir -p "$R/sys/class/block/nvme0n1p1/holders/dm-0" "$R/sys/class/block/dm-0/dm"
echo vg0-data > "$R/sys/class/block/dm-0/dm/name"
setup_case held 1 '/dev/nvme0n1p1 is held by dm-0 \(vg0-data\)' setup $BDF

fake_root not_nvme
echo 0x0c0330 > "$R/sys/bus/pci/devices/$BDF/class"
setup_case not_nvme 1 'not an NVMe controller \(PCI class 0x0c0330' setup $BDF
setup_case no_device 1 'no such PCI device' setup 0000:02:00.0

fake_root idempotent
rm "$R/sys/bus/pci/devices/$BDF/driver"
ln -s "$R/sys/bus/pci/drivers/vfio-pci" "$R/sys/bus/pci/devices/$BDF/driver"
mkdir -p "$R/sys/module/vfio_iommu_type1"
touch "$R/dev/vfio/7"
setup_case already_vfio 0 "$BDF: already bound to vfio-pci \(IOMMU group 7, /dev/vfio/7\)" setup $BDF
grep -qE 'memlock|RLIMIT_MEMLOCK' "$W/already_vfio.out" "$W/already_vfio.err" || bad "setup: no memlock report" "$W/already_vfio.out"
grep -qE 'hugepages' "$W/already_vfio.out" "$W/already_vfio.err" || bad "setup: no hugepages report" "$W/already_vfio.out"

# without CAP_IPC_LOCK and with a small RLIMIT_MEMLOCK: a warning naming the amount
if [ -n "$RPC_GROUP" ]; then
	RC=0
	bash -c 'ulimit -l 8192 && exec setpriv --reuid=nobody --regid=nogroup --clear-groups env NVMF_BRIDGECTL_SYSROOT="$1" "$2" setup "$3"' \
		sh "$R" "$NCTL" "$BDF" > "$W/memlock.out" 2> "$W/memlock.err" || RC=$?
	if [ $RC = 0 ] && grep -q 'warning: RLIMIT_MEMLOCK is 8192 KiB and this process lacks CAP_IPC_LOCK: nvmf-bridged pins about 128 MiB' "$W/memlock.err"; then
		ok "setup without CAP_IPC_LOCK, ulimit -l 8192: $(first "$W/memlock.err" | cut -c1-140)"
	else
		bad "setup memlock warning (exit $RC)" "$W/memlock.out" "$W/memlock.err"
	fi
fi

mkdir -p "$R/proc/4242/fd"
ln -s /dev/vfio/7 "$R/proc/4242/fd/9"
echo nvmf-bridged > "$R/proc/4242/comm"
setup_case release_busy 1 '/dev/vfio/7 is still open by pid 4242 \(nvmf-bridged\)' release $BDF

fake_root config
cat > "$W/setup_bad.json" <<'EOC'
{ "subsystems": [ { "nqn": "nqn.2024-01.io.x:a", "namespaces": [ { "nsid": 1, "device": { "pcie": "0000:01:00.0", "nsid": 0 } } ] } ] }
EOC
setup_case config_invalid 1 'setup_bad.json: subsystems\[0\].namespaces\[0\].device.nsid' setup --config "$W/setup_bad.json"
setup_case config_no_pcie 0 'no PCIe namespaces' setup --config "$W/config.json"
echo '98 1 259:0 / /mnt rw - xfs /dev/nvme0n1 rw' >> "$R/proc/self/mountinfo"
cat > "$W/setup_pcie.json" <<'EOC'
{ "subsystems": [ { "nqn": "nqn.2024-01.io.x:a", "namespaces": [ { "nsid": 1, "device": { "pcie": "01:00.0" } } ] } ] }
EOC
setup_case config_pcie 1 "setup $BDF: /dev/nvme0n1 \(259:0\) is mounted on /mnt" setup --config "$W/setup_pcie.json"

echo "ctl[$LABEL]: $pass passed, $fail failed"
[ $fail = 0 ]
