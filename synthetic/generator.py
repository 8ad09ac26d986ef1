"""The demo data set, built deterministically from a seed (pure Python: no database).

Times are generated relative to a fixed ``ANCHOR`` (the end of the data): the files are then
byte-identical on every regeneration, and ingestion shifts every timestamp by a whole number
of days so that the data ends today (``synthetic.ingest``). Whole days keep every UTC day
bucket, and so every expected answer, intact.

The output is a ``DataSet``: the inventory (``load_inventory`` format), the batches of run
events (REST ingestion format), the planted scenarios with their expected answers, and the
expected final state of every run (what the database must hold after ingestion).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

FORMAT_VERSION = 1
# The data set's version: v1.1 is v1 with incidents planted (failures sharing a cause across
# pipelines) and more slack on freshness expectations.
SET_VERSION = "1.1"
ANCHOR = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
DEFAULT_SEED = 1
DEFAULT_DAYS = 60
DEFAULT_CLIENTS = 6
BATCH_ITEMS = 250

CLIENTS = (
    ("northwind", "Northwind Traders"),
    ("acme", "Acme Corp"),
    ("globex", "Globex"),
    ("initech", "Initech"),
    ("umbrella", "Umbrella Health"),
    ("hooli", "Hooli"),
    ("stark", "Stark Industries"),
    ("wayne", "Wayne Enterprises"),
)
PIPELINE_NAMES = (
    "orders-etl",
    "customers-sync",
    "dbt-nightly",
    "events-ingest",
    "billing-export",
    "marketing-attribution",
    "inventory-snapshot",
    "ml-features",
    "salesforce-sync",
    "stripe-payments",
    "web-sessions",
    "ads-spend",
    "finance-ledger",
    "support-tickets",
    "product-catalog",
    "churn-model",
)
PLATFORMS = (
    "airflow",
    "airflow",
    "dagster",
    "prefect",
    "dbt",
    "fivetran",
    "airbyte",
    "spark",
    "databricks",
)
TEAMS = ("data-platform", "analytics-eng", "ingest-team", "ml-platform", "finance-data")
# Minutes between runs, and how often each schedule is drawn.
SCHEDULES = (360, 720, 720, 1440, 1440, 1440)
ERRORS = (
    "Task exited with return code 1",
    "Connection reset by peer",
    "Timeout waiting for upstream dataset",
    "OutOfMemoryError: Java heap space",
    "Permission denied on bucket",
)
# The sender's own spelling of a status, per platform (CHM maps them: runs/statuses.py).
SPELLINGS = {
    "dagster": {"success": "SUCCESS", "failed": "FAILURE", "running": "STARTED"},
    "prefect": {"success": "COMPLETED", "failed": "CRASHED", "canceled": "CANCELLED"},
    "airflow": {"skipped": "upstream_failed"},
}

OUTAGE_DAYS_BEFORE_END = 23
FAILING_STREAK = 5
STALE_DAYS_BEFORE_END = 4
STUCK_HOURS_BEFORE_END = 6
REGRESSION_DAYS = 5
FLAKY_FLIPS = (16, 12, 9)  # flips among the last 20 outcomes: distinct, so the ranking is fixed
# Each flaky pipeline deadlocks on a table of its own: look-alike messages, three causes.
FLAKY_TABLES = ("orders_staging", "customers_staging", "events_staging")

# Incidents (reporting.q11_*): all planted within the last INCIDENT_WINDOW_DAYS days before the
# end, which the views' 7-day window holds whatever the hour of ingestion, and a day later.
INCIDENT_WINDOW_DAYS = 5
CREDENTIAL_DAYS_BEFORE_END = 4
RECENT_OUTAGE_DAYS_BEFORE_END = 2
# One cause (the warehouse role lost its grant on a schema), as six tools print it.
CREDENTIAL_ERRORS = (
    "psycopg2.errors.InsufficientPrivilege: permission denied for schema analytics\n"
    "LINE 1: SELECT * FROM analytics.orders\n                      ^",
    "org.postgresql.util.PSQLException: ERROR: permission denied for schema analytics\n"
    "  Position: 15",
    "sqlalchemy.exc.ProgrammingError: (psycopg2.errors.InsufficientPrivilege) permission denied"
    " for schema analytics\n\n[SQL: SELECT count(*) FROM analytics.customers]\n"
    "(Background on this error at: https://sqlalche.me/e/20/f405)",
    "Database Error in model stg_orders (models/staging/stg_orders.sql)\n"
    "  permission denied for schema analytics\n"
    "  compiled code at target/run/shop/models/staging/stg_orders.sql",
    "ERROR:  permission denied for schema analytics",
    "[2025-12-28, 00:41:07 UTC] {taskinstance.py:2905} ERROR - "
    "psycopg2.errors.InsufficientPrivilege: permission denied for schema analytics",
)
# Another schema: another cause, its own incident, at the same time.
STAGING_ERRORS = (
    "psycopg2.errors.InsufficientPrivilege: permission denied for schema staging",
    "org.postgresql.util.PSQLException: ERROR: permission denied for schema staging",
)
# Look-alikes at the same time, one pipeline each: no incident, and none merged with another.
LOOK_ALIKE_ERRORS = (
    "snowflake.connector.errors.ProgrammingError: 002003 (42S02): "
    "01b3e5a2-0406-2f8c-0000-5c8d00a1b2c6: SQL compilation error:\n"
    "Object 'RAW.SHOP.ORDERS' does not exist or not authorized.",
    "snowflake.connector.errors.ProgrammingError: 002003 (42S02): "
    "01b3e5a2-0406-2f8c-0000-5c8d00a1b2c7: SQL compilation error:\n"
    "Object 'RAW.SHOP.CUSTOMERS' does not exist or not authorized.",
    'psycopg2.OperationalError: connection to server at "db-7.acme.internal" (10.0.3.17), '
    "port 5432 failed: Connection timed out",
    'psycopg2.OperationalError: connection to server at "db-2.globex.internal" (10.0.8.4), '
    "port 5432 failed: Connection refused",
)
# The most common platform's orchestrator failing under five or more pipelines at once, each
# with its own message: a platform incident.
PLATFORM_OUTAGE_ERRORS = (
    "Task received SIGTERM signal",
    "Executor reports task instance <TaskInstance: orders.load scheduled__2025-12-30T00:00:00"
    "+00:00 [queued]> finished (failed) although the task says it's queued. (Info: None) Was the"
    " task killed externally?",
    "airflow.exceptions.AirflowTaskTimeout: Timeout, PID: 4123",
    "sqlalchemy.exc.OperationalError: (psycopg2.OperationalError) server closed the connection"
    " unexpectedly",
    "Scheduler heartbeat lost: the DAG run was marked failed",
    "Worker pod airflow-worker-7f9c4 was evicted: The node was low on resource: memory.",
)
PLATFORM_INCIDENT_PIPELINES = 5  # the views' threshold


@dataclass
class PlannedRun:
    pipeline: str
    client: str
    external_run_id: str
    start: dt.datetime
    status: str  # the final status the database must hold
    finish: dt.datetime | None
    error: str = ""
    # A failed run an operator later marked successful: first reported failed at ``finish``,
    # then success at ``corrected_finish``.
    corrected_finish: dt.datetime | None = None


@dataclass
class PipelinePlan:
    client: str
    slug: str
    platform: str
    interval: int  # minutes
    base_seconds: int
    owner: str
    docs_url: str
    description: str
    freshness_minutes: int | None
    role: str = "background"  # or the scenario it plays
    runs: list[PlannedRun] = field(default_factory=list)


@dataclass
class DataSet:
    seed: int
    days: int
    inventory: dict[str, Any]
    batches: list[dict[str, Any]]
    scenarios: dict[str, Any]
    expected_runs: dict[tuple[str, str, str], tuple[str, str, str | None]]
    invalid_items: int

    def files(self) -> dict[str, bytes]:
        """Every file of the set, by path relative to the set's directory."""
        files = {"base/inventory.json": _dump(self.inventory)}
        for batch in self.batches:
            files[batch_path(batch["sequence"])] = dump_batch(batch)
        files["context/scenarios.json"] = _dump(self.scenarios)
        return files


def batch_path(sequence: int) -> str:
    return f"batches/batch-{sequence:04d}.json"


def dump_batch(batch: dict[str, Any]) -> bytes:
    """One item per line: the files diff well and stay small."""
    head = json.dumps({"sequence": batch["sequence"], "client": batch["client"]})[:-1]
    items = ",\n".join(json.dumps(item, separators=(",", ":")) for item in batch["items"])
    return f'{head}, "items": [\n{items}\n]}}\n'.encode()


def _dump(document: Any) -> bytes:
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build(
    *, seed: int = DEFAULT_SEED, days: int = DEFAULT_DAYS, clients: int = DEFAULT_CLIENTS
) -> DataSet:
    if not 3 <= clients <= len(CLIENTS):
        raise ValueError(f"clients must be between 3 and {len(CLIENTS)}.")
    if days < 35:
        raise ValueError("days must be at least 35 (the scenarios need a month of history).")
    rng = random.Random(seed)
    start = ANCHOR - dt.timedelta(days=days)
    pipelines = _plan_inventory(rng, clients=clients)
    scenarios = _assign_scenarios(rng, pipelines)
    for plan in pipelines:
        _plan_runs(rng, plan, start=start, scenarios=scenarios)
    _keep_background_quiet(pipelines)
    scenarios["incidents"] = _plant_incidents(rng, pipelines, scenarios)
    inventory = _inventory_document(pipelines, uncovered=scenarios["uncovered_client"]["client"])
    events, invalid = _events(rng, pipelines)
    batches = _batches(rng, events)
    expected = {}
    for plan in pipelines:
        for run in plan.runs:
            finish = run.corrected_finish or run.finish
            expected[(plan.client, plan.slug, run.external_run_id)] = (
                run.status,
                iso(run.start),
                iso(finish) if finish else None,
            )
    return DataSet(
        seed=seed,
        days=days,
        inventory=inventory,
        batches=batches,
        scenarios=_scenario_document(scenarios, pipelines, seed=seed, days=days),
        expected_runs=expected,
        invalid_items=invalid,
    )


# --- Inventory --------------------------------------------------------------------------------


def _plan_inventory(rng: random.Random, *, clients: int) -> list[PipelinePlan]:
    plans = []
    for slug, _name in CLIENTS[:clients]:
        for name in rng.sample(PIPELINE_NAMES, rng.randint(5, 8)):
            platform = rng.choice(PLATFORMS)
            interval = rng.choice(SCHEDULES)
            owner = rng.choice(TEAMS) if rng.random() < 0.85 else ""
            documented = rng.random() < 0.7
            docs = f"https://wiki.example.com/{slug}/{name}" if documented else ""
            description = f"{name.replace('-', ' ').capitalize()} for {slug}." if documented else ""
            # Generous enough for ingestion at any time of the day after the data's end and
            # validation up to a day later (a run of the tests that straddles midnight UTC).
            freshness = 3 * interval + 50 * 60 if rng.random() < 0.4 else None
            plans.append(
                PipelinePlan(
                    client=slug,
                    slug=name,
                    platform=platform,
                    interval=interval,
                    base_seconds=rng.choice((90, 240, 600, 1200, 1800)),
                    owner=owner,
                    docs_url=docs,
                    description=description,
                    freshness_minutes=freshness,
                )
            )
    return plans


def _assign_scenarios(rng: random.Random, pipelines: list[PipelinePlan]) -> dict[str, Any]:
    """Pick the pipelines that play each planted scenario (deterministic from ``rng``)."""
    by_platform: dict[str, list[PipelinePlan]] = {}
    for plan in pipelines:
        by_platform.setdefault(plan.platform, []).append(plan)
    # The outage hits the platform with the most pipelines (ties: by name), and one of its
    # pipelines runs every two hours, so that the outage day stands out in Q1 and Q8.
    outage_platform = min(by_platform, key=lambda p: (-len(by_platform[p]), p))
    outage = by_platform[outage_platform]
    outage[0].interval = 120
    for plan in outage:
        plan.role = "outage"

    others = [p for p in pipelines if p.platform != outage_platform]
    rng.shuffle(others)
    picks = iter(others)
    flaky = [next(picks) for _ in FLAKY_FLIPS]
    failing, stale, stuck, regression = next(picks), next(picks), next(picks), next(picks)
    # Flaky pipelines run twice a day and the failing one daily: enough history for Q6 and
    # Q7, and never as many failures in a day as the outage has.
    for plan in flaky:
        plan.role, plan.interval, plan.freshness_minutes = "flaky", 720, None
    failing.role, failing.interval, failing.freshness_minutes = "failing", 1440, None
    stale.role, stale.freshness_minutes, stale.interval = "stale", 1440, 360
    stuck.role, stuck.interval, stuck.freshness_minutes = "stuck", 360, None
    regression.role, regression.interval, regression.freshness_minutes = "regression", 360, None
    regression.base_seconds = 600

    clients = sorted({p.client for p in pipelines})
    planted_clients = {p.client for p in [*flaky, failing, stale, stuck, regression]}
    # The uncovered client: preferably one without other scenarios, so its rules never matter.
    candidates = [c for c in clients if c not in planted_clients] or clients
    uncovered = rng.choice(candidates)
    return {
        "outage": {
            "platform": outage_platform,
            "pipelines": outage,
            "day": ANCHOR - dt.timedelta(days=OUTAGE_DAYS_BEFORE_END),
        },
        "flaky": flaky,
        "failing": failing,
        "stale": stale,
        "stuck": stuck,
        "regression": regression,
        "uncovered_client": {"client": uncovered},
    }


def _inventory_document(pipelines: list[PipelinePlan], *, uncovered: str) -> dict[str, Any]:
    clients = []
    names = dict(CLIENTS)
    for slug in dict.fromkeys(p.client for p in pipelines):
        mine = [p for p in pipelines if p.client == slug]
        rules: list[dict[str, Any]] = []
        if slug != uncovered:
            rules.append(
                {
                    "name": "Any pipeline failing three times in a row",
                    "kind": "consecutive_failures",
                    "threshold": 3,
                    "severity": "critical",
                    "channel": "email",
                    "target": f"oncall@{slug}.example.com",
                }
            )
            rules.append(
                {
                    "name": "Failure rate above 25 % over a day",
                    "kind": "failure_rate",
                    "threshold": 25,
                    "window_minutes": 1440,
                    "min_runs": 4,
                    "severity": "warning",
                    "channel": "webhook",
                    # A name under .invalid, which never resolves (RFC 6761; CHM does not
                    # even ask DNS): the demo set sends no traffic anywhere. Deliveries fail
                    # and show as such.
                    "target": f"https://hooks.{slug}.invalid/chm",
                }
            )
            for plan in mine:
                if plan.freshness_minutes:
                    rules.append(
                        {
                            "name": f"{plan.slug} is stale",
                            "kind": "stale",
                            "pipeline": plan.slug,
                            "threshold": plan.freshness_minutes,
                            "severity": "warning",
                            "channel": "email",
                            "target": f"{plan.owner or 'data'}@{slug}.example.com",
                        }
                    )
        pipeline_docs = []
        for plan in mine:
            entry: dict[str, Any] = {
                "slug": plan.slug,
                "name": plan.slug.replace("-", " ").capitalize(),
                "platform": plan.platform,
                "owner": plan.owner,
                "description": plan.description,
                "docs_url": plan.docs_url,
            }
            if plan.freshness_minutes:
                entry["freshness_minutes"] = plan.freshness_minutes
            pipeline_docs.append(entry)
        clients.append(
            {"slug": slug, "name": names[slug], "pipelines": pipeline_docs, "alert_rules": rules}
        )
    return {"version": 1, "clients": clients}


# --- Runs -------------------------------------------------------------------------------------


def _external_id(rng: random.Random, plan: PipelinePlan, n: int) -> str:
    if plan.platform == "dagster":
        return "-".join(
            "".join(rng.choice("0123456789abcdef") for _ in range(size))
            for size in (8, 4, 4, 4, 12)
        )
    if plan.platform == "airflow":
        return f"scheduled__{plan.slug}__{n:05d}"
    return f"{plan.platform}-{plan.slug}-{n:05d}"


def _plan_runs(
    rng: random.Random, plan: PipelinePlan, *, start: dt.datetime, scenarios: dict[str, Any]
) -> None:
    interval = dt.timedelta(minutes=plan.interval)
    end = ANCHOR
    if plan.role == "stale":
        end = ANCHOR - dt.timedelta(days=STALE_DAYS_BEFORE_END)
    # Scheduled times sit on a per-pipeline offset, with a little jitter in the start.
    offset = dt.timedelta(minutes=rng.randrange(0, min(plan.interval, 120)))
    slots = []
    moment = start + offset
    while moment < end - dt.timedelta(minutes=90):
        slots.append(moment)
        moment += interval
    outage_day = scenarios["outage"]["day"]
    regression_from = ANCHOR - dt.timedelta(days=REGRESSION_DAYS)
    flaky_outcomes = None
    if plan.role == "flaky":
        flips = FLAKY_FLIPS[scenarios["flaky"].index(plan)]
        flaky_outcomes = _sequence_with_flips(rng, length=20, flips=flips)

    for n, scheduled in enumerate(slots):
        run_start = scheduled + dt.timedelta(seconds=rng.randrange(0, 90))
        seconds = int(plan.base_seconds * (0.85 + 0.3 * rng.random()))
        if plan.role == "regression" and run_start >= regression_from:
            seconds *= 3
        draw = rng.random()
        status, error = "success", ""
        if draw < 0.025:
            status, error = "failed", rng.choice(ERRORS)
        elif draw < 0.035:
            status = "canceled"
        elif draw < 0.045:
            status = "skipped"
        remaining = len(slots) - n
        if plan.role == "outage" and run_start.date() == outage_day.date():
            status = "failed"
            error = f"Connection refused: {plan.platform} API unavailable (HTTP 503)"
        elif plan.role == "failing" and remaining <= FAILING_STREAK:
            status, error = "failed", "dbt test failure: not_null_orders_order_id (42 rows)"
        elif plan.role == "failing" and remaining <= FAILING_STREAK + 3:
            status, error = "success", ""
        elif flaky_outcomes is not None and remaining <= 20:
            status = flaky_outcomes[20 - remaining]
            table = FLAKY_TABLES[scenarios["flaky"].index(plan)]
            error = (
                f"Deadlock detected on relation {table}; transaction rolled back"
                if status == "failed"
                else ""
            )
        elif plan.role in ("flaky", "regression", "stuck") and status in ("canceled", "skipped"):
            status = "success"
        if status == "skipped":
            seconds = 0
        finish: dt.datetime | None = run_start + dt.timedelta(seconds=seconds)
        if plan.role == "stuck" and remaining == 1:
            # Started hours before the end and never heard of again.
            run_start = ANCHOR - dt.timedelta(hours=STUCK_HOURS_BEFORE_END)
            status, finish, error = "running", None, ""
        plan.runs.append(
            PlannedRun(
                pipeline=plan.slug,
                client=plan.client,
                external_run_id=_external_id(rng, plan, n),
                start=run_start,
                status=status,
                finish=finish,
                error=error,
            )
        )
    if plan.role == "background":
        # Operators mark a few failed runs successful afterwards (corrections); only old ones,
        # since the corrected run's longer duration would otherwise show in Q5.
        month_ago = ANCHOR - dt.timedelta(days=30)
        for run in plan.runs:
            if run.status == "failed" and run.start < month_ago and rng.random() < 0.3:
                run.corrected_finish = run.finish + dt.timedelta(minutes=rng.randint(20, 240))
                run.status, run.error = "success", ""


def _sequence_with_flips(rng: random.Random, *, length: int, flips: int) -> list[str]:
    positions = set(rng.sample(range(1, length), flips))
    # Start so that the sequence ends on a success: a flaky pipeline is not on a failure streak.
    current = "success" if flips % 2 == 0 else "failed"
    sequence = []
    for i in range(length):
        if i in positions:
            current = "success" if current == "failed" else "failed"
        sequence.append(current)
    return sequence


def _keep_background_quiet(pipelines: list[PipelinePlan]) -> None:
    """Background noise must not answer a scenario's question by chance.

    Within the last 30 days only the planted failures remain: a background pipeline keeps at
    most one failure, older than 14 days (so nothing but the planted pipelines looks flaky in
    Q7, fails in Q6 or changes in Q5), and ends on two successes (so nothing but the planted
    pipeline is stale in Q9 however late in the day the set is ingested).
    """
    month_ago = ANCHOR - dt.timedelta(days=30)
    fortnight_ago = ANCHOR - dt.timedelta(days=14)
    for plan in pipelines:
        if plan.role == "flaky":
            continue
        kept_one = False
        for run in plan.runs:
            if (
                run.start < month_ago
                or run.status != "failed"
                or run.error.startswith(("Connection refused", "dbt test failure"))
            ):
                continue
            if plan.role == "background" and not kept_one and run.start < fortnight_ago:
                kept_one = True
                continue
            run.status, run.error = "success", ""
        if plan.role in ("background", "outage"):
            for run in plan.runs[-2:]:
                run.status, run.error = "success", ""
                if run.finish == run.start:  # a skipped run had no duration
                    run.finish = run.start + dt.timedelta(seconds=plan.base_seconds)


def _plant_incidents(
    rng: random.Random, pipelines: list[PipelinePlan], scenarios: dict[str, Any]
) -> dict[str, list[PlannedRun]]:
    """Failures that share a cause across pipelines, and look-alikes that must stay apart.

    Each planted failure is a pipeline's first run of its day (every pipeline runs between
    midnight and two in the morning, so they fall within two hours of each other), a pipeline
    that succeeds before and after it (so it recovers: the other scenarios' answers stay
    theirs). The groups, by the name their expected incident has (None: in none):

    - ``credential_expiry``: one schema's grant lost, six pipelines of three clients and
      several platforms, each message printed by another tool;
    - ``staging_grant``: another schema at the same time, two pipelines: an incident of its own;
    - ``look_alikes``: four pipelines at the same time with messages like each other's (two
      missing tables, a timeout and a refused connection): in no incident;
    - ``platform_outage``: five or more pipelines of the most common platform, each with its own
      message, two days later (when that platform has that many pipelines).
    """
    outage_platform = scenarios["outage"]["platform"]
    background = [p for p in pipelines if p.role == "background" and p.platform != outage_platform]
    by_client: dict[str, list[PipelinePlan]] = {}
    for plan in background:
        by_client.setdefault(plan.client, []).append(plan)
    # Two pipelines of each of three clients that have at least two (fewer in a small set).
    clients = sorted(c for c, plans in by_client.items() if len(plans) >= 2)
    credential = [
        plan
        for client in rng.sample(clients, min(3, len(clients)))
        for plan in rng.sample(by_client[client], 2)
    ]
    rest = [p for p in background if p not in credential]
    rng.shuffle(rest)
    staging, look_alikes = rest[:2], rest[2:6]

    credential_day = ANCHOR - dt.timedelta(days=CREDENTIAL_DAYS_BEFORE_END)
    groups = {
        "credential_expiry": (credential, CREDENTIAL_ERRORS),
        "staging_grant": (staging, STAGING_ERRORS),
        "look_alikes": (look_alikes, LOOK_ALIKE_ERRORS),
    }
    planted: dict[str, list[PlannedRun]] = {}
    for name, (plans, errors) in groups.items():
        # An incident needs two pipelines; look-alikes are planted whatever their number.
        if len(plans) >= 2 or (name == "look_alikes" and plans):
            planted[name] = [
                _fail_first_run_of(plan, credential_day, error)
                for plan, error in zip(plans, errors, strict=False)
            ]
    outage = sorted(scenarios["outage"]["pipelines"], key=lambda p: (p.client, p.slug))
    if len(outage) >= PLATFORM_INCIDENT_PIPELINES:
        outage_day = ANCHOR - dt.timedelta(days=RECENT_OUTAGE_DAYS_BEFORE_END)
        chosen = outage[: len(PLATFORM_OUTAGE_ERRORS)]
        planted["platform_outage"] = [
            _fail_first_run_of(plan, outage_day, error)
            for plan, error in zip(chosen, PLATFORM_OUTAGE_ERRORS, strict=False)
        ]
    return planted


def _fail_first_run_of(plan: PipelinePlan, day: dt.datetime, error: str) -> PlannedRun:
    run = next(r for r in plan.runs if r.start.date() == day.date())
    run.status, run.error = "failed", error
    if run.finish is None or run.finish == run.start:  # a skipped run had no duration
        run.finish = run.start + dt.timedelta(seconds=plan.base_seconds)
    return run


# --- Events and batches -----------------------------------------------------------------------


@dataclass(order=True)
class _Event:
    emit_at: dt.datetime
    order: int
    client: str = field(compare=False)
    items: list[dict[str, Any]] = field(compare=False)


def _item(
    plan: PipelinePlan,
    run: PlannedRun,
    status: str,
    *,
    finish: dt.datetime | None = None,
    error: str = "",
) -> dict[str, Any]:
    spelled = SPELLINGS.get(plan.platform, {}).get(status, status)
    item: dict[str, Any] = {
        "pipeline": plan.slug,
        "external_run_id": run.external_run_id,
        "status": spelled,
        "started_at": iso(run.start),
    }
    if finish is not None:
        item["finished_at"] = iso(finish)
    if error:
        item["error_message"] = error
    return item


def _events(rng: random.Random, pipelines: list[PipelinePlan]) -> tuple[list[_Event], int]:
    events: list[_Event] = []
    counter = iter(range(10**9))

    def emit(at: dt.datetime, client: str, *items: dict[str, Any]) -> None:
        events.append(_Event(at, next(counter), client, list(items)))

    for plan in pipelines:
        for run in plan.runs:
            if rng.random() < 0.25:
                emit(run.start - dt.timedelta(seconds=30), plan.client, _item(plan, run, "queued"))
            if run.status == "running" or rng.random() < 0.4:
                emit(run.start, plan.client, _item(plan, run, "running"))
            if run.status == "running":
                continue
            first_status = "failed" if run.corrected_finish else run.status
            first_error = "Task exited with return code 1" if run.corrected_finish else run.error
            terminal = _item(plan, run, first_status, finish=run.finish, error=first_error)
            emit(run.finish, plan.client, terminal)
            if rng.random() < 0.03:  # a duplicate delivery, a while later
                emit(run.finish + dt.timedelta(hours=2), plan.client, dict(terminal))
            if rng.random() < 0.015:  # a late `running` after the terminal event
                emit(
                    run.finish + dt.timedelta(minutes=45), plan.client, _item(plan, run, "running")
                )
            if run.corrected_finish:
                emit(
                    run.corrected_finish,
                    plan.client,
                    _item(plan, run, "success", finish=run.corrected_finish),
                )

    invalid = 0
    background = [p for p in pipelines if p.role == "background"]
    for n, plan in enumerate(rng.sample(background, 4)):
        run = plan.runs[len(plan.runs) // 2 + n]
        at = run.finish + dt.timedelta(minutes=5)
        bad_id = f"{run.external_run_id}-manual-{n}"
        bad_items = [
            {**_item(plan, run, "success", finish=run.finish), "pipeline": f"{plan.slug}-old"},
            {
                **_item(plan, run, "success", finish=run.finish),
                "external_run_id": bad_id,
                "started_at": iso(run.start)[:-1],  # no time zone
            },
            {
                **_item(plan, run, "failed", finish=run.start - dt.timedelta(minutes=5)),
                "external_run_id": bad_id,
            },
            {**_item(plan, run, "success", finish=run.finish), "status": "exploded"},
        ]
        emit(at, plan.client, bad_items[n])
        invalid += 1
    # A terminal status contradicted at the same finish time: a conflict, rejected. It travels
    # in the same event as the original so that no reordering can swap them.
    for plan in rng.sample(background, 2):
        run = next(r for r in reversed(plan.runs) if r.status == "success" and r.finish)
        conflict = _item(plan, run, "failed", finish=run.finish, error="Conflicting report")
        original = next(
            e for e in events if e.items[0] == _item(plan, run, "success", finish=run.finish)
        )
        original.items.append(conflict)
        invalid += 1
    events.sort()
    return events, invalid


def _batches(rng: random.Random, events: list[_Event]) -> list[dict[str, Any]]:
    per_client: dict[str, list[list[dict[str, Any]]]] = {}
    first_emit: dict[tuple[str, int], dt.datetime] = {}
    for event in events:
        chunks = per_client.setdefault(event.client, [[]])
        if len(chunks[-1]) + len(event.items) > BATCH_ITEMS:
            chunks.append([])
        if not chunks[-1]:
            first_emit[(event.client, len(chunks) - 1)] = event.emit_at
        chunks[-1].extend(event.items)
    order = sorted(first_emit, key=lambda key: (first_emit[key], key))
    # Out-of-order delivery: now and then a client's batch swaps places with its next one.
    for chunks in per_client.values():
        index = 0
        while index < len(chunks) - 1:
            if rng.random() < 0.12:
                chunks[index], chunks[index + 1] = chunks[index + 1], chunks[index]
                index += 1
            index += 1
    return [
        {"sequence": sequence, "client": client, "items": per_client[client][index]}
        for sequence, (client, index) in enumerate(order, start=1)
    ]


# --- Scenarios document -----------------------------------------------------------------------


def _scenario_document(
    scenarios: dict[str, Any], pipelines: list[PipelinePlan], *, seed: int, days: int
) -> dict[str, Any]:
    def ref(plan: PipelinePlan) -> dict[str, str]:
        return {"client": plan.client, "pipeline": plan.slug}

    outage = scenarios["outage"]
    day = outage["day"].date()
    outage_runs = sum(1 for p in outage["pipelines"] for r in p.runs if r.start.date() == day)
    stuck_run = scenarios["stuck"].runs[-1]
    return {
        "format": FORMAT_VERSION,
        "version": SET_VERSION,
        "seed": seed,
        "days": days,
        "anchor": iso(ANCHOR),
        "time_shift": (
            "Timestamps in the files end at the anchor; ingestion adds the whole number of days "
            "from the anchor's date to the current UTC date."
        ),
        "scenarios": {
            "platform_outage": {
                "platform": outage["platform"],
                "day": day.isoformat(),
                "days_before_end": OUTAGE_DAYS_BEFORE_END,
                "failed_runs": outage_runs,
                "expect": "Q1 and Q8 (daily): the day with the most failures is this day, on this platform.",
            },
            "flaky_pipelines": {
                "pipelines": [ref(p) for p in scenarios["flaky"]],
                "flips": list(FLAKY_FLIPS),
                "expect": "Q7: exactly these are flaky, ranked first in this order.",
            },
            "failing_streak": {
                **ref(scenarios["failing"]),
                "consecutive_failures": FAILING_STREAK,
                "expect": "Q6: the only pipeline on a failure streak, with this many failures.",
            },
            "stale_pipeline": {
                **ref(scenarios["stale"]),
                "freshness_minutes": scenarios["stale"].freshness_minutes,
                "last_run_days_before_end": STALE_DAYS_BEFORE_END,
                "expect": "Q9: the only stale pipeline.",
            },
            "stuck_run": {
                **ref(scenarios["stuck"]),
                "external_run_id": stuck_run.external_run_id,
                "started_hours_before_end": STUCK_HOURS_BEFORE_END,
                "expect": "Q9: the only stuck run.",
            },
            "duration_regression": {
                **ref(scenarios["regression"]),
                "factor": 3,
                "since_days_before_end": REGRESSION_DAYS,
                "expect": "Q5: the only pipeline whose p95 duration grew (change 'slower').",
            },
            "incidents": _incidents_document(scenarios),
            "uncovered_client": {
                "client": scenarios["uncovered_client"]["client"],
                "pipelines": sum(
                    1 for p in pipelines if p.client == scenarios["uncovered_client"]["client"]
                ),
                "expect": "Q10 (by client): coverage 0 %, the only client below 100 %.",
            },
        },
    }


INCIDENT_EXPECTATIONS = {
    "credential_expiry": "Q11: one incident (shared signature) of exactly these pipelines.",
    "staging_grant": "Q11: one incident (shared signature) of exactly these pipelines, apart "
    "from the credential expiry at the same time.",
    "look_alikes": "Q11: in no incident (no two share a cause).",
    "platform_outage": "Q11: one incident (platform) of exactly these pipelines.",
}


def _incidents_document(scenarios: dict[str, Any]) -> dict[str, Any]:
    planted = scenarios["incidents"]
    document: dict[str, Any] = {
        "window_days_before_end": INCIDENT_WINDOW_DAYS,
        "expect": "Q11 groups the failed runs of the last "
        f"{INCIDENT_WINDOW_DAYS} days exactly as planted: pairwise precision and recall 1.0.",
    }
    for name, runs in planted.items():
        document[name] = {
            "day": runs[0].start.date().isoformat(),
            "runs": [
                {"client": r.client, "pipeline": r.pipeline, "external_run_id": r.external_run_id}
                for r in runs
            ],
            "expect": INCIDENT_EXPECTATIONS[name],
        }
        if name == "platform_outage":
            document[name]["platform"] = scenarios["outage"]["platform"]
    return document


def summarize(data: DataSet) -> dict[str, Any]:
    """Counts the set states about itself (files only: no database)."""
    items = [item for batch in data.batches for item in batch["items"]]
    statuses = Counter(status for status, _, _ in data.expected_runs.values())
    return {
        "clients": len(data.inventory["clients"]),
        "pipelines": sum(len(c["pipelines"]) for c in data.inventory["clients"]),
        "alert_rules": sum(len(c["alert_rules"]) for c in data.inventory["clients"]),
        "batches": len(data.batches),
        "items": len(items),
        "invalid_items": data.invalid_items,
        "runs": len(data.expected_runs),
        "runs_by_status": dict(sorted(statuses.items())),
    }
