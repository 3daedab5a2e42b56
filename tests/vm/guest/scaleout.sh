#!/bin/sh
# Scale-out across boxes with the standard machinery (VM_GUEST=current,
# which has two NVMe controllers):
#   bridge_scaleout  two nvmf-bridged, each owning one of QEMU's controllers
#                    through VFIO, on two addresses (127.0.0.1 and 127.0.0.2,
#                    each with discovery on 8009); the first one's discovery
#                    log refers to the second's (a referral). A host that
#                    knows only the first runs `nvme connect-all`: it follows
#                    the referral and connects both subsystems; fio verifies
#                    on both; disconnect-all.
set -u
. "$(dirname "$0")/lib.sh"

A_ADDR=127.0.0.1 B_ADDR=127.0.0.2 PORT_A=4450 PORT_B=4451 PORT_DISC=8009
NQN_A=nqn.2024-01.io.nvmf-bridge:box-a
NQN_B=nqn.2024-01.io.nvmf-bridge:box-b
FIO_JOB="--ioengine=libaio --direct=1 --verify=crc32c --verify_fatal=1 --rw=randwrite --bs=4k --iodepth=16 --size=16M"

show() { sed 's/^/    | /' "$RES/$1.out" 2>/dev/null | head -n 30; }

# box_config FILE NQN BDF ADDR PORT RPC [REFERRAL_ADDR]
box_config() {
	_ref=
	[ -n "${7:-}" ] && _ref=', "referrals": [ { "name": "box-b", "enable": 1, "addr": { "trtype": "tcp", "adrfam": "ipv4", "traddr": "'$7'", "trsvcid": "'$PORT_DISC'", "portid": 1 } } ]'
	cat > "$1" <<EOC
{
  "bridge": { "discovery_port": $PORT_DISC, "rpc_socket": "$6" },
  "ports": [ { "portid": 1,
    "addr": { "trtype": "tcp", "adrfam": "ipv4", "traddr": "$4", "trsvcid": "$5" },
    "subsystems": [ "$2" ]$_ref } ],
  "subsystems": [ { "nqn": "$2", "attr": { "allow_any_host": "1" },
    "namespaces": [ { "nsid": 1, "device": { "pcie": "$3", "nsid": 1 } } ] } ]
}
EOC
	cp "$1" "$RES/$(basename "$1")"
}

# dev_of NQN: the namespace block device of that subsystem (sets DEV)
dev_of() { ns_dev "$1"; }

t_bridge_scaleout() {
	WHY= INFO=
	host_identity
	BDFS=$(for d in /sys/bus/pci/devices/*; do [ "$(cat "$d/class")" = 0x010802 ] && echo "${d##*/}"; done)
	set -- $BDFS
	if [ $# -lt 2 ]; then
		result bridge_scaleout FAIL "two NVMe controllers needed, found: ${BDFS:-none}"
		return
	fi
	BDF_A=$1 BDF_B=$2
	for BDF in $BDF_A $BDF_B; do
		bind_to vfio-pci || { result bridge_scaleout FAIL "could not bind $BDF to vfio-pci"; return; }
	done
	box_config /tmp/box-a.json "$NQN_A" "$BDF_A" "$A_ADDR" $PORT_A /tmp/box-a.sock "$B_ADDR"
	box_config /tmp/box-b.json "$NQN_B" "$BDF_B" "$B_ADDR" $PORT_B /tmp/box-b.sock
	# two daemons: start_bridged tracks one, so box B is started by hand
	DLOG_A=$DLOG
	DLOG=$RES/bridged-b.log
	if ! start_bridged /tmp/box-b.json "$PORT_B"; then
		result bridge_scaleout FAIL "box B did not start: $START_WHY"
		return
	fi
	PID_B=$DPID
	DLOG=$DLOG_A
	if ! start_bridged /tmp/box-a.json "$PORT_A"; then
		kill -TERM "$PID_B"
		result bridge_scaleout FAIL "box A did not start: $START_WHY"
		return
	fi
	PID_A=$DPID
	# the host knows only box A
	if nvme_cmd so_discover discover -t tcp -a "$A_ADDR" -s "$PORT_DISC"; then
		grep -q "subtype: *referral\|subtype: *discovery subsystem referral\|nqn.2014-08.org.nvmexpress.discovery" "$RES/so_discover.out" &&
			grep -q "$B_ADDR" "$RES/so_discover.out" ||
			{ WHY="$WHY; box A's discovery log has no referral to $B_ADDR"; show so_discover; }
	else
		WHY="$WHY; nvme discover at box A exit $RC"; show so_discover
	fi
	if nvme_cmd so_connect_all connect-all -t tcp -a "$A_ADDR" -s "$PORT_DISC" --ctrl-loss-tmo=20; then
		show so_connect_all
	else
		WHY="$WHY; nvme connect-all exit $RC: $(head -c 200 "$RES/so_connect_all.out")"; show so_connect_all
	fi
	for nqn in "$NQN_A" "$NQN_B"; do
		if wait_until 20 dev_of "$nqn"; then
			_c=$(ctrls_of "$nqn" | head -n 1)
			if run_fio "so_${nqn##*:}" 120 --name="so_${nqn##*:}" --filename="$DEV" $FIO_JOB; then
				INFO="$INFO; $nqn: $DEV via $(cat "/sys/class/nvme/$_c/address" 2>/dev/null | cut -d, -f1), fio ${FIO_WKB} KiB verified"
			else
				WHY="$WHY; $nqn: fio: $FIO_WHY"
			fi
		else
			WHY="$WHY; connect-all did not connect $nqn (controllers: $(ls /sys/class/nvme | tr '\n' ' '))"
		fi
	done
	nvme_cmd so_disconnect_all disconnect-all || WHY="$WHY; disconnect-all exit $RC"
	kill -TERM "$PID_B" 2>/dev/null
	DPID=$PID_A
	stop_bridged 20 || WHY="$WHY; box A: exit $STOP_RC"
	wait "$PID_B" 2>/dev/null || WHY="$WHY; box B did not exit 0"
	if [ -z "$WHY" ]; then
		result bridge_scaleout PASS "box A $A_ADDR ($BDF_A) refers to box B $B_ADDR ($BDF_B); connect-all from box A's address alone${INFO}"
	else
		result bridge_scaleout FAIL "${WHY#; }"
	fi
}

for t in $(echo "${TESTS:-bridge_scaleout}" | tr ',' ' '); do
	case $t in
	bridge_scaleout) log "--- $t"; t_bridge_scaleout ;;
	*) result "$t" FAIL "no such test in scaleout.sh" ;;
	esac
done
exit 0
