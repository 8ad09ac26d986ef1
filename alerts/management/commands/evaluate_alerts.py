from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections

from alerts.evaluation import evaluate_alerts


class Command(BaseCommand):
    help = (
        "Evaluate every enabled alert rule and send notifications on changes of state. "
        "With --loop SECONDS, keep doing so every SECONDS until stopped (SIGTERM or Ctrl-C)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--loop",
            type=float,
            metavar="SECONDS",
            help="Evaluate again every SECONDS seconds instead of once.",
        )
        parser.add_argument(
            "--iterations",
            type=int,
            metavar="N",
            help="With --loop: stop after N evaluations (default: run until stopped).",
        )

    def handle(self, *args: object, loop: float | None, iterations: int | None, **options: object):
        if loop is None:
            self.stdout.write(str(evaluate_alerts()))
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
                    self.stdout.write(str(evaluate_alerts()))
                except Exception as exc:
                    # A database outage or a bug in one pass must not end the loop.
                    self.stderr.write(f"evaluation failed: {type(exc).__name__}: {exc}")
                done += 1
                if iterations is not None and done >= iterations:
                    break
                stop.wait(loop)
        except KeyboardInterrupt:
            pass
