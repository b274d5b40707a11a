#!/bin/bash
# Checks the Debian package of utilities/build-deb.sh: builds it twice,
# with two versions, runs lintian, then, in a throwaway copy (overlayfs)
# of the host release's Debian root (utilities/debian-root.sh), installs
# it beside openvswitch-switch-dpdk, runs OVS with the release's ovs-ctl
# and an async port with a guest whose traffic goes through software DMA,
# removes it (the alternative goes back, OVS restarts on the same
# database), installs it again and upgrades it to the second version (the
# database and the ports are kept).  Ends with a line
#   deb debian-12 (openvswitch-switch-vhost-async VERSION): N passed, N failed, N skipped
#
#   check-deb.sh [RELEASE]
#
# RELEASE (default: the host's) is bookworm, trixie or sid (debian-12,
# debian-13 also work).  The host's release builds on the host, from the
# build in BUILD_DIR (see utilities/build-deb.sh); another builds inside
# its root, from the build utilities/check-stack.sh left there if there is
# one (VA_STACK_BUILDS), else from scratch.  Run as root.  Holds the
# tests' machine-wide lock while OVS runs.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
pkg=openvswitch-switch-vhost-async

# ------------------------------------------------------------------------
# Inside the root: the install, remove and upgrade checks.
# ------------------------------------------------------------------------
inside() {
    local old=$1 new=$2
    . /src/utilities/vhost-async-lib.sh
    # Not local: the EXIT trap needs them after an early return.
    ctl=/usr/share/openvswitch/scripts/ovs-ctl
    ours=/usr/lib/$pkg/ovs-vswitchd
    plain=/usr/lib/openvswitch-switch/ovs-vswitchd
    run=/var/run/openvswitch
    # The guests' directory; not exported, so that OVS's tools do not take
    # it for their own run directory.
    OVS_RUNDIR=/tmp/va-deb-guests
    mkdir -p "$OVS_RUNDIR"
    passed=0 failed=0

    check() {
        local what=$1
        shift
        if "$@"; then
            echo "check-deb: ok: $what"
            passed=$((passed + 1))
        else
            echo "check-deb: FAILED: $what" >&2
            failed=$((failed + 1))
        fi
    }
    installed() {
        [ "$(dpkg-query -W -f='${Status}' "$1" 2> /dev/null)" \
              = "install ok installed" ]
    }
    cleanup() {
        if [ "$failed" -ne 0 ] || [ "${ok:-}" != yes ]; then
            echo "check-deb: the end of ovs-vswitchd.log:"
            grep -E '\|(WARN|ERR|EMER)\|' /var/log/openvswitch/ovs-vswitchd.log \
                2> /dev/null | tail -n 20
        fi
        va_guest_stop guest0 || true
        va_stop_pidfile "$run/ovs-vswitchd.pid" 30 || true
        va_stop_pidfile "$run/ovsdb-server.pid" 10 || true
        va_hugepages_restore || true
    }
    trap cleanup EXIT

    export DEBIAN_FRONTEND=noninteractive
    local before
    before=$(readlink /etc/alternatives/ovs-vswitchd)
    check "before, the alternative names openvswitch-switch's ($before)" \
        test "$before" = "$plain"

    # -- Install -----------------------------------------------------------
    apt-get install -y -q "/debs/$old" > /tmp/apt.log 2>&1 \
        || { tail -n 20 /tmp/apt.log; }
    check "installs beside openvswitch-switch-dpdk" \
        eval 'installed $pkg && installed openvswitch-switch-dpdk'
    check "the ovs-vswitchd alternative names ours" \
        test "$(readlink /etc/alternatives/ovs-vswitchd)" = "$ours"
    check "ovs-vswitchd.conf.db(5) is ours" \
        zgrep -q vhost-async-support /usr/share/man/man5/ovs-vswitchd.conf.db.5.gz
    check "ovs-vswitchd(8) is ours" \
        zgrep -q 'netdev\\-vhost\\-async/show' /usr/share/man/man8/ovs-vswitchd.8.gz
    check "openvswitch-switch's manuals are diverted, not overwritten" eval \
        'test -f /usr/share/man/man8/ovs-vswitchd.8.gz.distrib \
         && ! zgrep -q vhost-async-support \
                  /usr/share/man/man5/ovs-vswitchd.conf.db.5.gz.distrib'

    # -- Run ---------------------------------------------------------------
    exec 9> "$VA_LOCK_FILE"
    if ! flock -w 900 9; then
        echo "check-deb: $VA_LOCK_FILE stays held" >&2
        return 1
    fi
    va_hugepages_reserve 600 || return 1

    "$ctl" --no-ovs-vswitchd --system-id=random --no-record-hostname start \
        > /tmp/ctl.log 2>&1 9>&- || { cat /tmp/ctl.log; return 1; }
    va_dpdk_config "--iova-mode=va --file-prefix=va-deb-$$" \
        vhost-async-support=true vhost-async-dma=software \
        vhost-async-copy-threshold=0
    local db
    db=$(va_vsctl get Open_vSwitch . _uuid)

    start_vswitchd() {
        "$ctl" --no-ovsdb-server --no-mlockall --system-id=random \
            --no-record-hostname start > /tmp/ctl.log 2>&1 9>&- \
            || { cat /tmp/ctl.log; return 1; }
    }
    # ovs-ctl asks ovs-vswitchd to exit; it is gone, with its hugepages,
    # only once its last thread is.
    stop_vswitchd() {
        local pid
        pid=$(cat "$run/ovs-vswitchd.pid")
        "$ctl" --no-ovsdb-server stop > /tmp/ctl.log 2>&1 9>&- \
            || cat /tmp/ctl.log
        va_stop_pid "$pid" 30
    }
    running() {
        readlink "/proc/$(cat "$run/ovs-vswitchd.pid")/exe"
    }
    dma_completed() {
        ovs-appctl dpdk/dma-show \
            | sed -n 's/.*completed: \([0-9]*\).*/\1/p' \
            | awk '{ n += $1 } END { print n + 0 }'
    }
    # The guest's traffic, back to it through OVS, goes through DMA: the
    # software DMA device completes ever more copies.
    check_dma() {
        va_wait_until 60 eval \
            '[ "$(va_vsctl get Open_vSwitch . dpdk_initialized)" = true ]' \
            && va_wait_until 30 eval \
                'ovs-appctl netdev-vhost-async/show | grep -q "vring 0: async"' \
            && va_check_growing "DMA copies" 3 1 dma_completed
    }

    start_vswitchd
    check "ovs-ctl starts our ovs-vswitchd" test "$(running)" = "$ours"
    check "DPDK initialises" va_wait_until 60 eval \
        '[ "$(va_vsctl get Open_vSwitch . dpdk_initialized)" = true ]'
    va_vsctl add-br br0 -- set bridge br0 datapath_type=netdev
    va_guest_start guest0 "" --forward-mode=flowgen
    va_vsctl add-port br0 vhu0 -- set Interface vhu0 \
        type=dpdkvhostuserclient \
        "options:vhost-server-path=$OVS_RUNDIR/guest0.sock"
    ovs-ofctl add-flow br0 in_port=vhu0,actions=in_port
    check "traffic of an async port goes through DMA" check_dma
    check "dpdk/dma-show answers" eval \
        'ovs-appctl dpdk/dma-show | grep -q "^vhost-async-dma: software"'

    # -- Remove ------------------------------------------------------------
    apt-get remove -y -q $pkg > /tmp/apt.log 2>&1 || tail -n 20 /tmp/apt.log
    check "removed" eval '! installed $pkg'
    check "the alternative is back to $before" \
        test "$(readlink /etc/alternatives/ovs-vswitchd)" = "$before"
    check "openvswitch-switch's manuals are back" eval \
        '! zgrep -q vhost-async-support /usr/share/man/man5/ovs-vswitchd.conf.db.5.gz \
         && [ -z "$(dpkg-divert --list $pkg)" ]'
    stop_vswitchd
    start_vswitchd
    check "a restart runs $before" test "$(running)" = "$before"
    check "on the same database, with the ports" eval \
        '[ "$(va_vsctl get Open_vSwitch . _uuid)" = "$db" ] \
         && va_vsctl list-ports br0 | grep -qx vhu0'

    # -- Upgrade -----------------------------------------------------------
    stop_vswitchd
    apt-get install -y -q "/debs/$old" > /tmp/apt.log 2>&1 \
        || tail -n 20 /tmp/apt.log
    start_vswitchd
    check "installed again, ours runs with DMA" eval \
        '[ "$(running)" = "$ours" ] && check_dma'
    apt-get install -y -q "/debs/$new" > /tmp/apt.log 2>&1 \
        || tail -n 20 /tmp/apt.log
    local want
    want=$(dpkg-deb -f "/debs/$new" Version)
    check "upgraded to $want" \
        test "$(dpkg-query -W -f='${Version}' $pkg)" = "$want"
    check "the alternative still names ours" \
        test "$(readlink /etc/alternatives/ovs-vswitchd)" = "$ours"
    check "our manuals are still in place" \
        zgrep -q vhost-async-support /usr/share/man/man5/ovs-vswitchd.conf.db.5.gz
    stop_vswitchd
    start_vswitchd
    check "after a restart the new ovs-vswitchd runs" \
        test "$(running)" = "$ours"
    check "the database, its keys and the ports are kept" eval \
        '[ "$(va_vsctl get Open_vSwitch . _uuid)" = "$db" ] \
         && [ "$(va_vsctl get Open_vSwitch . other_config:vhost-async-dma)" = software ] \
         && [ "$(va_vsctl get Interface vhu0 type)" = dpdkvhostuserclient ]'
    check "traffic goes through DMA again" check_dma

    "$ctl" stop > /tmp/ctl.log 2>&1 9>&- || cat /tmp/ctl.log
    ok=yes
    cleanup
    trap - EXIT
    echo "check-deb: inside: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}

# Inside the root, with the network: Debian's OVS, from the archive.
prepare() {
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q > /tmp/apt.log 2>&1 \
        && apt-get install -y -q --no-install-recommends \
               openvswitch-switch-dpdk >> /tmp/apt.log 2>&1 \
        || { tail -n 20 /tmp/apt.log; return 1; }
    # This machine has no openvswitch kernel module, which ovs-ctl loads
    # first (the netdev datapath does without it): a stub stands in for
    # the release's ovs-kmod-ctl, in this throwaway root only.
    dpkg-divert --local --rename --add \
        /usr/share/openvswitch/scripts/ovs-kmod-ctl > /dev/null
    printf '#!/bin/sh\nexit 0\n' > /usr/share/openvswitch/scripts/ovs-kmod-ctl
    chmod 755 /usr/share/openvswitch/scripts/ovs-kmod-ctl

}

# Inside the root of another release: the two builds, from a copy of the
# tree in /debs/src.tar, and lintian, with the packaging tools installed
# in this throwaway root.
build_inside() {
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q > /tmp/apt.log 2>&1 \
        && apt-get install -y -q --no-install-recommends \
               build-essential debhelper devscripts lintian fakeroot \
               >> /tmp/apt.log 2>&1 \
        || { tail -n 20 /tmp/apt.log; return 1; }
    mkdir -p /tmp/src
    tar -C /tmp/src -xf /debs/src.tar
    # check-stack.sh's build, where it was made, seeds the package's.
    export VA_DEB_OUT=/debs VA_DEB_BUILD_DIR=/tmp/deb-build BUILD_DIR=/none
    if [ -f /build/obj/ovs/.configured ]; then
        BUILD_DIR=/build/obj
    fi
    /tmp/src/utilities/build-deb.sh | tee /debs/build-old.log
    /tmp/src/utilities/build-deb.sh --local +upgrade \
        | tee /debs/build-new.log
    lintian --tag-display-limit 0 "$(tail -n 1 /debs/build-old.log)" \
        > /debs/lintian.log 2>&1 || true
}

case ${1:-} in
    --inside)
        shift
        inside "$@"
        exit
        ;;
    --prepare)
        prepare
        exit
        ;;
    --build-inside)
        build_inside
        exit
        ;;
esac

# ------------------------------------------------------------------------
# On the host: build and lintian (on the host for its own release, in the
# root for another), then the root.
# ------------------------------------------------------------------------
. /etc/os-release
. "$top/utilities/debian-release.sh"
host=$VERSION_CODENAME
release=$(va_release_codename "${1:-$host}" || echo "${1:-$host}")
name=$(va_release_stack "$release" || echo sid)
if [ "$release" = "$host" ]; then
    out=${VA_DEB_OUT:-$top/_deb}
else
    out=${VA_DEB_OUT:-$top/_deb/$release}
fi
export VA_DEB_OUT=$out
passed=0 failed=0 skipped=0
result() {
    echo "deb $name (${what:-not built}): $passed passed, $failed failed," \
         "$skipped skipped"
}

# A throwaway copy of the root: what is installed there goes with it.
"$top/utilities/debian-root.sh" create "$release"
lower=$("$top/utilities/debian-root.sh" path "$release")
scratch=$(mktemp -d /tmp/ovs-vhost-async-deb.XXXXXX)
merged=$scratch/roots/$release
# Removes the copy, never through a mount: with the overlay still there,
# rm would reach into the root it lies on.
unmount() {
    if mountpoint -q "$merged"; then
        umount "$merged" || umount -l "$merged" || true
    fi
    if mountpoint -q "$merged"; then
        echo "check-deb: $merged stays mounted; left $scratch" >&2
    else
        rm -rf "$scratch"
    fi
}
trap unmount EXIT
mkdir -p "$scratch/upper" "$scratch/work" "$merged"
mount -t overlay overlay \
    -o "lowerdir=$lower,upperdir=$scratch/upper,workdir=$scratch/work" \
    "$merged"
stack_build=${VA_STACK_BUILDS:-/var/cache/ovs-vhost-async/builds}/$name
binds=(--bind "$top:/src" --bind "$out:/debs")
if [ "$release" != "$host" ] && [ -f "$stack_build/obj/ovs/.configured" ]; then
    binds+=(--bind "$stack_build:/build")
fi
in_root() {
    VA_ROOTS_DIR=$scratch/roots "$top/utilities/debian-root.sh" run \
        "$release" "${binds[@]}" -- "$@"
}

start=$SECONDS
rm -f "$out"/*.deb "$out"/build-*.log "$out"/lintian.log
mkdir -p "$out"
if [ "$release" = "$host" ]; then
    built=yes
    "$top/utilities/build-deb.sh" | tee "$out/build-old.log" \
        && "$top/utilities/build-deb.sh" --local +upgrade \
               | tee "$out/build-new.log" \
        || built=no
    lintian --tag-display-limit 0 "$(tail -n 1 "$out/build-old.log")" \
        > "$out/lintian.log" 2>&1 || true
else
    # The same copy of the tree as utilities/check-stack.sh makes.
    git -C "$top" ls-files -z --cached --others --exclude-standard \
        | (cd "$top" && tar --null -T - -cf -) > "$out/src.tar"
    built=yes
    in_root bash /src/utilities/check-deb.sh --build-inside || built=no
    rm -f "$out/src.tar"
fi
old=$out/$(basename "$(tail -n 1 "$out/build-old.log" 2>/dev/null)")
new=$out/$(basename "$(tail -n 1 "$out/build-new.log" 2>/dev/null)")
if [ "$built" != yes ] || [ ! -f "$old" ] || [ ! -f "$new" ]; then
    echo "check-deb: FAILED: the package does not build" >&2
    failed=1
    result
    exit 1
fi
what="$pkg $(dpkg-deb -f "$old" Version)"
echo "check-deb: built $(basename "$old") and $(basename "$new")" \
     "in $((SECONDS - start)) s"
dpkg-deb -I "$old" | sed 's/^/  /'

# lintian: no error (warnings and the rest are printed).
sed 's/^/  lintian: /' "$out/lintian.log"
if grep -q '^E: ' "$out/lintian.log"; then
    echo "check-deb: FAILED: lintian reports errors" >&2
    failed=$((failed + 1))
else
    echo "check-deb: ok: lintian reports no error"
    passed=$((passed + 1))
fi

start=$SECONDS
rc=0
# The checks run in a network namespace of their own: the netdev
# datapath's tap device (ovs-netdev) and the bridge's would clash with
# those of another OVS on this machine.
in_root bash /src/utilities/check-deb.sh --prepare \
    > "$out/check-inside.log" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || in_root unshare --net -- \
    bash /src/utilities/check-deb.sh --inside \
        "$(basename "$old")" "$(basename "$new")" \
    2>&1 | tee -a "$out/check-inside.log" || rc=$?
echo "check-deb: the root's checks took $((SECONDS - start)) s"
passed=$((passed + $(grep -c '^check-deb: ok: ' "$out/check-inside.log" || true)))
failed=$((failed + $(grep -c '^check-deb: FAILED: ' "$out/check-inside.log" || true)))
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
    echo "check-deb: FAILED: the root's checks stopped early" >&2
    failed=$((failed + 1))
fi
result
[ "$failed" -eq 0 ]
