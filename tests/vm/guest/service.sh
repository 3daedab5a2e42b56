#!/bin/sh
# Guest side of the service tests of `tests/vm/run.sh check`: the device
# setup helper of nvmf-bridgectl against QEMU's NVMe controller behind the
# emulated IOMMU.
#   svc_setup_refused  the kernel nvme driver has the controller and its
#                      namespace is in use as swap: setup refuses, naming
#                      it, and leaves the device alone (the mount case runs
#                      too when the initramfs can mount ext4; it cannot
#                      today: no ext4 module, see the message)
#   svc_setup          setup takes the controller from nvme to vfio-pci
#                      (/dev/vfio/GROUP, nvme0n1 gone); again: idempotent;
#                      setup --config with the daemon's configuration too
#   svc_release_busy   nvmf-bridged runs on the controller: list shows the
#                      PCIe namespace; release refuses, naming the daemon;
#                      a shell holding /dev/vfio/GROUP is named the same way
#   svc_release        release gives the controller back to the kernel nvme
#                      driver: nvme0n1 reappears, driver_override cleared
# Each prints one `RESULT <name> PASS|FAIL <details>` line; each sets up
# the state it needs, so any subset runs on its own.
set -u
. "$(dirname "$0")/lib.sh"

CTL=$BIN/nvmf-bridgectl
NQN=nqn.2024-01.org.nvmf-bridge.test:svc
CONF=/tmp/svc.json

write_config() {
	cat > "$CONF" <<-EOF
	{
	  "bridge": { "discovery_port": 0 },
	  "subsystems": [ { "nqn": "$NQN", "attr": { "allow_any_host": "1" },
	                    "namespaces": [ { "nsid": 1, "device": { "pcie": "$BDF", "nsid": 1 } } ] } ],
	  "ports": [ { "portid": 1,
	               "addr": { "trtype": "tcp", "adrfam": "ipv4", "traddr": "$TADDR", "trsvcid": "$TPORT" },
	               "subsystems": [ "$NQN" ] } ]
	}
	EOF
}

# ctl LABEL ARGS...: nvmf-bridgectl under a timeout; stdout+stderr in
# $RES/LABEL.out (echoed), exit status in RC
ctl() {
	_l=$1; shift
	log "\$ nvmf-bridgectl $*"
	timeout -k 5 60 "$CTL" "$@" > "$RES/$_l.out" 2>&1
	RC=$?
	sed 's/^/    /' "$RES/$_l.out"
	log "exit $RC"
}
# the line of LABEL's output matching REGEX (for details)
line_of() { grep -m1 -E "$2" "$RES/$1.out" | cut -c1-160; }
override() { cat "$(dev_dir)/driver_override" 2>/dev/null; }

t_setup_refused() {
	local n=svc_setup_refused why= swap= mnt=
	kill_leftovers
	if ! bind_to nvme || [ -z "$KDEV" ]; then result $n FAIL "could not give $BDF to the kernel nvme driver"; return; fi
	# swap on the namespace (the disk's first 4 KiB become a swap header;
	# nothing later reads them)
	if ! mkswap "$KDEV" > "$RES/${n}_mkswap.out" 2>&1 || ! swapon "$KDEV" 2> "$RES/${n}_swapon.out"; then
		why="could not make $KDEV a swap device: $(cat "$RES/${n}_mkswap.out" "$RES/${n}_swapon.out" | head -n 2 | tr '\n' ' ')"
	else
		ctl ${n}_swap setup "$BDF"
		if [ "$RC" != 1 ]; then why="$why; setup with $KDEV as swap: exit $RC (want 1)"; fi
		grep -q "$KDEV is used as swap; swapoff it first" "$RES/${n}_swap.out" || why="$why; no 'used as swap' line"
		grep -q 'refused' "$RES/${n}_swap.out" || why="$why; no 'refused' line"
		is_bound_to nvme || why="$why; the controller left nvme (now: $(driver_of))"
		swap=$(line_of ${n}_swap 'used as swap')
		swapoff "$KDEV" || why="$why; swapoff $KDEV failed"
	fi
	# a mounted filesystem: needs ext4 (or ext2) in the guest kernel
	if modprobe ext4 2> /dev/null && command -v mke2fs > /dev/null; then
		mkdir -p /mnt/svc
		if mke2fs -q "$KDEV" > /dev/null 2>&1 && mount -t ext2 "$KDEV" /mnt/svc 2> /dev/null; then
			ctl ${n}_mount setup "$BDF"
			[ "$RC" = 1 ] && grep -q "is mounted on /mnt/svc" "$RES/${n}_mount.out" ||
				why="$why; setup with $KDEV mounted: exit $RC, no 'mounted on /mnt/svc' line"
			mnt=$(line_of ${n}_mount 'mounted on')
			umount /mnt/svc
		else
			why="$why; could not mke2fs and mount $KDEV"
		fi
	else
		mnt="mount case skipped: the guest kernel cannot mount ext2/ext4 (no ext4 module in the initramfs; the host test covers mountinfo matching)"
		log "$mnt"
	fi
	if [ -z "$why" ]; then
		result $n PASS "refused, device untouched: ${swap#nvmf-bridgectl: }; ${mnt#nvmf-bridgectl: }"
	else
		result $n FAIL "${why#; }"
	fi
}

t_setup() {
	local n=svc_setup why= g
	kill_leftovers
	bind_to nvme || { result $n FAIL "could not give $BDF to the kernel nvme driver first"; return; }
	ctl ${n}_bind setup "$BDF"
	g=$(iommu_group)
	[ "$RC" = 0 ] || why="$why; setup exit $RC: $(grep -m1 nvmf-bridgectl "$RES/${n}_bind.out")"
	is_bound_to vfio-pci || why="$why; driver now $(driver_of)"
	[ -c "/dev/vfio/$g" ] || why="$why; no /dev/vfio/$g"
	[ "$(override)" = vfio-pci ] || why="$why; driver_override '$(override)', want vfio-pci"
	grep -q "$BDF: unbound from nvme" "$RES/${n}_bind.out" || why="$why; no 'unbound from nvme' line"
	grep -q "IOMMU group $g: $BDF" "$RES/${n}_bind.out" || why="$why; the IOMMU group members were not listed"
	grep -qE 'memlock:|RLIMIT_MEMLOCK' "$RES/${n}_bind.out" || why="$why; no memlock report"
	grep -q 'hugepages' "$RES/${n}_bind.out" || why="$why; no hugepages report"
	kernel_ns_ready && why="$why; the kernel namespace $KDEV is still there"
	ctl ${n}_again setup "$BDF"
	[ "$RC" = 0 ] && grep -q 'already bound to vfio-pci' "$RES/${n}_again.out" ||
		why="$why; second setup: exit $RC, not 'already bound'"
	write_config
	ctl ${n}_config setup --config "$CONF"
	[ "$RC" = 0 ] && grep -q "$BDF: already bound to vfio-pci" "$RES/${n}_config.out" ||
		why="$why; setup --config: exit $RC"
	if [ -z "$why" ]; then
		result $n PASS "$(line_of ${n}_bind 'bound to vfio-pci'); again and with --config: already bound; $(line_of ${n}_bind 'hugepages')"
	else
		result $n FAIL "${why#; }"
	fi
}

t_release_busy() {
	local n=svc_release_busy why= g hold
	kill_leftovers
	bind_to vfio-pci || { result $n FAIL "could not bind $BDF to vfio-pci"; return; }
	g=$(iommu_group)
	write_config
	if ! start_bridged "$CONF" "$TPORT"; then result $n FAIL "daemon: $START_WHY"; return; fi
	ctl ${n}_list list
	grep -qE "^  1 +pcie +pcie=$BDF,nsid=1 " "$RES/${n}_list.out" || why="$why; list shows no pcie namespace of $BDF (exit $RC)"
	ctl ${n}_daemon release "$BDF"
	[ "$RC" = 1 ] && grep -q "/dev/vfio/$g is still open by pid $DPID (nvmf-bridged)" "$RES/${n}_daemon.out" ||
		why="$why; release under the daemon: exit $RC, daemon pid $DPID not named"
	is_bound_to vfio-pci || why="$why; the controller left vfio-pci under the daemon"
	stop_bridged 15 || why="$why; daemon stop: exit $STOP_RC"
	# any process: a shell holding the group open
	sh -c "exec 3< /dev/vfio/$g; sleep 30" &
	hold=$!
	sleep 0.5
	ctl ${n}_shell release "$BDF"
	[ "$RC" = 1 ] && grep -q "still open by .*pid $hold (" "$RES/${n}_shell.out" ||
		why="$why; release with pid $hold holding the group: exit $RC"
	kill $hold 2> /dev/null; wait $hold 2> /dev/null
	if [ -z "$why" ]; then
		result $n PASS "$(line_of ${n}_daemon 'still open' | sed 's/^nvmf-bridgectl: //' | cut -c1-110); a shell holding it: refused too"
	else
		result $n FAIL "${why#; }"
	fi
}

t_release() {
	local n=svc_release why=
	kill_leftovers
	bind_to vfio-pci || { result $n FAIL "could not bind $BDF to vfio-pci first"; return; }
	echo vfio-pci > "$(dev_dir)/driver_override"   # as setup leaves it
	ctl ${n}_release release "$BDF"
	[ "$RC" = 0 ] || why="$why; release exit $RC: $(grep -m1 nvmf-bridgectl "$RES/${n}_release.out")"
	is_bound_to nvme || why="$why; driver now $(driver_of)"
	[ -z "$(override)" ] || [ "$(override)" = "(null)" ] || why="$why; driver_override still '$(override)'"
	wait_until 30 kernel_ns_ready || why="$why; no kernel namespace 30 s after release"
	grep -q "bound to nvme: /dev/nvme[0-9]*, namespaces /dev/nvme[0-9]*n1" "$RES/${n}_release.out" ||
		why="$why; release did not report the controller and its namespace"
	[ -n "$KDEV" ] && ! dd if="$KDEV" of=/dev/null bs=4096 count=16 iflag=direct 2> /dev/null &&
		why="$why; reading $KDEV failed"
	ctl ${n}_again release "$BDF"
	[ "$RC" = 0 ] && grep -q 'already bound to nvme' "$RES/${n}_again.out" || why="$why; second release: exit $RC"
	if [ -z "$why" ]; then
		result $n PASS "$(line_of ${n}_release 'bound to nvme'); $KDEV reads; again: already bound"
	else
		result $n FAIL "${why#; }"
	fi
}

if ! find_controller; then
	for t in $(echo "$TESTS" | tr ',' ' '); do result "$t" FAIL "no NVMe controller in the guest"; done
	exit 1
fi
[ -x "$CTL" ] || { for t in $(echo "$TESTS" | tr ',' ' '); do result "$t" FAIL "nvmf-bridgectl is not in the share (make)"; done; exit 1; }
for t in $(echo "$TESTS" | tr ',' ' '); do
	log "=== $t ==="
	_svc_t0=$(now)   # not _t0: lib.sh's helpers use that one
	case $t in
	svc_setup_refused) t_setup_refused ;;
	svc_setup)         t_setup ;;
	svc_release_busy)  t_release_busy ;;
	svc_release)       t_release ;;
	*)                 result "$t" FAIL "unknown test (see tests/vm/guest/service.sh)" ;;
	esac
	log "$t took $(since "$_svc_t0")s"
done
[ -n "${DPID:-}" ] && stop_bridged 10
kill_leftovers
log "service tests done"
