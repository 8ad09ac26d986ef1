"""Q7 (flaky ranking) version 3: the same rows and values as version 2, without a subquery
per pipeline to count its runs within 30 days (runs/sql/q07_flaky_ranking_v3.sql).

Both versions have the same columns, so each direction replaces the view in place and the
reporting role keeps its grant on it.
"""

from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent.parent / "sql" / "views"


def view_definition(name: str, version: int) -> str:
    return (SQL_DIR / f"{name}_v{version}.sql").read_text()


class Migration(migrations.Migration):
    dependencies = [
        ("runs", "0013_platform_failure_rates_v2"),
    ]

    operations = [
        migrations.RunSQL(
            sql=view_definition("q07_flaky_ranking", 3),
            reverse_sql=view_definition("q07_flaky_ranking", 2),
        ),
    ]
