"""What staff did from the admin, kept where both the admin and operators look."""

from __future__ import annotations

import logging

from django.contrib import admin
from django.db import models
from django.http import HttpRequest

logger = logging.getLogger("chm.audit")


def record_admin_action(
    model_admin: admin.ModelAdmin, request: HttpRequest, obj: models.Model, message: str
) -> None:
    """Record ``message`` about ``obj``: in its admin history ("History" on its page, with the
    user and the time) and in the log (logger ``chm.audit``)."""
    model_admin.log_change(request, obj, message)
    logger.info(
        "staff user %s, on %s %s: %s",
        request.user.get_username(),
        obj._meta.verbose_name,
        obj,
        message,
    )
