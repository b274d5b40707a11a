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
    local n log

    va_count() {
        if [ -f "$out" ]; then
            grep -cE "^ *[0-9]+: .* $1" "$out" || true
        else
            echo 0
        fi
    }
    for n in $(sed -nE 's/^ *([0-9]+): .* FAILED \(.*/\1/p' "$out" \
                   2>/dev/null | head -5); do
        # autotest pads the directory's number to the width of the last.
        for log in "$dir"/testsuite.dir/{,0,00}$n/testsuite.log; do
            if [ -f "$log" ]; then
                echo "--- test $n: the end of $log"
                tail -n 40 "$log"
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
