"""Client-key authentication for the API: ``Authorization: Bearer <client key>``.

The key is looked up by its SHA-256 hash (one index probe); only active clients authenticate.
The authenticated ``request.user`` is a ``ClientPrincipal`` and ``request.auth`` the Client, so
views scope every query to ``request.auth``.
"""

from __future__ import annotations

from typing import NoReturn

from rest_framework import authentication, exceptions
from rest_framework.permissions import BasePermission

from api import throttling
from inventory.models import Client
from runs.permissions import VIEW_RUNS


class ClientPrincipal:
    """Stands in for a user on requests made with a client key: never staff."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None

    def __init__(self, client: Client) -> None:
        self.client = client

    def __str__(self) -> str:
        return f"client:{self.client.slug}"


class ClientKeyAuthentication(authentication.BaseAuthentication):
    keyword = b"bearer"

    @classmethod
    def is_presented(cls, request) -> bool:
        """True when ``request`` carries ``Authorization: Bearer …``: this class decides it."""
        parts = authentication.get_authorization_header(request).split(maxsplit=1)
        return bool(parts) and parts[0].lower() == cls.keyword

    def authenticate(self, request):
        if not self.is_presented(request):
            return None
        parts = authentication.get_authorization_header(request).split()
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                "Malformed Authorization header: use 'Bearer <client key>'."
            )
        try:
            raw_key = parts[1].decode()
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("The client key is not valid text.") from exc
        client = Client.objects.active_for_key(raw_key)
        if client is None:
            refuse_failure(request, "Unknown, rotated or inactive client key.")
        return ClientPrincipal(client), client

    def authenticate_header(self, request) -> str:
        # Makes DRF answer 401 (not 403) when the key is missing or wrong.
        return 'Bearer realm="CHM"'


class StaffTokenAuthentication(authentication.TokenAuthentication):
    """DRF's token authentication for staff, with wrong tokens counted per IP address."""

    def authenticate(self, request):
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed as exc:
            refuse_failure(request, str(exc.detail))


def refuse_failure(request, reason: str) -> NoReturn:
    """Count a wrong key or token against the request's address (api/throttling.py) and
    refuse it: 401, or 429 once the address is past AUTH_FAILURE_RATE_LIMIT.

    Only failures are checked, after the lookup: client keys (256 bits) and API tokens (160
    bits) cannot be guessed, so what the limit stops is a flood of failing requests, and a
    request with a working credential pays nothing for it (checking every request first would
    add a database round trip to each ingestion). The admin login, where passwords can be
    guessed, refuses a blocked address before checking anything (chm_project/urls.py)."""
    wait = throttling.count_failed_authentication(request)
    if wait is not None:
        raise exceptions.Throttled(
            wait=wait, detail="Too many failed authentications from this address."
        )
    raise exceptions.AuthenticationFailed(reason)


def request_client(request) -> Client | None:
    """The client whose key authenticated ``request``, or None for a staff user."""
    return request.auth if isinstance(request.auth, Client) else None


class HasClientKey(BasePermission):
    message = "Send runs with a client key: Authorization: Bearer <client key>."

    def has_permission(self, request, view) -> bool:
        return request_client(request) is not None


class IsStaffOrClientKey(BasePermission):
    """Staff whose role lets them view the listed model read everything; a client key reads
    its own client's data (views scope it). A view names the staff permission it needs in
    ``staff_permission`` (viewing runs by default: every role has it)."""

    message = "A client key, or the login or API token of staff allowed to view this."

    def has_permission(self, request, view) -> bool:
        if request_client(request) is not None:
            return True
        user = request.user
        return bool(
            user
            and user.is_authenticated
            and user.is_active
            and user.is_staff
            and user.has_perm(getattr(view, "staff_permission", VIEW_RUNS))
        )
