#!/bin/bash
# Installs what is missing, builds, checks the documentation ("make docs")
# and the install path (utilities/install-check.sh), and runs the whole
# test suite: unit tests and system tests with a real ovs-vswitchd,
# hugepages and guests.
# Run as root.  TESTSUITEFLAGS passes options to autotest, for example
# TESTSUITEFLAGS='-k dma -v'.  Ends with a line "N passed, N failed".
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/_build}

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

# One line per test: "  N: name   ok|skipped (...)|FAILED (...)|...".
count() {
    grep -cE "^ *[0-9]+: .* $1" "$out" || true
}
# The end of each failed test's log, so that a CI log shows why.
for n in $(sed -nE 's/^ *([0-9]+): .* FAILED \(.*/\1/p' "$out" | head -5); do
    # autotest pads the directory's number to the width of the last.
    for log in "$build"/tests/testsuite.dir/{,0,00}$n/testsuite.log; do
        if [ -f "$log" ]; then
            echo "--- test $n: the end of $log"
            tail -n 40 "$log"
        fi
    done
    for log in "$build"/tests/testsuite.dir/{,0,00}$n/ovs-vswitchd.log; do
        if [ -f "$log" ]; then
            echo "--- test $n: the end of $log, without debug lines"
            grep -v '|DBG|' "$log" | tail -n 30 | cut -c 1-300
        fi
    done
done

passed=$(( $(count 'ok$') + $(count 'expected failure') ))
failed=$(( $(count 'FAILED \(') + $(count 'UNEXPECTED PASS') ))
skipped=$(count 'skipped \(')
echo "$passed passed, $failed failed, $skipped skipped"
if [ "$passed" -eq 0 ] && [ "$rc" -eq 0 ]; then
    echo "no test was run" >&2
    rc=1
fi
exit "$rc"
