#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The Task API where ctr 1.6 cannot reach: a container started by ctr, then task-api (a ttrpc
# client like containerd's) on the same shim socket: bad input of every kind, Update, Stats,
# CloseIO with a real stdin FIFO.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/../../lib/cocoon-e2e.sh"
[ -x "$BUILD/tests/e2e/shim/task-api" ] || skip_loudly "task-api not built in $BUILD"
trap cocoon_e2e_teardown EXIT
cocoon_e2e_setup cocoon-api
timeout 180 $C run -d $RT "$IMAGE" api1 sleep 100000
address=$(cat "$WORK/containerd/state/io.containerd.runtime.v2.task/$NS/api1/address")
# a bundle for a second container of api1's pod (kill before start): api1's spec and image
bundle1="$WORK/containerd/state/io.containerd.runtime.v2.task/$NS/api1"
mkdir -p "$WORK/kbs/rootfs"
mount --bind "$bundle1/rootfs" "$WORK/kbs/rootfs"
python3 - "$bundle1/config.json" "$WORK/kbs/config.json" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
spec.setdefault("annotations", {}).update({
    "io.kubernetes.cri.sandbox-id": "api1",
    "io.kubernetes.cri.container-type": "container"})
spec["linux"].pop("cgroupsPath", None)
json.dump(spec, open(sys.argv[2], "w"))
PY
rc=0
"$BUILD/tests/e2e/shim/task-api" "${address#unix://}" "$NS" api1 "$WORK" || rc=$?
umount "$WORK/kbs/rootfs" || true
exit "$rc"
