"""The heartbeat of CHM's periodic commands: written after each completed pass only, and
checked by the container health check."""

from __future__ import annotations

import datetime as dt
import errno
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management.base import CommandError, OutputWrapper

from common import loops
from common.loops import heartbeat_problem, main, run_passes, write_heartbeat

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _no_database(monkeypatch):
    # The loop drops stale database connections between passes; these tests have no database,
    # and a connection another test left open in this thread must not be checked here.
    monkeypatch.setattr(loops, "close_old_connections", lambda: None)


def _run(one_pass, *, heartbeat_file: Path, iterations: int | None = None, loop=0.01):
    out, err = StringIO(), StringIO()
    run_passes(
        one_pass,
        name="evaluation",
        loop=loop,
        iterations=iterations,
        stdout=OutputWrapper(out),
        stderr=OutputWrapper(err),
        heartbeat_file=heartbeat_file,
    )
    return out.getvalue(), err.getvalue()


def _beat(path: Path) -> dt.datetime:
    return dt.datetime.fromisoformat(path.read_text().strip())


def test_each_completed_pass_refreshes_the_heartbeat(tmp_path):
    heartbeat = tmp_path / "alerts.heartbeat"
    beats = []

    def one_pass():
        if heartbeat.exists():
            beats.append(_beat(heartbeat))
        return "1 rules evaluated"

    before = dt.datetime.now(dt.UTC)
    _run(one_pass, heartbeat_file=heartbeat, iterations=3)
    last = _beat(heartbeat)
    assert len(beats) == 2
    assert before <= beats[0] <= beats[1] <= last <= dt.datetime.now(dt.UTC)
    # Replaced in one rename: no temporary file is left beside it.
    assert [p.name for p in tmp_path.iterdir()] == ["alerts.heartbeat"]


def test_a_pass_that_raises_leaves_the_heartbeat_of_the_last_completed_one(tmp_path):
    heartbeat = tmp_path / "alerts.heartbeat"
    seen = []

    def one_pass():
        if seen:
            seen.append(heartbeat.read_text())
            raise ConnectionError("server closed the connection unexpectedly")
        seen.append(None)
        return "1 rules evaluated"

    out, err = _run(one_pass, heartbeat_file=heartbeat, iterations=3)
    assert out.count("rules evaluated") == 1
    assert err.count("evaluation failed: ConnectionError") == 2
    assert heartbeat.read_text() == seen[1] == seen[2]


def test_a_restarted_loop_does_not_inherit_its_predecessors_heartbeat(tmp_path):
    heartbeat = tmp_path / "alerts.heartbeat"
    write_heartbeat(heartbeat, at=dt.datetime.now(dt.UTC))

    def database_down():
        raise ConnectionError("connection refused")

    _run(database_down, heartbeat_file=heartbeat, iterations=1)
    assert not heartbeat.exists()
    problem = heartbeat_problem(heartbeat, max_age=180, now=dt.datetime.now(dt.UTC))
    assert problem == f"{heartbeat}: no completed pass yet"


def test_a_single_pass_writes_the_heartbeat_and_a_failed_one_does_not(tmp_path):
    heartbeat = tmp_path / "rollup.heartbeat"
    write_heartbeat(heartbeat, at=NOW)

    def fails():
        raise ConnectionError("connection refused")

    with pytest.raises(ConnectionError):
        _run(fails, heartbeat_file=heartbeat, loop=None)
    assert _beat(heartbeat) == NOW
    _run(lambda: "daily rollup: 0 days rolled up", heartbeat_file=heartbeat, loop=None)
    assert _beat(heartbeat) > NOW


def test_a_heartbeat_file_in_a_missing_directory_is_refused_before_any_pass(tmp_path):
    calls = []
    with pytest.raises(CommandError, match="--heartbeat-file: no directory"):
        _run(lambda: calls.append(1), heartbeat_file=tmp_path / "missing" / "beat")
    assert calls == []


def test_a_heartbeat_path_that_cannot_be_replaced_is_refused_before_any_pass(tmp_path):
    (tmp_path / "beat").mkdir()
    calls = []
    with pytest.raises(CommandError, match="--heartbeat-file: cannot replace"):
        _run(lambda: calls.append(1), heartbeat_file=tmp_path / "beat")
    assert calls == []


def test_a_heartbeat_that_cannot_be_written_is_reported_without_ending_the_loop(
    tmp_path, monkeypatch
):
    def disk_full(path, *, at):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(loops, "write_heartbeat", disk_full)
    heartbeat = tmp_path / "beat"
    out, err = _run(lambda: "1 rules evaluated", heartbeat_file=heartbeat, iterations=2)
    assert out.count("rules evaluated") == 2
    assert err.count(f"heartbeat not written to {heartbeat}: [Errno 28]") == 2


@pytest.mark.parametrize(
    ("age", "fresh"), [(0, True), (179, True), (180, True), (181, False), (3600, False)]
)
def test_the_check_accepts_a_heartbeat_up_to_max_age_seconds_old(tmp_path, age, fresh):
    heartbeat = tmp_path / "beat"
    write_heartbeat(heartbeat, at=NOW - dt.timedelta(seconds=age))
    problem = heartbeat_problem(heartbeat, max_age=180, now=NOW)
    if fresh:
        assert problem is None
    else:
        assert problem.startswith(f"last completed pass {age} s ago")
        assert "(limit 180 s)" in problem


@pytest.mark.parametrize(
    ("content", "message"),
    [("", "not a heartbeat"), ("yesterday", "not a heartbeat"), ("2025-03-01T12:00", "time zone")],
)
def test_the_check_fails_on_a_file_that_is_not_a_heartbeat(tmp_path, content, message):
    heartbeat = tmp_path / "beat"
    heartbeat.write_text(content)
    assert message in heartbeat_problem(heartbeat, max_age=180, now=NOW)


def test_the_check_exits_non_zero_with_the_reason(tmp_path, capsys):
    heartbeat = tmp_path / "beat"
    assert main(["--check-heartbeat", str(heartbeat), "--max-age", "60"]) == 1
    assert "no completed pass yet" in capsys.readouterr().err
    write_heartbeat(heartbeat, at=dt.datetime.now(dt.UTC))
    assert main(["--check-heartbeat", str(heartbeat), "--max-age", "60"]) == 0
    with pytest.raises(SystemExit) as exit_info:
        main(["--check-heartbeat", str(heartbeat), "--max-age", "0"])
    assert exit_info.value.code == 2
    assert "--max-age" in capsys.readouterr().err


def test_the_health_check_command_runs_without_django_settings(tmp_path):
    """The container runs it as `python -m common.loops`, outside manage.py."""
    heartbeat = tmp_path / "beat"
    write_heartbeat(heartbeat, at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=500))
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = str(ROOT)
    command = [sys.executable, "-m", "common.loops", "--check-heartbeat", str(heartbeat)]
    stale = subprocess.run(  # noqa: S603
        [*command, "--max-age", "300"], env=env, capture_output=True, text=True, timeout=60
    )
    assert stale.returncode == 1
    assert "limit 300 s" in stale.stderr
    fresh = subprocess.run(  # noqa: S603
        [*command, "--max-age", "900"], env=env, capture_output=True, text=True, timeout=60
    )
    assert fresh.returncode == 0, fresh.stderr
