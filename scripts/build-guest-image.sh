#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# build-guest-image.sh — builds cocoon's guest kernel and initramfs from debian packages only.
#
# usage: build-guest-image.sh [options] [OUTDIR]
#
#   OUTDIR            where to install the image; default $COCOON_GUEST_IMAGE_DIR, else
#                     /usr/local/share/cocoon/guest
#   --agent PATH      the cocoon-agent binary, statically linked (a dynamic one, e.g. a sanitizer build,
#                     gets its libraries copied too; a "#!/bin/sh" script is accepted, for boot tests).
#                     default: build/src/guest/cocoon-agent in this checkout
#   --kernel FLAVOUR  minimal (default): tinyconfig + data/guest-kernel.config built from linux-source-6.1,
#                       everything built in, no modules; falls back to debian with a message when the
#                       build is impossible (unless --kernel minimal was given explicitly)
#                     debian: the newest linux-image-6.1.*-amd64, vmlinux extracted from its bzImage, the
#                       virtio/9p/overlay modules (decompressed) put in the initramfs
#   --cache DIR       downloads, kernel sources and built kernels; default /var/cache/cocoon
#   --with-busybox    put busybox and its applet links in the initramfs (a shell for debugging; always done
#                     for a script agent). Without it the initramfs is 2 MB smaller, which the kernel
#                     unpacks faster at every boot
#   --force           rebuild the initramfs and reinstall even when nothing changed
#   -v, --verbose     show what is done, and the output of the tools
#   -h, --help
#
# outputs:
#   OUTDIR/vmlinux     uncompressed kernel (ELF with a PVH entry: qemu -kernel boots it on microvm and q35)
#   OUTDIR/initrd.img  uncompressed newc cpio: /init (= /sbin/cocoon-agent, stripped), [/bin/busybox + applet
#                      links,] /usr/bin/crun + its libraries, /etc/{passwd,group}, /etc/cocoon/{modules,image-info},
#                      /lib/modules/<release>/ (debian flavour only)
#   OUTDIR/image-info  copy of /etc/cocoon/image-info (key=value lines)
# and one summary line on stdout. see docs/guest-image.md.
#
# caching: the kernel is cached under CACHE/kernel/<flavour>-<key> (minimal: key = hash of the config fragment,
# the linux-source version, the compiler and this script's kernel recipe; debian: the package version);
# the initramfs is rebuilt only when the hash of its inputs changes. a re-run with nothing changed takes
# seconds. concurrent runs are serialised with a lock in CACHE. needs root (apt-get, /var/cache, mknod).
set -euo pipefail

PROG=build-guest-image
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FRAGMENT=$REPO/data/guest-kernel.config
# bump when the kernel build recipe below changes in a way that changes the result
KERNEL_RECIPE=2
# bump when the initramfs layout below changes
INITRAMFS_RECIPE=2
# debian modules needed before the agent can mount anything, in load order (their deps are added first)
DEBIAN_MODULES=(virtio_pci_legacy_dev virtio_pci_modern_dev virtio_ring virtio virtio_pci virtio_mmio
	virtio_console 9pnet 9pnet_virtio netfs fscache 9p overlay virtio_blk virtio_net)

OUTDIR=
AGENT=
WITH_BUSYBOX=0
FLAVOUR=minimal
FLAVOUR_EXPLICIT=0
CACHE=/var/cache/cocoon
VERBOSE=0
FORCE=0

msg() { echo "$PROG: $*" >&2; }
log() { if [ "$VERBOSE" = 1 ]; then echo "$PROG: $*" >&2; fi; }
die() {
	echo "$PROG: error: $*" >&2
	exit 1
}
usage() { sed -n '4,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }

while [ $# -gt 0 ]; do
	case "$1" in
	--agent) [ $# -ge 2 ] || die "--agent needs a path"; AGENT=$2; shift 2 ;;
	--agent=*) AGENT=${1#*=}; shift ;;
	--kernel) [ $# -ge 2 ] || die "--kernel needs minimal|debian"; FLAVOUR=$2; FLAVOUR_EXPLICIT=1; shift 2 ;;
	--kernel=*) FLAVOUR=${1#*=}; FLAVOUR_EXPLICIT=1; shift ;;
	--cache) [ $# -ge 2 ] || die "--cache needs a directory"; CACHE=$2; shift 2 ;;
	--cache=*) CACHE=${1#*=}; shift ;;
	--force) FORCE=1; shift ;;
	--with-busybox) WITH_BUSYBOX=1; shift ;;
	-v | --verbose) VERBOSE=1; shift ;;
	-h | --help) usage; exit 0 ;;
	-*) die "unknown option $1 (see --help)" ;;
	*)
		[ -z "$OUTDIR" ] || die "only one OUTDIR may be given"
		OUTDIR=$1; shift ;;
	esac
done
case "$FLAVOUR" in minimal | debian) ;; *) die "--kernel must be minimal or debian, not '$FLAVOUR'" ;; esac
OUTDIR=${OUTDIR:-${COCOON_GUEST_IMAGE_DIR:-/usr/local/share/cocoon/guest}}
[ "$(id -u)" -eq 0 ] || die "must run as root (apt-get, $CACHE, device nodes in the initramfs)"
[ -f "$FRAGMENT" ] || die "kernel config fragment $FRAGMENT is missing"

if [ -z "$AGENT" ]; then
	AGENT=$REPO/build/src/guest/cocoon-agent
	[ -f "$AGENT" ] || die "no cocoon-agent at $AGENT: build it first (meson compile -C build) or pass --agent PATH"
fi
[ -f "$AGENT" ] || die "--agent $AGENT: no such file"
AGENT=$(realpath "$AGENT")

AGENT_DYNAMIC=0
check_agent() {
	case "$(head -c 4 "$AGENT" | od -An -tx1 | tr -d ' \n')" in
	7f454c46)
		if LC_ALL=C readelf -lW "$AGENT" 2>/dev/null | grep -q 'Requesting program interpreter'; then
			# sanitizer builds cannot link statically: carry the agent's libraries too
			ldd "$AGENT" >/dev/null 2>&1 || die "$AGENT is dynamically linked and ldd cannot resolve its libraries"
			AGENT_DYNAMIC=1
			msg "note: $AGENT is dynamically linked, its libraries go into the initramfs too"
		fi
		;;
	2321*)
		log "agent $AGENT is a script (test init): busybox goes in for its shell"
		WITH_BUSYBOX=1
		;;
	*) die "$AGENT is neither an ELF executable nor a script" ;;
	esac
	[ -x "$AGENT" ] || die "$AGENT is not executable"
}
check_agent

mkdir -p "$CACHE" "$OUTDIR"
CACHE=$(realpath "$CACHE")
OUTDIR=$(realpath "$OUTDIR")
exec 9>"$CACHE/.build-guest-image.lock"
if ! flock -n 9; then
	msg "waiting for another build-guest-image run (lock $CACHE/.build-guest-image.lock)"
	flock -w 3600 9 || die "timed out waiting for the lock on $CACHE"
fi

LOGFILE=$(mktemp /tmp/build-guest-image.XXXXXX.log)
TMPDIRS=()
cleanup() {
	local d
	for d in "${TMPDIRS[@]}"; do rm -rf "$d"; done
	rm -f "$OUTDIR"/.image-info.* "$OUTDIR/.initrd.img.tmp" "$OUTDIR/.vmlinux.tmp"
	rm -f "$LOGFILE"
}
trap cleanup EXIT

# run a command, its output to the log (or the terminal with -v); on failure show the log's tail and fail
run() {
	if [ "$VERBOSE" = 1 ]; then
		"$@" || die "failed ($?): $*"
	else
		if ! "$@" >>"$LOGFILE" 2>&1; then
			tail -n 30 "$LOGFILE" >&2
			die "failed: $*"
		fi
	fi
}
# like run but returns the status instead of dying
try() {
	if [ "$VERBOSE" = 1 ]; then "$@"; else "$@" >>"$LOGFILE" 2>&1; fi
}
# mktmp VAR TEMPLATE: a temporary directory, removed at exit
mktmp() {
	local d
	mkdir -p "$(dirname "$2")"
	d=$(mktemp -d "$2") || die "cannot create a directory like $2"
	TMPDIRS+=("$d")
	printf -v "$1" '%s' "$d"
}
pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
apt_install() {
	local missing=() p
	for p in "$@"; do pkg_installed "$p" || missing+=("$p"); done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "apt-get install ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	if ! try apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
		try apt-get update -qq || true
		try apt-get install -y -qq --no-install-recommends "${missing[@]}"
	fi
}
sha() { sha256sum "$@" | cut -d' ' -f1; }
human() { numfmt --to=iec --suffix=B --format=%.1f "$(stat -c %s "$1")"; }

# ---------------------------------------------------------------------------------------------------------
# minimal kernel: tinyconfig + fragment, built from linux-source-6.1
# sets KERNEL_DIR (CACHE/kernel/minimal-KEY with vmlinux, config, release)

# prints the fragment's options that did not stick in CONFIG_FILE
config_mismatches() {
	local config=$1 line key want have
	while IFS= read -r line; do
		case "$line" in CONFIG_*=*) ;; *) continue ;; esac
		key=${line%%=*}
		want=${line#*=}
		have=$(grep -m1 "^$key=" "$config" | cut -d= -f2- || true)
		if [ "$want" = n ]; then
			[ -z "$have" ] || echo "$key=$have (wanted n)"
		elif [ "$have" != "$want" ]; then
			echo "$key=${have:-n} (wanted $want)"
		fi
	done <"$FRAGMENT"
}

# sets KERNEL_DIR for the minimal kernel; fails when linux-source-6.1 and the build tools cannot be installed
minimal_kernel_dir() {
	local srcver key
	apt_install linux-source-6.1 gcc make flex bison bc libelf-dev libssl-dev xz-utils ||
		{ msg "cannot install linux-source-6.1 and the kernel build dependencies"; return 1; }
	srcver=$(dpkg-query -W -f='${Version}' linux-source-6.1)
	key=$( (cat "$FRAGMENT"; echo "src=$srcver recipe=$KERNEL_RECIPE"; gcc --version | head -n1) | sha | cut -c1-16)
	KERNEL_DIR=$CACHE/kernel/minimal-$key
}

# builds the minimal kernel into KERNEL_DIR unless it is cached; run in a subshell with set -e
build_minimal_kernel() {
	local srcver tarball srcroot src key builddir scratch out release bad
	minimal_kernel_dir
	if [ -f "$KERNEL_DIR/vmlinux" ] && [ -f "$KERNEL_DIR/release" ]; then
		log "minimal kernel cached: $KERNEL_DIR"
		return 0
	fi
	key=${KERNEL_DIR##*/minimal-}
	srcver=$(dpkg-query -W -f='${Version}' linux-source-6.1)
	tarball=/usr/src/linux-source-6.1.tar.xz
	[ -f "$tarball" ] || { msg "$tarball is missing"; return 1; }

	# the source tree, extracted once per linux-source version
	srcroot=$CACHE/kernel-src
	src=$srcroot/linux-source-6.1
	if [ "$(cat "$src/.cocoon-src-version" 2>/dev/null || true)" != "$srcver" ]; then
		msg "extracting linux-source $srcver into $srcroot"
		mkdir -p "$srcroot"
		rm -rf "$src" "$srcroot/.extract"
		mkdir -p "$srcroot/.extract"
		run tar -xf "$tarball" -C "$srcroot/.extract"
		mv "$srcroot/.extract/linux-source-6.1" "$src"
		rmdir "$srcroot/.extract"
		echo "$srcver" >"$src/.cocoon-src-version"
		# a new source invalidates the incremental build tree
		rm -rf "$CACHE/kernel-build/minimal"
	fi

	# configure in a scratch tree; the build tree gets the .config only when it differs (keeps make incremental)
	builddir=$CACHE/kernel-build/minimal
	scratch=$CACHE/kernel-build/minimal-config
	rm -rf "$scratch"
	mkdir -p "$builddir" "$scratch"
	run make -C "$src" O="$scratch" tinyconfig
	cat "$FRAGMENT" >>"$scratch/.config"
	run make -C "$src" O="$scratch" olddefconfig
	# re-apply the fragment until the result is stable: options whose dependencies appeared in a pass
	for _ in 1 2 3; do
		cp "$scratch/.config" "$scratch/.config.prev"
		cat "$FRAGMENT" >>"$scratch/.config"
		run make -C "$src" O="$scratch" olddefconfig
		cmp -s "$scratch/.config" "$scratch/.config.prev" && break
	done
	bad=$(config_mismatches "$scratch/.config")
	if [ -n "$bad" ]; then
		msg "warning: kernel options from $(basename "$FRAGMENT") that did not stick:"
		echo "$bad" | sed 's/^/    /' >&2
	fi
	if ! cmp -s "$scratch/.config" "$builddir/.config"; then
		cp "$scratch/.config" "$builddir/.config"
	fi
	rm -rf "$scratch"

	if [ -f "$builddir/vmlinux" ]; then
		msg "building the minimal guest kernel (linux-source $srcver, incremental)"
	else
		msg "building the minimal guest kernel (linux-source $srcver, -j$(nproc), takes ~7 min on 2 cores)"
	fi
	local t0=$SECONDS
	if ! try nice -n 10 make -C "$src" O="$builddir" -j"$(nproc)" vmlinux; then
		tail -n 30 "$LOGFILE" >&2
		msg "the minimal kernel build failed"
		return 1
	fi
	release=$(make -s -C "$src" O="$builddir" kernelrelease)
	log "kernel $release built in $((SECONDS - t0)) s"
	mktmp out "$CACHE/kernel/.minimal-XXXXXX"
	# no symbol table: 1.4 MB smaller, and qemu reads the whole file (System.map is kept for debugging)
	objcopy --strip-all "$builddir/vmlinux" "$out/vmlinux" 2>>"$LOGFILE" || cp "$builddir/vmlinux" "$out/vmlinux"
	cp "$builddir/System.map" "$out/System.map"
	cp "$builddir/.config" "$out/config"
	echo "$release" >"$out/release"
	echo "linux-source-6.1 $srcver" >"$out/source"
	rm -rf "$KERNEL_DIR"
	mv "$out" "$KERNEL_DIR"
	# keep only this key's kernel (older ones are obsolete)
	find "$CACHE/kernel" -maxdepth 1 -name 'minimal-*' ! -name "minimal-$key" -exec rm -rf {} +
}

# ---------------------------------------------------------------------------------------------------------
# debian kernel: linux-image-6.1.*-amd64, vmlinux extracted, modules for the initramfs
# sets KERNEL_DIR (CACHE/kernel/debian-PKGVER with vmlinux, release, modules.list, modules/)

# writes the uncompressed kernel inside bzImage $1 to $2 (extract-vmlinux style: find a compressor's magic,
# decompress from there, keep the first result that is an ELF file)
extract_vmlinux() {
	local image=$1 out=$2 off magic tool
	for magic in xz gzip zstd; do
		case $magic in
		xz) pattern='\xfd\x37\x7a\x58\x5a\x00'; tool="xz -dcq --single-stream" ;;
		gzip) pattern='\x1f\x8b\x08'; tool="gzip -dcq" ;;
		zstd) pattern='\x28\xb5\x2f\xfd'; tool="zstd -dcq" ;;
		esac
		command -v "${tool%% *}" >/dev/null || continue
		for off in $(LC_ALL=C grep -obUaP "$pattern" "$image" 2>/dev/null | cut -d: -f1 | head -n 8); do
			tail -c +$((off + 1)) "$image" | $tool >"$out" 2>/dev/null || true
			if [ "$(head -c 4 "$out" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ]; then
				log "vmlinux: $magic stream at offset $off"
				return 0
			fi
		done
	done
	rm -f "$out"
	return 1
}

build_debian_kernel() {
	local pkg pkgver deb release tmp m line
	apt_install kmod xz-utils || die "cannot install kmod and xz-utils"
	pkg=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' 2>/dev/null | cut -d' ' -f1 | sort -V |
		tail -n1 || true)
	if [ -n "$pkg" ]; then
		pkgver=$(apt-cache policy "$pkg" | sed -n 's/^ *Candidate: //p')
	fi
	if [ -z "$pkg" ] || [ -z "${pkgver:-}" ] || [ "$pkgver" = "(none)" ]; then
		# no apt lists: take the newest kernel already in the cache
		KERNEL_DIR=$(ls -d "$CACHE"/kernel/debian-* 2>/dev/null | sort -V | tail -n1 || true)
		[ -n "$KERNEL_DIR" ] || die "apt-cache knows no linux-image-6.1.*-amd64 and none is cached (apt-get update?)"
		msg "no linux-image-6.1 package found by apt-cache, using the cached $(basename "$KERNEL_DIR")"
		return 0
	fi
	KERNEL_DIR=$CACHE/kernel/debian-$pkg-$pkgver
	if [ -f "$KERNEL_DIR/vmlinux" ] && [ -f "$KERNEL_DIR/modules.list" ]; then
		log "debian kernel cached: $KERNEL_DIR"
		return 0
	fi

	mkdir -p "$CACHE/debs"
	deb=$(ls "$CACHE/debs/${pkg}_${pkgver//:/%3a}_"*.deb 2>/dev/null | head -n1 || true)
	if [ -z "$deb" ]; then
		msg "downloading $pkg $pkgver"
		(cd "$CACHE/debs" && run apt-get download -qq "$pkg=$pkgver")
		deb=$(ls "$CACHE/debs/${pkg}_${pkgver//:/%3a}_"*.deb 2>/dev/null | head -n1 || true)
		[ -n "$deb" ] || die "apt-get download $pkg=$pkgver left no .deb in $CACHE/debs"
	fi
	mktmp tmp "$CACHE/kernel/.debian-XXXXXX"
	run dpkg -x "$deb" "$tmp/pkg"
	release=$(ls "$tmp/pkg/lib/modules" | head -n1)
	[ -n "$release" ] && [ -f "$tmp/pkg/boot/vmlinuz-$release" ] || die "$deb has no boot/vmlinuz or lib/modules"
	extract_vmlinux "$tmp/pkg/boot/vmlinuz-$release" "$tmp/vmlinux" ||
		die "found no compressed kernel inside $deb's vmlinuz-$release"

	# resolve the module list with its dependencies, in load order
	run depmod -b "$tmp/pkg" "$release"
	local order=() seen=" " deps
	for m in "${DEBIAN_MODULES[@]}"; do
		deps=$(modprobe -d "$tmp/pkg" -S "$release" --show-depends "$m" 2>>"$LOGFILE") ||
			die "module $m not found in $pkg"
		while IFS= read -r line; do
			case "$line" in
			insmod\ *)
				line=${line#insmod }
				line=${line%% *}
				case "$seen" in *" $line "*) continue ;; esac
				seen+="$line "
				order+=("$line")
				;;
			builtin\ *) ;;
			esac
		done <<<"$deps"
	done
	mkdir -p "$tmp/modules"
	: >"$tmp/modules.list"
	local rel dest
	for m in "${order[@]}"; do
		rel=${m#"$tmp/pkg"}        # /lib/modules/<release>/kernel/....ko[.xz]
		dest=$tmp/modules${rel%.xz}
		mkdir -p "$(dirname "$dest")"
		case "$m" in
		*.ko.xz) xz -dc "$m" >"$dest" ;;
		*.ko.zst) zstd -dcq "$m" >"$dest" ;;
		*.ko) cp "$m" "$dest" ;;
		*) die "unexpected module file $m" ;;
		esac
		echo "${rel%.xz}" >>"$tmp/modules.list"
	done
	log "debian modules: $(wc -l <"$tmp/modules.list") ($(xargs -n1 basename <"$tmp/modules.list" | tr '\n' ' '))"
	echo "$release" >"$tmp/release"
	echo "$pkg $pkgver" >"$tmp/source"
	rm -rf "$tmp/pkg"
	rm -rf "$KERNEL_DIR"
	mv "$tmp" "$KERNEL_DIR"
}

# ---------------------------------------------------------------------------------------------------------
# the initramfs

# the guest path a host library is installed at: debian 12 is merged-/usr, so /lib/... goes to /usr/lib/...
guest_lib_path() {
	case "$1" in
	/lib/* | /lib64/*) echo "/usr$1" ;;
	*) echo "$1" ;;
	esac
}

# the host files the initramfs is made of (besides the agent and the kernel's modules)
initramfs_host_files() {
	if [ "$WITH_BUSYBOX" = 1 ]; then echo /bin/busybox; fi
	echo /usr/bin/crun
	ldd_files /usr/bin/crun
	if [ "$AGENT_DYNAMIC" = 1 ]; then ldd_files "$AGENT"; fi
}
# the shared libraries and the loader an executable needs
ldd_files() { ldd "$1" | awk '/=> \// { print $3 } /^\t\/[^ ]+ \(/ { print $1 }'; }

agent_version() {
	local v=
	case "$(head -c 4 "$AGENT" | od -An -tx1 | tr -d ' \n')" in
	7f454c46)
		# only ask binaries that know the option: an agent without it could act as PID 1 on the host
		if LC_ALL=C grep -qa -- '--version' "$AGENT"; then
			v=$(timeout 5 "$AGENT" --version </dev/null 2>/dev/null | head -n1 | tr -cd '[:print:]' || true)
		fi
		;;
	esac
	# "cocoon-agent 0.1.0" -> 0.1.0
	case "${v##* }" in [0-9]*) v=${v##* } ;; esac
	echo "${v:-sha256:$(sha "$AGENT" | cut -c1-16)}"
}

build_initramfs() {
	local out=$1 stage f dest rel
	mktmp stage "$CACHE/.initramfs-XXXXXX"
	mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,usr/lib,usr/lib64,proc,sys,dev,run,tmp,mnt,root,etc/cocoon,var}
	chmod 1777 "$stage/tmp"
	chmod 0700 "$stage/root"
	ln -s usr/lib "$stage/lib"
	ln -s usr/lib64 "$stage/lib64"
	mknod -m 600 "$stage/dev/console" c 5 1
	mknod -m 666 "$stage/dev/null" c 1 3

	# the agent: /init and /sbin/cocoon-agent (one file, hard-linked)
	# stripped: every byte of the initramfs is copied by the kernel at boot (~0.3 MB less)
	if [ "$(head -c 4 "$AGENT" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ]; then
		objcopy --strip-all "$AGENT" "$stage/sbin/cocoon-agent"
		chmod 0755 "$stage/sbin/cocoon-agent"
	else
		install -m 0755 "$AGENT" "$stage/sbin/cocoon-agent"
	fi
	ln "$stage/sbin/cocoon-agent" "$stage/init"

	# busybox with its applet links made now (busybox --install at boot costs 0.1-0.2 s under tcg)
	if [ "$WITH_BUSYBOX" = 1 ]; then
		install -m 0755 /bin/busybox "$stage/bin/busybox"
		while IFS= read -r rel; do
			[ -n "$rel" ] && [ "$rel" != bin/busybox ] && [ "$rel" != linuxrc ] || continue
			[ -e "$stage/$rel" ] || [ -L "$stage/$rel" ] && continue
			mkdir -p "$stage/$(dirname "$rel")"
			ln -s /bin/busybox "$stage/$rel"
		done < <(/bin/busybox --list-full)
	fi

	# crun, its libraries and the dynamic loader (and the agent's libraries if it is dynamic)
	while IFS= read -r f; do
		[ "$f" = /bin/busybox ] || [ "$f" = /usr/bin/crun ] && continue
		dest=$stage$(guest_lib_path "$f")
		mkdir -p "$(dirname "$dest")"
		[ -e "$dest" ] || cp -L "$f" "$dest"
	done < <(initramfs_host_files | sort -u)
	install -m 0755 /usr/bin/crun "$stage/usr/bin/crun"

	printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' \
		>"$stage/etc/passwd"
	printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' >"$stage/etc/group"
	: >"$stage/etc/cocoon/modules"
	if [ -d "$KERNEL_DIR/modules" ]; then
		# /lib is a link to usr/lib in the guest as on the host
		cp -a "$KERNEL_DIR/modules/lib/." "$stage/usr/lib/"
		cp "$KERNEL_DIR/modules.list" "$stage/etc/cocoon/modules"
	fi
	cp "$IMAGE_INFO" "$stage/etc/cocoon/image-info"

	(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --reproducible --quiet) >"$out"
}

# ---------------------------------------------------------------------------------------------------------

apt_install busybox-static crun cpio kmod xz-utils || die "cannot install busybox-static, crun, cpio"

KERNEL_DIR=
if [ "$FLAVOUR" = minimal ]; then
	# a subshell so that set -e holds inside (it is off in functions called from an if)
	set +e
	(
		set -e
		build_minimal_kernel
	)
	rc=$?
	set -e
	if [ "$rc" = 0 ]; then
		minimal_kernel_dir
	else
		[ "$FLAVOUR_EXPLICIT" = 0 ] || die "the minimal kernel cannot be built (see above); --kernel debian works without a build"
		msg "falling back to the debian kernel (boots ~3x slower under TCG)"
		FLAVOUR=debian
	fi
fi
if [ "$FLAVOUR" = debian ]; then
	build_debian_kernel
fi
RELEASE=$(cat "$KERNEL_DIR/release")

# everything the initramfs is made of goes into its key
INITRAMFS_KEY=$(
	{
		echo "recipe=$INITRAMFS_RECIPE kernel=$(basename "$KERNEL_DIR") release=$RELEASE"
		sha "$AGENT"
		initramfs_host_files | sort -u | xargs sha256sum
		[ ! -f "$KERNEL_DIR/modules.list" ] || sha "$KERNEL_DIR/modules.list"
		sed -n '/^build_initramfs()/,/^}/p' "${BASH_SOURCE[0]}" | sha
	} | sha | cut -c1-16
)
STAMP=$OUTDIR/.image-key
IMAGE_KEY="kernel=$(basename "$KERNEL_DIR") initramfs=$INITRAMFS_KEY"

if [ "$FORCE" = 0 ] && [ "$(cat "$STAMP" 2>/dev/null || true)" = "$IMAGE_KEY" ] && [ -f "$OUTDIR/initrd.img" ] &&
	[ -f "$OUTDIR/image-info" ] && cmp -s "$KERNEL_DIR/vmlinux" "$OUTDIR/vmlinux"; then
	log "image in $OUTDIR is up to date"
else
	IMAGE_INFO=$(mktemp "$OUTDIR/.image-info.XXXXXX")
	{
		echo "agent_version=$(agent_version)"
		echo "agent_sha256=$(sha "$AGENT")"
		echo "kernel_version=$RELEASE"
		echo "kernel_flavour=$FLAVOUR"
		echo "kernel_source=$(tr ' ' '=' <"$KERNEL_DIR/source")"
		echo "crun_version=$(/usr/bin/crun --version | sed -n 's/^crun version //p')"
		if [ "$WITH_BUSYBOX" = 1 ]; then
			echo "busybox_version=$(/bin/busybox | head -n1 | awk '{print $2}')"
		fi
		echo "initramfs_key=$INITRAMFS_KEY"
		echo "build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	} >"$IMAGE_INFO"
	log "building the initramfs"
	build_initramfs "$OUTDIR/.initrd.img.tmp"
	cp "$KERNEL_DIR/vmlinux" "$OUTDIR/.vmlinux.tmp"
	rm -f "$STAMP"
	mv "$OUTDIR/.vmlinux.tmp" "$OUTDIR/vmlinux"
	mv "$OUTDIR/.initrd.img.tmp" "$OUTDIR/initrd.img"
	chmod 0644 "$IMAGE_INFO"
	mv "$IMAGE_INFO" "$OUTDIR/image-info"
	echo "$IMAGE_KEY" >"$STAMP"
fi

echo "guest image in $OUTDIR: kernel $RELEASE ($FLAVOUR), vmlinux $(human "$OUTDIR/vmlinux"), initrd.img" \
	"$(human "$OUTDIR/initrd.img"), agent $(sed -n 's/^agent_version=//p' "$OUTDIR/image-info")"
