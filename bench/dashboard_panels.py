"""Cost of every Grafana and Metabase panel query against reading its view whole, in the same
run, on whatever this database holds (load the demo set first for meaningful figures:
`chm-synthetic-orchestrator --ingest`).

For each panel: the median time of its SQL as Grafana sends it (client = All, the last 30
days) and as Metabase does (no client locked, its fixed window), both run as the read-only
reporting role, over the floor: ``SELECT * FROM reporting.<view>`` of the view it reads,
timed the same way. A ratio near or under 1 means the dashboard adds nothing to the view's
own cost; the views' own budget is measured with the views.

    DATABASE_URL=postgres://… .venv/bin/python bench/dashboard_panels.py
"""

from __future__ import annotations

import re
import statistics
import time

from _django_setup import setup_django  # noqa: E402

setup_django()

from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402
from psycopg import sql  # noqa: E402

from dashboards.catalog import (  # noqa: E402
    CLIENT_VARIABLE_SQL,
    DASHBOARDS,
    grafana_sql,
    metabase_sql,
)
from tests.support.sql_expansion import expand_grafana, expand_metabase  # noqa: E402

REPEATS = 7


def timed(query: str) -> tuple[float, int]:
    """Median seconds over REPEATS runs as the reporting role, and the row count."""
    role = sql.Identifier(settings.CHM_REPORTING_ROLE).as_string(connection.connection)
    samples, rows = [], 0
    for _ in range(REPEATS):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL ROLE {role}")
            started = time.perf_counter()
            cursor.execute(query)
            rows = len(cursor.fetchall())
            samples.append(time.perf_counter() - started)
    return statistics.median(samples), rows


def main() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM runs_run")
        (runs,) = cursor.fetchone()
    with transaction.atomic(), connection.cursor() as cursor:
        role = sql.Identifier(settings.CHM_REPORTING_ROLE).as_string(connection.connection)
        cursor.execute(f"SET LOCAL ROLE {role}")
        cursor.execute(CLIENT_VARIABLE_SQL)
        clients = [value for value, _ in cursor.fetchall()]
    now = timezone.now()
    print(f"{runs} runs, {len(clients)} active clients; median of {REPEATS}, as the reporting role")
    print(
        f"{'panel':32} {'view ms':>8} {'grafana ms':>10} {'ratio':>6} {'metabase ms':>11} {'ratio':>6}"
    )
    worst = 0.0
    for dashboard in DASHBOARDS:
        for panel in dashboard.panels:
            view = re.search(r"reporting\.(\w+)", panel.sql).group(1)
            floor, _ = timed(f"SELECT * FROM reporting.{view}")  # noqa: S608
            grafana, _ = timed(
                expand_grafana(
                    grafana_sql(panel),
                    variables={"client": clients},
                    time_from=now - timezone.timedelta(days=30),
                    time_to=now,
                )
            )
            metabase, _ = timed(expand_metabase(metabase_sql(panel), parameters={"client": None}))
            worst = max(worst, grafana / floor, metabase / floor)
            print(
                f"{panel.key:32} {floor * 1000:8.1f} {grafana * 1000:10.1f} {grafana / floor:6.2f}"
                f" {metabase * 1000:11.1f} {metabase / floor:6.2f}"
            )
    print(f"worst panel / view ratio: {worst:.2f}")


if __name__ == "__main__":
    main()
