"""The plain-PostgreSQL part of docs/citus.sql leaves CHM working: runs keyed by
(pipeline_id, id), ingestion idempotent, the views and pages answering, retention deleting."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from runs.models import Run
from runs.reporting import ClientHealth, PipelineLatestStatus, TriageEntry
from tests.factories import RunFactory

pytestmark = pytest.mark.django_db

CITUS_SQL = Path(__file__).resolve().parents[2] / "docs" / "citus.sql"


def postgres_statements() -> list[str]:
    """The statements of the "postgres" sections, in file order."""
    statements, section, current = [], None, []
    for line in CITUS_SQL.read_text().splitlines():
        if line.startswith("-- section:"):
            section = line.split(":", 1)[1].strip()
            continue
        if line.startswith("--") or not line.strip() or section != "postgres":
            continue
        current.append(line)
        if line.rstrip().endswith(";"):
            statements.append("\n".join(current))
            current = []
    return statements


def test_chm_works_with_the_runs_primary_key_citus_needs(pipeline, staff_client):
    with connection.cursor() as cursor:
        # The fixtures' rows are in this test's transaction with their deferred foreign-key
        # checks still pending, which ALTER TABLE refuses; check them now.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for statement in postgres_statements():
            cursor.execute(statement)
        cursor.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'runs_run_pkey'"
        )
        assert cursor.fetchone()[0] == "PRIMARY KEY (pipeline_id, id)"

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {pipeline.client.raw_key}")
    run = {
        "pipeline": "orders-etl",
        "external_run_id": "r-1",
        "status": "failed",
        "started_at": "2026-03-01T10:00:00Z",
        "finished_at": "2026-03-01T10:05:00Z",
    }
    assert api.post("/api/v1/runs/", run, format="json").json()["outcome"] == "created"
    assert api.post("/api/v1/runs/", run, format="json").json()["outcome"] == "unchanged"
    assert Run.objects.filter(external_run_id="r-1").count() == 1

    assert PipelineLatestStatus.objects.get(pipeline_id=pipeline.pk).last_status == "failed"
    assert ClientHealth.objects.filter(client_id=pipeline.client_id).exists()
    assert TriageEntry.objects.filter(pipeline_id=pipeline.pk).exists()
    assert staff_client.get(f"/pipelines/{pipeline.pk}/").status_code == 200

    RunFactory(pipeline=pipeline, started_at=timezone.now() - dt.timedelta(days=400))
    call_command("prune_runs", "--older-than", "365")
    assert list(Run.objects.values_list("external_run_id", flat=True)) == ["r-1"]
