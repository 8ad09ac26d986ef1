from __future__ import annotations

import datetime as dt

import pytest

from inventory.models import Client, Pipeline
from runs import pipeline_state
from runs.models import PipelineState, RolledUpDay, Run
from runs.pipeline_state import StateValues
from synthetic.scale import ScaleDataExists, load_scale

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)


def _load(**overrides):
    options = {"runs": 3_000, "pipelines": 30, "clients": 5, "seed": 3, "days": 10, "now": NOW}
    return load_scale(**(options | overrides))


def test_scale_load_writes_exactly_the_requested_rows_within_the_window():
    stats = _load()

    assert stats.runs == Run.objects.count() == 3_000
    assert Pipeline.objects.count() == 30
    assert Client.objects.count() == 5
    assert all(client.pipelines.exists() for client in Client.objects.all())
    oldest = Run.objects.order_by("started_at").first().started_at
    newest = Run.objects.order_by("-started_at").first().started_at
    assert NOW - dt.timedelta(days=10) <= oldest < newest <= NOW


def test_scale_load_rolls_up_the_closed_days_and_keeps_the_pipeline_state():
    now = dt.datetime.now(dt.UTC)
    _load(now=now)

    today = now.date()
    days_with_runs = {
        started.astimezone(dt.UTC).date()
        for started in Run.objects.values_list("started_at", flat=True)
    }
    rolled_up = set(RolledUpDay.objects.values_list("day", flat=True))
    # Every closed day of the views' horizon (empty ones too), so every one with runs.
    assert len(rolled_up) == 365
    assert days_with_runs - {today} <= rolled_up
    assert today not in rolled_up
    # The state of every pipeline is what its runs give.
    stored = {row.pipeline_id: StateValues.of(row) for row in PipelineState.objects.all()}
    assert len(stored) == 30
    assert stored == pipeline_state.recompute(stored)


def test_scale_load_has_a_realistic_status_mix_and_durations():
    stats = _load()

    counts = stats.status_counts
    assert counts["success"] > 0.7 * stats.runs
    assert 0.02 * stats.runs < counts["failed"] < 0.3 * stats.runs
    assert counts.get("canceled", 0) > 0 and counts.get("skipped", 0) > 0
    finished = Run.objects.exclude(status__in=["running", "queued", "skipped"])
    assert not finished.filter(duration__lte=dt.timedelta(0)).exists()
    assert finished.filter(status="failed").exclude(error_message="").count() == counts["failed"]


def test_scale_load_is_deterministic_from_its_seed():
    def snapshot():
        return list(
            Run.objects.order_by("pipeline__slug", "external_run_id").values_list(
                "pipeline__slug", "external_run_id", "status", "started_at", "finished_at"
            )
        )

    _load()
    first = snapshot()
    _load(replace=True)
    assert snapshot() == first
    _load(replace=True, seed=4)
    assert snapshot() != first


def test_a_second_scale_load_is_refused_unless_replacing():
    _load()

    with pytest.raises(ScaleDataExists):
        _load()
    assert Run.objects.count() == 3_000
