"""A failure reported through the API is on the triage view and the overview at once: the
pipeline state behind "failing now" is written in the ingesting transaction, whichever path
(fast or plain) took the call."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from tests.factories import ClientFactory, PipelineFactory

pytestmark = pytest.mark.django_db(transaction=True)


def report(api: APIClient, run: str, status: str, minutes_ago: int, **more) -> None:
    started = timezone.now() - dt.timedelta(minutes=minutes_ago)
    body = {
        "pipeline": "orders-etl",
        "external_run_id": run,
        "status": status,
        "started_at": started.isoformat(),
        "finished_at": (started + dt.timedelta(minutes=2)).isoformat(),
        **more,
    }
    response = api.post("/api/v1/runs/", json.dumps(body), content_type="application/json")
    assert response.status_code in (200, 201), response.content


def triage() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pipeline_slug, consecutive_failures, last_error FROM reporting.q06_triage"
        )
        return cursor.fetchall()


@pytest.mark.parametrize("fast_path", [True, False])
def test_an_ingested_failure_is_failing_now_on_the_next_read(staff_client, settings, fast_path):
    settings.CHM_INGEST_FAST_PATH = fast_path
    client = ClientFactory(slug="acme")
    pipeline = PipelineFactory(client=client, slug="orders-etl", name="Orders ETL")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {client.raw_key}")

    report(api, "r1", "success", 30)
    assert triage() == []
    report(api, "r2", "failed", 20, error_message="permission denied for schema analytics")
    report(api, "r3", "failed", 10, error_message="permission denied for schema analytics")

    assert triage() == [("orders-etl", 2, "permission denied for schema analytics")]
    page = staff_client.get("/").content.decode()
    failing_now = page.split('id="failing-now"')[1].split("</section>")[0]
    assert pipeline.name in failing_now

    report(api, "r4", "success", 5)
    assert triage() == []
