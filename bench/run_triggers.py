"""What the triggers on runs_run cost ingestion, against the same ingestion with them disabled.

In one process, as in a web worker: single-run ``ingest_runs`` calls and 1,000-run batches,
with the triggers that keep the dashboards' derived tables (the pipeline state and the daily
rollup's invalidation) enabled and disabled, side by side in each round, the order
alternating. Reports the medians of the rounds' rates and their ratio.

The triggers are disabled for the whole table while a round runs without them (``ALTER TABLE
runs_run DISABLE TRIGGER USER``, committed; disabling them inside each call would also drop
the connection's prepared upsert every time): run it on a database nothing else writes to.
It writes a throw-away client and deletes it at the end, with the triggers enabled again, so
the derived tables forget its runs.

    DATABASE_URL=postgres://… .venv/bin/python bench/run_triggers.py
    # knobs: BENCH_TRIGGER_CALLS (single-run calls per side and round, 400),
    #        BENCH_TRIGGER_BATCHES (batches per side and round, 4), BENCH_TRIGGER_ROUNDS (6)
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import statistics
import time

from _django_setup import setup_django  # noqa: E402

setup_django()

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from inventory.models import Client, Pipeline  # noqa: E402
from runs.ingest import ingest_runs  # noqa: E402

CALLS = int(os.environ.get("BENCH_TRIGGER_CALLS", "400"))
BATCHES = int(os.environ.get("BENCH_TRIGGER_BATCHES", "4"))
ROUNDS = int(os.environ.get("BENCH_TRIGGER_ROUNDS", "6"))
BATCH_SIZE = 1000
PIPELINES = 20


def items(label: str, count: int, slugs: list[str]) -> list[dict]:
    start = timezone.now() - dt.timedelta(days=2)
    return [
        {
            "pipeline": slugs[n % len(slugs)],
            "external_run_id": f"{label}-{n}",
            "status": "failed" if n % 7 == 0 else "success",
            "started_at": (start + dt.timedelta(seconds=n)).isoformat(),
            "finished_at": (start + dt.timedelta(seconds=n + 60)).isoformat(),
        }
        for n in range(count)
    ]


def set_triggers(enabled: bool) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE runs_run {'ENABLE' if enabled else 'DISABLE'} TRIGGER USER")


def rate(client: Client, bodies: list[list[dict]], *, triggers: bool) -> float:
    """Runs/s of ingesting ``bodies`` one call each; each call commits, as a request does."""
    if not triggers:
        set_triggers(False)
    try:
        started = time.perf_counter()
        for body in bodies:
            ingest_runs(client=client, items=body)
        return sum(len(body) for body in bodies) / (time.perf_counter() - started)
    finally:
        set_triggers(True)


def main() -> None:
    suffix = secrets.token_hex(4)
    client = Client.objects.create(slug=f"bench-triggers-{suffix}", name="Trigger bench")
    slugs = [f"p{n}" for n in range(PIPELINES)]
    Pipeline.objects.bulk_create(Pipeline(client=client, slug=slug) for slug in slugs)
    figures: dict[tuple[str, bool], list[float]] = {}
    try:
        for round_number in range(ROUNDS):
            for triggers in (True, False) if round_number % 2 else (False, True):
                tag = f"{round_number}-{int(triggers)}"
                single = [[item] for item in items(f"s{tag}", CALLS, slugs)]
                batch = items(f"b{tag}", BATCHES * BATCH_SIZE, slugs)
                batches = [batch[i : i + BATCH_SIZE] for i in range(0, len(batch), BATCH_SIZE)]
                figures.setdefault(("single", triggers), []).append(
                    rate(client, single, triggers=triggers)
                )
                figures.setdefault(("batch", triggers), []).append(
                    rate(client, batches, triggers=triggers)
                )
    finally:
        client.delete()
    print(f"{'ingestion':<28}{'triggers off':>14}{'triggers on':>14}{'ratio':>8}")
    for kind in ("single", "batch"):
        off = statistics.median(figures[(kind, False)])
        on = statistics.median(figures[(kind, True)])
        label = "single-run calls" if kind == "single" else f"batches of {BATCH_SIZE:,}"
        print(f"{label:<28}{off:>11,.0f}/s {on:>11,.0f}/s {on / off:>7.2f}")


if __name__ == "__main__":
    main()
