#!/bin/bash
# Installs what is missing, builds, checks the documentation ("make docs")
# and the install path (utilities/install-check.sh), and runs the whole
# test suite: unit tests and system tests with a real ovs-vswitchd,
# hugepages and guests; then, for each stack in VA_STACKS (default
# "debian-12 debian-13 sid") other than the host's, the build and the
# tests of tests/stack-subset.txt in a root file system of that release
# (utilities/check-stack.sh).  VA_STACKS= runs the host's suite alone.
# Run as root.  TESTSUITEFLAGS passes options to autotest, for example
# TESTSUITEFLAGS='-k dma -v'.  Ends with a line "N passed, N failed".
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/_build}
. "$top/utilities/check-results.sh"

"$top/utilities/install-deps.sh"
"$top/utilities/build.sh"

# The documentation builds without a warning, and the install path works,
# before the tests run.
make -C "$build" docs
"$top/utilities/install-check.sh"

out=$build/tests/check.out
rc=0
make -C "$build" check TESTSUITEFLAGS="${TESTSUITEFLAGS:--j2}" 2>&1 \
    | tee "$out" || rc=$?

va_check_results "$out" "$build/tests"
if [ "$passed" -eq 0 ] && [ "$rc" -eq 0 ]; then
    echo "no test was run" >&2
    rc=1
fi
. /etc/os-release
host=$(case $VERSION_CODENAME in
           bookworm) echo debian-12 ;;
           trixie) echo debian-13 ;;
           *) echo sid ;;
       esac)
lines=("stack $host ($(va_stack_versions "$build")): $passed passed, \
$failed failed, $skipped skipped")

# The other stacks, each in its own Debian root.
for stack in ${VA_STACKS-debian-12 debian-13 sid}; do
    [ "$stack" != "$host" ] || continue
    stack_out=$build/check-$stack.out
    "$top/utilities/check-stack.sh" "$stack" 2>&1 | tee "$stack_out" \
        || rc=1
    line=$(grep '^stack ' "$stack_out" | tail -n 1)
    lines+=("${line:-stack $stack: 0 passed, 1 failed, 0 skipped}")
    n=($(echo "${line:-: 0 passed, 1 failed, 0 skipped}" \
         | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) .*/\1 \2 \3/'))
    passed=$((passed + n[0]))
    failed=$((failed + n[1]))
    skipped=$((skipped + n[2]))
done

printf '%s\n' "${lines[@]}"
echo "$passed passed, $failed failed, $skipped skipped"
exit "$rc"
