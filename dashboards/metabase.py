"""Provision CHM's questions and dashboards in Metabase through its REST API, idempotently.

Everything is found again by name inside one collection ("CHM"), so a second run reads,
compares and sends no create or update request when nothing changed. The API is unversioned;
this follows the shapes of Metabase 0.48+ (dashboard cards travel as ``dashcards`` in
``PUT /api/dashboard/:id``) and reads a card's SQL in both the legacy and the 0.57+ (MBQL 5)
layouts.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from dashboards.catalog import DASHBOARDS, Dashboard, Panel, layout, metabase_sql
from dashboards.embedding import CLIENT_PARAMETER

logger = logging.getLogger(__name__)

COLLECTION_NAME = "CHM"
DATABASE_NAME = "CHM reporting"
CLIENT_PARAMETER_ID = "chm_client"
# Template-tag ids must be stable so that an unchanged question compares equal on rerun.
_TAG_NAMESPACE = uuid.UUID("5b0c3f0e-2f7e-4d59-9a55-0d1c3c9f6a10")


class MetabaseError(Exception):
    """Metabase refused a request or answered something CHM cannot use."""


@dataclass(frozen=True)
class ReportingDatabase:
    """How Metabase reaches CHM's database: the read-only dashboard role."""

    host: str
    port: int
    dbname: str
    user: str
    password: str


@dataclass
class ProvisionResult:
    dashboard_ids: dict[str, int] = field(default_factory=dict)
    changes: list[str] = field(default_factory=list)


class MetabaseAPI:
    """A thin JSON client; every call either answers the decoded body or raises MetabaseError."""

    def __init__(self, base_url: str, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()

    def request(self, method: str, path: str, body: Any = None, params: Any = None) -> Any:
        url = f"{self.base_url}{path}"
        try:
            response = self.session.request(
                method, url, json=body, params=params, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise MetabaseError(f"{method} {path}: cannot reach Metabase at {url}: {exc}") from exc
        if response.status_code >= 400:
            raise MetabaseError(
                f"{method} {path}: Metabase answered {response.status_code}: {response.text[:300]}"
            )
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            # A few endpoints answer plain text (a setting's value, "ok").
            return response.text

    def get(self, path: str, params: Any = None) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any) -> Any:
        return self.request("POST", path, body)

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, body)

    def wait_until_ready(
        self,
        *,
        timeout: float,
        interval: float = 5.0,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        """Poll ``/api/health`` until Metabase says ok: a fresh Metabase takes a minute or two
        to migrate its own database, answering 503 (or nothing at all) meanwhile."""
        clock, sleep = clock or time.monotonic, sleep or time.sleep
        deadline = clock() + timeout
        while True:
            try:
                if (self.get("/api/health") or {}).get("status") == "ok":
                    return
                last = "it is not ready"
            except MetabaseError as exc:
                last = str(exc)
            if clock() >= deadline:
                raise MetabaseError(f"Metabase was not ready after {timeout:.0f} s: {last}")
            sleep(interval)

    def log_in(self, *, email: str, password: str, first_name: str = "CHM") -> bool:
        """Log in, or create the first admin on a fresh Metabase. Answers True when it did."""
        properties = self.get("/api/session/properties") or {}
        created = False
        if not properties.get("has-user-setup") and properties.get("setup-token"):
            answer = self.post(
                "/api/setup",
                {
                    "token": properties["setup-token"],
                    "user": {
                        "first_name": first_name,
                        "last_name": "Admin",
                        "email": email,
                        "password": password,
                    },
                    "prefs": {"site_name": "CHM", "site_locale": "en", "allow_tracking": False},
                },
            )
            created = True
        else:
            answer = self.post("/api/session", {"username": email, "password": password})
        session_id = (answer or {}).get("id")
        if not session_id:
            raise MetabaseError("Metabase answered the login without a session id.")
        self.session.headers["X-Metabase-Session"] = str(session_id)
        return created


def _listed(answer: Any) -> list[dict]:
    # Some list endpoints answer a bare list, newer ones {"data": [...], "total": n}.
    if isinstance(answer, dict):
        answer = answer.get("data", [])
    return list(answer or [])


def card_sql(card: dict) -> str:
    query = card.get("dataset_query") or {}
    if "native" in query:
        return (query.get("native") or {}).get("query", "")
    stages = query.get("stages") or [{}]
    return stages[0].get("native", "")


def card_payload(panel: Panel, *, database_id: int, collection_id: int) -> dict:
    tags = {}
    if panel.client_column:
        tags[CLIENT_PARAMETER] = {
            "id": str(uuid.uuid5(_TAG_NAMESPACE, panel.key)),
            "name": CLIENT_PARAMETER,
            "display-name": "Client",
            "type": "text",
            "required": False,
        }
    return {
        "name": panel.metabase_name,
        "description": panel.description,
        "display": panel.metabase_display,
        "type": "question",
        "collection_id": collection_id,
        "visualization_settings": {},
        "dataset_query": {
            "type": "native",
            "database": database_id,
            "native": {"query": metabase_sql(panel), "template-tags": tags},
        },
    }


def _client_parameter() -> dict:
    return {
        "id": CLIENT_PARAMETER_ID,
        "name": "Client",
        "slug": CLIENT_PARAMETER,
        "type": "string/=",
        "sectionId": "string",
    }


class Provisioner:
    def __init__(self, api: MetabaseAPI, *, say: Callable[[str], None] | None = None) -> None:
        self.api = api
        self.result = ProvisionResult()
        self._say = say or logger.info

    def record_change(self, message: str) -> None:
        self.result.changes.append(message)
        self._say(message)

    def ensure_static_embedding(self) -> None:
        enabled = self.api.get("/api/setting/enable-embedding-static")
        if enabled not in (True, "true"):
            self.api.put("/api/setting/enable-embedding-static", {"value": True})
            self.record_change("enabled static embedding")

    def ensure_database(self, database: ReportingDatabase) -> int:
        wanted = {
            "host": database.host,
            "port": database.port,
            "dbname": database.dbname,
            "user": database.user,
        }
        for existing in _listed(self.api.get("/api/database")):
            if existing.get("name") != DATABASE_NAME:
                continue
            details = existing.get("details") or {}
            if any(details.get(key) != value for key, value in wanted.items()):
                self.api.put(
                    f"/api/database/{existing['id']}",
                    {"details": {**details, **wanted, "password": database.password}},
                )
                self.record_change(f"updated the connection of database {DATABASE_NAME!r}")
            return existing["id"]
        created = self.api.post(
            "/api/database",
            {
                "engine": "postgres",
                "name": DATABASE_NAME,
                "details": {
                    **wanted,
                    "password": database.password,
                    "ssl": False,
                    # Metabase only needs to see the reporting views.
                    "schema-filters-type": "inclusion",
                    "schema-filters-patterns": "reporting",
                },
                "is_full_sync": True,
            },
        )
        self.record_change(f"created database {DATABASE_NAME!r} (id {created['id']})")
        return created["id"]

    def ensure_collection(self) -> int:
        for collection in _listed(self.api.get("/api/collection")):
            # The root collection answers with the id "root"; CHM's is a numbered one.
            if (
                collection.get("name") == COLLECTION_NAME
                and not collection.get("archived")
                and isinstance(collection.get("id"), int)
            ):
                return collection["id"]
        created = self.api.post(
            "/api/collection",
            {"name": COLLECTION_NAME, "description": "CHM questions and dashboards (Q1–Q10)."},
        )
        self.record_change(f"created collection {COLLECTION_NAME!r} (id {created['id']})")
        return created["id"]

    def _collection_items(self, collection_id: int, model: str) -> dict[str, int]:
        items = _listed(
            self.api.get(f"/api/collection/{collection_id}/items", params={"models": model})
        )
        return {item["name"]: item["id"] for item in items if item.get("model", model) == model}

    def ensure_cards(self, *, database_id: int, collection_id: int) -> dict[str, int]:
        existing = self._collection_items(collection_id, "card")
        card_ids: dict[str, int] = {}
        for dashboard in DASHBOARDS:
            for panel in dashboard.panels:
                wanted = card_payload(panel, database_id=database_id, collection_id=collection_id)
                card_id = existing.get(panel.metabase_name)
                if card_id is None:
                    card_ids[panel.key] = self.api.post("/api/card", wanted)["id"]
                    self.record_change(f"created question {panel.metabase_name!r}")
                    continue
                card = self.api.get(f"/api/card/{card_id}")
                same = (
                    card_sql(card) == wanted["dataset_query"]["native"]["query"]
                    and card.get("display") == wanted["display"]
                    and (card.get("description") or "") == wanted["description"]
                )
                if not same:
                    self.api.put(f"/api/card/{card_id}", wanted)
                    self.record_change(f"updated question {panel.metabase_name!r}")
                card_ids[panel.key] = card_id
        return card_ids

    def ensure_dashboard(
        self, dashboard: Dashboard, *, collection_id: int, card_ids: dict[str, int]
    ) -> int:
        existing = self._collection_items(collection_id, "dashboard")
        dashboard_id = existing.get(dashboard.title)
        if dashboard_id is None:
            dashboard_id = self.api.post(
                "/api/dashboard",
                {
                    "name": dashboard.title,
                    "description": dashboard.description,
                    "collection_id": collection_id,
                    "parameters": [_client_parameter()],
                },
            )["id"]
            self.record_change(f"created dashboard {dashboard.title!r} (id {dashboard_id})")
        current = self.api.get(f"/api/dashboard/{dashboard_id}")
        self._ensure_dashcards(dashboard, current, card_ids)
        self._ensure_embedding(dashboard, current)
        return dashboard_id

    def _ensure_dashcards(self, dashboard: Dashboard, current: dict, card_ids: dict) -> None:
        dashcards = list(current.get("dashcards") or current.get("ordered_cards") or [])
        present = {dc.get("card_id") for dc in dashcards}
        missing = [
            (panel, col, row)
            for panel, col, row in layout(dashboard)
            if card_ids[panel.key] not in present
        ]
        if not missing:
            return
        # The dashcards array is the whole state: cards left out are removed, so keep every
        # existing one (a person may have added their own) and append the missing ones with
        # negative ids, which Metabase reads as "new".
        kept = [
            {
                key: dc[key]
                for key in (
                    "id",
                    "card_id",
                    "row",
                    "col",
                    "size_x",
                    "size_y",
                    "parameter_mappings",
                    "visualization_settings",
                    "series",
                    "dashboard_tab_id",
                )
                if key in dc
            }
            for dc in dashcards
        ]
        bottom = max((dc.get("row", 0) + dc.get("size_y", 0) for dc in dashcards), default=0)
        added = []
        for index, (panel, col, row) in enumerate(missing, start=1):
            card_id = card_ids[panel.key]
            mappings = []
            if panel.client_column:
                mappings.append(
                    {
                        "parameter_id": CLIENT_PARAMETER_ID,
                        "card_id": card_id,
                        "target": ["variable", ["template-tag", CLIENT_PARAMETER]],
                    }
                )
            added.append(
                {
                    "id": -index,
                    "card_id": card_id,
                    "row": bottom + row if dashcards else row,
                    "col": col,
                    "size_x": panel.width,
                    "size_y": panel.height,
                    "parameter_mappings": mappings,
                    "visualization_settings": {},
                    "series": [],
                }
            )
        self.api.put(
            f"/api/dashboard/{current['id']}",
            {"dashcards": kept + added, "tabs": current.get("tabs") or []},
        )
        self.record_change(f"placed {len(added)} question(s) on {dashboard.title!r}")

    def _ensure_embedding(self, dashboard: Dashboard, current: dict) -> None:
        parameters = list(current.get("parameters") or [])
        has_parameter = any(p.get("slug") == CLIENT_PARAMETER for p in parameters)
        locked = (current.get("embedding_params") or {}).get(CLIENT_PARAMETER) == "locked"
        if current.get("enable_embedding") and locked and has_parameter:
            return
        if not has_parameter:
            parameters.append(_client_parameter())
        self.api.put(
            f"/api/dashboard/{current['id']}",
            {
                "parameters": parameters,
                "enable_embedding": True,
                # Locked: no widget in the embed, the value comes only from CHM's signed token.
                "embedding_params": {CLIENT_PARAMETER: "locked"},
            },
        )
        self.record_change(f"published {dashboard.title!r} for signed embedding, client locked")


def provision_metabase(
    *,
    api: MetabaseAPI,
    email: str,
    password: str,
    database: ReportingDatabase,
    say: Callable[[str], None] | None = None,
) -> ProvisionResult:
    """Create or bring up to date CHM's questions and dashboards; a rerun changes nothing."""
    provisioner = Provisioner(api, say=say)
    if api.log_in(email=email, password=password):
        provisioner.record_change(f"created the first Metabase admin {email}")
    provisioner.ensure_static_embedding()
    database_id = provisioner.ensure_database(database)
    collection_id = provisioner.ensure_collection()
    card_ids = provisioner.ensure_cards(database_id=database_id, collection_id=collection_id)
    for dashboard in DASHBOARDS:
        provisioner.result.dashboard_ids[dashboard.key] = provisioner.ensure_dashboard(
            dashboard, collection_id=collection_id, card_ids=card_ids
        )
    return provisioner.result
