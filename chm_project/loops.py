"""The ``--loop SECONDS`` mode that CHM's periodic commands share."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable

from django.core.management.base import CommandError, CommandParser, OutputWrapper
from django.db import close_old_connections


def add_loop_arguments(parser: CommandParser, *, what: str) -> None:
    parser.add_argument(
        "--loop",
        type=float,
        metavar="SECONDS",
        help=f"{what} again every SECONDS seconds instead of once.",
    )
    parser.add_argument(
        "--iterations",
        type=int,
        metavar="N",
        help="With --loop: stop after N passes (default: run until stopped).",
    )


def run_passes(
    one_pass: Callable[[], object],
    *,
    name: str,
    loop: float | None,
    iterations: int | None,
    stdout: OutputWrapper,
    stderr: OutputWrapper,
) -> None:
    """One pass, or with ``loop`` one every ``loop`` seconds until SIGTERM or Ctrl-C.

    Each pass's result is printed as one line; a failed pass is reported as "{name} failed".
    """
    if loop is None:
        stdout.write(str(one_pass()))
        return
    if loop <= 0:
        raise CommandError("--loop needs a positive number of seconds.")
    if iterations is not None and iterations < 1:
        raise CommandError("--iterations needs a positive number.")
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        # systemd and docker stop with SIGTERM: finish the current pass, then exit.
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    done = 0
    try:
        while not stop.is_set():
            # A long-lived process: drop connections that PostgreSQL closed meanwhile.
            close_old_connections()
            try:
                stdout.write(str(one_pass()))
            except Exception as exc:
                # A database outage or a bug in one pass must not end the loop.
                stderr.write(f"{name} failed: {type(exc).__name__}: {exc}")
            done += 1
            if iterations is not None and done >= iterations:
                break
            stop.wait(loop)
    except KeyboardInterrupt:
        pass
