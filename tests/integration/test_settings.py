"""Settings fail loudly where a default would be unsafe."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _import_settings(**env) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}}
    return subprocess.run(  # noqa: S603
        [sys.executable, "-c", "import chm_project.settings"],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_secret_key_is_required_when_debug_is_off():
    result = _import_settings(DEBUG="0")
    assert result.returncode != 0
    assert "SECRET_KEY is required" in result.stderr


def test_debug_is_off_unless_asked_for():
    result = _import_settings(SECRET_KEY="x" * 50)
    assert result.returncode == 0, result.stderr
    check = subprocess.run(  # noqa: S603
        [sys.executable, "-c", "from chm_project import settings; print(settings.DEBUG)"],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "DEBUG"} | {"SECRET_KEY": "x" * 50},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.stdout.strip() == "False"


def test_a_non_boolean_debug_value_is_refused():
    result = _import_settings(DEBUG="maybe", SECRET_KEY="x" * 50)
    assert result.returncode != 0
    assert "DEBUG must be a boolean" in result.stderr


def test_prepared_ingestion_statements_can_be_turned_off():
    def prepare_threshold(**env) -> str:
        code = (
            "from chm_project import settings; "
            "print(settings.DATABASES['default']['OPTIONS'].get('prepare_threshold'))"
        )
        result = subprocess.run(  # noqa: S603
            [sys.executable, "-c", code],
            cwd=ROOT,
            env={**os.environ, "SECRET_KEY": "x" * 50, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    assert prepare_threshold() == "5"
    assert prepare_threshold(DB_PREPARED_STATEMENTS="0") == "None"
