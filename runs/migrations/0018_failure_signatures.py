"""Failure signatures: a column of runs, filled for the failed runs already stored.

``runs_run.failure_signature`` holds the digest of a failed run's error message
(runs/signatures.py; NULL for other statuses and for failures without a message), written from
now on by every writer of runs with the message it derives from. Existing failed runs get theirs
here (runs/signature_backfill.py): computed in Python by the same function, in batches each
committed on its own, so that a large table is never locked or rewritten whole. About 40 s per
million failed runs on this kind of machine; ``manage.py fill_failure_signatures`` does the same
later (docs/operations.md).

Then two partial indexes on the failed runs, built CONCURRENTLY (writers carry on meanwhile):
by signature and start (the error signatures page, incidents that share a signature), and by
start with the pipeline and signature included (incidents read the recent failures from the
index alone).

Each step commits on its own (the migration is not atomic), so each is written to be run again:
an interrupted ``migrate`` resumes where it stopped. The column and the check constraint are
added only if missing, the check NOT VALID first and then validated (adding it valid would
hold the table's exclusive lock while it scans every row), the fill reads only runs without a
signature, and the indexes are created only if missing. One case needs a hand: a build
interrupted halfway leaves an invalid index, which ``IF NOT EXISTS`` then skips; drop it
(``DROP INDEX CONCURRENTLY run_failed_signature``, or ``run_failed_started_incl``) and migrate
again.
"""

from django.db import migrations, models
from django.db.models import F, Q

from runs.signature_backfill import fill_failure_signatures

ADD_COLUMN = "ALTER TABLE runs_run ADD COLUMN IF NOT EXISTS failure_signature varchar(16) NULL"
DROP_COLUMN = "ALTER TABLE runs_run DROP COLUMN IF EXISTS failure_signature"
ADD_CHECK = """
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'run_signature_only_when_failed')
    THEN
        ALTER TABLE runs_run ADD CONSTRAINT run_signature_only_when_failed
            CHECK (failure_signature IS NULL OR status = 'failed') NOT VALID;
    END IF;
END
$$
"""
VALIDATE_CHECK = "ALTER TABLE runs_run VALIDATE CONSTRAINT run_signature_only_when_failed"
DROP_CHECK = "ALTER TABLE runs_run DROP CONSTRAINT IF EXISTS run_signature_only_when_failed"
CREATE_SIGNATURE_INDEX = """
CREATE INDEX CONCURRENTLY IF NOT EXISTS run_failed_signature ON runs_run
    (failure_signature, started_at) WHERE failure_signature IS NOT NULL AND status = 'failed'
"""
CREATE_STARTED_INDEX = """
CREATE INDEX CONCURRENTLY IF NOT EXISTS run_failed_started_incl ON runs_run (started_at)
    INCLUDE (pipeline_id, failure_signature) WHERE status = 'failed'
"""


def backfill_signatures(apps, schema_editor) -> None:
    fill_failure_signatures(connection=schema_editor.connection)


class Migration(migrations.Migration):
    # Each step commits on its own: the fill's batches, and CREATE INDEX CONCURRENTLY.
    atomic = False

    dependencies = [
        ("runs", "0017_writers_keep_derived_state"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(ADD_COLUMN, reverse_sql=DROP_COLUMN),
                migrations.RunSQL(ADD_CHECK, reverse_sql=DROP_CHECK),
                migrations.RunSQL(VALIDATE_CHECK, reverse_sql=migrations.RunSQL.noop),
            ],
            state_operations=[
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
            ],
        ),
        migrations.RunPython(backfill_signatures, migrations.RunPython.noop, elidable=False),
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    CREATE_SIGNATURE_INDEX,
                    reverse_sql="DROP INDEX CONCURRENTLY IF EXISTS run_failed_signature",
                ),
                migrations.RunSQL(
                    CREATE_STARTED_INDEX,
                    reverse_sql="DROP INDEX CONCURRENTLY IF EXISTS run_failed_started_incl",
                ),
            ],
            state_operations=[
                migrations.AddIndex(
                    model_name="run",
                    index=models.Index(
                        F("failure_signature"),
                        F("started_at"),
                        name="run_failed_signature",
                        condition=Q(status="failed", failure_signature__isnull=False),
                    ),
                ),
                migrations.AddIndex(
                    model_name="run",
                    index=models.Index(
                        F("started_at"),
                        name="run_failed_started_incl",
                        condition=Q(status="failed"),
                        include=["pipeline", "failure_signature"],
                    ),
                ),
            ],
        ),
    ]
