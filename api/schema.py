"""OpenAPI descriptions that drf-spectacular cannot infer."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ClientKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.ClientKeyAuthentication"
    name = "clientKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "The client's ingestion key: Authorization: Bearer <client key>.",
        }
