#!/bin/bash
# The demo: installs what is missing, builds the patched OVS, then starts
# a sandboxed ovsdb-server and ovs-vswitchd with DPDK and vhost async on,
# a dpdk-testpmd guest behind a dpdkvhostuserclient port, runs traffic
# through it for DEMO_SECONDS (default 5), shows the PMD and port
# statistics, and tears everything down again.  Run as root.
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
    va_guest_stop guest0
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

# One at a time with the system tests: they share hugepages and CPU 1.
exec 9>>"$VA_LOCK_FILE"
if ! flock -w 600 9; then
    echo "demo: another demo or test run holds $VA_LOCK_FILE" >&2
    exit 1
fi

if ! va_hugepages_reserve 512 >&2; then
    exit 1
fi

section "Starting ovsdb-server and ovs-vswitchd with DPDK in $OVS_RUNDIR"
# Software DMA (dma_skeleton) stands in for Intel DSA/CBDMA hardware here.
# The guest sends 64 B frames, which by default (under 256 B) the CPU
# copies while nothing is in flight: copy-threshold=0 shows DMA at work.
va_ovs_start vhost-async-support=true vhost-async-dma=software \
    vhost-async-copy-threshold=0

va_vsctl add-br br0 -- set bridge br0 datapath_type=netdev

section "Starting a guest (dpdk-testpmd, virtio-user) that sends 64 B frames"
va_guest_start guest0 "" --forward-mode=flowgen
va_vsctl add-port br0 vhu0 -- set Interface vhu0 type=dpdkvhostuserclient \
    "options:vhost-server-path=$OVS_RUNDIR/guest0.sock"
# Everything the guest sends comes straight back to it.
ovs-ofctl add-flow br0 in_port=vhu0,actions=in_port

section "ovs-vsctl show"
va_vsctl show

section "What ovs-vswitchd logged about DPDK and vhost async"
grep -E 'dpdk\|INFO\|(Using DPDK|DPDK Enabled)|netdev_vhost_async|dma_pool|vHost Device' \
    "$OVS_RUNDIR/ovs-vswitchd.log" | sed 's/^[^|]*|//'

va_wait_until 30 eval '[ "$(va_guest_counter guest0 RX-packets)" -gt 0 ]'
ovs-appctl dpif-netdev/pmd-stats-clear >/dev/null
echo "Forwarding for ${DEMO_SECONDS:-5} seconds..."
sleep "${DEMO_SECONDS:-5}"

section "ovs-appctl dpdk/dma-show"
ovs-appctl dpdk/dma-show

section "ovs-appctl netdev-vhost-async/show"
ovs-appctl netdev-vhost-async/show

section "ovs-vsctl get Interface vhu0 status"
va_vsctl get Interface vhu0 status

section "ovs-appctl dpif-netdev/pmd-rxq-show"
ovs-appctl dpif-netdev/pmd-rxq-show

# OVS 4.0 documents pmd-perf-show alone (pmd-stats-show is an alias).
case $(ovs-vswitchd --version | head -n 1) in
    *") 3."*)
        section "ovs-appctl dpif-netdev/pmd-stats-show"
        ovs-appctl dpif-netdev/pmd-stats-show
        ;;
esac

section "ovs-appctl dpif-netdev/pmd-perf-show"
ovs-appctl dpif-netdev/pmd-perf-show

section "ovs-ofctl dump-ports br0 vhu0"
ovs-ofctl dump-ports br0 vhu0

section "ovs-vsctl get Interface vhu0 statistics"
# OVS refreshes this column every 5 s (other_config:stats-update-interval).
va_wait_until 15 va_vsctl get Interface vhu0 statistics:rx_packets || true
va_vsctl get Interface vhu0 statistics | tr ',' '\n' | sed 's/^ *[{]*//; s/[}]$//'

section "Guest's view of its virtio port"
grep -A4 'NIC statistics for port' "$OVS_RUNDIR/guest0.log" | tail -n 5

section "Stopping"
