"""What the daily rollup buys the dashboards and what its triggers cost ingestion.

``views`` (on a database already loaded at scale, e.g. by bench/dashboards.py's loader or
``chm-synthetic-orchestrator --runs``): times a refresh (of the whole horizon with
BENCH_ROLLUP_REBUILD=1), then the typical
dashboard query of Q1, Q3 and Q8-daily (bench/dashboards.py's VIEW_QUERIES) against v1 (every
run counted: the v1 definitions, recreated as temporary views) and v2 (the reporting views,
reading the rollup), p50/p95 of BENCH_DASHBOARD_REPEATS runs after two warm-ups each.

``ingest`` (on a scratch database: it adds a client and runs, and removes them at the end):
times ``ingest_runs`` with the rollup triggers enabled and disabled (ALTER TABLE … DISABLE
TRIGGER, so it needs the table's owner), alternating rounds so that load from other work
falls on both alike: single-run calls and 1,000-run batches of new runs, and single-run calls
of late runs into a closed day that has been rolled up (the trigger then deletes its rollup).

    DATABASE_URL=postgres://…/big .venv/bin/python bench/daily_rollup.py views
    DATABASE_URL=postgres://…/scratch .venv/bin/python bench/daily_rollup.py ingest
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path

from django.conf import settings
from django.db import connection

from dashboards import VIEW_QUERIES, percentile, timed  # also sets Django up

SQL_DIR = Path(__file__).resolve().parent.parent / "runs" / "sql"
VIEWS = ("q01_failures_over_time", "q03_client_health", "q08_platform_failure_daily")
ROLLUP_TRIGGERS = (
    "runs_run_rollup_after_insert",
    "runs_run_rollup_after_update",
    "runs_run_rollup_after_delete",
)
INGEST_ROUNDS = 6
SINGLE_CALLS = 100
BATCHES = 3
BATCH_SIZE = 1_000
# BENCH_ROLLUP_REBUILD=1: drop the rollup first, so that the refresh of the whole horizon is timed.
REBUILD = os.environ.get("BENCH_ROLLUP_REBUILD") == "1"


def bench_views() -> None:
    from runs.rollups import refresh_daily_rollup

    with connection.cursor() as cursor:
        if REBUILD:
            cursor.execute("DELETE FROM runs_dailyruncount")
            cursor.execute("DELETE FROM runs_rolledupday")
    started = time.perf_counter()
    result = refresh_daily_rollup()
    print(f"refresh: {time.perf_counter() - started:.1f} s ({result})")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE runs_dailyruncount")
        cursor.execute("VACUUM ANALYZE runs_rolledupday")
        for name in VIEWS:
            definition = (SQL_DIR / f"{name}_v1.sql").read_text()
            cursor.execute(
                definition.replace(f"CREATE VIEW reporting.{name}", f"CREATE TEMP VIEW {name}_v1")
            )
    for name in VIEWS:
        v2_query = VIEW_QUERIES[name]
        v1_query = v2_query.replace(f"reporting.{name}", f"{name}_v1")
        for label, query in (("v1", v1_query), ("v2", v2_query)):

            def run(query: str = query) -> None:
                with connection.cursor() as cursor:
                    cursor.execute(query)
                    cursor.fetchall()

            p50, p95 = timed(run)
            print(f"{name} {label}: p50 {p50:7.1f} ms   p95 {p95:7.1f} ms")


def set_rollup_triggers(enabled: bool) -> None:
    action = "ENABLE" if enabled else "DISABLE"
    with connection.cursor() as cursor:
        for trigger in ROLLUP_TRIGGERS:
            # Constant names only: nothing from input reaches this statement.
            cursor.execute(f"ALTER TABLE runs_run {action} TRIGGER {trigger}")


def bench_ingest() -> None:
    from inventory.models import Client, Pipeline
    from runs.ingest import ingest_runs
    from runs.rollups import refresh_daily_rollup

    settings.CHM_ALERTS_EVALUATE_ON_INGEST = False
    client = Client.objects.create(slug="bench-rollup", name="Rollup benchmark")
    pipelines = [
        Pipeline.objects.create(client=client, slug=f"p{i}", name=f"p{i}", platform="airflow")
        for i in range(20)
    ]
    now = dt.datetime.now(dt.UTC)
    closed_day = (now - dt.timedelta(days=3)).replace(hour=0, minute=0, second=0, microsecond=0)
    sequence = iter(range(10**9))

    def item(started: dt.datetime) -> dict:
        n = next(sequence)
        return {
            "pipeline": pipelines[n % len(pipelines)].slug,
            "external_run_id": f"r{n}",
            "status": "success",
            "started_at": started.isoformat(),
            "finished_at": (started + dt.timedelta(minutes=1)).isoformat(),
        }

    def singles(started: dt.datetime, *, rolled_up_first: bool = False) -> list[float]:
        samples = []
        for _ in range(SINGLE_CALLS):
            if rolled_up_first:
                # Every call then finds the day rolled up (and, with triggers, deletes that).
                refresh_daily_rollup(days=[started.date()])
            one = [item(started)]
            begun = time.perf_counter()
            ingest_runs(client=client, items=one)
            samples.append((time.perf_counter() - begun) * 1000)
        return samples

    def batches() -> list[float]:
        samples = []
        for _ in range(BATCHES):
            many = [item(now - dt.timedelta(minutes=30)) for _ in range(BATCH_SIZE)]
            begun = time.perf_counter()
            ingest_runs(client=client, items=many)
            samples.append((time.perf_counter() - begun) * 1000)
        return samples

    # A rolled-up closed day for the late runs to land in.
    ingest_runs(client=client, items=[item(closed_day + dt.timedelta(hours=1))])
    samples: dict[tuple[str, bool], list[float]] = {}
    try:
        for round_number in range(INGEST_ROUNDS):
            for enabled in (True, False) if round_number % 2 == 0 else (False, True):
                set_rollup_triggers(enabled)
                samples.setdefault(("single run, today", enabled), []).extend(
                    singles(now - dt.timedelta(minutes=10))
                )
                samples.setdefault(("batch of 1,000, today", enabled), []).extend(batches())
                samples.setdefault(("single late run, rolled-up day", enabled), []).extend(
                    singles(closed_day + dt.timedelta(hours=2), rolled_up_first=True)
                )
    finally:
        set_rollup_triggers(True)
        client.delete()
    for case in ("single run, today", "batch of 1,000, today", "single late run, rolled-up day"):
        on, off = samples[(case, True)], samples[(case, False)]
        p50_on, p50_off = percentile(on, 0.5), percentile(off, 0.5)
        print(
            f"{case:32s} with triggers p50 {p50_on:7.2f} ms p95 {percentile(on, 0.95):7.2f} ms"
            f" | without p50 {p50_off:7.2f} ms p95 {percentile(off, 0.95):7.2f} ms"
            f" | p50 ratio {p50_on / p50_off:4.2f}"
        )


if __name__ == "__main__":
    modes = {"views": bench_views, "ingest": bench_ingest}
    if len(sys.argv) != 2 or sys.argv[1] not in modes:
        sys.exit(f"usage: {sys.argv[0]} views|ingest")
    modes[sys.argv[1]]()
