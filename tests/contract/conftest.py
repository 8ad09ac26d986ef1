from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.factories import ClientFactory, PipelineFactory


@pytest.fixture
def api(chm_client) -> APIClient:
    """An API client sending the ``chm_client`` fixture's key."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {chm_client.raw_key}")
    return client


@pytest.fixture
def other_client(db):
    """A second CHM client, with a pipeline and its own key."""
    other = ClientFactory(slug="globex", name="Globex")
    PipelineFactory(client=other, slug="billing-sync")
    return other


@pytest.fixture(autouse=True)
def _forget_resolved_lineage_jobs():
    """Each test resolves OpenLineage jobs from scratch."""
    from runs.openlineage import _recent_jobs

    _recent_jobs.clear()
    yield
    _recent_jobs.clear()
