"""Q5 (what changed) version 2: the same rows and values, computed at about half the cost
(runs/sql/q05_what_changed_v2.sql says where version 1 spent its time).

Both versions have the same columns, so each direction replaces the view in place and the
reporting role keeps its grant on it.
"""

from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent.parent / "sql" / "views"


def replace_view(name: str, version: int) -> str:
    definition = (SQL_DIR / f"{name}_v{version}.sql").read_text()
    # Version 1 was written to create the view; in place, the same text replaces it.
    return definition.replace("CREATE VIEW", "CREATE OR REPLACE VIEW", 1)


class Migration(migrations.Migration):
    dependencies = [
        ("runs", "0008_daily_rollup"),
    ]

    operations = [
        migrations.RunSQL(
            sql=replace_view("q05_what_changed", 2),
            reverse_sql=replace_view("q05_what_changed", 1),
        ),
    ]
