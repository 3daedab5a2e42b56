#!/bin/bash
# Build the "current" VM guest (VM_GUEST=current): build/vm-current/
#   root/               the private root: every .deb that tests/vm/fetch-current.sh
#                       downloaded, extracted with dpkg-deb -x (Debian's kernel
#                       6.12 and trixie's userland); nothing is installed on
#                       the host
#   vmlinuz             the kernel QEMU boots (root/boot/vmlinuz-KVER)
#   initramfs.cpio.gz   trixie's busybox-static, kmod, iproute2, nvme-cli 2.13
#                       with libnvme (keyring support), keyutils, ktls-utils
#                       (tlshd), fio and the rdma-core tools, each with the
#                       libraries trixie's own ld.so resolves for it inside the
#                       private root; the 6.12 modules the 6.1 guest loads plus
#                       NVMe in-band authentication and NVMe/TCP TLS (kTLS and
#                       its AEAD ciphers; with their dependencies and
#                       softdeps); tests/vm/init as /init
#
# The guest's libc is trixie's. The project's programs (built on bookworm) still
# come through the 9p share with their libraries, as in the 6.1 guest: /init's
# LD_LIBRARY_PATH puts the initramfs's (newer) libraries first, which run the
# older binaries, and the share's fill the gaps.
#
# Rebuilt only when an input changed: the manifest and the .debs it lists,
# this script, tests/vm/init (fingerprint of ctime/mtime/size, as in
# build-initramfs.sh).
#
# usage: tests/vm/build-initramfs-current.sh [--force]
#   env: BUILD (default <repo>/build), NVMF_VM_CACHE (see fetch-current.sh)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BUILD=${BUILD:-$REPO/build}
export BUILD
VMDIR=$BUILD/vm-current
OUT=$VMDIR/initramfs.cpio.gz
STAMP=$VMDIR/initramfs.stamp
XROOT=$VMDIR/root
XSTAMP=$VMDIR/root.stamp
SELF=$HERE/$(basename "$0")
FORCE=0
[ "${1:-}" = --force ] && FORCE=1

CACHE=$("$HERE/fetch-current.sh" --where)
MANIFEST=$CACHE/current.manifest
DEBS=$CACHE/debs
if [ ! -s "$MANIFEST" ]; then
	echo "build-initramfs-current: no $MANIFEST: run tests/vm/fetch-current.sh (or tests/install-deps.sh)" >&2
	exit 2
fi
KVER=$(sed -n 's/^kernel \([^ ]*\) .*/\1/p' "$MANIFEST")
[ -n "$KVER" ] || { echo "build-initramfs-current: no kernel line in $MANIFEST" >&2; exit 2; }

debs() { sed -n '3,$p' "$MANIFEST" | awk -v d="$DEBS" '{ print d "/" $3 }'; }
# the private root depends on the .debs only; the image also on this script and /init
root_fingerprint() {
	{ sed -n '2,$p' "$MANIFEST"; debs | xargs -d '\n' stat -L -c '%n %Z %Y %s' 2>&1 || true; } |
		sha256sum | cut -d' ' -f1
}
fingerprint() {
	{ root_fingerprint; stat -L -c '%n %Z %Y %s' "$SELF" "$HERE/init"; } | sha256sum | cut -d' ' -f1
}

if [ "$FORCE" = 0 ] && [ -s "$OUT" ] && [ -s "$STAMP" ] && [ -s "$VMDIR/vmlinuz" ] &&
   [ "$(cat "$STAMP")" = "$(fingerprint)" ]; then
	echo "initramfs (current): up to date ($OUT, kernel $KVER)"
	exit 0
fi
for t in cpio depmod dpkg-deb readelf; do
	command -v $t >/dev/null || { echo "build-initramfs-current: $t is missing (run tests/install-deps.sh)" >&2; exit 2; }
done
mkdir -p "$VMDIR"

# --- the private root ---
if [ "$FORCE" = 1 ] || [ ! -s "$XSTAMP" ] || [ "$(cat "$XSTAMP")" != "$(root_fingerprint)" ]; then
	t0=$EPOCHREALTIME
	rm -rf "$XROOT" "$XROOT.tmp"
	mkdir -p "$XROOT.tmp"
	while read -r deb; do
		[ -s "$deb" ] || { echo "build-initramfs-current: $deb is missing: run tests/vm/fetch-current.sh" >&2; exit 2; }
		dpkg-deb -x "$deb" "$XROOT.tmp"
	done < <(debs)
	# the kernel's module index, made by the host's depmod in the private root
	depmod -b "$XROOT.tmp" "$KVER"
	mv "$XROOT.tmp" "$XROOT"
	root_fingerprint > "$XSTAMP"
	echo "initramfs (current): extracted $(debs | wc -l) packages into $XROOT" \
		"in $(awk -v a="$EPOCHREALTIME" -v b="$t0" 'BEGIN { printf "%.0f", a - b }') s"
fi
X=$XROOT
MODDIR=/lib/modules/$KVER
[ -s "$X/boot/vmlinuz-$KVER" ] && [ -d "$X$MODDIR/kernel" ] ||
	{ echo "build-initramfs-current: $X has no kernel $KVER" >&2; exit 2; }
LDSO=$X/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
# the library directories, then every other directory of the private root with
# shared libraries in it: RUNPATHs (librados: /usr/lib/x86_64-linux-gnu/ceph)
# name guest paths, which --library-path must map into the private root
LIBPATH=$(
	{ echo "$X/usr/lib/x86_64-linux-gnu"; echo "$X/lib/x86_64-linux-gnu"
	  find "$X/usr/lib" "$X/lib" -path "$X$MODDIR" -prune -o -name '*.so*' -type f -printf '%h\n' 2>/dev/null | sort -u; } |
	awk '!seen[$0]++' | paste -sd:)
[ -x "$LDSO" ] || { echo "build-initramfs-current: $LDSO missing (libc6 not extracted?)" >&2; exit 2; }

ROOT=$(mktemp -d "$VMDIR/rootfs.XXXXXX")
trap 'rm -rf "$ROOT" "$OUT.tmp"' EXIT
# merged /usr, as trixie is
mkdir -p "$ROOT"/usr/{bin,sbin,lib/x86_64-linux-gnu,lib64} \
	"$ROOT"/{etc/nvme,proc,sys,dev,tmp,run,mnt,share,root,opt,var}
for d in bin sbin lib lib64; do ln -s "usr/$d" "$ROOT/$d"; done
ln -s /run "$ROOT/var/run"

# --- a program and the libraries the private root's own ld.so resolves for
# it; a library found outside the private root is an error (the closure
# apt resolved would be incomplete) ---
copy_libs() {   # copy_libs FILE (under $X)
	local out lib
	# static (busybox): nothing to resolve (ld.so --list would crash on it)
	LC_ALL=C readelf -d "$1" 2>/dev/null | grep -q '(NEEDED)' || return 0
	if ! out=$("$LDSO" --inhibit-cache --library-path "$LIBPATH" --list "$1" 2>&1); then
		echo "build-initramfs-current: cannot resolve the libraries of $1: $out" >&2
		exit 2
	fi
	if grep -q 'not found' <<<"$out"; then
		echo "build-initramfs-current: $1 needs libraries the private root lacks:" >&2
		grep 'not found' <<<"$out" >&2
		exit 2
	fi
	for lib in $(awk '$2 == "=>" && $3 ~ /^\// { print $3 }' <<<"$out"); do
		case $lib in "$X"/*) ;; *)
			echo "build-initramfs-current: $1 resolved $lib outside the private root" >&2
			exit 2 ;;
		esac
		[ -e "$ROOT/${lib#"$X"/}" ] && continue
		mkdir -p "$ROOT/$(dirname "${lib#"$X"/}")"
		cp -L "$lib" "$ROOT/${lib#"$X"/}"
	done
}
copy_bin() {   # copy_bin PATH (as in the private root, e.g. /usr/sbin/nvme)
	local p=$1
	[ -e "$X$p" ] || { echo "build-initramfs-current: $p is not in the private root" >&2; exit 2; }
	mkdir -p "$ROOT$(dirname "$p")"
	cp -L "$X$p" "$ROOT$p"
	copy_libs "$X$p"
}
cp -a "$X/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" "$ROOT/usr/lib/x86_64-linux-gnu/"
ln -s ../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$ROOT/usr/lib64/ld-linux-x86-64.so.2"

copy_bin /usr/bin/busybox
copy_bin /usr/bin/kmod
for t in modprobe insmod rmmod lsmod depmod modinfo; do ln -s ../bin/kmod "$ROOT/usr/sbin/$t"; done
copy_bin /usr/bin/ip
ln -s ../bin/ip "$ROOT/usr/sbin/ip"
copy_bin /usr/bin/rdma
copy_bin /usr/sbin/nvme
copy_bin /usr/bin/fio
copy_bin /usr/bin/keyctl
copy_bin /usr/sbin/request-key
copy_bin /usr/sbin/tlshd
for b in ibv_devices ibv_devinfo ibv_rc_pingpong rping udaddy ucmatose rdma_server rdma_client; do
	copy_bin /usr/bin/$b
done
# rdma-core providers are dlopen()ed and found through /etc/libibverbs.d
mkdir -p "$ROOT/etc/libibverbs.d"
for p in rxe siw; do
	copy_bin /usr/lib/x86_64-linux-gnu/libibverbs/lib$p-rdmav34.so
	cp "$X/etc/libibverbs.d/$p.driver" "$ROOT/etc/libibverbs.d/"
done
# configuration the tools read: tlshd, request-key (keyutils)
cp "$X/etc/tlshd.conf" "$ROOT/etc/"
cp "$X/etc/request-key.conf" "$ROOT/etc/"
[ -d "$X/etc/request-key.d" ] && cp -a "$X/etc/request-key.d" "$ROOT/etc/"

# busybox applets for everything else; the real tools above win
for app in $("$ROOT/usr/bin/busybox" --list); do
	case $app in busybox|modprobe|insmod|rmmod|lsmod|depmod|modinfo|ip) continue;; esac
	[ -e "$ROOT/usr/bin/$app" ] || [ -e "$ROOT/usr/sbin/$app" ] || ln -s busybox "$ROOT/usr/bin/$app"
done

# an ld.so cache so that dlopen() by soname works
cp -a "$X/etc/ld.so.conf.d" "$ROOT/etc/"
echo 'include /etc/ld.so.conf.d/*.conf' > "$ROOT/etc/ld.so.conf"
ldconfig -r "$ROOT" 2>/dev/null || true
echo "root:x:0:0:root:/root:/bin/sh" > "$ROOT/etc/passwd"
echo "root:x:0:" > "$ROOT/etc/group"

# --- kernel modules plus everything they depend on (incl. softdeps) ---
# The 6.1 guest's set, then in-band authentication (nvme-auth; nvmet is
# built with NVME_TARGET_AUTH), the keyring and kernel TLS for NVMe/TCP TLS,
# nvme-loop (6.12 has it), and the crypto DH-HMAC-CHAP uses: hmac,
# dh_generic (with the RFC 7919 ffdhe groups) and the generic sha256/sha512
# are built into Debian's 6.12 (modprobe says "builtin", nothing to copy);
# "sha256"/"sha512" also bring the SSSE3/AVX modules. 6.12 has no hkdf
# module (nvme-auth derives keys itself).
# NVMe/TCP TLS (auth.sh's nvmet_tls): the handshake netlink service is built
# in (CONFIG_NET_HANDSHAKE=y), tlshd does the handshake in userspace
# (GnuTLS), then kernel TLS (tls.ko) takes over the socket and asks the
# crypto API for the negotiated record cipher: gcm(aes) for
# TLS_AES_128/256_GCM_*, rfc7539(chacha20,poly1305) or ccm(aes), all modules
# in Debian's 6.12 (the AES-NI/CLMUL/x86_64 variants and the generic ones;
# aes itself is built in).
MODS="nvme nvme-core nvme-fabrics nvme-tcp nvme-rdma nvmet nvmet-tcp nvmet-rdma
      rdma_rxe ib_core ib_uverbs ib_umad rdma_cm rdma_ucm ib_cm iw_cm
      vfio vfio-pci vfio_iommu_type1 uio_pci_generic veth dummy null_blk
      crc32c_generic crc32c-intel crc32_generic crc32-pclmul libcrc32c configfs
      virtio_pci 9p 9pnet_virtio
      nvme-auth nvme-keyring tls nvme-loop
      gcm ghash-generic ghash-clmulni-intel aesni-intel ccm
      chacha20poly1305 chacha_generic chacha-x86_64 poly1305_generic poly1305-x86_64
      hmac sha256 sha512 dh_generic"
for opt in NVME_AUTH NVME_TARGET_AUTH NVME_TCP_TLS NVME_TARGET_TCP_TLS; do
	grep -q "^CONFIG_$opt=[ym]" "$X/boot/config-$KVER" ||
		{ echo "build-initramfs-current: kernel $KVER lacks CONFIG_$opt" >&2; exit 2; }
done
kos=()
for m in $MODS; do
	if ! deps=$(modprobe -d "$X" -S "$KVER" --show-depends "$m" 2>&1); then
		echo "build-initramfs-current: kernel $KVER has no module $m: $deps" >&2
		exit 2
	fi
	kos+=($(awk '$1 == "insmod" {print $2}' <<<"$deps"))
done
for ko in $(printf '%s\n' "${kos[@]}" | sort -u); do
	rel=${ko#"$X"/}
	mkdir -p "$ROOT/usr/$(dirname "${rel#usr/}")"
	cp "$ko" "$ROOT/usr/${rel#usr/}"
done
cp "$X$MODDIR"/modules.{order,builtin,builtin.modinfo} "$ROOT/usr$MODDIR/"
depmod -b "$ROOT" "$KVER"

cp "$HERE/init" "$ROOT/init"
chmod 755 "$ROOT/init"

( cd "$ROOT" && find . -print0 | cpio --null -o -H newc --quiet ) | gzip -1 > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
cp "$X/boot/vmlinuz-$KVER" "$VMDIR/vmlinuz.tmp" && mv "$VMDIR/vmlinuz.tmp" "$VMDIR/vmlinuz"
echo "$KVER" > "$VMDIR/kver"
fingerprint > "$STAMP"
echo "initramfs (current): built $OUT ($(du -h "$OUT" | cut -f1), unpacked $(du -sh "$ROOT" | cut -f1))," \
	"kernel $KVER, nvme-cli $(awk '$1 == "nvme-cli" { print $2 }' "$MANIFEST")"
