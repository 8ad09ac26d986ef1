"""What evaluating alerts after ingest costs ingestion, measured against ingestion without it.

In one process, as in a web worker: single-run ``ingest_runs`` calls (each a terminal run that
sends ``terminal_runs_ingested`` after its commit) with the on-ingest evaluation off (the
floor) and on, side by side in each of several rounds (the order alternating), reported as
the median of the rounds' ratios. With it on, every call hands its pipeline to the
background evaluator, which runs four client-wide rules (one per kind) and emails (locmem
backend) every transition. It also reports how long the evaluator took to catch up after the
last call returned.

The bench writes a throw-away client of its own into DATABASE_URL's database (runs commit, as
the signal needs) and deletes it at the end.

    BENCH_ALERT_INGEST_CALLS=500 .venv/bin/python bench/alerts_on_ingest.py
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import statistics
import time

from _django_setup import setup_django  # noqa: E402

setup_django()

from django.conf import settings  # noqa: E402
from django.core import mail  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

from alerts.models import AlertRule, AlertState, RuleKind  # noqa: E402
from alerts.on_ingest import ingest_evaluator  # noqa: E402
from inventory.models import Client, Pipeline  # noqa: E402
from runs.ingest import ingest_runs  # noqa: E402

CALLS = int(os.environ.get("BENCH_ALERT_INGEST_CALLS", "500"))
PIPELINES = 50
ROUNDS = 8


def ingest_calls(client: Client, slugs: list[str], *, label: str) -> float:
    """CALLS single-run ingest calls; answers calls/s (until the last call returned)."""
    started_at = timezone.now() - dt.timedelta(hours=1)
    started = time.perf_counter()
    for index in range(CALLS):
        # Mostly failures, so that rules fire and resolve along the way.
        status = "success" if index % 5 == 0 else "failed"
        begin = started_at + dt.timedelta(seconds=index)
        ingest_runs(
            client=client,
            items=[
                {
                    "pipeline": slugs[index % len(slugs)],
                    "external_run_id": f"{label}-{index}",
                    "status": status,
                    "started_at": begin.isoformat(),
                    "finished_at": (begin + dt.timedelta(seconds=30)).isoformat(),
                }
            ],
        )
    return CALLS / (time.perf_counter() - started)


def main() -> None:
    call_command("migrate", verbosity=0)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    mail.outbox = []
    reverse("runs:overview")  # the URL configuration, loaded once per process anyway
    client = Client.objects.create(slug=f"bench-alerts-{secrets.token_hex(4)}", name="Bench")
    try:
        slugs = [f"etl-{index}" for index in range(PIPELINES)]
        Pipeline.objects.bulk_create(
            Pipeline(client=client, slug=slug, freshness_minutes=60) for slug in slugs
        )
        for kind, threshold, extra in (
            (RuleKind.CONSECUTIVE_FAILURES, 3, {}),
            (RuleKind.FAILURE_RATE, 50, {"window_minutes": 120, "min_runs": 4}),
            (RuleKind.STALE, 30, {}),
            (RuleKind.LONG_RUNNING, 30, {}),
        ):
            AlertRule.objects.create(
                client=client,
                name=f"bench {kind}",
                kind=kind,
                threshold=threshold,
                target="bench@example.com",
                **extra,
            )
        best = {False: 0.0, True: 0.0}
        ratios, catch_up = [], []
        for round_number in range(ROUNDS):
            # Alternate which goes first: the machine's load drifts over a run.
            order = (False, True) if round_number % 2 == 0 else (True, False)
            rates = {}
            for evaluate in order:
                settings.CHM_ALERTS_EVALUATE_ON_INGEST = evaluate
                mode = "on" if evaluate else "off"
                rates[evaluate] = ingest_calls(client, slugs, label=f"r{round_number}-{mode}")
                returned = time.perf_counter()
                if not ingest_evaluator.wait_until_idle(timeout=300):
                    raise SystemExit("the evaluator did not catch up within 300 s")
                if evaluate:
                    catch_up.append(time.perf_counter() - returned)
                best[evaluate] = max(best[evaluate], rates[evaluate])
            ratios.append(rates[True] / rates[False])
            print(
                f"round {round_number + 1}: {rates[False]:,.0f} calls/s without evaluation, "
                f"{rates[True]:,.0f} with it (ratio {ratios[-1]:.2f})"
            )
        firing = AlertState.objects.open().filter(rule__client=client).count()
        print(
            f"single-run ingest calls: best {best[False]:,.0f}/s without evaluation (floor), "
            f"{best[True]:,.0f}/s with it; median ratio of the rounds "
            f"{statistics.median(ratios):.2f} (best-to-best {best[True] / best[False]:.2f}); "
            f"evaluator idle {max(catch_up) * 1000:.0f} ms after the last call at worst; "
            f"{len(mail.outbox)} emails, {firing} pairs firing at the end; "
            f"{CALLS} calls per side and round, {PIPELINES} pipelines, {ROUNDS} rounds"
        )
    finally:
        client.delete()


if __name__ == "__main__":
    main()
