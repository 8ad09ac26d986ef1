"""A run ingested into a closed day while that day is being rolled up, each on its own database
connection, in both orders: the rollup never keeps counts that miss a committed run."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from django.db import connection, transaction

from runs.ingest import ingest_runs
from runs.models import DailyRunCount, RolledUpDay, Run, RunStatus
from runs.rollups import ROLLUP_LOCK_NAMESPACE, refresh_daily_rollup
from tests.factories import PipelineFactory, RunFactory
from tests.integration.test_daily_rollup import assert_views_match_v1, create_v1_views, day_start

pytestmark = pytest.mark.django_db(transaction=True)

WAIT_SECONDS = 20


@pytest.fixture(autouse=True)
def _no_evaluation_threads(settings):
    settings.CHM_ALERTS_EVALUATE_ON_INGEST = False


@pytest.fixture
def closed_day():
    """A pipeline with runs on a closed day (3 days ago), and v1 of the views to compare with."""
    create_v1_views()
    pipeline = PipelineFactory()
    day = day_start(3)
    for minute, status in enumerate([RunStatus.SUCCESS, RunStatus.FAILED, RunStatus.SUCCESS]):
        RunFactory(pipeline=pipeline, started_at=day + dt.timedelta(minutes=minute), status=status)
    RunFactory(pipeline=pipeline)  # today: the views have rows either way
    return pipeline, day


def late_failure(pipeline, day: dt.datetime) -> None:
    result = ingest_runs(
        client=pipeline.client,
        items=[
            {
                "pipeline": pipeline.slug,
                "external_run_id": "late-run",
                "status": "failed",
                "started_at": (day + dt.timedelta(hours=5)).isoformat(),
                "finished_at": (day + dt.timedelta(hours=6)).isoformat(),
            }
        ],
    )
    assert result.summary["created"] == 1


def in_thread(target) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            target()
        except BaseException as exc:  # re-raised in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


def wait_for_a_blocked_advisory_lock(namespace: int = ROLLUP_LOCK_NAMESPACE) -> None:
    """Until some session waits for an advisory lock of ``namespace`` (a day's lock)."""
    wait_until_blocked(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        " AND classid = %s",
        [namespace],
    )


def wait_for_a_blocked_row_lock(table: str) -> None:
    """Until some session waits for a lock in a statement on ``table`` (its rows' locks:
    only FOR UPDATE and writes wait). The statement's text may be cut at its start's 1 kB."""
    wait_until_blocked(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        " AND datname = current_database() AND query LIKE %s",
        [f'%"{table}"%'],
    )


def wait_until_blocked(query: str, params: list) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(query, params)
            if cursor.fetchone()[0]:
                return
        time.sleep(0.02)
    raise AssertionError(f"nobody waited: {query} {params}")


def failures_counted_for(day: dt.datetime) -> int:
    return sum(DailyRunCount.objects.filter(day=day.date()).values_list("failures", flat=True))


def test_a_refresh_waits_for_a_writer_of_its_day_and_counts_its_run(closed_day):
    pipeline, day = closed_day
    inserted, release_writer = threading.Event(), threading.Event()

    def write() -> None:
        with transaction.atomic():
            late_failure(pipeline, day)
            inserted.set()
            assert release_writer.wait(WAIT_SECONDS)

    writer, writer_errors = in_thread(write)
    assert inserted.wait(WAIT_SECONDS)
    refresher, refresher_errors = in_thread(lambda: refresh_daily_rollup(days=[day.date()]))
    wait_for_a_blocked_advisory_lock()  # the refresh, behind the writer
    assert not RolledUpDay.objects.filter(day=day.date()).exists()
    release_writer.set()
    writer.join(WAIT_SECONDS)
    refresher.join(WAIT_SECONDS)
    assert writer_errors == [] and refresher_errors == []

    assert RolledUpDay.objects.filter(day=day.date()).exists()
    assert failures_counted_for(day) == 2  # the late run is in the counts
    assert_views_match_v1()


def test_a_writer_during_a_refresh_of_its_day_invalidates_what_the_refresh_wrote(closed_day):
    pipeline, day = closed_day
    counted, release_refresh = threading.Event(), threading.Event()

    def refresh() -> None:
        with transaction.atomic():
            refresh_daily_rollup(days=[day.date()])
            counted.set()
            assert release_refresh.wait(WAIT_SECONDS)

    refresher, refresher_errors = in_thread(refresh)
    assert counted.wait(WAIT_SECONDS)
    writer, writer_errors = in_thread(lambda: late_failure(pipeline, day))
    wait_for_a_blocked_advisory_lock()  # the writer, behind the refresh
    release_refresh.set()
    refresher.join(WAIT_SECONDS)
    writer.join(WAIT_SECONDS)
    assert writer_errors == [] and refresher_errors == []

    # The refresh counted without the late run; the writer removed that rollup on commit.
    assert Run.objects.filter(external_run_id="late-run").exists()
    assert not RolledUpDay.objects.filter(day=day.date()).exists()
    assert not DailyRunCount.objects.filter(day=day.date()).exists()
    assert_views_match_v1()
    refresh_daily_rollup()
    assert failures_counted_for(day) == 2
    assert_views_match_v1()
