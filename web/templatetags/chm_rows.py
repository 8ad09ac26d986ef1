"""Rows of the what-changed tables, built in Python (common/html.py says why)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django import template
from django.utils.safestring import SafeString

from common.formats import percent, seconds
from common.html import html_rows
from web.templatetags.chm_links import client_url, pipeline_url

register = template.Library()


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
