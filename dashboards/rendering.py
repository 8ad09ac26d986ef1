"""A panel's rows drawn on the server: bar charts for time series (common.charts, the pages'
own), a figure for a stat, a table for the rest. No JavaScript; every chart keeps its text
alternative (the bars' tooltips, a summary) and its rows download as CSV.

Time series are drawn the way their numbers add up: one series as one bar per bucket; counts
of several series (failures per platform) as stacked bars, whose heights are the totals;
rates of several series (failure rate per client) as one small chart per series on one time
axis, since rates do not add.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils.safestring import SafeString

from common import charts
from common.formats import percent, seconds, to_the_minute
from common.html import html_rows
from dashboards.catalog import Panel, column_unit
from dashboards.selectors import PanelData

# Series colours (static/css/chm.css, .series-0 …); more series than these reuse them.
SERIES_COLOURS = 8
AXIS_LABELS = 8
FULL_WIDTH = 960  # a 24-column panel's drawing, in the drawing's units
SMALL_MULTIPLE_HEIGHT = 70


@dataclass(frozen=True)
class Series:
    name: str
    css: str
    chart: charts.BarChart | None = None


@dataclass(frozen=True)
class PanelView:
    panel: Panel
    data: PanelData
    charts: list[Series] = field(default_factory=list)
    legend: list[Series] = field(default_factory=list)
    stat: str = ""
    table_head: list[tuple[str, bool]] = field(default_factory=list)
    table_body: SafeString | str = ""

    @property
    def has_data(self) -> bool:
        return bool(self.data.rows)


def format_value(column: str, value: object) -> str:
    """A cell as a person reads it: the column's unit (the one Grafana shows it in)."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.datetime):
        # Day and week buckets start at midnight UTC: their date says it all.
        if value.astimezone(dt.UTC).time() == dt.time.min:
            return f"{value.astimezone(dt.UTC):%Y-%m-%d}"
        return to_the_minute(value)
    unit = column_unit(column)
    if unit == "percentunit":
        return percent(float(value))
    if unit == "percent":
        return f"{float(value):.1f} %"
    if unit == "s":
        return seconds(float(value))
    if isinstance(value, float) and value.is_integer():
        return f"{int(value):,}"
    if isinstance(value, float | Decimal):
        return f"{value:,.2f}"
    return str(value)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _cell_class(values: list[object]) -> str:
    """Numbers right-aligned, numbers and moments kept on one line."""
    if any(_is_number(value) for value in values):
        return "num"
    if any(isinstance(value, dt.datetime) for value in values):
        return "when"
    return ""


def _table(view_columns: Sequence[str], rows: list[tuple]) -> tuple[list, SafeString]:
    classes = [_cell_class([row[i] for row in rows]) for i in range(len(view_columns))]
    head = [(name.replace("_", " "), css) for name, css in zip(view_columns, classes, strict=True)]
    cell = "".join(f'<td class="{css}">{{}}</td>' if css else "<td>{}</td>" for css in classes)
    body = html_rows(
        f"<tr>{cell}</tr>\n",
        (
            [format_value(name, value) for name, value in zip(view_columns, row, strict=True)]
            for row in rows
        ),
    )
    return head, body


def _bucket_label(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%d %b")


def _chart_width(panel: Panel) -> int:
    return FULL_WIDTH * panel.width // 24


def _time_series(panel: Panel, data: PanelData) -> tuple[list[Series], list[Series]]:
    """(charts, legend) of a panel whose rows are (time, [series,] value), ordered by time."""
    value_column = data.columns[-1]
    has_series = len(data.columns) == 3
    buckets = sorted({row[0] for row in data.rows})
    values: dict[tuple[str, dt.datetime], float | None] = {}
    names: list[str] = []
    for row in data.rows:
        name = str(row[1]) if has_series else panel.title
        if name not in names:
            names.append(name)
        values[(name, row[0])] = None if row[-1] is None else float(row[-1])
    series = [Series(name, f"series-{index % SERIES_COLOURS}") for index, name in enumerate(names)]
    rate = column_unit(value_column) == "percentunit"
    label_every = max(1, math.ceil(len(buckets) / AXIS_LABELS))
    span = f"{buckets[0]:%Y-%m-%d} to {buckets[-1]:%Y-%m-%d} (UTC)"

    def shown(value: float | None) -> str:
        return format_value(value_column, value)

    def draw(*, slug: str, title: str, summary: str, tooltip, parts, **options) -> charts.BarChart:
        """A bar per bucket: ``tooltip(bucket)`` its text, ``parts(bucket)`` its stack."""
        return charts.bar_chart(
            slug=slug,
            title=title,
            summary=f"{span}{summary}",
            points=[
                charts.Point(
                    axis_label=_bucket_label(b), title=f"{b:%Y-%m-%d}: {tooltip(b)}", parts=parts(b)
                )
                for b in buckets
            ],
            label_every=label_every,
            width=_chart_width(panel),
            **options,
        )

    if has_series and not rate:
        # Counts add up: one stacked bar per bucket, its height the total.
        totals = {b: sum(values.get((s.name, b)) or 0 for s in series) for b in buckets}
        busiest = max(buckets, key=lambda b: totals[b])
        chart = draw(
            slug=panel.key,
            title=panel.title,
            summary=f": {shown(sum(totals.values()))} in all; most on "
            f"{busiest:%Y-%m-%d}: {shown(totals[busiest])}.",
            tooltip=lambda b: ", ".join(
                f"{s.name} {shown(values[(s.name, b)])}" for s in series if values.get((s.name, b))
            ),
            parts=lambda b: [(values.get((s.name, b)) or 0, s.css) for s in series],
        )
        return [Series(panel.title, "", chart)], series

    # One chart per series (a rate, or a single series), every one on the same buckets and,
    # so that their bars compare, the same scale: up to the highest value of any of them.
    highest = max((v for v in values.values() if v is not None), default=0.0)
    drawn = []
    for index, s in enumerate(series):
        known = [values[(s.name, b)] for b in buckets if values.get((s.name, b)) is not None]
        chart = draw(
            slug=f"{panel.key}-{index}" if has_series else panel.key,
            title=s.name,
            summary=f"; highest {shown(max(known, default=None))}, "
            f"lowest {shown(min(known, default=None))}.",
            tooltip=lambda b, s=s: f"{s.name} {shown(values.get((s.name, b)))}",
            parts=lambda b, s=s: [(values.get((s.name, b)) or 0, "bar-failed" if rate else s.css)],
            max_value=highest or None,
            format_value=shown,
            height=SMALL_MULTIPLE_HEIGHT if has_series else charts.HEIGHT,
        )
        drawn.append(Series(s.name, s.css, chart))
    return drawn, []


def panel_view(panel: Panel, data: PanelData) -> PanelView:
    if data.error or not data.rows:
        return PanelView(panel, data)
    if panel.visual == "stat":
        return PanelView(panel, data, stat=format_value(data.columns[0], data.rows[0][0]))
    # Charts keep their rows as a table beside them (folded away): their text alternative.
    head, body = _table(data.columns, data.rows)
    if panel.visual == "timeseries":
        drawn, legend = _time_series(panel, data)
        return PanelView(panel, data, drawn, legend, table_head=head, table_body=body)
    return PanelView(panel, data, table_head=head, table_body=body)
