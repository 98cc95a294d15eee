#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# cri-bench.sh [-n RUNS] — CRI pod start through containerd's CRI API (tests/lib/cri/cri.py), Cocoon
# (handler cocoon, QEMU confined: hypervisor.confine = true), Cocoon unconfined (handler
# cocoon-unconfined, io.containerd.cocoon-unconfined.v2: the same shim with hypervisor.confine = false,
# tests/lib/unconfined-shim.sh) and runc in the same run, interleaved (the two Cocoon handlers in
# alternating order), medians:
#   RunPodSandbox                     the call's wall time (Cocoon: the VM boots here); on/off is
#                                     checked against issue 16's 10 %
#   pod of two containers, to ready   RunPodSandbox + 2 x (CreateContainer + StartContainer) until
#                                     both report CONTAINER_RUNNING
# Each Cocoon pod's QEMU uid is checked (a leased one with the jail on, 0 with it off).
# Prints a markdown table; scripts/bench.sh --rows cri runs it. Needs what tests/e2e/cri/cri.sh
# needs (root, containerd, python3-grpcio, CNI plugins, a guest image).
set -uo pipefail

runs=5
[ "${1:-}" != -n ] || runs=${2:?}

. "$(dirname "${BASH_SOURCE[0]}")/../../lib/cocoon-e2e.sh"
. "$REPO/tests/lib/unconfined-shim.sh"
require_root_or_skip
PY=/usr/bin/python3
"$PY" -c 'import grpc, grpc_tools, google.protobuf' 2>/dev/null ||
	skip_loudly "python3-grpcio/python3-grpc-tools/python3-protobuf missing"
[ -x /usr/lib/cni/bridge ] || skip_loudly "CNI plugins missing in /usr/lib/cni"

export CONTAINERD_CRI=1
export CONTAINERD_CRI_BRIDGE=cbench$(($$ % 100000)) CONTAINERD_CRI_SUBNET=10.251.$(($$ % 200 + 20)).0/24
cleanup() {
	local pod
	if [ -n "${CRI:-}" ] && [ -n "${CONTAINERD_PID:-}" ]; then
		for pod in $($CRI pods 2>/dev/null | "$PY" -c 'import json,sys; [print(p["id"]) for p in json.load(sys.stdin)]' 2>/dev/null); do
			$CRI stopp "$pod" >/dev/null 2>&1
			$CRI rmp "$pod" >/dev/null 2>&1
		done
	fi
	cocoon_e2e_teardown
	[ -z "${STATE:-}" ] || rm -rf "$STATE"
	[ -z "${UNCONFINED:-}" ] || rm -rf "$UNCONFINED"
}
trap cleanup EXIT
# the wrapper must be on containerd's PATH before it starts; its config is written once ours is final
UNCONFINED=$(mktemp -d /tmp/cri-bench-unconfined.XXXXXX)
[ -x "$BUILD/src/shim/containerd-shim-cocoon-v2" ] || skip_loudly "shim not built in $BUILD"
unconfined_shim_install "$UNCONFINED" "$BUILD/src/shim/containerd-shim-cocoon-v2" "$UNCONFINED/cocoon.conf" ||
	exit 1
export CONTAINERD_CRI_EXTRA_HANDLERS="cocoon-unconfined=$UNCONFINED_RUNTIME"
cocoon_e2e_setup k8s.io >&2
STATE=$(mktemp -d /tmp/cri-bench.XXXXXX)
sed -i "s|state_dir = \"$WORK/state\"|state_dir = \"$STATE\"|" "$WORK/cocoon.conf"
cp "$WORK/cocoon.conf" "$UNCONFINED/cocoon.conf" && unconfined_shim_config "$UNCONFINED/cocoon.conf" || exit 1
export CRI_GEN_DIR=$WORK/cri-gen CRI_TIMINGS=$WORK/timings
CRI="$PY $REPO/tests/lib/cri/cri.py --address $CONTAINERD_CRI_ENDPOINT"
for _ in $(seq 100); do $CRI version >/dev/null 2>&1 && break; sleep 0.3; done

now() { date +%s.%N; }
one_pod() { # HANDLER RUN: prints "runp SECONDS" and "ready SECONDS"
	local handler=$1 run=$2 dir=$WORK/pods/$1-$2 pod t0 t1 t2 c
	mkdir -p "$dir/logs"
	t0=$(now)
	pod=$($CRI runp --name "bench-$handler-$run" --uid "uid-$run-$RANDOM" --namespace bench \
		--log-dir "$dir/logs" --runtime-handler "$handler" --config-out "$dir/pod.json") || return 1
	t1=$(now)
	for c in a b; do
		c=$($CRI create "$pod" --pod-config "$dir/pod.json" --name "app-$c" --image "$IMAGE" \
			--log-path "app-$c.log" -- sleep 3600) && $CRI start "$c" || return 1
	done
	t2=$(now)
	# the two Cocoon handlers really differ: QEMU under a leased uid (on) or root (off)
	if [ "$handler" != runc ]; then
		local q uid
		q=$(pgrep -f "qemu-system-x86_64 .*$STATE/$pod/" | head -n1)
		uid=$(awk '/^Uid:/ {print $2}' "/proc/$q/status" 2>/dev/null)
		case $handler:$uid in
		cocoon:0 | cocoon:"" | cocoon-unconfined:[!0]* | cocoon-unconfined:"")
			echo "cri-bench: $handler pod $pod: QEMU ${q:-not found}, uid ${uid:-?}" >&2
			return 1 ;;
		esac
	fi
	echo "runp $(echo "$t1 - $t0" | bc)"
	echo "ready $(echo "$t2 - $t0" | bc)"
	$CRI stopp "$pod" >/dev/null && $CRI rmp "$pod" >/dev/null
}

declare -A samples
for run in $(seq "$runs"); do
	order="cocoon cocoon-unconfined runc"
	[ $((run % 2)) = 0 ] && order="cocoon-unconfined cocoon runc"
	for handler in $order; do
		echo "cri-bench: run $run/$runs $handler" >&2
		while read -r key value; do
			samples[$key-$handler]+="$value "
		done < <(one_pod "$handler" "$run")
	done
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{ a[NR] = $1 } END { if (NR) printf "%.2f s", (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; else printf "-" }'; }
ratio() { # ON OFF ("1.23 s")
	awk -v a="${1% s}" -v b="${2% s}" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.3fx", a / b; else printf "-" }'
}
verdict() { # ON OFF
	awk -v a="${1% s}" -v b="${2% s}" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "<= 1.1 x off: %s", (a <= 1.1 * b) ? "holds" : "MISSED" }'
}
line() { # LABEL KEY TARGET?
	local on off
	on=$(median <<<"${samples[$2-cocoon]:-}")
	off=$(median <<<"${samples[$2-cocoon-unconfined]:-}")
	printf '| %-52s | %-13s | %-16s | %-7s | %-10s | %-20s |\n' "$1" "$on" "$off" "$(ratio "$on" "$off")" \
		"$(median <<<"${samples[$2-runc]:-}")" "$([ -z "${3:-}" ] || verdict "$on" "$off")"
}
printf '\nCRI pods -- medians of %s runs (containerd CRI API, busybox, pause image built locally); Cocoon with\n' "$runs"
printf 'the VMM jail on (handler cocoon, the default) and off (handler cocoon-unconfined); load average now %s\n\n' \
	"$(cut -d' ' -f1-3 /proc/loadavg)"
printf '| %-52s | %-13s | %-16s | %-7s | %-10s | %-20s |\n' measurement "cocoon (on)" "cocoon (off)" on/off runc-v2 target
printf '|%s|%s|%s|%s|%s|%s|\n' "------------------------------------------------------" "---------------" \
	"------------------" "---------" "------------" "----------------------"
line "CRI RunPodSandbox" runp 1
line "pod of two containers, RunPodSandbox to both started" ready
