#!/bin/sh
# Guest side of the NVMe/RDMA tests of `tests/vm/run.sh check`: soft-RoCE
# (rdma_rxe) on a veth pair inside the guest, nvmf-bridged owning QEMU's
# controller through VFIO and listening for NVMe/RDMA (and NVMe/TCP, for the
# mixed test), the kernel's nvme-rdma initiator driving it.
#   rdma_start       soft-RoCE up, daemon up with RDMA and TCP ports
#   rdma_discover    nvme discover -t rdma lists the subsystem
#   rdma_connect     nvme connect -t rdma; the namespace has the PCIe size; id-ctrl
#   rdma_fio         fio with verification: 4k randrw QD32x2, 128k seq, 1M writes
#   rdma_cycles      20 disconnect/connect cycles
#   rdma_mixed       TCP and RDMA hosts on the same subsystem at once, both verifying
#   rdma_wire        a second RDMA port on the peer side of the veth: real
#                    packets over the wire (policy routing), verified fio
#   rdma_readback    SIGTERM; the kernel nvme driver reads back what went over RDMA
#   rdma_depth       a daemon of its own; two controllers x 2 queues x 128
#                    entries kept at full depth by fio: verified, and no
#                    "queue overrun" (the host reuses a slot before our SEND
#                    completes), no RNR, no error recovery on the host
set -u
. "$(dirname "$0")/lib.sh"

NQN=nqn.2024-01.org.nvmf-bridge.test:rdma
CONF=/tmp/rdma.json
A1=10.99.0.1 A2=10.99.0.2
FIO_COMMON="--ioengine=libaio --direct=1 --verify=crc32c --verify_fatal=1"
LBA_RB=700001
RDMA_UP=0

write_config() {
	cat > "$CONF" <<-EOF
	{
	  "bridge": { "discovery_port": $DISC_PORT, "reactors": 2 },
	  "subsystems": [ { "nqn": "$NQN", "attr": { "allow_any_host": "1", "model": "nvmf-bridge RDMA test" },
	                    "namespaces": [ { "nsid": 1, "device": { "pcie": "$BDF", "nsid": 1 } } ] } ],
	  "ports": [
	    { "portid": 1, "addr": { "trtype": "rdma", "adrfam": "ipv4", "traddr": "$A1", "trsvcid": "4420" },
	      "param": { "inline_data_size": "8192" }, "subsystems": [ "$NQN" ] },
	    { "portid": 2, "addr": { "trtype": "rdma", "adrfam": "ipv4", "traddr": "$A2", "trsvcid": "4420" },
	      "subsystems": [ "$NQN" ] },
	    { "portid": 3, "addr": { "trtype": "tcp", "adrfam": "ipv4", "traddr": "$TADDR", "trsvcid": "$TPORT" },
	      "subsystems": [ "$NQN" ] }
	  ]
	}
	EOF
	cp "$CONF" "$RES/rdma.json"
}

rdma_up() {   # soft-RoCE on both ends of a veth pair
	[ $RDMA_UP = 1 ] && return 0
	# rxe needs the crc32 hash (ICRC) before a link is added
	for m in crc32_generic veth rdma_rxe rdma_ucm ib_uverbs nvme-rdma nvme-tcp; do modprobe $m || { WHY="modprobe $m"; return 1; }; done
	ip link add veth0 type veth peer name veth1 2>/dev/null
	ip addr add $A1/24 dev veth0 2>/dev/null; ip addr add $A2/24 dev veth1 2>/dev/null
	ip link set veth0 up; ip link set veth1 up
	rdma link add rxe0 type rxe netdev veth0 2>/dev/null
	rdma link add rxe1 type rxe netdev veth1 2>/dev/null
	ibv_devices 2>/dev/null | grep -q rxe0 || { WHY="no rxe device: $(dmesg | grep rdma_rxe | tail -n 1)"; return 1; }
	RDMA_UP=1
}

# the block device of our subsystem (lib.sh's ns_dev: the multipath head)
dev_over() { ns_dev "$NQN" && echo "$DEV"; }
have_dev() { ns_dev "$NQN"; }
no_dev() { ! ns_dev "$NQN"; }
ctrl_transports() { for c in /sys/class/nvme/nvme*; do [ "$(cat $c/subsysnqn 2>/dev/null)" = "$NQN" ] && cat $c/transport; done | sort | tr '\n' ' '; }

rconnect() {  # rconnect LABEL ADDR [ARGS]
	_l=$1 _a=$2; shift 2
	nvme_cmd "$_l" connect -t rdma -a "$_a" -s 4420 -n "$NQN" --ctrl-loss-tmo=20 --reconnect-delay=2 "$@"
}

need() {
	bridged_alive && return 0
	result "$1" FAIL "nvmf-bridged is not running: $(log_tail 4)"
	return 1
}

fio_verify() {  # fio_verify LABEL DEV JOBARGS...: sets FIO_WHY on failure, FIO_IOPS
	_l=$1 _d=$2; shift 2
	FIO_WHY=
	timeout 150 fio --filename="$_d" $FIO_COMMON "$@" > "$RES/$_l.txt" 2>&1
	_rc=$?
	if [ $_rc != 0 ] || grep -qiE 'verify: bad|err= *[1-9]' "$RES/$_l.txt"; then
		FIO_WHY="$_l: rc $_rc $(grep -iE 'err=|verify:' "$RES/$_l.txt" | head -n 2 | tr '\n' ' ' | cut -c1-200)"
	fi
	FIO_IOPS=$(grep -oE '(read|write): IOPS=[^,]*' "$RES/$_l.txt" | tr '\n' ' ')
}

t_start() {
	local n=rdma_start
	host_identity
	if ! rdma_up; then result $n FAIL "soft-RoCE: $WHY"; return; fi
	bind_to vfio-pci || { result $n FAIL "could not bind $BDF to vfio-pci"; return; }
	write_config
	if ! start_bridged "$CONF" "$TPORT"; then result $n FAIL "$START_WHY"; return; fi
	# the RDMA listeners show in the CM resources
	if ! wait_until 20 sh -c "rdma resource show cm_id 2>/dev/null | grep -c LISTEN | grep -q '[2-9]'"; then
		result $n FAIL "no RDMA listeners: $(rdma resource show cm_id 2>&1 | head -n 3 | tr '\n' ' ')"
		return
	fi
	result $n PASS "rxe0 on veth0 ($A1), rxe1 on veth1 ($A2); daemon pid $DPID listening: rdma $A1:4420, rdma $A2:4420, tcp $TADDR:$TPORT"
}

t_discover() {
	local n=rdma_discover
	need $n || return
	nvme_cmd rdma_disc discover -t rdma -a $A1 -s 4420
	if [ "$RC" = 0 ] && grep -q "$NQN" "$RES/rdma_disc.out" && grep -q "trtype: *rdma" "$RES/rdma_disc.out"; then
		result $n PASS "$(grep -c 'subnqn:' "$RES/rdma_disc.out") entries over RDMA incl. $NQN at $A1 and $A2 (rdma) and $TADDR (tcp)"
	else
		result $n FAIL "rc $RC: $(out_line rdma_disc)"
	fi
}

t_connect() {
	local n=rdma_connect mn
	need $n || return
	if ! rconnect rdma_conn $A1; then result $n FAIL "nvme connect -t rdma: $(out_line rdma_conn)"; return; fi
	if ! wait_until 20 have_dev; then result $n FAIL "no block device after connect; dmesg: $(dmesg | tail -n 3 | tr '\n' ' ')"; return; fi
	DEV=$(dev_over)
	nvme_cmd rdma_idctrl id-ctrl "$DEV"
	mn=$(sed -n 's/^mn *: *//p' "$RES/rdma_idctrl.out" | sed 's/ *$//')
	if [ "$(dev_sectors "$DEV")" != 2097152 ]; then
		result $n FAIL "$DEV has $(dev_sectors "$DEV") sectors, expected 2097152"
	elif [ "$mn" != "nvmf-bridge RDMA test" ]; then
		result $n FAIL "id-ctrl model '$mn'"
	else
		result $n PASS "$DEV over $(ctrl_transports), 2097152 x 512 as the PCIe namespace; id-ctrl mn '$mn' sgls $(sed -n 's/^sgls *: *//p' "$RES/rdma_idctrl.out")"
	fi
}

t_fio() {
	local n=rdma_fio why= iops=
	need $n || return
	have_dev || rconnect rdma_conn2 $A1
	wait_until 20 have_dev || { result $n FAIL "not connected"; return; }
	DEV=$(dev_over)
	fio_verify rdma_fio_4k "$DEV" --name=r4k --rw=randrw --bs=4k --iodepth=32 --numjobs=2 --size=16M --offset=0 --offset_increment=16M --group_reporting
	why=$FIO_WHY iops="4k randrw QD32x2: $FIO_IOPS"
	fio_verify rdma_fio_128k "$DEV" --name=s128k --rw=write --bs=128k --iodepth=8 --size=32M --offset=64M
	why="$why$FIO_WHY" iops="$iops; 128k seq: $FIO_IOPS"
	fio_verify rdma_fio_1m "$DEV" --name=w1m --rw=write --bs=1M --iodepth=4 --size=32M --offset=128M
	why="$why$FIO_WHY" iops="$iops; 1M write: $FIO_IOPS"
	if [ -z "$why" ]; then result $n PASS "err=0, crc32c verified: $iops"; else result $n FAIL "$why"; fi
}

t_cycles() {
	local n=rdma_cycles i t0
	need $n || return
	t0=$(now)
	for i in $(seq 20); do
		nvme_cmd rdma_cyc_d disconnect -n "$NQN"
		wait_until 20 no_dev || { result $n FAIL "cycle $i: device still there after disconnect"; return; }
		rconnect rdma_cyc_c $A1 || { result $n FAIL "cycle $i: connect: $(out_line rdma_cyc_c)"; return; }
		wait_until 20 have_dev || { result $n FAIL "cycle $i: no device after connect"; return; }
	done
	result $n PASS "20 disconnect/connect cycles over RDMA in $(since "$t0")s, the device back every time"
}

t_mixed() {
	local n=rdma_mixed why= fp
	need $n || return
	have_dev || rconnect rdma_conn3 $A1
	nvme_cmd rdma_tcp connect -t tcp -a "$TADDR" -s "$TPORT" -n "$NQN" --ctrl-loss-tmo=20
	if [ "$RC" != 0 ]; then result $n FAIL "tcp connect: $(out_line rdma_tcp)"; return; fi
	wait_until 10 sh -c "[ \$(ls -d /sys/class/nvme/nvme* | wc -l) -ge 2 ]"
	tr=$(ctrl_transports)
	case "$tr" in *rdma*tcp*|*tcp*rdma*) ;; *) result $n FAIL "controllers: '$tr', expected rdma and tcp"; return ;; esac
	DEV=$(dev_over)
	# two paths (multipath head): I/O goes over both; pin one job per path
	fio_verify rdma_mixed "$DEV" --name=mix --rw=randrw --bs=4k --iodepth=16 --numjobs=2 --size=8M --offset=256M --offset_increment=8M --group_reporting
	why=$FIO_WHY
	for c in /sys/class/nvme/nvme*; do [ "$(cat $c/subsysnqn 2>/dev/null)" = "$NQN" ] && [ "$(cat $c/transport)" = tcp ] && nvme_cmd rdma_tcp_d disconnect -d "${c##*/}"; done
	if [ -z "$why" ]; then result $n PASS "controllers over $tr on one subsystem (multipath), fio verified across both: $FIO_IOPS"; else result $n FAIL "$why"; fi
}

# the routing t_wire sets up, undone: later tests run over rxe0 alone again
wire_undo() {
	ip rule del pref 100 2>/dev/null
	ip route flush table 100 2>/dev/null
	ip rule add pref 0 lookup local 2>/dev/null && ip rule del pref 1000 lookup local 2>/dev/null
}

t_wire() {
	local n=rdma_wire rx0 rx1
	need $n || return
	nvme_cmd rdma_wire_d disconnect -n "$NQN"; wait_until 20 no_dev
	# locally generated traffic from A1 to A2 leaves through veth0 instead of lo
	ip rule add pref 100 iif lo lookup 100 2>/dev/null
	ip route add $A2/32 dev veth0 src $A1 table 100 2>/dev/null
	ip route add $A1/32 dev veth1 src $A2 table 100 2>/dev/null
	ip rule del pref 0 lookup local 2>/dev/null && ip rule add pref 1000 lookup local 2>/dev/null
	for i in all veth0 veth1; do sysctl -qw net.ipv4.conf.$i.accept_local=1; sysctl -qw net.ipv4.conf.$i.rp_filter=0; done
	rx0=$(cat /sys/class/net/veth1/statistics/rx_packets)
	if ! rconnect rdma_wire_c $A2 -w $A1; then wire_undo; result $n FAIL "connect to $A2 from $A1: $(out_line rdma_wire_c)"; return; fi
	wait_until 20 have_dev || { wire_undo; result $n FAIL "no device over the wire"; return; }
	DEV=$(dev_over)
	fio_verify rdma_wire "$DEV" --name=wire --rw=randrw --bs=4k --iodepth=16 --size=8M --offset=300M
	rx1=$(cat /sys/class/net/veth1/statistics/rx_packets)
	nvme_cmd rdma_wire_d2 disconnect -n "$NQN"
	wire_undo
	if [ -n "$FIO_WHY" ]; then
		result $n FAIL "$FIO_WHY"
	elif [ $((rx1 - rx0)) -lt 1000 ]; then
		result $n FAIL "only $((rx1 - rx0)) packets crossed veth1: not over the wire"
	else
		result $n PASS "host $A1 (rxe0) -> target $A2 (rxe1): $((rx1 - rx0)) packets over veth1, fio verified: $FIO_IOPS"
	fi
}

t_readback() {
	local n=rdma_readback why=
	need $n || return
	have_dev || rconnect rdma_rb_c $A1
	wait_until 20 have_dev || { result $n FAIL "not connected"; return; }
	DEV=$(dev_over)
	dd if=/dev/urandom of=/tmp/rdma.pat bs=4096 count=300 2>/dev/null
	dd if=/tmp/rdma.pat of="$DEV" bs=512 seek=$LBA_RB oflag=direct conv=fsync 2>/dev/null || why="dd over RDMA failed"
	nvme_cmd rdma_rb_d disconnect -n "$NQN"
	stop_bridged 10 || why="${why:-SIGTERM: exit $STOP_RC after ${STOP_SECS}s}"
	if [ -z "$why" ]; then
		bind_to nvme && wait_until 20 kernel_ns_ready || why="kernel nvme driver: no namespace"
	fi
	if [ -z "$why" ]; then
		dd if="$KDEV" of=/tmp/rdma.back bs=512 skip=$LBA_RB count=2400 iflag=direct 2>/dev/null
		cmp -s /tmp/rdma.pat /tmp/rdma.back || why="the kernel driver read different data at LBA $LBA_RB"
	fi
	if [ -z "$why" ]; then
		result $n PASS "2400 blocks written over RDMA at LBA $LBA_RB; SIGTERM exit 0 in ${STOP_SECS}s; $KDEV reads them back identical"
	else
		result $n FAIL "$why; log: $(log_tail 4)"
	fi
}

# rdma_depth: its own daemon (after rdma_readback stopped the first), a mem
# namespace, one reactor, the default shared receive queue
DEPTH_NQN=nqn.2024-01.org.nvmf-bridge.test:rdma-depth
DEPTH_PORT=4421
# RNR NAKs the target side of rxe0 sent: a capsule that found no receive buffer
rnr_sent() { cat /sys/class/infiniband/rxe0/ports/1/hw_counters/send_rnr_err 2>/dev/null; }
depth_dev() { ns_dev "$DEPTH_NQN"; }
depth_listening() { rdma resource show cm_id 2>/dev/null | grep LISTEN | grep -q ":$DEPTH_PORT"; }
depth_ctrls() { grep -ls "$DEPTH_NQN" /sys/class/nvme/nvme*/subsysnqn | wc -l; }
no_depth_ctrls() { [ "$(depth_ctrls)" = 0 ]; }
recoveries() { dmesg | grep -c 'starting error recovery'; }

t_depth() {
	local n=rdma_depth why= r0 r1 e0 e1 ov l0 conf=/tmp/rdma-depth.json
	rdma_up || { result $n FAIL "soft-RoCE: $WHY"; return; }
	[ -n "${DPID:-}" ] && bridged_alive && stop_bridged 10
	cat > "$conf" <<-EOF
	{
	  "bridge": { "discovery_port": 0, "reactors": 1 },
	  "subsystems": [ { "nqn": "$DEPTH_NQN", "attr": { "allow_any_host": "1" },
	                    "namespaces": [ { "nsid": 1, "device": { "mem": "64MiB" } } ] } ],
	  "ports": [ { "portid": 1, "addr": { "trtype": "rdma", "adrfam": "ipv4", "traddr": "$A1", "trsvcid": "$DEPTH_PORT" },
	               "param": { "inline_data_size": "8192" }, "subsystems": [ "$DEPTH_NQN" ] },
	             { "portid": 2, "addr": { "trtype": "rdma", "adrfam": "ipv4", "traddr": "$A1", "trsvcid": "$((DEPTH_PORT + 1))" },
	               "param": { "inline_data_size": "8192" }, "subsystems": [ "$DEPTH_NQN" ] } ]
	}
	EOF
	cp "$conf" "$RES/rdma-depth.json"
	l0=$(wc -l < "$DLOG")
	if ! start_bridged "$conf"; then result $n FAIL "$START_WHY"; return; fi
	wait_until 20 depth_listening || { result $n FAIL "no RDMA listener on $A1:$DEPTH_PORT: $(log_tail 4)"; return; }
	# two controllers of 2 I/O queues x 128 entries, I/O spread over both
	nvme_cmd rdma_depth_c1 connect -t rdma -a $A1 -s $DEPTH_PORT -n "$DEPTH_NQN" --nr-io-queues=2 --queue-size=128 --ctrl-loss-tmo=20
	# (through a second port: nvme-cli 2.3 refuses a second connect to one
	# address even with -D; both ports share the reactor's SRQ)
	nvme_cmd rdma_depth_c2 connect -t rdma -a $A1 -s $((DEPTH_PORT + 1)) -n "$DEPTH_NQN" --nr-io-queues=2 --queue-size=128 --ctrl-loss-tmo=20
	if ! wait_until 20 depth_dev || [ "$(depth_ctrls)" != 2 ]; then
		result $n FAIL "connect: $(depth_ctrls) controllers: $(out_line rdma_depth_c1) $(out_line rdma_depth_c2)"
		return
	fi
	for s in /sys/class/nvme-subsystem/*; do
		[ "$(cat "$s/subsysnqn" 2>/dev/null)" = "$DEPTH_NQN" ] && echo round-robin > "$s/iopolicy"
	done
	r0=$(rnr_sent) e0=$(recoveries)
	# 2 jobs x QD 256 over 4 queues of 128: every queue at full depth
	fio_verify rdma_depth "$DEV" --name=depth --rw=randrw --bs=4k --iodepth=256 --numjobs=2 --size=8M --offset_increment=8M --group_reporting
	why=$FIO_WHY
	r1=$(rnr_sent) e1=$(recoveries)
	ov=$(tail -n +$((l0 + 1)) "$DLOG" | grep -c 'queue overrun')
	nvme_cmd rdma_depth_d disconnect -n "$DEPTH_NQN"
	wait_until 20 no_depth_ctrls
	stop_bridged 10 || why="${why:-SIGTERM: exit $STOP_RC}"
	[ "$ov" = 0 ] || why="${why}$ov queue overrun(s): a capsule found no free request (a SEND not yet completed holds one);"
	[ "$e1" = "$e0" ] || why="${why}the host started error recovery $((e1 - e0)) time(s): $(dmesg | grep -B1 'starting error recovery' | tail -n 2 | tr '\n' ' ');"
	if [ -z "$r0" ] || [ -z "$r1" ]; then
		why="${why}no send_rnr_err counter in /sys/class/infiniband/rxe0/ports/1/hw_counters: RNR not checked;"
	elif [ "$r1" != "$r0" ]; then
		why="${why}$((r1 - r0)) RNR NAK(s): the shared receive queue ran dry;"
	fi
	if [ -z "$why" ]; then
		result $n PASS "2 controllers x 2 queues x 128 entries at full depth (fio 2 x QD 256, round-robin): crc32c verified, err=0; no queue overrun, no RNR, no host error recovery: $FIO_IOPS"
	else
		result $n FAIL "$why log: $(log_tail 3)"
	fi
}

find_controller
for t in $(echo "$TESTS" | tr ',' ' '); do
	log "=== $t ==="
	case $t in
	rdma_start)    t_start ;;
	rdma_discover) t_discover ;;
	rdma_connect)  t_connect ;;
	rdma_fio)      t_fio ;;
	rdma_cycles)   t_cycles ;;
	rdma_mixed)    t_mixed ;;
	rdma_wire)     t_wire ;;
	rdma_readback) t_readback ;;
	rdma_depth)    t_depth ;;
	*)             result "$t" FAIL "unknown test (see tests/vm/guest/rdma.sh)" ;;
	esac
done
[ -n "${DPID:-}" ] && stop_bridged 10
kill_leftovers
log "rdma tests done"
