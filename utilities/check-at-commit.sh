#!/bin/bash
# Runs some tests of the suite on an earlier commit, to see what they
# showed before a fix: builds COMMIT in a worktree of its own under
# WORK_DIR (default /tmp/ovs-vhost-async-at-COMMIT) and runs there the
# tests of the current tree's testsuite that KEYWORDS select (autotest's
# -k), or test numbers.  The tests come from the current tree, so that a
# test committed after COMMIT can run against it.
#
#   ./utilities/check-at-commit.sh f752973~1 -k reconfig
#
# Run as root.  Ends with a line "N passed, N failed".
set -euo pipefail

if [ $# -lt 2 ]; then
    echo "usage: $0 COMMIT TESTSUITE-ARGS..." >&2
    exit 2
fi
top=$(cd "$(dirname "$0")/.." && pwd)
commit=$(git -C "$top" rev-parse --short "$1")
shift
work=${WORK_DIR:-/tmp/ovs-vhost-async-at-$commit}

if [ ! -d "$work/src" ]; then
    mkdir -p "$work"
    git -C "$top" worktree add --detach "$work/src" "$commit" >/dev/null
fi
# The tests, and the shell library they use, of the current tree (afresh
# at each run).
git -C "$work/src" checkout -q "$commit" -- tests utilities
git -C "$work/src" clean -fdq -- tests utilities
git -C "$top" diff --binary "$commit" -- tests utilities \
    | git -C "$work/src" apply --allow-empty -
BUILD_DIR=$work/build "$work/src/utilities/build.sh" >"$work/build.log" 2>&1 \
    || { tail -20 "$work/build.log"; exit 1; }

rc=0
make -C "$work/build" check TESTSUITEFLAGS="$*" 2>&1 \
    | tee "$work/check.out" || rc=$?
ok=$(grep -cE '^ *[0-9]+: .* ok$' "$work/check.out" || true)
bad=$(grep -cE '^ *[0-9]+: .* FAILED \(' "$work/check.out" || true)
echo "$commit: $ok passed, $bad failed"
exit "$rc"
