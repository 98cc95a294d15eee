#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The vertical slice through real parts: containerd (Debian) on private sockets, driven by ctr,
# runs containers with runtime io.containerd.cocoon.v2 → containerd-shim-cocoon-v2 → QEMU (TCG
# here) → cocoon-agent → crun. Needs root, containerd, QEMU and a guest image; says SKIP otherwise.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/../../lib/cocoon-e2e.sh"
failures=0
trap cocoon_e2e_teardown EXIT
cocoon_e2e_setup cocoon-e2e

pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
count_qemu() { cocoon_e2e_qemu_pids | wc -l; }
count_shims() { cocoon_e2e_shim_pids | wc -l; }

# 1. ctr run --rm: output from inside the VM, the guest kernel, exit codes
host_release=$(uname -r)
out=$(timeout 180 $C run --rm $RT "$IMAGE" c1 sh -c 'echo hi; uname -r' 2>&1) || true
echo "$out" | sed 's/^/  c1| /'
guest_release=$(echo "$out" | sed -n 2p)
if [ "$(echo "$out" | head -n1)" = hi ] && [ -n "$guest_release" ] && [ "$guest_release" != "$host_release" ]; then
	pass "ctr run printed hi and the guest kernel $guest_release (host $host_release)"
else
	fail "ctr run output"
fi
rc=0
timeout 180 $C run --rm $RT "$IMAGE" c7 sh -c 'exit 7' || rc=$?
[ "$rc" = 7 ] && pass "exit 7 propagates" || fail "exit 7 gave $rc"

# host bind mounts (volumes, CRI's /etc/hosts and resolv.conf) reach the guest through the share
mkdir -p "$WORK/volume"
echo from-the-host >"$WORK/volume/hello.txt"
printf '10.9.8.7 cocoon-test-host\n' >"$WORK/hosts"
out=$(timeout 180 $C run --rm $RT --mount "type=bind,src=$WORK/volume,dst=/data,options=rbind:ro" \
	--mount "type=bind,src=$WORK/hosts,dst=/etc/hosts,options=rbind:ro" "$IMAGE" m1 \
	sh -c 'cat /data/hello.txt; grep cocoon-test-host /etc/hosts; touch /data/x 2>/dev/null || echo read-only' 2>&1) || true
echo "$out" | sed 's/^/  m1| /'
[ "$out" = "$(printf 'from-the-host\n10.9.8.7 cocoon-test-host\nread-only')" ] &&
	pass "a host directory and a host file bind-mounted (read-only) into the container" ||
	fail "bind mounts: $out"

# 2. detached, exec, ps, kill, rm: nothing left behind
timeout 180 $C run -d $RT "$IMAGE" c2 sleep 1000
out=$(timeout 60 $C task exec --exec-id e1 c2 sh -c 'echo from-exec' 2>&1) || true
[ "$out" = from-exec ] && pass "exec printed from-exec" || fail "exec output: $out"
ps_out=$(timeout 30 $C task ps c2 2>&1) || true
echo "$ps_out" | sed 's/^/  ps| /'
if echo "$ps_out" | awk 'NR>1 && $1 ~ /^[0-9]+$/ && $1 > 0 {n++} END {exit !(n >= 1)}'; then
	pass "task ps lists pids"
else
	fail "task ps"
fi
shim_pid=$(cocoon_e2e_shim_pids | head -n1)
timeout 30 $C task kill -s SIGKILL c2
status=""
for _ in $(seq 1 100); do
	status=$($C task ls | awk '$1 == "c2" {print $3}')
	[ "$status" = STOPPED ] && break
	sleep 0.2
done
[ "$status" = STOPPED ] && pass "SIGKILL stopped c2" || fail "c2 status after SIGKILL: $status"
exit_status=$(timeout 30 $C task rm c2 2>&1 | tail -n1) || true
echo "  rm| $exit_status"
timeout 30 $C containers rm c2 || fail "containers rm c2"
for _ in $(seq 1 50); do
	[ "$(count_qemu)" = 0 ] && [ "$(count_shims)" = 0 ] && break
	sleep 0.2
done
[ "$(count_qemu)" = 0 ] && pass "no QEMU left" || fail "$(count_qemu) QEMU processes left"
[ "$(count_shims)" = 0 ] && pass "no shim left" || fail "$(count_shims) shims left (pid $shim_pid)"
if grep -q "$WORK/containerd" /proc/mounts || grep -q "$WORK/state" /proc/mounts; then
	fail "mounts left: $(grep -e "$WORK" /proc/mounts)"
else
	pass "no mounts left"
fi

# 3. a terminal: ctr run -t under script(1)
out=$(timeout 180 script -qec "$C run --rm -t $RT $IMAGE c3 sh -c 'tty; echo tty-ok'" /dev/null 2>&1 | tr -d '\r') || true
echo "$out" | sed 's/^/  c3| /'
if echo "$out" | grep -q '^/dev/pts/' && echo "$out" | grep -q tty-ok; then
	pass "ctr run -t gives a terminal"
else
	fail "ctr run -t"
fi

if [ "$failures" -gt 0 ]; then
	echo "--- containerd log (tail)"; tail -n 60 "$WORK/containerd/containerd.log" || true
	exit 1
fi
