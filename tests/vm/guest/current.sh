#!/bin/sh
# The current guest's check mode (VM_GUEST=current tests/vm/run.sh check):
# each test named in $TESTS goes to the script that has it, in order of the
# scripts: auth.sh (authentication and TLS), scaleout.sh, resv.sh
# (reservations), ana.sh (ANA multipath), then rdma.sh (rdma_depth: the
# 6.12 host reuses a command slot faster than the 6.1 one).
set -u
HERE=$(dirname "$0")
AUTH= SCALE= RESV= ANA= RDMA=
for t in $(echo "${TESTS:-}" | tr ',' ' '); do
	case $t in
	bridge_scaleout) SCALE="$SCALE,$t" ;;
	bridge_resv) RESV="$RESV,$t" ;;
	bridge_ana) ANA="$ANA,$t" ;;
	rdma_*) RDMA="$RDMA,$t" ;;
	*) AUTH="$AUTH,$t" ;;
	esac
done
[ -n "$AUTH" ] && TESTS=${AUTH#,} sh "$HERE/auth.sh"
[ -n "$SCALE" ] && TESTS=${SCALE#,} sh "$HERE/scaleout.sh"
[ -n "$RESV" ] && TESTS=${RESV#,} sh "$HERE/resv.sh"
[ -n "$ANA" ] && TESTS=${ANA#,} sh "$HERE/ana.sh"
[ -n "$RDMA" ] && TESTS=${RDMA#,} sh "$HERE/rdma.sh"
exit 0
