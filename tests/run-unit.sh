#!/bin/bash
# Run unit test binaries, print each one's cmocka output and a summary line.
# usage: run-unit.sh LABEL BIN...
set -u
label=$1; shift
pass=0; fail=0; failed=()
for t in "$@"; do
	if out=$("$t" 2>&1); then
		pass=$((pass + 1))
		n=$(printf '%s\n' "$out" | sed -n 's/.*\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
		echo "ok   [$label] $(basename "$t") (${n:-?} tests)"
	else
		fail=$((fail + 1)); failed+=("$(basename "$t")")
		printf '%s\n' "$out"
		echo "FAIL [$label] $(basename "$t")"
	fi
done
echo "unit[$label]: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
