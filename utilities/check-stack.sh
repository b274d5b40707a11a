#!/bin/bash
# Builds and tests this tree on another Debian stack, inside a root file
# system made by utilities/debian-root.sh: the build, then the tests named
# in tests/stack-subset.txt (all of them with --all).  Ends with a line
#   stack debian-13 (OVS 3.5.0, DPDK 24.11.8): N passed, N failed, N skipped
#
#   check-stack.sh RELEASE [--all] [TESTSUITE-ARG]...
#   check-stack.sh RELEASE --demo
#
# --demo runs the README's demo command (utilities/demo.sh) in the root
# instead of the tests.
# The build goes to $VA_STACK_BUILDS (default /var/cache/ovs-vhost-async/
# builds)/NAME (debian-13, sid), kept between runs like the root.  Run as
# root.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
release=${1:?usage: $0 RELEASE [--all] [TESTSUITE-ARG]...}
shift
mode=subset
case ${1:-} in
    --all) mode=all; shift ;;
    --demo) mode=demo; shift ;;
esac
builds=${VA_STACK_BUILDS:-/var/cache/ovs-vhost-async/builds}
root_sh=$top/utilities/debian-root.sh
. "$top/utilities/check-results.sh"
. "$top/utilities/debian-release.sh"

name=$(va_release_stack "$release") \
    || { echo "$0: unknown release $release" >&2; exit 1; }

"$root_sh" create "$release"
mkdir -p "$builds/$name"
rm -f "$builds/$name/obj/check.out"

# The root builds from its own copy of the source files, never from this
# tree: the files boot.sh generates here come from this host's autotools,
# which the root's make would try to run again.  Only the files whose
# contents changed since the last copy are replaced, and they get the
# time of the copy: the build may have been made from another tree (a
# clone whose files are newer than this tree's edits), so a file's own
# time says nothing about the objects there.
if git -C "$top" rev-parse --git-dir > /dev/null 2>&1; then
    git -C "$top" ls-files -z --cached --others --exclude-standard \
        | (cd "$top" && tar --null -T - -cf -) > "$builds/$name/src.tar"
else
    tar -C "$top" --exclude=./_build --exclude=./_bench -cf - . \
        > "$builds/$name/src.tar"
fi

# Inside the root: the same build as on a host, then the tests.
inner() {
    cat <<'EOF'
set -euo pipefail
mkdir -p /build/src
rm -rf /build/src.new
mkdir /build/src.new
tar -C /build/src.new -xf /build/src.tar
rm /build/src.tar
(cd /build/src.new && find . -type f -print0) \
    | while IFS= read -r -d '' f; do
          if ! cmp -s "/build/src.new/$f" "/build/src/$f"; then
              mkdir -p "$(dirname "/build/src/$f")"
              cp "/build/src.new/$f" "/build/src/$f"
          fi
      done
rm -rf /build/src.new
cd /build/src
if [ "$MODE" = demo ]; then
    exec env BUILD_DIR=/build/obj ./utilities/demo.sh
fi
BUILD_DIR=/build/obj ./utilities/build.sh
make -C /build/obj tests/testsuite tests/atlocal > /dev/null
if [ "$MODE" = subset ]; then
    nums=$(cd /build/obj && ./tests/testsuite -l \
           | awk -v list=/build/src/tests/stack-subset.txt '
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
make -C /build/obj check TESTSUITEFLAGS="-j2 $*" > /build/obj/check.out 2>&1 \
    || rc=$?
grep -E '^ *[0-9]+: ' /build/obj/check.out || true
exit $rc
EOF
}

rc=0
VA_ROOT_ENV=MODE MODE=$mode "$root_sh" run "$release" \
    --bind "$builds/$name:/build" \
    -- bash -c "$(inner)" inner "$@" || rc=$?
if [ "$mode" = demo ]; then
    exit "$rc"
fi

va_check_results "$builds/$name/obj/check.out" "$builds/$name/obj/tests"
what=$(va_stack_versions "$builds/$name/obj")
echo "stack $name (${what:-not built}): $passed passed, $failed failed," \
     "$skipped skipped"
if [ "$passed" -eq 0 ] && [ "$rc" -eq 0 ]; then
    rc=1
fi
exit "$rc"
