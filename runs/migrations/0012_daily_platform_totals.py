"""Per-platform totals in the daily rollup, and Q1 per day (reporting.q01_failures_per_day).

The overview's 30-day chart summed Q1 over clients and platforms: ~87,000 rows, ~40 ms at 10 M
runs. ``runs_dailyplatformcount`` holds the rollup's counts summed over clients (~11 rows a
day), written by the same refresh, under the same marker, and deleted by the same
invalidation (runs/sql/daily_rollup_invalidation_v2.sql) as ``runs_dailyruncount``; the new
view reads a closed day from it and counts any other day from the runs, so its rows are Q1's
sums. Days already rolled up get their totals from their counts here, so the markers stay
true. The reverse restores version 1 of the invalidation functions and drops view and table.
"""

from pathlib import Path

from django.conf import settings
from django.db import migrations, models
from psycopg import sql

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


def sql_file(name: str) -> str:
    return (SQL_DIR / name).read_text()


def function_from(file_name: str, function: str) -> str:
    """One function of a frozen SQL file, as a statement that replaces the current one."""
    text = sql_file(file_name)
    start = text.index(f"CREATE FUNCTION {function}(")
    end = text.index("\n$$;", start) + len("\n$$;")
    return text[start:end].replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


INVALIDATION_V1 = "\n\n".join(
    function_from(f"functions/{name}_v1.sql", name)
    for name in ("runs_rollup_invalidate_days", "runs_rollup_invalidate_all")
)
# daily_rollup_invalidation_v2.sql, as one file per object: applied in this order, the same text.
INVALIDATION_V2 = sql_file("functions/runs_rollup_invalidate_days_v2.sql") + sql_file(
    "functions/runs_rollup_invalidate_all_v2.sql"
)

# The totals of the days rolled up before this migration, from their counts. Writers of runs,
# pipeline moves and refreshes wait for the migration to commit: a day invalidated or rolled up
# meanwhile would otherwise end up with totals and no marker, or a marker and no totals.
FILL_TOTALS = """
LOCK TABLE runs_run, inventory_pipeline, runs_rolledupday IN SHARE MODE;
INSERT INTO runs_dailyplatformcount
    (day, platform, runs, finished_runs, successes, failures, canceled, skipped)
SELECT k.day, k.platform, sum(k.runs), sum(k.finished_runs), sum(k.successes), sum(k.failures),
    sum(k.canceled), sum(k.skipped)
FROM runs_dailyruncount k
WHERE EXISTS (SELECT 1 FROM runs_rolledupday m WHERE m.day = k.day)
GROUP BY k.day, k.platform;
"""


def grant_select(apps, schema_editor) -> None:
    # Default privileges only cover views made by the user who set them (0003).
    connection = schema_editor.connection
    statement = sql.SQL("GRANT SELECT ON reporting.q01_failures_per_day TO {}").format(
        sql.Identifier(settings.CHM_REPORTING_ROLE)
    )
    with connection.cursor() as cursor:
        cursor.execute(statement.as_string(connection.connection))


class Migration(migrations.Migration):
    dependencies = [
        ("runs", "0011_daily_rollup_covering_index"),
    ]

    operations = [
        migrations.CreateModel(
            name="DailyPlatformCount",
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
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("day", "platform"), name="daily_platform_count_unique"
                    )
                ],
            },
        ),
        migrations.RunSQL(sql=INVALIDATION_V2, reverse_sql=INVALIDATION_V1),
        migrations.RunSQL(sql=FILL_TOTALS, reverse_sql=migrations.RunSQL.noop),
        migrations.RunSQL(
            sql=sql_file("views/q01_failures_per_day.sql"),
            reverse_sql="DROP VIEW reporting.q01_failures_per_day",
        ),
        migrations.RunPython(grant_select, migrations.RunPython.noop),
        migrations.CreateModel(
            name="DailyFailureTotals",
            fields=[
                ("row_key", models.TextField(primary_key=True, serialize=False)),
                ("bucket_start", models.DateTimeField()),
                ("runs", models.BigIntegerField()),
                ("finished_runs", models.BigIntegerField()),
                ("successes", models.BigIntegerField()),
                ("failures", models.BigIntegerField()),
                ("canceled", models.BigIntegerField()),
                ("skipped", models.BigIntegerField()),
                ("failure_rate", models.FloatField()),
            ],
            options={
                "db_table": 'reporting"."q01_failures_per_day',
                "abstract": False,
                "managed": False,
            },
        ),
    ]
