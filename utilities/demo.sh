#!/bin/bash
# The demo: installs what is missing, builds the patched OVS, then starts
# a sandboxed ovsdb-server and ovs-vswitchd with DPDK and vhost async on
# (software DMA), adds a dpdkvhostuserclient port, shows what OVS made of
# it, and tears everything down again.  Run as root.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/_build}

"$top/utilities/install-deps.sh"
"$top/utilities/build.sh"

# shellcheck source=utilities/vhost-async-lib.sh
. "$top/utilities/vhost-async-lib.sh"
VA_OVS_BUILDDIR=$build/ovs

OVS_RUNDIR=$(mktemp -d /tmp/ovs-vhost-async-demo.XXXXXX)
export OVS_RUNDIR

cleanup() {
    local rc=$?
    va_ovs_stop
    va_hugepages_restore
    rm -rf "$OVS_RUNDIR"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

section() {
    printf '\n=== %s\n' "$*"
}

if ! va_hugepages_reserve 256 >&2; then
    exit 1
fi

section "Starting ovsdb-server and ovs-vswitchd with DPDK in $OVS_RUNDIR"
va_ovs_start vhost-async-support=true

va_vsctl add-br br0 -- set bridge br0 datapath_type=netdev
va_vsctl add-port br0 vhu0 -- set Interface vhu0 type=dpdkvhostuserclient \
    "options:vhost-server-path=$OVS_RUNDIR/vhu0.sock"

section "ovs-vsctl show"
va_vsctl show

section "What ovs-vswitchd logged about DPDK and vhost async"
grep -E 'dpdk\|INFO\|(Using DPDK|DPDK Enabled)|netdev_vhost_async|vhost-user client' \
    "$OVS_RUNDIR/ovs-vswitchd.log" | sed 's/^[^|]*|//'

section "ovs-appctl dpif-netdev/pmd-rxq-show"
ovs-appctl dpif-netdev/pmd-rxq-show

section "ovs-appctl dpif-netdev/pmd-stats-show"
ovs-appctl dpif-netdev/pmd-stats-show

section "Stopping"
