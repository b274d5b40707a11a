#!/bin/bash
# Builds the patched OVS in BUILD_DIR (default: _build in the source tree).
# Arguments go to configure on the first run.  Safe to run again: it only
# rebuilds what changed.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/_build}

if [ ! -x "$top/configure" ]; then
    (cd "$top" && ./boot.sh)
fi
mkdir -p "$build"
cd "$build"
if [ ! -f Makefile ]; then
    "$top/configure" "$@"
fi
make -j"$(nproc)"
