from __future__ import annotations

from common.loops import PeriodicCommand
from runs.change_windows import refresh_change_windows
from runs.rollups import refresh_daily_rollup


class Command(PeriodicCommand):
    help = (
        "Roll up the run counts of the closed UTC days that the dashboards show and that have "
        "no rollup yet (or changed since), and compute the what-changed windows (Q5) that are "
        "missing or expired. With --loop SECONDS, keep doing so every SECONDS until stopped "
        "(SIGTERM or Ctrl-C)."
    )
    verb = "Refresh"
    work_name = "refresh"

    def one_pass(self) -> str:
        return f"{refresh_daily_rollup()}; {refresh_change_windows()}"
