"""docker/docker-compose.yml: valid for the compose client, pinned, health-checked, and with
every secret coming from docker/.env (never committed), which docker/write_env.py writes with
fresh secrets."""

from __future__ import annotations

import importlib.util
import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import yaml
from psycopg import sql

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker" / "docker-compose.yml"
ENV_EXAMPLE = ROOT / "docker" / ".env.example"
SECRET_NAMES = re.compile(r"PASSWORD|SECRET")
# Jobs that run to completion on `up`: no health check, restarted only after a failure.
ONE_SHOT = {"metabase-setup"}


def _compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def _example_env() -> dict[str, str]:
    return _parse_env(ENV_EXAMPLE.read_text())


def _write_env_module():
    spec = importlib.util.spec_from_file_location("write_env", ROOT / "docker" / "write_env.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _parse_env(text: str) -> dict[str, str]:
    pairs = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            pairs[name.strip()] = value.strip()
    return pairs


def _filled_env() -> dict[str, str]:
    """The example as docker/write_env.py fills it."""
    return _parse_env(_write_env_module().filled(ENV_EXAMPLE.read_text()))


def _compose_command() -> list[str]:
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run(  # noqa: S603
            [docker, "compose", "version"], capture_output=True, text=True, timeout=30
        )
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy:
        return [legacy]
    pytest.skip("no docker compose client here (neither `docker compose` nor `docker-compose`)")


def _config(env: dict[str, str], *options: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in _example_env()}
    return subprocess.run(  # noqa: S603
        [*_compose_command(), "-f", str(COMPOSE_FILE), *options, "config", "-q"],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_compose_client_accepts_the_file_once_the_env_is_filled():
    result = _config(_filled_env())
    assert result.returncode == 0, result.stderr


def test_write_env_fills_every_secret_afresh_and_the_compose_client_accepts_it(tmp_path):
    env_file = tmp_path / ".env"
    script = str(ROOT / "docker" / "write_env.py")
    result = subprocess.run(  # noqa: S603
        [sys.executable, script, "--output", str(env_file)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert env_file.stat().st_mode & 0o777 == 0o600
    written = _parse_env(env_file.read_text())
    example = _example_env()
    assert set(written) == set(example)
    for name, value in example.items():
        if value or not SECRET_NAMES.search(name):
            assert written[name] == value, name
        elif name == "MB_EMBEDDING_SECRET_KEY":
            assert re.fullmatch(r"[0-9a-f]{64}", written[name])
        else:
            assert re.fullmatch(r"[\w-]{40,}", written[name]) and re.search(r"\d", written[name])
    again = _parse_env(_write_env_module().filled(ENV_EXAMPLE.read_text()))
    assert all(again[n] != v for n, v in written.items() if SECRET_NAMES.search(n) and v)

    assert _config({}, "--env-file", str(env_file)).returncode == 0
    # A second run keeps the file: its passwords are the ones the database volume knows.
    before = env_file.read_text()
    refused = subprocess.run(  # noqa: S603
        [sys.executable, script, "--output", str(env_file)], capture_output=True, text=True
    )
    assert refused.returncode == 1 and "exists" in refused.stderr
    assert env_file.read_text() == before


def test_the_compose_client_refuses_to_start_without_the_secrets():
    env = _filled_env()
    del env["CHM_REPORTING_PASSWORD"]
    result = _config(env)
    assert result.returncode != 0
    assert "CHM_REPORTING_PASSWORD" in result.stderr


def test_every_variable_the_file_reads_is_in_the_example_and_no_secret_is_filled_in():
    used = set(re.findall(r"\$\{(\w+)", COMPOSE_FILE.read_text()))
    example = _example_env()
    assert used <= set(example), used - set(example)
    filled_secrets = [n for n, v in example.items() if SECRET_NAMES.search(n) and v]
    assert filled_secrets == []
    assert ".env" in (ROOT / ".gitignore").read_text().split()


def test_images_are_pinned_services_health_checked_and_data_in_named_volumes():
    compose = _compose()
    services = compose["services"]
    assert set(services) == {
        "postgres",
        "chm",
        "chm-alerts",
        "chm-rollups",
        "grafana",
        "metabase",
        "metabase-setup",
    }
    built_here = {service["image"] for service in services.values() if "build" in service}
    for name, service in services.items():
        if name in ONE_SHOT:
            assert service["restart"] == "on-failure" and "healthcheck" not in service, name
            continue
        assert "healthcheck" in service, name
        assert service["restart"] == "unless-stopped", name
        if service["image"] not in built_here:
            repository, _, tag = service["image"].rpartition(":")
            assert repository and tag and tag != "latest" and re.search(r"\d", tag), name
    assert services["postgres"]["image"].startswith("postgres:15")
    assert "127.0.0.1:55432:5432" in services["postgres"]["ports"]
    assert set(compose["volumes"]) == {
        "postgres-data",
        "grafana-data",
        "metabase-plugins",
        "metabase-ids",
    }
    assert "/healthz" in " ".join(services["chm"]["healthcheck"]["test"])
    metabase = services["metabase"]["environment"]
    assert metabase["MB_DB_DBNAME"] == "metabase_app"
    assert metabase["MB_ENABLE_EMBEDDING_STATIC"] == "true"
    grafana_mounts = services["grafana"]["volumes"]
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in grafana_mounts


@pytest.mark.parametrize(
    ("service", "command", "interval"),
    [("chm-alerts", "evaluate_alerts", 60), ("chm-rollups", "refresh_rollups", 300)],
)
def test_the_periodic_commands_run_from_the_chm_image_once_chm_is_healthy(
    service, command, interval
):
    services = _compose()["services"]
    loop = services[service]
    assert loop["image"] == services["chm"]["image"] == "chm:local"
    assert "build" not in loop and "ports" not in loop
    assert loop["depends_on"] == {"chm": {"condition": "service_healthy"}}
    heartbeat = f"/app/var/{command}.heartbeat"
    assert loop["command"] == [
        "python", "manage.py", command, "--loop", str(interval), "--heartbeat-file", heartbeat
    ]  # fmt: skip
    # The same settings as the web server; only the web server migrates.
    assert loop["environment"] == {**services["chm"]["environment"], "CHM_MIGRATE_ON_START": "0"}
    assert "CHM_MIGRATE_ON_START" not in services["chm"]["environment"]
    check = loop["healthcheck"]["test"]
    assert check[:5] == ["CMD", "python", "-m", "common.loops", "--check-heartbeat"]
    assert check[5] == heartbeat
    assert check[6] == "--max-age"
    assert 2 * interval <= float(check[7]) <= 5 * interval


def test_the_settings_are_written_once_for_the_web_server_and_the_periodic_commands():
    text = COMPOSE_FILE.read_text()
    assert text.count("DATABASE_URL:") == 1
    assert text.count("*chm-environment") == 4


def test_metabase_setup_runs_once_metabase_and_chm_are_up_and_shares_the_ids_with_chm():
    services = _compose()["services"]
    setup, chm = services["metabase-setup"], services["chm"]
    assert setup["image"] == chm["image"] and "ports" not in setup
    assert setup["depends_on"] == {
        "chm": {"condition": "service_healthy"},
        "metabase": {"condition": "service_healthy"},
    }
    command = setup["command"]
    assert command[:3] == ["python", "manage.py", "setup_metabase"]
    options = dict(zip(command[3::2], command[4::2], strict=True))
    assert options["--url"] == "http://metabase:3000"
    assert float(options["--wait"]) >= 300
    ids_file = options["--ids-file"]
    assert chm["environment"]["METABASE_DASHBOARD_IDS_FILE"] == ids_file
    mount = str(Path(ids_file).parent)
    assert f"metabase-ids:{mount}" in setup["volumes"]
    assert f"metabase-ids:{mount}:ro" in chm["volumes"]
    assert setup["environment"]["CHM_MIGRATE_ON_START"] == "0"


def _entrypoint(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    """docker/chm-entrypoint.sh with a stand-in `python` that records what it was asked."""
    calls = tmp_path / "python-calls"
    fake = tmp_path / "bin" / "python"
    fake.parent.mkdir(parents=True)
    fake.write_text(f'#!/bin/sh\necho "$*" >> {calls}\n')
    fake.chmod(0o755)
    result = subprocess.run(  # noqa: S603
        [shutil.which("sh") or "/bin/sh", str(ROOT / "docker" / "chm-entrypoint.sh"),
         "python", "manage.py", "evaluate_alerts", "--loop", "60"],
        env={"PATH": f"{fake.parent}:/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=30,
    )  # fmt: skip
    return result, calls.read_text().splitlines() if calls.exists() else []


def test_the_entrypoint_migrates_before_the_command_unless_told_not_to(tmp_path):
    result, calls = _entrypoint(tmp_path / "default")
    assert result.returncode == 0, result.stderr
    assert calls == ["/app/manage.py migrate --noinput", "manage.py evaluate_alerts --loop 60"]
    result, calls = _entrypoint(tmp_path / "off", CHM_MIGRATE_ON_START="0")
    assert result.returncode == 0, result.stderr
    assert calls == ["manage.py evaluate_alerts --loop 60"]


def test_the_entrypoint_refuses_an_unknown_migrate_setting(tmp_path):
    result, calls = _entrypoint(tmp_path, CHM_MIGRATE_ON_START="no")
    assert result.returncode == 2
    assert "CHM_MIGRATE_ON_START" in result.stderr
    assert calls == []


@pytest.fixture
def server_superuser(settings):
    """libpq environment for the test server's superuser; names created here are unique."""
    if not shutil.which("psql"):
        pytest.skip("psql is not installed: the init script cannot be run")
    db = settings.DATABASES["default"]
    env = {
        "PGHOST": db.get("HOST") or "",
        "PGPORT": str(db.get("PORT") or 5432),
        "PGPASSWORD": db.get("PASSWORD") or "",
        "POSTGRES_USER": db.get("USER") or "postgres",
    }
    return env


def _admin_connection(env: dict[str, str], dbname: str = "postgres"):
    return psycopg.connect(
        host=env["PGHOST"] or None,
        port=env["PGPORT"],
        user=env["POSTGRES_USER"],
        password=env["PGPASSWORD"] or None,
        dbname=dbname,
        autocommit=True,
    )


def test_the_init_script_creates_both_databases_and_the_read_only_role(server_superuser):
    suffix = secrets.token_hex(4)
    names = {
        "CHM_DB_NAME": f"chm_init_{suffix}",
        "CHM_DB_USER": f"chm_init_owner_{suffix}",
        "CHM_DB_PASSWORD": "owner pass with 'quote",
        "CHM_REPORTING_ROLE": f"chm_init_reporting_{suffix}",
        "CHM_REPORTING_PASSWORD": secrets.token_urlsafe(16),
        "METABASE_DB_NAME": f"metabase_app_init_{suffix}",
        "METABASE_DB_USER": f"metabase_init_{suffix}",
        "METABASE_DB_PASSWORD": secrets.token_urlsafe(16),
    }
    env = {**os.environ, **server_superuser, **names}
    try:
        result = subprocess.run(  # noqa: S603
            [
                shutil.which("bash") or "/bin/bash",
                str(ROOT / "docker" / "postgres" / "init-databases.sh"),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        with _admin_connection(server_superuser) as conn:
            owners = dict(
                conn.execute(
                    "SELECT d.datname, r.rolname FROM pg_database d "
                    "JOIN pg_roles r ON r.oid = d.datdba WHERE d.datname = ANY(%s)",
                    [[names["CHM_DB_NAME"], names["METABASE_DB_NAME"]]],
                ).fetchall()
            )
            reporting = conn.execute(
                "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolconfig "
                "FROM pg_roles WHERE rolname = %s",
                [names["CHM_REPORTING_ROLE"]],
            ).fetchone()
        assert owners == {
            names["CHM_DB_NAME"]: names["CHM_DB_USER"],
            names["METABASE_DB_NAME"]: names["METABASE_DB_USER"],
        }
        assert reporting[:4] == (True, False, False, False)
        assert "default_transaction_read_only=on" in reporting[4]
        with _admin_connection(server_superuser, names["CHM_DB_NAME"]) as conn:
            can = conn.execute(
                "SELECT has_database_privilege(%(r)s, current_database(), 'CONNECT'), "
                "has_schema_privilege(%(r)s, 'public', 'CREATE'), "
                "has_database_privilege(%(r)s, %(mb)s, 'CONNECT')",
                {"r": names["CHM_REPORTING_ROLE"], "mb": names["METABASE_DB_NAME"]},
            ).fetchone()
        assert can == (True, False, False)
    finally:
        with _admin_connection(server_superuser) as conn:
            for key in ("CHM_DB_NAME", "METABASE_DB_NAME"):
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(names[key])
                    )
                )
            for key in ("CHM_REPORTING_ROLE", "CHM_DB_USER", "METABASE_DB_USER"):
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(names[key])))
