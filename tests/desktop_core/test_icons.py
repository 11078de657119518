"""The tray icons: sizes, state colours, the budget ring, and the committed assets."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageChops

from ccproxy_desktop.desktop.icons import ASSET_NAMES, FILL, draw_icon

ASSETS = Path(__file__).resolve().parents[2] / "assets"
KINDS = ("running", "warning", "stopped")


def luminance(rgb: tuple[int, ...]) -> float:
    return 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]


@pytest.mark.parametrize("size", [16, 22, 24, 32, 48, 64])
@pytest.mark.parametrize("kind", KINDS)
def test_every_state_draws_at_tray_sizes_with_its_colour(kind: str, size: int) -> None:
    image = draw_icon(kind, size)  # type: ignore[arg-type]
    assert image.size == (size, size)
    assert image.mode == "RGBA"
    assert image.getpixel((0, 0))[3] == 0  # round: transparent corners
    # The state's colour fills the disc between the centre glyph and the ring.
    probe = image.getpixel((size // 2, round(size * 0.22)))
    assert probe[:3] == pytest.approx(FILL[kind], abs=40)  # type: ignore[arg-type]


def test_states_differ_in_colour_and_glyph() -> None:
    images = {kind: draw_icon(kind) for kind in KINDS}  # type: ignore[arg-type]
    assert len(set(FILL.values())) == 3
    for a in KINDS:
        for b in KINDS:
            if a < b:
                difference = ImageChops.difference(images[a].convert("L"), images[b].convert("L"))
                assert difference.getbbox() is not None, (
                    f"{a} and {b} look alike in grey (colour-blind users)"
                )


@pytest.mark.parametrize("panel", [(255, 255, 255), (230, 230, 230), (0, 0, 0), (48, 48, 48)])
def test_the_outline_contrasts_with_light_and_dark_panels(panel: tuple[int, int, int]) -> None:
    image = Image.new("RGB", (64, 64), panel)
    icon = draw_icon("running")
    image.paste(icon, (0, 0), icon)
    # Along a radius from the edge inwards there is a pixel far from the panel's brightness.
    ray = [luminance(image.getpixel((32, y))) for y in range(0, 8)]  # type: ignore[arg-type]
    assert max(abs(v - luminance(panel)) for v in ray) > 100


def test_the_ring_shows_todays_budget_use_clockwise_from_twelve() -> None:
    plain = draw_icon("running", ring=None)
    quarter = draw_icon("running", ring=0.25)
    full = draw_icon("running", ring=1.0)
    right_of_top, left_of_top = (40, 4), (24, 4)  # in the ring band
    assert quarter.getpixel(right_of_top) != plain.getpixel(right_of_top)  # 12 to 3 o'clock is drawn
    assert quarter.getpixel(left_of_top) == plain.getpixel(left_of_top)  # 9 to 12 is not
    assert full.getpixel(left_of_top)[0] > 200 > full.getpixel(left_of_top)[1]  # used up: red


@pytest.mark.parametrize("kind", KINDS)
def test_the_committed_assets_are_what_the_code_draws(kind: str) -> None:
    """Regenerate with `python -m ccproxy_desktop.desktop.icons` after changing the drawing."""
    with Image.open(ASSETS / ASSET_NAMES[kind]) as committed:  # type: ignore[index]
        assert ImageChops.difference(committed.convert("RGBA"), draw_icon(kind)).getbbox() is None  # type: ignore[arg-type]
