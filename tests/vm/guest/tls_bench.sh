#!/bin/sh
# The cost of TLS, in the current guest (kernel 6.12, tlshd): the part of
# `make bench` that VM_GUEST=current VM_SCRIPT=tls_bench tests/vm/run.sh
# bench runs. Four sides, each driven by the kernel's nvme-tcp initiator over
# 127.0.0.1 with the same fio jobs (io_uring, 4 KiB random read and write at
# QD32, and 128 KiB reads at QD8):
#   kernel      nvmet-tcp exporting a null_blk (no memory behind it)
#   kernel_tls  the same on a port with tsas tls1.3 (tlshd at both ends)
#   ours        nvmf-bridged, a null namespace, 1 reactor
#   ours_tls    the same on a port with tsas tls1.3 (tlshd on the host side)
# Sides alternate within each round (BENCH_ROUNDS rounds, BENCH_SECS per
# run). Guest CPU per I/O from /proc/stat over the run (both ends are in
# the guest: initiator, target and, with TLS, the kernel's crypto).
# Output: $RES/bench/tls.txt, one line per run:
#   SIDE ROUND JOB IOPS CPU_US_PER_IO
set -u
. "$(dirname "$0")/lib.sh"
[ -r "$(dirname "$0")/env.sh" ] && . "$(dirname "$0")/env.sh"

SECS=${BENCH_SECS:-10}
ROUNDS=${BENCH_ROUNDS:-2}
B=$RES/bench
mkdir -p "$B"
OUTF=$B/tls.txt
: > "$OUTF"
CFS=/sys/kernel/config/nvmet
NQN_K=nqn.2024-01.org.nvmf-bridge.bench:kernel
NQN_O=nqn.2024-01.org.nvmf-bridge.bench:ours
PORT_K=4420 PORT_KT=4421 PORT_O=4430 PORT_OT=4431
CONF=/tmp/tls-bench.json

cpu_busy() { head -n 1 /proc/stat | awk '{ print $2 + $3 + $4 + $7 + $8 + $9 }'; }

# run SIDE ROUND JOB DEV RW BS QD
run() {
	_side=$1 _r=$2 _job=$3 _dev=$4 _rw=$5 _bs=$6 _qd=$7
	_c0=$(cpu_busy)
	timeout -k 5 $((SECS + 60)) fio --name="$_job" --filename="$_dev" --ioengine=io_uring --direct=1 --rw="$_rw" \
		--bs="$_bs" --iodepth="$_qd" --numjobs=1 --time_based --runtime="$SECS" --norandommap --randrepeat=0 \
		--output-format=json --output="$B/tls_${_side}_${_job}_r$_r.json" > /dev/null 2>&1
	_rc=$?
	_c1=$(cpu_busy)
	_i=1; [ "$_rw" = randwrite ] && _i=2
	_iops=$(grep -o '"iops" : [0-9.]*' "$B/tls_${_side}_${_job}_r$_r.json" 2>/dev/null | sed -n "${_i}p" | grep -o '[0-9.]*$')
	_cpu=$(awk -v c=$((_c1 - _c0)) -v i="${_iops:-0}" -v s="$SECS" 'BEGIN { if (i > 0) printf "%.1f", c * 10000.0 / (i * s); else print "-" }')
	log "$_side $_job r$_r: exit $_rc, ${_iops:-?} IOPS, $_cpu us of guest CPU per I/O"
	[ "$_rc" = 0 ] && [ -n "$_iops" ] && echo "$_side $_r $_job $_iops $_cpu" >> "$OUTF"
}

side_dev() { wait_until 20 ns_dev "$1"; }

# --- setup --------------------------------------------------------------------------
host_identity
for m in nvme-keyring tls nvme-tcp nvmet nvmet-tcp null_blk; do modprobe $m || { result tls_bench FAIL "modprobe $m"; exit 0; }; done
for m in aesni-intel ghash-clmulni-intel gcm; do modprobe $m 2>/dev/null; done
tlshd_up || { result tls_bench FAIL "tlshd did not start"; exit 0; }
# the keys: one configured PSK, inserted for both subsystems
nvme_cmd tb_key gen-tls-key --hmac=1 --identity=0 --hostnqn="$HOSTNQN" --subsysnqn="$NQN_K" --insert ||
	{ result tls_bench FAIL "gen-tls-key: $(out_line tb_key)"; exit 0; }
KEY=$(grep -o 'NVMeTLSkey-1:01:[A-Za-z0-9+/=]*:' "$RES/tb_key.out" | head -n 1)
nvme_cmd tb_key2 check-tls-key --keydata="$KEY" --hostnqn="$HOSTNQN" --subsysnqn="$NQN_O" --identity=0 --insert ||
	{ result tls_bench FAIL "check-tls-key --insert: $(out_line tb_key2)"; exit 0; }
# the kernel's target: a null_blk, plain and TLS ports (the keyring is
# taken when a port is made: nvme-keyring was loaded first)
_s=$CFS/subsystems/$NQN_K
mkdir -p "$_s/namespaces/1" && echo 1 > "$_s/attr_allow_any_host" &&
	echo /dev/nullb0 > "$_s/namespaces/1/device_path" && echo 1 > "$_s/namespaces/1/enable" ||
	{ result tls_bench FAIL "nvmet subsystem"; exit 0; }
for p in 1:$PORT_K:none 2:$PORT_KT:tls1.3; do
	_id=${p%%:*} _rest=${p#*:} _port=${_rest%%:*} _tsas=${_rest#*:}
	_p=$CFS/ports/$_id
	mkdir -p "$_p" && echo tcp > "$_p/addr_trtype" && echo ipv4 > "$_p/addr_adrfam" &&
		echo 127.0.0.1 > "$_p/addr_traddr" && echo "$_port" > "$_p/addr_trsvcid" || { result tls_bench FAIL "nvmet port $_id"; exit 0; }
	if [ "$_tsas" = tls1.3 ]; then
		echo tls1.3 > "$_p/addr_tsas" && echo required > "$_p/addr_treq" || { result tls_bench FAIL "nvmet tls port"; exit 0; }
	fi
	ln -s "$_s" "$_p/subsystems/$NQN_K"
done
# ours: a null namespace of the same size (null_blk's default 250 GiB)
cat > "$CONF" <<EOC
{ "bridge": { "discovery_port": 0, "reactors": 1 },
  "hosts": [ { "nqn": "$HOSTNQN", "tls_psk": "$KEY" } ],
  "ports": [ { "portid": 1, "addr": { "trtype": "tcp", "adrfam": "ipv4", "traddr": "127.0.0.1", "trsvcid": "$PORT_O" },
               "subsystems": [ "$NQN_O" ] },
             { "portid": 2, "addr": { "trtype": "tcp", "adrfam": "ipv4", "traddr": "127.0.0.1", "trsvcid": "$PORT_OT",
               "tsas": "tls1.3" }, "subsystems": [ "$NQN_O" ] } ],
  "subsystems": [ { "nqn": "$NQN_O", "attr": { "allow_any_host": "1" },
                    "namespaces": [ { "nsid": 1, "device": { "null": "250GiB" } } ] } ] }
EOC
start_bridged "$CONF" "$PORT_O" "$PORT_OT" || { result tls_bench FAIL "nvmf-bridged: $START_WHY"; exit 0; }

# --- the runs ------------------------------------------------------------------------
ok=0 want=0
for r in $(seq 1 "$ROUNDS"); do
	for side in kernel kernel_tls ours ours_tls; do
		case $side in
		kernel) nqn=$NQN_K port=$PORT_K tls= ;;
		kernel_tls) nqn=$NQN_K port=$PORT_KT tls=--tls ;;
		ours) nqn=$NQN_O port=$PORT_O tls= ;;
		ours_tls) nqn=$NQN_O port=$PORT_OT tls=--tls ;;
		esac
		want=$((want + 3))
		TPORT=$port
		if ! nvme_connect "tb_${side}_r$r" "$nqn" --nr-io-queues=1 $tls || ! side_dev "$nqn"; then
			log "connect $side failed: $(out_line "tb_${side}_r$r")"
			continue
		fi
		run "$side" "$r" randread_qd32 "$DEV" randread 4k 32 && ok=$((ok + 1))
		run "$side" "$r" randwrite_qd32 "$DEV" randwrite 4k 32 && ok=$((ok + 1))
		run "$side" "$r" read128k_qd8 "$DEV" randread 128k 8 && ok=$((ok + 1))
		nvme_disconnect "tb_${side}_disc_r$r" "$nqn"
	done
done
stop_bridged 20
tlshd_down
n=$(wc -l < "$OUTF")
if [ "$n" = "$want" ]; then
	# mean per side and job: IOPS and CPU per I/O
	summary=$(awk '{ k = $1 " " $3; i[k] += $4; c[k] += $5; n[k]++ }
		END { for (k in i) printf "%s %.0f IOPS %.1f us/IO; ", k, i[k] / n[k], c[k] / n[k] }' "$OUTF" | tr -s ' ')
	result tls_bench PASS "$n runs, ${SECS}s each, $ROUNDS rounds: $summary"
else
	result tls_bench FAIL "$n of $want runs completed (see $RES/bench and the console)"
fi
exit 0
