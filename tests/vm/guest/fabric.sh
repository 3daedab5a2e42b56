#!/bin/sh
# Guest side of the NVMe/TCP tests of `tests/vm/run.sh check`: nvmf-bridged
# owns QEMU's NVMe controller through VFIO and exports its namespace 1 (and
# a memory namespace in a second, restricted subsystem) on 127.0.0.1; the
# guest kernel's own NVMe/TCP initiator, nvme-cli and fio use it.
#
# Runs the tests named in $TESTS (comma list, in that order; run.sh has the
# default list); each prints one `RESULT <name> PASS|FAIL <details>` line.
# The tests share one daemon and one connection: a test that needs them and
# finds none starts the daemon / connects first, so a subset also runs on
# its own (VM_TESTS=tcp_fio). A daemon that died fails every later test with
# the tail of its log ($RES/bridged.log).
set -u
. "$(dirname "$0")/lib.sh"

NQN_PCIE=nqn.2024-01.org.nvmf-bridge.test:pcie0        # namespace 1 of the PCIe controller, any host
NQN_RESTR=nqn.2024-01.org.nvmf-bridge.test:restricted  # 64 MiB memory, the default host only
MODEL="nvmf-bridge VM test"
SERIAL=NVMFBVM0001
CONF=/tmp/bridged.json
RESTR_BYTES=$((64 << 20))

# Where the tests put their data on the 1 GiB namespace (bytes). The fio
# regions of the sequential and 1 MiB jobs stay untouched until
# tcp_readback reads them through the kernel driver.
FIO_COMMON="--ioengine=libaio --direct=1 --verify=crc32c --verify_fatal=1"
job_randrw() { echo "--name=randrw --rw=randrw --bs=4k --iodepth=32 --numjobs=2 --size=16M --offset=0 --offset_increment=16M"; }
job_seq() { echo "--name=seq128k --rw=write --bs=128k --iodepth=8 --size=32M --offset=64M"; }
job_1m() { echo "--name=write1m --rw=write --bs=1M --iodepth=4 --size=32M --offset=128M"; }
job_digest() { echo "--name=digest --rw=randrw --bs=4k --iodepth=16 --size=8M --offset=320M"; }
job_host2() { echo "--name=host2 --rw=randrw --bs=4k --iodepth=16 --size=4M --offset=384M"; }
# tcp_burst: 128 KiB commands, 128 submitted at once on one queue of 128
BURST="--bs=128k --iodepth=128 --iodepth_batch_submit=128 --iodepth_batch_complete_min=1"
job_burst_write() { echo "--name=burstw --rw=write $BURST --size=64M --offset=448M"; }
job_burst_read() { echo "--name=burstr --rw=randread $BURST --size=64M --offset=448M --time_based --runtime=5"; }
OFF_DISCARD=$((256 << 20))   # blkdiscard 1 MiB here
OFF_ZERO=$((260 << 20))      # random data, then write-zeroes, 1 MiB
LBA_RB=900001                # tcp_readback: dd over the fabric (in 512-byte LBAs), kernel reads back
T_FIO=150

STARTED=0      # the daemon was started (or tried) in this boot
DEAD_WHY=      # how it died, once known
FIO_SEQ_DONE=0 FIO_1M_DONE=0
HOST2NQN= HOST2ID=
# the PCIe namespace's geometry as nvmf-pcie identify reports it before the
# daemon takes the controller (fallback: the VM's 1 GiB image in 512-byte LBAs)
NS_BLOCKS= BS=

second_host() {
	[ -n "$HOST2NQN" ] && return 0
	HOST2ID=$(cat /proc/sys/kernel/random/uuid)
	HOST2NQN=nqn.2014-08.org.nvmexpress:uuid:$HOST2ID
}

write_config() {
	cat > "$CONF" <<-EOF
	{
	  "bridge": { "discovery_port": $DISC_PORT },
	  "hosts": [ { "nqn": "$HOSTNQN" } ],
	  "subsystems": [
	    {
	      "nqn": "$NQN_PCIE",
	      "attr": { "allow_any_host": "1", "serial": "$SERIAL", "model": "$MODEL" },
	      "allowed_hosts": [],
	      "namespaces": [
	        { "nsid": 1, "enable": 1, "device": { "pcie": "$BDF", "nsid": 1 } }
	      ]
	    },
	    {
	      "nqn": "$NQN_RESTR",
	      "attr": { "allow_any_host": "0", "serial": "NVMFBVM0002", "model": "nvmf-bridge VM restricted" },
	      "allowed_hosts": [ "$HOSTNQN" ],
	      "namespaces": [
	        { "nsid": 1, "enable": 1, "device": { "mem": "64MiB" } }
	      ]
	    }
	  ],
	  "ports": [
	    {
	      "portid": 1,
	      "addr": { "trtype": "tcp", "adrfam": "ipv4", "traddr": "$TADDR", "trsvcid": "$TPORT", "treq": "not specified" },
	      "subsystems": [ "$NQN_PCIE", "$NQN_RESTR" ]
	    }
	  ]
	}
	EOF
	cp "$CONF" "$RES/bridged.json"
}

# start_daemon: controller to vfio-pci, its geometry from nvmf-pcie, host
# identity, config, daemon up with both listeners (START_WHY on failure)
start_daemon() {
	STARTED=1
	START_WHY=
	[ -x "$BRIDGED" ] || { START_WHY="nvmf-bridged is not in the share (build it: make)"; return 1; }
	host_identity
	second_host
	bind_to vfio-pci || { START_WHY="could not bind $BDF to vfio-pci"; return 1; }
	if [ -z "$BS" ]; then
		run_pcie tcp_identify 60 identify "$BDF"
		if [ "$RC" != 0 ] || ! identify_geometry tcp_identify; then
			log "WARNING: no geometry from nvmf-pcie identify ($(rc_text)); assuming 2097152 x 512"
			NS_BLOCKS=2097152 BS=512
		fi
	fi
	write_config
	start_bridged "$CONF" "$TPORT" "$DISC_PORT"
}

# need_daemon NAME: the daemon runs (started now if this boot has none yet);
# otherwise FAIL NAME with how it died
need_daemon() {
	bridged_alive && return 0
	if [ "$STARTED" = 0 ]; then
		start_daemon && return 0
		result "$1" FAIL "could not start nvmf-bridged: $START_WHY"
		return 1
	fi
	if [ -z "$DEAD_WHY" ]; then
		if [ -n "$DPID" ]; then
			wait "$DPID" 2>/dev/null
			DEAD_WHY="nvmf-bridged died (exit $?)"
		else
			DEAD_WHY="nvmf-bridged is not running"
		fi
	fi
	result "$1" FAIL "$DEAD_WHY; log: $(log_tail 8)"
	return 1
}

# connect_pcie LABEL [ARGS]: connect the default host to the PCIe subsystem
# and wait for its block device (DEV); CONN_WHY on failure
CONN_WHY=
connect_pcie() {
	_cl=$1; shift
	CONN_WHY=
	if ! nvme_connect "$_cl" "$NQN_PCIE" "$@"; then
		CONN_WHY="nvme connect exit $RC: $(out_line "$_cl")"
		return 1
	fi
	wait_until 30 ns_dev "$NQN_PCIE" && return 0
	CONN_WHY="no block device for $NQN_PCIE 30 s after nvme connect (controllers: $(ctrls_of "$NQN_PCIE" | tr '\n' ' '))"
	return 1
}

# need_conn NAME: daemon up and the default host connected (DEV set)
need_conn() {
	need_daemon "$1" || return 1
	ns_dev "$NQN_PCIE" && return 0
	connect_pcie "$1_connect" && return 0
	result "$1" FAIL "$CONN_WHY"
	return 1
}

ctrl_attr() { cat "/sys/class/nvme/$1/$2" 2>/dev/null; }

# fabrics_connect LABEL OPTIONS: what nvme connect does underneath: the
# options string written to /dev/nvme-fabrics, the kernel's answer
# (instance=N,cntlid=M) read back from it; RC
fabrics_connect() {
	log "\$ echo '$2' > /dev/nvme-fabrics"
	timeout -k 5 "$T_NVME" sh -c 'exec 3<>/dev/nvme-fabrics && printf "%s" "$1" >&3 && read -r r <&3 && echo "$r"' \
		sh "$2" > "$RES/$1.out" 2>&1
	RC=$?
	log "exit $RC: $(out_line "$1")"
	return $RC
}

# disc_entries LABEL: "subnqn traddr trsvcid" per entry of an nvme discover output
disc_entries() {
	awk '/^=====Discovery Log Entry/ { if (nqn != "") print nqn, addr, svc; nqn = addr = svc = "" }
	     /^subnqn:/ { nqn = $2 } /^traddr:/ { addr = $2 } /^trsvcid:/ { svc = $2 }
	     END { if (nqn != "") print nqn, addr, svc }' "$RES/$1.out"
}

# list_subsys_paths LABEL NQN: the "+- nvmeN tcp ..." lines of NQN in a list-subsys output
list_subsys_paths() {
	awk -v nqn="$2" '/^nvme-subsys/ { on = (index($0, "NQN=" nqn) > 0) } on && /\+- nvme/' "$RES/$1.out"
}

# --- the tests -------------------------------------------------------------

t_start() {
	local n=tcp_start
	if bridged_alive; then
		result $n PASS "nvmf-bridged already running (pid $DPID)"
		return
	fi
	if ! start_daemon; then
		result $n FAIL "$START_WHY"
		return
	fi
	result $n PASS "pid $DPID, listening on $TADDR:$TPORT and discovery port $DISC_PORT;" \
		"$NQN_PCIE = $BDF ns 1 ($NS_BLOCKS x $BS), $NQN_RESTR = 64MiB mem; host $HOSTNQN"
}

t_discover() {
	local n=tcp_discover why= e1= e2=
	need_daemon $n || return
	log "\$ nvme discover -t tcp -a $TADDR -s $DISC_PORT"
	nvme_cmd ${n}_host1 discover -t tcp -a $TADDR -s $DISC_PORT
	if [ "$RC" != 0 ]; then
		why="$why; nvme discover exit $RC: $(out_line ${n}_host1)"
	else
		e1=$(disc_entries ${n}_host1)
		echo "$e1" | sed 's/^/    /'
		echo "$e1" | grep -qx "$NQN_PCIE $TADDR $TPORT" || why="$why; default host: no entry '$NQN_PCIE $TADDR $TPORT'"
		echo "$e1" | grep -qx "$NQN_RESTR $TADDR $TPORT" || why="$why; default host: no entry '$NQN_RESTR $TADDR $TPORT'"
		! echo "$e1" | grep -q ' 0\.0\.0\.0 ' || why="$why; an entry advertises 0.0.0.0"
	fi
	log "\$ nvme discover -t tcp -a $TADDR -s $DISC_PORT --hostnqn=$HOST2NQN --hostid=$HOST2ID"
	nvme_cmd ${n}_host2 discover -t tcp -a $TADDR -s $DISC_PORT --hostnqn="$HOST2NQN" --hostid="$HOST2ID"
	if [ "$RC" != 0 ]; then
		why="$why; second host: nvme discover exit $RC: $(out_line ${n}_host2)"
	else
		e2=$(disc_entries ${n}_host2)
		echo "$e2" | sed 's/^/    /'
		echo "$e2" | grep -qx "$NQN_PCIE $TADDR $TPORT" || why="$why; second host: no entry for $NQN_PCIE"
		! echo "$e2" | grep -q "^$NQN_RESTR " || why="$why; second host sees $NQN_RESTR (not in its allowed_hosts)"
	fi
	if [ -z "$why" ]; then
		result $n PASS "default host: $(echo "$e1" | grep -c .) entries incl. both subsystems at $TADDR:$TPORT;" \
			"second host: $(echo "$e2" | grep -c .) entries, only $NQN_PCIE"
	else
		result $n FAIL "${why#; }"
	fi
}

t_connect() {
	local n=tcp_connect t0= el= ctrl= want= got= why=
	need_daemon $n || return
	if ns_dev "$NQN_PCIE"; then
		log "already connected ($DEV)"
		el=0
	else
		t0=$(now)
		connect_pcie $n || { result $n FAIL "$CONN_WHY"; return; }
		el=$(since "$t0")
	fi
	ctrl=$(ctrls_of "$NQN_PCIE" | head -n 1)
	want=$((NS_BLOCKS * BS / 512))
	got=$(dev_sectors "$DEV")
	[ "$got" = "$want" ] || why="$why; $DEV has $got sectors, the PCIe namespace $NS_BLOCKS x $BS = $want sectors"
	[ "$(ctrl_attr "$ctrl" state)" = live ] || why="$why; $ctrl state $(ctrl_attr "$ctrl" state)"
	if [ -z "$why" ]; then
		result $n PASS "$DEV ($ctrl, $(ctrl_attr "$ctrl" address)) in ${el}s, $got sectors = $NS_BLOCKS x $BS as nvmf-pcie identify reported"
	else
		result $n FAIL "${why#; }"
	fi
}

t_nvme_cli() {
	local n=tcp_nvme_cli ctrl= why= mn= sn= subnqn= cntlid= nsze= paths=
	need_conn $n || return
	ctrl=$(ctrls_of "$NQN_PCIE" | head -n 1)
	if nvme_cmd ${n}_id_ctrl id-ctrl "/dev/$ctrl"; then
		mn=$(sed -n 's/^mn *: *//p' "$RES/${n}_id_ctrl.out" | sed 's/ *$//')
		sn=$(sed -n 's/^sn *: *//p' "$RES/${n}_id_ctrl.out" | sed 's/ *$//')
		subnqn=$(sed -n 's/^subnqn *: *//p' "$RES/${n}_id_ctrl.out" | sed 's/ *$//')
		cntlid=$(sed -n 's/^cntlid *: *//p' "$RES/${n}_id_ctrl.out" | sed 's/ *$//')
		[ "$mn" = "$MODEL" ] || why="$why; id-ctrl mn '$mn', want '$MODEL'"
		[ "$sn" = "$SERIAL" ] || why="$why; id-ctrl sn '$sn', want '$SERIAL'"
		[ "$subnqn" = "$NQN_PCIE" ] || why="$why; id-ctrl subnqn '$subnqn'"
		if [ -z "$cntlid" ] || [ $((cntlid)) -eq 0 ]; then why="$why; id-ctrl cntlid '$cntlid'"; fi
	else
		why="$why; nvme id-ctrl /dev/$ctrl exit $RC: $(out_line ${n}_id_ctrl)"
	fi
	if nvme_cmd ${n}_id_ns id-ns "$DEV"; then
		nsze=$(sed -n 's/^nsze *: *//p' "$RES/${n}_id_ns.out" | sed 's/ *$//')
		if [ -z "$nsze" ] || [ $((nsze)) -ne "$NS_BLOCKS" ]; then why="$why; id-ns nsze '$nsze', want $NS_BLOCKS"; fi
	else
		why="$why; nvme id-ns $DEV exit $RC: $(out_line ${n}_id_ns)"
	fi
	nvme_cmd ${n}_smart smart-log "/dev/$ctrl" || why="$why; nvme smart-log /dev/$ctrl exit $RC: $(out_line ${n}_smart)"
	if nvme_cmd ${n}_list_subsys list-subsys; then
		paths=$(list_subsys_paths ${n}_list_subsys "$NQN_PCIE")
		echo "$paths" | sed 's/^/    /'
		echo "$paths" | grep -q "tcp traddr=$TADDR,trsvcid=$TPORT" ||
			why="$why; list-subsys: no 'tcp traddr=$TADDR,trsvcid=$TPORT' path under $NQN_PCIE: $(head -n 6 "$RES/${n}_list_subsys.out" | tr '\n' '|')"
	else
		why="$why; nvme list-subsys exit $RC: $(out_line ${n}_list_subsys)"
	fi
	if [ -z "$why" ]; then
		result $n PASS "id-ctrl mn '$mn' sn $sn cntlid $cntlid subnqn ok; id-ns nsze $nsze; smart-log ok; list-subsys:$(echo "$paths" | head -n 1 | sed 's/^ *+-//')"
	else
		result $n FAIL "${why#; }"
	fi
}

t_fio() {
	local n=tcp_fio why= r1= r2= r3=
	need_conn $n || return
	if run_fio ${n}_randrw $T_FIO --filename="$DEV" $FIO_COMMON $(job_randrw); then
		r1="4k randrw QD32x2: read $FIO_RIOPS + write $FIO_WIOPS IOPS"
	else
		why="$why; 4k randrw: $FIO_WHY"
	fi
	if run_fio ${n}_seq $T_FIO --filename="$DEV" $FIO_COMMON $(job_seq); then
		r2="128k seq: write $FIO_WIOPS, verify-read $FIO_RIOPS IOPS"
		FIO_SEQ_DONE=1
	else
		why="$why; 128k seq: $FIO_WHY"
	fi
	if run_fio ${n}_1m $T_FIO --filename="$DEV" $FIO_COMMON $(job_1m); then
		r3="1M write: write $FIO_WIOPS, verify-read $FIO_RIOPS IOPS"
		FIO_1M_DONE=1
	else
		why="$why; 1M write: $FIO_WHY"
	fi
	if [ -z "$why" ]; then
		result $n PASS "err=0, crc32c verified: $r1; $r2; $r3"
	else
		result $n FAIL "${why#; }"
	fi
}

t_discard_zeroes() {
	local n=tcp_discard_zeroes why= lbs= slba= nlb= len=$((1 << 20)) dmax=
	need_conn $n || return
	lbs=$(cat "/sys/block/${DEV##*/}/queue/logical_block_size")
	dmax=$(cat "/sys/block/${DEV##*/}/queue/discard_max_bytes")
	log "\$ blkdiscard -o $OFF_DISCARD -l $len $DEV   (discard_max_bytes $dmax)"
	blkdiscard -o "$OFF_DISCARD" -l "$len" "$DEV" > "$RES/${n}_discard.out" 2>&1 ||
		why="$why; blkdiscard exit $?: $(out_line ${n}_discard) (discard_max_bytes $dmax)"
	head -c $len /dev/urandom > /tmp/$n.rand
	head -c $len /dev/zero > /tmp/$n.zero
	slba=$((OFF_ZERO / lbs)) nlb=$((len / lbs))
	if ! dd if=/tmp/$n.rand of="$DEV" bs=65536 oflag=direct,seek_bytes conv=notrunc seek=$OFF_ZERO 2> "$RES/dd.err"; then
		why="$why; dd write: $(head -n 1 "$RES/dd.err")"
	elif ! dd if="$DEV" of=/tmp/$n.back bs=65536 iflag=direct,skip_bytes,count_bytes skip=$OFF_ZERO count=$len 2> "$RES/dd.err" ||
	     ! cmp -s /tmp/$n.rand /tmp/$n.back; then
		why="$why; the random data did not read back before write-zeroes"
	else
		log "\$ nvme write-zeroes $DEV -s $slba -c $((nlb - 1))"
		if ! nvme_cmd ${n}_wz write-zeroes "$DEV" -s $slba -c $((nlb - 1)); then
			why="$why; nvme write-zeroes exit $RC: $(out_line ${n}_wz)"
		elif ! dd if="$DEV" of=/tmp/$n.back bs=65536 iflag=direct,skip_bytes,count_bytes skip=$OFF_ZERO count=$len 2> "$RES/dd.err"; then
			why="$why; dd read after write-zeroes: $(head -n 1 "$RES/dd.err")"
		elif ! cmp -s /tmp/$n.zero /tmp/$n.back; then
			why="$why; not all zeros after write-zeroes: $(cmp /tmp/$n.zero /tmp/$n.back 2>&1 | head -n 1)"
		fi
	fi
	rm -f /tmp/$n.rand /tmp/$n.zero /tmp/$n.back
	if [ -z "$why" ]; then
		result $n PASS "blkdiscard 1 MiB at $OFF_DISCARD ok (discard_max_bytes $dmax); write-zeroes LBA $slba+$nlb over random data reads back all zeros"
	else
		result $n FAIL "${why#; }"
	fi
}

# The Linux host's burst that once stalled a queue: one I/O queue of 128
# entries, 128 reads of 128 KiB submitted at once, again and again; every
# one must be answered (no I/O timeout, no controller reset), data verified.
t_burst() {
	local n=tcp_burst why= mark= q= r= to=
	need_daemon $n || return
	if ns_dev "$NQN_PCIE" && ! nvme_disconnect ${n}_disc0 "$NQN_PCIE"; then
		result $n FAIL "could not disconnect the earlier connection first: $(out_line ${n}_disc0)"
		return
	fi
	mark=$(dmesg | wc -l)
	if ! connect_pcie $n --nr-io-queues=1 --queue-size=128; then
		result $n FAIL "with --nr-io-queues=1 --queue-size=128: $CONN_WHY"
		return
	fi
	q=$(ctrl_attr "$(ctrls_of "$NQN_PCIE" | head -n 1)" queue_count)
	[ "$q" = 2 ] || why="$why; queue_count $q, expected 2 (admin + one I/O queue)"
	if run_fio ${n}_write $T_FIO --filename="$DEV" $FIO_COMMON $(job_burst_write); then
		r="128k QD128 write+verify: write $FIO_WIOPS, verify-read $FIO_RIOPS IOPS"
	else
		why="$why; fio write/verify: $FIO_WHY"
	fi
	if run_fio ${n}_read $T_FIO --filename="$DEV" --ioengine=libaio --direct=1 $(job_burst_read); then
		r="$r; 128k QD128 randread bursts 5 s: $FIO_RIOPS IOPS"
	else
		why="$why; fio randread: $FIO_WHY"
	fi
	to=$(dmesg | tail -n +$((mark + 1)) | grep -E 'timeout|resetting|reconnect|I/O error' | head -n 1)
	[ -n "$to" ] && why="$why; host kernel: $to"
	nvme_disconnect ${n}_disc "$NQN_PCIE" || why="$why; disconnect: $(out_line ${n}_disc)"
	if [ -z "$why" ]; then
		result $n PASS "one I/O queue of 128 (queue_count $q): $r; no I/O timeout or reset in dmesg"
	else
		result $n FAIL "${why#; }"
	fi
}

t_digest() {
	local n=tcp_digest why= mark= dl= r=
	need_daemon $n || return
	if ns_dev "$NQN_PCIE" && ! nvme_disconnect ${n}_disc0 "$NQN_PCIE"; then
		result $n FAIL "could not disconnect the plain connection first: $(out_line ${n}_disc0)"
		return
	fi
	mark=$(wc -l < "$DLOG")
	if ! connect_pcie $n --hdr-digest --data-digest; then
		result $n FAIL "with --hdr-digest --data-digest: $CONN_WHY"
		return
	fi
	if run_fio ${n}_fio $T_FIO --filename="$DEV" $FIO_COMMON $(job_digest); then
		r="4k randrw QD16 verified: read $FIO_RIOPS + write $FIO_WIOPS IOPS"
	else
		why="$why; fio: $FIO_WHY"
	fi
	nvme_disconnect ${n}_disc "$NQN_PCIE" || why="$why; disconnect: $(out_line ${n}_disc)"
	# what the daemon said about digests on these connections
	dl=$(tail -n +$((mark + 1)) "$DLOG" | grep -i 'digest' | grep -v -i 'mismatch')
	if [ -n "$dl" ]; then
		echo "$dl" | head -n 3 | sed 's/^/    log: /'
		# every connection since (admin and I/O queues) must have both on
		if ! echo "$dl" | grep -i -q 'header digest on' || ! echo "$dl" | grep -i -q 'data digest on'; then
			why="$why; daemon log does not say 'header digest on' and 'data digest on': $(echo "$dl" | head -n 1)"
		elif echo "$dl" | grep -i -q 'digest off'; then
			why="$why; a connection since the digest connect has a digest off: $(echo "$dl" | grep -i -m1 'digest off')"
		fi
		dl="daemon log: $(echo "$dl" | grep -i -c 'header digest on.*data digest on') connection(s) '$(echo "$dl" | head -n 1 | sed 's/^.*: *\([^:]*digest[^:]*\)$/\1/' | cut -c1-80)'"
	else
		dl="NOTE: the daemon log says nothing about digests (not checked)"
	fi
	if tail -n +$((mark + 1)) "$DLOG" | grep -i -q 'digest mismatch\|protocol error'; then
		why="$why; daemon log: $(tail -n +$((mark + 1)) "$DLOG" | grep -i -m1 'digest mismatch\|protocol error')"
	fi
	if [ -z "$why" ]; then
		result $n PASS "connected with header+data digests; $r; disconnected; $dl"
	else
		result $n FAIL "${why#; }; $dl"
	fi
}

t_cycles() {
	local n=tcp_cycles i=0 t0= why=
	need_daemon $n || return
	t0=$(now)
	while [ $i -lt 20 ]; do
		i=$((i + 1))
		if ns_dev "$NQN_PCIE" && ! nvme_disconnect ${n}_disc "$NQN_PCIE"; then
			why="cycle $i: disconnect did not finish (exit $RC: $(out_line ${n}_disc); controllers left: $(ctrls_of "$NQN_PCIE" | tr '\n' ' '))"
			break
		fi
		if ! connect_pcie ${n}_conn; then
			why="cycle $i: $CONN_WHY"
			break
		fi
	done
	if [ -z "$why" ]; then
		result $n PASS "20 disconnect/connect cycles in $(since "$t0")s, $DEV back every time"
	else
		result $n FAIL "$why (after $(since "$t0")s)"
	fi
}

t_second_host() {
	local n=tcp_second_host why= c1= c2= c= paths= ss= r= id1= id2= how=
	need_conn $n || return
	c1=$(ctrls_of "$NQN_PCIE" | head -n 1)
	if ! nvme_connect ${n}_conn "$NQN_PCIE" --hostnqn="$HOST2NQN" --hostid="$HOST2ID"; then
		# nvme-cli 2.3 looks for an existing controller by transport,
		# address and subsystem only (not the host NQN) and refuses, even
		# with --duplicate-connect; the kernel itself allows a controller
		# per host NQN: give it the same options nvme connect would
		if grep -q 'already connected' "$RES/${n}_conn.out"; then
			how="nvme-cli 2.3 says 'already connected' for another host NQN, so via /dev/nvme-fabrics"
			fabrics_connect ${n}_conn2 "nqn=$NQN_PCIE,transport=tcp,traddr=$TADDR,trsvcid=$TPORT,hostnqn=$HOST2NQN,hostid=$HOST2ID,ctrl_loss_tmo=20,reconnect_delay=2"
		fi
		if [ "$RC" != 0 ]; then
			result $n FAIL "second host: nvme connect exit $RC: $(out_line ${n}_conn)${how:+; $how: $(out_line ${n}_conn2)}"
			return
		fi
	fi
	two_ctrls() { [ "$(ctrls_of "$NQN_PCIE" | wc -l)" -ge 2 ]; }
	if ! wait_until 20 two_ctrls; then
		result $n FAIL "no second controller of $NQN_PCIE after connecting (have: $(ctrls_of "$NQN_PCIE" | tr '\n' ' '))"
		return
	fi
	for c in $(ctrls_of "$NQN_PCIE"); do
		[ "$(ctrl_attr "$c" hostnqn)" = "$HOST2NQN" ] && c2=$c
	done
	if [ -z "$c2" ]; then
		why="$why; no controller with hostnqn $HOST2NQN"
	else
		live2() { [ "$(ctrl_attr "$c1" state)" = live ] && [ "$(ctrl_attr "$c2" state)" = live ]; }
		wait_until 10 live2 || why="$why; states $c1=$(ctrl_attr "$c1" state) $c2=$(ctrl_attr "$c2" state)"
		id1=$(ctrl_attr "$c1" cntlid) id2=$(ctrl_attr "$c2" cntlid)
		[ "$id1" != "$id2" ] || why="$why; both controllers have cntlid $id1"
	fi
	if nvme_cmd ${n}_list_subsys list-subsys; then
		paths=$(list_subsys_paths ${n}_list_subsys "$NQN_PCIE")
		echo "$paths" | sed 's/^/    /'
		[ "$(echo "$paths" | grep -c "tcp traddr=$TADDR,trsvcid=$TPORT")" -ge 2 ] ||
			why="$why; list-subsys shows $(echo "$paths" | grep -c .) path(s) under $NQN_PCIE, want 2"
	else
		why="$why; nvme list-subsys exit $RC"
	fi
	# I/O through the shared namespace, spread over both controllers
	ss=$(ls -d /sys/class/nvme-subsystem/nvme-subsys*/"$c1" 2>/dev/null | head -n 1)
	ss=${ss%/*}
	[ -n "$ss" ] && [ -w "$ss/iopolicy" ] && echo round-robin > "$ss/iopolicy"
	if ns_dev "$NQN_PCIE" && run_fio ${n}_fio $T_FIO --filename="$DEV" $FIO_COMMON $(job_host2); then
		r="fio 4k randrw verified ($([ -n "$ss" ] && cat "$ss/iopolicy") iopolicy): read $FIO_RIOPS + write $FIO_WIOPS IOPS"
	else
		why="$why; fio with two controllers: ${FIO_WHY:-no block device}"
	fi
	[ -n "$ss" ] && [ -w "$ss/iopolicy" ] && echo numa > "$ss/iopolicy"
	if [ -n "$c2" ]; then
		log "\$ nvme disconnect -d $c2"
		nvme_cmd ${n}_disc disconnect -d "$c2" || why="$why; nvme disconnect -d $c2 exit $RC: $(out_line ${n}_disc)"
		c2_gone() { [ ! -e "/sys/class/nvme/$c2" ]; }
		wait_until 20 c2_gone || why="$why; $c2 still there after disconnect -d"
		[ "$(ctrl_attr "$c1" state)" = live ] || why="$why; first controller $c1 is $(ctrl_attr "$c1" state) after the second left"
		ns_dev "$NQN_PCIE" || why="$why; $NQN_PCIE block device gone after disconnecting only $c2"
	fi
	if [ -z "$why" ]; then
		result $n PASS "$c1 (cntlid $id1) and $c2 (cntlid $id2, host 2) live together;" \
			"list-subsys 2 paths; $r; $c2 disconnected alone, $c1 still live${how:+ ($how)}"
	else
		result $n FAIL "${why#; }"
	fi
}

t_host_refused() {
	local n=tcp_host_refused why= mark= reason= want= got=
	need_daemon $n || return
	mark=$(wc -l < "$DLOG")
	log "second host -> $NQN_RESTR (not allowed)"
	nvme_connect ${n}_host2 "$NQN_RESTR" --hostnqn="$HOST2NQN" --hostid="$HOST2ID"
	[ "$RC" != 0 ] || why="$why; second host's connect to $NQN_RESTR exited 0"
	sleep 0.5
	[ -z "$(ctrls_of "$NQN_RESTR")" ] || why="$why; a controller of $NQN_RESTR exists: $(ctrls_of "$NQN_RESTR" | tr '\n' ' ')"
	ns_dev "$NQN_RESTR" && why="$why; $NQN_RESTR block device $DEV appeared"
	reason=$(tail -n +$((mark + 1)) "$DLOG" | grep -m1 "not allowed")
	[ -n "$reason" ] || why="$why; daemon log says nothing 'not allowed' about it"
	log "default host -> $NQN_RESTR (allowed)"
	if ! nvme_connect ${n}_host1 "$NQN_RESTR"; then
		why="$why; default host's connect to $NQN_RESTR: exit $RC: $(out_line ${n}_host1)"
	elif ! wait_until 30 ns_dev "$NQN_RESTR"; then
		why="$why; default host connected to $NQN_RESTR but no block device appeared"
	else
		want=$((RESTR_BYTES / 512)) got=$(dev_sectors "$DEV")
		[ "$got" = "$want" ] || why="$why; $NQN_RESTR namespace $got sectors, want $want"
		dd if="$DEV" of=/dev/null bs=4096 count=16 iflag=direct 2>/dev/null || why="$why; cannot read $DEV"
		nvme_disconnect ${n}_disc "$NQN_RESTR" || why="$why; disconnect from $NQN_RESTR: $(out_line ${n}_disc)"
	fi
	if [ -z "$why" ]; then
		result $n PASS "second host refused ($(out_line ${n}_host2 | cut -c1-80)); daemon: $(echo "$reason" | cut -c1-200);" \
			"default host connected (64 MiB), disconnected"
	else
		result $n FAIL "${why#; }"
	fi
}

# tcp_ctrl_reset: nvmf-bridgectl reset-controller resets QEMU's controller
# three times while fio writes and then verifies over NVMe/TCP. Commands in
# flight on the device come back to the host with an abort status that it
# retries, commands that arrive during a reset wait until the I/O queues
# exist again, and fio ends with no error; the host's connection never
# drops (no error recovery in dmesg).
pcie_resets() {
	"$BIN/nvmf-bridgectl" --json status 2>/dev/null | tr -d ' \n' | grep -o '"resets":[0-9]*' | grep -o '[0-9]*$' | head -n 1
}
t_ctrl_reset() {
	local n=tcp_ctrl_reset why= mark= dmark= w0= r0= r1= fpid= i= ms= done_n= aborted=
	need_conn $n || return
	mark=$(dmesg | wc -l)
	dmark=$(wc -l < "$DLOG")
	w0=$(pcie_writes); w0=${w0:-0}
	r0=$(pcie_resets)
	[ -n "$r0" ] || { result $n FAIL "status lists no PCIe controller: $("$BIN/nvmf-bridgectl" --json status 2>&1 | head -c 300)"; return; }
	# 32 MiB in 4 KiB random writes (8192 commands), then read back and
	# verified; the resets fall after 1500, 3000 and 4500 writes
	( run_fio ${n} $T_FIO --filename="$DEV" $FIO_COMMON --name=ctrlreset --rw=randwrite --bs=4k --iodepth=32 \
		--size=32M --offset=704M; \
	  echo "$FIO_RC|$FIO_WHY|$FIO_WKB|$FIO_RKB" > "$RES/${n}.sum" ) &
	fpid=$!
	for i in 1 2 3; do
		if ! wait_until 60 writes_past $((w0 + i * 1500)); then
			why="$why; reset $i: the daemon did not see $((i * 1500)) writes within 60 s"
			break
		fi
		log "\$ nvmf-bridgectl reset-controller $BDF"
		if "$BIN/nvmf-bridgectl" --timeout 30 reset-controller "$BDF" > "$RES/${n}_$i.out" 2>&1; then
			log "$(head -n 1 "$RES/${n}_$i.out")"
			ms="$ms $(grep -o 'after [0-9]* ms' "$RES/${n}_$i.out" | grep -o '[0-9][0-9]*')"
		else
			why="$why; reset-controller $i (exit $?): $(head -n 1 "$RES/${n}_$i.out")"
		fi
	done
	wait $fpid
	IFS='|' read -r _rc _why _wkb _rkb < "$RES/${n}.sum"
	[ "$_rc" = 0 ] && [ -z "$_why" ] || why="$why; fio across the resets: $_why"
	r1=$(pcie_resets)
	[ "${r1:-x}" = $((r0 + 3)) ] || why="$why; status counts ${r1:-no} resets, expected $((r0 + 3))"
	tail -n +$((dmark + 1)) "$DLOG" > "$RES/${n}.log"
	done_n=$(grep -c 'controller reset done' "$RES/${n}.log")
	[ "$done_n" = 3 ] || why="$why; the daemon logged 'controller reset done' $done_n times, expected 3"
	aborted=$(grep -o 'reset: [0-9]* command(s) in flight' "$RES/${n}.log" | grep -o '[0-9][0-9]*' | awk '{ s += $1 } END { print s + 0 }')
	dmesg | tail -n +$((mark + 1)) > "$RES/${n}.dmesg"
	if grep -qE 'starting error recovery|Reconnecting|I/O tag .* timeout' "$RES/${n}.dmesg"; then
		why="$why; the host's connection did not survive: $(grep -m1 -E 'starting error recovery|Reconnecting|timeout' "$RES/${n}.dmesg")"
	fi
	[ "$(ctrl_attr "$(ctrls_of "$NQN_PCIE" | head -n 1)" state)" = live ] || why="$why; host controller not live afterwards"
	if [ -z "$why" ]; then
		result $n PASS "3 resets of $BDF by nvmf-bridgectl while fio wrote (live again after${ms} ms);" \
			"$aborted command(s) in flight completed as aborted and retried by the host; no error recovery on" \
			"the host; fio wrote $_wkb KiB, verified $_rkb KiB, 0 errors"
	else
		result $n FAIL "${why#; }"
	fi
}

# tcp_restart: the daemon restarted (SIGTERM, then started again) while fio
# writes and verifies; the Linux host reconnects by itself (ctrl-loss-tmo
# 20 s, reconnect-delay 2 s) and fio ends with no error. The pause the host
# saw is the time from its "starting error recovery" to "Successfully
# reconnected" in dmesg.
dmesg_ts() { sed -n 's/^\[ *\([0-9.]*\)\].*/\1/p' | head -n 1; }
# write commands the daemon has run on the PCIe namespace (its own counters)
pcie_writes() {
	"$BIN/nvmf-bridgectl" --json stats 2>/dev/null | tr -d ' \n' | tr '{' '\n' | grep "\"$NQN_PCIE\"" |
		grep -o '"writes":[0-9]*' | grep -o '[0-9]*$' | head -n 1
}
writes_past() { _w=$(pcie_writes); [ -n "$_w" ] && [ "$_w" -gt "$1" ]; }
reconnected() { dmesg | tail -n +$(($1 + 1)) | grep -q 'Successfully reconnected'; }
t_restart() {
	local n=tcp_restart why= mark= w0= t_err= t_ok= pause= fpid=
	need_conn $n || return
	mark=$(dmesg | wc -l)
	w0=$(pcie_writes); w0=${w0:-0}
	# 48 MiB (12288 commands) written, then read back and verified: the
	# restart falls in the writes, after the first 1000
	( run_fio ${n} $T_FIO --filename="$DEV" $FIO_COMMON --name=restart --rw=randwrite --bs=4k --iodepth=16 \
		--size=48M --offset=600M; \
	  echo "$FIO_RC|$FIO_WHY|$FIO_WKB|$FIO_RKB" > "$RES/${n}.sum" ) &
	fpid=$!
	# restart once the host's writes are flowing (1000 commands in)
	wait_until 60 writes_past $((w0 + 1000)) || why="$why; no writes reached the daemon in 60 s"
	stop_bridged 20 || why="$why; SIGTERM: exit $STOP_RC"
	start_bridged "$CONF" "$TPORT" "$DISC_PORT" || why="$why; restart: $START_WHY"
	wait_until 60 reconnected "$mark" || why="$why; the host did not log 'Successfully reconnected' within 60 s"
	wait $fpid
	IFS='|' read -r _rc _why _wkb _rkb < "$RES/${n}.sum"
	[ "$_rc" = 0 ] && [ -z "$_why" ] || why="$why; fio across the restart: $_why"
	dmesg | tail -n +$((mark + 1)) > "$RES/${n}.dmesg"
	t_err=$(grep -E 'starting error recovery|Reconnecting' "$RES/${n}.dmesg" | dmesg_ts)
	t_ok=$(grep 'Successfully reconnected' "$RES/${n}.dmesg" | dmesg_ts)
	[ -n "$t_err" ] && [ -n "$t_ok" ] && pause=$(awk -v a="$t_err" -v b="$t_ok" 'BEGIN { printf "%.1f", b - a }')
	[ "$(ctrl_attr "$(ctrls_of "$NQN_PCIE" | head -n 1)" state)" = live ] || why="$why; controller not live afterwards"
	if [ -z "$why" ]; then
		result $n PASS "SIGTERM (exit 0 in ${STOP_SECS}s) and a new daemon while fio wrote: the host" \
			"reconnected on its own ($(grep -o 'Successfully reconnected ([^)]*)' "$RES/${n}.dmesg" | head -n 1)), pause" \
			"${pause:-?} s from its error recovery (reconnect-delay 2 s); fio wrote $_wkb KiB, verified $_rkb KiB, 0 errors"
	else
		result $n FAIL "${why#; }"
	fi
}

t_readback() {
	local n=tcp_readback why= lbs= count= bytes= c= left= info= mark=
	need_conn $n || return
	lbs=$(cat "/sys/block/${DEV##*/}/queue/logical_block_size")
	count=$((1048576 / lbs + 3))
	bytes=$((count * lbs))
	head -c $bytes /dev/urandom > /tmp/$n.bin
	log "\$ dd of=$DEV oflag=direct seek=LBA $LBA_RB ($count blocks of $lbs)"
	if ! dd if=/tmp/$n.bin of="$DEV" bs=65536 oflag=direct,seek_bytes conv=notrunc seek=$((LBA_RB * lbs)) 2> "$RES/dd.err"; then
		result $n FAIL "dd over the fabric: $(head -n 1 "$RES/dd.err")"
		rm -f /tmp/$n.bin
		return
	fi
	# every fabrics controller away, then the daemon
	for c in $NQN_PCIE $NQN_RESTR; do
		[ -n "$(ctrls_of "$c")" ] && { nvme_disconnect ${n}_disc "$c" || why="$why; disconnect $c: $(out_line ${n}_disc)"; }
	done
	left=$(ls /sys/class/nvme 2>/dev/null | while read -r c; do [ "$(ctrl_attr "$c" transport)" = tcp ] && echo "$c"; done)
	[ -z "$left" ] || why="$why; tcp controllers left: $left"
	mark=$(wc -l < "$DLOG")
	stop_bridged 10
	case $STOP_RC in
	0) ;;
	timeout) why="$why; nvmf-bridged did not exit within 10 s of SIGTERM (killed)" ;;
	*) why="$why; nvmf-bridged exit $STOP_RC after SIGTERM: $(log_tail 4)" ;;
	esac
	tail -n +$((mark + 1)) "$DLOG" | grep -q "$BDF: controller shut down" ||
		why="$why; log has no '$BDF: controller shut down': $(log_tail 4)"
	# the kernel's view of what went over the fabric
	if ! bind_to nvme; then
		why="$why; could not bind $BDF to the kernel nvme driver"
	else
		if ! dd if="$KDEV" of=/tmp/$n.back bs=65536 iflag=direct,skip_bytes,count_bytes \
			skip=$((LBA_RB * lbs)) count=$bytes 2> "$RES/dd.err"; then
			why="$why; kernel read: $(head -n 1 "$RES/dd.err")"
		elif ! cmp -s /tmp/$n.bin /tmp/$n.back; then
			why="$why; $KDEV differs from what went over the fabric: $(cmp /tmp/$n.bin /tmp/$n.back 2>&1 | head -n 1)"
		fi
		# fio's own regions, verified by the kernel driver
		if [ "$FIO_SEQ_DONE" = 1 ]; then
			if run_fio ${n}_seq $T_FIO --filename="$KDEV" $FIO_COMMON $(job_seq) --verify_only; then
				info="$info; fio 128k region verified"
			else
				why="$why; fio verify_only of the 128k region on $KDEV: $FIO_WHY"
			fi
		fi
		if [ "$FIO_1M_DONE" = 1 ]; then
			if run_fio ${n}_1m $T_FIO --filename="$KDEV" $FIO_COMMON $(job_1m) --verify_only; then
				info="$info; fio 1M region verified (read $FIO_RIOPS IOPS)"
			else
				why="$why; fio verify_only of the 1M region on $KDEV: $FIO_WHY"
			fi
		fi
		[ -z "$info" ] && info="; fio regions not checked (tcp_fio did not pass in this run)"
	fi
	rm -f /tmp/$n.bin /tmp/$n.back
	if [ -z "$why" ]; then
		result $n PASS "dd wrote $count blocks at LBA $LBA_RB over TCP; SIGTERM: exit 0 in ${STOP_SECS}s, controller shut down;" \
			"$KDEV reads them back identical$info"
	else
		result $n FAIL "${why#; }"
	fi
}

# --- main ------------------------------------------------------------------
find_controller
log "fabric tests: NVMe controller ${BDF:-none}; nvmf-bridged: $(ls -l "$BRIDGED" 2>/dev/null || echo missing)"
faults=$(dmesg | grep -c 'DMAR:.*fault')
for t in $(echo "$TESTS" | tr ',' ' '); do
	log "=== $t ==="
	if [ -z "$BDF" ]; then
		result "$t" FAIL "no NVMe controller found"
		continue
	fi
	case $t in
	tcp_start)          t_start ;;
	tcp_discover)       t_discover ;;
	tcp_connect)        t_connect ;;
	tcp_nvme_cli)       t_nvme_cli ;;
	tcp_fio)            t_fio ;;
	tcp_discard_zeroes) t_discard_zeroes ;;
	tcp_digest)         t_digest ;;
	tcp_burst)          t_burst ;;
	tcp_cycles)         t_cycles ;;
	tcp_second_host)    t_second_host ;;
	tcp_host_refused)   t_host_refused ;;
	tcp_ctrl_reset)     t_ctrl_reset ;;
	tcp_restart)        t_restart ;;
	tcp_readback)       t_readback ;;
	*)                  result "$t" FAIL "unknown test (see tests/vm/guest/fabric.sh)" ;;
	esac
	# a daemon that died during this test (not stopped by it): say so here,
	# with its last words; the later tests then fail in need_daemon
	if [ -n "$DPID" ] && [ "$STARTED" = 1 ] && [ -z "$DEAD_WHY" ] && ! bridged_alive; then
		wait "$DPID" 2>/dev/null
		DEAD_WHY="nvmf-bridged died (exit $?) during $t"
		log "ERROR: $DEAD_WHY; the end of $DLOG:"
		tail -n 15 "$DLOG" | sed 's/^/    /'
		dmesg | grep -i 'nvme\|segfault\|trap' | tail -n 10 | sed 's/^/    dmesg: /'
	fi
	nf=$(dmesg | grep -c 'DMAR:.*fault')
	if [ "$nf" -gt "$faults" ]; then
		log "WARNING: $((nf - faults)) IOMMU fault line(s) in dmesg during $t:"
		dmesg | grep 'DMAR:.*fault' | tail -n $((nf - faults))
	fi
	faults=$nf
done

# leave nothing behind: fabrics controllers, then the daemon
for c in $NQN_PCIE $NQN_RESTR; do
	[ -n "$(ctrls_of "$c")" ] && nvme_disconnect cleanup_disc "$c"
done
if bridged_alive; then
	stop_bridged 10
fi
kill_leftovers
# the daemon's messages the run's verdict may hinge on
if [ -s "$DLOG" ]; then
	log "nvmf-bridged log: $(wc -l < "$DLOG") lines in $DLOG; warnings/errors:"
	grep -i 'warn\|error\|fail' "$DLOG" | head -n 20 | sed 's/^/    /'
fi
log "fabric tests done"
