"""Alert state in tables of its own instead of JSON on the rule.

- ``AlertState``: one open row per (rule, subject) while a rule fires; ``AlertEvent``: the
  history of transitions and staff actions; ``Notification``: one row per notification and
  its delivery (the outbox while pending); ``Silence`` and ``MaintenanceWindow``.
- Slack joins the channels.
- The rules' JSON state moves into the new tables: each firing entry becomes an open alert
  (with its "fired" event), each queued notification a pending row, the last delivered one a
  delivered row. The reverse writes open alerts and pending rows back as JSON.
- Q6 triage (v3) and Q10 governance (v2, per pipeline and per client) read the new tables,
  with the same columns (Q6 adds acknowledged_rules and silenced_rules); their reverse
  restores the versions that read the JSON. Then the JSON fields go.
"""

import datetime as dt
from pathlib import Path

import django.contrib.postgres.fields
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from psycopg import sql

# The SQL files of the reporting views live with the others, under runs/sql/views/.
VIEWS_DIR = Path(__file__).resolve().parents[2] / "runs" / "sql" / "views"


def view_file(name: str) -> str:
    return (VIEWS_DIR / f"{name}.sql").read_text()


def replacing(name: str) -> str:
    """A view's file as CREATE OR REPLACE: the views reading it stay in place, the grant too."""
    return view_file(name).replace("CREATE VIEW", "CREATE OR REPLACE VIEW", 1)


def grant_triage(apps, schema_editor) -> None:
    # Q6 v2 is re-created (a view cannot drop columns in place): grant it again.
    connection = schema_editor.connection
    statement = sql.SQL("GRANT SELECT ON reporting.q06_triage TO {}").format(
        sql.Identifier(settings.CHM_REPORTING_ROLE)
    )
    with connection.cursor() as cursor:
        cursor.execute(statement.as_string(connection.connection))


def _parse(value, default):
    if not value:
        return default
    try:
        parsed = dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return default
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def json_state_to_tables(apps, schema_editor) -> None:
    AlertRule = apps.get_model("alerts", "AlertRule")
    AlertState = apps.get_model("alerts", "AlertState")
    AlertEvent = apps.get_model("alerts", "AlertEvent")
    Notification = apps.get_model("alerts", "Notification")
    Pipeline = apps.get_model("inventory", "Pipeline")
    now = dt.datetime.now(dt.UTC)
    for rule in AlertRule.objects.order_by("pk").iterator():
        existing = set(
            Pipeline.objects.filter(
                pk__in=[int(key) for key in rule.firing if str(key).isdigit()]
            ).values_list("pk", flat=True)
        )
        alerts = {}
        for key, entry in sorted(rule.firing.items()):
            if not str(key).isdigit():
                continue
            pipeline_id = int(key) if int(key) in existing else None
            fired_at = _parse(entry.get("since"), rule.last_evaluated_at or now)
            alert = AlertState.objects.create(
                rule=rule,
                pipeline_id=pipeline_id,
                subject_key=f"pipeline:{key}",
                subject_label=entry.get("pipeline") or f"pipeline {key}",
                summary=entry.get("summary", ""),
                run_ids=[int(pk) for pk in entry.get("run_ids", [])],
                fired_at=fired_at,
                last_notified_at=fired_at,
            )
            alerts[int(key)] = alert
            AlertEvent.objects.create(
                alert=alert,
                rule=rule,
                client_id=rule.client_id,
                pipeline_id=pipeline_id,
                subject_label=alert.subject_label,
                kind="fired",
                at=fired_at,
                note=alert.summary,
            )
        for item in rule.pending_notifications:
            payload = item.get("payload") or {}
            pipeline_key = item.get("pipeline_id")
            alert = alerts.get(pipeline_key) if isinstance(pipeline_key, int) else None
            Notification.objects.create(
                alert=alert,
                rule=rule,
                pipeline_id=pipeline_key if pipeline_key in existing else None,
                subject_label=(payload.get("pipeline") or {}).get("slug") or "",
                state=item.get("state", "firing"),
                channel=rule.channel,
                payload=payload,
                status="pending",
                attempts=item.get("attempts", 0),
                error=item.get("last_error", ""),
                created_at=_parse(item.get("queued_at"), now),
            )
        last = rule.last_notification
        if rule.last_notified_at and last:
            Notification.objects.create(
                rule=rule,
                subject_label=last.get("pipeline", ""),
                state=last.get("state", "firing"),
                channel=last.get("channel") or rule.channel,
                payload={
                    "notification_id": last.get("id", ""),
                    "state": last.get("state", ""),
                    "summary": last.get("summary", ""),
                    "pipeline": {"slug": last.get("pipeline", "")},
                },
                status="delivered",
                attempts=1,
                created_at=rule.last_notified_at,
                sent_at=rule.last_notified_at,
            )


def tables_to_json_state(apps, schema_editor) -> None:
    AlertRule = apps.get_model("alerts", "AlertRule")
    AlertState = apps.get_model("alerts", "AlertState")
    Notification = apps.get_model("alerts", "Notification")
    for rule in AlertRule.objects.order_by("pk").iterator():
        firing = {
            alert.subject_key.partition(":")[2]: {
                "since": alert.fired_at.isoformat(),
                "summary": alert.summary,
                "run_ids": list(alert.run_ids),
                "pipeline": alert.subject_label,
            }
            for alert in AlertState.objects.filter(
                rule=rule, resolved_at__isnull=True, subject_key__startswith="pipeline:"
            )
        }
        pending = [
            {
                "id": n.payload.get("notification_id", str(n.pk)),
                "state": n.payload.get("state", n.state),
                "pipeline_id": n.pipeline_id,
                "queued_at": n.created_at.isoformat(),
                "attempts": n.attempts,
                "lease_until": None,
                "last_error": n.error,
                "payload": n.payload,
            }
            for n in Notification.objects.filter(rule=rule, status="pending").order_by("pk")
        ]
        AlertRule.objects.filter(pk=rule.pk).update(
            firing=firing, pending_notifications=pending, state_version=1
        )


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0004_staff_permissions"),
        ("inventory", "0002_staff_permissions"),
        # The reporting views replaced below were last changed there.
        ("runs", "0017_writers_keep_derived_state"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="AlertEvent",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("subject_label", models.CharField(blank=True, max_length=300)),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("fired", "Fired"),
                            ("resolved", "Resolved"),
                            ("acknowledged", "Acknowledged"),
                            ("reminded", "Reminder queued"),
                            ("silenced", "Silenced"),
                            ("silence_ended", "Silence ended"),
                            ("maintenance", "Maintenance scheduled"),
                            ("maintenance_ended", "Maintenance ended"),
                        ],
                        max_length=32,
                    ),
                ),
                ("at", models.DateTimeField()),
                ("note", models.TextField(blank=True)),
            ],
            options={
                "ordering": ["-at", "-pk"],
            },
        ),
        migrations.CreateModel(
            name="AlertState",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("subject_key", models.CharField(max_length=200)),
                ("subject_label", models.CharField(max_length=300)),
                ("summary", models.TextField(blank=True)),
                (
                    "run_ids",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.BigIntegerField(), blank=True, default=list, size=None
                    ),
                ),
                ("fired_at", models.DateTimeField()),
                ("acknowledged_at", models.DateTimeField(blank=True, null=True)),
                ("resolved_at", models.DateTimeField(blank=True, null=True)),
                ("last_notified_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={
                "ordering": ["-fired_at", "-pk"],
                "permissions": [("acknowledge_alertstate", "Can acknowledge a firing alert")],
            },
        ),
        migrations.CreateModel(
            name="MaintenanceWindow",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("starts_at", models.DateTimeField()),
                ("ends_at", models.DateTimeField()),
                ("reason", models.TextField(blank=True)),
                ("created_at", models.DateTimeField()),
            ],
            options={
                "ordering": ["-starts_at", "-pk"],
            },
        ),
        migrations.CreateModel(
            name="Notification",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("subject_label", models.CharField(blank=True, max_length=300)),
                ("state", models.CharField(max_length=16)),
                (
                    "channel",
                    models.CharField(
                        choices=[("email", "Email"), ("webhook", "Webhook"), ("slack", "Slack")],
                        max_length=16,
                    ),
                ),
                ("payload", models.JSONField()),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("pending", "Waiting for delivery"),
                            ("delivered", "Delivered"),
                            ("suppressed", "Not sent (silenced)"),
                            ("dropped", "Dropped (too many undelivered)"),
                        ],
                        default="pending",
                        max_length=16,
                    ),
                ),
                ("attempts", models.PositiveIntegerField(default=0)),
                ("response_code", models.PositiveSmallIntegerField(blank=True, null=True)),
                ("error", models.TextField(blank=True)),
                ("created_at", models.DateTimeField()),
                ("lease_until", models.DateTimeField(blank=True, null=True)),
                ("sent_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={
                "ordering": ["-created_at", "-pk"],
            },
        ),
        migrations.CreateModel(
            name="Silence",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("starts_at", models.DateTimeField()),
                ("ends_at", models.DateTimeField()),
                ("reason", models.TextField(blank=True)),
                ("created_at", models.DateTimeField()),
            ],
            options={
                "ordering": ["-ends_at", "-pk"],
            },
        ),
        migrations.RemoveConstraint(
            model_name="alertrule",
            name="alertrule_channel_known",
        ),
        migrations.RemoveConstraint(
            model_name="alertrule",
            name="alertrule_webhook_http",
        ),
        migrations.AlterField(
            model_name="alertrule",
            name="channel",
            field=models.CharField(
                choices=[("email", "Email"), ("webhook", "Webhook"), ("slack", "Slack")],
                default="email",
                max_length=16,
            ),
        ),
        migrations.AddConstraint(
            model_name="alertrule",
            constraint=models.CheckConstraint(
                condition=models.Q(("channel__in", ["email", "webhook", "slack"])),
                name="alertrule_channel_known",
            ),
        ),
        migrations.AddConstraint(
            model_name="alertrule",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("channel__in", ("webhook", "slack")), _negated=True),
                    ("target__iregex", "^https?://"),
                    _connector="OR",
                ),
                name="alertrule_webhook_http",
            ),
        ),
        migrations.AddField(
            model_name="alertevent",
            name="actor",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="alertevent",
            name="client",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="alert_events",
                to="inventory.client",
            ),
        ),
        migrations.AddField(
            model_name="alertevent",
            name="pipeline",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="alert_events",
                to="inventory.pipeline",
            ),
        ),
        migrations.AddField(
            model_name="alertevent",
            name="rule",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="events",
                to="alerts.alertrule",
            ),
        ),
        migrations.AddField(
            model_name="alertstate",
            name="acknowledged_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="alertstate",
            name="pipeline",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="alerts",
                to="inventory.pipeline",
            ),
        ),
        migrations.AddField(
            model_name="alertstate",
            name="rule",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="alerts",
                to="alerts.alertrule",
            ),
        ),
        migrations.AddField(
            model_name="alertevent",
            name="alert",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="events",
                to="alerts.alertstate",
            ),
        ),
        migrations.AddField(
            model_name="maintenancewindow",
            name="client",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="maintenance_windows",
                to="inventory.client",
            ),
        ),
        migrations.AddField(
            model_name="maintenancewindow",
            name="created_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="maintenancewindow",
            name="pipeline",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="maintenance_windows",
                to="inventory.pipeline",
            ),
        ),
        migrations.AddField(
            model_name="notification",
            name="alert",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="notifications",
                to="alerts.alertstate",
            ),
        ),
        migrations.AddField(
            model_name="notification",
            name="pipeline",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="alert_notifications",
                to="inventory.pipeline",
            ),
        ),
        migrations.AddField(
            model_name="notification",
            name="rule",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="notifications",
                to="alerts.alertrule",
            ),
        ),
        migrations.AddField(
            model_name="silence",
            name="created_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="silence",
            name="pipeline",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="silences",
                to="inventory.pipeline",
            ),
        ),
        migrations.AddField(
            model_name="silence",
            name="rule",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="silences",
                to="alerts.alertrule",
            ),
        ),
        migrations.AddIndex(
            model_name="alertstate",
            index=models.Index(
                condition=models.Q(("resolved_at__isnull", True)),
                fields=["pipeline"],
                name="alertstate_open_by_pipeline",
            ),
        ),
        migrations.AddConstraint(
            model_name="alertstate",
            constraint=models.UniqueConstraint(
                condition=models.Q(("resolved_at__isnull", True)),
                fields=("rule", "subject_key"),
                name="alertstate_one_open_per_subject",
            ),
        ),
        migrations.AddConstraint(
            model_name="alertstate",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("resolved_at__isnull", True),
                    ("resolved_at__gte", models.F("fired_at")),
                    _connector="OR",
                ),
                name="alertstate_resolved_after_fired",
            ),
        ),
        migrations.AddIndex(
            model_name="alertevent",
            index=models.Index(fields=["rule", "-at"], name="alertevent_rule_at"),
        ),
        migrations.AddIndex(
            model_name="alertevent",
            index=models.Index(fields=["pipeline", "-at"], name="alertevent_pipeline_at"),
        ),
        migrations.AddIndex(
            model_name="alertevent",
            index=models.Index(fields=["-at"], name="alertevent_at"),
        ),
        migrations.AddConstraint(
            model_name="alertevent",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    (
                        "kind__in",
                        [
                            "fired",
                            "resolved",
                            "acknowledged",
                            "reminded",
                            "silenced",
                            "silence_ended",
                            "maintenance",
                            "maintenance_ended",
                        ],
                    )
                ),
                name="alertevent_kind_known",
            ),
        ),
        migrations.AddIndex(
            model_name="maintenancewindow",
            index=models.Index(fields=["ends_at"], name="maintenance_ends_at"),
        ),
        migrations.AddConstraint(
            model_name="maintenancewindow",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("client__isnull", False), ("pipeline__isnull", True)),
                    models.Q(("client__isnull", True), ("pipeline__isnull", False)),
                    _connector="OR",
                ),
                name="maintenance_client_or_pipeline",
            ),
        ),
        migrations.AddConstraint(
            model_name="maintenancewindow",
            constraint=models.CheckConstraint(
                condition=models.Q(("ends_at__gt", models.F("starts_at"))),
                name="maintenance_ends_after_start",
            ),
        ),
        migrations.AddIndex(
            model_name="notification",
            index=models.Index(
                condition=models.Q(("status", "pending")),
                fields=["rule", "id"],
                name="notification_pending",
            ),
        ),
        migrations.AddIndex(
            model_name="notification",
            index=models.Index(fields=["alert"], name="notification_alert"),
        ),
        migrations.AddConstraint(
            model_name="notification",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("status__in", ["pending", "delivered", "suppressed", "dropped"])
                ),
                name="notification_status_known",
            ),
        ),
        migrations.AddIndex(
            model_name="silence",
            index=models.Index(fields=["ends_at"], name="silence_ends_at"),
        ),
        migrations.AddConstraint(
            model_name="silence",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("rule__isnull", False), ("pipeline__isnull", False), _connector="OR"
                ),
                name="silence_has_a_subject",
            ),
        ),
        migrations.AddConstraint(
            model_name="silence",
            constraint=models.CheckConstraint(
                condition=models.Q(("ends_at__gt", models.F("starts_at"))),
                name="silence_ends_after_start",
            ),
        ),
        migrations.RunPython(json_state_to_tables, tables_to_json_state),
        migrations.RunPython(migrations.RunPython.noop, grant_triage),
        migrations.RunSQL(
            sql=view_file("q06_triage_v3"),
            reverse_sql=["DROP VIEW reporting.q06_triage", view_file("q06_triage_v2")],
        ),
        migrations.RunSQL(
            sql=view_file("q10_governance_v2"),
            reverse_sql=replacing("q10_governance"),
        ),
        migrations.RunSQL(
            sql=view_file("q10_governance_by_client_v2"),
            reverse_sql=replacing("q10_governance_by_client"),
        ),
        migrations.RemoveField(
            model_name="alertrule",
            name="firing",
        ),
        migrations.RemoveField(
            model_name="alertrule",
            name="last_delivery_error",
        ),
        migrations.RemoveField(
            model_name="alertrule",
            name="last_notification",
        ),
        migrations.RemoveField(
            model_name="alertrule",
            name="last_notified_at",
        ),
        migrations.RemoveField(
            model_name="alertrule",
            name="pending_notifications",
        ),
        migrations.RemoveField(
            model_name="alertrule",
            name="state_version",
        ),
    ]
