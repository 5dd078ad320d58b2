#!/usr/bin/env bash
# Build (once) a Debian-unstable root filesystem holding Asterisk 22.
# Debian 12 has no Asterisk 22 package; unstable has. The root lives in a cache
# folder outside git and is reused when present.
source "$(dirname "$0")/lib.sh"

STAMP="$ASTERISK_ROOT/.hotline-ready"
if [ -f "$STAMP" ]; then
    skip "Asterisk root at $ASTERISK_ROOT"
    exit 0
fi
need_root "building the Asterisk root filesystem"
apt_install debootstrap debian-archive-keyring

MIRROR="${DEBIAN_MIRROR:-$(host_debian_mirror)}"
step "debootstrap Debian unstable into $ASTERISK_ROOT (mirror $MIRROR)"
mkdir -p "$ASTERISK_ROOT"
if [ ! -x "$ASTERISK_ROOT/usr/bin/apt-get" ]; then
    debootstrap --variant=minbase sid "$ASTERISK_ROOT" "$MIRROR" \
        >"$CACHE_DIR/debootstrap.log" 2>&1 \
        || die "debootstrap failed; see $CACHE_DIR/debootstrap.log"
fi

step "install asterisk and sounds inside the root"
cat >"$ASTERISK_ROOT/etc/apt/apt.conf.d/99hotline" <<'CONF'
Acquire::Check-Valid-Until "false";
APT::Install-Recommends "false";
CONF
echo "deb $MIRROR unstable main" >"$ASTERISK_ROOT/etc/apt/sources.list"
rm -f "$ASTERISK_ROOT/etc/apt/sources.list.d/"*.sources 2>/dev/null || true
# Services must not start inside the chroot while packages install.
printf '#!/bin/sh\nexit 101\n' >"$ASTERISK_ROOT/usr/sbin/policy-rc.d"
chmod +x "$ASTERISK_ROOT/usr/sbin/policy-rc.d"
chroot "$ASTERISK_ROOT" apt-get update -q >"$CACHE_DIR/chroot-apt.log" 2>&1 \
    || die "apt-get update in the root failed; see $CACHE_DIR/chroot-apt.log"
chroot "$ASTERISK_ROOT" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    asterisk asterisk-core-sounds-en-gsm asterisk-moh-opsound-gsm \
    >>"$CACHE_DIR/chroot-apt.log" 2>&1 \
    || die "installing asterisk in the root failed; see $CACHE_DIR/chroot-apt.log"
chroot "$ASTERISK_ROOT" apt-get clean
chroot "$ASTERISK_ROOT" asterisk -V
# The package's asterisk user gets the ids of a host account of its own
# (scripts/asterisk.sh start does the same for roots built before).
adopt_asterisk_ids
touch "$STAMP"
