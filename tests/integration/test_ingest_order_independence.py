"""The stored run is a function of the set of events, not of their order of arrival."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import random

import pytest

from runs.ingest import ingest_runs
from runs.models import Run

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 1, 2, 0, tzinfo=dt.UTC)


def at(minutes: int) -> str:
    return (T0 + dt.timedelta(minutes=minutes)).isoformat()


# A run that fails, is retried in place and is then marked successful by an operator, with a
# duplicate delivery and a late, earlier-dated running event.
CORRECTED_RUN = [
    {"status": "queued", "started_at": at(5)},
    {"status": "running", "started_at": at(3), "metadata": {"host": "worker-1"}},
    {"status": "failed", "started_at": at(3), "finished_at": at(10), "error_message": "boom"},
    {"status": "failed", "started_at": at(3), "finished_at": at(10), "error_message": "boom"},
    {"status": "success", "started_at": at(3), "finished_at": at(20), "metadata": {"by": "ops"}},
    {"status": "running", "started_at": at(1)},
]
# A run reported by two senders that spell statuses differently, failing with a message the
# first terminal report lacked.
FAILED_RUN = [
    {"status": "PENDING", "started_at": at(0)},
    {"status": "STARTED", "started_at": at(2), "metadata": {"attempt": 1}},
    {"status": "FAILURE", "started_at": at(2), "finished_at": at(9)},
    {"status": "FAILURE", "started_at": at(2), "finished_at": at(9), "error_message": "OOM"},
    {"status": "running", "started_at": at(2)},
    {"status": "RUNNING", "started_at": at(4), "metadata": {"pid": 4242}},
]


def stored_state(run: Run) -> tuple:
    metadata = json.dumps(run.metadata, sort_keys=True)
    return (run.status, run.started_at, run.finished_at, run.error_message, metadata)


def deliver_every_permutation(chm_client, name: str, events: list[dict]) -> dict[str, tuple]:
    """One run per permutation, delivered as one batch: the n-th event of every run lands in
    the n-th statement, exactly as if each sender had posted them one by one."""
    items = []
    for number, order in enumerate(itertools.permutations(events)):
        external_run_id = f"{name}-{number}"
        items.extend(
            {"pipeline": "orders-etl", "external_run_id": external_run_id, **event}
            for event in order
        )
    result = ingest_runs(client=chm_client, items=items)
    assert result.summary["rejected"] == 0
    return {
        run.external_run_id: stored_state(run)
        for run in Run.objects.filter(external_run_id__startswith=f"{name}-")
    }


@pytest.mark.parametrize(("name", "events"), [("corrected", CORRECTED_RUN), ("failed", FAILED_RUN)])
def test_every_permutation_of_a_runs_events_stores_the_same_run(chm_client, pipeline, name, events):
    states = deliver_every_permutation(chm_client, name, events)

    assert len(states) == 720
    assert set(states.values()) == {states[f"{name}-0"]}


def test_the_stored_run_is_what_an_orderly_delivery_gives(chm_client, pipeline):
    for event in CORRECTED_RUN:
        item = {"pipeline": "orders-etl", "external_run_id": "orderly", **event}
        ingest_runs(client=chm_client, items=[item])

    run = Run.objects.get(external_run_id="orderly")
    assert stored_state(run) == (
        "success",
        T0 + dt.timedelta(minutes=1),
        T0 + dt.timedelta(minutes=20),
        "",
        '{"by": "ops", "host": "worker-1", "source_status": "success"}',
    )


def test_one_event_per_request_in_random_orders_matches_the_orderly_delivery(chm_client, pipeline):
    rng = random.Random(20260301)
    for event in FAILED_RUN:
        ingest_runs(
            client=chm_client, items=[{"pipeline": "orders-etl", "external_run_id": "ref", **event}]
        )
    expected = stored_state(Run.objects.get(external_run_id="ref"))

    for sample in range(25):
        order = rng.sample(FAILED_RUN, k=len(FAILED_RUN))
        for event in order:
            item = {"pipeline": "orders-etl", "external_run_id": f"s{sample}", **event}
            ingest_runs(client=chm_client, items=[item])
        assert stored_state(Run.objects.get(external_run_id=f"s{sample}")) == expected, order
