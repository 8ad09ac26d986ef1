"""The per-pipeline run state behind "failing now": defined here, and only here.

``runs_pipelinestate`` holds, per pipeline, what the status views (Q2, Q3, Q6, Q7, Q9) and the
consecutive-failure alerts read instead of the pipeline's runs: its latest run, its latest
success-or-failed run (the *outcomes*; canceled, skipped and unfinished runs neither clear nor
extend a failure streak), its last success and last failure, the failures since the last
success, and its last 20 outcomes with running totals of failures and flips.

Two ways to the same values, and a property test (tests/unit/test_pipeline_state.py) that they
agree whatever the order in which runs are written:

- ``advance`` moves a state forward by one written run in O(1) (the arrays hold at most 20
  entries). It covers what a scheduler sends in order: a new run, or an update of the newest
  outcome or the latest run. For anything else (a run that finished after a newer one did, a
  corrected status deep in the history, a run that moved back in time) it answers None;
- ``recompute`` then reads what the state needs of the pipeline's history: a bounded number of
  index lookups per pipeline, whatever the number of runs stored.

Every writer of runs keeps the state in the transaction that writes them (runs/ingest.py,
pruning, the bulk loader), holding the state row's lock (``lock``) first: writers of one
pipeline take turns, and each reads the state after the previous one committed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import SimpleNamespace

from django.contrib.postgres.expressions import ArraySubquery
from django.db import DEFAULT_DB_ALIAS, connection
from django.db.models import Count, Min, OuterRef, Q, Subquery, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, JSONObject
from django.utils import timezone

from inventory.models import Pipeline
from runs.models import (
    CHANGE_WINDOW_OPTIONAL,
    CHANGE_WINDOW_REQUIRED,
    PipelineState,
    Run,
    RunStatus,
)
from runs.transitions import RunFields

RECENT_OUTCOMES = 20
_OUTCOMES = (RunStatus.SUCCESS, RunStatus.FAILED)
# Earlier than any run: "after the last success" when there was none.
_BEFORE_ALL_RUNS = dt.datetime(1, 1, 2, tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class RunPoint:
    """What the state needs to know of one run."""

    id: int
    external_run_id: str
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    error_message: str

    @property
    def order(self) -> tuple[dt.datetime, int]:
        # Runs are ordered by (started_at, id) everywhere in CHM.
        return (self.started_at, self.id)

    @property
    def is_outcome(self) -> bool:
        return self.status in _OUTCOMES

    @classmethod
    def of_fields(cls, run_id: int, external_run_id: str, fields: RunFields) -> RunPoint:
        return cls(
            id=run_id,
            external_run_id=external_run_id,
            status=fields.status,
            started_at=fields.started_at,
            finished_at=fields.finished_at,
            error_message=fields.error_message,
        )

    @classmethod
    def of(cls, run: Run) -> RunPoint:
        return cls(
            id=run.pk,
            external_run_id=run.external_run_id,
            status=run.status,
            started_at=run.started_at,
            finished_at=run.finished_at,
            error_message=run.error_message,
        )


@dataclass(frozen=True, slots=True)
class StateValues:
    """The columns of a PipelineState row that follow from the pipeline's runs."""

    last_run_id: int | None = None
    last_external_run_id: str | None = None
    last_status: str | None = None
    last_started_at: dt.datetime | None = None
    last_finished_at: dt.datetime | None = None
    last_duration: dt.timedelta | None = None
    last_outcome_id: int | None = None
    last_outcome_status: str | None = None
    last_outcome_started_at: dt.datetime | None = None
    last_outcome_error: str | None = None
    last_success_id: int | None = None
    last_success_started_at: dt.datetime | None = None
    last_success_finished_at: dt.datetime | None = None
    last_failure_finished_at: dt.datetime | None = None
    last_failure_error: str | None = None
    consecutive_failures: int = 0
    failing_since: dt.datetime | None = None
    # Newest first: the starts of the last 20 outcomes, and over the first i of them the
    # number of failures and of flips (adjacent outcomes that differ); None without outcomes.
    recent_started_at: list[dt.datetime] | None = None
    recent_failures: list[int] | None = None
    recent_flips: list[int] | None = None
    # The smallest position p whose outcome differs from the one at p + 1.
    recent_newest_flip: int | None = None

    @classmethod
    def of(cls, state: PipelineState) -> StateValues:
        return cls(**{name: getattr(state, name) for name in FIELDS})

    def as_dict(self) -> dict[str, object]:
        # Not dataclasses.asdict, which deep-copies every value.
        return {name: getattr(self, name) for name in FIELDS}

    def recent_statuses(self) -> list[str]:
        """The last outcomes' statuses, newest first, as the running totals encode them."""
        failures = self.recent_failures or []
        return [
            RunStatus.FAILED if count > (failures[i - 1] if i else 0) else RunStatus.SUCCESS
            for i, count in enumerate(failures)
        ]


FIELDS = tuple(field.name for field in dataclasses.fields(StateValues))
EMPTY = StateValues()


def advance(state: StateValues, before: RunPoint | None, after: RunPoint) -> StateValues | None:
    """The state once one run was written: ``before`` as it was stored (None: a new run),
    ``after`` as it is now. None when the change cannot be applied to the state alone."""
    return advance_all(state, [(before, after)])


def advance_all(
    state: StateValues, writes: Iterable[tuple[RunPoint | None, RunPoint]]
) -> StateValues | None:
    """The state once each of ``writes`` (``before`` and ``after`` as ``advance`` takes them)
    was applied in turn; None as soon as one cannot be. The states in between are kept in one
    namespace and never built: a batch of a thousand runs for a pipeline makes one state."""
    draft = SimpleNamespace(**state.as_dict())
    for before, after in writes:
        changes = _changes(draft, before, after)
        if changes is None:
            return None
        vars(draft).update(changes)
    return StateValues(**vars(draft))


def _changes(
    state: StateValues | SimpleNamespace, before: RunPoint | None, after: RunPoint
) -> dict[str, object] | None:
    """What writing one run changes in ``state`` (a StateValues, or its fields), or None."""
    changes: dict[str, object] = {}
    if before is not None and before.id == state.last_run_id:
        if after.started_at != before.started_at:
            return None  # the latest run moved back in time: another may now be the latest
        changes |= _latest(after)
    elif state.last_run_id is None or after.order > (state.last_started_at, state.last_run_id):
        changes |= _latest(after)
    # Otherwise an older run than the latest, and it stays older (starts only move earlier).

    was_outcome = before is not None and before.is_outcome
    if was_outcome:
        # An outcome can only be corrected, or fill in its error message. Applied in place
        # when it is the newest outcome and keeps its status and start.
        if (
            before.id != state.last_outcome_id
            or after.status != before.status
            or after.started_at != before.started_at
        ):
            return None
        changes["last_outcome_error"] = after.error_message
        if after.status == RunStatus.SUCCESS:
            changes["last_success_finished_at"] = after.finished_at
        else:
            changes["last_failure_finished_at"] = after.finished_at
            changes["last_failure_error"] = after.error_message
    elif after.is_outcome:
        if state.last_outcome_id is not None and after.order < (
            state.last_outcome_started_at,
            state.last_outcome_id,
        ):
            return None  # it finished after a newer run did: it lands inside the history
        changes |= _newest_outcome(state, after)
    return changes


def _latest(run: RunPoint) -> dict[str, object]:
    return {
        "last_run_id": run.id,
        "last_external_run_id": run.external_run_id,
        "last_status": run.status,
        "last_started_at": run.started_at,
        "last_finished_at": run.finished_at,
        "last_duration": run.finished_at - run.started_at if run.finished_at else None,
    }


def _newest_outcome(state: StateValues | SimpleNamespace, run: RunPoint) -> dict[str, object]:
    changes: dict[str, object] = {
        "last_outcome_id": run.id,
        "last_outcome_status": run.status,
        "last_outcome_started_at": run.started_at,
        "last_outcome_error": run.error_message,
    }
    if run.status == RunStatus.SUCCESS:
        changes |= {
            "last_success_id": run.id,
            "last_success_started_at": run.started_at,
            "last_success_finished_at": run.finished_at,
            "consecutive_failures": 0,
            "failing_since": None,
        }
    else:
        changes |= {
            "last_failure_finished_at": run.finished_at,
            "last_failure_error": run.error_message,
            "consecutive_failures": state.consecutive_failures + 1,
            "failing_since": state.failing_since if state.consecutive_failures else run.started_at,
        }
    return changes | _prepended(state, run)


def _prepended(state: StateValues | SimpleNamespace, run: RunPoint) -> dict[str, object]:
    """The recent-outcome arrays with ``run`` in front: the running totals of the runs behind
    it all move up by its own count (the oldest falls off past RECENT_OUTCOMES)."""
    failed = int(run.status == RunStatus.FAILED)
    if not state.recent_failures:
        return {
            "recent_started_at": [run.started_at],
            "recent_failures": [failed],
            "recent_flips": [0],
            "recent_newest_flip": None,
        }
    kept = RECENT_OUTCOMES - 1
    # The newest outcome so far failed when the first running total counts a failure.
    flipped = int(failed != state.recent_failures[0])
    length = min(len(state.recent_failures) + 1, RECENT_OUTCOMES)
    newest_flip = state.recent_newest_flip
    if flipped:
        newest_flip = 1
    elif newest_flip is not None:
        # The pair moves one place back, and is gone if its older run fell off the end.
        newest_flip = newest_flip + 1 if newest_flip + 2 <= length else None
    return {
        "recent_started_at": [run.started_at, *state.recent_started_at[:kept]],
        "recent_failures": [failed, *[count + failed for count in state.recent_failures[:kept]]],
        "recent_flips": [0, *[count + flipped for count in state.recent_flips[:kept]]],
        "recent_newest_flip": newest_flip,
    }


def _recent_outcomes(recent: list[tuple[str, dt.datetime]]) -> dict[str, object]:
    """The arrays of the last outcomes, (status, started_at) newest first."""
    if not recent:
        return {
            "recent_started_at": None,
            "recent_failures": None,
            "recent_flips": None,
            "recent_newest_flip": None,
        }
    failures: list[int] = []
    flips: list[int] = []
    newest_flip = None
    for position, (status, _) in enumerate(recent):
        failed = status == RunStatus.FAILED
        flipped = position > 0 and status != recent[position - 1][0]
        failures.append((failures[-1] if failures else 0) + failed)
        flips.append((flips[-1] if flips else 0) + flipped)
        if flipped and newest_flip is None:
            newest_flip = position  # 1-based position of the newer run of the pair
    return {
        "recent_started_at": [started_at for _, started_at in recent],
        "recent_failures": failures,
        "recent_flips": flips,
        "recent_newest_flip": newest_flip,
    }


# --- Recomputing from the runs ----------------------------------------------------------------


def _newest(**conditions) -> Run:
    return (
        Run.objects.filter(pipeline=OuterRef("pk"), **conditions)
        .order_by("-started_at", "-id")
        .values(
            point=JSONObject(
                id="id",
                external_run_id="external_run_id",
                status="status",
                started_at="started_at",
                finished_at="finished_at",
                error_message="error_message",
            )
        )[:1]
    )


def _history(pipeline_ids: RawSQL):
    """Per pipeline, the runs its state is made of: one statement, a bounded number of index
    lookups per pipeline (the outcome and failed-run indexes serve all but the latest run)."""
    last_success = Run.objects.filter(pipeline=OuterRef("pk"), status=RunStatus.SUCCESS).order_by(
        "-started_at", "-id"
    )
    after_last_success = Q(
        started_at__gt=Coalesce(OuterRef("success_started_at"), Value(_BEFORE_ALL_RUNS))
    ) | Q(started_at=OuterRef("success_started_at"), id__gt=OuterRef("success_id"))
    streak = (
        Run.objects.filter(after_last_success, pipeline=OuterRef("pk"), status=RunStatus.FAILED)
        .order_by()
        .values("pipeline")
    )
    return (
        Pipeline.objects.filter(pk__in=pipeline_ids)
        .order_by("pk")
        .annotate(
            latest=Subquery(_newest()),
            outcome=Subquery(_newest(status__in=_OUTCOMES)),
            failure=Subquery(_newest(status=RunStatus.FAILED)),
            success=Subquery(_newest(status=RunStatus.SUCCESS)),
            success_started_at=Subquery(last_success.values("started_at")[:1]),
            success_id=Subquery(last_success.values("id")[:1]),
            streak=Subquery(streak.annotate(n=Count("id")).values("n")),
            streak_since=Subquery(streak.annotate(m=Min("started_at")).values("m")),
            recent=ArraySubquery(
                Run.objects.filter(pipeline=OuterRef("pk"), status__in=_OUTCOMES)
                .order_by("-started_at", "-id")
                .values(j=JSONObject(status="status", started_at="started_at"))[:RECENT_OUTCOMES]
            ),
        )
        .values_list(
            "pk", "latest", "outcome", "failure", "success", "streak", "streak_since", "recent"
        )
    )


class _Ids:
    """Where the pipeline ids go in the compiled statement."""


@functools.cache
def _history_statement(alias: str) -> tuple[str, tuple, int]:
    """``_history``'s SQL, compiled once per process: building and compiling its nine
    subqueries costs about ten times running it for one pipeline (4 ms against 0.4 ms of CPU
    in a worker). The ids travel as one array, so the statement's text is the same for any
    number of them."""
    marker = _Ids()
    query = _history(RawSQL("SELECT unnest(%s::bigint[])", (marker,))).query
    sql, params = query.get_compiler(using=alias).as_sql()
    return sql, params, next(i for i, param in enumerate(params) if param is marker)


def _history_rows(pipeline_ids: list[int]) -> list[tuple]:
    sql, params, position = _history_statement(DEFAULT_DB_ALIAS)
    params = (*params[:position], pipeline_ids, *params[position + 1 :])
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    # As values_list would give them: Django's connection hands jsonb over as text.
    return [
        (pk, *map(_json, (latest, outcome, failure, success)), streak, since, _json(recent))
        for pk, latest, outcome, failure, success, streak, since, recent in rows
    ]


def _json(value):
    if isinstance(value, str):
        return json.loads(value)
    if isinstance(value, list):
        return [_json(item) for item in value]
    return value


def _point(value: Mapping | None) -> RunPoint | None:
    if value is None:
        return None
    return RunPoint(
        id=value["id"],
        external_run_id=value["external_run_id"],
        status=value["status"],
        started_at=_timestamp(value["started_at"]),
        finished_at=_timestamp(value["finished_at"]),
        error_message=value["error_message"],
    )


def _timestamp(value: str | None) -> dt.datetime | None:
    # JSON carries PostgreSQL's text form of a timestamptz, in the connection's zone (UTC).
    return dt.datetime.fromisoformat(value).astimezone(dt.UTC) if value else None


def recompute(pipeline_ids: Iterable[int]) -> dict[int, StateValues]:
    """The state of each pipeline from its runs (EMPTY for a pipeline without runs)."""
    pipeline_ids = list(pipeline_ids)
    states: dict[int, StateValues] = {}
    if not pipeline_ids:
        return states
    for pk, latest, outcome, failure, success, streak, since, recent in _history_rows(pipeline_ids):
        latest, outcome, failure, success = map(_point, (latest, outcome, failure, success))
        values: dict[str, object] = {"consecutive_failures": streak or 0, "failing_since": since}
        if latest is not None:
            values |= _latest(latest)
        if outcome is not None:
            values |= {
                "last_outcome_id": outcome.id,
                "last_outcome_status": outcome.status,
                "last_outcome_started_at": outcome.started_at,
                "last_outcome_error": outcome.error_message,
            }
        if success is not None:
            values |= {
                "last_success_id": success.id,
                "last_success_started_at": success.started_at,
                "last_success_finished_at": success.finished_at,
            }
        if failure is not None:
            values |= {
                "last_failure_finished_at": failure.finished_at,
                "last_failure_error": failure.error_message,
            }
        values |= _recent_outcomes(
            [(entry["status"], _timestamp(entry["started_at"])) for entry in recent or []]
        )
        states[pk] = StateValues(**values)
    return states


# --- Locking and writing ------------------------------------------------------------------------


def ensure_rows(pipeline_ids: Iterable[int]) -> None:
    """Give these pipelines a state row (empty: no runs) where they have none.

    Called before the writing transaction, in a transaction of its own or in autocommit, so
    that ``lock`` finds every row it needs and takes them all in one ordered statement: a row
    created inside the writing transaction would be locked out of order.
    """
    PipelineState.objects.bulk_create(
        [
            PipelineState(pipeline_id=pk, refreshed_at=timezone.now())
            for pk in sorted(set(pipeline_ids))
        ],
        ignore_conflicts=True,
    )


def lock(pipeline_ids: Iterable[int]) -> dict[int, PipelineState]:
    """Lock the state rows of these pipelines, in pipeline id order (the first locks every
    writer of runs takes: see runs/ingest.py), and return them. A pipeline without a row (it
    was deleted meanwhile, or ``ensure_rows`` was not called) is left out."""
    rows = (
        PipelineState.objects.select_for_update()
        .filter(pipeline_id__in=sorted(set(pipeline_ids)))
        .order_by("pipeline_id")
    )
    return {row.pipeline_id: row for row in rows}


# A new state clears the what-changed window computed from the old one (runs/change_windows.py).
WINDOW_FIELDS = ("changes_as_of", *CHANGE_WINDOW_REQUIRED, *CHANGE_WINDOW_OPTIONAL)
_WINDOW_CLEARED = dict.fromkeys(WINDOW_FIELDS)
WRITTEN_FIELDS = (*FIELDS, *_WINDOW_CLEARED, "refreshed_at")


def save(states: Mapping[int, StateValues]) -> None:
    """Write these pipelines' states (one statement), clearing their what-changed windows.
    Their rows must exist and be locked by the caller (``lock``)."""
    if not states:
        return
    now = timezone.now()
    PipelineState.objects.bulk_create(
        [
            PipelineState(pipeline_id=pk, refreshed_at=now, **values.as_dict(), **_WINDOW_CLEARED)
            for pk, values in sorted(states.items())
        ],
        update_conflicts=True,
        unique_fields=["pipeline"],
        update_fields=list(WRITTEN_FIELDS),
    )


def refresh(pipeline_ids: Iterable[int]) -> None:
    """Recompute and write the state of these pipelines from their runs, under their locks:
    for writers that change runs wholesale (pruning, the bulk loader). Runs in the caller's
    transaction, where it takes the first locks (``lock``); a pipeline that may have no state
    row yet needs ``ensure_rows`` before that transaction."""
    locked = lock(pipeline_ids)
    save(recompute(locked))
