"""gunicorn settings for production: ``gunicorn -c python:chm_project.gunicorn_conf chm_project.wsgi``.

Every value can still be overridden on the command line or with GUNICORN_CMD_ARGS.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from common.env import env_int, env_str

bind = env_str("GUNICORN_BIND", "127.0.0.1:8000")
workers = env_int("GUNICORN_WORKERS", 3)
# Above DB_STATEMENT_TIMEOUT_MS: a slow query is cancelled (and answered) before gunicorn
# would kill the worker.
timeout = env_int("GUNICORN_TIMEOUT", 30)
accesslog = None  # CHM's own JSON request log (REQUEST_LOG_JSON=1) says more.

_multiproc_dir = env_str("PROMETHEUS_MULTIPROC_DIR")


def on_starting(server) -> None:
    # Samples of workers from an earlier run would be added to this run's counters.
    if _multiproc_dir:
        shutil.rmtree(_multiproc_dir, ignore_errors=True)
        Path(_multiproc_dir).mkdir(parents=True, exist_ok=True)


def child_exit(server, worker) -> None:
    # Keeps the live gauges of a worker that died from being reported forever.
    if _multiproc_dir:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
