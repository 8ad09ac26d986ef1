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


def recreated(name: str) -> str:
    """A version 1 file whose functions and triggers replace whatever exists."""
    text = (SQL_DIR / name).read_text()
    return text.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION").replace(
        "CREATE TRIGGER", "CREATE OR REPLACE TRIGGER"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("runs", "0009_what_changed_v2"),
    ]

    operations = [
        migrations.RunSQL(
            sql=(SQL_DIR / "run_triggers_v2.sql").read_text(),
            reverse_sql=recreated("pipeline_state_v1.sql")
            + recreated("daily_rollup_invalidation_v1.sql"),
        ),
    ]
