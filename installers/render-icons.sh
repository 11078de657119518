#!/usr/bin/env bash
# Renders assets/ccproxy-desktop.svg into assets/ccproxy-desktop-<size>.png, the application icon the installers
# ship. Run it after editing the SVG and commit the PNGs. Needs rsvg-convert (Debian: apt-get install librsvg2-bin).
set -euo pipefail

ASSETS=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../assets" && pwd)
command -v rsvg-convert >/dev/null || {
    echo "render-icons: rsvg-convert is missing (Debian: apt-get install librsvg2-bin)" >&2
    exit 1
}
for size in 16 32 48 64 128 256; do
    rsvg-convert --width "$size" --height "$size" --output "$ASSETS/ccproxy-desktop-$size.png" \
        "$ASSETS/ccproxy-desktop.svg"
    echo "render-icons: wrote $ASSETS/ccproxy-desktop-$size.png"
done
