#!/bin/bash
# Builds the Linux guest of the VM tests: a Debian kernel and an initramfs
# with busybox, ethtool and the virtio-net modules, whose init configures
# the NIC from the kernel command line and then runs commands that come
# over the second serial port (tests/vm-agent.py sends them).
#
#   vm-image.sh DIR
#
# Leaves DIR/vmlinuz and DIR/initrd.img.  The kernel comes from the
# linux-image .deb of this Debian release, unpacked, never installed:
# taken from DIR or from VA_VM_KERNEL_DEB, or downloaded into DIR with
# "apt-get download".  Does nothing when DIR is up to date with this
# script.
set -euo pipefail

dir=${1:?usage: vm-image.sh DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
stamp=$dir/.image-stamp
self_sum=$(sha256sum < "$0")
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$self_sum" ] \
        && [ -f "$dir/vmlinuz" ] && [ -f "$dir/initrd.img" ]; then
    exit 0
fi

die() {
    echo "vm-image.sh: $*" >&2
    exit 1
}

for tool in busybox cpio gzip dpkg-deb; do
    command -v "$tool" > /dev/null \
        || die "$tool not found: run utilities/install-deps.sh"
done
# The initramfs needs a static busybox: nothing else of libc is in it
# but what ethtool links.
file -L "$(command -v busybox)" | grep -q 'statically linked' \
    || die "busybox is not static: apt-get install busybox-static"

# newest_kernel_deb: the newest linux-image .deb in DIR, if any (none yet
# on a fresh build tree: ls fails there, and pipefail with it).
newest_kernel_deb() {
    ls "$dir"/linux-image-*_amd64.deb 2>/dev/null | sort -V | tail -n 1 \
        || true
}

deb=${VA_VM_KERNEL_DEB:-$(newest_kernel_deb)}
if [ -z "$deb" ]; then
    # linux-image-amd64 is the metapackage: the real image is what it
    # depends on.
    pkg=$(apt-cache depends linux-image-amd64 \
              | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)/\1/p' | head -n 1)
    [ -n "$pkg" ] || die "no linux-image package known to apt"
    (cd "$dir" && apt-get download -q "$pkg" 2>&1) \
        || die "could not download $pkg"
    deb=$(newest_kernel_deb)
    [ -n "$deb" ] || die "apt-get download $pkg left no .deb in $dir"
fi

work=$(mktemp -d "$dir/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT
dpkg-deb -x "$deb" "$work/kernel"
kver=$(ls "$work/kernel/lib/modules" | head -n 1)
[ -n "$kver" ] || die "$deb has no modules"

root=$work/root
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,etc,lib64,lib/x86_64-linux-gnu}
cp "$(command -v busybox)" "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done

# ethtool ("ethtool -L": busybox has none) and iputils' ping as
# iputils-ping (it checks the payload of each reply and can flood;
# busybox's shell would run its own ping applet whatever the PATH), with
# their libraries.
for prog in /usr/sbin/ethtool:ethtool /usr/bin/ping:iputils-ping; do
    name=${prog#*:} prog=${prog%:*}
    [ -x "$prog" ] || die "$prog not found: run utilities/install-deps.sh"
    cp "$prog" "$root/sbin/$name"
    for lib in $(ldd "$prog" | grep -o '/[^ ]*'); do
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done
done

# virtio-net and what it needs; modprobe resolves the order.
moddir=lib/modules/$kver
for mod in virtio virtio_ring virtio_pci virtio_pci_legacy_dev \
           virtio_pci_modern_dev virtio_net net_failover failover; do
    src=$(find "$work/kernel/$moddir" -name "$mod.ko*" | head -n 1)
    [ -n "$src" ] || die "$deb has no module $mod"
    mkdir -p "$root/$(dirname "${src#"$work/kernel/"}")"
    cp "$src" "$root/${src#"$work/kernel/"}"
done
cp "$work/kernel/$moddir/modules.builtin" "$root/$moddir/" 2>/dev/null || true
"$root/bin/busybox" depmod -b "$root" "$kver"

cat > "$root/init" <<'EOF'
#!/bin/sh
# The guest's init: NIC from va.* kernel arguments, then the agent.
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
for arg in $(cat /proc/cmdline); do
    case $arg in
        va.ip=*) ip_addr=${arg#va.ip=} ;;
        va.mtu=*) mtu=${arg#va.mtu=} ;;
    esac
done
modprobe virtio_pci
modprobe virtio_net
i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do
    usleep 100000
    i=$((i + 1))
done
ip link set lo up
ip link set eth0 mtu "${mtu:-1500}"
ip addr add "$ip_addr" dev eth0
ip link set eth0 up
# The host sends its first request as soon as it reads "ready": the
# agent's port must be raw by then, or the line discipline echoes the
# request back and eats the answer's newline.
stty -F /dev/ttyS1 raw -echo
echo "va-guest: eth0 $ip_addr mtu ${mtu:-1500} ready" > /dev/ttyS0
exec /bin/va-agent
EOF
chmod 755 "$root/init"

# The agent reads "TOKEN BASE64-SCRIPT" lines from ttyS1, runs each script
# and answers with its output and a line "@@TOKEN STATUS".  Base64 keeps
# quoting and line discipline out of the way; init has set ttyS1 raw.
cat > "$root/bin/va-agent" <<'EOF'
#!/bin/sh
while read -r token script; do
    echo "$script" | base64 -d > /tmp/va-cmd.sh 2>/dev/null
    sh /tmp/va-cmd.sh < /dev/null > /tmp/va-cmd.out 2>&1
    status=$?
    cat /tmp/va-cmd.out
    echo "@@$token $status"
done < /dev/ttyS1 > /dev/ttyS1
echo "va-guest: agent stopped" > /dev/ttyS0
EOF
chmod 755 "$root/bin/va-agent"

# va-wait SECONDS COMMAND...: runs COMMAND every 0.1 s until it succeeds,
# for SECONDS at most.  Waits on the guest's state belong in the guest: a
# round trip through the agent costs about a second under TCG.
cat > "$root/bin/va-wait" <<'EOF'
#!/bin/sh
tries=$(($1 * 10))
shift
while ! "$@" > /dev/null 2>&1; do
    tries=$((tries - 1))
    [ $tries -gt 0 ] || { echo "va-wait: timed out: $*"; exit 1; }
    usleep 100000
done
EOF
# va-tcp-recv PORT FILE: receives one TCP stream into FILE, then writes
# its sha256 to FILE.sha256.  nc's stdin is a FIFO that never ends: at
# the end of its stdin, busybox nc would close the connection.
cat > "$root/bin/va-tcp-recv" <<'EOF'
#!/bin/sh
rm -f "$2" "$2.sha256" "$2.fifo"
mkfifo "$2.fifo"
(nc -l -p "$1" <> "$2.fifo" > "$2"
 sha256sum < "$2" | cut -d' ' -f1 > "$2.tmp" && mv "$2.tmp" "$2.sha256") \
    > /dev/null 2>&1 &
EOF
chmod 755 "$root/bin/va-wait" "$root/bin/va-tcp-recv"

(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initrd.img"
cp "$work/kernel/boot/vmlinuz-$kver" "$work/vmlinuz"
mv "$work/initrd.img" "$work/vmlinuz" "$dir/"
echo "$self_sum" > "$stamp"
echo "vm-image.sh: $dir: Linux $kver from $(basename "$deb")"
