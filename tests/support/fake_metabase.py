"""A real HTTP server on loopback that answers like Metabase's documented REST API.

It keeps its own state (users, databases, collections, cards, dashboards) so a second
provisioning run sees what the first created, and records every request it receives. It
enforces what Metabase enforces and the provisioning code must respect: a session header on
every authenticated call, setup only once, whole-state ``dashcards`` with negative ids for new
ones, superuser-only embedding settings.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    session: str | None


@dataclass
class MetabaseState:
    admin_email: str | None = None
    admin_password: str | None = None
    setup_token: str = "setup-token-1234"
    sessions: set[str] = field(default_factory=set)
    static_embedding: bool = False
    # Metabase 0.57+ answers a card's native SQL as MBQL 5 stages.
    mbql5_cards: bool = False
    # /api/health answers 503 this many times before "ok", as while Metabase starts.
    health_checks_before_ready: int = 0
    next_id: int = 1
    databases: dict[int, dict] = field(default_factory=dict)
    collections: dict[int, dict] = field(default_factory=dict)
    cards: dict[int, dict] = field(default_factory=dict)
    dashboards: dict[int, dict] = field(default_factory=dict)

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id


class FakeMetabase:
    def __init__(self) -> None:
        self.state = MetabaseState()
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeMetabase:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def writes(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method in {"POST", "PUT", "DELETE"}]

    # --- request handling ---------------------------------------------------------------

    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep pytest output clean
                pass

            def _serve(self, method: str) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    self._answer(400, {"message": "malformed JSON"})
                    return
                request = RecordedRequest(
                    method,
                    parts.path,
                    parse_qs(parts.query),
                    body,
                    self.headers.get("X-Metabase-Session"),
                )
                with fake._lock:
                    fake.requests.append(request)
                    status, answer = fake._route(request)
                self._answer(status, answer)

            def _answer(self, status: int, answer: Any) -> None:
                payload = b"" if answer is None else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def do_PUT(self) -> None:
                self._serve("PUT")

        return Handler

    def _route(self, r: RecordedRequest) -> tuple[int, Any]:
        s = self.state
        path = r.path.rstrip("/")
        if (r.method, path) == ("GET", "/api/health"):
            if s.health_checks_before_ready > 0:
                s.health_checks_before_ready -= 1
                return 503, {"status": "initializing", "progress": 0.5}
            return 200, {"status": "ok"}
        if (r.method, path) == ("GET", "/api/session/properties"):
            answer = {"has-user-setup": s.admin_email is not None, "version": {"tag": "v0.56.4"}}
            if s.admin_email is None:
                answer["setup-token"] = s.setup_token
            return 200, answer
        if (r.method, path) == ("POST", "/api/setup"):
            if s.admin_email is not None:
                return 403, {
                    "message": "The /api/setup route can only be used to create the first user"
                }
            if (r.body or {}).get("token") != s.setup_token:
                return 403, {"message": "Token does not match the setup token."}
            user = r.body["user"]
            s.admin_email, s.admin_password = user["email"], user["password"]
            return 200, {"id": self._new_session()}
        if (r.method, path) == ("POST", "/api/session"):
            body = r.body or {}
            if (body.get("username"), body.get("password")) != (s.admin_email, s.admin_password):
                return 401, {"errors": {"password": "did not match stored password"}}
            return 200, {"id": self._new_session()}
        if r.session not in s.sessions:
            return 401, "Unauthenticated"
        return self._authenticated(r, path)

    def _new_session(self) -> str:
        session = f"session-{len(self.state.sessions) + 1}"
        self.state.sessions.add(session)
        return session

    def _authenticated(self, r: RecordedRequest, path: str) -> tuple[int, Any]:
        s = self.state
        segments = path.split("/")[2:]  # after "/api"
        resource, ident = segments[0], segments[1] if len(segments) > 1 else None
        if resource == "setting" and ident == "enable-embedding-static":
            if r.method == "GET":
                return 200, s.static_embedding
            s.static_embedding = bool(r.body["value"])
            return 204, None
        if resource == "database":
            if r.method == "GET" and ident is None:
                return 200, {"data": list(s.databases.values()), "total": len(s.databases)}
            if r.method == "POST":
                body = r.body
                missing = {"engine", "name", "details"} - set(body)
                if missing:
                    return 400, {"errors": dict.fromkeys(missing, "value must be present")}
                db = {"id": s.new_id(), "name": body["name"], "engine": body["engine"]}
                db["details"] = {**body["details"], "password": "**MetabasePass**"}
                s.databases[db["id"]] = db
                return 200, db
        if resource == "collection":
            if r.method == "GET" and ident is None:
                return 200, [{"id": "root", "name": "Our analytics"}, *s.collections.values()]
            if r.method == "GET" and segments[2:] == ["items"]:
                models = set(r.query.get("models", ["card", "dashboard"]))
                collection_id = int(ident)
                items = [
                    {"id": item["id"], "name": item["name"], "model": model}
                    for model, store in (("card", s.cards), ("dashboard", s.dashboards))
                    if model in models
                    for item in store.values()
                    if item["collection_id"] == collection_id and not item.get("archived")
                ]
                return 200, {"data": items, "total": len(items), "models": sorted(models)}
            if r.method == "POST":
                collection = {"id": s.new_id(), "name": r.body["name"], "archived": False}
                s.collections[collection["id"]] = collection
                return 200, collection
        if resource == "card":
            return self._card(r, ident)
        if resource == "dashboard":
            return self._dashboard(r, ident)
        return 404, "API endpoint does not exist."

    def _card(self, r: RecordedRequest, ident: str | None) -> tuple[int, Any]:
        s = self.state
        if r.method == "POST":
            query = r.body["dataset_query"]
            if query.get("type") != "native" or query.get("database") not in s.databases:
                return 400, {"errors": {"dataset_query": "invalid"}}
            card = {"id": s.new_id(), **r.body}
            s.cards[card["id"]] = card
            return 200, self._card_answer(card)
        card = s.cards.get(int(ident)) if ident else None
        if card is None:
            return 404, "Not found."
        if r.method == "GET":
            return 200, self._card_answer(card)
        if r.method == "PUT":
            card.update(r.body)
            return 200, self._card_answer(card)
        return 405, None

    def _card_answer(self, card: dict) -> dict:
        answer = json.loads(json.dumps(card))
        if self.state.mbql5_cards:
            query = answer["dataset_query"]
            answer["dataset_query"] = {
                "lib/type": "mbql/query",
                "database": query["database"],
                "stages": [
                    {
                        "lib/type": "mbql.stage/native",
                        "native": query["native"]["query"],
                        "template-tags": query["native"].get("template-tags", {}),
                    }
                ],
            }
        return answer

    def _dashboard(self, r: RecordedRequest, ident: str | None) -> tuple[int, Any]:
        s = self.state
        if r.method == "POST":
            dashboard = {
                "id": s.new_id(),
                "name": r.body["name"],
                "description": r.body.get("description"),
                "collection_id": r.body.get("collection_id"),
                "parameters": r.body.get("parameters", []),
                "dashcards": [],
                "tabs": [],
                "enable_embedding": False,
                "embedding_params": None,
            }
            s.dashboards[dashboard["id"]] = dashboard
            return 200, dashboard
        dashboard = s.dashboards.get(int(ident)) if ident else None
        if dashboard is None:
            return 404, "Not found."
        if r.method == "GET":
            return 200, dashboard
        if r.method != "PUT":
            return 405, None
        body = r.body
        if "dashcards" in body:
            seen_ids = {dc["id"] for dc in dashboard["dashcards"]}
            dashcards = []
            for dc in body["dashcards"]:
                if dc["card_id"] not in s.cards:
                    return 400, {"message": f"card {dc['card_id']} does not exist"}
                if dc["id"] < 0:
                    dc = {**dc, "id": s.new_id(), "dashboard_id": dashboard["id"]}
                elif dc["id"] not in seen_ids:
                    return 404, {"message": f"dashcard {dc['id']} is not on this dashboard"}
                dashcards.append(dc)
            # Whole state: dashcards left out of the array are deleted.
            dashboard["dashcards"] = dashcards
            dashboard["tabs"] = body.get("tabs", dashboard["tabs"])
        for key in ("parameters", "enable_embedding", "embedding_params", "name"):
            if key in body:
                dashboard[key] = body[key]
        return 200, dashboard
