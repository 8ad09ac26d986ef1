"""The per-pipeline run state (runs/pipeline_state.py): moving it forward run by run with
``advance`` gives what the whole history gives, in any order of writes.

The reference is the definition written out over a list of runs (``state_of``);
tests/integration/test_pipeline_state_properties.py checks that ``recompute``, which reads the
same from the database, agrees with it.
"""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from runs.pipeline_state import (
    EMPTY,
    RECENT_OUTCOMES,
    RunPoint,
    StateValues,
    advance,
    advance_all,
)

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
STATUSES = ("queued", "running", "success", "failed", "failed", "canceled", "skipped")


def state_of(runs: list[RunPoint]) -> StateValues:
    """The state, from every run of the pipeline, as the views' first versions define it."""
    ordered = sorted(runs, key=lambda run: run.order, reverse=True)  # newest first
    outcomes = [run for run in ordered if run.is_outcome]
    latest = ordered[0] if ordered else None
    outcome = outcomes[0] if outcomes else None
    success = next((run for run in outcomes if run.status == "success"), None)
    failure = next((run for run in outcomes if run.status == "failed"), None)
    streak = [
        run
        for run in outcomes
        if run.status == "failed" and (success is None or run.order > success.order)
    ]
    recent = outcomes[:RECENT_OUTCOMES]
    statuses = [run.status for run in recent]
    flips = [
        sum(statuses[j] != statuses[j - 1] for j in range(1, i + 1)) for i in range(len(recent))
    ]
    newest_flip = next(
        (p + 1 for p in range(len(statuses) - 1) if statuses[p] != statuses[p + 1]), None
    )
    return StateValues(
        last_run_id=latest and latest.id,
        last_external_run_id=latest and latest.external_run_id,
        last_status=latest and latest.status,
        last_started_at=latest and latest.started_at,
        last_finished_at=latest and latest.finished_at,
        last_duration=latest.finished_at - latest.started_at
        if latest and latest.finished_at
        else None,
        last_outcome_id=outcome and outcome.id,
        last_outcome_status=outcome and outcome.status,
        last_outcome_started_at=outcome and outcome.started_at,
        last_outcome_error=outcome and outcome.error_message,
        last_success_id=success and success.id,
        last_success_started_at=success and success.started_at,
        last_success_finished_at=success and success.finished_at,
        last_failure_finished_at=failure and failure.finished_at,
        last_failure_error=failure and failure.error_message,
        consecutive_failures=len(streak),
        failing_since=min((run.started_at for run in streak), default=None),
        recent_started_at=[run.started_at for run in recent] or None,
        recent_failures=[sum(s == "failed" for s in statuses[: i + 1]) for i in range(len(recent))]
        or None,
        recent_flips=flips or None,
        recent_newest_flip=newest_flip,
    )


def point(run_id: int, status: str, start: int, error: str = "") -> RunPoint:
    started = T0 + dt.timedelta(minutes=start)
    finished = None if status in ("queued", "running") else started + dt.timedelta(minutes=7)
    return RunPoint(run_id, f"r{run_id}", status, started, finished, error)


@st.composite
def writes(draw) -> list[tuple[RunPoint | None, RunPoint]]:
    """A pipeline's runs as a sequence of writes (a run created, or moved on), each write
    as (the run before, the run after). Starts collide on purpose: order is (start, id)."""
    result: list[tuple[RunPoint | None, RunPoint]] = []
    current: dict[int, RunPoint] = {}
    for _ in range(draw(st.integers(1, 40))):
        if current and draw(st.booleans()):
            before = current[draw(st.sampled_from(sorted(current)))]
            if before.finished_at is None:
                status = draw(st.sampled_from(["running", "success", "failed", "canceled"]))
            else:  # a correction, a filled-in error, or a late event lowering the start
                status = draw(st.sampled_from(["success", "failed", "canceled", before.status]))
            start = draw(st.sampled_from([0, 0, -30])) + int(
                (before.started_at - T0).total_seconds() // 60
            )
            after = point(before.id, status, start, draw(st.sampled_from(["", "boom"])))
        else:
            before = None
            run_id = len(current) + 1
            after = point(
                run_id,
                draw(st.sampled_from(STATUSES)),
                draw(st.integers(0, 60)) * 10,
                draw(st.sampled_from(["", "boom"])),
            )
        if before == after:
            continue
        current[after.id] = after
        result.append((before, after))
    return result


def replay(history: list[tuple[RunPoint | None, RunPoint]]) -> tuple[StateValues, int]:
    """The state after each write, by ``advance`` where it can, else from all runs (what
    ``recompute`` reads from the database); and how often it could not."""
    state, runs, recomputed = EMPTY, {}, 0
    for before, after in history:
        runs[after.id] = after
        moved = advance(state, before, after)
        if moved is None:
            recomputed += 1
            moved = state_of(list(runs.values()))
        state = moved
        assert state == state_of(list(runs.values()))
    return state, recomputed


@settings(max_examples=500, deadline=None)
@given(history=writes())
def test_advancing_write_by_write_gives_the_state_of_the_whole_history(history):
    replay(history)


@settings(max_examples=300, deadline=None)
@given(history=writes(), split=st.integers(0, 60))
def test_advancing_many_writes_at_once_is_advancing_them_one_by_one(history, split):
    # From a state some writes in, as a batch finds it.
    state, runs = EMPTY, {}
    for before, after in history[:split]:
        runs[after.id] = after
        state = advance(state, before, after) or state_of(list(runs.values()))
    one_by_one: StateValues | None = state
    for before, after in history[split:]:
        one_by_one = advance(one_by_one, before, after)
        if one_by_one is None:
            break
    assert advance_all(state, history[split:]) == one_by_one


@settings(max_examples=200, deadline=None)
@given(count=st.integers(1, 45), data=st.data())
def test_a_scheduler_reporting_in_order_never_needs_a_recomputation(count, data):
    history = []
    for minute in range(count):
        number = minute + 1
        started = point(number, "running", minute * 60)
        history.append((None, started))
        final = data.draw(st.sampled_from(["success", "failed", "failed", "canceled"]))
        history.append((started, point(number, final, minute * 60, "boom")))
    state, recomputed = replay(history)
    assert recomputed == 0
    assert state.recent_started_at is None or len(state.recent_started_at) <= RECENT_OUTCOMES


def test_a_run_that_finishes_after_a_newer_one_is_left_to_a_recomputation():
    older, newer = point(1, "running", 0), point(2, "success", 10)
    state = state_of([older, newer])
    assert advance(state, older, point(1, "failed", 0)) is None
