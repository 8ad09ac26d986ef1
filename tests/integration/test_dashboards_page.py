"""The dashboards page: staff only, Metabase embeds signed with the shared secret, the client
parameter locked to the page's client, and no token at all while anything is missing."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest

from dashboards.embedding import dashboard_iframe_url, sign_dashboard_token
from tests.factories import ClientFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
SECRET = "3f" * 32
SITE = "https://metabase.example.com"
IFRAME_SRC = re.compile(r'<iframe src="([^"]+)"')
URL_FORM = re.compile(
    r"^https://metabase\.example\.com/embed/dashboard/(?P<token>[\w-]+\.[\w-]+\.[\w-]+)"
    r"#bordered=true&titled=true$"
)


@pytest.fixture
def metabase_configured(settings):
    settings.METABASE_SITE_URL = SITE
    settings.METABASE_SECRET_KEY = SECRET
    settings.METABASE_DASHBOARD_BUSINESS = 11
    settings.METABASE_DASHBOARD_OPERATIONS = 12
    settings.METABASE_EMBED_TTL_SECONDS = 600
    return settings


def _iframe_urls(response) -> list[str]:
    return [html.unescape(src) for src in IFRAME_SRC.findall(response.content.decode())]


def test_page_needs_a_staff_login(client, django_user_model):
    response = client.get("/dashboards/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]

    client.force_login(django_user_model.objects.create_user("viewer", password="x" * 12))
    response = client.get("/dashboards/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_each_dashboard_is_embedded_with_a_token_locked_to_the_selected_client(
    staff_client, metabase_configured
):
    ClientFactory(slug="acme", name="Acme")
    before = int(time.time())
    response = staff_client.get("/dashboards/", {"client": "acme"})
    after = int(time.time())

    assert response.status_code == 200
    assert "no-cache" in response["Cache-Control"]
    urls = _iframe_urls(response)
    assert len(urls) == 2
    dashboard_ids = []
    for url in urls:
        match = URL_FORM.match(url)
        assert match, url
        token = match["token"]
        assert jwt.get_unverified_header(token)["alg"] == "HS256"
        claims = jwt.decode(token, SECRET, algorithms=["HS256"])
        assert set(claims) == {"resource", "params", "exp"}
        assert claims["params"] == {"client": "acme"}
        assert before + 600 <= claims["exp"] <= after + 600
        dashboard_ids.append(claims["resource"]["dashboard"])
    assert dashboard_ids == [11, 12]
    body = response.content.decode()
    assert "CHM Q1–Q5 Business Monitoring" in body
    assert "CHM Q6–Q10 Operations &amp; Governance" in body


def test_without_a_client_the_filter_is_locked_to_every_client(staff_client, metabase_configured):
    response = staff_client.get("/dashboards/")
    assert response.status_code == 200
    for url in _iframe_urls(response):
        token = URL_FORM.match(url)["token"]
        assert jwt.decode(token, SECRET, algorithms=["HS256"])["params"] == {"client": []}


def test_a_token_does_not_verify_with_another_secret_or_after_it_expires():
    token = sign_dashboard_token(
        dashboard_id=7, client_slug="acme", secret_key=SECRET, ttl_seconds=600, now=1_000_000
    )
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, "ab" * 32, algorithms=["HS256"])
    with pytest.raises(jwt.ExpiredSignatureError):
        jwt.decode(token, SECRET, algorithms=["HS256"])
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_exp": False})
    assert claims == {"resource": {"dashboard": 7}, "params": {"client": "acme"}, "exp": 1_000_600}
    assert dashboard_iframe_url(site_url=SITE + "/", token=token) == (
        f"{SITE}/embed/dashboard/{token}#bordered=true&titled=true"
    )


def test_an_unknown_client_is_refused_naming_the_field(staff_client, metabase_configured):
    response = staff_client.get("/dashboards/", {"client": "nobody"})
    assert response.status_code == 400
    body = response.content.decode()
    assert "client" in body and "No client has the slug" in body
    assert "/embed/" not in body


def test_without_configuration_the_page_says_what_to_set(staff_client, settings):
    settings.METABASE_SITE_URL = ""
    settings.METABASE_SECRET_KEY = ""
    settings.METABASE_DASHBOARD_BUSINESS = 0
    settings.METABASE_DASHBOARD_OPERATIONS = 0
    response = staff_client.get("/dashboards/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "<iframe" not in body
    for name in (
        "METABASE_SITE_URL",
        "METABASE_SECRET_KEY",
        "METABASE_DASHBOARD_BUSINESS",
        "METABASE_DASHBOARD_OPERATIONS",
    ):
        assert name in body
    assert "setup_metabase" in body


def test_no_token_is_rendered_without_the_secret(staff_client, metabase_configured):
    metabase_configured.METABASE_SECRET_KEY = ""
    response = staff_client.get("/dashboards/", {"client": ""})
    body = response.content.decode()
    assert response.status_code == 200
    assert "<iframe" not in body and "/embed/dashboard/" not in body
    assert not re.search(r"eyJ[\w-]+\.[\w-]+\.[\w-]+", body)
    assert "METABASE_SECRET_KEY" in body


def test_grafana_links_carry_the_selected_client(staff_client, settings):
    ClientFactory(slug="acme", name="Acme")
    settings.GRAFANA_URL = "http://grafana.example.com"
    body = staff_client.get("/dashboards/", {"client": "acme"}).content.decode()
    assert 'href="http://grafana.example.com/d/chm-business?var-client=acme"' in body
    assert 'href="http://grafana.example.com/d/chm-operations?var-client=acme"' in body


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"METABASE_SECRET_KEY": "not-hex"}, "64 hexadecimal characters"),
        ({"METABASE_EMBED_TTL_SECONDS": "86400"}, "between 60 and 3600"),
    ],
)
def test_settings_refuse_a_malformed_secret_or_a_long_token_life(env, message):
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", "import chm_project.settings"],
        cwd=ROOT,
        env={**os.environ, "SECRET_KEY": "x" * 50, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert message in result.stderr


def test_every_page_links_to_the_dashboards_page(staff_client):
    body = staff_client.get("/dashboards/").content.decode()
    assert '<a href="/dashboards/" aria-current="page">Dashboards</a>' in body
    assert '<a href="/dashboards/">Dashboards</a>' in staff_client.get("/").content.decode()
