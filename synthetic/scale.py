"""Bulk synthetic load for benchmarks: millions of runs written with PostgreSQL COPY.

This bypasses the ingestion service on purpose. Benchmarks need 10 M runs in minutes, and the
ingestion path (validation, upserts, outcomes) is measured by its own benchmark; what matters
here is a realistic shape (a status mix, per-pipeline durations, schedules over ``days``) at
close to the database's raw COPY rate.

Everything is drawn from one ``random.Random(seed)``, so the same arguments and the same
``now`` give the same rows. Clients are ``scale-c00001`` …; loading twice into the same
database is refused (``ScaleDataExists``) unless ``replace=True``.

Rows go out in transactions of about ``chunk_rows`` runs: the runs table's foreign key is
``DEFERRABLE INITIALLY DEFERRED`` (Django's default), so PostgreSQL queues one check per row
until commit, and 10 M queued checks in one transaction would cost gigabytes of memory.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from django.db import connection, transaction

from runs import pipeline_state
from runs.change_windows import refresh_change_windows
from runs.derived_state import runs_rewritten
from runs.rollups import refresh_daily_rollup
from runs.signatures import failure_signature

SCALE_SLUG_PREFIX = "scale-c"

PLATFORMS = (
    "airflow",
    "airflow",
    "airflow",
    "dagster",
    "prefect",
    "dbt",
    "dbt",
    "fivetran",
    "airbyte",
    "spark",
    "databricks",
    "glue",
    "adf",
    "custom",
)
OWNERS = ("data-platform", "analytics-eng", "ingest-team", "ml-platform", "finance-data", "")
ERRORS = (
    "Task exited with return code 1",
    "Connection reset by peer",
    "Timeout waiting for upstream dataset",
    "dbt test failure: not_null_orders_id",
    "OutOfMemoryError: Java heap space",
    "Permission denied on bucket",
    "Schema mismatch: column 'amount' changed type",
)
# Columns written by COPY; ``id`` and the generated ``duration`` are left to PostgreSQL.
RUN_COLUMNS = (
    "pipeline_id",
    "external_run_id",
    "status",
    "started_at",
    "finished_at",
    "error_message",
    "failure_signature",
    "metadata",
    "created_at",
    "updated_at",
)


RUNS_COPY_SQL = f"COPY runs_run ({', '.join(RUN_COLUMNS)}) FROM STDIN"  # noqa: S608 -- constants
RunChunk = tuple[str, Counter]


class ScaleDataExists(Exception):
    """Scale clients are already in the database; pass ``replace=True`` to load again."""


@dataclass
class ScaleStats:
    clients: int
    pipelines: int
    runs: int
    seconds: float  # the whole load: inventory, runs, ANALYZE
    copy_seconds: float  # generating and COPYing the runs
    status_counts: dict[str, int] = field(default_factory=dict)

    @property
    def runs_per_second(self) -> float:
        return self.runs / self.copy_seconds if self.copy_seconds else 0.0


@dataclass(frozen=True)
class PipelineShape:
    """What one pipeline's generated history looks like."""

    pipeline_id: int
    runs: int
    base_seconds: int  # typical duration
    failure_rate: float
    flaky: bool
    ends_running: bool


def load_scale(
    *,
    runs: int,
    pipelines: int,
    clients: int,
    seed: int = 1,
    days: int = 60,
    now: dt.datetime | None = None,
    replace: bool = False,
    chunk_rows: int = 500_000,
    progress: bool = False,
) -> ScaleStats:
    """Write ``clients`` clients, ``pipelines`` pipelines and ``runs`` runs with COPY.

    Runs end at ``now`` (default: the current hour) and go back ``days`` days. Answers the
    counts, the status mix and the wall-clock seconds of the whole load (ANALYZE and the daily
    rollup's refresh included, so that the dashboards see the new rows at full speed at once).
    """
    if clients < 1 or pipelines < clients or runs < pipelines:
        raise ValueError("Need 1 ≤ clients ≤ pipelines ≤ runs.")
    end = _whole_hour(now or dt.datetime.now(dt.UTC))
    started = time.perf_counter()
    if replace:
        delete_scale_data()
    elif _scale_clients_exist():
        raise ScaleDataExists(
            "Scale data is already loaded (clients scale-c…); pass replace=True to reload it."
        )
    pipeline_ids = _copy_inventory(
        clients=clients, pipelines=pipelines, rng=random.Random(f"{seed}:inventory"), at=end
    )
    # The runs have a stream of their own, so that ``plan_runs`` can replay exactly these rows
    # (the benchmark COPYs them raw into a twin table to measure the floor).
    shapes, rows = plan_runs(pipeline_ids, runs=runs, seed=seed, end=end, days=days)
    copy_started = time.perf_counter()
    status_counts: Counter[str] = Counter()
    bar = _progress_bar(total=runs, enabled=progress)
    pipeline_state.ensure_rows(pipeline_ids)
    loaded_days = _days_between(end - dt.timedelta(days=days), end)
    try:
        for group in _groups_of_about(shapes, chunk_rows):
            group_ids = [shape.pipeline_id for shape in group]
            with transaction.atomic(), connection.cursor() as cursor:
                # A writer of runs like any other: the state locks first, and the state of
                # these pipelines and the rollup of their days kept in the same transaction.
                pipeline_state.lock(group_ids)
                with cursor.copy(RUNS_COPY_SQL) as copy:
                    for chunk, counts in rows(group):
                        copy.write(chunk)
                        status_counts.update(counts)
                        if bar is not None:
                            bar.update(sum(counts.values()))
                runs_rewritten(pipeline_ids=group_ids, days=loaded_days)
    finally:
        if bar is not None:
            bar.close()
    copy_seconds = time.perf_counter() - copy_started
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE inventory_client, inventory_pipeline, runs_run")
    # The dashboards read closed days from the daily rollup and Q5 its what-changed windows;
    # without them they count the runs themselves.
    refresh_daily_rollup()
    refresh_change_windows()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE runs_rolledupday, runs_dailyruncount, runs_dailyplatformcount")
        # Computing the windows rewrote every pipeline's state row: vacuum now, as autovacuum
        # soon would (while whatever follows the load runs). VACUUM cannot run inside a
        # transaction (tests).
        if connection.in_atomic_block:
            cursor.execute("ANALYZE runs_pipelinestate")
        else:
            cursor.execute("VACUUM (ANALYZE) runs_pipelinestate")
    return ScaleStats(
        clients=clients,
        pipelines=pipelines,
        runs=sum(status_counts.values()),
        seconds=time.perf_counter() - started,
        copy_seconds=copy_seconds,
        status_counts=dict(sorted(status_counts.items())),
    )


def _days_between(start: dt.datetime, end: dt.datetime) -> list[dt.date]:
    first, last = start.astimezone(dt.UTC).date(), end.astimezone(dt.UTC).date()
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


def plan_runs(
    pipeline_ids: Sequence[int], *, runs: int, seed: int, end: dt.datetime, days: int
) -> tuple[list[PipelineShape], Callable[[Sequence[PipelineShape]], Iterator[RunChunk]]]:
    """The pipelines' shapes and a function yielding their COPY chunks, from ``seed`` alone."""
    rng = random.Random(f"{seed}:runs")
    shapes = plan_pipelines(pipeline_ids, runs=runs, rng=rng)

    def rows(group: Sequence[PipelineShape]) -> Iterator[RunChunk]:
        return iter_run_chunks(group, rng=rng, end=end, days=days)

    return shapes, rows


def delete_scale_data() -> int:
    """Remove every scale client with its pipelines and runs; answers the clients removed."""
    with transaction.atomic(), connection.cursor() as cursor:
        like = SCALE_SLUG_PREFIX + "%"
        # The state rows first: the lock order of every writer of runs (runs/ingest.py).
        cursor.execute(
            "DELETE FROM runs_pipelinestate WHERE pipeline_id IN (SELECT p.id"
            " FROM inventory_pipeline p JOIN inventory_client c ON c.id = p.client_id"
            " WHERE c.slug LIKE %s)",
            [like],
        )
        cursor.execute(
            "DELETE FROM runs_run WHERE pipeline_id IN (SELECT p.id FROM inventory_pipeline p"
            " JOIN inventory_client c ON c.id = p.client_id WHERE c.slug LIKE %s)",
            [like],
        )
        cursor.execute(
            "DELETE FROM alerts_alertrule WHERE client_id IN"
            " (SELECT id FROM inventory_client WHERE slug LIKE %s)",
            [like],
        )
        cursor.execute(
            "DELETE FROM inventory_pipeline WHERE client_id IN"
            " (SELECT id FROM inventory_client WHERE slug LIKE %s)",
            [like],
        )
        cursor.execute("DELETE FROM inventory_client WHERE slug LIKE %s", [like])
        return cursor.rowcount


def plan_pipelines(
    pipeline_ids: Sequence[int], *, runs: int, rng: random.Random
) -> list[PipelineShape]:
    """Split ``runs`` over the pipelines by schedule weight (every few minutes … daily)."""
    weights = [rng.choice((0.25, 0.5, 1.0, 1.0, 2.0, 4.0)) for _ in pipeline_ids]
    total = sum(weights)
    counts = [max(1, int(runs * w / total)) for w in weights]
    # Hand the rounding remainder out round-robin so the total is exactly ``runs``.
    remainder = runs - sum(counts)
    i = 0
    while remainder != 0:
        step = 1 if remainder > 0 else -1
        if step > 0 or counts[i % len(counts)] > 1:
            counts[i % len(counts)] += step
            remainder -= step
        i += 1
    shapes = []
    for pipeline_id, count in zip(pipeline_ids, counts, strict=True):
        kind = rng.random()
        flaky = kind < 0.03
        failure_rate = 0.4 if flaky else (rng.uniform(0.08, 0.2) if kind < 0.13 else 0.02)
        shapes.append(
            PipelineShape(
                pipeline_id=pipeline_id,
                runs=count,
                base_seconds=rng.choice((45, 120, 300, 600, 1200, 2400, 3600)),
                failure_rate=failure_rate,
                flaky=flaky,
                ends_running=rng.random() < 0.02,
            )
        )
    return shapes


def iter_run_chunks(
    shapes: Sequence[PipelineShape],
    *,
    rng: random.Random,
    end: dt.datetime,
    days: int,
    chunk_lines: int = 20_000,
) -> Iterator[RunChunk]:
    """Yield COPY text chunks of runs (``RUN_COLUMNS`` order) and the status mix of each."""
    span = days * 86_400
    end_epoch = int(end.timestamp())
    first_epoch = end_epoch - span
    day_cache: dict[int, str] = {}

    def stamp(epoch: int) -> str:
        # strftime per row would dominate the generation cost; a per-day prefix does not.
        day, rest = divmod(epoch, 86_400)
        prefix = day_cache.get(day)
        if prefix is None:
            prefix = dt.datetime.fromtimestamp(day * 86_400, dt.UTC).strftime("%Y-%m-%d ")
            day_cache[day] = prefix
        hours, rest = divmod(rest, 3600)
        minutes, seconds = divmod(rest, 60)
        return f"{prefix}{hours:02d}:{minutes:02d}:{seconds:02d}+00"

    random_ = rng.random
    lines: list[str] = []
    counts: Counter[str] = Counter()
    n_errors = len(ERRORS)
    # Each error's signature, as ingestion would store it (runs/signatures.py), once.
    signatures = [failure_signature(error).digest for error in ERRORS]
    for shape in shapes:
        interval = span / shape.runs
        pid = shape.pipeline_id
        base = shape.base_seconds
        fail = shape.failure_rate
        previous_failed = False
        for i in range(shape.runs):
            start = first_epoch + int(i * interval + random_() * interval * 0.2)
            draw = random_()
            # Flaky pipelines alternate more than chance would: the Q7 ranking's shape.
            failed = draw < ((0.25 if previous_failed else 0.6) if shape.flaky else fail)
            if i == shape.runs - 1 and shape.ends_running:
                status = "running"
            elif failed:
                status = "failed"
            elif draw > 0.985:
                status = "canceled"
            elif draw > 0.975:
                status = "skipped"
            else:
                status = "success"
            previous_failed = status == "failed"
            started = stamp(start)
            if status == "running":
                finished = "\\N"
                updated = started
                error, signature = "", "\\N"
            else:
                # Durations: mostly near the pipeline's norm, with a long tail.
                factor = 0.6 + random_() * 0.8
                if draw < 0.01:
                    factor *= 4
                finish = start + int(base * factor) + 1
                if status == "skipped":
                    finish = start
                finished = updated = stamp(finish)
                error, signature = "", "\\N"
                if status == "failed":
                    error = ERRORS[int(draw * 1000) % n_errors]
                    signature = signatures[int(draw * 1000) % n_errors]
            lines.append(
                f"{pid}\tr{i}\t{status}\t{started}\t{finished}\t{error}\t{signature}"
                f"\t{{}}\t{started}\t{updated}\n"
            )
            counts[status] += 1
            if len(lines) >= chunk_lines:
                yield "".join(lines), counts
                lines = []
                counts = Counter()
    if lines:
        yield "".join(lines), counts


def _groups_of_about(shapes: list[PipelineShape], rows: int) -> Iterator[list[PipelineShape]]:
    group: list[PipelineShape] = []
    size = 0
    for shape in shapes:
        group.append(shape)
        size += shape.runs
        if size >= rows:
            yield group
            group, size = [], 0
    if group:
        yield group


def _copy_inventory(
    *, clients: int, pipelines: int, rng: random.Random, at: dt.datetime
) -> list[int]:
    """COPY the clients and pipelines; answers the pipeline ids in creation order."""
    stamp = at.isoformat()
    with transaction.atomic(), connection.cursor() as cursor:
        with cursor.copy(
            "COPY inventory_client (slug, name, is_active, auto_register_pipelines,"
            " key_prefix, created_at, updated_at) FROM STDIN"
        ) as copy:
            for n in range(1, clients + 1):
                copy.write(
                    f"{SCALE_SLUG_PREFIX}{n:05d}\tScale client {n}\tt\tf\t\t{stamp}\t{stamp}\n"
                )
        cursor.execute(
            "SELECT id FROM inventory_client WHERE slug LIKE %s ORDER BY slug",
            [SCALE_SLUG_PREFIX + "%"],
        )
        client_ids = [row[0] for row in cursor.fetchall()]
        with cursor.copy(
            "COPY inventory_pipeline (client_id, slug, name, platform, owner, description,"
            " docs_url, freshness_minutes, is_active, created_at, updated_at) FROM STDIN"
        ) as copy:
            for n in range(pipelines):
                # Every client gets at least one pipeline; the rest are spread at random.
                client_id = client_ids[n] if n < clients else rng.choice(client_ids)
                platform = rng.choice(PLATFORMS)
                owner = rng.choice(OWNERS)
                docs = f"https://wiki.example.com/pipelines/p{n:06d}" if rng.random() < 0.6 else ""
                freshness = str(rng.choice((60, 180, 1440, 2880))) if rng.random() < 0.3 else "\\N"
                copy.write(
                    f"{client_id}\tp{n:06d}\tPipeline {n}\t{platform}\t{owner}\t\t{docs}\t"
                    f"{freshness}\tt\t{stamp}\t{stamp}\n"
                )
        cursor.execute(
            "SELECT p.id FROM inventory_pipeline p JOIN inventory_client c ON c.id = p.client_id"
            " WHERE c.slug LIKE %s ORDER BY p.slug",
            [SCALE_SLUG_PREFIX + "%"],
        )
        return [row[0] for row in cursor.fetchall()]


def _scale_clients_exist() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM inventory_client WHERE slug LIKE %s)",
            [SCALE_SLUG_PREFIX + "%"],
        )
        return bool(cursor.fetchone()[0])


def _whole_hour(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        raise ValueError("now must be an aware datetime.")
    return moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def _progress_bar(*, total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="run", unit_scale=True, desc="runs (COPY)")
