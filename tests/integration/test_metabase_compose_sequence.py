"""The compose stack's path to embedded dashboards, with no manual step, against a fake
Metabase: docker/write_env.py writes docker/.env; the compose client resolves the file with
it; the metabase-setup service's own command runs (waiting for Metabase, creating the admin,
the questions and both dashboards, writing their ids); then CHM, with the chm service's own
settings, embeds each dashboard with a token signed by the shared secret."""

from __future__ import annotations

import html
import io
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jwt
import pytest
import yaml
from django.core.management import call_command

from dashboards.catalog import DASHBOARDS
from tests.factories import ClientFactory
from tests.support.fake_metabase import FakeMetabase

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker" / "docker-compose.yml"
IFRAME_SRC = re.compile(r'<iframe src="([^"]+)"')


def resolved_compose(env_file: Path) -> dict:
    """The compose file as the compose client resolves it with ``env_file``."""
    client = shutil.which("docker-compose")
    if client is None:
        pytest.skip("no docker-compose client here to resolve the compose file")
    result = subprocess.run(  # noqa: S603
        [client, "-f", str(COMPOSE_FILE), "--env-file", str(env_file), "config"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_write_env_then_compose_up_gives_a_signed_embed_of_each_dashboard(
    staff_client, settings, monkeypatch, tmp_path
):
    env_file = tmp_path / ".env"
    written = subprocess.run(  # noqa: S603
        [sys.executable, str(ROOT / "docker" / "write_env.py"), "--output", str(env_file)],
        capture_output=True,
        text=True,
    )
    assert written.returncode == 0, written.stderr
    services = resolved_compose(env_file)["services"]
    setup, chm = services["metabase-setup"], services["chm"]
    secret = services["metabase"]["environment"]["MB_EMBEDDING_SECRET_KEY"]
    assert chm["environment"]["METABASE_SECRET_KEY"] == secret
    ClientFactory(slug="acme", name="Acme")

    # The container's shared volume is a folder of this test.
    shared = Path(chm["environment"]["METABASE_DASHBOARD_IDS_FILE"]).parent
    local_shared = tmp_path / "metabase-ids"

    def here(value: str) -> str:
        return value.replace(str(shared), str(local_shared))

    with FakeMetabase() as metabase:
        metabase.state.health_checks_before_ready = 1
        monkeypatch.setattr("dashboards.metabase.time.sleep", lambda seconds: None)
        # The service's environment and command, Metabase's address being the fake's.
        for name, value in setup["environment"].items():
            monkeypatch.setenv(name, str(value))
        command = [here(part) for part in setup["command"]]
        assert command[:3] == ["python", "manage.py", "setup_metabase"]
        command = [metabase.url if part == "http://metabase:3000" else part for part in command]
        for _ in range(2):
            metabase.requests.clear()
            call_command(*command[2:], stdout=io.StringIO())
        # The second `up` changes nothing in Metabase.
        assert [(r.method, r.path) for r in metabase.writes()] == [("POST", "/api/session")]
        assert metabase.state.admin_email == command[command.index("--email") + 1]
        assert metabase.state.admin_password == setup["environment"]["METABASE_ADMIN_PASSWORD"]
        ids = {d["name"]: d["id"] for d in metabase.state.dashboards.values()}

    for name in ("METABASE_SITE_URL", "METABASE_SECRET_KEY", "METABASE_EMBED_MODE"):
        setattr(settings, name, chm["environment"][name])
    settings.METABASE_DASHBOARD_IDS_FILE = here(chm["environment"]["METABASE_DASHBOARD_IDS_FILE"])
    settings.METABASE_DASHBOARD_BUSINESS = int(
        chm["environment"]["METABASE_DASHBOARD_BUSINESS"] or 0
    )
    settings.METABASE_DASHBOARD_OPERATIONS = int(
        chm["environment"]["METABASE_DASHBOARD_OPERATIONS"] or 0
    )
    for dashboard in DASHBOARDS:
        response = staff_client.get(f"/dashboards/{dashboard.key}/", {"client": "acme"})
        assert response.status_code == 200
        (src,) = [html.unescape(url) for url in IFRAME_SRC.findall(response.content.decode())]
        site = chm["environment"]["METABASE_SITE_URL"]
        match = re.fullmatch(
            re.escape(site)
            + r"/embed/dashboard/([\w-]+\.[\w-]+\.[\w-]+)#bordered=true&titled=true",
            src,
        )
        assert match, src
        claims = jwt.decode(match[1], secret, algorithms=["HS256"])
        assert claims["resource"] == {"dashboard": ids[dashboard.title]}
        assert claims["params"] == {"client": "acme"}
        # CHM's own panels beside it (the default placement).
        assert response.content.decode().count('<section class="panel ') == len(dashboard.panels)
