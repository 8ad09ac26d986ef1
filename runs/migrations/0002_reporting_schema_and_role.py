"""The schema `reporting` (the dashboard views) and the read-only role that reads it.

Roles are cluster-wide: several databases on one server (and several deployments migrating
at once) may create the same role, so creation tolerates the role appearing concurrently.
Reversing leaves the role in place, since other databases of the server may use it, and
removes only this database's schema and grants.
"""

from django.conf import settings
from django.db import migrations
from psycopg import sql

SCHEMA = "reporting"


def _execute(schema_editor, statement: sql.Composable) -> None:
    connection = schema_editor.connection
    text = statement.as_string(connection.connection)
    with connection.cursor() as cursor:
        cursor.execute(text)


def create_schema_and_role(apps, schema_editor) -> None:
    role = sql.Identifier(settings.CHM_REPORTING_ROLE)
    schema = sql.Identifier(SCHEMA)
    _execute(schema_editor, sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema))
    # CREATE ROLE has no IF NOT EXISTS; two migrations racing on the same server can both see
    # the role missing, and the loser fails with duplicate_object (or unique_violation on the
    # catalog index), which here means "already there".
    _execute(
        schema_editor,
        sql.SQL(
            "DO $chm$ BEGIN CREATE ROLE {} NOLOGIN; "
            "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $chm$"
        ).format(role),
    )
    if settings.CHM_REPORTING_PASSWORD:
        _execute(
            schema_editor,
            sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(
                role, sql.Literal(settings.CHM_REPORTING_PASSWORD)
            ),
        )
    _execute(schema_editor, sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, role))
    # Views created later in this schema (by the migrating user) are readable at once.
    _execute(
        schema_editor,
        sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT ON TABLES TO {}").format(
            schema, role
        ),
    )


def drop_schema_grants(apps, schema_editor) -> None:
    role = sql.Identifier(settings.CHM_REPORTING_ROLE)
    schema = sql.Identifier(SCHEMA)
    _execute(
        schema_editor,
        sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} REVOKE SELECT ON TABLES FROM {}").format(
            schema, role
        ),
    )
    _execute(schema_editor, sql.SQL("REVOKE ALL ON SCHEMA {} FROM {}").format(schema, role))
    _execute(schema_editor, sql.SQL("DROP SCHEMA {}").format(schema))


class Migration(migrations.Migration):
    dependencies = [
        ("runs", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(create_schema_and_role, drop_schema_grants),
    ]
