"""Every dashboard panel's SQL, expanded exactly as Grafana (one client, several, All; a time
range) and Metabase expand it, runs as the read-only reporting role against a small history
with known answers, and returns the panel's columns and the views' numbers. CHM's own
rendering of the dashboards runs the same SQL, the filters as parameters, and gets the same
rows."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from psycopg import sql

from dashboards.catalog import CLIENT_VARIABLE_SQL, DASHBOARDS, grafana_sql, metabase_sql
from dashboards.selectors import DashboardFilters, panel_data
from inventory.models import Platform
from runs.models import RunStatus
from tests.factories import AlertRuleFactory, ClientFactory, PipelineFactory, RunFactory
from tests.support.sql_expansion import expand_grafana, expand_metabase

pytestmark = pytest.mark.django_db

PANELS = {panel.key: panel for dashboard in DASHBOARDS for panel in dashboard.panels}
S, F = RunStatus.SUCCESS, RunStatus.FAILED


def run_as_reporting_role(query: str) -> tuple[list[str], list[tuple]]:
    role = sql.Identifier(settings.CHM_REPORTING_ROLE).as_string(connection.connection)
    with transaction.atomic(), connection.cursor() as cursor:
        # SET LOCAL ends with the savepoint, so the test connection gets its own role back.
        cursor.execute(f"SET LOCAL ROLE {role}")
        cursor.execute(query)
        return [column.name for column in cursor.description], cursor.fetchall()


@pytest.fixture
def history():
    """Three clients, four pipelines, runs on the last three UTC days (times are in the past
    whenever the test runs), and one client-wide alert rule for acme."""
    today = timezone.now().astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)

    def day(n: int) -> dt.datetime:
        return today - dt.timedelta(days=n)

    acme = ClientFactory(slug="acme", name="Acme")
    globex = ClientFactory(slug="globex", name="Globex")
    initech = ClientFactory(slug="initech", name="Initech")
    orders = PipelineFactory(
        client=acme,
        slug="orders",
        platform=Platform.AIRFLOW,
        freshness_minutes=60,
        docs_url="https://wiki.example.com/orders",
    )
    billing = PipelineFactory(client=acme, slug="billing", platform=Platform.DBT)
    sync = PipelineFactory(client=globex, slug="sync", platform=Platform.FIVETRAN)
    ingest = PipelineFactory(client=initech, slug="ingest", platform=Platform.AIRFLOW)
    plan = [
        (orders, 3, 1, S), (orders, 3, 2, F), (orders, 3, 3, F), (orders, 2, 1, S),
        (billing, 2, 2, F), (billing, 1, 2, F),
        (sync, 3, 4, F), (sync, 1, 1, S),
        (ingest, 2, 3, S),
    ]  # fmt: skip
    runs = [
        RunFactory(pipeline=p, status=status, started_at=day(d) + dt.timedelta(hours=h))
        for p, d, h, status in plan
    ]
    AlertRuleFactory(client=acme, pipeline=None)
    return SimpleNamespace(day=day, runs=runs, orders=orders, billing=billing)


def all_clients() -> list[str]:
    """What Grafana's All means for the client variable: every option its query lists."""
    columns, rows = run_as_reporting_role(CLIENT_VARIABLE_SQL)
    assert columns == ["__value", "__text"]
    return [value for value, _ in rows]


def grafana_rows(key: str, clients: list[str], history, *, since_days: int = 10):
    query = expand_grafana(
        grafana_sql(PANELS[key]),
        variables={"client": clients},
        time_from=history.day(since_days),
        time_to=timezone.now(),
    )
    return run_as_reporting_role(query)


SELECTIONS = {"one": ["acme"], "several": ["acme", "globex"], "all": None}


@pytest.mark.parametrize("selection", sorted(SELECTIONS))
@pytest.mark.parametrize("key", sorted(PANELS))
def test_every_panel_runs_for_one_several_and_all_clients(history, key, selection):
    clients = SELECTIONS[selection] or all_clients()
    columns, rows = grafana_rows(key, clients, history)
    assert columns == list(PANELS[key].columns)
    if "client_slug" in columns:
        index = columns.index("client_slug")
        assert {row[index] for row in rows} <= set(clients)


def test_all_lists_every_active_client_by_name(history):
    ClientFactory(slug="dormant", name="Dormant", is_active=False)
    assert all_clients() == ["acme", "globex", "initech"]


def test_q1_failures_per_day_by_platform(history):
    d = history.day
    one = [(d(3), "airflow", 2), (d(2), "airflow", 0), (d(2), "dbt", 1), (d(1), "dbt", 1)]
    several = sorted([*one, (d(3), "fivetran", 1), (d(1), "fivetran", 0)])
    assert grafana_rows("q01-failures-per-day", ["acme"], history)[1] == one
    assert grafana_rows("q01-failures-per-day", ["acme", "globex"], history)[1] == several
    # initech's only day adds a success to (day 2, airflow): no new failures.
    assert grafana_rows("q01-failures-per-day", all_clients(), history)[1] == several
    # The time range is applied: from day 2 on, day 3 is gone.
    assert grafana_rows("q01-failures-per-day", ["acme"], history, since_days=2)[1] == one[1:]


def test_q1_failure_rate_per_day(history):
    d = history.day
    rows = grafana_rows("q01-failure-rate-per-day", ["acme"], history)[1]
    assert rows == [
        (d(3), pytest.approx(2 / 3)),
        (d(2), pytest.approx(1 / 2)),
        (d(1), pytest.approx(1.0)),
    ]


def test_q2_latest_status_puts_failing_first(history):
    columns, rows = grafana_rows("q02-latest-status", ["acme"], history)
    found = [(r[columns.index("pipeline_name")], r[columns.index("health")]) for r in rows]
    assert found == [("Billing", "failing"), ("Orders", "stale")]
    billing = dict(zip(columns, rows[0], strict=True))
    assert billing["last_success_at"] is None
    assert billing["last_error"] == history.runs[5].error_message


def test_q3_client_health_and_failing_count(history):
    columns, rows = grafana_rows("q03-client-health", ["acme", "globex"], history)
    found = [dict(zip(columns, row, strict=True)) for row in rows]
    assert [
        (r["client_slug"], r["pipelines"], r["healthy"], r["failing"], r["stale"]) for r in found
    ] == [("acme", 2, 0, 1, 1), ("globex", 1, 1, 0, 0)]
    assert found[0]["failure_rate_7d"] == pytest.approx(4 / 6)
    assert found[1]["failure_rate_7d"] == pytest.approx(1 / 2)
    assert grafana_rows("q03-pipelines-failing", ["acme"], history)[1] == [(1,)]
    assert grafana_rows("q03-pipelines-failing", ["globex"], history)[1] == [(0,)]
    assert grafana_rows("q03-pipelines-failing", all_clients(), history)[1] == [(1,)]


def _weekly(history, clients: list[str]) -> dict:
    """(week start, client) → [failures, success-or-failed runs], from the seeded runs."""
    counts = defaultdict(lambda: [0, 0])
    for run in history.runs:
        started = run.started_at
        monday = (started - dt.timedelta(days=started.weekday())).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        if run.pipeline.client.slug in clients:
            counts[(monday, run.pipeline.client.slug)][0] += run.status == F
            counts[(monday, run.pipeline.client.slug)][1] += 1
    return counts


def test_q4_weekly_failure_rate_and_trend(history):
    clients = ["acme", "globex"]
    expected = _weekly(history, clients)
    rows = grafana_rows("q04-weekly-failure-rate", clients, history)[1]
    rates = {(t, c): rate for t, c, rate in rows if rate is not None}
    assert rates == {key: pytest.approx(f / n) for key, (f, n) in expected.items()}
    columns, rows = grafana_rows("q04-weekly-trend", clients, history)
    trend = [dict(zip(columns, row, strict=True)) for row in rows]
    assert {
        (r["bucket_start"], r["client_slug"]): [r["failures"], r["runs"]]
        for r in trend
        if r["runs"]
    } == expected


def test_q5_what_changed(history):
    columns, rows = grafana_rows("q05-what-changed", ["acme"], history)
    found = [(r[columns.index("pipeline_name")], r[columns.index("change")]) for r in rows]
    assert found == [("Billing", "newly failing"), ("Orders", "newly failing")]
    assert len(grafana_rows("q05-what-changed", all_clients(), history)[1]) == 3


def test_q6_triage(history):
    columns, rows = grafana_rows("q06-triage", ["acme"], history)
    (row,) = [dict(zip(columns, r, strict=True)) for r in rows]
    assert row["pipeline_name"] == "Billing"
    assert row["consecutive_failures"] == 2
    assert row["failing_since"] == history.runs[4].started_at
    assert row["last_success_at"] is None
    assert row["is_covered"] is True
    assert grafana_rows("q06-triage", ["globex"], history)[1] == []
    assert grafana_rows("q06-failing-count", ["acme", "globex"], history)[1] == [(1,)]
    assert grafana_rows("q06-failing-count", ["globex"], history)[1] == [(0,)]


def test_q7_flaky_ranking_shows_short_histories_as_such(history):
    columns, rows = grafana_rows("q07-flaky-ranking", ["acme"], history)
    found = [
        tuple(row[columns.index(c)] for c in ("pipeline_name", "verdict", "window_runs", "flips"))
        + (row[columns.index("flip_rate")],)
        for row in rows
    ]
    assert found == [
        ("Billing", "insufficient history", 2, 0, None),
        ("Orders", "insufficient history", 4, 2, None),
    ]


def test_q8_platform_panels_ignore_the_client_and_rank_by_wilson(history):
    results = {
        selection: grafana_rows("q08-platform-rates", clients or all_clients(), history)
        for selection, clients in SELECTIONS.items()
    }
    assert results["one"] == results["several"] == results["all"]
    columns, rows = results["all"]
    found = [dict(zip(columns, row, strict=True)) for row in rows]
    assert {(r["platform"], r["pipelines"], r["outcome_runs"], r["failures"]) for r in found} == {
        ("airflow", 2, 5, 2),
        ("dbt", 1, 2, 2),
        ("fivetran", 1, 2, 1),
    }
    lowers = [r["wilson_lower"] for r in found]
    assert lowers == sorted(lowers, reverse=True)

    d = history.day
    daily = grafana_rows("q08-platform-daily", ["acme"], history)[1]
    assert daily == [
        (d(3), "airflow", pytest.approx(2 / 3)),
        (d(3), "fivetran", pytest.approx(1.0)),
        (d(2), "airflow", pytest.approx(0.0)),
        (d(2), "dbt", pytest.approx(1.0)),
        (d(1), "dbt", pytest.approx(1.0)),
        (d(1), "fivetran", pytest.approx(0.0)),
    ]


def test_q9_stale_pipeline(history):
    columns, rows = grafana_rows("q09-freshness-stuck", ["acme", "globex"], history)
    (row,) = [dict(zip(columns, r, strict=True)) for r in rows]
    last_success = history.runs[3].finished_at
    assert (row["kind"], row["pipeline_name"], row["expected_minutes"]) == ("stale", "Orders", 60)
    assert row["last_success_at"] == last_success
    assert row["late_since"] == last_success + dt.timedelta(minutes=60)
    assert grafana_rows("q09-freshness-stuck", ["globex"], history)[1] == []


def test_q10_governance(history):
    columns, rows = grafana_rows("q10-governance-by-client", ["acme", "globex"], history)
    found = [dict(zip(columns, row, strict=True)) for row in rows]
    assert [
        (r["client_slug"], r["pipelines"], r["with_documentation"], r["covered"], r["coverage_pct"])
        for r in found
    ] == [("globex", 1, 0, 0, Decimal("0.0")), ("acme", 2, 1, 2, Decimal("100.0"))]
    columns, rows = grafana_rows("q10-governance-gaps", ["acme"], history)
    assert [
        (r[columns.index("pipeline_name")], r[columns.index("covering_rules")]) for r in rows
    ] == [("Billing", 1)]


@pytest.mark.parametrize("key", sorted(PANELS))
def test_a_quote_in_a_client_value_stays_inside_the_string(history, key):
    hostile = ["acme') OR TRUE --", "x'; DROP VIEW reporting.q06_triage; --"]
    columns, rows = grafana_rows(key, hostile, history)
    assert columns == list(PANELS[key].columns)
    if PANELS[key].client_column and "client_slug" in columns:
        assert rows == []
    run_as_reporting_role("SELECT count(*) FROM reporting.q06_triage")


@pytest.mark.parametrize("key", sorted(PANELS))
def test_the_metabase_question_gives_the_grafana_numbers(history, key):
    panel = PANELS[key]
    for locked, clients in (("acme", ["acme"]), (None, all_clients())):
        query = expand_metabase(metabase_sql(panel), parameters={"client": locked})
        columns, rows = run_as_reporting_role(query)
        assert columns == list(panel.columns)
        if panel.time_column is None:
            assert rows == grafana_rows(key, clients, history)[1]


@pytest.mark.parametrize("selection", sorted(SELECTIONS))
@pytest.mark.parametrize("key", sorted(PANELS))
def test_chms_own_rendering_gives_the_grafana_numbers(history, key, selection):
    clients = SELECTIONS[selection] or all_clients()
    filters = DashboardFilters(
        clients=tuple(clients), time_from=history.day(10), time_to=timezone.now()
    )
    data = panel_data(PANELS[key], filters, alias="default", limit=1000)
    assert data.error == ""
    expected_columns, expected_rows = grafana_rows(key, clients, history)
    assert list(data.columns) == expected_columns
    assert data.rows == expected_rows


def test_q11_incidents_keep_those_that_involve_the_clients(history):
    # orders (acme) and sync (globex) failed alike within 2 hours on day 3; both succeeded since.
    columns, rows = grafana_rows("q11-incidents", ["acme"], history)
    (row,) = [dict(zip(columns, r, strict=True)) for r in rows]
    assert (row["kind"], row["pipelines"], row["clients"], row["state"]) == (
        "signature",
        2,
        2,
        "resolved",
    )
    assert row["platforms"] == "airflow, fivetran"
    assert grafana_rows("q11-incidents", ["globex"], history)[1] == rows
    assert grafana_rows("q11-incidents", ["initech"], history)[1] == []
