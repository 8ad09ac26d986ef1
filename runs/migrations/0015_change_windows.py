"""Q5 (what changed) version 3: each pipeline's what-changed window kept in its state row.

The pipeline state gains the window's columns (all NULL until computed);
runs/sql/change_windows_v1.sql adds the functions that compute a window and say whether it is
still current, a version of the state's recomputation that clears the window whenever the
pipeline's runs change, and a trigger that empties the state when the runs table is
truncated. The view then reads a current window instead of counting the pipeline's runs
(runs/sql/q05_what_changed_v3.sql). Windows are first computed by `manage.py refresh_rollups`;
until then the view counts runs, as version 2 did. The reverse restores version 2 of the view
and of the state's recomputation.
"""

from pathlib import Path

from django.conf import settings
from django.db import migrations, models
from psycopg import sql

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


def function_from(file_name: str, function: str) -> str:
    """One CREATE OR REPLACE FUNCTION statement of an SQL file, up to the next statement."""
    text = (SQL_DIR / file_name).read_text()
    start = text.index(f"CREATE OR REPLACE FUNCTION {function}(")
    end = text.index("$function$;", start) + len("$function$;")
    return text[start:end] + "\n"


# change_windows_v1.sql, as one file per object: applied in this order, the same text.
CHANGE_WINDOWS_V1 = (
    "functions/runs_lock_pipeline_states.sql",
    "functions/runs_refresh_pipeline_state_v3.sql",
    "functions/runs_change_window.sql",
    "functions/runs_change_window_is_current.sql",
    "functions/runs_refresh_change_windows.sql",
    "functions/runs_run_truncated_state.sql",
    "triggers/runs_run_state_after_truncate.sql",
)

CURRENT_CHECK = (
    "runs_change_window_is_current("
    "timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz)"
)


def grant_execute(apps, schema_editor) -> None:
    """The view calls the check as its reader: the reporting role may run it (it reads no
    table) whether or not PUBLIC keeps its default EXECUTE on functions."""
    connection = schema_editor.connection
    statement = sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(
        sql.SQL(CURRENT_CHECK), sql.Identifier(settings.CHM_REPORTING_ROLE)
    )
    with connection.cursor() as cursor:
        cursor.execute(statement.as_string(connection.connection))


DROP_CHANGE_WINDOW_FUNCTIONS = f"""
DROP TRIGGER runs_run_state_after_truncate ON runs_run;
DROP FUNCTION runs_run_truncated_state();
DROP FUNCTION runs_refresh_change_windows(bigint[]);
DROP FUNCTION {CURRENT_CHECK};
DROP FUNCTION runs_change_window(bigint, timestamptz);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0001_initial"),
        ("runs", "0014_flaky_ranking_v3"),
    ]

    operations = [
        migrations.AddField(
            model_name="pipelinestate",
            name="changes_as_of",
            field=models.DateTimeField(null=True),
        ),
        migrations.AddField(
            model_name="pipelinestate",
            name="changes_failures_7d",
            field=models.BigIntegerField(null=True),
        ),
        migrations.AddField(
            model_name="pipelinestate",
            name="changes_failures_prev_7d",
            field=models.BigIntegerField(null=True),
        ),
        migrations.AddField(
            model_name="pipelinestate",
            name="changes_fortnight_start",
            field=models.DateTimeField(null=True),
        ),
        migrations.AddField(
            model_name="pipelinestate",
            name="changes_oldest_14d",
            field=models.DateTimeField(null=True),
        ),
        migrations.AddField(
            model_name="pipelinestate",
            name="changes_oldest_7d",
            field=models.DateTimeField(null=True),
        ),
        migrations.AddField(
            model_name="pipelinestate",
            name="changes_p95_seconds_7d",
            field=models.FloatField(null=True),
        ),
        migrations.AddField(
            model_name="pipelinestate",
            name="changes_p95_seconds_prev_7d",
            field=models.FloatField(null=True),
        ),
        migrations.AddField(
            model_name="pipelinestate",
            name="changes_successes_7d",
            field=models.BigIntegerField(null=True),
        ),
        migrations.AddField(
            model_name="pipelinestate",
            name="changes_successes_prev_7d",
            field=models.BigIntegerField(null=True),
        ),
        migrations.AddField(
            model_name="pipelinestate",
            name="changes_week_start",
            field=models.DateTimeField(null=True),
        ),
        migrations.AddConstraint(
            model_name="pipelinestate",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(
                        ("changes_as_of__isnull", True),
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
        migrations.RunSQL(
            sql="".join((SQL_DIR / name).read_text() for name in CHANGE_WINDOWS_V1),
            reverse_sql=DROP_CHANGE_WINDOW_FUNCTIONS
            + function_from(
                "functions/runs_refresh_pipeline_state_v2.sql", "runs_refresh_pipeline_state"
            )
            + "DROP FUNCTION runs_lock_pipeline_states(bigint[]);\n",
        ),
        # Dropped with the function by the reverse above.
        migrations.RunPython(grant_execute, migrations.RunPython.noop),
        migrations.RunSQL(
            sql=(SQL_DIR / "views" / "q05_what_changed_v3.sql").read_text(),
            reverse_sql=(SQL_DIR / "views" / "q05_what_changed_v2.sql").read_text(),
        ),
    ]
