#!/bin/sh
# The current guest's check mode (VM_GUEST=current tests/vm/run.sh check):
# each test named in $TESTS goes to the script that has it, in order of the
# scripts: auth.sh (authentication and TLS), scaleout.sh, resv.sh
# (reservations), then ana.sh (ANA multipath).
set -u
HERE=$(dirname "$0")
AUTH= SCALE= RESV= ANA=
for t in $(echo "${TESTS:-}" | tr ',' ' '); do
	case $t in
	bridge_scaleout) SCALE="$SCALE,$t" ;;
	bridge_resv) RESV="$RESV,$t" ;;
	bridge_ana) ANA="$ANA,$t" ;;
	*) AUTH="$AUTH,$t" ;;
	esac
done
[ -n "$AUTH" ] && TESTS=${AUTH#,} sh "$HERE/auth.sh"
[ -n "$SCALE" ] && TESTS=${SCALE#,} sh "$HERE/scaleout.sh"
[ -n "$RESV" ] && TESTS=${RESV#,} sh "$HERE/resv.sh"
[ -n "$ANA" ] && TESTS=${ANA#,} sh "$HERE/ana.sh"
exit 0
