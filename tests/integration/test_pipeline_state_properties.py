"""Ingestion on real PostgreSQL, as a property: whatever the order, the repetition and the
split into single runs and batches of a pipeline's events, the stored runs and the pipeline's
state are those of an orderly delivery, and the state is what ``recompute`` reads from the
runs."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runs import pipeline_state
from runs.ingest import ingest_runs
from runs.models import PipelineState, Run
from runs.pipeline_state import StateValues

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def at(minutes: int) -> str:
    return (T0 + dt.timedelta(minutes=minutes)).isoformat()


@st.composite
def a_pipelines_events(draw) -> list[dict]:
    """Events of up to 6 runs of one pipeline, as schedulers send them (queued, running,
    then one or two terminal reports, a correction now and then), without the conflicts and
    differing metadata values whose outcome docs/api.md says depends on the order."""
    events = []
    # Distinct starts: with equal ones the order is (start, id), and ids follow arrival
    # (tests/unit/test_pipeline_state.py covers ties).
    for number, slot in enumerate(draw(st.lists(st.integers(0, 20), unique=True, max_size=6))):
        start = slot * 30
        run = {"pipeline": "etl", "external_run_id": f"run-{number}"}
        events.append({**run, "status": "queued", "started_at": at(start)})
        events.append({**run, "status": "running", "started_at": at(start + 1)})
        finishes = draw(st.lists(st.integers(2, 40), unique=True, max_size=2))
        for finish in finishes:
            status = draw(st.sampled_from(["success", "failed", "failed", "canceled"]))
            events.append(
                {
                    **run,
                    "status": status,
                    "started_at": at(start + 1),
                    "finished_at": at(start + finish),
                    "error_message": f"{status} {finish}" if status == "failed" else "",
                }
            )
    return events or [
        {"pipeline": "etl", "external_run_id": "only", "status": "queued", "started_at": at(0)}
    ]


def orderly(events: list[dict]) -> list[dict]:
    rank = {"queued": 0, "running": 1}
    return sorted(events, key=lambda e: (rank.get(e["status"], 2), e.get("finished_at") or ""))


def stored_runs() -> dict[str, tuple]:
    return {
        run.external_run_id: (
            run.status,
            run.started_at,
            run.finished_at,
            run.error_message,
            run.metadata,
        )
        for run in Run.objects.all()
    }


def stored_state(pipeline) -> StateValues:
    return StateValues.of(PipelineState.objects.get(pipeline=pipeline))


def deliver(client, events: list[dict], sizes: list[int]) -> None:
    position = 0
    for size in sizes:
        chunk = events[position : position + size]
        position += size
        if chunk:
            assert ingest_runs(client=client, items=chunk).summary["rejected"] == 0
    if position < len(events):
        assert ingest_runs(client=client, items=events[position:]).summary["rejected"] == 0


def without_ids(state: StateValues) -> StateValues:
    """Run ids differ between two deliveries (they are assigned in arrival order)."""
    return StateValues(
        **{name: value for name, value in vars_of(state).items() if not name.endswith("_id")}
    )


def vars_of(state: StateValues) -> dict:
    return {name: getattr(state, name) for name in pipeline_state.FIELDS}


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(events=a_pipelines_events(), data=st.data())
def test_any_delivery_stores_the_runs_and_state_of_an_orderly_one(chm_client, events, data):
    shuffled = data.draw(st.permutations(events))
    shuffled += data.draw(st.lists(st.sampled_from(events), max_size=5))
    sizes = data.draw(st.lists(st.integers(1, 8), max_size=10))

    with transaction.atomic():
        pipeline = chm_client.pipelines.create(slug="etl", name="ETL")
        for item in orderly(events):
            ingest_runs(client=chm_client, items=[item])
        expected_runs, expected_state = stored_runs(), stored_state(pipeline)
        transaction.set_rollback(True)

    with transaction.atomic():
        pipeline = chm_client.pipelines.create(slug="etl", name="ETL")
        deliver(chm_client, shuffled, sizes)
        state = stored_state(pipeline)
        assert stored_runs() == expected_runs
        assert without_ids(state) == without_ids(expected_state)
        assert state == pipeline_state.recompute([pipeline.pk])[pipeline.pk]
        transaction.set_rollback(True)
