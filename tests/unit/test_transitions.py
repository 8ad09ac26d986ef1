"""The run state machine (runs/transitions.py), as a pure function: properties over any order
and any repetition of a run's events."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from runs.transitions import (
    CREATED,
    REJECTED,
    UNCHANGED,
    UPDATED,
    RunFields,
    apply_event,
)

T0 = dt.datetime(2026, 3, 1, 2, 0, tzinfo=dt.UTC)
TERMINAL = ("success", "failed", "canceled", "skipped")


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def event(status: str, start: int, finish: int | None = None, **fields) -> RunFields:
    return RunFields(
        status=status,
        started_at=at(start),
        finished_at=at(finish) if finish is not None else None,
        error_message=fields.get("error_message", ""),
        metadata=fields.get("metadata", {"source_status": status}),
    )


@st.composite
def events_of_one_run(draw) -> list[RunFields]:
    """The events a scheduler (or several) may send about one run, without the two cases that
    docs/api.md names as depending on the order: two terminal statuses with one finish time
    (a conflict), and different values for one metadata key. A metadata key always carries
    the same value, and an error message is the same for its status and finish time."""
    events = []
    finishes = draw(st.lists(st.integers(10, 60), unique=True, max_size=4))
    for finish in finishes:
        status = draw(st.sampled_from(TERMINAL))
        has_error = draw(st.booleans())
        events.append(
            event(
                status,
                draw(st.integers(0, 9)),
                finish,
                error_message=f"{status} at {finish}" if has_error else "",
                metadata={"source_status": status, f"k{finish % 3}": finish % 3},
            )
        )
    for status in draw(st.lists(st.sampled_from(["queued", "running"]), max_size=4)):
        events.append(event(status, draw(st.integers(0, 9))))
    if not events:
        events.append(event("queued", 5))
    return events


def deliver(events: list[RunFields]) -> tuple[RunFields, list[str]]:
    stored, outcomes = None, []
    for item in events:
        transition = apply_event(stored, item)
        outcomes.append(transition.outcome)
        if transition.outcome != REJECTED:
            stored = transition.run
    return stored, outcomes


def orderly(events: list[RunFields]) -> list[RunFields]:
    """As a scheduler sends them: queued, running, then terminal events by finish time."""
    rank = {"queued": 0, "running": 1}
    return sorted(events, key=lambda e: (rank.get(e.status, 2), e.finished_at or T0, e.started_at))


@settings(max_examples=400, deadline=None)
@given(events=events_of_one_run(), data=st.data())
def test_any_order_and_repetition_of_a_runs_events_stores_what_orderly_delivery_does(events, data):
    shuffled = data.draw(st.permutations(events))
    repeated = shuffled + data.draw(st.lists(st.sampled_from(events), max_size=4))

    expected, _ = deliver(orderly(events))
    stored, outcomes = deliver(repeated)

    assert stored == expected
    assert outcomes[0] == CREATED
    assert REJECTED not in outcomes
    assert stored.started_at == min(e.started_at for e in events)


@settings(max_examples=200, deadline=None)
@given(events=events_of_one_run(), data=st.data())
def test_a_repeated_event_writes_nothing(events, data):
    stored, _ = deliver(data.draw(st.permutations(events)))
    again = data.draw(st.sampled_from(events))
    transition = apply_event(stored, again)
    assert apply_event(transition.run, again).outcome == UNCHANGED


@settings(max_examples=200, deadline=None)
@given(events=events_of_one_run(), data=st.data())
def test_a_terminal_status_never_goes_back_to_an_unfinished_one(events, data):
    stored = None
    for item in data.draw(st.permutations(events)):
        transition = apply_event(stored, item)
        if stored is not None and stored.finished_at is not None:
            assert transition.run.finished_at is not None
        stored = transition.run if transition.outcome != REJECTED else stored


def test_two_terminal_statuses_with_one_finish_time_conflict_whatever_came_first():
    failed, success = event("failed", 0, 10), event("success", 0, 10)
    assert apply_event(apply_event(None, failed).run, success).outcome == REJECTED
    assert apply_event(apply_event(None, success).run, failed).outcome == REJECTED


def test_a_later_finish_corrects_the_status_and_replaces_the_error():
    failed = event("failed", 0, 10, error_message="boom")
    corrected = apply_event(apply_event(None, failed).run, event("success", 0, 20))
    assert corrected.outcome == UPDATED
    assert (corrected.run.status, corrected.run.error_message) == ("success", "")


def test_a_late_running_event_only_lowers_the_start_of_a_finished_run():
    finished = apply_event(None, event("failed", 5, 10)).run
    late = apply_event(finished, event("running", 2))
    assert late.outcome == UPDATED
    assert (late.run.status, late.run.started_at) == ("failed", at(2))
    assert apply_event(late.run, event("running", 3)).outcome == UNCHANGED
