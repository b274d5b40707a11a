# -*- shell-script -*-
# Shell functions for QEMU VM guests of the system tests: a Linux kernel
# drives the port with virtio-net, through a vhost-user socket on which
# QEMU is the server and OVS's dpdkvhostuserclient port the client.
# Sourced after utilities/vhost-async-lib.sh.
#
# Callers set OVS_RUNDIR (sockets, pid files and consoles go there) and
# VA_VM_IMAGE_DIR (where utilities/vm-image.sh keeps the kernel and the
# initramfs).  Every VM runs on CPU 0, beside the guests, the DMA thread
# and the main thread, away from the PMD on CPU 1.
#
# Where KVM boots a kernel (va_vm_probe_kvm), QEMU uses it and the NIC its
# MSI-X vectors.  Elsewhere QEMU emulates the CPU (TCG) and the NIC has no
# MSI-X ("vectors=0", legacy INTx): Debian 12's QEMU 7.2 crashes under TCG in
# vhost_net_start() when a vhost-user NIC starts with MSI-X.

va_vm_srcdir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# va_vm_image: builds the guest image once, then finds out whether KVM
# boots it (a lock keeps two test shells from doing either at the same
# time).
va_vm_image() {
    mkdir -p "$VA_VM_IMAGE_DIR" || return 1
    flock -w 300 "$VA_VM_IMAGE_DIR" "$va_vm_srcdir/utilities/vm-image.sh" \
        "$VA_VM_IMAGE_DIR" || return 1
    (flock -w 60 9 && va_vm_probe_kvm) 9< "$VA_VM_IMAGE_DIR"
}

# va_vm_probe_kvm: writes "kvm" to $VA_VM_IMAGE_DIR/accel if a kernel boots
# under KVM here, else "tcg"; once per image directory.  A writable
# /dev/kvm is not enough: under some nested hypervisors QEMU aborts at
# start ("failed to set MSR 0x10a") or the guest never prints a line.
va_vm_probe_kvm() {
    local dir=$VA_VM_IMAGE_DIR accel=tcg pid
    [ -f "$dir/accel" ] && return 0
    if [ -w /dev/kvm ]; then
        rm -f "$dir/kvm-probe.console"
        qemu-system-x86_64 -machine pc,accel=kvm -cpu max -smp 1 -m 128 \
            -nodefaults -no-user-config -display none -no-reboot \
            -kernel "$dir/vmlinuz" -append "console=ttyS0 panic=-1" \
            -serial "file:$dir/kvm-probe.console" \
            </dev/null >"$dir/kvm-probe.log" 2>&1 9>&- &
        pid=$!
        if va_wait_until 20 eval "grep -q 'Linux version' \
                $dir/kvm-probe.console || ! va_pid_alive $pid" \
           && grep -q 'Linux version' "$dir/kvm-probe.console"; then
            accel=kvm
        fi
        va_stop_pid "$pid" 5 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
    echo "$accel" > "$dir/accel"
}

# va_vm_accel: "kvm" where the probe booted a kernel under KVM, else
# "tcg"; VA_VM_ACCEL, if set, decides.
va_vm_accel() {
    if [ -n "${VA_VM_ACCEL:-}" ]; then
        echo "$VA_VM_ACCEL"
    elif [ -f "$VA_VM_IMAGE_DIR/accel" ]; then
        cat "$VA_VM_IMAGE_DIR/accel"
    else
        echo tcg
    fi
}

# va_vm_mac NAME: the MAC of VM NAME's NIC, from its name, so that two VMs
# never share one.
va_vm_mac() {
    echo "52:54:00:$(echo "$1" | sha256sum | sed 's/^\(..\)\(..\)\(..\).*/\1:\2:\3/')"
}

# va_vm_start NAME ADDRESS/PREFIX [NIC-OPTIONS [QEMU-ARGS...]]
#
# Starts VM NAME with 256 MB of shared memory (a memfd) and one NIC whose
# vhost-user socket is $OVS_RUNDIR/NAME.sock, with ADDRESS on eth0.
# NIC-OPTIONS are added to the virtio-net-pci device (e.g.
# "packed=on,mrg_rxbuf=off"); QEMU-ARGS go at the end of the command line.
# VA_VM_QUEUES (default 1) sets the queue pairs, VA_VM_MTU (default
# 1500) the guest's MTU, VA_VM_MEM_SLOTS (default 0) memory hot-plug slots,
# VA_VM_MAC_OF (default NAME) the VM whose MAC the NIC takes (a migration
# destination takes its source's).
# The console goes to NAME.console, QMP listens on NAME.qmp, the agent on
# NAME.agent, the pid is in NAME.qemu.pid.  Returns once QEMU listens on
# NAME.sock; va_vm_wait_ready waits for the guest.
va_vm_start() {
    local name=$1 addr=$2 nic=${3:+,$3}
    shift $(( $# < 3 ? $# : 3 ))
    local run=$OVS_RUNDIR queues=${VA_VM_QUEUES:-1} mtu=${VA_VM_MTU:-1500}
    local slots=${VA_VM_MEM_SLOTS:-0} accel vectors= mem pid mac

    accel=$(va_vm_accel)
    mem=256M
    if [ "$slots" -gt 0 ]; then
        mem="256M,slots=$slots,maxmem=1G"
    fi
    # Under TCG no MSI-X; with KVM, one vector per vring and two more.
    if [ "$accel" = tcg ]; then
        vectors=",vectors=0"
    elif [ "$queues" -gt 1 ]; then
        vectors=",vectors=$((2 * queues + 2))"
    fi
    if [ "$queues" -gt 1 ]; then
        vectors=",mq=on$vectors"
    fi
    rm -f "$run/$name.sock" "$run/$name.qmp" "$run/$name.agent" \
          "$run/$name.console"
    mac=$(va_vm_mac "${VA_VM_MAC_OF:-$name}")
    # Not daemonized: a session of its own would put QEMU in an autogroup
    # of its own (see va_vswitchd_start).
    taskset -c 0 qemu-system-x86_64 -name "$name" \
        -machine pc,accel="$accel" -cpu max -smp 1 \
        -m "$mem" -object memory-backend-memfd,id=mem0,size=256M,share=on \
        -numa node,memdev=mem0 \
        -nodefaults -no-user-config -display none \
        -kernel "$VA_VM_IMAGE_DIR/vmlinuz" -initrd "$VA_VM_IMAGE_DIR/initrd.img" \
        -append "console=ttyS0 quiet panic=-1 va.ip=$addr va.mtu=$mtu" \
        -serial "file:$run/$name.console" \
        -chardev "socket,id=agent,path=$run/$name.agent,server=on,wait=off" \
        -serial chardev:agent \
        -qmp "unix:$run/$name.qmp,server=on,wait=off" \
        -chardev "socket,id=vhu,path=$run/$name.sock,server=on,wait=off" \
        -netdev "vhost-user,id=net0,chardev=vhu,queues=$queues" \
        -device "virtio-net-pci,netdev=net0,mac=$mac,host_mtu=$mtu$vectors$nic" \
        "$@" </dev/null >"$run/$name.qemu.log" 2>&1 9>&- &
    pid=$!
    echo $pid > "$run/$name.qemu.pid"
    if ! va_wait_until 30 eval "test -S '$run/$name.sock' || ! va_pid_alive $pid" \
       || ! va_pid_alive $pid; then
        va_log "VM $name did not start: see $run/$name.qemu.log"
        cat "$run/$name.qemu.log" >&2
        return 1
    fi
}

# va_vm_wait_ready NAME [SECONDS]
#
# Waits (default 180 s: a TCG boot on a busy CPU) until VM NAME has
# brought eth0 up and its agent answers.
va_vm_wait_ready() {
    local name=$1 secs=${2:-180}
    if ! va_wait_until "$secs" eval "! va_pid_alive \$(cat $OVS_RUNDIR/$name.qemu.pid) || grep -q 'va-guest: eth0 .* ready' $OVS_RUNDIR/$name.console"; then
        va_log "VM $name did not boot in ${secs}s: see $name.console"
        return 1
    fi
    if ! va_pid_alive "$(cat "$OVS_RUNDIR/$name.qemu.pid")"; then
        va_log "VM $name exited: see $name.qemu.log"
        cat "$OVS_RUNDIR/$name.qemu.log" >&2
        return 1
    fi
    va_vm "$name" true
}

# va_vm NAME SCRIPT [SECONDS]
#
# Runs SCRIPT in VM NAME's shell, prints its output, returns its status;
# 124 when no answer came within SECONDS (default 60).
va_vm() {
    ${PYTHON3:-python3} "$va_vm_srcdir/tests/vm-agent.py" run \
        "$OVS_RUNDIR/$1.agent" "${3:-60}" "$2"
}

# va_vm_qmp NAME COMMAND [JSON-ARGUMENTS]
va_vm_qmp() {
    ${PYTHON3:-python3} "$va_vm_srcdir/tests/vm-agent.py" qmp "$OVS_RUNDIR/$1.qmp" \
        "${@:2}"
}

# va_vm_migrate FROM TO [SECONDS]
#
# Migrates VM FROM to VM TO, which va_vm_start started with "-incoming
# unix:$OVS_RUNDIR/TO.incoming", and waits (default 120 s) until the
# migration completed (returns 0) or failed (returns 1).  Prints QEMU's
# final status; FROM is left paused.
va_vm_migrate() {
    local from=$1 to=$2 secs=${3:-120}

    va_vm_qmp "$from" migrate \
        "{\"uri\": \"unix:$OVS_RUNDIR/$to.incoming\"}" >/dev/null || return 1
    if ! va_wait_until "$secs" eval "va_vm_qmp $from query-migrate | grep -q '\"status\": \"\(completed\|failed\|cancelled\)\"'"; then
        va_log "migration of $from to $to did not end in ${secs}s"
        va_vm_qmp "$from" query-migrate
        return 1
    fi
    va_vm_qmp "$from" query-migrate
    va_vm_qmp "$from" query-migrate | grep -q '"status": "completed"'
}

# va_vm_stop NAME
#
# Stops VM NAME by its pid and removes its sockets.
va_vm_stop() {
    va_stop_pidfile "$OVS_RUNDIR/$1.qemu.pid" 10
    rm -f "$OVS_RUNDIR/$1.sock" "$OVS_RUNDIR/$1.qmp" "$OVS_RUNDIR/$1.agent"
}
