"""The adversarial corpus: hostile and malformed input for every write endpoint, black-box over
HTTP, as the API contract (docs/api.md) promises to answer it.

Each case is a data row. An item-level case is sent alone (a 4xx naming the field, nothing
stored) and in the middle of a batch (that item rejected naming the field, its two valid
neighbours created). A body-level case (bytes that are not JSON CHM can read: malformed,
not UTF-8, nested past the parser, too large, a gzip bomb) is refused whole, naming ``body``.
An OpenLineage event is one item: sent between two valid events, it is refused naming its
field and both neighbours are stored. Unicode that PostgreSQL can store is kept exactly.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import zlib
from dataclasses import dataclass
from typing import Any

import pytest
from django.utils import timezone

from runs.models import Run

pytestmark = pytest.mark.django_db

RUNS = "/api/v1/runs/"
LINEAGE = "/api/v1/lineage"
SIX_MB = 6 * 1024 * 1024
# Computed once, a day away from the bound on either side: the answer cannot depend on how
# long the suite takes to reach the case.
NOW = timezone.now()
TWO_DAYS_AHEAD = (NOW + dt.timedelta(days=2)).isoformat()
ALMOST_A_DAY_AHEAD = (NOW + dt.timedelta(hours=23)).isoformat()

OMIT = object()
RAW = "__raw_json_goes_here__"


def dumps_with_raw(document: Any, raw: str | None) -> str:
    """``document`` as JSON, with the value RAW replaced by the JSON text ``raw``."""
    text = json.dumps(document)
    return text if raw is None else text.replace(f'"{RAW}"', raw)


def run_item(run_id: str, /, **overrides: Any) -> dict[str, Any]:
    item = {
        "pipeline": "orders-etl",
        "external_run_id": run_id,
        "status": "failed",
        "started_at": "2026-03-01T02:00:00Z",
        "finished_at": "2026-03-01T02:05:00Z",
        "error_message": "Task exited with return code 1",
        "metadata": {"dag_id": "orders_etl"},
    }
    item.update(overrides)
    return {key: value for key, value in item.items() if value is not OMIT}


def nested(depth: int, bottom: Any = "bottom") -> Any:
    value: Any = bottom
    for _ in range(depth):
        value = {"x": value}
    return value


@dataclass(frozen=True)
class Case:
    """One hostile item: ``fields`` are merged into a valid item (OMIT removes one), or
    ``raw`` replaces a field's JSON text (for what Python cannot dump, such as NaN)."""

    name: str
    field: str
    fields: dict[str, Any]
    raw: str | None = None

    def body(self, external_run_id: str) -> str:
        fields = self.fields if self.raw is None else {**self.fields, self.field: RAW}
        return dumps_with_raw(run_item(external_run_id, **fields), self.raw)


TEXT_FIELDS = ["pipeline", "external_run_id", "status", "error_message"]
IDENTIFIERS = ["pipeline", "external_run_id", "status"]
TIMESTAMPS = ["started_at", "finished_at"]

ITEM_CASES = [
    # What sank a whole batch: a numeric run id too long as text, a lone surrogate anywhere.
    Case("run id of 256 digits", "external_run_id", {"external_run_id": 10**255}),
    Case("run id of 4,000 digits", "external_run_id", {"external_run_id": 10**3999}),
    *[Case(f"lone high surrogate in {f}", f, {f: "a\ud800b"}) for f in TEXT_FIELDS],
    *[Case(f"lone low surrogate in {f}", f, {f: "\udc00"}) for f in TEXT_FIELDS],
    *[Case(f"reversed surrogate pair in {f}", f, {f: "\ude00\ud83d"}) for f in TEXT_FIELDS],
    Case("lone surrogate in a metadata value", "metadata", {"metadata": {"k": "\ud800"}}),
    Case("lone surrogate in a metadata key", "metadata", {"metadata": {"\ud800": 1}}),
    Case("lone surrogate deep in metadata", "metadata", {"metadata": {"a": [{"b": "\udfff"}]}}),
    Case("unknown field named by a lone surrogate", "\\ud800", {"\ud800": "x"}),
    # Times a run cannot have: they would sort ahead of every real run, or never go stale.
    *[Case(f"{f} before 1970", f, {f: "1969-12-31T23:59:59Z"}) for f in TIMESTAMPS],
    *[Case(f"{f} in year 1", f, {f: "0001-01-01T00:00:00Z"}) for f in TIMESTAMPS],
    Case("finished in 2099", "finished_at", {"finished_at": "2099-01-01T00:00:00Z"}),
    Case(
        "started and finished in 2099",
        "started_at",
        {"started_at": "2099-01-01T00:00:00Z", "finished_at": "2099-01-01T00:05:00Z"},
    ),
    Case(
        "running, started two days ahead",
        "started_at",
        {"status": "running", "started_at": TWO_DAYS_AHEAD, "finished_at": OMIT},
    ),
    Case(
        "finished at the end of the calendar",
        "finished_at",
        {"finished_at": "9999-12-31T23:59:59Z"},
    ),
    Case(
        "leaves the calendar in UTC",
        "started_at",
        {"status": "running", "started_at": "0001-01-01T00:00:00+05:00", "finished_at": OMIT},
    ),
    Case("time without a zone", "started_at", {"started_at": "2026-03-01T02:00:00"}),
    Case("time that is not a time", "finished_at", {"finished_at": "yesterday"}),
    # NaN, infinities and huge numbers: valid JSON numbers (or JavaScript's) in the wrong place.
    Case("NaN as a run id", "external_run_id", {}, raw="NaN"),
    Case("NaN as a start time", "started_at", {}, raw="NaN"),
    Case("Infinity as a status", "status", {}, raw="Infinity"),
    Case("NaN in metadata", "metadata", {}, raw='{"ratio": NaN}'),
    Case("-Infinity in metadata", "metadata", {}, raw='{"ratio": -Infinity}'),
    Case("a number past a double in metadata", "metadata", {}, raw='{"bytes": 1e999}'),
    Case("a huge number as a start time", "started_at", {"started_at": 1e308}),
    Case("epoch seconds as a start time", "started_at", {"started_at": 1772330400}),
    # Wrong types.
    Case("pipeline as a number", "pipeline", {"pipeline": 42}),
    Case("run id as a list", "external_run_id", {"external_run_id": ["a", "b"]}),
    Case("run id as an object", "external_run_id", {"external_run_id": {"id": 1}}),
    Case("run id as a boolean", "external_run_id", {"external_run_id": True}),
    Case("run id as a fraction", "external_run_id", {"external_run_id": 1.5}),
    Case("status as an object", "status", {"status": {"state": "success"}}),
    Case("finish time as a boolean", "finished_at", {"finished_at": True}),
    Case("error message as an object", "error_message", {"error_message": {"message": "boom"}}),
    Case("metadata as a list", "metadata", {"metadata": ["not", "an", "object"]}),
    Case("metadata as a string", "metadata", {"metadata": "{}"}),
    Case("an empty pipeline", "pipeline", {"pipeline": "   "}),
    Case("no run id", "external_run_id", {"external_run_id": OMIT}),
    Case("no start time", "started_at", {"started_at": OMIT}),
    # Control characters: never part of a name or an id (error messages keep their newlines).
    *[Case(f"NUL in {f}", f, {f: "a\x00b"}) for f in IDENTIFIERS],
    *[Case(f"newline in {f}", f, {f: "a\nb"}) for f in IDENTIFIERS],
    *[Case(f"escape sequence in {f}", f, {f: "\x1b[31mred"}) for f in IDENTIFIERS],
    *[Case(f"C1 control in {f}", f, {f: "a\x85b"}) for f in IDENTIFIERS],
    Case("NUL in a metadata value", "metadata", {"metadata": {"k": "a\x00b"}}),
    Case("NUL in a metadata key", "metadata", {"metadata": {"\x00": 1}}),
    # Size: six megabytes in one field (the body itself is within CHM_INGEST_MAX_BODY_BYTES).
    *[Case(f"6 MB in {f}", f, {f: "x" * SIX_MB}) for f in IDENTIFIERS],
    Case("6 MB of metadata", "metadata", {"metadata": {"log": "x" * SIX_MB}}),
    Case("6 MB as a start time", "started_at", {"started_at": "2" * SIX_MB}),
    Case(
        "metadata nested 500 deep, past the size bound",
        "metadata",
        {"metadata": {"padding": "x" * 20_000, "deep": nested(500)}},
    ),
]


@pytest.fixture
def send(api):
    def send(body: str | bytes, **extra: str):
        return api.post(RUNS, body, content_type="application/json", **extra)

    return send


def stored_ids() -> set[str]:
    return set(Run.objects.values_list("external_run_id", flat=True))


@pytest.mark.parametrize("case", ITEM_CASES, ids=lambda case: case.name)
def test_a_hostile_run_alone_is_a_4xx_naming_its_field_and_stores_nothing(send, pipeline, case):
    response = send(case.body("hostile"))

    assert 400 <= response.status_code < 500, response.content[:500]
    body = response.json()
    assert body["outcome"] == "rejected"
    assert case.field in body["errors"], body["errors"]
    assert stored_ids() == set()


@pytest.mark.parametrize("case", ITEM_CASES, ids=lambda case: case.name)
def test_a_hostile_run_in_a_batch_is_rejected_and_its_neighbours_are_stored(send, pipeline, case):
    before, after = run_item("before"), run_item("after")
    body = f"[{json.dumps(before)}, {case.body('hostile')}, {json.dumps(after)}]"

    response = send(body)

    assert response.status_code == 200, response.content[:500]
    results = response.json()["results"]
    assert [result["outcome"] for result in results] == ["created", "rejected", "created"]
    assert case.field in results[1]["errors"], results[1]["errors"]
    assert results[1]["run_id"] is None
    assert stored_ids() == {"before", "after"}


BODY_CASES = [
    ("malformed JSON", b'[{"pipeline": "orders-etl",', {}, "body"),
    ("an empty body", b"", {}, "body"),
    ("not UTF-8", b'{"pipeline": "orders-\xff-etl"}', {}, "body"),
    ("an overlong UTF-8 NUL", b'{"pipeline": "a\xc0\x80b"}', {}, "body"),
    # Python's JSON reader lets UTF-8-encoded surrogates through: the field names them.
    ("UTF-8 bytes of a surrogate", b'{"pipeline": "a\xed\xa0\x80b"}', {}, "pipeline"),
    ("nested 100,000 deep", b"[" * 100_000 + b"]" * 100_000, {}, "body"),
    ("an integer past 4,300 digits", b'[{"external_run_id": ' + b"9" * 5000 + b"}]", {}, "body"),
    ("neither an object nor a list", b'"a run"', {}, "body"),
    ("broken gzip", b"not gzip at all", {"HTTP_CONTENT_ENCODING": "gzip"}, "body"),
    ("an unknown encoding", b"{}", {"HTTP_CONTENT_ENCODING": "br"}, "body"),
]


def gzip_bomb(inflated_bytes: int) -> bytes:
    """Zeros that inflate to ``inflated_bytes``: about a thousand to one."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = b"0" * (1024 * 1024)
    parts = [compressor.compress(chunk) for _ in range(inflated_bytes // len(chunk))]
    return b"".join([*parts, compressor.flush()])


@pytest.mark.parametrize(
    ("raw", "extra", "field"),
    [(raw, extra, field) for _, raw, extra, field in BODY_CASES],
    ids=[name for name, *_ in BODY_CASES],
)
def test_bytes_chm_cannot_read_are_a_4xx_naming_what_is_wrong_and_store_nothing(
    send, pipeline, raw, extra, field
):
    response = send(raw, **extra)

    assert 400 <= response.status_code < 500, response.content[:500]
    assert field in response.json()["errors"]
    assert stored_ids() == set()


def test_a_gzip_bomb_is_refused_as_too_large_without_inflating_it(send, pipeline):
    bomb = gzip_bomb(256 * 1024 * 1024)
    assert len(bomb) < 512 * 1024

    response = send(bomb, HTTP_CONTENT_ENCODING="gzip")

    assert response.status_code == 413
    assert "body" in response.json()["errors"]
    assert stored_ids() == set()


def test_a_body_past_the_size_bound_is_a_413(send, pipeline, settings):
    padding = "x" * (settings.CHM_INGEST_MAX_BODY_BYTES)
    response = send(json.dumps(run_item("big", error_message=padding)))

    assert response.status_code == 413
    assert "body" in response.json()["errors"]
    assert stored_ids() == set()


def test_six_megabytes_of_error_message_are_stored_cut_at_the_bound(send, pipeline, settings):
    response = send(json.dumps(run_item("long-error", error_message="e" * SIX_MB)))

    assert response.status_code == 201
    stored = Run.objects.get(external_run_id="long-error").error_message
    assert stored.startswith("e" * settings.CHM_RUN_ERROR_MESSAGE_MAX_CHARS)
    assert len(stored) < settings.CHM_RUN_ERROR_MESSAGE_MAX_CHARS + 100


# Unicode PostgreSQL stores: kept exactly (the corpus must not teach a validator to refuse it).
STORABLE_TEXT = [
    ("an emoji sent as a surrogate pair escape", "run-\U0001f600"),
    ("CJK and accents", "夜間バッチ-é"),
    ("combining marks", "e\u0301\u0301"),
    ("a zero-width joiner", "a\u200db"),
    ("a right-to-left override", "a\u202eb"),
    ("a byte order mark", "a\ufeffb"),
    ("a noncharacter", "a\uffffb"),
    ("a no-break space", "a\u00a0b"),
]


@pytest.mark.parametrize(
    ("text",), [(text,) for _, text in STORABLE_TEXT], ids=[name for name, _ in STORABLE_TEXT]
)
def test_unicode_postgresql_can_store_is_kept_exactly(send, pipeline, text):
    response = send(
        json.dumps(run_item(text, error_message=f"line 1\n\t{text}\x1b[0m", metadata={text: text}))
    )

    assert response.status_code == 201, response.content[:500]
    run = Run.objects.get()
    assert run.external_run_id == text
    assert run.error_message == f"line 1\n\t{text}\x1b[0m"
    assert run.metadata[text] == text


@pytest.mark.parametrize(
    "moment",
    ["1970-01-01T00:00:00Z", ALMOST_A_DAY_AHEAD],
    ids=["the first second of 1970", "almost a day ahead"],
)
def test_times_at_the_edges_of_the_accepted_range_are_stored(send, pipeline, moment):
    response = send(
        json.dumps(run_item("edge", status="running", started_at=moment, finished_at=OMIT))
    )

    assert response.status_code == 201, response.content[:500]


def test_a_nul_in_an_error_message_is_dropped_not_refused(send, pipeline):
    response = send(json.dumps(run_item("nul", error_message="disk\x00full")))

    assert response.status_code == 201
    assert Run.objects.get().error_message == "diskfull"


# --- OpenLineage ------------------------------------------------------------------------------


def lineage_event(run_id: str, /, **overrides: Any) -> dict[str, Any]:
    event = {
        "eventType": "COMPLETE",
        "eventTime": "2026-03-01T02:05:00Z",
        "producer": "https://github.com/OpenLineage/OpenLineage/tree/1.30.0/integration/airflow",
        "run": {
            "runId": run_id,
            "facets": {"errorMessage": {"message": "boom", "programmingLanguage": "python"}},
        },
        "job": {
            "namespace": "airflow",
            "name": "orders-etl",
            "facets": {"documentation": {"description": "Loads orders."}},
        },
    }
    for path, value in overrides.items():
        container = event
        *parents, last = path.split(".")
        for key in parents:
            container = container[key]
        if value is OMIT:
            del container[last]
        else:
            container[last] = value
    return event


BEFORE_RUN_ID = "3f5e1c1a-0000-4000-8000-000000000001"
AFTER_RUN_ID = "3f5e1c1a-0000-4000-8000-000000000002"
HOSTILE_RUN_ID = "3f5e1c1a-0000-4000-8000-000000000003"

# (name, the field the answer names, dotted path in the event → value; or raw JSON for a path)
LINEAGE_CASES = [
    *[
        (f"lone surrogate in {path}", path, {path: "a\ud800"})
        for path in [
            "job.name",
            "job.namespace",
            "run.runId",
            "eventType",
            "eventTime",
            "producer",
            "run.facets.errorMessage.message",
            "job.facets.documentation.description",
        ]
    ],
    ("lone surrogate in a facet key", "run.facets.\\udc00", {"run.facets.\udc00": {}}),
    (
        "lone surrogate 700 levels deep in a facet",
        "run.facets.deep" + ".x" * 700,
        {"run.facets.deep": nested(700, "\ud800")},
    ),
    ("NUL in job.name", "job.name", {"job.name": "orders\x00etl"}),
    ("escape sequence in job.name", "job.name", {"job.name": "\x1b[2Jorders"}),
    ("newline in job.namespace", "job.namespace", {"job.namespace": "air\nflow"}),
    ("6 MB job name", "job.name", {"job.name": "x" * SIX_MB}),
    ("run id of 300 characters", "run.runId", {"run.runId": "r" * 300}),
    ("run id as a number", "run.runId", {"run.runId": 10**255}),
    ("control character in the run id", "run.runId", {"run.runId": "run\x07id"}),
    ("job name as a list", "job.name", {"job.name": ["orders-etl"]}),
    ("job as a string", "job", {"job": "orders-etl"}),
    ("run as a list", "run", {"run": []}),
    ("eventType as a number", "eventType", {"eventType": 3}),
    ("an unknown eventType", "eventType", {"eventType": "EXPLODED"}),
    ("event time before 1970", "eventTime", {"eventTime": "1969-07-20T20:17:00Z"}),
    ("event time in 2099", "eventTime", {"eventTime": "2099-01-01T00:00:00Z"}),
    ("event time two days ahead", "eventTime", {"eventTime": TWO_DAYS_AHEAD}),
    ("event time without a zone", "eventTime", {"eventTime": "2026-03-01T02:05:00"}),
    ("event time as epoch seconds", "eventTime", {"eventTime": 1772330700}),
    ("event time as a huge number", "eventTime", {"eventTime": 1e308}),
    ("no event time", "eventTime", {"eventTime": OMIT}),
]
LINEAGE_RAW_CASES = [
    ("NaN as the event time", "eventTime", "NaN"),
    ("Infinity as the run id", "run.runId", "Infinity"),
    ("-Infinity as the job name", "job.name", "-Infinity"),
]


@pytest.fixture
def send_lineage(api):
    def send_lineage(body: str):
        return api.post(LINEAGE, body, content_type="application/json")

    return send_lineage


def assert_hostile_event_refused_between_valid_ones(send_lineage, hostile_body: str, field: str):
    assert send_lineage(json.dumps(lineage_event(BEFORE_RUN_ID))).status_code == 201

    response = send_lineage(hostile_body)

    assert 400 <= response.status_code < 500, response.content[:500]
    body = response.json()
    assert body["outcome"] == "rejected"
    assert field in body["errors"], body["errors"]
    assert send_lineage(json.dumps(lineage_event(AFTER_RUN_ID))).status_code == 201
    assert stored_ids() == {BEFORE_RUN_ID, AFTER_RUN_ID}


@pytest.mark.parametrize(
    ("field", "overrides"),
    [(field, overrides) for _, field, overrides in LINEAGE_CASES],
    ids=[name for name, _, _ in LINEAGE_CASES],
)
def test_a_hostile_lineage_event_is_a_4xx_naming_its_field_between_stored_neighbours(
    send_lineage, pipeline, field, overrides
):
    body = json.dumps(lineage_event(HOSTILE_RUN_ID, **overrides))
    assert_hostile_event_refused_between_valid_ones(send_lineage, body, field)


@pytest.mark.parametrize(
    ("field", "raw"),
    [(field, raw) for _, field, raw in LINEAGE_RAW_CASES],
    ids=[name for name, _, _ in LINEAGE_RAW_CASES],
)
def test_nan_and_infinity_in_a_lineage_event_name_their_field(send_lineage, pipeline, field, raw):
    body = dumps_with_raw(lineage_event(HOSTILE_RUN_ID, **{field: RAW}), raw)
    assert_hostile_event_refused_between_valid_ones(send_lineage, body, field)


def test_a_hostile_facet_of_a_new_job_registers_no_pipeline(send_lineage, chm_client, pipeline):
    chm_client.auto_register_pipelines = True
    chm_client.save()
    event = lineage_event(
        HOSTILE_RUN_ID,
        **{"job.name": "new-job", "job.facets.ownership": {"owners": [{"name": "\ud800"}]}},
    )

    response = send_lineage(json.dumps(event))

    assert response.status_code == 400
    assert "job.facets.ownership.owners.0.name" in response.json()["errors"]
    assert not chm_client.pipelines.filter(slug__contains="new-job").exists()


@pytest.mark.parametrize(
    "body",
    [b'{"eventType": "START",', b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000],
    ids=["malformed JSON", "not UTF-8", "nested 100,000 deep"],
)
def test_a_lineage_body_chm_cannot_read_names_the_body(send_lineage, pipeline, body):
    response = send_lineage(body)

    assert 400 <= response.status_code < 500
    assert "body" in response.json()["errors"]
    assert stored_ids() == set()


def test_a_gzip_bomb_sent_as_a_lineage_event_is_a_413(api, pipeline):
    response = api.post(
        LINEAGE,
        gzip_bomb(256 * 1024 * 1024),
        content_type="application/json",
        HTTP_CONTENT_ENCODING="gzip",
    )

    assert response.status_code == 413
    assert stored_ids() == set()


def test_gzip_that_inflates_within_the_bound_is_read(api, pipeline):
    response = api.post(
        LINEAGE,
        gzip.compress(json.dumps(lineage_event(BEFORE_RUN_ID)).encode()),
        content_type="application/json",
        HTTP_CONTENT_ENCODING="gzip",
    )

    assert response.status_code == 201
