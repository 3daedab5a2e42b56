#!/bin/sh
# Guest side of `tests/vm/run.sh demo`: hand QEMU's NVMe controller to
# vfio-pci, drive it from userspace with nvmf-pcie (identify, verify) and
# print a short summary. RESULT lines give run.sh its verdict.
set -u
. "$(dirname "$0")/lib.sh"

banner() { echo; echo "==================== $* ===================="; }
ok=1
summary=

find_controller
banner "nvmf-bridge demo: userspace NVMe driver over VFIO"
if [ -z "$BDF" ]; then
	result identify FAIL "no NVMe controller (PCI class 0x010802) in the VM"
	result verify FAIL "no NVMe controller"
	exit 0
fi
echo "NVMe controller $BDF ($(cat "$(dev_dir)/vendor"):$(cat "$(dev_dir)/device")), IOMMU group $(iommu_group)"
if ! have_tool; then
	result identify FAIL "nvmf-pcie is not in the share (build it: make)"
	result verify FAIL "nvmf-pcie is not in the share"
	exit 0
fi

banner "bind $BDF to vfio-pci"
echo "modprobe vfio-pci vfio_iommu_type1; echo vfio-pci > .../driver_override; echo $BDF > /sys/bus/pci/drivers_probe"
if ! bind_to vfio-pci; then
	result identify FAIL "could not bind $BDF to vfio-pci"
	result verify FAIL "could not bind $BDF to vfio-pci"
	exit 0
fi
echo "driver: $(driver_of), device node /dev/vfio/$(iommu_group)"

banner "nvmf-pcie identify $BDF"
run_pcie identify 60 identify "$BDF"
model=$(sed -n 's/^ *model: *//p' "$RES/identify.out" | head -n 1)
serial=$(sed -n 's/^ *serial: *//p' "$RES/identify.out" | head -n 1)
if [ "$RC" = 0 ] && identify_geometry identify; then
	result identify PASS "model '$model', serial $serial, ns 1: $NS_BLOCKS blocks x $BS bytes"
	summary="$summary
  controller: $model (serial $serial) at $BDF, owned by a userspace process through VFIO
  namespace 1: $NS_BLOCKS blocks of $BS bytes = $((NS_BLOCKS * BS / 1048576)) MiB"
else
	ok=0
	result identify FAIL "$(rc_text): $(err_line identify)"
fi

banner "nvmf-pcie verify $BDF --nsid 1"
run_pcie verify 150 verify "$BDF" --nsid 1
verify_parse verify
if [ "$RC" = 0 ] && [ -n "$V_CMDS" ] && [ "$V_CMDS" -gt 0 ] && [ "$V_MISM" = 0 ] &&
   [ -n "$V_IRQ" ] && [ "$V_IRQ" -gt 0 ]; then
	result verify PASS "$V_CMDS commands, 0 mismatches, irq wakeups $V_IRQ"
	summary="$summary
  verify: $V_CMDS I/O commands written, read back and compared, 0 mismatches
  interrupts: $V_IRQ MSI-X wakeups delivered through VFIO eventfds"
else
	ok=0
	result verify FAIL "$(rc_text), commands=${V_CMDS:-?} mismatches=${V_MISM:-?} irq_wakeups=${V_IRQ:-?}: $(err_line verify)"
fi
kill_leftovers

banner "summary"
echo "  QEMU q35 VM, emulated Intel IOMMU, QEMU NVMe controller, Debian kernel $(uname -r)$summary"
if [ "$ok" = 1 ]; then
	echo "  => the userspace driver owns the controller and moves verified data through the IOMMU"
else
	echo "  => something failed; see the output above"
fi
echo
