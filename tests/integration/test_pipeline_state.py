"""runs_pipelinestate, kept by the writers of runs, and the views that read it (Q2, Q6, Q7).

The views must return exactly what their first versions, which looked the runs up directly,
return: after inserts, out-of-order events, corrections, deletions and concurrent writers.
The first versions are installed as temporary views and compared row for row.
"""

from __future__ import annotations

import datetime as dt
import random
import threading

import pytest
from django.db import connection, connections
from django.utils import timezone

from runs import pipeline_state
from runs.ingest import ingest_runs
from runs.models import PipelineState, Run
from runs.pipeline_state import StateValues
from runs.retention import prune_runs_started_before
from tests.factories import ClientFactory, PipelineFactory, RunFactory
from tests.support.view_versions import (
    differences,
    install_temporary_columns,
    install_temporary_version,
)

STATE_VIEWS = ("q02_pipeline_latest_status", "q06_triage", "q07_flaky_ranking")
STATUSES = ("queued", "running", "success", "failed", "failed", "success", "canceled", "skipped")


# Q6 v1 read a rule's firing state from the JSON it kept then; the alert state tables hold it
# now (alerts/0005). The comparison is about the run state, so v1 reads the same firing rules
# the current version does, and the current version is narrowed to v1's columns.
Q6_V1_FIRING = {
    "a.firing ? p.id::text": (
        "EXISTS (SELECT 1 FROM alerts_alertstate f"
        " WHERE f.rule_id = a.id AND f.pipeline_id = p.id AND f.resolved_at IS NULL)"
    )
}
Q6_V1_COLUMNS = [
    "pipeline_id", "pipeline_slug", "pipeline_name", "client_id", "client_slug", "client_name",
    "platform", "owner", "consecutive_failures", "failing_since", "last_run_id",
    "last_failure_at", "last_error", "last_success_at", "is_covered", "firing_rules",
]  # fmt: skip
CURRENT = {"q06_triage": "q06_triage_columns"}


def install_first_versions() -> None:
    for name in STATE_VIEWS:
        install_temporary_version(name, 1, replacing=Q6_V1_FIRING if name == "q06_triage" else None)
    install_temporary_columns("q06_triage", Q6_V1_COLUMNS)


def assert_views_agree() -> None:
    for name in STATE_VIEWS:
        current = CURRENT.get(name, f"reporting.{name}")
        assert differences(current, f"{name}_v1") == [], name


def random_run(rng: random.Random, pipeline, number: int, now: dt.datetime) -> Run:
    status = rng.choice(STATUSES)
    # Ties in started_at on purpose: the order is (started_at, id).
    started = now - dt.timedelta(hours=rng.randrange(0, 24 * 45, 6))
    finished = None
    if status not in ("queued", "running"):
        finished = started + dt.timedelta(minutes=rng.randrange(0, 90))
    return RunFactory(
        pipeline=pipeline,
        external_run_id=f"r{number}",
        status=status,
        started_at=started,
        finished_at=finished,
        error_message=f"error {number}" if status == "failed" else "",
    )


@pytest.mark.django_db
def test_views_read_from_state_equal_their_first_versions_through_every_kind_of_write():
    install_first_versions()
    rng = random.Random(7)
    now = timezone.now()
    client = ClientFactory()
    other = ClientFactory(is_active=False)
    pipelines = [PipelineFactory(client=client, slug=f"p{n}") for n in range(12)]
    pipelines.append(PipelineFactory(client=other, slug="inactive-client"))
    never_run = PipelineFactory(client=client, slug="never-run", freshness_minutes=60)
    runs = [
        random_run(rng, rng.choice(pipelines), n, now) for n in range(400)
    ]  # one INSERT per run
    assert_views_agree()
    assert not PipelineState.objects.filter(pipeline=never_run).exists()
    assert_state_is_a_recomputation()

    # One pipeline alternating over 12 runs (flaky), one failing three times since a success.
    alternating = PipelineFactory(client=client, slug="alternating")
    streaky = PipelineFactory(client=client, slug="streaky")
    for n in range(12):
        RunFactory(
            pipeline=alternating,
            external_run_id=f"alt{n}",
            status="success" if n % 2 else "failed",
            started_at=now - dt.timedelta(hours=12 - n),
            finished_at=now - dt.timedelta(hours=12 - n) + dt.timedelta(minutes=5),
        )
    for n, status in enumerate(["success", "failed", "running", "failed", "canceled", "failed"]):
        RunFactory(
            pipeline=streaky,
            external_run_id=f"streak{n}",
            status=status,
            started_at=now - dt.timedelta(minutes=60 - n),
            finished_at=None
            if status == "running"
            else now - dt.timedelta(minutes=60 - n) + dt.timedelta(seconds=30),
            error_message="boom" if status == "failed" else "",
        )
    assert_views_agree()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT consecutive_failures FROM reporting.q06_triage WHERE pipeline_id = %s",
            [streaky.id],
        )
        assert cursor.fetchone() == (3,)
        cursor.execute(
            "SELECT flips, verdict FROM reporting.q07_flaky_ranking WHERE pipeline_id = %s",
            [alternating.id],
        )
        assert cursor.fetchone() == (11, "flaky")

    # Late, out-of-order events and corrections through the ingestion path.
    items = []
    for n in range(60):
        run = rng.choice(runs)
        started = run.started_at - dt.timedelta(minutes=rng.choice([0, 0, 30]))
        items.append(
            {
                "pipeline": run.pipeline.slug,
                "external_run_id": run.external_run_id,
                "status": "failed" if n % 3 else "success",
                "started_at": started.isoformat(),
                "finished_at": (started + dt.timedelta(hours=3)).isoformat(),
                "error_message": f"late {n}",
            }
        )
    ingest_runs(client=client, items=[i for i in items if i["pipeline"] != "inactive-client"])
    assert_views_agree()
    assert_state_is_a_recomputation()

    # Events that change only what the state does not hold.
    ingest_runs(
        client=client,
        items=[
            {**item, "metadata": {"note": "x"}, "finished_at": None, "status": "running"}
            for item in items[:20]
            if item["pipeline"] != "inactive-client"
        ],
    )
    assert_views_agree()

    # Deletions: a pruned history (some pipelines left without runs), a deleted pipeline.
    prune_runs_started_before(cutoff=now - dt.timedelta(days=20))
    pipelines[4].delete()
    assert_views_agree()
    assert_state_is_a_recomputation()

    # Statuses corrected out of and back into a failure streak, and out of a flaky history.
    corrections = [
        {
            "pipeline": run.pipeline.slug,
            "external_run_id": run.external_run_id,
            "status": new_status,
            "started_at": run.started_at.isoformat(),
            "finished_at": (run.finished_at + dt.timedelta(minutes=1)).isoformat(),
        }
        for pipeline, old_status, new_status in [
            (streaky, "canceled", "failed"),
            (alternating, "failed", "skipped"),
        ]
        for run in Run.objects.filter(pipeline=pipeline, status=old_status)
    ]
    assert ingest_runs(client=client, items=corrections).summary["updated"] == len(corrections)
    assert_views_agree()
    assert_state_is_a_recomputation()


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_of_one_pipeline_leave_the_state_a_recomputation_gives():
    install_first_versions()
    client = ClientFactory()
    busy = PipelineFactory(client=client, slug="busy")
    quiet = PipelineFactory(client=client, slug="quiet")
    start = timezone.now() - dt.timedelta(hours=2)
    writers = 8
    barrier = threading.Barrier(writers)
    failures: list[BaseException] = []

    def write(writer: int) -> None:
        rng = random.Random(writer)
        try:
            barrier.wait(timeout=30)
            for n in range(15):
                started = start + dt.timedelta(minutes=rng.randrange(0, 100))
                items = [
                    {
                        "pipeline": rng.choice(["busy", "busy", "quiet"]),
                        "external_run_id": f"w{writer}-{n}-{k}",
                        "status": rng.choice(["success", "failed", "running"]),
                        "started_at": started.isoformat(),
                    }
                    for k in range(rng.choice([1, 1, 4]))
                ]
                for item in items:
                    if item["status"] != "running":
                        item["finished_at"] = (started + dt.timedelta(minutes=1)).isoformat()
                ingest_runs(client=client, items=items)
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            failures.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    assert Run.objects.filter(pipeline__in=[busy, quiet]).count() > writers * 15
    try:
        assert_views_agree()
        assert_state_is_a_recomputation()
    finally:
        with connection.cursor() as cursor:
            for name in STATE_VIEWS:
                cursor.execute(f"DROP VIEW {name}_v1")


@pytest.mark.django_db
def test_batches_over_many_pipelines_and_their_pruning_agree_too():
    install_first_versions()
    rng = random.Random(11)
    now = timezone.now()
    client = ClientFactory()
    pipelines = [PipelineFactory(client=client, slug=f"bulk{n}") for n in range(80)]
    items = []
    for n in range(2000):
        status = rng.choice(["success", "failed", "running", "canceled"])
        started = now - dt.timedelta(hours=n)
        items.append(
            {
                "pipeline": pipelines[n % 80].slug,
                "external_run_id": f"b{n}",
                "status": status,
                "started_at": started.isoformat(),
                "finished_at": None
                if status == "running"
                else (started + dt.timedelta(minutes=3)).isoformat(),
                "error_message": "bulk" if status == "failed" else "",
            }
        )
    # Newest first, as a backfill of history often comes: every batch lands out of order.
    for start in range(0, len(items), 1000):
        assert (
            ingest_runs(client=client, items=items[start : start + 1000]).summary["created"] == 1000
        )
    assert PipelineState.objects.filter(pipeline__client=client).count() == 80
    assert_views_agree()
    assert_state_is_a_recomputation()
    prune_runs_started_before(cutoff=now - dt.timedelta(days=30))
    assert_views_agree()
    assert_state_is_a_recomputation()


def assert_state_is_a_recomputation() -> None:
    stored = {row.pipeline_id: StateValues.of(row) for row in PipelineState.objects.all()}
    assert stored == pipeline_state.recompute(stored)
