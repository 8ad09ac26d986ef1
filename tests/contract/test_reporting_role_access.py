"""What Grafana and Metabase can do through the read-only reporting role: read every
`reporting` view, and nothing else — no base table read, no write anywhere, no new objects."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from psycopg import sql

from dashboards.catalog import CLIENT_VARIABLE_SQL, DASHBOARDS, metabase_sql
from tests.factories import AlertRuleFactory, RunFactory

pytestmark = pytest.mark.django_db


def as_reporting_role(statement: sql.Composable | str) -> list[tuple]:
    role = sql.Identifier(settings.CHM_REPORTING_ROLE)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql.SQL("SET LOCAL ROLE {}").format(role).as_string(connection.connection))
        if not isinstance(statement, str):
            statement = statement.as_string(connection.connection)
        cursor.execute(statement)
        return cursor.fetchall() if cursor.description else []


def _names(query: str, params: tuple = ()) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return [name for (name,) in cursor.fetchall()]


def reporting_views() -> list[str]:
    return _names(
        "SELECT table_name FROM information_schema.views WHERE table_schema = 'reporting' "
        "ORDER BY 1"
    )


def base_tables() -> list[str]:
    return _names(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1"
    )


def test_the_role_reads_every_reporting_view():
    RunFactory()
    AlertRuleFactory()
    views = reporting_views()
    assert len(views) >= 10
    for view in views:
        as_reporting_role(
            sql.SQL("SELECT * FROM {}.{} LIMIT 5").format(
                sql.Identifier("reporting"), sql.Identifier(view)
            )
        )


def test_the_role_reads_what_changed_without_publics_execute_privilege():
    # Q5 calls a function as its reader; the role holds EXECUTE on it itself.
    with connection.cursor() as cursor:
        cursor.execute(
            "REVOKE EXECUTE ON FUNCTION runs_change_window_is_current("
            "timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz)"
            " FROM PUBLIC"
        )
    RunFactory()
    assert as_reporting_role("SELECT count(*) FROM reporting.q05_what_changed") == [(1,)]


def test_every_view_the_dashboards_read_exists():
    queries = [CLIENT_VARIABLE_SQL] + [
        metabase_sql(panel) for dashboard in DASHBOARDS for panel in dashboard.panels
    ]
    used = {name for q in queries for name in re.findall(r"reporting\.(\w+)", q)}
    assert used <= set(reporting_views())
    # Every question has its view on a dashboard.
    assert {name[:3] for name in used} == {f"q{n:02d}" for n in range(1, 12)}


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM {} LIMIT 1",
        "DELETE FROM {}",
        "UPDATE {} SET {column} = {column}",
        "INSERT INTO {} DEFAULT VALUES",
    ],
)
def test_the_role_can_neither_read_nor_write_any_base_table(statement):
    RunFactory()
    tables = base_tables()
    assert {"runs_run", "inventory_client", "inventory_pipeline", "alerts_alertrule"} <= set(tables)
    allowed = []
    for table in tables:
        try:
            column = _names(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = 'public' AND table_name = %s AND ordinal_position = 1",
                (table,),
            )[0]
            as_reporting_role(
                sql.SQL(statement).format(
                    sql.Identifier("public", table), column=sql.Identifier(column)
                )
            )
        except DatabaseError as exc:
            assert "permission denied" in str(exc)
        else:
            allowed.append(table)
    assert allowed == []


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TABLE reporting.scratch (id int)",
        "CREATE VIEW reporting.scratch AS SELECT 1 AS one",
        "CREATE TABLE public.scratch (id int)",
        "DROP VIEW reporting.q06_triage",
    ],
)
def test_the_role_cannot_create_or_drop_objects(statement):
    with pytest.raises(DatabaseError, match="permission denied|must be owner"):
        as_reporting_role(statement)
