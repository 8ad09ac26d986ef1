"""Every failed run carries its failure signature, stored with it by ingestion (both paths)
and given to the runs stored before the column by its migration."""

from __future__ import annotations

import datetime as dt
import importlib
from io import StringIO
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection

from runs import signature_backfill
from runs.ingest import ingest_runs
from runs.models import Run
from runs.signatures import failure_signature
from tests.factories import ClientFactory, PipelineFactory, RunFactory

pytestmark = pytest.mark.django_db

START = dt.datetime(2026, 3, 2, 2, 10, tzinfo=dt.UTC)
DENIED = "psycopg2.errors.InsufficientPrivilege: permission denied for schema analytics"
DENIED_JDBC = "org.postgresql.util.PSQLException: ERROR: permission denied for schema analytics"


def report(client, run_id, status, *, minutes=0, message="", pipeline="etl"):
    item = {
        "pipeline": pipeline,
        "external_run_id": run_id,
        "status": status,
        "started_at": START.isoformat(),
        "error_message": message,
    }
    if status not in ("queued", "running"):
        item["finished_at"] = (START + dt.timedelta(minutes=5 + minutes)).isoformat()
    return ingest_runs(client=client, items=[item])


@pytest.fixture(params=[True, False], ids=["fast path", "plain path"])
def client(request, settings):
    settings.CHM_INGEST_FAST_PATH = request.param
    client = ClientFactory()
    PipelineFactory(client=client, slug="etl")
    PipelineFactory(client=client, slug="load")
    # A first run each, so that the fast path takes the next ones itself.
    for slug in ("etl", "load"):
        report(client, f"first-{slug}", "success", pipeline=slug)
    return client


def stored(run_id: str) -> str | None:
    return Run.objects.get(external_run_id=run_id).failure_signature


@pytest.mark.django_db(transaction=True)
def test_a_failed_run_is_stored_with_its_messages_signature(client):
    report(client, "a", "failed", message=DENIED)
    report(client, "b", "failed", message=DENIED_JDBC, pipeline="load")
    assert stored("a") == failure_signature(DENIED).digest
    assert stored("a") == stored("b")


@pytest.mark.django_db(transaction=True)
def test_runs_that_did_not_fail_or_say_nothing_have_no_signature(client):
    report(client, "ok", "success", message="warning: 3 rows skipped")
    report(client, "silent", "failed")
    report(client, "going", "running", message="connecting")
    assert stored("ok") is None
    assert stored("silent") is None
    assert stored("going") is None


@pytest.mark.django_db(transaction=True)
def test_a_run_that_fails_later_gains_a_signature_and_loses_it_when_corrected(client):
    report(client, "r", "running")
    report(client, "r", "failed", message=DENIED)
    assert stored("r") == failure_signature(DENIED).digest
    report(client, "r", "success", minutes=30)  # an operator marks it as successful
    assert stored("r") is None


def test_the_migration_gives_stored_failed_runs_their_signature(monkeypatch):
    migration = importlib.import_module("runs.migrations.0018_failure_signatures")
    failed = RunFactory.create_batch(3, status="failed", error_message=DENIED)
    RunFactory(status="failed", error_message="")
    RunFactory(status="success")
    Run.objects.update(failure_signature=None)  # as stored before the column
    monkeypatch.setattr(signature_backfill, "DEFAULT_BATCH_SIZE", 2)  # more than one batch

    migration.backfill_signatures(None, SimpleNamespace(connection=connection))

    signatures = dict(Run.objects.values_list("pk", "failure_signature"))
    assert {signatures[run.pk] for run in failed} == {failure_signature(DENIED).digest}
    assert sum(value is not None for value in signatures.values()) == 3


def test_the_command_fills_missing_signatures_and_recomputes_stale_ones():
    missing = RunFactory(status="failed", error_message=DENIED)
    stale = RunFactory(status="failed", error_message=DENIED_JDBC)
    current = RunFactory(status="failed", error_message=DENIED)
    Run.objects.filter(pk=missing.pk).update(failure_signature=None)
    Run.objects.filter(pk=stale.pk).update(failure_signature="0000000000000000")
    out = StringIO()

    call_command("fill_failure_signatures", batch_size=1, stdout=out)
    assert out.getvalue().strip() == "1 failed runs given their failure signature."
    assert stored_by_pk(missing) == failure_signature(DENIED).digest
    assert stored_by_pk(stale) == "0000000000000000"

    call_command("fill_failure_signatures", recompute=True, stdout=out)
    assert stored_by_pk(stale) == failure_signature(DENIED).digest
    assert stored_by_pk(current) == failure_signature(DENIED).digest


def stored_by_pk(run) -> str | None:
    return Run.objects.get(pk=run.pk).failure_signature


def test_the_database_refuses_a_signature_on_a_run_that_did_not_fail():
    run = RunFactory(status="success")
    with pytest.raises(IntegrityError):
        Run.objects.filter(pk=run.pk).update(failure_signature="0123456789abcdef")


@pytest.mark.django_db(transaction=True)
def test_an_interrupted_migration_resumes_where_it_stopped():
    call_command("migrate", "runs", "0017", verbosity=0)
    with connection.cursor() as cursor:
        # Interrupted after its first step: the column is there, nothing else.
        cursor.execute("ALTER TABLE runs_run ADD COLUMN failure_signature varchar(16) NULL")
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_indexes WHERE tablename = 'runs_run'"
            " AND indexname IN ('run_failed_signature', 'run_failed_recent_incl')"
        )
        assert cursor.fetchone() == (2,)
    run = RunFactory(status="failed", error_message=DENIED)
    assert stored_by_pk(run) == failure_signature(DENIED).digest
