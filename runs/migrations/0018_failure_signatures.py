"""Failure signatures: a column of runs, filled for the failed runs already stored.

``runs_run.failure_signature`` holds the digest of a failed run's error message
(runs/signatures.py; NULL for other statuses and for failures without a message), written from
now on by every writer of runs with the message it derives from. Existing failed runs get theirs
here (runs/signature_backfill.py): computed in Python by the same function, in batches each
committed on its own, so that a large table is never locked or rewritten whole and an
interrupted migration resumes where it stopped. About 40 s per million failed runs on this kind
of machine; ``manage.py fill_failure_signatures`` does the same later (docs/operations.md).

Then two partial indexes on the failed runs, built CONCURRENTLY (writers carry on meanwhile):
by signature and start (the error signatures page, incidents that share a signature), and by
start with the pipeline and signature included (incidents read the recent failures from the
index alone).
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models
from django.db.models import F, Q

from runs.signature_backfill import fill_failure_signatures


def backfill_signatures(apps, schema_editor) -> None:
    fill_failure_signatures(connection=schema_editor.connection)


class Migration(migrations.Migration):
    # Each batch of the backfill commits on its own; CREATE INDEX CONCURRENTLY needs it too.
    atomic = False

    dependencies = [
        ("runs", "0017_writers_keep_derived_state"),
    ]

    operations = [
        migrations.AddField(
            model_name="run",
            name="failure_signature",
            field=models.CharField(blank=True, max_length=16, null=True),
        ),
        migrations.AddConstraint(
            model_name="run",
            constraint=models.CheckConstraint(
                condition=Q(failure_signature__isnull=True) | Q(status="failed"),
                name="run_signature_only_when_failed",
            ),
        ),
        migrations.RunPython(backfill_signatures, migrations.RunPython.noop, elidable=False),
        AddIndexConcurrently(
            model_name="run",
            index=models.Index(
                F("failure_signature"),
                F("started_at"),
                name="run_failed_signature",
                condition=Q(status="failed", failure_signature__isnull=False),
            ),
        ),
        AddIndexConcurrently(
            model_name="run",
            index=models.Index(
                F("started_at"),
                name="run_failed_started_incl",
                condition=Q(status="failed"),
                include=["pipeline", "failure_signature"],
            ),
        ),
    ]
