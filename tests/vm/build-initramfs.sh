#!/bin/bash
# Build the VM test bed's initramfs: build/vm/initramfs.cpio.gz.
#
# Contents, all taken from the host's Debian packages: busybox (static), the
# real kmod and iproute2 tools, the Debian kernel's modules we need (with their
# dependencies), nvme-cli, fio, the rdma-core tools with the rxe provider, and
# tests/vm/init as /init. The project's own binaries are NOT in here: run.sh
# passes them (and their shared libraries) through the 9p share on every run,
# so a rebuilt binary never needs a new initramfs.
#
# The image is rebuilt only when it is missing or when one of its inputs
# changed: this script, tests/vm/init, the kernel version or its modules, or
# any host file copied into it. Inputs are compared by a fingerprint of their
# ctime/mtime/size rather than by mtime alone, because dpkg installs files
# with the package's (old) mtime: an upgraded libc would otherwise look older
# than the image.
#
# usage: tests/vm/build-initramfs.sh [--force]
#   env: BUILD (default <repo>/build), KVER (default: newest kernel that has
#        both /lib/modules/KVER and /boot/vmlinuz-KVER)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BUILD=${BUILD:-$REPO/build}
VMDIR=$BUILD/vm
OUT=$VMDIR/initramfs.cpio.gz
MANIFEST=$VMDIR/initramfs.inputs   # host paths the image was built from
STAMP=$VMDIR/initramfs.stamp       # fingerprint of those paths at build time
SELF=$HERE/$(basename "$0")
FORCE=0
[ "${1:-}" = --force ] && FORCE=1

pick_kver() {   # newest kernel with both modules and an image to boot
	local k best=
	for k in $(ls /lib/modules 2>/dev/null | sort -V); do
		[ -e "/boot/vmlinuz-$k" ] && [ -d "/lib/modules/$k/kernel" ] && best=$k
	done
	echo "$best"
}
KVER=${KVER:-$(pick_kver)}
if [ -z "$KVER" ]; then
	echo "build-initramfs: no kernel with /lib/modules/<ver> and /boot/vmlinuz-<ver> (install linux-image-amd64)" >&2
	exit 2
fi
MODDIR=/lib/modules/$KVER

fingerprint() {
	{
		echo "kver $KVER"
		# stat errors (a vanished input) change the fingerprint too: rebuild
		sort -u "$MANIFEST" | xargs -d '\n' stat -L -c '%n %Z %Y %s' 2>&1 || true
	} | sha256sum | cut -d' ' -f1
}

if [ "$FORCE" = 0 ] && [ -s "$OUT" ] && [ -s "$MANIFEST" ] && [ -s "$STAMP" ] &&
   [ "$(cat "$STAMP")" = "$(fingerprint)" ] &&
   [ "$OUT" -nt "$SELF" ] && [ "$OUT" -nt "$HERE/init" ]; then
	echo "initramfs: up to date ($OUT, kernel $KVER)"
	exit 0
fi

# Everything the image needs from the host must be there: fail with the
# package to install rather than build an image that breaks inside the VM.
need() {   # need PATH PACKAGE
	[ -e "$1" ] || { echo "build-initramfs: missing $1 (Debian package $2; run tests/install-deps.sh)" >&2; exit 2; }
}
need /bin/busybox busybox-static
need /bin/kmod kmod
need /bin/ip iproute2
need /usr/bin/rdma iproute2
need /usr/sbin/nvme nvme-cli
need /usr/bin/fio fio
need /usr/bin/ibv_devices ibverbs-utils
need /usr/bin/rping rdmacm-utils
need /usr/lib/x86_64-linux-gnu/libibverbs/librxe-rdmav34.so ibverbs-providers
need /usr/bin/cpio cpio
# busybox must be the static build: it is the guest's shell and has no libs
ldd_out=$(LC_ALL=C ldd /bin/busybox 2>&1 || true)
if ! grep -q 'not a dynamic' <<<"$ldd_out"; then
	echo "build-initramfs: /bin/busybox is not statically linked (install busybox-static)" >&2
	exit 2
fi

mkdir -p "$VMDIR"
ROOT=$(mktemp -d "$VMDIR/rootfs.XXXXXX")
trap 'rm -rf "$ROOT" "$OUT.tmp" "$MANIFEST.tmp"' EXIT
: > "$MANIFEST.tmp"
record() { printf '%s\n' "$@" >> "$MANIFEST.tmp"; }
record "$SELF" "$HERE/init" "$MODDIR" "$MODDIR/modules.dep" /bin/busybox

mkdir -p "$ROOT"/{bin,sbin,etc,proc,sys,dev,tmp,run,mnt,share,root,opt,usr/bin,usr/sbin,lib64,lib/x86_64-linux-gnu,usr/lib/x86_64-linux-gnu}
mkdir -p "$ROOT/etc/nvme" "$ROOT/var/run"

# --- busybox applets; the tools we ship real versions of are left out so the
# PATH finds the real ones (ash still prefers its applets: see init) ---
cp /bin/busybox "$ROOT/bin/busybox"
for app in $(/bin/busybox --list); do
	case $app in busybox|modprobe|insmod|rmmod|lsmod|depmod|modinfo|ip) continue;; esac
	[ -e "$ROOT/bin/$app" ] || ln -s busybox "$ROOT/bin/$app"
done

# --- a dynamic program and the shared libraries ldd resolves for it ---
copy_bin() {   # copy_bin SRC [DEST]
	local src=$1 dst=${2:-$1} lib
	mkdir -p "$ROOT/$(dirname "$dst")"
	cp -L "$src" "$ROOT/$dst"
	record "$src"
	for lib in $(ldd "$src" 2>/dev/null | awk '/=>/ {print $3} /^\t\/lib64/ {print $1}' | grep '^/'); do
		[ -e "$ROOT/$lib" ] && continue
		mkdir -p "$ROOT/$(dirname "$lib")"
		cp -L "$lib" "$ROOT/$lib"
		record "$lib"
	done
}

copy_bin /bin/kmod /sbin/kmod
for t in modprobe insmod rmmod lsmod depmod modinfo; do ln -sf kmod "$ROOT/sbin/$t"; done
copy_bin /bin/ip /sbin/ip
copy_bin /usr/bin/rdma
copy_bin /usr/sbin/nvme
copy_bin /usr/bin/fio
for b in ibv_devices ibv_devinfo ibv_rc_pingpong rping udaddy ucmatose rdma_server rdma_client; do
	need /usr/bin/$b "ibverbs-utils/rdmacm-utils"
	copy_bin /usr/bin/$b
done
# rdma-core providers are dlopen()ed (ldd does not see them) and are found
# through their /etc/libibverbs.d/*.driver files
mkdir -p "$ROOT/usr/lib/x86_64-linux-gnu/libibverbs" "$ROOT/etc/libibverbs.d"
for p in rxe siw; do   # siw: userspace side only; this kernel has no siw module
	copy_bin /usr/lib/x86_64-linux-gnu/libibverbs/lib$p-rdmav34.so
	cp /etc/libibverbs.d/$p.driver "$ROOT/etc/libibverbs.d/"
	record /etc/libibverbs.d/$p.driver
done
# an ld.so cache so that dlopen() by soname works
cp /etc/ld.so.conf "$ROOT/etc/"
mkdir -p "$ROOT/etc/ld.so.conf.d"
cp /etc/ld.so.conf.d/*.conf "$ROOT/etc/ld.so.conf.d/" 2>/dev/null || true
ldconfig -r "$ROOT" 2>/dev/null || true
# nvme-cli and friends look up the user
echo "root:x:0:0:root:/root:/bin/sh" > "$ROOT/etc/passwd"
echo "root:x:0:" > "$ROOT/etc/group"

# --- kernel modules plus everything they depend on (incl. softdeps) ---
MODS="nvme nvme-core nvme-fabrics nvme-tcp nvme-rdma nvmet nvmet-tcp nvmet-rdma
      rdma_rxe ib_core ib_uverbs ib_umad rdma_cm rdma_ucm ib_cm iw_cm
      vfio vfio-pci vfio_iommu_type1 uio_pci_generic veth dummy null_blk
      crc32c_generic crc32c-intel crc32_generic crc32-pclmul libcrc32c configfs
      virtio_pci 9p 9pnet_virtio"
mkdir -p "$ROOT$MODDIR"
kos=()
for m in $MODS; do
	if ! deps=$(modprobe -S "$KVER" --show-depends "$m" 2>&1); then
		echo "build-initramfs: kernel $KVER has no module $m: $deps" >&2
		exit 2
	fi
	kos+=($(awk '$1 == "insmod" {print $2}' <<<"$deps"))
done
for ko in $(printf '%s\n' "${kos[@]}" | sort -u); do
	mkdir -p "$ROOT/$(dirname "$ko")"
	cp "$ko" "$ROOT/$ko"
	record "$ko"
done
cp "$MODDIR"/modules.{order,builtin,builtin.modinfo} "$ROOT$MODDIR/"
depmod -b "$ROOT" "$KVER"

cp "$HERE/init" "$ROOT/init"
chmod 755 "$ROOT/init"

# gzip -1: the image is rebuilt rarely but booted on every run; -1 is about as
# fast to unpack as -9 and much faster to make
( cd "$ROOT" && find . -print0 | cpio --null -o -H newc --quiet ) | gzip -1 > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
mv "$MANIFEST.tmp" "$MANIFEST"
fingerprint > "$STAMP"
echo "initramfs: built $OUT ($(du -h "$OUT" | cut -f1), unpacked $(du -sh "$ROOT" | cut -f1)), kernel $KVER"
