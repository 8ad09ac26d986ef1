from __future__ import annotations

from alerts.evaluation import EvaluationReport, evaluate_alerts
from common.loops import PeriodicCommand


class Command(PeriodicCommand):
    help = (
        "Evaluate every enabled alert rule and send notifications on changes of state. "
        "With --loop SECONDS, keep doing so every SECONDS until stopped (SIGTERM or Ctrl-C)."
    )
    verb = "Evaluate"
    work_name = "evaluation"

    def one_pass(self) -> EvaluationReport:
        # Looked up when called, so that tests can replace it on this module.
        return evaluate_alerts()
