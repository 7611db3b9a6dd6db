"""A proprietary store API dialect ("Acme Commerce" API v2), the kind of API the custom REST platform reads.

Made up, but shaped like the in-house and niche platforms custom REST is for:

- `GET /api/v2/<collection>`; auth with the store's API key in `X-Api-Key` or as `Authorization: Bearer`.
- `updated_since=DD.MM.YYYY HH:MM:SS` (UTC, inclusive: modified at or after it) and
  `updated_before=DD.MM.YYYY HH:MM:SS` (UTC, exclusive: modified strictly before it) filter on the
  record's modification time (on `occurred` for activity), so `[since, before)` windows that meet
  serve every record once; `limit` (1 to 100, default 20) sizes a page.
- Records sit under `data.items`, sorted by modification time then uid. Paging is keyset: the
  opaque `cursor` names the last record served, so records that change mid-read move behind it
  instead of shifting pages. The next cursor is in the body (`pagination.next_cursor`, null on
  the last page), except for the activity feed, which pages with a `Link: <...>; rel="next"` header.
- Errors are `{"error": {"code", "message"}}`; 429 and maintenance 503 carry `Retry-After`.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from store2crm.sandbox.generator import Dataset
from store2crm.sandbox.server import Request, Response
from store2crm.sandbox.store_emulator import proprietary_payloads as payloads
from store2crm.sandbox.store_emulator.base import DialectSettings, MalformedPick
from store2crm.sandbox.store_emulator.faults import BAD_MONEY, Fault

API_PREFIX = "/api/v2"
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
BAD_ACME_DATE = "00.00.0000 00:00:00"  # what Acme serves for a broken stored date
Key = tuple[str, int]


@dataclass(frozen=True)
class Collection:
    """One list endpoint: the stream it serves, its payload, its cursor field and how it pages."""

    stream: str
    payload: Callable[[dict[str, Any]], dict[str, Any]]
    cursor_field: str = "updated_at"
    link_header: bool = False


COLLECTIONS = {
    f"{API_PREFIX}/customers": Collection("customers", payloads.customer_payload),
    f"{API_PREFIX}/sales/orders": Collection("orders", payloads.order_payload),
    f"{API_PREFIX}/carts/abandoned": Collection("abandoned_checkouts", payloads.cart_payload),
    f"{API_PREFIX}/activity": Collection("events", payloads.activity_payload, "occurred_at", link_header=True),
    f"{API_PREFIX}/catalog/items": Collection("products", payloads.item_payload),
    f"{API_PREFIX}/business/accounts": Collection("companies", payloads.business_account_payload),
    f"{API_PREFIX}/business/members": Collection("company_contacts", payloads.member_payload),
}


def acme_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    """Acme's error envelope."""
    return Response(status, {"error": {"code": code, "message": message}}, headers)


def encode_cursor(key: Key) -> str:
    """The opaque page cursor for a position (cursor value, uid)."""
    return base64.urlsafe_b64encode(f"{key[0]}|{key[1]}".encode()).decode().rstrip("=")


def decode_cursor(token: str) -> Key | None:
    """The position an opaque cursor names; None when it is not one of ours."""
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        value, _, record_id = text.rpartition("|")
        return (value, int(record_id)) if value else None
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


class ProprietaryDialect:
    """Answers Acme Commerce API v2 requests from a Dataset (the emulator holds its lock)."""

    name = "proprietary"

    def __init__(self, dataset: Dataset, settings: DialectSettings) -> None:
        self.dataset = dataset
        self.settings = settings
        self._views: dict[str, tuple[tuple[int, int], list[dict[str, Any]], list[Key]]] = {}

    def describe(self, base_url: str) -> str:
        """One line telling a user where the API is and how to authenticate."""
        return (
            f"Acme Commerce (proprietary) API at {base_url}{API_PREFIX} "
            f"api_key={self.settings.consumer_secret} (header X-Api-Key, or Authorization: Bearer)"
        )

    def is_api_call(self, request: Request) -> bool:
        """Every request is an API call."""
        return True

    def fault_response(self, fault: Fault, request: Request, retry_after: int) -> Response:
        """Acme's rate-limit answer, its maintenance page, or an internal error."""
        wait = {"Retry-After": str(retry_after)}
        if fault.kind == "throttled":
            return acme_error(429, "rate_limited", "Request quota exceeded; retry later.", wait)
        if fault.kind == "down":
            return acme_error(503, "maintenance", "The API is down for maintenance.", wait)
        return acme_error(fault.status, "internal_error", "Something went wrong on our side.")

    def malform(self, request: Request, response: Response, pick: MalformedPick) -> None:
        """Give picked records of a page a broken creation date or a non-numeric amount."""
        collection = COLLECTIONS.get(request.path.rstrip("/"))
        if collection is None:
            return
        for record in response.body["data"]["items"]:
            kind = pick(collection.stream, str(record["uid"]))
            if kind == "date" and "timestamps" in record:
                record["timestamps"]["created"] = BAD_ACME_DATE
            elif kind:
                _break_amount(record)

    def handle(self, request: Request, base_url: str) -> Response:
        """Authenticate, route and answer one page."""
        if not self._authorised(request):
            return acme_error(401, "unauthorized", "Missing or invalid API key.")
        collection = COLLECTIONS.get(request.path.rstrip("/"))
        if collection is None:
            return acme_error(404, "not_found", f"No endpoint {request.method} {request.path}.")
        if request.method != "GET":
            return acme_error(405, "method_not_allowed", f"{request.path} only answers GET.")
        return self._page(collection, request, base_url)

    def _authorised(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else request.headers.get("x-api-key", "")
        return hmac.compare_digest(token.encode(), self.settings.consumer_secret.encode())

    def _page(self, collection: Collection, request: Request, base_url: str) -> Response:
        query, problem = _list_params(request)
        if query is None:
            return acme_error(400, "invalid_parameter", problem)
        records, keys = self._view(collection)
        start = bisect.bisect_left(keys, (query.since, 0)) if query.since else 0
        if query.after is not None:
            start = max(start, bisect.bisect_right(keys, query.after))
        stop = bisect.bisect_left(keys, (query.before, 0)) if query.before else len(records)
        chunk = records[start : min(start + query.limit, stop)]
        more = start + query.limit < stop
        next_cursor = encode_cursor(keys[start + query.limit - 1]) if more else None
        body: dict[str, Any] = {"data": {"items": [collection.payload(record) for record in chunk]}}
        if not collection.link_header:
            body["pagination"] = {"next_cursor": next_cursor, "has_more": more}
            return Response(200, body)
        headers = {}
        if next_cursor:
            query = urlencode([*((k, v) for k, v in request.query_pairs if k != "cursor"), ("cursor", next_cursor)])
            headers["Link"] = f'<{base_url}{request.path}?{query}>; rel="next"'
        return Response(200, body, headers)

    def _view(self, collection: Collection) -> tuple[list[dict[str, Any]], list[Key]]:
        """The stream sorted by (cursor value, uid), cached until the dataset changes."""
        records = self.dataset.records(collection.stream)
        version = (self.dataset.version, len(records))
        cached = self._views.get(collection.stream)
        if cached is None or cached[0] != version:
            ordered = sorted(records, key=lambda r: (r[collection.cursor_field], int(r["id"])))
            keys = [(r[collection.cursor_field], int(r["id"])) for r in ordered]
            self._views[collection.stream] = cached = (version, ordered, keys)
        return cached[1], cached[2]


@dataclass(frozen=True)
class ListQuery:
    """A list request's parameters: page size, the modification window (ISO 8601) and the keyset position."""

    limit: int
    since: str | None = None  # inclusive
    before: str | None = None  # exclusive
    after: Key | None = None


def _list_params(request: Request) -> tuple[ListQuery | None, str]:
    """The request's ListQuery, or None and what is wrong with the query."""
    raw_limit = request.query.get("limit", str(DEFAULT_LIMIT))
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
        return None, f"limit must be an integer from 1 to {MAX_LIMIT}."
    bounds = {}
    for name in ("updated_since", "updated_before"):
        bounds[name] = _acme_moment(request.query.get(name))
        if bounds[name] == "":
            return None, f"{name} must be a UTC date as DD.MM.YYYY HH:MM:SS."
    after = None
    if request.query.get("cursor"):
        after = decode_cursor(request.query["cursor"])
        if after is None:
            return None, "cursor is not a cursor this API handed out."
    return ListQuery(int(raw_limit), bounds["updated_since"], bounds["updated_before"], after), ""


def _acme_moment(raw: str | None) -> str | None:
    """An Acme date parameter as ISO 8601 UTC; None when absent, "" when it is not an Acme date."""
    if not raw:
        return None
    try:
        moment = datetime.strptime(raw, payloads.ACME_DATE_FORMAT)
    except ValueError:
        return ""
    return moment.replace(tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _break_amount(record: dict[str, Any]) -> None:
    """Replace the record's main amount with text, as a broken Acme export does."""
    for group, key in (("money", "total_cents"), ("pricing", "amount_cents"), ("credit", "limit_cents")):
        if isinstance(record.get(group), dict) and key in record[group]:
            record[group][key] = BAD_MONEY
            return
    if "value_cents" in record:
        record["value_cents"] = BAD_MONEY
