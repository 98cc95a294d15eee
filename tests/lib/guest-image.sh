# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
#
# tests/lib/guest-image.sh — sourced by tests that boot a guest.
#
#   . tests/lib/guest-image.sh
#   guest_image_ensure || exit 77        # 77 = skip when no image can be built (e.g. no agent yet)
#   qemu ... -kernel "$COCOON_GUEST_KERNEL" -initrd "$COCOON_GUEST_INITRD"
#
# guest_image_ensure makes sure a guest image built from this checkout's cocoon-agent exists in
# ${COCOON_TEST_IMAGE_DIR:-/var/cache/cocoon/test-guest} (scripts/build-guest-image.sh: it reuses the kernel
# cache in /var/cache/cocoon, so when nothing changed it returns in seconds; the very first run builds the
# minimal kernel, ~7 min on 2 cores) and exports
#   COCOON_GUEST_KERNEL   path of vmlinux
#   COCOON_GUEST_INITRD   path of initrd.img
#   COCOON_GUEST_IMAGE_DIR the directory (the shim reads it as its default image dir)
#
# knobs (environment):
#   COCOON_TEST_IMAGE_DIR   output directory (default /var/cache/cocoon/test-guest)
#   COCOON_AGENT            the agent binary (default: COCOON_BUILD_DIR/src/guest/cocoon-agent)
#   COCOON_BUILD_DIR        meson build dir (default: $MESON_BUILD_ROOT, else <repo>/build)
#   COCOON_GUEST_KERNEL_FLAVOUR  minimal (default) | debian
#   COCOON_TEST_IMAGE_SKIP_BUILD=1  only use an existing image, never build
# returns 1 with a message on stderr when the image cannot be had.

_guest_image_repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

guest_image_ensure() {
	local dir build agent flavour args=()
	dir=${COCOON_TEST_IMAGE_DIR:-/var/cache/cocoon/test-guest}
	build=${COCOON_BUILD_DIR:-${MESON_BUILD_ROOT:-$_guest_image_repo/build}}
	agent=${COCOON_AGENT:-$build/src/guest/cocoon-agent}
	flavour=${COCOON_GUEST_KERNEL_FLAVOUR:-}

	if [ "${COCOON_TEST_IMAGE_SKIP_BUILD:-0}" != 1 ]; then
		if [ ! -x "$agent" ]; then
			echo "guest_image_ensure: no cocoon-agent at $agent (build it, or set COCOON_AGENT)" >&2
			return 1
		fi
		[ -z "$flavour" ] || args+=(--kernel "$flavour")
		if ! "$_guest_image_repo/scripts/build-guest-image.sh" --agent "$agent" "${args[@]}" "$dir" >/dev/null; then
			echo "guest_image_ensure: building the guest image into $dir failed" >&2
			return 1
		fi
	fi
	if [ ! -f "$dir/vmlinux" ] || [ ! -f "$dir/initrd.img" ]; then
		echo "guest_image_ensure: no guest image in $dir" >&2
		return 1
	fi
	export COCOON_GUEST_IMAGE_DIR=$dir
	export COCOON_GUEST_KERNEL=$dir/vmlinux
	export COCOON_GUEST_INITRD=$dir/initrd.img
}

# guest_image_ensure_smoke: like guest_image_ensure, but /init is a busybox script instead of the agent, for
# tests of the VM plumbing (src/hypervisor) that must not depend on the agent. the guest mounts proc, sysfs,
# devtmpfs, loads /etc/cocoon/modules, mounts the 9p tag "cocoon" on /mnt/shared (if there), writes one line
#   COCOON-READY uptime=<s> port=<dev> 9p=<yes|no> kernel=<release>
# to the virtio-serial port named cocoon.agent (and the console), then powers off — or, with "cocoon.idle" on
# the kernel command line, stays up. into ${COCOON_TEST_SMOKE_IMAGE_DIR:-/var/cache/cocoon/test-guest-smoke};
# exports COCOON_SMOKE_KERNEL and COCOON_SMOKE_INITRD.
guest_image_ensure_smoke() {
	local dir init
	dir=${COCOON_TEST_SMOKE_IMAGE_DIR:-/var/cache/cocoon/test-guest-smoke}
	mkdir -p "$dir" || return 1
	init=$dir/.smoke-init
	cat >"$init.tmp" <<'EOF_INIT'
#!/bin/sh
# cocoon smoke-test /init (tests/lib/guest-image.sh)
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
while read -r m; do [ -n "$m" ] && insmod "$m"; done </etc/cocoon/modules
port=
for f in /sys/class/virtio-ports/*/name; do
	[ "$(cat "$f" 2>/dev/null)" = cocoon.agent ] && port=/dev/$(basename "$(dirname "$f")")
done
mkdir -p /mnt/shared
ok9p=no
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 cocoon /mnt/shared 2>/dev/null && ok9p=yes
msg="COCOON-READY uptime=$(cut -d' ' -f1 /proc/uptime) port=$port 9p=$ok9p kernel=$(uname -r)"
echo "$msg" >/dev/console
[ -z "$port" ] || echo "$msg" >"$port"
grep -q cocoon.idle /proc/cmdline && exec sleep 2147483647
poweroff -f
EOF_INIT
	chmod 0755 "$init.tmp"
	if cmp -s "$init.tmp" "$init"; then rm -f "$init.tmp"; else mv "$init.tmp" "$init"; fi
	local args=()
	[ -z "${COCOON_GUEST_KERNEL_FLAVOUR:-}" ] || args+=(--kernel "$COCOON_GUEST_KERNEL_FLAVOUR")
	if ! "$_guest_image_repo/scripts/build-guest-image.sh" --agent "$init" "${args[@]}" "$dir" >/dev/null; then
		echo "guest_image_ensure_smoke: building the smoke image into $dir failed" >&2
		return 1
	fi
	export COCOON_SMOKE_KERNEL=$dir/vmlinux
	export COCOON_SMOKE_INITRD=$dir/initrd.img
}

# prints the host's TSC frequency in kHz, for the guest's tsc_early_khz= (see docs/guest-image.md)
guest_image_tsc_khz() {
	local mhz
	mhz=$(dmesg 2>/dev/null | sed -n 's/.*tsc: Refined TSC clocksource calibration: \([0-9.]*\) MHz.*/\1/p' | tail -n1)
	[ -n "$mhz" ] || mhz=$(dmesg 2>/dev/null | sed -n 's/.*tsc: Detected \([0-9.]*\) MHz.*/\1/p' | tail -n1)
	[ -n "$mhz" ] || mhz=$(sed -n 's/^cpu MHz[[:space:]]*: *//p' /proc/cpuinfo | head -n1)
	awk -v m="$mhz" 'BEGIN { printf "%d\n", m * 1000 + 0.5 }'
}
