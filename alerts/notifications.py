"""Notification payloads and their delivery from each rule's outbox.

A transition queues its notification in ``AlertRule.pending_notifications`` (see
``alerts.evaluation``). Delivery runs after commit and never inside a transaction: an
evaluator claims a rule's due notifications with a short lease (compare-and-swap on
``state_version``), sends them in order, then removes the delivered ones. A failure keeps the
notification, with its error, for the next evaluation; a crashed evaluator's lease expires and
the next one retries. Of two evaluators, only the one whose claim matched sends.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from alerts import webhooks
from alerts.models import AlertRule, Channel, email_recipients
from inventory.models import Pipeline
from runs.models import Run

logger = logging.getLogger(__name__)

CAS_ATTEMPTS = 5
# Notifications sent for one rule per evaluation; the rest wait for the next one.
MAX_PER_ROUND = 20
# A claimed notification is not sent by anybody else for this long. Longer than the worst
# case of one round (MAX_PER_ROUND sends, each with its timeout), so that a slow evaluator
# never races a second one; short enough that a crashed evaluator's claim soon lapses.
LEASE = dt.timedelta(minutes=15)
ERROR_MESSAGE_CHARS = 500


class DeliveryError(Exception):
    """A notification could not be delivered (after its retries)."""


@dataclass
class DeliveryReport:
    delivered: int = 0
    failed: int = 0

    def __str__(self) -> str:
        text = f"{self.delivered} notification(s) delivered"
        if self.failed:
            text += f", {self.failed} failed (kept for the next evaluation)"
        return text


def _absolute(path: str) -> str:
    return f"{settings.CHM_BASE_URL}{path}"


def pipeline_url(pipeline_id: int) -> str:
    return _absolute(reverse("runs:pipeline-detail", args=[pipeline_id]))


def _run_data(run: Run) -> dict:
    return {
        "id": run.pk,
        "external_run_id": run.external_run_id,
        "status": run.status,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "error_message": run.error_message[:ERROR_MESSAGE_CHARS],
    }


def build_payload(
    *,
    rule: AlertRule,
    state: str,
    pipeline: Pipeline | None,
    pipeline_label: str,
    summary: str,
    runs: list[Run],
    since: dt.datetime | None,
    at: dt.datetime,
) -> dict:
    """The JSON document a webhook receives (and an email is written from).

    ``pipeline`` is None only when a resolved pipeline has since been deleted; the label
    recorded when it fired still names it.
    """
    client = rule.client
    pipeline_data = (
        {
            "id": pipeline.pk,
            "slug": pipeline.slug,
            "name": pipeline.display_name,
            "platform": pipeline.platform,
            "owner": pipeline.owner,
            "url": pipeline_url(pipeline.pk),
        }
        if pipeline is not None
        else {"id": None, "slug": pipeline_label, "name": pipeline_label, "url": None}
    )
    link = pipeline_data["url"] or _absolute(
        reverse("admin:alerts_alertrule_change", args=[rule.pk])
    )
    headline = f"{state.upper()} [{rule.severity}] {client.name} / {pipeline_data['name']}"
    text = f"{_slack_escape(f'{headline} — {rule.name}: {summary}')} <{link}|Open in CHM>"
    return {
        "notification_id": uuid.uuid4().hex,
        "state": state,
        "text": text,
        "summary": summary,
        "rule": {
            "id": rule.pk,
            "name": rule.name,
            "kind": rule.kind,
            "threshold": rule.threshold,
            "window_minutes": rule.window_minutes,
            "min_runs": rule.min_runs,
            "severity": rule.severity,
            "scope": rule.scope,
            "url": _absolute(reverse("admin:alerts_alertrule_change", args=[rule.pk])),
        },
        "client": {"id": client.pk, "slug": client.slug, "name": client.name},
        "pipeline": pipeline_data,
        "triggering_runs": [_run_data(run) for run in runs],
        "firing_since": since.isoformat() if since else None,
        "at": at.isoformat(),
    }


def _slack_escape(text: str) -> str:
    # Slack reads <…> as links and mentions: names and error texts must not open one.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _email_subject(payload: dict) -> str:
    subject = (
        f"[CHM] {payload['state'].upper()} {payload['rule']['severity']}: "
        f"{payload['client']['name']} / {payload['pipeline']['name']} — {payload['rule']['name']}"
    )
    # A line break in a name would make Django refuse the header (and the email, each time).
    return " ".join(subject.split())


def _email_body(payload: dict) -> str:
    lines = [
        f"Rule:     {payload['rule']['name']} ({payload['rule']['kind']}, "
        f"threshold {payload['rule']['threshold']}, {payload['rule']['severity']})",
        f"Client:   {payload['client']['name']} ({payload['client']['slug']})",
        f"Pipeline: {payload['pipeline']['name']} ({payload['pipeline']['slug']})",
        f"State:    {payload['state']}",
        f"Why:      {payload['summary']}",
    ]
    if payload["firing_since"]:
        lines.append(f"Since:    {payload['firing_since']}")
    if payload["pipeline"]["url"]:
        lines.append(f"Pipeline page: {payload['pipeline']['url']}")
    lines.append(f"Rule: {payload['rule']['url']}")
    if payload["triggering_runs"]:
        lines += ["", "Runs:"]
        for run in payload["triggering_runs"]:
            line = f"  - {run['external_run_id']}: {run['status']}, started {run['started_at']}"
            if run["error_message"]:
                line += f" — {run['error_message']}"
            lines.append(line)
    return "\n".join(lines) + "\n"


def _with_retries(send_once: Callable[[], None]) -> None:
    """Try a few times with a doubling pause; the last error becomes a ``DeliveryError``."""
    attempts = max(1, settings.CHM_ALERTS_DELIVERY_ATTEMPTS)
    for attempt in range(1, attempts + 1):
        try:
            send_once()
            return
        except _Permanent as exc:
            raise DeliveryError(str(exc)) from exc
        except DeliveryError:
            if attempt == attempts:
                raise
        time.sleep(settings.CHM_ALERTS_RETRY_BACKOFF * 2 ** (attempt - 1))


class _Permanent(DeliveryError):
    """Trying again right away will not help (a 4xx answer, a refused address)."""


def _post_webhook(url: str, payload: dict) -> None:
    result = webhooks.post_json(
        url,
        payload,
        deadline_seconds=settings.CHM_ALERTS_WEBHOOK_TIMEOUT,
        secret=settings.CHM_WEBHOOK_SECRET,
        headers={"X-CHM-Notification-Id": payload["notification_id"]},
    )
    if result.delivered:
        return
    if result.retry:
        raise DeliveryError(result.error)
    raise _Permanent(result.error)


def _send_email(target: str, payload: dict) -> None:
    try:
        recipients = email_recipients(target)
    except ValidationError as exc:
        raise _Permanent(f"refused email target {target!r}: {exc.messages[0]}") from exc
    message = EmailMessage(
        subject=_email_subject(payload),
        body=_email_body(payload),
        to=recipients,
        headers={"X-CHM-Notification-Id": payload["notification_id"]},
    )
    try:
        message.send()
    except OSError as exc:  # smtplib's errors are OSErrors, as are refused connections
        raise DeliveryError(f"email to {', '.join(recipients)}: {exc}") from exc


def send_notification(rule: AlertRule, payload: dict) -> None:
    """Send one payload through the rule's channel now; ``DeliveryError`` when it fails."""
    if rule.channel == Channel.WEBHOOK:
        _with_retries(lambda: _post_webhook(rule.target, payload))
    else:
        _with_retries(lambda: _send_email(rule.target, payload))


def send_test_notification(rule: AlertRule) -> None:
    """Send a notification that says it is a test, straight away and outside the outbox."""
    now = timezone.now()
    pipeline = rule.pipeline or rule.client.pipelines.order_by("slug").first()
    payload = build_payload(
        rule=rule,
        state="test",
        pipeline=pipeline,
        pipeline_label=str(pipeline) if pipeline else "(no pipeline)",
        summary="a test notification sent from the CHM admin; nothing is wrong",
        runs=[],
        since=None,
        at=now,
    )
    send_notification(rule, payload)


def _leased(item: dict, now: dt.datetime) -> bool:
    lease = item.get("lease_until")
    return lease is not None and dt.datetime.fromisoformat(lease) > now


def _claim(rule: AlertRule) -> list[dict]:
    for _attempt in range(CAS_ATTEMPTS):
        now = timezone.now()
        pending = rule.pending_notifications
        # Someone is sending this rule's notifications right now: leave the rest to them
        # rather than send later ones ahead of earlier ones.
        if not pending or any(_leased(item, now) for item in pending):
            return []
        ids = {item["id"] for item in pending[:MAX_PER_ROUND]}
        lease_until = (now + LEASE).isoformat()
        claimed = [
            {**item, "lease_until": lease_until} if item["id"] in ids else item for item in pending
        ]
        changed = AlertRule.objects.filter(pk=rule.pk, state_version=rule.state_version).update(
            pending_notifications=claimed, state_version=F("state_version") + 1
        )
        if changed:
            return [item for item in claimed if item["id"] in ids]
        rule.refresh_from_db(fields=["pending_notifications", "state_version"])
    return []


def _settle(
    rule: AlertRule, claimed: list[dict], delivered: list[dict], failed: dict | None, error: str
) -> None:
    claimed_ids = {item["id"] for item in claimed}
    delivered_ids = {item["id"] for item in delivered}
    now = timezone.now()
    updates: dict = {"state_version": F("state_version") + 1}
    if delivered:
        last = delivered[-1]
        updates["last_notified_at"] = now
        updates["last_notification"] = {
            "id": last["id"],
            "state": last["state"],
            "pipeline": last["payload"]["pipeline"]["slug"],
            "channel": rule.channel,
            "sent_at": now.isoformat(),
            "summary": last["payload"]["summary"],
        }
    if failed is not None:
        updates["last_delivery_error"] = (
            f"{now:%Y-%m-%d %H:%M:%S} UTC: {failed['state']} notification for "
            f"{failed['payload']['pipeline']['slug']} (attempt {failed['attempts'] + 1}): "
            f"{error}; retried at the next evaluation"
        )
    elif delivered:
        updates["last_delivery_error"] = ""
    for _attempt in range(CAS_ATTEMPTS):
        pending = []
        for item in rule.pending_notifications:
            if item["id"] in delivered_ids:
                continue
            if item["id"] in claimed_ids:
                item = {**item, "lease_until": None}
                if failed is not None and item["id"] == failed["id"]:
                    item["attempts"] += 1
                    item["last_error"] = error
            pending.append(item)
        changed = AlertRule.objects.filter(pk=rule.pk, state_version=rule.state_version).update(
            pending_notifications=pending, **updates
        )
        if changed:
            return
        rule.refresh_from_db(fields=["pending_notifications", "state_version"])
    # The claim's lease lapses on its own and the next evaluation sends what is left (the
    # delivered ones a second time: at least once beats never).
    logger.error("alert rule %s: could not record the delivery outcome", rule.pk)


def deliver_pending_notifications(*, rule_ids: Collection[int] | None = None) -> DeliveryReport:
    """Send the queued notifications of every rule (or of ``rule_ids``).

    Never raises for a delivery failure: it is logged, recorded on the rule and retried at the
    next evaluation.
    """
    report = DeliveryReport()
    rules = AlertRule.objects.exclude(pending_notifications=[]).select_related("client")
    if rule_ids is not None:
        rules = rules.filter(pk__in=rule_ids)
    for rule in rules.order_by("pk"):
        claimed = _claim(rule)
        delivered: list[dict] = []
        failed, error = None, ""
        for item in claimed:
            try:
                send_notification(rule, item["payload"])
            except DeliveryError as exc:
                failed, error = item, str(exc)
                logger.warning(
                    "alert rule %s: %s notification %s not delivered: %s",
                    rule.pk,
                    item["state"],
                    item["id"],
                    error,
                )
                # The rest goes to the same target: keep their order, try again next time.
                break
            except Exception as exc:
                # A bug or an unexpected library error must not lose the notification either.
                failed, error = item, f"{type(exc).__name__}: {exc}"
                logger.exception("alert rule %s: notification %s failed", rule.pk, item["id"])
                break
            delivered.append(item)
        if claimed:
            _settle(rule, claimed, delivered, failed, error)
        report.delivered += len(delivered)
        report.failed += failed is not None
    return report
