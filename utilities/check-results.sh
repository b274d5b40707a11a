# Shell functions for utilities/check.sh and check-stack.sh: what a
# "make check" run printed, counted, with the logs of its failed tests.

# va_check_results OUT TESTSDIR
#
# Prints the end of the logs of the first failed tests in OUT, the output
# of "make check" whose test directories are under TESTSDIR, and sets
# 'passed', 'failed' and 'skipped' from its lines, one per test:
# "  N: name   ok|skipped (...)|FAILED (...)|...".  A missing OUT counts
# nothing.
va_check_results() {
    local out=$1 dir=$2
    local n log where at

    va_count() {
        if [ -f "$out" ]; then
            grep -cE "^ *[0-9]+: .* $1" "$out" || true
        else
            echo 0
        fi
    }
    for n in $(sed -nE 's/^ *([0-9]+): .* FAILED \(.*/\1/p' "$out" \
                   2>/dev/null | head -5); do
        # "FAILED (file.at:line)" names the check; the log holds it as
        # "./file.at:line: command" or "file.at:line: wait failed",
        # followed by what it printed, ahead of the captured files.
        where=$(sed -nE "s/^ *$n: .* FAILED \((.*)\)\$/\1/p" "$out" \
                | head -1)
        # autotest pads the directory's number to the width of the last.
        for log in "$dir"/testsuite.dir/{,0,00}$n/testsuite.log; do
            if [ -f "$log" ]; then
                at=$(grep -nF -- "$where:" "$log" | tail -n 1 | cut -d: -f1)
                echo "--- test $n: $log, the failed check ($where)"
                if [ -n "$at" ]; then
                    sed -n "$(( at > 10 ? at - 10 : 1 )),$(( at + 40 ))p" \
                        "$log" | cut -c 1-300
                fi
                echo "--- test $n: the end of $log"
                tail -n 20 "$log" | cut -c 1-300
            fi
        done
        for log in "$dir"/testsuite.dir/{,0,00}$n/ovs-vswitchd.log; do
            if [ -f "$log" ]; then
                echo "--- test $n: the end of $log, without debug lines"
                grep -v '|DBG|' "$log" | tail -n 30 | cut -c 1-300
            fi
        done
    done
    passed=$(( $(va_count 'ok$') + $(va_count 'expected failure') ))
    failed=$(( $(va_count 'FAILED \(') + $(va_count 'UNEXPECTED PASS') ))
    skipped=$(va_count 'skipped \(')
}

# va_stack_versions BUILDDIR
#
# Prints "OVS X, DPDK Y" as the build in BUILDDIR was configured, or
# nothing if it was not.
va_stack_versions() {
    local mk=$1/Makefile

    if [ -f "$mk" ]; then
        echo "OVS $(sed -n 's/^OVS_VERSION = //p' "$mk")," \
             "DPDK $(sed -n 's/^DPDK_VERSION = //p' "$mk")"
    fi
}
