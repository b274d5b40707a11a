#!/bin/bash
# Makes and enters Debian root file systems for the other stacks: Debian
# 13 "trixie" (OVS 3.5, DPDK 24.11) and sid (OVS 4.0, DPDK 25.11), built
# from Debian's archive on any Debian host, for building and testing there.
#
#   debian-root.sh create RELEASE      make the root (cached, see below)
#   debian-root.sh run RELEASE [--bind HOST:ROOT]... -- CMD [ARG]...
#   debian-root.sh path RELEASE        print where the root is
#   debian-root.sh destroy RELEASE
#
# RELEASE is bookworm, trixie or sid (debian-12, debian-13 also work).
# Roots live in $VA_ROOTS_DIR (default /var/cache/ovs-vhost-async/roots)
# and are kept between runs; one whose creation did not finish, or made
# from another package list, is made again.  "run" mounts what a build
# and the tests need (/proc, /sys, /dev with its hugepages, a fresh /run
# and /tmp)
# in a private mount namespace, so that nothing is left mounted when the
# command ends, however it ends.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/utilities/debian-release.sh"
roots=${VA_ROOTS_DIR:-/var/cache/ovs-vhost-async/roots}
mirror=${VA_DEBIAN_MIRROR:-http://deb.debian.org/debian}

# What the build, the unit tests and the system tests need inside: the
# list of utilities/install-deps.sh, less the documentation tools.
packages=(
    openvswitch-source libdpdk-dev dpdk-dev dpdk
    autoconf automake libtool pkg-config make gcc libc6-dev patch
    libssl-dev libcap-ng-dev libnuma-dev python3
    python3-sortedcontainers python3-packaging iproute2 ethtool iputils-ping
    procps
    util-linux coreutils gawk file ca-certificates
)

die() {
    echo "$0: $*" >&2
    exit 1
}

release_of() {
    va_release_codename "$1" \
        || die "unknown release '$1' (bookworm, trixie or sid)"
}

stamp_of() {
    printf '%s\n' "$mirror" "${packages[@]}" | sha256sum | cut -d' ' -f1
}

# Mount points under a root, deepest first.
mounts_under() {
    awk -v r="$1" '$2 == r || index($2, r "/") == 1 { print $2 }' \
        /proc/mounts | sort -r
}

create() {
    local release=$1 dir=$roots/$1
    local stamp
    stamp=$(stamp_of)
    if [ -f "$dir/.va-root" ] && [ "$(cat "$dir/.va-root")" = "$stamp" ]
    then
        return 0
    fi
    [ -z "$(mounts_under "$dir")" ] || die "$dir: still mounted"
    if ! command -v mmdebstrap > /dev/null; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
            --no-install-recommends mmdebstrap
    fi
    echo "Making the $release root in $dir"
    local start=$SECONDS
    rm -rf "$dir" "$dir.tmp"
    mkdir -p "$roots"
    # The host's keyring verifies the archive; policy-rc.d keeps package
    # scripts from starting services in the root.
    # sid's Release file is valid for a week only, and the archive these
    # machines reach may be a copy older than that: the signature is
    # still checked, the date is not.
    local aptopts=()
    if [ "$release" = sid ]; then
        aptopts=(--aptopt='Acquire::Check-Valid-Until "false"')
    fi
    mmdebstrap --variant=apt --mode=root "${aptopts[@]}" \
        --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
        --include="$(IFS=,; echo "${packages[*]}")" \
        --customize-hook='printf "#!/bin/sh\nexit 101\n" \
            > "$1/usr/sbin/policy-rc.d"; chmod 755 "$1/usr/sbin/policy-rc.d"' \
        --customize-hook='rm -rf "$1"/var/cache/apt/archives/*.deb' \
        "$release" "$dir.tmp" "$mirror" \
        || die "could not make the $release root (see above)"
    echo "$stamp" > "$dir.tmp/.va-root"
    mv "$dir.tmp" "$dir"
    echo "The $release root took $((SECONDS - start)) s"
}

# Runs inside the private mount namespace: mounts, then chroots.
enter() {
    local dir=$1
    shift
    local binds=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        [ "$1" = --bind ] || die "run: unknown option $1"
        binds+=("$2")
        shift 2
    done
    shift
    # "ip netns exec" needs / to be a mount point.
    mount --bind "$dir" "$dir"
    for d in proc sys dev dev/pts dev/shm; do
        mount --rbind "/$d" "$dir/$d"
    done
    # /dev comes with the host's hugetlbfs mount, if any; the tests mount
    # one on /dev/hugepages themselves otherwise, here only.
    mount -t tmpfs -o mode=755 tmpfs "$dir/run"
    mkdir -p "$dir/run/netns" "$dir/run/lock"
    # The tests' machine-wide lock (hugepages, CPU 1) is the host's too.
    mkdir -p /run/lock
    mount --bind /run/lock "$dir/run/lock"
    mount -t tmpfs -o mode=1777 tmpfs "$dir/tmp"
    for b in "${binds[@]}"; do
        mkdir -p "$dir/${b#*:}"
        mount --bind "${b%%:*}" "$dir/${b#*:}"
    done
    local env=(PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8)
    for v in ${VA_ROOT_ENV:-}; do
        env+=("$v=${!v-}")
    done
    exec chroot "$dir" /usr/bin/env -i "${env[@]}" "$@"
}

cmd=${1:-}
[ $# -ge 2 ] || die "usage: $0 create|run|path|destroy RELEASE ..."
release=$(release_of "$2")
dir=$roots/$release
shift 2
case $cmd in
    create)
        create "$release"
        ;;
    path)
        echo "$dir"
        ;;
    run)
        [ -f "$dir/.va-root" ] || die "no $release root: run create first"
        exec unshare --mount --propagation private -- \
            "$0" __enter "$release" "$@"
        ;;
    __enter)
        enter "$dir" "$@"
        ;;
    destroy)
        [ -z "$(mounts_under "$dir")" ] || die "$dir: still mounted"
        rm -rf "$dir" "$dir.tmp"
        ;;
    *)
        die "unknown command '$cmd'"
        ;;
esac
