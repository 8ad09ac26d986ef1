from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path

import pytest

from synthetic import generator
from synthetic.cli import main

COMMITTED = Path(__file__).resolve().parents[2] / "data" / "synthetic" / "v1.1"


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def _generate(out: Path, *extra: str) -> int:
    return main(["--quiet", "--out", str(out), "--state-file", str(out / "state.json"), *extra])


def test_the_same_seed_gives_the_same_bytes(tmp_path):
    assert _generate(tmp_path / "a") == 0
    assert _generate(tmp_path / "b") == 0

    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")
    assert len(_tree(tmp_path / "a")) > 30


def test_a_different_seed_gives_different_files(tmp_path):
    _generate(tmp_path / "a")
    _generate(tmp_path / "b", "--seed", "2")

    first, second = _tree(tmp_path / "a"), _tree(tmp_path / "b")
    assert first["base/inventory.json"] != second["base/inventory.json"]
    assert first["batches/batch-0001.json"] != second["batches/batch-0001.json"]


def test_the_committed_files_match_the_generator():
    state = json.loads((COMMITTED / "context" / "session_state.json").read_text())
    data = generator.build(
        seed=state["parameters"]["seed"],
        days=state["parameters"]["days"],
        clients=state["parameters"]["clients"],
    )
    files = data.files()

    assert main(["--quiet", "--check", "--out", str(COMMITTED)]) == 0
    assert state["generated"]["complete"]
    assert state["generated"]["files"] == {
        name: generator.sha256(content) for name, content in sorted(files.items())
    }
    committed_batches = {p.name for p in (COMMITTED / "batches").glob("*.json")}
    assert committed_batches == {Path(name).name for name in files if name.startswith("batches/")}


def test_the_committed_state_holds_generation_only_and_regenerates_byte_for_byte(tmp_path):
    committed = (COMMITTED / "context" / "session_state.json").read_bytes()

    assert set(json.loads(committed)) == {"format", "parameters", "generated"}
    assert _generate(tmp_path / "again") == 0
    assert (tmp_path / "again" / "state.json").read_bytes() == committed


def test_generating_neither_reads_nor_writes_the_ingestion_state(tmp_path):
    ingest_state = tmp_path / "ingest-state.json"
    ingest_state.write_text('{"parameters": {"seed": 99}, "ingested": {}}')
    before = ingest_state.read_bytes()

    assert _generate(tmp_path / "v1.1", "--ingest-state-file", str(ingest_state)) == 0

    assert ingest_state.read_bytes() == before


def test_one_file_for_both_states_is_refused(tmp_path, capsys):
    state = str(tmp_path / "state.json")

    assert (
        main(
            [
                "--quiet",
                "--out",
                str(tmp_path),
                "--state-file",
                state,
                "--ingest-state-file",
                state,
                "--validate",
            ]
        )
        == 1
    )
    assert "give them two files" in capsys.readouterr().err


def test_check_reports_a_hand_edited_file(tmp_path, capsys):
    _generate(tmp_path)
    path = tmp_path / "batches" / "batch-0002.json"
    path.write_bytes(path.read_bytes().replace(b'"success"', b'"failed"', 1))

    assert main(["--quiet", "--check", "--out", str(tmp_path)]) == 1
    assert "batch-0002.json" in capsys.readouterr().out


def test_an_interrupted_generation_resumes_to_the_same_files_and_state(tmp_path):
    assert _generate(tmp_path / "whole") == 0

    assert _generate(tmp_path / "resumed", "--stop-after", "7") == 1
    assert len(list((tmp_path / "resumed").rglob("*.json"))) == 7 + 1  # and the state file
    assert _generate(tmp_path / "resumed") == 0

    assert _tree(tmp_path / "resumed") == _tree(tmp_path / "whole")


def test_a_finished_generation_writes_nothing(tmp_path, capsys):
    _generate(tmp_path)
    before = {path: path.stat().st_mtime_ns for path in tmp_path.rglob("*")}
    capsys.readouterr()

    assert _generate(tmp_path) == 0

    assert "0 files written" in capsys.readouterr().out
    assert {path: path.stat().st_mtime_ns for path in tmp_path.rglob("*")} == before


def test_a_state_file_of_another_seed_is_refused(tmp_path, capsys):
    _generate(tmp_path)

    assert _generate(tmp_path, "--seed", "9") == 1
    assert "another --state-file" in capsys.readouterr().err


@pytest.fixture(scope="module")
def data_set():
    return generator.build()


def _items(data: generator.DataSet):
    return [(batch, item) for batch in data.batches for item in batch["items"]]


def test_batches_deliver_duplicates_updates_and_late_events(data_set):
    seen = Counter(
        json.dumps(item, sort_keys=True) for _, item in _items(data_set) if "finished_at" in item
    )
    assert any(count > 1 for count in seen.values()), "duplicate deliveries"

    by_run: dict[tuple, list[str]] = {}
    for _, item in _items(data_set):
        by_run.setdefault((item["pipeline"], item["external_run_id"]), []).append(item["status"])
    sequences = list(by_run.values())
    assert any(s[:3] == ["queued", "running", "success"] for s in sequences)
    terminal = {"success", "failed", "SUCCESS", "FAILURE", "COMPLETED", "CRASHED"}
    assert any(s[-1] in ("running", "STARTED") and terminal & set(s) for s in sequences), (
        "late running after a terminal event"
    )
    assert any(s[:2] == ["failed", "success"] for s in sequences), "corrections"


def test_some_batches_arrive_out_of_order(data_set):
    latest: dict[str, str] = {}
    out_of_order = 0
    for batch in data_set.batches:
        starts = [item["started_at"] for item in batch["items"] if item["started_at"].endswith("Z")]
        if batch["client"] in latest and min(starts) < latest[batch["client"]][:10]:
            out_of_order += 1
        latest[batch["client"]] = max(starts)
    assert out_of_order >= 2


def test_invalid_items_are_planted(data_set):
    assert data_set.invalid_items >= 5
    statuses = {item["status"] for _, item in _items(data_set)}
    assert "exploded" in statuses
    assert any(not item["started_at"].endswith("Z") for _, item in _items(data_set))


def test_every_scenario_is_planted_on_distinct_pipelines(data_set):
    scenarios = data_set.scenarios["scenarios"]
    picked = [
        *(f"{p['client']}/{p['pipeline']}" for p in scenarios["flaky_pipelines"]["pipelines"]),
        *(
            f"{scenarios[name]['client']}/{scenarios[name]['pipeline']}"
            for name in ("failing_streak", "stale_pipeline", "stuck_run", "duration_regression")
        ),
    ]
    assert len(set(picked)) == len(picked) == 7
    uncovered = next(
        c
        for c in data_set.inventory["clients"]
        if c["slug"] == scenarios["uncovered_client"]["client"]
    )
    assert uncovered["alert_rules"] == []
    assert all(c["alert_rules"] for c in data_set.inventory["clients"] if c is not uncovered)


def test_freshness_expectations_hold_until_the_end_of_the_day_after_ingestion():
    """Ingestion shifts the set to end at midnight (UTC) of the day it runs; the views judge
    freshness against the clock when they are read. Validation may run up to the end of the
    next day (ingestion just before midnight, validation after it): only the planted stale
    pipeline may then be late."""
    data = generator.build()
    latest_read = generator.ANCHOR + dt.timedelta(days=2)
    stale = data.scenarios["scenarios"]["stale_pipeline"]
    last_success: dict[tuple[str, str], dt.datetime] = {}
    for (client, pipeline, _), (status, _, finished) in data.expected_runs.items():
        if status == "success":
            moment = dt.datetime.fromisoformat(finished)
            last_success[(client, pipeline)] = max(
                moment, last_success.get((client, pipeline), moment)
            )
    late = [
        f"{client['slug']}/{pipeline['slug']}"
        for client in data.inventory["clients"]
        for pipeline in client["pipelines"]
        if pipeline.get("freshness_minutes")
        and last_success[(client["slug"], pipeline["slug"])]
        + dt.timedelta(minutes=pipeline["freshness_minutes"])
        < latest_read
    ]
    assert late == [f"{stale['client']}/{stale['pipeline']}"]


def test_planted_incidents_fall_within_the_window_every_reading_sees():
    data = generator.build()
    incidents = data.scenarios["scenarios"]["incidents"]
    window_start = generator.ANCHOR - dt.timedelta(days=incidents["window_days_before_end"])
    # Read up to the end of the day after ingestion, the views look 7 days back.
    assert generator.ANCHOR + dt.timedelta(days=2) - dt.timedelta(days=7) <= window_start
    planted = [group for group in incidents.values() if isinstance(group, dict)]
    assert {name for name, group in incidents.items() if isinstance(group, dict)} == {
        "credential_expiry",
        "staging_grant",
        "look_alikes",
        "platform_outage",
    }
    for group in planted:
        assert dt.date.fromisoformat(group["day"]) >= window_start.date()
    credential = incidents["credential_expiry"]["runs"]
    assert len({run["client"] for run in credential}) == 3
    assert len(incidents["platform_outage"]["runs"]) >= 5
