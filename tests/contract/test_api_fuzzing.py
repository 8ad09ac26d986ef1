"""Fuzz the API from its own OpenAPI schema: whatever schemathesis sends, CHM never answers
5xx and every answer matches the schema.

Bounded and reproducible: GENERATED_CASES cases drawn over every operation, valid and invalid
by the schema, derandomized (the same cases on every run, so a failure reproduces) and without
shrinking. Requests carry a real client key, so the generated bodies reach ingestion.
"""

from __future__ import annotations

import json

import hypothesis
import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from chm_project.wsgi import application
from tests.factories import AlertRuleFactory, ClientFactory, PipelineFactory, RunFactory

# Autocommit, as in production: a statement PostgreSQL refuses aborts only itself.
pytestmark = pytest.mark.django_db(transaction=True)

GENERATED_CASES = 2100


def load_schema() -> schemathesis.BaseSchema:
    """The schema /api/schema/ serves, built by the same generator without a request."""
    document = SchemaGenerator().get_schema(request=None, public=True)
    loaded = schemathesis.openapi.from_dict(json.loads(OpenApiJsonRenderer().render(document)))
    loaded.app = application  # calls go through the WSGI application, in process
    return loaded


schema = load_schema()


@pytest.fixture(autouse=True)
def wsgi_calls_keep_the_test_connection(settings):
    # schemathesis's WSGI client sends "Host: localhost".
    settings.ALLOWED_HOSTS = ["localhost", "testserver"]
    # As Django's own test client does: the end of a request must not close the test's
    # database connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def client_key(db) -> str:
    client = ClientFactory(slug="acme", auto_register_pipelines=True)
    pipeline = PipelineFactory(client=client, slug="orders-etl")
    RunFactory(pipeline=pipeline, external_run_id="known")
    AlertRuleFactory(client=client)
    return client.raw_key


def test_the_api_never_fails_and_answers_as_documented(client_key):
    answered: list[int] = []

    @hypothesis.given(
        case=st.one_of(
            schema.as_strategy(GenerationMode.POSITIVE), schema.as_strategy(GenerationMode.NEGATIVE)
        )
    )
    @hypothesis.settings(
        max_examples=GENERATED_CASES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def call(case):
        response = case.call(headers={"Authorization": f"Bearer {client_key}"})
        answered.append(response.status_code)
        case.validate_response(
            response,
            checks=[
                not_a_server_error,
                content_type_conformance,
                response_schema_conformance,
            ],
        )

    call()

    assert len(answered) >= 2000
    assert not [code for code in answered if code >= 500]
