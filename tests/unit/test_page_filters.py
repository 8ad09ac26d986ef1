"""Template filters of the staff pages' long tables: the same text as Django's own tags."""

from __future__ import annotations

import datetime as dt
import re

from django.template import Context, Template
from django.urls import get_script_prefix, reverse, set_script_prefix
from django.utils import timezone

from common.formats import to_the_minute
from web.templatetags.chm_links import client_url, pipeline_url


def test_detail_links_are_the_urls_reverse_gives():
    assert pipeline_url(42) == reverse("runs:pipeline-detail", args=[42])
    assert pipeline_url(9081726354) == reverse("runs:pipeline-detail", args=[9081726354])
    assert client_url("acme-corp_2") == reverse("runs:client-detail", args=["acme-corp_2"])


def test_detail_links_follow_the_script_prefix_of_the_request():
    before = get_script_prefix()
    set_script_prefix("/chm/")
    try:
        assert pipeline_url(7) == "/chm/pipelines/7/" == reverse("runs:pipeline-detail", args=[7])
        assert client_url("acme") == reverse("runs:client-detail", args=["acme"])
    finally:
        set_script_prefix(before)
    assert pipeline_url(7) == reverse("runs:pipeline-detail", args=[7])


def test_to_the_minute_reads_as_the_date_filter_in_the_current_time_zone():
    moment = dt.datetime(2026, 3, 29, 0, 59, 59, 999999, tzinfo=dt.UTC)
    date_filter = Template('{{ moment|date:"Y-m-d H:i" }}')
    for zone in ("UTC", "Europe/Paris", "America/St_Johns"):
        with timezone.override(zone):
            assert to_the_minute(moment) == date_filter.render(Context({"moment": moment}))
    assert to_the_minute(None) == ""


# The what-changed table's rows as the template wrote them before they were built in Python.
CHANGE_ROWS_AS_TEMPLATE = """{% load chm_format chm_links l10n %}{% localize off %}
{% for row in rows %}
<tr>
  <td><a href="{{ row.pipeline_id|pipeline_url }}">{{ row.pipeline_name }}</a> <span class="muted">{{ row.platform }}</span></td>
  <td><a href="{{ row.client_slug|client_url }}">{{ row.client_name }}</a></td>
  <td>{{ row.owner|default:"—" }}</td>
  <td class="num">{{ row.failures_prev_7d }} / {{ row.successes_prev_7d|add:row.failures_prev_7d }} ({{ row.failure_rate_prev_7d|percent }})</td>
  <td class="num">{{ row.failures_7d }} / {{ row.successes_7d|add:row.failures_7d }} ({{ row.failure_rate_7d|percent }})</td>
  <td class="num">{{ row.failure_rate_change|percent }}</td>
  <td class="num">{{ row.p95_duration_seconds_prev_7d|seconds }}</td>
  <td class="num">{{ row.p95_duration_seconds_7d|seconds }}</td>
</tr>
{% endfor %}{% endlocalize %}"""  # noqa: E501


def test_change_rows_read_as_the_template_did():
    def change(**values) -> dict:
        row = {
            "pipeline_id": 1234567,
            "pipeline_name": "Orders ETL",
            "platform": "airflow",
            "client_slug": "acme",
            "client_name": "Acme Corp",
            "owner": "team-orders",
            "failures_prev_7d": 0,
            "successes_prev_7d": 7,
            "failure_rate_prev_7d": 0.0,
            "failures_7d": 3,
            "successes_7d": 1234,
            "failure_rate_7d": 3 / 1237,
            "failure_rate_change": 3 / 1237,
            "p95_duration_seconds_prev_7d": 95.5,
            "p95_duration_seconds_7d": 7300.0,
        }
        return row | values

    rows = [
        change(),
        change(
            pipeline_name='<b>"load" & go</b>',
            client_name="O'Brien & Co",
            owner="",
            failure_rate_prev_7d=None,
            failure_rate_change=None,
            p95_duration_seconds_prev_7d=None,
        ),
        change(owner=None, p95_duration_seconds_7d=None, failures_7d=12345, successes_7d=0),
    ]

    def normalised(html: str) -> str:
        return re.sub(r">\s+<", "><", html).strip()

    expected = Template(CHANGE_ROWS_AS_TEMPLATE).render(Context({"rows": rows}))
    built = Template("{% load chm_rows %}{% change_rows rows %}").render(Context({"rows": rows}))
    assert normalised(built) == normalised(expected)
    assert "&lt;b&gt;&quot;load&quot; &amp; go&lt;/b&gt;" in built and "<b>" not in built
