"""`manage.py setup_metabase` against a real HTTP server on loopback that answers like
Metabase's documented API and records every request."""

from __future__ import annotations

import io
import json
import socket

import pytest
from django.core.management import CommandError, call_command

from dashboards.catalog import DASHBOARDS, metabase_sql
from dashboards.metabase import MetabaseAPI, MetabaseError
from tests.support.fake_metabase import FakeMetabase

pytestmark = pytest.mark.django_db

PANELS = [panel for dashboard in DASHBOARDS for panel in dashboard.panels]
ADMIN = ["--email", "admin@example.com", "--password", "correct-horse-battery"]
DATABASE = [
    "--db-host",
    "postgres",
    "--db-port",
    "5432",
    "--db-name",
    "chm",
    "--db-user",
    "chm_reporting",
    "--db-password",
    "reporting-secret",
]


def _run(fake: FakeMetabase, *extra: str) -> str:
    out = io.StringIO()
    call_command("setup_metabase", "--url", fake.url, *ADMIN, *DATABASE, *extra, stdout=out)
    return out.getvalue()


@pytest.fixture
def metabase():
    with FakeMetabase() as fake:
        yield fake


def _writes(fake: FakeMetabase, method: str, path: str) -> list:
    return [r for r in fake.writes() if r.method == method and r.path.rstrip("/") == path]


def test_first_run_creates_questions_dashboards_and_locked_embedding(metabase):
    output = _run(metabase)
    state = metabase.state

    # A fresh Metabase: the first admin is created with the setup token.
    (setup,) = _writes(metabase, "POST", "/api/setup")
    assert setup.body["token"] == state.setup_token
    assert setup.body["user"]["email"] == "admin@example.com"
    assert state.static_embedding is True

    # Every call after logging in carries the session.
    anonymous = {"/api/session/properties", "/api/setup", "/api/session"}
    assert all(r.session for r in metabase.requests if r.path.rstrip("/") not in anonymous)

    (database,) = _writes(metabase, "POST", "/api/database")
    assert database.body["engine"] == "postgres"
    assert database.body["details"] | {"password": "x"} == database.body["details"] | {
        "host": "postgres",
        "port": 5432,
        "dbname": "chm",
        "user": "chm_reporting",
        "password": "x",
    }
    assert database.body["details"]["password"] == "reporting-secret"
    assert database.body["details"]["schema-filters-patterns"] == "reporting"
    database_id = next(iter(state.databases))

    cards = _writes(metabase, "POST", "/api/card")
    assert len(cards) == len(PANELS) == len(state.cards)
    by_name = {card.body["name"]: card.body for card in cards}
    for panel in PANELS:
        card = by_name[panel.metabase_name]
        query = card["dataset_query"]
        assert query["type"] == "native" and query["database"] == database_id
        assert query["native"]["query"] == metabase_sql(panel)
        assert "reporting." in query["native"]["query"]
        tags = query["native"]["template-tags"]
        if panel.client_column:
            assert tags["client"]["type"] == "text"
            assert "{{client}}" in query["native"]["query"]
        else:
            assert tags == {}

    assert [d["name"] for d in state.dashboards.values()] == [d.title for d in DASHBOARDS]
    for dashboard, stored in zip(DASHBOARDS, state.dashboards.values(), strict=True):
        assert stored["enable_embedding"] is True
        assert stored["embedding_params"] == {"client": "locked"}
        assert [p["slug"] for p in stored["parameters"]] == ["client"]
        assert len(stored["dashcards"]) == len(dashboard.panels)
        for dashcard, panel in zip(stored["dashcards"], dashboard.panels, strict=True):
            assert state.cards[dashcard["card_id"]]["name"] == panel.metabase_name
            targets = [m["target"] for m in dashcard["parameter_mappings"]]
            expected = [["variable", ["template-tag", "client"]]] if panel.client_column else []
            assert targets == expected

    # New dashcards travel with negative ids; Metabase assigns the real ones.
    dashcard_puts = [r for r in metabase.writes() if "dashcards" in (r.body or {})]
    assert len(dashcard_puts) == 2
    for put in dashcard_puts:
        assert all(dc["id"] < 0 for dc in put.body["dashcards"])

    ids = list(state.dashboards)
    assert f"METABASE_DASHBOARD_BUSINESS={ids[0]}" in output
    assert f"METABASE_DASHBOARD_OPERATIONS={ids[1]}" in output


def test_a_second_run_sends_no_create_or_update_request(metabase):
    first = _run(metabase)
    metabase.requests.clear()

    second = _run(metabase)

    writes = [(r.method, r.path) for r in metabase.writes()]
    assert writes == [("POST", "/api/session")], writes
    assert "nothing changed" in second
    assert first.splitlines()[-2:] == second.splitlines()[-2:]


def test_rerun_reads_questions_in_the_metabase_057_layout(metabase):
    _run(metabase)
    metabase.state.mbql5_cards = True
    metabase.requests.clear()

    _run(metabase)

    assert [(r.method, r.path) for r in metabase.writes()] == [("POST", "/api/session")]


def test_a_question_edited_in_metabase_is_put_back_not_duplicated(metabase):
    _run(metabase)
    card_id, card = next(iter(metabase.state.cards.items()))
    card["dataset_query"]["native"]["query"] = "SELECT 1"
    metabase.requests.clear()

    _run(metabase)

    assert not _writes(metabase, "POST", "/api/card")
    (put,) = [r for r in metabase.writes() if r.method == "PUT"]
    assert put.path == f"/api/card/{card_id}"
    assert metabase.state.cards[card_id]["dataset_query"]["native"]["query"].startswith(
        "SELECT bucket_start"
    )


def test_a_removed_question_is_placed_again_keeping_the_other_cards(metabase):
    _run(metabase)
    dashboard = next(iter(metabase.state.dashboards.values()))
    kept_ids = [dc["id"] for dc in dashboard["dashcards"][1:]]
    removed_card = dashboard["dashcards"][0]["card_id"]
    dashboard["dashcards"] = dashboard["dashcards"][1:]
    metabase.requests.clear()

    _run(metabase)

    (put,) = [r for r in metabase.writes() if r.method == "PUT"]
    sent = put.body["dashcards"]
    assert [dc["id"] for dc in sent if dc["id"] > 0] == kept_ids
    assert [(dc["id"], dc["card_id"]) for dc in sent if dc["id"] < 0] == [(-1, removed_card)]
    assert not _writes(metabase, "POST", "/api/card")


def test_a_wrong_password_stops_with_metabases_answer(metabase):
    _run(metabase)
    with pytest.raises(CommandError, match="POST /api/session: Metabase answered 401"):
        call_command(
            "setup_metabase",
            "--url",
            metabase.url,
            "--email",
            "admin@example.com",
            "--password",
            "wrong",
            *DATABASE,
            stdout=io.StringIO(),
        )


def test_an_unreachable_metabase_is_reported_not_raised():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(CommandError, match="cannot reach Metabase"):
        call_command(
            "setup_metabase",
            "--url",
            f"http://127.0.0.1:{port}",
            *ADMIN,
            *DATABASE,
            stdout=io.StringIO(),
        )


def test_the_passwords_are_required(metabase, monkeypatch):
    monkeypatch.delenv("CHM_REPORTING_PASSWORD", raising=False)
    with pytest.raises(CommandError, match="--db-password is required"):
        call_command(
            "setup_metabase", "--url", metabase.url, *ADMIN, "--db-user", "r", stdout=io.StringIO()
        )
    assert metabase.requests == []


def test_it_waits_for_metabase_to_be_ready_then_writes_the_ids_file(
    metabase, tmp_path, monkeypatch
):
    metabase.state.health_checks_before_ready = 2
    pauses = []
    monkeypatch.setattr("dashboards.metabase.time.sleep", pauses.append)
    ids_file = tmp_path / "shared" / "dashboards.json"
    _run(metabase, "--wait", "60", "--ids-file", str(ids_file))
    health = [r for r in metabase.requests if r.path == "/api/health"]
    assert len(health) == 3 and pauses == [5.0, 5.0]
    assert metabase.requests.index(health[-1]) < metabase.requests.index(
        next(r for r in metabase.requests if r.path == "/api/session/properties")
    )
    ids = list(metabase.state.dashboards)
    assert json.loads(ids_file.read_text()) == {"business": ids[0], "operations": ids[1]}


def test_waiting_gives_up_after_its_timeout_naming_what_metabase_said(metabase):
    metabase.state.health_checks_before_ready = 1_000
    clock = iter(range(0, 1_000, 30))
    api = MetabaseAPI(metabase.url)
    with pytest.raises(MetabaseError, match="not ready after 120 s"):
        api.wait_until_ready(timeout=120, clock=lambda: next(clock), sleep=lambda _: None)
    # Four polls, 30 s apart: after the fourth, the 120 s have passed.
    assert len([r for r in metabase.requests if r.path == "/api/health"]) == 4
