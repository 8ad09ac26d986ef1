"""The daily rollup of run counts and the three dashboard views that read it (v2).

Closed UTC days are counted once per client and platform (runs/rollups.py); triggers on the
runs and pipelines tables delete a day's rollup in the transaction of any write that touches
it; Q1, Q3 and Q8-daily read a day from the rollup when it has one and from the runs
otherwise, so their rows are the same as v1's. The reverse restores v1 of each view (same
columns, so views built on them survive) before dropping the triggers and the tables.
"""

from pathlib import Path

import django.db.models.deletion
from django.db import migrations, models

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


# daily_rollup_invalidation_v1.sql, as one file per object: applied in this order, the same text.
DAILY_ROLLUP_INVALIDATION_V1 = (
    "functions/runs_rollup_lock_key.sql",
    "functions/runs_rollup_refreshable_days.sql",
    "functions/runs_rollup_lock_days_shared_v1.sql",
    "functions/runs_rollup_invalidate_days_v1.sql",
    "functions/runs_run_invalidate_rollup.sql",
    "triggers/runs_run_rollup_after_insert.sql",
    "triggers/runs_run_rollup_after_update.sql",
    "triggers/runs_run_rollup_after_delete.sql",
    "functions/runs_rollup_invalidate_all_v1.sql",
    "functions/runs_run_truncated_invalidate_rollup.sql",
    "triggers/runs_run_rollup_after_truncate.sql",
    "functions/inventory_pipeline_invalidate_rollup.sql",
    "triggers/inventory_pipeline_rollup_after_update.sql",
)


def sql_file(name: str, version: int) -> str:
    return (SQL_DIR / "views" / f"{name}_v{version}.sql").read_text()


INVALIDATION = "".join((SQL_DIR / name).read_text() for name in DAILY_ROLLUP_INVALIDATION_V1)
DROP_INVALIDATION = """
DROP TRIGGER inventory_pipeline_rollup_after_update ON inventory_pipeline;
DROP FUNCTION inventory_pipeline_invalidate_rollup();
DROP TRIGGER runs_run_rollup_after_truncate ON runs_run;
DROP FUNCTION runs_run_truncated_invalidate_rollup();
DROP FUNCTION runs_rollup_invalidate_all();
DROP TRIGGER runs_run_rollup_after_delete ON runs_run;
DROP TRIGGER runs_run_rollup_after_update ON runs_run;
DROP TRIGGER runs_run_rollup_after_insert ON runs_run;
DROP FUNCTION runs_run_invalidate_rollup();
DROP FUNCTION runs_rollup_invalidate_days(date[]);
DROP FUNCTION runs_rollup_lock_days_shared(date[]);
DROP FUNCTION runs_rollup_refreshable_days();
DROP FUNCTION runs_rollup_lock_key(date);
"""


def replace_view(name: str, version: int) -> migrations.RunSQL:
    """v{version} of a view over v{version - 1}; the reverse puts v{version - 1} back."""
    return migrations.RunSQL(
        sql=sql_file(name, version),
        reverse_sql=sql_file(name, version - 1).replace("CREATE VIEW", "CREATE OR REPLACE VIEW", 1),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0001_initial"),
        ("runs", "0007_pipeline_state"),
    ]

    operations = [
        migrations.CreateModel(
            name="RolledUpDay",
            fields=[
                ("day", models.DateField(primary_key=True, serialize=False)),
                ("rolled_up_at", models.DateTimeField()),
            ],
        ),
        migrations.CreateModel(
            name="DailyRunCount",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("day", models.DateField()),
                ("platform", models.CharField(max_length=20)),
                ("runs", models.IntegerField()),
                ("finished_runs", models.IntegerField()),
                ("successes", models.IntegerField()),
                ("failures", models.IntegerField()),
                ("canceled", models.IntegerField()),
                ("skipped", models.IntegerField()),
                (
                    "client",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="inventory.client",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("day", "client", "platform"), name="daily_run_count_unique"
                    )
                ],
            },
        ),
        migrations.RunSQL(sql=INVALIDATION, reverse_sql=DROP_INVALIDATION),
        replace_view("q01_failures_over_time", 2),
        replace_view("q03_client_health", 2),
        replace_view("q08_platform_failure_daily", 2),
    ]
