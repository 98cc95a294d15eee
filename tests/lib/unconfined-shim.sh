# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
#
# A second Cocoon runtime whose QEMU runs unconfined (hypervisor.confine = false), next to the
# default one in the same containerd, for A/B measurements of the VMM's jail. hypervisor.confine
# cannot be set per pod by annotation, so the second runtime is a wrapper shim with a config of its
# own. Source it, then BEFORE containerd_start (containerd looks shims up on the PATH it started with):
#
#   unconfined_shim_install DIR REAL-SHIM CONFIG
#
# writes DIR/containerd-shim-cocoon-unconfined-v2, a script that execs REAL-SHIM (an absolute path,
# normally $BUILD/src/shim/containerd-shim-cocoon-v2) with COCOON_CONFIG=CONFIG.unconfined, and puts
# DIR first on PATH. Containerd derives the binary from the runtime type:
# io.containerd.cocoon-unconfined.v2 (ctr --runtime, or a CRI handler of that runtime_type, see
# CONTAINERD_CRI_EXTRA_HANDLERS in tests/lib/containerd.sh) -> containerd-shim-cocoon-unconfined-v2.
# The shim's `start` re-execs /proc/self/exe (the real shim) with the environment it got, so the
# daemon reads the same config; its processes are named containerd-shim-cocoon-v2 like the default
# runtime's (cleanup patterns match both).
#
# Then, whenever CONFIG is final (it may be written or edited after containerd_start: the wrapper
# reads the copy at each exec), call
#
#   unconfined_shim_config CONFIG
#
# which writes CONFIG.unconfined: a complete copy of CONFIG with hypervisor.confine = false (an
# existing `confine = true|false` is rewritten, else the key is put first in the hypervisor
# section, else a hypervisor section is appended). libconfig rejects a setting given twice in one
# group, so the copy never repeats a section.

UNCONFINED_RUNTIME=io.containerd.cocoon-unconfined.v2
export UNCONFINED_RUNTIME

unconfined_shim_install() {
	local dir=$1 shim=$2 config=$3
	if [ -z "$dir" ] || [ -z "$config" ] || [ ! -x "$shim" ]; then
		echo "unconfined_shim_install: usage: DIR REAL-SHIM (executable) CONFIG" >&2
		return 2
	fi
	mkdir -p "$dir" || return 1
	cat >"$dir/containerd-shim-cocoon-unconfined-v2" <<-SH || return 1
		#!/bin/sh
		# Cocoon with hypervisor.confine = false (tests/lib/unconfined-shim.sh)
		COCOON_CONFIG='$config.unconfined'
		export COCOON_CONFIG
		exec '$shim' "\$@"
	SH
	chmod 0755 "$dir/containerd-shim-cocoon-unconfined-v2" || return 1
	PATH="$dir:$PATH"
	export PATH
}

unconfined_shim_config() {
	local config=$1 out=$1.unconfined
	local key='(^|[{;[:space:]])confine[[:space:]]*=[[:space:]]*(true|false)'
	[ -f "$config" ] || {
		echo "unconfined_shim_config: no $config" >&2
		return 1
	}
	if grep -Eq "$key" "$config"; then
		sed -E "s/$key/\\1confine = false/" "$config" >"$out"
	elif grep -Eq '^[[:space:]]*hypervisor[[:space:]]*[=:][[:space:]]*\{' "$config"; then
		sed -E '0,/^([[:space:]]*hypervisor[[:space:]]*[=:][[:space:]]*\{)/s//\1 confine = false;/' \
			"$config" >"$out"
	else
		{ cat "$config"; echo 'hypervisor = { confine = false; };'; } >"$out"
	fi || return 1
	grep -Eq "$key" "$out" || {
		echo "unconfined_shim_config: could not set confine = false in $out" >&2
		return 1
	}
}
