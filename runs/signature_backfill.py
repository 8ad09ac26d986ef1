"""Failure signatures for failed runs stored without one, or under older rules.

Ingestion stores a failed run's signature with it (runs/ingest.py). Runs stored before the
column existed (migration 0018), by an older release during an upgrade, or under an earlier
``RULES_VERSION`` get theirs here, computed in Python by ``runs.signatures.failure_signature``
itself, in batches each committed on its own: the table is never locked whole, and an
interrupted fill resumes where it stopped (runs that have a signature are skipped).

Measured on this kind of machine (2 cores, PostgreSQL 15 on loopback, scale data with short
messages): 37 s per million failed runs; long messages cost up to twice that
(bench/signatures.py times the signature alone).
"""

from __future__ import annotations

from django.db import connection as default_connection
from django.db import transaction

from runs.signatures import failure_signature

DEFAULT_BATCH_SIZE = 5_000

_SELECT_BATCH = """
SELECT id, error_message, failure_signature FROM runs_run
WHERE id > %s AND status = 'failed' AND error_message <> ''
  {missing_only}
ORDER BY id
LIMIT %s
"""
# The run may have changed since it was read (a correction to success, a new message): the
# signature is written only if it still failed with the message it was computed from.
_UPDATE_BATCH = """
UPDATE runs_run AS r SET failure_signature = v.signature
FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS v(id, error_message, signature)
WHERE r.id = v.id AND r.status = 'failed' AND r.error_message = v.error_message
"""


def fill_failure_signatures(
    *, recompute: bool = False, batch_size: int | None = None, connection=None
) -> int:
    """Give failed runs without a signature theirs (every failed run's, recomputed, with
    ``recompute``); the number of runs whose signature changed."""
    connection = connection or default_connection
    batch_size = batch_size or DEFAULT_BATCH_SIZE
    select = _SELECT_BATCH.format(missing_only="" if recompute else "AND failure_signature IS NULL")
    after, changed = 0, 0
    while True:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute(select, [after, batch_size])
            rows = cursor.fetchall()
            if not rows:
                return changed
            ids, messages, digests = [], [], []
            for run_id, message, stored in rows:
                signature = failure_signature(message)
                digest = signature.digest if signature is not None else None
                if digest != stored:
                    ids.append(run_id)
                    messages.append(message)
                    digests.append(digest)
            if ids:
                cursor.execute(_UPDATE_BATCH, [ids, messages, digests])
                changed += cursor.rowcount
        after = rows[-1][0]
