"""Evaluate the enabled alert rules against runs and record what changed.

Every rule kind is one set-based query over all the (rule, pipeline) pairs in scope
(alerts/kinds.py). What fires lives in ``AlertState`` rows, one open row per (rule, subject),
and changes only through conditional statements on those rows, never a lock on the rule:

- a new alert is an ``INSERT … ON CONFLICT DO NOTHING`` against the unique index on open
  (rule, subject) rows: of two evaluators that see it fire, one inserts the row and queues its
  notification, the other inserts nothing;
- a resolution is ``UPDATE … WHERE resolved_at IS NULL``: one of them matches the row;
- a reminder is an update that matches only while the alert is still open, unacknowledged and
  last notified when this evaluator read it.

The evaluator that loses such a race reads the state and the conditions of those subjects
again and decides afresh. The state is read before the conditions, so the conditions are never
older than the state they are compared with. Each rule's transitions, their history rows and
their notifications (the outbox) are written in one short transaction; delivery happens after
commit, in ``alerts.notifications``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from alerts import kinds
from alerts.models import (
    AlertEvent,
    AlertRule,
    AlertState,
    EventKind,
    MaintenanceWindow,
    Notification,
    NotificationStatus,
    Silence,
)
from alerts.notifications import (
    DeliveryReport,
    build_payload,
    deliver_pending_notifications,
    incident_data,
    incident_label,
)
from inventory.models import Pipeline
from runs.models import Run
from runs.reporting import Incident

logger = logging.getLogger(__name__)

# A transition lost to another evaluator is re-read and decided again; this bounds the loop.
RACE_ATTEMPTS = 5
# Runs named in the state and in a notification, newest first.
MAX_TRIGGERING_RUNS = 10

_OPEN_ALERTS = """
INSERT INTO alerts_alertstate
    (rule_id, pipeline_id, subject_key, subject_label, summary, run_ids, fired_at,
     last_notified_at)
SELECT %(rule_id)s, t.pipeline_id, t.subject_key, t.subject_label, t.summary,
       ARRAY(SELECT jsonb_array_elements_text(t.run_ids)::bigint), %(now)s, %(now)s
FROM jsonb_to_recordset(%(alerts)s::jsonb)
     AS t(pipeline_id bigint, subject_key text, subject_label text, summary text, run_ids jsonb)
WHERE t.pipeline_id IS NULL
   OR EXISTS (SELECT 1 FROM inventory_pipeline p WHERE p.id = t.pipeline_id)
ON CONFLICT (rule_id, subject_key) WHERE resolved_at IS NULL DO NOTHING
RETURNING id, subject_key
"""


@dataclass(frozen=True)
class Condition:
    """A rule's condition holds for one subject now."""

    rule_id: int
    pipeline_id: int | None
    subject_key: str
    run_ids: list[int]
    summary: str


@dataclass
class EvaluationReport:
    rules: int = 0
    firing: int = 0
    fired: list[tuple[int, int | None]] = field(default_factory=list)
    resolved: list[tuple[int, int | None]] = field(default_factory=list)
    reminded: int = 0
    delivery: DeliveryReport | None = None

    def __str__(self) -> str:
        text = (
            f"{self.rules} rules evaluated, {self.firing} (rule, pipeline) pairs firing, "
            f"{len(self.fired)} fired, {len(self.resolved)} resolved"
        )
        if self.reminded:
            text += f", {self.reminded} reminded"
        if self.delivery is not None:
            text += f"; {self.delivery}"
        return text


def find_conditions(
    rules: Iterable[AlertRule],
    *,
    now: dt.datetime,
    pipeline_ids: Collection[int] | None = None,
    paused: Collection[int] = (),
) -> dict[int, dict[str, Condition]]:
    """Which conditions hold at ``now``: rule id → subject key → condition.

    One query per rule kind, whatever the number of rules and pipelines. ``paused``: the
    pipelines under maintenance, which incidents do not count (pipeline kinds leave them to
    ``_Evaluation.diff``).
    """
    by_kind: dict[str, dict[int, AlertRule]] = defaultdict(dict)
    for rule in rules:
        by_kind[rule.kind][rule.pk] = rule
    held: dict[int, dict[str, Condition]] = defaultdict(dict)
    params = {
        "now": now,
        "pipeline_ids": sorted(pipeline_ids) if pipeline_ids is not None else None,
        "max_runs": MAX_TRIGGERING_RUNS,
        "paused": sorted(paused),
    }
    with connection.cursor() as cursor:
        for kind, rules_of_kind in by_kind.items():
            definition = kinds.definition(kind)
            cursor.execute(kinds.query(kind), {**params, "rule_ids": sorted(rules_of_kind)})
            for rule_id, pipeline_id, subject_key, run_ids, *details in cursor.fetchall():
                held[rule_id][subject_key] = Condition(
                    rule_id=rule_id,
                    pipeline_id=pipeline_id,
                    subject_key=subject_key,
                    run_ids=list(run_ids or []),
                    summary=definition.why(rules_of_kind[rule_id], tuple(details)),
                )
    return held


def pipelines_in_maintenance(at: dt.datetime) -> set[int]:
    """Active pipelines under a maintenance window at ``at`` (their own or their client's)."""
    windows = MaintenanceWindow.objects.active(at)
    return set(
        Pipeline.objects.filter(
            Q(pk__in=windows.filter(pipeline__isnull=False).values("pipeline_id"))
            | Q(client_id__in=windows.filter(client__isnull=False).values("client_id"))
        ).values_list("pk", flat=True)
    )


def evaluate_alerts(
    *,
    pipeline_ids: Collection[int] | None = None,
    now: dt.datetime | None = None,
    deliver: bool = True,
) -> EvaluationReport:
    """Evaluate every enabled rule (or only for ``pipeline_ids``), record the transitions,
    remind of alerts nobody acknowledged, and send the notifications after commit.

    With ``pipeline_ids``, only those pipelines' alerts can change, and the alerts about
    incidents of the rules covering them (an incident spans other pipelines too). Pipelines
    under maintenance neither fire nor resolve until their window ends; an incident does not
    count them.
    """
    now = now or timezone.now()
    scope = set(pipeline_ids) if pipeline_ids is not None else None
    rules_qs = AlertRule.objects.enabled().select_related("client")
    if scope is not None:
        client_ids = Pipeline.objects.filter(pk__in=scope).values("client_id")
        rules_qs = rules_qs.filter(client_id__in=client_ids).filter(
            Q(pipeline__isnull=True) | Q(pipeline_id__in=scope)
        )
    rules = list(rules_qs)
    report = EvaluationReport(rules=len(rules))
    if scope is None:
        _close_alerts_of_disabled_rules(now)
    if rules:
        _evaluate(rules, scope=scope, now=now, report=report)

    if deliver:
        # Undelivered notifications of earlier evaluations are retried along with new ones.
        rule_ids = None if scope is None else [rule.pk for rule in rules]
        if connection.in_atomic_block:
            transaction.on_commit(lambda: deliver_pending_notifications(rule_ids=rule_ids))
        else:
            report.delivery = deliver_pending_notifications(rule_ids=rule_ids)
    return report


def _evaluate(
    rules: list[AlertRule], *, scope: set[int] | None, now: dt.datetime, report: EvaluationReport
) -> None:
    paused = pipelines_in_maintenance(now)
    silences = list(Silence.objects.active(now))
    # An incident spans pipelines beyond any scope: a rule about incidents that the scope
    # concerns (a pipeline of its client ran) is evaluated whole, so that its alerts, keyed
    # by incident and with no pipeline, fire and resolve like in a full evaluation.
    by_pipeline = [rule for rule in rules if kinds.definition(rule.kind).subject == "pipeline"]
    by_incident = [rule for rule in rules if kinds.definition(rule.kind).subject != "pipeline"]
    for group, group_scope in ((by_pipeline, scope), (by_incident, None)):
        if not group:
            continue
        run = _Evaluation(now=now, scope=group_scope, paused=paused, silences=silences)
        # The state first, then the conditions (see the module's docstring).
        current = run.open_alerts(group)
        held = find_conditions(group, now=now, pipeline_ids=group_scope, paused=paused)
        report.firing += sum(len(subjects) for subjects in held.values())
        run.prefetch(group, held, current)
        for rule in group:
            fired, resolved = run.record_transitions(
                rule, current.get(rule.pk, {}), held.get(rule.pk, {})
            )
            report.fired += [(rule.pk, pk) for pk in fired]
            report.resolved += [(rule.pk, pk) for pk in resolved]
        report.reminded += run.queue_reminders(group)
    AlertRule.objects.filter(pk__in=[rule.pk for rule in rules]).update(last_evaluated_at=now)


def _close_alerts_of_disabled_rules(now: dt.datetime) -> None:
    # A disabled rule watches nothing, so it is firing nowhere (governance counts firing
    # rules). Switching a rule off is an operator's decision, not a resolution: no notice,
    # but the history says why the alert closed.
    with transaction.atomic():
        closed = list(
            AlertState.objects.open()
            .filter(rule__is_enabled=False)
            .select_for_update(skip_locked=True)
            .values_list("pk", "rule_id", "rule__client_id", "pipeline_id", "subject_label")
        )
        if not closed:
            return
        AlertState.objects.filter(pk__in=[row[0] for row in closed]).update(resolved_at=now)
        AlertEvent.objects.bulk_create(
            AlertEvent(
                alert_id=pk,
                rule_id=rule_id,
                client_id=client_id,
                pipeline_id=pipeline_id,
                subject_label=label,
                kind=EventKind.RESOLVED,
                at=now,
                note="closed without notification: the rule was disabled",
            )
            for pk, rule_id, client_id, pipeline_id, label in closed
        )


@dataclass
class _Context:
    """Pipelines and runs that the notifications of this evaluation name, read in bulk for the
    transitions seen up front (``_Evaluation.prefetch``); anything else (after a lost race,
    reminders) on demand."""

    pipelines: dict[int, Pipeline | None] = field(default_factory=dict)
    runs: dict[int, Run] = field(default_factory=dict)
    incidents: dict[str, Incident | None] = field(default_factory=dict)

    def fetch(
        self, pipeline_ids: set[int], run_ids: set[int], subject_keys: Iterable[str] = ()
    ) -> None:
        incident_keys = {
            key for key in map(kinds.incident_of, subject_keys) if key is not None
        } - self.incidents.keys()
        if incident_keys:
            # As the incident page shows it (reporting.q11_incidents); None once it has left
            # the views' 7 days.
            found = Incident.objects.in_bulk(incident_keys)
            self.incidents.update({key: found.get(key) for key in incident_keys})
        if pipeline_ids:
            found = Pipeline.objects.select_related("client").in_bulk(pipeline_ids)
            # A deleted pipeline is remembered as None, not looked up again.
            self.pipelines.update({pk: found.get(pk) for pk in pipeline_ids})
        if run_ids:
            self.runs.update(Run.objects.in_bulk(run_ids))

    def pipeline(self, pk: int | None) -> Pipeline | None:
        if pk is None:
            return None
        if pk not in self.pipelines:
            self.fetch({pk}, set())
        return self.pipelines[pk]

    def incident(self, subject_key: str) -> Incident | None:
        key = kinds.incident_of(subject_key)
        if key is None:
            return None
        if key not in self.incidents:
            self.fetch(set(), set(), [subject_key])
        return self.incidents[key]

    def subject(self, subject_key: str, label: str) -> dict | None:
        """The payload's ``incident`` for an incident subject; None for a pipeline."""
        key = kinds.incident_of(subject_key)
        if key is None:
            return None
        return incident_data(key, self.incident(subject_key), label=label)

    def runs_for(self, run_ids: list[int]) -> list[Run]:
        missing = set(run_ids) - self.runs.keys()
        if missing:
            self.fetch(set(), missing)
        return [self.runs[pk] for pk in run_ids if pk in self.runs]


@dataclass
class _Evaluation:
    now: dt.datetime
    scope: set[int] | None
    paused: set[int]
    silences: list[Silence]
    context: _Context = field(default_factory=_Context)

    def open_alerts(
        self, rules: list[AlertRule], subject_keys: Collection[str] | None = None
    ) -> dict[int, dict[str, AlertState]]:
        alerts = AlertState.objects.open().filter(rule__in=[rule.pk for rule in rules])
        if self.scope is not None:
            alerts = alerts.filter(pipeline_id__in=self.scope)
        if subject_keys is not None:
            alerts = alerts.filter(subject_key__in=subject_keys)
        by_rule: dict[int, dict[str, AlertState]] = defaultdict(dict)
        for alert in alerts:
            by_rule[alert.rule_id][alert.subject_key] = alert
        return by_rule

    def prefetch(
        self,
        rules: list[AlertRule],
        held: dict[int, dict[str, Condition]],
        current: dict[int, dict[str, AlertState]],
    ) -> None:
        pipeline_ids: set[int] = set()
        run_ids: set[int] = set()
        subject_keys: set[str] = set()
        for rule in rules:
            fired, resolved = self.diff(current.get(rule.pk, {}), held.get(rule.pk, {}))
            for condition in fired:
                if condition.pipeline_id is not None:
                    pipeline_ids.add(condition.pipeline_id)
                run_ids.update(condition.run_ids)
                subject_keys.add(condition.subject_key)
            for alert in resolved:
                if alert.pipeline_id is not None:
                    pipeline_ids.add(alert.pipeline_id)
                run_ids.update(alert.run_ids)
                subject_keys.add(alert.subject_key)
        self.context.fetch(pipeline_ids, run_ids, subject_keys)

    def _watched(self, pipeline_id: int | None) -> bool:
        return pipeline_id is None or pipeline_id not in self.paused

    def diff(
        self, current: dict[str, AlertState], held: dict[str, Condition]
    ) -> tuple[list[Condition], list[AlertState]]:
        """The subjects that start firing, and the alerts that stop, against the recorded
        state; pipelines under maintenance are left as they are."""
        fired = [
            held[key]
            for key in sorted(held)
            if key not in current and self._watched(held[key].pipeline_id)
        ]
        resolved = [
            current[key]
            for key in sorted(current)
            if key not in held
            and self._watched(current[key].pipeline_id)
            and (self.scope is None or current[key].pipeline_id in self.scope)
        ]
        return fired, resolved

    def silenced_until(self, rule_id: int, pipeline_id: int | None) -> dt.datetime | None:
        ends = [
            s.ends_at for s in self.silences if s.covers(rule_id=rule_id, pipeline_id=pipeline_id)
        ]
        return max(ends, default=None)

    def record_transitions(
        self, rule: AlertRule, current: dict[str, AlertState], held: dict[str, Condition]
    ) -> tuple[list[int | None], list[int | None]]:
        """Open and close this rule's alerts; answer the pipelines that fired and resolved.

        Only the evaluator whose statement matched a row records the transition and queues
        its notification, so a transition seen by two evaluators at once is notified once.
        """
        fired_pipelines: list[int | None] = []
        resolved_pipelines: list[int | None] = []
        for _attempt in range(RACE_ATTEMPTS):
            fired, resolved = self.diff(current, held)
            if not fired and not resolved:
                break
            try:
                won_fired, won_resolved = self._apply(rule, fired, resolved)
            except IntegrityError:
                # A pipeline deleted between the condition query and the insert.
                logger.warning("alert rule %s: a pipeline vanished; re-reading", rule.pk)
                won_fired, won_resolved = [], []
            fired_pipelines += [c.pipeline_id for c in fired if c.subject_key in won_fired]
            resolved_pipelines += [a.pipeline_id for a in resolved if a.pk in won_resolved]
            lost = [c.subject_key for c in fired if c.subject_key not in won_fired] + [
                a.subject_key for a in resolved if a.pk not in won_resolved
            ]
            if not lost:
                break
            # Another evaluator got there first: read those subjects' state and conditions
            # again and decide afresh.
            current = self.open_alerts([rule], lost).get(rule.pk, {})
            pipelines = {_pipeline_of(key) for key in lost}
            again = find_conditions(
                [rule],
                now=self.now,
                pipeline_ids=None if None in pipelines else pipelines,
                paused=self.paused,
            ).get(rule.pk, {})
            held = {key: again[key] for key in lost if key in again}
        else:
            logger.warning("alert rule %s: its alerts kept changing under this evaluation", rule)
        if fired_pipelines or resolved_pipelines:
            logger.info(
                "alert rule %s (%s): fired for pipelines %s, resolved for %s",
                rule.pk,
                rule.name,
                fired_pipelines,
                resolved_pipelines,
            )
        return fired_pipelines, resolved_pipelines

    def _label(self, condition: Condition) -> str:
        pipeline = self.context.pipeline(condition.pipeline_id)
        if pipeline is not None:
            return str(pipeline)
        incident = self.context.incident(condition.subject_key)
        if incident is not None:
            return incident_label(incident)
        return condition.subject_key

    def _apply(
        self, rule: AlertRule, fired: list[Condition], resolved: list[AlertState]
    ) -> tuple[set[str], set[int]]:
        """One transaction: the conditional statements, then history and outbox rows for the
        rows they matched. Answers the subject keys opened and the alert ids closed."""
        now = self.now
        events: list[AlertEvent] = []
        notifications: list[Notification] = []
        with transaction.atomic():
            opened: dict[str, int] = {}
            if fired:
                rows = [
                    {
                        "pipeline_id": c.pipeline_id,
                        "subject_key": c.subject_key,
                        "subject_label": self._label(c),
                        "summary": c.summary,
                        "run_ids": c.run_ids,
                    }
                    for c in fired
                ]
                with connection.cursor() as cursor:
                    cursor.execute(
                        _OPEN_ALERTS,
                        {"rule_id": rule.pk, "now": now, "alerts": json.dumps(rows)},
                    )
                    opened = {key: pk for pk, key in cursor.fetchall()}
            closed: set[int] = set()
            if resolved:
                closed = set(
                    AlertState.objects.filter(
                        pk__in=[a.pk for a in resolved], resolved_at__isnull=True
                    )
                    .values_list("pk", flat=True)
                    .select_for_update()
                )
                AlertState.objects.filter(pk__in=closed).update(resolved_at=now)
            for condition in fired:
                if condition.subject_key not in opened:
                    continue
                label = self._label(condition)
                pipeline = self.context.pipeline(condition.pipeline_id)
                alert_id = opened[condition.subject_key]
                events.append(
                    self._event(rule, alert_id, condition.pipeline_id, label, EventKind.FIRED)
                )
                events[-1].note = condition.summary
                payload = build_payload(
                    rule=rule,
                    state="firing",
                    pipeline=pipeline,
                    pipeline_label=label,
                    summary=condition.summary,
                    runs=self.context.runs_for(condition.run_ids),
                    since=now,
                    at=now,
                    incident=self.context.subject(condition.subject_key, label),
                )
                notifications.append(
                    self._notification(rule, alert_id, condition.pipeline_id, label, payload)
                )
            for alert in resolved:
                if alert.pk not in closed:
                    continue
                events.append(
                    self._event(
                        rule, alert.pk, alert.pipeline_id, alert.subject_label, EventKind.RESOLVED
                    )
                )
                payload = build_payload(
                    rule=rule,
                    state="resolved",
                    pipeline=self.context.pipeline(alert.pipeline_id),
                    pipeline_label=alert.subject_label,
                    summary=f"resolved (was: {alert.summary})",
                    runs=self.context.runs_for(alert.run_ids),
                    since=alert.fired_at,
                    at=now,
                    incident=self.context.subject(alert.subject_key, alert.subject_label),
                )
                notifications.append(
                    self._notification(
                        rule, alert.pk, alert.pipeline_id, alert.subject_label, payload
                    )
                )
            AlertEvent.objects.bulk_create(events)
            Notification.objects.bulk_create(notifications)
        return set(opened), closed

    def _event(
        self,
        rule: AlertRule,
        alert_id: int,
        pipeline_id: int | None,
        label: str,
        kind: str,
    ) -> AlertEvent:
        return AlertEvent(
            alert_id=alert_id,
            rule_id=rule.pk,
            client_id=rule.client_id,
            pipeline_id=pipeline_id,
            subject_label=label,
            kind=kind,
            at=self.now,
        )

    def _notification(
        self,
        rule: AlertRule,
        alert_id: int,
        pipeline_id: int | None,
        label: str,
        payload: dict,
        *,
        state: str | None = None,
    ) -> Notification:
        silenced_until = self.silenced_until(rule.pk, pipeline_id)
        return Notification(
            alert_id=alert_id,
            rule_id=rule.pk,
            pipeline_id=pipeline_id,
            subject_label=label,
            state=state or payload["state"],
            channel=rule.channel,
            payload=payload,
            status=NotificationStatus.SUPPRESSED if silenced_until else NotificationStatus.PENDING,
            error=f"silenced until {silenced_until:%Y-%m-%d %H:%M} UTC" if silenced_until else "",
            created_at=self.now,
        )

    def queue_reminders(self, rules: list[AlertRule]) -> int:
        """Queue a reminder for each alert still firing, unacknowledged, not silenced, whose
        last notification is older than ``CHM_ALERTS_REMIND_AFTER_MINUTES``."""
        minutes = settings.CHM_ALERTS_REMIND_AFTER_MINUTES
        if not minutes:
            return 0
        by_pk = {rule.pk: rule for rule in rules}
        due = AlertState.objects.open().filter(
            rule__in=list(by_pk),
            acknowledged_at__isnull=True,
            last_notified_at__lte=self.now - dt.timedelta(minutes=minutes),
        )
        if self.scope is not None:
            due = due.filter(pipeline_id__in=self.scope)
        candidates = [
            alert
            for alert in due
            if self._watched(alert.pipeline_id)
            and not self.silenced_until(alert.rule_id, alert.pipeline_id)
        ]
        if not candidates:
            return 0
        reminded = 0
        with transaction.atomic():
            # Matches only the alerts nobody reminded of, acknowledged or resolved since they
            # were read: of two evaluators, one queues each reminder.
            # (Row locks re-check the condition on the row another evaluator just wrote.)
            unchanged = Q()
            for alert in candidates:
                unchanged |= Q(pk=alert.pk, last_notified_at=alert.last_notified_at)
            won = set(
                AlertState.objects.filter(unchanged)
                .filter(resolved_at__isnull=True, acknowledged_at__isnull=True)
                .select_for_update()
                .values_list("pk", flat=True)
            )
            AlertState.objects.filter(pk__in=won).update(last_notified_at=self.now)
            self.context.fetch(
                {a.pipeline_id for a in candidates if a.pipeline_id is not None},
                {run_id for a in candidates for run_id in a.run_ids},
                [a.subject_key for a in candidates if a.pk in won],
            )
            events, notifications = [], []
            for alert in candidates:
                if alert.pk not in won:
                    continue
                rule = by_pk[alert.rule_id]
                payload = build_payload(
                    rule=rule,
                    state="firing",
                    pipeline=self.context.pipeline(alert.pipeline_id),
                    pipeline_label=alert.subject_label,
                    summary=f"still firing: {alert.summary}",
                    runs=self.context.runs_for(alert.run_ids),
                    since=alert.fired_at,
                    at=self.now,
                    incident=self.context.subject(alert.subject_key, alert.subject_label),
                )
                payload["reminder"] = True
                events.append(
                    self._event(
                        rule, alert.pk, alert.pipeline_id, alert.subject_label, EventKind.REMINDED
                    )
                )
                notifications.append(
                    self._notification(
                        rule,
                        alert.pk,
                        alert.pipeline_id,
                        alert.subject_label,
                        payload,
                        state="reminder",
                    )
                )
                reminded += 1
            AlertEvent.objects.bulk_create(events)
            Notification.objects.bulk_create(notifications)
        return reminded


def _pipeline_of(subject_key: str) -> int | None:
    kind, _, value = subject_key.partition(":")
    return int(value) if kind == "pipeline" and value.isdigit() else None
