#!/usr/bin/env bash
# Installs what the desktop parts (tray icon, notifications, keyring) and their tests need on Debian 12:
# the Debian packages of shared/DESKTOP-TESTING.md, then the Python packages into the current Python
# environment (`python3`, or $PYTHON). Idempotent: apt is skipped when every package is already installed.
# Usage: bash installers/deps-debian.sh   (as root, or as a user with sudo)
set -euo pipefail

DEBIAN_PACKAGES=(
    dbus xvfb xauth x11-utils xdotool trayer dunst libnotify-bin gnome-keyring libsecret-tools imagemagick
    gir1.2-gtk-3.0 gir1.2-ayatanaappindicator3-0.1
    # To build PyGObject from source (pip has no wheel for it).
    libgirepository1.0-dev libcairo2-dev pkg-config
)

# PyGObject 3.51+ needs a newer GLib than Debian 12 ships.
PYTHON_PACKAGES=(
    "pystray>=0.19.5" "Pillow" "keyring>=25" "SecretStorage>=3.3" "watchdog" "desktop-notifier>=6" "PyGObject<3.51"
)

PYTHON=${PYTHON:-python3}

missing_debian_packages() {
    local package status
    for package in "${DEBIAN_PACKAGES[@]}"; do
        status=$(dpkg-query --show --showformat='${db:Status-Status}' "$package" 2>/dev/null || true)
        if [[ $status != installed ]]; then
            echo "$package"
        fi
    done
}

as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    else
        sudo -- "$@"
    fi
}

# Runs a command quietly; on failure shows what it printed and fails.
quietly() {
    local log
    log=$(mktemp)
    if ! "$@" >"$log" 2>&1; then
        echo "deps-debian: failed: $*" >&2
        cat "$log" >&2
        rm -f "$log"
        return 1
    fi
    rm -f "$log"
}

mapfile -t missing < <(missing_debian_packages)
if ((${#missing[@]})); then
    echo "deps-debian: installing Debian packages: ${missing[*]}"
    # Waits for another apt or dpkg run to finish rather than failing on its lock.
    quietly as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update
    quietly as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 \
        install --yes --no-install-recommends "${DEBIAN_PACKAGES[@]}"
fi

echo "deps-debian: installing Python packages into $("$PYTHON" -c 'import sys; print(sys.prefix)')"
quietly "$PYTHON" -m pip install --disable-pip-version-check "${PYTHON_PACKAGES[@]}"

# PyGObject finds the GTK and tray typelibs that pystray's gtk and appindicator backends load.
quietly "$PYTHON" -c 'import gi
gi.require_version("Gtk", "3.0")
gi.require_version("AyatanaAppIndicator3", "0.1")'
