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

# --- running nvmf-pcie ----------------------------------------------------
# run_pcie LABEL SECS ARGS...: runs nvmf-pcie ARGS under a timeout (a hang
# fails the test instead of blocking the VM), stdout to $RES/LABEL.out,
# stderr to $RES/LABEL.err, both echoed indented. Sets RC and TIMED_OUT.
RC=0 TIMED_OUT=0
run_pcie() {
	_label=$1 _secs=$2; shift 2
	log "\$ nvmf-pcie $*"
	_t0=$(now)
	timeout -k 5 "$_secs" "$NVMF_PCIE" "$@" > "$RES/$_label.out" 2> "$RES/$_label.err"
	RC=$?
	_el=$(since "$_t0")
	TIMED_OUT=$(awk -v e="$_el" -v s="$_secs" 'BEGIN { print (e >= s) ? 1 : 0 }')
	head -n 60 "$RES/$_label.out" | sed 's/^/    /'
	head -n 20 "$RES/$_label.err" | sed 's/^/    stderr: /'
	if [ "$TIMED_OUT" = 1 ]; then
		log "nvmf-pcie TIMED OUT after ${_el}s (limit ${_secs}s), exit $RC"
		kill_leftovers
	else
		log "nvmf-pcie exit $RC after ${_el}s"
	fi
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
