"""Run ingestion throughput against the raw psycopg floors of the same database, in one run.

What it does, all on loopback and bounded in time:

1. creates a throw-away database ``<DATABASE name>_bench_ingest`` with Django's test-database
   machinery (migrations included) and drops it at the end;
2. measures the floors with raw psycopg on a plain table with ``runs_run``'s columns,
   constraints and indexes (``LIKE runs_run INCLUDING ALL`` plus its foreign key; runs_run
   itself has no triggers, which the script checks): one autocommit ``INSERT … ON CONFLICT``
   per row on one connection, and batched upserts of 1,000 rows per statement (``unnest``
   arrays, ``ON CONFLICT DO NOTHING``). What CHM adds on top (validation, the state machine,
   the pipeline state, the rollup's exactness) is CHM's own cost and counts against it;
3. starts gunicorn on a free port against that database (and a second one with
   CHM_INGEST_FAST_PATH=0, the plain path, unless BENCH_INGEST_COMPARE_PLAIN=0) and measures,
   with keep-alive HTTP senders in threads: ``GET /healthz``, single-run
   ``POST /api/v1/runs/``, batches of 1,000 runs, and OpenLineage START + COMPLETE events on
   ``POST /api/v1/lineage``. Every run starts later than the ones before it, as a scheduler
   reports them. Floors and HTTP alternate in BENCH_INGEST_ROUNDS rounds (5), and each ratio
   is the median of the rounds' own ratios, so that a drift of the shared cores' speed between
   phases does not end up in it. The senders share the
   machine's cores with gunicorn and PostgreSQL, so they are kept light: each request is
   encoded in full (request line, headers, body) before timing starts and written to a
   plain socket, and only the status line and Content-Length of the answer are parsed;
4. when ``wrk`` is installed, measures ``GET /healthz`` and single-run ingest once more with it
   (``bench/wrk_single_run.lua``: one new run per request), as a cross-check by a sender
   written in C (BENCH_WRK=0 skips it);
5. prints runs/s (events/s for OpenLineage), medians over the rounds, and the ratios against
   the targets.

    .venv/bin/python bench/ingest.py
    BENCH_INGEST_SENDERS=16 BENCH_GUNICORN_WORKERS=3 .venv/bin/python bench/ingest.py
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import _ingest_bodies as bodies  # noqa: E402
from _django_setup import ROOT, database_url, psycopg_params, setup_django  # noqa: E402

setup_django()

import psycopg  # noqa: E402
from django.db import connection  # noqa: E402

from inventory.clients import create_client  # noqa: E402
from inventory.models import Pipeline  # noqa: E402

SENDERS = int(os.environ.get("BENCH_INGEST_SENDERS", "8"))
BATCH_SENDERS = int(os.environ.get("BENCH_INGEST_BATCH_SENDERS", "2"))
# Every measurement is taken once per round, floors and HTTP alternating, and the ratios are
# the median of the rounds' own ratios: on a shared machine the cores' speed drifts within a
# minute, and a floor taken at one moment and the HTTP figures at another measure the drift.
ROUNDS = int(os.environ.get("BENCH_INGEST_ROUNDS", "5"))
# Per round:
SINGLE_RUNS = int(os.environ.get("BENCH_INGEST_SINGLE_RUNS", "1500"))
BATCHES = int(os.environ.get("BENCH_INGEST_BATCHES", "8"))
LINEAGE_RUNS = int(os.environ.get("BENCH_INGEST_LINEAGE_RUNS", "500"))
FLOOR_SINGLE_ROWS = int(os.environ.get("BENCH_FLOOR_SINGLE_ROWS", "1500"))
FLOOR_BATCHES = int(os.environ.get("BENCH_FLOOR_BATCHES", "12"))
WORKERS = int(os.environ.get("BENCH_GUNICORN_WORKERS", "2"))
THREADS = int(os.environ.get("BENCH_GUNICORN_THREADS", "4"))
# gthread keeps connections alive; sync workers close each one after the response.
WORKER_CLASS = os.environ.get("BENCH_GUNICORN_WORKER_CLASS", "gthread")
PHASE_SECONDS = float(os.environ.get("BENCH_PHASE_SECONDS", "20"))
# The plain path (DRF serializer, get_or_create, bulk ORM) measured beside the fast path.
COMPARE_PLAIN = os.environ.get("BENCH_INGEST_COMPARE_PLAIN", "1") != "0"
WRK = shutil.which("wrk") if os.environ.get("BENCH_WRK", "1") != "0" else None
WRK_SECONDS = int(os.environ.get("BENCH_WRK_SECONDS", "10"))
BATCH_SIZE = 1000
PIPELINES = 20

TARGET_SINGLE = 0.30
TARGET_BATCH = 0.60
TARGET_LINEAGE = 0.80


class Clock:
    """Run numbers for the whole benchmark: every run starts a second after the one before,
    floors included, so each pipeline's runs arrive in the order they ran."""

    def __init__(self) -> None:
        self.next = 0

    def take(self, count: int) -> range:
        numbers = range(self.next, self.next + count)
        self.next += count
        return numbers


CLOCK = Clock()


def run_item(number: int, prefix: str) -> dict:
    return bodies.run_item(number, prefix, PIPELINES)


def lineage_event(number: int, event_type: str) -> dict:
    return bodies.lineage_event(number, event_type, PIPELINES)


# --- Floors -----------------------------------------------------------------------------------

# The floors write with raw psycopg into a plain table with runs_run's columns, constraints and
# indexes (LIKE runs_run INCLUDING ALL plus its foreign key), so that they add no rows to the
# table the HTTP phases write.
PLAIN = "bench_ingest_plain_run"
SINGLE_INSERT = """
INSERT INTO {table} (pipeline_id, external_run_id, status, started_at, finished_at,
                     error_message, metadata, created_at, updated_at)
VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb, now(), now())
ON CONFLICT (pipeline_id, external_run_id) DO NOTHING
"""
BATCH_INSERT = """
INSERT INTO {table} (pipeline_id, external_run_id, status, started_at, finished_at,
                     error_message, metadata, created_at, updated_at)
SELECT i.*, now(), now() FROM unnest(
    %s::bigint[], %s::text[], %s::text[], %s::timestamptz[], %s::timestamptz[], %s::text[],
    %s::jsonb[]
) AS i
ON CONFLICT (pipeline_id, external_run_id) DO NOTHING
"""


def plain_rows(count: int, pipeline_ids: list[int], prefix: str) -> list[tuple]:
    rows = []
    for number in CLOCK.take(count):
        item = run_item(number, prefix)
        rows.append(
            (
                pipeline_ids[number % PIPELINES],
                item["external_run_id"],
                "success",
                dt.datetime.fromisoformat(item["started_at"]),
                dt.datetime.fromisoformat(item["finished_at"]),
                "",
                json.dumps({"attempt": 1, "source_status": "success"}),
            )
        )
    return rows


@dataclass(frozen=True)
class Floors:
    single: float
    batched: float


def measure_floors(pipeline_ids: list[int]) -> Floors:
    """Single-row autocommit upserts on one connection, then batches of 1,000 rows per
    statement, into the plain table; each phase bounded by PHASE_SECONDS."""
    single_insert = SINGLE_INSERT.format(table=PLAIN)
    batch_insert = BATCH_INSERT.format(table=PLAIN)
    with psycopg.connect(**psycopg_params(), autocommit=True) as conn:
        rows = plain_rows(FLOOR_SINGLE_ROWS, pipeline_ids, "floor-single")
        deadline = time.monotonic() + PHASE_SECONDS
        started = time.perf_counter()
        done = 0
        with conn.cursor() as cursor:
            for row in rows:
                cursor.execute(single_insert, row)
                done += 1
                if done % 500 == 0 and time.monotonic() > deadline:
                    break
        single = done / (time.perf_counter() - started)

        rows = plain_rows(FLOOR_BATCHES * BATCH_SIZE, pipeline_ids, "floor-batch")
        batches = [rows[i : i + BATCH_SIZE] for i in range(0, len(rows), BATCH_SIZE)]
        deadline = time.monotonic() + PHASE_SECONDS
        started = time.perf_counter()
        done = 0
        with conn.cursor() as cursor:
            for batch in batches:
                cursor.execute(batch_insert, [list(column) for column in zip(*batch, strict=True)])
                done += len(batch)
                if time.monotonic() > deadline:
                    break
        batched = done / (time.perf_counter() - started)
    return Floors(single, batched)


def create_plain_table() -> None:
    with psycopg.connect(**psycopg_params(), autocommit=True) as conn:
        triggers = conn.execute(
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'runs_run'::regclass"
            " AND NOT tgisinternal"
        ).fetchone()[0]
        if triggers:
            raise RuntimeError(f"runs_run has {triggers} triggers: the floor is not its twin")
        conn.execute(f"DROP TABLE IF EXISTS {PLAIN}")
        conn.execute(f"CREATE TABLE {PLAIN} (LIKE runs_run INCLUDING ALL)")
        conn.execute(
            f"ALTER TABLE {PLAIN} ADD FOREIGN KEY (pipeline_id) REFERENCES inventory_pipeline (id)"
        )


# --- HTTP -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_gunicorn(port: int, *, fast_path: bool) -> subprocess.Popen:
    env = {
        **os.environ,
        "CHM_INGEST_FAST_PATH": "1" if fast_path else "0",
        "DATABASE_URL": database_url(),
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        # Throughput, not the per-key rate limit, is what this measures.
        "INGEST_RATE_LIMIT": "0",
        # whitenoise warns that collectstatic never ran: true, and irrelevant to the API.
        "PYTHONWARNINGS": "ignore:No directory at",
    }
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "chm_project.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(WORKERS),
        "--worker-class",
        WORKER_CLASS,
        "--threads",
        str(THREADS),
        "--keep-alive",
        "30",
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("gunicorn exited during start-up")
        try:
            probe = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            probe.request("GET", "/healthz")
            if probe.getresponse().status == 200:
                probe.close()
                return process
        except OSError:
            time.sleep(0.2)
    stop(process)
    raise RuntimeError("gunicorn did not answer /healthz within 30 s")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def split(bodies: list[bytes], senders: int) -> list[list[bytes]]:
    return [bodies[n::senders] for n in range(senders)]


def by_pipeline(numbers: range, senders: int) -> list[list[int]]:
    """Run numbers shared out so that each pipeline's runs are all reported by one sender, in
    the order they ran, as a scheduler reports them (run n is pipeline n % PIPELINES's)."""
    shares: list[list[int]] = [[] for _ in range(senders)]
    for number in numbers:
        shares[number % PIPELINES % senders].append(number)
    return shares


class Sender:
    """A keep-alive HTTP/1.1 connection that writes pre-encoded requests and reads each answer's
    status and body by its Content-Length: far less sender CPU per request than http.client,
    which parses every header block with the email package."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.buffer = b""

    def exchange(self, request: bytes) -> int:
        self.sock.sendall(request)
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self._receive()
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        size = int(length.group(1)) if length else 0
        while len(rest) < size:
            rest += self._receive()
        self.buffer = rest[size:]
        if re.search(rb"(?im)^connection:\s*close", head):  # sync workers answer one request
            self.sock.close()
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=60)
            self.buffer = b""
        return int(head[9:12])

    def _receive(self) -> bytes:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        return chunk

    def close(self) -> None:
        self.sock.close()


def encode_request(port: int, key: str, path: str, body: bytes | None) -> bytes:
    method = "GET" if body is None else "POST"
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body or b'')}\r\n\r\n"
    )
    return head.encode() + (body or b"")


# Unexpected answers and connection errors of every phase; any of them fails the benchmark.
ERRORS: list[str] = []


def send_all(
    port: int, key: str, path: str, shares: list[list[bytes | None]], ok: set[int]
) -> tuple[int, float]:
    """Send each share of bodies over its own keep-alive connection (POST, or GET for a None
    body), all started behind a barrier. Answers (requests sent, seconds); errors go to
    ERRORS."""
    senders = len(shares)
    requests = [[encode_request(port, key, path, body) for body in share] for share in shares]
    barrier = threading.Barrier(senders + 1)
    deadline = time.monotonic() + PHASE_SECONDS
    sent = [0] * senders
    errors = ERRORS

    def sender(n: int) -> None:
        conn = Sender(port)
        barrier.wait()
        try:
            for request in requests[n]:
                status = conn.exchange(request)
                if status not in ok:
                    errors.append(f"{path}: HTTP {status}")
                sent[n] += 1
                if time.monotonic() > deadline:
                    break
        except OSError as exc:
            errors.append(f"{path}: {exc}")
        finally:
            conn.close()

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(senders)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return sum(sent), time.perf_counter() - started


def run_wrk(port: int, key: str, path: str, *script_args: str) -> float:
    """wrk's requests/s for ``path`` (2 threads, 16 connections); its error lines go to
    ERRORS."""
    command = [WRK, "-t2", "-c16", f"-d{WRK_SECONDS}s"]
    if script_args:
        command += ["-s", str(ROOT / "bench" / "wrk_single_run.lua")]
    command += [f"http://127.0.0.1:{port}{path}"]
    if script_args:
        command += ["--", *script_args]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s*([\d.]+)", output).group(1))
    ERRORS.extend(
        f"wrk {path}: {line.strip()}"
        for line in output.splitlines()
        if "Non-2xx" in line or "Socket errors" in line
    )
    return rate


@dataclass(frozen=True)
class Rates:
    """One server's rates in one round: req/s, runs/s or events/s."""

    health: float
    single: float
    batch: float
    lineage: float


@dataclass(frozen=True)
class Round:
    floors: Floors  # rows/s
    fast: Rates
    plain: Rates | None


def measure_http(port: int, key: str) -> Rates:
    """/healthz, single-run, batch and OpenLineage rates over HTTP: new runs in every phase."""

    def encode(items: list) -> list[bytes]:
        return [json.dumps(item).encode() for item in items]

    # What this machine gives a Django request with one query at this moment: /healthz.
    probes: list[bytes | None] = [None] * SINGLE_RUNS
    count, seconds = send_all(port, key, "/healthz", split(probes, SENDERS), {200})
    health_rate = count / seconds

    singles = [
        encode([run_item(n, "single") for n in share])
        for share in by_pipeline(CLOCK.take(SINGLE_RUNS), SENDERS)
    ]
    count, seconds = send_all(port, key, "/api/v1/runs/", singles, {201})
    single_rate = count / seconds

    batches = [
        encode(
            [
                [run_item(n, "batch") for n in share[start : start + BATCH_SIZE]]
                for start in range(0, len(share), BATCH_SIZE)
            ]
        )
        for share in by_pipeline(CLOCK.take(BATCHES * BATCH_SIZE), BATCH_SENDERS)
    ]
    count, seconds = send_all(port, key, "/api/v1/runs/", batches, {200})
    batch_rate = count * BATCH_SIZE / seconds

    # Each sender reports its own runs, START then COMPLETE, as a scheduler would.
    shares = [
        encode(
            [lineage_event(n, event_type) for n in share for event_type in ("START", "COMPLETE")]
        )
        for share in by_pipeline(CLOCK.take(LINEAGE_RUNS), SENDERS)
    ]
    count, seconds = send_all(port, key, "/api/v1/lineage", shares, {200, 201})
    lineage_rate = count / seconds
    return Rates(health_rate, single_rate, batch_rate, lineage_rate)


def spread(ratios: list[float]) -> str:
    """The median of per-round ratios, with their range."""
    return f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"


def main() -> int:
    base_name = connection.settings_dict["NAME"]
    connection.settings_dict.setdefault("TEST", {})
    connection.settings_dict["TEST"]["NAME"] = f"{base_name}_bench_ingest"
    started = time.monotonic()
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    servers: dict[str, tuple[subprocess.Popen, int]] = {}
    rounds: list[Round] = []
    wrk_rates = None
    try:
        client, key = create_client(slug="bench", name="Benchmark")
        pipeline_ids = [
            Pipeline.objects.create(client=client, slug=f"p{n}").pk for n in range(PIPELINES)
        ]
        create_plain_table()
        connection.close()
        for name in ("fast", "plain") if COMPARE_PLAIN else ("fast",):
            port = free_port()
            servers[name] = (start_gunicorn(port, fast_path=name == "fast"), port)
            # Warm every worker thread's connection and imports, and the pipelines' state rows.
            warm = [
                json.dumps(run_item(n, f"warm-{name}")).encode()
                for n in CLOCK.take(WORKERS * THREADS * 4 + PIPELINES)
            ]
            send_all(port, key, "/api/v1/runs/", split(warm, SENDERS), {201})
        for _ in range(ROUNDS):
            floors = measure_floors(pipeline_ids)
            fast = measure_http(servers["fast"][1], key)
            plain = measure_http(servers["plain"][1], key) if COMPARE_PLAIN else None
            rounds.append(Round(floors, fast, plain))
        if WRK:
            port = servers["fast"][1]
            wrk_health = run_wrk(port, key, "/healthz")
            wrk_single = run_wrk(port, key, "/api/v1/runs/", key, f"wrk-{time.time_ns()}")
            wrk_rates = (wrk_health, wrk_single)
    finally:
        for process, _ in servers.values():
            stop(process)
        connection.close()
        connection.creation.destroy_test_db(base_name, verbosity=0)

    threads = f" x {THREADS} threads" if WORKER_CLASS == "gthread" else ""
    print(
        f"gunicorn: {WORKERS} {WORKER_CLASS} workers{threads}; HTTP senders: {SENDERS} threads; "
        f"{ROUNDS} rounds, floors and HTTP alternating; rates are medians of the rounds, "
        "ratios the median (range) of each round's own ratio"
    )

    def rate(pick) -> float:
        return statistics.median([pick(r) for r in rounds])

    def ratio(numerator, denominator) -> str:
        return spread([numerator(r) / denominator(r) for r in rounds])

    rows = [
        (
            "floor: psycopg single-row autocommit upsert",
            rate(lambda r: r.floors.single),
            "rows/s",
            "plain table: runs_run's columns, constraints, indexes",
        ),
        (
            "floor: psycopg batched upsert (1,000/statement)",
            rate(lambda r: r.floors.batched),
            "rows/s",
            "",
        ),
    ]
    for name in ("fast", "plain") if COMPARE_PLAIN else ("fast",):
        label = "fast path" if name == "fast" else "plain path (CHM_INGEST_FAST_PATH=0)"

        def pick(r, field, name=name):
            return getattr(getattr(r, name), field)

        rows += [
            (
                f"{label}: GET /healthz (Django, one query)",
                rate(lambda r, pick=pick: pick(r, "health")),
                "req/s",
                "",
            ),
            (
                f"{label}: HTTP single-run ingest",
                rate(lambda r, pick=pick: pick(r, "single")),
                "runs/s",
                f"{ratio(lambda r, pick=pick: pick(r, 'single'), lambda r: r.floors.single)}"
                f" x single-row floor (target >= {TARGET_SINGLE}); "
                f"{ratio(lambda r, pick=pick: pick(r, 'single'), lambda r, pick=pick: pick(r, 'health'))}"
                " x /healthz",
            ),
            (
                f"{label}: HTTP batch ingest (1,000 per request)",
                rate(lambda r, pick=pick: pick(r, "batch")),
                "runs/s",
                f"{ratio(lambda r, pick=pick: pick(r, 'batch'), lambda r: r.floors.batched)}"
                f" x batched floor (target >= {TARGET_BATCH})",
            ),
            (
                f"{label}: OpenLineage events (START + COMPLETE)",
                rate(lambda r, pick=pick: pick(r, "lineage")),
                "events/s",
                f"{ratio(lambda r, pick=pick: pick(r, 'lineage'), lambda r, pick=pick: pick(r, 'single'))}"
                f" x single-run (target >= {TARGET_LINEAGE})",
            ),
        ]
    if COMPARE_PLAIN:
        rows += [
            (
                f"fast path's gain: {what}",
                rate(lambda r, what=what: getattr(r.fast, what) / getattr(r.plain, what)),
                "x plain",
                ratio(
                    lambda r, what=what: getattr(r.fast, what),
                    lambda r, what=what: getattr(r.plain, what),
                ),
            )
            for what in ("single", "batch", "lineage")
        ]
    if wrk_rates:
        # After the rounds: against the median floor.
        wrk_health, wrk_single = wrk_rates
        single_floor = rate(lambda r: r.floors.single)
        rows += [
            (
                "wrk: GET /healthz (2 threads, 16 connections)",
                wrk_health,
                "req/s",
                f"{wrk_health / single_floor:.2f} x single-row floor",
            ),
            (
                "wrk: HTTP single-run ingest",
                wrk_single,
                "runs/s",
                f"{wrk_single / single_floor:.2f} x single-row floor (target >= {TARGET_SINGLE}); "
                f"{wrk_single / wrk_health:.2f} x /healthz",
            ),
        ]
    for label, value, unit, note in rows:
        print(f"{label:<62} {value:>10,.2f} {unit:<9} {note}")
    print(f"elapsed: {time.monotonic() - started:.0f} s")
    if ERRORS:
        print(f"{len(ERRORS)} error responses, first: {ERRORS[:3]}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
