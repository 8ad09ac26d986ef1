"""`manage.py build_grafana_dashboards`: writes the generated JSON, and --check fails on stale
files without writing."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from dashboards import grafana

pytestmark = pytest.mark.django_db


def test_writes_the_dashboards_then_check_passes(tmp_path, monkeypatch):
    monkeypatch.setattr(grafana, "OUTPUT_DIR", tmp_path / "dashboards")
    with pytest.raises(CommandError, match="out of date"):
        call_command("build_grafana_dashboards", "--check", stdout=io.StringIO())
    assert not (tmp_path / "dashboards").exists()

    call_command("build_grafana_dashboards", stdout=io.StringIO())
    written = sorted(p.name for p in (tmp_path / "dashboards").iterdir())
    assert written == ["chm-business.json", "chm-operations.json"]
    assert json.loads((tmp_path / "dashboards" / "chm-business.json").read_text())["uid"] == (
        "chm-business"
    )

    out = io.StringIO()
    call_command("build_grafana_dashboards", "--check", stdout=out)
    assert "up to date" in out.getvalue()


def test_check_names_a_hand_edited_file(tmp_path, monkeypatch):
    monkeypatch.setattr(grafana, "OUTPUT_DIR", tmp_path)
    call_command("build_grafana_dashboards", stdout=io.StringIO())
    edited = tmp_path / "chm-operations.json"
    edited.write_text(edited.read_text().replace("Flaky ranking", "Flaky list"))
    with pytest.raises(CommandError, match="chm-operations.json"):
        call_command("build_grafana_dashboards", "--check", stdout=io.StringIO())
