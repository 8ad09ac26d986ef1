"""/healthz, the OpenAPI schema and the offline Swagger UI."""

from __future__ import annotations

import re
import socket

import pytest
import yaml
from django.contrib.staticfiles import finders
from django.db import connection

pytestmark = pytest.mark.django_db


def test_healthz_answers_200_when_the_database_answers(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.django_db(transaction=True)
def test_healthz_answers_503_when_the_database_is_down(client):
    settings_dict = connection.settings_dict
    saved = settings_dict["HOST"], settings_dict["PORT"]
    connection.close()
    settings_dict["HOST"], settings_dict["PORT"] = "127.0.0.1", _closed_port()
    try:
        response = client.get("/healthz")
    finally:
        connection.close()
        settings_dict["HOST"], settings_dict["PORT"] = saved

    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


def test_schema_describes_every_endpoint(staff_client):
    response = staff_client.get("/api/schema/")

    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    assert schema["openapi"].startswith("3.")
    assert set(schema["paths"]) == {
        "/api/v1/runs/",
        "/api/v1/lineage",
        "/api/v1/clients/",
        "/api/v1/pipelines/",
        "/api/v1/alert-rules/",
    }
    ingest = schema["paths"]["/api/v1/runs/"]["post"]
    assert {"200", "201", "400", "401", "404", "409", "413"} <= set(ingest["responses"])
    assert schema["components"]["securitySchemes"]["clientKey"]["scheme"] == "bearer"
    run_filters = {p["name"] for p in schema["paths"]["/api/v1/runs/"]["get"]["parameters"]}
    assert {"client", "pipeline", "status", "platform", "started_after", "started_before"} <= (
        run_filters
    )


def test_swagger_ui_is_served_from_local_static_files(staff_client):
    response = staff_client.get("/api/docs/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "cdn." not in page and "unpkg" not in page
    assets = re.findall(r'(?:src|href)="/static/([^"]+)"', page)
    assert any(asset.endswith("swagger-ui-bundle.js") for asset in assets)
    for asset in assets:
        assert finders.find(asset), asset
    # Its start-up script is a file of its own, as the Content-Security-Policy wants; only
    # its styles may be inline.
    assert "<script>" not in page
    # Directives in whatever order django-csp writes them (it merges them through sets).
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in response["Content-Security-Policy"].split(";")
        if directive.strip()
    )
    assert policy["script-src"] == "'self'"
    assert "'unsafe-inline'" in policy["style-src"].split()
    assert staff_client.get("/api/docs/", {"script": ""}).status_code == 200


@pytest.mark.parametrize("path", ["/api/schema/", "/api/docs/"])
def test_the_schema_and_its_ui_are_for_staff_and_key_holders_only(client, chm_client, path):
    assert client.get(path).status_code == 401
    assert client.get(path, HTTP_AUTHORIZATION=f"Bearer {chm_client.raw_key}").status_code == 200
