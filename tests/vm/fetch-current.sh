#!/bin/bash
# Download what the "current" VM guest (VM_GUEST=current) is made of, without
# installing anything on the host:
#   - Debian's kernel 6.12 for bookworm (bookworm-security), the package
#     pinned below (NVMe in-band authentication, NVMe/TCP TLS), and
#   - a current NVMe userland from trixie (Debian 13): nvme-cli 2.13 and
#     libnvme with keyring support, keyutils, ktls-utils (tlshd), kmod,
#     iproute2, busybox-static, fio, the rdma-core tools, and every library
#     they need (the dependency closure, resolved by apt).
#
# apt runs with a PRIVATE configuration under the cache (its own sources
# list, lists, package cache, an empty dpkg status file, none of the host's
# apt.conf.d hooks): the host's apt state and /boot, /lib/modules are not
# touched. Only the host's proxy and Check-Valid-Until/Check-Date settings
# are carried over.
#
# The .debs and a manifest (current.manifest: the kernel version, then one
# package, version and file per line) stay in the cache, so later runs and
# clean checkouts reuse them without the network; the set is resolved again
# only when what is asked for changes (this script's request line) or a file
# is missing.
#
# usage: tests/vm/fetch-current.sh [--where]
#   --where   print the cache directory and exit
# env:
#   NVMF_VM_CACHE  cache directory (default /var/cache/nvmf-bridge-vm when
#                  it exists or can be made, else $BUILD/vm-current/cache)
#   NVMF_VM_MIRROR, NVMF_VM_SECURITY_MIRROR   Debian mirrors
#                  (default http://deb.debian.org/debian, .../debian-security)
set -euo pipefail

# The guest kernel, pinned so that results are reproducible. When the archive
# no longer has it (bookworm-security keeps only the newest few), the newest
# linux-image-6.12.*+deb12-amd64-unsigned is taken instead, loudly.
CURRENT_KVER=${NVMF_VM_KVER:-6.12.118+deb12-amd64}
# trixie's userland for the guest (dependencies are added by apt)
USERLAND="nvme-cli libnvme1t64 keyutils ktls-utils kmod iproute2 busybox-static
          fio ibverbs-utils ibverbs-providers rdmacm-utils"

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BUILD=${BUILD:-$REPO/build}
MIRROR=${NVMF_VM_MIRROR:-http://deb.debian.org/debian}
SECMIRROR=${NVMF_VM_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

cache_dir() {
	if [ -n "${NVMF_VM_CACHE:-}" ]; then echo "$NVMF_VM_CACHE"; return; fi
	local sys=/var/cache/nvmf-bridge-vm
	if [ -s "$sys/current.manifest" ] || [ -w "$sys" ] ||
	   { [ ! -e "$sys" ] && [ -w /var/cache ]; }; then
		echo "$sys"
	else
		echo "$BUILD/vm-current/cache"
	fi
}
CACHE=$(cache_dir)
if [ "${1:-}" = --where ]; then echo "$CACHE"; exit 0; fi

MANIFEST=$CACHE/current.manifest
DEBS=$CACHE/debs
A=$CACHE/apt
# what is asked for: a different request resolves the set again
REQUEST="request kernel=$CURRENT_KVER userland=$(echo $USERLAND | tr ' ' ,) mirror=$MIRROR security=$SECMIRROR"

manifest_ok() {
	[ -s "$MANIFEST" ] && [ "$(head -n 1 "$MANIFEST")" = "$REQUEST" ] || return 1
	local _ pkg ver file
	while read -r pkg ver file; do
		[ -s "$DEBS/$file" ] || return 1
	done < <(sed -n '3,$p' "$MANIFEST")
}

mkdir -p "$CACHE"
exec 8> "$CACHE/lock"
flock -w 1800 8 || { echo "fetch-current: gave up waiting for $CACHE/lock" >&2; exit 1; }
if manifest_ok; then
	echo "fetch-current: up to date ($MANIFEST, kernel $(sed -n 's/^kernel //p' "$MANIFEST" | cut -d' ' -f1))"
	exit 0
fi

command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null ||
	{ echo "fetch-current: needs apt-get and dpkg-deb (Debian)" >&2; exit 2; }
[ -r "$KEYRING" ] ||
	{ echo "fetch-current: $KEYRING missing (package debian-archive-keyring)" >&2; exit 2; }

T0=$EPOCHREALTIME
# --- the private apt configuration ---
mkdir -p "$A/apt.conf.d" "$A/sources.list.d" "$A/preferences.d" "$A/trusted.gpg.d" \
	"$A/state/lists/partial" "$A/cache/archives/partial" "$A/log" "$DEBS/partial"
: > "$A/state/status"     # nothing installed: apt resolves the whole closure
cat > "$A/sources.list" <<-EOF
	deb [signed-by=$KEYRING] $MIRROR trixie main
	deb [signed-by=$KEYRING] $SECMIRROR bookworm-security main
EOF
# trixie's userland; bookworm-security only for the kernel package
cat > "$A/preferences" <<-EOF
	Package: *
	Pin: release n=bookworm-security
	Pin-Priority: 100
EOF
{
	cat <<-EOF
	Dir::Etc::main "/dev/null";
	Dir::Etc::parts "$A/apt.conf.d";
	Dir::Etc::sourcelist "$A/sources.list";
	Dir::Etc::sourceparts "$A/sources.list.d";
	Dir::Etc::preferences "$A/preferences";
	Dir::Etc::preferencesparts "$A/preferences.d";
	Dir::Etc::trusted "$A/trusted.gpg";
	Dir::Etc::trustedparts "$A/trusted.gpg.d";
	Dir::State "$A/state";
	Dir::State::lists "$A/state/lists";
	Dir::State::status "$A/state/status";
	Dir::State::extended_states "$A/state/extended_states";
	Dir::Cache "$A/cache";
	Dir::Cache::archives "$DEBS";
	Dir::Cache::pkgcache "";
	Dir::Cache::srcpkgcache "";
	Dir::Log "$A/log";
	APT::Architecture "amd64";
	APT::Architectures { "amd64"; };
	APT::Install-Recommends "false";
	APT::Install-Suggests "false";
	APT::Sandbox::User "root";
	Acquire::Languages "none";
	Acquire::GzipIndexes "true";
	Acquire::Retries "3";
	EOF
	# the host's way out (proxy) and its clock/validity settings
	apt-config dump 2>/dev/null |
		grep -E '^Acquire::(([A-Za-z]+::)?Proxy|Check-Valid-Until|Check-Date)( |::)' || true
} > "$A/apt.conf"
export APT_CONFIG=$A/apt.conf
unset DEBIAN_FRONTEND
APT=(apt-get -q)

echo "fetch-current: apt-get update (private lists in $A)"
if ! "${APT[@]}" update -qq --error-on=any; then
	echo "fetch-current: apt-get update failed: is $MIRROR / $SECMIRROR reachable?" >&2
	exit 1
fi

# --- the kernel ---
KPKG=linux-image-$CURRENT_KVER-unsigned
if [ -z "$(apt-cache show "$KPKG" 2>/dev/null | sed -n 's/^Version: //p' | head -n 1)" ]; then
	newest=$(apt-cache search --names-only '^linux-image-6\.12\.[0-9]+\+deb12-amd64-unsigned$' |
		awk '{print $1}' | sort -V | tail -n 1)
	if [ -z "$newest" ]; then
		echo "fetch-current: no linux-image-6.12.*+deb12-amd64-unsigned in $SECMIRROR bookworm-security" >&2
		exit 1
	fi
	echo "fetch-current: WARNING: pinned kernel $KPKG is gone from the archive; using $newest" >&2
	echo "fetch-current: WARNING: update CURRENT_KVER in $0 to keep results reproducible" >&2
	KPKG=$newest
fi
KVER=${KPKG#linux-image-}; KVER=${KVER%-unsigned}
# apt's name for a package's file in its archive cache
deb_file() {   # deb_file PKG VERSION ARCH
	echo "${1}_$(sed 's/:/%3a/' <<<"$2")_$3.deb"
}
KVERSION=$(apt-cache show "$KPKG" | sed -n 's/^Version: //p' | sort -V | tail -n 1)
KFILE=$(deb_file "$KPKG" "$KVERSION" amd64)
echo "fetch-current: kernel $KPKG $KVERSION"
if [ ! -s "$DEBS/$KFILE" ]; then
	(cd "$DEBS" && "${APT[@]}" download "$KPKG=$KVERSION")
fi

# --- trixie's userland: the closure against the empty status file ---
# "Inst PKG (VERSION RELEASE [ARCH])" for every package of the closure
# shellcheck disable=SC2086
# (a line may end in " []": apt's note on a dependency loop)
closure=$("${APT[@]}" install -s -y $USERLAND |
	sed -n 's/^Inst \([^ ]*\) (\([^ ]*\) [^[]*\[\([a-z0-9]*\)\]).*$/\1 \2 \3/p')
for p in libc6 $USERLAND; do
	grep -q "^$p " <<<"$closure" ||
		{ echo "fetch-current: $p is not in the closure apt resolved for: $USERLAND" >&2; exit 1; }
done
# shellcheck disable=SC2086
"${APT[@]}" install --download-only -qq -y $USERLAND >/dev/null
{
	echo "$REQUEST"
	echo "kernel $KVER $KFILE"
	echo "$KPKG $KVERSION $KFILE"
	sort <<<"$closure" | while read -r pkg ver arch; do
		echo "$pkg $ver $(deb_file "$pkg" "$ver" "$arch")"
	done
} > "$MANIFEST.tmp"
mv "$MANIFEST.tmp" "$MANIFEST"
manifest_ok || { echo "fetch-current: the manifest does not match the downloads" >&2; exit 1; }
# .debs of earlier sets go: the cache holds one set
for f in "$DEBS"/*.deb; do
	awk -v f="${f##*/}" 'NR > 2 && $3 == f { found = 1 } END { exit !found }' "$MANIFEST" || rm -f "$f"
done
n=$(($(wc -l < "$MANIFEST") - 2))
size=$(sed -n '3,$p' "$MANIFEST" | awk -v d="$DEBS" '{print d "/" $3}' | xargs du -cb | tail -n 1 | cut -f1)
echo "fetch-current: $n packages, $((size / 1048576)) MiB in $DEBS, $(awk -v a="$EPOCHREALTIME" -v b="$T0" 'BEGIN { printf "%.0f", a - b }') s"
echo "fetch-current: nvme-cli $(awk '$1 == "nvme-cli" {print $2}' "$MANIFEST"), kernel $KVER"
