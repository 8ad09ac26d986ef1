"""Per-pipeline run state kept by triggers, and the views that read it instead of the runs.

Q2, Q6 and Q7 looked up every pipeline's latest runs in the runs table: 4–5 index lookups per
pipeline, whose pages stop fitting in memory as history grows. runs_pipelinestate holds the
same facts, recomputed by triggers on runs_run in the transaction that writes the runs
(runs/sql/pipeline_state_v1.sql); the v2 views read one row per pipeline and return exactly
what v1 returned. Q3 and Q9 read Q2, so they follow. The reverse restores the v1 views.
"""

from pathlib import Path

import django.contrib.postgres.fields
import django.db.models.deletion
from django.db import migrations, models

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
VIEWS = ("q02_pipeline_latest_status", "q06_triage", "q07_flaky_ranking")
# pipeline_state_v1.sql, as one file per object: applied in this order, the same text.
PIPELINE_STATE_V1 = (
    "functions/runs_refresh_pipeline_state_v1.sql",
    "functions/runs_run_changed_v1.sql",
    "triggers/runs_run_inserted_state.sql",
    "triggers/runs_run_updated_state.sql",
    "triggers/runs_run_deleted_state.sql",
)

DROP_STATE_TRIGGERS = """
DROP TRIGGER runs_run_inserted_state ON runs_run;
DROP TRIGGER runs_run_updated_state ON runs_run;
DROP TRIGGER runs_run_deleted_state ON runs_run;
DROP FUNCTION runs_run_changed();
DROP FUNCTION runs_refresh_pipeline_state(bigint[]);
"""

# Every pipeline that has runs, in one statement (a few seconds for 10,000 pipelines and
# 10 M runs); the triggers exist already, and this transaction holds them until it commits.
BACKFILL = "SELECT runs_refresh_pipeline_state(array_agg(id ORDER BY id)) FROM inventory_pipeline"


def sql_files(names: tuple[str, ...]) -> str:
    return "".join((SQL_DIR / name).read_text() for name in names)


def replace_view(name: str, version: int) -> str:
    """A view's SQL file as CREATE OR REPLACE: views reading it (Q3, Q9) stay in place."""
    text = (SQL_DIR / "views" / f"{name}_v{version}.sql").read_text()
    return text.replace("CREATE VIEW", "CREATE OR REPLACE VIEW", 1)


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0001_initial"),
        ("runs", "0006_database_without_jit"),
    ]

    operations = [
        migrations.CreateModel(
            name="PipelineState",
            fields=[
                (
                    "pipeline",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="run_state",
                        serialize=False,
                        to="inventory.pipeline",
                    ),
                ),
                ("last_run_id", models.BigIntegerField(null=True)),
                ("last_external_run_id", models.CharField(max_length=255, null=True)),
                ("last_status", models.CharField(max_length=16, null=True)),
                ("last_started_at", models.DateTimeField(null=True)),
                ("last_finished_at", models.DateTimeField(null=True)),
                ("last_duration", models.DurationField(null=True)),
                ("last_outcome_id", models.BigIntegerField(null=True)),
                ("last_outcome_status", models.CharField(max_length=16, null=True)),
                ("last_outcome_started_at", models.DateTimeField(null=True)),
                ("last_outcome_error", models.TextField(null=True)),
                ("last_success_id", models.BigIntegerField(null=True)),
                ("last_success_started_at", models.DateTimeField(null=True)),
                ("last_success_finished_at", models.DateTimeField(null=True)),
                ("last_failure_finished_at", models.DateTimeField(null=True)),
                ("last_failure_error", models.TextField(null=True)),
                ("consecutive_failures", models.BigIntegerField(default=0)),
                ("failing_since", models.DateTimeField(null=True)),
                (
                    "recent_started_at",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.DateTimeField(), null=True, size=None
                    ),
                ),
                (
                    "recent_failures",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.IntegerField(), null=True, size=None
                    ),
                ),
                (
                    "recent_flips",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.IntegerField(), null=True, size=None
                    ),
                ),
                ("recent_newest_flip", models.IntegerField(null=True)),
                ("refreshed_at", models.DateTimeField()),
            ],
        ),
        migrations.RunSQL(sql=sql_files(PIPELINE_STATE_V1), reverse_sql=DROP_STATE_TRIGGERS),
        migrations.RunSQL(sql=BACKFILL, reverse_sql=migrations.RunSQL.noop),
        *(
            migrations.RunSQL(sql=replace_view(name, 2), reverse_sql=replace_view(name, 1))
            for name in VIEWS
        ),
    ]
