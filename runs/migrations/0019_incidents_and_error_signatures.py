"""Q11 incidents and error signatures (docs/dashboards.md): failures that share a cause across
pipelines grouped into incidents (reporting.q11_incident_pipelines, reporting.q11_incidents),
and every failure signature of the last 30 days ranked (reporting.q11_error_signatures).

They read the failed runs of a bounded recent window through the partial indexes of 0018.
"""

from pathlib import Path

from django.conf import settings
from django.db import migrations
from psycopg import sql

SQL_DIR = Path(__file__).resolve().parent.parent / "sql" / "views"
VIEWS = ("q11_incident_pipelines", "q11_incidents", "q11_error_signatures")


def view(name: str) -> migrations.RunSQL:
    return migrations.RunSQL(
        sql=(SQL_DIR / f"{name}.sql").read_text(),
        reverse_sql=f"DROP VIEW reporting.{name}",
    )


def grant_select(apps, schema_editor) -> None:
    # Default privileges only cover views made by the user who set them (0003).
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        for name in VIEWS:
            statement = sql.SQL("GRANT SELECT ON {} TO {}").format(
                sql.Identifier("reporting", name), sql.Identifier(settings.CHM_REPORTING_ROLE)
            )
            cursor.execute(statement.as_string(connection.connection))


class Migration(migrations.Migration):
    dependencies = [
        ("runs", "0018_failure_signatures"),
    ]

    operations = [
        *(view(name) for name in VIEWS),
        migrations.RunPython(grant_select, migrations.RunPython.noop),
    ]
