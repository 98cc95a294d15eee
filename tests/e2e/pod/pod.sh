#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Pod semantics and the rest of the Task API through real parts (containerd + ctr + the shim +
# QEMU/TCG + cocoon-agent): pods of several containers in one shim and one VM, metrics, pause and
# resume, OOM, a QEMU killed behind the shim's back, 64 MiB through a binary:// logger, the events.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/../../lib/cocoon-e2e.sh"
failures=0
events_pid=
cleanup() {
	[ -z "$events_pid" ] || kill "$events_pid" 2>/dev/null
	cocoon_e2e_teardown
}
trap cleanup EXIT
cocoon_e2e_setup cocoon-pod
$C events >"$WORK/events.txt" 2>&1 &
events_pid=$!
rt=$RT
image=$IMAGE
work=$WORK

pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
qemu_pids() { cocoon_e2e_qemu_pids; }
shim_pids() { cocoon_e2e_shim_pids; }
status_of() { $C tasks ls | awk -v id="$1" '$1 == id {print $3}'; }
wait_status() { # ID STATUS SECONDS
	local i
	for i in $(seq 1 $(($3 * 5))); do
		[ "$(status_of "$1")" = "$2" ] && return 0
		sleep 0.2
	done
	return 1
}
pod_annotations() { # SANDBOX-ID TYPE
	echo "--annotation io.kubernetes.cri.sandbox-id=$1 --annotation io.kubernetes.cri.container-type=$2"
}

# --- a pod: the sandbox container and two app containers share one shim and one VM
timeout 180 $C run -d $rt $(pod_annotations pod1 sandbox) "$image" pod1 sleep 100000
timeout 180 $C run -d $rt $(pod_annotations pod1 container) "$image" app1 sleep 100000
timeout 180 $C run -d $rt $(pod_annotations pod1 container) "$image" app2 sleep 100000
n_shims=$(shim_pids | wc -l)
n_qemu=$(qemu_pids | wc -l)
[ "$n_shims" = 1 ] && [ "$n_qemu" = 1 ] && pass "3 containers of pod1: 1 shim ($(shim_pids)), 1 QEMU ($(qemu_pids))" ||
	fail "pod1 has $n_shims shims and $n_qemu QEMUs"
for t in pod1 app1 app2; do [ "$(status_of $t)" = RUNNING ] || fail "$t is $(status_of $t)"; done

# --- metrics from the guest's cgroups
metrics=$(timeout 30 $C task metrics app1 2>&1) || true
usage=$(echo "$metrics" | awk '$1 == "memory.usage_in_bytes" || $1 == "memory.usage" {print $2}')
[ -n "$usage" ] && [ "$usage" -gt 0 ] && pass "metrics: memory usage $usage bytes" || fail "metrics: $metrics"

# --- pause / resume
timeout 30 $C task pause app2 && wait_status app2 PAUSED 10 && pass "app2 paused" || fail "pause: $(status_of app2)"
timeout 30 $C task resume app2 && wait_status app2 RUNNING 10 && pass "app2 resumed" || fail "resume: $(status_of app2)"

# --- an exec, then an app container leaves while the VM stays
out=$(timeout 60 $C task exec --exec-id e1 app1 sh -c 'echo in-app1' 2>&1) || true
[ "$out" = in-app1 ] && pass "exec in app1" || fail "exec in app1: $out"
$C task kill -s SIGKILL app1
wait_status app1 STOPPED 30 && pass "app1 stopped" || fail "app1: $(status_of app1)"
$C task rm app1 >/dev/null 2>&1 || true
$C containers rm app1
[ "$(qemu_pids | wc -l)" = 1 ] && [ "$(shim_pids | wc -l)" = 1 ] && pass "VM and shim stay after app1 left" ||
	fail "after app1: $(qemu_pids | wc -l) QEMU, $(shim_pids | wc -l) shims"

# (ctr 1.6 has no "task update"; Update is covered by tests/e2e/shim/task-api.sh through ttrpc)

# --- the sandbox container's exit ends the pod
$C task kill -s SIGKILL pod1
wait_status pod1 STOPPED 30 && wait_status app2 STOPPED 30 && pass "pod1's exit ended app2" ||
	fail "after pod1 exit: pod1 $(status_of pod1), app2 $(status_of app2)"
for t in pod1 app2; do $C task rm "$t" >/dev/null 2>&1 || true; $C containers rm "$t"; done
for _ in $(seq 1 50); do [ -z "$(qemu_pids)$(shim_pids)" ] && break; sleep 0.2; done
[ -z "$(qemu_pids)" ] && [ -z "$(shim_pids)" ] && pass "last one out: no QEMU, no shim" ||
	fail "left: QEMU $(qemu_pids) shims $(shim_pids)"

# --- OOM in the guest: TaskOOM, exit 137, the bundle's oom file
timeout 180 $C run -d $rt --memory-limit 33554432 "$image" oom1 sh -c 'exec dd if=/dev/zero of=/dev/null bs=64M count=1'
wait_status oom1 STOPPED 60 && pass "oom1 stopped" || fail "oom1: $(status_of oom1)"
bundle="$work/containerd/state/io.containerd.runtime.v2.task/$NS/oom1"
[ -f "$bundle/oom" ] && pass "oom file in the bundle" || fail "no oom file in $bundle ($(ls "$bundle" 2>&1 | tr '\n' ' '))"
rm_out=$($C task rm oom1 2>&1) || true
echo "$rm_out" | grep -q "exit code 137" && pass "oom1 exit status 137" || fail "oom1 rm: $rm_out"
$C containers rm oom1 || fail "containers rm oom1"

# --- QEMU killed behind the shim's back: the tasks exit non-zero within seconds
timeout 180 $C run -d $rt "$image" vm9 sleep 100000
start=$(date +%s.%N)
kill -9 $(qemu_pids)
if wait_status vm9 STOPPED 15; then
	pass "QEMU killed: vm9 stopped after $(echo "$(date +%s.%N) - $start" | bc 2>/dev/null || echo '?') s"
else
	fail "vm9 after QEMU kill: $(status_of vm9)"
fi
rm_out=$($C task rm vm9 2>&1) || true
echo "$rm_out" | grep -q "exit code 255" && pass "vm9 exit status 255" || fail "vm9 rm: $rm_out"
$C containers rm vm9
for _ in $(seq 1 50); do [ -z "$(qemu_pids)$(shim_pids)" ] && break; sleep 0.2; done
[ -z "$(qemu_pids)$(shim_pids)" ] && pass "nothing left after the QEMU kill" || fail "left: QEMU $(qemu_pids) shims $(shim_pids)"

# --- 64 MiB of stdout through a binary:// logger, byte for byte
cat >"$work/logger.sh" <<'LOGGER'
#!/bin/sh
# a binary:// logger: stdout on fd 3, stderr on fd 4, ready once fd 5 is closed
out=$1
exec 5>&-
cat <&3 >"$out"
LOGGER
chmod +x "$work/logger.sh"
expected=$(set +o pipefail; yes abcdefghij | head -c 67108864 | sha256sum | cut -d' ' -f1)
start=$(date +%s.%N)
timeout 600 $C run --rm $rt --log-uri "binary://$work/logger.sh?$work/big.out" "$image" big1 \
	sh -c 'yes abcdefghij | head -c 67108864' || fail "big1 run"
elapsed=$(echo "$(date +%s.%N) - $start" | bc 2>/dev/null || echo '?')
for _ in $(seq 1 50); do [ "$(stat -c %s "$work/big.out" 2>/dev/null)" = 67108864 ] && break; sleep 0.2; done
got=$(sha256sum "$work/big.out" 2>/dev/null | cut -d' ' -f1) || true
[ "$got" = "$expected" ] && pass "64 MiB through binary:// intact ($elapsed s)" ||
	fail "binary:// output: $(stat -c %s "$work/big.out" 2>/dev/null) bytes, sha256 $got"

# --- every event, in order per container
sleep 1
for topic in /tasks/create /tasks/start /tasks/exit /tasks/delete /tasks/exec-added /tasks/exec-started \
	/tasks/paused /tasks/resumed /tasks/oom; do
	grep -q " $topic " "$work/events.txt" && pass "event $topic seen" || fail "event $topic missing"
done
order=$(grep -E " /tasks/(create|start|exit|delete) " "$work/events.txt" | grep '"container_id":"vm9"' | awk '{print $6}' | tr '\n' ' ')
[ "$order" = "/tasks/create /tasks/start /tasks/exit /tasks/delete " ] && pass "vm9 events in order" ||
	fail "vm9 events: $order"

if [ "$failures" -gt 0 ]; then
	echo "--- events"; cat "$work/events.txt"
	echo "--- containerd log (tail)"; tail -n 80 "$work/containerd/containerd.log" || true
	exit 1
fi
