"""The ingestion upsert goes to PostgreSQL as a prepared statement (DB_PREPARED_STATEMENTS),
and ingestion answers the same when preparing is off."""

from __future__ import annotations

import pytest
from django.db import connection
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def run_item(external_run_id: str = "run-1", **overrides) -> dict:
    return {
        "pipeline": "orders-etl",
        "external_run_id": external_run_id,
        "status": "success",
        "started_at": "2026-03-01T02:00:00Z",
        "finished_at": "2026-03-01T02:05:00Z",
        **overrides,
    }


@pytest.fixture
def api(chm_client) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {chm_client.raw_key}")
    return api


def post(api: APIClient, item: dict):
    return api.post("/api/v1/runs/", item, format="json")


def test_the_ingestion_upsert_is_planned_once_per_connection(api, pipeline):
    for n in range(3):
        assert post(api, run_item(f"run-{n}")).status_code == 201
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any("INSERT INTO runs_run" in statement for statement in prepared)


def test_without_prepared_statements_ingestion_works_the_same(api, pipeline, monkeypatch):
    connection.ensure_connection()
    monkeypatch.setattr(connection.connection, "prepare_threshold", None)
    assert post(api, run_item()).status_code == 201
    assert post(api, run_item()).json()["outcome"] == "unchanged"
    assert post(api, run_item(status="failed")).status_code == 409
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements")
        assert cursor.fetchone()[0] == 0
