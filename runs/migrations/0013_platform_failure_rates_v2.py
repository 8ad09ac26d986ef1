"""Q8 platform failure rates version 2: the same rows and values, reading a window's whole
closed days from the daily rollup's per-platform totals instead of counting every run of the
window (runs/sql/q08_platform_failure_rates_v2.sql). At 10 M runs, 7 days took ~40 ms and 30
days ~140 ms; v2 takes ~10 and ~12 ms.

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
        ("runs", "0012_daily_platform_totals"),
    ]

    operations = [
        migrations.RunSQL(
            sql=replace_view("q08_platform_failure_rates", 2),
            reverse_sql=replace_view("q08_platform_failure_rates", 1),
        ),
    ]
