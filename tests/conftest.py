from __future__ import annotations

import pytest

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


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user(
        username="oncall", password="not-a-real-password", is_staff=True, is_superuser=True
    )


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
