from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandParser

from chm_project.loops import add_loop_arguments, run_passes
from runs.rollups import refresh_daily_rollup


class Command(BaseCommand):
    help = (
        "Roll up the run counts of the closed UTC days that the dashboards show and that have "
        "no rollup yet (or changed since). With --loop SECONDS, keep doing so every SECONDS "
        "until stopped (SIGTERM or Ctrl-C)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_loop_arguments(parser, what="Refresh")

    def handle(
        self,
        *args: object,
        loop: float | None,
        iterations: int | None,
        heartbeat_file: Path | None,
        **options: object,
    ):
        run_passes(
            refresh_daily_rollup,
            name="refresh",
            loop=loop,
            iterations=iterations,
            stdout=self.stdout,
            stderr=self.stderr,
            heartbeat_file=heartbeat_file,
        )
