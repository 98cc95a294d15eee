# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
#
# A private containerd for tests. Source it, then:
#
#   require_root_or_skip
#   containerd_start "$dir"        # config, sockets, root, state and log under $dir
#   trap containerd_stop EXIT
#   $CTR version                   # CTR="ctr --address $CONTAINERD_ADDRESS"
#
# Exports CONTAINERD_ADDRESS (gRPC socket), CONTAINERD_TTRPC_ADDRESS, CTR, CONTAINERD_PID,
# CONTAINERD_DIR. containerd_stop may be called any number of times.
# Note: whatever `state` says, containerd 1.6 still puts shim sockets, ctr FIFOs and runc state
# under /run/containerd/{s,fifo,runc}.

# print "SKIP: MSG" on stderr and end the test with 77 (meson's and automake's skip code)
skip_loudly() {
	echo "SKIP: $*" >&2
	exit 77
}

require_root_or_skip() {
	if [ "$(id -u)" != 0 ]; then
		skip_loudly "${0##*/} needs root (running as uid $(id -u))"
	fi
}

require_containerd_or_skip() {
	local tool
	for tool in containerd ctr; do
		if ! command -v "$tool" >/dev/null 2>&1; then
			skip_loudly "${0##*/} needs $tool (apt-get install containerd)"
		fi
	done
}

# containerd_start DIR [TIMEOUT-SECONDS]: start containerd on DIR, wait until ctr gets an answer
containerd_start() {
	local dir=$1
	local timeout=${2:-30}
	local waited=0

	if [ -z "$dir" ]; then
		echo "containerd_start: usage: containerd_start DIR [TIMEOUT]" >&2
		return 2
	fi
	if [ -n "${CONTAINERD_PID:-}" ] && kill -0 "$CONTAINERD_PID" 2>/dev/null; then
		echo "containerd_start: containerd $CONTAINERD_PID is already running" >&2
		return 1
	fi
	require_containerd_or_skip
	mkdir -p "$dir" || return 1
	dir=$(cd "$dir" && pwd) || return 1
	# unix socket paths are limited to 107 bytes
	if [ $((${#dir} + 24)) -gt 107 ]; then
		echo "containerd_start: $dir is too long for unix socket paths" >&2
		return 1
	fi

	CONTAINERD_DIR=$dir
	CONTAINERD_ADDRESS=$dir/containerd.sock
	CONTAINERD_TTRPC_ADDRESS=$dir/containerd.sock.ttrpc
	CTR="ctr --address $CONTAINERD_ADDRESS"
	export CONTAINERD_DIR CONTAINERD_ADDRESS CONTAINERD_TTRPC_ADDRESS CTR

	cat >"$dir/config.toml" <<-TOML
		version = 2
		root = "$dir/root"
		state = "$dir/state"
		# the CRI plugin is slow to start and not what these tests talk to
		disabled_plugins = ["io.containerd.grpc.v1.cri"]

		[grpc]
		  address = "$CONTAINERD_ADDRESS"

		[ttrpc]
		  address = "$CONTAINERD_TTRPC_ADDRESS"

		[debug]
		  address = "$dir/debug.sock"
		  level = "debug"
	TOML

	containerd --config "$dir/config.toml" >"$dir/containerd.log" 2>&1 &
	CONTAINERD_PID=$!
	export CONTAINERD_PID

	until ctr --address "$CONTAINERD_ADDRESS" --timeout 2s version >/dev/null 2>&1; do
		if ! kill -0 "$CONTAINERD_PID" 2>/dev/null; then
			echo "ERROR: containerd exited during start; $dir/containerd.log:" >&2
			tail -n 30 "$dir/containerd.log" >&2
			unset CONTAINERD_PID
			return 1
		fi
		if [ "$waited" -ge $((timeout * 10)) ]; then
			echo "ERROR: containerd did not answer 'ctr version' within ${timeout}s" \
				"on $CONTAINERD_ADDRESS; last lines of $dir/containerd.log:" >&2
			tail -n 30 "$dir/containerd.log" >&2
			containerd_stop
			return 1
		fi
		sleep 0.1
		waited=$((waited + 1))
	done
	return 0
}

# containerd_stop: SIGTERM, up to 10 s, then SIGKILL; waits for it; a no-op when not running
containerd_stop() {
	local pid=${CONTAINERD_PID:-}
	local i

	[ -n "$pid" ] || return 0
	unset CONTAINERD_PID
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null
		for i in $(seq 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			echo "containerd_stop: containerd $pid ignored SIGTERM for 10s, killing it" >&2
			kill -KILL "$pid" 2>/dev/null
		fi
	fi
	wait "$pid" 2>/dev/null || true
	return 0
}
