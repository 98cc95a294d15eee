#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# A kubelet-shaped pod through containerd's CRI gRPC API (tests/lib/cri/cri.py) and real parts:
# RunPodSandbox -> CreateContainer (busybox, a hostPath volume, /etc/hosts and termination-log file
# mounts) -> StartContainer -> ExecSync -> ContainerStatus -> StopContainer -> RemoveContainer ->
# StopPodSandbox -> RemovePodSandbox, under runtime handler cocoon with hypervisor.shared_fs
# virtio-fs and then 9p, and the same flow under runc for comparison; after each pod nothing may
# be left (QEMU, shim, virtiofsd, mounts under the state dir, pods, containers).
# Prints the wall time of every CRI call per run at the end.
#
# The file system checks through the CRI path (issue 14): in the cocoon/virtio-fs pod and the runc
# pod, tests/e2e/fs/fs-probe (the POSIX checks) on the container's root file system and on the
# hostPath volume, and the SQLite checks of tests/e2e/fs/workloads-checks.sh (WAL with two
# writers, python3 sqlite3 locking) in a container of the Debian image (scripts/build-debian-oci.sh);
# a check that passes under runc must pass under Cocoon with virtio-fs.
#
#   cri.sh FS-PROBE
set -uo pipefail

FS_PROBE=${1:-}
. "$(dirname "${BASH_SOURCE[0]}")/../../lib/cocoon-e2e.sh"
# as tests/e2e/fs/posix.sh: what fails under virtio-fs for a reason outside Cocoon's power
FS_KNOWN_EXCEPTIONS="o-tmpfile"

failures=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# python3 with grpcio and grpc_tools: the first python3 on PATH may be another build (pyenv)
find_python() {
	local py
	for py in python3 /usr/bin/python3; do
		if "$py" -c 'import grpc, grpc_tools, google.protobuf' 2>/dev/null; then
			command -v "$py"
			return 0
		fi
	done
	return 1
}

require_root_or_skip
if ! PY=$(find_python); then
	echo "cri: installing python3-grpcio python3-grpc-tools python3-protobuf" >&2
	if command -v apt-get >/dev/null; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
			python3-grpcio python3-grpc-tools python3-protobuf >&2 || true
	fi
	PY=$(find_python) || skip_loudly "python3-grpcio/python3-grpc-tools/python3-protobuf cannot be had"
fi
[ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] && [ -x /usr/lib/cni/loopback ] ||
	skip_loudly "CNI plugins missing in /usr/lib/cni (apt-get install containernetworking-plugins)"

export CONTAINERD_CRI=1
# a bridge and subnet of this run's own: another CRI test may run beside it
export CONTAINERD_CRI_BRIDGE=ccri$(($$ % 100000)) CONTAINERD_CRI_SUBNET=10.250.$(($$ % 200 + 20)).0/24
cleanup() {
	local pod
	if [ -n "${CRI:-}" ] && [ -n "${CONTAINERD_PID:-}" ]; then
		for pod in $($CRI pods 2>/dev/null | "$PY" -c 'import json,sys; [print(p["id"]) for p in json.load(sys.stdin)]' 2>/dev/null); do
			$CRI stopp "$pod" >/dev/null 2>&1
			$CRI rmp "$pod" >/dev/null 2>&1
		done
	fi
	cocoon_e2e_teardown
	if [ -n "${STATE:-}" ]; then
		pkill -9 -f "(qemu-system-x86_64|virtiofsd).*$STATE" 2>/dev/null
		grep -o " ${STATE}[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
		rm -rf "$STATE"
	fi
}
trap cleanup EXIT
# the CRI's own namespace, so that the busybox image is where the CRI looks
cocoon_e2e_setup k8s.io
# a short state dir: the CRI's ids are 64 characters and STATE/ID/virtiofsd.sock must fit in a
# unix socket address (107 bytes), which $WORK/state/ID/virtiofsd.sock does not
STATE=$(mktemp -d /tmp/cri-state.XXXXXX)
sed -i "s|state_dir = \"$WORK/state\"|state_dir = \"$STATE\"|" "$WORK/cocoon.conf"
grep -q "state_dir = \"$STATE\"" "$WORK/cocoon.conf" || { echo "FAIL: cannot set state_dir"; exit 1; }

export CRI_GEN_DIR=$WORK/cri-gen CRI_TIMINGS=$WORK/timings
CRI="$PY $REPO/tests/lib/cri/cri.py --address $CONTAINERD_CRI_ENDPOINT"

# the CRI service may answer a little after containerd's own
for _ in $(seq 100); do
	$CRI version >"$WORK/version.json" 2>"$WORK/version.err" && break
	sleep 0.3
done
if ! grep -q '"runtime_api_version": "v1"' "$WORK/version.json"; then
	cat "$WORK/version.err" "$WORK/version.json"
	echo "FAIL: the CRI runtime.v1 service does not answer"
	exit 1
fi
pass "CRI Version: $(tr -d '\n ' <"$WORK/version.json")"

qemu_pids() { pgrep -f "qemu-system-x86_64.*$STATE" || true; }
# the CRI's pod network namespaces are bind-mounted under /var/run/netns (cni-UUID)
netns_list() { ls /var/run/netns 2>/dev/null | sort; }
netns_list >"$WORK/netns.before"

json_get() { # FILE PYTHON-EXPRESSION-ON-d
	"$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# what must be gone once a pod is removed; $1 names the run
check_nothing_left() {
	local run=$1 left
	left=$($CRI pods | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)))')
	[ "$left" = 0 ] && pass "$run: no pod sandbox listed" || fail "$run: $left pod sandboxes still listed"
	left=$($CRI ps | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)))')
	[ "$left" = 0 ] && pass "$run: no container listed" || fail "$run: $left containers still listed"
	for _ in $(seq 50); do
		[ -z "$(qemu_pids)$(cocoon_e2e_shim_pids)" ] && break
		sleep 0.2
	done
	left=$(qemu_pids | tr '\n' ' ')
	[ -z "$left" ] && pass "$run: no QEMU left" || fail "$run: QEMU left: $left"
	left=$(cocoon_e2e_shim_pids | tr '\n' ' ')
	[ -z "$left" ] && pass "$run: no cocoon shim left" || fail "$run: cocoon shims left: $left"
	left=$(pgrep -f "virtiofsd.*$STATE" | tr '\n' ' ')
	[ -z "$left" ] && pass "$run: no virtiofsd left" || fail "$run: virtiofsd left: $left"
	left=$(grep -c " $STATE" /proc/mounts)
	[ "$left" = 0 ] && pass "$run: no mount under the state dir" ||
		fail "$run: $left mounts under $STATE: $(grep " $STATE" /proc/mounts | cut -d' ' -f2 | tr '\n' ' ')"
	left=$(netns_list | comm -13 "$WORK/netns.before" - | tr '\n' ' ')
	[ -z "$left" ] && pass "$run: no network namespace left" || fail "$run: network namespaces left: $left"
	left=$(ls -A "$STATE" 2>/dev/null | tr '\n' ' ')
	[ -z "$left" ] && pass "$run: the state dir is empty" || fail "$run: left in $STATE: $left"
}

# the POSIX probe and the SQLite checks in a pod; results in $WORK/fs-RUN.txt as "LOCATION CHECK STATUS"
fs_checks() { # RUN POD CTR DIR
	local run=$1 pod=$2 ctr=$3 dir=$4 out=$WORK/fs-${1//\//-}.txt sql
	: >"$out"
	if [ -n "$FS_PROBE" ] && [ -x "$FS_PROBE" ]; then
		cp "$FS_PROBE" "$dir/volume/fs-probe"
		for loc in rootfs volume; do
			local target=/var/tmp/probe
			[ $loc = rootfs ] || target=/data/probe
			$CRI exec --timeout 300 "$ctr" -- sh -c "mkdir -p $target && /data/fs-probe $target" 2>&1 |
				awk -v l=$loc '$1 == "PASS" || $1 == "FAIL" || $1 == "SKIP" { sub(":", "", $2); print l, $2, $1 }' >>"$out"
		done
	fi
	if [ -n "$DEBIAN" ]; then
		cp "$REPO/tests/e2e/fs/workloads-checks.sh" "$dir/volume/checks.sh"
		if sql=$($CRI create "$pod" --pod-config "$dir/pod.json" --name sqlite --image "$DEBIAN" \
			--mount "$dir/volume:/data" --log-path sqlite/0.log -- sleep 3600) && $CRI start "$sql"; then
			for loc in rootfs volume; do
				local target=/var/tmp/wl
				[ $loc = rootfs ] || target=/data/wl
				$CRI exec --timeout 600 "$sql" -- env WL_STRESSORS=" " sh /data/checks.sh $loc $target 2>&1 |
					awk '$1 == "RESULT" { print $2, $3, $4 }' >>"$out"
			done
			$CRI stop --timeout 5 "$sql" >/dev/null
			$CRI rm "$sql" >/dev/null
		else
			echo "FAIL-CREATE sqlite-container FAIL" >>"$out"
		fi
	fi
	local n
	n=$(wc -l <"$out")
	[ "$n" -gt 0 ] && pass "$run: $n file system checks ran through the CRI ($(grep -c ' PASS$' "$out") passed)" ||
		fail "$run: no file system check ran through the CRI"
}

# every file system check that passes under runc passes under Cocoon with virtio-fs (CRI path)
fs_compare() {
	local runc=$WORK/fs-runc.txt vfs=$WORK/fs-cocoon-virtio-fs.txt loc check st got bad=0 total=0
	[ -s "$runc" ] && [ -s "$vfs" ] || { fail "CRI file system checks: no results to compare"; return; }
	while read -r loc check st; do
		[ "$st" = PASS ] || continue
		total=$((total + 1))
		got=$(awk -v l="$loc" -v c="$check" '$1 == l && $2 == c { print $3 }' "$vfs")
		if [ "$got" != PASS ]; then
			if [[ " $FS_KNOWN_EXCEPTIONS " == *" $check "* ]]; then
				echo "  known: $check@$loc fails under virtio-fs (see tests/e2e/fs/posix.sh)"
			else
				bad=$((bad + 1))
				echo "  $check@$loc: runc PASS, cocoon/virtio-fs ${got:-missing}"
			fi
		fi
	done <"$runc"
	[ $bad = 0 ] && pass "CRI: all $total file system checks (POSIX probe, SQLite) that pass under runc pass under Cocoon with virtio-fs" ||
		fail "CRI: $bad of $total file system checks that pass under runc fail under Cocoon with virtio-fs"
}

# CRI streaming through containerd's streaming server: Exec with a TTY and a resize, Attach
streaming_checks() { # RUN POD CTR DIR
	local run=$1 pod=$2 ctr=$3 dir=$4 out rc att
	out=$($CRI exec-tty "$ctr" --size 33x111 --resize 44x122 2>&1)
	rc=$?
	echo "$out" | sed 's/^/  tty| /' | head -12
	grep -q "^33 111$" <<<"$out" && grep -q "^44 122$" <<<"$out" && [ "$rc" = 3 ] &&
		pass "$run: Exec with a TTY: size 33x111, resized to 44x122, exit code 3" ||
		fail "$run: Exec with a TTY: rc $rc, output $(tr '\n' ' ' <<<"$out" | head -c 300)"
	if att=$($CRI create "$pod" --pod-config "$dir/pod.json" --name echo --image "$IMAGE" --stdin \
		--log-path echo/0.log -- sh -c 'while read l; do echo "echo:$l"; done') && $CRI start "$att"; then
		out=$($CRI attach "$att" --send attach-hello --expect echo:attach-hello 2>&1)
		rc=$?
		[ "$rc" = 0 ] && pass "$run: Attach: stdin reaches the container, its stdout comes back" ||
			fail "$run: Attach: rc $rc, output $(head -c 300 <<<"$out")"
		$CRI stop --timeout 2 "$att" >/dev/null
		$CRI rm "$att" >/dev/null
	else
		fail "$run: the attach container cannot be created"
	fi
}

# one pod, the kubelet's calls in the kubelet's order: run_pod HANDLER SHARED_FS (- for runc)
run_pod() {
	local handler=$1 shared_fs=$2
	local run=$handler
	[ "$shared_fs" = - ] || run="$handler/$shared_fs"
	local dir=$WORK/pods/${run//\//-}
	local pod ctr out rc state ip mounts code want

	echo "=== pod $run"
	export CRI_LABEL=$run
	if [ "$shared_fs" != - ]; then
		# as a pod's operator would: the shim reads its config again for every pod
		if grep -q 'shared_fs = ' "$WORK/cocoon.conf"; then
			sed -i "s/shared_fs = \"[^\"]*\";/shared_fs = \"$shared_fs\";/" "$WORK/cocoon.conf"
		else
			sed -i "s/memory_mib = 256;/memory_mib = 256; shared_fs = \"$shared_fs\";/" "$WORK/cocoon.conf"
		fi
		grep -q "shared_fs = \"$shared_fs\"" "$WORK/cocoon.conf" || {
			fail "$run: could not set shared_fs in $WORK/cocoon.conf"
			return
		}
	fi
	mkdir -p "$dir/volume" "$dir/logs"
	printf '127.0.0.1\tlocalhost\n10.250.77.250\tcri-hosts-marker\n' >"$dir/hosts"
	: >"$dir/termination-log"
	echo "from-host" >"$dir/volume/from-host"

	if ! pod=$($CRI runp --name "pod-${run//\//-}" --uid "uid-$RANDOM-$RANDOM" --namespace cocoon-test \
		--log-dir "$dir/logs" --hostname cri-pod --dns-server 10.250.77.1 \
		--dns-search cluster.local --dns-option ndots:5 --runtime-handler "$handler" \
		--config-out "$dir/pod.json"); then
		fail "$run: RunPodSandbox"
		return
	fi
	pass "$run: RunPodSandbox $pod"
	$CRI podstatus "$pod" >"$dir/podstatus.json"
	state=$(json_get "$dir/podstatus.json" 'd["status"]["state"]')
	ip=$(json_get "$dir/podstatus.json" 'd["status"].get("network",{}).get("ip","")')
	[ "$state" = SANDBOX_READY ] && pass "$run: pod is SANDBOX_READY, ip $ip" ||
		fail "$run: pod state $state"

	if ! ctr=$($CRI create "$pod" --pod-config "$dir/pod.json" --name app --image "$IMAGE" \
		--mount "$dir/volume:/data" --mount "$dir/hosts:/etc/hosts" \
		--mount "$dir/termination-log:/dev/termination-log" --env GREETING=hello-cri \
		--log-path app/0.log -- \
		sh -c 'echo app-started; trap "echo app-stopping; exit 0" TERM; while :; do sleep 1; done'); then
		fail "$run: CreateContainer"
	else
		pass "$run: CreateContainer $ctr"
		if $CRI start "$ctr"; then
			pass "$run: StartContainer"
		else
			fail "$run: StartContainer"
		fi

		out=$($CRI exec "$ctr" -- sh -c 'echo "$GREETING"; hostname; cat /etc/hosts /etc/resolv.conf /data/from-host')
		rc=$?
		echo "$out" | sed 's/^/  | /'
		[ "$rc" = 0 ] && pass "$run: ExecSync exit code 0" || fail "$run: ExecSync exit code $rc"
		for want in hello-cri cri-pod cri-hosts-marker "nameserver 10.250.77.1" "search cluster.local" from-host; do
			grep -q "$want" <<<"$out" && pass "$run: ExecSync output has '$want'" ||
				fail "$run: ExecSync output lacks '$want'"
		done
		out=$($CRI exec "$ctr" -- sh -c 'echo to-stdout; echo to-stderr >&2; exit 7' 2>"$dir/exec.err")
		rc=$?
		[ "$rc" = 7 ] && [ "$out" = to-stdout ] && [ "$(cat "$dir/exec.err")" = to-stderr ] &&
			pass "$run: ExecSync keeps stdout, stderr and exit code 7 apart" ||
			fail "$run: ExecSync gave rc $rc stdout '$out' stderr '$(cat "$dir/exec.err")'"
		out=$($CRI exec --timeout 2 "$ctr" -- sleep 30 2>&1)
		rc=$?
		[ "$rc" != 0 ] && pass "$run: ExecSync timeout 2 s ends 'sleep 30' (rc $rc: $(echo $out | head -c 120))" ||
			fail "$run: ExecSync with timeout 2 s returned 0"

		if [ "$handler" = cocoon ]; then
			out=$($CRI exec "$ctr" -- sh -c 'mount | grep -E " on / | on /data "; echo written-by-container >/data/from-container; sync')
			echo "$out" | sed 's/^/  | /'
			want=$shared_fs
			[ "$want" = virtio-fs ] && want=virtiofs
			grep -qE " on / type $want " <<<"$out" && pass "$run: / is $want in the container" ||
				fail "$run: / is not $want in the container"
			grep -qE " on /data type $want " <<<"$out" && pass "$run: the volume /data is $want" ||
				fail "$run: the volume /data is not $want"
		else
			$CRI exec "$ctr" -- sh -c 'echo written-by-container >/data/from-container'
		fi
		[ "$(cat "$dir/volume/from-container" 2>/dev/null)" = written-by-container ] &&
			pass "$run: a file the container wrote in the volume is on the host" ||
			fail "$run: the container's file is not in $dir/volume"

		[ "$shared_fs" = 9p ] || fs_checks "$run" "$pod" "$ctr" "$dir"
		[ "$shared_fs" = 9p ] || streaming_checks "$run" "$pod" "$ctr" "$dir"

		$CRI status "$ctr" >"$dir/status.json"
		state=$(json_get "$dir/status.json" 'd["status"]["state"]')
		[ "$state" = CONTAINER_RUNNING ] && pass "$run: ContainerStatus CONTAINER_RUNNING" ||
			fail "$run: ContainerStatus $state"
		mounts=$(json_get "$dir/status.json" '" ".join(m["container_path"] for m in d["status"].get("mounts",[]))')
		[[ "$mounts" == *"/data"* ]] && pass "$run: ContainerStatus lists mounts $mounts" ||
			fail "$run: ContainerStatus mounts '$mounts'"

		if $CRI stop --timeout 10 "$ctr"; then
			pass "$run: StopContainer"
		else
			fail "$run: StopContainer"
		fi
		$CRI status "$ctr" >"$dir/status.json"
		state=$(json_get "$dir/status.json" 'd["status"]["state"]')
		code=$(json_get "$dir/status.json" 'd["status"].get("exit_code",0)')
		[ "$state" = CONTAINER_EXITED ] && [ "$code" = 0 ] &&
			pass "$run: stopped by SIGTERM: CONTAINER_EXITED, exit code 0" ||
			fail "$run: after StopContainer: $state, exit code $code"
		grep -q app-started "$dir/logs/app/0.log" 2>/dev/null && grep -q app-stopping "$dir/logs/app/0.log" &&
			pass "$run: the container log has its output" ||
			fail "$run: the container log $dir/logs/app/0.log: $(head -c 300 "$dir/logs/app/0.log" 2>&1)"
		if $CRI rm "$ctr"; then
			pass "$run: RemoveContainer"
		else
			fail "$run: RemoveContainer"
		fi
	fi

	if $CRI stopp "$pod"; then
		pass "$run: StopPodSandbox"
	else
		fail "$run: StopPodSandbox"
	fi
	if $CRI rmp "$pod"; then
		pass "$run: RemovePodSandbox"
	else
		fail "$run: RemovePodSandbox"
	fi
	check_nothing_left "$run"
}

# the mount points of the host's cgroup hierarchies (v1, v2, hybrid), one per hierarchy
cgroup_hierarchies() {
	awk '$9 == "cgroup" || $9 == "cgroup2" { print $5 }' /proc/self/mountinfo | sort -u
}

# QEMU and virtiofsd of the pod are in the pod's cgroup on the host, and its CPU limit bounds
# the VM: a container burning CPU gets QEMU near half a core (it would take a whole one)
check_host_cgroup() { # RUN POD CONTAINER PARENT
	local run=$1 pod=$2 ctr=$3 parent=$4 qemu vfsd line bad=0 t0 t1 ticks0 ticks1 hz share
	qemu=$(pgrep -f "qemu-system-x86_64.*$STATE/$pod" | head -1)
	vfsd=$(pgrep -f "virtiofsd.*$pod" | head -1)
	for pid in $qemu $vfsd; do
		while read -r line; do
			case ${line#*:*:} in
			"$parent/$pod") ;;
			*) bad=1; echo "  pid $pid: $line" ;;
			esac
		done < <(grep -v '^0::/$' "/proc/$pid/cgroup")
	done
	[ -n "$qemu" ] && [ -n "$vfsd" ] && [ $bad = 0 ] &&
		pass "$run: QEMU ($qemu) and virtiofsd ($vfsd) are in the pod's cgroup $parent/$pod in every hierarchy" ||
		fail "$run: QEMU '$qemu' / virtiofsd '$vfsd' are not (all) in $parent/$pod"
	[ -n "$qemu" ] || return
	$CRI exec "$ctr" -- sh -c '(while :; do :; done) >/dev/null 2>&1 & echo burning' >/dev/null
	sleep 2
	hz=$(getconf CLK_TCK)
	ticks0=$(awk '{ print $14 + $15 }' "/proc/$qemu/stat")
	t0=$(date +%s.%N)
	sleep 6
	ticks1=$(awk '{ print $14 + $15 }' "/proc/$qemu/stat")
	t1=$(date +%s.%N)
	share=$(awk -v a="$ticks0" -v b="$ticks1" -v hz="$hz" -v t0="$t0" -v t1="$t1" \
		'BEGIN { printf "%.2f", (b - a) / hz / (t1 - t0) }')
	awk -v s="$share" 'BEGIN { exit !(s > 0.1 && s < 0.65) }' &&
		pass "$run: a CPU-burning container keeps QEMU at $share CPU under the pod's 0.5 CPU limit" ||
		fail "$run: QEMU used $share CPU under the pod's 0.5 CPU limit (want 0.1..0.65: it burns, and the limit holds)"
}

# a pod of two containers that share what a Kubernetes pod shares: the hostname (uts), ipc,
# /dev/shm and, with NamespaceOption.pid = POD, the process namespace; run_shared_pod HANDLER
run_shared_pod() {
	local handler=$1 run=$1-shared dir pod a b out_a out_b parent hier
	dir=$WORK/pods/$run
	echo "=== pod $run (two containers, pid namespace POD, a pod cgroup limited to half a CPU)"
	export CRI_LABEL=$run
	mkdir -p "$dir/logs"
	# the default file sharing again (the pods above switched it)
	sed -i 's/shared_fs = "[^"]*";/shared_fs = "virtio-fs";/' "$WORK/cocoon.conf"
	# what the kubelet makes before RunPodSandbox: the pod's cgroup with the pod's CPU limit
	parent=/cocoon-e2e-$$/pod-$run
	for hier in $(cgroup_hierarchies); do
		mkdir -p "$hier$parent"
		[ ! -f "$hier$parent/cpu.cfs_quota_us" ] || echo 50000 >"$hier$parent/cpu.cfs_quota_us"
		[ ! -f "$hier$parent/cpu.max" ] || echo "50000 100000" >"$hier$parent/cpu.max"
		# a v1 cpuset level is empty until given its parent's cpus and mems
		for level in "${parent%/*}" "$parent"; do
			for f in cpuset.cpus cpuset.mems; do
				[ ! -f "$hier$level/$f" ] || cat "$hier${level%/*}/$f" >"$hier$level/$f"
			done
		done
	done
	if ! pod=$($CRI runp --name "pod-$run" --uid "uid-$RANDOM-$RANDOM" --namespace cocoon-test \
		--log-dir "$dir/logs" --hostname shared-pod --runtime-handler "$handler" \
		--pid-namespace POD --cgroup-parent "$parent" --config-out "$dir/pod.json"); then
		fail "$run: RunPodSandbox"
		return
	fi
	for name in a b; do
		if ! ctr=$($CRI create "$pod" --pod-config "$dir/pod.json" --name "app-$name" \
			--image "$IMAGE" --log-path "app-$name/0.log" -- \
			sh -c "trap 'exit 0' TERM; while :; do sleep 1; done") || ! $CRI start "$ctr"; then
			fail "$run: container app-$name created and started"
			continue
		fi
		eval "$name=\$ctr"
	done
	if [ -n "${a:-}" ] && [ -n "${b:-}" ]; then
		out_a=$($CRI exec "$a" -- sh -c 'hostname; for n in ipc uts pid; do readlink /proc/self/ns/$n; done; echo from-a >/dev/shm/pod-file; sleep 300 >/dev/null 2>&1 & echo $!')
		out_b=$($CRI exec "$b" -- sh -c 'hostname; for n in ipc uts pid; do readlink /proc/self/ns/$n; done; cat /dev/shm/pod-file; cat /proc/1/cmdline | tr "\0" " "; echo; ps -o pid,args')
		echo "$out_a" | sed 's/^/  a| /'
		echo "$out_b" | sed 's/^/  b| /'
		[ "$(sed -n 1p <<<"$out_a")" = shared-pod ] && [ "$(sed -n 1p <<<"$out_b")" = shared-pod ] &&
			pass "$run: both containers have the pod's hostname" ||
			fail "$run: hostnames '$(sed -n 1p <<<"$out_a")' and '$(sed -n 1p <<<"$out_b")', not shared-pod"
		[ -n "$(sed -n 2p <<<"$out_a")" ] && [ "$(sed -n 2,4p <<<"$out_a")" = "$(sed -n 2,4p <<<"$out_b")" ] &&
			pass "$run: both containers are in one ipc, uts and pid namespace" ||
			fail "$run: the namespaces differ: $(sed -n 2,4p <<<"$out_a" | tr '\n' ' ') vs $(sed -n 2,4p <<<"$out_b" | tr '\n' ' ')"
		[ "$(sed -n 5p <<<"$out_b")" = from-a ] &&
			pass "$run: a file one container wrote to /dev/shm is in the other's" ||
			fail "$run: /dev/shm is not shared: b read '$(sed -n 5p <<<"$out_b")'"
		[[ "$(sed -n 6p <<<"$out_b")" == *pause* ]] &&
			pass "$run: pid 1 of the shared process namespace is the pause container" ||
			fail "$run: pid 1 is '$(sed -n 6p <<<"$out_b")', not the pause container"
		grep -q "sleep 300" <<<"$out_b" &&
			pass "$run: a process one container started is visible in the other" ||
			fail "$run: a's 'sleep 300' is not in b's ps"
		[ "$handler" != cocoon ] || check_host_cgroup "$run" "$pod" "$a" "$parent"
	fi
	for ctr in ${a:-} ${b:-}; do
		$CRI stop --timeout 5 "$ctr" >/dev/null && $CRI rm "$ctr" >/dev/null ||
			fail "$run: stop and remove $ctr"
	done
	$CRI stopp "$pod" && $CRI rmp "$pod" && pass "$run: pod stopped and removed" ||
		fail "$run: StopPodSandbox/RemovePodSandbox"
	check_nothing_left "$run"
	local left=""
	for hier in $(cgroup_hierarchies); do
		[ ! -d "$hier$parent/$pod" ] || left="$left $hier$parent/$pod"
		rmdir "$hier$parent" "$hier/cocoon-e2e-$$" 2>/dev/null
	done
	[ -z "$left" ] && pass "$run: the pod's cgroup is gone on the host" ||
		fail "$run: cgroups left:$left"
}

# the Debian image for the SQLite checks (cached like the guest kernel), in the CRI's namespace
DEBIAN=
if image=$("$REPO/scripts/build-debian-oci.sh") && [ -s "$image" ] && $C images import "$image" >/dev/null; then
	DEBIAN=docker.io/cocoon-test/debian:bookworm
else
	fail "the Debian test image (scripts/build-debian-oci.sh) cannot be built or imported: no SQLite checks"
fi

run_pod cocoon virtio-fs
run_pod cocoon 9p
run_pod runc -
fs_compare
run_shared_pod cocoon
run_shared_pod runc

echo "=== CRI call wall times (s)"
"$PY" - "$WORK/timings" <<-'PY'
	import sys
	runs, table = [], {}
	for line in open(sys.argv[1]):
	    method, seconds, run = (line.split() + [""])[:3]
	    if method == "Version" or method.startswith("List"):
	        continue
	    if run not in runs:
	        runs.append(run)
	    table.setdefault(method, {}).setdefault(run, []).append(float(seconds))
	# ExecSync: the four calls in order (the third is the one cut off by its 2 s timeout)
	print("%-18s" % "call" + "".join("%26s" % r for r in runs))
	for method, per_run in table.items():
	    cells = ["%26s" % ("+".join("%.2f" % x for x in per_run.get(r, [])) or "-") for r in runs]
	    print("%-18s" % method + "".join(cells))
PY

if [ "$failures" -ne 0 ]; then
	echo "cri: $failures failures"
	if [ -n "${CRI_KEEP_LOGS:-}" ]; then
		mkdir -p "$CRI_KEEP_LOGS" && cp -r "$WORK/containerd/containerd.log" "$WORK/pods" "$WORK/cocoon.conf" "$CRI_KEEP_LOGS/"
	fi
	grep -E 'level=(error|warning)' "$WORK/containerd/containerd.log" | tail -20
	exit 1
fi
echo "cri: all passed"
