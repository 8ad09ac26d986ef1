"""The reporting schema's migrations: reversible, and its role reads the views and nothing else."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from psycopg import sql

from runs.models import RunStatus
from tests.factories import RunFactory

pytestmark = pytest.mark.django_db


def reporting_views() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.views WHERE table_schema = 'reporting'"
        )
        return sorted(name for (name,) in cursor.fetchall())


def select_as_reporting_role(query: str) -> list[tuple]:
    role = sql.Identifier(settings.CHM_REPORTING_ROLE).as_string(connection.connection)
    with transaction.atomic(), connection.cursor() as cursor:
        # SET LOCAL ROLE ends with this savepoint's transaction, so the test's own
        # connection is back to its superuser afterwards even when the query fails.
        cursor.execute(f"SET LOCAL ROLE {role}")
        cursor.execute(query)
        return cursor.fetchall()


def test_reporting_role_reads_the_views():
    run = RunFactory(status=RunStatus.FAILED)
    assert select_as_reporting_role(
        "SELECT pipeline_id, last_status FROM reporting.q02_pipeline_latest_status"
    ) == [(run.pipeline_id, "failed")]


@pytest.mark.parametrize(
    "table",
    [
        "runs_run",
        "inventory_client",
        "inventory_pipeline",
        "alerts_alertrule",
        "alerts_alertstate",
        "alerts_notification",
    ],
)
def test_reporting_role_cannot_read_the_tables(table):
    with pytest.raises(DatabaseError, match="permission denied"):
        select_as_reporting_role(f"SELECT count(*) FROM public.{table}")  # noqa: S608


@pytest.mark.django_db(transaction=True)
def test_runs_migrations_reverse_to_zero_and_apply_again():
    assert len(reporting_views()) == 16
    call_command("migrate", "runs", "zero", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_namespace WHERE nspname = 'reporting'")
        assert cursor.fetchone() == (0,)
    call_command("migrate", verbosity=0)
    assert len(reporting_views()) == 16
    RunFactory(status=RunStatus.SUCCESS)
    assert select_as_reporting_role(
        "SELECT count(*) FROM reporting.q02_pipeline_latest_status"
    ) == [(1,)]


def test_the_database_runs_dashboard_queries_without_jit_compilation():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.setconfig FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase"
            " WHERE d.datname = current_database() AND s.setrole = 0"
        )
        assert "jit=off" in cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_the_json_alert_state_moves_into_the_tables_and_back():
    from alerts.models import AlertEvent, AlertState, Notification
    from tests.factories import PipelineFactory

    pipeline = PipelineFactory()
    RunFactory(pipeline=pipeline, status=RunStatus.FAILED)
    call_command("migrate", "alerts", "0004", verbosity=0)
    firing = {
        str(pipeline.pk): {
            "since": "2026-11-30T06:00:00+00:00",
            "summary": "the last 2 finished runs failed",
            "run_ids": [],
            "pipeline": str(pipeline),
        }
    }
    pending = [
        {
            "id": "n1",
            "state": "firing",
            "pipeline_id": pipeline.pk,
            "queued_at": "2026-11-30T06:00:00+00:00",
            "attempts": 2,
            "lease_until": None,
            "last_error": "webhook answered HTTP 500",
            "payload": {"notification_id": "n1", "state": "firing"},
        }
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO alerts_alertrule (client_id, pipeline_id, name, kind, threshold,"
            " severity, channel, target, is_enabled, firing, state_version, last_notification,"
            " pending_notifications, last_delivery_error, created_at, updated_at)"
            " VALUES (%s, %s, 'old rule', 'consecutive_failures', 2, 'warning', 'email',"
            " 'oncall@example.com', true, %s, 4, '{}', %s, '', now(), now())",
            [pipeline.client_id, pipeline.pk, json.dumps(firing), json.dumps(pending)],
        )
    call_command("migrate", verbosity=0)

    alert = AlertState.objects.get()
    assert (alert.pipeline_id, alert.subject_key) == (pipeline.pk, f"pipeline:{pipeline.pk}")
    assert alert.fired_at.isoformat() == "2026-11-30T06:00:00+00:00" and alert.is_open
    assert AlertEvent.objects.get().kind == "fired"
    waiting = Notification.objects.get()
    assert (waiting.status, waiting.attempts) == ("pending", 2)
    assert waiting.error == "webhook answered HTTP 500"
    assert select_as_reporting_role(
        "SELECT pipeline_id, firing_rules, acknowledged_rules FROM reporting.q06_triage"
    ) == [(pipeline.pk, 1, 0)]

    call_command("migrate", "alerts", "0004", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT firing, pending_notifications FROM alerts_alertrule")
        # Django leaves jsonb as text.
        [(back, queued)] = [tuple(map(json.loads, row)) for row in cursor.fetchall()]
    assert back[str(pipeline.pk)]["since"] == "2026-11-30T06:00:00+00:00"
    assert [item["id"] for item in queued] == ["n1"]
    # Q6 version 2 again, still readable by the reporting role.
    assert select_as_reporting_role(
        "SELECT pipeline_id, firing_rules FROM reporting.q06_triage"
    ) == [(pipeline.pk, 1)]
    call_command("migrate", verbosity=0)
