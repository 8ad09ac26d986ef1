"""A covering index on the daily rollup, so that the views read a day's counts from the index.

Q1 over 30 days reads ~105,000 rollup rows at 500 clients; through the index alone it took
61–69 ms instead of 89–105 ms at p50 on one 10 M-run database (bench/dashboards.py's typical
query). Built concurrently, so that ingestion, which deletes rollup rows, keeps writing.
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("inventory", "0001_initial"),
        ("runs", "0010_cheaper_run_triggers"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="dailyruncount",
            index=models.Index(
                fields=["day"],
                include=(
                    "client",
                    "platform",
                    "runs",
                    "finished_runs",
                    "successes",
                    "failures",
                    "canceled",
                    "skipped",
                ),
                name="daily_run_count_day_incl",
            ),
        ),
    ]
