#!/bin/bash
# Checks the install path: "make install" of the build in BUILD_DIR
# (default: _build in the source tree), staged with DESTDIR and, with
# prefix=, under a prefix of our choice, both in a scratch directory that
# is removed afterwards.  The installed programs must run and report OVS's
# version and the DPDK they were built with, the installed manuals must
# document our keys and commands, the installed ovs-ctl must start and
# stop the installed daemons in a sandbox, and the update-alternatives
# steps of the install guide must work on a scratch root.  Nothing is left
# running, and nothing outside the scratch directory is written.
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

# The installed ovs-ctl starts and stops the installed daemons, with the
# directories of a scratch sandbox.  This machine has no openvswitch
# kernel module, which ovs-ctl loads first: a copy of the scripts with a
# stub ovs-kmod-ctl stands in.  DPDK stays off: this checks the daemons
# and the script, not DPDK (the tests do that).
echo "install-check: ovs-ctl start and stop, in a sandbox"
ctl=$scratch/ctl
share=$(dirname "$(find "$scratch/stage" -path '*/share/openvswitch/scripts/ovs-ctl' | head -n 1)")/..
mkdir -p "$ctl/scripts" "$ctl/run" "$ctl/log" "$ctl/etc/openvswitch"
cp "$share/scripts/ovs-ctl" "$share/scripts/ovs-lib" "$ctl/scripts/"
printf '#!/bin/sh\nexit 0\n' > "$ctl/scripts/ovs-kmod-ctl"
chmod +x "$ctl/scripts/"*
stop_ctl() {
    local f
    for f in "$ctl"/run/ovs-vswitchd.pid "$ctl"/run/ovsdb-server.pid; do
        [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null
    done
    return 0
}
trap 'stop_ctl; rm -rf "$scratch"' EXIT
(
    export OVS_RUNDIR=$ctl/run OVS_LOGDIR=$ctl/log OVS_DBDIR=$ctl/etc \
           OVS_SYSCONFDIR=$ctl/etc OVS_PKGDATADIR=$share \
           OVS_BINDIR=$(dirname "$(find "$scratch/stage" -path '*/bin/ovs-vsctl' | head -n 1)") \
           OVS_SBINDIR=$(dirname "$(find "$scratch/stage" -path '*/sbin/ovs-vswitchd' | head -n 1)")
    PATH=$OVS_BINDIR:$OVS_SBINDIR:$PATH
    timeout 120 "$ctl/scripts/ovs-ctl" --no-monitor --system-id=random \
        --no-record-hostname start > "$ctl/start.log" 2>&1 \
        || { cat "$ctl/start.log"; exit 1; }
    ovs-appctl -t "$ctl/run/ovs-vswitchd.$(cat "$ctl/run/ovs-vswitchd.pid").ctl" \
        version | grep -q '(Open vSwitch) 3\.1\.' \
        || { echo "ovs-appctl version"; exit 1; }
    # Through the database to ovs-vswitchd and back, without touching the
    # host's network: no bridge.
    ovs-vsctl --timeout=30 set Open_vSwitch . \
        external_ids:install-check=yes || { echo "ovs-vsctl set"; exit 1; }
    ovs-vsctl --timeout=30 get Open_vSwitch . ovs_version \
        | grep -q '3\.1\.' || { echo "ovs-vsctl get ovs_version"; exit 1; }
    timeout 60 "$ctl/scripts/ovs-ctl" stop > "$ctl/stop.log" 2>&1 \
        || { cat "$ctl/stop.log"; exit 1; }
) || { fail "ovs-ctl could not start, use and stop the installed daemons"
       stop_ctl; }
for f in "$ctl"/run/ovs-vswitchd.pid "$ctl"/run/ovsdb-server.pid; do
    # ovs-ctl stop asks; give the daemons 10 s to be gone.
    for i in $(seq 100); do
        [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null || break
        sleep 0.1
    done
    if [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; then
        fail "ovs-ctl stop left $(basename "$f" .pid) running"
    fi
done

# The steps of Documentation/intro/install/vhost-async.rst that put our
# ovs-vswitchd beside Debian's, on a scratch root: Debian's postinst
# offers its binary at priority 50; ours, offered at 10, must never be
# chosen automatically, must stay chosen once set by hand, also when a
# package upgrade offers Debian's again, and must give way on rollback.
echo "install-check: update-alternatives, on a scratch root"
root=$scratch/root
debian=/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk
ours=/usr/local/sbin/ovs-vswitchd
mkdir -p "$root/etc/alternatives" "$root/var/lib/dpkg/alternatives" \
         "$root/usr/sbin" "$root$(dirname $debian)" "$root$(dirname $ours)"
printf '#!/bin/sh\necho "ovs-vswitchd (Open vSwitch) 3.1.0"\n' \
    > "$root$debian"
cp "$(find "$scratch/stage" -path '*/sbin/ovs-vswitchd' | head -n 1)" \
    "$root$ours"
chmod +x "$root$debian" "$root$ours"
ua() {
    update-alternatives --root "$root" --log "$scratch/alternatives.log" \
        "$@" > /dev/null
}
selected() {
    update-alternatives --root "$root" --query ovs-vswitchd \
        | sed -n 's/^Value: //p'
}
ua --install /usr/sbin/ovs-vswitchd ovs-vswitchd $debian 50
ua --install /usr/sbin/ovs-vswitchd ovs-vswitchd $ours 10
[ "$(selected)" = $debian ] || fail "ours was chosen automatically"
ua --set ovs-vswitchd $ours
[ "$(selected)" = $ours ] || fail "update-alternatives --set did not select ours"
ua --install /usr/sbin/ovs-vswitchd ovs-vswitchd $debian 50
[ "$(selected)" = $ours ] || fail "a package upgrade switched back to Debian's"
ua --set ovs-vswitchd $debian
[ "$(selected)" = $debian ] || fail "rollback did not select Debian's"
ua --remove ovs-vswitchd $ours
update-alternatives --root "$root" --list ovs-vswitchd | grep -q "^$ours$" \
    && fail "update-alternatives --remove left ours"

if [ "$failures" -ne 0 ]; then
    echo "install-check: $failures failures" >&2
    exit 1
fi
echo "install-check: ok"
