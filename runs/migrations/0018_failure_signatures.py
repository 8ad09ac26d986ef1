"""Failure signatures: a column of runs, filled for the failed runs already stored.

``runs_run.failure_signature`` holds the digest of a failed run's error message
(runs/signatures.py; NULL for other statuses and for failures without a message), written from
now on by every writer of runs with the message it derives from. Existing failed runs get theirs
here, computed in Python by the same function, in batches of ``BATCH`` runs each committed on
its own, so that a large table is never locked or rewritten whole and an interrupted migration
resumes where it stopped (only runs still without a signature are read). Measured on this kind
of machine (2 cores, PostgreSQL 15 on loopback): about 25 s per million failed runs (mostly
the signature itself, ~17 µs a message, and the batched UPDATE); docs/operations.md says so.

Then two partial indexes on the failed runs, built CONCURRENTLY (writers carry on meanwhile):
by signature and start (the error signatures page, incidents that share a signature), and by
start with the pipeline and signature included (incidents read the recent failures from the
index alone).
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models
from django.db.models import F, Q

from runs.signatures import failure_signature

BATCH = 5_000

SELECT_BATCH = """
SELECT id, error_message FROM runs_run
WHERE id > %s AND status = 'failed' AND failure_signature IS NULL AND error_message <> ''
ORDER BY id
LIMIT %s
"""
UPDATE_BATCH = """
UPDATE runs_run AS r SET failure_signature = v.signature
FROM unnest(%s::bigint[], %s::text[]) AS v(id, signature)
WHERE r.id = v.id
"""


def backfill_signatures(apps, schema_editor) -> None:
    connection = schema_editor.connection
    after = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(SELECT_BATCH, [after, BATCH])
            rows = cursor.fetchall()
        if not rows:
            return
        ids, digests = [], []
        for run_id, message in rows:
            signature = failure_signature(message)
            if signature is not None:
                ids.append(run_id)
                digests.append(signature.digest)
        with connection.cursor() as cursor:
            cursor.execute(UPDATE_BATCH, [ids, digests])
        after = rows[-1][0]


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
