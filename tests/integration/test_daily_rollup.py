"""The daily rollup behind Q1, Q3 and Q8-daily, and its per-platform totals behind Q1 per day
and Q8's windows: the views read rolled-up days, yet answer exactly what their v1 definitions (every run counted)
answer, whatever has been rolled up and whatever changed since."""

from __future__ import annotations

import datetime as dt
import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from common.loops import heartbeat_problem
from inventory.models import Platform
from runs.ingest import ingest_runs
from runs.models import (
    DailyPlatformCount,
    DailyRunCount,
    RolledUpDay,
    RollupQueue,
    Run,
    RunStatus,
)
from runs.retention import prune_runs_started_before
from runs.rollups import refresh_daily_rollup, runs_written
from tests.factories import ClientFactory, PipelineFactory, RunFactory
from tests.support.view_versions import differences, install_temporary_version

pytestmark = pytest.mark.django_db

VIEWS = (
    "q01_failures_over_time",
    "q03_client_health",
    "q08_platform_failure_daily",
    "q08_platform_failure_rates",
)
# Views that read the per-platform totals, each with the temporary view it must equal.
TOTALS_VIEWS = {"q01_failures_per_day": "q01_failures_per_day_from_q1_v1"}

# Q1 v1 summed over clients and platforms, with Q1 per day's columns and expressions.
Q1_V1_PER_DAY = """
CREATE OR REPLACE TEMPORARY VIEW q01_failures_per_day_from_q1_v1 AS
SELECT
    to_char(s.bucket_start AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS row_key,
    s.bucket_start, s.runs, s.finished_runs, s.successes, s.failures, s.canceled, s.skipped,
    s.failures::double precision / NULLIF(s.successes + s.failures, 0) AS failure_rate
FROM (
    SELECT
        bucket_start,
        sum(runs)::bigint AS runs,
        sum(finished_runs)::bigint AS finished_runs,
        sum(successes)::bigint AS successes,
        sum(failures)::bigint AS failures,
        sum(canceled)::bigint AS canceled,
        sum(skipped)::bigint AS skipped
    FROM q01_failures_over_time_v1
    GROUP BY bucket_start
) AS s
"""


def create_v1_views() -> None:
    """v1 of each view as a temporary view ``<name>_v1``: the definition v2 must agree with;
    and the v1 answer of each view that reads the per-platform totals."""
    for name in VIEWS:
        install_temporary_version(name, 1)
    with connection.cursor() as cursor:
        cursor.execute(Q1_V1_PER_DAY)


def differences_from_v1(name: str) -> list[tuple]:
    if name in TOTALS_VIEWS:
        return differences(f"reporting.{name}", TOTALS_VIEWS[name])
    return differences(f"reporting.{name}", f"{name}_v1")


def row_count(name: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM reporting.{name}")  # noqa: S608
        return cursor.fetchone()[0]


def assert_views_match_v1() -> None:
    for name in (*VIEWS, *TOTALS_VIEWS):
        assert differences_from_v1(name) == [], name
        assert row_count(name) > 0, name


def day_start(days_ago: int) -> dt.datetime:
    today = timezone.now().astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - dt.timedelta(days=days_ago)


def rolled_up_days() -> set[dt.date]:
    return set(RolledUpDay.objects.values_list("day", flat=True))


@pytest.fixture
def history():
    """Two clients on three platforms, runs of every status on days around the views' edges:
    today, yesterday, both sides of the 24-hour, 7-, 14- and 30-day boundaries and of the
    midnights next to them, 60 and 200 days back."""
    create_v1_views()
    acme, globex = ClientFactory(slug="acme"), ClientFactory(slug="globex")
    pipelines = [
        PipelineFactory(client=acme, platform=Platform.AIRFLOW),
        PipelineFactory(client=acme, platform=Platform.DBT),
        PipelineFactory(client=globex, platform=Platform.AIRFLOW),
        PipelineFactory(client=globex, platform=Platform.SPARK),
    ]
    now = timezone.now()
    moments = [
        now - dt.timedelta(minutes=30),
        day_start(0) + dt.timedelta(seconds=1),
        day_start(1) + dt.timedelta(hours=3),
        day_start(3) + dt.timedelta(hours=23, minutes=59),
        now - dt.timedelta(days=7, minutes=-2),
        now - dt.timedelta(days=7, minutes=2),
        day_start(7) + dt.timedelta(minutes=1),
        day_start(8) + dt.timedelta(hours=12),
        now - dt.timedelta(days=14, minutes=-2),
        now - dt.timedelta(days=14, minutes=2),
        day_start(13) + dt.timedelta(hours=1),
        day_start(60) + dt.timedelta(hours=5),
        day_start(200) + dt.timedelta(hours=5),
        now - dt.timedelta(days=1, minutes=-2),
        now - dt.timedelta(days=1, minutes=2),
        now - dt.timedelta(days=30, minutes=-2),
        now - dt.timedelta(days=30, minutes=2),
        day_start(30) + dt.timedelta(minutes=1),
        day_start(29) + dt.timedelta(hours=23, minutes=59),
        day_start(31) + dt.timedelta(hours=12),
    ]
    statuses = [RunStatus.SUCCESS, RunStatus.FAILED, RunStatus.CANCELED, RunStatus.SKIPPED]
    for i, moment in enumerate(moments):
        for j, pipeline in enumerate(pipelines):
            RunFactory(pipeline=pipeline, started_at=moment, status=statuses[(i + j) % 4])
            if (i + j) % 3 == 0:
                RunFactory(
                    pipeline=pipeline,
                    started_at=moment + dt.timedelta(seconds=5),
                    status=RunStatus.FAILED,
                )
    RunFactory(pipeline=pipelines[0], started_at=day_start(2), status=RunStatus.RUNNING)
    return pipelines


def test_views_match_v1_before_any_rollup(history):
    assert rolled_up_days() == set()
    assert_views_match_v1()


def horizon() -> set[dt.date]:
    """The closed days the views show: the 365 before today."""
    return {day_start(days_ago).date() for days_ago in range(1, 366)}


def test_refresh_rolls_up_every_closed_day_of_the_horizon_and_views_still_match_v1(history):
    result = refresh_daily_rollup()
    # Days without runs too: the next pass then knows from the newest marker what closed since.
    assert rolled_up_days() == horizon()
    assert result.days_rolled_up == 365
    assert day_start(0).date() not in rolled_up_days()
    assert DailyRunCount.objects.filter(day=day_start(60).date()).count() == 4
    assert set(
        DailyPlatformCount.objects.filter(day=day_start(60).date()).values_list("platform", "runs")
    ) == {("airflow", 2), ("dbt", 2), ("spark", 1)}
    assert_views_match_v1()
    # A second pass finds nothing to do.
    assert refresh_daily_rollup().days_rolled_up == 0


def test_the_views_read_the_rollup_once_a_day_is_rolled_up(history):
    refresh_daily_rollup()
    # Proof that v2 takes rolled-up days from the rollup: counts changed behind the writers'
    # back (3 days ago: inside Q3's last 7 days; 10: its 7 days before) show in v2, not in v1.
    for days_ago in (3, 10):
        RunFactory(pipeline=history[0], started_at=day_start(days_ago), status="failed")
        refresh_daily_rollup()
        with connection.cursor() as cursor:
            for table in ("runs_dailyruncount", "runs_dailyplatformcount"):
                cursor.execute(
                    f"UPDATE {table} SET failures = failures + 100 WHERE day = %s",  # noqa: S608
                    [day_start(days_ago).date()],
                )
        for name in (*VIEWS, *TOTALS_VIEWS):
            assert differences_from_v1(name) != [], (name, days_ago)
        # Back to the truth: a writer's invalidation, and the next refresh counts the day again.
        runs_written([day_start(days_ago).date()])
        refresh_daily_rollup()
        assert_views_match_v1()


def test_a_late_run_on_a_rolled_up_day_invalidates_only_that_day(history):
    refresh_daily_rollup()
    before = rolled_up_days()
    late_day = day_start(8)
    RunFactory(pipeline=history[1], started_at=late_day + dt.timedelta(hours=2), status="failed")
    assert rolled_up_days() == before - {late_day.date()}
    assert not DailyRunCount.objects.filter(day=late_day.date()).exists()
    assert not DailyPlatformCount.objects.filter(day=late_day.date()).exists()
    assert_views_match_v1()
    refresh_daily_rollup()
    assert rolled_up_days() == before
    assert_views_match_v1()


def resend(run: Run, **changes) -> str:
    """Ingest an event of ``run`` (its own fields, with ``changes``); the outcome."""
    item = {
        "pipeline": run.pipeline.slug,
        "external_run_id": run.external_run_id,
        "status": run.status,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    } | changes
    return ingest_runs(client=run.pipeline.client, items=[item]).results[0].outcome


def test_a_corrected_status_invalidates_the_day_and_a_run_that_moved_both_days(history):
    refresh_daily_rollup()
    before = rolled_up_days()
    run = Run.objects.filter(started_at__date=day_start(13).date(), status="failed").first()
    corrected = (run.finished_at + dt.timedelta(minutes=1)).isoformat()
    assert resend(run, status="success", finished_at=corrected) == "updated"
    assert rolled_up_days() == before - {day_start(13).date()}
    assert_views_match_v1()
    refresh_daily_rollup()
    # An event with an earlier start moves the run to that start's day.
    assert resend(run, started_at=(day_start(60) + dt.timedelta(hours=9)).isoformat()) == "updated"
    assert rolled_up_days() == before - {day_start(13).date(), day_start(60).date()}
    assert_views_match_v1()


def test_an_update_that_changes_no_counted_field_keeps_the_day(history):
    refresh_daily_rollup()
    before = rolled_up_days()
    for run in Run.objects.filter(started_at__lt=day_start(0), finished_at__isnull=False)[:10]:
        assert resend(run, metadata={"note": "re-sent"}) == "updated"
    assert rolled_up_days() == before


def test_pruning_runs_invalidates_their_days(history):
    refresh_daily_rollup()
    before = rolled_up_days()
    assert prune_runs_started_before(cutoff=day_start(199)).deleted > 0
    assert rolled_up_days() == before - {day_start(200).date()}
    assert_views_match_v1()


def test_moving_a_pipeline_to_another_platform_or_client_drops_the_rollup(history):
    refresh_daily_rollup()
    pipeline = history[0]
    pipeline.platform = Platform.DAGSTER
    pipeline.save()
    assert rolled_up_days() == set()
    assert not DailyRunCount.objects.exists()
    assert not DailyPlatformCount.objects.exists()
    assert_views_match_v1()
    refresh_daily_rollup()
    pipeline.client = history[2].client
    pipeline.save()
    assert rolled_up_days() == set()
    assert_views_match_v1()


def test_deactivated_pipelines_and_clients_keep_the_rollup_and_their_runs_counted(history):
    # Q8 counts only active pipelines of active clients, yet every run of the window.
    refresh_daily_rollup()
    before = rolled_up_days()
    pipeline = history[1]
    pipeline.is_active = False
    pipeline.save()
    client = history[3].client
    client.is_active = False
    client.save()
    assert rolled_up_days() == before
    assert_views_match_v1()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pipelines, outcome_runs FROM reporting.q08_platform_failure_rates"
            " WHERE platform = 'dbt' AND window_label = '30d'"
        )
        pipelines, outcome_runs = cursor.fetchone()
    assert pipelines == 0
    assert outcome_runs > 0


def test_deleting_a_pipeline_drops_the_rollup(history):
    refresh_daily_rollup()
    history[3].delete()
    assert rolled_up_days() == set()
    assert not DailyRunCount.objects.exists()
    assert not DailyPlatformCount.objects.exists()
    assert_views_match_v1()
    refresh_daily_rollup()
    assert rolled_up_days() == horizon()
    assert_views_match_v1()


def test_renaming_a_pipeline_keeps_the_rollup(history):
    refresh_daily_rollup()
    before = rolled_up_days()
    pipeline = history[0]
    pipeline.name = "Renamed"
    pipeline.save()
    assert rolled_up_days() == before


def test_only_queued_days_and_days_closed_since_are_counted_again(history):
    refresh_daily_rollup()
    RunFactory(pipeline=history[2], started_at=day_start(60) + dt.timedelta(hours=1))
    assert set(RollupQueue.objects.values_list("day", flat=True)) == {day_start(60).date()}
    result = refresh_daily_rollup()
    assert result.days_rolled_up == 1
    assert not RollupQueue.objects.exists()
    assert_views_match_v1()
    # Tomorrow, today has closed: the next pass counts it and nothing else.
    RolledUpDay.objects.filter(day=day_start(1).date()).delete()
    DailyRunCount.objects.filter(day=day_start(1).date()).delete()
    DailyPlatformCount.objects.filter(day=day_start(1).date()).delete()
    assert refresh_daily_rollup().days_rolled_up == 1
    assert rolled_up_days() == horizon()


@pytest.mark.django_db(transaction=True)
def test_writing_runs_under_repeatable_read_is_refused():
    pipeline = PipelineFactory()
    with pytest.raises(DatabaseError, match="READ COMMITTED"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        RunFactory(pipeline=pipeline)
    assert not Run.objects.exists()


def test_refresh_leaves_days_past_the_horizon_alone(history):
    refresh_daily_rollup()
    assert day_start(400).date() not in rolled_up_days()
    RolledUpDay.objects.create(day=day_start(400).date(), rolled_up_at=timezone.now())
    DailyPlatformCount.objects.create(
        day=day_start(400).date(),
        platform=Platform.AIRFLOW,
        **dict.fromkeys(
            ["runs", "finished_runs", "successes", "failures", "canceled", "skipped"], 1
        ),
    )
    assert refresh_daily_rollup().days_pruned == 1
    assert day_start(400).date() not in rolled_up_days()
    assert not DailyPlatformCount.objects.filter(day=day_start(400).date()).exists()


@pytest.mark.django_db(transaction=True)
def test_refresh_rollups_command_reports_what_it_did(history):
    out = StringIO()
    call_command("refresh_rollups", stdout=out)
    assert re.search(
        r"daily rollup: [1-9]\d* days rolled up, 0 past the horizon removed", out.getvalue()
    )
    out = StringIO()
    call_command("refresh_rollups", loop=0.01, iterations=2, stdout=out)
    assert out.getvalue().count("daily rollup: 0 days rolled up") == 2


@pytest.mark.django_db(transaction=True)
def test_refresh_rollups_records_a_heartbeat_after_a_completed_pass(history, tmp_path):
    heartbeat = tmp_path / "refresh_rollups.heartbeat"
    out = StringIO()
    call_command(
        "refresh_rollups",
        "--loop=300",
        "--iterations=1",
        f"--heartbeat-file={heartbeat}",
        stdout=out,
    )
    assert "days rolled up" in out.getvalue()
    assert heartbeat_problem(heartbeat, max_age=60, now=timezone.now()) is None


def all_visible_pages(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT relallvisible FROM pg_class WHERE relname = %s", [table])
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_a_refresh_outside_a_transaction_vacuums_what_it_wrote_for_index_only_reads(history):
    assert all_visible_pages("runs_dailyruncount") == 0
    assert refresh_daily_rollup().days_rolled_up > 0
    assert all_visible_pages("runs_dailyruncount") > 0
    assert_views_match_v1()


def test_a_refresh_inside_a_transaction_leaves_vacuum_to_later(history):
    assert refresh_daily_rollup().days_rolled_up > 0
    assert all_visible_pages("runs_dailyruncount") == 0


def totals_from_counts() -> str:
    """The per-platform totals that differ from the per-client counts summed (none, when
    the rollup is consistent)."""
    return """
        (SELECT day, platform, runs, finished_runs, successes, failures, canceled, skipped
         FROM runs_dailyplatformcount
         EXCEPT ALL
         SELECT day, platform, sum(runs), sum(finished_runs), sum(successes), sum(failures),
             sum(canceled), sum(skipped)
         FROM runs_dailyruncount GROUP BY day, platform)
        UNION ALL
        (SELECT day, platform, sum(runs), sum(finished_runs), sum(successes), sum(failures),
             sum(canceled), sum(skipped)
         FROM runs_dailyruncount GROUP BY day, platform
         EXCEPT ALL
         SELECT day, platform, runs, finished_runs, successes, failures, canceled, skipped
         FROM runs_dailyplatformcount)
    """


def assert_totals_match_counts() -> None:
    with connection.cursor() as cursor:
        cursor.execute(totals_from_counts())
        assert cursor.fetchall() == []


def test_the_totals_are_the_counts_summed_over_clients_through_changes(history):
    refresh_daily_rollup()
    assert DailyPlatformCount.objects.exists()
    assert_totals_match_counts()
    RunFactory(pipeline=history[3], started_at=day_start(13), status="failed")
    prune_runs_started_before(cutoff=day_start(59))
    assert_totals_match_counts()
    refresh_daily_rollup()
    assert_totals_match_counts()
    assert_views_match_v1()


@pytest.mark.django_db(transaction=True)
def test_migrating_to_the_totals_fills_them_for_the_days_already_rolled_up(history):
    refresh_daily_rollup()
    rolled_up = rolled_up_days()
    call_command("migrate", "runs", "0011", verbosity=0)
    # Every app: migrations of other apps that build on runs' (alerts 0005) were undone too.
    call_command("migrate", verbosity=0)
    assert rolled_up_days() == rolled_up
    # Every rolled-up day with runs has its totals (days without runs have no counts at all).
    counted = set(DailyRunCount.objects.values_list("day", flat=True))
    assert counted < rolled_up
    assert set(DailyPlatformCount.objects.values_list("day", flat=True)) == counted
    assert_totals_match_counts()
    create_v1_views()
    assert_views_match_v1()
