"""One trigger call per statement on runs_run for both derived tables, and cheaper locking.

A single-run upsert paid more in the triggers that keep the pipeline state (0007) and
invalidate the daily rollup (0008) than in writing the run: four PL/pgSQL calls per upsert
statement, three statements to recompute one pipeline's state and a row written only to lock
it. runs/sql/run_triggers_v2.sql keeps what they compute and changes how. The reverse
re-creates the version 1 functions and triggers from their files.
"""

from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"

# run_triggers_v2.sql, as one file per object and the statements that followed them: applied
# in this order, the same text.
RUN_TRIGGERS_V2 = (
    "functions/runs_refresh_pipeline_state_v2.sql",
    "functions/runs_rollup_lock_days_shared_v2.sql",
    "functions/runs_run_changed_v2.sql",
)
DROP_ROLLUP_ROW_TRIGGERS = """DROP TRIGGER runs_run_rollup_after_insert ON runs_run;
DROP TRIGGER runs_run_rollup_after_update ON runs_run;
DROP TRIGGER runs_run_rollup_after_delete ON runs_run;
DROP FUNCTION runs_run_invalidate_rollup();
"""
# pipeline_state_v1.sql, as one file per object: applied in this order, the same text.
PIPELINE_STATE_V1 = (
    "functions/runs_refresh_pipeline_state_v1.sql",
    "functions/runs_run_changed_v1.sql",
    "triggers/runs_run_inserted_state.sql",
    "triggers/runs_run_updated_state.sql",
    "triggers/runs_run_deleted_state.sql",
)
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


def sql_files(names: tuple[str, ...]) -> str:
    return "".join((SQL_DIR / name).read_text() for name in names)


def recreated(names: tuple[str, ...]) -> str:
    """Version 1 files whose functions and triggers replace whatever exists."""
    text = sql_files(names)
    return text.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION").replace(
        "CREATE TRIGGER", "CREATE OR REPLACE TRIGGER"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("runs", "0009_what_changed_v2"),
    ]

    operations = [
        migrations.RunSQL(
            sql=sql_files(RUN_TRIGGERS_V2) + DROP_ROLLUP_ROW_TRIGGERS,
            reverse_sql=recreated(PIPELINE_STATE_V1) + recreated(DAILY_ROLLUP_INVALIDATION_V1),
        ),
    ]
