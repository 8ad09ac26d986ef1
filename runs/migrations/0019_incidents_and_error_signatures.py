"""Q11 incidents and error signatures (docs/dashboards.md): failures that share a cause across
pipelines grouped into incidents (reporting.q11_incident_pipelines, reporting.q11_incidents),
and every failure signature of the last 30 days ranked (reporting.q11_error_signatures).

They read the failed runs of a bounded recent window through the partial indexes of 0018, and
are read through the unmanaged models Incident, IncidentPipeline and ErrorSignature.
"""

from pathlib import Path

from django.conf import settings
from django.db import migrations, models
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
        # The unmanaged models that read them (runs/reporting.py): no SQL of their own.
        migrations.CreateModel(
            name="ErrorSignature",
            fields=[
                ("failure_signature", models.TextField(primary_key=True, serialize=False)),
                ("failures_7d", models.BigIntegerField()),
                ("failures_30d", models.BigIntegerField()),
                ("pipelines_7d", models.BigIntegerField()),
                ("pipelines_30d", models.BigIntegerField()),
                ("clients_30d", models.BigIntegerField()),
                ("first_seen", models.DateTimeField()),
                ("last_seen", models.DateTimeField()),
                ("example_run_id", models.BigIntegerField()),
                ("example_error", models.TextField()),
            ],
            options={
                "db_table": 'reporting"."q11_error_signatures',
                "abstract": False,
                "managed": False,
            },
        ),
        migrations.CreateModel(
            name="Incident",
            fields=[
                ("incident_key", models.TextField(primary_key=True, serialize=False)),
                ("kind", models.TextField()),
                ("failure_signature", models.TextField(null=True)),
                ("platform", models.TextField(null=True)),
                ("platforms", models.TextField()),
                ("pipelines", models.BigIntegerField()),
                ("clients", models.BigIntegerField()),
                ("failures", models.BigIntegerField()),
                ("open_pipelines", models.BigIntegerField()),
                ("first_seen", models.DateTimeField()),
                ("last_seen", models.DateTimeField()),
                ("state", models.TextField()),
                ("example_run_id", models.BigIntegerField()),
                ("example_error", models.TextField()),
            ],
            options={
                "db_table": 'reporting"."q11_incidents',
                "abstract": False,
                "managed": False,
            },
        ),
        migrations.CreateModel(
            name="IncidentPipeline",
            fields=[
                ("row_key", models.TextField(primary_key=True, serialize=False)),
                ("incident_key", models.TextField()),
                ("kind", models.TextField()),
                ("failure_signature", models.TextField(null=True)),
                ("pipeline_id", models.BigIntegerField()),
                ("pipeline_slug", models.TextField()),
                ("pipeline_name", models.TextField()),
                ("client_id", models.BigIntegerField()),
                ("client_slug", models.TextField()),
                ("client_name", models.TextField()),
                ("platform", models.TextField()),
                ("owner", models.TextField()),
                ("failures", models.BigIntegerField()),
                ("first_failed_at", models.DateTimeField()),
                ("last_failed_at", models.DateTimeField()),
                ("last_run_id", models.BigIntegerField()),
                ("last_error", models.TextField()),
                ("recovered_at", models.DateTimeField(null=True)),
                ("is_open", models.BooleanField()),
            ],
            options={
                "db_table": 'reporting"."q11_incident_pipelines',
                "abstract": False,
                "managed": False,
            },
        ),
    ]
