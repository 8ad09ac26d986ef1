"""POST /api/v1/lineage: OpenLineage RunEvents become runs of the key's client."""

from __future__ import annotations

import datetime as dt
import gzip
import json

import pytest
from rest_framework.test import APIClient

from inventory.models import Pipeline, Platform
from runs.models import Run, RunStatus
from tests.factories import PipelineFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/lineage"
RUN_ID = "0195527e-0d38-7d2c-9a51-3f0c2b8e4a10"


def lineage_event(event_type: str | None, when: str, **run_facets) -> dict:
    event = {
        "eventTime": when,
        "producer": "https://github.com/acme/etl/tree/v1.4.2",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": RUN_ID, "facets": run_facets},
        "job": {"namespace": "acme-prod", "name": "orders-etl"},
        "inputs": [],
        "outputs": [],
    }
    if event_type is not None:
        event["eventType"] = event_type
    return event


def post(api, event, **extra):
    return api.post(URL, json.dumps(event), content_type="application/json", **extra)


def error_facet(message: str) -> dict:
    return {
        "errorMessage": {
            "_producer": "https://github.com/acme/etl",
            "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json",
            "message": message,
            "programmingLanguage": "python",
        }
    }


def test_start_then_fail_stores_a_failed_run_with_its_error(api, pipeline):
    start = post(api, lineage_event("START", "2026-03-01T02:00:05.123Z"))
    fail = post(
        api,
        lineage_event(
            "FAIL", "2026-03-01T02:03:41.870Z", **error_facet('relation "orders" does not exist')
        ),
    )

    assert (start.status_code, start.json()["outcome"]) == (201, "created")
    assert (fail.status_code, fail.json()["outcome"]) == (200, "updated")
    run = Run.objects.get()
    assert run.pipeline == pipeline
    assert run.external_run_id == RUN_ID
    assert run.status == RunStatus.FAILED
    assert run.error_message == 'relation "orders" does not exist'
    assert run.started_at == dt.datetime(2026, 3, 1, 2, 0, 5, 123000, tzinfo=dt.UTC)
    assert run.metadata["source_status"] == "FAIL"
    assert run.metadata["openlineage"]["namespace"] == "acme-prod"


def test_terminal_event_before_its_start_keeps_the_earlier_start(api, pipeline):
    post(api, lineage_event("COMPLETE", "2026-03-01T02:10:00Z"))
    post(api, lineage_event("START", "2026-03-01T02:00:00Z"))

    run = Run.objects.get()
    assert run.status == RunStatus.SUCCESS
    assert run.duration == dt.timedelta(minutes=10)


@pytest.mark.parametrize(
    ("event_type", "status"),
    [
        ("START", RunStatus.RUNNING),
        ("RUNNING", RunStatus.RUNNING),
        ("COMPLETE", RunStatus.SUCCESS),
        ("FAIL", RunStatus.FAILED),
        ("ABORT", RunStatus.CANCELED),
    ],
)
def test_event_types_map_to_statuses(api, pipeline, event_type, status):
    post(api, lineage_event(event_type, "2026-03-01T02:00:00Z"))

    assert Run.objects.get().status == status


@pytest.mark.parametrize("event_type", ["OTHER", None])
def test_other_or_missing_event_type_changes_no_status(api, pipeline, event_type):
    post(api, lineage_event("START", "2026-03-01T02:00:00Z"))

    response = post(api, lineage_event(event_type, "2026-03-01T02:05:00Z"))

    assert response.status_code == 200
    assert response.json()["outcome"] == "unchanged"
    assert Run.objects.get().status == RunStatus.RUNNING


def test_job_is_matched_by_namespace_and_name_when_no_slug_equals_the_name(api, chm_client):
    qualified = PipelineFactory(client=chm_client, slug="acme-prod/orders-etl")

    post(api, lineage_event("START", "2026-03-01T02:00:00Z"))

    assert Run.objects.get().pipeline == qualified


def test_unknown_job_is_a_404_when_the_client_does_not_auto_register(api, chm_client):
    response = post(api, lineage_event("START", "2026-03-01T02:00:00Z"))

    assert response.status_code == 404
    assert "job.name" in response.json()["errors"]
    assert not Pipeline.objects.exists()
    assert not Run.objects.exists()


def test_unknown_job_is_registered_when_the_client_allows_it(api, chm_client):
    chm_client.auto_register_pipelines = True
    chm_client.save()
    event = lineage_event("START", "2026-03-01T02:00:00Z")
    event["job"]["facets"] = {
        "jobType": {"processingType": "BATCH", "integration": "AIRFLOW", "jobType": "DAG"},
        "ownership": {"owners": [{"name": "team:data-platform"}]},
    }

    first = post(api, event)
    again = post(api, lineage_event("COMPLETE", "2026-03-01T02:09:00Z"))

    assert first.status_code == 201
    assert again.status_code == 200
    pipeline = Pipeline.objects.get()
    assert (pipeline.client, pipeline.slug) == (chm_client, "acme-prod/orders-etl")
    assert pipeline.platform == Platform.AIRFLOW
    assert pipeline.owner == "team:data-platform"
    assert Run.objects.get().status == RunStatus.SUCCESS


def test_child_run_of_an_unregistered_job_is_acknowledged_but_registers_nothing(api, chm_client):
    chm_client.auto_register_pipelines = True
    chm_client.save()
    parent = {"run": {"runId": "0195527e-0000-7000-8000-000000000001"}}
    parent["job"] = {"namespace": "acme-prod", "name": "orders-etl"}
    event = lineage_event("START", "2026-03-01T02:00:00Z", parent=parent)
    event["job"]["name"] = "orders-etl.load_orders"

    response = post(api, event)

    assert response.status_code == 200
    assert response.json()["outcome"] == "unchanged"
    assert not Pipeline.objects.exists()


def test_gzip_event_is_accepted(api, pipeline):
    body = gzip.compress(json.dumps(lineage_event("START", "2026-03-01T02:00:00Z")).encode())

    response = api.post(URL, body, content_type="application/json", HTTP_CONTENT_ENCODING="gzip")

    assert response.status_code == 201


def test_dataset_event_is_acknowledged_and_stores_nothing(api, pipeline):
    event = {
        "eventTime": "2026-03-01T02:00:00Z",
        "producer": "https://github.com/acme/etl",
        "dataset": {"namespace": "postgres://db", "name": "public.orders"},
    }

    response = post(api, event)

    assert response.status_code == 200
    assert not Run.objects.exists()


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda e: e["run"].pop("runId"), "run.runId"),
        (lambda e: e["job"].pop("name"), "job.name"),
        (lambda e: e["job"].update(namespace=7), "job.namespace"),
        (lambda e: e.pop("job"), "job"),
        (lambda e: e.update(eventType="SUCCESS"), "eventType"),
        (lambda e: e.update(eventTime="2026-03-01T02:00:00"), "eventTime"),
        (lambda e: e.update(eventTime=1772330400), "eventTime"),
    ],
)
def test_invalid_event_is_a_400_naming_the_field(api, pipeline, mutate, field):
    event = lineage_event("START", "2026-03-01T02:00:00Z")
    mutate(event)

    response = post(api, event)

    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    assert not Run.objects.exists()


def test_lineage_needs_a_client_key(client, pipeline):
    response = client.post(
        URL, json.dumps(lineage_event("START", "2026-03-01T02:00:00Z")), "application/json"
    )

    assert response.status_code == 401


def test_events_after_a_pipeline_is_renamed_still_reach_its_run(api, pipeline):
    post(api, lineage_event("START", "2026-03-01T02:00:00Z"))
    pipeline.slug = "acme-prod/orders-etl"
    pipeline.save()

    response = post(api, lineage_event("COMPLETE", "2026-03-01T02:09:00Z"))

    assert (response.status_code, response.json()["outcome"]) == (200, "updated")
    assert response.json()["pipeline"] == "acme-prod/orders-etl"
    run = Run.objects.get()
    assert (run.pipeline, run.status) == (pipeline, RunStatus.SUCCESS)


def test_a_resolved_job_is_not_shared_with_another_client(api, pipeline, other_client):
    post(api, lineage_event("START", "2026-03-01T02:00:00Z"))
    other_key = APIClient()
    other_key.credentials(HTTP_AUTHORIZATION=f"Bearer {other_client.raw_key}")

    response = post(other_key, lineage_event("COMPLETE", "2026-03-01T02:09:00Z"))

    assert response.status_code == 404
    assert Run.objects.get().status == RunStatus.RUNNING
