#!/bin/bash
# Installs the Debian 12 packages that the build, the demo and the tests
# need.  Does nothing when they are all there already.
set -euo pipefail

packages=(
    # Build: the OVS source, DPDK 22.11 and OVS's build dependencies.
    openvswitch-source libdpdk-dev dpdk-dev dpdk
    autoconf automake libtool pkg-config make gcc patch
    libssl-dev libcap-ng-dev libnuma-dev python3
    # Documentation: "make docs".
    python3-sphinx
    # Tests and demo: guests, namespaces, traffic.
    python3-sortedcontainers iproute2 ethtool iputils-ping procps
    util-linux coreutils gawk
    # VM tests: QEMU, and the guest's initramfs (utilities/vm-image.sh).
    qemu-system-x86 busybox-static cpio file
    # The Debian package: utilities/build-deb.sh and check-deb.sh.
    build-essential debhelper devscripts lintian fakeroot
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null \
            | grep -q '^install ok installed$'; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "$0: run as root to install: ${missing[*]}" >&2
    exit 1
fi
echo "Installing: ${missing[*]}"
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    --no-install-recommends "${missing[@]}"
