#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The VMM's jail (issue 16, docs/security.md "The VMM's jail"), through real parts: containerd +
# ctr + the shim + QEMU/TCG + the guest. For running pods, from the host: QEMU's credentials,
# capabilities, no_new_privs, seccomp and namespaces; what it can reach, seen from inside its mount
# namespace with its own uid; two pods get two uids; a shim killed with -9 takes its QEMU along
# and its uid is leased again. Needs root, containerd, QEMU and a guest image; says SKIP otherwise.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/../../lib/cocoon-e2e.sh"
failures=0
trap cocoon_e2e_teardown EXIT
cocoon_e2e_setup cocoon-confine 'enable_annotations = ["hypervisor.shared_fs"];'
cocoon_e2e_guard

pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
uid_base=1900000000
uid_count=65536
qemu_of() { pgrep -f "qemu-system-x86_64.*$WORK/state/$1/" | head -n1; }
status_field() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

# two pods: one on virtio-fs (virtiofsd serves the share), one on 9p (QEMU serves it)
timeout 180 $C run -d $RT "$IMAGE" p1 sleep 1000
timeout 180 $C run -d $RT --annotation io.cocoon.config.hypervisor.shared_fs=9p "$IMAGE" p2 sleep 1000
q1=$(qemu_of p1)
q2=$(qemu_of p2)
[ -n "$q1" ] && [ -n "$q2" ] || { fail "QEMUs of p1/p2 not found ($q1/$q2)"; exit 1; }

for pod in p1 p2; do
	q=$(qemu_of $pod)
	uid=$(status_field "$q" Uid)
	gid=$(status_field "$q" Gid)
	if [ "$uid" -ge $uid_base ] && [ "$uid" -lt $((uid_base + uid_count)) ] && [ "$gid" = "$uid" ] &&
		[ "$(awk '$1 == "Uid:" {print $2 $3 $4 $5}' /proc/"$q"/status)" = "$uid$uid$uid$uid" ]; then
		pass "$pod: QEMU runs as uid/gid $uid (real, effective, saved, fs) of confine.uid_*"
	else
		fail "$pod: QEMU uid $uid gid $gid"
	fi
	groups=$(awk '$1 == "Groups:" {$1 = ""; print}' /proc/"$q"/status | tr -d ' ')
	[ -z "$groups" ] && pass "$pod: no supplementary groups (TCG)" || fail "$pod: groups $groups"
	eff=$(status_field "$q" CapEff)
	prm=$(status_field "$q" CapPrm)
	bnd=$(status_field "$q" CapBnd)
	amb=$(status_field "$q" CapAmb)
	if [ $pod = p1 ]; then want=0000000000000000; else want=000000000000001b; fi
	# 9p: CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_FSETID (0x1b); virtio-fs: nothing
	if [ "$eff" = $want ] && [ "$prm" = $want ] && [ "$bnd" = $want ] && [ "$amb" = $want ]; then
		pass "$pod: CapEff/CapPrm/CapBnd/CapAmb all $want"
	else
		fail "$pod: CapEff $eff CapPrm $prm CapBnd $bnd CapAmb $amb (want $want)"
	fi
	[ "$(status_field "$q" NoNewPrivs)" = 1 ] && pass "$pod: NoNewPrivs 1" || fail "$pod: NoNewPrivs"
	[ "$(status_field "$q" Seccomp)" = 2 ] && pass "$pod: Seccomp 2 (filter)" || fail "$pod: Seccomp"
	for ns in mnt pid ipc uts; do
		if [ "$(readlink /proc/"$q"/ns/$ns)" != "$(readlink /proc/self/ns/$ns)" ]; then
			pass "$pod: its own $ns namespace"
		else
			fail "$pod: the host's $ns namespace"
		fi
	done
	# spawn=deny: QEMU's filter forbids fork and exec; the command line asks for it
	if tr '\0' ' ' </proc/"$q"/cmdline |
		grep -q -- '-sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny'; then
		pass "$pod: QEMU's own -sandbox with spawn=deny"
	else
		fail "$pod: no -sandbox on the command line"
	fi
	# its fds: no path of the host's state directory (the sockets are inherited), but the 9p
	# export of its own share
	held=$(ls -l /proc/"$q"/fd | grep "$WORK/state" | grep -v -- "-> $WORK/state/$pod/shared\(/\|\$\)" || true)
	if [ -n "$held" ]; then
		fail "$pod: QEMU holds files of the state directory: $held"
	else
		pass "$pod: QEMU holds no file of the state directory (9p: its share only)"
	fi
done
u1=$(status_field "$q1" Uid)
u2=$(status_field "$q2" Uid)
[ "$u1" != "$u2" ] && pass "two pods, two uids ($u1, $u2)" || fail "both pods run as $u1"

# what QEMU can reach: inside its mount namespace, as its uid and gid
jailed() { nsenter -t "$1" -m -S "$2" -G "$2" -- "${@:3}"; }
for target in /etc/shadow /var/lib/containerd "$WORK/state/p1" "$WORK/state/p2/qmp.sock" "$WORK/containerd" /root; do
	if jailed "$q2" "$u2" /usr/bin/ls -d "$target" >/dev/null 2>&1; then
		fail "p2's QEMU sees $target"
	else
		pass "p2's QEMU does not see $target"
	fi
done
# as root in that namespace: the host's files are not there at all, not just unreadable
if nsenter -t "$q2" -m -- /usr/bin/ls /etc/shadow /var/lib/containerd /root >/dev/null 2>&1; then
	fail "the host's /etc, /var, /root exist in p2's jail"
else
	pass "the host's /etc/shadow, /var/lib/containerd, /root do not exist in p2's jail"
fi
kernel=$(sed -n 's/.*kernel = "\([^"]*\)".*/\1/p' "$COCOON_CONFIG" | head -n1)
jailed "$q2" "$u2" /usr/bin/test -r "$kernel" && pass "p2's QEMU reads its kernel" ||
	fail "p2's QEMU cannot read $kernel"
# of the state directories, only the path down to its share
seen=$(nsenter -t "$q2" -m -- /usr/bin/ls -A "$WORK/state" "$WORK/state/p2" 2>&1 | tr '\n' ' ')
[ "$seen" = "$WORK/state: p2  $WORK/state/p2: shared " ] &&
	pass "p2's jail holds nothing of the state directories but the path to its share" ||
	fail "p2's jail shows: $seen"
# 9p: the share and the container's root file system in it (a mount the shim made after the boot;
# its directories are root's, 0700: QEMU reaches them with CAP_DAC_OVERRIDE, so look as root)
share="$WORK/state/p2/shared"
if nsenter -t "$q2" -m -- /usr/bin/ls "$share/p2/rootfs/bin/busybox" >/dev/null 2>&1; then
	pass "p2's QEMU (9p) sees its share and the container's rootfs in it"
else
	fail "p2's QEMU cannot see $share/p2/rootfs"
fi
if jailed "$q2" "$u2" /usr/bin/touch /usr/x 2>/dev/null || jailed "$q2" "$u2" /usr/bin/touch /x 2>/dev/null; then
	fail "p2's QEMU can write / or /usr"
else
	pass "/ and /usr are read-only for p2's QEMU"
fi
# virtio-fs: QEMU needs no share at all
if jailed "$q1" "$u1" /usr/bin/ls "$WORK/state/p1/shared" >/dev/null 2>&1; then
	fail "p1's QEMU (virtio-fs) sees the share"
else
	pass "p1's QEMU (virtio-fs) does not see the share (virtiofsd serves it)"
fi
# the pods work: exec, output
out=$(timeout 60 $C task exec --exec-id e1 p1 sh -c 'echo ok-p1' 2>&1) || true
[ "$out" = ok-p1 ] && pass "exec in p1" || fail "exec in p1: $out"
out=$(timeout 60 $C task exec --exec-id e1 p2 sh -c 'echo ok-p2 > /tmp/x; cat /tmp/x' 2>&1) || true
[ "$out" = ok-p2 ] && pass "exec in p2 (9p write and read)" || fail "exec in p2: $out"

# a shim killed with -9: its QEMU dies with it (parent death signal) and the uid is free again
shim1=$(ps -o ppid= -p "$q1" | tr -d ' ')
lease=/run/cocoon-uids/$u1
[ -f "$lease" ] && pass "p1's lease $lease exists" || fail "no lease file $lease"
if flock -n "$lease" true; then fail "p1's lease is not locked"; else pass "p1's lease is locked while the pod runs"; fi
kill -9 "$shim1"
for _ in $(seq 1 50); do
	[ -d /proc/"$q1" ] || break
	sleep 0.1
done
[ ! -d /proc/"$q1" ] && pass "the shim killed with -9 took its QEMU along" || fail "QEMU $q1 outlived its shim"
flock -n "$lease" true && pass "p1's uid $u1 is free again" || fail "p1's lease still locked"
timeout 60 $C task rm -f p1 >/dev/null 2>&1 || true
timeout 30 $C containers rm p1 >/dev/null 2>&1 || true

# the whole leased range can be reclaimed: a new pod starts (and may get the freed uid)
timeout 180 $C run -d $RT "$IMAGE" p3 sleep 1000
q3=$(qemu_of p3)
u3=$(status_field "$q3" Uid 2>/dev/null || true)
[ -n "$q3" ] && pass "a new pod started after the kill (uid $u3)" || fail "p3 did not start"

for t in p2 p3; do
	timeout 30 $C task kill -s SIGKILL $t >/dev/null 2>&1 || true
done
sleep 1
for t in p2 p3; do
	timeout 60 $C task rm -f $t >/dev/null 2>&1 || true
	timeout 30 $C containers rm $t >/dev/null 2>&1 || true
done
for _ in $(seq 1 50); do
	[ -z "$(cocoon_e2e_qemu_pids)" ] && break
	sleep 0.2
done
[ -z "$(cocoon_e2e_qemu_pids)" ] && pass "no QEMU left" || fail "QEMU left: $(cocoon_e2e_qemu_pids)"
locked=0
for u in $u1 $u2 $u3; do
	[ -f /run/cocoon-uids/$u ] && ! flock -n /run/cocoon-uids/$u true && locked=$((locked + 1))
done
[ $locked = 0 ] && pass "no uid of these pods leased any more" || fail "$locked uids still leased"

echo "failures: $failures"
[ $failures = 0 ]
