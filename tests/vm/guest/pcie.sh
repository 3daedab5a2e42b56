#!/bin/sh
# Guest side of `tests/vm/run.sh check`: the userspace PCIe driver
# (build/nvmf-pcie) against QEMU's NVMe controller behind the emulated
# Intel IOMMU, cross-checked with the kernel's nvme driver.
#
# Runs the tests named in $TESTS (comma list, in that order; run.sh has the
# default list); each prints one `RESULT <name> PASS|FAIL <details>` line.
# Every test sets up the driver binding it needs, so any subset runs on its
# own; a bind that is already in place is kept.
set -u
. "$(dirname "$0")/lib.sh"

# Per-invocation time limits (TCG is slow and the host is shared, so generous;
# a hang still ends in a FAIL instead of the VM timeout).
T_ID=60       # identify, and the refused write
T_IO=90       # write / read of about 1 MiB
T_VERIFY=150  # verify

# Block ranges the data tests use: apart from each other, and starting at odd
# LBAs so that neither side gets away with page-aligned offsets only.
LBA_W=4099      # nvmf-pcie writes, the kernel reads
LBA_K=200003    # the kernel writes, nvmf-pcie reads
LBA_R=600011    # the refused write's target

fail_unless_tool() {   # fail_unless_tool NAME: FAIL the test when nvmf-pcie is missing
	have_tool && return 0
	result "$1" FAIL "nvmf-pcie is not in the share (build it: make)"
	return 1
}

# geometry: NS_BLOCKS and BS of namespace 1, from identify (run once)
geometry() {
	[ -n "$BS" ] && return 0
	bind_to vfio-pci || return 1
	run_pcie geometry "$T_ID" identify "$BDF"
	[ "$RC" = 0 ] && identify_geometry geometry
}

# kread LBA BLOCKS FILE / kwrite LBA FILE: the kernel driver's view, O_DIRECT
# so that no page cache hides what is on the device
kread() {
	dd if="$KDEV" of="$3" bs=65536 iflag=direct,skip_bytes,count_bytes \
		skip=$(($1 * BS)) count=$(($2 * BS)) 2> "$RES/dd.err"
}
kwrite() {
	dd if="$2" of="$KDEV" bs=65536 oflag=direct,seek_bytes conv=notrunc \
		seek=$(($1 * BS)) 2> "$RES/dd.err"
}
cmp_text() { cmp "$1" "$2" 2>&1 | head -n 1; }
fsize() { stat -c %s "$1" 2>/dev/null || echo missing; }

# --- the tests -------------------------------------------------------------

t_controller() {
	if [ -z "$BDF" ]; then
		result controller FAIL "no PCI device of class 0x010802 (NVMe)"
		return
	fi
	local d grp
	d=$(dev_dir)
	grp=$(iommu_group)
	if [ -z "$grp" ]; then
		result controller FAIL "$BDF has no IOMMU group (intel-iommu missing?)"
		return
	fi
	result controller PASS "bdf=$BDF id=$(cat "$d/vendor"):$(cat "$d/device") iommu_group=$grp" \
		"group_members=$(ls "$d/iommu_group/devices" | wc -l) driver=$(driver_of | grep . || echo none)"
}

# nvmf-pcie must refuse a controller that is not bound to vfio-pci, say how
# to bind it, and leave the device alone.
t_not_bound() {
	fail_unless_tool not_bound || return
	local why=
	if unbind; then
		run_pcie not_bound_none "$T_ID" identify "$BDF"
		[ "$RC" != 0 ] && [ "$TIMED_OUT" = 0 ] || why="$why; unbound: $(rc_text)"
		grep -q vfio-pci "$RES/not_bound_none.err" || why="$why; unbound: stderr does not mention vfio-pci"
	else
		why="$why; could not unbind"
	fi
	if bind_to nvme; then
		run_pcie not_bound_nvme "$T_ID" identify "$BDF"
		[ "$RC" != 0 ] && [ "$TIMED_OUT" = 0 ] || why="$why; bound to nvme: $(rc_text)"
		grep -q vfio-pci "$RES/not_bound_nvme.err" || why="$why; bound to nvme: stderr does not mention vfio-pci"
		# the kernel driver must still own a working device afterwards
		is_bound_to nvme && dd if="$KDEV" of=/dev/null bs=4096 count=1 iflag=direct 2>/dev/null ||
			why="$why; kernel namespace unusable after the attempt"
	else
		why="$why; could not bind to the kernel nvme driver"
	fi
	if [ -z "$why" ]; then
		result not_bound PASS "refused unbound and nvme-bound controller: $(err_line not_bound_nvme)"
	else
		result not_bound FAIL "${why#; }"
	fi
}

# identify_test NAME HUGEPAGES: identify through VFIO; model, serial, ns 1
identify_test() {
	local name=$1 hp want_hp=$2 why=
	fail_unless_tool "$name" || return
	bind_to vfio-pci || { result "$name" FAIL "could not bind $BDF to vfio-pci"; return; }
	hp=$(hugepages "$want_hp")
	run_pcie "$name" "$T_ID" identify "$BDF"
	[ "$RC" = 0 ] && [ "$TIMED_OUT" = 0 ] || why="$why; $(rc_text): $(err_line "$name")"
	has_line "$name" '^ *model: *QEMU NVMe Ctrl *$' || why="$why; no 'model: QEMU NVMe Ctrl' line"
	has_line "$name" '^ *serial: *nvmetest *$' || why="$why; no 'serial: nvmetest' line"
	identify_geometry "$name" || why="$why; no 'ns 1: <N> blocks x <B> bytes' line"
	if [ -z "$why" ]; then
		result "$name" PASS "model 'QEMU NVMe Ctrl', serial nvmetest, ns 1: $NS_BLOCKS blocks x $BS bytes, hugepages=$hp"
	else
		result "$name" FAIL "${why#; } (hugepages=$hp)"
	fi
}

# verify_test NAME HUGEPAGES: the tool's own write/read/compare workload;
# with hugepages, also watch whether the tool took any of them
verify_test() {
	local name=$1 want_hp=$2 hp why= sampler= minfree=
	fail_unless_tool "$name" || return
	bind_to vfio-pci || { result "$name" FAIL "could not bind $BDF to vfio-pci"; return; }
	hp=$(hugepages "$want_hp")
	[ "$hp" = "$want_hp" ] || why="$why; wanted $want_hp hugepages, got $hp"
	if [ "$hp" -gt 0 ]; then
		# lowest HugePages_Free seen while the tool runs (builtins only: cheap)
		echo "$hp" > /tmp/hp_min
		(
			m=$hp
			while :; do
				while read -r k v _; do
					[ "$k" = HugePages_Free: ] || continue
					[ "$v" -lt "$m" ] && m=$v && echo "$m" > /tmp/hp_min
					break
				done < /proc/meminfo
				sleep 0.05
			done
		) &
		sampler=$!
	fi
	run_pcie "$name" "$T_VERIFY" verify "$BDF" --nsid 1
	if [ -n "$sampler" ]; then
		kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null
		minfree=$(cat /tmp/hp_min)
	fi
	verify_parse "$name"
	[ "$RC" = 0 ] && [ "$TIMED_OUT" = 0 ] || why="$why; $(rc_text): $(err_line "$name")"
	if [ -z "$V_CMDS" ]; then
		why="$why; last line is not 'verify: <N> commands, <M> mismatches': '$(tail -n 1 "$RES/$name.out")'"
	else
		[ "$V_CMDS" -gt 0 ] || why="$why; 0 commands"
		[ "$V_MISM" = 0 ] || why="$why; $V_MISM mismatches"
	fi
	if [ -z "$V_IRQ" ]; then
		why="$why; no 'verify: irq wakeups <N>' line"
	elif [ "$V_IRQ" -le 0 ]; then
		why="$why; irq wakeups 0 (MSI-X through VFIO eventfds not working)"
	fi
	local hpinfo="hugepages=$hp" dma
	# informational: the tool's own account of its DMA memory, when it gives one
	dma=$(sed -n 's/^verify: DMA memory: *//p' "$RES/$name.out" | head -n 1)
	[ -n "$dma" ] && hpinfo="$hpinfo, DMA memory: $dma"
	if [ -n "$minfree" ]; then
		hpinfo="$hpinfo (in use at peak: $((hp - minfree)))"
		# hugepages were offered so that the hugepage DMA path runs: it must
		[ "$minfree" -lt "$hp" ] || why="$why; nvmf-pcie used none of the $hp free hugepages"
	fi
	if [ -z "$why" ]; then
		result "$name" PASS "$V_CMDS commands, 0 mismatches, irq wakeups $V_IRQ, $hpinfo"
	else
		result "$name" FAIL "${why#; } ($hpinfo)"
	fi
}

# nvmf-pcie writes ~1 MiB, the kernel driver reads it back
t_write_kernel_read() {
	local n=write_kernel_read count why=
	fail_unless_tool $n || return
	geometry || { result $n FAIL "no namespace geometry from identify"; return; }
	count=$((1048576 / BS + 3))   # 1 MiB + 3 blocks: PRP lists and a partial page
	head -c $((count * BS)) /dev/urandom > /tmp/$n.bin
	run_pcie $n "$T_IO" write "$BDF" --nsid 1 --lba $LBA_W --file /tmp/$n.bin
	[ "$RC" = 0 ] && [ "$TIMED_OUT" = 0 ] || why="$why; nvmf-pcie write: $(rc_text): $(err_line $n)"
	if [ -z "$why" ]; then
		if ! bind_to nvme; then
			why="could not rebind to the kernel nvme driver"
		elif ! kread $LBA_W $count /tmp/$n.back; then
			why="kernel read failed: $(head -n 1 "$RES/dd.err")"
		elif ! cmp -s /tmp/$n.bin /tmp/$n.back; then
			why="kernel read differs from what nvmf-pcie wrote: $(cmp_text /tmp/$n.bin /tmp/$n.back)"
		fi
	fi
	if [ -z "$why" ]; then
		result $n PASS "nvmf-pcie wrote $count blocks at LBA $LBA_W, kernel $KDEV read them back identical" \
			"(sha256 $(sha256sum < /tmp/$n.bin | cut -c1-16))"
	else
		result $n FAIL "${why#; }"
	fi
	rm -f /tmp/$n.bin /tmp/$n.back
}

# the kernel driver writes ~768 KiB, nvmf-pcie reads it back
t_kernel_write_read() {
	local n=kernel_write_read count size why=
	fail_unless_tool $n || return
	geometry || { result $n FAIL "no namespace geometry from identify"; return; }
	count=$((786432 / BS + 5))
	head -c $((count * BS)) /dev/urandom > /tmp/$n.bin
	rm -f /tmp/$n.out
	if ! bind_to nvme; then
		why="could not bind to the kernel nvme driver"
	elif ! kwrite $LBA_K /tmp/$n.bin; then
		why="kernel write failed: $(head -n 1 "$RES/dd.err")"
	elif ! bind_to vfio-pci; then
		why="could not rebind to vfio-pci"
	else
		run_pcie $n "$T_IO" read "$BDF" --nsid 1 --lba $LBA_K --count $count --file /tmp/$n.out
		size=$(fsize /tmp/$n.out)
		if [ "$RC" != 0 ] || [ "$TIMED_OUT" = 1 ]; then
			why="nvmf-pcie read: $(rc_text): $(err_line $n)"
		elif [ "$size" != $((count * BS)) ]; then
			why="output is $size bytes, want $count x $BS = $((count * BS))"
		elif ! cmp -s /tmp/$n.bin /tmp/$n.out; then
			why="nvmf-pcie read differs from what the kernel wrote: $(cmp_text /tmp/$n.bin /tmp/$n.out)"
		fi
	fi
	if [ -z "$why" ]; then
		result $n PASS "kernel wrote $count blocks at LBA $LBA_K, nvmf-pcie read them back identical ($size bytes)"
	else
		result $n FAIL "$why"
	fi
	rm -f /tmp/$n.bin /tmp/$n.out
}

# a file that is not a whole number of blocks: nvmf-pcie must refuse it and
# write nothing, which the kernel driver confirms before and after
t_write_refused() {
	local n=write_refused span=4 why= msg=
	fail_unless_tool $n || return
	geometry || { result $n FAIL "no namespace geometry from identify"; return; }
	head -c $((3 * BS + 100)) /dev/urandom > /tmp/$n.bin   # 3 blocks + 100 bytes
	if ! bind_to nvme; then
		why="could not bind to the kernel nvme driver"
	elif ! kread $LBA_R $span /tmp/$n.before; then
		why="kernel read (before) failed: $(head -n 1 "$RES/dd.err")"
	elif ! bind_to vfio-pci; then
		why="could not rebind to vfio-pci"
	else
		run_pcie $n "$T_ID" write "$BDF" --nsid 1 --lba $LBA_R --file /tmp/$n.bin
		msg=$(err_line $n)
		if [ "$TIMED_OUT" = 1 ]; then
			why="nvmf-pcie write timed out"
		elif [ "$RC" = 0 ]; then
			why="nvmf-pcie write of a $((3 * BS + 100))-byte file exited 0"
		elif [ -z "$msg" ]; then
			why="refused (exit $RC) but printed no reason on stderr"
		fi
		# whatever it said, the blocks must be untouched
		if ! bind_to nvme; then
			why="${why:+$why; }could not rebind to the kernel nvme driver"
		elif ! kread $LBA_R $span /tmp/$n.after; then
			why="${why:+$why; }kernel read (after) failed"
		elif ! cmp -s /tmp/$n.before /tmp/$n.after; then
			why="${why:+$why; }target blocks CHANGED: $(cmp_text /tmp/$n.before /tmp/$n.after)"
		fi
	fi
	if [ -z "$why" ]; then
		result $n PASS "$((3 * BS + 100))-byte file refused (exit $RC: $msg), LBA $LBA_R..$((LBA_R + span - 1)) unchanged"
	else
		result $n FAIL "$why"
	fi
	rm -f /tmp/$n.bin /tmp/$n.before /tmp/$n.after
}

# --- shadow doorbells (Doorbell Buffer Config) --------------------------------
# QEMU's controller offers Doorbell Buffer Config (OACS bit 8). Verified
# random reads and writes at QD32 with the shadow doorbells and without:
# with them the driver must use them and lose no data (had it skipped a
# register write the controller was waiting for, commands would time out);
# without them no update may go by the shadow alone. How many updates skip
# the register is reported, not required: QEMU writes EventIdx with every
# value it reads, so a skip needs it to be still fetching an earlier batch,
# which is timing (runs have counted 0 to 3 in 6,000).
jnum() { grep -o "\"$2\":[0-9.]*" "$RES/$1.out" | tail -n 1 | cut -d: -f2; }
t_shadow_doorbells() {
	n=shadow_doorbells
	fail_unless_tool $n || return
	bind_to vfio-pci || { result $n FAIL "could not bind $BDF to vfio-pci"; return; }
	why=
	for side in on off; do
		extra=; [ $side = off ] && extra=--no-shadow-doorbells
		run_pcie ${n}_$side "$T_VERIFY" perf "$BDF" -q 32 -o 4k -w randrw -t 2 --verify --json $extra
		[ "$RC" = 0 ] || { why="$why; perf ($side) $(rc_text): $(err_line ${n}_$side)"; continue; }
		grep -q "\"shadow_doorbells\":$([ $side = on ] && echo true || echo false)" "$RES/${n}_$side.out" ||
			why="$why; perf ($side) reports shadow_doorbells $(grep -o '"shadow_doorbells":[a-z]*' "$RES/${n}_$side.out")"
		[ "$(jnum ${n}_$side errors)" = 0 ] && [ "$(jnum ${n}_$side mismatches)" = 0 ] &&
			[ "$(jnum ${n}_$side verified_blocks)" -gt 0 ] 2>/dev/null ||
			why="$why; perf ($side): errors $(jnum ${n}_$side errors), mismatches $(jnum ${n}_$side mismatches), verified $(jnum ${n}_$side verified_blocks)"
	done
	m_on=$(jnum ${n}_on doorbell_mmio) s_on=$(jnum ${n}_on doorbell_shadowed)
	m_off=$(jnum ${n}_off doorbell_mmio) s_off=$(jnum ${n}_off doorbell_shadowed)
	[ "$((${m_on:-0} + ${s_on:-0}))" -gt 0 ] 2>/dev/null || why="$why; with shadow doorbells no doorbell update counted (mmio ${m_on:-?}, shadowed ${s_on:-?})"
	[ "${s_off:-1}" = 0 ] || why="$why; without shadow doorbells ${s_off:-?} updates were shadowed"
	if [ -z "$why" ]; then
		result $n PASS "verified randrw QD32: with Doorbell Buffer Config $m_on of $((m_on + s_on)) doorbell updates wrote the register, without it $m_off of $m_off; 0 mismatches"
	else
		result $n FAIL "${why#; }"
	fi
}

# --- main ------------------------------------------------------------------
find_controller
log "kernel $(uname -r); NVMe controller: ${BDF:-none}; IOMMU groups: $(ls /sys/kernel/iommu_groups | wc -l)"
log "nvmf-pcie: $(ls -l "$NVMF_PCIE" 2>/dev/null || echo missing)"
faults=$(dmesg | grep -c 'DMAR:.*fault')
for t in $(echo "$TESTS" | tr ',' ' '); do
	log "=== $t ==="
	if [ -z "$BDF" ] && [ "$t" != controller ]; then
		result "$t" FAIL "no NVMe controller found"
		continue
	fi
	case $t in
	controller)         t_controller ;;
	not_bound)          t_not_bound ;;
	identify)           identify_test identify 0 ;;          # no hugepages: 4 KiB DMA path
	verify)             verify_test verify 0 ;;
	write_kernel_read)  t_write_kernel_read ;;
	kernel_write_read)  t_kernel_write_read ;;
	write_refused)      t_write_refused ;;
	identify_hugepages) identify_test identify_hugepages 64 ;;   # 2 MiB hugepage path
	verify_hugepages)   verify_test verify_hugepages 64 ;;
	shadow_doorbells)   t_shadow_doorbells ;;
	*)                  result "$t" FAIL "unknown test (see tests/vm/guest/pcie.sh)" ;;
	esac
	# run.sh fails the run on any IOMMU fault; say which test caused it
	nf=$(dmesg | grep -c 'DMAR:.*fault')
	if [ "$nf" -gt "$faults" ]; then
		log "WARNING: $((nf - faults)) IOMMU fault line(s) in dmesg during $t:"
		dmesg | grep 'DMAR:.*fault' | tail -n $((nf - faults))
	fi
	faults=$nf
done
kill_leftovers
log "pcie tests done"
