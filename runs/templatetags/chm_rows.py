"""Rows of the long tables, built in Python.

The what-changed page lists up to 600 pipelines, each row with sixteen values, most through a
filter: the template engine spent about 4 µs per value (resolving, filtering, escaping), two
thirds of the page's own time at 10 M runs. One ``format_html`` per row escapes the same values
for a fraction of that. The markup stays next to the table head in the template's terms: one
cell per column, numbers in ``class="num"`` cells.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence

from django import template
from django.utils.safestring import SafeString, mark_safe

from runs.templatetags.chm_format import percent, seconds
from runs.templatetags.chm_links import client_url, pipeline_url

register = template.Library()


def html_rows(pattern: str, rows: Iterable[Sequence[object]]) -> SafeString:
    """``pattern`` filled in with each row's values, every value escaped: what Django's
    ``format_html_join`` gives for plain values, without its per-value check for lazy strings
    (most of the time of a page of thousands of values). For values that are not already safe
    strings: ``html.escape`` of their text is Django's ``escape``."""
    return mark_safe(  # noqa: S308 (every value escaped above)
        "".join(pattern.format(*[html.escape(str(value)) for value in values]) for values in rows)
    )


CHANGE_ROW = (
    '<tr><td><a href="{}">{}</a> <span class="muted">{}</span></td>'
    '<td><a href="{}">{}</a></td>'
    "<td>{}</td>"
    '<td class="num">{} / {} ({})</td>'
    '<td class="num">{} / {} ({})</td>'
    '<td class="num">{}</td>'
    '<td class="num">{}</td>'
    '<td class="num">{}</td></tr>\n'
)


@register.simple_tag
def change_rows(rows: Iterable[Mapping]) -> SafeString:
    """The body rows of a what-changed table, from the Q5 view's rows (dicts)."""
    return html_rows(
        CHANGE_ROW,
        (
            (
                pipeline_url(row["pipeline_id"]),
                row["pipeline_name"],
                row["platform"],
                client_url(row["client_slug"]),
                row["client_name"],
                row["owner"] or "—",
                row["failures_prev_7d"],
                row["successes_prev_7d"] + row["failures_prev_7d"],
                percent(row["failure_rate_prev_7d"]),
                row["failures_7d"],
                row["successes_7d"] + row["failures_7d"],
                percent(row["failure_rate_7d"]),
                percent(row["failure_rate_change"]),
                seconds(row["p95_duration_seconds_prev_7d"]),
                seconds(row["p95_duration_seconds_7d"]),
            )
            for row in rows
        ),
    )
