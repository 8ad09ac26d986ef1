from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.db import connection

from inventory.loading import load_inventory
from inventory.models import Client
from runs.models import RolledUpDay, Run
from synthetic import generator, orchestrator
from synthetic.cli import main

pytestmark = pytest.mark.django_db

COMMITTED = Path(__file__).resolve().parents[2] / "data" / "synthetic" / "v1.1"


def _copy_of_the_set(tmp_path: Path) -> Path:
    """The committed files without their state and report, which each test writes anew."""
    out = tmp_path / "v1.1"
    shutil.copytree(COMMITTED / "base", out / "base")
    shutil.copytree(COMMITTED / "batches", out / "batches")
    shutil.copytree(COMMITTED / "context", out / "context")
    (out / "context" / "session_state.json").unlink()
    return out


def _run(out: Path, *extra: str) -> int:
    return main(
        [
            "--quiet",
            "--out",
            str(out),
            "--state-file",
            str(out / "state.json"),
            "--ingest-state-file",
            str(out / "ingest-state.json"),
            *extra,
        ]
    )


def _committed_report() -> dict:
    return json.loads((COMMITTED / "validation_report.json").read_text())


def _snapshot() -> list[tuple]:
    return list(
        Run.objects.order_by(
            "pipeline__client__slug", "pipeline__slug", "external_run_id"
        ).values_list(
            "pipeline__client__slug",
            "pipeline__slug",
            "external_run_id",
            "status",
            "started_at",
            "finished_at",
            "error_message",
            "metadata",
        )
    )


def test_ingesting_the_set_directly_gives_the_committed_report(tmp_path):
    out = _copy_of_the_set(tmp_path)

    assert _run(out, "--ingest", "--validate") == 0

    report = json.loads((out / "validation_report.json").read_text())
    assert report == _committed_report()
    assert report["ok"]
    assert Run.objects.count() == report["data_set"]["files"]["runs"]
    assert RolledUpDay.objects.exists()  # the dashboards' rollup, refreshed after the load
    assert (out / "validation_report.md").read_bytes() == (
        COMMITTED / "validation_report.md"
    ).read_bytes()


def test_validating_the_day_after_ingestion_gives_the_committed_report(tmp_path, monkeypatch):
    """Ingestion and validation straddling midnight UTC: the shift is fixed at ingestion (here
    one day earlier than today's), and the views read the shifted data a day later than its
    end. Freshness, incidents and the other scenarios must still give the committed report."""
    out = _copy_of_the_set(tmp_path)
    today = orchestrator.shift_days_for
    monkeypatch.setattr(orchestrator, "shift_days_for", lambda day: today(day) - 1)

    assert _run(out, "--ingest", "--validate") == 0

    report = json.loads((out / "validation_report.json").read_text())
    assert report == _committed_report()
    state = json.loads((out / "ingest-state.json").read_text())
    ((entry),) = state["ingested"].values()
    assert entry["shift_days"] == today(dt.datetime.now(dt.UTC).date()) - 1


@pytest.mark.django_db(transaction=True)
def test_ingesting_the_set_over_http_gives_the_committed_report(tmp_path, live_server):
    out = _copy_of_the_set(tmp_path)
    load_inventory(document=json.loads((out / "base" / "inventory.json").read_text()))
    keys = tmp_path / "keys.txt"
    keys.write_text(
        "# client=key, one per line\n"
        + "".join(f"{client.slug}={client.rotate_key()}\n" for client in Client.objects.all())
    )

    assert _run(out, "--ingest-url", live_server.url, "--keys-file", str(keys), "--validate") == 0

    assert json.loads((out / "validation_report.json").read_text()) == _committed_report()


@pytest.mark.django_db(transaction=True)
def test_ingesting_over_http_without_a_clients_key_stops_with_a_clear_error(
    tmp_path, live_server, capsys
):
    out = _copy_of_the_set(tmp_path)
    load_inventory(document=json.loads((out / "base" / "inventory.json").read_text()))

    assert _run(out, "--ingest-url", live_server.url, "--key", "nobody=chm_x") == 1
    assert "No key for client" in capsys.readouterr().err
    assert not Run.objects.exists()


def test_an_interrupted_ingestion_resumes_to_the_same_runs_without_duplicates(tmp_path):
    small = ["--days", "35", "--clients", "3"]
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    assert _run(whole, *small, "--ingest") == 0
    expected = _snapshot()
    Run.objects.all().delete()

    assert _run(resumed, *small) == 0  # the files first: the interruption is in ingestion
    assert _run(resumed, *small, "--ingest", "--stop-after", "4") == 1
    state = json.loads((resumed / "ingest-state.json").read_text())
    (entry,) = state["ingested"].values()
    assert len(entry["batches"]) == 4 and not entry["complete"]
    assert _run(resumed, *small, "--ingest") == 0

    assert _snapshot() == expected
    data = generator.build(days=35, clients=3)
    assert len(expected) == len(data.expected_runs)
    (entry,) = json.loads((resumed / "ingest-state.json").read_text())["ingested"].values()
    assert entry["complete"] and len(entry["batches"]) == len(data.batches)


def test_a_finished_ingestion_does_nothing_the_second_time(tmp_path, capsys):
    out = _copy_of_the_set(tmp_path)
    _run(out, "--ingest")
    before = _snapshot()
    capsys.readouterr()

    assert _run(out, "--ingest") == 0

    assert "0 batches" in capsys.readouterr().out
    assert _snapshot() == before


def test_ingestion_is_skipped_when_the_set_is_already_in_the_database(tmp_path, capsys):
    out = _copy_of_the_set(tmp_path)
    _run(out, "--ingest")
    count = Run.objects.count()
    (out / "ingest-state.json").unlink()  # e.g. var/ was cleaned, the database was kept
    capsys.readouterr()

    assert _run(out, "--ingest") == 0

    assert "nothing to ingest" in capsys.readouterr().out
    assert Run.objects.count() == count


@pytest.mark.django_db(transaction=True)
def test_a_refused_key_stops_the_http_ingestion_and_a_rerun_resumes(tmp_path, live_server, capsys):
    out = _copy_of_the_set(tmp_path)
    load_inventory(document=json.loads((out / "base" / "inventory.json").read_text()))
    keys = {client.slug: client.rotate_key() for client in Client.objects.all()}
    wrong = [f"--key={slug}=chm_not-the-key" for slug in keys]

    assert _run(out, "--ingest-url", live_server.url, *wrong) == 1
    assert re.search(r"answered 40[13] for a batch of", capsys.readouterr().err)
    assert not Run.objects.exists()
    right = [f"--key={slug}={key}" for slug, key in keys.items()]
    assert _run(out, "--ingest-url", live_server.url, *right) == 0

    data = generator.build()
    assert Run.objects.count() == len(data.expected_runs)


def _git(checkout: Path, *args: str) -> str:
    return subprocess.run(  # noqa: S603
        ["git", "-c", "user.name=CHM", "-c", "user.email=chm@example.com", *args],  # noqa: S607
        cwd=checkout,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def test_the_documented_commands_on_a_clean_checkout_leave_git_status_clean(tmp_path, monkeypatch):
    checkout = tmp_path / "checkout"
    shutil.copytree(COMMITTED, checkout / "data" / "synthetic" / "v1.1")
    shutil.copy(COMMITTED.parents[2] / ".gitignore", checkout / ".gitignore")
    _git(checkout, "init", "--quiet")
    _git(checkout, "add", ".")
    _git(checkout, "commit", "--quiet", "-m", "the committed set")
    monkeypatch.chdir(checkout)

    assert main(["--quiet"]) == 0
    assert main(["--quiet", "--ingest", "--validate"]) == 0
    # The seed's own command line, as docs/synthetic-data.md and `make run` give it.
    state = "data/synthetic/v1.1/context/session_state.json"
    assert main(["--quiet", "--state-file", state, "--ingest"]) == 0

    assert _git(checkout, "status", "--porcelain", "--untracked-files=all") == ""
    ingest_state = json.loads((checkout / "var" / "synthetic-v1.1-state.json").read_text())
    assert ingest_state["validated"]["complete"]
    ((target, entry),) = ingest_state["ingested"].items()
    assert entry["complete"]
    assert target.endswith("/" + connection.settings_dict["NAME"])
