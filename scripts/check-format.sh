#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# fails, naming the files, when a tracked C file differs from what .clang-format makes of it
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bad=()
while IFS= read -r f; do
	clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done < <(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c' 'tests/*.h' 'subprojects/*.c' 'subprojects/*.h')
if [ ${#bad[@]} -gt 0 ]; then
	echo "not formatted (run clang-format -i on them):" >&2
	printf '  %s\n' "${bad[@]}" >&2
	exit 1
fi
