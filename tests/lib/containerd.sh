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
#
# CONTAINERD_CRI=1 keeps the CRI plugin (by default it is disabled) and sets it up for offline use:
# runtime handlers `runc` (io.containerd.runc.v2, the default) and `cocoon`
# (io.containerd.cocoon.v2); sandbox_image $CONTAINERD_CRI_SANDBOX_IMAGE, a static pause program
# in a busybox image that containerd_start builds and imports into k8s.io (nothing is ever pulled);
# CNI from /usr/lib/cni (Debian's containernetworking-plugins) with a bridge conflist in $dir/cni,
# bridge $CONTAINERD_CRI_BRIDGE on $CONTAINERD_CRI_SUBNET. Then CONTAINERD_CRI_ENDPOINT is the CRI
# socket (the same as CONTAINERD_ADDRESS) and containerd_stop also deletes the bridge.
# CONTAINERD_CRI_EXTRA_HANDLERS="NAME=RUNTIME_TYPE ..." adds runtime handlers to those two (unset:
# none), e.g. cocoon-unconfined=io.containerd.cocoon-unconfined.v2 (tests/lib/unconfined-shim.sh).
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
CONTAINERD_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# the CRI plugin's part of config.toml (CONTAINERD_CRI=1), and its CNI configuration under DIR/cni
containerd_cri_config() {
	local dir=$1
	local extra='' handler

	mkdir -p "$dir/cni/net.d" "$dir/cni/ipam" || return 1
	cat >"$dir/cni/net.d/10-cocoon-test.conflist" <<-JSON
		{
		  "cniVersion": "1.0.0",
		  "name": "cocoon-test",
		  "plugins": [
		    {
		      "type": "bridge",
		      "bridge": "$CONTAINERD_CRI_BRIDGE",
		      "isGateway": true,
		      "ipMasq": false,
		      "hairpinMode": true,
		      "ipam": {
		        "type": "host-local",
		        "dataDir": "$dir/cni/ipam",
		        "ranges": [[{ "subnet": "$CONTAINERD_CRI_SUBNET" }]],
		        "routes": [{ "dst": "0.0.0.0/0" }]
		      }
		    }
		  ]
		}
	JSON
	for handler in ${CONTAINERD_CRI_EXTRA_HANDLERS:-}; do
		case $handler in
		?*=?*) ;;
		*) echo "containerd_cri_config: CONTAINERD_CRI_EXTRA_HANDLERS: not NAME=TYPE: $handler" >&2
			return 1 ;;
		esac
		extra+="    [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.${handler%%=*}]
      runtime_type = \"${handler#*=}\"
"
	done
	cat <<-TOML
		[plugins."io.containerd.grpc.v1.cri"]
		  sandbox_image = "$CONTAINERD_CRI_SANDBOX_IMAGE"
		  # a random port on loopback: tests never stream, and several may run at once
		  stream_server_address = "127.0.0.1"
		  stream_server_port = "0"
		  disable_apparmor = true
		  # the pause container's oom_score_adj -998 needs CAP_SYS_RESOURCE, which test hosts
		  # (containers themselves) may lack: runc then fails with "can't get final child's PID"
		  restrict_oom_score_adj = true
		  [plugins."io.containerd.grpc.v1.cri".containerd]
		    snapshotter = "overlayfs"
		    default_runtime_name = "runc"
		    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
		      runtime_type = "io.containerd.runc.v2"
		    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.cocoon]
		      runtime_type = "io.containerd.cocoon.v2"
		$extra
		  [plugins."io.containerd.grpc.v1.cri".cni]
		    bin_dir = "/usr/lib/cni"
		    conf_dir = "$dir/cni/net.d"
		    max_conf_num = 1
	TOML
}

# build the static pause program and a busybox image around it, import it into k8s.io
containerd_cri_pause_image() {
	local dir=$1
	local repo

	repo=$(cd "$CONTAINERD_LIB_DIR/../.." && pwd)
	cc -static -O2 -o "$dir/pause" "$CONTAINERD_LIB_DIR/cri/pause.c" || {
		echo "containerd_cri_pause_image: cannot build a static pause (gcc, libc6-dev)" >&2
		return 1
	}
	python3 "$repo/scripts/build-busybox-oci.py" "$dir/pause.tar" \
		--name "$CONTAINERD_CRI_SANDBOX_IMAGE" --add "$dir/pause:pause" --cmd /pause >/dev/null ||
		return 1
	ctr --address "$CONTAINERD_ADDRESS" -n k8s.io images import "$dir/pause.tar" >/dev/null
}

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

	local cri_disabled='disabled_plugins = ["io.containerd.grpc.v1.cri"]'
	local cri_config=
	if [ "${CONTAINERD_CRI:-0}" = 1 ]; then
		: "${CONTAINERD_CRI_SANDBOX_IMAGE:=docker.io/cocoon-test/pause:latest}"
		: "${CONTAINERD_CRI_BRIDGE:=cocoon-cri0}"
		: "${CONTAINERD_CRI_SUBNET:=10.250.77.0/24}"
		export CONTAINERD_CRI_SANDBOX_IMAGE CONTAINERD_CRI_BRIDGE CONTAINERD_CRI_SUBNET
		cri_disabled=
		cri_config=$(containerd_cri_config "$dir") || return 1
	fi

	cat >"$dir/config.toml" <<-TOML
		version = 2
		root = "$dir/root"
		state = "$dir/state"
		# unless CONTAINERD_CRI=1: the CRI plugin is slow to start and not what most tests talk to
		$cri_disabled

		[grpc]
		  address = "$CONTAINERD_ADDRESS"

		[ttrpc]
		  address = "$CONTAINERD_TTRPC_ADDRESS"

		[debug]
		  address = "$dir/debug.sock"
		  level = "debug"

		$cri_config
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
	if [ "${CONTAINERD_CRI:-0}" = 1 ]; then
		CONTAINERD_CRI_ENDPOINT=$CONTAINERD_ADDRESS
		export CONTAINERD_CRI_ENDPOINT
		containerd_cri_pause_image "$dir" || {
			containerd_stop
			return 1
		}
	fi
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
	if [ "${CONTAINERD_CRI:-0}" = 1 ] && [ -n "${CONTAINERD_CRI_BRIDGE:-}" ] &&
		ip link show "$CONTAINERD_CRI_BRIDGE" >/dev/null 2>&1; then
		ip link delete "$CONTAINERD_CRI_BRIDGE" 2>/dev/null
	fi
	return 0
}
