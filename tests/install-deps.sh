#!/bin/bash
# Install the Debian 12 packages that building, testing and the VM harness
# need, when any is missing. Run as root (or with sudo available).
set -euo pipefail
PKGS=(
	# build
	gcc make libc6-dev pkg-config libcmocka-dev libjson-c-dev python3
	libibverbs-dev librdmacm-dev libsystemd-dev libssl-dev zlib1g-dev libmicrohttpd-dev
	# the Prometheus endpoint's tests: promtool and a Prometheus server that scrapes it
	prometheus
	# make sparse: the byte order of wire fields (include/nvme/endian.h)
	sparse
	# libFuzzer harnesses (make fuzz, make fuzz-check): clang's fuzzer runtime
	clang libclang-rt-14-dev
	# systemd-analyze verify of the unit (installed on any Debian system that
	# boots with systemd; containers may lack it)
	systemd
	# VM harness: QEMU, Debian's kernel and modules, guest userland
	qemu-system-x86 linux-image-amd64 busybox-static kmod cpio
	nvme-cli fio ibverbs-utils ibverbs-providers rdmacm-utils iproute2
)
missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
if [ ${#missing[@]} -gt 0 ]; then
	echo "install-deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	echo "install-deps: done"
fi
# The VM harness's second guest (VM_GUEST=current tests/vm/run.sh check):
# Debian's kernel 6.12 and trixie's nvme-cli/libnvme/keyutils/ktls-utils as
# .debs in /var/cache/nvmf-bridge-vm, with a private apt configuration
# (nothing is installed). A no-op once they are there; without the archive
# only that guest is unavailable (it then reports SKIP).
if ! $SUDO "$(dirname "$0")/vm/fetch-current.sh"; then
	echo "install-deps: WARNING: the current VM guest's packages could not be downloaded" >&2
fi
