"""Production settings: the documented variables pass Django's deployment checks, and every
answer carries the security headers."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = ROOT / "docs" / "production.env"


# Kept from this machine: the database the suite already uses, and no shared metrics directory.
MACHINE_SPECIFIC = {"DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR"}


def documented_production_variables() -> dict[str, str]:
    variables = {}
    for line in PRODUCTION_ENV.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            variables[name.strip()] = value.strip()
    return variables


def production_environment() -> dict[str, str]:
    """docs/production.env, with a real secret, run against this machine's database."""
    documented = documented_production_variables()
    inherited = {
        k: v for k, v in os.environ.items() if k not in documented or k in MACHINE_SPECIFIC
    }
    inherited.pop("PROMETHEUS_MULTIPROC_DIR", None)
    chosen = {k: v for k, v in documented.items() if k not in MACHINE_SPECIFIC}
    return inherited | chosen | {"SECRET_KEY": secrets.token_urlsafe(50)}


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_passes_with_the_documented_production_settings():
    result = run_manage(
        "check", "--deploy", "--fail-level", "WARNING", env=production_environment()
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_flags_a_production_set_without_https_settings():
    env = production_environment()
    for name in ("SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS"):
        env.pop(name)
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode != 0
    assert "security.W004" in result.stderr + result.stdout
    assert "security.W008" in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("changed", "check"),
    [
        ({"METRICS_TOKEN": None}, "chm.W001"),
        ({"RATE_LIMIT_CACHE_URL": "locmem://"}, "chm.W002"),
        ({"CHM_WEBHOOK_SECRET": None}, "chm.W003"),
        ({"CHM_WEBHOOK_ALLOWED_NETWORKS": "10.0.0.0/8,169.254.0.0/16"}, "chm.W005"),
    ],
    ids=["no metrics token", "per-process rate limits", "unsigned webhooks", "metadata allowed"],
)
def test_check_deploy_reports_each_of_chms_production_defaults_when_it_is_not_met(changed, check):
    env = production_environment()
    for name, value in changed.items():
        if value is None:
            env.pop(name)
        else:
            env[name] = value
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode != 0
    assert check in result.stderr + result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = production_environment()
    env.pop("SECRET_KEY")
    result = run_manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY is required" in result.stderr


@pytest.mark.parametrize(
    "path",
    ["/admin/login/", "/admin/", "/", "/api/v1/runs/", "/healthz", "/metrics", "/no-such-page/"],
)
def test_every_answer_carries_the_security_headers(client, path):
    response = client.get(path)
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_hsts_is_sent_over_https_once_opted_in(client, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    response = client.get(reverse("admin:login"), secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_cookies_are_secure_outside_development():
    from django.conf import settings

    assert settings.DEBUG is False
    assert settings.SESSION_COOKIE_SECURE is True
    assert settings.CSRF_COOKIE_SECURE is True


def test_check_deploy_reports_a_missing_or_inline_script_content_security_policy(settings):
    from chm_project.checks import check_production_settings

    def reported() -> set[str]:
        return {message.id for message in check_production_settings()}

    assert "chm.W004" not in reported()
    settings.CONTENT_SECURITY_POLICY = {
        "DIRECTIVES": {"default-src": ["'self'"], "script-src": ["'self'", "'unsafe-inline'"]}
    }
    assert "chm.W004" in reported()
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != "csp.middleware.CSPMiddleware"]
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"script-src": ["'self'"]}}
    assert "chm.W004" in reported()


def test_every_answer_carries_a_content_security_policy_without_inline_scripts(client):
    policy = client.get("/healthz")["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
