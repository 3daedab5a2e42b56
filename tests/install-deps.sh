#!/bin/bash
# Install the Debian 12 packages that building, testing and the VM harness
# need, when any is missing. Run as root (or with sudo available).
set -euo pipefail
PKGS=(
	# build
	gcc make libc6-dev pkg-config libcmocka-dev libjson-c-dev python3
	libibverbs-dev librdmacm-dev libsystemd-dev
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
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-deps: installing ${missing[*]}"
SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
