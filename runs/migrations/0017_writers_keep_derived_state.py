"""The derived state leaves the run triggers: writers of runs keep it, and the refresh queues.

Until now statement triggers on runs_run recomputed each written pipeline's state from its runs
and deleted the rollup of every day a statement touched, in every writing transaction. Now:

- the pipeline state is written by the writers of runs in their transaction
  (runs/pipeline_state.py: O(1) for events in order), under the state row's lock;
- writers delete the rollup marker of the closed days they change and queue those days
  (runs_rollupqueue); the refresh counts queued days and the days that closed since;
- the what-changed windows get an expiry (changes_expires_at) and two indexes, which make the
  windows to compute a queue instead of a scan;
- deleting pipelines drops the rollup (runs/sql/inventory_pipeline_rollup_after_delete.sql),
  which the runs' delete trigger used to do.

No trigger is left on runs_run, TRUNCATE included: whoever empties the table recomputes what it
invalidates. The reverse restores the triggers and functions as they were and recomputes every
pipeline's state with them.
"""

from pathlib import Path

from django.db import migrations, models

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


def statement_from(file_name: str, head: str) -> str:
    """The statement of a frozen SQL file that starts with ``head``, as a statement that
    creates (or replaces) that object."""
    text = (SQL_DIR / file_name).read_text()
    start = text.index(head)
    if "FUNCTION" in head:
        quote = text[
            text.index("AS $", start) + 3 : text.index("$", text.index("AS $", start) + 4) + 1
        ]
        end = text.index(f"\n{quote};", start) + len(quote) + 2
    else:
        end = text.index(";", start) + 1
    return text[start:end].replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1) + "\n"


DROP_RUN_TRIGGERS = """
DROP TRIGGER runs_run_inserted_state ON runs_run;
DROP TRIGGER runs_run_updated_state ON runs_run;
DROP TRIGGER runs_run_deleted_state ON runs_run;
DROP TRIGGER runs_run_state_after_truncate ON runs_run;
DROP TRIGGER runs_run_rollup_after_truncate ON runs_run;
DROP FUNCTION runs_run_changed();
DROP FUNCTION runs_run_truncated_state();
DROP FUNCTION runs_run_truncated_invalidate_rollup();
DROP FUNCTION runs_refresh_change_windows(bigint[]);
DROP FUNCTION runs_refresh_pipeline_state(bigint[]);
DROP FUNCTION runs_lock_pipeline_states(bigint[]);
DROP FUNCTION runs_rollup_invalidate_days(date[]);
"""

RESTORE_RUN_TRIGGERS = "".join(
    [
        statement_from(
            "functions/runs_rollup_invalidate_days_v2.sql",
            "CREATE OR REPLACE FUNCTION runs_rollup_invalidate_days(",
        ),
        statement_from(
            "functions/runs_lock_pipeline_states.sql",
            "CREATE OR REPLACE FUNCTION runs_lock_pipeline_states(",
        ),
        statement_from(
            "functions/runs_refresh_pipeline_state_v3.sql",
            "CREATE OR REPLACE FUNCTION runs_refresh_pipeline_state(",
        ),
        statement_from(
            "functions/runs_refresh_change_windows.sql",
            "CREATE OR REPLACE FUNCTION runs_refresh_change_windows(",
        ),
        statement_from(
            "functions/runs_run_truncated_state.sql",
            "CREATE OR REPLACE FUNCTION runs_run_truncated_state(",
        ),
        statement_from(
            "triggers/runs_run_state_after_truncate.sql",
            "CREATE TRIGGER runs_run_state_after_truncate",
        ),
        statement_from(
            "functions/runs_run_truncated_invalidate_rollup.sql",
            "CREATE FUNCTION runs_run_truncated_invalidate_rollup(",
        ),
        statement_from(
            "triggers/runs_run_rollup_after_truncate.sql",
            "CREATE TRIGGER runs_run_rollup_after_truncate",
        ),
        statement_from(
            "functions/runs_run_changed_v2.sql", "CREATE OR REPLACE FUNCTION runs_run_changed("
        ),
        statement_from(
            "triggers/runs_run_inserted_state.sql", "CREATE TRIGGER runs_run_inserted_state"
        ),
        statement_from(
            "triggers/runs_run_updated_state.sql", "CREATE TRIGGER runs_run_updated_state"
        ),
        statement_from(
            "triggers/runs_run_deleted_state.sql", "CREATE TRIGGER runs_run_deleted_state"
        ),
        # What the triggers kept: every pipeline's state as they compute it.
        "SELECT runs_refresh_pipeline_state(array_agg(id ORDER BY id)) FROM inventory_pipeline;\n",
    ]
)

PIPELINE_DELETE_TRIGGER = "".join(
    (SQL_DIR / name).read_text()
    for name in (
        "functions/inventory_pipeline_deleted_invalidate_rollup.sql",
        "triggers/inventory_pipeline_rollup_after_delete.sql",
    )
)
DROP_PIPELINE_DELETE_TRIGGER = """
DROP TRIGGER inventory_pipeline_rollup_after_delete ON inventory_pipeline;
DROP FUNCTION inventory_pipeline_deleted_invalidate_rollup();
"""

# The closed days of the horizon without a rollup: the triggers left them to a scan, which the
# refresh no longer makes. And when the windows computed so far expire.
BACKFILL = """
INSERT INTO runs_rollupqueue (day, queued_at)
SELECT g.day::date, statement_timestamp()
FROM generate_series(
    date_trunc('day', statement_timestamp() AT TIME ZONE 'UTC') - interval '365 days',
    date_trunc('day', statement_timestamp() AT TIME ZONE 'UTC') - interval '1 day',
    interval '1 day'
) AS g(day)
WHERE NOT EXISTS (SELECT 1 FROM runs_rolledupday m WHERE m.day = g.day::date);

UPDATE runs_pipelinestate
SET changes_expires_at = LEAST(
    changes_oldest_7d + interval '167 hours', changes_oldest_14d + interval '335 hours'
)
WHERE changes_as_of IS NOT NULL;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0001_initial"),
        ("runs", "0016_triage_failing_index"),
    ]

    operations = [
        migrations.RunSQL(DROP_RUN_TRIGGERS, reverse_sql=RESTORE_RUN_TRIGGERS),
        migrations.RunSQL(PIPELINE_DELETE_TRIGGER, reverse_sql=DROP_PIPELINE_DELETE_TRIGGER),
        migrations.CreateModel(
            name="RollupQueue",
            fields=[
                ("day", models.DateField(primary_key=True, serialize=False)),
                ("queued_at", models.DateTimeField()),
            ],
        ),
        migrations.AddField(
            model_name="pipelinestate",
            name="changes_expires_at",
            field=models.DateTimeField(null=True),
        ),
        migrations.RemoveConstraint(
            model_name="pipelinestate",
            name="pipeline_state_change_window_whole",
        ),
        migrations.AddConstraint(
            model_name="pipelinestate",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(
                        ("changes_as_of__isnull", True),
                        ("changes_expires_at__isnull", True),
                        ("changes_failures_7d__isnull", True),
                        ("changes_failures_prev_7d__isnull", True),
                        ("changes_fortnight_start__isnull", True),
                        ("changes_oldest_14d__isnull", True),
                        ("changes_oldest_7d__isnull", True),
                        ("changes_p95_seconds_7d__isnull", True),
                        ("changes_p95_seconds_prev_7d__isnull", True),
                        ("changes_successes_7d__isnull", True),
                        ("changes_successes_prev_7d__isnull", True),
                        ("changes_week_start__isnull", True),
                    ),
                    models.Q(
                        ("changes_as_of__isnull", False),
                        ("changes_failures_7d__isnull", False),
                        ("changes_failures_prev_7d__isnull", False),
                        ("changes_fortnight_start__isnull", False),
                        ("changes_successes_7d__isnull", False),
                        ("changes_successes_prev_7d__isnull", False),
                        ("changes_week_start__isnull", False),
                    ),
                    _connector="OR",
                ),
                name="pipeline_state_change_window_whole",
            ),
        ),
        migrations.AddIndex(
            model_name="pipelinestate",
            index=models.Index(
                condition=models.Q(("changes_as_of__isnull", True)),
                fields=["pipeline"],
                name="pipeline_state_window_missing",
            ),
        ),
        migrations.AddIndex(
            model_name="pipelinestate",
            index=models.Index(fields=["changes_expires_at"], name="pipeline_state_window_expires"),
        ),
        migrations.RunSQL(BACKFILL, reverse_sql=migrations.RunSQL.noop),
    ]
