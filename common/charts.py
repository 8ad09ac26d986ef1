"""Bar charts drawn on the server as inline SVG: no JavaScript, and a text alternative for
every chart (its <title> and <desc>, a tooltip per bar, and the data table the page shows)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

WIDTH = 960
HEIGHT = 150
LEFT = 60  # room for the y-axis label ("34.0 min")
BOTTOM = 20  # room for the x-axis labels
TOP = 8


@dataclass(frozen=True)
class Point:
    """One column: stacked parts (value, CSS class), bottom first."""

    axis_label: str
    title: str
    parts: Sequence[tuple[float, str]]


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    css: str


@dataclass(frozen=True)
class Column:
    title: str
    rects: list[Rect]
    label: str
    label_x: float


@dataclass(frozen=True)
class BarChart:
    slug: str
    title: str
    summary: str
    max_label: str
    columns: list[Column] = field(default_factory=list)
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    baseline: float = HEIGHT - BOTTOM
    top: int = TOP


def bar_chart(
    *,
    slug: str,
    title: str,
    summary: str,
    points: Sequence[Point],
    max_value: float | None = None,
    format_value=lambda value: f"{value:g}",
    label_every: int = 1,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> BarChart:
    """Scale ``points`` into an SVG bar chart; ``max_value`` fixes the scale (1.0 for rates).
    ``width`` and ``height`` are the drawing's units: about the pixels it is shown at, so
    that its text keeps its size in a narrower or shorter chart."""
    totals = [sum(value for value, _ in point.parts) for point in points]
    top_value = max_value if max_value is not None else max(totals, default=0)
    scale_top = top_value if top_value > 0 else 1
    plot_height = height - BOTTOM - TOP
    slot = (width - LEFT) / max(len(points), 1)
    bar = max(slot * 0.8, 1)
    columns = []
    for index, point in enumerate(points):
        x = LEFT + index * slot + (slot - bar) / 2
        y = height - BOTTOM
        rects = []
        for value, css in point.parts:
            part_height = plot_height * max(value, 0) / scale_top
            if part_height <= 0:
                continue
            y -= part_height
            rects.append(Rect(round(x, 2), round(y, 2), round(bar, 2), round(part_height, 2), css))
        label = point.axis_label if index % label_every == 0 else ""
        columns.append(Column(point.title, rects, label, round(x + bar / 2, 2)))
    return BarChart(
        slug=slug,
        title=title,
        summary=summary,
        max_label=format_value(top_value),
        columns=columns,
        width=width,
        height=height,
        baseline=height - BOTTOM,
    )
