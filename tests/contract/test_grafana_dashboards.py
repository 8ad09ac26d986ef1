"""The provisioned Grafana files: the committed dashboards are what the generator produces,
every panel reads only `reporting` views through the provisioned data source, and the client
variable is interpolated the one safe way."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from dashboards.catalog import DASHBOARDS
from dashboards.grafana import DATASOURCE, OUTPUT_DIR, rendered_dashboards

ROOT = Path(__file__).resolve().parents[2]
PROVISIONING = ROOT / "docker" / "grafana" / "provisioning"
# Every relation a query names: FROM / JOIN followed by an identifier.
RELATION = re.compile(r"\b(?:FROM|JOIN)\s+([\w.\"]+)", re.IGNORECASE)


def _committed() -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted(OUTPUT_DIR.glob("*.json"))]


def _panels():
    for dashboard in _committed():
        for panel in dashboard["panels"]:
            yield dashboard["uid"], panel


def test_committed_json_is_exactly_what_the_generator_writes():
    rendered = rendered_dashboards()
    assert sorted(rendered) == sorted(OUTPUT_DIR.glob("*.json"))
    for path, content in rendered.items():
        assert path.read_text() == content, (
            f"{path.name} is stale: run `python manage.py build_grafana_dashboards`"
        )


def test_the_two_dashboards_cover_q1_to_q11_with_stable_uids():
    committed = {d["uid"]: d for d in _committed()}
    assert {uid: d["title"] for uid, d in committed.items()} == {
        "chm-business": "CHM Q1–Q5 Business Monitoring",
        "chm-operations": "CHM Q6–Q10 Operations & Governance",
    }
    questions = {
        uid: {panel["title"].split(" · ")[0] for panel in d["panels"]}
        for uid, d in committed.items()
    }
    assert questions == {
        "chm-business": {"Q1", "Q2", "Q3", "Q4", "Q5"},
        "chm-operations": {"Q6", "Q7", "Q8", "Q9", "Q10", "Q11"},
    }
    for dashboard in committed.values():
        assert "__inputs" not in dashboard
        assert dashboard["time"] == {"from": "now-30d", "to": "now"}


def test_the_data_source_is_provisioned_with_the_uid_panels_reference():
    provisioned = yaml.safe_load((PROVISIONING / "datasources" / "chm.yaml").read_text())
    (source,) = provisioned["datasources"]
    assert {"type": source["type"], "uid": source["uid"]} == DATASOURCE
    assert source["user"] == "${CHM_REPORTING_ROLE}"
    assert source["jsonData"]["database"] == "${CHM_DB_NAME}"
    assert source["secureJsonData"]["password"] == "${CHM_REPORTING_PASSWORD}"
    provider = yaml.safe_load((PROVISIONING / "dashboards" / "chm.yaml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards/chm"


@pytest.mark.parametrize(("uid", "panel"), list(_panels()), ids=lambda v: str(v)[:40])
def test_every_panel_is_raw_sql_on_reporting_views_through_the_data_source(uid, panel):
    assert panel["datasource"] == DATASOURCE
    (target,) = panel["targets"]
    assert target["datasource"] == DATASOURCE
    assert target["editorMode"] == "code" and target["rawQuery"] is True
    sql = target["rawSql"]
    relations = RELATION.findall(sql)
    assert relations and all(r.startswith("reporting.") for r in relations), relations
    if panel["type"] == "timeseries":
        assert target["format"] == "time_series"
        assert '"time"' in sql and "$__timeFilter(bucket_start)" in sql
        assert re.search(r"ORDER BY 1\b", sql)
    else:
        assert target["format"] == "table"
    # The client variable only ever appears in its quoted, escaped form.
    assert re.findall(r"\$\{?client[^}]*\}?", sql) in ([], ["${client:sqlstring}"])
    assert "$client" not in sql


def test_the_client_variable_is_multi_value_with_all_and_reads_a_view():
    for dashboard in _committed():
        (variable,) = dashboard["templating"]["list"]
        assert variable["name"] == "client"
        assert variable["multi"] is True and variable["includeAll"] is True
        # A custom allValue would be inserted unquoted; without one, All lists every client.
        assert "allValue" not in variable
        assert variable["datasource"] == DATASOURCE
        assert all(r.startswith("reporting.") for r in RELATION.findall(variable["query"]))


def test_client_scoped_panels_filter_on_the_variable_and_the_others_say_all_clients():
    for dashboard in DASHBOARDS:
        for panel in dashboard.panels:
            if panel.client_column is None:
                assert "all clients" in panel.title


def test_the_docs_name_every_panel_and_dashboard():
    docs = (ROOT / "docs" / "dashboards.md").read_text()
    for dashboard in DASHBOARDS:
        assert dashboard.title in docs
        for panel in dashboard.panels:
            assert panel.title in docs, panel.title
