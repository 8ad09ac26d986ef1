from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.cache import caches

from chm_project.roles import ADMINS
from tests.factories import ClientFactory, PipelineFactory
from tests.support.view_versions import drop_temporary_versions

# Fixtures of a real loopback HTTP server that receives alert webhooks.
pytest_plugins = ["tests.webhook_server"]


@pytest.fixture(autouse=True)
def _drop_temporary_view_versions():
    """Earlier versions of a view installed by a test (tests/support/view_versions.py) are
    dropped after it, whatever kind of database test it was."""
    yield
    drop_temporary_versions()


@pytest.fixture(autouse=True)
def _fresh_rate_limit_counts():
    """Every test starts with no rate-limit counts (an in-process cache under pytest)."""
    caches["ratelimit"].clear()


def staff_with_role(django_user_model, username: str, role: str | None):
    """A staff user (not a superuser) in the ``role`` group, or in none."""
    # No password: tests log in with force_login, and hashing one costs a third of a second.
    user = django_user_model.objects.create_user(username=username, is_staff=True)
    if role is not None:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def staff_user(django_user_model):
    """The on-call staff user of most tests: a CHM admin, not a superuser."""
    return staff_with_role(django_user_model, "oncall", ADMINS)


@pytest.fixture
def staff_client(client, staff_user):
    """Django's test client, logged in as a staff user."""
    client.force_login(staff_user)
    return client


@pytest.fixture
def chm_client(db):
    """A CHM client (customer account) with its raw key on ``.raw_key``."""
    return ClientFactory(slug="acme", name="Acme")


@pytest.fixture
def pipeline(chm_client):
    return PipelineFactory(client=chm_client, slug="orders-etl")
