#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# workloads.sh — real workloads on the pod's file system (issue 14): the same checks in a Debian
# bookworm container (scripts/build-debian-oci.sh) under runc, under Cocoon with shared_fs = "virtio-fs"
# and, for information only, under Cocoon with shared_fs = "9p"; each on the container's root file system
# and on a bind-mounted volume. The checks (tests/e2e/fs/workloads-checks.sh, run in the container):
# SQLite WAL with two concurrent writers, python3 sqlite3 locking between two processes, stress-ng file
# system stressors with --verify, a dpkg install of hello (fetched on the host with apt-get download).
#
# prints a table side by side and fails when a check that passes under runc does not pass under Cocoon
# with virtio-fs, unless it is named in KNOWN_EXCEPTIONS below. Skips (77) without root, containerd,
# QEMU, a guest image, or when mmdebstrap cannot be installed.
# knobs: WL_RUNTIMES (default "runc virtio-fs 9p"), WL_TX, WL_ROWS, WL_STRESS_TIMEOUT, WL_STRESSORS,
# WL_CHECK_TIMEOUT (seconds one check may take in the container, see workloads-checks.sh), WL_RUN_TIMEOUT
# (seconds one runtime's `ctr run` may take, all checks on both locations).
#
# never hangs: every check has its own timeout in the container, every `ctr run` one here. When a run
# fails or times out it prints the end of its output (the check that began and never ended) and the pod's
# console, QEMU and virtiofsd logs; after a timeout also the state of QEMU's and virtiofsd's threads, then
# it kills the pod and goes on with the next runtime. A watcher (cocoon_e2e_guard) kills what is left
# when the test itself is killed, by meson's timeout too.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/../../lib/cocoon-e2e.sh"

# the one list of checks allowed to fail under virtio-fs although they pass under runc:
# "CHECK@LOCATION reason" (LOCATION rootfs or volume, or * for both). every entry must say which limit
# (of Linux 6.1's FUSE, of virtiofsd) it is, not of Cocoon.
KNOWN_EXCEPTIONS=(
)

RUNTIMES=${WL_RUNTIMES:-runc virtio-fs 9p}
# how long one `ctr run` (every check, both locations) may take: measured on 2 cores under a load
# average of 6-7 (other builds and tests), every check ending: runc 132 s, virtio-fs 323 s, 9p 712 s
# (two stress-ng stressors run into their own timeout there). Room for about twice that, or for one check
# stuck until its own timeout (WL_CHECK_TIMEOUT). All three at their limit fit meson's 3600 s.
declare -A RUN_TIMEOUT=([runc]=600 [virtio-fs]=900 [9p]=1500)

keeper=
teardown() {
	[ -z "$keeper" ] || kill "$keeper" 2>/dev/null
	[ -z "${WORK:-}" ] || pkill -9 -f "virtiofsd.*$WORK/state" 2>/dev/null
	cocoon_e2e_teardown
	local left i
	for i in 1 2 3 4 5; do
		left=$(cocoon_e2e_leftovers)
		[ -n "$left" ] || return 0
		sleep 1
	done
	printf 'FAIL: left running after the teardown:\n%s\n' "$left" >&2
	exit 1
}
trap teardown EXIT
cocoon_e2e_setup fs-workloads
cocoon_e2e_guard

image=$("$REPO/scripts/build-debian-oci.sh")
if [ -z "$image" ] || [ ! -s "$image" ]; then
	command -v mmdebstrap >/dev/null || skip_loudly "mmdebstrap cannot be installed (apt-get install mmdebstrap)"
	echo "FAIL: scripts/build-debian-oci.sh built no image" >&2
	exit 1
fi
$C images import "$image" >/dev/null || { echo "FAIL: ctr images import $image" >&2; exit 1; }
DEBIAN=docker.io/cocoon-test/debian:bookworm

# hello.deb from the host's apt (its cache, else the archive); without it that check is skipped everywhere
mkdir -p "$WORK/deb"
chown _apt "$WORK/deb" 2>/dev/null
(cd "$WORK/deb" && apt-get download -q hello >/dev/null 2>&1) ||
	cp /var/cache/apt/archives/hello_*.deb "$WORK/deb/" 2>/dev/null ||
	echo "note: apt-get download hello failed; dpkg-install is skipped" >&2
deb=$(cd "$WORK/deb" && ls hello_*.deb 2>/dev/null | head -1)

# keep_logs RUNTIME: copies the pod's logs out of its state directory every 2 s (the shim removes that
# directory with the pod, and a VM that died takes the task with it)
keep_logs() {
	local f
	mkdir -p "$WORK/logs-$1"
	while :; do
		for f in console.log qemu.log virtiofsd.log; do
			[ ! -f "$WORK/state/wl-$1/$f" ] || cp -f "$WORK/state/wl-$1/$f" "$WORK/logs-$1/$f" 2>/dev/null
		done
		sleep 2
	done
}

# progress RUNTIME: the checks' BEGIN and RESULT lines on stdin, shortened, on stdout
progress() {
	local line
	while IFS= read -r line; do
		case $line in
		"BEGIN "* | "RESULT "*) echo "   $1: ${line:0:110}" ;;
		esac
	done
}

# show_failure RUNTIME OUT RC LIMIT: what there is to know about a `ctr run` that failed or timed out
show_failure() {
	local rt=$1 out=$2 rc=$3 limit=$4 f dir pid
	echo "-- $rt: ctr run failed (rc=$rc$( ((rc == 124 || rc == 137)) && echo ", timed out after $limit s")); the end of its output:"
	tail -n 15 "$out" | sed 's/^/   /'
	# the check that said BEGIN and never RESULT: where it is stuck
	awk '$1 == "BEGIN" { b[$2 " " $3] = $0 } $1 == "RESULT" { delete b[$2 " " $3] }
		END { for (k in b) print "-- began, never ended: " b[k] }' "$out"
	[ "$rt" != runc ] || return 0
	for f in console.log qemu.log virtiofsd.log; do
		dir=$WORK/state/wl-$rt
		[ -f "$dir/$f" ] || dir=$WORK/logs-$rt
		echo "-- $rt: $f (the last 40 lines, from $dir):"
		tail -n 40 "$dir/$f" 2>/dev/null | sed 's/^/   /'
	done
	((rc == 124 || rc == 137)) || return 0
	# the pod still runs: how its processes are
	for pid in $(pgrep -f "qemu-system-x86_64.*$WORK/state/wl-$rt/|virtiofsd .*$WORK/state/wl-$rt/") \
		$(pgrep -f "containerd-shim-cocoon-v2 .*-id wl-$rt .*-address $CONTAINERD_ADDRESS( |$)"); do
		echo "-- $rt: pid $pid $(tr '\0' ' ' <"/proc/$pid/cmdline" | cut -c1-60)..., its threads:"
		ps -L -o tid=,stat=,wchan:32=,time=,comm= -p "$pid" | sed 's/^/   /'
	done
}

# kill_pod RUNTIME: the pod of a `ctr run` that timed out goes, QEMU too if its guest does not answer
kill_pod() {
	local rt=$1 i
	$C tasks kill -s SIGKILL "wl-$rt" >/dev/null 2>&1
	for i in $(seq 30); do
		$C tasks ls -q 2>/dev/null | grep -qx "wl-$rt" || break
		[ "$i" != 10 ] || pkill -9 -f "qemu-system-x86_64.*$WORK/state/wl-$rt/"
		sleep 1
	done
	$C tasks rm -f "wl-$rt" >/dev/null 2>&1
	$C containers rm "wl-$rt" >/dev/null 2>&1
}

declare -A status detail seconds
checks=()
run_one() { # RUNTIME (runc | virtio-fs | 9p)
	local rt=$1 flag vol out line loc check st secs rest
	case $rt in
	runc) flag="--runtime io.containerd.runc.v2" ;;
	*)
		flag=$RT
		sed -i -E "s/memory_mib = 256;( shared_fs = \"[^\"]*\";)?/memory_mib = 256; shared_fs = \"$rt\";/" "$WORK/cocoon.conf"
		;;
	esac
	vol=$WORK/vol-$rt
	mkdir -p "$vol"
	cp "$HERE/workloads-checks.sh" "$vol/checks.sh"
	[ -z "$deb" ] || cp "$WORK/deb/$deb" "$vol/hello.deb"
	out=$WORK/out-$rt.txt
	local env=(--env "WL_TX=${WL_TX:-20}" --env "WL_ROWS=${WL_ROWS:-25}"
		--env "WL_STRESS_TIMEOUT=${WL_STRESS_TIMEOUT:-5}")
	[ -z "${WL_STRESSORS:-}" ] || env+=(--env "WL_STRESSORS=$WL_STRESSORS")
	[ -z "${WL_SHOW_LOGS:-}" ] || env+=(--env "WL_SHOW_LOGS=1")
	[ -z "${WL_CHECK_TIMEOUT:-}" ] || env+=(--env "WL_CHECK_TIMEOUT=$WL_CHECK_TIMEOUT")
	local t0=$SECONDS rc secs_run limit=${WL_RUN_TIMEOUT:-${RUN_TIMEOUT[$rt]}}
	if [ "$rt" != runc ]; then
		keep_logs "$rt" &
		keeper=$!
	fi
	# ctr passes SIGTERM on to the container, whose sh (pid 1) ignores it: SIGKILL 20 s later.
	# the checks' BEGIN and RESULT lines are shown as they come: a log cut short says where it was
	# shellcheck disable=SC2086
	timeout -k 20 "$limit" $C run --rm $flag "${env[@]}" \
		--mount "type=bind,src=$vol,dst=/data,options=rbind:rw" "$DEBIAN" "wl-$rt" \
		sh -c "sh /data/checks.sh rootfs /var/tmp/wl /data/hello.deb; sh /data/checks.sh volume /data/wl /data/hello.deb" \
		2>&1 | tee "$out" | progress "$rt"
	rc=${PIPESTATUS[0]}
	secs_run=$((SECONDS - t0))
	echo "== $rt: ctr run rc=$rc in $secs_run s"
	grep -v -E '^(RESULT|BEGIN) ' "$out" | head -20
	if [ "$rc" != 0 ]; then
		show_failure "$rt" "$out" "$rc" "$limit"
		((rc != 124 && rc != 137)) || kill_pod "$rt"
	fi
	if [ -n "$keeper" ]; then
		kill "$keeper" 2>/dev/null
		wait "$keeper" 2>/dev/null
		keeper=
	fi
	while read -r line; do
		read -r _ loc check st secs rest <<<"$line"
		[ -n "${status[$check@$loc@runc]+x}${status[$check@$loc@virtio-fs]+x}${status[$check@$loc@9p]+x}" ] ||
			checks+=("$check@$loc")
		status[$check@$loc@$rt]=$st
		seconds[$check@$loc@$rt]=$secs
		detail[$check@$loc@$rt]=$rest
	done < <(grep '^RESULT ' "$out")
	# the run itself is a check: it must end, with 0
	[ -n "${status[ctr-run@pod@runc]+x}${status[ctr-run@pod@virtio-fs]+x}${status[ctr-run@pod@9p]+x}" ] ||
		checks+=("ctr-run@pod")
	status[ctr-run@pod@$rt]=$([ "$rc" = 0 ] && echo PASS || echo FAIL)
	seconds[ctr-run@pod@$rt]=$secs_run
	detail[ctr-run@pod@$rt]="rc=$rc$( ((rc == 124 || rc == 137)) && echo " timed out after $limit s")"
}

for rt in $RUNTIMES; do
	run_one "$rt"
done

known() { # CHECK@LOCATION -> prints the reason when listed
	local entry key
	for entry in "${KNOWN_EXCEPTIONS[@]}"; do
		key=${entry%% *}
		if [ "$key" = "$1" ] || [ "$key" = "${1%@*}@*" ]; then
			echo "${entry#* }"
			return 0
		fi
	done
	return 1
}

failed=0
echo
printf '%-22s %-8s | %-14s | %-14s | %-14s | %s\n' CHECK WHERE runc virtio-fs "9p (info)" verdict
printf '%s\n' "--------------------------------------------------------------------------------------------"
for key in "${checks[@]}"; do
	check=${key%@*}
	loc=${key#*@}
	cells=()
	for rt in runc virtio-fs 9p; do
		if [ -n "${status[$key@$rt]+x}" ]; then
			cells+=("${status[$key@$rt]} ${seconds[$key@$rt]}s")
		else
			cells+=("-")
		fi
	done
	verdict=ok
	# a run of virtio-fs that did not end by itself fails, with or without runc to compare
	if { [ "${status[$key@runc]:-}" = PASS ] || [ "$key" = ctr-run@pod ]; } &&
		[[ " $RUNTIMES " == *" virtio-fs "* ]] && [ "${status[$key@virtio-fs]:-}" != PASS ]; then
		if reason=$(known "$key"); then
			verdict="known: $reason"
		else
			verdict=FAIL
			failed=1
		fi
	fi
	printf '%-22s %-8s | %-14s | %-14s | %-14s | %s\n' "$check" "$loc" "${cells[@]}" "$verdict"
done
echo
for key in "${checks[@]}"; do
	for rt in runc virtio-fs 9p; do
		[ -n "${status[$key@$rt]+x}" ] || continue
		[ "${status[$key@$rt]}" = PASS ] && [ -z "${WL_VERBOSE:-}" ] && continue
		echo "$rt $key: ${status[$key@$rt]} ${detail[$key@$rt]}"
	done
done
if [ ${#checks[@]} -eq 0 ]; then
	echo "FAIL: no check reported anything" >&2
	exit 1
fi
if [[ " $RUNTIMES " == *" runc "* ]] && ! for k in "${checks[@]}"; do echo "${status[$k@runc]:-}"; done | grep -x PASS >/dev/null; then
	echo "FAIL: nothing passed under runc: the comparison means nothing" >&2
	exit 1
fi
[ $failed = 0 ] && echo "PASS: every check that passes under runc passes under Cocoon with virtio-fs"
exit $failed
