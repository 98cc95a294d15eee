#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Cocoon's main job on a fresh Debian 12 machine, as root: install the dependencies, build and
# install the shim (meson install → containerd-shim-cocoon-v2 on PATH, /usr/local/etc/cocoon/cocoon.conf),
# build the guest image into the default directory, start a containerd on private sockets, import a
# busybox image built offline, and run a container in its own VM:
#   ctr run --rm --runtime io.containerd.cocoon.v2 IMAGE demo sh -c 'echo hi from the VM; uname -r'
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
scripts/install-deps.sh
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null
meson install -C build --quiet
scripts/build-guest-image.sh --agent build/src/guest/cocoon-agent

. tests/lib/containerd.sh
work=$(mktemp -d /tmp/cocoon-demo.XXXXXX)
trap 'containerd_stop; rm -rf "$work"' EXIT
containerd_start "$work/containerd"
python3 scripts/build-busybox-oci.py "$work/busybox.tar" >/dev/null
$CTR images import "$work/busybox.tar" >/dev/null
echo "host kernel: $(uname -r)"
echo "+ ctr run --rm --runtime io.containerd.cocoon.v2 docker.io/cocoon-test/busybox:latest demo sh -c 'echo hi from the VM; uname -r'"
$CTR run --rm --runtime io.containerd.cocoon.v2 docker.io/cocoon-test/busybox:latest demo \
	sh -c 'echo hi from the VM; uname -r'
