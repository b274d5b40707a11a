#!/bin/bash
# Builds and tests this tree on another Debian stack, inside a root file
# system made by utilities/debian-root.sh: the build, then the tests named
# in tests/stack-subset.txt (all of them with --all).  Ends with a line
#   stack debian-13 (OVS 3.5.0, DPDK 24.11.8): N passed, N failed, N skipped
#
#   check-stack.sh RELEASE [--all] [TESTSUITE-ARG]...
#
# The build goes to $VA_STACK_BUILDS (default /var/cache/ovs-vhost-async/
# builds)/RELEASE, kept between runs like the root.  Run as root.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
release=${1:?usage: $0 RELEASE [--all] [TESTSUITE-ARG]...}
shift
all=false
if [ "${1:-}" = --all ]; then
    all=true
    shift
fi
builds=${VA_STACK_BUILDS:-/var/cache/ovs-vhost-async/builds}
root_sh=$top/utilities/debian-root.sh
. "$top/utilities/check-results.sh"

case $release in
    bookworm|debian-12) name=debian-12 ;;
    trixie|debian-13) name=debian-13 ;;
    sid|unstable) name=sid ;;
    *) echo "$0: unknown release $release" >&2; exit 1 ;;
esac

"$root_sh" create "$release"
mkdir -p "$builds/$release"
rm -f "$builds/$release/check.out"

# Inside the root: the same build as on a host, then the tests.
inner() {
    cat <<'EOF'
set -euo pipefail
cd /src
BUILD_DIR=/build ./utilities/build.sh
make -C /build tests/testsuite tests/atlocal > /dev/null
if [ "$ALL" != true ]; then
    nums=$(cd /build && ./tests/testsuite -l \
           | awk -v list=/src/tests/stack-subset.txt '
                BEGIN { while ((getline l < list) > 0)
                            if (l !~ /^#/ && l != "") want[l] = 1 }
                /^ *[0-9]+: / { n = $1; sub(":", "", n)
                                t = $0; sub(/^ *[0-9]+: [^ ]+ /, "", t)
                                if (t in want) { print n; found[t] = 1 } }
                END { for (t in want) if (!(t in found))
                          print "no such test: " t > "/dev/stderr" }')
    set -- $nums "$@"
fi
rc=0
make -C /build check TESTSUITEFLAGS="-j2 $*" > /build/check.out 2>&1 \
    || rc=$?
grep -E '^ *[0-9]+: ' /build/check.out || true
exit $rc
EOF
}

rc=0
VA_ROOT_ENV=ALL ALL=$all "$root_sh" run "$release" \
    --bind "$top:/src" --bind "$builds/$release:/build" \
    -- bash -c "$(inner)" inner "$@" || rc=$?

va_check_results "$builds/$release/check.out" "$builds/$release/tests"
what=$(va_stack_versions "$builds/$release")
echo "stack $name (${what:-not built}): $passed passed, $failed failed," \
     "$skipped skipped"
if [ "$passed" -eq 0 ] && [ "$rc" -eq 0 ]; then
    rc=1
fi
exit "$rc"
