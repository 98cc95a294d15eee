#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# installs everything cocoon's build and tests need, from debian's archive only.
# idempotent and quiet: does nothing when every package is already present.
set -euo pipefail

BUILD_PKGS=(meson ninja-build pkg-config gcc clang libglib2.0-dev libglib2.0-bin
	libprotobuf-c-dev protobuf-c-compiler libprotobuf-dev libconfig-dev
	libseccomp-dev libcap-dev dbus python3 valgrind clang-format)
E2E_PKGS=(containerd runc busybox-static qemu-system-x86 qemu-utils kmod cpio crun
	util-linux procps iproute2 psmisc containernetworking-plugins bc
	python3-grpcio python3-grpc-tools python3-protobuf
	linux-source-6.1 flex bison libelf-dev xz-utils)

want=("${BUILD_PKGS[@]}")
if [ "${1:-}" != "--build-only" ]; then
	want+=("${E2E_PKGS[@]}")
fi

missing=()
for p in "${want[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
