"""OpenLineage RunEvents as CHM runs: the adapter in front of runs/ingest.py.

A stock OpenLineage client posts to ``/api/v1/lineage`` (the path Marquez serves). Each event
becomes one ingestion item:

- job (namespace, name) → a pipeline of the key's client: the pipeline whose slug is the job
  name, else the one whose slug is ``namespace/name``; when neither exists and the client
  registers pipelines automatically, a new pipeline ``namespace/name`` is created. Events of
  child jobs (a ``parent`` run facet: Airflow tasks, dbt models, Spark actions) only land on a
  pipeline registered for them; they never register one, so a DAG with fifty tasks stays one
  pipeline.
- ``run.runId`` → ``external_run_id`` (lower-cased: run ids are UUIDs).
- eventType START/RUNNING → running, COMPLETE → success, FAIL → failed, ABORT → canceled; OTHER
  or no eventType changes nothing. ``eventTime`` is the start of a START or RUNNING event and the
  finish of a terminal one. A terminal event that arrives without its START is stored with
  ``started_at`` = ``finished_at``; the START, when it comes, lowers ``started_at`` (the earliest
  time is kept).
- the ``errorMessage`` run facet → ``error_message``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from inventory.models import Client, Pipeline, Platform
from runs import limits
from runs.ingest import REJECTED, UNCHANGED, ItemResult, ingest_runs

EVENT_STATUSES = {
    "START": "START",
    "RUNNING": "RUNNING",
    "COMPLETE": "COMPLETE",
    "FAIL": "FAIL",
    "ABORT": "ABORT",
}
NO_STATUS_EVENTS = {"OTHER", ""}
TERMINAL_EVENTS = {"COMPLETE", "FAIL", "ABORT"}

# Where each ingestion field comes from in an event, to name it in error messages.
_EVENT_FIELD = {
    "pipeline": "job.name",
    "external_run_id": "run.runId",
    "status": "eventType",
    "started_at": "eventTime",
    "finished_at": "eventTime",
    "error_message": "run.facets.errorMessage.message",
    "metadata": "run",
}

_PLATFORM_BY_INTEGRATION = {
    "AIRFLOW": Platform.AIRFLOW,
    "DBT": Platform.DBT,
    "SPARK": Platform.SPARK,
    "DAGSTER": Platform.DAGSTER,
    "PREFECT": Platform.PREFECT,
    "DATABRICKS": Platform.DATABRICKS,
    "GLUE": Platform.GLUE,
    "AIRBYTE": Platform.AIRBYTE,
    "FIVETRAN": Platform.FIVETRAN,
}
_SLUG_UNSAFE = re.compile(r"[^A-Za-z0-9._:/-]+")
SLUG_MAX_LENGTH = 200
# Longest job namespace or name: both are kept in each run's metadata.
JOB_TEXT_MAX_LENGTH = 1000


@dataclass(frozen=True)
class LineageResult:
    outcome: str
    run_id: int | None = None
    pipeline: str | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)
    detail: str = ""
    conflict: bool = False
    unknown_pipeline: bool = False


def ingest_lineage_event(*, client: Client, event: Any) -> LineageResult:
    """Store what one OpenLineage event says about a run of ``client``."""
    if not isinstance(event, Mapping):
        return _rejected({"body": ["An OpenLineage event is a JSON object."]})
    if "run" not in event and "eventType" not in event:
        # DatasetEvent and JobEvent describe lineage, not runs: acknowledged, nothing to store.
        return LineageResult(outcome=UNCHANGED, detail="Not a RunEvent: nothing to store.")

    # Any text of the event may end up in a statement (the job's names, its facets when it
    # registers a pipeline, the run's metadata): one PostgreSQL cannot store fails the event
    # here, naming where it is, instead of failing the statement.
    unstorable = limits.unstorable_text(event)
    if unstorable:
        return _rejected({unstorable[0]: [unstorable[1]]})

    errors: dict[str, list[str]] = {}
    run = _object(event, "run", errors)
    job = _object(event, "job", errors)
    run_id = _text(run, "runId", "run.runId", errors)
    namespace = _text(job, "namespace", "job.namespace", errors)
    name = _text(job, "name", "job.name", errors)
    event_time = event.get("eventTime")
    if not isinstance(event_time, str):
        errors["eventTime"] = ["Required: an ISO-8601 timestamp with a time zone."]
    event_type = event.get("eventType") or ""
    if not isinstance(event_type, str) or (
        event_type not in EVENT_STATUSES and event_type not in NO_STATUS_EVENTS
    ):
        errors["eventType"] = ["One of START, RUNNING, COMPLETE, FAIL, ABORT, OTHER."]
    facets = run.get("facets") if isinstance(run.get("facets"), Mapping) else {}
    if errors:
        return _rejected(errors)

    if event_type in NO_STATUS_EVENTS:
        return LineageResult(outcome=UNCHANGED, detail="OTHER events change no status.")

    is_child = isinstance(facets.get("parent"), Mapping)
    item: dict[str, Any] = {
        "external_run_id": run_id.lower(),
        "status": EVENT_STATUSES[event_type],
        "started_at": event_time,
        "metadata": _metadata(event, namespace, name, facets),
    }
    if event_type in TERMINAL_EVENTS:
        item["finished_at"] = event_time
        error = facets.get("errorMessage")
        if isinstance(error, Mapping) and isinstance(error.get("message"), str):
            item["error_message"] = error["message"]

    job_key = (client.pk, namespace, name)
    slug = _recent_jobs.get(job_key)
    if slug is not None:
        result = ingest_runs(client=client, items=[{**item, "pipeline": slug}]).results[0]
        if not result.unknown_pipeline:
            return _from_item_result(result, slug)
        # The pipeline was renamed or deleted since: resolve the job afresh.
        _recent_jobs.forget(job_key)

    pipeline = _pipeline_for_job(client, namespace, name, job, register=not is_child)
    if pipeline is None:
        detail = f"No pipeline for job {name!r} (namespace {namespace!r}) of this client" + (
            ": child runs only land on a pipeline registered for their job."
            if is_child
            else ", and the client does not register pipelines automatically."
        )
        if is_child:
            return LineageResult(outcome=UNCHANGED, detail=detail)
        return LineageResult(
            outcome=REJECTED, errors={"job.name": [detail]}, detail=detail, unknown_pipeline=True
        )
    _recent_jobs.remember(job_key, pipeline.slug)
    result = ingest_runs(client=client, items=[{**item, "pipeline": pipeline.slug}]).results[0]
    return _from_item_result(result, pipeline.slug)


class _RecentJobs:
    """Which pipeline slug a client's job resolved to, for a short while, per process.

    A scheduler reports every run of a job at least twice (START, then COMPLETE or FAIL), and
    resolving the job is a query of its own, about a third of an event's cost. A remembered
    slug is only a guess: ingestion checks it against the client's pipelines in the same
    statement, and a slug that no longer matches is forgotten and the job resolved again. The
    time bound makes a pipeline created later under the job's own name take over within
    ``ttl`` seconds.
    """

    def __init__(self, *, ttl: float = 60.0, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[tuple[int, str, str], tuple[str, float]] = {}

    def get(self, key: tuple[int, str, str]) -> str | None:
        entry = self._entries.get(key)
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    def remember(self, key: tuple[int, str, str], slug: str) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key] = (slug, time.monotonic() + self.ttl)

    def forget(self, key: tuple[int, str, str]) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()


_recent_jobs = _RecentJobs()


def _object(container: Mapping, key: str, errors: dict[str, list[str]]) -> Mapping:
    value = container.get(key)
    if isinstance(value, Mapping):
        return value
    errors[key] = ["Required: a JSON object."]
    return {}


def _text(container: Mapping, key: str, path: str, errors: dict[str, list[str]]) -> str:
    value = container.get(key)
    if isinstance(value, str) and value.strip():
        value = value.strip()
        if len(value) > JOB_TEXT_MAX_LENGTH:
            errors[path] = [f"At most {JOB_TEXT_MAX_LENGTH} characters."]
        elif error := limits.identifier_error(value):
            errors[path] = [error]
        else:
            return value
        return ""
    if container:
        errors[path] = ["Required: a non-empty string."]
    return ""


def _metadata(event: Mapping, namespace: str, name: str, facets: Mapping) -> dict[str, Any]:
    openlineage: dict[str, Any] = {"namespace": namespace, "job": name}
    if isinstance(event.get("producer"), str):
        openlineage["producer"] = event["producer"][:500]
    parent = facets.get("parent")
    if isinstance(parent, Mapping):
        parent_run = parent.get("run")
        if isinstance(parent_run, Mapping) and isinstance(parent_run.get("runId"), str):
            openlineage["parent_run_id"] = parent_run["runId"][:255]
    nominal = facets.get("nominalTime")
    if isinstance(nominal, Mapping) and isinstance(nominal.get("nominalStartTime"), str):
        openlineage["nominal_start_time"] = nominal["nominalStartTime"][:64]
    return {"openlineage": openlineage}


def _pipeline_for_job(
    client: Client, namespace: str, name: str, job: Mapping, *, register: bool
) -> Pipeline | None:
    qualified = _slug(f"{namespace}/{name}")
    candidates = {
        pipeline.slug: pipeline
        for pipeline in Pipeline.objects.filter(
            client=client, slug__in=[name, qualified]
        ).order_by()
    }
    found = candidates.get(name) or candidates.get(qualified)
    if found is not None or not register or not client.auto_register_pipelines:
        return found
    # get_or_create: two first events of a new job may arrive at once; the unique
    # (client, slug) constraint lets one insert win and the other read it.
    pipeline, _ = Pipeline.objects.get_or_create(
        client=client, slug=qualified, defaults=_pipeline_fields(name, job)
    )
    return pipeline


def _slug(text: str) -> str:
    slug = _SLUG_UNSAFE.sub("-", text).lstrip("._:/-")
    return slug[:SLUG_MAX_LENGTH] or "job"


def _pipeline_fields(name: str, job: Mapping) -> dict[str, Any]:
    facets = job.get("facets") if isinstance(job.get("facets"), Mapping) else {}
    fields: dict[str, Any] = {"name": name[:200], "platform": Platform.CUSTOM}
    job_type = facets.get("jobType")
    if isinstance(job_type, Mapping):
        integration = str(job_type.get("integration", "")).upper()
        fields["platform"] = _PLATFORM_BY_INTEGRATION.get(integration, Platform.CUSTOM)
    documentation = facets.get("documentation")
    if isinstance(documentation, Mapping) and isinstance(documentation.get("description"), str):
        fields["description"] = documentation["description"][:5000]
    ownership = facets.get("ownership")
    if isinstance(ownership, Mapping) and isinstance(ownership.get("owners"), list):
        owners = [
            owner["name"]
            for owner in ownership["owners"]
            if isinstance(owner, Mapping) and isinstance(owner.get("name"), str)
        ]
        fields["owner"] = ", ".join(owners)[:200]
    return fields


def _rejected(errors: dict[str, list[str]]) -> LineageResult:
    fields = ", ".join(sorted(errors))
    return LineageResult(outcome=REJECTED, errors=errors, detail=f"Invalid event: {fields}.")


def _from_item_result(result: ItemResult, pipeline_slug: str) -> LineageResult:
    if result.outcome != REJECTED:
        return LineageResult(outcome=result.outcome, run_id=result.run_id, pipeline=pipeline_slug)
    errors: dict[str, list[str]] = {}
    for name, messages in result.errors.items():
        errors.setdefault(_EVENT_FIELD.get(name, name), []).extend(messages)
    return LineageResult(
        outcome=REJECTED,
        pipeline=pipeline_slug,
        errors=errors,
        detail=f"Invalid event: {', '.join(sorted(errors))}.",
        conflict=result.conflict,
    )
