#!/usr/bin/env bash
# Builds a .deb from the PyInstaller bundle (installers/pyinstaller/build.sh) with dpkg-deb.
#
# Usage: bash installers/linux/build-deb.sh [--bundle DIR] [--out DIR] [--compression xz|gzip|none]
#   --bundle DIR        the bundle folder (default dist/ccproxy-desktop)
#   --out DIR           where the .deb goes (default dist)
#   --compression KIND  dpkg-deb's compressor (default xz: the smallest .deb, minutes for the ~700 MB bundle;
#                       gzip: about a minute, a larger file, what the test uses)
# The package installs the bundle in /opt/ccproxy-desktop, `ccproxy` and `ccproxy-desktop` in /usr/bin
# (symlinks), the menu entry /usr/share/applications/ccproxy-desktop.desktop and the icon in the hicolor theme.
# `dpkg -r ccproxy-desktop` removes all of it; users' config folders (~/.ccproxy) are theirs and stay.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUNDLE=$REPO/dist/ccproxy-desktop
OUT=$REPO/dist
COMPRESSION=xz
while [[ $# -gt 0 ]]; do
    case $1 in
        --bundle) BUNDLE=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --compression) COMPRESSION=$2; shift 2 ;;
        -h | --help) sed -n '2,11p' "$0"; exit 0 ;;
        *) echo "build-deb.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
[[ -x $BUNDLE/ccproxy && -x $BUNDLE/ccproxy-desktop ]] || {
    echo "build-deb.sh: no bundle in $BUNDLE: run installers/pyinstaller/build.sh first" >&2
    exit 1
}

APP_ID=ccproxy-desktop
VERSION=$("$BUNDLE/ccproxy" --version | awk '{print $NF}')
ARCH=$(dpkg --print-architecture)
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
ROOT=$STAGE/root

install -d "$ROOT/DEBIAN" "$ROOT/opt" "$ROOT/usr/bin" "$ROOT/usr/share/applications"
cp -a "$BUNDLE" "$ROOT/opt/$APP_ID"
for command in ccproxy ccproxy-desktop; do
    ln -s "/opt/$APP_ID/$command" "$ROOT/usr/bin/$command"
done
for size in 16 32 48 64 128 256; do
    install -D -m 0644 "$REPO/assets/$APP_ID-$size.png" "$ROOT/usr/share/icons/hicolor/${size}x$size/apps/$APP_ID.png"
done
install -D -m 0644 "$REPO/assets/$APP_ID.svg" "$ROOT/usr/share/icons/hicolor/scalable/apps/$APP_ID.svg"
cat > "$ROOT/usr/share/applications/$APP_ID.desktop" <<ENTRY
[Desktop Entry]
Type=Application
Name=ccproxy-desktop
GenericName=LLM proxy for Claude Code
Comment=Tray icon that runs the local Claude Code proxy and shows its spend
Exec=/usr/bin/ccproxy-desktop
TryExec=/usr/bin/ccproxy-desktop
Icon=$APP_ID
Terminal=false
Categories=Development;Utility;
StartupNotify=false
ENTRY
cat > "$ROOT/DEBIAN/control" <<CONTROL
Package: $APP_ID
Version: $VERSION
Architecture: $ARCH
Maintainer: ccproxy-desktop developers <noreply@ccproxy.invalid>
Section: devel
Priority: optional
Installed-Size: $(du -sk "$ROOT" | cut -f1)
Depends: libc6
Recommends: xdg-utils
Description: Local LLM proxy for Claude Code with a tray icon
 ccproxy (CLI) and ccproxy-desktop (tray) as one self-contained bundle in /opt/$APP_ID.
CONTROL
# The menu and icon caches follow the files, where the system keeps such caches (a cache file we created would
# outlive the package).
for script in postinst postrm; do
    cat > "$ROOT/DEBIAN/$script" <<'SCRIPT'
#!/bin/sh
set -e
if [ -f /usr/share/applications/mimeinfo.cache ] && command -v update-desktop-database >/dev/null 2>&1; then
    update-desktop-database -q /usr/share/applications || true
fi
if [ -f /usr/share/icons/hicolor/icon-theme.cache ] && command -v gtk-update-icon-cache >/dev/null 2>&1; then
    gtk-update-icon-cache -q -t /usr/share/icons/hicolor || true
fi
exit 0
SCRIPT
    chmod 0755 "$ROOT/DEBIAN/$script"
done

mkdir -p "$OUT"
DEB=$OUT/${APP_ID}_${VERSION}_$ARCH.deb
dpkg-deb --root-owner-group -Z"$COMPRESSION" --build "$ROOT" "$DEB" >/dev/null
echo "$DEB"
