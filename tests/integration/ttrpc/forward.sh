#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Publishes a TaskCreate to a real containerd with the cocoon ttrpc client (Events/Forward, as a
# shim does) and checks that `ctr events` shows it; then checks that an envelope with an empty
# topic comes back as INVALID_ARGUMENT.
#
#   forward.sh PATH-TO-forward-event
set -u

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../lib/containerd.sh
. "$here/../../lib/containerd.sh"

forward_event=${1:-}
if [ -z "$forward_event" ] || [ ! -x "$forward_event" ]; then
	echo "usage: $0 PATH-TO-forward-event" >&2
	exit 2
fi
require_root_or_skip
require_containerd_or_skip
# a command line to run forward-event under (tests/lib/with-valgrind.sh: memcheck)
read -ra wrapper <<<"${COCOON_TEST_WRAPPER:-}"

# short: the socket paths must fit in 107 bytes
work=$(mktemp -d /tmp/cocoon-forward-XXXXXX) || exit 1
events_pid=
cleanup() {
	if [ -n "$events_pid" ]; then
		kill "$events_pid" 2>/dev/null
		wait "$events_pid" 2>/dev/null
	fi
	containerd_stop
	if [ "${KEEP_WORKDIR:-}" = 1 ]; then
		echo "work dir kept: $work" >&2
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	if [ -f "$work/events.txt" ]; then
		echo "--- ctr events output:" >&2
		cat "$work/events.txt" >&2
	fi
	if [ -f "$work/containerd/containerd.log" ]; then
		echo "--- last lines of containerd.log:" >&2
		tail -n 20 "$work/containerd/containerd.log" >&2
	fi
	exit 1
}

containerd_start "$work/containerd" || fail "containerd did not start"
echo "containerd $CONTAINERD_PID on $CONTAINERD_ADDRESS (ttrpc $CONTAINERD_TTRPC_ADDRESS)"

# subscribe first, then publish probes until one shows up: ctr events is listening from then on
$CTR events >"$work/events.txt" 2>&1 &
events_pid=$!
subscribed=
for i in $(seq 50); do
	"${wrapper[@]}" "$forward_event" --address "$CONTAINERD_TTRPC_ADDRESS" \
		--container-id "probe-$$-$i" >/dev/null 2>&1
	if grep -q "probe-$$-" "$work/events.txt"; then
		subscribed=1
		break
	fi
	sleep 0.2
done
[ -n "$subscribed" ] || fail "ctr events showed none of 50 probe events"

container_id="cocoon-forward-$$-$RANDOM"
"${wrapper[@]}" "$forward_event" --address "$CONTAINERD_TTRPC_ADDRESS" \
	--container-id "$container_id" \
	>"$work/forward.txt" 2>&1
rc=$?
cat "$work/forward.txt"
[ "$rc" = 0 ] || fail "Forward of a valid TaskCreate did not return OK (rc $rc)"
grep -q '^Forward: OK$' "$work/forward.txt" || fail "no 'Forward: OK' in the output"

found=
for _ in $(seq 50); do
	if grep -q "$container_id" "$work/events.txt"; then
		found=1
		break
	fi
	sleep 0.1
done
[ -n "$found" ] || fail "ctr events did not show container id $container_id"
line=$(grep "$container_id" "$work/events.txt" | head -n 1)
echo "ctr events: $line"
case "$line" in
*/tasks/create*) ;;
*) fail "the event line does not carry the topic /tasks/create: $line" ;;
esac
case "$line" in
*default*) ;;
*) fail "the event line does not carry the namespace default: $line" ;;
esac

# containerd validates the envelope: an empty topic is INVALID_ARGUMENT
"${wrapper[@]}" "$forward_event" --address "$CONTAINERD_TTRPC_ADDRESS" \
	--container-id "$container_id-bad" \
	--topic "" --expect INVALID_ARGUMENT >"$work/invalid.txt" 2>&1
rc=$?
cat "$work/invalid.txt"
[ "$rc" = 0 ] || fail "an empty topic did not come back as INVALID_ARGUMENT (rc $rc)"
if grep -q "$container_id-bad" "$work/events.txt"; then
	fail "the invalid envelope was broadcast"
fi

echo "PASS: Forward reached containerd's event stream; an empty topic is INVALID_ARGUMENT"
exit 0
