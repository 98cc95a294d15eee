#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# cri-bench.sh [-n RUNS] — CRI pod start through containerd's CRI API (tests/lib/cri/cri.py), Cocoon
# (handler cocoon) next to runc in the same run, interleaved, medians:
#   RunPodSandbox                     the call's wall time (Cocoon: the VM boots here)
#   pod of two containers, to ready   RunPodSandbox + 2 x (CreateContainer + StartContainer) until
#                                     both report CONTAINER_RUNNING
# Prints a markdown table; scripts/bench.sh --rows cri runs it. Needs what tests/e2e/cri/cri.sh
# needs (root, containerd, python3-grpcio, CNI plugins, a guest image).
set -uo pipefail

runs=5
[ "${1:-}" != -n ] || runs=${2:?}

. "$(dirname "${BASH_SOURCE[0]}")/../../lib/cocoon-e2e.sh"
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
}
trap cleanup EXIT
cocoon_e2e_setup k8s.io >&2
STATE=$(mktemp -d /tmp/cri-bench.XXXXXX)
sed -i "s|state_dir = \"$WORK/state\"|state_dir = \"$STATE\"|" "$WORK/cocoon.conf"
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
	echo "runp $(echo "$t1 - $t0" | bc)"
	echo "ready $(echo "$t2 - $t0" | bc)"
	$CRI stopp "$pod" >/dev/null && $CRI rmp "$pod" >/dev/null
}

declare -A samples
for run in $(seq "$runs"); do
	for handler in cocoon runc; do
		echo "cri-bench: run $run/$runs $handler" >&2
		while read -r key value; do
			samples[$key-$handler]+="$value "
		done < <(one_pod "$handler" "$run")
	done
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{ a[NR] = $1 } END { if (NR) printf "%.2f s", (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; else printf "-" }'; }
printf '\nCRI pods -- medians of %s runs (containerd CRI API, busybox, pause image built locally)\n\n' "$runs"
printf '| %-52s | %-10s | %-10s |\n' measurement cocoon runc-v2
printf '|%s|%s|%s|\n' "------------------------------------------------------" "------------" "------------"
printf '| %-52s | %-10s | %-10s |\n' "CRI RunPodSandbox" "$(median <<<"${samples[runp-cocoon]:-}")" "$(median <<<"${samples[runp-runc]:-}")"
printf '| %-52s | %-10s | %-10s |\n' "pod of two containers, RunPodSandbox to both started" "$(median <<<"${samples[ready-cocoon]:-}")" "$(median <<<"${samples[ready-runc]:-}")"
