"""Start Django for a benchmark run as ``python bench/NAME.py`` (bench/ is then sys.path[0])."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_django() -> None:
    # First, even when the project is on the path already: bench/ (the script's directory,
    # sys.path[0]) holds dashboards.py, which would otherwise hide the dashboards app.
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chm_project.settings")
    # Benchmarks run with DEBUG off, as production does: settings then want a key, though a
    # benchmark signs nothing that outlives it.
    os.environ.setdefault("SECRET_KEY", "benchmark-only-not-a-secret")
    import django

    django.setup()
