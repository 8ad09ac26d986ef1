"""Staff roles, as Django groups: what each kind of staff user may see and do.

- **CHM viewers** read everything: the pages, the dashboards, the read API, the admin (read
  only, webhook URLs redacted).
- **CHM operators** also keep pipelines and alert rules up to date, edit clients, send test
  notifications, acknowledge firing alerts, silence rules and pipelines, and schedule
  maintenance windows (and end silences and windows early).
- **CHM admins** also add and delete clients, rotate ingestion keys (and see the new key once),
  and manage staff users and their API tokens.

Every staff user needs ``is_staff`` (Django's door to the admin) and one of these groups; staff
without a role see nothing. The groups are defined here, in code, and set to exactly these
permissions after every ``migrate`` (a post_migrate receiver, as Django creates permissions
themselves): a permission granted to a group by hand is taken away again at the next migrate.
tests/integration/test_permission_matrix.py checks every page, admin action and API endpoint
against every role.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions

from runs.permissions import VIEW_RUNS

VIEWERS = "CHM viewers"
OPERATORS = "CHM operators"
ADMINS = "CHM admins"

_VIEW = [
    "inventory.view_client",
    "inventory.view_pipeline",
    VIEW_RUNS,
    "alerts.view_alertrule",
    # Alert state and history: operational records, read-only everywhere.
    "alerts.view_alertstate",
    "alerts.view_alertevent",
    "alerts.view_notification",
    "alerts.view_silence",
    "alerts.view_maintenancewindow",
]
_OPERATE = [
    "inventory.change_client",
    "inventory.add_pipeline",
    "inventory.change_pipeline",
    "inventory.delete_pipeline",
    "alerts.add_alertrule",
    "alerts.change_alertrule",
    "alerts.delete_alertrule",
    "alerts.send_test_notification",
    # The alert pages' actions (web/alert_views.py).
    "alerts.acknowledge_alertstate",
    "alerts.add_silence",
    "alerts.change_silence",
    "alerts.add_maintenancewindow",
    "alerts.change_maintenancewindow",
]
_ADMINISTER = [
    "inventory.add_client",
    "inventory.delete_client",
    "inventory.rotate_client_key",
    "auth.view_user",
    "auth.add_user",
    "auth.change_user",
    "auth.delete_user",
    "auth.view_group",
    "authtoken.view_tokenproxy",
    "authtoken.add_tokenproxy",
    "authtoken.delete_tokenproxy",
]
ROLES: dict[str, list[str]] = {
    VIEWERS: _VIEW,
    OPERATORS: _VIEW + _OPERATE,
    ADMINS: _VIEW + _OPERATE + _ADMINISTER,
}


def sync_roles(*, apps: Any = global_apps, using: str = "default", **kwargs: Any) -> None:
    """Create the role groups and give each exactly its permissions (a post_migrate receiver)."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    app_labels = {name.split(".")[0] for names in ROLES.values() for name in names}
    # The permissions of models whose app migrated after the sender may not exist yet.
    for label in app_labels:
        create_permissions(global_apps.get_app_config(label), verbosity=0, using=using, apps=apps)
    for role, names in ROLES.items():
        wanted = set()
        for name in names:
            app_label, codename = name.split(".")
            wanted.add(
                Permission.objects.using(using).get(
                    content_type__app_label=app_label, codename=codename
                )
            )
        group, _ = Group.objects.using(using).get_or_create(name=role)
        group.permissions.set(wanted)
