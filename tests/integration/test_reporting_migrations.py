"""The reporting schema's migrations: reversible, and its role reads the views and nothing else."""

from __future__ import annotations

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
    "table", ["runs_run", "inventory_client", "inventory_pipeline", "alerts_alertrule"]
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
