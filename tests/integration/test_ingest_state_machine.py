"""The run state machine of runs/ingest.py, item by item, on real PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import OperationalError

import runs.ingest
from runs.ingest import ingest_runs
from runs.models import Run, RunStatus
from runs.signals import terminal_runs_ingested

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 1, 2, 0, tzinfo=dt.UTC)


def event(status: str, *, start: int = 0, finish: int | None = None, **extra) -> dict:
    item = {
        "pipeline": "orders-etl",
        "external_run_id": "run-1",
        "status": status,
        "started_at": (T0 + dt.timedelta(minutes=start)).isoformat(),
    }
    if finish is not None:
        item["finished_at"] = (T0 + dt.timedelta(minutes=finish)).isoformat()
    item.update(extra)
    return item


def ingest_one(chm_client, item: dict):
    result = ingest_runs(client=chm_client, items=[item])
    return result.results[0]


def stored(pipeline) -> Run:
    return Run.objects.get(pipeline=pipeline, external_run_id="run-1")


def test_new_run_is_created_with_its_fields(chm_client, pipeline):
    result = ingest_one(chm_client, event("failed", finish=7, error_message="exit 1"))

    run = stored(pipeline)
    assert result.outcome == "created"
    assert result.run_id == run.pk
    assert run.status == RunStatus.FAILED
    assert run.duration == dt.timedelta(minutes=7)
    assert run.error_message == "exit 1"
    assert run.metadata == {"source_status": "failed"}


def test_duplicate_delivery_is_unchanged_and_writes_nothing(chm_client, pipeline):
    ingest_one(chm_client, event("success", finish=5, metadata={"attempt": 1}))
    before = stored(pipeline)

    result = ingest_one(chm_client, event("success", finish=5, metadata={"attempt": 1}))

    after = stored(pipeline)
    assert result.outcome == "unchanged"
    assert result.run_id == before.pk
    assert after.updated_at == before.updated_at
    assert Run.objects.count() == 1


def test_running_moves_forward_to_a_terminal_status(chm_client, pipeline):
    assert ingest_one(chm_client, event("queued")).outcome == "created"
    assert ingest_one(chm_client, event("running")).outcome == "updated"
    assert stored(pipeline).status == RunStatus.RUNNING

    result = ingest_one(chm_client, event("success", finish=3))

    assert result.outcome == "updated"
    assert stored(pipeline).status == RunStatus.SUCCESS
    assert stored(pipeline).finished_at == T0 + dt.timedelta(minutes=3)


def test_late_running_event_does_not_reopen_a_failed_run(chm_client, pipeline):
    ingest_one(chm_client, event("failed", finish=4, error_message="boom"))

    result = ingest_one(chm_client, event("running"))

    run = stored(pipeline)
    assert result.outcome == "unchanged"
    assert run.status == RunStatus.FAILED
    assert run.finished_at == T0 + dt.timedelta(minutes=4)
    assert run.error_message == "boom"


def test_later_terminal_event_corrects_a_failed_run(chm_client, pipeline):
    ingest_one(chm_client, event("failed", finish=4, error_message="boom"))

    result = ingest_one(chm_client, event("success", finish=30))

    run = stored(pipeline)
    assert result.outcome == "updated"
    assert run.status == RunStatus.SUCCESS
    assert run.finished_at == T0 + dt.timedelta(minutes=30)
    assert run.error_message == ""


def test_older_terminal_event_does_not_undo_a_correction(chm_client, pipeline):
    ingest_one(chm_client, event("success", finish=30))

    result = ingest_one(chm_client, event("failed", finish=4, error_message="boom"))

    assert result.outcome == "unchanged"
    assert stored(pipeline).status == RunStatus.SUCCESS


def test_two_terminal_statuses_with_the_same_finish_conflict(chm_client, pipeline):
    ingest_one(chm_client, event("failed", finish=4))

    result = ingest_one(chm_client, event("success", finish=4))

    assert result.outcome == "rejected"
    assert result.conflict is True
    assert "status" in result.errors
    assert stored(pipeline).status == RunStatus.FAILED


def test_earliest_start_is_kept(chm_client, pipeline):
    ingest_one(chm_client, event("running", start=10))
    assert ingest_one(chm_client, event("running", start=2)).outcome == "updated"
    assert ingest_one(chm_client, event("success", start=20, finish=40)).outcome == "updated"

    run = stored(pipeline)
    assert run.started_at == T0 + dt.timedelta(minutes=2)
    assert run.duration == dt.timedelta(minutes=38)


def test_repeat_of_a_terminal_event_fills_a_missing_error_message(chm_client, pipeline):
    ingest_one(chm_client, event("failed", finish=4))

    result = ingest_one(chm_client, event("failed", finish=4, error_message="OOM killed"))

    assert result.outcome == "updated"
    assert stored(pipeline).error_message == "OOM killed"


def test_metadata_keys_accumulate_and_the_winner_keeps_its_spelling(chm_client, pipeline):
    ingest_one(chm_client, event("STARTED", metadata={"host": "worker-1"}))
    ingest_one(chm_client, event("SUCCESS", finish=5, metadata={"rows": 120}))

    assert stored(pipeline).metadata == {
        "host": "worker-1",
        "rows": 120,
        "source_status": "SUCCESS",
    }


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("upstream_failed", RunStatus.SKIPPED),
        ("COMPLETED", RunStatus.SUCCESS),
        ("FAILURE", RunStatus.FAILED),
        ("crashed", RunStatus.FAILED),
        ("ABORT", RunStatus.CANCELED),
        ("cancelled", RunStatus.CANCELED),
        ("succeeded", RunStatus.SUCCESS),
    ],
)
def test_scheduler_spellings_map_to_canonical_statuses(chm_client, pipeline, spelling, expected):
    ingest_one(chm_client, event(spelling, finish=1))

    run = stored(pipeline)
    assert run.status == expected
    assert run.metadata["source_status"] == spelling


def test_items_of_one_run_in_one_batch_apply_in_order(chm_client, pipeline):
    result = ingest_runs(
        client=chm_client,
        items=[event("running"), event("failed", finish=3), event("success", finish=9)],
    )

    assert [r.outcome for r in result.results] == ["created", "updated", "updated"]
    assert stored(pipeline).status == RunStatus.SUCCESS
    assert result.summary == {"created": 1, "updated": 2, "unchanged": 0, "rejected": 0}


def test_valid_items_land_when_others_in_the_batch_are_rejected(chm_client, pipeline):
    result = ingest_runs(
        client=chm_client,
        items=[
            event("success", finish=1),
            {**event("success", finish=1), "external_run_id": "run-2", "pipeline": "unknown"},
            {**event("bogus"), "external_run_id": "run-3"},
        ],
    )

    assert [r.outcome for r in result.results] == ["created", "rejected", "rejected"]
    assert result.results[1].errors.keys() == {"pipeline"}
    assert result.results[2].errors.keys() == {"status"}
    assert Run.objects.count() == 1


def test_terminal_runs_signal_is_sent_once_after_commit(
    chm_client, pipeline, django_capture_on_commit_callbacks
):
    received: list[set[int]] = []

    def receiver(sender, pipeline_ids, **kwargs):
        received.append(pipeline_ids)

    terminal_runs_ingested.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            ingest_runs(
                client=chm_client,
                items=[event("running"), {**event("failed", finish=2), "external_run_id": "r2"}],
            )
        with django_capture_on_commit_callbacks(execute=True):
            ingest_runs(client=chm_client, items=[event("running", start=5)])
    finally:
        terminal_runs_ingested.disconnect(receiver)

    assert received == [{pipeline.pk}]


class _Deadlock(Exception):
    """What psycopg raises for PostgreSQL's deadlock_detected (Django wraps it)."""

    sqlstate = "40P01"


@pytest.mark.django_db(transaction=True)
def test_a_deadlock_is_retried_and_the_run_lands_once(chm_client, pipeline, monkeypatch):
    write, calls = runs.ingest._write_one, []

    def deadlocking_once(*args):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("deadlock detected") from _Deadlock()
        return write(*args)

    monkeypatch.setattr(runs.ingest, "_write_one", deadlocking_once)

    assert ingest_one(chm_client, event("success", finish=3)).outcome == "created"
    assert len(calls) == 2
    assert Run.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_deadlock_that_keeps_happening_reaches_the_caller(chm_client, pipeline, monkeypatch):
    def always_deadlocking(*args):
        raise OperationalError("deadlock detected") from _Deadlock()

    monkeypatch.setattr(runs.ingest, "_write_one", always_deadlocking)

    with pytest.raises(OperationalError):
        ingest_one(chm_client, event("success", finish=3))
