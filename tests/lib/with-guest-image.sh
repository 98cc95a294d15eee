#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# with-guest-image.sh COMMAND [ARGS...]: runs COMMAND with COCOON_GUEST_KERNEL/INITRD set to a guest
# image built from this checkout (tests/lib/guest-image.sh); SKIP (77), said loudly, when none can be had.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$repo/tests/lib/containerd.sh"
. "$repo/tests/lib/guest-image.sh"
guest_image_ensure || skip_loudly "no guest image for $1 (see above)"
exec "$@"
