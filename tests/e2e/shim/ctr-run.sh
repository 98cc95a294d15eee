#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The vertical slice through real parts: containerd (Debian) on private sockets, driven by ctr,
# runs containers with runtime io.containerd.cocoon.v2 → containerd-shim-cocoon-v2 → QEMU (TCG
# here) → cocoon-agent → crun. Needs root, containerd, QEMU and a guest image; says SKIP otherwise.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
build=${COCOON_BUILD_DIR:-${MESON_BUILD_ROOT:-$repo/build}}
. "$repo/tests/lib/containerd.sh"
. "$repo/tests/lib/guest-image.sh"

require_root_or_skip
command -v containerd >/dev/null || skip_loudly "containerd is not installed"
command -v qemu-system-x86_64 >/dev/null || skip_loudly "qemu-system-x86_64 is not installed"
[ -x "$build/src/shim/containerd-shim-cocoon-v2" ] || skip_loudly "shim not built in $build"
guest_image_ensure || skip_loudly "no guest image (see above)"

work=$(mktemp -d /tmp/cocoon-e2e.XXXXXX)
failures=0
cleanup() {
	set +e
	$CTR -n cocoon-e2e tasks kill -s SIGKILL c2 >/dev/null 2>&1
	containerd_stop
	pkill -f "containerd-shim-cocoon-v2.*-namespace cocoon-e2e" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/cocoon.conf" <<CONF
hypervisor = {
  kernel = "$COCOON_GUEST_KERNEL";
  initrd = "$COCOON_GUEST_INITRD";
  memory_mib = 256;
};
agent = { boot_timeout_ms = 60000; request_timeout_ms = 30000; };
runtime = { state_dir = "$work/state"; log_level = "debug"; };
CONF
export COCOON_CONFIG="$work/cocoon.conf"
export PATH="$build/src/shim:$PATH"
containerd_start "$work/containerd"
ns="-n cocoon-e2e"
image=docker.io/cocoon-test/busybox:latest
python3 "$repo/scripts/build-busybox-oci.py" "$work/busybox.tar" >/dev/null
$CTR $ns images import "$work/busybox.tar" >/dev/null

pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
count_qemu() { pgrep -fc "qemu-system-x86_64.*$work/state" || true; }
count_shims() { pgrep -fc "containerd-shim-cocoon-v2.*-namespace cocoon-e2e" || true; }

# 1. ctr run --rm: output from inside the VM, the guest kernel, exit codes
host_release=$(uname -r)
out=$(timeout 180 $CTR $ns run --rm --runtime io.containerd.cocoon.v2 "$image" c1 sh -c 'echo hi; uname -r' 2>&1) || true
echo "$out" | sed 's/^/  c1| /'
guest_release=$(echo "$out" | sed -n 2p)
if [ "$(echo "$out" | head -n1)" = hi ] && [ -n "$guest_release" ] && [ "$guest_release" != "$host_release" ]; then
	pass "ctr run printed hi and the guest kernel $guest_release (host $host_release)"
else
	fail "ctr run output"
fi
rc=0
timeout 180 $CTR $ns run --rm --runtime io.containerd.cocoon.v2 "$image" c7 sh -c 'exit 7' || rc=$?
[ "$rc" = 7 ] && pass "exit 7 propagates" || fail "exit 7 gave $rc"

# 2. detached, exec, ps, kill, rm: nothing left behind
timeout 180 $CTR $ns run -d --runtime io.containerd.cocoon.v2 "$image" c2 sleep 1000
out=$(timeout 60 $CTR $ns task exec --exec-id e1 c2 sh -c 'echo from-exec' 2>&1) || true
[ "$out" = from-exec ] && pass "exec printed from-exec" || fail "exec output: $out"
ps_out=$(timeout 30 $CTR $ns task ps c2 2>&1) || true
echo "$ps_out" | sed 's/^/  ps| /'
if echo "$ps_out" | awk 'NR>1 && $1 ~ /^[0-9]+$/ && $1 > 0 {n++} END {exit !(n >= 1)}'; then
	pass "task ps lists pids"
else
	fail "task ps"
fi
shim_pid=$(pgrep -f "containerd-shim-cocoon-v2.*-namespace cocoon-e2e" | head -n1 || true)
timeout 30 $CTR $ns task kill -s SIGKILL c2
status=""
for _ in $(seq 1 100); do
	status=$($CTR $ns task ls | awk '$1 == "c2" {print $3}')
	[ "$status" = STOPPED ] && break
	sleep 0.2
done
[ "$status" = STOPPED ] && pass "SIGKILL stopped c2" || fail "c2 status after SIGKILL: $status"
exit_status=$(timeout 30 $CTR $ns task rm c2 2>&1 | tail -n1) || true
echo "  rm| $exit_status"
timeout 30 $CTR $ns containers rm c2 || fail "containers rm c2"
for _ in $(seq 1 50); do
	[ "$(count_qemu)" = 0 ] && [ "$(count_shims)" = 0 ] && break
	sleep 0.2
done
[ "$(count_qemu)" = 0 ] && pass "no QEMU left" || fail "$(count_qemu) QEMU processes left"
[ "$(count_shims)" = 0 ] && pass "no shim left" || fail "$(count_shims) shims left (pid $shim_pid)"
if grep -q "$work/containerd" /proc/mounts || grep -q "$work/state" /proc/mounts; then
	fail "mounts left: $(grep -e "$work" /proc/mounts)"
else
	pass "no mounts left"
fi

# 3. a terminal: ctr run -t under script(1)
out=$(timeout 180 script -qec "$CTR $ns run --rm -t --runtime io.containerd.cocoon.v2 $image c3 sh -c 'tty; echo tty-ok'" /dev/null 2>&1 | tr -d '\r') || true
echo "$out" | sed 's/^/  c3| /'
if echo "$out" | grep -q '^/dev/pts/' && echo "$out" | grep -q tty-ok; then
	pass "ctr run -t gives a terminal"
else
	fail "ctr run -t"
fi

if [ "$failures" -gt 0 ]; then
	echo "--- containerd log (tail)"; tail -n 60 "$work/containerd/containerd.log" || true
	exit 1
fi
