"""Contract of the dashboard views in schema `reporting`: exact columns, and known answers on
small hand-built histories. Grafana, Metabase and the pages all read these views."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone
from psycopg import sql

from alerts.models import AlertState, RuleKind, Silence
from inventory.models import Platform
from runs import reporting
from runs.models import RunStatus
from runs.rollups import refresh_daily_rollup
from tests.factories import (
    AlertRuleFactory,
    AlertStateFactory,
    ClientFactory,
    PipelineFactory,
    RunFactory,
)

pytestmark = pytest.mark.django_db

PIPELINE_COLUMNS = [
    "pipeline_id",
    "pipeline_slug",
    "pipeline_name",
    "client_id",
    "client_slug",
    "client_name",
    "platform",
    "owner",
]

VIEW_COLUMNS = {
    "q01_failures_over_time": [
        "row_key", "bucket_start", "client_id", "client_slug", "client_name", "platform",
        "runs", "finished_runs", "successes", "failures", "canceled", "skipped", "failure_rate",
    ],
    "q01_failures_per_day": [
        "row_key", "bucket_start", "runs", "finished_runs", "successes", "failures",
        "canceled", "skipped", "failure_rate",
    ],
    "q02_pipeline_latest_status": [
        *PIPELINE_COLUMNS, "is_active", "freshness_minutes", "last_run_id",
        "last_external_run_id", "last_status", "last_started_at", "last_finished_at",
        "last_duration_seconds", "last_outcome_status", "last_success_at", "last_failure_at",
        "last_error", "never_run", "is_stale", "health",
    ],
    "q03_client_health": [
        "client_id", "client_slug", "client_name", "is_active", "pipelines", "healthy",
        "failing", "running", "stale", "never_run", "outcome_runs_7d", "failures_7d",
        "failure_rate_7d", "outcome_runs_prev_7d", "failures_prev_7d", "failure_rate_prev_7d",
        "failure_rate_change",
    ],
    "q04_weekly_trend": [
        "row_key", "bucket_start", "client_id", "client_slug", "client_name", "runs",
        "finished_runs", "successes", "failures", "failure_rate", "p50_duration_seconds",
        "p95_duration_seconds", "recoveries", "mttr_seconds",
    ],
    "q05_what_changed": [
        *PIPELINE_COLUMNS, "successes_7d", "failures_7d", "failure_rate_7d",
        "successes_prev_7d", "failures_prev_7d", "failure_rate_prev_7d",
        "p95_duration_seconds_7d", "p95_duration_seconds_prev_7d", "failure_rate_change",
        "p95_duration_ratio", "is_newly_failing", "is_recovered", "is_slower", "change",
    ],
    "q06_triage": [
        *PIPELINE_COLUMNS, "consecutive_failures", "failing_since", "last_run_id",
        "last_failure_at", "last_error", "last_success_at", "is_covered", "firing_rules",
        "acknowledged_rules", "silenced_rules",
    ],
    "q07_flaky_ranking": [
        *PIPELINE_COLUMNS, "window_runs", "failures", "flips", "flip_rate", "failure_rate",
        "window_start", "last_flip_at", "has_enough_history", "is_flaky", "verdict",
    ],
    "q08_platform_failure_rates": [
        "row_key", "platform", "window_label", "window_start", "window_end", "pipelines",
        "finished_runs", "outcome_runs", "failures", "failure_rate", "wilson_lower",
        "wilson_upper", "low_sample",
    ],
    "q08_platform_failure_daily": [
        "row_key", "bucket_start", "platform", "finished_runs", "outcome_runs", "failures",
        "failure_rate", "wilson_lower", "low_sample",
    ],
    "q09_freshness_and_stuck": [
        "row_key", "kind", *PIPELINE_COLUMNS, "run_id", "external_run_id", "started_at",
        "expected_minutes", "last_success_at", "late_since", "late_by_minutes",
    ],
    "q10_governance": [
        *PIPELINE_COLUMNS, "has_owner", "has_documentation", "docs_url", "pipeline_rules",
        "client_wide_rules", "covering_rules", "is_covered", "firing_rules",
    ],
    "q10_governance_by_client": [
        "client_id", "client_slug", "client_name", "pipelines", "with_owner",
        "with_documentation", "covered", "uncovered", "owner_pct", "documentation_pct",
        "coverage_pct", "enabled_rules", "firing_rules",
    ],
    "q11_incident_pipelines": [
        "row_key", "incident_key", "kind", "failure_signature", *PIPELINE_COLUMNS, "failures",
        "first_failed_at", "last_failed_at", "last_run_id", "last_error", "recovered_at",
        "is_open",
    ],
    "q11_incidents": [
        "incident_key", "kind", "failure_signature", "platform", "platforms", "pipelines",
        "clients", "failures", "open_pipelines", "first_seen", "last_seen", "state",
        "example_run_id", "example_error",
    ],
    "q11_error_signatures": [
        "failure_signature", "failures_7d", "failures_30d", "pipelines_7d", "pipelines_30d",
        "clients_30d", "first_seen", "last_seen", "example_run_id", "example_error",
    ],
}  # fmt: skip


REPORTING_MODELS = [
    model
    for model in vars(reporting).values()
    if isinstance(model, type)
    and issubclass(model, reporting.ReportingView)
    and not model._meta.abstract
]


def rows(view: str, where: str = "true", params: tuple = ()) -> list[dict]:
    query = sql.SQL("SELECT * FROM reporting.{} WHERE ").format(sql.Identifier(view))
    with connection.cursor() as cursor:
        cursor.execute(query.as_string(connection.connection) + where, params)
        names = [col.name for col in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def one(view: str, where: str, params: tuple) -> dict:
    found = rows(view, where, params)
    assert len(found) == 1, found
    return found[0]


def history(pipeline, statuses: list[str], *, start: dt.datetime, step: dt.timedelta) -> list:
    """Runs of ``pipeline`` in this order, one every ``step`` from ``start``."""
    return [
        RunFactory(pipeline=pipeline, status=status, started_at=start + i * step)
        for i, status in enumerate(statuses)
    ]


@pytest.mark.parametrize("view", sorted(VIEW_COLUMNS))
def test_view_has_exactly_the_documented_columns(view):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'reporting' AND table_name = %s ORDER BY ordinal_position",
            [view],
        )
        assert [name for (name,) in cursor.fetchall()] == VIEW_COLUMNS[view]


def test_every_reporting_view_is_under_contract():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.views WHERE table_schema = 'reporting'"
        )
        assert sorted(name for (name,) in cursor.fetchall()) == sorted(VIEW_COLUMNS)


def test_three_failures_after_a_success_are_a_streak_of_three_since_the_first():
    pipeline = PipelineFactory(slug="orders")
    start = timezone.now() - dt.timedelta(hours=10)
    runs = history(
        pipeline,
        [RunStatus.FAILED, RunStatus.SUCCESS, RunStatus.FAILED, RunStatus.CANCELED,
         RunStatus.FAILED, RunStatus.SKIPPED, RunStatus.FAILED, RunStatus.RUNNING],
        start=start,
        step=dt.timedelta(hours=1),
    )  # fmt: skip
    triage = one("q06_triage", "pipeline_id = %s", (pipeline.pk,))
    assert triage["consecutive_failures"] == 3
    assert triage["failing_since"] == runs[2].started_at
    assert triage["last_success_at"] == runs[1].finished_at
    assert triage["last_run_id"] == runs[6].pk
    assert triage["last_error"] == runs[6].error_message


def test_a_pipeline_that_never_succeeded_counts_every_failure_and_no_last_success():
    pipeline = PipelineFactory()
    runs = history(
        pipeline,
        [RunStatus.FAILED, RunStatus.FAILED],
        start=timezone.now() - dt.timedelta(hours=3),
        step=dt.timedelta(hours=1),
    )
    triage = one("q06_triage", "pipeline_id = %s", (pipeline.pk,))
    assert (triage["consecutive_failures"], triage["last_success_at"]) == (2, None)
    assert triage["failing_since"] == runs[0].started_at


def test_triage_counts_acknowledged_and_silenced_alerts_and_not_resolved_ones(django_user_model):
    client = ClientFactory()
    pipeline = PipelineFactory(client=client)
    RunFactory(pipeline=pipeline, status=RunStatus.FAILED)
    now = timezone.now()
    operator = django_user_model.objects.create_user("oncall")
    acknowledged = AlertStateFactory(rule=AlertRuleFactory(client=client, pipeline=pipeline))
    AlertState.objects.filter(pk=acknowledged.pk).update(
        acknowledged_by=operator, acknowledged_at=now
    )
    silenced = AlertStateFactory(rule=AlertRuleFactory(client=client), pipeline=pipeline)
    Silence.objects.create(
        rule=silenced.rule, starts_at=now - dt.timedelta(hours=1),
        ends_at=now + dt.timedelta(hours=1), created_at=now,
    )  # fmt: skip
    resolved = AlertStateFactory(rule=AlertRuleFactory(client=client), pipeline=pipeline)
    AlertState.objects.filter(pk=resolved.pk).update(resolved_at=resolved.fired_at)
    # A silence that is over no longer counts.
    Silence.objects.create(
        pipeline=pipeline, starts_at=now - dt.timedelta(hours=3),
        ends_at=now - dt.timedelta(hours=2), created_at=now,
    )  # fmt: skip

    triage = one("q06_triage", "pipeline_id = %s", (pipeline.pk,))
    assert (triage["firing_rules"], triage["acknowledged_rules"], triage["silenced_rules"]) == (
        2,
        1,
        1,
    )


def test_triage_leaves_out_recovered_inactive_and_in_progress_only_pipelines():
    recovered = PipelineFactory()
    history(
        recovered,
        [RunStatus.FAILED, RunStatus.SUCCESS, RunStatus.CANCELED],
        start=timezone.now() - dt.timedelta(hours=3),
        step=dt.timedelta(hours=1),
    )
    inactive = PipelineFactory(is_active=False)
    RunFactory(pipeline=inactive, status=RunStatus.FAILED)
    running = PipelineFactory()
    RunFactory(pipeline=running, status=RunStatus.RUNNING)
    assert rows("q06_triage") == []


def test_triage_says_whether_an_enabled_rule_covers_the_pipeline_and_fires_for_it():
    client = ClientFactory()
    direct, client_wide, uncovered = PipelineFactory.create_batch(3, client=client)
    other_client_pipeline = PipelineFactory()
    for pipeline in (direct, client_wide, uncovered, other_client_pipeline):
        RunFactory(pipeline=pipeline, status=RunStatus.FAILED)
    AlertStateFactory(rule=AlertRuleFactory(client=client, pipeline=direct))
    AlertRuleFactory(client=client, pipeline=uncovered, is_enabled=False)
    AlertRuleFactory(client=other_client_pipeline.client, pipeline=None)
    AlertRuleFactory(client=client, pipeline=None, kind=RuleKind.STALE, threshold=60)
    AlertRuleFactory(client=ClientFactory(), pipeline=None)

    covered = {r["pipeline_id"]: (r["is_covered"], r["firing_rules"]) for r in rows("q06_triage")}
    # The client-wide rule covers all three; only the direct rule fires, and only for `direct`.
    assert covered == {
        direct.pk: (True, 1),
        client_wide.pk: (True, 0),
        uncovered.pk: (True, 0),
        other_client_pipeline.pk: (True, 0),
    }


def test_alternating_outcomes_over_twelve_runs_are_flaky_with_eleven_flips():
    pipeline = PipelineFactory()
    runs = history(
        pipeline,
        [RunStatus.SUCCESS, RunStatus.FAILED] * 6,
        start=timezone.now() - dt.timedelta(days=2),
        step=dt.timedelta(hours=2),
    )
    flaky = one("q07_flaky_ranking", "pipeline_id = %s", (pipeline.pk,))
    assert (flaky["window_runs"], flaky["failures"], flaky["flips"]) == (12, 6, 11)
    assert flaky["flip_rate"] == pytest.approx(1.0)
    assert (flaky["is_flaky"], flaky["verdict"]) == (True, "flaky")
    assert flaky["last_flip_at"] == runs[-1].started_at


def test_nine_runs_show_insufficient_history_not_a_rate_of_zero():
    pipeline = PipelineFactory()
    history(
        pipeline,
        [RunStatus.SUCCESS, RunStatus.FAILED] * 4 + [RunStatus.SUCCESS],
        start=timezone.now() - dt.timedelta(days=2),
        step=dt.timedelta(hours=2),
    )
    flaky = one("q07_flaky_ranking", "pipeline_id = %s", (pipeline.pk,))
    assert flaky["window_runs"] == 9
    assert flaky["flip_rate"] is None
    assert (flaky["is_flaky"], flaky["verdict"]) == (False, "insufficient history")


def test_flakiness_reads_only_the_last_twenty_outcomes_within_thirty_days():
    pipeline = PipelineFactory()
    now = timezone.now()
    # Old flips (beyond 30 days) and canceled runs do not count; 25 recent successes
    # followed by nothing else leave a stable window of 20.
    history(pipeline, [RunStatus.FAILED, RunStatus.SUCCESS] * 5,
            start=now - dt.timedelta(days=40), step=dt.timedelta(hours=1))  # fmt: skip
    history(pipeline, [RunStatus.FAILED, RunStatus.SUCCESS, RunStatus.FAILED],
            start=now - dt.timedelta(days=20), step=dt.timedelta(hours=1))  # fmt: skip
    history(pipeline, [RunStatus.SUCCESS, RunStatus.CANCELED] * 20,
            start=now - dt.timedelta(days=10), step=dt.timedelta(hours=1))  # fmt: skip
    flaky = one("q07_flaky_ranking", "pipeline_id = %s", (pipeline.pk,))
    assert (flaky["window_runs"], flaky["failures"], flaky["flips"]) == (20, 0, 0)
    assert (flaky["is_flaky"], flaky["verdict"]) == (False, "stable")


def test_canceled_and_skipped_runs_stay_out_of_failure_rates():
    pipeline = PipelineFactory(platform=Platform.DBT)
    yesterday = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0) - dt.timedelta(
        days=1
    )
    history(
        pipeline,
        [RunStatus.SUCCESS, RunStatus.FAILED, RunStatus.CANCELED, RunStatus.SKIPPED,
         RunStatus.CANCELED],
        start=yesterday + dt.timedelta(hours=1),
        step=dt.timedelta(minutes=30),
    )  # fmt: skip
    day = one("q01_failures_over_time", "platform = 'dbt'", ())
    assert day["bucket_start"] == yesterday
    assert (day["runs"], day["finished_runs"], day["canceled"], day["skipped"]) == (5, 5, 2, 1)
    assert (day["successes"], day["failures"]) == (1, 1)
    assert day["failure_rate"] == pytest.approx(0.5)
    health = one("q03_client_health", "client_id = %s", (pipeline.client_id,))
    assert (health["outcome_runs_7d"], health["failures_7d"]) == (2, 1)
    assert health["failure_rate_7d"] == pytest.approx(0.5)
    changed = one("q05_what_changed", "pipeline_id = %s", (pipeline.pk,))
    assert changed["failure_rate_7d"] == pytest.approx(0.5)
    platform = one("q08_platform_failure_rates", "platform = 'dbt' AND window_label = '7d'", ())
    assert (platform["finished_runs"], platform["outcome_runs"], platform["failures"]) == (5, 2, 1)
    assert platform["failure_rate"] == pytest.approx(0.5)


def test_failures_per_day_sums_every_client_and_platform_of_a_day_rolled_up_or_not():
    yesterday = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0) - dt.timedelta(
        days=1
    )
    airflow = PipelineFactory(platform=Platform.AIRFLOW)
    dbt = PipelineFactory(platform=Platform.DBT)
    history(
        airflow,
        [RunStatus.SUCCESS, RunStatus.FAILED, RunStatus.CANCELED],
        start=yesterday + dt.timedelta(hours=1),
        step=dt.timedelta(minutes=30),
    )
    history(
        dbt,
        [RunStatus.FAILED, RunStatus.SKIPPED, RunStatus.RUNNING],
        start=yesterday + dt.timedelta(hours=20),
        step=dt.timedelta(minutes=30),
    )
    history(dbt, [RunStatus.SUCCESS], start=yesterday - dt.timedelta(days=3), step=dt.timedelta())
    expected = {
        yesterday: (6, 5, 1, 2, 1, 1, 2 / 3),
        yesterday - dt.timedelta(days=3): (1, 1, 1, 0, 0, 0, 0.0),
    }

    def per_day() -> dict:
        return {
            row["bucket_start"]: (
                row["runs"], row["finished_runs"], row["successes"], row["failures"],
                row["canceled"], row["skipped"], row["failure_rate"],
            )
            for row in rows("q01_failures_per_day")
        }  # fmt: skip

    assert per_day() == expected
    assert one("q01_failures_per_day", "bucket_start = %s", (yesterday,))["row_key"] == (
        yesterday.strftime("%Y-%m-%d")
    )
    refresh_daily_rollup()
    assert per_day() == expected


def test_a_never_run_pipeline_shows_as_never_run_in_latest_status_and_client_health():
    client = ClientFactory()
    never = PipelineFactory(client=client)
    healthy = PipelineFactory(client=client)
    RunFactory(pipeline=healthy, status=RunStatus.SUCCESS)

    latest = one("q02_pipeline_latest_status", "pipeline_id = %s", (never.pk,))
    assert latest["never_run"] is True
    assert (latest["health"], latest["last_status"], latest["last_run_id"]) == (
        "never_run",
        None,
        None,
    )
    health = one("q03_client_health", "client_id = %s", (client.pk,))
    assert (health["pipelines"], health["never_run"], health["healthy"]) == (2, 1, 1)


def test_latest_status_reports_last_run_success_failure_and_error():
    pipeline = PipelineFactory()
    runs = history(
        pipeline,
        [RunStatus.SUCCESS, RunStatus.FAILED, RunStatus.SUCCESS, RunStatus.RUNNING],
        start=timezone.now() - dt.timedelta(hours=4),
        step=dt.timedelta(hours=1),
    )
    latest = one("q02_pipeline_latest_status", "pipeline_id = %s", (pipeline.pk,))
    assert (latest["last_run_id"], latest["last_status"]) == (runs[3].pk, "running")
    assert latest["last_success_at"] == runs[2].finished_at
    assert latest["last_failure_at"] == runs[1].finished_at
    assert latest["last_error"] == runs[1].error_message
    assert (latest["last_outcome_status"], latest["health"]) == ("success", "running")


def test_client_health_counts_each_active_pipeline_once_by_its_worst_state():
    client = ClientFactory()
    now = timezone.now()
    failing = PipelineFactory(client=client, freshness_minutes=10)
    RunFactory(pipeline=failing, status=RunStatus.FAILED, started_at=now - dt.timedelta(hours=2))
    stale = PipelineFactory(client=client, freshness_minutes=30)
    RunFactory(pipeline=stale, status=RunStatus.SUCCESS, started_at=now - dt.timedelta(hours=2))
    running = PipelineFactory(client=client)
    RunFactory(pipeline=running, status=RunStatus.SUCCESS, started_at=now - dt.timedelta(hours=2))
    RunFactory(pipeline=running, status=RunStatus.RUNNING, started_at=now - dt.timedelta(minutes=5))
    PipelineFactory(client=client, is_active=False)
    health = one("q03_client_health", "client_id = %s", (client.pk,))
    assert {k: health[k] for k in ("pipelines", "failing", "stale", "running", "healthy", "never_run")} == {
        "pipelines": 3, "failing": 1, "stale": 1, "running": 1, "healthy": 0, "never_run": 0,
    }  # fmt: skip


def test_client_health_compares_the_last_seven_days_with_the_seven_before():
    pipeline = PipelineFactory()
    now = timezone.now()
    for days_ago, status in [(1, "failed"), (2, "success"), (3, "success"), (4, "success"),
                             (8, "failed"), (9, "failed"), (15, "failed")]:  # fmt: skip
        RunFactory(pipeline=pipeline, status=status, started_at=now - dt.timedelta(days=days_ago))
    health = one("q03_client_health", "client_id = %s", (pipeline.client_id,))
    assert health["failure_rate_7d"] == pytest.approx(0.25)
    assert health["failure_rate_prev_7d"] == pytest.approx(1.0)
    assert health["failure_rate_change"] == pytest.approx(-0.75)


def test_a_stale_pipeline_appears_in_freshness_with_its_lateness():
    pipeline = PipelineFactory(freshness_minutes=60)
    success = RunFactory(
        pipeline=pipeline,
        status=RunStatus.SUCCESS,
        started_at=timezone.now() - dt.timedelta(hours=3, minutes=5),
    )  # finished three hours ago
    fresh = PipelineFactory(freshness_minutes=600, client=pipeline.client)
    RunFactory(pipeline=fresh, status=RunStatus.SUCCESS)
    PipelineFactory(client=pipeline.client)  # no expectation: never stale

    stale = one("q09_freshness_and_stuck", "kind = 'stale'", ())
    assert stale["pipeline_id"] == pipeline.pk
    assert stale["last_success_at"] == success.finished_at
    assert stale["late_since"] == success.finished_at + dt.timedelta(minutes=60)
    assert stale["late_by_minutes"] == 120
    assert stale["expected_minutes"] == 60


def test_a_pipeline_that_never_succeeded_is_late_from_its_creation():
    pipeline = PipelineFactory(freshness_minutes=30)
    type(pipeline).objects.filter(pk=pipeline.pk).update(
        created_at=timezone.now() - dt.timedelta(hours=2)
    )
    pipeline.refresh_from_db()
    stale = one("q09_freshness_and_stuck", "pipeline_id = %s", (pipeline.pk,))
    assert stale["last_success_at"] is None
    assert stale["late_since"] == pipeline.created_at + dt.timedelta(minutes=30)
    assert stale["late_by_minutes"] == 90


def test_a_run_far_beyond_its_usual_duration_is_stuck():
    pipeline = PipelineFactory()
    now = timezone.now()
    for i in range(5):
        RunFactory(pipeline=pipeline, status=RunStatus.SUCCESS,
                   started_at=now - dt.timedelta(days=1, hours=i))  # 5 minutes each  # fmt: skip
    stuck_run = RunFactory(pipeline=pipeline, status=RunStatus.RUNNING,
                           started_at=now - dt.timedelta(minutes=40))  # fmt: skip
    RunFactory(pipeline=pipeline, status=RunStatus.RUNNING,
               started_at=now - dt.timedelta(minutes=8))  # fmt: skip
    stuck = one("q09_freshness_and_stuck", "kind = 'stuck'", ())
    assert (stuck["run_id"], stuck["expected_minutes"]) == (stuck_run.pk, pytest.approx(5.0))
    assert stuck["late_since"] == stuck_run.started_at + dt.timedelta(minutes=10)
    assert stuck["late_by_minutes"] == 30


def test_wilson_bound_ranks_one_of_two_below_thirty_of_two_hundred():
    start = timezone.now() - dt.timedelta(days=3)
    small = PipelineFactory(platform=Platform.GLUE)
    history(small, [RunStatus.SUCCESS, RunStatus.FAILED], start=start, step=dt.timedelta(hours=1))
    big = PipelineFactory(platform=Platform.SPARK)
    history(big, [RunStatus.FAILED] * 30 + [RunStatus.SUCCESS] * 170,
            start=start, step=dt.timedelta(minutes=10))  # fmt: skip
    ranked = rows("q08_platform_failure_rates", "window_label = '7d' ORDER BY wilson_lower DESC")
    assert [r["platform"] for r in ranked] == ["spark", "glue"]
    glue, spark = ranked[1], ranked[0]
    assert glue["failure_rate"] == pytest.approx(0.5) and glue["low_sample"] is True
    assert spark["failure_rate"] == pytest.approx(0.15) and spark["low_sample"] is False
    assert glue["wilson_lower"] == pytest.approx(0.0945, abs=1e-3)
    assert spark["wilson_lower"] == pytest.approx(0.1070, abs=1e-3)
    daily = rows("q08_platform_failure_daily", "platform = 'glue'")
    assert sum(r["outcome_runs"] for r in daily) == 2


def test_weekly_trend_measures_recovery_from_the_first_failure_to_the_next_success():
    pipeline = PipelineFactory()
    this_week = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0) - dt.timedelta(
        days=timezone.now().weekday()
    )
    last_week = this_week - dt.timedelta(days=7)
    runs = history(
        pipeline,
        [RunStatus.SUCCESS, RunStatus.FAILED, RunStatus.FAILED, RunStatus.CANCELED,
         RunStatus.SUCCESS, RunStatus.SUCCESS],
        start=last_week + dt.timedelta(days=1),
        step=dt.timedelta(hours=2),
    )  # fmt: skip
    week = one(
        "q04_weekly_trend", "client_id = %s AND bucket_start = %s", (pipeline.client_id, last_week)
    )
    assert (week["runs"], week["successes"], week["failures"]) == (6, 3, 2)
    assert week["failure_rate"] == pytest.approx(0.4)
    assert week["recoveries"] == 1
    assert week["mttr_seconds"] == pytest.approx(
        (runs[4].finished_at - runs[1].finished_at).total_seconds()
    )
    assert week["p50_duration_seconds"] == pytest.approx(300)
    weeks = rows("q04_weekly_trend", "client_id = %s", (pipeline.client_id,))
    assert len(weeks) == 13


def test_what_changed_flags_newly_failing_recovered_and_slower_pipelines():
    now = timezone.now()
    newly = PipelineFactory()
    RunFactory(pipeline=newly, status=RunStatus.SUCCESS, started_at=now - dt.timedelta(days=9))
    RunFactory(pipeline=newly, status=RunStatus.FAILED, started_at=now - dt.timedelta(days=1))
    recovered = PipelineFactory()
    RunFactory(pipeline=recovered, status=RunStatus.FAILED, started_at=now - dt.timedelta(days=9))
    RunFactory(pipeline=recovered, status=RunStatus.SUCCESS, started_at=now - dt.timedelta(days=1))
    slower = PipelineFactory()
    for i in range(5):
        start = now - dt.timedelta(days=10, hours=i)
        RunFactory(pipeline=slower, status=RunStatus.SUCCESS, started_at=start,
                   finished_at=start + dt.timedelta(minutes=10))  # fmt: skip
        start = now - dt.timedelta(days=2, hours=i)
        RunFactory(pipeline=slower, status=RunStatus.SUCCESS, started_at=start,
                   finished_at=start + dt.timedelta(minutes=20))  # fmt: skip
    changes = {r["pipeline_id"]: r["change"] for r in rows("q05_what_changed")}
    assert changes == {newly.pk: "newly failing", recovered.pk: "recovered", slower.pk: "slower"}
    ratio = one("q05_what_changed", "pipeline_id = %s", (slower.pk,))["p95_duration_ratio"]
    assert ratio == pytest.approx(2.0)


def test_governance_counts_owners_documentation_coverage_and_firing_rules():
    client = ClientFactory()
    documented = PipelineFactory(client=client, docs_url="https://wiki.example.com/orders")
    described = PipelineFactory(client=client, description="Loads invoices", owner="")
    bare = PipelineFactory(client=client, owner=" ")
    AlertStateFactory(rule=AlertRuleFactory(client=client, pipeline=documented))
    AlertRuleFactory(client=client, pipeline=bare, is_enabled=False)

    by_pipeline = {
        r["pipeline_id"]: r for r in rows("q10_governance", "client_id = %s", (client.pk,))
    }
    assert (
        by_pipeline[documented.pk]["has_owner"] and by_pipeline[documented.pk]["has_documentation"]
    )
    assert by_pipeline[documented.pk]["firing_rules"] == 1
    assert not by_pipeline[described.pk]["has_owner"]
    assert by_pipeline[described.pk]["has_documentation"]
    assert not by_pipeline[bare.pk]["has_owner"] and not by_pipeline[bare.pk]["has_documentation"]
    assert [by_pipeline[p.pk]["is_covered"] for p in (documented, described, bare)] == [
        True,
        False,
        False,
    ]

    summary = one("q10_governance_by_client", "client_id = %s", (client.pk,))
    assert (summary["pipelines"], summary["covered"], summary["uncovered"]) == (3, 1, 2)
    assert float(summary["coverage_pct"]) == pytest.approx(33.3)
    assert float(summary["owner_pct"]) == pytest.approx(33.3)
    assert float(summary["documentation_pct"]) == pytest.approx(66.7)
    assert (summary["enabled_rules"], summary["firing_rules"]) == (1, 1)

    AlertRuleFactory(client=client, pipeline=None)
    assert one("q10_governance_by_client", "client_id = %s", (client.pk,))["coverage_pct"] == 100


@pytest.mark.parametrize("model", REPORTING_MODELS, ids=lambda m: m.__name__)
def test_unmanaged_model_matches_its_view(model):
    """makemigrations ignores unmanaged models' fields: keep each in step with its SQL."""
    view = model._meta.db_table.split('"."')[-1]
    assert [field.column for field in model._meta.concrete_fields] == VIEW_COLUMNS[view]
    assert list(model.objects.all()[:1]) == []  # readable through the ORM
