"""A PNG chart of spend per day, stacked by model (`ccproxy usage --chart FILE.png`). Pillow only.

The rows are first gathered into per-day stacks (`_collect`), the plot area is laid out (`_frame`), then each part
is drawn by its own function. Colours are the Okabe-Ito palette, distinguishable with the common forms of colour
blindness; models beyond the palette are merged into "other". Text uses Pillow's bundled scalable font
(Pillow >= 10.1), so the chart looks the same on every OS.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

__all__ = ["OTHER_COLOUR", "PALETTE", "render_spend_chart"]

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
RGB = tuple[int, int, int]

# Okabe & Ito (2008), "Color Universal Design"; yellow last, as it is the weakest on white.
PALETTE: tuple[RGB, ...] = (
    (0, 114, 178),  # blue
    (230, 159, 0),  # orange
    (0, 158, 115),  # bluish green
    (204, 121, 167),  # reddish purple
    (86, 180, 233),  # sky blue
    (213, 94, 0),  # vermillion
    (240, 228, 66),  # yellow
)
OTHER_COLOUR: RGB = (153, 153, 153)

_BACKGROUND: RGB = (255, 255, 255)
_TEXT: RGB = (34, 34, 34)
_MUTED: RGB = (110, 110, 110)
_GRID: RGB = (230, 230, 230)
_AXIS: RGB = (150, 150, 150)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MAX_BAR_WIDTH = 56
_LABEL_STRIDES = (1, 2, 3, 7, 14, 28, 56, 91, 182, 364)


@dataclass(frozen=True)
class _Series:
    name: str
    colour: RGB
    total: float


@dataclass(frozen=True)
class _Data:
    dates: list[date]  # every day from the first to the last, including days without spend
    stacks: list[list[tuple[RGB, float]]]  # per day, bottom-up segments
    series: list[_Series]  # by total spend, largest first

    @property
    def day_totals(self) -> list[float]:
        return [sum(usd for _, usd in stack) for stack in self.stacks]

    @property
    def total(self) -> float:
        return sum(s.total for s in self.series)


@dataclass(frozen=True)
class _Style:
    scale: float
    title: Font
    label: Font
    small: Font
    currency: str

    def px(self, value: float) -> int:
        return round(value * self.scale)


@dataclass(frozen=True)
class _Frame:
    """The plot area in pixels and the value at its top."""

    left: int
    top: int
    right: int
    bottom: int
    y_max: float
    step: float
    days: int

    @property
    def slot(self) -> float:
        return (self.right - self.left) / max(self.days, 1)

    def y_of(self, value: float) -> int:
        return self.bottom - round(value / self.y_max * (self.bottom - self.top))

    def centre(self, index: int) -> float:
        return self.left + self.slot * (index + 0.5)


def _font(size: int) -> Font:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):  # Pillow < 10.1 or without FreeType: fixed bitmap font
        return ImageFont.load_default()


def _width(draw: ImageDraw.ImageDraw, text: str, font: Font) -> int:
    left, _, right, _ = draw.textbbox((0, 0), text, font=font)
    return math.ceil(right - left)


def _height(draw: ImageDraw.ImageDraw, font: Font) -> int:
    _, top, _, bottom = draw.textbbox((0, 0), "Ag", font=font)
    return math.ceil(bottom - top)


def _text(
    draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, font: Font, fill: RGB, anchor: str = "lt"
) -> None:
    """Text placed by its box: `anchor` is horizontal l/m/r then vertical t/m/b. Every string of a font shares one
    vertical box, so labels on a line align. (Pillow's own anchors need FreeType; this works with any font.)"""
    left, _, right, _ = draw.textbbox((0, 0), text, font=font)
    _, top, _, bottom = draw.textbbox((0, 0), "Ag", font=font)
    dx = {"l": 0.0, "m": (right - left) / 2, "r": float(right - left)}[anchor[0]]
    dy = {"t": 0.0, "m": (bottom - top) / 2, "b": float(bottom - top)}[anchor[1]]
    draw.text((round(xy[0] - left - dx), round(xy[1] - top - dy)), text, font=font, fill=fill)


def _truncate(draw: ImageDraw.ImageDraw, text: str, font: Font, width: int) -> str:
    """`text`, shortened with an ellipsis to fit `width` pixels."""
    if _width(draw, text, font) <= width:
        return text
    for end in range(len(text) - 1, 0, -1):
        candidate = text[:end].rstrip() + "…"
        if _width(draw, candidate, font) <= width:
            return candidate
    return "…"


def _nice_step(top: float, ticks: int = 5) -> float:
    """A round step (1, 2 or 5 times a power of ten) giving at most `ticks` intervals up to `top`."""
    raw = top / ticks
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw * (1 - 1e-9))


def _tick_label(value: float, step: float, currency: str) -> str:
    decimals = 0 if step >= 1 else max(2, math.ceil(-math.log10(step) - 1e-9))
    return f"{currency}{value:,.{decimals}f}"


def _amount(value: float, currency: str, *, cents: bool = True) -> str:
    """Money for labels: cents, or whole units from 100 on when `cents` is off; never "$0.00" for some spend."""
    if 0 < value < 0.001:
        return f"<{currency}0.001"
    if 0 < value < 0.01:
        return f"{currency}{value:.3f}"
    return f"{currency}{value:,.2f}" if cents or value < 100 else f"{currency}{value:,.0f}"


def _collect(rows: Sequence[tuple[date, str, float]]) -> _Data:
    per_day: dict[date, dict[str, float]] = {}
    totals: dict[str, float] = {}
    for day, model, usd in rows:
        usd = usd if usd > 0 else 0.0  # negative or NaN: nothing
        models = per_day.setdefault(day, {})
        models[model] = models.get(model, 0.0) + usd
        totals[model] = totals.get(model, 0.0) + usd
    ranked = sorted((m for m in totals if totals[m] > 0), key=lambda m: (-totals[m], m))
    kept, merged = (
        (ranked, [])
        if len(ranked) <= len(PALETTE)
        else (ranked[: len(PALETTE) - 1], ranked[len(PALETTE) - 1 :])
    )
    series = [_Series(m, PALETTE[i], totals[m]) for i, m in enumerate(kept)]
    colour_of = {m: PALETTE[i] for i, m in enumerate(kept)} | dict.fromkeys(merged, OTHER_COLOUR)
    if merged:
        series.append(_Series(f"other ({len(merged)} models)", OTHER_COLOUR, sum(totals[m] for m in merged)))
    order = {s.colour: i for i, s in enumerate(series)}
    dates: list[date] = []
    if per_day:
        first, last = min(per_day), max(per_day)
        dates = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    stacks: list[list[tuple[RGB, float]]] = []
    for day in dates:
        by_colour: dict[RGB, float] = {}
        for model, usd in per_day.get(day, {}).items():
            if usd > 0:
                by_colour[colour_of[model]] = by_colour.get(colour_of[model], 0.0) + usd
        stacks.append(sorted(by_colour.items(), key=lambda item: order[item[0]]))
    return _Data(dates, stacks, series)


def _frame(
    draw: ImageDraw.ImageDraw, data: _Data, style: _Style, size: tuple[int, int], legend_w: int
) -> _Frame:
    width, height = size
    peak = max(data.day_totals, default=0.0) or 1.0  # no spend: an empty $0-$1 scale
    step = _nice_step(peak)
    y_max = step * max(1, math.ceil(peak / step - 1e-9))
    ticks = range(round(y_max / step) + 1)
    widest_tick = max(_width(draw, _tick_label(i * step, step, style.currency), style.label) for i in ticks)
    top = style.px(16) + _height(draw, style.title) + style.px(26)
    return _Frame(
        left=style.px(16) + widest_tick + style.px(10),
        top=top,
        right=width - style.px(16) - (legend_w + style.px(24) if legend_w else 0),
        bottom=height - style.px(16) - _height(draw, style.label) - style.px(10),
        y_max=y_max,
        step=step,
        days=len(data.dates),
    )


def _draw_title(draw: ImageDraw.ImageDraw, title: str, data: _Data, style: _Style, width: int) -> None:
    pad = style.px(16)
    _text(draw, (pad, pad), title, style.title, _TEXT)
    if data.total > 0:
        bottom = pad + _height(draw, style.title)
        _text(
            draw,
            (width - pad, bottom),
            f"Total {_amount(data.total, style.currency)}",
            style.label,
            _MUTED,
            "rb",
        )


def _draw_y_axis(draw: ImageDraw.ImageDraw, frame: _Frame, style: _Style) -> None:
    for i in range(round(frame.y_max / frame.step) + 1):
        value = i * frame.step
        y = frame.y_of(value)
        draw.line([(frame.left, y), (frame.right, y)], fill=_GRID if i else _AXIS, width=1)
        label = _tick_label(value, frame.step, style.currency)
        _text(draw, (frame.left - style.px(8), y), label, style.label, _MUTED, "rm")


def _draw_bars(draw: ImageDraw.ImageDraw, data: _Data, frame: _Frame, style: _Style) -> None:
    bar_w = max(1, min(round(frame.slot * 0.72), style.px(_MAX_BAR_WIDTH)))
    totals = data.day_totals
    peak_label = _amount(max(totals, default=0.0), style.currency, cents=False)
    show_totals = _width(draw, peak_label, style.small) <= frame.slot - 4
    for index, stack in enumerate(data.stacks):
        x0 = round(frame.centre(index) - bar_w / 2)
        running = 0.0
        for colour, usd in stack:
            y_low, y_high = frame.y_of(running), frame.y_of(running + usd)
            running += usd
            if y_high < y_low:
                draw.rectangle([(x0, y_high), (x0 + bar_w - 1, y_low - 1)], fill=colour)
        if show_totals and totals[index] > 0:
            label = _amount(totals[index], style.currency, cents=False)
            _text(
                draw,
                (frame.centre(index), frame.y_of(totals[index]) - style.px(5)),
                label,
                style.small,
                _MUTED,
                "mb",
            )


def _draw_x_labels(draw: ImageDraw.ImageDraw, dates: list[date], frame: _Frame, style: _Style) -> None:
    """As many dates as fit, always the most recent day; the month is named on the first label and where it
    changes ("Nov 29, 30, Dec 1, 2")."""
    if not dates:
        return
    long_w, short_w = _width(draw, "Sep 30", style.label), _width(draw, "30", style.label)
    needed = ((long_w + short_w) / 2 + style.px(10)) / frame.slot
    stride = next((s for s in _LABEL_STRIDES if s >= needed), _LABEL_STRIDES[-1])
    if stride >= 7:  # only a few labels: name the month on each, it reads better
        short_w = long_w
    previous: date | None = None
    for index, day in enumerate(dates):
        if (len(dates) - 1 - index) % stride:
            continue
        centre = frame.centre(index)
        named = previous is None or previous.month != day.month or short_w == long_w
        label = f"{_MONTHS[day.month - 1]} {day.day}" if named else str(day.day)
        previous = day
        draw.line([(round(centre), frame.bottom), (round(centre), frame.bottom + style.px(4))], fill=_AXIS)
        _text(draw, (centre, frame.bottom + style.px(8)), label, style.label, _MUTED, "mt")


def _draw_legend(
    draw: ImageDraw.ImageDraw, series: list[_Series], frame: _Frame, style: _Style, width: int, legend_w: int
) -> None:
    """Swatch, model name (truncated to fit) and its total, one row per series."""
    x = width - style.px(16) - legend_w
    swatch = max(8, style.px(12))
    row_h = max(_height(draw, style.label), swatch) + style.px(12)
    for row, s in enumerate(series):
        y = frame.top + row * row_h
        if y + swatch > frame.bottom:
            break
        draw.rectangle([(x, y), (x + swatch - 1, y + swatch - 1)], fill=s.colour)
        amount = _amount(s.total, style.currency)
        name_x = x + swatch + style.px(8)
        name_w = width - style.px(16) - _width(draw, amount, style.label) - max(12, style.px(14)) - name_x
        middle = y + swatch / 2
        _text(draw, (name_x, middle), _truncate(draw, s.name, style.label, name_w), style.label, _TEXT, "lm")
        _text(draw, (width - style.px(16), middle), amount, style.label, _MUTED, "rm")


def render_spend_chart(
    days: Sequence[tuple[date, str, float]],
    path: Path,
    *,
    title: str,
    currency: str = "$",
    size: tuple[int, int] = (1000, 500),
) -> None:
    """Draw spend per day as bars stacked by model and save it as a PNG at `path`.

    `days` holds (day, model, cost) rows; repeated (day, model) pairs are added up, negative or NaN costs count as
    nothing. Days between the first and the last without rows are shown as empty days. No rows (or no spend) gives
    a chart saying "No spend yet".
    """
    width, height = size
    scale = min(width / 1000, height / 500)
    style = _Style(
        scale=scale,
        title=_font(max(12, round(20 * scale))),
        label=_font(max(10, round(13 * scale))),
        small=_font(max(9, round(11 * scale))),
        currency=currency,
    )
    data = _collect(days)
    image = Image.new("RGB", size, _BACKGROUND)
    draw = ImageDraw.Draw(image)
    legend_w = round(min(240 * scale, width * 0.3)) if data.series else 0
    frame = _frame(draw, data, style, size, legend_w)

    _draw_title(draw, title, data, style, width)
    _draw_y_axis(draw, frame, style)
    _draw_bars(draw, data, frame, style)
    _draw_x_labels(draw, data.dates, frame, style)
    if data.series:
        _draw_legend(draw, data.series, frame, style, width, legend_w)
    else:
        middle = ((frame.left + frame.right) / 2, (frame.top + frame.bottom) / 2)
        _text(draw, middle, "No spend yet", style.title, _MUTED, "mm")
    image.save(path, format="PNG", optimize=True)
