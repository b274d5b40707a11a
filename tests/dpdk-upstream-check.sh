#!/bin/bash
# dpdk-upstream-check.sh TESTSUITE TESTDIR EXPECTED AUTOTEST_PATH [FLAG...]
#
# Runs, from OVS's DPDK testsuite built with our adaptations (TESTSUITE,
# from tests/dpdk-upstream-testsuite.at), the tests that EXPECTED names,
# in TESTDIR (where atconfig and atlocal are), then compares each result
# with the one EXPECTED gives and prints a table.  Exits 0 only if every
# test did what EXPECTED says.  FLAGs go to the testsuite (e.g. -v).
#
# EXPECTED has one line per test, "RESULT<TAB>TITLE", RESULT being pass,
# skip or fail; '#' starts a comment.  Every test of the suite that adds a
# vhost-user port must be there.
#
# Like our system tests it holds the machine-wide lock of
# utilities/vhost-async-lib.sh while it runs, reserves hugepages and gives
# them back, and checks that every hugepage came back and that no hugepage
# file was left behind.  For each test it also shows how many packets
# ovs-vswitchd copied to guests (tx) and from guests (rx) through DMA and
# with the CPU.

set -u

if [ $# -lt 4 ]; then
    echo "usage: $0 TESTSUITE TESTDIR EXPECTED AUTOTEST_PATH [FLAG...]" >&2
    exit 2
fi
testsuite=$1 testdir=$2 expected=$3 autotest_path=$4
shift 4

. "$(dirname "$0")/../utilities/vhost-async-lib.sh"

# One OVS process and one testpmd guest at a time: 512 MB of 2 MB pages
# for testpmd (OVS's tests ask for 512 MB per NUMA node) and as much again
# for ovs-vswitchd, whose MTU 9000 mempools take about 170 MB each.
HUGEPAGES=${UP_HUGEPAGES:-1024}
# The shell that runs the testsuite, as for OVS's "make check-dpdk".
TESTSUITE_SHELL=${TESTSUITE_SHELL:-/bin/sh}
# A bound on the whole run (about 2 min here).
RUN_TIMEOUT=${UP_RUN_TIMEOUT:-1800}

if [ "$(id -u)" != 0 ]; then
    echo "check-dpdk-upstream: must run as root (hugepages, namespaces)" >&2
    exit 1
fi

list=$(mktemp) out=$(mktemp) report=$(mktemp)
trap 'rm -f "$list" "$out" "$report"' EXIT

# Numbers and titles: "  N: FILE:LINE   TITLE" in --list.
if ! "$TESTSUITE_SHELL" "$testsuite" -C "$testdir" --list > "$list"; then
    echo "check-dpdk-upstream: $testsuite --list failed" >&2
    exit 1
fi
title_of() {
    sed -n "s/^ *$1: [^ ]*  *//p" "$list" | sed 's/ *$//'
}
number_of() {
    awk -v t="$1" '
        match($0, /^ *[0-9]+: [^ ]+ +/) {
            title = substr($0, RLENGTH + 1); sub(/ +$/, "", title)
            if (title == t) { split($0, a, ":"); print a[1] + 0; exit }
        }' "$list"
}

declare -A want
titles=() numbers=() status=0
while IFS=$'\t' read -r result title; do
    case $result in
        ''|'#'*) continue ;;
        pass|skip|fail) ;;
        *) echo "$expected: bad result '$result' for '$title'" >&2
           exit 1 ;;
    esac
    n=$(number_of "$title")
    if [ -z "$n" ]; then
        echo "$expected: no test '$title' in $testsuite" >&2
        exit 1
    fi
    want[$n]=$result
    titles+=("$title")
    numbers+=("$n")
done < "$expected"

# A test of OVS with a vhost-user port (type=dpdkvhostuser or
# dpdkvhostuserclient in its body) that the list forgot is an error: a
# newer OVS may bring more.
while read -r n; do
    if [ -z "${want[$n]:-}" ]; then
        echo "check-dpdk-upstream: test $n '$(title_of "$n")' has a vhost" \
             "port and is not in $expected" >&2
        status=1
    fi
done < <(awk '/^#AT_START_/ { n = substr($0, 11) + 0 }
              /^#AT_STOP_/ { n = 0 }
              n && /type=dpdkvhostuser/ { print n }' "$testsuite" | sort -un)
if [ "$status" != 0 ]; then
    exit 1
fi

exec 9>>"$VA_LOCK_FILE"
echo "check-dpdk-upstream: waiting for $VA_LOCK_FILE (other system tests)"
if ! flock -w 3600 9; then
    echo "check-dpdk-upstream: $VA_LOCK_FILE still held after 1 h" >&2
    exit 1
fi
if ! va_hugepages_reserve "$HUGEPAGES"; then
    exit 1
fi
free_before=$(va_hugepages_free)
files_before=$(ls /dev/hugepages)
start=$(date +%s)

# The lock stays with this shell: a daemon that a test failed to stop
# must not hold it.
UP_ASYNC_REPORT=$report timeout -k 60 "$RUN_TIMEOUT" \
    "$TESTSUITE_SHELL" "$testsuite" -C "$testdir" \
    AUTOTEST_PATH="$autotest_path" -j1 "${numbers[@]}" "$@" 2>&1 9>&- \
    | tee "$out"
rc=${PIPESTATUS[0]}
elapsed=$(( $(date +%s) - start ))
if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    echo "check-dpdk-upstream: the testsuite ran out of ${RUN_TIMEOUT}s" >&2
    status=1
fi

# ovs-vswitchd and the guests run --in-memory: no hugepage file should
# appear.  One that does is reported, and left for the owner to see (the
# lock keeps other tests out, not every DPDK process).
leftover=$(comm -13 <(echo "$files_before") <(ls /dev/hugepages))
if [ -n "$leftover" ]; then
    echo "check-dpdk-upstream: new files in /dev/hugepages:" $leftover >&2
    status=1
fi
free_after=$(va_hugepages_free)
va_hugepages_restore

# counter NAME: NAME's value in $counters, "-" if the test did not stop
# ovs-vswitchd the normal way.
counter() {
    local v

    v=$(echo "$counters" | tr ' ' '\n' | sed -n "s/^$1=//p")
    echo "${v:--}"
}

echo
fmt='%-3s %-54s %-8s %-8s %-10s %-9s %s\n'
printf "$fmt" '#' test expected actual 'DMA tx/rx' 'CPU tx/rx' ''
for i in "${!numbers[@]}"; do
    n=${numbers[$i]}
    line=$(grep -E "^ *$n: " "$out" | tail -n 1)
    case $line in
        *' ok') actual=pass ;;
        *' skipped ('*) actual=skip ;;
        *' FAILED ('*|*' UNEXPECTED PASS'*) actual=fail ;;
        *' expected failure'*) actual=fail ;;
        *) actual=none ;;
    esac
    verdict=
    if [ "$actual" != "${want[$n]}" ]; then
        verdict=UNEXPECTED
        status=1
    fi
    counters=$(grep "^$n " "$report" | tail -n 1)
    printf "$fmt" "$n" "${titles[$i]#OVS-DPDK - }" "${want[$n]}" "$actual" \
        "$(counter vhost_async_submit)/$(counter vhost_async_dequeue)" \
        "$(counter vhost_async_cpu_copy)/$(counter vhost_async_cpu_dequeue)" \
        "$verdict"
done
echo
echo "check-dpdk-upstream: ${#numbers[@]} tests in ${elapsed}s;" \
     "HugePages_Free $free_before before, $free_after after"
if [ "$free_after" != "$free_before" ]; then
    echo "check-dpdk-upstream: hugepages were not all given back" >&2
    status=1
fi
if [ "$status" = 0 ]; then
    echo "check-dpdk-upstream: every result as expected ($expected)"
else
    echo "check-dpdk-upstream: unexpected results: see above and" \
         "$testdir/$(basename "$testsuite").log" >&2
fi
exit $status
