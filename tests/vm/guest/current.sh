#!/bin/sh
# The current guest's check mode (VM_GUEST=current tests/vm/run.sh check):
# each test named in $TESTS goes to the script that has it, in order of the
# scripts: auth.sh (authentication and TLS), then scaleout.sh, then resv.sh
# (reservations).
set -u
HERE=$(dirname "$0")
AUTH= SCALE= RESV=
for t in $(echo "${TESTS:-}" | tr ',' ' '); do
	case $t in
	bridge_scaleout) SCALE="$SCALE,$t" ;;
	bridge_resv) RESV="$RESV,$t" ;;
	*) AUTH="$AUTH,$t" ;;
	esac
done
[ -n "$AUTH" ] && TESTS=${AUTH#,} sh "$HERE/auth.sh"
[ -n "$SCALE" ] && TESTS=${SCALE#,} sh "$HERE/scaleout.sh"
[ -n "$RESV" ] && TESTS=${RESV#,} sh "$HERE/resv.sh"
exit 0
