"""Q11 incident views, version 2: the same rows and values as version 1, for less work per read
(runs/sql/views/q11_incident_pipelines_v2.sql, q11_incidents_v2.sql).

The recent failed runs are read through one partial index that holds all the grouping needs:
``run_failed_recent_incl`` replaces ``run_failed_started_incl`` with the run id included beside
the pipeline and the signature (the grouping orders failures by start and id), so that the
views read them with an index-only scan. The new index is built first, then the views are replaced in place (same columns:
the reporting role keeps its grants), then the old index is dropped. Both index steps run
CONCURRENTLY, so writers carry on meanwhile, and the migration is not atomic; as in 0018, a
build interrupted halfway leaves an invalid index that ``IF NOT EXISTS`` skips: drop it
(``DROP INDEX CONCURRENTLY run_failed_recent_incl``) and migrate again.
"""

from pathlib import Path

from django.db import migrations, models
from django.db.models import F, Q

SQL_DIR = Path(__file__).resolve().parent.parent / "sql" / "views"

CREATE_RECENT_INDEX = """
CREATE INDEX CONCURRENTLY IF NOT EXISTS run_failed_recent_incl ON runs_run (started_at)
    INCLUDE (id, pipeline_id, failure_signature) WHERE status = 'failed'
"""
CREATE_STARTED_INDEX = """
CREATE INDEX CONCURRENTLY IF NOT EXISTS run_failed_started_incl ON runs_run (started_at)
    INCLUDE (pipeline_id, failure_signature) WHERE status = 'failed'
"""


def version_1(name: str) -> str:
    """Version 1 as it replaces version 2 in place (its file creates the view afresh)."""
    return (SQL_DIR / f"{name}.sql").read_text().replace("CREATE VIEW", "CREATE OR REPLACE VIEW")


def version_2(name: str) -> str:
    return (SQL_DIR / f"{name}_v2.sql").read_text()


class Migration(migrations.Migration):
    # CREATE and DROP INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [
        ("runs", "0019_incidents_and_error_signatures"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    CREATE_RECENT_INDEX,
                    reverse_sql="DROP INDEX CONCURRENTLY IF EXISTS run_failed_recent_incl",
                ),
            ],
            state_operations=[
                migrations.AddIndex(
                    model_name="run",
                    index=models.Index(
                        F("started_at"),
                        name="run_failed_recent_incl",
                        condition=Q(status="failed"),
                        include=["id", "pipeline", "failure_signature"],
                    ),
                ),
            ],
        ),
        migrations.RunSQL(
            version_2("q11_incident_pipelines"),
            reverse_sql=version_1("q11_incident_pipelines"),
        ),
        migrations.RunSQL(version_2("q11_incidents"), reverse_sql=version_1("q11_incidents")),
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    "DROP INDEX CONCURRENTLY IF EXISTS run_failed_started_incl",
                    reverse_sql=CREATE_STARTED_INDEX,
                ),
            ],
            state_operations=[
                migrations.RemoveIndex(model_name="run", name="run_failed_started_incl"),
            ],
        ),
    ]
