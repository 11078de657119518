"""The tray icon, drawn with Pillow: one per state (running / warning / stopped or error), optionally with a ring
showing today's use of the daily budget.

A disc in the state's colour inside a dark ring, edged with a thin light line, so it reads on light and dark
panels alike; each state also has its own glyph (a "»" for running, "!" for warning, a square for stopped), so
it does not depend on colour alone. Drawn at 4x and downsampled for smooth edges at any tray size (16-64 px;
pystray scales the image to the panel). `python -m ccproxy_desktop.desktop.icons` rewrites `assets/tray-*.png`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw

from .state import IconKind

__all__ = ["ASSET_NAMES", "FILL", "ICON_SIZE", "draw_icon", "write_assets"]

ICON_SIZE = 64
SUPERSAMPLE = 4

RGB = tuple[int, int, int]

FILL: dict[IconKind, RGB] = {
    "running": (38, 166, 91),  # green
    "warning": (240, 162, 2),  # amber
    "stopped": (128, 134, 143),  # slate grey
}
_GLYPH: dict[IconKind, RGB] = {
    "running": (255, 255, 255),
    "warning": (34, 30, 20),
    "stopped": (255, 255, 255),
}
_RING_TRACK: RGB = (40, 44, 52)
_RING_USED: RGB = (236, 240, 244)
_RING_OVER: RGB = (228, 70, 60)  # the budget is used up
_EDGE = (250, 250, 250, 200)

ASSET_NAMES: dict[IconKind, str] = {kind: f"tray-{kind}.png" for kind in FILL}


def draw_icon(kind: IconKind, size: int = ICON_SIZE, ring: float | None = None) -> Image.Image:
    """The RGBA icon for `kind`, `size` px square. `ring` (0..1): today's budget use, drawn clockwise from 12."""
    big = size * SUPERSAMPLE
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)

    def box(inset: float) -> tuple[float, float, float, float]:
        return (inset * big, inset * big, (1 - inset) * big - 1, (1 - inset) * big - 1)

    draw.ellipse(box(0.0), fill=_EDGE)  # light edge: separates the dark ring from a dark panel
    draw.ellipse(box(0.025), fill=_RING_TRACK)
    if ring is not None and ring > 0:
        colour = _RING_OVER if ring >= 1 else _RING_USED
        draw.pieslice(box(0.05), start=-90, end=-90 + 360 * min(ring, 1.0), fill=colour)
        draw.ellipse(box(0.13), fill=_RING_TRACK)
    draw.ellipse(box(0.15), fill=FILL[kind])
    _glyph(draw, kind, big)
    return image.resize((size, size), Image.Resampling.LANCZOS)


def _glyph(draw: ImageDraw.ImageDraw, kind: IconKind, big: int) -> None:
    colour = _GLYPH[kind]

    def px(value: float) -> float:
        return value * big

    if kind == "running":  # "»": two chevrons, traffic passing through
        for left in (0.33, 0.50):
            draw.line(
                [(px(left), px(0.36)), (px(left + 0.14), px(0.50)), (px(left), px(0.64))],
                fill=colour,
                width=round(px(0.075)),
                joint="curve",
            )
    elif kind == "warning":  # "!"
        draw.rounded_rectangle((px(0.455), px(0.29), px(0.545), px(0.58)), radius=px(0.04), fill=colour)
        draw.ellipse((px(0.45), px(0.63), px(0.55), px(0.73)), fill=colour)
    else:  # a stop square
        draw.rounded_rectangle((px(0.38), px(0.38), px(0.62), px(0.62)), radius=px(0.03), fill=colour)


def write_assets(folder: Path) -> list[Path]:
    """Write `tray-running.png`, `tray-warning.png` and `tray-stopped.png` (64 px, no ring) into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for kind, name in ASSET_NAMES.items():
        path = folder / name
        draw_icon(kind).save(path, format="PNG", optimize=True)
        written.append(path)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "assets"
    for written_path in write_assets(target):
        print(written_path)
