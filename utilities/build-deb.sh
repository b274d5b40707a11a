#!/bin/bash
# Builds the Debian package openvswitch-switch-vhost-async for the host's
# release, against its openvswitch-source and DPDK, with dpkg-buildpackage
# (debian/ in this tree).  The binary package lands in OUT (default _deb/);
# its path is the last line printed.
#
#   build-deb.sh [--local SUFFIX]
#
# --local SUFFIX makes a local version above the plain one (dch --local),
# e.g. for an upgrade test.  The package's build is kept in
# VA_DEB_BUILD_DIR (default _build-deb/), configured with Debian's
# directories; the first time, a copy of BUILD_DIR (default _build/, as
# utilities/build.sh leaves it) seeds it if that is built, so that only
# what the directories go into is built again.  Run as root or not.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out=${VA_DEB_OUT:-$top/_deb}
debbuild=${VA_DEB_BUILD_DIR:-$top/_build-deb}
seed=${BUILD_DIR:-$top/_build}
suffix=
if [ "${1:-}" = --local ]; then
    suffix=${2:?--local needs a suffix}
fi

for t in dpkg-buildpackage dh dch; do
    if ! command -v "$t" > /dev/null; then
        echo "$0: no $t: run utilities/install-deps.sh" >&2
        exit 1
    fi
done

# The version says both ours and the Debian OVS it is built from; a
# native version has no '-', so the Debian revision's becomes a '.'.
ours=$(sed -n 's/^AC_INIT(\[ovs-vhost-async\], *\[\([^]]*\)\].*/\1/p' \
       "$top/configure.ac")
ovs=$(dpkg-query -W -f='${Version}' openvswitch-source)
version=$ours+ovs$(echo "$ovs" | tr -- '-:' '..')
. /etc/os-release

# dpkg-buildpackage works in a copy of the tree (what git tracks, and new
# files, as utilities/check-stack.sh copies it) and writes beside it.
stage=$out/src
rm -rf "$stage"
mkdir -p "$stage"
if git -C "$top" rev-parse --git-dir > /dev/null 2>&1; then
    git -C "$top" ls-files -z --cached --others --exclude-standard \
        | (cd "$top" && tar --null -T - -cf -) | tar -C "$stage" -xf -
else
    tar -C "$top" --exclude=./_build --exclude=./_build-deb \
        --exclude=./_deb --exclude=./_bench -cf - . | tar -C "$stage" -xf -
fi

# A build older than the installed OVS source or DPDK is of no use: a
# security update of openvswitch-source needs a package built from it.
newer_than_packages() {
    local f
    for f in /var/lib/dpkg/info/openvswitch-source.list \
             /var/lib/dpkg/info/libdpdk-dev*.list; do
        [ "$1" -nt "$f" ] || return 1
    done
}
if [ -f "$debbuild/ovs/.unpacked" ] \
   && ! newer_than_packages "$debbuild/ovs/.unpacked"; then
    echo "build-deb: $debbuild predates the OVS source or DPDK: removing it"
    rm -rf "$debbuild"
fi
seed_arg=
if [ ! -f "$debbuild/Makefile" ]; then
    if [ -f "$seed/ovs/.configured" ] \
       && newer_than_packages "$seed/ovs/.unpacked"; then
        seed_arg=$seed
        echo "build-deb: seeding $debbuild from $seed"
    else
        # debian/rules configures afresh, from the copy.
        (cd "$stage" && ./boot.sh > /dev/null)
    fi
fi

export DEBFULLNAME="ovs-vhost-async developers"
export DEBEMAIL=dev@ovs-vhost-async.example.org
(
    cd "$stage"
    dch --create --package ovs-vhost-async --newversion "$version" \
        --distribution "${VERSION_CODENAME:-unstable}" --force-distribution \
        "Built against openvswitch-source $ovs and DPDK $(pkg-config \
--modversion libdpdk) of Debian ${VERSION_ID:-$VERSION_CODENAME}." \
        > /dev/null
    if [ -n "$suffix" ]; then
        dch --local "$suffix" "Local build." > /dev/null
    fi
)
version=$(dpkg-parsechangelog -l "$stage/debian/changelog" -S Version)
echo "build-deb: building openvswitch-switch-vhost-async $version"

start=$SECONDS
log=$out/build-$version.log
if ! (cd "$stage" && \
      DEB_BUILD_OPTIONS="nocheck parallel=${VA_DEB_JOBS:-2}" \
      VA_DEB_BUILD_DIR=$debbuild VA_DEB_SEED=$seed_arg \
      dpkg-buildpackage -b -us -uc) > "$log" 2>&1; then
    tail -n 40 "$log"
    echo "build-deb: FAILED, see $log" >&2
    exit 1
fi
echo "build-deb: built in $((SECONDS - start)) s"
deb=$out/openvswitch-switch-vhost-async_${version}_$(dpkg --print-architecture).deb
[ -f "$deb" ] || { echo "build-deb: no $deb" >&2; exit 1; }
echo "$deb"
