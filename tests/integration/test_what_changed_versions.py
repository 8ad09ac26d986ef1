"""Q5's version 2 (runs/sql/views/q05_what_changed_v2.sql) answers exactly as version 1 did
(version 3, which reads what-changed windows, is compared with version 2 in
test_change_windows.py).

Both definitions are loaded as temporary views, with the clock fixed where a test needs runs
exactly on the 7- and 14-day edges, and compared row for row, every column (floats
included) equal.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from runs.models import RunStatus
from tests.factories import ClientFactory, PipelineFactory, RunFactory
from tests.support.view_versions import (
    differences,
    drop_temporary_versions,
    install_temporary_version,
    view_definition,
)

pytestmark = pytest.mark.django_db

VIEW = "reporting.q05_what_changed"


def create_temporary_view(version: int, *, clock: dt.datetime | None = None) -> str:
    """Version ``version`` of Q5 as a temporary view (see install_temporary_version)."""
    return install_temporary_version("q05_what_changed", version, clock=clock)


def rows(view: str) -> dict[int, dict]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {view}")  # noqa: S608
        names = [column.name for column in cursor.description]
        return {row[0]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}


def run(pipeline, status: str, started_at: dt.datetime, duration: dt.timedelta | None = None):
    """A run that lasted ``duration`` (finished five minutes later by default; ``None`` and a
    finished status: no finish time known)."""
    finished = None if duration is None else started_at + duration
    return RunFactory(pipeline=pipeline, status=status, started_at=started_at, finished_at=finished)


MINUTES = dt.timedelta(minutes=1)


@pytest.fixture
def clock() -> dt.datetime:
    return timezone.now().replace(microsecond=123456) - dt.timedelta(hours=1)


@pytest.fixture
def history(clock):
    """One pipeline per branch of the view, named by what it covers."""
    day = dt.timedelta(days=1)
    week_start, fortnight_start = clock - 7 * day, clock - 14 * day
    client = ClientFactory()
    pipelines = {}

    def pipeline(name: str, **kwargs):
        pipelines[name] = PipelineFactory(client=kwargs.pop("client", client), slug=name, **kwargs)
        return pipelines[name]

    p = pipeline("newly-failing")
    for hours in range(3):
        run(p, RunStatus.SUCCESS, clock - 10 * day - hours * 60 * MINUTES, 5 * MINUTES)
    run(p, RunStatus.FAILED, clock - 2 * day, 3 * MINUTES)
    run(p, RunStatus.SUCCESS, clock - day, 4 * MINUTES)

    p = pipeline("recovered")
    run(p, RunStatus.FAILED, clock - 9 * day, 2 * MINUTES)
    run(p, RunStatus.SUCCESS, clock - 8 * day, 2 * MINUTES)
    run(p, RunStatus.SUCCESS, clock - day, 2 * MINUTES)

    # Failures in both weeks and no success since: neither newly failing nor recovered.
    p = pipeline("still-failing")
    run(p, RunStatus.FAILED, clock - 9 * day, MINUTES)
    run(p, RunStatus.FAILED, clock - day, MINUTES)

    # Six successes a week, durations tied within each week; p95 grown threefold.
    p = pipeline("slower-with-ties")
    for i in range(6):
        run(p, RunStatus.SUCCESS, clock - 10 * day - i * MINUTES, 10 * MINUTES)
        run(p, RunStatus.SUCCESS, clock - 3 * day - i * MINUTES, 30 * MINUTES)

    # Interpolated p95s (positions 4.75 and 9.5 of 6 and 11 values), some longer than a day.
    p = pipeline("slower-interpolated")
    for i, seconds in enumerate([60.5, 61.25, 3600.000001, 59, 59, 7000.3]):
        run(p, RunStatus.SUCCESS, clock - 8 * day - i * MINUTES, dt.timedelta(seconds=seconds))
    for i, hours in enumerate([1, 2.5, 30, 26.000001, 0.1, 0.2, 49.7, 24, 3, 3, 100.123457]):
        run(p, RunStatus.SUCCESS, clock - 4 * day - i * MINUTES, dt.timedelta(hours=hours))

    # Tied p95s: not slower; then a p95 half again as long exactly: slower.
    p = pipeline("unchanged-ties")
    for i in range(5):
        run(p, RunStatus.SUCCESS, clock - 9 * day - i * MINUTES, 7 * MINUTES)
        run(p, RunStatus.SUCCESS, clock - 2 * day - i * MINUTES, 7 * MINUTES)
    p = pipeline("exactly-half-again")
    for i in range(5):
        run(p, RunStatus.SUCCESS, clock - 9 * day - i * MINUTES, 10 * MINUTES)
        run(p, RunStatus.SUCCESS, clock - 2 * day - i * MINUTES, 15 * MINUTES)

    # Much slower, but four successes this week: too few to say.
    p = pipeline("too-few-successes")
    for i in range(6):
        run(p, RunStatus.SUCCESS, clock - 9 * day - i * MINUTES, MINUTES)
    for i in range(4):
        run(p, RunStatus.SUCCESS, clock - 2 * day - i * MINUTES, 60 * MINUTES)

    # Runs on the window's edges: 7 and 14 days back exactly count (recent, previous), a
    # microsecond earlier they fall into the previous week or out; the clock's instant is out.
    p = pipeline("edges")
    micro = dt.timedelta(microseconds=1)
    run(p, RunStatus.FAILED, week_start, 11 * MINUTES)
    run(p, RunStatus.SUCCESS, week_start - micro, 12 * MINUTES)
    run(p, RunStatus.SUCCESS, fortnight_start, 13 * MINUTES)
    run(p, RunStatus.FAILED, fortnight_start - micro, 14 * MINUTES)
    run(p, RunStatus.FAILED, clock, MINUTES)
    run(p, RunStatus.SUCCESS, clock - micro, 16 * MINUTES)

    # Canceled, skipped and unfinished runs are not outcomes; a success without a finish time
    # counts but has no duration.
    p = pipeline("ignored-statuses")
    run(p, RunStatus.SUCCESS, clock - 9 * day, 5 * MINUTES)
    run(p, RunStatus.CANCELED, clock - 2 * day, 500 * MINUTES)
    run(p, RunStatus.SKIPPED, clock - 2 * day, MINUTES)
    run(p, RunStatus.RUNNING, clock - day)
    run(p, RunStatus.SUCCESS, clock - day)
    run(p, RunStatus.SUCCESS, clock - 3 * day, dt.timedelta(0))

    pipeline("never-run")
    p = pipeline("inactive", is_active=False)
    run(p, RunStatus.FAILED, clock - day, MINUTES)
    p = pipeline("client-inactive", client=ClientFactory(is_active=False))
    run(p, RunStatus.FAILED, clock - day, MINUTES)
    return pipelines


def test_version_2_answers_as_version_1_on_every_branch_and_edge(clock, history):
    v1 = create_temporary_view(1, clock=clock)
    v2 = create_temporary_view(2, clock=clock)

    assert differences(v1, v2) == []
    answers = rows(v2)
    by_name = {name: answers.get(p.pk) for name, p in history.items()}
    # The history reaches every branch the comparison is meant to cover.
    assert {name: row and row["change"] for name, row in by_name.items()} == {
        "newly-failing": "newly failing",
        "recovered": "recovered",
        "still-failing": None,
        "slower-with-ties": "slower",
        "slower-interpolated": "slower",
        "unchanged-ties": None,
        "exactly-half-again": "slower",
        "too-few-successes": None,
        "edges": "newly failing",
        "ignored-statuses": None,
        "never-run": None,
        "inactive": None,
        "client-inactive": None,
    }
    edges = by_name["edges"]
    assert (edges["successes_7d"], edges["failures_7d"]) == (1, 1)
    assert (edges["successes_prev_7d"], edges["failures_prev_7d"]) == (2, 0)
    ignored = by_name["ignored-statuses"]
    assert (ignored["successes_7d"], ignored["failures_7d"], ignored["successes_prev_7d"]) == (
        2,
        0,
        1,
    )
    assert ignored["p95_duration_seconds_7d"] == 0
    interpolated = by_name["slower-interpolated"]
    assert interpolated["p95_duration_seconds_prev_7d"] == pytest.approx(
        3600.000001 + 0.75 * (7000.3 - 3600.000001)
    )
    assert interpolated["p95_duration_seconds_7d"] == pytest.approx(3600 * (49.7 + 0.5 * 50.423457))
    never = by_name["never-run"]
    assert (never["successes_7d"], never["p95_duration_seconds_7d"]) == (0, None)


def test_the_installed_view_answers_as_version_1_on_the_same_clock(history):
    # One statement reads both, so both see the same statement_timestamp().
    assert differences(VIEW, create_temporary_view(1)) == []


@pytest.mark.django_db(transaction=True)
def test_migrating_back_restores_each_earlier_version():
    assert view_definition(VIEW) == view_definition(create_temporary_view(3))
    # The temporary version 3 depends on functions the reverse migration drops.
    drop_temporary_versions()
    try:
        call_command("migrate", "runs", "0014", verbosity=0)
        assert view_definition(VIEW) == view_definition(create_temporary_view(2))
        call_command("migrate", "runs", "0006", verbosity=0)
        assert view_definition(VIEW) == view_definition(create_temporary_view(1))
    finally:
        call_command("migrate", verbosity=0)
    assert view_definition(VIEW) == view_definition(create_temporary_view(3))
