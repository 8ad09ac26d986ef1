"""What the daily rollup buys the dashboards.

``views`` (on a database already loaded at scale, e.g. by bench/dashboards.py's loader or
``chm-synthetic-orchestrator --runs``): times a refresh (of the whole horizon with
BENCH_ROLLUP_REBUILD=1), then the typical
dashboard query of Q1, Q3, Q8-daily and Q8 (bench/dashboards.py's VIEW_QUERIES) against v1 (every
run counted: the v1 definitions, recreated as temporary views) and v2 (the reporting views,
reading the rollup), p50/p95 of BENCH_DASHBOARD_REPEATS runs after two warm-ups each.

    DATABASE_URL=postgres://…/big .venv/bin/python bench/daily_rollup.py [views]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from django.db import connection

from dashboards import VIEW_QUERIES, timed  # also sets Django up

SQL_DIR = Path(__file__).resolve().parent.parent / "runs" / "sql" / "views"
VIEWS = (
    "q01_failures_over_time",
    "q03_client_health",
    "q08_platform_failure_daily",
    "q08_platform_failure_rates",
)
# BENCH_ROLLUP_REBUILD=1: drop the rollup first, so that the refresh of the whole horizon is timed.
REBUILD = os.environ.get("BENCH_ROLLUP_REBUILD") == "1"


def bench_views() -> None:
    from runs.rollups import refresh_daily_rollup

    with connection.cursor() as cursor:
        if REBUILD:
            cursor.execute("DELETE FROM runs_dailyruncount")
            cursor.execute("DELETE FROM runs_dailyplatformcount")
            cursor.execute("DELETE FROM runs_rolledupday")
    started = time.perf_counter()
    result = refresh_daily_rollup()
    print(f"refresh: {time.perf_counter() - started:.1f} s ({result})")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE runs_dailyruncount")
        cursor.execute("VACUUM ANALYZE runs_dailyplatformcount")
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


if __name__ == "__main__":
    if sys.argv[1:] not in ([], ["views"]):
        sys.exit(f"usage: {sys.argv[0]} [views]")
    bench_views()
