#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The project's test command (README, .ci/run): on a fresh Debian 12 machine, as root, it installs
# what the build and the tests need, builds with warnings as errors, and runs every suite:
#   unit (+ fuzz corpus replay), the same under ASan/UBSan and under valgrind's memcheck (with
#   integration: the shim they start too), integration (real containerd), and e2e (containerd + ctr
#   + QEMU/TCG + the guest image, which it builds on first use).
# Environment: COCOON_TEST_SUITES="unit integration e2e" to pick suites; COCOON_SKIP_ASAN=1,
# COCOON_SKIP_VALGRIND=1.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
suites=${COCOON_TEST_SUITES:-unit fuzz integration e2e}

step() { printf '\n=== %s (%s)\n' "$*" "$(date +%T)"; }

step "dependencies"
scripts/install-deps.sh

step "format (.clang-format)"
scripts/check-format.sh

step "build (werror)"
[ -d build ] || meson setup build -Dwerror=true >/dev/null
meson configure build -Dwerror=true >/dev/null
ninja -C build

for suite in $suites; do
	case $suite in
	unit | fuzz)
		step "suite $suite"
		meson test -C build --suite "$suite" --print-errorlogs
		;;
	esac
done

if [[ " $suites " == *" e2e "* || " $suites " == *" integration "* ]]; then
	# built once here, before any suite that boots a VM (the minimal kernel takes ~8 min the first
	# time on a machine), so no test's timeout includes it; the tests find it in the same place
	step "guest image"
	(COCOON_BUILD_DIR="$repo/build" && . tests/lib/guest-image.sh && guest_image_ensure)
fi

if [ "${COCOON_SKIP_ASAN:-0}" != 1 ]; then
	step "sanitizer build (address,undefined): unit + integration"
	[ -d build-asan ] || meson setup build-asan -Dwerror=true -Db_sanitize=address,undefined \
		-Db_lundef=false -Dagent=false >/dev/null
	ninja -C build-asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C build-asan --suite unit --suite integration --print-errorlogs
fi

if [ "${COCOON_SKIP_VALGRIND:-0}" != 1 ]; then
	# every error and definite leak fails, in the test programs and in the shims and clients they
	# start; QEMU runs natively (tests/lib/with-valgrind.sh, tests/valgrind.supp). valgrind comes
	# with scripts/install-deps.sh; tests run some 10x slower, hence the timeout multiplier
	step "valgrind: unit + integration"
	command -v valgrind >/dev/null || scripts/install-deps.sh --build-only
	[ -d build-valgrind ] || meson setup build-valgrind -Dwerror=true -Dagent=false >/dev/null
	ninja -C build-valgrind
	meson test -C build-valgrind --suite unit --suite integration --print-errorlogs \
		--timeout-multiplier 3 --wrap "$repo/tests/lib/with-valgrind.sh"
fi


for suite in $suites; do
	case $suite in
	integration | e2e)
		step "suite $suite"
		meson test -C build --suite "$suite" --print-errorlogs
		;;
	esac
done
step "all suites passed"
