"""CHM's own rendering of the two catalog dashboards: every panel drawn from the reporting
views as the reporting role, Grafana's filters, a panel's failure kept to that panel, and
every panel's rows as a streamed CSV download."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import logging

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.utils import timezone

from dashboards import catalog
from dashboards.forms import parse_moment
from runs.models import RunStatus
from tests.factories import ClientFactory, PipelineFactory, RunFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def history(settings):
    settings.METABASE_SITE_URL = ""
    acme = ClientFactory(slug="acme", name="Acme")
    globex = ClientFactory(slug="globex", name="Globex")
    orders = PipelineFactory(client=acme, slug="orders", platform="airflow")
    sync = PipelineFactory(client=globex, slug="sync", platform="dbt")
    today = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    for days_ago, pipeline, status in [
        (40, orders, RunStatus.FAILED),
        (3, orders, RunStatus.SUCCESS),
        (2, orders, RunStatus.FAILED),
        (2, sync, RunStatus.FAILED),
        (1, sync, RunStatus.SUCCESS),
    ]:
        RunFactory(
            pipeline=pipeline,
            status=status,
            started_at=today - dt.timedelta(days=days_ago, hours=-3),
        )
    return {"orders": orders, "sync": sync}


def page_body(http, key: str, **params) -> str:
    response = http.get(f"/dashboards/{key}/", params)
    assert response.status_code == 200, response.content
    return response.content.decode()


def panel_html(body: str, key: str) -> str:
    start = body.index(f'id="{key}"')
    return body[start : body.index("</section>", start)]


def test_both_dashboards_draw_every_panel_from_the_catalog(staff_client, history):
    for dashboard in catalog.DASHBOARDS:
        body = page_body(staff_client, dashboard.key)
        for panel in dashboard.panels:
            html = panel_html(body, panel.key)
            assert "panel-error" not in html, panel.key
            assert f'href="/dashboards/{dashboard.key}/{panel.key}.csv"' in html
    body = page_body(staff_client, "business")
    failures = panel_html(body, "q01-failures-per-day")
    # Two days with failures, one bar each; the 40-day-old failure is outside the 30 days.
    assert failures.count("<rect") == 2
    assert "airflow" in failures and "dbt" in failures
    assert ">1</p>" in panel_html(page_body(staff_client, "operations"), "q06-failing-count")


def test_the_client_filter_and_the_time_range_apply(staff_client, history):
    body = page_body(staff_client, "business", client="globex")
    latest = panel_html(body, "q02-latest-status")
    assert "<td>globex</td>" in latest and "<td>acme</td>" not in latest
    assert panel_html(body, "q01-failures-per-day").count("<rect") == 1

    body = page_body(staff_client, "business", **{"from": "now-60d"})
    assert panel_html(body, "q01-failures-per-day").count("<rect") == 3
    body = page_body(staff_client, "business", **{"from": "now-1d"})
    assert "No data for these filters." in panel_html(body, "q01-failures-per-day")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "yesterday"}, "from"),
        ({"to": "now-3x"}, "to"),
        ({"from": "now-1d", "to": "now-2d"}, "to"),
        ({"client": "nobody"}, "client"),
        ({"from": ""}, "from"),
    ],
)
def test_filters_that_cannot_apply_are_refused_naming_the_field(
    staff_client, history, params, field
):
    for url in ("/dashboards/business/", "/dashboards/business/q02-latest-status.csv"):
        response = staff_client.get(url, params)
        assert response.status_code == 400, url
        assert f"{field}:" in response.content.decode()


def test_times_read_like_grafanas_time_picker():
    assert parse_moment("now", now=NOW) == NOW
    assert parse_moment("now-7d", now=NOW) == NOW - dt.timedelta(days=7)
    assert parse_moment("now-90m", now=NOW) == NOW - dt.timedelta(minutes=90)
    assert parse_moment("2026-01-31", now=NOW) == dt.datetime(2026, 1, 31, tzinfo=dt.UTC)
    assert parse_moment("2026-01-31", now=NOW, end_of_day=True) == dt.datetime(
        2026, 1, 31, 23, 59, 59, 999999, tzinfo=dt.UTC
    )
    assert parse_moment("2026-01-31T08:00", now=NOW) == dt.datetime(2026, 1, 31, 8, tzinfo=dt.UTC)
    assert parse_moment("2026-01-31T09:00+01:00", now=NOW) == dt.datetime(
        2026, 1, 31, 8, tzinfo=dt.UTC
    )
    for bad in ("now+1d", "now-d", "31/01/2026", "now-1y"):
        with pytest.raises(ValueError):
            parse_moment(bad, now=NOW)


def _with_panel(monkeypatch, sql: str) -> catalog.Panel:
    """The business dashboard with one more panel, reading ``sql``."""
    broken = catalog.Panel(
        key="broken",
        question="Q0",
        title="Broken",
        description="",
        sql=sql,
        visual="table",
        columns=("n",),
        client_column=None,
    )
    business = dataclasses.replace(catalog.BUSINESS, panels=(*catalog.BUSINESS.panels, broken))
    monkeypatch.setitem(catalog.DASHBOARDS_BY_KEY, "business", business)
    return broken


def test_a_failing_panel_shows_its_error_and_the_others_still_draw(
    staff_client, history, monkeypatch, caplog
):
    _with_panel(monkeypatch, "SELECT n FROM reporting.no_such_view WHERE {filters}")
    with caplog.at_level(logging.ERROR, logger="dashboards.selectors"):
        body = page_body(staff_client, "business")
    broken = panel_html(body, "broken")
    assert "This panel could not be loaded." in broken
    assert "no_such_view" in broken
    assert "panel-error" not in panel_html(body, "q02-latest-status")
    assert any("broken" in record.getMessage() for record in caplog.records)


def test_a_panel_reads_only_what_the_reporting_role_may(staff_client, history, monkeypatch):
    _with_panel(monkeypatch, "SELECT count(*) AS n FROM runs_run WHERE {filters}")
    broken = panel_html(page_body(staff_client, "business"), "broken")
    assert "permission denied" in broken
    # The page gives the connection its own role back.
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user = session_user")
        assert cursor.fetchone() == (True,)


def test_without_the_reporting_role_the_page_says_how_to_grant_it(staff_client, settings):
    settings.CHM_REPORTING_ROLE = "no_such_reporting_role"
    response = staff_client.get("/dashboards/operations/")
    assert response.status_code == 503
    body = response.content.decode()
    assert "no_such_reporting_role" in body and "GRANT" in body


def download(http, path: str, **params) -> list[list[str]]:
    response = http.get(path, params)
    assert response.status_code == 200, response.content
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="chm-')
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_a_panel_downloads_every_row_with_the_filters(staff_client, history):
    rows = download(staff_client, "/dashboards/business/q02-latest-status.csv")
    panel = catalog.DASHBOARDS_BY_KEY["business"].panels[4]
    assert rows[0] == list(panel.columns)
    assert sorted(row[0] for row in rows[1:]) == ["acme", "globex"]

    rows = download(
        staff_client, "/dashboards/business/q01-failures-per-day.csv", client="acme", to="now"
    )
    assert rows[0] == ["time", "platform", "failures"]
    assert [row[1:] for row in rows[1:]] == [["airflow", "0"], ["airflow", "1"]]
    assert rows[1][0].endswith("+00:00")


def test_panel_downloads_need_a_staff_login(client, history):
    response = client.get("/dashboards/business/q02-latest-status.csv")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_only_the_panels_of_the_dashboard_download(staff_client, history):
    assert staff_client.get("/dashboards/business/nothing.csv").status_code == 404
    assert staff_client.get("/dashboards/nothing/q02-latest-status.csv").status_code == 404
    assert staff_client.get("/dashboards/operations/q02-latest-status.csv").status_code == 404
