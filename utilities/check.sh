#!/bin/bash
# Installs what is missing, builds, checks the documentation ("make docs")
# and the install path (utilities/install-check.sh), and runs the whole
# test suite: unit tests and system tests with a real ovs-vswitchd,
# hugepages and guests; then, for each stack in VA_STACKS (default
# "debian-12 debian-13 sid") other than the host's, the build and the
# tests of tests/stack-subset.txt in a root file system of that release
# (utilities/check-stack.sh).  VA_STACKS= runs the host's suite alone.
# After each release's tests, its Debian package is built and checked
# (utilities/check-deb.sh); VA_CHECK_DEB=no leaves them out.
# Run as root.  TESTSUITEFLAGS passes options to autotest, for example
# TESTSUITEFLAGS='-k dma -v'.  Ends with a line "N passed, N failed".
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/_build}
. "$top/utilities/check-results.sh"
. "$top/utilities/debian-release.sh"

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
host=$(va_release_stack "$VERSION_CODENAME" || echo sid)
lines=("stack $host ($(va_stack_versions "$build")): $passed passed, \
$failed failed, $skipped skipped")

# count_line LINE: adds the "N passed, N failed, N skipped" of LINE.
count_line() {
    local n
    n=($(echo "$1" \
         | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) .*/\1 \2 \3/'))
    passed=$((passed + n[0]))
    failed=$((failed + n[1]))
    skipped=$((skipped + n[2]))
}

# check_deb STACK: STACK's Debian package, built (for the host's release
# from this build), installed, removed and upgraded in a Debian root.
check_deb() {
    local deb_out=$build/check-deb-$1.out line

    [ "${VA_CHECK_DEB:-yes}" != no ] || return 0
    BUILD_DIR=$build "$top/utilities/check-deb.sh" "$1" 2>&1 \
        | tee "$deb_out" || rc=1
    line=$(grep '^deb ' "$deb_out" | tail -n 1) || true
    line=${line:-deb $1: 0 passed, 1 failed, 0 skipped}
    lines+=("$line")
    count_line "$line"
}

check_deb "$host"

# The other stacks, each in its own Debian root.
for stack in ${VA_STACKS-debian-12 debian-13 sid}; do
    [ "$stack" != "$host" ] || continue
    stack_out=$build/check-$stack.out
    "$top/utilities/check-stack.sh" "$stack" 2>&1 | tee "$stack_out" \
        || rc=1
    line=$(grep '^stack ' "$stack_out" | tail -n 1) || true
    line=${line:-stack $stack: 0 passed, 1 failed, 0 skipped}
    lines+=("$line")
    count_line "$line"
    check_deb "$stack"
done

printf '%s\n' "${lines[@]}"
echo "$passed passed, $failed failed, $skipped skipped"
exit "$rc"
