"""Outbound webhooks: POST a JSON document to a URL that staff typed in, without letting that
URL reach into CHM's own network.

A webhook target is chosen by whoever edits alert rules, and the request leaves from the CHM
server, inside its network: to the cloud metadata service, a database port, an admin panel
on loopback. So, for every request:

- the host is resolved here, every address it resolves to is checked, and the connection is
  made to an address that passed (HTTPS still verifies the certificate against the host name).
  Resolving once and connecting to what was checked closes the gap a second lookup would leave
  (DNS rebinding);
- loopback, private, link-local (the metadata service), multicast, reserved and other
  non-global addresses are refused, unless they fall in ``CHM_WEBHOOK_ALLOWED_NETWORKS``: the
  explicit allow-list for receivers inside the network;
- redirects are not followed (a 3xx is an answer like any other);
- one deadline covers the whole request, resolution included: a receiver that answers a byte
  at a time cannot hold a worker past it;
- at most ``MAX_RESPONSE_BYTES`` of the answer are read: only its status matters;
- with ``CHM_WEBHOOK_SECRET`` set, an HMAC-SHA256 signature lets the receiver verify the sender
  (docs/alerts.md shows how);
- what is logged or shown of the URL is its scheme, host and port: paths and query strings
  carry the receiver's secret tokens (Slack's, for one).

Written on the standard library rather than requests: requests resolves and connects in
urllib3, out of reach of an address check, and its timeouts apply to each read, not to the
request. (requests-hardened checks addresses but has no allow-list of networks, no deadline
for the whole request and no cap on the answer.)
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

# Only the status of the answer matters; the body is read this far, then the connection closed.
MAX_RESPONSE_BYTES = 64 * 1024
USER_AGENT = "CHM-webhook/1"
SIGNATURE_HEADER = "X-CHM-Signature"
TIMESTAMP_HEADER = "X-CHM-Timestamp"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class WebhookResult:
    """What became of one POST. ``status`` is the receiver's HTTP status (None when it gave
    none); ``error`` says why it was not delivered, with the URL redacted ("" when it was);
    ``retry`` whether trying again later may help (no answer, a 5xx, a 429)."""

    status: int | None = None
    error: str = ""
    retry: bool = False

    @property
    def delivered(self) -> bool:
        return not self.error


class _Refused(Exception):
    """The target may not be reached, or the request could not be made."""

    def __init__(self, message: str, *, retry: bool = False) -> None:
        super().__init__(message)
        self.retry = retry


def redact_url(url: str) -> str:
    """``url`` without its path, query, fragment and credentials: what may be shown or logged."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(an invalid URL)"
    if ":" in host:
        host = f"[{host}]"
    if not parts.scheme or not host:
        return "(an invalid URL)"
    hidden = "/…" if (parts.path not in ("", "/") or parts.query or parts.fragment) else ""
    return f"{parts.scheme}://{host}{port}{hidden}"


def allowed_networks() -> list[IPNetwork]:
    """``CHM_WEBHOOK_ALLOWED_NETWORKS``: the non-global networks receivers may be in."""
    return [
        ipaddress.ip_network(entry, strict=False) for entry in settings.CHM_WEBHOOK_ALLOWED_NETWORKS
    ]


def address_refusal(address: IPAddress, allowed: Iterable[IPNetwork]) -> str | None:
    """What kind of address ``address`` is when a webhook may not connect to it ("a loopback
    address"), or None when it may."""
    if any(address in network for network in allowed):
        return None
    # An IPv4 address written as IPv6 (::ffff:127.0.0.1) is that IPv4 address.
    checked = getattr(address, "ipv4_mapped", None) or address
    if checked.is_global and not checked.is_multicast:
        return None
    for kind, flag in (
        ("a loopback address", checked.is_loopback),
        ("a link-local address (where cloud metadata services live)", checked.is_link_local),
        ("a multicast address", checked.is_multicast),
        ("a private address", checked.is_private),
    ):
        if flag:
            return kind
    return "not a public address"


def target_error(url: str) -> str | None:
    """Why ``url`` cannot be a webhook target, or None: for saving a rule.

    A host that does not resolve now is accepted (it may exist by the time a notification is
    sent); every request checks again.
    """
    try:
        host, port, _ = _parts(url)
        _checked_addresses(host, port, deadline=time.monotonic() + 5)
    except _Refused as exc:
        if exc.retry:
            return None
        return str(exc)
    return None


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header's value: HMAC-SHA256 of ``{timestamp}.{body}`` under ``secret``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def post_json(
    url: str,
    document: Any,
    *,
    deadline_seconds: float,
    secret: str = "",
    headers: Mapping[str, str] | None = None,
) -> WebhookResult:
    """POST ``document`` as JSON to ``url``; never raises for what the network or the receiver
    does. ``deadline_seconds`` bounds the whole request, from resolving the host to reading
    the answer; ``secret`` signs the body when not empty."""
    deadline = time.monotonic() + deadline_seconds
    body = json.dumps(document, separators=(",", ":")).encode()
    shown = redact_url(url)
    try:
        host, port, tls = _parts(url)
        addresses = _checked_addresses(host, port, deadline=deadline)
        request = _Request(
            host=host,
            port=port,
            tls=tls,
            path=_target_path(url),
            headers=_request_headers(host, port, tls, body, secret, headers or {}),
            body=body,
            deadline=deadline,
        )
        status = _send(addresses, request)
    except _Refused as exc:
        return WebhookResult(error=f"webhook {shown}: {exc}", retry=exc.retry)
    if 200 <= status < 300:
        return WebhookResult(status=status)
    return WebhookResult(
        status=status,
        error=f"webhook {shown} answered HTTP {status}",
        retry=status >= 500 or status == 429,
    )


def _parts(url: str) -> tuple[str, int, bool]:
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise _Refused("not a valid URL") from exc
    if parts.scheme not in ("http", "https") or not host:
        raise _Refused("only http:// and https:// URLs with a host")
    tls = parts.scheme == "https"
    return host, port or (443 if tls else 80), tls


def _target_path(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _checked_addresses(host: str, port: int, *, deadline: float) -> list[str]:
    """The addresses ``host`` stands for, each allowed; refuses if any one is not."""
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        found = [literal]
    elif host.lower().rstrip(".") == "localhost" or host.lower().endswith(".localhost"):
        found = [ipaddress.ip_address("127.0.0.1")]
    elif host.lower().rstrip(".").endswith(".invalid"):
        # RFC 6761: such names never resolve, and resolvers should not be asked.
        raise _Refused("the host does not resolve (.invalid names never do)", retry=True)
    else:
        found = [ipaddress.ip_address(a) for a in _resolve(host, port, deadline=deadline)]
    allowed = allowed_networks()
    for address in found:
        kind = address_refusal(address, allowed)
        if kind:
            where = host if literal is not None else f"{host} resolves to {address}"
            raise _Refused(
                f"{where}: {kind}; receivers inside the network must be listed in "
                "CHM_WEBHOOK_ALLOWED_NETWORKS"
            )
    return [str(address) for address in found]


def _resolve(host: str, port: int, *, deadline: float) -> list[str]:
    # getaddrinfo cannot be given a timeout: it runs in a thread of its own, abandoned (a
    # daemon) if the deadline passes first.
    outcome: dict[str, Any] = {}

    def lookup() -> None:
        try:
            outcome["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=lookup, name="chm-webhook-resolve", daemon=True)
    thread.start()
    thread.join(max(0.0, deadline - time.monotonic()))
    if thread.is_alive():
        raise _Refused("no answer within the deadline (resolving the host)", retry=True)
    if "error" in outcome:
        raise _Refused(f"the host does not resolve ({outcome['error']})", retry=True)
    addresses = list(dict.fromkeys(info[4][0] for info in outcome["infos"]))
    if not addresses:
        raise _Refused("the host does not resolve", retry=True)
    return addresses


def _request_headers(
    host: str,
    port: int,
    tls: bool,
    body: bytes,
    secret: str,
    extra: Mapping[str, str],
) -> dict[str, str]:
    default_port = 443 if tls else 80
    host_header = f"[{host}]" if ":" in host else host
    if port != default_port:
        host_header += f":{port}"
    headers = {
        "Host": host_header,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **extra,
    }
    if secret:
        timestamp = str(int(time.time()))
        headers[TIMESTAMP_HEADER] = timestamp
        headers[SIGNATURE_HEADER] = signature(secret, timestamp, body)
    return headers


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """Connects to a checked address, and speaks TLS to the host name that resolved to it."""

    def __init__(self, address: str, port: int, *, server_hostname: str, timeout: float) -> None:
        self._tls = ssl.create_default_context()
        super().__init__(address, port, timeout=timeout, context=self._tls)
        self._server_hostname = server_hostname

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)
        self.sock = self._tls.wrap_socket(self.sock, server_hostname=self._server_hostname)


@dataclass(frozen=True)
class _Request:
    host: str
    port: int
    tls: bool
    path: str
    headers: dict[str, str]
    body: bytes
    deadline: float


def _send(addresses: list[str], request: _Request) -> int:
    """The receiver's status, from the first address that accepts a connection."""
    unreachable = _Unreachable("no address to connect to")
    for address in addresses:
        if time.monotonic() >= request.deadline:
            break
        try:
            return _post_once(address, request)
        except _Unreachable as exc:
            unreachable = exc
    raise unreachable


class _Unreachable(_Refused):
    """No connection to one address: the next one may do."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retry=True)


class _Watchdog:
    """Shuts the connection's socket down at the deadline. Socket timeouts bound each read
    only, and a receiver could answer a byte per timeout for ever."""

    def __init__(self, connection: http.client.HTTPConnection, seconds: float) -> None:
        self.fired = False
        self._connection = connection
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        sock = self._connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()


def _post_once(address: str, request: _Request) -> int:
    remaining = request.deadline - time.monotonic()
    if request.tls:
        connection = _PinnedHTTPSConnection(
            address, request.port, server_hostname=request.host, timeout=remaining
        )
    else:
        connection = http.client.HTTPConnection(address, request.port, timeout=remaining)
    watchdog = _Watchdog(connection, remaining)
    try:
        connection.request("POST", request.path, body=request.body, headers=request.headers)
        response = connection.getresponse()
        response.read(MAX_RESPONSE_BYTES)
        # Cut off mid-answer, http.client may still have parsed a status line: not an answer.
        if watchdog.fired:
            raise TimeoutError
        return response.status
    except (OSError, http.client.HTTPException) as exc:
        name = exc.__class__.__name__
        if watchdog.fired or isinstance(exc, TimeoutError):
            raise _Refused("no answer within the deadline", retry=True) from exc
        if isinstance(exc, ssl.SSLError):
            raise _Refused(f"TLS failed ({name})") from exc
        if isinstance(exc, http.client.HTTPException):
            raise _Refused(f"the answer is not HTTP ({name})", retry=True) from exc
        if isinstance(exc, ConnectionRefusedError):
            raise _Unreachable("connection refused") from exc
        raise _Unreachable(f"connection failed ({name})") from exc
    finally:
        watchdog.cancel()
        connection.close()
