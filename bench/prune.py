"""prune_runs against the floor of one plain DELETE of the same rows, in the same run.

Both delete the same old half of a freshly filled runs table: the floor in one statement and
one transaction (fastest, but it holds every row lock until the end), CHM in batches of short
transactions that also keep the pruned pipelines' state and the rollup's exactness. The figures: CHM's rate as a ratio of the floor's, and the longest batch, which
bounds how long any row stays locked (the floor holds them all for its whole duration).

It runs in a scratch database created next to DATABASE_URL's and dropped at the end, since
batches commit.

    BENCH_PRUNE_RUNS=200000 .venv/bin/python bench/prune.py
"""

from __future__ import annotations

import datetime as dt
import os
import time

from _django_setup import drop_database, setup_django_on_scratch_database  # noqa: E402

RUNS = int(os.environ.get("BENCH_PRUNE_RUNS", "200000"))
PIPELINES = 100
BATCH_SIZE = 5000
ROUNDS = 2
CUTOFF = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def fill(cursor, pipeline_ids: list[int]) -> None:
    """RUNS runs over the pipelines, one a minute per pipeline, half of them before CUTOFF."""
    cursor.execute(
        """
        INSERT INTO runs_run (pipeline_id, external_run_id, status, started_at, finished_at,
                              error_message, metadata, created_at, updated_at)
        SELECT p.id, 'r' || n, 'success',
               %(cutoff)s + (n - %(half)s) * interval '1 minute',
               %(cutoff)s + (n - %(half)s) * interval '1 minute' + interval '30 seconds',
               '', '{}', now(), now()
        FROM generate_series(0, %(per)s - 1) AS n, unnest(%(ids)s::bigint[]) AS p(id)
        """,
        {
            "cutoff": CUTOFF,
            "half": RUNS // PIPELINES // 2,
            "per": RUNS // PIPELINES,
            "ids": pipeline_ids,
        },
    )
    cursor.execute("ANALYZE runs_run")


def main() -> None:
    # No statement timeout: the floor is one long statement.
    url, admin_url = setup_django_on_scratch_database("bench_prune")
    from django.db import connection, transaction

    from runs import pipeline_state
    from runs.derived_state import runs_rewritten
    from runs.retention import prune_runs_started_before
    from tests.factories import ClientFactory, PipelineFactory

    try:
        client = ClientFactory(slug="bench-prune")
        pipeline_ids = [PipelineFactory(client=client).pk for _ in range(PIPELINES)]
        old = RUNS // 2
        floor_rates, chm_rates, longest = [], [], []
        for _ in range(ROUNDS):
            with connection.cursor() as cursor:
                cursor.execute("TRUNCATE runs_run")
                fill(cursor, pipeline_ids)
            started = time.perf_counter()
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("DELETE FROM runs_run WHERE started_at < %s", [CUTOFF])
                assert cursor.rowcount == old, cursor.rowcount
            floor_rates.append(old / (time.perf_counter() - started))

            with connection.cursor() as cursor:
                cursor.execute("TRUNCATE runs_run, runs_pipelinestate")
                fill(cursor, pipeline_ids)
            # As the runs' writers leave it: every pipeline's state kept (pruning keeps it too).
            pipeline_state.ensure_rows(pipeline_ids)
            runs_rewritten(pipeline_ids=pipeline_ids, days=[])
            marks = [time.perf_counter()]

            def mark(batch: int, deleted: int, marks: list[float] = marks) -> None:
                marks.append(time.perf_counter())

            report = prune_runs_started_before(cutoff=CUTOFF, batch_size=BATCH_SIZE, on_batch=mark)
            assert report.deleted == old, report
            chm_rates.append(old / (marks[-1] - marks[0]))
            longest.append(max(b - a for a, b in zip(marks, marks[1:], strict=False)))
        floor, chm = max(floor_rates), max(chm_rates)
        print(f"runs in the table: {RUNS:,}, deleted: {old:,} (batches of {BATCH_SIZE:,})")
        print(
            f"floor, one DELETE in one transaction: {floor:,.0f} rows/s "
            f"(every lock held {old / floor:.2f} s)"
        )
        print(f"prune_runs in batches: {chm:,.0f} rows/s")
        print(f"ratio: {chm / floor:.2f}")
        print(f"longest batch (longest any row stays locked): {min(longest) * 1000:.0f} ms")
    finally:
        connection.close()
        drop_database(url, admin_url)


if __name__ == "__main__":
    main()
