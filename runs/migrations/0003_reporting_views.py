"""The Q1–Q10 dashboard views (docs/dashboards.md), one versioned SQL file each.

The files under runs/sql/ are frozen once they land: a changed view is a new file (_v2) and
a new migration whose reverse re-creates the previous version from its file.
"""

from pathlib import Path

from django.conf import settings
from django.db import migrations
from psycopg import sql

SQL_DIR = Path(__file__).resolve().parent.parent / "sql" / "views"


def view(name: str, file_name: str) -> migrations.RunSQL:
    return migrations.RunSQL(
        sql=(SQL_DIR / f"{file_name}.sql").read_text(),
        reverse_sql=f"DROP VIEW reporting.{name}",
    )


def grant_select(apps, schema_editor) -> None:
    # Default privileges only cover views made by the user who set them; grant explicitly in
    # case another user runs this migration.
    connection = schema_editor.connection
    statement = sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA reporting TO {}").format(
        sql.Identifier(settings.CHM_REPORTING_ROLE)
    )
    with connection.cursor() as cursor:
        cursor.execute(statement.as_string(connection.connection))


class Migration(migrations.Migration):
    dependencies = [
        ("runs", "0002_reporting_schema_and_role"),
        ("inventory", "0001_initial"),
        ("alerts", "0002_rule_pipeline_same_client"),
    ]

    operations = [
        view("q01_failures_over_time", "q01_failures_over_time_v1"),
        # Q3 and Q9 read Q2's definition of the latest status, so that they always agree.
        view("q02_pipeline_latest_status", "q02_pipeline_latest_status_v1"),
        view("q03_client_health", "q03_client_health_v1"),
        view("q04_weekly_trend", "q04_weekly_trend"),
        view("q05_what_changed", "q05_what_changed_v1"),
        view("q06_triage", "q06_triage_v1"),
        view("q07_flaky_ranking", "q07_flaky_ranking_v1"),
        view("q08_platform_failure_rates", "q08_platform_failure_rates_v1"),
        view("q08_platform_failure_daily", "q08_platform_failure_daily_v1"),
        view("q09_freshness_and_stuck", "q09_freshness_and_stuck"),
        view("q10_governance", "q10_governance"),
        view("q10_governance_by_client", "q10_governance_by_client"),
        migrations.RunPython(grant_select, migrations.RunPython.noop),
    ]
