#!/bin/bash
# Checks the install path: "make install" of the build in BUILD_DIR
# (default: _build in the source tree), staged with DESTDIR and, with
# prefix=, under a prefix of our choice, both in a scratch directory that
# is removed afterwards.  The installed programs must run and report OVS's
# version and the DPDK they were built with, and the installed manuals must
# document our keys and commands.  Nothing is started and nothing outside
# the scratch directory is written.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/_build}

if [ ! -f "$build/ovs/.configured" ]; then
    echo "$0: $build is not built: run utilities/build.sh first" >&2
    exit 1
fi

scratch=$(mktemp -d /tmp/ovs-vhost-async-install.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

failures=0
fail() {
    echo "install-check: FAILED: $*" >&2
    failures=$((failures + 1))
}

# check_tree ROOT
#
# Checks an installed tree whose programs are somewhere under ROOT.
check_tree() {
    local root=$1 sbin bin man5 man8 version

    sbin=$(dirname "$(find "$root" -path '*/sbin/ovs-vswitchd' | head -n 1)")
    bin=$(dirname "$(find "$root" -path '*/bin/ovs-vsctl' | head -n 1)")
    if [ ! -x "$sbin/ovs-vswitchd" ] || [ ! -x "$bin/ovs-vsctl" ]; then
        fail "$root: no sbin/ovs-vswitchd or bin/ovs-vsctl"
        return
    fi

    version=$("$sbin/ovs-vswitchd" --version) || fail "ovs-vswitchd --version"
    echo "$version" | sed 's/^/  /'
    echo "$version" | grep -q '^ovs-vswitchd (Open vSwitch) 3\.1\.' \
        || fail "ovs-vswitchd does not report OVS 3.1"
    echo "$version" | grep -q '^DPDK 22\.11\.' \
        || fail "ovs-vswitchd does not report DPDK 22.11"
    # Ours, not plain OVS: the commands of the overlay are compiled in.
    grep -aq 'netdev-vhost-async/show' "$sbin/ovs-vswitchd" \
        || fail "ovs-vswitchd lacks netdev-vhost-async/show"

    local p
    for p in "$sbin/ovsdb-server" "$bin/ovs-vsctl" "$bin/ovs-appctl" \
             "$bin/ovs-ofctl" "$bin/ovsdb-tool"; do
        "$p" --version | grep -q '(Open vSwitch) 3\.1\.' \
            || fail "$p --version"
    done

    local share
    share=$(dirname "$bin")/share
    [ -x "$share/openvswitch/scripts/ovs-ctl" ] \
        || fail "no share/openvswitch/scripts/ovs-ctl"
    [ -f "$share/openvswitch/vswitch.ovsschema" ] \
        || fail "no share/openvswitch/vswitch.ovsschema"

    man5=$share/man/man5/ovs-vswitchd.conf.db.5
    man8=$share/man/man8/ovs-vswitchd.8
    local key
    for key in vhost-async-support vhost-async-dma vhost_async \
               vhost_log_all tx_async_packets; do
        grep -q -- "$key" "$man5" 2>/dev/null \
            || fail "$man5 does not document $key"
    done
    grep -q 'netdev\\-vhost\\-async/show' "$man8" 2>/dev/null \
        || fail "$man8 does not document netdev-vhost-async/show"
}

echo "install-check: make install DESTDIR=$scratch/stage"
make -s -C "$build" install DESTDIR="$scratch/stage" \
    > "$scratch/destdir.log" 2>&1 \
    || { tail -n 20 "$scratch/destdir.log"; fail "make install DESTDIR"; }
check_tree "$scratch/stage"

echo "install-check: make install prefix=$scratch/prefix"
make -s -C "$build" install prefix="$scratch/prefix" \
    > "$scratch/prefix.log" 2>&1 \
    || { tail -n 20 "$scratch/prefix.log"; fail "make install prefix="; }
check_tree "$scratch/prefix"
# Everything under the prefix, nothing elsewhere: the build's own
# directories (sysconfdir, localstatedir) follow the prefix unless
# configure was given them.
if [ ! -x "$scratch/prefix/sbin/ovs-vswitchd" ]; then
    fail "prefix=$scratch/prefix did not install sbin/ovs-vswitchd there"
fi

if [ "$failures" -ne 0 ]; then
    echo "install-check: $failures failures" >&2
    exit 1
fi
echo "install-check: ok"
