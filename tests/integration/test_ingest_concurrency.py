"""Several senders deliver the same events at the same moment, each over its own HTTP connection
to a live server (and so its own database connection): one row per run, no error responses, and
the final runs equal an orderly delivery."""

from __future__ import annotations

import datetime as dt
import json
import random
import threading

import pytest
import requests

from inventory.models import Pipeline
from runs.ingest import ingest_runs
from runs.models import Run
from tests.factories import ClientFactory, PipelineFactory

pytestmark = pytest.mark.django_db(transaction=True)

SENDERS = 8
RUNS = 12
T0 = dt.datetime(2026, 3, 1, 2, 0, tzinfo=dt.UTC)


def at(minutes: int) -> str:
    return (T0 + dt.timedelta(minutes=minutes)).isoformat()


def events_of(external_run_id: str, pipeline: str) -> list[dict]:
    base = {"pipeline": pipeline, "external_run_id": external_run_id}
    return [
        {**base, "status": "queued", "started_at": at(5)},
        {**base, "status": "running", "started_at": at(3), "metadata": {"host": "w1"}},
        {
            **base,
            "status": "failed",
            "started_at": at(3),
            "finished_at": at(9),
            "error_message": "x",
        },
        {**base, "status": "success", "started_at": at(3), "finished_at": at(15)},
        {**base, "status": "running", "started_at": at(1)},
    ]


def state(run: Run) -> tuple:
    metadata = json.dumps(run.metadata, sort_keys=True)
    return (run.status, run.started_at, run.finished_at, run.error_message, metadata)


def test_eight_concurrent_senders_store_each_run_once_as_an_orderly_delivery_would(live_server):
    client = ClientFactory(slug="acme")
    PipelineFactory(client=client, slug="orders-etl")
    PipelineFactory(client=client, slug="reference")
    for event in events_of("orderly", "reference"):
        ingest_runs(client=client, items=[event])
    expected = state(Run.objects.get(external_run_id="orderly"))

    events = [e for n in range(RUNS) for e in events_of(f"run-{n}", "orders-etl")]
    barrier = threading.Barrier(SENDERS)
    statuses: list[int] = []
    outcomes: list[str] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def send(sender: int) -> None:
        own_order = random.Random(sender).sample(events, k=len(events))
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {client.raw_key}"
        url = f"{live_server.url}/api/v1/runs/"
        try:
            barrier.wait(timeout=30)
            if sender % 2:
                # Odd senders post batches of a few events, which lock several runs at once.
                bodies = [own_order[i : i + 7] for i in range(0, len(own_order), 7)]
            else:
                bodies = own_order
            for body in bodies:
                response = session.post(url, json=body, timeout=30)
                data = response.json()
                with lock:
                    statuses.append(response.status_code)
                    if isinstance(body, list):
                        outcomes.extend(result["outcome"] for result in data["results"])
                    else:
                        outcomes.append(data["outcome"])
        except BaseException as exc:  # reported below, from the main thread
            with lock:
                failures.append(exc)
        finally:
            session.close()

    threads = [threading.Thread(target=send, args=(n,)) for n in range(SENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not failures, failures
    assert statuses and set(statuses) <= {200, 201}
    assert "rejected" not in outcomes
    assert outcomes.count("created") == RUNS
    runs = Run.objects.filter(pipeline__slug="orders-etl")
    assert runs.count() == RUNS
    assert {state(run) for run in runs} == {expected}


def test_eight_senders_reporting_a_new_job_register_one_pipeline(live_server):
    client = ClientFactory(slug="acme")
    client.auto_register_pipelines = True
    client.save()
    job = {"namespace": "acme-prod", "name": "nightly_export"}
    events = [
        {
            "eventType": event_type,
            "eventTime": at(minutes),
            "producer": "https://example.com/chm-tests",
            "run": {"runId": "0195527e-0d38-7d2c-9a51-3f0c2b8e4a10"},
            "job": job,
        }
        for event_type, minutes in (("START", 0), ("COMPLETE", 6))
    ]
    barrier = threading.Barrier(SENDERS)
    statuses: list[int] = []
    lock = threading.Lock()

    def send(sender: int) -> None:
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {client.raw_key}"
            barrier.wait(timeout=30)
            for event in events if sender % 2 else reversed(events):
                response = session.post(f"{live_server.url}/api/v1/lineage", json=event, timeout=30)
                with lock:
                    statuses.append(response.status_code)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(SENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert set(statuses) <= {200, 201}
    assert len(statuses) == 2 * SENDERS
    assert statuses.count(201) == 1
    assert Pipeline.objects.filter(client=client).count() == 1
    run = Run.objects.get()
    assert run.pipeline.slug == "acme-prod/nightly_export"
    assert (run.status, run.duration) == ("success", dt.timedelta(minutes=6))
