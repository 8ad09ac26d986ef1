"""Indexes the dashboard views read: covering versions of the time and outcome indexes (so a
window's runs are counted from the index alone) and a small index of failed runs.

Built and dropped CONCURRENTLY, new ones first, so that ingestion keeps writing while a large
runs table is re-indexed (hence a non-atomic migration).
"""

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("inventory", "0001_initial"),
        ("runs", "0004_reporting_view_models"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="run",
            index=models.Index(
                models.OrderBy(models.F("started_at"), descending=True),
                models.OrderBy(models.F("id"), descending=True),
                include=("pipeline", "status"),
                name="run_started_incl",
            ),
        ),
        AddIndexConcurrently(
            model_name="run",
            index=models.Index(
                models.F("pipeline"),
                models.OrderBy(models.F("started_at"), descending=True),
                models.OrderBy(models.F("id"), descending=True),
                condition=models.Q(("status__in", ("success", "failed"))),
                include=("status", "duration"),
                name="run_pipeline_outcome_incl",
            ),
        ),
        AddIndexConcurrently(
            model_name="run",
            index=models.Index(
                models.F("pipeline"),
                models.OrderBy(models.F("started_at"), descending=True),
                models.OrderBy(models.F("id"), descending=True),
                condition=models.Q(("status", "failed")),
                name="run_pipeline_failed",
            ),
        ),
        RemoveIndexConcurrently(model_name="run", name="run_started"),
        RemoveIndexConcurrently(model_name="run", name="run_pipeline_outcome"),
    ]
