#!/bin/sh
# Guest side of `tests/vm/run.sh check`: one boot for both groups of tests.
# $TESTS (comma list) is split by name: the tcp_* tests go to fabric.sh
# (nvmf-bridged and the kernel's NVMe/TCP initiator), all others to pcie.sh
# (the userspace PCIe driver, nvmf-pcie), initiator_* to host_selftest.sh
# (the project's test initiator against the kernel's own nvmet-tcp, which
# proves the reference the host tests rely on); each group keeps its order,
# pcie first. Each script also runs on its own (VM_SCRIPT=pcie|fabric|host_selftest).
set -u
HERE=$(dirname "$0")
PCIE_TESTS= FABRIC_TESTS= INIT_TESTS= LIVE_TESTS= RDMA_TESTS= SVC_TESTS=
for t in $(echo "${TESTS:-}" | tr ',' ' '); do
	case $t in
	tcp_*) FABRIC_TESTS="$FABRIC_TESTS,$t" ;;
	initiator_*) INIT_TESTS="$INIT_TESTS,${t#initiator_}" ;;
	live_*) LIVE_TESTS="$LIVE_TESTS,$t" ;;
	rdma_*) RDMA_TESTS="$RDMA_TESTS,$t" ;;
	svc_*)  SVC_TESTS="$SVC_TESTS,$t" ;;
	*)     PCIE_TESTS="$PCIE_TESTS,$t" ;;
	esac
done
rc=0
if [ -n "$PCIE_TESTS" ]; then
	TESTS=${PCIE_TESTS#,} sh "$HERE/pcie.sh" || rc=$?
fi
if [ -n "$FABRIC_TESTS" ]; then
	TESTS=${FABRIC_TESTS#,} sh "$HERE/fabric.sh" || rc=$?
fi
if [ -n "$RDMA_TESTS" ]; then
	TESTS=${RDMA_TESTS#,} sh "$HERE/rdma.sh" || rc=$?
fi
if [ -n "$LIVE_TESTS" ]; then
	TESTS=${LIVE_TESTS#,} sh "$HERE/live.sh" || rc=$?
fi
# the device setup helper (nvmf-bridgectl setup/release); it ends with the
# controller on the kernel nvme driver, as live.sh leaves it
if [ -n "$SVC_TESTS" ]; then
	TESTS=${SVC_TESTS#,} sh "$HERE/service.sh" || rc=$?
fi
if [ -n "$INIT_TESTS" ]; then
	# its RESULT names get the prefix run.sh asked for
	TESTS=${INIT_TESTS#,} sh "$HERE/host_selftest.sh" 2>&1 | sed 's/^RESULT /RESULT initiator_/'
fi
exit $rc
