#!/usr/bin/env bash
# Installs what LabVirt and its tests need on Debian 12 (QEMU, qemu-img, Redis), the npm packages,
# and builds the server into .output/. Safe to run again: installed packages are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(qemu-system-x86 qemu-utils redis-server)
# The lab network: bridges and taps, DHCP, connection tracking (`labvirt network setup`, managed dnsmasq).
# UEFI firmware for profiles with `firmware: uefi`.
PACKAGES+=(ovmf)
PACKAGES+=(iproute2 nftables conntrack dnsmasq-base kmod)
# The demo's and the tests' tiny Linux guest (server/images/tiny-guest.ts builds it from
# busybox-static and a Debian kernel onto a SYSLINUX disk), and curl for the terminal launcher.
PACKAGES+=(busybox-static syslinux mtools xz-utils curl)
# The console's browser tests (test/e2e/, driven by playwright-core).
PACKAGES+=(chromium)

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "Installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# A Redis started by the package would sit on 6379 doing nothing: tests start their own.
if command -v systemctl >/dev/null && systemctl is-active --quiet redis-server 2>/dev/null; then
  systemctl disable --now redis-server >/dev/null 2>&1 || true
fi

# The unprivileged user QEMU drops to when LabVirt runs as root (LABVIRT_QEMU_USER's default).
if ! getent passwd labvirt >/dev/null; then
  $SUDO useradd --system --home-dir /var/lib/labvirt --no-create-home --shell /usr/sbin/nologin labvirt
fi

node -e 'const [a,b]=process.versions.node.split(".").map(Number); if (a<20||(a===20&&b<19)) { console.error("LabVirt needs Node.js >= 20.19, this is " + process.version); process.exit(1) }'
# npm ci fails on this registry (rollup's optional platform packages), so install.
npm install --no-audit --no-fund --loglevel=error
npm run build --silent
