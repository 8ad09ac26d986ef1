"""runs/fast_ingest.py answers exactly as the plain path (runs/ingest.py) does.

The same calls are made with CHM_INGEST_FAST_PATH on and off, each time from an empty runs
table, and compared: every result (outcome, errors, flags), the runs stored, every pipeline's
state and the rollup's markers and queue. Run ids are compared through the runs they name: the
fast path reserves ids, so the numbers differ while the runs do not.

Validation is compared on its own too: ``fast_ingest.validate`` against the serializer's
``run_validation``, on hostile items and on generated ones.
"""

from __future__ import annotations

import datetime as dt
import math

import pytest
from django.db import connection
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework.exceptions import ValidationError

from runs import fast_ingest
from runs.ingest import ingest_runs, item_serializer
from runs.models import PipelineState, RolledUpDay, RollupQueue, Run
from runs.pipeline_state import FIELDS, StateValues
from runs.rollups import refresh_daily_rollup
from tests.factories import ClientFactory, PipelineFactory

NOW = timezone.now().replace(microsecond=0)


def at(hours: float) -> str:
    return (NOW - dt.timedelta(hours=hours)).isoformat()


def item(run: str, status: str = "success", start: float = 30, finish: float | None = 29.5, **more):
    body = {"pipeline": more.pop("pipeline", "etl"), "external_run_id": run, "status": status}
    body["started_at"] = at(start)
    if finish is not None and status not in ("queued", "running"):
        body["finished_at"] = at(finish)
    return body | more


# Each scenario is a list of calls (a call is one item, or a list of items: a batch), made in
# order on the same database. Together they reach every branch of the two paths.
SCENARIOS = {
    "new runs, one by one and in a batch": [
        item("a"),
        item("b", "failed", 29, 28.9, error_message="exit 1"),
        [item("c", start=28), item("d", "running", 27), item("e", "queued", 26)],
    ],
    "a run moving forward and repeated": [
        item("r", "queued", 10),
        item("r", "running", 9.9),
        item("r", "failed", 9.9, 9.5, error_message="boom"),
        item("r", "failed", 9.9, 9.5, error_message="boom"),
        item("r", "running", 9.9),
        [item("r", "success", 9.9, 9.0), item("r", "failed", 9.9, 9.0)],
    ],
    "conflicts and corrections": [
        item("x", "failed", 5, 4.5),
        item("x", "success", 5, 4.5),
        item("x", "success", 5, 4.0, metadata={"by": "ops"}),
        [item("x", "canceled", 5, 4.0), item("y", "success", 4, 3.5)],
    ],
    "out of order: older runs after newer ones, late starts": [
        item("n2", start=20),
        item("n1", "failed", 40, 39),
        [item("n0", "failed", 60, 59), item("n3", start=10), item("n1", "failed", 50, 39)],
        item("n2", start=70),
    ],
    "several pipelines, closed and open days, and rejected items": [
        [
            item("p1", pipeline="etl"),
            item("p2", pipeline="other", start=50),
            item("p3", pipeline="missing"),
            {"pipeline": "etl", "external_run_id": "bad", "status": "nope", "started_at": at(1)},
            item("p4", pipeline="etl", start=0.2, finish=0.1),
            "not an object",
            None,
        ],
        item("p5", pipeline="missing"),
        item("p6", pipeline="fresh", start=3),
        [item("p7", pipeline="fresh", start=2), item("p8", pipeline="etl", start=1)],
    ],
    "failure signatures: written, changed and cleared with the status and message": [
        item("s1", "failed", 8, 7.9, error_message="permission denied for schema analytics"),
        item("s2", "failed", 7, 6.9),
        [
            item("s3", "running", 6),
            item("s3", "failed", 6, 5.9, error_message="Connection refused to db-7.acme.io:5432"),
            item("s4", "failed", 5, 4.9, error_message="Task exited with return code 137"),
        ],
        item("s1", "success", 8, 7.0),
        item("s4", "failed", 5, 4.0, error_message="Task exited with return code 1"),
        item("s2", "failed", 7, 6.9, error_message="late message: KeyError: 'customer_id'"),
    ],
    "hostile values": [
        item("h1", external_run_id=10**300),
        item("h2", error_message="a\x00b"),
        item("h3", metadata={"note": "\ud800"}),
        item("h4", metadata={"x": math.nan}),
        item("h5", started_at="2099-01-01T00:00:00Z", finished_at="2099-01-01T00:01:00Z"),
        item("h6", started_at="2026-03-01T02:00:00"),
        [item(12345), item("h7", finshed_at=at(1)), item("h8", status=7)],
    ],
}


def snapshot(results) -> dict:
    """What a path left: results, runs, states and the rollup, with run ids replaced by the
    runs' (pipeline, external id)."""
    names = {
        run.pk: (run.pipeline.slug, run.external_run_id)
        for run in Run.objects.select_related("pipeline")
    }
    outcomes = [
        [
            (
                r.index,
                r.outcome,
                names.get(r.run_id),
                r.errors,
                r.conflict,
                r.unknown_pipeline,
                # The run a single item is answered with: its signature as stored.
                getattr(r.run, "failure_signature", None),
            )
            for r in result.results
        ]
        for result in results
    ]
    runs = {
        names[run.pk]: (
            run.status,
            run.started_at,
            run.finished_at,
            run.error_message,
            run.failure_signature,
            run.metadata,
        )
        for run in Run.objects.all()
    }
    states = {}
    for row in PipelineState.objects.select_related("pipeline"):
        values = StateValues.of(row)
        states[row.pipeline.slug] = {
            name: names.get(getattr(values, name))
            if name.endswith("_run_id")
            or name
            in (
                "last_outcome_id",
                "last_success_id",
            )
            else getattr(values, name)
            for name in FIELDS
        }
    rollup = (
        sorted(RolledUpDay.objects.values_list("day", flat=True)),
        sorted(RollupQueue.objects.values_list("day", flat=True)),
    )
    return {"results": outcomes, "runs": runs, "states": states, "rollup": rollup}


def empty_the_runs() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE runs_run, runs_pipelinestate, runs_rollupqueue, runs_rolledupday,"
            " runs_dailyruncount, runs_dailyplatformcount"
        )


def play(client, calls, *, fast: bool, settings) -> dict:
    settings.CHM_INGEST_FAST_PATH = fast
    empty_the_runs()
    refresh_daily_rollup()  # closed days rolled up: late events must invalidate them
    results = [
        ingest_runs(client=client, items=call if isinstance(call, list) else [call])
        for call in calls
    ]
    return snapshot(results)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_the_fast_path_leaves_what_the_plain_path_leaves(scenario, settings, monkeypatch):
    client = ClientFactory(slug="acme")
    for slug in ("etl", "other", "fresh"):
        PipelineFactory(client=client, slug=slug)
    PipelineFactory(slug="missing")  # another client's
    taken = []
    real = fast_ingest.ingest_runs

    def counted(**kwargs):
        result = real(**kwargs)
        taken.append(result is not None)
        return result

    monkeypatch.setattr(fast_ingest, "ingest_runs", counted)
    fast = play(client, SCENARIOS[scenario], fast=True, settings=settings)
    plain = play(client, SCENARIOS[scenario], fast=False, settings=settings)

    for part in ("results", "runs", "states", "rollup"):
        assert fast[part] == plain[part], part
    assert any(taken), "the fast path never took a call of this scenario"


@pytest.mark.django_db(transaction=True)
def test_the_fast_path_takes_in_order_reports_of_known_pipelines_itself(settings, monkeypatch):
    client = ClientFactory(slug="acme")
    PipelineFactory(client=client, slug="etl")
    settings.CHM_INGEST_FAST_PATH = True
    ingest_runs(client=client, items=[item("first")])  # the pipeline's first run: plain path
    handed_back = []
    real = fast_ingest.ingest_runs
    monkeypatch.setattr(
        fast_ingest,
        "ingest_runs",
        lambda **kwargs: handed_back.append(result := real(**kwargs)) or result,
    )
    for hours in (20, 19, 18):
        ingest_runs(client=client, items=[item(f"r{hours}", start=hours, finish=hours - 0.1)])
    ingest_runs(client=client, items=[item(f"b{n}", start=n, finish=n - 0.1) for n in (9, 8)])
    assert len(handed_back) == 4
    assert None not in handed_back


# --- Validation ---------------------------------------------------------------------------------


def serializer_answer(value):
    try:
        return item_serializer().run_validation(value), None
    except ValidationError as exc:
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        return None, {str(k): [str(m) for m in v] for k, v in detail.items()}


HOSTILE_ITEMS = [
    None,
    [],
    "run",
    42,
    {},
    {"pipeline": None, "external_run_id": None, "status": None, "started_at": None},
    item("a", external_run_id=True),
    item("a", external_run_id=10**255),
    item("a", external_run_id=10**5000),
    item("a", external_run_id=""),
    item("a", external_run_id="   "),
    item("a", external_run_id="x" * 256),
    item("a", pipeline="p\x00"),
    item("a", pipeline="\udfff"),
    item("a", status="SUCCEEDED"),
    item("a", status="x" * 65),
    item("a", started_at=12),
    item("a", started_at="yesterday"),
    item("a", started_at="1969-12-31T23:59:59Z"),
    item("a", started_at="9999-12-31T23:59:59-15:00"),
    item("a", finished_at=None),
    item("a", "running", finished_at=at(1)),
    item("a", start=1, finish=2),
    item("a", error_message=["x"]),
    item("a", error_message="x" * 100_000),
    item("a", metadata=[]),
    item("a", metadata={"deep": [[[[[]]]]]}),
    item("a", metadata={"nul": "\x00"}),
    item("a", metadata={"big": "x" * 100_000}),
    item("a", metadata={"n": float("inf")}),
    item("a", unknown=1, other=2),
]


@pytest.mark.parametrize("value", HOSTILE_ITEMS, ids=range(len(HOSTILE_ITEMS)))
def test_fast_validation_answers_as_the_serializer(value):
    assert fast_ingest.validate(value) == serializer_answer(value)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
FIELD_NAMES = [
    "pipeline",
    "external_run_id",
    "status",
    "started_at",
    "finished_at",
    "error_message",
    "metadata",
    "surplus",
]
field_values = st.one_of(
    json_values,
    st.sampled_from(
        ["etl", "success", "failed", "running", "queued", at(2), at(1), "2026-13-01T00:00:00Z"]
    ),
)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(st.dictionaries(st.sampled_from(FIELD_NAMES), field_values, max_size=8))
def test_fast_validation_answers_as_the_serializer_on_generated_items(value):
    assert fast_ingest.validate(value) == serializer_answer(value)


# --- Plans --------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_fast_paths_prepared_statements_are_planned_at_every_execution(settings):
    """A generic plan cached while runs_run was nearly empty would read every key by scanning a
    whole index once the table has grown (runs/fast_ingest.py, CUSTOM_PLANS)."""
    settings.CHM_INGEST_FAST_PATH = True
    settings.DB_PREPARED_STATEMENTS = True
    client = ClientFactory(slug="acme")
    PipelineFactory(client=client, slug="etl")
    ingest_runs(client=client, items=[item("first", start=40, finish=39.9)])  # plain path
    if connection.connection.prepare_threshold is None:
        pytest.skip("the connection prepares nothing: DB_PREPARED_STATEMENTS is off")
    for n in range(8):  # past the five executions after which PostgreSQL may go generic
        hours = 30 - n
        ingest_runs(client=client, items=[item(f"r{n}", start=hours, finish=hours - 0.1)])
        ingest_runs(client=client, items=[item(f"r{n}", "failed", hours, hours - 0.1)])
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT statement, custom_plans, generic_plans FROM pg_prepared_statements"
            " WHERE statement ILIKE '%%runs_run%%' OR statement ILIKE '%%runs_pipelinestate%%'"
        )
        plans = cursor.fetchall()
    assert len(plans) >= 3  # the states' and the runs' locks, and the write
    assert all(custom >= 8 and generic == 0 for _, custom, generic in plans), plans
