"""Evaluate the enabled alert rules against runs and record what changed.

Every rule kind is one set-based query over all the (rule, pipeline) pairs in scope. The
firing state lives on the rule (``AlertRule.firing``: pipeline id → what fired there) and
changes only through compare-and-swap on ``state_version``: of two evaluators that see the
same transition, exactly one records it and queues its notification in the rule's outbox
(``pending_notifications``). Delivery happens after commit, in ``alerts.notifications``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from alerts.models import AlertRule, RuleKind
from alerts.notifications import DeliveryReport, build_payload, deliver_pending_notifications
from inventory.models import Pipeline
from runs.models import Run

logger = logging.getLogger(__name__)

# A transition lost to another evaluator is re-read and diffed again; this bounds the loop.
CAS_ATTEMPTS = 5
# The outbox of one rule keeps at most this many undelivered notifications (oldest dropped,
# with an error logged and recorded on the rule), so a dead target cannot grow it forever.
MAX_PENDING_NOTIFICATIONS = 200
# Runs named in the state and in a notification, newest first.
MAX_TRIGGERING_RUNS = 10

# (rule, pipeline) pairs the rules apply to: the rule's own pipeline, or every pipeline of
# its client; only active pipelines of active clients are monitored.
_SCOPE = """
WITH scope AS (
    SELECT r.id AS rule_id, r.threshold, r.window_minutes, r.min_runs,
           p.id AS pipeline_id, p.freshness_minutes, p.created_at AS pipeline_created_at
    FROM alerts_alertrule r
    JOIN inventory_pipeline p
      ON p.client_id = r.client_id AND (r.pipeline_id IS NULL OR r.pipeline_id = p.id)
    JOIN inventory_client c ON c.id = p.client_id
    WHERE r.id = ANY(%(rule_ids)s::bigint[])
      AND p.is_active AND c.is_active
      AND (%(pipeline_ids)s::bigint[] IS NULL OR p.id = ANY(%(pipeline_ids)s::bigint[]))
)
"""


def _with_scope(query: str) -> str:
    # Both parts are constants of this module; values always travel as parameters.
    return _SCOPE + query


# The failure streak (failed runs since the last success-or-failed run that succeeded; canceled,
# skipped and unfinished runs neither clear nor extend it) is at least N: read from the
# pipeline's run state (runs/pipeline_state.py defines it), with the newest of those failures.
_CONSECUTIVE_FAILURES = _with_scope(
    """
SELECT s.rule_id, s.pipeline_id, f.run_ids, st.consecutive_failures
FROM scope s
JOIN runs_pipelinestate st ON st.pipeline_id = s.pipeline_id
CROSS JOIN LATERAL (
    SELECT array_agg(r.id ORDER BY r.started_at DESC, r.id DESC) AS run_ids
    FROM (
        SELECT r.id, r.started_at
        FROM runs_run r
        WHERE r.pipeline_id = s.pipeline_id AND r.status = 'failed'
        ORDER BY r.started_at DESC, r.id DESC
        LIMIT LEAST(s.threshold, %(max_runs)s)
    ) r
) f
WHERE st.consecutive_failures >= s.threshold
"""
)

# failed / (success + failed) over runs started in the window, with enough of them; compared
# in integers (100 × failed ≥ X × finished) so that exactly X % fires.
_FAILURE_RATE = _with_scope(
    """
SELECT s.rule_id, s.pipeline_id, w.run_ids, w.failed, w.finished
FROM scope s
CROSS JOIN LATERAL (
    SELECT count(*) FILTER (WHERE r.status = 'failed') AS failed,
           count(*) AS finished,
           (array_agg(r.id ORDER BY r.started_at DESC, r.id DESC)
               FILTER (WHERE r.status = 'failed'))[1:%(max_runs)s] AS run_ids
    FROM runs_run r
    WHERE r.pipeline_id = s.pipeline_id AND r.status IN ('success', 'failed')
      AND r.started_at >= %(now)s - make_interval(mins => s.window_minutes)
      AND r.started_at <= %(now)s
) w
WHERE w.finished >= s.min_runs AND 100 * w.failed >= s.threshold * w.finished
"""
)

# No success within N minutes. The clock runs from the last success (its end), or from the
# pipeline's registration if it never succeeded; pipelines that never ran and declare no
# freshness expectation are not expected to run yet and are left out.
_STALE = _with_scope(
    """
SELECT s.rule_id, s.pipeline_id,
       CASE WHEN ls.id IS NULL THEN ARRAY[]::bigint[] ELSE ARRAY[ls.id] END AS run_ids,
       ls.succeeded_at
FROM scope s
LEFT JOIN LATERAL (
    SELECT r.id, COALESCE(r.finished_at, r.started_at) AS succeeded_at
    FROM runs_run r
    WHERE r.pipeline_id = s.pipeline_id AND r.status = 'success'
    ORDER BY r.started_at DESC, r.id DESC
    LIMIT 1
) ls ON true
WHERE COALESCE(ls.succeeded_at, s.pipeline_created_at)
        <= %(now)s - make_interval(mins => s.threshold)
  AND (s.freshness_minutes IS NOT NULL
       OR EXISTS (SELECT 1 FROM runs_run e WHERE e.pipeline_id = s.pipeline_id))
"""
)

# Runs in `running` for N minutes or more (on the partial in-progress index).
_LONG_RUNNING = _with_scope(
    """
SELECT s.rule_id, s.pipeline_id, w.run_ids, w.running
FROM scope s
CROSS JOIN LATERAL (
    SELECT count(*) AS running,
           (array_agg(r.id ORDER BY r.started_at, r.id))[1:%(max_runs)s] AS run_ids
    FROM runs_run r
    WHERE r.pipeline_id = s.pipeline_id AND r.status = 'running'
      AND r.started_at <= %(now)s - make_interval(mins => s.threshold)
) w
WHERE w.running > 0
"""
)

_QUERIES = {
    RuleKind.CONSECUTIVE_FAILURES: _CONSECUTIVE_FAILURES,
    RuleKind.FAILURE_RATE: _FAILURE_RATE,
    RuleKind.STALE: _STALE,
    RuleKind.LONG_RUNNING: _LONG_RUNNING,
}


@dataclass(frozen=True)
class Condition:
    """A rule's condition holds for one pipeline now."""

    rule_id: int
    pipeline_id: int
    run_ids: list[int]
    summary: str


@dataclass
class EvaluationReport:
    rules: int = 0
    firing: int = 0
    fired: list[tuple[int, int]] = field(default_factory=list)
    resolved: list[tuple[int, int]] = field(default_factory=list)
    delivery: DeliveryReport | None = None

    def __str__(self) -> str:
        text = (
            f"{self.rules} rules evaluated, {self.firing} (rule, pipeline) pairs firing, "
            f"{len(self.fired)} fired, {len(self.resolved)} resolved"
        )
        if self.delivery is not None:
            text += f"; {self.delivery}"
        return text


def _summary(rule: AlertRule, row: tuple) -> str:
    if rule.kind == RuleKind.CONSECUTIVE_FAILURES:
        return f"the last {rule.threshold} finished runs failed"
    if rule.kind == RuleKind.FAILURE_RATE:
        failed, finished = row[3], row[4]
        return (
            f"{failed} of {finished} finished runs failed in the last {rule.window_minutes} min "
            f"({100 * failed / finished:.0f} % ≥ {rule.threshold} %)"
        )
    if rule.kind == RuleKind.STALE:
        succeeded_at = row[3]
        if succeeded_at is None:
            return f"no successful run yet, expected within {rule.threshold} min"
        return (
            f"no successful run since {succeeded_at:%Y-%m-%d %H:%M} UTC "
            f"(expected within {rule.threshold} min)"
        )
    running = row[3]
    return f"{running} run(s) still running after {rule.threshold} min"


def find_conditions(
    rules: Iterable[AlertRule],
    *,
    now: dt.datetime,
    pipeline_ids: Collection[int] | None = None,
) -> dict[int, dict[int, Condition]]:
    """Which (rule, pipeline) conditions hold at ``now``: rule id → pipeline id → condition.

    One query per rule kind, whatever the number of rules and pipelines.
    """
    by_kind: dict[str, dict[int, AlertRule]] = defaultdict(dict)
    for rule in rules:
        by_kind[rule.kind][rule.pk] = rule
    held: dict[int, dict[int, Condition]] = defaultdict(dict)
    params = {
        "now": now,
        "pipeline_ids": sorted(pipeline_ids) if pipeline_ids is not None else None,
        "max_runs": MAX_TRIGGERING_RUNS,
    }
    with connection.cursor() as cursor:
        for kind, rules_of_kind in by_kind.items():
            cursor.execute(_QUERIES[kind], {**params, "rule_ids": sorted(rules_of_kind)})
            for row in cursor.fetchall():
                rule = rules_of_kind[row[0]]
                held[row[0]][row[1]] = Condition(
                    rule_id=row[0],
                    pipeline_id=row[1],
                    run_ids=list(row[2] or []),
                    summary=_summary(rule, row),
                )
    return held


def evaluate_alerts(
    *,
    pipeline_ids: Collection[int] | None = None,
    now: dt.datetime | None = None,
    deliver: bool = True,
) -> EvaluationReport:
    """Evaluate every enabled rule (or only for ``pipeline_ids``), record the transitions and
    send their notifications after commit.

    With ``pipeline_ids``, only those pipelines' states can change: the firing state of the
    rule's other pipelines is kept as it is.
    """
    now = now or timezone.now()
    scope = set(pipeline_ids) if pipeline_ids is not None else None
    rules = AlertRule.objects.enabled().select_related("client")
    if scope is not None:
        client_ids = Pipeline.objects.filter(pk__in=scope).values("client_id")
        rules = rules.filter(client_id__in=client_ids).filter(
            Q(pipeline__isnull=True) | Q(pipeline_id__in=scope)
        )
    rules = list(rules)
    report = EvaluationReport(rules=len(rules))
    if scope is None:
        _forget_state_of_disabled_rules()

    held = find_conditions(rules, now=now, pipeline_ids=scope)
    report.firing = sum(len(pairs) for pairs in held.values())
    context = _NotificationContext.load(rules, held, scope)
    untouched: list[int] = []
    for rule in rules:
        fired, resolved = _record_transitions(
            rule, held.get(rule.pk, {}), scope=scope, now=now, context=context
        )
        if fired or resolved:
            report.fired += [(rule.pk, pk) for pk in fired]
            report.resolved += [(rule.pk, pk) for pk in resolved]
        else:
            untouched.append(rule.pk)
    if untouched:
        AlertRule.objects.filter(pk__in=untouched).update(last_evaluated_at=now)

    if deliver:
        # Undelivered notifications of earlier evaluations are retried along with new ones.
        rule_ids = None if scope is None else [rule.pk for rule in rules]
        if connection.in_atomic_block:
            transaction.on_commit(lambda: deliver_pending_notifications(rule_ids=rule_ids))
        else:
            report.delivery = deliver_pending_notifications(rule_ids=rule_ids)
    return report


def _forget_state_of_disabled_rules() -> None:
    # A disabled rule watches nothing, so it is firing nowhere (governance counts firing
    # rules). Switching a rule off is an operator's decision, not a resolution: no notice.
    AlertRule.objects.filter(is_enabled=False).exclude(firing={}).update(
        firing={}, state_version=F("state_version") + 1
    )


def _diff(
    current: dict, held: dict[int, Condition], scope: set[int] | None
) -> tuple[list[int], list[int]]:
    """The pipelines that start firing, and those that stop, against the recorded state."""
    fired = sorted(pk for pk in held if str(pk) not in current)
    resolved = sorted(
        int(key) for key in current if (scope is None or int(key) in scope) and int(key) not in held
    )
    return fired, resolved


@dataclass
class _NotificationContext:
    """Pipelines and runs that the notifications of this evaluation name, read in bulk for the
    transitions seen up front; anything else (after a lost compare-and-swap) on demand."""

    pipelines: dict[int, Pipeline | None]
    runs: dict[int, Run]

    @classmethod
    def load(
        cls,
        rules: list[AlertRule],
        held: dict[int, dict[int, Condition]],
        scope: set[int] | None,
    ) -> _NotificationContext:
        context = cls(pipelines={}, runs={})
        pipeline_ids: set[int] = set()
        run_ids: set[int] = set()
        for rule in rules:
            conditions = held.get(rule.pk, {})
            fired, resolved = _diff(rule.firing, conditions, scope)
            pipeline_ids.update(fired, resolved)
            for pk in fired:
                run_ids.update(conditions[pk].run_ids)
            for pk in resolved:
                run_ids.update(rule.firing[str(pk)].get("run_ids", []))
        context._fetch(pipeline_ids, run_ids)
        return context

    def _fetch(self, pipeline_ids: set[int], run_ids: set[int]) -> None:
        if pipeline_ids:
            found = Pipeline.objects.select_related("client").in_bulk(pipeline_ids)
            # A deleted pipeline is remembered as None, not looked up again.
            self.pipelines.update({pk: found.get(pk) for pk in pipeline_ids})
        if run_ids:
            self.runs.update(Run.objects.in_bulk(run_ids))

    def pipeline(self, pk: int) -> Pipeline | None:
        if pk not in self.pipelines:
            self._fetch({pk}, set())
        return self.pipelines[pk]

    def runs_for(self, run_ids: list[int]) -> list[Run]:
        missing = set(run_ids) - self.runs.keys()
        if missing:
            self._fetch(set(), missing)
        return [self.runs[pk] for pk in run_ids if pk in self.runs]


def _record_transitions(
    rule: AlertRule,
    held: dict[int, Condition],
    *,
    scope: set[int] | None,
    now: dt.datetime,
    context: _NotificationContext,
) -> tuple[list[int], list[int]]:
    """Compare-and-swap the rule's firing state; answer the pipelines that fired and resolved.

    Only the evaluator whose update matched the version it read queues the notifications, so
    a transition seen by two evaluators at once is notified once.
    """
    for _attempt in range(CAS_ATTEMPTS):
        current: dict = rule.firing
        fired, resolved = _diff(current, held, scope)
        if not fired and not resolved:
            return [], []
        firing = {key: entry for key, entry in current.items() if int(key) not in resolved}
        notifications = []
        for pk in fired:
            condition = held[pk]
            # None only if the pipeline was deleted since the condition query read it.
            pipeline = context.pipeline(pk)
            label = str(pipeline) if pipeline is not None else f"pipeline {pk}"
            firing[str(pk)] = {
                "since": now.isoformat(),
                "summary": condition.summary,
                "run_ids": condition.run_ids,
                "pipeline": label,
            }
            notifications.append(
                _queued(
                    rule,
                    pk,
                    build_payload(
                        rule=rule,
                        state="firing",
                        pipeline=pipeline,
                        pipeline_label=label,
                        summary=condition.summary,
                        runs=context.runs_for(condition.run_ids),
                        since=now,
                        at=now,
                    ),
                    now,
                )
            )
        for pk in resolved:
            entry = current[str(pk)]
            notifications.append(
                _queued(
                    rule,
                    pk,
                    build_payload(
                        rule=rule,
                        state="resolved",
                        pipeline=context.pipeline(pk),
                        pipeline_label=entry.get("pipeline", str(pk)),
                        summary=f"resolved (was: {entry.get('summary', '')})",
                        runs=context.runs_for(entry.get("run_ids", [])),
                        since=dt.datetime.fromisoformat(entry["since"]),
                        at=now,
                    ),
                    now,
                )
            )
        pending, dropped = _append_bounded(rule.pending_notifications, notifications)
        updates = {
            "firing": firing,
            "pending_notifications": pending,
            "state_version": F("state_version") + 1,
            "last_evaluated_at": now,
        }
        if dropped:
            message = (
                f"{dropped} undelivered notification(s) dropped: more than "
                f"{MAX_PENDING_NOTIFICATIONS} were waiting for delivery"
            )
            logger.error("alert rule %s: %s", rule.pk, message)
            updates["last_delivery_error"] = message
        changed = AlertRule.objects.filter(pk=rule.pk, state_version=rule.state_version).update(
            **updates
        )
        if changed:
            logger.info(
                "alert rule %s (%s): fired for pipelines %s, resolved for %s",
                rule.pk,
                rule.name,
                fired,
                resolved,
            )
            return fired, resolved
        # Another evaluator (or a delivery) changed the rule since it was read: diff again
        # against what it recorded.
        rule.refresh_from_db(fields=["firing", "pending_notifications", "state_version"])
    logger.warning("alert rule %s: state kept changing under this evaluation; skipped", rule.pk)
    return [], []


def _queued(rule: AlertRule, pipeline_id: int, payload: dict, now: dt.datetime) -> dict:
    return {
        "id": payload["notification_id"],
        "state": payload["state"],
        "pipeline_id": pipeline_id,
        "queued_at": now.isoformat(),
        "attempts": 0,
        "lease_until": None,
        "last_error": "",
        "payload": payload,
    }


def _append_bounded(pending: list[dict], new: list[dict]) -> tuple[list[dict], int]:
    combined = [*pending, *new]
    dropped = max(0, len(combined) - MAX_PENDING_NOTIFICATIONS)
    return combined[dropped:], dropped
