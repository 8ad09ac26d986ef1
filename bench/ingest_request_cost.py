"""CPU time of one request in a web worker: ``GET /healthz`` against a single-run
``POST /api/v1/runs/`` (a successful run, and a failed one with an error message, whose failure
signature is computed and stored with it) and an OpenLineage event (``POST /api/v1/lineage``, a run's START then
its COMPLETE), called straight through Django's WSGI handler (what gunicorn calls,
middleware included, without gunicorn and without any HTTP client).

Process CPU time moves far less than throughput when other work shares the cores, so this is
the figure to compare code changes by on a busy machine. Best of ``BENCH_COST_ROUNDS`` rounds
of ``BENCH_COST_REQUESTS`` requests each; also counts Python function calls per request (one
profiled round), which no load moves at all. PostgreSQL's own time (the statement, the
triggers, the commit) is not in the CPU figure: only the wait for it is in the wall time.

    DATABASE_URL=postgres://… .venv/bin/python bench/ingest_request_cost.py
"""

from __future__ import annotations

import cProfile
import io
import json
import os
import pstats
import sys
import time

import _ingest_bodies as bodies  # noqa: E402
from _django_setup import setup_django  # noqa: E402

os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1")
os.environ["INGEST_RATE_LIMIT"] = "0"
os.environ["CHM_ALERTS_EVALUATE_ON_INGEST"] = "0"
setup_django()

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.db import connection  # noqa: E402

from inventory.clients import create_client  # noqa: E402
from inventory.models import Pipeline  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_COST_ROUNDS", "7"))
REQUESTS = int(os.environ.get("BENCH_COST_REQUESTS", "300"))
PIPELINES = 20


def wsgi_call(application, method: str, path: str, body: bytes = b"", key: str = "") -> str:
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
    }
    if key:
        environ["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    status = []
    chunks = application(environ, lambda line, headers, exc_info=None: status.append(line))
    b"".join(chunks)
    chunks.close()
    return status[0]


def run_body(number: int) -> bytes:
    return json.dumps(bodies.run_item(number, "cost", PIPELINES)).encode()


# A failed run's message as a warehouse client prints it: ids, a host and a statement to set aside.
FAILED_MESSAGE = (
    "snowflake.connector.errors.ProgrammingError: 002003 (42S02): "
    "01b3e5a2-0406-2f8c-0000-5c8d00a1b2c6: SQL compilation error:\n"
    "Object 'RAW.SHOP.ORDERS' does not exist or not authorized.\n"
    "[SQL: SELECT * FROM raw.shop.orders WHERE loaded_at > '2026-03-01 02:10:33']"
)


def failed_run_body(number: int) -> bytes:
    item = bodies.run_item(number, "cost-failed", PIPELINES)
    return json.dumps(item | {"status": "failed", "error_message": FAILED_MESSAGE}).encode()


def lineage_body(number: int) -> bytes:
    """Event ``number``: even numbers start a run, odd ones complete the run started before."""
    event_type = "START" if number % 2 == 0 else "COMPLETE"
    return json.dumps(bodies.lineage_event(number // 2, event_type, PIPELINES)).encode()


def main() -> int:
    base_name = connection.settings_dict["NAME"]
    connection.settings_dict.setdefault("TEST", {})
    connection.settings_dict["TEST"]["NAME"] = f"{base_name}_bench_request_cost"
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        client, key = create_client(slug="bench", name="Benchmark")
        for n in range(PIPELINES):
            Pipeline.objects.create(client=client, slug=f"p{n}")
        application = get_wsgi_application()
        numbers = iter(range(10**9))

        def healthz() -> str:
            return wsgi_call(application, "GET", "/healthz")

        def ingest() -> str:
            return wsgi_call(application, "POST", "/api/v1/runs/", run_body(next(numbers)), key)

        def ingest_failed() -> str:
            # Numbered after the successful runs: in order, as the successful ones were.
            body = failed_run_body(next(numbers))
            return wsgi_call(application, "POST", "/api/v1/runs/", body, key)

        events = iter(range(10**9))

        def lineage() -> str:
            return wsgi_call(
                application, "POST", "/api/v1/lineage", lineage_body(next(events)), key
            )

        results = {}
        for label, request, expected in (
            ("healthz", healthz, "200"),
            ("ingest", ingest, "201"),
            ("failed", ingest_failed, "201"),
            ("lineage", lineage, "20"),
        ):
            for _ in range(REQUESTS):  # warm connections, imports and prepared statements
                assert request().startswith(expected)
            cpu, wall = [], []
            for _ in range(ROUNDS):
                started_cpu, started = time.process_time(), time.perf_counter()
                for _ in range(REQUESTS):
                    request()
                cpu.append((time.process_time() - started_cpu) / REQUESTS)
                wall.append((time.perf_counter() - started) / REQUESTS)
            profile = cProfile.Profile()
            profile.enable()
            for _ in range(REQUESTS):
                request()
            profile.disable()
            calls = pstats.Stats(profile).total_calls / REQUESTS
            results[label] = (min(cpu), min(wall), calls)
    finally:
        connection.close()
        connection.creation.destroy_test_db(base_name, verbosity=0)

    print(f"best of {ROUNDS} rounds of {REQUESTS} requests, one process, no HTTP server")
    for label, (cpu, wall, calls) in results.items():
        print(
            f"{label:<8} CPU {cpu * 1e3:6.2f} ms/request  wall {wall * 1e3:6.2f} ms/request  "
            f"{calls:6.0f} Python calls/request"
        )
    ratio = results["ingest"][0] / results["healthz"][0]
    print(f"single-run ingest costs {ratio:.1f} x the CPU of /healthz in the worker")
    extra = (results["failed"][0] - results["ingest"][0]) * 1e6
    print(f"a failed run with a message costs {extra:+.0f} µs of CPU more than a successful one")
    ratio = results["lineage"][0] / results["ingest"][0]
    print(f"an OpenLineage event costs {ratio:.2f} x the CPU of a single-run request")
    return 0


if __name__ == "__main__":
    sys.exit(main())
