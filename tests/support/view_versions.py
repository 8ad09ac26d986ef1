"""Compare a reporting view with an earlier version of itself, from its frozen SQL file.

A later version of a view must answer exactly as the one it replaced: the tests install the
earlier file as a temporary view beside the installed one and ask for the rows either has
and the other lacks, in one statement (so both read the same clock).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from django.db import connection
from psycopg import sql

SQL_DIR = Path(__file__).resolve().parents[2] / "runs" / "sql" / "views"

# Temporary views last as long as the connection, which outlives a transactional test: what
# install_temporary_version created, for drop_temporary_versions (tests/conftest.py, after
# every test).
_installed: set[str] = set()


def install_temporary_version(
    name: str,
    version: int,
    *,
    clock: dt.datetime | None = None,
    replacing: dict[str, str] | None = None,
) -> str:
    """Version ``version`` of ``reporting.<name>`` (file ``<name>_v<version>.sql``, or
    ``<name>.sql`` for a first version without a number) as the temporary view ``<name>_v<version>``
    (replaced if the session has one already); answers its name. With ``clock``, the view
    reads it as the time of the statement (runs placed exactly on a window's edge).
    ``replacing`` rewrites parts of the old text that read tables no longer there (each part
    must be found)."""
    temporary = f"{name}_v{version}"
    path = SQL_DIR / f"{temporary}.sql"
    if version == 1 and not path.exists():  # a view's first file may carry no version
        path = SQL_DIR / f"{name}.sql"
    definition = path.read_text()
    statement = next(
        (
            f"{verb} reporting.{name} "
            for verb in ("CREATE VIEW", "CREATE OR REPLACE VIEW")
            if f"{verb} reporting.{name} " in definition
        ),
        None,
    )
    assert statement, f"{temporary}.sql no longer creates reporting.{name}"
    definition = definition.replace(statement, f"CREATE OR REPLACE TEMPORARY VIEW {temporary} ", 1)
    with connection.cursor() as cursor:
        if clock is not None:
            literal = sql.Literal(clock).as_string(cursor.connection) + "::timestamptz"
            definition = definition.replace("statement_timestamp()", literal)
        for old, new in (replacing or {}).items():
            assert old in definition, f"{temporary}.sql has no {old!r}"
            definition = definition.replace(old, new)
        cursor.execute(definition)
    _installed.add(temporary)
    return temporary


def install_temporary_columns(name: str, columns: list[str]) -> str:
    """``reporting.<name>`` narrowed to ``columns`` as the temporary view ``<name>_columns``:
    to compare a view that gained columns with a version that lacks them."""
    temporary = f"{name}_columns"
    statement = sql.SQL("CREATE OR REPLACE TEMPORARY VIEW {} AS SELECT {} FROM {}").format(
        sql.Identifier(temporary),
        sql.SQL(", ").join(sql.Identifier(column) for column in columns),
        sql.Identifier("reporting", name),
    )
    with connection.cursor() as cursor:
        cursor.execute(statement.as_string(cursor.connection))
    _installed.add(temporary)
    return temporary


def drop_temporary_versions() -> None:
    """Drop the temporary views installed since the last call (none: no query), with the
    temporary views a test built on them (only temporary views can depend on one)."""
    if not _installed:
        return
    names = sql.SQL(", ").join(sql.Identifier("pg_temp", name) for name in sorted(_installed))
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("DROP VIEW IF EXISTS {} CASCADE").format(names).as_string(cursor.connection)
        )
    _installed.clear()


def view_definition(name: str) -> str:
    """The view ``name`` as PostgreSQL stores it (pg_get_viewdef), to tell which version a
    migration left in place."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_viewdef(%s::regclass)", [name])
        return cursor.fetchone()[0]


def differences(left: str, right: str) -> list[tuple]:
    """Rows of the view ``left`` missing from ``right`` and the other way round, duplicates
    included; each row is tagged with the view it is only in. Names may be schema-qualified."""
    first, second = (sql.Identifier(*name.split(".")) for name in (left, right))
    query = sql.SQL(
        "(SELECT {left_tag}, * FROM {first} EXCEPT ALL SELECT {left_tag}, * FROM {second})"
        " UNION ALL"
        " (SELECT {right_tag}, * FROM {second} EXCEPT ALL SELECT {right_tag}, * FROM {first})"
    ).format(
        first=first,
        second=second,
        left_tag=sql.Literal(f"only in {left}"),
        right_tag=sql.Literal(f"only in {right}"),
    )
    with connection.cursor() as cursor:
        cursor.execute(query.as_string(cursor.connection))
        return cursor.fetchall()
