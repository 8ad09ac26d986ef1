from __future__ import annotations

from chm_project.loops import PeriodicCommand
from runs.rollups import RollupRefresh, refresh_daily_rollup


class Command(PeriodicCommand):
    help = (
        "Roll up the run counts of the closed UTC days that the dashboards show and that have "
        "no rollup yet (or changed since). With --loop SECONDS, keep doing so every SECONDS "
        "until stopped (SIGTERM or Ctrl-C)."
    )
    verb = "Refresh"
    work_name = "refresh"

    def one_pass(self) -> RollupRefresh:
        return refresh_daily_rollup()
