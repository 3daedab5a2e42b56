# Helpers shared by the guest scripts (busybox ash, POSIX sh). Sourced, not run.
# /init exports: BIN (the project's binaries, copied out of the share),
# RES (/share/results: files the host reads back), TESTS (comma list).
BIN=${BIN:-/opt/nvmfb/bin}
RES=${RES:-/tmp/results}
TESTS=${TESTS:-}
NVMF_PCIE=$BIN/nvmf-pcie
mkdir -p "$RES"

# Debian's busybox ash runs its own applets in preference to $PATH
# (FEATURE_SH_STANDALONE): busybox modprobe ignores softdeps and busybox ip
# lacks most of iproute2, so force the real tools.
modprobe() { /sbin/modprobe "$@"; }
lsmod() { /sbin/lsmod "$@"; }
rmmod() { /sbin/rmmod "$@"; }
ip() { /sbin/ip "$@"; }

now() { cut -d' ' -f1 /proc/uptime; }
log() { echo "[$(now)] $*"; }
# result NAME PASS|FAIL DETAILS...: the line run.sh collects
result() { _n=$1 _v=$2; shift 2; echo "RESULT $_n $_v $*"; }
since() { awk -v a="$(now)" -v b="$1" 'BEGIN { printf "%.1f", a - b }'; }

# wait_until SECS CMD [ARGS]: poll CMD every 0.1 s until it succeeds; bounded
wait_until() {
	_deadline=$(($1 * 10)); shift
	_i=0
	until "$@"; do
		_i=$((_i + 1))
		[ $_i -ge $_deadline ] && return 1
		sleep 0.1
	done
	return 0
}

# --- the NVMe controller -------------------------------------------------
BDF=
find_controller() {   # sets BDF to the first PCI device of class 0x010802 (NVMe)
	for _d in /sys/bus/pci/devices/*; do
		if [ "$(cat "$_d/class")" = 0x010802 ]; then BDF=${_d##*/}; return 0; fi
	done
	return 1
}
dev_dir() { echo "/sys/bus/pci/devices/$BDF"; }
driver_of() {   # prints the bound driver's name, nothing when unbound
	[ -e "$(dev_dir)/driver" ] && basename "$(readlink "$(dev_dir)/driver")"
	return 0
}
iommu_group() { basename "$(readlink "$(dev_dir)/iommu_group")" 2>/dev/null; }
is_bound_to() { [ "$(driver_of)" = "$1" ]; }
is_unbound() { [ ! -e "$(dev_dir)/driver" ]; }

# Our programs still running (e.g. after a timeout whose TERM was ignored):
# one of them holding the vfio device makes an unbind block forever, so they
# are killed before every rebind.
our_pids() {   # one ls instead of a readlink per process: forks are slow under TCG
	ls -l /proc/[0-9]*/exe 2>/dev/null |
		sed -n "s|.* /proc/\([0-9]*\)/exe -> $BIN/.*|\1|p"
}
no_leftovers() { [ -z "$(our_pids)" ]; }
kill_leftovers() {
	_pids=$(our_pids)
	[ -z "$_pids" ] && return 0
	log "killing leftover processes: $_pids"
	kill -TERM $_pids 2>/dev/null
	wait_until 3 no_leftovers && return 0
	kill -KILL $(our_pids) 2>/dev/null
	wait_until 5 no_leftovers
}

# unbind: detach the controller from its driver. The write to unbind runs in
# the background and is waited for with a bound: if it blocks (someone still
# holds the device) the test fails instead of hanging the VM.
# A stuck unbind leaves the device wedged for the rest of the boot: later
# tests then fail at once instead of each waiting out the bound again.
WEDGED=
unbind() {
	is_unbound && return 0
	if [ -n "$WEDGED" ]; then
		log "ERROR: $WEDGED"
		return 1
	fi
	kill_leftovers
	_drv=$(driver_of)
	( echo "$BDF" > "$(dev_dir)/driver/unbind" ) 2>/dev/null &
	if ! wait_until 30 is_unbound; then
		WEDGED="unbinding $BDF from $_drv did not finish in 30 s"
		log "ERROR: $WEDGED"
		return 1
	fi
	wait $! 2>/dev/null
	return 0
}

# bind_to DRIVER (nvme | vfio-pci): no-op when already bound to it; waits
# until the device is usable (/dev/vfio/<group>, or the kernel namespace).
KDEV=
bind_to() {
	case $1 in
	vfio-pci)
		# vfio_iommu_type1 is only a softdep of vfio: without it
		# VFIO_SET_IOMMU fails with ENODEV
		modprobe vfio-pci && modprobe vfio_iommu_type1 || return 1 ;;
	nvme)
		modprobe nvme || return 1 ;;
	esac
	if ! is_bound_to "$1"; then
		unbind || return 1
		echo "$1" > "$(dev_dir)/driver_override"
		echo "$BDF" > /sys/bus/pci/drivers_probe 2>/dev/null
		echo > "$(dev_dir)/driver_override"
		# nvme probes asynchronously: poll for the link
		if ! wait_until 20 is_bound_to "$1"; then
			log "ERROR: $BDF did not bind to $1 (driver now: $(driver_of))"
			return 1
		fi
	fi
	case $1 in
	vfio-pci)
		if ! wait_until 10 test -c "/dev/vfio/$(iommu_group)"; then
			log "ERROR: /dev/vfio/$(iommu_group) did not appear"
			return 1
		fi ;;
	nvme)
		if ! wait_until 30 kernel_ns_ready; then
			log "ERROR: the kernel nvme driver did not bring up namespace 1 of $BDF"
			return 1
		fi ;;
	esac
	return 0
}

# kernel_ns_ready: sets KDEV=/dev/nvmeXn1 once namespace 1 of our controller
# has a device node and a non-zero size
kernel_ns_ready() {
	KDEV=
	for _c in "$(dev_dir)"/nvme/nvme*; do
		for _n in "$_c"/nvme*n1; do
			[ -e "$_n" ] || continue
			_b=${_n##*/}
			# multipath: the per-path disk nvmeXcYnZ has no node; its head is nvmeXnZ
			case $_b in *c*n*) _b=$(echo "$_b" | sed 's/c[0-9]*n/n/');; esac
			if [ -b "/dev/$_b" ] && [ "$(cat "/sys/block/$_b/size" 2>/dev/null || echo 0)" -gt 0 ]; then
				KDEV=/dev/$_b
				return 0
			fi
		done
	done
	return 1
}

# hugepages N: set the number of 2 MiB hugepages; prints how many exist
hugepages() {
	echo "$1" > /proc/sys/vm/nr_hugepages
	awk '/^HugePages_Total:/ { print $2 }' /proc/meminfo
}
hugepages_free() { awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo; }

# --- running the project's binaries under a timeout -------------------------
# run_timed NAME BIN LINES LABEL SECS ARGS...: runs BIN ARGS under a
# timeout (a hang fails the test instead of blocking the VM), stdout to
# $RES/LABEL.out, stderr to $RES/LABEL.err, both echoed indented (the first
# LINES lines of stdout). NAME is how the log calls BIN. Sets RC and
# TIMED_OUT.
RC=0 TIMED_OUT=0
run_timed() {
	_rt_name=$1 _rt_bin=$2 _rt_lines=$3 _label=$4 _secs=$5; shift 5
	log "\$ $_rt_name $*"
	_t0=$(now)
	timeout -k 5 "$_secs" "$_rt_bin" "$@" > "$RES/$_label.out" 2> "$RES/$_label.err"
	RC=$?
	_el=$(since "$_t0")
	TIMED_OUT=$(awk -v e="$_el" -v s="$_secs" 'BEGIN { print (e >= s) ? 1 : 0 }')
	head -n "$_rt_lines" "$RES/$_label.out" | sed 's/^/    /'
	head -n 20 "$RES/$_label.err" | sed 's/^/    stderr: /'
	if [ "$TIMED_OUT" = 1 ]; then
		log "$_rt_name TIMED OUT after ${_el}s (limit ${_secs}s), exit $RC"
		kill_leftovers
	else
		log "$_rt_name exit $RC after ${_el}s"
	fi
}

# run_pcie LABEL SECS ARGS...: run_timed for nvmf-pcie.
run_pcie() {
	run_timed nvmf-pcie "$NVMF_PCIE" 60 "$@"
}
rc_text() { if [ "$TIMED_OUT" = 1 ]; then echo "timed out (exit $RC)"; else echo "exit $RC"; fi; }
# first line of LABEL's stderr, for result details
err_line() { head -n 1 "$RES/$1.err" 2>/dev/null | cut -c1-160; }
have_tool() { [ -x "$NVMF_PCIE" ]; }

# identify_geometry LABEL: from an identify output, sets NS_BLOCKS and BS for ns 1
NS_BLOCKS= BS=
identify_geometry() {
	set -- $(sed -n 's/^ *ns 1: *\([0-9][0-9]*\) blocks x \([0-9][0-9]*\) bytes.*/\1 \2/p' "$RES/$1.out" | head -n 1)
	NS_BLOCKS=${1:-} BS=${2:-}
	[ -n "$BS" ] && [ "$BS" -gt 0 ]
}

# has_line LABEL REGEX: grep an output (basic regex)
has_line() { grep -q "$2" "$RES/$1.out"; }

# verify_parse LABEL: sets V_CMDS, V_MISM, V_IRQ from a verify output;
# the summary must be the LAST line
V_CMDS= V_MISM= V_IRQ=
verify_parse() {
	_l=$1
	set -- $(tail -n 1 "$RES/$_l.out" | sed -n 's/^verify: \([0-9][0-9]*\) commands, \([0-9][0-9]*\) mismatches *$/\1 \2/p')
	V_CMDS=${1:-} V_MISM=${2:-}
	V_IRQ=$(sed -n 's/^verify: irq wakeups \([0-9][0-9]*\).*/\1/p' "$RES/$_l.out" | tail -n 1)
}

# --- nvmf-bridged and the kernel's NVMe/TCP initiator ---------------------
# (fabric.sh and demo.sh). The daemon runs in the background of the calling
# shell, so `wait` can collect its exit status.
BRIDGED=$BIN/nvmf-bridged
DPID=                  # the daemon's pid while start_bridged's instance lives
DLOG=$RES/bridged.log  # its stdout and stderr (--verbose)
TADDR=127.0.0.1        # where it listens; the initiator runs in the same guest
TPORT=4420
DISC_PORT=8009
T_NVME=30              # any single nvme-cli command

# host_identity: /etc/nvme/hostnqn and hostid, made once from a random UUID
# (QEMU's SMBIOS UUID is all zero: nvme gen-hostnqn would give every VM the
# same NQN); sets HOSTNQN and HOSTID
HOSTNQN= HOSTID=
host_identity() {
	if [ ! -s /etc/nvme/hostnqn ] || [ ! -s /etc/nvme/hostid ]; then
		_u=$(cat /proc/sys/kernel/random/uuid)
		mkdir -p /etc/nvme
		echo "nqn.2014-08.org.nvmexpress:uuid:$_u" > /etc/nvme/hostnqn
		echo "$_u" > /etc/nvme/hostid
	fi
	HOSTNQN=$(cat /etc/nvme/hostnqn) HOSTID=$(cat /etc/nvme/hostid)
}

# bridged_alive: the daemon we started is running (a zombie is not)
bridged_alive() {
	[ -n "$DPID" ] && [ -r "/proc/$DPID/stat" ] || return 1
	read -r _ _ _st _ < "/proc/$DPID/stat" 2>/dev/null || return 1
	[ "$_st" != Z ]
}
bridged_gone() { ! bridged_alive; }
log_tail() { tail -n "${1:-8}" "$DLOG" 2>/dev/null | tr '\n' '|' | cut -c1-600; }

# tcp_listening PORT: some socket listens on PORT (any address, v4 or v6)
tcp_listening() {
	_hex=$(printf '%04X' "$1")
	grep -q "^ *[0-9]*: [0-9A-F]*:$_hex [0-9A-F]*:0000 0A" /proc/net/tcp /proc/net/tcp6 2>/dev/null
}
# all the given ports listen, or the daemon died (either ends the wait)
listening_or_dead() {
	bridged_alive || return 0
	for _p; do tcp_listening "$_p" || return 1; done
	return 0
}

# start_bridged CONFIG PORT...: start nvmf-bridged --verbose in the
# background (log appended to $DLOG) and wait up to 60 s for its listeners.
# Sets DPID; on failure returns 1 with the reason in START_WHY.
START_WHY=
start_bridged() {
	_cfg=$1; shift
	START_WHY=
	modprobe nvme-tcp || { START_WHY="modprobe nvme-tcp failed"; return 1; }
	log "\$ nvmf-bridged --config $_cfg --verbose >> $DLOG 2>&1 &"
	echo "=== $(now) nvmf-bridged --config $_cfg --verbose" >> "$DLOG"
	"$BRIDGED" --config "$_cfg" --verbose >> "$DLOG" 2>&1 &
	DPID=$!
	_t0=$(now)
	if ! wait_until 60 listening_or_dead "$@"; then
		START_WHY="no listener on port(s) $* after 60 s; log: $(log_tail 5)"
		return 1
	fi
	if ! bridged_alive; then
		wait "$DPID" 2>/dev/null
		START_WHY="nvmf-bridged exited ($?) at start: $(log_tail 5)"
		DPID=
		return 1
	fi
	log "nvmf-bridged pid $DPID listening on $* after $(since "$_t0")s"
	return 0
}

# stop_bridged SECS: SIGTERM, wait up to SECS for the exit; sets STOP_RC
# (the exit status, or "timeout" after which it was killed) and STOP_SECS
STOP_RC= STOP_SECS=
stop_bridged() {
	STOP_RC= STOP_SECS=
	[ -n "$DPID" ] || { STOP_RC=none; return 1; }
	_t0=$(now)
	kill -TERM "$DPID" 2>/dev/null
	if wait_until "$1" bridged_gone; then
		wait "$DPID" 2>/dev/null
		STOP_RC=$?
	else
		STOP_RC=timeout
		kill -KILL "$DPID" 2>/dev/null
		wait "$DPID" 2>/dev/null
	fi
	STOP_SECS=$(since "$_t0")
	log "nvmf-bridged stopped: exit $STOP_RC after ${STOP_SECS}s"
	DPID=
	[ "$STOP_RC" = 0 ]
}

# nvme_cmd LABEL ARGS...: nvme-cli under a timeout; output (both streams)
# in $RES/LABEL.out; RC
nvme_cmd() {
	_l=$1; shift
	timeout -k 5 "$T_NVME" nvme "$@" > "$RES/$_l.out" 2>&1
	RC=$?
	return $RC
}
out_line() { grep -v '^$' "$RES/$1.out" 2>/dev/null | head -n 1 | cut -c1-200; }

# nvme_connect LABEL NQN [ARGS]: connect over TCP to $TADDR:$TPORT. A lost
# controller gives up after 20 s (ctrl-loss-tmo) instead of queueing I/O
# for ten minutes: a dead daemon fails the test instead of hanging it.
nvme_connect() {
	_l=$1 _nqn=$2; shift 2
	log "\$ nvme connect -t tcp -a $TADDR -s $TPORT -n $_nqn $*"
	nvme_cmd "$_l" connect -t tcp -a "$TADDR" -s "$TPORT" -n "$_nqn" --ctrl-loss-tmo=20 --reconnect-delay=2 "$@"
}

# ctrls_of NQN: the fabrics controllers (nvmeN) of subsystem NQN
ctrls_of() {
	for _c in /sys/class/nvme/nvme*; do
		[ -e "$_c/subsysnqn" ] || continue
		[ "$(cat "$_c/transport" 2>/dev/null)" = tcp ] || continue
		[ "$(cat "$_c/subsysnqn")" = "$1" ] && echo "${_c##*/}"
	done
	return 0
}
no_ctrl_of() { [ -z "$(ctrls_of "$1")" ]; }

# ns_dev NQN: sets DEV=/dev/nvmeXnY, the block device (the multipath head;
# the hidden per-path nvmeXcYnZ is skipped) of subsystem NQN, once it has a
# device node and a size
DEV=
ns_dev() {
	DEV=
	for _b in /sys/block/nvme*n*; do
		_n=${_b##*/}
		case $_n in nvme*c*n*) continue ;; esac
		[ "$(cat "$_b/device/subsysnqn" 2>/dev/null)" = "$1" ] || continue
		[ -b "/dev/$_n" ] && [ "$(cat "$_b/size" 2>/dev/null || echo 0)" -gt 0 ] || continue
		DEV=/dev/$_n
		return 0
	done
	return 1
}
no_ns_dev() { ! ns_dev "$1"; }
dev_sectors() { cat "/sys/block/${1##*/}/size"; }   # 512-byte sectors

# nvme_disconnect LABEL NQN: disconnect every controller of NQN and wait
# (bounded) until they and the block device are gone
nvme_disconnect() {
	nvme_cmd "$1" disconnect -n "$2"
	wait_until 20 no_ctrl_of "$2" && wait_until 10 no_ns_dev "$2"
}

# nvmet_port DIR ADDR PORT: the kernel target's port DIR, TCP on ADDR:PORT
# (IPv4), unless it is there already
nvmet_port() {
	[ -d "$1" ] && return 0
	mkdir "$1" &&
	echo tcp > "$1/addr_trtype" &&
	echo ipv4 > "$1/addr_adrfam" &&
	echo "$2" > "$1/addr_traddr" &&
	echo "$3" > "$1/addr_trsvcid"
}

# run_fio LABEL SECS ARGS...: fio with terse output (FIO_FORMAT=normal,terse
# for both) under a timeout, to $RES/LABEL.fio; sets
# FIO_RC, FIO_ERR (the job's error field), FIO_RIOPS, FIO_WIOPS, FIO_RBW,
# FIO_WBW (KiB/s), FIO_RKB, FIO_WKB (KiB moved), FIO_RLAT, FIO_WLAT (mean
# total latency, us), FIO_VERR (verify complaints on
# stderr) and FIO_WHY (empty when the run is clean)
run_fio() {
	_l=$1 _secs=$2; shift 2
	log "\$ fio $*"
	_t0=$(now)
	timeout -k 5 "$_secs" fio --output-format="${FIO_FORMAT:-terse}" --terse-version=3 --group_reporting "$@" \
		> "$RES/$_l.fio" 2> "$RES/$_l.fio.err"
	FIO_RC=$?
	_line=$(grep '^3;' "$RES/$_l.fio" | tail -n 1)
	# terse v3: 5 error, 6 read KiB, 7 read KiB/s, 8 read IOPS, 40 read lat
	# mean (us), 47 write KiB, 48 write KiB/s, 49 write IOPS, 81 write lat mean
	set -- $(echo "$_line" | awk -F';' 'NF > 80 { printf "%s %s %s %s %s %s %s %s %s", $5, $8, $49, $40, $81, $7, $48, $6, $47 }')
	FIO_ERR=${1:-?} FIO_RIOPS=${2:-?} FIO_WIOPS=${3:-?} FIO_RBW=${6:-0} FIO_WBW=${7:-0}
	FIO_RKB=${8:-0} FIO_WKB=${9:-0}
	FIO_RLAT=$(printf '%.0f' "${4:-0}" 2>/dev/null) FIO_WLAT=$(printf '%.0f' "${5:-0}" 2>/dev/null)
	FIO_VERR=$(grep -v 'multiple writers' "$RES/$_l.fio.err" | grep -i -c 'verify\|bad magic\|crc32c\|checksum')
	FIO_WHY=
	[ "$FIO_RC" = 0 ] || FIO_WHY="fio exit $FIO_RC"
	[ "$FIO_ERR" = 0 ] || FIO_WHY="$FIO_WHY; err=$FIO_ERR"
	[ "$FIO_VERR" = 0 ] || FIO_WHY="$FIO_WHY; $FIO_VERR verify error line(s): $(grep -i -m1 'verify\|bad magic\|crc32c\|checksum' "$RES/$_l.fio.err" | cut -c1-160)"
	# the jobs here all verify: everything written must have been read back
	# (a write job's reads are its verification pass), and a verify_only
	# job must have read something
	[ -z "$_line" ] && FIO_WHY="$FIO_WHY; no terse result line"
	if [ -n "$_line" ] && { [ "$FIO_RKB" -lt "$FIO_WKB" ] || [ "$FIO_RKB" = 0 ]; }; then
		FIO_WHY="$FIO_WHY; read only $FIO_RKB KiB for $FIO_WKB KiB written: no full verification pass"
	fi
	[ -n "$FIO_WHY" ] && [ -s "$RES/$_l.fio.err" ] &&
		FIO_WHY="$FIO_WHY; stderr: $(grep -v 'multiple writers' "$RES/$_l.fio.err" | head -n 2 | tr '\n' '|' | cut -c1-200)"
	FIO_WHY=${FIO_WHY#; }
	log "fio $_l: exit $FIO_RC err=$FIO_ERR read ${FIO_RIOPS} IOPS (${FIO_RLAT} us), write ${FIO_WIOPS} IOPS (${FIO_WLAT} us) after $(since "$_t0")s"
	[ -z "$FIO_WHY" ]
}

# --- tlshd (ktls-utils): the kernel's TLS handshake agent, for NVMe/TCP TLS ---
TLSHD_CONF=/etc/tlshd.conf
TLSHD_LOG=${TLSHD_LOG:-$RES/tlshd.log}
TLSHD_PID=
tlshd_alive() { [ -n "$TLSHD_PID" ] && kill -0 "$TLSHD_PID" 2>/dev/null; }
# tlshd_up: /etc/tlshd.conf (see tlshd.conf(5) of ktls-utils 1.0.0), tlshd in
# the background, its log (-s: stderr as well as syslog) in $TLSHD_LOG
tlshd_up() {
	cat > "$TLSHD_CONF" <<-EOC
	# written by the VM test bed (tests/vm/guest/lib.sh)
	[debug]
	# 1: tlshd's own debug messages, incl. the session description
	loglevel=1
	tls=${TLSHD_TLS_DEBUG:-0}
	nl=0

	[authenticate]
	# the kernel's NVMe keyring (nvme-keyring), linked into tlshd's session
	# keyring at start: the server looks the client's PSK identity up there
	keyrings=.nvme

	[authenticate.client]

	[authenticate.server]
	EOC
	cp "$TLSHD_CONF" "$RES/tlshd.conf"
	log "\$ tlshd -s -c $TLSHD_CONF >> $TLSHD_LOG 2>&1 &"
	tlshd -s -c "$TLSHD_CONF" >> "$TLSHD_LOG" 2>&1 &
	TLSHD_PID=$!
	sleep 1
	tlshd_alive
}
tlshd_down() {
	tlshd_alive || return 0
	kill -TERM "$TLSHD_PID" 2>/dev/null
	wait_until 5 sh -c "! kill -0 $TLSHD_PID 2>/dev/null" || kill -KILL "$TLSHD_PID" 2>/dev/null
	wait "$TLSHD_PID" 2>/dev/null
	TLSHD_PID=
}
