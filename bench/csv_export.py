"""Memory and speed of a large CSV download (the run explorer's, every run) against the floor
of raw psycopg streaming the same rows to CSV, in the same run.

The figure that matters is the growth of the process's resident memory (RSS) while the
download is read to the end: CHM streams (a server-side cursor read a chunk at a time inside
one transaction, CSV text sent a chunk at a time), so the growth must stay flat whatever the
number of rows — at most 50 MB for 1 M rows. The floor does the least that can stream: a
named psycopg cursor and csv.writer into a sink. Each is measured in a fresh process (so that
neither inherits the other's freed memory), from the moment its first row is asked for; RSS
is sampled after every chunk.

It runs in a scratch database created next to DATABASE_URL's and dropped at the end.

    BENCH_CSV_ROWS=1000000 .venv/bin/python bench/csv_export.py
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
from _django_setup import (  # noqa: E402
    drop_database,
    setup_django,
    setup_django_on_scratch_database,
)

ROWS = int(os.environ.get("BENCH_CSV_ROWS", "1000000"))
PIPELINES = 200
BUDGET_MB = 50
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
# The columns of the run explorer's download (web.exports.RUN_COLUMNS), for the floor.
FLOOR_QUERY = """
    SELECT r.id, c.slug, p.slug, r.pipeline_id, r.external_run_id, r.status, r.started_at,
           r.finished_at, r.duration, r.error_message
    FROM runs_run r JOIN inventory_pipeline p ON p.id = r.pipeline_id
    JOIN inventory_client c ON c.id = p.client_id
    ORDER BY r.started_at DESC, r.id DESC
"""


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE_SIZE


class Sink:
    """Where the CSV goes: counted, then dropped, as a socket would take it."""

    def __init__(self) -> None:
        self.bytes = 0

    def write(self, text: str) -> None:
        self.bytes += len(text)


def fill() -> None:
    from django.db import connection

    from tests.factories import ClientFactory, PipelineFactory

    client = ClientFactory(slug="bench-csv")
    ids = [PipelineFactory(client=client).pk for _ in range(PIPELINES)]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO runs_run (pipeline_id, external_run_id, status, started_at, finished_at,
                                  error_message, metadata, created_at, updated_at)
            SELECT p.id, 'run-' || n,
                   CASE WHEN n %% 10 = 0 THEN 'failed' ELSE 'success' END,
                   now() - n * interval '1 minute',
                   now() - n * interval '1 minute' + interval '95 seconds',
                   CASE WHEN n %% 10 = 0 THEN 'Task exited with return code 1: see the log'
                        ELSE '' END,
                   '{}', now(), now()
            FROM generate_series(1, %(per)s) AS n, unnest(%(ids)s::bigint[]) AS p(id)
            """,
            {"per": ROWS // PIPELINES, "ids": ids},
        )
        cursor.execute("ANALYZE runs_run")


def measure_floor() -> dict:
    from _django_setup import psycopg_params

    with psycopg.connect(**psycopg_params()) as conn:
        conn.execute("SELECT 1")
        baseline = peak = rss_bytes()
        started = time.perf_counter()
        sink, rows = Sink(), 0
        writer = csv.writer(sink)
        with conn.cursor(name="floor") as cursor:
            cursor.itersize = 2000
            cursor.execute(FLOOR_QUERY)
            for row in cursor:
                writer.writerow(row)
                rows += 1
                if rows % 2000 == 0:
                    peak = max(peak, rss_bytes())
        seconds = time.perf_counter() - started
    return {"rows": rows, "bytes": sink.bytes, "seconds": seconds, "growth": peak - baseline}


def measure_chm() -> dict:
    from django.contrib.auth import get_user_model
    from django.test import RequestFactory

    from web.views import table_csv

    # A superuser passes the page's permission check without a query (no user row is needed).
    staff = get_user_model()(username="bench", is_staff=True, is_active=True, is_superuser=True)
    request = RequestFactory().get("/csv/runs.csv")
    request.user = staff
    response = table_csv(request, table="runs")
    baseline = peak = rss_bytes()
    started = time.perf_counter()
    written, lines = 0, 0
    for chunk in response.streaming_content:
        written += len(chunk)
        lines += chunk.count(b"\r\n")
        peak = max(peak, rss_bytes())
    response.close()
    seconds = time.perf_counter() - started
    return {"rows": lines - 1, "bytes": written, "seconds": seconds, "growth": peak - baseline}


def run_measurement(which: str, url: str) -> dict:
    """One measurement in a fresh process on the scratch database."""
    result = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--measure", which],
        env={**os.environ, "DATABASE_URL": url, "DB_STATEMENT_TIMEOUT_MS": "0"},
        capture_output=True,
        text=True,
    )
    if result.returncode:
        sys.stderr.write(result.stderr)
        raise SystemExit(f"the {which} measurement failed (exit status {result.returncode})")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    # No statement timeout: the fill is one long statement.
    url, admin_url = setup_django_on_scratch_database("bench_csv")
    from django.db import connection

    try:
        started = time.perf_counter()
        fill()
        connection.close()
        print(
            f"{ROWS:,} runs over {PIPELINES} pipelines ({time.perf_counter() - started:.0f} s to load)"
        )
        floor = run_measurement("floor", url)
        chm = run_measurement("chm", url)
    finally:
        connection.close()
        drop_database(url, admin_url)
    mb = 1024 * 1024
    for label, figures in (
        ("floor, psycopg named cursor + csv", floor),
        ("CHM /csv/runs.csv", chm),
    ):
        print(
            f"{label:34} {figures['rows']:>9,} rows  {figures['bytes'] / mb:6.0f} MB of CSV  "
            f"{figures['seconds']:5.1f} s  {figures['rows'] / figures['seconds']:>8,.0f} rows/s  "
            f"RSS growth {figures['growth'] / mb:5.1f} MB"
        )
    assert chm["rows"] == floor["rows"] == ROWS, (chm["rows"], floor["rows"])
    print(
        f"ratio of rates (CHM / floor): {chm['rows'] / chm['seconds'] / (floor['rows'] / floor['seconds']):.2f}"
    )
    within = chm["growth"] <= BUDGET_MB * mb
    print(f"RSS growth within {BUDGET_MB} MB: {'yes' if within else 'NO'}")
    return 0 if within else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["--measure"]:
        setup_django()
        figures = measure_floor() if sys.argv[2] == "floor" else measure_chm()
        print(json.dumps(figures))
    else:
        sys.exit(main())
