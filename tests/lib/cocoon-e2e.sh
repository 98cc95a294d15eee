# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
#
# What every end-to-end test of the shim sets up, in one place. Source it, then:
#
#   cocoon_e2e_setup NAME [EXTRA-CONFIG]
#
# skips loudly (77) without root, containerd, QEMU, the built shim or a guest image; makes WORK
# (a new temporary directory), writes a cocoon config there (state in $WORK/state; EXTRA-CONFIG is
# appended, e.g. 'agent = { request_timeout_ms = 2000; };' replaces the agent section), exports
# COCOON_CONFIG and a PATH with the built shim first, starts a private containerd on $WORK/containerd,
# imports the busybox test image as $IMAGE, and sets C="ctr --address … -n NAME", RT (the --runtime
# flag), NS, BUILD and REPO. Call cocoon_e2e_teardown from your EXIT trap: it kills and removes every
# task and container of NAME, stops containerd, kills stray shims/QEMUs of this test, removes WORK.
# cocoon_e2e_qemu_pids / cocoon_e2e_shim_pids list what is left.

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${COCOON_BUILD_DIR:-${MESON_BUILD_ROOT:-$REPO/build}}
. "$REPO/tests/lib/containerd.sh"
. "$REPO/tests/lib/guest-image.sh"

cocoon_e2e_setup() {
	NS=$1
	local extra=${2:-}
	require_root_or_skip
	require_containerd_or_skip
	command -v qemu-system-x86_64 >/dev/null || skip_loudly "qemu-system-x86_64 is not installed"
	[ -x "$BUILD/src/shim/containerd-shim-cocoon-v2" ] || skip_loudly "shim not built in $BUILD"
	guest_image_ensure || skip_loudly "no guest image (see above)"

	WORK=$(mktemp -d "/tmp/cocoon-$NS.XXXXXX")
	cat >"$WORK/cocoon.conf" <<-CONF
		hypervisor = { kernel = "$COCOON_GUEST_KERNEL"; initrd = "$COCOON_GUEST_INITRD"; memory_mib = 256; };
		agent = { boot_timeout_ms = 60000; request_timeout_ms = 30000; };
		runtime = { state_dir = "$WORK/state"; log_level = "debug"; };
		$extra
	CONF
	export COCOON_CONFIG="$WORK/cocoon.conf"
	export PATH="$BUILD/src/shim:$PATH"
	containerd_start "$WORK/containerd"
	C="$CTR -n $NS"
	RT="--runtime io.containerd.cocoon.v2"
	IMAGE=docker.io/cocoon-test/busybox:latest
	python3 "$REPO/scripts/build-busybox-oci.py" "$WORK/busybox.tar" >/dev/null
	$C images import "$WORK/busybox.tar" >/dev/null
	export WORK NS C RT IMAGE
}

cocoon_e2e_qemu_pids() { pgrep -f "qemu-system-x86_64.*$WORK/state" || true; }
# this test's shims only: another test's containerd may use the same namespace (k8s.io for CRI)
cocoon_e2e_shim_pids() {
	pgrep -f "containerd-shim-cocoon-v2 .*-namespace $NS .*-address ${CONTAINERD_ADDRESS:-}( |$)" || true
}

cocoon_e2e_teardown() {
	set +e
	if [ -n "${C:-}" ] && [ -n "${CONTAINERD_PID:-}" ]; then
		local t c
		for t in $($C tasks ls -q 2>/dev/null); do $C tasks kill -s SIGKILL "$t" >/dev/null 2>&1; done
		sleep 1
		for t in $($C tasks ls -q 2>/dev/null); do $C tasks rm -f "$t" >/dev/null 2>&1; done
		for c in $($C containers ls -q 2>/dev/null); do $C containers rm "$c" >/dev/null 2>&1; done
	fi
	containerd_stop
	[ -z "${NS:-}" ] ||
		pkill -9 -f "containerd-shim-cocoon-v2 .*-namespace $NS .*-address ${CONTAINERD_ADDRESS:-}( |$)" 2>/dev/null
	if [ -n "${WORK:-}" ]; then
		pkill -9 -f "qemu-system-x86_64.*$WORK/state" 2>/dev/null
		pkill -9 -f "virtiofsd .*$WORK/state" 2>/dev/null
		grep -o " $WORK[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
		rm -rf "$WORK"
	fi
}

# cocoon_e2e_guard: after cocoon_e2e_setup, starts a watcher in its own session that waits for this
# shell to end and then, however it ended, kills what the test may have left and removes WORK: this test's
# shims (containerd starts them in their own process groups: a kill of the test's group misses them) with
# the container inits of its runc shims, its QEMUs and virtiofsds, its containerd. For `meson test`, whose
# timeout sends SIGTERM to the test's process group and SIGKILL half a second later, which ends an EXIT
# trap long before cocoon_e2e_teardown is done. After a teardown that ran to its end it finds nothing.
# Everything goes by environment, not argv: its own command line matches none of its patterns.
cocoon_e2e_guard() {
	# shellcheck disable=SC2016
	COCOON_GUARD_PID=$$ COCOON_GUARD_WORK=$WORK COCOON_GUARD_NS=$NS \
		COCOON_GUARD_ADDRESS=${CONTAINERD_ADDRESS:-} COCOON_GUARD_CONTAINERD=${CONTAINERD_PID:-} \
		setsid bash -c '
			pid=$COCOON_GUARD_PID work=$COCOON_GUARD_WORK ns=$COCOON_GUARD_NS
			address=$COCOON_GUARD_ADDRESS
			while [ -d "/proc/$pid" ]; do sleep 1; done
			[ -n "$work" ] && [ -n "$address" ] || exit 0
			for shim in $(pgrep -f "containerd-shim-runc-v2 -namespace $ns .*-address $address( |\$)"); do
				pkill -9 -P "$shim"
			done
			pkill -9 -f "containerd-shim-(cocoon|runc)-v2 .*-namespace $ns .*-address $address( |\$)"
			pkill -9 -f "qemu-system-x86_64.*$work/state"
			pkill -9 -f "virtiofsd .*$work/state"
			c=$COCOON_GUARD_CONTAINERD
			[ -n "$c" ] && grep -qF "$work" "/proc/$c/cmdline" 2>/dev/null && kill -9 "$c"
			sleep 1
			grep -o " $work[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l
			rm -rf "$work"
		' </dev/null >/dev/null 2>&1 &
}

# cocoon_e2e_leftovers: what of this test still runs (after cocoon_e2e_teardown: should be nothing)
cocoon_e2e_leftovers() {
	[ -n "${WORK:-}" ] || return 0
	pgrep -af "qemu-system-x86_64.*$WORK/state|virtiofsd .*$WORK/state" || true
	[ -z "${CONTAINERD_ADDRESS:-}" ] ||
		pgrep -af "containerd-shim-(cocoon|runc)-v2 .*-namespace $NS .*-address $CONTAINERD_ADDRESS( |$)" || true
}
