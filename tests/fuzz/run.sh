#!/bin/bash
# Run the libFuzzer harnesses (see tests/fuzz/fuzz.mk).
# usage: run.sh check|long SECONDS BINDIR NAME...
#   check: replay every committed input once, then fuzz SECONDS each
#   long:  fuzz SECONDS each
# Fuzzing runs on a scratch copy of the corpus; the committed one never
# grows by itself. A crash fails the run and its input is kept under
# BINDIR/crashes/. The harnesses run side by side, as many at once as the
# machine has cores (FUZZ_JOBS to choose), each reported in order.
set -uo pipefail
MODE=$1 SECS=$2 BIN=$(readlink -f "$3"); shift 3
HERE=$(cd "$(dirname "$0")" && pwd)
pass=0 fail=0
mkdir -p "$BIN/crashes"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

max_len() {
	case $1 in
	pdu) echo 4096 ;;
	tcp_engine) echo 65536 ;;
	config) echo 16384 ;;
	rpc) echo 4096 ;;
	*) echo 4096 ;;
	esac
}

# fuzz_one NAME: replay and fuzz one harness; prints its report, returns 1 on a failure
fuzz_one() {
	local name=$1 h corpus dict scratch log replayed ok execs cov units
	h=$BIN/fuzz_$name corpus=$HERE/corpus/$name
	dict=; [ -f "$HERE/$name.dict" ] && dict=-dict=$HERE/$name.dict
	scratch=$(mktemp -d "/tmp/nvmfb-fuzz-$name.XXXXXX")
	log=$scratch/log
	replayed=0
	ok=true
	if [ "$MODE" = check ]; then
		replayed=$(find "$corpus" -type f | wc -l)
		if ! "$h" -runs=0 $dict "$corpus" > "$log.replay" 2>&1; then
			ok=false
			echo "FAIL [fuzz/$name] replaying the committed corpus:"
			grep -E 'ERROR|runtime error|SUMMARY|Test unit written' "$log.replay" | head -n 10 | sed 's/^/    /'
		fi
	fi
	cp -r "$corpus" "$scratch/corpus"
	if $ok && ! "$h" -max_total_time="$SECS" -max_len="$(max_len "$name")" -timeout=10 -rss_limit_mb=4096 \
		-print_final_stats=1 -artifact_prefix="$BIN/crashes/$name-" $dict "$scratch/corpus" > "$log" 2>&1; then
		ok=false
		echo "FAIL [fuzz/$name] crash:"
		grep -E 'ERROR|runtime error|SUMMARY|Test unit written|trap' "$log" | head -n 10 | sed 's/^/    /'
	fi
	execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" 2>/dev/null | grep -o '[0-9]*$')
	cov=$(grep -oE 'cov: [0-9]+' "$log" 2>/dev/null | tail -n 1)
	units=$(find "$scratch/corpus" -type f | wc -l)
	rm -rf "$scratch"
	if $ok; then
		if [ "$MODE" = check ]; then
			echo "fuzz-check[$name]: replayed $replayed inputs, ${execs:-0} execs in $SECS s, $cov, corpus $units, 0 crashes"
		else
			echo "fuzz[$name]: ${execs:-0} execs in $SECS s, $cov, corpus $units, 0 crashes"
		fi
		return 0
	fi
	[ "$MODE" = long ] && echo "    reproduce: $h $BIN/crashes/$name-*"
	return 1
}

JOBS=${FUZZ_JOBS:-$(nproc)}
[ "$JOBS" -ge 1 ] 2>/dev/null || JOBS=1
out=$(mktemp -d /tmp/nvmfb-fuzz-out.XXXXXX)
running=0
for name in "$@"; do
	if [ "$running" -ge "$JOBS" ]; then
		wait -n; running=$((running - 1))
	fi
	( fuzz_one "$name" > "$out/$name.txt" 2>&1; echo $? > "$out/$name.rc" ) &
	running=$((running + 1))
done
wait
for name in "$@"; do
	cat "$out/$name.txt"
	if [ "$(cat "$out/$name.rc" 2>/dev/null)" = 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
done
rm -rf "$out"
echo "fuzz-$MODE: $pass passed, $fail failed"
[ "$fail" = 0 ]
