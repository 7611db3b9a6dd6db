"""Salesforce dialect of the CRM emulator: REST sObject writes and collections, SOQL query, Bulk API 2.0, limits."""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from store2crm.sandbox.crm_emulator.faults import FaultInjector
from store2crm.sandbox.crm_emulator.limits import SECONDS_PER_DAY, RollingWindow
from store2crm.sandbox.crm_emulator.salesforce_bulk import BulkIngest
from store2crm.sandbox.crm_emulator.salesforce_locks import SANDBOX_HOLDER, LockKey, LockRegistry
from store2crm.sandbox.crm_emulator.salesforce_records import SObjectTable, render
from store2crm.sandbox.crm_emulator.salesforce_schema import (
    EXTERNAL_ID_FIELD,
    SOBJECT_ALIASES,
    SOBJECTS,
    FieldError,
    SObjectType,
    daily_allocation,
    record_id,
)
from store2crm.sandbox.crm_emulator.salesforce_soql import Query, SoqlError, parse
from store2crm.sandbox.crm_emulator.salesforce_writes import ROLLED_BACK, Prepared, RecordWriter, UnknownFieldError
from store2crm.sandbox.server import Request, Response

SALESFORCE_COLLECTION_CAP = 200  # api-facts.md: sObject Collections take 200 records per request
SALESFORCE_QUERY_BATCH = 2_000  # REST "Query": up to 2,000 records a page
SALESFORCE_QUERY_MIN_BATCH = 200  # Sforce-Query-Options batchSize lower bound
SALESFORCE_API_VERSION = "62.0"
QUERY_LOCATOR_PREFIX = "01g"  # query locators in nextRecordsUrl start with 01g
INVALID_SESSION = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
LIMIT_EXCEEDED = [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}]
NOT_FOUND = [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]
TOO_MANY_RECORDS = "record limit reached. cannot submit more than 200 records into this call"
WRITE_ACTIONS = frozenset({"collection_upsert", "upsert", "create", "update"})


def error_list(status: int, code: str, message: str, fields: list[str] | None = None) -> Response:
    """A REST API error response: a JSON list with one {message, errorCode[, fields]}."""
    error: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        error["fields"] = fields
    return Response(status, [error])


@dataclass(frozen=True)
class _Route:
    method: str
    template: str
    action: str


_ROUTES = (
    _Route("GET", "/limits", "limits"),
    _Route("GET", "/query", "query"),
    _Route("GET", "/query/{locator}-{offset}", "query_more"),
    _Route("PATCH", "/composite/sobjects/{sobject}/{field}", "collection_upsert"),
    _Route("PATCH", "/sobjects/{sobject}/{field}/{value}", "upsert"),
    _Route("POST", "/sobjects/{sobject}", "create"),
    _Route("GET", "/sobjects/{sobject}/{record}", "get_record"),
    _Route("PATCH", "/sobjects/{sobject}/{record}", "update"),
    _Route("POST", "/jobs/ingest", "create_job"),
    _Route("PUT", "/jobs/ingest/{job}/batches", "upload_job"),
    _Route("PATCH", "/jobs/ingest/{job}", "close_job"),
    _Route("GET", "/jobs/ingest/{job}", "job_status"),
    _Route("GET", "/jobs/ingest/{job}/{results}", "job_results"),
)
_SHOWN_IN_STATS = ("sobject", "field", "results")  # other path parameters stay as placeholders
_PREFIX = re.compile(r"^/services/data/v(?P<version>\d+\.\d)")
_TABLE = [
    (
        route,
        re.compile(
            re.sub(r"\\\{(\w+)\\\}", lambda m: rf"(?P<{m[1]}>[^/]+?)", re.escape(route.template))
            + ("/?$" if route.action in ("job_results", "create_job") else "$")
        ),
    )
    for route in _ROUTES
]


def _match(method: str, path: str) -> tuple[_Route, dict[str, str], str] | None:
    """The route, its parameters (with `version`) and its stats key."""
    prefix = _PREFIX.match(path)
    if prefix is None:
        return None
    rest = path[prefix.end() :]
    for route, pattern in _TABLE:
        found = pattern.match(rest) if route.method == method else None
        if found and (route.action != "job_results" or found["results"] in ("successfulResults", "failedResults")):
            params = found.groupdict() | {"version": prefix["version"]}
            return route, params, f"{method} /services/data/v{SALESFORCE_API_VERSION}{_stats_path(route, params)}"
    return None


def _stats_path(route: _Route, params: dict[str, str]) -> str:
    """The route's path with sObject and field names filled in and ids left as placeholders."""
    return re.sub(r"\{(\w+)\}", lambda m: params[m[1]] if m[1] in _SHOWN_IN_STATS else m[0], route.template)


class SalesforceDialect:
    """A stateful Salesforce org; the emulator calls `handle` under its lock and `in_flight` before taking it.

    Options: `licences` (user licences, raising Enterprise/Professional allocations), `daily_limit`
    (overrides the edition's allocation), `unique_external_id` (False lets several records share an
    external id, as a non-unique External ID field does), `storm_status` (403 REQUEST_LIMIT_EXCEEDED or
    503 for forced storms), `bulk_polls` / `bulk_seconds` (when a closed ingest job completes) and
    `bulk_upload_cap_bytes`.
    """

    name = "salesforce"

    def __init__(
        self,
        *,
        access_token: str,
        tier: str,
        clock: Callable[[], float],
        faults: FaultInjector,
        licences: int = 0,
        daily_limit: int | None = None,
        unique_external_id: bool = True,
        storm_status: int = 403,
        bulk_polls: int = 2,
        bulk_seconds: float = 5.0,
        bulk_upload_cap_bytes: int | None = None,
    ) -> None:
        if storm_status not in (403, 503):
            raise ValueError("storm_status must be 403 (REQUEST_LIMIT_EXCEEDED) or 503")
        allocation = daily_allocation(tier, licences) if daily_limit is None else daily_limit
        self._token = access_token
        self._clock = clock
        self._faults = faults
        self._storm_status = storm_status
        self._unique_external_id = unique_external_id
        self._daily = RollingWindow(allocation, SECONDS_PER_DAY)
        self._locks = LockRegistry()
        self._holders = itertools.count(1)
        self._local = threading.local()
        self._base = f"/services/data/v{SALESFORCE_API_VERSION}"
        self._tables: dict[str, SObjectTable] = {}
        self._writer = RecordWriter(self._tables, clock, self._locks, faults)
        cap = {} if bulk_upload_cap_bytes is None else {"upload_cap_bytes": bulk_upload_cap_bytes}
        self._bulk = BulkIngest(self._writer, clock, lambda: self._base, polls=bulk_polls, seconds=bulk_seconds, **cap)
        self.reset()

    # -- state and inspection -------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every record, job, query cursor, sandbox lock and quota use."""
        self._tables.clear()
        self._tables.update(
            {name: SObjectTable(spec, unique_external_id=self._unique_external_id) for name, spec in SOBJECTS.items()}
        )
        self._cursors: dict[str, list[dict[str, Any]]] = {}
        self._locator_ids = itertools.count(1)
        self._bulk.reset()
        self._locks.clear()
        self._daily.clear()

    def object_names(self) -> tuple[str, ...]:
        """The sObjects this org holds."""
        return tuple(SOBJECTS)

    def objects(self, name: str) -> list[dict[str, Any]]:
        """Every record of an sObject (`Account`, or the aliases `companies`, `contacts`, `deals`)."""
        sobject = SOBJECT_ALIASES.get(name) or SOBJECT_ALIASES.get(name.lower())
        if sobject is None:
            raise ValueError(f"unknown Salesforce object {name!r}; valid objects: {', '.join(SOBJECTS)}")
        return [render(SOBJECTS[sobject], r, self._base) for r in self._tables[sobject].records()]

    def associations(self) -> list[dict[str, Any]]:
        """Every lookup that is set (Contact→Account, Account→Parent, Opportunity→Account/Contact)."""
        links = []
        for name, table in self._tables.items():
            lookups = [s for s in SOBJECTS[name].fields.values() if s.relationship and s.reference_to in SOBJECTS]
            for record in table.records():
                links.extend(
                    {
                        "fromObjectType": name,
                        "fromObjectId": record["Id"],
                        "toObjectType": spec.reference_to,
                        "toObjectId": record[spec.name],
                        "field": spec.name,
                    }
                    for spec in lookups
                    if record[spec.name]
                )
        return links

    # -- outside the emulator's lock -----------------------------------------------------------

    @contextmanager
    def in_flight(self, request: Request) -> Iterator[None]:
        """Hold the row locks a write touches while it waits for and runs under the emulator's lock."""
        matched = _match(request.method, request.path)
        if matched is None or matched[0].action not in WRITE_ACTIONS:
            yield
            return
        holder = f"request-{next(self._holders)}"
        self._local.holder = holder
        try:
            with self._locks.holding(holder, self._write_keys(request, matched[0].action, matched[1])):
                yield
        finally:
            self._local.holder = None

    def _write_keys(self, request: Request, action: str, params: dict[str, str]) -> list[LockKey]:
        sobject = SOBJECTS.get(params["sobject"])
        try:
            body = request.json()
        except (ValueError, UnicodeDecodeError):
            return []
        if sobject is None or not isinstance(body, dict):
            return []
        if action == "upsert":
            return self._writer.lock_keys(sobject, body, params["value"])
        if action == "create":
            return self._writer.parent_keys(sobject, body)
        if action == "update":
            return [(sobject.name, params["record"]), *self._writer.parent_keys(sobject, body)]
        records = body.get("records")
        payloads = [r for r in records if isinstance(r, dict)] if isinstance(records, list) else []
        return [key for r in payloads for key in self._writer.lock_keys(sobject, r, r.get(EXTERNAL_ID_FIELD))]

    def sandbox(self, request: Request) -> Response | None:
        """`/_sandbox/locks`: GET lists, POST holds rows (as another user would), DELETE releases them."""
        if request.path.rstrip("/") != "/_sandbox/locks":
            return None
        if request.method == "DELETE":
            self._locks.release(SANDBOX_HOLDER)
        elif request.method == "POST":
            try:
                keys = [self._sandbox_key(item) for item in (request.json() or {})["hold"]]
            except (ValueError, KeyError, TypeError) as bad:
                message = f'bad lock request {bad}; send {{"hold": [{{"sobject": "Account", "external_id": "..."}}]}}'
                return Response(400, {"status": "error", "message": message})
            self._locks.acquire(SANDBOX_HOLDER, keys)
        elif request.method != "GET":
            return None
        held = self._locks.held(SANDBOX_HOLDER)
        return Response(200, {"held": [{"sobject": sobject, "key": key} for sobject, key in held]})

    def _sandbox_key(self, item: dict[str, Any]) -> LockKey:
        sobject = SOBJECTS[item["sobject"]]
        if "id" in item:
            return sobject.name, str(item["id"])
        return self._writer.lock_keys(sobject, {}, str(item["external_id"]))[0]

    # -- request handling -----------------------------------------------------------------------

    def handle(self, request: Request) -> tuple[str, Response]:
        """Answer one API request; returns the stats key of its endpoint with the response."""
        matched = _match(request.method, request.path)
        endpoint = matched[2] if matched else f"{request.method} (no such endpoint)"
        if request.headers.get("authorization") != f"Bearer {self._token}":
            return endpoint, Response(401, INVALID_SESSION)
        if self._faults.draw("reset_rate"):
            return endpoint, Response(0, drop_connection=True)
        now = self._clock()
        response = self._admit(now) or self._serve(request, matched)
        used = self._daily.limit - self._daily.remaining(now)
        response.headers["Sforce-Limit-Info"] = f"api-usage={used}/{self._daily.limit}"
        if self._faults.draw("timeout_rate"):
            response.drop_connection = True  # served, but the client never hears back
        return endpoint, response

    def _admit(self, now: float) -> Response | None:
        """503 in downtime; 403 REQUEST_LIMIT_EXCEEDED in a storm or past the rolling 24 h allocation."""
        if self._faults.is_down(now):
            return error_list(503, "SERVER_UNAVAILABLE", "Server Unavailable (sandbox downtime window)")
        if self._faults.take_storm_call():
            if self._storm_status == 503:
                return error_list(503, "SERVER_UNAVAILABLE", "Server Unavailable (injected by the sandbox)")
            return Response(403, LIMIT_EXCEEDED)
        if self._daily.remaining(now) == 0:
            return Response(403, LIMIT_EXCEEDED)
        self._daily.admit(now)
        status = self._faults.draw_error()
        if status is not None:
            return error_list(status, "UNKNOWN_EXCEPTION", "An unexpected error occurred (injected by the sandbox)")
        return None

    def _serve(self, request: Request, matched: tuple[_Route, dict[str, str], str] | None) -> Response:
        if matched is None:
            return Response(404, NOT_FOUND)
        route, params, _ = matched
        self._base = f"/services/data/v{params.pop('version')}"
        handler: Callable[..., Response] = getattr(self, f"_{route.action}")
        return handler(request, **params)

    # -- limits and reads -----------------------------------------------------------------------

    def _limits(self, request: Request) -> Response:
        remaining = self._daily.remaining(self._clock())
        return Response(200, {"DailyApiRequests": {"Max": self._daily.limit, "Remaining": remaining}})

    def _get_record(self, request: Request, sobject: str, record: str) -> Response:
        spec = SOBJECTS.get(sobject)
        found = self._tables[spec.name].get(record) if spec else None
        if spec is None or found is None:
            return Response(404, NOT_FOUND)
        return Response(200, render(spec, found, self._base))

    def _query(self, request: Request) -> Response:
        try:
            query = parse(request.query.get("q", ""))
        except SoqlError as bad:
            return error_list(400, bad.error_code, bad.message)
        rows = [self._project(query, r) for r in query.run(self._tables[query.sobject.name].records())]
        return self._page(rows, 0, self._batch_size(request), None)

    def _query_more(self, request: Request, locator: str, offset: str) -> Response:
        rows = self._cursors.get(locator)
        if rows is None or not offset.isdigit():
            return error_list(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(rows, int(offset), self._batch_size(request), locator)

    def _batch_size(self, request: Request) -> int:
        options = request.headers.get("sforce-query-options", "")
        found = re.search(r"batchSize=(\d+)", options)
        asked = int(found[1]) if found else SALESFORCE_QUERY_BATCH
        return min(max(asked, SALESFORCE_QUERY_MIN_BATCH), SALESFORCE_QUERY_BATCH)

    def _page(self, rows: list[dict[str, Any]], offset: int, size: int, locator: str | None) -> Response:
        end = offset + size
        body: dict[str, Any] = {"totalSize": len(rows), "done": end >= len(rows)}
        if end < len(rows):
            locator = locator or record_id(QUERY_LOCATOR_PREFIX, next(self._locator_ids))
            self._cursors[locator] = rows
            body["nextRecordsUrl"] = f"{self._base}/query/{locator}-{end}"
        elif locator:
            del self._cursors[locator]  # a cursor read to the end is gone, as on Salesforce
        body["records"] = rows[offset:end]
        return Response(200, body)

    def _project(self, query: Query, record: dict[str, Any]) -> dict[str, Any]:
        plain = [name for relationship, name in query.fields if relationship is None]
        shown = render(query.sobject, record, self._base, plain)
        for relationship, name in query.fields:
            if relationship is None:
                continue
            lookup = query.sobject.relationship(relationship)
            target = SOBJECTS[lookup.reference_to or ""] if lookup else None
            parent = (
                self._tables[target.name].get(record[lookup.name])
                if target and lookup and record[lookup.name]
                else None
            )
            if parent is None or target is None:
                shown[relationship] = None
                continue
            nested = shown.get(relationship) or render(target, parent, self._base, [])
            nested[name] = parent.get(name)
            shown[relationship] = nested
        return shown

    # -- writes ---------------------------------------------------------------------------------

    def _collection_upsert(self, request: Request, sobject: str, field: str) -> Response:
        spec, problem = self._write_target(sobject, field)
        if spec is None:
            return problem
        body = _json(request)
        records = body.get("records") if isinstance(body, dict) else None
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            return error_list(400, "JSON_PARSER_ERROR", 'Cannot deserialize the request: expected {"records": [...]}')
        if len(records) > SALESFORCE_COLLECTION_CAP:
            return error_list(400, "EXCEEDED_ID_LIMIT", TOO_MANY_RECORDS)
        wrong = [r for r in records if (r.get("attributes") or {}).get("type") != spec.name]
        if wrong:
            message = f"Every record needs attributes.type {spec.name}, the sObject type in the request URI"
            return error_list(400, "INVALID_TYPE", message)
        try:
            batch = [self._writer.prepare_upsert(spec, r, r.get(EXTERNAL_ID_FIELD)) for r in records]
        except UnknownFieldError as unknown:
            return error_list(400, "INVALID_FIELD", str(unknown))
        self._writer.flag_repeats(batch)
        return Response(200, self._save_all(spec, batch, all_or_none=body.get("allOrNone") is True))

    def _save_all(self, spec: SObjectType, batch: list[Prepared], *, all_or_none: bool) -> list[dict[str, Any]]:
        table = self._tables[spec.name]
        table.begin()
        results = [self._save_one(prepared) for prepared in batch]
        if all_or_none and any(not r["success"] for r in results):
            table.rollback()
            rolled_back = ROLLED_BACK.as_error()
            return [r if not r["success"] else _failure(rolled_back) for r in results]
        table.commit()
        return results

    def _save_one(self, prepared: Prepared) -> dict[str, Any]:
        try:
            record_id_, created = self._writer.save(prepared, getattr(self._local, "holder", None))
        except FieldError as error:
            return _failure(error.as_error())
        return {"id": record_id_, "success": True, "errors": [], "created": created}

    def _upsert(self, request: Request, sobject: str, field: str, value: str) -> Response:
        spec, problem = self._write_target(sobject, field)
        if spec is None:
            return problem
        body = _json(request)
        if not isinstance(body, dict):
            return error_list(400, "JSON_PARSER_ERROR", "Cannot deserialize the request body: expected a JSON object")
        matches = self._tables[spec.name].matching(value)
        if len(matches) > 1:  # REST "Upsert by external ID": 300 listing every matching record
            return Response(300, [f"{self._base}/sobjects/{spec.name}/{match}" for match in matches])
        try:
            prepared = self._writer.prepare_upsert(spec, {k: v for k, v in body.items() if k != field}, value)
        except UnknownFieldError as unknown:
            return error_list(400, "INVALID_FIELD", str(unknown))
        result = self._save_one(prepared)
        if not result["success"]:
            error = result["errors"][0]
            return error_list(400, error["statusCode"], error["message"], error["fields"])
        return Response(201 if result["created"] else 200, result)

    def _create(self, request: Request, sobject: str) -> Response:
        spec = SOBJECTS.get(sobject)
        if spec is None:
            return Response(404, NOT_FOUND)
        body = _json(request)
        if not isinstance(body, dict):
            return error_list(400, "JSON_PARSER_ERROR", "Cannot deserialize the request body: expected a JSON object")
        try:
            prepared = self._writer.prepare_create(spec, body)
        except UnknownFieldError as unknown:
            return error_list(400, "INVALID_FIELD", str(unknown))
        result = self._save_one(prepared)
        if not result["success"]:
            error = result["errors"][0]
            return error_list(400, error["statusCode"], error["message"], error["fields"])
        return Response(201, {"id": result["id"], "success": True, "errors": []})

    def _update(self, request: Request, sobject: str, record: str) -> Response:
        """REST "Update a record" (PATCH by Id), as an agent's edit in the UI: 204 No Content when saved."""
        spec = SOBJECTS.get(sobject)
        found = self._tables[spec.name].get(record) if spec else None
        if spec is None or found is None:
            return Response(404, NOT_FOUND)
        body = _json(request)
        if not isinstance(body, dict):
            return error_list(400, "JSON_PARSER_ERROR", "Cannot deserialize the request body: expected a JSON object")
        try:
            prepared = self._writer.prepare_update(spec, body, found["Id"])
        except UnknownFieldError as unknown:
            return error_list(400, "INVALID_FIELD", str(unknown))
        result = self._save_one(prepared)
        if not result["success"]:
            error = result["errors"][0]
            return error_list(400, error["statusCode"], error["message"], error["fields"])
        return Response(204)

    def _write_target(self, sobject: str, field: str) -> tuple[SObjectType | None, Response]:
        spec = SOBJECTS.get(sobject)
        if spec is None:
            return None, Response(404, NOT_FOUND)
        if field != EXTERNAL_ID_FIELD:
            message = f"Provided external ID field does not exist or is not accessible: {field}"
            return None, error_list(404, "NOT_FOUND", message)
        return spec, Response(200)

    # -- Bulk API 2.0 ---------------------------------------------------------------------------

    def _create_job(self, request: Request) -> Response:
        return self._bulk.create(_json(request))

    def _upload_job(self, request: Request, job: str) -> Response:
        return self._bulk.upload(job, request.body)

    def _close_job(self, request: Request, job: str) -> Response:
        return self._bulk.change_state(job, _json(request))

    def _job_status(self, request: Request, job: str) -> Response:
        return self._bulk.status(job)

    def _job_results(self, request: Request, job: str, results: str) -> Response:
        return self._bulk.results(job, results)


def _failure(error: dict[str, Any]) -> dict[str, Any]:
    return {"id": None, "success": False, "errors": [error], "created": False}


def _json(request: Request) -> Any:
    try:
        return request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
