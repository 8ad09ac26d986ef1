"""The stock openlineage-python client reports runs to a live CHM server."""

from __future__ import annotations

import datetime as dt

import pytest
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import Job, Run, RunEvent, RunState
from openlineage.client.facet_v2 import error_message_run
from openlineage.client.uuid import generate_new_uuid

from inventory.models import Pipeline
from runs.models import Run as StoredRun
from runs.models import RunStatus
from tests.factories import ClientFactory, PipelineFactory

pytestmark = pytest.mark.django_db(transaction=True)

PRODUCER = "https://example.com/chm-tests"
T0 = dt.datetime(2026, 3, 1, 2, 0, tzinfo=dt.UTC)


@pytest.fixture
def openlineage_env(monkeypatch, tmp_path):
    """Only the two variables a user sets; no config file can be picked up."""
    for name in ("OPENLINEAGE_CONFIG", "OPENLINEAGE_ENDPOINT", "OPENLINEAGE_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))

    def configure(url: str, key: str) -> OpenLineageClient:
        monkeypatch.setenv("OPENLINEAGE_URL", url)
        monkeypatch.setenv("OPENLINEAGE_API_KEY", key)
        return OpenLineageClient()

    return configure


def emit_run(client: OpenLineageClient, job_name: str, terminal: RunState, **facets) -> str:
    run_id = str(generate_new_uuid())
    job = Job(namespace="acme-prod", name=job_name)
    client.emit(
        RunEvent(
            eventType=RunState.START,
            eventTime=T0.isoformat(),
            run=Run(runId=run_id),
            job=job,
            producer=PRODUCER,
        )
    )
    client.emit(
        RunEvent(
            eventType=terminal,
            eventTime=(T0 + dt.timedelta(minutes=4)).isoformat(),
            run=Run(runId=run_id, facets=facets),
            job=job,
            producer=PRODUCER,
        )
    )
    return run_id


def test_start_then_complete_and_start_then_fail_are_stored(live_server, openlineage_env):
    acme = ClientFactory(slug="acme")
    PipelineFactory(client=acme, slug="orders_etl.load_orders")
    client = openlineage_env(live_server.url, acme.raw_key)

    completed = emit_run(client, "orders_etl.load_orders", RunState.COMPLETE)
    failed = emit_run(
        client,
        "orders_etl.load_orders",
        RunState.FAIL,
        errorMessage=error_message_run.ErrorMessageRunFacet(
            message="division by zero", programmingLanguage="python", stackTrace="Traceback"
        ),
    )

    success_run = StoredRun.objects.get(external_run_id=completed)
    failed_run = StoredRun.objects.get(external_run_id=failed)
    assert success_run.status == RunStatus.SUCCESS
    assert success_run.duration == dt.timedelta(minutes=4)
    assert success_run.error_message == ""
    assert failed_run.status == RunStatus.FAILED
    assert failed_run.error_message == "division by zero"
    assert StoredRun.objects.count() == 2


def test_gzip_client_registers_a_new_job_for_an_auto_registering_client(live_server):
    acme = ClientFactory(slug="acme")
    acme.auto_register_pipelines = True
    acme.save()
    client = OpenLineageClient(
        config={
            "transport": {
                "type": "http",
                "url": live_server.url,
                "endpoint": "api/v1/lineage",
                "compression": "gzip",
                "auth": {"type": "api_key", "apiKey": acme.raw_key},
            }
        }
    )

    run_id = emit_run(client, "nightly_export", RunState.COMPLETE)

    pipeline = Pipeline.objects.get(client=acme)
    assert pipeline.slug == "acme-prod/nightly_export"
    assert StoredRun.objects.get(pipeline=pipeline).external_run_id == run_id


def test_the_client_raises_on_a_wrong_key_and_nothing_is_stored(live_server, openlineage_env):
    acme = ClientFactory(slug="acme")
    PipelineFactory(client=acme, slug="orders_etl.load_orders")
    client = openlineage_env(live_server.url, "chm_wrong-key")

    with pytest.raises(Exception, match="401"):
        emit_run(client, "orders_etl.load_orders", RunState.COMPLETE)

    assert not StoredRun.objects.exists()
