"""Run ingestion: the one place where reported runs are written.

The REST API, the OpenLineage adapter, the synthetic-data loader and the tests all call
``ingest_runs``. Each item is validated on its own by ``RunItemSerializer``
(runs/serializers.py); the valid ones are applied to the stored runs by the state machine of
runs/transitions.py, and the database's unique constraint on ``(pipeline_id,
external_run_id)`` is the idempotency key:

- a single run goes through ``Run.objects.get_or_create`` with exactly that key, under the
  run's row lock, then through the state machine;
- a batch takes the bulk form of the same: the existing runs read and locked in one query,
  ``bulk_create(ignore_conflicts=True)`` for the new ones and a re-read of them (which also
  catches a row that raced in), the state machine over each run's events in the order listed,
  and ``bulk_update`` for the runs that changed.

In the same transaction the writer keeps the derived state that must be current: each
pipeline's run state (runs/pipeline_state.py; O(1) for events that arrive in order), and the
daily rollup's exactness (runs/rollups.py: only closed days it touched lose their rollup).

Lock order. Every transaction that writes runs (this module, pruning, the bulk loader) takes
its locks in this order, each group in ascending order and up front for the whole batch, so
that two writers never wait for each other in a circle:

1. the state rows of the pipelines it writes, by pipeline id (``pipeline_state.lock``);
2. the runs, by (pipeline_id, external_run_id): read FOR UPDATE in that order, new ones
   inserted in that order;
3. the rollup's day locks, shared, by day (``rollups.runs_written``).

Holding (1) first makes all writers of one pipeline take turns, so (2) never waits on another
writer of runs at all; a refresh of the rollup holds one day lock and takes no other. Should a
deadlock or a serialization failure happen all the same (a writer outside CHM that ignores the
order), the transaction is retried a few times before the error reaches the caller.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from inventory.models import Client, Pipeline
from runs import pipeline_state, rollups
from runs.models import PipelineState, Run, RunStatus
from runs.pipeline_state import RunPoint, StateValues
from runs.serializers import RunItemSerializer, run_fields
from runs.signals import terminal_runs_ingested
from runs.signatures import failure_signature
from runs.statuses import is_terminal
from runs.transitions import (
    CREATED,
    OUTCOMES,
    REJECTED,
    UNCHANGED,
    UPDATED,
    RunFields,
    Transition,
    apply_event,
)

__all__ = [
    "CREATED",
    "OUTCOMES",
    "REJECTED",
    "UNCHANGED",
    "UPDATED",
    "IngestResult",
    "ItemResult",
    "ingest_runs",
]

logger = logging.getLogger(__name__)

# A deadlock or serialization failure, retried this many times in all (see the lock order).
WRITE_ATTEMPTS = 3
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure
# Rows per UPDATE statement of bulk_update: PostgreSQL evaluates its CASE per row, so the cost
# of one statement grows with the square of its rows.
UPDATE_BATCH_SIZE = 100
RUN_FIELDS = tuple(f.name for f in dataclasses.fields(RunFields))


@dataclass(frozen=True)
class ItemResult:
    index: int
    outcome: str
    run_id: int | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)
    # The stored run, for a call with a single item (the API answers with it); None otherwise.
    run: Run | None = None
    # True when the item contradicts the stored terminal status with the same finished_at
    # (the REST API answers 409 for a single item).
    conflict: bool = False
    # True when the item names a pipeline the client does not have (its own or not at all:
    # the two are indistinguishable on purpose, so nothing leaks about other clients).
    unknown_pipeline: bool = False


@dataclass(frozen=True)
class IngestResult:
    results: list[ItemResult]
    summary: dict[str, int]


@dataclass(frozen=True)
class Item:
    index: int
    pipeline_slug: str
    external_run_id: str
    event: RunFields

    @property
    def key(self) -> tuple[str, str]:
        return (self.pipeline_slug, self.external_run_id)

    @classmethod
    def of(cls, index: int, attrs: Mapping[str, Any]) -> Item:
        """The item at ``index`` from its serializer-validated attributes."""
        return cls(
            index=index,
            pipeline_slug=attrs["pipeline"],
            external_run_id=attrs["external_run_id"],
            event=run_fields(attrs),
        )


def ingest_runs(*, client: Client, items: Sequence[Any]) -> IngestResult:
    """Validate and store reported runs of ``client``'s pipelines; one result per item.

    Items use the REST format (docs/api.md); timestamps are ISO-8601 strings or aware
    datetimes. Valid items are stored even when others are rejected, and a rejected item writes
    nothing. After the transaction commits, ``terminal_runs_ingested`` is sent once with the
    pipelines that gained or corrected a terminal run.
    """
    if settings.CHM_INGEST_FAST_PATH and not connection.in_atomic_block:
        # Imported here: the fast path builds on this module.
        from runs import fast_ingest

        fast = _retrying(lambda: fast_ingest.ingest_runs(client=client, items=items))
        if fast is not None:
            return fast
    results: dict[int, ItemResult] = {}
    valid = _validate(items, results)
    pipelines = _pipelines(client, valid)
    for item in valid:
        if item.pipeline_slug not in pipelines:
            results[item.index] = unknown_pipeline(item)
    known = [item for item in valid if item.pipeline_slug in pipelines]
    if known:
        write = _write_one if len(items) == 1 else _write_batch
        _retrying(lambda: write(known, pipelines, results))
    return summarize(results, len(items))


def summarize(results: Mapping[int, ItemResult], count: int) -> IngestResult:
    ordered = [results[index] for index in range(count)]
    summary = dict.fromkeys(OUTCOMES, 0)
    for result in ordered:
        summary[result.outcome] += 1
    return IngestResult(results=ordered, summary=summary)


def _retrying(write: Callable[[], Any]) -> Any:
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        try:
            return write()
        except OperationalError as exc:
            retryable = getattr(exc.__cause__, "sqlstate", None) in RETRYABLE_SQLSTATES
            # Inside a caller's transaction the error has aborted it: only the caller can retry.
            if not retryable or attempt == WRITE_ATTEMPTS or connection.in_atomic_block:
                raise
            logger.warning("Ingestion retried after %s (attempt %d)", exc.__cause__, attempt)


def _validate(items: Sequence[Any], results: dict[int, ItemResult]) -> list[Item]:
    serializer = item_serializer()
    valid = []
    for index, item in enumerate(items):
        try:
            attrs = serializer.run_validation(item)
        except ValidationError as exc:
            results[index] = ItemResult(index=index, outcome=REJECTED, errors=_errors(exc))
            continue
        valid.append(Item.of(index, attrs))
    return valid


@functools.cache
def item_serializer() -> RunItemSerializer:
    # One for every item of every call: building its fields deep-copies their declarations.
    # Validation keeps no state on it (run_validation, not is_valid), so threads may share it.
    return RunItemSerializer()


def _errors(exc: ValidationError) -> dict[str, list[str]]:
    detail = exc.detail if isinstance(exc.detail, Mapping) else {"non_field_errors": exc.detail}
    return {str(name): [str(message) for message in messages] for name, messages in detail.items()}


def _pipelines(client: Client, items: list[Item]) -> dict[str, int]:
    """The client's pipelines the items name, slug → id; each one given a state row first
    (outside the writing transaction: see pipeline_state.ensure_rows)."""
    if not items:
        return {}
    rows = Pipeline.objects.filter(
        client=client, slug__in={item.pipeline_slug for item in items}
    ).values_list("slug", "pk", "run_state__pipeline_id")
    pipelines = {slug: pk for slug, pk, _ in rows}
    pipeline_state.ensure_rows(pk for _, pk, state in rows if state is None)
    return pipelines


def unknown_pipeline(item: Item) -> ItemResult:
    return ItemResult(
        index=item.index,
        outcome=REJECTED,
        errors={"pipeline": [f"No pipeline {item.pipeline_slug!r} for this client."]},
        unknown_pipeline=True,
    )


def conflict(item: Item, stored: RunFields) -> ItemResult:
    return ItemResult(
        index=item.index,
        outcome=REJECTED,
        errors={
            "status": [
                f"Conflicts with the stored status {stored.status!r} of this run, reported "
                "with the same finished_at. A correction needs a later finished_at."
            ]
        },
        conflict=True,
    )


def run_values(fields: RunFields) -> dict[str, Any]:
    # Not dataclasses.asdict, which deep-copies every value (metadata included).
    return {name: getattr(fields, name) for name in RUN_FIELDS}


def signature_of(fields: RunFields) -> str | None:
    """The ``failure_signature`` stored with a run of these fields: its error message's digest
    when it failed, else None. Computed only for the runs a call writes (a failed run's message
    costs ~17 µs, bench/signatures.py; other runs nothing)."""
    if fields.status != RunStatus.FAILED:
        return None
    signature = failure_signature(fields.error_message)
    return signature.digest if signature is not None else None


def _stored_fields(run: Run) -> RunFields:
    return RunFields(**{name: getattr(run, name) for name in RUN_FIELDS})


# --- One run ----------------------------------------------------------------------------------


def _write_one(items: list[Item], pipelines: dict[str, int], results: dict[int, ItemResult]):
    (item,) = items
    pipeline_id = pipelines[item.pipeline_slug]
    with transaction.atomic():
        states = pipeline_state.lock([pipeline_id])
        if not states:  # deleted since it was looked up
            results[item.index] = unknown_pipeline(item)
            return
        run, created = Run.objects.select_for_update().get_or_create(
            pipeline_id=pipeline_id,
            external_run_id=item.external_run_id,
            defaults=run_values(item.event) | {"failure_signature": signature_of(item.event)},
        )
        plan = RunPlan(pipeline_id, item.external_run_id, [item])
        if created:
            plan.fold(None, None)
        else:
            plan.fold(run.pk, _stored_fields(run))
            if plan.writes:
                changed = _assign(run, plan.final)
                run.save(update_fields=[*changed, "updated_at"])
        plan.record(results, run.pk, run=run)
        if plan.writes:
            _keep_derived_state(states, [plan.change(run.pk)])


def _assign(run: Run, fields: RunFields) -> list[str]:
    """Set ``fields`` on ``run``, and the signature they give; the names of those that
    changed."""
    changed = []
    for name in RUN_FIELDS:
        value = getattr(fields, name)
        if getattr(run, name) != value:
            setattr(run, name, value)
            changed.append(name)
    if changed:
        signature = signature_of(fields)
        if run.failure_signature != signature:
            run.failure_signature = signature
            changed.append("failure_signature")
    return changed


# --- A batch ----------------------------------------------------------------------------------


def _write_batch(items: list[Item], pipelines: dict[str, int], results: dict[int, ItemResult]):
    plans = plan_runs(items, pipelines)
    with transaction.atomic():
        states = pipeline_state.lock({pipeline_id for pipeline_id, _ in plans})
        for key in [key for key in plans if key[0] not in states]:  # deleted since looked up
            for item in plans.pop(key).items:
                results[item.index] = unknown_pipeline(item)
        stored = {(run.pipeline_id, run.external_run_id): run for run in _locked_runs(plans)}
        for key, plan in plans.items():
            run = stored.get(key)
            plan.fold(run.pk if run else None, _stored_fields(run) if run else None)

        new = {key: plan for key, plan in sorted(plans.items()) if plan.stored is None}
        Run.objects.bulk_create(
            [
                Run(
                    pipeline_id=plan.pipeline_id,
                    external_run_id=plan.external_run_id,
                    failure_signature=signature_of(plan.final),
                    **run_values(plan.final),
                )
                for plan in new.values()
            ],
            ignore_conflicts=True,
        )
        for run in _locked_runs(new):
            key = (run.pipeline_id, run.external_run_id)
            stored[key] = run
            if _stored_fields(run) != new[key].final:
                # Another writer inserted this run since it was read: the events apply to it.
                new[key].fold(run.pk, _stored_fields(run))

        now = timezone.now()
        changed = []
        for key, plan in plans.items():
            if plan.stored is not None and plan.writes:
                _assign(stored[key], plan.final)
                stored[key].updated_at = now
                changed.append(stored[key])
        Run.objects.bulk_update(
            changed,
            [*RUN_FIELDS, "failure_signature", "updated_at"],
            batch_size=UPDATE_BATCH_SIZE,
        )

        for key, plan in plans.items():
            plan.record(results, stored[key].pk)
        _keep_derived_state(
            states, [plan.change(stored[key].pk) for key, plan in plans.items() if plan.writes]
        )


def _locked_runs(keys: Iterable[tuple[int, str]]) -> list[Run]:
    """The stored runs of these keys, locked in key order (one query: the pipelines' and the
    run ids' cross product, narrowed here)."""
    keys = set(keys)
    if not keys:
        return []
    candidates = (
        Run.objects.select_for_update()
        .filter(
            pipeline_id__in={pipeline_id for pipeline_id, _ in keys},
            external_run_id__in={external_run_id for _, external_run_id in keys},
        )
        .order_by("pipeline_id", "external_run_id")
    )
    return [run for run in candidates if (run.pipeline_id, run.external_run_id) in keys]


def _keep_derived_state(
    states: Mapping[int, PipelineState], changes: list[tuple[int, RunPoint | None, RunPoint]]
) -> None:
    """The plain path's writes of what ``derive`` says, in the writing transaction."""
    derived = derive({pk: StateValues.of(state) for pk, state in states.items()}, changes)
    pipeline_state.save(derived.states | pipeline_state.recompute(derived.stale))
    rollups.runs_written(derived.days)
    if derived.terminal:
        terminal = derived.terminal
        transaction.on_commit(
            lambda: terminal_runs_ingested.send(sender=Run, pipeline_ids=terminal)
        )


# --- What the writes do: shared by the plain path and runs/fast_ingest.py ---------------------


@dataclass
class RunPlan:
    """One run of a call: its events in the order listed, and what they do to it."""

    pipeline_id: int
    external_run_id: str
    items: list[Item] = field(default_factory=list)
    # The run as stored before the events (None: no such run yet).
    stored_id: int | None = None
    stored: RunFields | None = None
    transitions: list[Transition] = field(default_factory=list)
    final: RunFields | None = None

    def fold(self, stored_id: int | None, stored: RunFields | None) -> None:
        """Apply the events, in order, to the stored run."""
        self.stored_id, self.stored, current = stored_id, stored, stored
        self.transitions = []
        for item in self.items:
            transition = apply_event(current, item.event)
            self.transitions.append(transition)
            if not transition.conflict:
                current = transition.run
        self.final = current

    @property
    def writes(self) -> bool:
        return any(transition.writes for transition in self.transitions)

    def change(self, run_id: int) -> tuple[int, RunPoint | None, RunPoint]:
        """The write, for ``derive``: the pipeline, the run before and after."""
        before = None
        if self.stored is not None:
            before = RunPoint.of_fields(self.stored_id, self.external_run_id, self.stored)
        return (
            self.pipeline_id,
            before,
            RunPoint.of_fields(run_id, self.external_run_id, self.final),
        )

    def record(self, results: dict[int, ItemResult], run_id: int, run: Run | None = None) -> None:
        for item, transition in zip(self.items, self.transitions, strict=True):
            if transition.conflict:
                results[item.index] = conflict(item, transition.run)
            else:
                results[item.index] = ItemResult(
                    index=item.index, outcome=transition.outcome, run_id=run_id, run=run
                )


def plan_runs(items: list[Item], pipelines: Mapping[str, int]) -> dict[tuple[int, str], RunPlan]:
    """The items grouped by run, keyed by (pipeline id, external run id)."""
    plans: dict[tuple[int, str], RunPlan] = {}
    for item in items:
        key = (pipelines[item.pipeline_slug], item.external_run_id)
        plans.setdefault(key, RunPlan(*key)).items.append(item)
    return plans


@dataclass(frozen=True)
class Derived:
    """What a transaction's writes do to the derived state."""

    # The new state of each written pipeline that advance() could move forward.
    states: dict[int, StateValues]
    # The pipelines whose state must be recomputed from their runs (after the writes).
    stale: list[int]
    # The UTC days whose rollup the writes change.
    days: set[dt.date]
    # The pipelines that gained or corrected a terminal run.
    terminal: set[int]


def derive(
    states: Mapping[int, StateValues], changes: list[tuple[int, RunPoint | None, RunPoint]]
) -> Derived:
    """The derived state after ``changes`` (each written run's pipeline, and the run before
    (None: new) and after), from the written pipelines' states before them."""
    by_pipeline: dict[int, list[tuple[RunPoint | None, RunPoint]]] = defaultdict(list)
    days: set[dt.date] = set()
    terminal: set[int] = set()
    for pipeline_id, before, after in changes:
        by_pipeline[pipeline_id].append((before, after))
        if before is None or (before.status, before.started_at) != (after.status, after.started_at):
            days.add(after.started_at.astimezone(dt.UTC).date())
            if before is not None:
                days.add(before.started_at.astimezone(dt.UTC).date())
        if is_terminal(after.status) and (
            before is None
            or (before.status, before.finished_at) != (after.status, after.finished_at)
        ):
            terminal.add(pipeline_id)

    advanced: dict[int, StateValues] = {}
    stale = []
    for pipeline_id, pipeline_changes in by_pipeline.items():
        # In the order of the runs: new runs reported in order then each advance the state.
        state = pipeline_state.advance_all(
            states[pipeline_id], sorted(pipeline_changes, key=lambda change: change[1].order)
        )
        if state is None:
            stale.append(pipeline_id)
        else:
            advanced[pipeline_id] = state
    return Derived(states=advanced, stale=stale, days=days, terminal=terminal)
