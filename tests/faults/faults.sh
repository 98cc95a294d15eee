#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The fault suite: real containerd + ctr + containerd-shim-cocoon-v2 + QEMU (TCG here) + cocoon-agent,
# with things going wrong on purpose. Every scenario runs COCOON_FAULT_TRIES times; after each try
# the suite checks that nothing is left behind (QEMU processes, shims, mounts under the work dir,
# <state_dir>/* entries, containerd bundles) and that no ctr call had to be cut off by timeout(1).
# It prints one table — scenario, tries, leaks, hangs, failures, seconds — and fails if any count is
# non-zero. Needs root, containerd, QEMU and a guest image; says SKIP otherwise.
#
# knobs (environment):
#   COCOON_FAULT_TRIES      tries per scenario (default 3; sequential-runs and parallel-pods run once)
#   COCOON_FAULT_SCENARIOS  which ones, space separated (default: all, in the order below)
#   COCOON_FAULT_RUNS       sequential `ctr run --rm` in sequential-runs (default 20)
#   COCOON_FAULT_EXECS      execs into the long-lived pod in sequential-runs (default 50)
#   COCOON_FAULT_PODS       pods started at once in parallel-pods (default 8)
#   COCOON_TEST_IMAGE_DIR, COCOON_TEST_IMAGE_SKIP_BUILD, COCOON_BUILD_DIR: see tests/lib/guest-image.sh
#
# scenarios:
#   shim-kill            kill -9 (odd tries) or SIGTERM (even tries) the shims while containers (a pod
#                        of two, one alone, an exec) run; containerd's cleanup runs the shim's
#                        `delete`, which must remove every VM, mount and state directory; then
#                        kill -9 a shim while its Create boots the VM
#   qemu-kill            kill -9 QEMU under a pod: every process exits non-zero (with /tasks/exit
#                        events) within a bound; calls on the dead pod fail fast; a new pod runs;
#                        then kill -9 QEMU while a Create boots it: the run fails fast
#   agent-stopped        the guest's vCPUs are stopped behind the shim's back (QMP `stop` on a second
#                        monitor the test adds with hypervisor.extra_args: the shim holds the one on
#                        <state>/<pod>/qmp.sock, and QEMU serves one client per monitor) — ctr calls
#                        that need the agent fail within agent.request_timeout_ms with an error naming
#                        the sandbox and the call; after QMP `cont` everything works again
#   qemu-frozen          the same with the whole QEMU process stopped (SIGSTOP, then SIGCONT)
#   containerd-restart   containerd is stopped (SIGTERM on odd tries, SIGKILL on even ones) and started
#                        again on the same directories while pods run: it reconnects, `ctr task ls`
#                        shows them, they exec, are killed and deleted; a pod whose QEMU was killed
#                        while containerd was away shows its non-zero exit after the restart
#   create-interrupted   containerd is killed with SIGKILL while a `ctr run` boots the VM (at once, with
#                        the boot stalled past containerd's Connect timeout, 0.7 s or 1.4 s in); after
#                        the restart, delete and a retried run leave nothing behind
#   sequential-runs      COCOON_FAULT_RUNS x `ctr run --rm`: containerd's fd count and RSS stay flat;
#                        COCOON_FAULT_EXECS execs into one pod: its shim's fd count and RSS stay flat
#   parallel-pods        COCOON_FAULT_PODS pods started at once all run (TCG on few cores: their boot
#                        timeout is 10 minutes and their agent request timeout 2 minutes)
#   security             a running pod: the shim socket is 0600 and, made reachable, answers root
#                        but refuses uid 65534 (SO_PEERCRED), likewise the D-Bus peer socket; a frame
#                        over 4 MiB is refused on its stream, random bytes cost the shim nothing;
#                        the state directory is 0700; the 9p share holds only the containers'
#                        rootfs; a read-only volume stays read-only from inside the VM, its submounts too
#   hostile-share        the guest (as root, through 9p: the test does the same file operations in the
#                        share) plants <share>/<id> -> a host directory before a Create, and moves a
#                        running container's area away with a symlink to a host mount in its place
#                        before its Delete: the host never mounts, unmounts or removes outside the
#                        share, and releases the moved mounts; bind sources relative to the bundle are
#                        the host bundle's (src=config.json), a relative source the host cannot
#                        resolve (../../shared, which reached the guest's share) fails naming the
#                        container and the mount
#   guest-halted         the guest is stopped for good (QMP stop, no cont): `tasks rm -f` of a
#                        container and of the pod's sandbox each return within the request timeout
#                        plus slack, every process reports a non-zero exit, QEMU is gone, nothing stays
#   shim-kill-volumes    kill -9 of a shim whose container has volumes (a directory read-only, a
#                        file read-write), after the guest renamed the container's area: `delete`
#                        unmounts every rootfs and volume copy in the share and removes the state
#   console-flood        a privileged container (the host's devices in its spec) gets no /dev/ttyS*,
#                        makes the node itself and writes the guest's serial console for 10 s:
#                        console.log and console.log.1 stay within hypervisor.console_log_max_kib,
#                        the pod still answers, a new pod starts
#   fork-bomb            a fork bomb in one container of a pod of three: the pod's other containers
#                        still exec (every try counted), `ctr task ps` of the bombed one lists more
#                        than its init or fails naming it, never the init alone; it is killed and
#                        deleted like any other
#   bad-input            errors that tell the truth: a second container annotated as the pod's sandbox
#                        is refused naming both (the pod runs on); an annotation of
#                        hypervisor.binary says it cannot be overridden by annotation; a guest kernel
#                        that is not a kernel reports QEMU's own reason from qemu.log
#   exec-background-child  `ctr task exec … sh -c 'sleep 1000 & echo hi'` prints hi and returns within
#                        2 s plus the time of the same exec without the background child (runc reports
#                        the exit at once; the pipe the child holds open must not delay it); an exec
#                        killed while nobody reads its output has its /tasks/exit within the shim's 2 s
#                        stall bound plus that margin (not after a 30 s drain); with -t, within the
#                        agent's 2 s wait for the pty's EOF plus 2 s and that margin
#   virtiofsd-kill       kill -9 of a pod's virtiofsd (odd tries the process the shim spawned, even
#                        tries the sandboxed child that serves the guest) while a container writes
#                        to its root file system and another reads a volume: the shim stops the
#                        VM (the guest's file requests would wait for ever), every process reports
#                        a non-zero exit within 20 s, the shim log names virtiofsd, `tasks rm` of
#                        all of them works and nothing is left (virtiofsd, QEMU, mounts, state).
#                        Every scenario also counts a virtiofsd still running after its try as a
#                        leak (shim-kill: a shim killed with its virtiofsd running)
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${COCOON_BUILD_DIR:-${MESON_BUILD_ROOT:-$repo/build}}
. "$repo/tests/lib/containerd.sh"
. "$repo/tests/lib/guest-image.sh"

require_root_or_skip
command -v containerd >/dev/null || skip_loudly "containerd is not installed"
command -v qemu-system-x86_64 >/dev/null || skip_loudly "qemu-system-x86_64 is not installed"
command -v python3 >/dev/null || skip_loudly "python3 is needed for the QMP client"
[ -x "$build/src/shim/containerd-shim-cocoon-v2" ] || skip_loudly "shim not built in $build"
guest_image_ensure || skip_loudly "no guest image (see above)"

TRIES=${COCOON_FAULT_TRIES:-3}
RUNS=${COCOON_FAULT_RUNS:-20}
EXECS=${COCOON_FAULT_EXECS:-50}
PODS=${COCOON_FAULT_PODS:-8}
ALL_SCENARIOS="shim-kill qemu-kill agent-stopped qemu-frozen containerd-restart create-interrupted
sequential-runs parallel-pods security hostile-share guest-halted shim-kill-volumes console-flood
fork-bomb bad-input exec-background-child virtiofsd-kill"
SCENARIOS=${COCOON_FAULT_SCENARIOS:-$ALL_SCENARIOS}
# what the agent-stopped scenarios configure, and how much later than that a failure may come
FAULT_REQUEST_TIMEOUT_MS=2000
FAULT_SLACK_MS=2500

# short: unix socket paths under it must stay below 108 bytes
work=$(mktemp -d /tmp/cfault.XXXXXX)
state=$work/state
ns=cocoon-faults
image=docker.io/cocoon-test/busybox:latest
rt="--runtime io.containerd.cocoon.v2"
monitor=$work/mon/mon.sock
events_pid=
# counts go to a file: ctr_t also runs inside $(...) subshells
tally=$work/tally
declare -A TRIED SECONDS_SPENT
scenario=

log() { echo "[$(date +%H:%M:%S)] ${scenario:+$scenario: }$*"; }
count() { printf '%s\t%s\t%s\n' "$scenario" "$1" "${2:-1}" >>"$tally"; } # KIND [N]
counted() { awk -F'\t' -v s="$1" -v k="$2" '$1 == s && $2 == k {n += $3} END {print n + 0}' "$tally"; }
fail() { log "FAIL: $*"; count fail; }
hang() { log "HANG: $*"; count hang; }
leak() { log "LEAK: $*"; count leak "${2:-1}"; }
note() { log "$*"; printf '%s: %s\n' "$scenario" "$*" >>"$work/notes"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# ---------------------------------------------------------------- environment

# write_config [REQUEST_TIMEOUT_MS [BOOT_TIMEOUT_MS [EXTRA-MONITOR]]]: every new shim reads it
write_config() {
	local request=${1:-30000} boot=${2:-120000} extra="" confine=""
	if [ "${3:-}" = monitor ]; then
		extra="extra_args = [\"-chardev\", \"socket,id=faultmon,path=$monitor,server=on,wait=off\","
		extra+=" \"-mon\", \"chardev=faultmon,mode=control\"];"
		# the jailed QEMU makes the socket in a directory it is shown (confine.expose)
		mkdir -p "$work/mon" && chmod 0777 "$work/mon"
		confine="confine = { expose = [\"rw:$work/mon\"]; };"
	fi
	cat >"$work/cocoon.conf" <<-CONF
		hypervisor = { kernel = "$COCOON_GUEST_KERNEL"; initrd = "$COCOON_GUEST_INITRD";
		  memory_mib = 256; $extra };
		agent = { boot_timeout_ms = $boot; request_timeout_ms = $request; };
		runtime = { state_dir = "$state"; log_level = "debug"; dbus = "none"; };
		${confine:-}
	CONF
}

# plain ctr for queries, bounded too: ctr waits forever for a containerd that is not there
C() { timeout -k 5 60 ctr --address "$CONTAINERD_ADDRESS" -n "$ns" "$@"; }

# ctr_t SECONDS ARGS...: ctr with a bound; being cut off counts as a hang
ctr_t() {
	local secs=$1 rc=0
	shift
	timeout -k 5 "$secs" ctr --address "$CONTAINERD_ADDRESS" -n "$ns" "$@" || rc=$?
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		hang "ctr $* did not return within ${secs}s"
	fi
	return "$rc"
}

events_start() {
	ctr --address "$CONTAINERD_ADDRESS" -n "$ns" events >>"$work/events.txt" 2>&1 &
	events_pid=$!
}

events_stop() {
	[ -z "$events_pid" ] || kill "$events_pid" 2>/dev/null
	[ -z "$events_pid" ] || wait "$events_pid" 2>/dev/null
	events_pid=
}

# the containerd log of every run is kept (containerd_start truncates its log)
containerd_up() {
	[ ! -f "$work/containerd/containerd.log" ] ||
		cat "$work/containerd/containerd.log" >>"$work/containerd.log.old"
	containerd_start "$work/containerd" || return 1
	events_start
}

containerd_down() { # TERM|KILL
	events_stop
	if [ "$1" = KILL ] && [ -n "${CONTAINERD_PID:-}" ]; then
		kill -KILL "$CONTAINERD_PID" 2>/dev/null
		wait "$CONTAINERD_PID" 2>/dev/null
		unset CONTAINERD_PID
	fi
	containerd_stop
}

qemu_pids() { pgrep -f "qemu-system-x86_64.* -name guest=cocoon-.*$state/" || true; }
qemu_pid_of() { pgrep -f "qemu-system-x86_64.*$state/$1/" || true; }
# every virtiofsd of this run: the one the shim spawned and, with -o sandbox=namespace, its child
# (PID 1 of a new pid namespace, the one that serves the guest)
virtiofsd_pids() { pgrep -f "virtiofsd .*$state/" || true; }
virtiofsd_pids_of() { pgrep -f "virtiofsd .*$state/$1/" || true; }
shim_pids() { pgrep -f "containerd-shim-cocoon-v2 .*-address $CONTAINERD_ADDRESS" || true; }
shim_pid_of() { pgrep -f "containerd-shim-cocoon-v2 .*-address $CONTAINERD_ADDRESS .*-group $1( |$)" || true; }
our_mounts() { awk -v w="$work/" 'index($2, w) == 1 {print $2}' /proc/self/mounts; }
state_entries() { ls -A "$state" 2>/dev/null || true; }
bundles() { ls -A "$work/containerd/state/io.containerd.runtime.v2.task/$ns" 2>/dev/null || true; }
status_of() { C tasks ls 2>/dev/null | awk -v id="$1" '$1 == id {print $3}'; }
pod_args() { # SANDBOX-ID TYPE
	echo "--annotation io.kubernetes.cri.sandbox-id=$1 --annotation io.kubernetes.cri.container-type=$2"
}
wait_status() { # ID STATUS SECONDS
	local deadline=$(($(now_ms) + $3 * 1000))
	while [ "$(now_ms)" -lt "$deadline" ]; do
		[ "$(status_of "$1")" = "$2" ] && return 0
		sleep 0.2
	done
	return 1
}
fd_count() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null; }

# leftovers: what is still there that should not be, one "KIND: ITEM" line each
leftovers() {
	local x
	for x in $(qemu_pids); do echo "QEMU pid: $x"; done
	for x in $(virtiofsd_pids); do echo "virtiofsd pid: $x"; done
	for x in $(shim_pids); do echo "shim pid: $x ($({ tr '\0' ' ' <"/proc/$x/cmdline"; } 2>/dev/null | grep -o -- '-id [^ ]*'))"; done
	for x in $(our_mounts); do echo "mount: $x"; done
	for x in $(state_entries); do echo "state entry: $state/$x"; done
	for x in $(bundles); do echo "bundle: $x"; done
}

# remove every task and container the regular way (bounded), as a user would
remove_all() {
	local t c
	for t in $(C tasks ls -q 2>/dev/null); do ctr_t 30 tasks kill -a -s SIGKILL "$t" >/dev/null 2>&1; done
	for t in $(C tasks ls -q 2>/dev/null); do wait_status "$t" STOPPED 20; done
	for t in $(C tasks ls -q 2>/dev/null); do ctr_t 60 tasks rm -f "$t" >/dev/null 2>&1; done
	for c in $(C containers ls -q 2>/dev/null); do ctr_t 30 containers rm "$c" >/dev/null 2>&1; done
}

# after the scenario's own cleanup: wait for everything to go, count what stays, then clear it by
# force so that the next try starts clean
leak_check() { # SECONDS
	local deadline=$(($(now_ms) + ${1:-30} * 1000)) left n p mnt
	while [ "$(now_ms)" -lt "$deadline" ]; do
		[ -z "$(leftovers)" ] && return 0
		sleep 0.25
	done
	left=$(leftovers)
	n=$(echo "$left" | grep -c .)
	leak "$n things left after ${1:-30}s:" "$n"
	echo "$left" | sed 's/^/    /'
	# by pid, never by name
	for p in $(shim_pids) $(qemu_pids) $(virtiofsd_pids); do kill -KILL "$p" 2>/dev/null; done
	sleep 0.5
	for mnt in $(our_mounts | sort -r); do umount -l "$mnt" 2>/dev/null; done
	if [ -z "$(our_mounts)" ]; then
		rm -rf "${state:?}"/* "${state:?}"/.[!.]* 2>/dev/null
	fi
	remove_all
}

# one QMP command on the monitor the test added (write_config ... monitor)
qmp() { timeout 10 python3 "$repo/tests/faults/qmp.py" "$monitor" "$@" >/dev/null; }

# ---------------------------------------------------------------- scenarios

# odd tries kill -9 the shims, even ones SIGTERM them; each try also kills one during a Create
scenario_shim_kill() {
	local t=$1 p=sk-p$1 a=sk-a$1 s=sk-s$1 b=sk-b$1 start elapsed pid rc sig=KILL run_pid
	[ $((t % 2)) = 0 ] && sig=TERM
	write_config
	ctr_t 300 run -d $rt $(pod_args "$p" sandbox) "$image" "$p" sleep 100000 || { fail "run $p"; return; }
	ctr_t 120 run -d $rt $(pod_args "$p" container) "$image" "$a" sleep 100000 || fail "run $a"
	ctr_t 300 run -d $rt "$image" "$s" sleep 100000 || fail "run $s"
	ctr_t 60 tasks exec -d --exec-id long "$s" sleep 100000 || fail "exec in $s"
	[ "$(qemu_pids | wc -l)" = 2 ] || fail "expected 2 QEMU, found $(qemu_pids | wc -l)"
	start=$(now_ms)
	for pid in $(shim_pid_of "$p") $(shim_pid_of "$s"); do kill -$sig "$pid"; done
	# containerd sees the connections close, reports the exits and runs `delete` per task
	for id in "$p" "$a" "$s"; do
		for _ in $(seq 150); do [ -z "$(status_of "$id")" ] && break; sleep 0.2; done
		[ -z "$(status_of "$id")" ] || fail "task $id still listed as $(status_of "$id") 30s after its shim died"
	done
	for _ in $(seq 150); do [ -z "$(leftovers)" ] && break; sleep 0.2; done
	elapsed=$(($(now_ms) - start))
	[ -z "$(leftovers)" ] && log "everything gone ${elapsed} ms after SIG$sig to the shims"
	for id in "$p" "$a" "$s"; do
		ctr_t 30 containers rm "$id" || fail "containers rm $id"
	done
	leak_check 15
	# the shim dies while its Create boots the VM: the run fails, nothing stays
	ctr_t 300 run -d $rt "$image" "$b" sleep 100000 >/dev/null 2>&1 &
	run_pid=$!
	for _ in $(seq 600); do [ -n "$(qemu_pid_of "$b")" ] && break; sleep 0.05; done
	kill -KILL $(shim_pid_of "$b")
	rc=0
	wait "$run_pid" || rc=$?
	[ "$rc" != 0 ] || fail "ctr run $b succeeded although its shim was killed during the Create"
	ctr_t 30 containers rm "$b" >/dev/null 2>&1
	leak_check 15
	rc=0
	# the same ids work again
	out=$(ctr_t 300 run --rm $rt "$image" "$s" echo again 2>&1) || rc=$?
	[ "$rc" = 0 ] && [ "$out" = again ] || fail "re-run of $s after the shim kill: rc $rc: $out"
	leak_check 15
}

# the /tasks/exit event of ID (container or exec) in the capture, with its status
exit_status_of() { # CONTAINER-ID PROCESS-ID
	grep ' /tasks/exit ' "$work/events.txt" | grep "\"container_id\":\"$1\"" |
		grep "\"id\":\"$2\"" | sed -n 's/.*"exit_status":\([0-9]*\).*/\1/p' | tail -n1
}

scenario_qemu_kill() {
	local t=$1 p=qk-p$1 a=qk-a$1 n=qk-n$1 b=qk-b$1 start elapsed rc out st id pairs pid
	write_config
	ctr_t 300 run -d $rt $(pod_args "$p" sandbox) "$image" "$p" sleep 100000 || { fail "run $p"; return; }
	ctr_t 120 run -d $rt $(pod_args "$p" container) "$image" "$a" sleep 100000 || fail "run $a"
	ctr_t 60 tasks exec -d --exec-id long "$a" sleep 100000 || fail "exec in $a"
	start=$(now_ms)
	kill -KILL $(qemu_pid_of "$p")
	# every process exits non-zero, with its event, within 20 s
	pairs="$p:$p $a:$a $a:long"
	for _ in $(seq 100); do
		out=""
		for id in $pairs; do [ -n "$(exit_status_of "${id%%:*}" "${id##*:}")" ] || out=x; done
		[ -z "$out" ] && break
		sleep 0.2
	done
	elapsed=$(($(now_ms) - start))
	for id in $pairs; do
		st=$(exit_status_of "${id%%:*}" "${id##*:}")
		if [ -z "$st" ]; then
			hang "no /tasks/exit for ${id##*:} of ${id%%:*} ${elapsed} ms after QEMU was killed"
		elif [ "$st" = 0 ]; then
			fail "${id##*:} of ${id%%:*} exited 0 after QEMU was killed"
		fi
	done
	log "all exits reported ${elapsed} ms after kill -9 of QEMU"
	for id in "$p" "$a"; do [ "$(status_of "$id")" = STOPPED ] || fail "$id is $(status_of "$id")"; done
	# the shim behaves: calls on the dead pod answer at once, a new container in it is refused
	start=$(now_ms)
	ctr_t 30 tasks ps "$a" >/dev/null 2>&1
	ctr_t 30 tasks exec --exec-id late "$a" echo late >/dev/null 2>&1 && fail "exec in a dead pod worked"
	ctr_t 30 tasks metrics "$a" >/dev/null 2>&1
	rc=0
	out=$(ctr_t 120 run --rm $rt $(pod_args "$p" container) "$image" "$b" echo no 2>&1) || rc=$?
	[ "$rc" != 0 ] || fail "a new container in the dead pod ran: $out"
	elapsed=$(($(now_ms) - start))
	[ "$elapsed" -lt 20000 ] || fail "calls on the dead pod took ${elapsed} ms"
	ctr_t 30 containers rm "$b" >/dev/null 2>&1
	# a new pod runs
	rc=0
	out=$(ctr_t 300 run --rm $rt "$image" "$n" echo fine 2>&1) || rc=$?
	[ "$rc" = 0 ] && [ "$out" = fine ] || fail "new pod after the QEMU kill: rc $rc: $out"
	# the old ones are deleted
	for id in "$a" "$p"; do
		ctr_t 60 tasks rm "$id" >/dev/null 2>&1 || fail "tasks rm $id"
		ctr_t 30 containers rm "$id" || fail "containers rm $id"
	done
	leak_check 20
	# QEMU dies while the Create boots it: the run fails at once, not after the boot timeout
	start=$(now_ms)
	ctr_t 300 run -d $rt "$image" "$n" sleep 100000 >"$work/qk.out" 2>&1 &
	pid=$!
	for _ in $(seq 600); do [ -n "$(qemu_pid_of "$n")" ] && break; sleep 0.05; done
	kill -KILL $(qemu_pid_of "$n")
	rc=0
	wait "$pid" || rc=$?
	elapsed=$(($(now_ms) - start))
	if [ "$rc" = 0 ]; then
		fail "ctr run $n succeeded although QEMU was killed during the boot"
	elif [ "$elapsed" -gt 30000 ]; then
		fail "ctr run $n failed only after ${elapsed} ms (QEMU killed during the boot)"
	else
		log "QEMU killed during the boot: ctr run failed after ${elapsed} ms: $(tail -n1 "$work/qk.out" | cut -c1-200)"
	fi
	ctr_t 30 containers rm "$n" >/dev/null 2>&1
	leak_check 20
}

# agent_timeouts POD: calls that need the agent fail in time, naming the pod and the call
agent_timeouts() {
	local p=$1 how=$2 start elapsed out rc limit=$((FAULT_REQUEST_TIMEOUT_MS + FAULT_SLACK_MS))
	local call
	# PauseContainer last: unanswered, it still runs once the guest wakes, and the shim queues the
	# ResumeContainer that undoes it (agent_works then execs into the container, which a frozen
	# cgroup would not let run)
	for call in "ListProcesses:tasks ps $p" "ExecProcess:tasks exec --exec-id x$RANDOM $p echo hi" \
		"StatsContainer:tasks metrics $p" "PauseContainer:tasks pause $p"; do
		start=$(now_ms)
		rc=0
		out=$(ctr_t 60 ${call#*:} 2>&1) || rc=$?
		elapsed=$(($(now_ms) - start))
		if [ "$rc" = 0 ]; then
			fail "ctr ${call#*:} worked while the guest was $how"
		elif [ "${call%%:*}" = StatsContainer ] && [ "$elapsed" -le "$limit" ]; then
			# containerd's Metrics logs a task's error and answers "no metrics received"
			log "${call%%:*} failed after ${elapsed} ms: $(echo "$out" | tail -n1 | cut -c1-160)"
		elif ! echo "$out" | grep -q "sandbox $p" || ! echo "$out" | grep -q "${call%%:*}" ||
			! echo "$out" | grep -qi "deadline\|within\|timed out"; then
			fail "ctr ${call#*:}: the error does not name the sandbox, the call and the timeout: $out"
		elif [ "$elapsed" -gt "$limit" ]; then
			fail "ctr ${call#*:} failed after ${elapsed} ms (request timeout $FAULT_REQUEST_TIMEOUT_MS ms)"
		else
			log "${call%%:*} failed after ${elapsed} ms: $(echo "$out" | tail -n1 | cut -c1-160)"
		fi
	done
	# what needs no agent still answers at once
	start=$(now_ms)
	ctr_t 30 tasks ls >/dev/null || fail "tasks ls while the guest was $how"
	elapsed=$(($(now_ms) - start))
	[ "$elapsed" -lt 2000 ] || fail "tasks ls took ${elapsed} ms while the guest was $how"
}

agent_works() { # POD
	local out rc=0 start=$(now_ms)
	# the guest works off what was queued while it stood still; its clock catches up
	until ctr_t 30 tasks ps "$1" >/dev/null 2>&1; do
		[ $(($(now_ms) - start)) -lt 15000 ] || { fail "tasks ps still fails 15 s after the guest came back"; break; }
		sleep 0.5
	done
	log "the agent answers again $(($(now_ms) - start)) ms after the guest came back"
	out=$(ctr_t 60 tasks exec --exec-id back$RANDOM "$1" echo back 2>&1) || rc=$?
	[ "$rc" = 0 ] && [ "$out" = back ] || fail "exec after the guest came back (a late pause left applied?): rc $rc: $out"
	[ "$(status_of "$1")" = RUNNING ] || fail "$1 is '$(status_of "$1")' after the guest came back"
	ctr_t 30 tasks ps "$1" >/dev/null || fail "tasks ps after the guest came back"
}

scenario_agent_stopped() {
	local p=as-p$1
	write_config "$FAULT_REQUEST_TIMEOUT_MS" 120000 monitor
	ctr_t 300 run -d $rt "$image" "$p" sleep 100000 || { fail "run $p"; return; }
	qmp stop || fail "QMP stop on the test monitor"
	agent_timeouts "$p" "stopped by QMP"
	qmp cont || fail "QMP cont"
	agent_works "$p"
	ctr_t 30 tasks kill -s SIGKILL "$p" || fail "kill $p"
	wait_status "$p" STOPPED 20 || fail "$p did not stop"
	ctr_t 60 tasks rm "$p" >/dev/null 2>&1 || fail "tasks rm $p"
	ctr_t 30 containers rm "$p" || fail "containers rm $p"
	leak_check 20
}

scenario_qemu_frozen() {
	local p=qf-p$1 q
	write_config "$FAULT_REQUEST_TIMEOUT_MS" 120000
	ctr_t 300 run -d $rt "$image" "$p" sleep 100000 || { fail "run $p"; return; }
	q=$(qemu_pid_of "$p")
	kill -STOP "$q"
	agent_timeouts "$p" "frozen by SIGSTOP"
	kill -CONT "$q"
	agent_works "$p"
	ctr_t 30 tasks kill -s SIGKILL "$p" || fail "kill $p"
	wait_status "$p" STOPPED 20 || fail "$p did not stop"
	ctr_t 60 tasks rm "$p" >/dev/null 2>&1 || fail "tasks rm $p"
	ctr_t 30 containers rm "$p" || fail "containers rm $p"
	leak_check 20
}

scenario_containerd_restart() {
	local t=$1 p=cr-p$1 a=cr-a$1 s=cr-s$1 how=TERM out rc id st
	[ $((t % 2)) = 0 ] && how=KILL
	write_config
	ctr_t 300 run -d $rt $(pod_args "$p" sandbox) "$image" "$p" sleep 100000 || { fail "run $p"; return; }
	ctr_t 120 run -d $rt $(pod_args "$p" container) "$image" "$a" sleep 100000 || fail "run $a"
	ctr_t 300 run -d $rt "$image" "$s" sh -c 'while :; do echo tick; sleep 1; done' || fail "run $s"
	log "containerd down with SIG$how, up again; QEMU of $s killed meanwhile"
	containerd_down "$how"
	kill -KILL $(qemu_pid_of "$s")
	sleep 1
	containerd_up || { fail "containerd did not come back"; return; }
	for id in "$p" "$a"; do
		wait_status "$id" RUNNING 30 || fail "after the restart $id is '$(status_of "$id")'"
	done
	# its exit happened while containerd was away: reported once it is back
	wait_status "$s" STOPPED 30 || fail "after the restart $s (QEMU killed) is '$(status_of "$s")'"
	for _ in $(seq 50); do [ -n "$(exit_status_of "$s" "$s")" ] && break; sleep 0.2; done
	st=$(exit_status_of "$s" "$s")
	# the shim forwards the exit as soon as containerd listens again, which may be before `ctr events`
	# subscribed (a loaded machine): then the shim's own log line, in containerd's log, tells it
	if [ -z "$st" ]; then
		st=$(cat "$work/containerd.log.old" "$work/containerd/containerd.log" 2>/dev/null |
			sed -n "s/.*container $s process init exited with \([0-9]*\).*/\1/p" | tail -n1)
		[ -z "$st" ] || log "the /tasks/exit of $s went out before ctr events subscribed; the shim logged exit $st"
	fi
	[ -n "$st" ] && [ "$st" != 0 ] || fail "no non-zero /tasks/exit for $s after the restart ('$st')"
	rc=0
	out=$(ctr_t 60 tasks exec --exec-id after "$a" echo after 2>&1) || rc=$?
	[ "$rc" = 0 ] && [ "$out" = after ] || fail "exec after the restart: rc $rc: $out"
	ctr_t 60 tasks rm "$s" >/dev/null 2>&1 || fail "tasks rm $s"
	ctr_t 30 containers rm "$s" || fail "containers rm $s"
	for id in "$a" "$p"; do
		ctr_t 30 tasks kill -s SIGKILL "$id" || fail "kill $id"
		wait_status "$id" STOPPED 20 || fail "$id did not stop"
		ctr_t 60 tasks rm "$id" >/dev/null 2>&1 || fail "tasks rm $id"
		ctr_t 30 containers rm "$id" || fail "containers rm $id"
	done
	leak_check 20
}

# variants by try: containerd is killed at once, with the boot stalled (QMP stop) past containerd's
# 5 s Connect timeout after its restart so that the Create outlives that too, 0.7 s or 1.4 s into
# the boot
scenario_create_interrupted() {
	local t=$1 id=ci-$1 run_pid delay out rc variant=$((($1 - 1) % 4))
	if [ "$variant" = 1 ]; then write_config 30000 120000 monitor; else write_config; fi
	ctr_t 300 run -d $rt "$image" "$id" sleep 100000 >/dev/null 2>&1 &
	run_pid=$!
	for _ in $(seq 600); do [ -n "$(qemu_pid_of "$id")" ] && break; sleep 0.05; done
	[ -n "$(qemu_pid_of "$id")" ] || fail "no QEMU for $id within 30s"
	if [ "$variant" = 1 ]; then
		# after the shim's QMP query-status (tens of ms), well before the agent is up
		sleep 0.25
		qmp stop || fail "QMP stop"
		log "boot of $id stalled, containerd killed"
	else
		delay=$(awk -v v="$variant" 'BEGIN { printf "%.1f", (v > 1) ? (v - 1) * 0.7 : 0 }')
		sleep "$delay"
		log "containerd killed ${delay}s into the boot of $id"
	fi
	containerd_down KILL
	wait "$run_pid" 2>/dev/null
	sleep 1
	containerd_up || { fail "containerd did not come back"; return; }
	if [ "$variant" = 1 ]; then
		sleep 7
		qmp cont || fail "QMP cont"
	fi
	# whatever containerd made of it: delete it the way a user would, then run it again
	for _ in $(seq 50); do [ -z "$(shim_pids)" ] && break; sleep 0.2; done
	if [ -n "$(status_of "$id")" ]; then
		log "after the restart $id is $(status_of "$id")"
		ctr_t 30 tasks kill -s SIGKILL "$id" >/dev/null 2>&1
		wait_status "$id" STOPPED 20
		ctr_t 60 tasks rm -f "$id" >/dev/null 2>&1 || fail "tasks rm $id"
	fi
	ctr_t 30 containers rm "$id" >/dev/null 2>&1
	leak_check 30
	rc=0
	out=$(ctr_t 300 run --rm $rt "$image" "$id" echo retried 2>&1) || rc=$?
	[ "$rc" = 0 ] && [ "$out" = retried ] || fail "retried run of $id: rc $rc: $out"
	leak_check 20
}

scenario_sequential_runs() {
	local i rc out fd0 fd1 rss0 rss1 sfd0 sfd1 srss0 srss1 shim p=sq-pod start
	write_config
	start=$(now_ms)
	for i in $(seq 1 "$RUNS"); do
		rc=0
		out=$(ctr_t 300 run --rm $rt "$image" "sq-$i" echo "run $i" 2>&1) || rc=$?
		[ "$rc" = 0 ] && [ "$out" = "run $i" ] || fail "run $i: rc $rc: $out"
		if [ "$i" = 1 ]; then
			sleep 1
			fd0=$(fd_count "$CONTAINERD_PID")
			rss0=$(rss_kib "$CONTAINERD_PID")
		fi
		[ $((i % 50)) = 0 ] && log "$i runs, containerd $(fd_count "$CONTAINERD_PID") fds"
	done
	log "$RUNS runs in $((($(now_ms) - start) / 1000)) s"
	sleep 2
	fd1=$(fd_count "$CONTAINERD_PID")
	rss1=$(rss_kib "$CONTAINERD_PID")
	note "containerd after run 1: ${fd0} fds ${rss0} KiB; after run $RUNS: ${fd1} fds ${rss1} KiB"
	[ $((fd1 - fd0)) -le 3 ] || leak "containerd fds $fd0 -> $fd1"
	[ $((rss1 - rss0)) -le 65536 ] || leak "containerd RSS $rss0 -> $rss1 KiB"
	leak_check 15
	# one long-lived pod, many execs
	ctr_t 300 run -d $rt "$image" "$p" sleep 100000 || { fail "run $p"; return; }
	shim=$(shim_pid_of "$p")
	start=$(now_ms)
	for i in $(seq 1 "$EXECS"); do
		rc=0
		out=$(ctr_t 60 tasks exec --exec-id "e$i" "$p" echo "exec $i" 2>&1) || rc=$?
		[ "$rc" = 0 ] && [ "$out" = "exec $i" ] || fail "exec $i: rc $rc: $out"
		if [ "$i" = 1 ]; then
			sfd0=$(fd_count "$shim")
			srss0=$(rss_kib "$shim")
		fi
	done
	sleep 1
	sfd1=$(fd_count "$shim")
	srss1=$(rss_kib "$shim")
	note "shim after exec 1: ${sfd0} fds ${srss0} KiB; after exec $EXECS: ${sfd1} fds ${srss1} KiB ($((($(now_ms) - start) / EXECS)) ms per exec)"
	[ $((sfd1 - sfd0)) -le 2 ] || leak "shim fds $sfd0 -> $sfd1"
	[ $((srss1 - srss0)) -le 16384 ] || leak "shim RSS $srss0 -> $srss1 KiB"
	ctr_t 30 tasks kill -s SIGKILL "$p" || fail "kill $p"
	wait_status "$p" STOPPED 20 || fail "$p did not stop"
	ctr_t 60 tasks rm "$p" >/dev/null 2>&1 || fail "tasks rm $p"
	ctr_t 30 containers rm "$p" || fail "containers rm $p"
	leak_check 15
}

scenario_parallel_pods() {
	local i pids=() rc start elapsed out ok=0
	write_config 120000 600000
	start=$(now_ms)
	for i in $(seq 1 "$PODS"); do
		ctr_t 900 run -d $rt "$image" "pp-$i" sleep 100000 >"$work/pp-$i.out" 2>&1 &
		pids+=($!)
	done
	for i in $(seq 1 "$PODS"); do
		rc=0
		wait "${pids[$((i - 1))]}" || rc=$?
		[ "$rc" = 0 ] || fail "run pp-$i: rc $rc: $(cat "$work/pp-$i.out")"
	done
	elapsed=$(($(now_ms) - start))
	for i in $(seq 1 "$PODS"); do
		[ "$(status_of "pp-$i")" = RUNNING ] && ok=$((ok + 1))
		rc=0
		out=$(ctr_t 120 tasks exec --exec-id e "pp-$i" echo "pod $i" 2>&1) || rc=$?
		[ "$rc" = 0 ] && [ "$out" = "pod $i" ] || fail "exec in pp-$i: rc $rc: $out"
	done
	note "$ok/$PODS pods running $((elapsed / 1000)) s after $PODS parallel ctr run -d"
	[ "$ok" = "$PODS" ] || fail "only $ok of $PODS pods run"
	pids=()
	for i in $(seq 1 "$PODS"); do
		ctr_t 60 tasks kill -s SIGKILL "pp-$i" >/dev/null 2>&1 &
		pids+=($!)
	done
	wait "${pids[@]}"
	for i in $(seq 1 "$PODS"); do
		wait_status "pp-$i" STOPPED 60 || fail "pp-$i did not stop"
		ctr_t 60 tasks rm "pp-$i" >/dev/null 2>&1 || fail "tasks rm pp-$i"
		ctr_t 30 containers rm "pp-$i" || fail "containers rm pp-$i"
	done
	leak_check 30
}

# peer_check KIND SOCKET: root gets answers, uid 65534 is refused by the server itself (the socket
# is made reachable and 0666 for the check through a hard link next to it, then restored)
peer_check() {
	local kind=$1 sock=$2 dir mode root_says other_says base=/tmp
	case $sock in /run/*) base=/run ;; esac
	mode=$(stat -c %a "$sock") || { fail "no socket $sock"; return; }
	dir=$(mktemp -d "$base/cfault-peer.XXXXXX")
	chmod 0711 "$dir"
	if ! ln "$sock" "$dir/s" 2>/dev/null; then
		fail "cannot link $sock into $dir"
		rm -rf "$dir"
		return
	fi
	chmod 0666 "$dir/s"
	root_says=$(timeout 10 python3 "$repo/tests/faults/peer-check.py" "$kind" "$dir/s" 2>&1)
	other_says=$(timeout 10 python3 "$repo/tests/faults/peer-check.py" "$kind" "$dir/s" 65534 2>&1)
	chmod "$mode" "$sock"
	rm -rf "$dir"
	if [ "$root_says" = answered ] && [ "$other_says" = refused ]; then
		log "$kind socket $sock (mode $mode): root answered, uid 65534 refused"
	else
		fail "$kind socket $sock: root got '$root_says', uid 65534 got '$other_says'"
	fi
}

# the state of a running pod: modes, who may talk to its sockets, what its 9p share holds
scenario_security() {
	local p=sec-p$1 a=sec-a$1 address sock mode dir entries shim
	write_config
	ctr_t 300 run -d $rt $(pod_args "$p" sandbox) "$image" "$p" sleep 100000 || { fail "run $p"; return; }
	ctr_t 120 run -d $rt $(pod_args "$p" container) "$image" "$a" sleep 100000 || fail "run $a"
	address=$(cat "$work/containerd/state/io.containerd.runtime.v2.task/$ns/$p/address")
	sock=${address#unix://}
	mode=$(stat -c '%a %U' "$sock")
	[ "$mode" = "600 root" ] || fail "shim socket $sock is $mode, not 600 root"
	peer_check ttrpc "$sock"
	# an oversized frame is refused on its stream and the connection serves on (spec 5.8);
	# random bytes cost the shim nothing
	shim=$(shim_pid_of "$p")
	[ "$(timeout 30 python3 "$repo/tests/faults/peer-check.py" oversized "$sock" 2>&1)" = answered ] ||
		fail "after a frame over 4 MiB the connection did not serve a Connect"
	for x in 1 2 3 4 5; do timeout 15 python3 "$repo/tests/faults/peer-check.py" garbage "$sock" >/dev/null 2>&1; done
	ctr_t 30 tasks ps "$p" >/dev/null || fail "the shim does not answer after bad frames"
	[ "$(shim_pid_of "$p")" = "$shim" ] || fail "the shim changed after bad frames: $shim -> $(shim_pid_of "$p")"
	dir=$state/$p
	mode=$(stat -c '%a %U' "$dir")
	[ "$mode" = "700 root" ] || fail "state directory $dir is $mode, not 700 root"
	for x in qmp.sock agent.sock stdio.sock dbus.sock; do
		[ -S "$dir/$x" ] || { [ "$x" = dbus.sock ] || fail "no $dir/$x"; continue; }
	done
	[ ! -S "$dir/dbus.sock" ] || peer_check dbus "$dir/dbus.sock"
	for x in "$dir"/*; do
		[ -S "$x" ] || [ -d "$x" ] || [ "$(stat -c %a "$x")" = 600 ] || [ "$(stat -c %a "$x")" = 644 ] ||
			fail "$x has mode $(stat -c %a "$x")"
	done
	# the 9p share holds the pod's container root filesystems and nothing else
	entries=$(ls -A "$dir/shared" | sort | tr '\n' ' ')
	[ "$entries" = "$(printf '%s\n' "$p" "$a" | sort | tr '\n' ' ')" ] || fail "$dir/shared holds '$entries', not the two containers"
	for x in "$p" "$a"; do
		[ "$(ls -A "$dir/shared/$x")" = rootfs ] || fail "$dir/shared/$x holds $(ls -A "$dir/shared/$x")"
		mountpoint -q "$dir/shared/$x/rootfs" || fail "$dir/shared/$x/rootfs is not a mount"
	done
	log "share $dir/shared: $entries(each only rootfs, each a mount); state dir 700"
	# a read-only volume stays read-only from inside the VM
	mkdir -p "$work/vol/sub"
	echo host >"$work/vol/file"
	# with a submount of its own: a recursive bind keeps the submount's flags unless made read-only too
	mount -t tmpfs -o size=1m tmpfs "$work/vol/sub" || fail "mount a tmpfs on $work/vol/sub"
	echo host-sub >"$work/vol/sub/file"
	ctr_t 120 run -d $rt $(pod_args "$p" container) --mount "type=bind,src=$work/vol,dst=/vol,options=rbind:ro" \
		"$image" "$a-vol" sleep 100000 || fail "run $a-vol with a read-only volume"
	if ctr_t 60 tasks exec --exec-id w "$a-vol" sh -c 'echo guest >/vol/file' >/dev/null 2>&1; then
		fail "a read-only volume was written from the guest"
	fi
	[ "$(cat "$work/vol/file")" = host ] || fail "the read-only volume changed: $(cat "$work/vol/file")"
	# what the guest's file server (virtiofsd or 9p) writes through, should the guest kernel itself be hostile: the share's
	# copy of the volume and of its submount are read-only on the host
	shared_mounts=$(awk -v d="$dir/shared/.volumes/" 'index($2, d) == 1 {print $2 " " $4}' /proc/self/mounts)
	[ "$(echo "$shared_mounts" | grep -c .)" -ge 2 ] || fail "the volume and its submount are not both in the share: $shared_mounts"
	if echo "$shared_mounts" | awk '$2 !~ /^ro(,|$)/ {bad = 1} END {exit !bad}'; then
		fail "a share mount of the read-only volume is writable on the host: $shared_mounts"
	fi
	log "read-only volume in the share, each mount read-only on the host: $(echo "$shared_mounts" | awk '{printf "%s(%s) ", $1, substr($2, 1, 2)}')"
	if ctr_t 60 tasks exec --exec-id ws "$a-vol" sh -c 'echo guest >/vol/sub/file' >/dev/null 2>&1; then
		fail "a submount of a read-only volume was written from the guest"
	fi
	[ "$(cat "$work/vol/sub/file")" = host-sub ] || fail "the read-only volume's submount changed"
	[ "$(ctr_t 60 tasks exec --exec-id rs "$a-vol" cat /vol/sub/file 2>&1)" = host-sub ] ||
		fail "the volume's submount is not readable in the guest"
	[ "$(ctr_t 60 tasks exec --exec-id r "$a-vol" cat /vol/file 2>&1)" = host ] || fail "the volume is not readable in the guest"
	ctr_t 30 tasks kill -s SIGKILL "$a-vol" >/dev/null 2>&1
	wait_status "$a-vol" STOPPED 20 || fail "$a-vol did not stop"
	ctr_t 60 tasks rm "$a-vol" >/dev/null 2>&1 || fail "tasks rm $a-vol"
	ctr_t 30 containers rm "$a-vol" || fail "containers rm $a-vol"
	umount "$work/vol/sub" || fail "umount $work/vol/sub"
	for x in "$a" "$p"; do
		ctr_t 30 tasks kill -s SIGKILL "$x" || fail "kill $x"
		wait_status "$x" STOPPED 20 || fail "$x did not stop"
		ctr_t 60 tasks rm "$x" >/dev/null 2>&1 || fail "tasks rm $x"
		ctr_t 30 containers rm "$x" || fail "containers rm $x"
	done
	leak_check 20
}

# ---------------------------------------------------------------- a hostile guest, a hostile spec

# in the share: what a guest with root writes over 9p is what QEMU's 9p server does on the host, as
# root, in <state>/<pod>/shared; the test does the same file operations there while the pod runs
mounts_below() { awk -v d="$1/" 'index($2, d) == 1 {print $2}' /proc/self/mounts; }

scenario_hostile_share() {
	local p=hs-p$1 b=hs-b$1 c=hs-c$1 dir out rc
	write_config
	rm -rf "$work/victim" "$work/victim2" "$work/hvol"
	mkdir -p "$work/victim" "$work/victim2/rootfs" "$work/hvol"
	echo precious >"$work/victim/precious"
	echo vol >"$work/hvol/data"
	# a host mount a guest would like to see unmounted
	mount -t tmpfs -o size=1m tmpfs "$work/victim2/rootfs" || fail "mount a tmpfs on victim2/rootfs"
	echo host >"$work/victim2/rootfs/file"
	ctr_t 300 run -d $rt $(pod_args "$p" sandbox) "$image" "$p" sleep 100000 || { fail "run $p"; return; }
	dir=$state/$p/shared
	# 1. before b's Create the guest makes <share>/b a symlink to a host directory
	ln -s "$work/victim" "$dir/$b"
	ctr_t 120 run -d $rt $(pod_args "$p" container) --mount "type=bind,src=$work/hvol,dst=/vol,options=rbind:ro" \
		"$image" "$b" sleep 100000 || fail "run $b after the guest planted <share>/$b -> $work/victim"
	[ -z "$(mounts_below "$work/victim")" ] || fail "the shim mounted at the guest's symlink: $(mounts_below "$work/victim")"
	[ ! -e "$work/victim/rootfs" ] && [ ! -e "$work/victim/mounts" ] || fail "the shim wrote through the guest's symlink: $(ls "$work/victim")"
	[ ! -L "$dir/$b" ] || fail "the planted symlink $dir/$b is still there"
	out=$(ctr_t 60 tasks exec --exec-id r "$b" cat /vol/data 2>&1) || true
	[ "$out" = vol ] || fail "the volume of $b is not readable in the guest: $out"
	# 2. while b runs the guest moves b's area away and plants a symlink to a directory that has a
	# host mount of its own at rootfs; b's Delete must unmount b's mounts where they are now
	mv "$dir/$b" "$dir/$b.moved"
	ln -s "$work/victim2" "$dir/$b"
	ctr_t 30 tasks kill -s SIGKILL "$b" || fail "kill $b"
	wait_status "$b" STOPPED 20 || fail "$b did not stop"
	ctr_t 60 tasks rm "$b" >/dev/null 2>&1 || fail "tasks rm $b"
	ctr_t 30 containers rm "$b" || fail "containers rm $b"
	mountpoint -q "$work/victim2/rootfs" || fail "the host's mount at $work/victim2/rootfs was unmounted through the guest's symlink"
	[ "$(cat "$work/victim2/rootfs/file" 2>/dev/null)" = host ] || fail "the host's file under $work/victim2/rootfs is gone"
	[ -f "$work/victim/precious" ] || fail "$work/victim/precious was removed"
	[ -z "$(mounts_below "$dir/$b.moved")" ] || fail "b's mounts stayed where the guest moved them: $(mounts_below "$dir/$b.moved")"
	[ "$(cat "$work/hvol/data")" = vol ] || fail "the volume's data changed"
	log "planted symlinks: nothing mounted, unmounted or removed outside the share; moved mounts released"
	# 3. bind sources relative to the bundle are the host's bundle's (OCI), never the guest's
	out=$(ctr_t 120 run --rm $rt $(pod_args "$p" container) --mount "type=bind,src=config.json,dst=/cfg,options=rbind:ro" \
		"$image" "$c" cat /cfg 2>&1) || fail "run $c with src=config.json: $out"
	echo "$out" | grep -q '"source":"config.json"' || fail "/cfg is not the host bundle's config.json: $(echo "$out" | cut -c1-200)"
	ctr_t 30 containers rm "$c" >/dev/null 2>&1
	# what reached the guest's share root and the guest's / before: no such path next to the host's
	# bundle, so the Create fails naming the container and the mount
	for src in ../../shared ../../../../../../../../../..; do
		rc=0
		out=$(ctr_t 120 run --rm $rt $(pod_args "$p" container) --mount "type=bind,src=$src,dst=/groot,options=rbind:rw" \
			"$image" "$c-2" ls /groot/run/cocoon 2>&1) || rc=$?
		if [ "$src" = ../../shared ]; then
			[ "$rc" != 0 ] || fail "src=$src ran: $out"
			echo "$out" | grep -q "$c-2" && echo "$out" | grep -q "/groot" ||
				fail "the error for src=$src does not name the container and the mount: $out"
			log "src=$src refused: $(echo "$out" | tail -n1 | cut -c1-200)"
		else
			# the host's / (the spec author's to give, as runc does): never the guest's
			echo "$out" | grep -q "^shared" && fail "src=$src showed the guest's /run/cocoon: $out"
		fi
		ctr_t 30 containers rm "$c-2" >/dev/null 2>&1
	done
	ctr_t 30 tasks kill -s SIGKILL "$p" || fail "kill $p"
	wait_status "$p" STOPPED 20 || fail "$p did not stop"
	ctr_t 60 tasks rm "$p" >/dev/null 2>&1 || fail "tasks rm $p"
	ctr_t 30 containers rm "$p" || fail "containers rm $p"
	umount "$work/victim2/rootfs" || fail "umount $work/victim2/rootfs"
	leak_check 20
}

# the guest stops for good (QMP stop, never cont): rm -f ends the pod within the request deadline
scenario_guest_halted() {
	local p=gh-p$1 a=gh-a$1 start elapsed limit=$((FAULT_REQUEST_TIMEOUT_MS + 8000)) st
	write_config "$FAULT_REQUEST_TIMEOUT_MS" 120000 monitor
	ctr_t 300 run -d $rt $(pod_args "$p" sandbox) "$image" "$p" sleep 100000 || { fail "run $p"; return; }
	ctr_t 120 run -d $rt $(pod_args "$p" container) "$image" "$a" sleep 100000 || fail "run $a"
	ctr_t 60 tasks exec -d --exec-id long "$a" sleep 100000 || fail "exec in $a"
	qmp stop || fail "QMP stop on the test monitor"
	start=$(now_ms)
	ctr_t 60 tasks rm -f "$a" >/dev/null 2>&1 || fail "tasks rm -f $a with the guest halted"
	elapsed=$(($(now_ms) - start))
	[ "$elapsed" -le "$limit" ] || fail "tasks rm -f took ${elapsed} ms (request timeout $FAULT_REQUEST_TIMEOUT_MS ms)"
	log "tasks rm -f $a with the guest halted: ${elapsed} ms"
	for id in "$a:long" "$p:$p"; do
		for _ in $(seq 50); do [ -n "$(exit_status_of "${id%%:*}" "${id##*:}")" ] && break; sleep 0.2; done
		st=$(exit_status_of "${id%%:*}" "${id##*:}")
		[ -n "$st" ] && [ "$st" != 0 ] || fail "no non-zero /tasks/exit for ${id##*:} of ${id%%:*}: '$st'"
	done
	[ -z "$(qemu_pid_of "$p")" ] || fail "QEMU of $p still runs after the unanswered kill"
	start=$(now_ms)
	ctr_t 60 tasks rm -f "$p" >/dev/null 2>&1 || fail "tasks rm -f $p"
	elapsed=$(($(now_ms) - start))
	[ "$elapsed" -le "$limit" ] || fail "tasks rm -f $p took ${elapsed} ms"
	ctr_t 30 containers rm "$a" "$p" || fail "containers rm"
	leak_check 20
}

# the shim is killed while a container has volumes: `delete` leaves no mount and no state behind
scenario_shim_kill_volumes() {
	local p=kv-p$1 a=kv-a$1 id
	write_config
	rm -rf "$work/kvol"
	mkdir -p "$work/kvol/sub"
	echo data >"$work/kvol/file"
	ctr_t 300 run -d $rt $(pod_args "$p" sandbox) "$image" "$p" sleep 100000 || { fail "run $p"; return; }
	ctr_t 120 run -d $rt $(pod_args "$p" container) --mount "type=bind,src=$work/kvol,dst=/v1,options=rbind:ro" \
		--mount "type=bind,src=$work/kvol/file,dst=/v2,options=rbind:rw" "$image" "$a" sleep 100000 || fail "run $a"
	[ "$(mounts_below "$state/$p/shared" | wc -l)" -ge 4 ] || fail "expected 2 rootfs + 2 volume mounts in the share: $(mounts_below "$state/$p/shared")"
	# the guest renames the area too, so a path recorded at mount time would miss it
	mv "$state/$p/shared/$a" "$state/$p/shared/$a.moved"
	kill -KILL $(shim_pid_of "$p")
	for id in "$p" "$a"; do
		for _ in $(seq 150); do [ -z "$(status_of "$id")" ] && break; sleep 0.2; done
		[ -z "$(status_of "$id")" ] || fail "task $id still listed 30 s after its shim died"
	done
	for id in "$p" "$a"; do ctr_t 30 containers rm "$id" || fail "containers rm $id"; done
	[ "$(cat "$work/kvol/file")" = data ] || fail "the volume's file changed"
	leak_check 20
}

# a privileged container floods the guest's serial console (what QEMU used to write to a file)
scenario_console_flood() {
	local p=cf-p$1 n=cf-n$1 out rc=0 size rotated cap=$((1024 * 1024)) start
	write_config
	ctr_t 300 run -d --privileged $rt "$image" "$p" sleep 100000 || { fail "run --privileged $p"; return; }
	out=$(ctr_t 60 tasks exec --exec-id ls "$p" sh -c 'ls /dev/ttyS* /dev/hvc* /dev/vport* 2>/dev/null' 2>&1)
	[ -z "$out" ] || fail "the guest's console devices reached a privileged container: $out"
	# the guest is hostile anyway: a privileged container makes the node itself
	start=$(now_ms)
	out=$(ctr_t 120 tasks exec --exec-id flood "$p" sh -c 'mknod /dev/serial c 4 64 || exit 1
		end=$(($(date +%s) + 10))
		while [ "$(date +%s)" -lt "$end" ]; do cat /bin/busybox >/dev/serial; done' 2>&1) || rc=$?
	[ "$rc" = 0 ] || fail "the flood exec failed: rc $rc: $out"
	size=$(stat -c %s "$state/$p/console.log" 2>/dev/null || echo missing)
	rotated=$(stat -c %s "$state/$p/console.log.1" 2>/dev/null || echo 0)
	if [ "$size" = missing ] || [ "$size" -gt "$cap" ] || [ "$rotated" -gt "$cap" ]; then
		fail "console.log is $size bytes, console.log.1 $rotated (cap $cap each)"
	else
		note "after a $(($(now_ms) - start)) ms console flood: console.log $size bytes, console.log.1 $rotated bytes (cap $cap)"
	fi
	[ "$rotated" -gt 0 ] || fail "the flood never filled console.log: the test did not flood"
	ctr_t 30 tasks ps "$p" >/dev/null || fail "the flooded pod does not answer"
	rc=0
	out=$(ctr_t 300 run --rm $rt "$image" "$n" echo fine 2>&1) || rc=$?
	[ "$rc" = 0 ] && [ "$out" = fine ] || fail "a new pod after the flood: rc $rc: $out"
	ctr_t 30 tasks kill -s SIGKILL "$p" || fail "kill $p"
	wait_status "$p" STOPPED 20 || fail "$p did not stop"
	ctr_t 60 tasks rm "$p" >/dev/null 2>&1 || fail "tasks rm $p"
	ctr_t 30 containers rm "$p" || fail "containers rm $p"
	leak_check 20
}

# pids.current of a task, from `ctr task metrics` (the agent reads the guest cgroup)
pids_current() { C tasks metrics "$1" 2>/dev/null | awk '$1 == "pids.current" {print $2}'; }

# a fork bomb in one container of a pod: the others go on
scenario_fork_bomb() {
	local p=fb-p$1 a=fb-a$1 b=fb-b$1 ok=0 tries=10 out rc lines current=0 i
	write_config
	ctr_t 300 run -d $rt $(pod_args "$p" sandbox) "$image" "$p" sleep 100000 || { fail "run $p"; return; }
	ctr_t 120 run -d $rt $(pod_args "$p" container) "$image" "$a" sleep 100000 || fail "run $a"
	ctr_t 120 run -d $rt $(pod_args "$p" container) "$image" "$b" \
		sh -c 'f() { f | f & }; f; sleep 100000' || fail "run $b"
	# until the bomb stands at its limit (pids.max 1024 by default), up to 3 minutes under TCG
	for _ in $(seq 180); do
		current=$(pids_current "$b")
		[ "${current:-0}" -ge 1000 ] && break
		sleep 1
	done
	log "the bomb holds ${current:-?} pids"
	[ "${current:-0}" -ge 1000 ] || note "the bomb reached only ${current:-?} pids"
	for i in $(seq "$tries"); do
		out=$(ctr_t 60 tasks exec --exec-id e$i "$a" echo ok 2>&1) && [ "$out" = ok ] && ok=$((ok + 1))
	done
	out=$(ctr_t 60 tasks exec --exec-id es "$p" echo ok 2>&1) && [ "$out" = ok ] && ok=$((ok + 1))
	tries=$((tries + 1))
	[ "$ok" = "$tries" ] || fail "only $ok of $tries execs into the bombed pod's other containers worked (last: $out)"
	rc=0
	out=$(ctr_t 60 tasks ps "$b" 2>&1) || rc=$?
	log "ctr task ps $b (rc $rc, init pid $(C tasks ls | awk -v id="$b" '$1 == id {print $2}'), pids.current $(pids_current "$b")): $(echo "$out" | head -n 5 | tr '\n' ' ')"
	if [ "$rc" = 0 ]; then
		lines=$(($(echo "$out" | grep -c .) - 1))
		[ "$lines" -gt 1 ] || fail "ctr task ps $b lists $lines process(es) of a fork bomb"
		note "fork bomb at ${current:-?} pids: $ok/$tries execs into the other containers worked; ctr task ps $b listed $lines"
	else
		echo "$out" | grep -q "container $b" || fail "ctr task ps $b failed without naming it: $out"
		note "fork bomb at ${current:-?} pids: $ok/$tries execs into the other containers worked; ctr task ps $b failed: $(echo "$out" | tail -n1 | cut -c1-160)"
	fi
	ctr_t 30 tasks kill -a -s SIGKILL "$b" || fail "kill $b"
	wait_status "$b" STOPPED 60 || fail "$b did not stop"
	for x in "$b" "$a" "$p"; do
		[ "$x" = "$b" ] || ctr_t 30 tasks kill -s SIGKILL "$x" || fail "kill $x"
		wait_status "$x" STOPPED 20 || fail "$x did not stop"
		ctr_t 60 tasks rm "$x" >/dev/null 2>&1 || fail "tasks rm $x"
		ctr_t 30 containers rm "$x" || fail "containers rm $x"
	done
	leak_check 20
}

scenario_bad_input() {
	local p=bi-p$1 x=bi-x$1 y=bi-y$1 z=bi-z$1 out rc
	write_config
	ctr_t 300 run -d $rt $(pod_args "$p" sandbox) "$image" "$p" sleep 100000 || { fail "run $p"; return; }
	# a second "sandbox" would end the pod when it exits
	rc=0
	out=$(ctr_t 120 run -d $rt $(pod_args "$p" sandbox) "$image" "$x" sleep 100000 2>&1) || rc=$?
	if [ "$rc" = 0 ]; then
		fail "a second sandbox container $x in pod $p was created"
	elif ! echo "$out" | grep -q "create $x: the pod already has its sandbox container $p"; then
		fail "second sandbox container refused without naming both: $out"
	else
		note "second sandbox container: $(echo "$out" | tail -n1 | cut -c1-220)"
	fi
	ctr_t 30 containers rm "$x" >/dev/null 2>&1
	[ "$(status_of "$p")" = RUNNING ] || fail "$p is '$(status_of "$p")' after the refused container"
	ctr_t 30 tasks kill -s SIGKILL "$p" || fail "kill $p"
	wait_status "$p" STOPPED 20 || fail "$p did not stop"
	ctr_t 60 tasks rm "$p" >/dev/null 2>&1 || fail "tasks rm $p"
	ctr_t 30 containers rm "$p" || fail "containers rm $p"
	leak_check 20
	# an annotation for a key that only the host sets: the advice must be one that works
	rc=0
	out=$(ctr_t 120 run --rm $rt --annotation io.cocoon.config.hypervisor.binary=/bin/sh "$image" "$y" echo no 2>&1) || rc=$?
	if [ "$rc" = 0 ]; then
		fail "the annotation hypervisor.binary was accepted"
	elif ! echo "$out" | grep -q "hypervisor.binary cannot be overridden by annotation" ||
		echo "$out" | grep -q "enable_annotations"; then
		fail "hypervisor.binary annotation refused with the wrong advice: $out"
	else
		note "binary annotation: $(echo "$out" | grep -o 'annotation io.cocoon[^:]*: .*' | cut -c1-200)"
	fi
	ctr_t 30 containers rm "$y" >/dev/null 2>&1
	leak_check 20
	# a guest kernel that is not a kernel: QEMU's own words, not a QMP connection reset
	echo "not a kernel" >"$work/not-a-kernel"
	sed -i "s|kernel = \"$COCOON_GUEST_KERNEL\"|kernel = \"$work/not-a-kernel\"|" "$work/cocoon.conf"
	rc=0
	out=$(ctr_t 120 run --rm $rt "$image" "$z" echo no 2>&1) || rc=$?
	write_config
	if [ "$rc" = 0 ]; then
		fail "a pod booted a kernel that is not one"
	elif ! echo "$out" | grep -q "QEMU exited with status 1.*qemu.log: "; then
		fail "a bad kernel did not report QEMU's reason: $out"
	else
		note "bad kernel: $(echo "$out" | grep -o 'QEMU exited.*' | cut -c1-240)"
	fi
	ctr_t 30 containers rm "$z" >/dev/null 2>&1
	leak_check 20
}

# the shim's bound on delivering the output of a process that exited while nothing moves
# (EXIT_DRAIN_IDLE_US)
EXIT_STALL_MS=2000

scenario_exec_background_child() {
	local t=$1 p=bg-p$1 i start elapsed base= out rc pid st limit
	write_config
	ctr_t 300 run -d $rt "$image" "$p" sleep 100000 || { fail "run $p"; return; }
	# the margin: the same exec without the background child, the faster of two
	for i in 1 2; do
		start=$(now_ms)
		rc=0
		out=$(ctr_t 60 tasks exec --exec-id base$i "$p" sh -c 'echo hi' 2>&1) || rc=$?
		elapsed=$(($(now_ms) - start))
		[ "$rc" = 0 ] && [ "$out" = hi ] || fail "exec without a background child: rc $rc: $out"
		{ [ -z "$base" ] || [ "$elapsed" -lt "$base" ]; } && base=$elapsed
	done
	limit=$((2000 + base))
	start=$(now_ms)
	rc=0
	out=$(ctr_t 120 tasks exec --exec-id bg "$p" sh -c 'sleep 1000 & echo hi' 2>&1) || rc=$?
	elapsed=$(($(now_ms) - start))
	[ "$rc" = 0 ] && [ "$out" = hi ] || fail "exec with a background child: rc $rc: $out"
	if [ "$elapsed" -gt "$limit" ]; then
		fail "exec with a background child returned after ${elapsed} ms (limit ${limit} ms = 2 s + ${base} ms without the child)"
	else
		log "exec with a background child returned after ${elapsed} ms (without: ${base} ms)"
	fi
	note "try $t: exec with a background child ${elapsed} ms, without ${base} ms"
	# on a terminal the agent waits for the pty's EOF, up to COCOON_GUEST_DRAIN_TIMEOUT_MS (2 s)
	start=$(now_ms)
	out=$(timeout -k 5 120 script -qec "ctr --address $CONTAINERD_ADDRESS -n $ns tasks exec -t --exec-id tty $p sh -c 'setsid sleep 1000 & echo hi'" /dev/null 2>&1 | tr -d '\r')
	elapsed=$(($(now_ms) - start))
	limit=$((2000 + 2000 + base))
	[ "$out" = hi ] || fail "exec -t with a background child printed: $out"
	if [ "$elapsed" -gt "$limit" ]; then
		fail "exec -t with a background child returned after ${elapsed} ms (limit ${limit} ms)"
	else
		log "exec -t with a background child returned after ${elapsed} ms"
	fi
	note "try $t: exec -t with a background child ${elapsed} ms"

	# killed while nobody reads its output: ctr's stdout is a FIFO this script holds open and
	# never reads, so the FIFO, ctr, containerd's FIFO, the mux window and the guest pipe fill up
	mkfifo "$work/unread-$t"
	exec 7<>"$work/unread-$t"
	timeout -k 5 120 ctr --address "$CONTAINERD_ADDRESS" -n "$ns" tasks exec --exec-id flood "$p" \
		cat /dev/zero >"$work/unread-$t" 2>/dev/null 7<&- &
	pid=$!
	sleep 3
	start=$(now_ms)
	ctr_t 30 tasks kill --exec-id flood -s SIGKILL "$p" || fail "kill the flood exec"
	for _ in $(seq 450); do
		[ -n "$(exit_status_of "$p" flood)" ] && break
		sleep 0.1
	done
	elapsed=$(($(now_ms) - start))
	st=$(exit_status_of "$p" flood)
	limit=$((EXIT_STALL_MS + 1000 + base))
	if [ -z "$st" ]; then
		hang "no /tasks/exit for the killed flood exec ${elapsed} ms after the kill"
	elif [ "$st" != 137 ]; then
		fail "the killed flood exec exited with $st, not 137"
	elif [ "$elapsed" -gt "$limit" ]; then
		fail "the killed flood exec was reported ${elapsed} ms after the kill (limit ${limit} ms)"
	else
		log "killed exec with unread output reported ${elapsed} ms after the kill"
	fi
	note "try $t: killed exec with unread output reported after ${elapsed} ms"
	# let ctr go: with no reader left (it does not hold fd 7) its writes fail
	exec 7<&-
	start=$(now_ms)
	wait "$pid" 2>/dev/null
	log "ctr of the flood exec gone $(($(now_ms) - start)) ms after its reader"
	rm -f "$work/unread-$t"

	ctr_t 30 tasks kill -a -s SIGKILL "$p" || fail "kill $p"
	wait_status "$p" STOPPED 20 || fail "$p did not stop"
	ctr_t 60 tasks rm "$p" >/dev/null 2>&1 || fail "tasks rm $p"
	ctr_t 30 containers rm "$p" || fail "containers rm $p"
	leak_check 20
}

# ---------------------------------------------------------------- main

# odd tries kill the virtiofsd the shim spawned, even tries its sandboxed child (the server)
scenario_virtiofsd_kill() {
	local t=$1 p=vk-p$1 a=vk-a$1 start elapsed out st id pairs victim pids
	write_config
	mkdir -p "$work/vk-vol$t"
	echo volume >"$work/vk-vol$t/file"
	ctr_t 300 run -d $rt $(pod_args "$p" sandbox) "$image" "$p" \
		sh -c 'while :; do date >>/var/log-vk; sleep 0.2; done' || { fail "run $p"; return; }
	ctr_t 120 run -d $rt $(pod_args "$p" container) \
		--mount "type=bind,src=$work/vk-vol$t,dst=/vol,options=rbind:ro" "$image" "$a" \
		sh -c 'while :; do cat /vol/file >/dev/null; sleep 0.2; done' || fail "run $a"
	pids=$(virtiofsd_pids_of "$p")
	if [ -z "$pids" ]; then
		fail "no virtiofsd runs for pod $p (shared_fs virtio-fs is the default)"
		remove_all
		leak_check 20
		return
	fi
	# the spawned one is the oldest; its sandboxed child the newest
	if [ $((t % 2)) = 1 ]; then
		victim=$(pgrep -o -f "virtiofsd .*$state/$p/")
	else
		victim=$(pgrep -n -f "virtiofsd .*$state/$p/")
	fi
	start=$(now_ms)
	kill -KILL "$victim"
	pairs="$p:$p $a:$a"
	for _ in $(seq 100); do
		out=""
		for id in $pairs; do [ -n "$(exit_status_of "${id%%:*}" "${id##*:}")" ] || out=x; done
		[ -z "$out" ] && break
		sleep 0.2
	done
	elapsed=$(($(now_ms) - start))
	for id in $pairs; do
		st=$(exit_status_of "${id%%:*}" "${id##*:}")
		if [ -z "$st" ]; then
			hang "no /tasks/exit for ${id##*:} of ${id%%:*} ${elapsed} ms after virtiofsd $victim was killed"
		elif [ "$st" = 0 ]; then
			fail "${id##*:} of ${id%%:*} exited 0 after virtiofsd was killed"
		fi
	done
	log "virtiofsd $victim killed: all exits reported after ${elapsed} ms"
	[ -z "$(qemu_pid_of "$p")" ] || fail "QEMU of $p still runs after its virtiofsd died"
	grep -q "sandbox $p: virtiofsd .*: stopping the VM" "$work/containerd/containerd.log" ||
		fail "the shim log does not name virtiofsd as the reason"
	for id in "$a" "$p"; do
		ctr_t 60 tasks rm "$id" >/dev/null 2>&1 || fail "tasks rm $id"
		ctr_t 30 containers rm "$id" || fail "containers rm $id"
	done
	leak_check 20
	rm -rf "$work/vk-vol$t"
}

cleanup() {
	set +e
	events_stop
	[ -n "${CONTAINERD_PID:-}" ] && kill -0 "$CONTAINERD_PID" 2>/dev/null && remove_all
	containerd_stop
	for p in $(shim_pids) $(qemu_pids) $(virtiofsd_pids); do kill -KILL "$p" 2>/dev/null; done
	for mnt in $(our_mounts | sort -r); do umount -l "$mnt" 2>/dev/null; done
	if [ -z "$(our_mounts)" ] && [ "${COCOON_FAULT_KEEP:-0}" != 1 ]; then
		rm -rf "$work"
	else
		echo "work directory kept: $work"
	fi
}
trap cleanup EXIT
trap 'exit 143' TERM INT

write_config
export COCOON_CONFIG="$work/cocoon.conf"
# a sanitizer build of the shim (-Db_sanitize=address,undefined) reports into files; every report
# counts as a failure of the scenario that was running (LSan runs when a shim or `delete` exits)
mkdir -p "$work/sanitizer"
export ASAN_OPTIONS="log_path=$work/sanitizer/asan:detect_leaks=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="log_path=$work/sanitizer/ubsan:print_stacktrace=1:${UBSAN_OPTIONS:-}"
sanitizer_reports() { ls "$work/sanitizer" 2>/dev/null | wc -l; }
export PATH="$build/src/shim:$PATH"
mkdir -p "$state"
: >"$tally"
containerd_up || exit 1
python3 "$repo/scripts/build-busybox-oci.py" "$work/busybox.tar" >/dev/null
C images import "$work/busybox.tar" >/dev/null

suite_start=$(now_ms)
log "guest image $COCOON_GUEST_IMAGE_DIR ($(sed -n 's/^kernel_flavour=//p' "$COCOON_GUEST_IMAGE_DIR/image-info" 2>/dev/null) kernel), $TRIES tries per scenario, work dir $work"
for scenario in $SCENARIOS; do
	fn="scenario_${scenario//-/_}"
	if ! declare -F "$fn" >/dev/null; then
		echo "unknown scenario $scenario (known: $(echo $ALL_SCENARIOS))" >&2
		exit 2
	fi
	tries=$TRIES
	# one long run is enough for the flatness figures
	case $scenario in sequential-runs | parallel-pods | security | hostile-share | bad-input) tries=1 ;; esac
	started=$(now_ms)
	reports=$(sanitizer_reports)
	for t in $(seq 1 "$tries"); do
		log "try $t/$tries"
		"$fn" "$t"
		TRIED[$scenario]=$t
	done
	if [ "$(sanitizer_reports)" != "$reports" ]; then
		fail "$(($(sanitizer_reports) - reports)) new sanitizer reports in $work/sanitizer:"
		for f in $(ls -t "$work/sanitizer" | head -n $(($(sanitizer_reports) - reports))); do
			head -n 30 "$work/sanitizer/$f" | sed 's/^/    /'
		done
	fi
	SECONDS_SPENT[$scenario]=$((($(now_ms) - started) / 1000))
done
scenario=

total=0
printf '\n%-20s %5s %5s %5s %8s %7s\n' scenario tries leaks hangs failures seconds
for s in $SCENARIOS; do
	l=$(counted "$s" leak) h=$(counted "$s" hang) f=$(counted "$s" fail)
	printf '%-20s %5s %5s %5s %8s %7s\n' "$s" "${TRIED[$s]:-0}" "$l" "$h" "$f" "${SECONDS_SPENT[$s]:-0}"
	total=$((total + l + h + f))
done
echo "total $((($(now_ms) - suite_start) / 1000)) s; guest image $COCOON_GUEST_IMAGE_DIR; $(nproc) cores"
[ ! -f "$work/notes" ] || cat "$work/notes"
if [ "$total" -gt 0 ]; then
	echo "--- containerd log (tail)"
	tail -n 80 "$work/containerd/containerd.log"
	exit 1
fi
