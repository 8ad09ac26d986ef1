"""Q7's version 3 (runs/sql/views/q07_flaky_ranking_v3.sql) answers exactly as version 2 did.

Version 3 finds the number of kept runs within 30 days by position instead of counting them
with a subquery: every count from 0 to 20, arrays shorter than 20 and runs exactly on the
30-day edge are compared row for row, every column equal.
"""

from __future__ import annotations

import datetime as dt
import random

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from runs.models import RunStatus
from tests.factories import ClientFactory, PipelineFactory, RunFactory
from tests.support.view_versions import differences, install_temporary_version, view_definition

pytestmark = pytest.mark.django_db

VIEW = "reporting.q07_flaky_ranking"
DAY = dt.timedelta(days=1)


@pytest.fixture
def clock() -> dt.datetime:
    return timezone.now().replace(microsecond=654321) - dt.timedelta(hours=1)


def outcome(pipeline, started_at: dt.datetime, *, failed: bool) -> None:
    RunFactory(
        pipeline=pipeline,
        status=RunStatus.FAILED if failed else RunStatus.SUCCESS,
        started_at=started_at,
        finished_at=started_at + dt.timedelta(minutes=3),
    )


@pytest.fixture
def histories(clock) -> dict[str, int]:
    """Pipelines whose windows hold every count from 0 to 20; the expected counts by slug."""
    rng = random.Random(5)
    month_start = clock - 30 * DAY
    client = ClientFactory()
    expected = {}
    # `inside` runs within 30 days and `outside` older ones: 20 kept in all, or fewer when
    # the pipeline has fewer runs.
    for inside in range(21):
        for outside in sorted({0, 1, 20 - inside, rng.randrange(0, 25)}):
            slug = f"in{inside}-out{outside}"
            pipeline = PipelineFactory(client=client, slug=slug)
            for _ in range(inside):
                started = clock - rng.randrange(0, 30 * 24 * 60) * dt.timedelta(minutes=1)
                outcome(pipeline, started, failed=rng.random() < 0.5)
            for _ in range(outside):
                started = month_start - rng.randrange(1, 20 * 24 * 60) * dt.timedelta(minutes=1)
                outcome(pipeline, started, failed=rng.random() < 0.5)
            expected[slug] = inside
    # On the edge, at every position: exactly 30 days back is within, a microsecond earlier
    # is not.
    for inside in range(20):
        edge = PipelineFactory(client=client, slug=f"edge{inside + 1}")
        for n in range(inside):
            outcome(edge, clock - n * DAY, failed=n % 2 == 0)
        outcome(edge, month_start, failed=True)
        outcome(edge, month_start - dt.timedelta(microseconds=1), failed=False)
        expected[f"edge{inside + 1}"] = inside + 1
    PipelineFactory(client=client, slug="never-run")
    expected["never-run"] = 0
    inactive = PipelineFactory(client=client, slug="inactive", is_active=False)
    outcome(inactive, clock - DAY, failed=True)
    return expected


def window_runs(view: str) -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT pipeline_slug, window_runs FROM {view}")  # noqa: S608
        return dict(cursor.fetchall())


def test_version_3_answers_as_version_2_for_every_count_and_on_the_edge(clock, histories):
    v2 = install_temporary_version("q07_flaky_ranking", 2, clock=clock)
    v3 = install_temporary_version("q07_flaky_ranking", 3, clock=clock)

    assert differences(v2, v3) == []
    # The histories reach every count, by both branches of version 3.
    assert window_runs(v3) == histories


def test_the_installed_view_answers_as_version_2_on_the_same_clock(histories):
    # One statement reads both, so both see the same statement_timestamp().
    assert differences(VIEW, install_temporary_version("q07_flaky_ranking", 2)) == []


@pytest.mark.django_db(transaction=True)
def test_migrating_back_restores_version_2():
    def version(number: int) -> str:
        return view_definition(install_temporary_version("q07_flaky_ranking", number))

    assert view_definition(VIEW) == version(3)
    call_command("migrate", "runs", "0013", verbosity=0)
    try:
        assert view_definition(VIEW) == version(2)
    finally:
        call_command("migrate", verbosity=0)
    assert view_definition(VIEW) == version(3)
