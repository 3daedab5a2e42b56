#!/bin/bash
# build-spdk.sh: build SPDK's nvmf_tgt and spdk_nvme_perf (plus scripts/rpc.py) at
# $SPDK_DIR (default /opt/spdk) on Debian 12 against Debian's DPDK 22.11 (libdpdk-dev,
# via pkg-config), for the side-by-side benchmark (make bench PEERS=spdk, run by
# bench/bench.sh). Idempotent: every step is skipped when its result is already
# there. The SPDK tree lives outside this repository and is never committed.
#
# Source: SPDK_SRC, a git URL or a local (bare) clone of github.com/spdk/spdk
# (default https://github.com/spdk/spdk.git; on a machine without internet point
# it at a local mirror). Submodules (dpdk, isa-l, ...) are NOT needed and not
# fetched.
#
# Version: SPDK v25.09 (release tag). Newer tags (v26.01, v26.05) link rte_argparse,
# which only exists from DPDK 24.03 on, so they do not build against Debian 12's 22.11.
#
# Two local changes to the v25.09 tree (both applied by sed below, both idempotent):
#  1. configure: ISA-L (and ISA-L-crypto) can only come from the isa-l submodule and
#     there is no --without-isal; with SPDK_NO_ISAL=1 the x86 ISA-L block is skipped
#     (CONFIG_ISAL=n, CONFIG_ISAL_CRYPTO=n, crypto/compressdev off). SPDK then uses its
#     table-driven software CRC32C (only used for NVMe/TCP digests, which are off in
#     the benchmark) and no ISA-L accel paths.
#  2. lib/env_dpdk/pci_dpdk.c: v25.09 refuses DPDK 22.11.x for x > 4 at start-up
#     ("DPDK version 22.11.11 is not supported") because an LTS point release *might*
#     change the private PCI driver ABI; Debian ships 22.11.11. The check is relaxed to
#     accept any 22.11.x with the 22.11 function table. This only matters for PCIe
#     devices; the TCP/RDMA comparisons here touch no PCI device.
#
# CPU etiquette on the shared 2-core machine: the compile runs with -j2 (JOBS) under
# flock $LOCK, after waiting for any qemu-system process to finish.
set -euo pipefail
SPDK_DIR=${SPDK_DIR:-/opt/spdk}
SPDK_SRC=${SPDK_SRC:-https://github.com/spdk/spdk.git}
SPDK_TAG=${SPDK_TAG:-v25.09}
JOBS=${JOBS:-2}
LOCK=${LOCK:-/tmp/cpu.lock}
log() { echo "build-spdk: $*"; }

# 1. Debian packages (build deps; the DPDK from Debian; RDMA headers for --with-rdma)
PKGS=(gcc g++ make pkgconf python3 libdpdk-dev libnuma-dev libaio-dev uuid-dev libssl-dev
      libncurses-dev libkeyutils-dev libjson-c-dev libibverbs-dev librdmacm-dev)
missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	log "apt-get install ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
pkg-config --exists libdpdk || { echo "libdpdk.pc missing" >&2; exit 1; }
log "DPDK $(pkg-config --modversion libdpdk) from pkg-config"

# 2. source tree at the release tag (no submodules)
if [ ! -d "$SPDK_DIR/.git" ]; then
	log "cloning $SPDK_SRC -> $SPDK_DIR"
	git clone -q --no-checkout "$SPDK_SRC" "$SPDK_DIR"
	git -C "$SPDK_DIR" checkout -q "$SPDK_TAG"
fi
have=$(git -C "$SPDK_DIR" describe --tags --exact-match 2>/dev/null || true)
[ "$have" = "$SPDK_TAG" ] || { echo "$SPDK_DIR is at '${have:-?}', not $SPDK_TAG" >&2; exit 1; }
cd "$SPDK_DIR"

# 3. local changes (see header)
if ! grep -q 'SPDK_NO_ISAL' configure; then
	log "patch configure: SPDK_NO_ISAL=1 skips the ISA-L submodule"
	sed -i 's/^if \[\[ \$arch == x86_64\* \]\] || \[\[ \$arch == aarch64\* \]\]; then$/if [[ -z "${SPDK_NO_ISAL:-}" ]] \&\& { [[ $arch == x86_64* ]] || [[ $arch == aarch64* ]]; }; then/' configure
	grep -q 'SPDK_NO_ISAL' configure || { echo "configure patch did not apply" >&2; exit 1; }
fi
if grep -q 'if (minor > 4) {' lib/env_dpdk/pci_dpdk.c; then
	log "patch pci_dpdk.c: accept any DPDK 22.11.x"
	sed -i 's/if (minor > 4) {/if (0 \&\& minor > 4) { \/* accept Debian 22.11.x *\//' lib/env_dpdk/pci_dpdk.c
fi

# 4. configure: release build (no --enable-debug), DPDK from pkg-config, TCP + RDMA
#    transports, nothing else that needs a submodule or extra packages.
CONF_ARGS=(--with-dpdk --with-rdma --disable-tests --disable-unit-tests --disable-examples
           --without-crypto --without-vhost --without-virtio --without-nvme-cuse
           --without-fsdev --without-aio-fsdev --without-xnvme --without-vfio-user
           --without-ocf --without-uring --without-rbd --without-usdt
           --without-idxd --without-sma --without-avahi --without-golang)
# A packaged DPDK forces shared SPDK libraries (CONFIG_SHARED=y); the rpath lets the
# binaries find build/lib/*.so without LD_LIBRARY_PATH (configure keeps LDFLAGS in
# mk/cc.flags.mk). Release build: -O2, no --enable-debug.
CONF_LDFLAGS="-Wl,-rpath=$SPDK_DIR/build/lib"
stamp=build/.bench-configure
want="$SPDK_TAG LDFLAGS=$CONF_LDFLAGS ${CONF_ARGS[*]}"
if [ ! -f mk/config.mk ] || [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
	log "LDFLAGS=$CONF_LDFLAGS ./configure ${CONF_ARGS[*]}"
	SPDK_NO_ISAL=1 LDFLAGS="$CONF_LDFLAGS" ./configure "${CONF_ARGS[@]}"
	rm -f build/bin/nvmf_tgt build/bin/spdk_nvme_perf
	mkdir -p build && echo "$want" > "$stamp"
fi

# 5. compile only what the benchmark needs: the libraries and modules, then two apps
wait_quiet() { while pgrep -f qemu-system >/dev/null; do sleep 10; done; }
if [ ! -x build/bin/nvmf_tgt ] || [ ! -x build/bin/spdk_nvme_perf ]; then
	mkdir -p "$(dirname "$LOCK")"
	wait_quiet
	log "make -j$JOBS (lib module app/nvmf_tgt app/spdk_nvme_perf) under flock $LOCK"
	# the top-level Makefile passes its goals down to every subdirectory, so the
	# generated headers are made first and then each directory on its own
	flock "$LOCK" bash -c "set -e
		make build_dir include/spdk/config.h include/spdk/version.h
		make -j$JOBS -C lib all
		make -j$JOBS -C module all
		make -j$JOBS -C app/nvmf_tgt all
		make -j$JOBS -C app/spdk_nvme_perf all"
fi

# 6. check: both binaries run, and rpc.py (standard library only) imports
for b in nvmf_tgt spdk_nvme_perf; do
	if ldd "build/bin/$b" | grep -q 'not found'; then
		ldd "build/bin/$b" | grep 'not found' >&2; exit 1
	fi
done
python3 scripts/rpc.py --help >/dev/null
log "done: $(ls build/bin/nvmf_tgt build/bin/spdk_nvme_perf | tr '\n' ' ')(SPDK $(cat VERSION))"
