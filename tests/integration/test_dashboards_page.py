"""The dashboards' Metabase embeds: signed with the shared secret, the client parameter locked
to the page's client, beside or instead of CHM's own panels, and no token at all while
anything is missing."""

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

from dashboards.catalog import DASHBOARDS
from dashboards.embedding import dashboard_iframe_url, sign_dashboard_token, write_ids_file
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


PAGES = {"business": 11, "operations": 12}


@pytest.fixture
def metabase_configured(settings):
    settings.METABASE_SITE_URL = SITE
    settings.METABASE_SECRET_KEY = SECRET
    settings.METABASE_DASHBOARD_BUSINESS = 11
    settings.METABASE_DASHBOARD_OPERATIONS = 12
    settings.METABASE_DASHBOARD_IDS_FILE = ""
    settings.METABASE_EMBED_TTL_SECONDS = 600
    settings.METABASE_EMBED_MODE = "beside"
    return settings


@pytest.fixture
def metabase_unconfigured(settings):
    settings.METABASE_SITE_URL = ""
    settings.METABASE_SECRET_KEY = ""
    settings.METABASE_DASHBOARD_BUSINESS = 0
    settings.METABASE_DASHBOARD_OPERATIONS = 0
    settings.METABASE_DASHBOARD_IDS_FILE = ""
    return settings


def _panels(response) -> int:
    return response.content.decode().count('<section class="panel ')


def _iframe_urls(response) -> list[str]:
    return [html.unescape(src) for src in IFRAME_SRC.findall(response.content.decode())]


@pytest.mark.parametrize(
    "path", ["/dashboards/", "/dashboards/business/", "/dashboards/operations/"]
)
def test_pages_need_a_staff_login(client, django_user_model, path):
    response = client.get(path)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]

    client.force_login(django_user_model.objects.create_user("viewer", password="x" * 12))
    response = client.get(path)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def _claims(url: str) -> dict:
    match = URL_FORM.match(url)
    assert match, url
    token = match["token"]
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    return jwt.decode(token, SECRET, algorithms=["HS256"])


@pytest.mark.parametrize(("key", "dashboard_id"), sorted(PAGES.items()))
def test_each_dashboard_embeds_its_metabase_dashboard_locked_to_the_selected_client(
    staff_client, metabase_configured, key, dashboard_id
):
    ClientFactory(slug="acme", name="Acme")
    before = int(time.time())
    response = staff_client.get(f"/dashboards/{key}/", {"client": "acme"})
    after = int(time.time())

    assert response.status_code == 200
    assert "no-cache" in response["Cache-Control"]
    (url,) = _iframe_urls(response)
    claims = _claims(url)
    assert set(claims) == {"resource", "params", "exp"}
    assert claims["resource"] == {"dashboard": dashboard_id}
    assert claims["params"] == {"client": "acme"}
    assert before + 600 <= claims["exp"] <= after + 600
    # Beside CHM's own panels by default.
    dashboard = next(d for d in DASHBOARDS if d.key == key)
    assert _panels(response) == len(dashboard.panels)
    assert html.escape(dashboard.title) in response.content.decode()


def test_without_a_client_the_filter_is_locked_to_every_client(staff_client, metabase_configured):
    response = staff_client.get("/dashboards/business/")
    assert response.status_code == 200
    (url,) = _iframe_urls(response)
    assert _claims(url)["params"] == {"client": []}


def test_several_clients_show_no_embed_since_metabase_locks_one(staff_client, metabase_configured):
    ClientFactory(slug="acme", name="Acme")
    ClientFactory(slug="globex", name="Globex")
    response = staff_client.get("/dashboards/business/", {"client": ["acme", "globex"]})
    assert response.status_code == 200
    assert _iframe_urls(response) == []
    assert "locked to one client or to all of them" in response.content.decode()


def test_instead_shows_the_embed_without_chms_panels(staff_client, metabase_configured):
    metabase_configured.METABASE_EMBED_MODE = "instead"
    response = staff_client.get("/dashboards/operations/")
    assert response.status_code == 200
    assert len(_iframe_urls(response)) == 1
    assert _panels(response) == 0


def test_instead_draws_chms_panels_while_metabase_is_not_configured(
    staff_client, metabase_unconfigured
):
    metabase_unconfigured.METABASE_EMBED_MODE = "instead"
    response = staff_client.get("/dashboards/operations/")
    assert _iframe_urls(response) == []
    assert _panels(response) == len(DASHBOARDS[1].panels)


def test_the_ids_can_come_from_the_file_setup_metabase_writes(
    staff_client, metabase_configured, tmp_path
):
    metabase_configured.METABASE_DASHBOARD_BUSINESS = 0
    metabase_configured.METABASE_DASHBOARD_OPERATIONS = 0
    metabase_configured.METABASE_DASHBOARD_IDS_FILE = str(tmp_path / "ids" / "dashboards.json")
    # Until the file is there, the page embeds nothing and the index says what is missing.
    assert _iframe_urls(staff_client.get("/dashboards/business/")) == []
    assert "METABASE_DASHBOARD_BUSINESS" in staff_client.get("/dashboards/").content.decode()

    write_ids_file(tmp_path / "ids" / "dashboards.json", {"business": 41, "operations": 42})
    for key, dashboard_id in (("business", 41), ("operations", 42)):
        (url,) = _iframe_urls(staff_client.get(f"/dashboards/{key}/"))
        assert _claims(url)["resource"] == {"dashboard": dashboard_id}
    # A setting, when set, wins over the file.
    metabase_configured.METABASE_DASHBOARD_OPERATIONS = 7
    (url,) = _iframe_urls(staff_client.get("/dashboards/operations/"))
    assert _claims(url)["resource"] == {"dashboard": 7}


def test_a_malformed_ids_file_counts_as_no_ids(staff_client, metabase_configured, tmp_path):
    ids_file = tmp_path / "dashboards.json"
    metabase_configured.METABASE_DASHBOARD_BUSINESS = 0
    metabase_configured.METABASE_DASHBOARD_IDS_FILE = str(ids_file)
    for content in ("{not json", '["business", 3]', '{"business": "3"}', '{"business": true}'):
        ids_file.write_text(content)
        response = staff_client.get("/dashboards/business/")
        assert response.status_code == 200
        assert _iframe_urls(response) == []


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
    response = staff_client.get("/dashboards/business/", {"client": "nobody"})
    assert response.status_code == 400
    body = response.content.decode()
    assert "client:" in body and "nobody" in body
    assert "/embed/" not in body


def test_without_configuration_the_index_says_what_to_set(staff_client, metabase_unconfigured):
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
    assert "setup_metabase" in body and "write_env.py" in body
    for dashboard in DASHBOARDS:
        assert f'href="/dashboards/{dashboard.key}/"' in body


def test_no_token_is_rendered_without_the_secret(staff_client, metabase_configured):
    metabase_configured.METABASE_SECRET_KEY = ""
    response = staff_client.get("/dashboards/business/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "<iframe" not in body and "/embed/dashboard/" not in body
    assert not re.search(r"eyJ[\w-]+\.[\w-]+\.[\w-]+", body)


def test_grafana_links_carry_the_selected_clients_and_time_range(staff_client, settings):
    ClientFactory(slug="acme", name="Acme")
    settings.GRAFANA_URL = "http://grafana.example.com"
    body = staff_client.get("/dashboards/", {}).content.decode()
    assert 'href="http://grafana.example.com/d/chm-business"' in body
    body = staff_client.get(
        "/dashboards/operations/", {"client": "acme", "from": "now-7d"}
    ).content.decode()
    assert (
        'href="http://grafana.example.com/d/chm-operations?var-client=acme&amp;from=now-7d&amp;to=now"'
        in body
    )
    body = staff_client.get(
        "/dashboards/operations/", {"from": "2026-01-01", "to": "2026-01-02"}
    ).content.decode()
    assert "from=1767225600000&amp;to=1767398399999" in body


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


def test_the_dashboards_link_is_current_on_each_dashboard(staff_client, metabase_unconfigured):
    body = staff_client.get("/dashboards/business/").content.decode()
    assert '<a href="/dashboards/" aria-current="page">Dashboards</a>' in body
