#!/bin/bash
# The project's VM test bed: boots Debian's kernel in QEMU (q35, TCG) with
# QEMU's NVMe controller behind an emulated Intel IOMMU and runs a guest
# script against the binaries in build/.
#
# usage: tests/vm/run.sh check|demo
#   check  tests/vm/guest/check.sh (make vm-check), in one boot:
#          pcie.sh    the userspace PCIe driver (nvmf-pcie), then
#          fabric.sh  the tcp_* tests: nvmf-bridged owns the controller and
#                     the guest kernel's NVMe/TCP initiator, nvme-cli and fio
#                     use it over 127.0.0.1
#          service.sh the svc_* tests: nvmf-bridgectl setup/release on the
#                     controller (refused while in use, bound, released)
#   demo   tests/vm/guest/demo.sh: the whole chain with a summary (make demo):
#          nvmf-pcie identify, nvmf-bridged from config/example-pcie.json,
#          nvme discover/connect over TCP, fio with verification, shutdown
#   bench  tests/vm/guest/bench.sh (the VM part of make bench, bench/bench.sh):
#          the kernel stack and ours side by side on a null-backed controller;
#          raw results in build/vm/share/results/bench/
#
# Two guests (VM_GUEST):
#   6.1      (default) the host's Debian 12 kernel (linux-image-amd64) and an
#            initramfs of the host's own packages (build-initramfs.sh);
#            files in build/vm/
#   current  Debian's kernel 6.12 (bookworm-security) with trixie's nvme-cli
#            2.13, libnvme, keyutils, ktls-utils, fio (build-initramfs-current.sh
#            from the .debs tests/vm/fetch-current.sh keeps in
#            /var/cache/nvmf-bridge-vm; nothing installed on the host); files
#            in build/vm-current/. Its check mode runs tests/vm/guest/auth.sh:
#            nvmet_auth (DH-HMAC-CHAP against the kernel's nvmet-tcp) and
#            tls_tools (VM_TESTS=nvmet_auth,tls_tools); VM_SCRIPT picks any
#            other guest script
#
# env:
#   VM_GUEST=6.1|current  which guest to boot (default 6.1, see above)
#   VM_TESTS=a,b,c        guest tests to run (default: all of the mode's);
#                         in check mode tcp_* names go to fabric.sh, svc_* to
#                         service.sh, the rest
#                         to pcie.sh (VM_TESTS=identify,tcp_start,tcp_fio);
#                         VM_TESTS=none boots and powers off (harness check)
#   VM_TIMEOUT=SECS       wall-clock limit for QEMU (default 480 check, 300 demo)
#   VM_SCRIPT=NAME|PATH   run tests/vm/guest/NAME.sh (or the script file PATH,
#                         which may source lib.sh) instead of the mode's
#   VM_QUIET=1            do not stream the guest console (it is still saved)
#   VM_SHELL=1            after the tests, a shell on the console (interactive,
#                         no timeout; exit it to power off)
#   VM_ACCEL=tcg|kvm      default tcg (KVM hangs on some hosts, see docs)
#   KVER=...              kernel version to boot (default: newest installed;
#                         the 6.1 guest only: the current guest's is pinned
#                         in fetch-current.sh)
#   NVMF_ALLOW_VM_SKIP=1  exit 0 when QEMU or a kernel is unavailable (the SKIP
#                         banner is printed regardless)
#   BUILD=dir             build tree (default <repo>/build)
#   VM_DRIVE=img|null     the controller's backing: a fresh sparse 1 GiB image
#                         (default) or QEMU's null-co driver reading zeroes
#                         (default in bench mode: the disk is not measured)
#   VM_GUEST_ENV=FILE     copied to the guest as /share/guest/env.sh (bench knobs)
#
# Output: build/vm/console.txt (serial console and QEMU's stderr),
# build/vm/share/results/ (what the guest wrote: console.log, dmesg.txt, the
# output of every nvmf-pcie, nvme-cli and fio run, bridged.log: the daemon's
# --verbose log, bridged.json: its config); build/vm-current/ for the current
# guest. Exit 0 only when everything passed.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BUILD=${BUILD:-$REPO/build}
export BUILD
VM_GUEST=${VM_GUEST:-6.1}
case $VM_GUEST in
6.1) VMDIR=$BUILD/vm ;;
current) VMDIR=$BUILD/vm-current ;;
*) echo "vm: VM_GUEST must be 6.1 or current" >&2; exit 2 ;;
esac
SHARE=$VMDIR/share
CONSOLE=$VMDIR/console.txt
T_START=$EPOCHREALTIME

MODE=${1:-}
case $MODE in
check)
	SCRIPT=check
	# Order matters for what it proves (and for how often the controller
	# changes hands): identify/verify run first without hugepages (4 KiB DMA
	# memory), kernel_write_read ends with nvmf-pcie holding the controller,
	# so the *_hugepages pair finds it as our own shutdown left it and runs
	# the 2 MiB hugepage DMA path.
	PCIE_TESTS="controller not_bound identify verify write_kernel_read write_refused kernel_write_read identify_hugepages verify_hugepages shadow_doorbells"
	# The fabric tests share one daemon and build on each other: start,
	# discovery, connect, data (fio regions later read back by the kernel),
	# digests and connection churn, several hosts, then the daemon stops
	# and the kernel driver reads what went over the fabric.
	FABRIC_TESTS="tcp_start tcp_discover tcp_connect tcp_nvme_cli tcp_fio tcp_discard_zeroes tcp_digest tcp_burst tcp_cycles tcp_second_host tcp_host_refused tcp_ctrl_reset tcp_restart tcp_readback"
	# the project's test initiator against the kernel's nvmet-tcp: the
	# reference the host tests use is itself checked against a real target
	INIT_TESTS="initiator_hostcheck initiator_target initiator_discover initiator_selftest_plain initiator_selftest_digests initiator_selftest_r2t initiator_selftest_dissqfc initiator_malformed initiator_kato_expiry initiator_perf"
	# live operation: a namespace added and removed under fio, SIGTERM during fio
	LIVE_TESTS="live_namespace live_sigterm"
	# the device setup helper: nvmf-bridgectl setup refuses a controller in
	# use, binds it to vfio-pci, release refuses while it is held and gives
	# it back to the kernel nvme driver (service.sh)
	SVC_TESTS="svc_setup_refused svc_setup svc_release_busy svc_release"
	# NVMe/RDMA over soft-RoCE (veth pair inside the guest), incl. real packets over the veth
	RDMA_TESTS="rdma_start rdma_discover rdma_connect rdma_fio rdma_cycles rdma_mixed rdma_wire rdma_readback rdma_depth"
	DEFAULT_TESTS="$PCIE_TESTS $FABRIC_TESTS $RDMA_TESTS $LIVE_TESTS $SVC_TESTS $INIT_TESTS"
	TIMEOUT=${VM_TIMEOUT:-900} ;;
demo)
	SCRIPT=demo
	# demo.sh runs every step whatever VM_TESTS says; these are the RESULT
	# lines it must print
	DEFAULT_TESTS="identify bridged_start discover connect fio rdma shutdown"
	TIMEOUT=${VM_TIMEOUT:-300} ;;
bench)
	SCRIPT=bench
	# one RESULT line per comparison; numbers go to share/results/bench/
	DEFAULT_TESTS="bench_pcie bench_tcp bench_rdma"
	VM_DRIVE=${VM_DRIVE:-null}
	TIMEOUT=${VM_TIMEOUT:-900} ;;
*)
	echo "usage: $0 check|demo|bench   (env VM_TESTS=a,b,c, see the header of $0)" >&2
	exit 2 ;;
esac
if [ "$VM_GUEST" = current ] && [ "$MODE" = check ]; then
	# the current guest's own tests (tests/vm/guest/auth.sh): in-band
	# authentication against the kernel's nvmet-tcp, the TLS tools, NVMe/TCP
	# TLS with the kernel's nvmet-tcp (tlshd); reservations from three hosts
	# (tests/vm/guest/resv.sh)
	SCRIPT=current
	DEFAULT_TESTS="nvmet_auth tls_tools nvmet_tls bridge_auth bridge_tls bridge_scaleout bridge_resv bridge_ana rdma_depth"
	TIMEOUT=${VM_TIMEOUT:-600}
fi
TESTS=$(echo "${VM_TESTS:-$DEFAULT_TESTS}" | tr ', ' '\n\n' | grep -v '^$' | tr '\n' ' ' | sed 's/ $//')
[ "$TESTS" = none ] && TESTS=

# the serial console without the firmware's terminal escapes; a CR that
# does not end a line (SeaBIOS/kernel handover) becomes a line break
clean_console() {
	sed -u -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1bc//g' -e 's/\r$//' -e 's/\r/\n/g'
}
elapsed() { awk -v a="$EPOCHREALTIME" -v b="$T_START" 'BEGIN { printf "%.1f", a - b }'; }

# A missing QEMU or kernel is reported loudly; it fails `make check` unless
# the caller explicitly accepts skips.
skip() {
	cat <<-EOF

	################################################################
	#  SKIP: VM tests NOT run ($MODE)
	#  $1
	#  Install the packages with tests/install-deps.sh (needs root).
	################################################################
	EOF
	if [ "${NVMF_ALLOW_VM_SKIP:-0}" = 1 ]; then
		echo "vm: skipped (NVMF_ALLOW_VM_SKIP=1)"
		exit 0
	fi
	echo "vm: skipped -> failing (set NVMF_ALLOW_VM_SKIP=1 to accept a skipped VM run)"
	exit 3
}

pick_kver() {
	local k best=
	for k in $(ls /lib/modules 2>/dev/null | sort -V); do
		[ -e "/boot/vmlinuz-$k" ] && [ -d "/lib/modules/$k/kernel" ] && best=$k
	done
	echo "$best"
}

host_ready() {
	command -v qemu-system-x86_64 >/dev/null || return 1
	if [ "$VM_GUEST" = current ]; then
		[ -s "$("$HERE/fetch-current.sh" --where)/current.manifest" ]
	else
		[ -n "${KVER:-$(pick_kver)}" ]
	fi
}
if ! host_ready; then
	# make check/demo installs these first; when run directly, try once
	echo "vm: QEMU or the guest's kernel is missing; trying tests/install-deps.sh"
	"$REPO/tests/install-deps.sh" || true
fi
command -v qemu-system-x86_64 >/dev/null ||
	skip "qemu-system-x86_64 not found (Debian package qemu-system-x86)"
if [ "$VM_GUEST" = current ]; then
	# the kernel and userland .debs (downloaded once, then from the cache);
	# the kernel itself is known once the initramfs is built below
	"$HERE/fetch-current.sh" ||
		skip "the current guest's kernel 6.12 and trixie userland could not be downloaded (tests/vm/fetch-current.sh)"
	KVER=
else
	KVER=${KVER:-$(pick_kver)}
	[ -n "$KVER" ] ||
		skip "no kernel with both /boot/vmlinuz-<ver> and /lib/modules/<ver> (Debian package linux-image-amd64)"
	KERNEL=/boot/vmlinuz-$KVER
	[ -e "$KERNEL" ] || skip "$KERNEL does not exist (KVER=$KVER)"
	[ -r "$KERNEL" ] || skip "$KERNEL is not readable by $(id -un) (run as root)"
	export KVER
fi

mkdir -p "$VMDIR"
# One VM per build tree at a time (the machine is small, and the share,
# image and console files are per tree): wait for a running one to finish.
exec 9> "$VMDIR/lock"
if ! flock -n 9; then
	echo "vm: another VM run is using $VMDIR; waiting for it"
	flock -w 900 9 || { echo "vm: gave up waiting for the lock on $VMDIR/lock" >&2; exit 1; }
fi

BUILDER=build-initramfs.sh
[ "$VM_GUEST" = current ] && BUILDER=build-initramfs-current.sh
if ! "$HERE/$BUILDER"; then
	echo "vm: could not build the initramfs (see above)"
	echo "vm: 0 passed, 1 failed"
	exit 1
fi
if [ "$VM_GUEST" = current ]; then
	KVER=$(cat "$VMDIR/kver")
	KERNEL=$VMDIR/vmlinuz
fi

# --- the share: the project's programs + their libraries, guest scripts ---
rm -rf "$SHARE"
mkdir -p "$SHARE/bin" "$SHARE/lib" "$SHARE/guest" "$SHARE/results"
cp "$HERE"/guest/*.sh "$SHARE/guest/"
[ -n "${VM_GUEST_ENV:-}" ] && cp "$VM_GUEST_ENV" "$SHARE/guest/env.sh"
# the example configurations (the demo runs the daemon from example-pcie.json)
mkdir -p "$SHARE/config"
cp "$REPO"/config/*.json "$SHARE/config/"
if [ -n "${VM_SCRIPT:-}" ]; then   # another guest script (name, or path to a file)
	case $VM_SCRIPT in
	*/*) cp "$VM_SCRIPT" "$SHARE/guest/"; SCRIPT=$(basename "$VM_SCRIPT" .sh) ;;
	*) SCRIPT=$VM_SCRIPT ;;
	esac
	[ -f "$SHARE/guest/$SCRIPT.sh" ] || { echo "vm: no guest script $VM_SCRIPT" >&2; exit 2; }
fi
is_elf() { [ -f "$1" ] && [ -x "$1" ] && [ "$(head -c 4 "$1" | od -An -c | tr -d ' ')" = '177ELF' ]; }
progs=()
for f in "$BUILD"/*; do
	is_elf "$f" || continue
	cp "$f" "$SHARE/bin/"
	progs+=("$(basename "$f")")
	# the guest userland is this host's Debian userland: the libraries are
	# the same files; those the initramfs lacks come from here
	if missing=$(ldd "$f" 2>/dev/null | grep 'not found'); then
		echo "vm: $f needs libraries this host does not have:" >&2
		echo "$missing" >&2
		exit 1
	fi
	for lib in $(ldd "$f" 2>/dev/null | awk '/=>/ { print $3 }' | grep '^/' || true); do
		[ -e "$SHARE/lib/$(basename "$lib")" ] || cp -L "$lib" "$SHARE/lib/"
	done
done
# (auth.sh tests the guest's own stack: it runs without the project's programs)
if [ -n "$TESTS" ] && [ "$SCRIPT" != auth ] && [ "$SCRIPT" != current ] && [ ! -x "$SHARE/bin/nvmf-pcie" ]; then
	echo "vm: $BUILD/nvmf-pcie is missing or not an ELF program: build it first (make)" >&2
	echo "vm: 0 passed, 1 failed"
	exit 1
fi

# a fresh, sparse 1 GiB disk for the controller on every run, or QEMU's
# null block driver (reads return zeroes, writes are dropped)
rm -f "$VMDIR/nvme.img"
case ${VM_DRIVE:-img} in
img) truncate -s 1G "$VMDIR/nvme.img"
     DRIVE="file=$VMDIR/nvme.img,if=none,id=nv0,format=raw,cache=unsafe" ;;
null) DRIVE="driver=null-co,size=1G,read-zeroes=on,if=none,id=nv0" ;;
*) echo "vm: VM_DRIVE must be img or null" >&2; exit 2 ;;
esac

# The current guest has a second NVMe controller (its own sparse 256 MiB
# image): two daemons, each with a controller, for the scale-out test
SECOND=()
if [ "$VM_GUEST" = current ]; then
	rm -f "$VMDIR/nvme2.img"
	truncate -s 256M "$VMDIR/nvme2.img"
	SECOND=(-drive "file=$VMDIR/nvme2.img,if=none,id=nv1,format=raw,cache=unsafe"
		-device nvme,serial=nvmetest2,drive=nv1)
fi

case ${VM_ACCEL:-tcg} in
tcg) ACCEL=(-accel tcg,thread=multi -cpu max) ;;   # -cpu max: SSE4.2, PCLMUL (crc32c)
kvm) ACCEL=(-accel kvm -cpu host) ;;
*) echo "vm: VM_ACCEL must be tcg or kvm" >&2; exit 2 ;;
esac
APPEND="console=ttyS0 intel_iommu=on iommu=pt hardened_usercopy=off panic=-1 quiet loglevel=4"
APPEND+=" vmscript=$SCRIPT vmtests=$(echo "$TESTS" | tr ' ' ',')"
[ "${VM_SHELL:-0}" = 1 ] && APPEND+=" vmshell=1"
# intel-iommu must come before the devices it translates for; -nic none:
# q35 would otherwise add an e1000e with user networking (a way out).
QEMU=(qemu-system-x86_64
	-M q35,kernel-irqchip=split "${ACCEL[@]}" -smp 2 -m 2G
	-device intel-iommu,intremap=on,caching-mode=on
	-drive "$DRIVE"
	-device nvme,serial=nvmetest,drive=nv0
	"${SECOND[@]}"
	-virtfs "local,path=$SHARE,mount_tag=share,security_model=none,id=share"
	-kernel "$KERNEL" -initrd "$VMDIR/initramfs.cpio.gz"
	-append "$APPEND"
	-nographic -no-reboot -nic none)

echo "vm: $MODE: guest $VM_GUEST, kernel $KVER, script $SCRIPT.sh, programs: ${progs[*]:-none}, tests: ${TESTS:-none}, timeout ${TIMEOUT}s"
# A guest kernel that panics while it boots, before /init started (TCG has
# been seen to trip the 6.12 kernel's code patching: "Oops: int3" in
# sched_clock_cpu at 3 s), has run no test: boot once more, and say so.
# The first console is kept as console.boot1.txt.
for attempt in 1 2; do
rc=0
: > "$CONSOLE"
if [ "${VM_SHELL:-0}" = 1 ]; then
	"${QEMU[@]}" 2>&1 | tee "$CONSOLE" || rc=$?
else
	# QEMU writes the console file itself; the display follows it. timeout
	# puts QEMU in its own process group, so Ctrl-C reaches it via the trap.
	qpid= tpid=
	trap 'kill -TERM $qpid $tpid 2>/dev/null; wait $qpid 2>/dev/null; echo "vm: interrupted"; exit 130' INT TERM
	timeout -k 10 "$TIMEOUT" "${QEMU[@]}" < /dev/null >> "$CONSOLE" 2>&1 &
	qpid=$!
	if [ "${VM_QUIET:-0}" != 1 ]; then
		# follow the console for display, without the firmware's terminal
		# escapes and CRs; in the background so that `wait` (which a signal
		# interrupts, unlike a foreground pipeline) is what the shell sits in
		tail -n +1 -s 0.2 --pid=$qpid -f "$CONSOLE" | clean_console &
		tpid=$!
	fi
	wait $qpid || rc=$?
	[ -n "$tpid" ] && { wait $tpid || true; }
	trap - INT TERM
fi
if [ "$attempt" = 1 ] && [ "${VM_SHELL:-0}" != 1 ] && ! grep -a -q 'INIT_START' "$CONSOLE" &&
   panic=$(grep -a -m1 -E 'Kernel panic|Oops:' "$CONSOLE" | tr -d '\r') && [ -n "$panic" ]; then
	cp "$CONSOLE" "$VMDIR/console.boot1.txt"
	echo "vm: the guest kernel crashed while booting, before /init ran any test ($panic); booting again (first console: $VMDIR/console.boot1.txt)"
	continue
fi
break
done
WALL=$(elapsed)

# --- verdict ---------------------------------------------------------------
CLEAN=$(clean_console < "$CONSOLE")
RESULTS=$(grep -a -o 'RESULT [^ ]* .*' <<<"$CLEAN" || true)
pass=0 fail=0
report=()
add() {   # add NAME PASS|FAIL DETAILS
	report+=("RESULT $1 $2 $3")
	if [ "$2" = PASS ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
}
# every guest RESULT line counts; an expected test without one is a failure
while IFS= read -r line; do
	[ -n "$line" ] || continue
	read -r _ name verdict details <<<"$line"
	case $verdict in PASS|FAIL) ;; *) details="malformed: $line"; verdict=FAIL ;; esac
	add "$name" "$verdict" "$details"
done <<<"$RESULTS"
for t in $TESTS; do
	grep -q "^RESULT $t \(PASS\|FAIL\)" <<<"$RESULTS" ||
		add "$t" FAIL "no RESULT line from the guest (crashed, hung or timed out?)"
done

# host-side checks
if [ "$rc" = 0 ]; then
	add vm_qemu_exit PASS "QEMU exited 0"
elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
	add vm_qemu_exit FAIL "QEMU killed after the ${TIMEOUT}s timeout"
else
	add vm_qemu_exit FAIL "QEMU exited $rc"
fi
if grep -q '^INIT_DONE' <<<"$CLEAN" && grep -q '^GUEST_SCRIPT_EXIT 0$' <<<"$CLEAN"; then
	add vm_guest_finished PASS "guest script ran to its end, /init powered off"
else
	why=$(grep -a -m1 -E 'INIT_FATAL|GUEST_SCRIPT_EXIT|Kernel panic|BUG:|Oops' <<<"$CLEAN" || true)
	add vm_guest_finished FAIL "${why:-guest did not finish (no INIT_DONE)}"
fi
# QEMU's NVMe completes DMA the IOMMU blocked with SUCCESS: these greps are
# the only way to see a driver that hands the device unmapped addresses.
DMESG=$SHARE/results/dmesg.txt
if [ ! -s "$DMESG" ]; then
	add vm_no_dmar_faults FAIL "guest dmesg not saved ($DMESG): cannot check for IOMMU faults"
elif faults=$(cat "$DMESG" - <<<"$CLEAN" | grep -a -E 'DMAR:.*fault' | sort -u | head -n 3) && [ -n "$faults" ]; then
	add vm_no_dmar_faults FAIL "IOMMU faults in the guest: $(tr '\n' '|' <<<"$faults")"
else
	add vm_no_dmar_faults PASS "no 'DMAR:.*fault' in guest dmesg"
fi
# (QEMU prints these on its stderr, which is in the console file; the
# companion 'vtd_iova_to_slpte: detected slpte permission error' is counted too)
n=$(grep -a -c -E 'vtd_iommu_translate: detected translation failure|vtd_[a-z_]*: detected' "$CONSOLE" || true)
if [ "${n:-0}" -gt 0 ]; then
	add vm_no_vtd_failures FAIL "QEMU reported $n IOMMU translation errors: $(grep -a -m1 'vtd_[a-z_]*: detected' "$CONSOLE" | tr -d '\r')"
else
	add vm_no_vtd_failures PASS "no translation failures reported by QEMU"
fi

boot=$(grep -a -m1 -o 'INIT_START uptime=[0-9.]*' <<<"$CLEAN" | cut -d= -f2 || true)
echo
echo "==================== vm $MODE: results ===================="
printf '%s\n' "${report[@]}"
echo "vm: console $CONSOLE, guest files $SHARE/results/"
echo "vm: wall time ${WALL}s (guest reached /init at ${boot:-?}s uptime)"
if [ "$MODE" = demo ]; then
	if [ "$fail" = 0 ]; then echo "demo: PASS"; else echo "demo: FAIL"; fi
fi
echo "vm: $pass passed, $fail failed"
[ "$fail" = 0 ]
