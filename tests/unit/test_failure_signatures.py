from __future__ import annotations

import re
from collections import defaultdict

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from runs.signatures import (
    DIGEST_HEX_CHARS,
    MAX_NORMALISED_CHARS,
    failure_signature,
    normalise_error,
)
from tests.support.error_corpus import CORPUS, pairwise_precision_recall

PROPERTIES = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
# Every code point, lone surrogates and NUL included.
ANY_CHARACTER = st.characters(exclude_categories=())


def _signatures() -> list[str]:
    return [failure_signature(message).digest for _, message in CORPUS]


def test_the_corpus_covers_every_tool_with_enough_messages():
    assert len(CORPUS) >= 60
    prefixes = {group.split("-")[0] for group, _ in CORPUS}
    for tool in ("airflow", "dbt", "spark", "snowflake", "bigquery", "pg", "fivetran", "airbyte"):
        assert tool in prefixes


def test_corpus_messages_group_exactly_as_labelled():
    digests = _signatures()
    groups_by_digest: dict[str, set[str]] = defaultdict(set)
    digests_by_group: dict[str, set[str]] = defaultdict(set)
    for (group, _), digest in zip(CORPUS, digests, strict=True):
        groups_by_digest[digest].add(group)
        digests_by_group[group].add(digest)

    merged = {d: groups for d, groups in groups_by_digest.items() if len(groups) > 1}
    split = {group: digests for group, digests in digests_by_group.items() if len(digests) > 1}
    assert merged == {}, "causes that must stay apart share a signature"
    assert split == {}, "one cause has several signatures"


def test_the_corpus_grouping_has_pairwise_precision_and_recall_of_one():
    precision, recall = pairwise_precision_recall([group for group, _ in CORPUS], _signatures())

    assert (precision, recall) == (1.0, 1.0)


def test_pairwise_precision_and_recall_count_wrong_merges_and_splits():
    groups = ["a", "a", "a", "b"]

    assert pairwise_precision_recall(groups, ["x", "x", "x", "y"]) == (1.0, 1.0)
    # a3 split from a1, a2: one of three pairs that belong together is found apart.
    assert pairwise_precision_recall(groups, ["x", "x", "y", "z"]) == (1.0, 1 / 3)
    # b merged with a: three of the six pairs put together do not belong together.
    assert pairwise_precision_recall(groups, ["x", "x", "x", "x"]) == (0.5, 1.0)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (
            "permission denied for schema analytics",
            "permission denied for schema staging",
        ),
        (
            "Object 'RAW.SHOP.ORDERS' does not exist or not authorized.",
            "Object 'RAW.SHOP.PAYMENTS' does not exist or not authorized.",
        ),
        ("Task exited with return code 1", "Task exited with return code 137"),
        (
            "Request failed with status code 401 Unauthorized",
            "Request failed with status code 503 Unauthorized",
        ),
        (
            'connection to server at "db.acme.internal" (10.0.3.17), port 5432 failed: '
            "Connection refused",
            'connection to server at "db.acme.internal" (10.0.3.17), port 5432 failed: '
            "Connection timed out",
        ),
        ("KeyError: 'customer_id'", "KeyError: 'order_id'"),
    ],
)
def test_names_and_codes_that_identify_a_cause_are_kept(first, second):
    assert failure_signature(first) != failure_signature(second)


@pytest.mark.parametrize(
    ("message", "normalised"),
    [
        (
            "Job 3f1c0c1e-5a1b-4c7e-9f2e-7d8a1b2c3d4e failed at 2024-05-01T02:10:33.123Z",
            "job <uuid> failed at <ts>",
        ),
        (
            "could not reach db-7.acme.internal:5432 (10.0.3.17) for loader@acme.com",
            "could not reach <host> (<host>) for <email>",
        ),
        (
            "No such file /opt/airflow/dags/sql/load_orders.sql, see https://example.com/x?y=1",
            "no such file <path>, see <url>",
        ),
        ("Numeric value 'abc' is not recognized", "numeric value '<str>' is not recognized"),
        (
            "object at 0x7f3a2b1c4d50, commit 9fceb02d0ae598e95dc970b74767f19372d61af8",
            "object at <hex>, commit <hex>",
        ),
        (
            "Pod orders-sync-h6xq2k9t returned a failure.",
            "pod orders-sync-<id> returned a failure.",
        ),
        ("Lost task 3.3 in stage 12.0 (TID 845)", "lost task <n> in stage <n> (tid <n>)"),
        ("  Timeout,\n\n   PID:\t4187  ", "timeout, pid: <n>"),
    ],
)
def test_what_identifies_one_occurrence_is_replaced(message, normalised):
    assert normalise_error(message) == normalised


def test_a_python_traceback_is_read_from_its_exception_and_a_java_one_from_its_root_cause():
    python = (
        "Traceback (most recent call last):\n"
        '  File "/opt/airflow/dags/x.py", line 3, in f\n'
        "    load()\n"
        "ValueError: no rows for 2024-05-01"
    )
    java = (
        "org.apache.spark.SparkException: Task failed while writing rows.\n"
        "\tat org.apache.spark.sql.execution.datasources.FileFormatWriter.write(FFW.scala:1)\n"
        "Caused by: java.net.ConnectException: Connection refused\n"
        "\tat java.base/sun.nio.ch.Net.connect0(Native Method)\n"
        "\t... 42 more"
    )

    assert normalise_error(python) == "valueerror: no rows for <ts>"
    assert normalise_error(java) == "connection refused"


def test_a_missing_or_blank_message_has_no_signature():
    assert failure_signature(None) is None
    assert failure_signature("") is None
    assert failure_signature(" \n\t ") is None


def test_a_signature_is_a_short_hex_digest_of_the_normalised_text():
    signature = failure_signature("ERROR:  permission denied for schema analytics")

    assert re.fullmatch(rf"[0-9a-f]{{{DIGEST_HEX_CHARS}}}", signature.digest)
    assert signature.normalised == "permission denied for schema analytics"
    assert signature == failure_signature("permission denied for schema analytics")


def test_a_megabyte_message_is_read_only_at_its_ends():
    frame = '  File "/opt/airflow/dags/orders.py", line 12, in load\n    rows = fetch(day)\n'
    message = "Traceback (most recent call last):\n" + frame * 15_000 + "KeyError: 'customer_id'"

    assert normalise_error(message) == "keyerror: 'customer_id'"


# --- properties ---

# Pieces that the rules look for, so that random text meets them often.
_FRAGMENTS = [
    *("Traceback (most recent call last):\n", '  File "x.py", line 3, in f\n', "Caused by: "),
    *("\tat a.B(C.java:1)\n", "ERROR: ", "FATAL:  ", "LINE 1: x\n", "  ^\n", "Location: US\n"),
    *("Database Error in model x (p.sql)\n", "compiled Code at t/x.sql\n", "Runtime Error\n"),
    *("<TaskInstance: a.b c [q]>", "[2024-05-01, 02:10:33 UTC] {x.py:1} INFO - "),
    *("org.x.YError: ", "(a.b.C) ", "002003 (42S02): ", "404 Not", ": ", "a.b.Cd: "),
    *("0x1f", ".com", ".internal", "x@y.com", "http://", "s3://b/k", "/", "/a/b", "a/b.sql"),
    *("c:\\x", "2024-05-01", "T02:10:33Z", " 02:10:33", "10.0.0.1", ":8080", "::1", "fe80::"),
    *("3f1c0c1e-5a1b-4c7e-9f2e-7d8a1b2c3d4e", "h6xq2k9t", "abc123", "123", "1.5", "-", "@"),
    *("code ", "status ", "http ", "signal ", "exit code 137", ")=(", "Key (a)=(1)"),
    *("value '", "value: ", ": '", "error: '", "exception: '", 'string "', "parse '"),
    *("'", '"', "`", "\n", " ", "\r", "\x0b", "\u2028", "\u0130", "\x00", "\ud800"),
    *("_", "x", "Y", "9"),
]
_ERROR_TEXT = st.one_of(
    st.text(ANY_CHARACTER, max_size=300),
    st.lists(st.sampled_from(_FRAGMENTS), max_size=40).map("".join),
    st.lists(st.one_of(st.sampled_from(_FRAGMENTS), st.text(max_size=5)), max_size=150).map(
        "".join
    ),
    st.builds(
        lambda message, noise, at: message[:at] + noise + message[at:],
        st.sampled_from([message for _, message in CORPUS]),
        st.text(ANY_CHARACTER, max_size=20),
        st.integers(min_value=0, max_value=400),
    ),
)


@PROPERTIES
@given(_ERROR_TEXT)
@example("Traceback (most recent call last):\n  File 'x'\n")
@example("\x00\ud800 caf\u00e9 \u0130 \U0001f600")
@example("a " * 600 + "x.co" + "m" * 50)
# Each once normalised to something that normalised again differently:
@example(":\r0")
@example("0A:\\0")
@example("a/b.sqlabc123")
@example("a/b.sql1.5")
@example(".com.com002003 (42S02): ")
@example(": org.x.YError: ")
@example(":8080error: 'error: '")
@example("/a/berror: 'error: '")
@example("code 123::1Traceback (most recent call last):\n")
@example("value 'value: Traceback (most recent call last):\n")
def test_normalising_a_normalised_message_changes_nothing(message):
    normalised = normalise_error(message)

    assert normalise_error(normalised) == normalised


@PROPERTIES
@given(st.text(ANY_CHARACTER, max_size=20_000))
def test_any_text_gives_a_bounded_signature_without_raising(message):
    signature = failure_signature(message)

    if signature is not None:
        assert len(signature.normalised) <= MAX_NORMALISED_CHARS
        assert len(signature.digest) == DIGEST_HEX_CHARS


class _Occurrence:
    """Draws what differs from one occurrence of a failure to the next."""

    def __init__(self, data: st.DataObject) -> None:
        self.data = data

    def n(self) -> int:
        return self.data.draw(st.integers(0, 10**12))

    def uuid(self) -> str:
        return str(self.data.draw(st.uuids()))

    def ts(self) -> str:
        return self.data.draw(st.datetimes()).isoformat()

    def ip(self) -> str:
        return str(self.data.draw(st.ip_addresses(v=4)))


_TEMPLATES = [
    lambda o: f"Task {o.n()} in stage {o.n()}.0 failed {o.n()} times (TID {o.n()})",
    lambda o: f"Job {o.uuid()} failed at {o.ts()}; query {o.uuid()} took {o.n()}.{o.n()} s",
    lambda o: f"Sensor has timed out; run duration of {o.n()}.{o.n()} seconds exceeds it",
    lambda o: f"[{o.ts()}] {{taskinstance.py:{o.n()}}} ERROR - Timeout, PID: {o.n()}",
    lambda o: f"deadlock detected\nDETAIL:  Process {o.n()} waits for transaction {o.n()}",
    lambda o: f"Could not parse value at row {o.n()}, column {o.n()}, since {o.ts()}",
    lambda o: f"connection to server at {o.ip()}, port {o.n()} failed: Connection refused",
    lambda o: f"Snapshot {o.uuid()} expired after {o.n()} days (created {o.ts()})",
]


@PROPERTIES
@given(st.sampled_from(_TEMPLATES), st.data())
def test_numbers_uuids_timestamps_and_addresses_do_not_change_the_signature(template, data):
    occurrence = _Occurrence(data)

    assert failure_signature(template(occurrence)) == failure_signature(template(occurrence))
