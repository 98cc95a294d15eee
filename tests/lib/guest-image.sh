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

# prints the host's TSC frequency in kHz, for the guest's tsc_early_khz= (see docs/guest-image.md)
guest_image_tsc_khz() {
	local mhz
	mhz=$(dmesg 2>/dev/null | sed -n 's/.*tsc: Refined TSC clocksource calibration: \([0-9.]*\) MHz.*/\1/p' | tail -n1)
	[ -n "$mhz" ] || mhz=$(dmesg 2>/dev/null | sed -n 's/.*tsc: Detected \([0-9.]*\) MHz.*/\1/p' | tail -n1)
	[ -n "$mhz" ] || mhz=$(sed -n 's/^cpu MHz[[:space:]]*: *//p' /proc/cpuinfo | head -n1)
	awk -v m="$mhz" 'BEGIN { printf "%d\n", m * 1000 + 0.5 }'
}
