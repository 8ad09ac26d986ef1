"""The migrated database holds exactly the views, functions and triggers of
runs/sql/manifest.toml, each defined as its file says: what PostgreSQL reports
(pg_get_viewdef, pg_get_functiondef, pg_get_triggerdef) is the same before and after the file
replaces the object."""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

import pytest
from django.db import connection, transaction

pytestmark = pytest.mark.django_db

SQL_DIR = Path(__file__).resolve().parents[2] / "runs" / "sql"
MANIFEST = tomllib.loads((SQL_DIR / "manifest.toml").read_text())

# What each kind's file creates, and the statement that replaces the object in place instead.
CREATE = {
    "views": ("CREATE VIEW", "CREATE OR REPLACE VIEW"),
    "functions": ("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"),
    "triggers": ("CREATE TRIGGER", "CREATE OR REPLACE TRIGGER"),
}
DEFINITION = {
    "views": "SELECT pg_get_viewdef(%s::regclass)",
    "functions": "SELECT pg_get_functiondef(%s::regproc)",
    "triggers": "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgname = %s",
}
# CHM's objects: the views of schema reporting; functions and triggers outside extensions.
EXISTING = {
    "views": "SELECT 'reporting.' || viewname FROM pg_views WHERE schemaname = 'reporting'",
    "functions": """
        SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' AND NOT EXISTS (
            SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e'
        )""",
    "triggers": "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal",
}


def definition(kind: str, name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(DEFINITION[kind], [name])
        return cursor.fetchone()[0]


def definition_from_file(kind: str, name: str, file_name: str) -> str:
    """The object's definition once ``file_name`` has replaced it (then rolled back)."""
    create, replace = CREATE[kind]
    text = (SQL_DIR / file_name).read_text()
    if replace not in text:
        text = text.replace(create, replace, 1)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(text)
        replaced = definition(kind, name)
        transaction.set_rollback(True)
    return replaced


@pytest.mark.parametrize("kind", CREATE)
def test_the_manifest_names_every_object_of_the_database(kind):
    with connection.cursor() as cursor:
        cursor.execute(EXISTING[kind])
        existing = {row[0] for row in cursor.fetchall()}
    assert existing == set(MANIFEST[kind])


@pytest.mark.parametrize(
    ("kind", "name", "file_name"),
    [(kind, name, file) for kind in CREATE for name, file in MANIFEST[kind].items()],
)
def test_each_object_is_defined_as_its_file_says(kind, name, file_name):
    assert definition_from_file(kind, name, file_name) == definition(kind, name)


def test_an_older_version_of_a_view_is_told_apart():
    name = "reporting.q07_flaky_ranking"
    assert definition_from_file("views", name, "views/q07_flaky_ranking_v2.sql") != definition(
        "views", name
    )


def test_every_file_of_runs_sql_is_current_or_applied_by_a_migration(monkeypatch):
    read = set()
    read_text = Path.read_text

    def reading(path: Path, *args, **kwargs) -> str:
        read.add(path.resolve())
        return read_text(path, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", reading)
    for migration in sorted((SQL_DIR.parent / "migrations").glob("0*.py")):
        importlib.reload(importlib.import_module(f"runs.migrations.{migration.stem}"))
    current = {SQL_DIR / file for kind in CREATE for file in MANIFEST[kind].values()}
    assert set(SQL_DIR.rglob("*.sql")) - read - current == set()
