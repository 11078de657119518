"""The spend chart: a readable PNG whose bars, colours and legend match the data."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from PIL import Image

from ccproxy_desktop.ledger.chart import OTHER_COLOUR, PALETTE, render_spend_chart

DAY = date(2026, 11, 26)
Rows = list[tuple[date, str, float]]


def render(tmp_path: Path, rows: Rows, size: tuple[int, int] = (1000, 500)) -> Image.Image:
    path = tmp_path / "chart.png"
    render_spend_chart(rows, path, title="Spend per day", size=size)
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.convert("RGB")


def colours(image: Image.Image) -> set[tuple[int, int, int]]:
    found = image.getcolors(maxcolors=image.width * image.height)
    assert found is not None
    return {colour for _, colour in found}  # type: ignore[misc]


def bars(image: Image.Image, colour: tuple[int, int, int]) -> list[tuple[int, int]]:
    """(centre x, height in pixels) of each run of columns containing `colour`, left to right."""
    pixels = image.load()
    assert pixels is not None
    heights = [sum(1 for y in range(image.height) if pixels[x, y] == colour) for x in range(image.width)]
    runs: list[tuple[int, int]] = []
    start: int | None = None
    for x, h in enumerate([*heights, 0]):
        if h and start is None:
            start = x
        elif not h and start is not None:
            runs.append(((start + x - 1) // 2, max(heights[start:x])))
            start = None
    return runs


def days_ago(n: int) -> date:
    return DAY - timedelta(days=n)


@pytest.mark.parametrize(
    ("rows", "size"),
    [
        pytest.param([(DAY, "claude-opus-4-8", 3.0)], (1000, 500), id="one day"),
        pytest.param(
            [(days_ago(i), m, 1.0 + i % 7) for i in range(60) for m in ("opus", "sonnet", "haiku")],
            (1000, 500),
            id="60 days",
        ),
        pytest.param([(DAY, "x" * 200, 1.0)], (600, 300), id="long name, small"),
        pytest.param([], (1600, 800), id="empty, large"),
    ],
)
def test_png_has_the_requested_size(tmp_path: Path, rows: Rows, size: tuple[int, int]) -> None:
    assert render(tmp_path, rows, size).size == size


def test_more_spend_draws_a_taller_bar(tmp_path: Path) -> None:
    image = render(tmp_path, [(days_ago(1), "opus", 1.0), (DAY, "opus", 3.0)])
    (x1, small), (x2, tall), *legend = bars(image, PALETTE[0])
    assert x1 < x2
    assert legend  # the legend swatch, right of the plot
    assert tall == pytest.approx(3 * small, abs=2)


def test_stacked_segments_follow_the_costs(tmp_path: Path) -> None:
    image = render(tmp_path, [(DAY, "opus", 3.0), (DAY, "haiku", 1.0)])
    (_, opus), *_ = bars(image, PALETTE[0])  # the largest model is the first colour, at the bottom
    (_, haiku), *_ = bars(image, PALETTE[1])
    assert opus == pytest.approx(3 * haiku, abs=2)


def test_days_without_spend_stay_empty(tmp_path: Path) -> None:
    image = render(tmp_path, [(days_ago(4), "opus", 2.0), (days_ago(3), "opus", 2.0), (DAY, "opus", 2.0)])
    (a, _), (b, _), (c, _), *_ = bars(image, PALETTE[0])
    assert (c - b) == pytest.approx(3 * (b - a), abs=3)  # three empty slots between the 2nd and 3rd bar


def test_legend_colours_appear(tmp_path: Path) -> None:
    models = ["claude-opus-4-8", "claude-sonnet-4-5", "claude-haiku-4-5", "gpt-4o"]
    rows = [(days_ago(i), m, 1.0 + j) for i in range(14) for j, m in enumerate(models)]
    found = colours(render(tmp_path, rows))
    assert set(PALETTE[:4]) <= found
    assert not set(PALETTE[4:]) & found


def test_models_beyond_the_palette_are_merged_into_other(tmp_path: Path) -> None:
    rows = [(DAY, f"model-{i}", 1.0 + i) for i in range(len(PALETTE) + 3)]
    found = colours(render(tmp_path, rows))
    assert set(PALETTE[:-1]) <= found
    assert OTHER_COLOUR in found
    assert PALETTE[-1] not in found


@pytest.mark.parametrize(
    "rows",
    [
        pytest.param([], id="no rows"),
        pytest.param([(DAY, "opus", 0.0), (days_ago(5), "opus", -1.0)], id="zero"),
    ],
)
def test_no_spend_yet(tmp_path: Path, rows: Rows) -> None:
    image = render(tmp_path, rows)
    found = colours(image)
    assert not set(PALETTE) & found
    assert any(sum(c) < 200 for c in found)  # dark text: the title and "No spend yet"
