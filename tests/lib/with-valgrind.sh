#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# with-valgrind.sh COMMAND [ARGS...]: the wrapper of the memcheck run (scripts/run-tests.sh):
#   meson test -C BUILD --suite unit --suite integration --wrap "$PWD/tests/lib/with-valgrind.sh"
# Any error, or a definite leak, fails the test (tests/valgrind.supp names what libraries leak).
# - COMMAND runs under memcheck, its report on stderr; an interpreter (bash, sh, python3) runs as is:
#   what is ours is what the script starts.
# - The programs a test starts itself run under memcheck too: test-dbus-shim prefixes the shim with
#   $COCOON_TEST_WRAPPER (which follows `start` into the daemon it execs, but runs QEMU natively),
#   forward.sh prefixes forward-event. Their reports go to files (the daemon's stderr is /dev/null
#   and nobody collects its exit status), which are checked once COMMAND ends and they are gone.
# - A process forked without exec reports nothing (--child-silent-after-fork): memory that only the
#   parent's other threads reach looks lost in it (the parent is checked).
# - "WARNING: unhandled amd64-linux syscall: 434" is valgrind 3.19 not knowing pidfd_open(2): the
#   shim and GLib then do without pidfds.
# COCOON_VALGRIND_KEEP_LOGS=1 keeps the reports of the started programs in /tmp/cocoon-valgrind-*.
set -uo pipefail

[ $# -ge 1 ] || {
	echo "usage: $0 COMMAND [ARGS...]" >&2
	exit 2
}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
memcheck=(valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite
	--errors-for-leak-kinds=definite --suppressions="$repo/tests/valgrind.supp" --num-callers=30
	--child-silent-after-fork=yes)
# GLib's allocators hand memory to malloc and clear what they free, so memcheck sees every block
export G_SLICE=always-malloc
export G_DEBUG=${G_DEBUG:+$G_DEBUG,}gc-friendly

# no KVM verdict or TSC rate measured under valgrind goes into the host's cache: the shim probes
export COCOON_ACCEL_CACHE=
logs=$(mktemp -d /tmp/cocoon-valgrind-XXXXXX) || exit 1
[ "${COCOON_VALGRIND_KEEP_LOGS:-0}" = 1 ] || trap 'rm -rf "$logs"' EXIT
export COCOON_TEST_WRAPPER="${memcheck[*]} --trace-children=yes --trace-children-skip=*/qemu-system-* --log-file=$logs/%p.log"

case ${1##*/} in
bash | sh | dash | python3 | python3.*) "$@" ;;
*) "${memcheck[@]}" -q --error-exitcode=99 "$@" ;;
esac
rc=$?

# the spawned programs: wait until they have ended (a daemon exits after its Shutdown), then each
# report must say "ERROR SUMMARY: 0 errors" (none is written for a fork that exec'd QEMU)
deadline=$((SECONDS + 60))
for log in "$logs"/*.log; do
	[ -e "$log" ] || continue
	pid=$(basename "$log" .log)
	while [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == */valgrind/* ]]; do
		if [ $SECONDS -ge $deadline ]; then
			echo "with-valgrind.sh: pid $pid (under valgrind) still runs 60 s after the test" >&2
			break
		fi
		sleep 0.2
	done
done
for log in "$logs"/*.log; do
	[ -s "$log" ] || continue
	if ! grep -q 'ERROR SUMMARY: 0 errors' "$log"; then
		echo "=== memcheck report of a program the test started ($log):" >&2
		cat "$log" >&2
		[ $rc -ne 0 ] || rc=1
	fi
done
exit $rc
