#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# cocoonctl against real pods: containerd (private sockets) + ctr run two pods with
# runtime io.containerd.cocoon.v2, the shims on a private D-Bus session bus (runtime.dbus =
# "session"). `cocoonctl list --json` shows both pods with their containers, on the bus and from
# the peer sockets alone; inspect, events; `cocoonctl check` passes (TCG here) and fails clearly
# with a missing kernel. Confinement (hypervisor.confine, the default): check's confinement lines
# are ok, inspect and list --json show each pod's QEMU confined (a uid of confine.uid_*, seccomp
# filter, mount and PID namespaces of its own), and confine = false is a warning. Needs root, containerd, QEMU, dbus-daemon, a guest image; SKIP otherwise.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
build=${COCOON_BUILD_DIR:-${MESON_BUILD_ROOT:-$repo/build}}
. "$repo/tests/lib/containerd.sh"
. "$repo/tests/lib/guest-image.sh"

require_root_or_skip
command -v containerd >/dev/null || skip_loudly "containerd is not installed"
command -v qemu-system-x86_64 >/dev/null || skip_loudly "qemu-system-x86_64 is not installed"
command -v dbus-daemon >/dev/null || skip_loudly "dbus-daemon is not installed"
[ -x "$build/src/shim/containerd-shim-cocoon-v2" ] || skip_loudly "shim not built in $build"
[ -x "$build/src/cocoonctl/cocoonctl" ] || skip_loudly "cocoonctl not built in $build"
guest_image_ensure || skip_loudly "no guest image (see above)"

work=$(mktemp -d /tmp/cocoon-ctl.XXXXXX)
ns="-n cocoon-ctl"
failures=0
bus_pid=
events_pid=
cleanup() {
	set +e
	[ -n "$events_pid" ] && kill "$events_pid" 2>/dev/null
	for c in podA podA-c2 podB; do
		$CTR $ns tasks kill -s SIGKILL "$c" >/dev/null 2>&1
	done
	sleep 1
	for c in podA-c2 podA podB; do
		$CTR $ns tasks rm -f "$c" >/dev/null 2>&1
		$CTR $ns containers rm "$c" >/dev/null 2>&1
	done
	containerd_stop
	for pid in $(pgrep -f "containerd-shim-cocoon-v2.*-namespace cocoon-ctl"); do
		kill "$pid" 2>/dev/null
	done
	[ -n "$bus_pid" ] && kill "$bus_pid" 2>/dev/null
	if grep -q "$work" /proc/mounts; then
		echo "leaving $work: still mounted: $(grep "$work" /proc/mounts)" >&2
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT

pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# a private session bus for the shims (containerd passes its environment on to them)
mkdir -p "$work/bus"
cat >"$work/bus/bus.conf" <<CONF
<busconfig>
  <type>session</type>
  <listen>unix:path=$work/bus/socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
CONF
dbus-daemon --nofork --config-file "$work/bus/bus.conf" --print-address=3 3>"$work/bus/address" 2>/dev/null &
bus_pid=$!
for _ in $(seq 50); do [ -s "$work/bus/address" ] && break; sleep 0.1; done
export DBUS_SESSION_BUS_ADDRESS=$(head -n1 "$work/bus/address")

cat >"$work/cocoon.conf" <<CONF
hypervisor = {
  kernel = "$COCOON_GUEST_KERNEL";
  initrd = "$COCOON_GUEST_INITRD";
  memory_mib = 256;
};
agent = { boot_timeout_ms = 90000; request_timeout_ms = 30000; };
runtime = { state_dir = "$work/state"; log_level = "debug"; dbus = "session"; };
enable_annotations = [ "hypervisor.memory_mib" ];
CONF
export COCOON_CONFIG="$work/cocoon.conf"
export PATH="$build/src/shim:$build/src/cocoonctl:$PATH"
containerd_start "$work/containerd"
image=docker.io/cocoon-test/busybox:latest
python3 "$repo/scripts/build-busybox-oci.py" "$work/busybox.tar" >/dev/null
$CTR $ns images import "$work/busybox.tar" >/dev/null

# two pods; pod A has two containers (one shim, one VM), pod B asks for more memory
run() { timeout 240 $CTR $ns run -d --runtime io.containerd.cocoon.v2 "$@"; }
run --annotation io.kubernetes.cri.sandbox-id=podA "$image" podA sleep 1000
run --annotation io.kubernetes.cri.sandbox-id=podA "$image" podA-c2 sleep 1000
run --annotation io.kubernetes.cri.sandbox-id=podB \
	--annotation io.cocoon.config.hypervisor.memory_mib=320 "$image" podB sleep 1000

uid_base=1900000000 uid_count=65536 # the defaults of confine.uid_*
check_list() { # FILE LABEL
	python3 - "$1" "$uid_base" "$uid_count" <<'PY'
import json, sys
sandboxes = {s["id"]: s for s in json.load(open(sys.argv[1]))}
base, count = int(sys.argv[2]), int(sys.argv[3])
assert set(sandboxes) >= {"podA", "podB"}, sorted(sandboxes)
a, b = sandboxes["podA"], sandboxes["podB"]
assert sorted(c["id"] for c in a["containers"]) == ["podA", "podA-c2"], a["containers"]
assert [c["id"] for c in b["containers"]] == ["podB"], b["containers"]
for s in (a, b):
    assert s["state"] == "running", s
    assert s["qemu_pid"] > 0 and s["accel"] in ("tcg", "kvm"), s
    assert all(c["status"] == "running" and c["pid"] > 0 for c in s["containers"]), s
assert a["memory_mib"] == 256 and b["memory_mib"] == 320, (a["memory_mib"], b["memory_mib"])
assert a["shim_pid"] != b["shim_pid"]
for s in (a, b):
    vmm = s["vmm"]
    assert vmm["pid"] == s["qemu_pid"] and vmm["confined"] == "yes", vmm
    assert base <= vmm["uid"] < base + count and vmm["uid_in_range"] and vmm["gid"] == vmm["uid"], vmm
    assert vmm["seccomp"] == 2 and vmm["seccomp_mode"] == "filter" and vmm["no_new_privs"] == 1, vmm
    assert int(vmm["cap_eff"], 16) & ~0x1b == 0, vmm
    assert vmm["namespaces"]["mnt"] == "differs" and vmm["namespaces"]["pid"] == "differs", vmm
assert a["vmm"]["uid"] != b["vmm"]["uid"], "two pods' QEMUs share uid %d" % a["vmm"]["uid"]
print("%s: %s" % (a["source"].split(":")[0], ", ".join(
    "%s(%s)" % (s["id"], " ".join(c["id"] for c in s["containers"])) for s in (a, b))))
PY
}
if cocoonctl list --json >"$work/list.json" && out=$(check_list "$work/list.json"); then
	pass "cocoonctl list --json over the bus: $out"
else
	fail "cocoonctl list --json over the bus"; cat "$work/list.json"
fi
if cocoonctl --bus none list --json >"$work/list-sockets.json" && out=$(check_list "$work/list-sockets.json"); then
	pass "cocoonctl list --json from the peer sockets: $out"
else
	fail "cocoonctl --bus none list --json"; cat "$work/list-sockets.json"
fi
cocoonctl list | sed 's/^/  list| /'
cocoonctl inspect podA >"$work/inspect.txt" || true
sed 's/^/  inspect| /' "$work/inspect.txt"
if grep -q "podA-c2" "$work/inspect.txt"; then pass "inspect podA"; else fail "inspect podA"; fi
# the VMM's confinement as /proc shows it
vmm_uid=$(sed -n 's#^  Uid/Gid: *\([0-9]*\)/.*#\1#p' "$work/inspect.txt")
if grep -q "^Confined: *yes$" "$work/inspect.txt" &&
	[ -n "$vmm_uid" ] && [ "$vmm_uid" -ge "$uid_base" ] && [ "$vmm_uid" -lt $((uid_base + uid_count)) ] &&
	grep -q "^  Uid/Gid: .*(in confine.uid_\*" "$work/inspect.txt" &&
	grep -q "^  NoNewPrivs: *1$" "$work/inspect.txt" &&
	grep -q "^  Seccomp: *2 (filter)$" "$work/inspect.txt" &&
	grep -q "^  Namespaces: *mnt differs, pid differs," "$work/inspect.txt"; then
	pass "inspect podA: QEMU confined, uid $vmm_uid, seccomp filter, mnt and pid namespaces its own"
else
	fail "inspect podA does not show a confined QEMU"
fi
rc=0; cocoonctl inspect no-such-pod 2>/dev/null || rc=$?
[ "$rc" = 3 ] && pass "inspect of an unknown pod exits 3" || fail "inspect unknown gave $rc"

# events: a kill shows up as /tasks/exit of podB
cocoonctl events --json >"$work/events.log" &
events_pid=$!
sleep 1
timeout 30 $CTR $ns tasks kill -s SIGKILL podB
for _ in $(seq 100); do grep -q '"/tasks/exit"' "$work/events.log" && break; sleep 0.2; done
if grep '"/tasks/exit"' "$work/events.log" | grep -q '"container_id":"podB"'; then
	pass "cocoonctl events: $(grep '"/tasks/exit"' "$work/events.log" | head -n1)"
else
	fail "cocoonctl events saw no exit of podB"; cat "$work/events.log"
fi
kill "$events_pid" 2>/dev/null; wait "$events_pid" 2>/dev/null || true; events_pid=

# check: passes here, fails clearly without a kernel
rc=0; out=$(cocoonctl check 2>&1) || rc=$?
echo "$out" | sed 's/^/  check| /'
if [ "$rc" = 0 ] && echo "$out" | grep -q "^ok   boot .*booted under \(tcg\|kvm\)"; then
	pass "cocoonctl check passes ($(echo "$out" | tail -n1))"
else
	fail "cocoonctl check exit $rc"
fi
# confinement: every line ok, and podA's lease (at least) counted
missing_lines=
for line in "ok   confine     hypervisor.confine = true" "ok   uid-range   uids and gids $uid_base-" \
	"ok   namespaces  new mount, PID, IPC and UTS namespaces can be made" \
	"ok   seccomp     QEMU's own filter works" "ok   uid-leases  /run/cocoon-uids: root's, mode 0[0-7]*; [1-9][0-9]* uids\? leased now"; do
	echo "$out" | grep -q "^$line" || missing_lines="$missing_lines [$line]"
done
if [ -z "$missing_lines" ]; then
	pass "cocoonctl check: confine, uid-range, namespaces, seccomp and uid-leases ok"
else
	fail "cocoonctl check: no line$missing_lines"
fi
sed "s#kernel = \".*\";#kernel = \"$work/missing/vmlinux\";#" "$work/cocoon.conf" >"$work/bad.conf"
rc=0; out=$(cocoonctl --config "$work/bad.conf" check 2>&1) || rc=$?
echo "$out" | grep -v "^ok" | sed 's/^/  check| /'
if [ "$rc" = 1 ] && echo "$out" | grep -q "^FAIL guest .*$work/missing/vmlinux"; then
	pass "cocoonctl check fails with exit 1 naming the missing kernel"
else
	fail "cocoonctl check with a missing kernel: exit $rc"
fi
# confine = false: a warning that pods run unconfined (no boot: the kernel is still missing)
sed "s#memory_mib = 256;#memory_mib = 256; confine = false;#" "$work/bad.conf" >"$work/unconfined.conf"
out=$(cocoonctl --config "$work/unconfined.conf" check 2>&1) || true
if echo "$out" | grep -q "^warn confine     hypervisor.confine = false: pods run unconfined"; then
	pass "cocoonctl check warns when pods run unconfined"
else
	fail "cocoonctl check with confine = false: no warning"; echo "$out"
fi

if [ "$failures" -gt 0 ]; then
	echo "--- containerd log (tail)"; tail -n 40 "$work/containerd/containerd.log" || true
	exit 1
fi
