#!/bin/sh
# Guest side of `tests/vm/run.sh bench` (the VM part of `make bench`): the
# kernel's stack and ours side by side, in one boot, on QEMU's NVMe
# controller backed by the null-co driver (run.sh VM_DRIVE=null), so the
# emulated disk is not what is measured.
#
#   bench_pcie  (a) the kernel nvme driver with fio (io_uring, 4k randread
#               QD32) against `nvmf-pcie perf` (same workload, polling)
#   bench_tcp   (b) the kernel's nvmet-tcp (configfs, exporting the same
#               controller through the kernel nvme driver) against
#               nvmf-bridged (owning it through VFIO), both on 127.0.0.1 and
#               driven by the kernel's nvme-tcp initiator with the same fio
#               jobs: 4k randread QD32 and QD1, 4k randwrite QD32
#   bench_rdma  (c) the same over NVMe/RDMA on soft-RoCE, when nvmf-bridged
#               listens on an rdma port; otherwise "not measured"
#
# Sides alternate A B A B ... (BENCH_ROUNDS rounds) so that drift in the
# host's load hits both. Guest CPU time is sampled from /proc/stat inside
# each run (BENCH_SKIP s after its start, 1 s before its end); the host's
# bench/report.py turns the raw files in $RES/bench/ into the table:
#   runs.txt          one line per run: PAIR SIDE ROUND JOB FILE RC
#   FILE.json|.out    fio's JSON output, or nvmf-pcie perf's (JSON last line)
#   FILE.cpu          two lines "UPTIME cpu USER NICE SYSTEM IDLE IOWAIT IRQ SOFTIRQ STEAL ..."
# Knobs (env.sh from run.sh VM_GUEST_ENV): BENCH_SECS (10), BENCH_ROUNDS (2),
# BENCH_SKIP (3), BENCH_REACTORS (1), BENCH_TESTS (bench_pcie,bench_tcp,bench_rdma),
# BENCH_JOBS (of randread_qd32 randread_qd1 randwrite_qd32, all by default),
# BENCH_B (a second nvmf-bridged build, a program name in the share's bin/
# (run.sh copies every program of BUILD): (b) and (c) then run it as a third
# side, "oursb", after "ours" in odd rounds and before it in even ones: an
# A/B of two engines in one boot; bench/report.py reports kernel and ours).
set -u
. "$(dirname "$0")/lib.sh"
[ -r "$(dirname "$0")/env.sh" ] && . "$(dirname "$0")/env.sh"

SECS=${BENCH_SECS:-10}
ROUNDS=${BENCH_ROUNDS:-2}
SKIP=${BENCH_SKIP:-3}
REACTORS=${BENCH_REACTORS:-1}
BENCH_B=${BENCH_B:-}
[ "$SECS" -ge $((SKIP + 2)) ] || SKIP=$((SECS / 3))
B=$RES/bench
mkdir -p "$B"
: > "$B/runs.txt"
CFS=/sys/kernel/config/nvmet
NQN_K=nqn.2024-01.org.nvmf-bridge.bench:kernel
NQN_O=nqn.2024-01.org.nvmf-bridge.bench:ours
PORT_K=4420 PORT_O=4421
RDMA_ADDR=10.99.0.1
TCP_ADDR=127.0.0.1

want() { case ",$TESTS," in *",$1,"*) return 0 ;; esac; return 1; }

{
	echo "secs=$SECS"; echo "rounds=$ROUNDS"; echo "skip=$SKIP"; echo "reactors=$REACTORS"
	echo "kernel=$(uname -r)"
	echo "cpus=$(grep -c ^processor /proc/cpuinfo)"
	echo "fio=$(fio --version 2>/dev/null)"
	echo "nvme_cli=$(nvme version 2>/dev/null | head -n 1)"
	echo "hz=100"
} > "$B/guest.txt"

# --- measurement helpers -----------------------------------------------------
cpu_line() { echo "$(cut -d' ' -f1 /proc/uptime) $(head -n 1 /proc/stat)"; }
# two /proc/stat samples inside a run that started just now
sampler() {
	sleep "$SKIP"
	cpu_line > "$1"
	sleep $((SECS - SKIP - 1))
	cpu_line >> "$1"
}
record() {   # record PAIR SIDE ROUND JOB FILE RC
	echo "$*" >> "$B/runs.txt"
}

# fio_job NAME DEV RW QD: one fio run, JSON in $B/NAME.json; sets RC
fio_job() {
	_n=$1 _dev=$2 _rw=$3 _qd=$4
	sampler "$B/$_n.cpu" &
	_sp=$!
	log "\$ fio --filename=$_dev --ioengine=io_uring --rw=$_rw --bs=4k --iodepth=$_qd --runtime=$SECS ($_n)"
	timeout -k 5 $((SECS + 90)) fio --name="$_n" --filename="$_dev" --ioengine=io_uring --direct=1 \
		--rw="$_rw" --bs=4k --iodepth="$_qd" --numjobs=1 --time_based --runtime="$SECS" \
		--norandommap --randrepeat=0 --lat_percentiles=1 --percentile_list=50:99:99.9 \
		--output-format=json --output="$B/$_n.json" > "$B/$_n.err" 2>&1
	RC=$?
	wait "$_sp" 2>/dev/null
	# fio's JSON lists read, then write: the first "iops" is the reads'
	_i=1; [ "$_rw" = randwrite ] && _i=2
	log "fio $_n: exit $RC, $(grep -o '"iops" : [0-9.]*' "$B/$_n.json" 2>/dev/null | sed -n "${_i}p")"
}

# --- the controller on either driver ---------------------------------------------
find_controller || { for t in bench_pcie bench_tcp bench_rdma; do want $t && result $t FAIL "no NVMe controller in the VM"; done; exit 0; }
log "controller $BDF; null-backed: $(cat "$(dev_dir)/vendor"):$(cat "$(dev_dir)/device")"
host_identity

# --- (a) kernel nvme + fio vs nvmf-pcie perf ------------------------------------
bench_pcie() {
	_ok=0 _why=
	for r in $(seq 1 "$ROUNDS"); do
		if bind_to nvme; then
			fio_job "pcie_kernel_r$r" "$KDEV" randread 32
			record pcie kernel "$r" randread_qd32 "pcie_kernel_r$r.json" "$RC"
			[ "$RC" = 0 ] && _ok=$((_ok + 1)) || _why="$_why fio r$r exit $RC;"
		else
			_why="$_why bind nvme failed;"
		fi
		if bind_to vfio-pci; then
			_n=pcie_ours_r$r
			sampler "$B/$_n.cpu" &
			_sp=$!
			run_pcie "bench/$_n" $((SECS + 90)) perf "$BDF" -q 32 -o 4k -w randread -t "$SECS"
			wait "$_sp" 2>/dev/null
			record pcie ours "$r" randread_qd32 "$_n.out" "$RC"
			[ "$RC" = 0 ] && _ok=$((_ok + 1)) || _why="$_why nvmf-pcie perf r$r $(rc_text): $(err_line "bench/$_n");"
		else
			_why="$_why bind vfio-pci failed;"
		fi
	done
	if [ "$_ok" = $((2 * ROUNDS)) ]; then
		result bench_pcie PASS "$_ok runs (kernel nvme + fio io_uring vs nvmf-pcie perf, 4k randread QD32, ${SECS}s each)"
	else
		result bench_pcie FAIL "$_ok of $((2 * ROUNDS)) runs:$_why"
	fi
}

# --- (b)/(c) the kernel's nvmet vs nvmf-bridged, same initiator and fio jobs -----
JOBS=${BENCH_JOBS:-randread_qd32 randread_qd1 randwrite_qd32}
NJOBS=$(echo $JOBS | wc -w)

nvmet_up() {   # nvmet_up TRANSPORT ADDR: export $KDEV (kernel nvme driver) as $NQN_K
	modprobe nvmet && modprobe "nvmet-$1" || return 1
	_s=$CFS/subsystems/$NQN_K _p=$CFS/ports/1
	mkdir -p "$_s" && echo 1 > "$_s/attr_allow_any_host" || return 1
	mkdir -p "$_s/namespaces/1" && echo -n "$KDEV" > "$_s/namespaces/1/device_path" &&
		echo 1 > "$_s/namespaces/1/enable" || return 1
	mkdir -p "$_p" || return 1
	echo "$1" > "$_p/addr_trtype"; echo ipv4 > "$_p/addr_adrfam"
	echo "$2" > "$_p/addr_traddr"; echo "$PORT_K" > "$_p/addr_trsvcid"
	ln -s "$_s" "$_p/subsystems/$NQN_K"
}
nvmet_down() {
	_s=$CFS/subsystems/$NQN_K _p=$CFS/ports/1
	rm -f "$_p/subsystems/$NQN_K" 2>/dev/null
	rmdir "$_p" 2>/dev/null
	echo 0 > "$_s/namespaces/1/enable" 2>/dev/null
	rmdir "$_s/namespaces/1" "$_s" 2>/dev/null
	return 0
}

ours_config() {   # ours_config TRANSPORT ADDR FILE
	cat > "$3" <<-EOF
	{
	  "bridge": { "reactors": $REACTORS, "discovery_port": 8009 },
	  "subsystems": [ { "nqn": "$NQN_O", "attr": { "allow_any_host": "1", "model": "nvmf-bridge bench" },
	                    "namespaces": [ { "nsid": 1, "device": { "pcie": "$BDF", "nsid": 1 } } ] } ],
	  "ports": [ { "portid": 1, "addr": { "trtype": "$1", "adrfam": "ipv4", "traddr": "$2", "trsvcid": "$PORT_O" },
	               "subsystems": [ "$NQN_O" ] } ]
	}
	EOF
	cp "$3" "$B/"
}
# the daemon started last says it listens (only its own lines of $DLOG)
new_log() { tail -n +$((LOG_FROM + 1)) "$DLOG" 2>/dev/null; }
says_listening() { new_log | grep -q "listening on $1:$PORT_O"; }
log_listening() { says_listening "$1" || ! bridged_alive; }
ours_up() {   # ours_up TRANSPORT ADDR: nvmf-bridged on vfio-pci; sets START_WHY
	START_WHY=
	bind_to vfio-pci || { START_WHY="bind vfio-pci failed"; return 1; }
	ours_config "$1" "$2" "/tmp/bench-$1.json"
	echo "=== $(now) nvmf-bridged --config /tmp/bench-$1.json" >> "$DLOG"
	LOG_FROM=$(wc -l < "$DLOG")
	"$BRIDGED" --config "/tmp/bench-$1.json" >> "$DLOG" 2>&1 &
	DPID=$!
	wait_until 60 log_listening "$2"
	if ! bridged_alive; then
		wait "$DPID" 2>/dev/null
		START_WHY="nvmf-bridged exited at start: $(log_tail 3)"
		DPID=
		return 1
	fi
	says_listening "$2" || { START_WHY="no listener on $2:$PORT_O: $(log_tail 3)"; stop_bridged 10; return 1; }
	# RDMA: the listening cm_id, as the kernel sees it
	if [ "$1" = rdma ] && ! wait_until 10 rdma_listening "$2:$PORT_O"; then
		rdma resource show cm_id > "$B/cm_id.txt" 2>&1
		START_WHY="no RDMA listener on $2:$PORT_O in rdma resource show cm_id"
		stop_bridged 10
		return 1
	fi
	return 0
}
rdma_listening() { rdma resource show cm_id 2>/dev/null | grep -q "LISTEN.*src-addr $1"; }

connect_dev() {   # connect_dev TRANSPORT ADDR PORT NQN: sets DEV
	DEV=
	nvme_cmd "bench/connect_$1_$4" connect -t "$1" -a "$2" -s "$3" -n "$4" --ctrl-loss-tmo=20 ||
		{ log "connect failed: $(out_line "bench/connect_$1_$4")"; return 1; }
	wait_until 30 ns_dev "$4"
}
disconnect_all() {
	nvme disconnect -n "$1" > /dev/null 2>&1
	wait_until 20 no_ctrl_of_any "$1"
}
no_ctrl_of_any() {
	for _c in /sys/class/nvme/nvme*; do
		[ "$(cat "$_c/subsysnqn" 2>/dev/null)" = "$1" ] && return 1
	done
	return 0
}

fabric_jobs() {   # fabric_jobs PAIR SIDE ROUND: the fio jobs on $DEV
	for j in $JOBS; do
		# ours: the reactors' counters before and after (turns, sleeps, busy)
		[ "$2" = kernel ] || "$BIN/nvmf-bridgectl" --json stats > "$B/$1_$2_r$3_$j.stats0" 2>&1
		case $j in
		randread_qd32) fio_job "$1_$2_r$3_$j" "$DEV" randread 32 ;;
		randread_qd1) fio_job "$1_$2_r$3_$j" "$DEV" randread 1 ;;
		randwrite_qd32) fio_job "$1_$2_r$3_$j" "$DEV" randwrite 32 ;;
		esac
		[ "$2" = kernel ] || "$BIN/nvmf-bridgectl" --json stats > "$B/$1_$2_r$3_$j.stats1" 2>&1
		record "$1" "$2" "$3" "$j" "$1_$2_r$3_$j.json" "$RC"
		[ "$RC" = 0 ] && PAIR_OK=$((PAIR_OK + 1)) || PAIR_WHY="$PAIR_WHY $2 r$3 $j: fio exit $RC;"
	done
}

ours_side() {   # ours_side SIDE PROGRAM, in bench_fabric: one round of the jobs on nvmf-bridged
	_main=$BRIDGED
	BRIDGED=$2
	if ours_up "$_tr" "$_addr"; then
		if connect_dev "$_tr" "$_addr" "$PORT_O" "$NQN_O"; then
			fabric_jobs "$_pair" "$1" "$r"
			disconnect_all "$NQN_O"
		else
			PAIR_WHY="$PAIR_WHY $1 r$r: connect failed;"
		fi
		stop_bridged 15 || PAIR_WHY="$PAIR_WHY $1 r$r: nvmf-bridged stop $STOP_RC;"
	else
		PAIR_WHY="$PAIR_WHY $1 r$r: $START_WHY;"
	fi
	BRIDGED=$_main
}

# bench_fabric PAIR TRANSPORT ADDR
bench_fabric() {
	_pair=$1 _tr=$2 _addr=$3
	PAIR_OK=0 PAIR_WHY=
	modprobe "nvme-$_tr" || { result "bench_$_pair" FAIL "modprobe nvme-$_tr failed"; return; }
	for r in $(seq 1 "$ROUNDS"); do
		# A: the kernel's target on the kernel's nvme driver
		if bind_to nvme && nvmet_up "$_tr" "$_addr"; then
			if connect_dev "$_tr" "$_addr" "$PORT_K" "$NQN_K"; then
				fabric_jobs "$_pair" kernel "$r"
				disconnect_all "$NQN_K"
			else
				PAIR_WHY="$PAIR_WHY kernel r$r: connect failed;"
			fi
		else
			PAIR_WHY="$PAIR_WHY kernel r$r: nvmet setup failed;"
		fi
		nvmet_down
		# B: nvmf-bridged on our driver; with BENCH_B another build of it
		# too, the two in turn first (an A/B of two engines)
		if [ -n "$BENCH_B" ] && [ $((r % 2)) = 0 ]; then
			ours_side oursb "$BIN/$BENCH_B"
			ours_side ours "$BRIDGED"
		else
			ours_side ours "$BRIDGED"
			[ -n "$BENCH_B" ] && ours_side oursb "$BIN/$BENCH_B"
		fi
	done
	_want=$((2 * ROUNDS * NJOBS))
	[ -n "$BENCH_B" ] && _want=$((3 * ROUNDS * NJOBS))
	if [ "$PAIR_OK" = "$_want" ]; then
		result "bench_$_pair" PASS "$PAIR_OK runs (kernel nvmet-$_tr vs nvmf-bridged, fio $JOBS, ${SECS}s each)"
	else
		result "bench_$_pair" FAIL "$PAIR_OK of $_want runs:$PAIR_WHY"
	fi
}

rdma_up() {   # soft-RoCE on a veth pair; the target and the host use rxe0 (loopback)
	for m in crc32_generic veth rdma_rxe rdma_ucm ib_uverbs nvme-rdma; do
		modprobe $m || { RDMA_WHY="modprobe $m failed"; return 1; }
	done
	ip link add veth0 type veth peer name veth1 2>/dev/null
	ip addr add $RDMA_ADDR/24 dev veth0 2>/dev/null
	ip link set veth0 up; ip link set veth1 up
	rdma link add rxe0 type rxe netdev veth0 2>/dev/null
	ibv_devices 2>/dev/null | grep -q rxe0 || { RDMA_WHY="no rxe device"; return 1; }
}

bench_rdma() {
	RDMA_WHY=
	if ! rdma_up; then
		echo "not measured: soft-RoCE could not be set up ($RDMA_WHY)" > "$B/rdma_status.txt"
		result bench_rdma FAIL "soft-RoCE: $RDMA_WHY"
		return
	fi
	# does nvmf-bridged serve NVMe/RDMA yet? (a port it cannot listen on
	# makes it exit at start, or it never says it listens)
	if ! ours_up rdma "$RDMA_ADDR"; then
		echo "not measured: NVMe/RDMA transport not in nvmf-bridged yet ($START_WHY)" | cut -c1-300 > "$B/rdma_status.txt"
		log "$(cat "$B/rdma_status.txt")"
		result bench_rdma PASS "$(cat "$B/rdma_status.txt")"
		return
	fi
	stop_bridged 15
	echo "measured" > "$B/rdma_status.txt"
	bench_fabric rdma rdma "$RDMA_ADDR"
}

want bench_pcie && bench_pcie
want bench_tcp && bench_fabric tcp tcp "$TCP_ADDR"
want bench_rdma && bench_rdma
kill_leftovers
log "bench: done"
exit 0
