from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ChmConfig(AppConfig):
    """The project itself as an app: its staff roles and its system checks."""

    name = "chm_project"
    label = "chm"
    verbose_name = "CHM"

    def ready(self) -> None:
        from chm_project import checks  # noqa: F401  (registers CHM's system checks)
        from chm_project.roles import sync_roles

        post_migrate.connect(sync_roles, sender=self, dispatch_uid="chm.sync_roles")
