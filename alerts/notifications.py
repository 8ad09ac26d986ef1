"""Notification payloads, their formats (generic JSON webhook, Slack, email as text and HTML)
and their delivery from the outbox.

A transition queues a ``Notification`` row (see ``alerts.evaluation``). Delivery runs after
commit and never inside a transaction: an evaluator claims a rule's oldest pending
notification with a short lease (a conditional update on that row), sends it, records the
outcome on the row, and goes on with the next one. Of two evaluators, only the one whose claim
matched sends; the other leaves the rule's notifications to it, so that they go out in order.
A failure keeps the notification pending, with its error and response code, for the next
evaluation; a crashed evaluator's lease expires and the next one retries.
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
from django.core.mail import EmailMultiAlternatives
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from alerts import webhooks
from alerts.models import (
    AlertRule,
    Channel,
    Notification,
    NotificationStatus,
    email_recipients,
)
from inventory.models import Pipeline
from runs.models import Run
from runs.reporting import Incident

logger = logging.getLogger(__name__)

# Notifications sent for one rule per evaluation; the rest wait for the next one.
MAX_PER_ROUND = 20
# A claimed notification is not sent by anybody else for this long. Longer than the worst
# case of one send (its tries, each with its timeout), so that a slow evaluator never races a
# second one; short enough that a crashed evaluator's claim soon lapses.
LEASE = dt.timedelta(minutes=15)
ERROR_MESSAGE_CHARS = 500
# A rule keeps at most this many undelivered notifications (the oldest are marked dropped,
# with an error logged), so that a dead target cannot grow the outbox forever. Checked when a
# delivery fails: only then can the outbox grow.
MAX_PENDING_NOTIFICATIONS = 200


class DeliveryError(Exception):
    """A notification could not be delivered (after its retries). ``status`` is the
    receiver's HTTP status, when it answered."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


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


# How much of an incident's example error names it in a label or a headline.
INCIDENT_MESSAGE_CHARS = 120


def _incident_message(incident: Incident) -> str:
    """What the incident is about, in a line: its error's first line, or its platform."""
    if incident.kind == "platform":
        return f"{incident.platform} pipelines failing"
    first_line = next(
        (line.strip() for line in incident.example_error.splitlines() if line.strip()), ""
    )
    if len(first_line) > INCIDENT_MESSAGE_CHARS:
        first_line = first_line[: INCIDENT_MESSAGE_CHARS - 1] + "…"
    return first_line or "failures with one error"


def incident_label(incident: Incident) -> str:
    """How an alert about an incident is named: what it is about, and its counts."""
    return (
        f"{_incident_message(incident)} ({incident.pipelines} pipelines, "
        f"{incident.clients} client{'s' if incident.clients != 1 else ''})"
    )


def incident_data(key: str, incident: Incident | None, *, label: str) -> dict:
    """The payload's ``incident``: the incident as its page shows it now; once it has left
    the incident views (older than their 7 days), its key, link and recorded label only."""
    data: dict = {
        "key": key,
        "label": label,
        "url": _absolute(reverse("runs:incident-detail", args=[key])),
        "kind": None,
        "message": label,
        "platform": None,
        "pipelines": None,
        "clients": None,
        "since": None,
        "state": None,
    }
    if incident is not None:
        data.update(
            kind=incident.kind,
            message=_incident_message(incident),
            platform=incident.platform,
            pipelines=incident.pipelines,
            clients=incident.clients,
            since=incident.first_seen.isoformat(),
            state=incident.state,
        )
    return data


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
    incident: dict | None = None,
) -> dict:
    """The JSON document a webhook receives (and an email is written from).

    ``pipeline`` is None when a resolved pipeline has since been deleted (the label recorded
    when it fired still names it), and for an alert about an incident: then ``incident``
    (``incident_data``) says what it is, and the payload's ``pipeline`` is null.
    """
    client = rule.client
    pipeline_data: dict | None = (
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
    if incident is not None:
        pipeline_data = None
        link = incident["url"]
        subject = f"incident: {incident['label']}"
    else:
        link = pipeline_data["url"] or _absolute(
            reverse("admin:alerts_alertrule_change", args=[rule.pk])
        )
        subject = pipeline_data["name"]
    headline = f"{state.upper()} [{rule.severity}] {client.name} / {subject}"
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
            "condition": rule.condition,
            "url": _absolute(reverse("admin:alerts_alertrule_change", args=[rule.pk])),
            "history_url": _absolute(reverse("alerts:rule-history", args=[rule.pk])),
        },
        "client": {"id": client.pk, "slug": client.slug, "name": client.name},
        "pipeline": pipeline_data,
        "incident": incident,
        "triggering_runs": [_run_data(run) for run in runs],
        "firing_since": since.isoformat() if since else None,
        "at": at.isoformat(),
    }


def _slack_escape(text: str) -> str:
    # Slack reads <…> as links and mentions: names and error texts must not open one.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _last_error(payload: dict) -> str:
    """The newest error message among the runs that made it fire, or ""."""
    for run in payload["triggering_runs"]:
        if run["error_message"]:
            return run["error_message"]
    return ""


def _subject_name(payload: dict) -> str:
    """What the alert is about: the pipeline's name, or the incident's label."""
    incident = payload.get("incident")
    if incident:
        return f"incident: {incident['label']}"
    return payload["pipeline"]["name"]


def _link(payload: dict) -> str:
    """The page to open: the incident's, the pipeline's, or else the rule's."""
    incident = payload.get("incident")
    if incident:
        return incident["url"]
    return payload["pipeline"]["url"] or payload["rule"]["url"]


def _headline(payload: dict) -> str:
    state = "REMINDER: STILL FIRING" if payload.get("reminder") else payload["state"].upper()
    return (
        f"{state} [{payload['rule']['severity']}] {payload['client']['name']} / "
        f"{_subject_name(payload)} — {payload['rule']['name']}"
    )


def _subject_fields(payload: dict) -> list[str]:
    incident = payload.get("incident")
    if not incident:
        return [f"*Pipeline*\n{_slack_escape(payload['pipeline']['name'])}"]
    fields = [f"*Incident*\n{_slack_escape(incident['message'])}"]
    if incident["pipelines"] is not None:
        fields.append(
            f"*Involves*\n{incident['pipelines']} pipelines, {incident['clients']} client(s)"
        )
    if incident["since"]:
        fields.append(f"*Incident since*\n{incident['since'][:16].replace('T', ' ')} UTC")
    return fields


def slack_message(payload: dict) -> dict:
    """The payload as a Slack incoming webhook wants it: a fallback ``text`` and blocks with
    the pipeline (or the incident), the client, why it fires, the last error and a link to the
    pipeline's (or the incident's) page."""
    link = _link(payload)
    fields = [
        *_subject_fields(payload),
        f"*Client*\n{_slack_escape(payload['client']['name'])}",
        f"*Rule*\n{_slack_escape(payload['rule']['name'])} "
        f"({_slack_escape(payload['rule'].get('condition', ''))})",
        f"*Severity*\n{payload['rule']['severity']}",
    ]
    if payload["firing_since"]:
        fields.append(f"*Firing since*\n{payload['firing_since'][:16].replace('T', ' ')} UTC")
    blocks: list[dict] = [
        {
            "type": "header",
            # Plain text: no escaping, and Slack cuts headers at 150 characters.
            "text": {"type": "plain_text", "text": _headline(payload)[:150]},
        },
        {"type": "section", "text": {"type": "mrkdwn", "text": _slack_escape(payload["summary"])}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
    ]
    error = _last_error(payload)
    if error:
        # A ``` in the error would close the preformatted block early.
        quoted = _slack_escape(error).replace("```", "ʼʼʼ")
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*Last error*\n```{quoted}```"}}
        )
    blocks.append(
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Open in CHM"},
                    "url": link,
                }
            ],
        }
    )
    return {"text": payload["text"], "blocks": blocks}


def _email_subject(payload: dict) -> str:
    subject = f"[CHM] {_headline(payload)}"
    # A line break in a name would make Django refuse the header (and the email, each time).
    return " ".join(subject.split())


def _email_context(payload: dict) -> dict:
    return {"payload": payload, "headline": _headline(payload), "last_error": _last_error(payload)}


def _with_retries(send_once: Callable[[], int | None]) -> int | None:
    """Try a few times with a doubling pause; the last error becomes a ``DeliveryError``."""
    attempts = max(1, settings.CHM_ALERTS_DELIVERY_ATTEMPTS)
    for attempt in range(1, attempts + 1):
        try:
            return send_once()
        except _Permanent as exc:
            raise DeliveryError(str(exc), status=exc.status) from exc
        except DeliveryError:
            if attempt == attempts:
                raise
        time.sleep(settings.CHM_ALERTS_RETRY_BACKOFF * 2 ** (attempt - 1))
    return None


class _Permanent(DeliveryError):
    """Trying again right away will not help (a 4xx answer, a refused address)."""


def _post(url: str, document: dict, notification_id: str) -> int | None:
    result = webhooks.post_json(
        url,
        document,
        deadline_seconds=settings.CHM_ALERTS_WEBHOOK_TIMEOUT,
        secret=settings.CHM_WEBHOOK_SECRET,
        headers={"X-CHM-Notification-Id": notification_id},
    )
    if result.delivered:
        return result.status
    if result.retry:
        raise DeliveryError(result.error, status=result.status)
    raise _Permanent(result.error, status=result.status)


def _send_email(target: str, payload: dict) -> None:
    try:
        recipients = email_recipients(target)
    except ValidationError as exc:
        raise _Permanent(f"refused email target {target!r}: {exc.messages[0]}") from exc
    context = _email_context(payload)
    message = EmailMultiAlternatives(
        subject=_email_subject(payload),
        body=render_to_string("alerts/email/notification.txt", context),
        to=recipients,
        headers={"X-CHM-Notification-Id": payload["notification_id"]},
    )
    message.attach_alternative(
        render_to_string("alerts/email/notification.html", context), "text/html"
    )
    try:
        message.send()
    except OSError as exc:  # smtplib's errors are OSErrors, as are refused connections
        raise DeliveryError(f"email to {', '.join(recipients)}: {exc}") from exc


def send_notification(rule: AlertRule, payload: dict) -> int | None:
    """Send one payload through the rule's channel now; answers the receiver's HTTP status
    (None for email), raises ``DeliveryError`` when it fails."""
    notification_id = payload["notification_id"]
    if rule.channel == Channel.WEBHOOK:
        return _with_retries(lambda: _post(rule.target, payload, notification_id))
    if rule.channel == Channel.SLACK:
        message = slack_message(payload)
        return _with_retries(lambda: _post(rule.target, message, notification_id))
    return _with_retries(lambda: _send_email(rule.target, payload))


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


def _claim_next(rule_id: int) -> Notification | None:
    """The rule's oldest pending notification, leased to this evaluator; None when there is
    none, or when another evaluator holds it (that one sends the rest, in order)."""
    head = (
        Notification.objects.filter(rule_id=rule_id, status=NotificationStatus.PENDING)
        .order_by("pk")
        .first()
    )
    if head is None:
        return None
    now = timezone.now()
    claimed = (
        Notification.objects.filter(pk=head.pk, status=NotificationStatus.PENDING)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now))
        .update(lease_until=now + LEASE)
    )
    return head if claimed else None


def deliver_pending_notifications(*, rule_ids: Collection[int] | None = None) -> DeliveryReport:
    """Send the queued notifications of every rule (or of ``rule_ids``).

    Never raises for a delivery failure: it is logged, recorded on the notification and
    retried at the next evaluation.
    """
    report = DeliveryReport()
    pending = Notification.objects.filter(status=NotificationStatus.PENDING)
    if rule_ids is not None:
        pending = pending.filter(rule_id__in=rule_ids)
    waiting = sorted(set(pending.values_list("rule_id", flat=True)))
    rules = AlertRule.objects.select_related("client").in_bulk(waiting)
    for rule_id in waiting:
        rule = rules.get(rule_id)
        if rule is None:
            continue  # deleted meanwhile, with its notifications
        for _ in range(MAX_PER_ROUND):
            notification = _claim_next(rule_id)
            if notification is None:
                break
            status, error = None, ""
            try:
                status = send_notification(rule, notification.payload)
            except DeliveryError as exc:
                status, error = exc.status, str(exc)
                logger.warning(
                    "alert rule %s: %s notification %s not delivered: %s",
                    rule.pk,
                    notification.state,
                    notification.pk,
                    error,
                )
            except Exception as exc:
                # A bug or an unexpected library error must not lose the notification either.
                error = f"{type(exc).__name__}: {exc}"
                logger.exception("alert rule %s: notification %s failed", rule.pk, notification.pk)
            outcome: dict = {
                "attempts": F("attempts") + 1,
                "response_code": status,
                "channel": rule.channel,
                "lease_until": None,
            }
            if error:
                outcome["error"] = f"{error}; retried at the next evaluation"
            else:
                outcome.update(
                    status=NotificationStatus.DELIVERED, error="", sent_at=timezone.now()
                )
            Notification.objects.filter(pk=notification.pk).update(**outcome)
            if error:
                report.failed += 1
                _bound_outbox(rule)
                # The rest goes to the same target: keep their order, try again next time.
                break
            report.delivered += 1
    return report


def _bound_outbox(rule: AlertRule) -> None:
    pending = Notification.objects.filter(rule=rule, status=NotificationStatus.PENDING)
    extra = pending.count() - MAX_PENDING_NOTIFICATIONS
    if extra <= 0:
        return
    oldest = list(pending.order_by("pk").values_list("pk", flat=True)[:extra])
    Notification.objects.filter(pk__in=oldest, status=NotificationStatus.PENDING).update(
        status=NotificationStatus.DROPPED,
        error=f"dropped: more than {MAX_PENDING_NOTIFICATIONS} were waiting for delivery",
        lease_until=None,
    )
    logger.error("alert rule %s: %d undelivered notification(s) dropped", rule.pk, extra)
