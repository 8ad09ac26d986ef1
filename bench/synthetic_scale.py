"""Scale loader rate against the raw COPY floor of the same database, in the same run.

The floor: the very same rows (replayed from the seed, encoded beforehand) COPYed into a twin
of ``runs_run`` (``LIKE … INCLUDING ALL`` plus its deferred foreign key), so that indexes,
constraints and the generated column cost the same on both sides. The loader's figure
includes generating the rows in Python. Everything happens in one transaction that is rolled
back, so the database is left as it was.

    BENCH_SCALE_RUNS=300000 .venv/bin/python bench/synthetic_scale.py
"""

from __future__ import annotations

import os
import time

from _django_setup import setup_django  # noqa: E402

setup_django()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from synthetic.scale import (  # noqa: E402
    RUNS_COPY_SQL,
    SCALE_SLUG_PREFIX,
    ScaleStats,
    delete_scale_data,
    load_scale,
    plan_runs,
)

RUNS = int(os.environ.get("BENCH_SCALE_RUNS", "300000"))
PIPELINES = max(1, RUNS // 1000)
CLIENTS = max(1, PIPELINES // 20)
ROUNDS = 2
SEED = 7


class _Rollback(Exception):
    pass


def one_round(*, raw_first: bool) -> tuple[float, float]:
    """Answers (loader runs/s, raw COPY rows/s) measured inside one rolled-back transaction."""
    figures: dict[str, float] = {}
    try:
        with transaction.atomic():
            # Scale data loaded earlier into this database would collide; removed, then
            # restored by the rollback.
            delete_scale_data()
            with connection.cursor() as cursor:
                # Foreign keys are checked at the end of each COPY, as the loader's own
                # per-chunk commits would, rather than never (the transaction rolls back).
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute("CREATE TABLE bench_twin_runs (LIKE runs_run INCLUDING ALL)")
                cursor.execute(
                    "ALTER TABLE bench_twin_runs ADD FOREIGN KEY (pipeline_id)"
                    " REFERENCES inventory_pipeline (id) DEFERRABLE INITIALLY DEFERRED"
                )
            order = ("raw", "loader") if raw_first else ("loader", "raw")
            stats = None
            for side in order:
                if side == "loader":
                    if "raw" in figures:
                        # The twin's rows point at the inventory that replace=True drops.
                        with connection.cursor() as cursor:
                            cursor.execute("TRUNCATE bench_twin_runs")
                    stats = load_scale(
                        runs=RUNS, pipelines=PIPELINES, clients=CLIENTS, seed=SEED, replace=True
                    )
                    figures["loader"] = stats.runs_per_second
                else:
                    figures["raw"] = raw_copy_rate(loaded=stats)
            raise _Rollback
    except _Rollback:
        pass
    return figures["loader"], figures["raw"]


def raw_copy_rate(*, loaded: ScaleStats | None) -> float:
    """COPY the loader's rows, pre-encoded, into the twin table; answers rows/s."""
    if loaded is None:
        # Raw goes first: create the inventory the rows point at, without any runs.
        load_scale(runs=PIPELINES, pipelines=PIPELINES, clients=CLIENTS, seed=SEED)
        with connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM runs_run WHERE pipeline_id IN (SELECT id FROM"
                " inventory_pipeline WHERE client_id IN (SELECT id FROM"
                " inventory_client WHERE slug LIKE %s))",
                [SCALE_SLUG_PREFIX + "%"],
            )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.id FROM inventory_pipeline p JOIN inventory_client c ON c.id = p.client_id"
            " WHERE c.slug LIKE %s ORDER BY p.slug",
            [SCALE_SLUG_PREFIX + "%"],
        )
        ids = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            "SELECT date_trunc('hour', max(updated_at)) FROM inventory_client WHERE slug LIKE %s",
            [SCALE_SLUG_PREFIX + "%"],
        )
        end = cursor.fetchone()[0]
    shapes, rows = plan_runs(ids, runs=RUNS, seed=SEED, end=end, days=60)
    chunks = [chunk.encode() for chunk, _ in rows(shapes)]
    twin_sql = RUNS_COPY_SQL.replace("COPY runs_run", "COPY bench_twin_runs")
    started = time.perf_counter()
    with connection.cursor() as cursor, cursor.copy(twin_sql) as copy:
        for chunk in chunks:
            copy.write(chunk)
    return RUNS / (time.perf_counter() - started)


def main() -> None:
    call_command("migrate", verbosity=0)
    best_loader = best_raw = 0.0
    worst_ratio = float("inf")
    for n in range(ROUNDS):
        loader, raw = one_round(raw_first=n % 2 == 0)
        best_loader, best_raw = max(best_loader, loader), max(best_raw, raw)
        worst_ratio = min(worst_ratio, loader / raw)
        print(
            f"round {n + 1}: loader {loader:,.0f} runs/s, raw COPY {raw:,.0f} rows/s,"
            f" ratio {loader / raw:.2f}"
        )
    print(
        f"synthetic scale loader: {best_loader:,.0f} runs/s; raw COPY floor: {best_raw:,.0f}"
        f" rows/s; ratio {best_loader / best_raw:.2f} (target >= 0.50); {RUNS} runs,"
        f" {PIPELINES} pipelines, best of {ROUNDS}; worst round's ratio {worst_ratio:.2f}"
    )


if __name__ == "__main__":
    main()
