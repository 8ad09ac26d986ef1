"""Grafana dashboard JSON (the classic model file provisioning loads), generated from the
panel catalog. The output is committed under docker/grafana/dashboards/ and a test keeps it
equal to what this module generates: change the catalog, run
``python manage.py build_grafana_dashboards``, commit both."""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings

from dashboards.catalog import (
    CLIENT_VARIABLE_SQL,
    DASHBOARDS,
    Dashboard,
    Panel,
    column_unit,
    grafana_sql,
    layout,
)

# The provisioned data source (docker/grafana/provisioning/datasources/chm.yaml).
DATASOURCE = {"type": "grafana-postgresql-datasource", "uid": "chm-postgres"}
OUTPUT_DIR = Path(settings.BASE_DIR) / "docker" / "grafana" / "dashboards"
SCHEMA_VERSION = 39


def _field_config(panel: Panel) -> dict:
    units = {column: column_unit(column) for column in panel.columns}
    units = {column: unit for column, unit in units.items() if unit}
    defaults: dict = {}
    overrides = []
    if panel.visual == "timeseries" and len(set(units.values())) == 1:
        defaults["unit"] = next(iter(units.values()))
    else:
        overrides = [
            {
                "matcher": {"id": "byName", "options": column},
                "properties": [{"id": "unit", "value": unit}],
            }
            for column, unit in units.items()
        ]
    return {"defaults": defaults, "overrides": overrides}


def _panel(panel: Panel, *, panel_id: int, x: int, y: int) -> dict:
    return {
        "id": panel_id,
        "type": panel.visual,
        "title": f"{panel.question} · {panel.title}",
        "description": panel.description,
        "gridPos": {"x": x, "y": y, "w": panel.width, "h": panel.height},
        "datasource": DATASOURCE,
        "fieldConfig": _field_config(panel),
        "options": {},
        "targets": [
            {
                "refId": "A",
                "datasource": DATASOURCE,
                "editorMode": "code",
                "rawQuery": True,
                "format": panel.grafana_format,
                "rawSql": grafana_sql(panel),
            }
        ],
    }


def _client_variable() -> dict:
    return {
        "type": "query",
        "name": "client",
        "label": "Client",
        "datasource": DATASOURCE,
        "query": CLIENT_VARIABLE_SQL,
        "definition": CLIENT_VARIABLE_SQL,
        "refresh": 1,
        "multi": True,
        # No custom allValue: All then expands to every listed client, quoted like the rest.
        "includeAll": True,
        "sort": 0,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "options": [],
        "hide": 0,
    }


def dashboard_json(dashboard: Dashboard) -> dict:
    others = [d for d in DASHBOARDS if d.uid != dashboard.uid]
    return {
        "uid": dashboard.uid,
        "title": dashboard.title,
        "description": dashboard.description,
        "tags": ["chm"],
        "timezone": "utc",
        "editable": False,
        "graphTooltip": 1,
        "refresh": "5m",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "time": {"from": "now-30d", "to": "now"},
        "annotations": {"list": []},
        "links": [
            {"type": "link", "title": other.title, "url": f"/d/{other.uid}", "keepTime": True}
            for other in others
        ],
        "templating": {"list": [_client_variable()]},
        "panels": [
            _panel(panel, panel_id=index, x=x, y=y)
            for index, (panel, x, y) in enumerate(layout(dashboard), start=1)
        ],
    }


def rendered_dashboards() -> dict[Path, str]:
    """File path → file content, for every dashboard."""
    return {
        OUTPUT_DIR / f"{dashboard.uid}.json": json.dumps(
            dashboard_json(dashboard), indent=2, ensure_ascii=False
        )
        + "\n"
        for dashboard in DASHBOARDS
    }
