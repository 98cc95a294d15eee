#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Cocoon next to containerd-shim-runc-v2: one private containerd, one busybox image, every row measured
# in the same run for both runtimes (runs interleaved, medians), one table on stdout.
#
#   scripts/bench.sh [-n RUNS] [--build DIR] [--rows LIST] [--stdout-mib N] [--ttrpc-seconds S]
#                    [--kernel-params "..."] [--qemu-args "..."] [--cocoon-only] [--keep]
#                    [--fs-runs N] [--fs-mib N] [--fs-files N] [--virtiofsd PATH]
#
#   -n RUNS          runs per row and runtime (default 5, at least 1; the issue asks for >= 5)
#   --build DIR      meson build dir with the shim, the agent and tests/bench/ttrpc/task-state-bench
#                    (default $COCOON_BUILD_DIR, else build-bench, else build); with no shim there, the
#                    containerd-shim-cocoon-v2 on PATH is used
#   --rows LIST      comma-separated subset of: idle,pod4,run,confine,exec,ttrpc,stdout,fs,cri (default
#                    all; cri: CRI RunPodSandbox and a pod of two containers, tests/bench/cri/cri-bench.sh,
#                    on a containerd of its own with the CRI plugin, RunPodSandbox also with the VMM's
#                    jail off; confine: `ctr run --rm … true` with QEMU confined (hypervisor.confine =
#                    true, the default runtime) and unconfined (false: a second runtime,
#                    io.containerd.cocoon-unconfined.v2, tests/lib/unconfined-shim.sh), runc beside,
#                    the three interleaved run by run (the order of the two Cocoon ones alternating),
#                    ratio on/off against issue 16's 10 %; with host CPU per start outside the VM
#                    (containerd + shim, from a cpuacct cgroup around the bench's containerd) and the
#                    host-side parts of the shim's split)
#   --stdout-mib N   size of the stdout throughput run (default 256)
#   --ttrpc-seconds  duration of each ttrpc measurement (default 2)
#   --kernel-params  appended to the guest kernel command line (hypervisor.kernel_params), for A/B runs
#   --qemu-args      appended to QEMU's command line (hypervisor.extra_args, split on spaces), for A/B runs
#   --cocoon-only    skip the runc column (quick A/B runs of a Cocoon change)
#   --keep           keep the work directory (logs, samples) and print its path
#   --fs-runs N      runs of the fs rows per column (default 3): Cocoon virtio-fs, Cocoon 9p (the
#                    same shim, the pod annotated io.cocoon.config.hypervisor.shared_fs=9p), runc
#   --fs-mib N       size of the sequential write and read (default 64)
#   --fs-files N     small files created, stat'ed and unlinked (default 2000)
#   --virtiofsd PATH hypervisor.virtiofsd, for A/B runs (e.g. a wrapper that changes its options)
#
# Needs root, containerd, ctr, runc, containerd-shim-runc-v2, qemu-system-x86_64, python3. Guest image:
# tests/lib/guest-image.sh guest_image_ensure into ${COCOON_BENCH_IMAGE_DIR:-/var/cache/cocoon/bench-guest}
# from the build dir's agent. Cocoon pods get memory_mib = 128. Everything it starts is stopped on exit.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=5
build=${COCOON_BUILD_DIR:-}
rows=idle,pod4,run,confine,exec,ttrpc,stdout,fs,cri
fs_runs=3
fs_mib=64
fs_files=2000
virtiofsd=
stdout_mib=256
ttrpc_seconds=2
kernel_params=
qemu_args=
runtimes="cocoon runc"
keep=0

usage() {
	sed -n '5,37p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}
while [ $# -gt 0 ]; do
	case $1 in
	-n | --runs) runs=${2:?}; shift 2 ;;
	--build) build=${2:?}; shift 2 ;;
	--rows) rows=${2:?}; shift 2 ;;
	--stdout-mib) stdout_mib=${2:?}; shift 2 ;;
	--ttrpc-seconds) ttrpc_seconds=${2:?}; shift 2 ;;
	--kernel-params) kernel_params=${2:?}; shift 2 ;;
	--qemu-args) qemu_args=${2:?}; shift 2 ;;
	--cocoon-only) runtimes=cocoon; shift ;;
	--keep) keep=1; shift ;;
	--fs-runs) fs_runs=${2:?}; shift 2 ;;
	--fs-mib) fs_mib=${2:?}; shift 2 ;;
	--fs-files) fs_files=${2:?}; shift 2 ;;
	--virtiofsd) virtiofsd=${2:?}; shift 2 ;;
	-h | --help) usage ;;
	*) echo "bench: unknown argument $1" >&2; usage ;;
	esac
done
case $runs in '' | *[!0-9]* | 0) echo "bench: -n wants a positive number" >&2; exit 2 ;; esac
for n in "$fs_runs" "$fs_mib" "$fs_files"; do
	case $n in '' | *[!0-9]* | 0) echo "bench: --fs-* want positive numbers" >&2; exit 2 ;; esac
done
if [ -z "$build" ]; then
	if [ -d "$repo/build-bench" ]; then build=$repo/build-bench; else build=$repo/build; fi
fi
build=$(cd "$build" 2>/dev/null && pwd) || { echo "bench: no build dir $build" >&2; exit 2; }
want() { case ",$rows," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

. "$repo/tests/lib/containerd.sh"
. "$repo/tests/lib/guest-image.sh"
. "$repo/tests/lib/unconfined-shim.sh"

die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root"
for tool in containerd ctr runc containerd-shim-runc-v2 qemu-system-x86_64 python3 ss; do
	command -v "$tool" >/dev/null || die "needs $tool"
done
state_bench=$build/tests/bench/ttrpc/task-state-bench
[ -x "$state_bench" ] || die "no $state_bench (ninja -C $build)"
if [ -x "$build/src/shim/containerd-shim-cocoon-v2" ]; then
	export PATH="$build/src/shim:$PATH"
fi
shim_binary=$(command -v containerd-shim-cocoon-v2) || die "no containerd-shim-cocoon-v2 in $build or on PATH"
export COCOON_BUILD_DIR=$build
export COCOON_TEST_IMAGE_DIR=${COCOON_BENCH_IMAGE_DIR:-/var/cache/cocoon/bench-guest}
guest_image_ensure || die "no guest image (see above)"

work=$(mktemp -d /tmp/cocoon-bench.XXXXXX)
ns=cocoon-bench
# every task and exec id starts with this: ctr leaves the FIFO dirs of `run -d` and `exec` behind in
# /run/containerd/fifo (named <id>-stdin …), the cleanup finds ours by it
prefix=cb$$
image=docker.io/cocoon-test/busybox:latest
samples=$work/samples
: >"$samples"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

cleanup() {
	local rc=$? pid t c fifo_dir fifos
	set +e
	trap - EXIT INT TERM
	if [ -n "${CONTAINERD_PID:-}" ]; then
		for t in $($CTR -n $ns tasks ls -q 2>/dev/null); do
			timeout 30 $CTR -n $ns tasks kill -s SIGKILL "$t" >/dev/null 2>&1
		done
		for t in $($CTR -n $ns tasks ls -q 2>/dev/null); do
			timeout 30 $CTR -n $ns tasks rm -f "$t" >/dev/null 2>&1
		done
		for c in $($CTR -n $ns containers ls -q 2>/dev/null); do
			timeout 30 $CTR -n $ns containers rm "$c" >/dev/null 2>&1
		done
		containerd_stop
	fi
	# shims and VMs of this run only: they name this work dir in their command lines
	for pid in $(pgrep -f "containerd-shim-(cocoon|runc)-v2 .*-address $work/" 2>/dev/null) \
		$(pgrep -f "qemu-system-x86_64 .*$work/state/" 2>/dev/null) \
		$(pgrep -f "virtiofsd .*$work/state/" 2>/dev/null); do
		kill -KILL "$pid" 2>/dev/null
	done
	grep -o " $work/[^ ]*" /proc/mounts 2>/dev/null | sort -r | while read -r m; do umount -l "$m"; done
	for fifo_dir in /run/containerd/fifo/*/; do
		fifos=$(ls "$fifo_dir" 2>/dev/null)
		[ -n "$fifos" ] && ! grep -qv "^$prefix-" <<<"$fifos" && rm -rf "$fifo_dir"
	done
	rmdir "/run/containerd/runc/$ns" 2>/dev/null
	[ -z "${cpu_cgroup:-}" ] || rmdir "$cpu_cgroup" 2>/dev/null
	if [ "$keep" = 1 ]; then
		echo "bench: work directory kept: $work" >&2
	else
		rm -rf "$work"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

virtiofsd_setting=
[ -z "$virtiofsd" ] || virtiofsd_setting="virtiofsd = \"$virtiofsd\";"
cat >"$work/cocoon.conf" <<CONF
hypervisor = { kernel = "$COCOON_GUEST_KERNEL"; initrd = "$COCOON_GUEST_INITRD"; memory_mib = 128;
  kernel_params = "$kernel_params";
  extra_args = [ $(for a in $qemu_args; do printf '"%s", ' "$a"; done | sed 's/, $//') ];
  $virtiofsd_setting };
agent = { boot_timeout_ms = 60000; request_timeout_ms = 30000; };
runtime = { state_dir = "$work/state"; log_level = "debug"; };
enable_annotations = [ "hypervisor.shared_fs" ];
CONF
export COCOON_CONFIG=$work/cocoon.conf
cpu_cgroup=
if want confine; then
	# the second runtime: the same shim and config but hypervisor.confine = false
	unconfined_shim_install "$work/unconfined-bin" "$(readlink -f "$shim_binary")" "$COCOON_CONFIG" ||
		die "cannot install the unconfined wrapper shim"
	unconfined_shim_config "$COCOON_CONFIG" || die "cannot write the unconfined config"
fi
containerd_start "$work/containerd" >/dev/null
if want confine; then
	# host CPU of a start outside the VM: containerd and everything it starts run in a cgroup of
	# their own (QEMU and virtiofsd move to the pod's cgroup, linux.cgroupsPath, when host_cgroup
	# holds; checked below); its usage counter keeps the CPU of processes that have exited
	if [ -w /sys/fs/cgroup/cpuacct ] && mkdir "/sys/fs/cgroup/cpuacct/cocoon-bench-$$" 2>/dev/null; then
		cpu_cgroup=/sys/fs/cgroup/cpuacct/cocoon-bench-$$
		cpu_usage() { echo $(($(cat "$cpu_cgroup/cpuacct.usage") / 1000)); } # us
	elif [ -f /sys/fs/cgroup/cgroup.controllers ] && mkdir "/sys/fs/cgroup/cocoon-bench-$$" 2>/dev/null; then
		cpu_cgroup=/sys/fs/cgroup/cocoon-bench-$$
		cpu_usage() { awk '$1 == "usage_usec" {print $2}' "$cpu_cgroup/cpu.stat"; }
	fi
	if [ -n "$cpu_cgroup" ] && ! echo "$CONTAINERD_PID" >"$cpu_cgroup/cgroup.procs" 2>/dev/null; then
		rmdir "$cpu_cgroup" 2>/dev/null
		cpu_cgroup=
	fi
	[ -n "$cpu_cgroup" ] || progress "no cgroup of its own for containerd: the confine row has no host CPU figures"
fi
python3 "$repo/scripts/build-busybox-oci.py" "$work/busybox.tar" >/dev/null
$CTR -n $ns images import "$work/busybox.tar" >/dev/null
C="$CTR -n $ns"
log=$work/containerd/containerd.log
task_root=$work/containerd/state/io.containerd.runtime.v2.task/$ns

# ---- helpers ----
rt_name() {
	case $1 in
	cocoon) echo io.containerd.cocoon.v2 ;;
	unconfined) echo "$UNCONFINED_RUNTIME" ;;
	*) echo io.containerd.runc.v2 ;;
	esac
}
now() { date +%s.%N; }
sample() { echo "$1 $2 $3" >>"$samples"; } # ROW RUNTIME VALUE
progress() { printf '%s\n' "bench: $*" >&2; }
status_of() { $C tasks ls 2>/dev/null | awk -v id="$1" '$1 == id {print $3}'; }
wait_status() { # ID STATUS SECONDS
	local i
	for i in $(seq 1 $(($3 * 10))); do
		[ "$(status_of "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	die "$1 is $(status_of "$1"), not $2, after $3 s"
}
run_detached() { # RUNTIME ID [ctr run options...] -- CMD...
	local r=$1 id=$2
	shift 2
	local opts=()
	while [ "$1" != -- ]; do opts+=("$1"); shift; done
	shift
	timeout 180 $C run -d --runtime "$(rt_name "$r")" "${opts[@]}" "$image" "$id" "$@" >/dev/null ||
		die "ctr run -d $id failed"
	wait_status "$id" RUNNING 60
}
teardown() { # ID...
	local id
	for id in "$@"; do timeout 60 $C tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true; done
	for id in "$@"; do
		wait_status "$id" STOPPED 60
		timeout 60 $C tasks rm "$id" >/dev/null 2>&1 || true
		timeout 60 $C containers rm "$id" >/dev/null
	done
}
# the shim serving a task: the process listening on the socket named in its bundle's address file
shim_socket() { local a; a=$(cat "$task_root/$1/address"); echo "${a#unix://}"; }
shim_pid() {
	local path
	path=$(shim_socket "$1")
	ss -xlpn | awk -v p="$path" '$5 == p' | grep -o '"containerd-shim[^"]*",pid=[0-9]*' |
		head -n1 | sed 's/.*pid=//'
}
# RSS and PSS in kB
mem_of() { awk '/^Rss:/ {r=$2} /^Pss:/ {p=$2} END {print r, p}' "/proc/$1/smaps_rollup"; }
qemu_of() { pgrep -P "$1" -f qemu-system-x86_64 | head -n1; }
# a pod's virtiofsd processes: the one the shim spawned and its sandboxed child (the server)
virtiofsd_of() { pgrep -f "virtiofsd .*$work/state/$1/" || true; }
# PSS in kB of several processes
pss_sum() {
	local p n=0 r q
	for p in "$@"; do read -r r q <<<"$(mem_of "$p")"; n=$((n + ${q:-0})); done
	echo "$n"
}
# CPU time (user + system) of several processes, in clock ticks
cpu_ticks() {
	local p n=0 t
	for p in "$@"; do
		t=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null) || t=0
		n=$((n + ${t:-0}))
	done
	echo "$n"
}

# ---- rows ----

# one idle pod: shim RSS/PSS, shim + QEMU PSS; exec latency and ttrpc State on the same pod
measure_idle() { # RUNTIME RUN
	local r=$1 i=$2 id="$prefix-idle-$1-$2" pid q rss pss qrss qpss vpss k t0 t1 out
	run_detached "$r" "$id" -- sleep 1000000
	sleep 2
	pid=$(shim_pid "$id")
	[ -n "$pid" ] || die "no shim process for $id"
	read -r rss pss <<<"$(mem_of "$pid")"
	if want idle; then
		sample shim_rss "$r" "$rss"
		sample shim_pss "$r" "$pss"
		if [ "$r" = cocoon ]; then
			q=$(qemu_of "$pid")
			[ -n "$q" ] || die "no QEMU under shim $pid"
			read -r qrss qpss <<<"$(mem_of "$q")"
			vpss=$(pss_sum $(virtiofsd_of "$id"))
			sample pod_mem "$r" $((pss + qpss + vpss))
			sample qemu_pss "$r" "$qpss"
			sample virtiofsd_pss "$r" "$vpss"
		else
			sample pod_mem "$r" "$pss"
		fi
	fi
	if want exec; then
		for k in 1 2 3; do
			t0=$(now)
			out=$(timeout 60 $C tasks exec --exec-id "$prefix-e$k" "$id" echo exec-ok 2>&1) ||
				die "exec in $id: $out"
			t1=$(now)
			[ "$out" = exec-ok ] || die "exec in $id printed: $out"
			sample exec "$r" "$(echo "$t1 - $t0" | bc -l)"
		done
	fi
	if want ttrpc; then
		for k in 1 16; do
			out=$("$state_bench" --socket "$(shim_socket "$id")" --namespace $ns --id "$id" \
				--seconds "$ttrpc_seconds" --callers $k) || die "task-state-bench on $id: $out"
			sample "ttrpc_$k" "$r" "$(echo "$out" | sed -n 's/^rate=\([0-9.]*\).*/\1/p')"
			sample "ttrpc_lat_$k" "$r" "$(echo "$out" | sed -n 's/.*latency_us=\([0-9.]*\).*/\1/p')"
		done
	fi
	teardown "$id"
}

# 4 containers in one pod (grouped by io.kubernetes.cri.sandbox-id, in both runtimes)
measure_pod4() { # RUNTIME RUN
	local r=$1 i=$2 pod="$prefix-pod-$1-$2" pid rss pss c ids=()
	for c in 0 1 2 3; do
		local type=container id="$pod-c$c"
		[ "$c" = 0 ] && type=sandbox && id=$pod
		run_detached "$r" "$id" --annotation "io.kubernetes.cri.sandbox-id=$pod" \
			--annotation "io.kubernetes.cri.container-type=$type" -- sleep 1000000
		ids+=("$id")
	done
	sleep 2
	pid=$(shim_pid "$pod")
	[ -n "$pid" ] || die "no shim process for $pod"
	for c in "${ids[@]:1}"; do
		[ "$(shim_pid "$c")" = "$pid" ] || die "$c is not served by the pod's shim $pid"
	done
	read -r rss pss <<<"$(mem_of "$pid")"
	sample pod4_rss "$r" "$rss"
	sample pod4_pss "$r" "$pss"
	teardown "${ids[@]:1}" "$pod"
}

# ctr run --rm IMAGE ID true: wall time; Cocoon's split comes from the shim's lines in containerd's log
measure_run() { # RUNTIME RUN
	local r=$1 i=$2 id="$prefix-true-$1-$2" t0 t1
	t0=$(now)
	timeout 180 $C run --rm --runtime "$(rt_name "$r")" "$image" "$id" true || die "ctr run --rm $id failed"
	t1=$(now)
	sample run "$r" "$(echo "$t1 - $t0" | bc -l)"
	[ "$r" = cocoon ] && echo "$id $t0 $t1" >>"$work/run-marks"
	return 0
}

# the confine row: ctr run --rm IMAGE ID true as measure_run, RUNTIME cocoon (confined), unconfined or
# runc; plus the CPU containerd's cgroup used meanwhile (ms)
measure_confine() { # RUNTIME RUN
	local r=$1 i=$2 id="$prefix-cf-$1-$2" t0 t1 c0="" c1
	[ -z "$cpu_cgroup" ] || c0=$(cpu_usage)
	t0=$(now)
	timeout 180 $C run --rm --runtime "$(rt_name "$r")" "$image" "$id" true || die "ctr run --rm $id failed"
	t1=$(now)
	if [ -n "$cpu_cgroup" ]; then
		c1=$(cpu_usage)
		sample confine_cpu "$r" "$(echo "($c1 - $c0) / 1000" | bc -l)"
	fi
	sample confine "$r" "$(echo "$t1 - $t0" | bc -l)"
	[ "$r" = runc ] || echo "$(rt_name "$r") $id $t0 $t1" >>"$work/confine-marks"
	return 0
}
# before the confine row: one pod of each Cocoon runtime, to see that QEMU is jailed in one and not in
# the other (its uid), and whether it left containerd's cgroup (else its CPU is in the figures)
confine_check() {
	local r id q uid cg out=
	for r in cocoon unconfined; do
		id="$prefix-cfcheck-$r"
		run_detached "$r" "$id" -- sleep 1000000
		q=$(pgrep -f "qemu-system-x86_64 .*$work/state/$id/" | head -n1)
		[ -n "$q" ] || die "no QEMU for $id"
		uid=$(awk '/^Uid:/ {print $2}' "/proc/$q/status")
		case $r in
		cocoon) [ "$uid" != 0 ] || die "the confined runtime's QEMU runs as root" ;;
		unconfined) [ "$uid" = 0 ] || die "the unconfined runtime's QEMU runs as uid $uid" ;;
		esac
		cg=out
		if [ -n "$cpu_cgroup" ] && grep -qx "$q" "$cpu_cgroup/cgroup.procs" 2>/dev/null; then cg=in; fi
		out+="$r:uid=$uid,qemu_cgroup=$cg "
		teardown "$id"
	done
	echo "$out" >"$work/confine-check"
	progress "confine check: $out"
}

# stdout of dd in the container through ctr's FIFO to a pipe reader: bytes/s from first to last byte
measure_stdout() { # RUNTIME RUN
	local r=$1 i=$2 id="$prefix-dd-$1-$2" stats rc bytes first last
	stats=$work/stdout-$id
	set +o pipefail
	timeout 600 $C run --rm --runtime "$(rt_name "$r")" "$image" "$id" \
		dd if=/dev/zero bs=1M count="$stdout_mib" 2>"$work/dd-$id.err" |
		python3 -c '
import os, sys, time
n = 0; first = last = None
while True:
    b = os.read(0, 1 << 20)
    if not b:
        break
    last = time.monotonic()
    if first is None:
        first = last
    n += len(b)
print(n, first or 0, last or 0)
' >"$stats"
	rc=${PIPESTATUS[0]}
	set -o pipefail
	[ "$rc" = 0 ] || die "ctr run $id (dd) exited $rc: $(tail -n3 "$work/dd-$id.err")"
	read -r bytes first last <"$stats"
	sample stdout_bytes "$r" "$bytes"
	if [ "$bytes" = $((stdout_mib * 1048576)) ]; then
		sample stdout_lossless "$r" 1
	else
		sample stdout_lossless "$r" 0
	fi
	sample stdout "$r" "$(echo "$bytes / ($last - $first) / 1048576" | bc -l)"
}

# the file system rows, in one container per column: VARIANT is cocoon (virtio-fs, the config's
# default), cocoon9p (the pod annotated shared_fs=9p) or runc. Times come from the guest's (or the
# host's, for runc) /proc/uptime around the operation inside the container, so ctr's exec overhead is
# not counted; host CPU is QEMU's and virtiofsd's utime + stime across the operation.
fs_exec() { # ID SCRIPT: prints the seconds between the two uptimes the script printed ("T0 T1")
	local out
	out=$(timeout 900 $C tasks exec --exec-id "$prefix-fs$RANDOM" "$1" sh -c "$2" 2>&1) ||
		die "exec in $1: $out"
	set -- $out
	[ $# = 2 ] || die "fs exec printed: $out"
	echo "$2 - $1" | bc -l
}
measure_fs() { # VARIANT RUN
	local v=$1 i=$2 r=cocoon id="$prefix-fs-$1-$2" vol opts=() qpid vpids place dir secs tick
	local q0 v0 q1 v1 op script amount unit
	local T0='t0=$(cut -d" " -f1 /proc/uptime)' T1='t1=$(cut -d" " -f1 /proc/uptime); echo $t0 $t1'
	[ "$v" = runc ] && r=runc
	tick=$(getconf CLK_TCK)
	vol=$work/fsvol-$v-$i
	mkdir -p "$vol"
	# the volume's read file is written on the host: cold in the guest's page cache
	dd if=/dev/urandom of="$vol/read.bin" bs=1M count="$fs_mib" status=none
	opts=(--mount "type=bind,src=$vol,dst=/vol,options=rbind:rw")
	[ "$v" = cocoon9p ] && opts+=(--annotation io.cocoon.config.hypervisor.shared_fs=9p)
	run_detached "$r" "$id" "${opts[@]}" -- sleep 1000000
	qpid= vpids=
	if [ "$r" = cocoon ]; then
		qpid=$(qemu_of "$(shim_pid "$id")")
		vpids=$(virtiofsd_of "$id")
		[ "$v" = cocoon9p ] && [ -n "$vpids" ] && die "the 9p pod $id runs a virtiofsd"
		[ "$v" = cocoon ] && [ -z "$vpids" ] && die "the virtio-fs pod $id runs no virtiofsd"
	fi
	for place in root vol; do
		dir=/fsbench
		[ "$place" = vol ] && dir=/vol/fsbench
		for op in write read create stat unlink; do
			[ "$op" = read ] && [ "$place" = root ] && continue
			amount=$fs_files unit=1000
			case $op in
			write) script="mkdir -p $dir; $T0; dd if=/dev/zero of=$dir/w.bin bs=1M count=$fs_mib conv=fsync 2>/dev/null; $T1"
				amount=$fs_mib unit=1 ;;
			read) script="$T0; dd if=/vol/read.bin of=/dev/null bs=1M 2>/dev/null; $T1"
				amount=$fs_mib unit=1 ;;
			create) script="mkdir -p $dir/m; cd $dir/m; $T0; seq 1 $fs_files | xargs touch; $T1" ;;
			stat) script="cd $dir/m; $T0; ls -l >/dev/null; $T1" ;;
			unlink) script="cd $dir/m; $T0; ls | xargs rm -f; $T1" ;;
			esac
			q0=0 v0=0 q1=0 v1=0
			[ -z "$qpid" ] || q0=$(cpu_ticks "$qpid")
			[ -z "$vpids" ] || v0=$(cpu_ticks $vpids)
			secs=$(fs_exec "$id" "$script")
			[ -z "$qpid" ] || q1=$(cpu_ticks "$qpid")
			[ -z "$vpids" ] || v1=$(cpu_ticks $vpids)
			# uptime has 10 ms steps: never divide by zero
			[ "$(echo "$secs < 0.01" | bc -l)" = 1 ] && secs=0.01
			sample "fs_${place}_$op" "$v" "$(echo "$amount / $secs" | bc -l)"
			# host CPU in ms per MiB (write, read) or per 1000 files (create, stat, unlink)
			[ -z "$qpid" ] ||
				sample "fs_${place}_${op}_qcpu" "$v" "$(echo "($q1 - $q0) * 1000 / $tick * $unit / $amount" | bc -l)"
			[ -z "$vpids" ] ||
				sample "fs_${place}_${op}_vcpu" "$v" "$(echo "($v1 - $v0) * 1000 / $tick * $unit / $amount" | bc -l)"
		done
	done
	teardown "$id"
	rm -rf "$vol"
}

progress "shim $shim_binary, guest $COCOON_GUEST_KERNEL${kernel_params:+ ($kernel_params)}${qemu_args:+ (QEMU $qemu_args)}, $runs runs, rows $rows, load $load_start"
if want confine; then confine_check; fi
for i in $(seq 1 "$runs"); do
	if want confine; then
		# the two Cocoon runtimes in alternating order, runc last
		confine_order="cocoon unconfined"
		[ $((i % 2)) = 0 ] && confine_order="unconfined cocoon"
		[ "$runtimes" = cocoon ] || confine_order+=" runc"
		for r in $confine_order; do
			progress "run $i/$runs $r: ctr run --rm true (confine row)"
			measure_confine "$r" "$i"
		done
	fi
	for r in $runtimes; do
		if want idle || want exec || want ttrpc; then progress "run $i/$runs $r: idle pod"; measure_idle "$r" "$i"; fi
		if want pod4; then progress "run $i/$runs $r: 4 containers in one pod"; measure_pod4 "$r" "$i"; fi
		if want run; then progress "run $i/$runs $r: ctr run --rm true"; measure_run "$r" "$i"; fi
		if want stdout; then progress "run $i/$runs $r: stdout ${stdout_mib} MiB"; measure_stdout "$r" "$i"; fi
	done
done
if want fs; then
	fs_variants="cocoon cocoon9p runc"
	[ "$runtimes" = cocoon ] && fs_variants="cocoon cocoon9p"
	for i in $(seq 1 "$fs_runs"); do
		for v in $fs_variants; do
			progress "fs run $i/$fs_runs $v: ${fs_mib} MiB write/read, $fs_files files"
			measure_fs "$v" "$i"
		done
	done
fi
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- the table ----
python3 - "$samples" "$log" "$work/run-marks" "$runs" "$stdout_mib" "$load_start" "$load_end" \
	"$rows" "$shim_binary" "$(uname -r)" "$(nproc)" "$fs_runs" "$fs_mib" "$fs_files" \
	"$work/confine-marks" "$(cat "$work/confine-check" 2>/dev/null)" <<'PY'
import re, statistics, sys, os
from datetime import datetime, timezone

(samples_path, log_path, marks_path, runs, mib, load0, load1, rows, shim, kernel, cpus,
 fs_runs, fs_mib, fs_files, confine_marks_path, confine_check) = sys.argv[1:]
data = {}
for line in open(samples_path):
    row, rt, value = line.split()
    data.setdefault((row, rt), []).append(float(value))

def med(row, rt):
    v = data.get((row, rt))
    return statistics.median(v) if v else None

# Cocoon's split of ctr run --rm: the shim's lines (pid=<shim>) in containerd's log
def stamp(line):
    m = re.match(r'time="(\d+-\d+-\d+T\d+:\d+:\d+)(\.\d+)?Z"', line)
    if not m:
        return None
    t = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp()
    return t + float(m.group(2) or 0)

log_lines = None
def split_of(marks, runtime):
    """marks: (task id, t0, t1) of runs of RUNTIME; the medians' inputs of each part of the split"""
    global log_lines
    split = {}
    if not marks:
        return split
    if log_lines is None:
        log_lines = open(log_path, errors="replace").read().splitlines()
    lines = log_lines
    for tid, t0, t1 in marks:
        t0, t1 = float(t0), float(t1)
        pid = None
        for l in lines:
            if "serving pod %s " % tid in l:
                m = re.search(r" pid=(\d+) ", l)
                pid = m and m.group(1)
                break
        if pid is None:
            continue
        mine = [l for l in lines if " pid=%s " % pid in l and "runtime=%s" % runtime in l]
        def at(pattern):
            for l in mine:
                if pattern in l:
                    return stamp(l)
            return None
        points = {
            "serving": at("serving pod %s " % tid),
            "qemu": at("sandbox %s: QEMU pid" % tid),
            "ready": at("sandbox %s: agent" % tid),
            "up": at("sandbox %s: VM up in" % tid),
            "create": at("event /tasks/create"),
            "start": at("event /tasks/start"),
            "exit": at("event /tasks/exit"),
        }
        if any(v is None for v in points.values()):
            continue
        parts = {
            "ctr + containerd + shim start (to serving)": points["serving"] - t0,
            "shim: Create to QEMU exec (accel, config)": points["qemu"] - points["serving"],
            "VM boot: QEMU exec to agent ready": points["ready"] - points["qemu"],
            "container create (after agent ready)": points["create"] - points["ready"],
            "container start": points["start"] - points["create"],
            "container run to exit": points["exit"] - points["start"],
            "delete, VM stop, shim exit, cleanup": t1 - points["exit"],
        }
        for k, v in parts.items():
            split.setdefault(k, []).append(v)
    return split

def marks_of(path, runtime=None):
    if not os.path.exists(path):
        return []
    out = []
    for line in open(path):
        f = line.split()
        if runtime is None:
            out.append(tuple(f))
        elif f[0] == runtime:
            out.append(tuple(f[1:]))
    return out

split = split_of(marks_of(marks_path), "io.containerd.cocoon.v2")

def fmt(v, unit):
    if v is None:
        return "-"
    if unit == "MB":
        return "%.1f MB" % (v / 1024.0)
    if unit == "s":
        return "%.2f s" % v
    if unit == "ms":
        return "%.0f ms" % (v * 1000.0)
    if unit == "msf":  # already in ms
        return "%.0f ms" % v
    if unit == "rps":
        return "%.0f /s" % v
    if unit == "us":
        return "%.0f us" % v
    if unit == "MiB/s":
        return "%.1f MiB/s" % v
    return "%g" % v

table = []
def row(label, key, unit, target=None, lower_better=True, runc_key=None):
    c = med(key, "cocoon")
    r = med(runc_key or key, "runc")
    ratio = "-"
    verdict = ""
    if c is not None and r:
        ratio = "%.2fx" % (c / r)
        if target is not None:
            ok = c <= target * r if lower_better else c >= target * r
            verdict = ("%s %g x runc: %s" % ("<=" if lower_better else ">=", target,
                                              "holds" if ok else "MISSED"))
    table.append((label, fmt(c, unit), fmt(r, unit), ratio, verdict))

if ("shim_rss", "cocoon") in data:
    row("shim RSS, 1 idle pod (sleep)", "shim_rss", "MB", 0.25)
    row("shim PSS, 1 idle pod", "shim_pss", "MB")
if ("pod4_rss", "cocoon") in data:
    row("shim RSS, 4 containers in 1 pod", "pod4_rss", "MB", 0.25)
    row("shim PSS, 4 containers in 1 pod", "pod4_pss", "MB")
if ("pod_mem", "cocoon") in data:
    row("host memory per pod: shim + QEMU + virtiofsd PSS (128 MiB guest; runc: shim)", "pod_mem", "MB")
    table.append(("  of which QEMU PSS", fmt(med("qemu_pss", "cocoon"), "MB"), "-", "", ""))
    table.append(("  of which virtiofsd PSS", fmt(med("virtiofsd_pss", "cocoon"), "MB"), "-", "", ""))
if ("run", "cocoon") in data:
    row("ctr run --rm IMAGE id true (wall)", "run", "s")
    for k, v in split.items():
        table.append(("  " + k, fmt(statistics.median(v), "ms"), "", "", ""))
if ("exec", "cocoon") in data:
    row("ctr task exec latency (echo, running pod)", "exec", "ms")
if ("ttrpc_1", "cocoon") in data:
    row("ttrpc Task/State round trips, 1 connection", "ttrpc_1", "rps", 2, False)
    row("  median latency per call, 1 connection", "ttrpc_lat_1", "us")
    row("ttrpc Task/State round trips, 16 concurrent (16 conns)", "ttrpc_16", "rps", 2, False)
    row("  median latency per call, 16 concurrent", "ttrpc_lat_16", "us")
if ("stdout", "cocoon") in data:
    row("stdout: dd %s MiB -> ctr -> pipe (first to last byte)" % mib, "stdout", "MiB/s", 0.5, False)
    for rt in ("cocoon", "runc"):
        ok = data.get(("stdout_lossless", rt), [])
        table.append(("  lossless runs, %s (%s bytes each)" % (rt, int(mib) * 1048576),
                      "%d/%d" % (sum(ok), len(ok)), "", "", ""))

if table:
    print("Cocoon vs containerd-shim-runc-v2 -- medians of %s runs; %s CPUs, host kernel %s" % (runs, cpus, kernel))
    print("shim: %s; load average at start %s, at end %s" % (shim, load0, load1))
    print()
    w = [max(len(t[i]) for t in table + [("", "cocoon", "runc-v2", "cocoon/runc", "target")]) for i in range(5)]
    hdr = ("measurement", "cocoon", "runc-v2", "cocoon/runc", "target")
    print("| " + " | ".join(h.ljust(w[i]) for i, h in enumerate(hdr)) + " |")
    print("|" + "|".join("-" * (w[i] + 2) for i in range(5)) + "|")
    for t in table:
        print("| " + " | ".join(t[i].ljust(w[i]) for i in range(5)) + " |")

# the confine row: QEMU jailed (hypervisor.confine = true) and not, runc beside
if ("confine", "cocoon") in data:
    ct = []
    def crow(label, key, unit, target=None, on=None, off=None):
        c = on if on is not None else med(key, "cocoon")
        u = off if off is not None else med(key, "unconfined")
        r = med(key, "runc") if key else None
        ratio = "%.3fx" % (c / u) if c is not None and u else "-"
        verdict = ""
        if target is not None and c is not None and u:
            verdict = "<= %g x off: %s" % (target, "holds" if c <= target * u else "MISSED")
        ct.append((label, fmt(c, unit), fmt(u, unit), ratio, fmt(r, unit) if key else "", verdict))
    crow("ctr run --rm IMAGE id true (wall)", "confine", "s", 1.10)
    if ("confine_cpu", "cocoon") in data:
        inside = "qemu_cgroup=in" in confine_check
        crow("  host CPU per run: containerd + shim%s" % (" + QEMU + virtiofsd (not moved out)" if inside else
             " (QEMU, virtiofsd: in the pod's cgroup, not counted)"), "confine_cpu", "msf")
    # containerd tags the wrapper's lines runtime=io.containerd.cocoon.v2 too: the shim's pid tells them
    son = split_of(marks_of(confine_marks_path, "io.containerd.cocoon.v2"), "io.containerd.cocoon")
    soff = split_of(marks_of(confine_marks_path, "io.containerd.cocoon-unconfined.v2"), "io.containerd.cocoon")
    for k in son:
        if k in soff:
            crow("  " + k, None, "ms", on=statistics.median(son[k]), off=statistics.median(soff[k]))
    print()
    print("VMM jail: Cocoon with hypervisor.confine = true (on, the default runtime) and false (off,"
          " io.containerd.cocoon-unconfined.v2), runc beside -- medians of %s runs, interleaved;"
          " load average at start %s, at end %s" % (runs, load0, load1))
    if confine_check:
        print("check before the runs (QEMU's uid; in containerd's cgroup or not): %s" % confine_check.strip())
    print()
    hdr = ("measurement", "confined (on)", "unconfined (off)", "on/off", "runc-v2", "target")
    w = [max(len(t[i]) for t in ct + [hdr]) for i in range(6)]
    print("| " + " | ".join(h.ljust(w[i]) for i, h in enumerate(hdr)) + " |")
    print("|" + "|".join("-" * (w[i] + 2) for i in range(6)) + "|")
    for t in ct:
        print("| " + " | ".join(t[i].ljust(w[i]) for i in range(6)) + " |")

# the file system table: three columns
if any(k[0].startswith("fs_") for k in data):
    fst = []
    cols = ("cocoon", "cocoon9p", "runc")
    def fsrow(label, key, unit):
        vals = []
        for c in cols:
            v = med(key, c)
            if v is None:
                vals.append("-")
            elif unit == "MiB/s":
                vals.append("%.1f MiB/s" % v)
            elif unit == "/s":
                vals.append("%.0f /s" % v)
            else:
                vals.append("%.1f %s" % (v, unit))
        fst.append((label,) + tuple(vals))
    names = {"root": "root fs", "vol": "volume"}
    for place in ("root", "vol"):
        for op, what, unit, cpu_unit in (
                ("write", "sequential write %s MiB (dd bs=1M conv=fsync)" % fs_mib, "MiB/s", "ms/MiB"),
                ("read", "sequential read %s MiB the host wrote (dd bs=1M)" % fs_mib, "MiB/s", "ms/MiB"),
                ("create", "create %s empty files (xargs touch)" % fs_files, "/s", "ms/1k files"),
                ("stat", "stat %s files (ls -l)" % fs_files, "/s", "ms/1k files"),
                ("unlink", "unlink %s files (xargs rm)" % fs_files, "/s", "ms/1k files")):
            key = "fs_%s_%s" % (place, op)
            if not any(k[0] == key for k in data):
                continue
            fsrow("%s: %s" % (names[place], what), key, unit)
            fsrow("  host CPU of QEMU", key + "_qcpu", cpu_unit)
            fsrow("  host CPU of virtiofsd", key + "_vcpu", cpu_unit)
    print()
    print("File systems -- medians of %s runs; times measured inside the container (the guest's"
          " /proc/uptime, 10 ms steps; under TCG the guest's CPU dominates), host CPU per unit of work"
          % fs_runs)
    print()
    hdr = ("file system operation", "cocoon virtio-fs", "cocoon 9p", "runc-v2")
    w = [max(len(t[i]) for t in fst + [hdr]) for i in range(4)]
    print("| " + " | ".join(h.ljust(w[i]) for i, h in enumerate(hdr)) + " |")
    print("|" + "|".join("-" * (w[i] + 2) for i in range(4)) + "|")
    for t in fst:
        print("| " + " | ".join(t[i].ljust(w[i]) for i in range(4)) + " |")
PY

# the CRI rows: a containerd of their own with the CRI plugin (tests/lib/containerd.sh CONTAINERD_CRI)
if want cri; then
	progress "cri: RunPodSandbox and a pod of two containers, $runs runs each"
	# its own containerd: not ours (containerd_start refuses to start while CONTAINERD_PID runs)
	env -u CONTAINERD_PID COCOON_BUILD_DIR="$build" "$repo/tests/bench/cri/cri-bench.sh" -n "$runs" ||
		echo "(the CRI rows failed: tests/bench/cri/cri-bench.sh exited $?)"
fi
