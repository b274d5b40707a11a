# -*- shell-script -*-
# Shell functions shared by the demo (utilities/demo.sh) and the system
# tests (tests/system-vhost-async-macros.at): hugepages, a sandboxed
# ovsdb-server and ovs-vswitchd with DPDK, and bounded waits.
#
# Every process is stopped through its own PID, never by name.  Every
# wait is bounded in time.
#
# Callers set:
#   VA_OVS_BUILDDIR   the OVS build tree (with vswitchd/, utilities/, ...)
#   OVS_RUNDIR        a directory of their own for sockets, pids, logs, db

# System tests and the demo hold this lock, machine-wide, while they use
# hugepages, CPU 1 and the va-* network namespaces.  They hold it on fd 9,
# which the daemons and guests started here do not inherit: one left behind
# must not hold the lock.
VA_LOCK_FILE=/run/lock/ovs-vhost-async.lock

va_log() {
    echo "$(basename -- "$0"): $*" >&2
}

# va_wait_until SECONDS COMMAND...
#
# Runs COMMAND every 0.1 s until it succeeds or SECONDS have passed
# (counted both in tries and on the clock: a slow COMMAND ends it early).
va_wait_until() {
    local tries=$(( $1 * 10 )) end=$(( $(date +%s) + $1 ))
    shift
    while [ "$tries" -gt 0 ] && [ "$(date +%s)" -le "$end" ]; do
        if "$@" >/dev/null 2>&1; then
            return 0
        fi
        tries=$((tries - 1))
        sleep 0.1
    done
    va_log "timed out waiting for: $*"
    return 1
}

# A child of this shell that it has not reaped yet is a zombie: dead, but
# only once its last thread is gone.  The main thread of a multi-threaded
# process (ovs-vswitchd) turns zombie while the others are still exiting,
# with its memory (hugepages) still mapped.
va_pid_alive() {
    kill -0 "$1" 2>/dev/null || return 1
    if grep -q '^[0-9]* (.*) Z' "/proc/$1/stat" 2>/dev/null \
       && [ "$(ls "/proc/$1/task" 2>/dev/null | wc -l)" -le 1 ]; then
        return 1
    fi
    return 0
}

# va_stop_pid PID [SECONDS]
#
# SIGTERM, then SIGKILL if PID is still there after SECONDS (default 10).
va_stop_pid() {
    local pid=$1 secs=${2:-10}

    [ -n "$pid" ] || return 0
    va_pid_alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    if ! va_wait_until "$secs" eval "! va_pid_alive $pid"; then
        va_log "pid $pid ignored SIGTERM for ${secs}s: sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null
        va_wait_until 5 eval "! va_pid_alive $pid"
    fi
}

# va_stop_pidfile FILE [SECONDS]
va_stop_pidfile() {
    [ -f "$1" ] && va_stop_pid "$(cat "$1")" "${2:-10}"
    rm -f "$1"
}

va_hugepages_free() {
    awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo
}

# va_hugepages_reserve PAGES
#
# Makes sure PAGES 2 MB hugepages are free and hugetlbfs is mounted,
# raising vm.nr_hugepages if needed.  On failure prints why on stdout
# and returns 1.
va_hugepages_reserve() {
    local want=$1 free total

    if [ "$(id -u)" != 0 ]; then
        echo "hugepages: not root, cannot reserve $want hugepages"
        return 1
    fi
    if ! grep -qs ' /dev/hugepages hugetlbfs ' /proc/mounts; then
        mkdir -p /dev/hugepages
        if ! mount -t hugetlbfs nodev /dev/hugepages 2>/dev/null; then
            echo "hugepages: cannot mount hugetlbfs on /dev/hugepages"
            return 1
        fi
    fi
    VA_HUGEPAGES_BEFORE=$(cat /proc/sys/vm/nr_hugepages)
    free=$(va_hugepages_free)
    if [ "$free" -lt "$want" ]; then
        total=$VA_HUGEPAGES_BEFORE
        echo $((total + want - free)) > /proc/sys/vm/nr_hugepages
        free=$(va_hugepages_free)
    fi
    if [ "$free" -lt "$want" ]; then
        echo "hugepages: only $free of $want hugepages could be had"
        return 1
    fi
    return 0
}

# va_hugepages_restore
#
# Gives back what va_hugepages_reserve added to vm.nr_hugepages.
va_hugepages_restore() {
    if [ -n "${VA_HUGEPAGES_BEFORE:-}" ]; then
        echo "$VA_HUGEPAGES_BEFORE" > /proc/sys/vm/nr_hugepages
    fi
}

va_vsctl() {
    ovs-vsctl --timeout=30 "$@"
}

# va_dpdk_config EAL-ARGS [KEY=VALUE...]
#
# Sets, in Open_vSwitch other_config, DPDK on with 512 MB, the PMD thread
# on CPU 1, EAL-ARGS for the EAL, and each KEY=VALUE.  512 MB: a 9000 B
# MTU mempool takes about 170 MB, and vhost async allocates its per-vring
# metadata from the same heap.  --in-memory (which OVS adds anyway)
# leaves no hugepage file behind; DPDK 25.11 refuses it beside
# --huge-unlink.
va_dpdk_config() {
    local eal=$1 kv more=()
    shift
    for kv in "$@"; do
        more+=("other_config:$kv")
    done
    va_vsctl --no-wait set Open_vSwitch . \
        other_config:dpdk-init=true \
        other_config:dpdk-socket-mem=512 \
        other_config:dpdk-socket-limit=512 \
        other_config:pmd-cpu-mask=0x2 \
        "other_config:dpdk-extra=--no-pci $eal --in-memory" "${more[@]}"
}

# va_ovs_start [KEY=VALUE...]
#
# Creates a database in OVS_RUNDIR and starts ovsdb-server and
# ovs-vswitchd there, with DPDK initialised before ovs-vswitchd
# detaches.  Each KEY=VALUE goes into Open_vSwitch other_config.
# VA_FILE_PREFIX names the DPDK runtime files (default: from OVS_RUNDIR),
# VA_IOVA_MODE is the EAL's IOVA mode (default: va, which software DMA
# needs), VA_EXTRA_EAL adds EAL arguments (e.g. "--vdev net_null0").
va_ovs_start() {
    local prefix=${VA_FILE_PREFIX:-ovsva-$(basename "$OVS_RUNDIR")}

    export OVS_LOGDIR=$OVS_RUNDIR OVS_DBDIR=$OVS_RUNDIR
    export OVS_SYSCONFDIR=$OVS_RUNDIR OVS_PKGDATADIR=$VA_OVS_BUILDDIR
    PATH=$VA_OVS_BUILDDIR/utilities:$VA_OVS_BUILDDIR/vswitchd:$VA_OVS_BUILDDIR/ovsdb:$PATH

    ovsdb-tool create "$OVS_RUNDIR/conf.db" \
        "$VA_OVS_BUILDDIR/vswitchd/vswitch.ovsschema" || return 1
    ovsdb-server --detach --no-chdir --pidfile --log-file \
        --remote="punix:$OVS_RUNDIR/db.sock" "$OVS_RUNDIR/conf.db" 9>&- \
        || return 1
    va_vsctl --no-wait init || return 1
    va_dpdk_config "--iova-mode=${VA_IOVA_MODE:-va} ${VA_EXTRA_EAL:-} --file-prefix=$prefix" \
        || return 1
    local kv
    for kv in "$@"; do
        va_vsctl --no-wait set Open_vSwitch . "other_config:$kv" || return 1
    done
    va_vswitchd_start
}

# Without --detach, which would make it a session of its own: the kernel's
# autogroup scheduling then puts it and the guests in one group.  With a
# guest, a PMD thread and software DMA threads on one CPU in two groups,
# Linux 6.18 left the runnable guest off that CPU for seconds at a time.
va_vswitchd_start() {
    local pid

    ovs-vswitchd --no-chdir --pidfile --log-file -vconsole:off -vfile:info \
        </dev/null >>"$OVS_RUNDIR/ovs-vswitchd.stderr" 2>&1 9>&- &
    pid=$!
    va_wait_until 30 eval "! va_pid_alive $pid || [ \"\$(va_vsctl get Open_vSwitch . dpdk_initialized)\" = true ]" \
        && va_pid_alive "$pid"
}

# va_log_problems LOG [SED-SCRIPT]
#
# Prints the warnings and errors of ovs-vswitchd's LOG that are not known
# to be harmless, nor removed by SED-SCRIPT.  Harmless: what DPDK says of
# a machine without 1 GB pages or legacy telemetry, a guest not listening
# yet, no kernel datapath, the stop signal, vhost failing for a moment to
# allocate an async channel (netdev-vhost-async registers it later), and
# the kernel's answers to a long poll interval.
va_log_problems() {
    sed -n '/|WARN|\||ERR|\||EMER|/p' "$1" | sed '
/No free 1048576 kB hugepages reported/d
/TELEMETRY: No legacy callbacks/d
/failed to connect: No such file or directory/d
/timeval|WARN|Unreasonably long [0-9]*ms poll interval/d
/timeval|WARN|context switches: [0-9]* voluntary/d
/timeval|WARN|faults: [0-9]* minor, [0-9]* major/d
/timeval|WARN|disk: [0-9]* reads, [0-9]* writes/d
/failed to enumerate system datapaths/d
/terminating with signal 15/d
/VHOST_CONFIG: .* failed to allocate async metadata (qid: [0-9]*)/d
/VHOST_CONFIG: .* failed to unregister async channel, virtqueue busy/d
'"${VA_OVS_EXIT:+/ovs_rcu.*|WARN|blocked [0-9]* ms waiting for main to quiesce/d
}${2:-}"
}

# va_ovs_stop
#
# Stops ovs-vswitchd, then ovsdb-server, each by its own pid file.  With
# VA_OVS_EXIT set (make check-asan), ovs-vswitchd is first asked to exit
# ("ovs-appctl exit --cleanup"): it then frees what it can and returns
# from main(), where LeakSanitizer checks it.  After SIGTERM OVS
# re-raises the signal, and nothing is checked.  (Instrumented, that exit
# is slow: va_log_problems then lets OVS's RCU thread say it waited for
# the main thread.)
va_ovs_stop() {
    local pidfile=$OVS_RUNDIR/ovs-vswitchd.pid taps tap

    # The userspace datapath makes its internal ports persistent taps:
    # ovs-netdev and one per bridge.  Unless OVS deletes its datapath
    # (exit --cleanup), they outlive it.
    taps="ovs-netdev $(ovs-vsctl --timeout=5 --bare --columns=name \
                           find Interface type=internal 2>/dev/null)"
    if [ -n "${VA_OVS_EXIT:-}" ] && [ -f "$pidfile" ]; then
        local pid
        pid=$(cat "$pidfile")
        ovs-appctl --timeout=30 -t "$OVS_RUNDIR/ovs-vswitchd.$pid.ctl" \
            exit --cleanup \
            && va_wait_until 30 eval "! va_pid_alive $pid"
    fi
    va_stop_pidfile "$pidfile" 30
    va_stop_pidfile "$OVS_RUNDIR/ovsdb-server.pid" 10
    for tap in $taps; do
        if ip -d link show dev "$tap" 2>/dev/null | grep -q ' tun type tap'; then
            ip link del dev "$tap"
        fi
    done
}

# va_guest_start NAME [VIRTIO-DEVARGS [TESTPMD-ARGS...]]
#
# Starts a "guest": dpdk-testpmd with a virtio-user port in server mode on
# $OVS_RUNDIR/NAME.sock, for a dpdkvhostuserclient port to connect to.
# VIRTIO-DEVARGS are added to the virtio-user devargs (e.g.
# "packed_vq=1,mrg_rxbuf=0"; one queue pair unless they say "queues=N");
# TESTPMD-ARGS go after "--".  Output goes to NAME.log, the pid to
# NAME.pid.  VA_GUEST_VDEVS adds more devices (e.g. more virtio-user
# ports) before it; the guest is up once its last socket is, within
# VA_GUEST_START_TIMEOUT seconds (default 30).  A stale socket of a killed guest is
# removed first.  Both testpmd lcores run on CPU 0, away from the PMD.
# With VA_GUEST_INTERACTIVE set, testpmd runs its command line, fed by
# va_guest_cmd, and prints no periodic statistics.
va_guest_start() {
    local name=$1 devargs=${2:+,$2}
    shift $(( $# < 2 ? $# : 2 ))
    local sock=$OVS_RUNDIR/$name.sock

    local stdin=/dev/null in queues=,queues=1

    case $devargs in
        *,queues=*) queues= ;;
    esac

    rm -f "$sock"
    if [ -n "${VA_GUEST_INTERACTIVE:-}" ]; then
        # Commands come through a FIFO that testpmd holds open for writing
        # too, so that it never sees end of file.
        stdin=$OVS_RUNDIR/$name.fifo
        rm -f "$stdin"
        mkfifo "$stdin" || return 1
        set -- -i "$@"
    else
        set -- --stats-period=1 "$@"
    fi
    exec {in}<>"$stdin"
    # virtio-user writes to its vhost-user socket without MSG_NOSIGNAL: a
    # message sent after OVS closed the connection (a port deleted, a
    # reconnection forced) would kill the guest with SIGPIPE, silently,
    # e.g. half way through closing its ports.  It gets EPIPE instead.
    (trap '' PIPE
     exec stdbuf -oL dpdk-testpmd --lcores 0@0,1@0 --in-memory \
        --single-file-segments --iova-mode=va \
        --no-pci --file-prefix="va-$name-$$" --log-level=pmd.*:warning \
        ${VA_GUEST_VDEVS:-} \
        --vdev "net_virtio_user0,path=$sock,server=1$queues$devargs" \
        -- "$@") <&$in > "$OVS_RUNDIR/$name.log" 2>&1 9>&- &
    local pid=$!
    exec {in}>&-
    echo $pid > "$OVS_RUNDIR/$name.pid"
    if ! va_wait_until "${VA_GUEST_START_TIMEOUT:-30}" eval "test -S '$sock' || ! kill -0 $pid" \
       || ! kill -0 $pid; then
        va_log "guest $name did not start: see $OVS_RUNDIR/$name.log"
        return 1
    fi
}

# va_guest_stop NAME
#
# Stops guest NAME: SIGTERM, then SIGKILL after VA_GUEST_STOP_TIMEOUT
# seconds (default 10).  testpmd closes its ports one by one on the way out.
va_guest_stop() {
    va_stop_pidfile "$OVS_RUNDIR/$1.pid" "${VA_GUEST_STOP_TIMEOUT:-10}"
    rm -f "$OVS_RUNDIR/$1.sock" "$OVS_RUNDIR/$1.fifo"
}

# va_guest_cmd NAME COMMAND
#
# Sends COMMAND to an interactive guest (VA_GUEST_INTERACTIVE=1 at start)
# and waits, up to 30 s, until testpmd prompts again.
va_guest_cmd() {
    local log=$OVS_RUNDIR/$1.log n

    n=$(va_guest_prompts "$log")
    echo "$2" > "$OVS_RUNDIR/$1.fifo" || return 1
    va_wait_until 30 eval "[ \$(va_guest_prompts '$log') -gt $n ]"
}

# va_guest_prompts LOG
#
# How many times testpmd prompted in LOG.  Messages of its interrupt
# thread may land in the middle of a prompt ("tes", then "Port 0: link
# state change event", then "tpmd> "): they are taken out, and the lines
# joined, before the prompts are counted.
va_guest_prompts() {
    sed -e 's/Port [0-9]*: link state change event//' \
        -e 's/vhost_user_update_link_state(): virtio-user port [0-9]* is down//' \
        "$1" | tr -d '\n' | grep -o 'testpmd> ' | wc -l
}

# va_guest_counter NAME FIELD
#
# The guest's latest periodic statistics for its virtio port: FIELD is
# RX-packets, TX-packets, RX-bytes, ...
va_guest_counter() {
    sed -n "s/.*$2: *\([0-9]*\).*/\1/p" "$OVS_RUNDIR/$1.log" | tail -n 1
}

# va_kernel_guest_start NAME ADDRESS/PREFIX [VIRTIO-DEVARGS]
#
# A guest that forwards between its virtio port and the kernel: a veth
# pair whose one end (va-NAME) is given to the guest through af_packet and
# whose other end sits, with ADDRESS and MTU 9000, in network namespace
# va-NAME.  Checksum offload is off on both ends: af_packet passes frames
# on with checksums left for hardware.  With VA_GUEST_QUEUES=N (default
# 1) the virtio port, the veth and af_packet have N queue pairs; af_packet
# spreads flows over them by hash.
va_kernel_guest_start() {
    local name=$1 addr=$2 devargs=${3:-}
    local ns=va-$name host=va-$name guest=va-$name-ns
    local nq=${VA_GUEST_QUEUES:-1} mq=

    if [ "$nq" -gt 1 ]; then
        # Multi-queue virtio-user needs its control queue.
        devargs=${devargs:+$devargs,}queues=$nq,cq=1
        mq="--rxq=$nq --txq=$nq"
    fi
    va_kernel_guest_cleanup "$name"
    ip netns add "$ns" &&
    ip link add "$host" numtxqueues "$nq" numrxqueues "$nq" type veth \
        peer name "$guest" numtxqueues "$nq" numrxqueues "$nq" &&
    ip link set "$guest" netns "$ns" &&
    ip link set "$host" mtu 9000 up &&
    ip -n "$ns" link set lo up &&
    ip -n "$ns" link set "$guest" mtu 9000 up &&
    ip -n "$ns" addr add "$addr" dev "$guest" &&
    ethtool -K "$host" tx off >/dev/null &&
    ip netns exec "$ns" ethtool -K "$guest" tx off >/dev/null || return 1

    # shellcheck disable=SC2086
    VA_GUEST_VDEVS="--vdev net_af_packet0,iface=$host,qpairs=$nq,framesz=16384,blocksz=16384,framecnt=256" \
        va_guest_start "$name" "$devargs" \
            --forward-mode=io --mbuf-size=16512 \
            --total-num-mbufs=$((4096 * nq)) $mq
}

va_kernel_guest_cleanup() {
    va_guest_stop "$1"
    ip link del "va-$1" 2>/dev/null
    ip netns del "va-$1" 2>/dev/null
    return 0
}

# va_port_counters
#
# Port counters as "tx_packets tx_dropped rx_packets rx_dropped", summed
# over the ports of br0 but LOCAL, from OpenFlow port statistics (read
# live).
va_port_counters() {
    timeout 10 ovs-ofctl dump-ports br0 | awk '
        function num(key) {
            if (!match($0, key "=[0-9]+")) return 0
            return substr($0, RSTART + length(key) + 1,
                          RLENGTH - length(key) - 1)
        }
        /port / { on = $0 ~ /port +[0-9]+:/ }
        on && /rx pkts/ { rx += num("pkts"); rxd += num("drop") }
        on && /tx pkts/ { tx += num("pkts"); txd += num("drop") }
        END { printf "%d %d %d %d\n", tx, txd, rx, rxd }'
}

# va_port_tx PORT
#
# "PACKETS DROPPED": what OVS sent to PORT's guest and what it dropped
# because the guest's vring was full, live from the datapath (OVSDB's
# statistics are only refreshed every 5 s).
va_port_tx() {
    timeout 10 ovs-ofctl dump-ports br0 "$1" | awk '
        /tx pkts/ {
            match($0, /pkts=[0-9]+/); p = substr($0, RSTART + 5, RLENGTH - 5)
            match($0, /drop=[0-9]+/); d = substr($0, RSTART + 5, RLENGTH - 5)
            print p, d }'
}

# va_check_growing WHAT TIMES SECONDS COMMAND...
#
# Succeeds if the number COMMAND prints grows in each of TIMES intervals
# of SECONDS in a row; otherwise says which interval it did not, naming
# WHAT.
va_check_growing() {
    local what=$1 times=$2 secs=$3 i before after
    shift 3

    before=$("$@")
    for i in $(seq 1 "$times"); do
        sleep "$secs"
        after=$("$@")
        if [ -z "$after" ] || [ "$after" -le "${before:-0}" ]; then
            va_log "$what: nothing in interval $i of $times" \
                   "($before, then $after)"
            return 1
        fi
        before=$after
    done
}

va_port_tx_packets() {
    va_port_tx "$1" | cut -d' ' -f1
}

# va_check_flowing PORT SECONDS
#
# Succeeds if OVS sends packets to PORT's guest in each of SECONDS
# one-second intervals in a row.
va_check_flowing() {
    va_check_growing "$1: packets to its guest" "$2" 1 va_port_tx_packets "$1"
}

# va_check_guest_receives NAME TIMES
#
# Succeeds if guest NAME's periodic statistics show packets received in
# each of TIMES intervals of 2 s in a row, without asking ovs-vswitchd
# anything.  The guest prints them every second, give or take the time
# its CPU spends on others.
va_check_guest_receives() {
    va_check_growing "$1: packets its guest received" "$2" 2 \
        va_guest_counter "$1" RX-packets
}

# va_tx_drop_permille PORT SECONDS
#
# The share, in thousandths, of the packets to PORT's guest that OVS
# dropped over the next SECONDS seconds.
va_tx_drop_permille() {
    local a b

    a=$(va_port_tx "$1")
    sleep "$2"
    b=$(va_port_tx "$1")
    echo "$a $b" | awk '{
        sent = $3 - $1; dropped = $4 - $2
        if (sent + dropped <= 0) { print "none"; exit 1 }
        printf "%d\n", 1000 * dropped / (sent + dropped) }'
}

# va_mbufs_in_use PORT
#
# Mbufs of PORT's mempool that are neither in the pool's common ring nor
# in a per-lcore cache.
va_mbufs_in_use() {
    ovs-appctl netdev-dpdk/get-mempool-info "$1" | awk '
        /populated_size=/  { split($0, a, "="); total = a[2] }
        /common_pool_count=/ { split($0, a, "="); common = a[2] }
        /cache_count\[/    { split($0, a, "="); cached += a[2] }
        END { if (total == "") exit 1; print total - common - cached }'
}

# va_all_mbufs_in_use
#
# Mbufs out of all of ovs-vswitchd's mempools, those of deleted ports
# too, or -1 if it has none.
va_all_mbufs_in_use() {
    ovs-appctl netdev-dpdk/get-mempool-info | awk '
        /^mempool /          { n++ }
        /populated_size=/    { split($0, a, "="); total += a[2] }
        /common_pool_count=/ { split($0, a, "="); total -= a[2] }
        /cache_count\[/      { split($0, a, "="); total -= a[2] }
        END { print n ? total : -1 }'
}
