"""The run state machine: what one reported event does to a stored run.

One pure function, ``apply_event``, decides every ingestion outcome (docs/api.md, "Outcomes and
the state machine"); the REST API, OpenLineage, batches and the synthetic loader reach it
through runs/ingest.py, and nothing else repeats its rules. For an event E meeting a stored run
R:

- E *wins* when its status ranks higher (queued < running < a terminal status), or when both
  are terminal and E finished later (an operator's correction reuses the run's id). The winner
  sets status, ``finished_at`` and ``error_message``, and its metadata keys override R's.
- Two terminal events with the same ``finished_at`` and different statuses conflict: rejected,
  nothing written.
- Any event lowers ``started_at`` to the earliest seen and adds the metadata keys R lacks; a
  repeat of R's own status and finish time brings an error message R lacks.
- Otherwise nothing is written (``unchanged``): a duplicate, a late ``running`` after a
  terminal status, an older terminal event.

It leans on an invariant the validation and a check constraint keep: ``finished_at`` is set
exactly when the status is terminal. Hence "ranks higher or finished later" is one comparison
of finish times, with queued → running the only move between unfinished states.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any

from runs.models import RunStatus

CREATED = "created"
UPDATED = "updated"
UNCHANGED = "unchanged"
REJECTED = "rejected"
OUTCOMES = (CREATED, UPDATED, UNCHANGED, REJECTED)


@dataclass(frozen=True, slots=True)
class RunFields:
    """What an event says about a run, and what is stored of it: the fields events change."""

    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    error_message: str
    metadata: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Transition:
    outcome: str
    # The run as stored after the event; for a conflict, the stored run it contradicts.
    run: RunFields

    @property
    def conflict(self) -> bool:
        return self.outcome == REJECTED

    @property
    def writes(self) -> bool:
        return self.outcome in (CREATED, UPDATED)


def apply_event(stored: RunFields | None, event: RunFields) -> Transition:
    """The outcome of ``event`` on ``stored`` (None: no such run yet) and the run it leaves."""
    if stored is None:
        return Transition(CREATED, event)
    if (
        event.finished_at is not None
        and event.finished_at == stored.finished_at
        and event.status != stored.status
    ):
        return Transition(REJECTED, stored)

    if _wins(stored, event):
        after = RunFields(
            status=event.status,
            started_at=min(stored.started_at, event.started_at),
            finished_at=event.finished_at,
            error_message=event.error_message,
            metadata=stored.metadata | event.metadata,
        )
        return Transition(UPDATED, after)

    repeat = event.status == stored.status and event.finished_at == stored.finished_at
    after = replace(
        stored,
        started_at=min(stored.started_at, event.started_at),
        error_message=(
            event.error_message if repeat and not stored.error_message else stored.error_message
        ),
        metadata=event.metadata | stored.metadata,
    )
    return Transition(UPDATED if after != stored else UNCHANGED, after)


def _wins(stored: RunFields, event: RunFields) -> bool:
    if stored.finished_at is None:
        return event.finished_at is not None or (
            stored.status == RunStatus.QUEUED and event.status == RunStatus.RUNNING
        )
    return event.finished_at is not None and event.finished_at > stored.finished_at
