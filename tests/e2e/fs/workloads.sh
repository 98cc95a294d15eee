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
# knobs: WL_RUNTIMES (default "runc virtio-fs 9p"), WL_TX, WL_ROWS, WL_STRESS_TIMEOUT, WL_STRESSORS.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/../../lib/cocoon-e2e.sh"

# the one list of checks allowed to fail under virtio-fs although they pass under runc:
# "CHECK@LOCATION reason" (LOCATION rootfs or volume, or * for both). every entry must say which limit
# (of Linux 6.1's FUSE, of virtiofsd) it is, not of Cocoon.
KNOWN_EXCEPTIONS=(
)

RUNTIMES=${WL_RUNTIMES:-runc virtio-fs 9p}

teardown() {
	[ -z "${WORK:-}" ] || pkill -9 -f "virtiofsd.*$WORK/state" 2>/dev/null
	cocoon_e2e_teardown
}
trap teardown EXIT
cocoon_e2e_setup fs-workloads

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
	local t0=$SECONDS
	# shellcheck disable=SC2086
	timeout 1500 $C run --rm $flag "${env[@]}" \
		--mount "type=bind,src=$vol,dst=/data,options=rbind:rw" "$DEBIAN" "wl-$rt" \
		sh -c "sh /data/checks.sh rootfs /var/tmp/wl /data/hello.deb; sh /data/checks.sh volume /data/wl /data/hello.deb" \
		>"$out" 2>&1
	echo "== $rt: ctr run rc=$? in $((SECONDS - t0)) s"
	grep -v '^RESULT ' "$out" | head -20
	while read -r line; do
		read -r _ loc check st secs rest <<<"$line"
		[ -n "${status[$check@$loc@runc]+x}${status[$check@$loc@virtio-fs]+x}${status[$check@$loc@9p]+x}" ] ||
			checks+=("$check@$loc")
		status[$check@$loc@$rt]=$st
		seconds[$check@$loc@$rt]=$secs
		detail[$check@$loc@$rt]=$rest
	done < <(grep '^RESULT ' "$out")
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
	if [ "${status[$key@runc]:-}" = PASS ] && [[ " $RUNTIMES " == *" virtio-fs "* ]] &&
		[ "${status[$key@virtio-fs]:-}" != PASS ]; then
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
