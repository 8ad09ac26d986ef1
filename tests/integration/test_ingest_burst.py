"""A scheduler fleet's burst, as it reaches a real deployment: 16 senders at once through
gunicorn (4 workers, each request on its own database connection), posting single runs and
batches of 2-50 events (queued, running, terminal reports, corrections, duplicates and late
`running` events, shuffled) for 20 pipelines of one client. No answer is a 5xx, and the
stored runs and every pipeline's state are exactly those of an orderly delivery."""

from __future__ import annotations

import datetime as dt
import random
import threading

import pytest
import requests
from django.db import connection

from chm_project.database_urls import url_of
from runs import pipeline_state
from runs.models import PipelineState, Run
from runs.pipeline_state import StateValues
from runs.serializers import RunItemSerializer, run_fields
from runs.transitions import REJECTED, apply_event
from tests.factories import ClientFactory, PipelineFactory
from tests.live_chm import Gunicorn, chm_environment

pytestmark = pytest.mark.django_db(transaction=True)

SENDERS = 16
PIPELINES = 20
RUNS_PER_PIPELINE = 30
T0 = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=3)


def at(minutes: float) -> str:
    return (T0 + dt.timedelta(minutes=minutes)).isoformat()


def events_of_a_run(rng: random.Random, pipeline: str, number: int) -> list[dict]:
    run = {"pipeline": pipeline, "external_run_id": f"{pipeline}-{number}"}
    start = number * 60 + rng.randrange(0, 30)
    events = [
        {**run, "status": "queued", "started_at": at(start)},
        {**run, "status": "running", "started_at": at(start + 1), "metadata": {"host": "w1"}},
    ]
    final = rng.choice(["success", "success", "failed", "canceled"])
    events.append(
        {
            **run,
            "status": final,
            "started_at": at(start + 1),
            "finished_at": at(start + 20),
            "error_message": "exit 1" if final == "failed" else "",
        }
    )
    if rng.random() < 0.2:  # an operator's correction, later
        events.append(
            {**run, "status": "success", "started_at": at(start + 1), "finished_at": at(start + 45)}
        )
    if rng.random() < 0.3:  # a late running event, after the terminal one
        events.append({**run, "status": "running", "started_at": at(start + 1)})
    return events


def orderly_result(events: list[dict]) -> dict[str, tuple]:
    """Each run as the state machine leaves it after its events in the order they were made."""
    serializer, stored = RunItemSerializer(), {}
    for item in events:
        key = item["external_run_id"]
        transition = apply_event(stored.get(key), run_fields(serializer.run_validation(item)))
        if transition.outcome != REJECTED:
            stored[key] = transition.run
    return {
        key: (run.status, run.started_at, run.finished_at, run.error_message, run.metadata)
        for key, run in stored.items()
    }


def test_a_burst_of_sixteen_senders_gets_no_5xx_and_stores_what_orderly_delivery_would(
    tmp_path,
):
    rng = random.Random(20261202)
    client = ClientFactory(slug="fleet")
    slugs = [PipelineFactory(client=client, slug=f"p{n}").slug for n in range(PIPELINES)]
    events = [
        event
        for slug in slugs
        for number in range(RUNS_PER_PIPELINE)
        for event in events_of_a_run(rng, slug, number)
    ]
    expected = orderly_result(events)
    delivery = events + rng.sample(events, k=len(events) // 10)  # duplicate deliveries
    rng.shuffle(delivery)
    shares = [delivery[n::SENDERS] for n in range(SENDERS)]

    server = Gunicorn(chm_environment(url_of(connection)), log_dir=tmp_path, workers=4)
    statuses: list[int] = []
    failures: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(SENDERS)

    def send(sender: int) -> None:
        own = random.Random(sender)
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {client.raw_key}"
        try:
            barrier.wait(timeout=60)
            share, position = shares[sender], 0
            while position < len(share):
                size = 1 if own.random() < 0.9 else own.randint(2, 50)
                body = share[position] if size == 1 else share[position : position + size]
                position += size
                response = session.post(f"{server.base_url}/api/v1/runs/", json=body, timeout=60)
                with lock:
                    statuses.append(response.status_code)
        except BaseException as exc:  # reported by the main thread
            with lock:
                failures.append(exc)
        finally:
            session.close()

    try:
        server.wait_ready()
        threads = [threading.Thread(target=send, args=(n,)) for n in range(SENDERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
    finally:
        server.stop()

    assert not failures, failures
    assert len(statuses) > 500
    server_errors = [status for status in statuses if status >= 500]
    assert server_errors == [], server.log()
    assert set(statuses) <= {200, 201}
    stored = {
        run.external_run_id: (
            run.status,
            run.started_at,
            run.finished_at,
            run.error_message,
            run.metadata,
        )
        for run in Run.objects.filter(pipeline__client=client)
    }
    assert stored == expected
    states = {row.pipeline_id: StateValues.of(row) for row in PipelineState.objects.all()}
    assert len(states) == PIPELINES
    assert states == pipeline_state.recompute(states)
