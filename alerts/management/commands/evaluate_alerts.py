from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandParser

from alerts.evaluation import evaluate_alerts
from chm_project.loops import add_loop_arguments, run_passes


class Command(BaseCommand):
    help = (
        "Evaluate every enabled alert rule and send notifications on changes of state. "
        "With --loop SECONDS, keep doing so every SECONDS until stopped (SIGTERM or Ctrl-C)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_loop_arguments(parser, what="Evaluate")

    def handle(
        self,
        *args: object,
        loop: float | None,
        iterations: int | None,
        heartbeat_file: Path | None,
        **options: object,
    ):
        run_passes(
            evaluate_alerts,
            name="evaluation",
            loop=loop,
            iterations=iterations,
            stdout=self.stdout,
            stderr=self.stderr,
            heartbeat_file=heartbeat_file,
        )
