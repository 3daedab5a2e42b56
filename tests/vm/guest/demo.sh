#!/bin/sh
# Guest side of `tests/vm/run.sh demo` (make demo): the whole chain in one
# VM. QEMU's NVMe controller goes to vfio-pci; nvmf-pcie identifies it;
# nvmf-bridged takes it from config/example-pcie.json and exports its
# namespace over NVMe/TCP on 127.0.0.1; the guest kernel's initiator
# discovers and connects; fio writes and verifies; everything shuts down
# cleanly. One RESULT line per step gives run.sh its verdict; a step after
# a failed one fails with "skipped".
set -u
. "$(dirname "$0")/lib.sh"

CONFIG_SRC=/share/config/example-pcie.json
CONF=/tmp/example-pcie.json
STEPS="identify bridged_start discover connect fio shutdown"

banner() { echo; echo "==================== $* ===================="; }
indent() { sed 's/^/    /'; }
ms() { awk -v u="$1" 'BEGIN { printf "%.1f ms", u / 1000 }'; }   # microseconds -> "1.2 ms"
broken=   # the step that failed; the later ones are skipped
summary=
step_fail() {   # step_fail NAME DETAILS
	result "$1" FAIL "$2"
	broken=${broken:-$1}
}
skip_rest() {   # FAIL every step from NAME on (nothing can run without the previous)
	_on=0
	for _s in $STEPS; do
		[ "$_s" = "$1" ] && _on=1
		[ "$_on" = 1 ] && result "$_s" FAIL "skipped: $broken failed"
	done
}

find_controller
banner "nvmf-bridge demo: a PCIe NVMe namespace exported over NVMe/TCP and NVMe/RDMA"
if [ -z "$BDF" ]; then
	broken="finding the controller"
	echo "no NVMe controller (PCI class 0x010802) in the VM"
	skip_rest identify
	exit 0
fi
echo "NVMe controller $BDF ($(cat "$(dev_dir)/vendor"):$(cat "$(dev_dir)/device")), IOMMU group $(iommu_group)"

# --- 1. the userspace driver sees the controller -----------------------------
banner "1. bind $BDF to vfio-pci; nvmf-pcie identify"
echo "modprobe vfio-pci vfio_iommu_type1; echo vfio-pci > .../driver_override; echo $BDF > /sys/bus/pci/drivers_probe"
if ! have_tool; then
	step_fail identify "nvmf-pcie is not in the share (build it: make)"
elif ! bind_to vfio-pci; then
	step_fail identify "could not bind $BDF to vfio-pci"
else
	run_pcie identify 60 identify "$BDF"
	model=$(sed -n 's/^ *model: *//p' "$RES/identify.out" | head -n 1)
	serial=$(sed -n 's/^ *serial: *//p' "$RES/identify.out" | head -n 1)
	if [ "$RC" = 0 ] && identify_geometry identify; then
		result identify PASS "model '$model', serial $serial, ns 1: $NS_BLOCKS blocks x $BS bytes"
		summary="$summary
  controller:  $model (serial $serial) at $BDF, driven from userspace through VFIO
  namespace 1: $NS_BLOCKS blocks of $BS bytes = $((NS_BLOCKS * BS / 1048576)) MiB"
	else
		step_fail identify "$(rc_text): $(err_line identify)"
	fi
fi
[ -n "$broken" ] && { skip_rest bridged_start; exit 0; }

# --- 2. the target -----------------------------------------------------------
banner "2. nvmf-bridged --config config/example-pcie.json"
if [ ! -x "$BRIDGED" ]; then
	step_fail bridged_start "nvmf-bridged is not in the share (build it: make)"
elif [ ! -r "$CONFIG_SRC" ]; then
	step_fail bridged_start "$CONFIG_SRC is not in the share"
else
	cfg_bdf=$(sed -n 's/.*"pcie": *"\([^"]*\)".*/\1/p' "$CONFIG_SRC" | head -n 1)
	if [ "$cfg_bdf" = "$BDF" ]; then
		cp "$CONFIG_SRC" "$CONF"
	else
		echo "(the VM's controller is $BDF, the example names $cfg_bdf: using a copy with $BDF)"
		sed "s/\"$cfg_bdf\"/\"$BDF\"/" "$CONFIG_SRC" > "$CONF"
	fi
	NQN=$(sed -n 's/.*"nqn": *"\([^"]*\)".*/\1/p' "$CONF" | head -n 1)
	host_identity
	echo "host NQN (/etc/nvme/hostnqn): $HOSTNQN"
	indent < "$CONF"
	if start_bridged "$CONF" "$TPORT" "$DISC_PORT"; then
		grep -E 'ready|listening|blocks of' "$DLOG" | indent
		result bridged_start PASS "pid $DPID, $NQN on $TADDR:$TPORT, discovery on $DISC_PORT"
	else
		step_fail bridged_start "$START_WHY"
	fi
fi
[ -n "$broken" ] && { skip_rest discover; kill_leftovers; exit 0; }

# --- 3. the kernel initiator -----------------------------------------------
banner "3. nvme discover -t tcp -a $TADDR -s $DISC_PORT"
modprobe nvme-tcp
if nvme_cmd discover discover -t tcp -a "$TADDR" -s "$DISC_PORT"; then
	indent < "$RES/discover.out"
	if grep -q "^subnqn: *$NQN\$" "$RES/discover.out"; then
		result discover PASS "the discovery log lists $NQN"
	else
		step_fail discover "the discovery log does not list $NQN"
	fi
else
	indent < "$RES/discover.out"
	step_fail discover "nvme discover exit $RC: $(out_line discover)"
fi

banner "4. nvme connect -t tcp -a $TADDR -s $TPORT -n $NQN"
if [ -n "$broken" ]; then
	result connect FAIL "skipped: $broken failed"
elif ! nvme_connect connect "$NQN"; then
	step_fail connect "nvme connect exit $RC: $(out_line connect)"
elif ! wait_until 30 ns_dev "$NQN"; then
	step_fail connect "no block device for $NQN 30 s after nvme connect"
else
	nvme_cmd list_subsys list-subsys && indent < "$RES/list_subsys.out"
	ctrl=$(ctrls_of "$NQN" | head -n 1)
	nvme_cmd id_ctrl id-ctrl "/dev/$ctrl" && grep -E '^(mn|sn|subnqn|cntlid) ' "$RES/id_ctrl.out" | indent
	sectors=$(dev_sectors "$DEV")
	echo "    $DEV: $sectors sectors of 512 bytes = $((sectors / 2048)) MiB"
	if [ "$sectors" = $((NS_BLOCKS * BS / 512)) ]; then
		result connect PASS "$DEV ($ctrl over TCP), $((sectors / 2048)) MiB: the PCIe namespace's size"
		summary="$summary
  fabric:      $NQN at $TADDR:$TPORT (NVMe/TCP) -> $DEV on the same VM's kernel"
	else
		step_fail connect "$DEV has $sectors sectors, the namespace $((NS_BLOCKS * BS / 512))"
	fi
fi

# --- 5. data, verified ---------------------------------------------------
banner "5. fio over NVMe/TCP with crc32c verification"
if [ -n "$broken" ]; then
	result fio FAIL "skipped: $broken failed"
else
	FIO_FORMAT=normal,terse
	why= lines=
	if run_fio fio_randrw 150 --filename="$DEV" --ioengine=libaio --direct=1 --verify=crc32c --verify_fatal=1 \
		--name=randrw-4k --rw=randrw --bs=4k --iodepth=32 --numjobs=2 --size=16M --offset_increment=16M; then
		lines="  4 KiB random read/write, QD 32 x 2 jobs: write $FIO_WIOPS IOPS (mean latency $(ms "$FIO_WLAT")),
               read $FIO_RIOPS IOPS incl. the verification pass (mean latency $(ms "$FIO_RLAT"))"
	else
		why="4k randrw: $FIO_WHY"
	fi
	grep -v '^3;' "$RES/fio_randrw.fio" | grep -E 'groupid|IOPS=| lat \(|err=' | indent
	if run_fio fio_seq 150 --filename="$DEV" --ioengine=libaio --direct=1 --verify=crc32c --verify_fatal=1 \
		--name=write-1m --rw=write --bs=1M --iodepth=4 --size=64M --offset=128M; then
		lines="$lines
  1 MiB sequential write, QD 4: $((FIO_WBW / 1024)) MiB/s, $FIO_WIOPS IOPS (mean latency $(ms "$FIO_WLAT")),
               read back for verification at $((FIO_RBW / 1024)) MiB/s"
	else
		why="${why:+$why; }1M write: $FIO_WHY"
	fi
	grep -v '^3;' "$RES/fio_seq.fio" | grep -E 'groupid|IOPS=| lat \(|err=' | indent
	FIO_FORMAT=
	if [ -z "$why" ]; then
		result fio PASS "err=0, every block written was read back and matched its crc32c"
		summary="$summary
$lines
  verification: every block written was read back over the fabric and matched (crc32c, err=0)"
	else
		step_fail fio "$why"
	fi
fi

# --- 5b. the same namespace over NVMe/RDMA ----------------------------------
RADDR=10.99.0.1
banner "5b. NVMe/RDMA: soft-RoCE, nvmf-bridgectl add-port (live), nvme connect -t rdma"
if [ -n "$broken" ]; then
	result rdma FAIL "skipped: $broken failed"
else
	why=
	[ -n "$(ctrls_of "$NQN")" ] && nvme_disconnect disconnect_tcp "$NQN"
	# rxe needs the crc32 hash; the addresses exist only inside this VM
	for m in crc32_generic veth rdma_rxe rdma_ucm ib_uverbs nvme-rdma; do modprobe $m || why="modprobe $m"; done
	ip link add veth0 type veth peer name veth1 2>/dev/null
	ip addr add $RADDR/24 dev veth0 2>/dev/null; ip link set veth0 up; ip link set veth1 up
	rdma link add rxe0 type rxe netdev veth0 2>/dev/null
	echo "    soft-RoCE: $(ibv_devices 2>/dev/null | grep -c rxe) rxe device(s) on veth0 ($RADDR)"
	echo "    \$ nvmf-bridgectl add-port --portid 2 --trtype rdma --adrfam ipv4 --traddr $RADDR --trsvcid 4420 --subsystem $NQN"
	if [ -z "$why" ] && ! timeout 20 "$BIN/nvmf-bridgectl" add-port --portid 2 --trtype rdma --adrfam ipv4 \
		--traddr $RADDR --trsvcid 4420 --subsystem "$NQN" > "$RES/add_port.out" 2>&1; then
		why="add-port: $(head -n 1 "$RES/add_port.out")"
	fi
	[ -z "$why" ] && indent < "$RES/add_port.out"
	if [ -z "$why" ] && ! nvme_cmd connect_rdma connect -t rdma -a $RADDR -s 4420 -n "$NQN" --ctrl-loss-tmo=20; then
		why="nvme connect -t rdma: $(out_line connect_rdma)"
	fi
	if [ -z "$why" ] && ! wait_until 30 ns_dev "$NQN"; then
		why="no block device over RDMA"
	fi
	rctrl=
	for c in /sys/class/nvme/nvme*; do
		[ "$(cat "$c/subsysnqn" 2>/dev/null)" = "$NQN" ] && [ "$(cat "$c/transport" 2>/dev/null)" = rdma ] && rctrl=${c##*/}
	done
	[ -z "$why" ] && [ -z "$rctrl" ] && why="no controller of $NQN over rdma in /sys/class/nvme"
	if [ -z "$why" ]; then
		echo "    $DEV via $rctrl over rdma ($(cat /sys/class/nvme/$rctrl/address))"
		if run_fio fio_rdma 150 --filename="$DEV" --ioengine=libaio --direct=1 --verify=crc32c --verify_fatal=1 \
			--name=rdma-4k --rw=randrw --bs=4k --iodepth=32 --numjobs=2 --size=8M --offset=512M --offset_increment=8M; then
			result rdma PASS "nvme connect -t rdma to a port added live; 4k randrw QD32x2 verified: write $FIO_WIOPS, read $FIO_RIOPS IOPS"
			summary="$summary
  rdma:        port added live with nvmf-bridgectl; $DEV over NVMe/RDMA (soft-RoCE): 4 KiB randrw QD 32 x 2
               write $FIO_WIOPS IOPS, read $FIO_RIOPS IOPS, verified; data moved by RDMA straight into
               the buffers the controller DMAs from (one memory, registered with the NIC and mapped by VFIO)"
		else
			why="fio over RDMA: $FIO_WHY"
		fi
	fi
	[ -n "$why" ] && step_fail rdma "$why"
fi

# --- 6. clean shutdown ---------------------------------------------------
banner "6. nvme disconnect; SIGTERM nvmf-bridged"
why=
if [ -n "$(ctrls_of "$NQN")" ]; then
	nvme_disconnect disconnect "$NQN" && indent < "$RES/disconnect.out" ||
		why="nvme disconnect: $(out_line disconnect)"
fi
mark=$(wc -l < "$DLOG")
stop_bridged 10
case $STOP_RC in
0) ;;
timeout) why="${why:+$why; }nvmf-bridged did not exit within 10 s of SIGTERM" ;;
*) why="${why:+$why; }nvmf-bridged exit $STOP_RC: $(log_tail 4)" ;;
esac
tail -n +$((mark + 1)) "$DLOG" | indent
tail -n +$((mark + 1)) "$DLOG" | grep -q "$BDF: controller shut down" ||
	why="${why:+$why; }the log does not say '$BDF: controller shut down'"
kill_leftovers
if [ -z "$why" ]; then
	result shutdown PASS "host disconnected, daemon exit 0 in ${STOP_SECS}s, controller shut down (CC.SHN)"
	summary="$summary
  shutdown:    host disconnected, nvmf-bridged exit 0 after SIGTERM (${STOP_SECS}s), controller shut down"
else
	step_fail shutdown "$why"
fi

banner "summary"
echo "  QEMU q35 VM (TCG), emulated Intel IOMMU, QEMU NVMe controller, Debian kernel $(uname -r)$summary"
if [ -z "$broken" ]; then
	echo "  => a PCIe namespace owned by a userspace driver, served over NVMe/TCP to the stock Linux initiator, data verified"
else
	echo "  => $broken failed; see the output above and $RES/"
fi
echo
