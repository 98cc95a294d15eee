#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The Task API where ctr 1.6 cannot reach: a container started by ctr, then task-api (a ttrpc
# client like containerd's) on the same shim socket: bad input of every kind, Update, Stats,
# CloseIO with a real stdin FIFO.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
build=${COCOON_BUILD_DIR:-${MESON_BUILD_ROOT:-$repo/build}}
. "$repo/tests/lib/containerd.sh"
. "$repo/tests/lib/guest-image.sh"

require_root_or_skip
command -v qemu-system-x86_64 >/dev/null || skip_loudly "qemu-system-x86_64 is not installed"
[ -x "$build/src/shim/containerd-shim-cocoon-v2" ] || skip_loudly "shim not built in $build"
[ -x "$build/tests/e2e/shim/task-api" ] || skip_loudly "task-api not built in $build"
guest_image_ensure || skip_loudly "no guest image (see above)"

work=$(mktemp -d /tmp/cocoon-api.XXXXXX)
ns=cocoon-api
cleanup() {
	set +e
	$CTR -n $ns tasks kill -s SIGKILL api1 >/dev/null 2>&1
	sleep 1
	$CTR -n $ns tasks rm -f api1 >/dev/null 2>&1
	$CTR -n $ns containers rm api1 >/dev/null 2>&1
	containerd_stop
	pkill -9 -f "containerd-shim-cocoon-v2.*-namespace $ns" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
cat >"$work/cocoon.conf" <<CONF
hypervisor = { kernel = "$COCOON_GUEST_KERNEL"; initrd = "$COCOON_GUEST_INITRD"; memory_mib = 256; };
agent = { boot_timeout_ms = 60000; request_timeout_ms = 30000; };
runtime = { state_dir = "$work/state"; log_level = "debug"; };
CONF
export COCOON_CONFIG="$work/cocoon.conf"
export PATH="$build/src/shim:$PATH"
containerd_start "$work/containerd"
python3 "$repo/scripts/build-busybox-oci.py" "$work/busybox.tar" >/dev/null
$CTR -n $ns images import "$work/busybox.tar" >/dev/null
timeout 180 $CTR -n $ns run -d --runtime io.containerd.cocoon.v2 docker.io/cocoon-test/busybox:latest api1 sleep 100000
address=$(cat "$work/containerd/state/io.containerd.runtime.v2.task/$ns/api1/address")
"$build/tests/e2e/shim/task-api" "${address#unix://}" "$ns" api1 "$work"
