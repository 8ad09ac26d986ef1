"""A statement that cannot get its lock gives up at DB_LOCK_TIMEOUT_MS and the request
answers 503: a blocked database never holds a worker indefinitely."""

from __future__ import annotations

import psycopg
import pytest
from django.db import connection
from rest_framework.test import APIClient

from runs.models import Run
from tests.factories import RunFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_ingestion_blocked_on_a_locked_run_answers_503_after_the_lock_timeout(pipeline):
    run = RunFactory(pipeline=pipeline, external_run_id="r-1", status="running")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {pipeline.client.raw_key}")
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)

    # Another session holds the run's row lock, as a long transaction or a stuck job would.
    with psycopg.connect(**params) as holder:
        holder.execute("SELECT 1 FROM runs_run WHERE id = %s FOR UPDATE", [run.pk])
        response = api.post(
            "/api/v1/runs/",
            {
                "pipeline": "orders-etl",
                "external_run_id": "r-1",
                "status": "success",
                "started_at": run.started_at.isoformat(),
                "finished_at": run.started_at.isoformat(),
            },
            format="json",
        )
        holder.rollback()

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    run.refresh_from_db()
    assert run.status == "running"  # nothing was written
    # Once the lock is gone, the same request goes through.
    assert (
        api.post(
            "/api/v1/runs/",
            {
                "pipeline": "orders-etl",
                "external_run_id": "r-1",
                "status": "success",
                "started_at": run.started_at.isoformat(),
                "finished_at": run.started_at.isoformat(),
            },
            format="json",
        ).json()["outcome"]
        == "updated"
    )
    assert Run.objects.get(pk=run.pk).status == "success"
