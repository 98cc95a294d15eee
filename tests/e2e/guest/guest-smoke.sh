#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# guest-smoke.sh GUEST-SMOKE [ARGS...]: makes sure a guest image exists (tests/lib/guest-image.sh:
# built from this build's cocoon-agent, in seconds once the kernel is cached), then runs the
# guest-smoke tool on it. Says SKIP (exit 77) without root, QEMU, busybox-static or an image.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
. "$repo/tests/lib/containerd.sh"
. "$repo/tests/lib/guest-image.sh"

[ $# -ge 1 ] || { echo "usage: $0 GUEST-SMOKE [ARGS...]" >&2; exit 2; }
tool=$1
shift

require_root_or_skip
command -v "${COCOON_QEMU:-qemu-system-x86_64}" >/dev/null ||
	skip_loudly "${COCOON_QEMU:-qemu-system-x86_64} is not installed"
[ -x /bin/busybox ] || skip_loudly "no /bin/busybox (apt-get install busybox-static)"
[ -x "$tool" ] || skip_loudly "$tool is not built"
guest_image_ensure || skip_loudly "no guest image (see above)"

echo "guest image: $COCOON_GUEST_IMAGE_DIR ($(sed -n 's/^kernel_version=//p' "$COCOON_GUEST_IMAGE_DIR/image-info" 2>/dev/null))"
exec "$tool" --kernel "$COCOON_GUEST_KERNEL" --initrd "$COCOON_GUEST_INITRD" "$@"
