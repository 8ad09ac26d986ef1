"""Q5's what-changed windows (runs/change_windows.py): the
view reads a pipeline's window while it is current and counts its runs otherwise, and either
way answers exactly as version 2, which always counts the runs.

Version 2 is installed as a temporary view beside the installed version 3 (or both as
temporary views on a fixed clock, for runs exactly on the edges) and the two are compared row
for row, floats included.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from runs.change_windows import compute_windows, refresh_change_windows, stale_windows
from runs.derived_state import runs_rewritten
from runs.ingest import ingest_runs
from runs.models import (
    CHANGE_WINDOW_OPTIONAL,
    CHANGE_WINDOW_REQUIRED,
    PipelineState,
    RunStatus,
)
from tests.factories import ClientFactory, PipelineFactory, RunFactory
from tests.integration.test_daily_rollup_concurrency import (
    WAIT_SECONDS,
    in_thread,
    wait_for_a_blocked_row_lock,
)
from tests.integration.test_what_changed_versions import history  # noqa: F401 (fixture)
from tests.support.view_versions import differences, install_temporary_version

VIEW = "reporting.q05_what_changed"
DAY = dt.timedelta(days=1)
WINDOW_COLUMNS = CHANGE_WINDOW_REQUIRED + CHANGE_WINDOW_OPTIONAL


def compute_windows_as_of(instant: dt.datetime) -> None:
    """Every pipeline's window as the refresh would have computed it at ``instant`` (none for
    a pipeline with a run started then or later), the others cleared."""
    PipelineState.objects.update(**dict.fromkeys(("changes_as_of", *WINDOW_COLUMNS)))
    compute_windows(PipelineState.objects.values_list("pipeline_id", flat=True), as_of=instant)


def current_windows(at: dt.datetime) -> tuple[int, int]:
    """How many windows are current at ``at``, and how many have expired by then."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE current), count(*) FILTER (WHERE NOT current)"
            " FROM (SELECT runs_change_window_is_current(changes_as_of, changes_week_start,"
            " changes_fortnight_start, changes_oldest_7d, changes_oldest_14d, %s) AS current"
            " FROM runs_pipelinestate WHERE changes_as_of IS NOT NULL) AS s",
            [at],
        )
        return cursor.fetchone()


def window_of(pipeline) -> PipelineState:
    return PipelineState.objects.get(pipeline=pipeline)


@pytest.fixture
def clock() -> dt.datetime:
    return timezone.now().replace(microsecond=654321) - dt.timedelta(hours=2)


@pytest.mark.django_db
class TestAnswers:
    def test_without_windows_the_view_counts_the_runs(self, history):  # noqa: F811
        assert not PipelineState.objects.filter(changes_as_of__isnull=False).exists()
        assert differences(VIEW, install_temporary_version("q05_what_changed", 2)) == []

    def test_current_windows_answer_as_counting_does_and_are_what_the_view_reads(
        self,
        history,  # noqa: F811
    ):
        refresh = refresh_change_windows()
        # Every active pipeline with runs; the never-run and inactive ones have no window.
        with_runs = PipelineState.objects.filter(
            pipeline__is_active=True, pipeline__client__is_active=True
        ).count()
        assert refresh.windows_computed == with_runs == len(history) - 3
        assert str(refresh) == f"what changed: {with_runs} pipeline windows computed"
        assert differences(VIEW, install_temporary_version("q05_what_changed", 2)) == []
        # A second pass finds nothing to do.
        assert refresh_change_windows().windows_computed == 0

        # The view reads the window (a value no count gives shows up), not the runs.
        edges = history["edges"]
        PipelineState.objects.filter(pipeline=edges).update(changes_failures_7d=999)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT failures_7d FROM {VIEW} WHERE pipeline_id = %s", [edges.pk])  # noqa: S608
            assert cursor.fetchone() == (999,)

    def test_every_branch_and_edge_with_windows_computed_before_the_clock(
        self,
        clock,
        history,  # noqa: F811
    ):
        v2 = install_temporary_version("q05_what_changed", 2, clock=clock)
        v3 = install_temporary_version("q05_what_changed", 3, clock=clock)
        assert differences(v3, v2) == []
        # Windows computed before the clock: some still current at the clock, some expired
        # (two days before it, the runs of 8 days before the clock were in the last 7 days).
        seen_current = seen_expired = 0
        for before in (dt.timedelta(0), dt.timedelta(minutes=1), dt.timedelta(days=2)):
            compute_windows_as_of(clock - before)
            assert differences(v3, v2) == [], before
            current, expired = current_windows(clock)
            seen_current, seen_expired = seen_current + current, seen_expired + expired
        assert seen_current > 0 and seen_expired > 0

    def test_windows_computed_at_any_earlier_instant_answer_as_counting_does(self, clock):
        """Random histories, windows computed at instants from a second to 10 days before the
        clock: each is either current and right, or expired and not read."""
        rng = random.Random(20261126)
        client = ClientFactory()
        instants = [clock - dt.timedelta(seconds=s) for s in (1, 600, 3 * 3600, 86400, 4 * 86400)]
        instants.append(clock - 10 * DAY)
        for index in range(40):
            pipeline = PipelineFactory(client=client, slug=f"random-{index}")
            for _ in range(rng.randint(0, 14)):
                started = clock - dt.timedelta(seconds=rng.uniform(-86400, 18 * 86400))
                status = rng.choice(
                    [RunStatus.SUCCESS] * 4 + [RunStatus.FAILED, RunStatus.CANCELED]
                )
                finished = started + dt.timedelta(seconds=rng.uniform(0, 7200))
                RunFactory(
                    pipeline=pipeline, status=status, started_at=started, finished_at=finished
                )
            # Runs on the edges of the windows as of an instant, and of the clock's.
            edge_of = rng.choice(instants + [clock])
            for back in (7 * DAY, 14 * DAY):
                RunFactory(pipeline=pipeline, status=RunStatus.SUCCESS, started_at=edge_of - back)
        v2 = install_temporary_version("q05_what_changed", 2, clock=clock)
        v3 = install_temporary_version("q05_what_changed", 3, clock=clock)
        seen_current = seen_expired = 0
        for instant in instants:
            compute_windows_as_of(instant)
            assert differences(v3, v2) == [], instant
            current, expired = current_windows(clock)
            seen_current, seen_expired = seen_current + current, seen_expired + expired
        assert seen_current > 0 and seen_expired > 0

    def test_writing_runs_clears_the_pipelines_windows(self, history):  # noqa: F811
        refresh_change_windows()
        v2 = install_temporary_version("q05_what_changed", 2)
        recovered, slower = history["recovered"], history["slower-with-ties"]

        RunFactory(pipeline=recovered, status=RunStatus.FAILED, started_at=timezone.now() - DAY)
        assert window_of(recovered).changes_as_of is None
        assert window_of(slower).changes_as_of is not None
        assert differences(VIEW, v2) == []

        refresh_change_windows()
        run = slower.runs.filter(status=RunStatus.SUCCESS).order_by("-started_at").first()
        correction = {
            "pipeline": slower.slug,
            "external_run_id": run.external_run_id,
            "status": "failed",
            "started_at": run.started_at.isoformat(),
            "finished_at": (run.finished_at + dt.timedelta(minutes=1)).isoformat(),
        }
        assert ingest_runs(client=slower.client, items=[correction]).summary["updated"] == 1
        assert window_of(slower).changes_as_of is None
        assert differences(VIEW, v2) == []

        refresh_change_windows()
        slower.runs.filter(started_at__gte=timezone.now() - 5 * DAY).delete()
        runs_rewritten(pipeline_ids=[slower.pk], days=[])
        assert window_of(slower).changes_as_of is None
        assert differences(VIEW, v2) == []

    def test_expired_windows_are_computed_again_and_current_ones_left(self, history):  # noqa: F811
        refresh_change_windows()
        edges = history["edges"]
        PipelineState.objects.filter(pipeline=edges).update(
            changes_expires_at=timezone.now() - dt.timedelta(seconds=1)
        )
        assert stale_windows() == [edges.pk]
        assert refresh_change_windows().windows_computed == 1
        assert window_of(edges).changes_expires_at > timezone.now()
        assert differences(VIEW, install_temporary_version("q05_what_changed", 2)) == []

    def test_a_pipeline_with_a_run_started_later_gets_no_window(self, history):  # noqa: F811
        pipeline = history["recovered"]
        later = timezone.now() + dt.timedelta(minutes=30)
        RunFactory(pipeline=pipeline, status=RunStatus.FAILED, started_at=later)
        refresh_change_windows()
        assert compute_windows([pipeline.pk], as_of=timezone.now()) == 0
        assert window_of(pipeline).changes_as_of is None
        assert window_of(history["edges"]).changes_as_of is not None
        # Once that run has started, it is in the pipeline's last 7 days.
        clock = later + dt.timedelta(minutes=1)
        v2 = install_temporary_version("q05_what_changed", 2, clock=clock)
        v3 = install_temporary_version("q05_what_changed", 3, clock=clock)
        assert differences(v3, v2) == []

    def test_a_window_is_not_read_before_the_instant_it_was_computed_in_any_time_zone(self):
        """Q5's bounds are computed in the reader's time zone: 7 days before an instant just
        after Berlin moved its clocks forward are 167 hours. A window computed half an hour
        after that instant (in UTC) would pass every other test there."""
        reader_clock = dt.datetime(2026, 3, 29, 1, 5, tzinfo=dt.UTC)  # 03:05 CEST
        computed = reader_clock + dt.timedelta(minutes=30)
        pipeline = PipelineFactory()
        for started in (reader_clock + dt.timedelta(minutes=10), reader_clock - 3 * DAY):
            RunFactory(pipeline=pipeline, status=RunStatus.SUCCESS, started_at=started)
        compute_windows_as_of(computed)
        assert window_of(pipeline).changes_successes_7d == 2
        v2 = install_temporary_version("q05_what_changed", 2, clock=reader_clock)
        v3 = install_temporary_version("q05_what_changed", 3, clock=reader_clock)
        with connection.cursor() as cursor:
            cursor.execute("SET TIME ZONE 'Europe/Berlin'")
        try:
            assert differences(v3, v2) == []
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SET TIME ZONE 'UTC'")

    def test_the_refresh_command_computes_the_windows(self, history):  # noqa: F811
        out = StringIO()
        call_command("refresh_rollups", stdout=out)
        assert f"what changed: {len(history) - 3} pipeline windows computed" in out.getvalue()


@pytest.mark.django_db(transaction=True)
class TestConcurrentWriters:
    """A window computed while a writer of its pipeline has not committed, each on its own
    database connection, in both orders: no window that misses a committed run is read."""

    @pytest.fixture(autouse=True)
    def _no_evaluation_threads(self, settings):
        settings.CHM_ALERTS_EVALUATE_ON_INGEST = False

    @pytest.fixture
    def pipeline(self):
        pipeline = PipelineFactory()
        for days in (1, 2, 9):
            RunFactory(
                pipeline=pipeline, status=RunStatus.SUCCESS, started_at=timezone.now() - days * DAY
            )
        return pipeline

    def late_failure(self, pipeline) -> None:
        RunFactory(
            pipeline=pipeline,
            status=RunStatus.FAILED,
            started_at=timezone.now() - dt.timedelta(hours=3),
            external_run_id="late-run",
        )

    def test_a_window_waits_for_a_writer_of_its_pipeline_and_counts_its_run(self, pipeline):
        inserted, release_writer = threading.Event(), threading.Event()

        def write() -> None:
            with transaction.atomic():
                self.late_failure(pipeline)
                inserted.set()
                assert release_writer.wait(WAIT_SECONDS)

        writer, writer_errors = in_thread(write)
        assert inserted.wait(WAIT_SECONDS)
        refresher, refresher_errors = in_thread(refresh_change_windows)
        wait_for_a_blocked_row_lock("runs_pipelinestate")  # the computation, behind the writer
        release_writer.set()
        writer.join(WAIT_SECONDS)
        refresher.join(WAIT_SECONDS)
        assert writer_errors == [] and refresher_errors == []

        state = window_of(pipeline)
        assert state.changes_as_of is not None
        assert (state.changes_successes_7d, state.changes_failures_7d) == (2, 1)
        assert differences(VIEW, install_temporary_version("q05_what_changed", 2)) == []

    def test_a_writer_during_a_window_computation_clears_what_it_wrote(self, pipeline):
        computed, release_refresh = threading.Event(), threading.Event()

        def refresh() -> None:
            with transaction.atomic():
                assert refresh_change_windows().windows_computed == 1
                computed.set()
                assert release_refresh.wait(WAIT_SECONDS)

        refresher, refresher_errors = in_thread(refresh)
        assert computed.wait(WAIT_SECONDS)
        writer, writer_errors = in_thread(lambda: self.late_failure(pipeline))
        wait_for_a_blocked_row_lock("runs_pipelinestate")  # the writer, behind the computation
        release_refresh.set()
        refresher.join(WAIT_SECONDS)
        writer.join(WAIT_SECONDS)
        assert writer_errors == [] and refresher_errors == []

        assert window_of(pipeline).changes_as_of is None
        assert differences(VIEW, install_temporary_version("q05_what_changed", 2)) == []
        refresh_change_windows()
        assert window_of(pipeline).changes_failures_7d == 1
        assert differences(VIEW, install_temporary_version("q05_what_changed", 2)) == []
