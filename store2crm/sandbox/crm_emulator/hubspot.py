"""HubSpot dialect of the CRM emulator: CRM v3 objects and properties, v4 associations, auth, rate limits."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from store2crm.sandbox.crm_emulator.faults import FaultInjector
from store2crm.sandbox.crm_emulator.hubspot_errors import (
    AUTH_FAILED,
    RATE_LIMIT_MESSAGES,
    SANDBOX_PORTAL_ID,
    InputError,
    Reject,
    as_string,
    error_response,
    invalid_properties,
    merge_not_found,
    multi_status,
    property_problem,
)
from store2crm.sandbox.crm_emulator.hubspot_schema import (
    ASSOCIATION_TYPES,
    OBJECT_ALIASES,
    OBJECT_TYPES,
    PROPERTY_REQUIRED_FIELDS,
    PROPERTY_TYPES,
    ObjectType,
    default_schema,
    property_definition,
)
from store2crm.sandbox.crm_emulator.hubspot_search import SEARCH_REQUESTS_PER_SECOND, SEARCH_RESULT_CAP, search
from store2crm.sandbox.crm_emulator.limits import DailyQuota, RollingWindow
from store2crm.sandbox.crm_emulator.store import ObjectStore, StoredRecord
from store2crm.sandbox.server import Request, Response

HUBSPOT_BATCH_CAP = 100  # api-facts.md: 100 inputs per object batch call (unofficial; we enforce it)
HUBSPOT_WINDOW_SECONDS = 10.0  # api-facts.md: per-app limit over a rolling 10 s
HUBSPOT_TIERS: dict[str, tuple[int, int]] = {  # api-facts.md: (calls per rolling 10 s, calls per day)
    "free": (100, 250_000),
    "starter": (100, 250_000),
    "professional": (190, 625_000),
    "enterprise": (190, 1_000_000),
}
HUBSPOT_API_VERSION = "2026-03"  # api-facts.md: date-versioned paths carry the v3 schemas
HUBSPOT_LIST_DEFAULT_LIMIT = 10  # objects list reference: `limit` defaults to 10
HUBSPOT_LIST_MAX_LIMIT = 100  # objects list reference: at most 100 results a page
BATCH_TOO_LARGE = (  # 400 text HubSpot returns above the batch cap
    f"The maximum number of inputs supported in a batch is {HUBSPOT_BATCH_CAP}. "
    "Please reduce the number of items and try again"
)
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _iso(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class _Route:
    method: str
    family: str
    template: str
    action: str


_ROUTES = (
    _Route("POST", "objects", "/{object_type}/batch/upsert", "batch_upsert"),
    _Route("POST", "objects", "/{object_type}/batch/create", "batch_create"),
    _Route("POST", "objects", "/{object_type}/batch/update", "batch_update"),
    _Route("POST", "objects", "/{object_type}/batch/read", "batch_read"),
    _Route("POST", "objects", "/{object_type}/search", "search"),
    _Route("GET", "objects", "/{object_type}", "list_objects"),
    _Route("GET", "objects", "/{object_type}/{object_id}", "get_object"),
    _Route("POST", "properties", "/{object_type}/batch/create", "batch_create_properties"),
    _Route("POST", "properties", "/{object_type}", "create_property"),
    _Route("GET", "properties", "/{object_type}", "list_properties"),
    _Route("GET", "properties", "/{object_type}/{property_name}", "get_property"),
    _Route("POST", "associations", "/{from_type}/{to_type}/batch/create", "create_associations"),
)
_KEPT_IN_STATS_KEY = ("object_type", "from_type", "to_type")  # ids and names stay as placeholders


class _Router:
    """Maps a request path under the legacy or the date-versioned prefix to a route and its parameters."""

    def __init__(self, path_prefix: str, api_version: str) -> None:
        prefixes = {
            "objects": (f"{path_prefix}/objects", f"/crm/objects/{api_version}"),
            "properties": (f"{path_prefix}/properties", f"/crm/properties/{api_version}"),
            "associations": ("/crm/v4/associations", f"/crm/associations/{api_version}"),
        }
        self._table = [
            (route, re.compile(re.escape(prefix) + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", route.template) + "$"))
            for route in _ROUTES
            for prefix in prefixes[route.family]
        ]
        self._canonical = {family: paths[0] for family, paths in prefixes.items()}

    def match(self, method: str, path: str) -> tuple[_Route, dict[str, str], str] | None:
        """The route, its path parameters and its stats key (canonical path, ids as placeholders)."""
        for route, pattern in self._table:
            found = pattern.match(path) if route.method == method else None
            if found:
                params = found.groupdict()
                return route, params, f"{method} {self._stats_key(route, params)}"
        return None

    def _stats_key(self, route: _Route, params: dict[str, str]) -> str:
        shown = {k: OBJECT_ALIASES.get(v.lower(), v) for k, v in params.items() if k in _KEPT_IN_STATS_KEY}
        path = re.sub(r"\{(\w+)\}", lambda m: shown.get(m[1], m[0]), route.template)
        return self._canonical[route.family] + path


class HubSpotDialect:
    """A stateful HubSpot account; the emulator calls it under one lock, so it holds no lock itself."""

    name = "hubspot"

    def __init__(
        self,
        *,
        access_token: str,
        tier: str,
        clock: Callable[[], float],
        faults: FaultInjector,
        path_prefix: str = "/crm/v3",
        api_version: str = HUBSPOT_API_VERSION,
        window_seconds: float = HUBSPOT_WINDOW_SECONDS,
        window_limit: int | None = None,
        daily_limit: int | None = None,
        search_per_second: int = SEARCH_REQUESTS_PER_SECOND,
        search_result_cap: int = SEARCH_RESULT_CAP,
    ) -> None:
        if tier not in HUBSPOT_TIERS:
            raise ValueError(f"unknown HubSpot tier {tier!r}; valid tiers: {', '.join(HUBSPOT_TIERS)}")
        tier_window, tier_daily = HUBSPOT_TIERS[tier]
        self._token = access_token
        self._clock = clock
        self._faults = faults
        self._window = RollingWindow(tier_window if window_limit is None else window_limit, window_seconds)
        self._daily = DailyQuota(tier_daily if daily_limit is None else daily_limit)
        self._search_window = RollingWindow(search_per_second, 1.0)
        self._search_result_cap = search_result_cap
        self._router = _Router(path_prefix.rstrip("/"), api_version)
        self.reset()

    # -- state and inspection -------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every record, custom property, association and quota use."""
        created = self._now_iso()
        self._schemas = {name: default_schema(spec, created) for name, spec in OBJECT_TYPES.items()}
        self._stores = {name: ObjectStore(casefolded=frozenset({"email"})) for name in OBJECT_TYPES}
        self._stores["contacts"].add_unique("email")
        self._associations: dict[tuple[str, str, str, str, int], dict[str, Any]] = {}
        self._window.clear()
        self._daily.clear()
        self._search_window.clear()

    def object_names(self) -> tuple[str, ...]:
        """The object types this account holds."""
        return tuple(OBJECT_TYPES)

    def objects(self, name: str) -> list[dict[str, Any]]:
        """Every stored record of an object type, with all its properties."""
        if name not in OBJECT_ALIASES:
            raise ValueError(f"unknown HubSpot object {name!r}; valid objects: {', '.join(OBJECT_TYPES)}")
        return [self._render(record) for record in self._stores[OBJECT_ALIASES[name]].records()]

    def associations(self) -> list[dict[str, Any]]:
        """Every association created, in creation order."""
        return [dict(a) for a in self._associations.values()]

    # -- request handling -----------------------------------------------------------------------

    def handle(self, request: Request) -> tuple[str, Response]:
        """Answer one API request; returns the stats key of its endpoint with the response."""
        matched = self._router.match(request.method, request.path)
        endpoint = matched[2] if matched else f"{request.method} (no such endpoint)"
        if request.headers.get("authorization") != f"Bearer {self._token}":
            return endpoint, error_response(401, AUTH_FAILED, "INVALID_AUTHENTICATION")
        now = self._clock()
        if self._faults.draw("reset_rate"):
            return endpoint, Response(0, drop_connection=True)
        searching = matched is not None and matched[0].action == "search"
        response = self._admit(now, searching) or self._serve(request, matched)
        if not searching:  # search answers carry no rate-limit headers (api-facts.md)
            response.headers.update(self._rate_headers(now))
        if self._faults.draw("timeout_rate"):
            response.drop_connection = True  # served, but the client never hears back
        return endpoint, response

    def _admit(self, now: float, searching: bool = False) -> Response | None:
        """A 503 in downtime; a 429 when a forced storm, the daily quota or the rolling window refuses the call."""
        if self._faults.is_down(now):
            return error_response(503, "Service Unavailable (sandbox downtime window)")
        policy = None
        window = self._search_window if searching else self._window
        if self._faults.take_storm_call() or window.remaining(now) == 0:
            policy = "TEN_SECONDLY_ROLLING"
        if self._daily.remaining(now) == 0:
            policy = "DAILY"
        if policy is not None:
            return error_response(429, RATE_LIMIT_MESSAGES[policy], errorType="RATE_LIMIT", policyName=policy)
        window.admit(now)
        self._daily.admit(now)
        status = self._faults.draw_error()
        if status is not None:
            return error_response(status, "internal error (injected by the sandbox)")
        return None

    def _rate_headers(self, now: float) -> dict[str, str]:
        return {
            "X-HubSpot-RateLimit-Max": str(self._window.limit),
            "X-HubSpot-RateLimit-Remaining": str(self._window.remaining(now)),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(self._window.seconds * 1000)),
            "X-HubSpot-RateLimit-Daily": str(self._daily.limit),
            "X-HubSpot-RateLimit-Daily-Remaining": str(self._daily.remaining(now)),
        }

    def _serve(self, request: Request, matched: tuple[_Route, dict[str, str], str] | None) -> Response:
        if matched is None:
            return error_response(404, "resource not found")
        route, params, _ = matched
        handler: Callable[..., Response] = getattr(self, f"_{route.action}")
        try:
            return handler(request, **params)
        except Reject as reject:
            return reject.response

    # -- objects --------------------------------------------------------------------------------

    def _batch_upsert(self, request: Request, object_type: str) -> Response:
        spec = self._object_type(object_type)
        _, inputs = self._batch_body(request)
        for position, item in enumerate(inputs):
            self._require_unique_id_property(spec, item.get("idProperty") or "hs_object_id")
            item["id"] = self._required_id(item, position)
        self._reject_duplicate_ids(inputs)
        return self._run_batch(spec, inputs, lambda i, item: self._upsert_one(spec, i, item), 200)

    def _upsert_one(self, spec: ObjectType, position: int, item: dict[str, Any]) -> dict[str, Any]:
        id_property, key = item["idProperty"], item["id"]
        properties = self._input_properties(spec, item, position)
        existing = self._stores[spec.name].find(id_property, key)
        if existing is not None:
            return {**self._render(self._update_record(spec, existing, properties)), "new": False}
        keyed = self._checked_properties(spec, {id_property: key.lower() if id_property == "email" else key})
        created = self._create_record(spec, {**properties, **keyed})
        return {**self._render(created), "new": True}

    def _batch_create(self, request: Request, object_type: str) -> Response:
        spec = self._object_type(object_type)
        _, inputs = self._batch_body(request)

        def create(position: int, item: dict[str, Any]) -> dict[str, Any]:
            return self._render(self._create_record(spec, self._input_properties(spec, item, position)))

        return self._run_batch(spec, inputs, create, 201)

    def _batch_update(self, request: Request, object_type: str) -> Response:
        spec = self._object_type(object_type)
        _, inputs = self._batch_body(request)
        for position, item in enumerate(inputs):
            if item.get("idProperty"):
                self._require_unique_id_property(spec, item["idProperty"])
            item["id"] = self._required_id(item, position)
        self._reject_duplicate_ids(inputs)

        def update(position: int, item: dict[str, Any]) -> dict[str, Any]:
            properties = self._input_properties(spec, item, position)
            record = self._lookup(spec, item["id"], item.get("idProperty"))
            return self._render(self._update_record(spec, record, properties))

        return self._run_batch(spec, inputs, update, 200, not_found_verb="update")

    def _batch_read(self, request: Request, object_type: str) -> Response:
        spec = self._object_type(object_type)
        body, inputs = self._batch_body(request)
        id_property = body.get("idProperty")
        if id_property:
            self._require_unique_id_property(spec, id_property)
        names = self._property_names(spec, body.get("properties") or [])
        ids = [self._required_id(item, position) for position, item in enumerate(inputs)]
        started = self._now_iso()
        results, errors = [], []
        for record_id in ids:
            try:
                results.append(self._render(self._lookup(spec, record_id, id_property), names))
            except InputError as missing:
                errors.append(missing.batch_error(None))
        return self._batch_response(spec, started, results, errors, success_status=200, verb="get")

    def _list_objects(self, request: Request, object_type: str) -> Response:
        spec = self._object_type(object_type)
        limit = self._limit(request.query.get("limit"))
        after = request.query.get("after")
        records = self._stores[spec.name].records()
        start = 0
        if after:
            if not after.isdigit():
                raise Reject(error_response(400, f"after must be a record id, got {after!r}", "VALIDATION_ERROR"))
            start = next((i for i, r in enumerate(records) if int(r.id) >= int(after)), len(records))
        page = records[start : start + limit]
        names = self._requested(request, spec)
        body: dict[str, Any] = {"results": [self._render(r, names) for r in page]}
        if start + limit < len(records):
            next_id = records[start + limit].id
            link = f"http://{request.headers.get('host', 'localhost')}{request.path}?limit={limit}&after={next_id}"
            body["paging"] = {"next": {"after": next_id, "link": link}}
        return Response(200, body)

    def _get_object(self, request: Request, object_type: str, object_id: str) -> Response:
        spec = self._object_type(object_type)
        id_property = request.query.get("idProperty")
        if id_property:
            self._require_unique_id_property(spec, id_property)
        try:
            record = self._lookup(spec, object_id, id_property)
        except InputError:
            return error_response(404, "resource not found")
        return Response(200, self._render(record, self._requested(request, spec)))

    def _search(self, request: Request, object_type: str) -> Response:
        spec = self._object_type(object_type)
        schema = self._schemas[spec.name]
        answer = search(
            self._stores[spec.name].records(),
            self._json(request),
            kinds={name: definition["type"] for name, definition in schema.items()},
            default_properties=list(spec.default_read),
            render=self._render,
            result_cap=self._search_result_cap,
        )
        return Response(200, answer)

    # -- object helpers -------------------------------------------------------------------------

    def _run_batch(
        self,
        spec: ObjectType,
        inputs: list[dict[str, Any]],
        apply: Callable[[int, dict[str, Any]], dict[str, Any]],
        success_status: int,
        not_found_verb: str = "update",
    ) -> Response:
        """Apply inputs in order; without multi-status the first input error undoes the whole batch."""
        store = self._stores[spec.name]
        partial = multi_status(inputs)
        started = self._now_iso()
        results, errors = [], []
        store.begin()
        for position, item in enumerate(inputs):
            trace_id = item.get("objectWriteTraceId")
            if partial and self._faults.draw("partial_failure_rate"):
                injected = InputError(500, "INTERNAL_ERROR", "internal error (injected by the sandbox)", atomic=False)
                errors.append(injected.batch_error(trace_id))
                continue
            try:
                result = apply(position, item)
            except InputError as failure:
                if failure.atomic and not partial:
                    store.rollback()
                    return failure.response()
                errors.append(failure.batch_error(trace_id))
                continue
            except Reject:
                store.rollback()
                raise
            results.append(result if trace_id is None else {**result, "objectWriteTraceId": trace_id})
        store.commit()
        return self._batch_response(spec, started, results, errors, success_status=success_status, verb=not_found_verb)

    def _batch_response(
        self,
        spec: ObjectType,
        started: str,
        results: list[dict[str, Any]],
        errors: list[dict[str, Any]],
        *,
        success_status: int,
        verb: str,
    ) -> Response:
        body: dict[str, Any] = {"status": "COMPLETE", "results": results}
        if errors:
            message = (
                f"Could not {verb} some {spec.singular} objects, they may be deleted or not exist. "
                "Check that ids are valid."
            )
            errors = merge_not_found(errors, message)
            body.update(numErrors=len(errors), errors=errors)
        body.update(startedAt=started, completedAt=self._now_iso())
        return Response(207 if errors else success_status, body)

    def _batch_body(self, request: Request) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        body = self._json(request)
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or not all(isinstance(item, dict) for item in inputs):
            raise Reject(
                error_response(
                    400, "Invalid input JSON: Some required fields were not set: [inputs]", "VALIDATION_ERROR"
                )
            )
        if len(inputs) > HUBSPOT_BATCH_CAP:
            raise Reject(error_response(400, BATCH_TOO_LARGE, "VALIDATION_ERROR"))
        return body, inputs

    def _json(self, request: Request) -> Any:
        try:
            return request.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as bad:
            where = f" on line {bad.lineno}, column {bad.colno}" if isinstance(bad, json.JSONDecodeError) else ""
            raise Reject(error_response(400, f"Invalid input JSON{where}: {bad}", "VALIDATION_ERROR")) from bad

    def _required_id(self, item: dict[str, Any], position: int) -> str:
        if item.get("id") in (None, ""):
            raise Reject(
                error_response(
                    400,
                    f"Invalid input JSON: Some required fields were not set: [inputs[{position}].id]",
                    "VALIDATION_ERROR",
                )
            )
        return as_string(item["id"], f"inputs[{position}].id")

    def _reject_duplicate_ids(self, inputs: list[dict[str, Any]]) -> None:
        seen: set[tuple[str, str]] = set()
        duplicates = []
        for item in inputs:
            id_property = item.get("idProperty") or "hs_object_id"
            key = (id_property, item["id"].casefold() if id_property == "email" else item["id"])
            if key in seen:
                duplicates.append(item["id"])
            seen.add(key)
        if duplicates:
            raise Reject(
                error_response(
                    400,
                    f"Duplicate IDs found in batch input: [{', '.join(duplicates)}]. IDs must be unique",
                    "VALIDATION_ERROR",
                )
            )

    def _require_unique_id_property(self, spec: ObjectType, id_property: str) -> None:
        """Upserts and id lookups need `email` (contacts) or a property created with hasUniqueValue."""
        if id_property in self._stores[spec.name].unique_properties:
            return
        raise Reject(
            error_response(
                400,
                f"Unable to perform update/upsert by non-unique {spec.type_id} property {id_property} "
                f"in portal ID {SANDBOX_PORTAL_ID}",
                "VALIDATION_ERROR",
            )
        )

    def _input_properties(self, spec: ObjectType, item: dict[str, Any], position: int) -> dict[str, str]:
        """The input's properties as strings, or the input's VALIDATION_ERROR."""
        raw = item.get("properties", {})
        if not isinstance(raw, dict):
            raise Reject(error_response(400, f"Invalid input JSON: inputs[{position}].properties", "VALIDATION_ERROR"))
        properties = {name: as_string(value, f"inputs[{position}].properties.{name}") for name, value in raw.items()}
        if spec.email_keyed and properties.get("email"):
            properties["email"] = properties["email"].lower()  # HubSpot stores contact emails lowercased
        return self._checked_properties(spec, properties)

    def _checked_properties(self, spec: ObjectType, properties: dict[str, str]) -> dict[str, str]:
        """The properties unchanged, or the VALIDATION_ERROR listing every invalid one."""
        problems = self._property_problems(spec, properties)
        if problems:
            raise invalid_properties(problems)
        return properties

    def _property_problems(self, spec: ObjectType, properties: dict[str, str]) -> list[dict[str, Any]]:
        schema = self._schemas[spec.name]
        problems = []
        for name, value in properties.items():
            definition = schema.get(name)
            if definition is None:
                problems.append(property_problem(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist'))
            elif definition["modificationMetadata"]["readOnlyValue"]:
                message = f'"{name}" is a calculated property; its value cannot be set.'
                problems.append(property_problem(name, "READ_ONLY_VALUE", message))
            elif name == "email" and value and not EMAIL_PATTERN.match(value):
                problems.append(property_problem(name, "INVALID_EMAIL", f"Email address {value} is invalid"))
        return problems

    def _lookup(self, spec: ObjectType, record_id: str, id_property: str | None) -> StoredRecord:
        store = self._stores[spec.name]
        record = store.find(id_property, record_id) if id_property else store.get(record_id)
        if record is None:
            raise InputError(
                404,
                "OBJECT_NOT_FOUND",
                f"Could not find {spec.singular} {record_id}",
                {"ids": [record_id]},
                atomic=False,
            )
        return record

    def _check_unique(self, spec: ObjectType, properties: dict[str, str], record_id: str | None) -> None:
        store = self._stores[spec.name]
        for prop in store.unique_properties:
            owner = store.owner(prop, properties[prop]) if properties.get(prop) else None
            if owner is not None and owner != record_id:
                raise InputError(
                    409,
                    "CONFLICT",
                    f"{spec.label} already exists. Existing ID: {owner}",
                    {"existingId": [owner]},
                )

    def _create_record(self, spec: ObjectType, properties: dict[str, str]) -> StoredRecord:
        self._check_unique(spec, properties, None)
        store = self._stores[spec.name]
        now = self._now_iso()
        record_id = store.new_id()
        values = {k: v for k, v in properties.items() if v != ""}
        values.setdefault("createdate", now)
        values.update({spec.modified_property: now, "hs_object_id": record_id})
        record = StoredRecord(record_id, values, now, now)
        store.put(record)
        return record

    def _update_record(self, spec: ObjectType, record: StoredRecord, properties: dict[str, str]) -> StoredRecord:
        self._check_unique(spec, properties, record.id)
        now = self._now_iso()
        values = dict(record.properties)
        for name, value in properties.items():
            if value == "":
                values.pop(name, None)  # an empty string clears the value
            else:
                values[name] = value
        values[spec.modified_property] = now
        updated = replace(record, properties=values, updated_at=now)
        self._stores[spec.name].put(updated)
        return updated

    def _render(self, record: StoredRecord, names: list[str] | None = None) -> dict[str, Any]:
        """A record as the objects API returns it; `names` limits the properties like `?properties=`."""
        if names is None:
            properties = dict(sorted(record.properties.items()))
        else:
            properties = {name: record.properties.get(name) for name in sorted(set(names))}
        return {
            "id": record.id,
            "properties": properties,
            "createdAt": record.created_at,
            "updatedAt": record.updated_at,
            "archived": record.archived,
        }

    def _requested(self, request: Request, spec: ObjectType) -> list[str]:
        """Properties a read asks for in its query (comma lists or repeats)."""
        asked = [n for k, v in request.query_pairs if k == "properties" for n in v.split(",") if n]
        return self._property_names(spec, asked)

    def _property_names(self, spec: ObjectType, asked: Any) -> list[str]:
        """The known properties among those asked for (unknown ones are left out), else the defaults."""
        if not isinstance(asked, list) or not all(isinstance(name, str) for name in asked):
            raise Reject(
                error_response(400, "Invalid input JSON: properties must be a list of names", "VALIDATION_ERROR")
            )
        schema = self._schemas[spec.name]
        return [n for n in asked if n in schema] if asked else list(spec.default_read)

    def _limit(self, raw: str | None) -> int:
        if raw is None:
            return HUBSPOT_LIST_DEFAULT_LIMIT
        if not raw.isdigit() or int(raw) < 1:
            raise Reject(error_response(400, f"limit must be a positive integer, got {raw!r}", "VALIDATION_ERROR"))
        return min(int(raw), HUBSPOT_LIST_MAX_LIMIT)

    def _object_type(self, segment: str) -> ObjectType:
        name = OBJECT_ALIASES.get(segment.lower())
        if name is None:
            raise Reject(error_response(400, f"Unable to infer object type from: {segment}", "VALIDATION_ERROR"))
        return OBJECT_TYPES[name]

    # -- properties -----------------------------------------------------------------------------

    def _create_property(self, request: Request, object_type: str) -> Response:
        spec = self._object_type(object_type)
        body = self._json(request)
        if not isinstance(body, dict):
            raise Reject(error_response(400, "Invalid input JSON: expected a property object", "VALIDATION_ERROR"))
        self._check_property_input(body)
        if body["name"] in self._schemas[spec.name]:
            return self._property_exists(body["name"])
        return Response(201, self._add_property(spec, body))

    def _batch_create_properties(self, request: Request, object_type: str) -> Response:
        spec = self._object_type(object_type)
        _, inputs = self._batch_body(request)
        for item in inputs:
            self._check_property_input(item)
        started = self._now_iso()
        results, errors = [], []
        for item in inputs:
            if item["name"] in self._schemas[spec.name]:
                exists = self._property_exists(item["name"]).body
                errors.append(
                    {k: exists[k] for k in ("status", "category", "message")} | {"context": {"name": [item["name"]]}}
                )
            else:
                results.append(self._add_property(spec, item))
        body: dict[str, Any] = {"status": "COMPLETE", "results": results}
        if errors:
            body.update(numErrors=len(errors), errors=errors)
        body.update(startedAt=started, completedAt=self._now_iso())
        return Response(207 if errors else 201, body)

    def _list_properties(self, request: Request, object_type: str) -> Response:
        spec = self._object_type(object_type)
        return Response(200, {"results": list(self._schemas[spec.name].values())})

    def _get_property(self, request: Request, object_type: str, property_name: str) -> Response:
        spec = self._object_type(object_type)
        definition = self._schemas[spec.name].get(property_name)
        if definition is None:
            message = f"Unable to find property {property_name} for object type {spec.type_id}"
            return error_response(404, message, "OBJECT_NOT_FOUND")
        return Response(200, definition)

    def _check_property_input(self, body: dict[str, Any]) -> None:
        missing = [name for name in PROPERTY_REQUIRED_FIELDS if not body.get(name)]
        if missing:
            message = f"Invalid input JSON: Some required fields were not set: [{', '.join(missing)}]"
            raise Reject(error_response(400, message, "VALIDATION_ERROR"))
        if body["type"] not in PROPERTY_TYPES:
            message = f"{body['type']} is not a valid property type; valid types: {', '.join(sorted(PROPERTY_TYPES))}"
            raise Reject(error_response(400, message, "VALIDATION_ERROR"))

    def _property_exists(self, name: str) -> Response:
        return error_response(409, f"Property named '{name}' already exists.", "OBJECT_ALREADY_EXISTS")

    def _add_property(self, spec: ObjectType, body: dict[str, Any]) -> dict[str, Any]:
        flags = {
            k: body[k]
            for k in ("description", "options", "displayOrder", "hasUniqueValue", "hidden", "formField")
            if k in body
        }
        definition = property_definition(
            body["name"],
            label=body["label"],
            kind=body["type"],
            field_type=body["fieldType"],
            group=body["groupName"],
            created_at=self._now_iso(),
            **flags,
        )
        self._schemas[spec.name][body["name"]] = definition
        if definition["hasUniqueValue"]:
            self._stores[spec.name].add_unique(body["name"])
        return definition

    # -- associations v4 ------------------------------------------------------------------------

    def _create_associations(self, request: Request, from_type: str, to_type: str) -> Response:
        source, target = self._object_type(from_type), self._object_type(to_type)
        allowed = ASSOCIATION_TYPES.get((source.name, target.name), {})
        _, inputs = self._batch_body(request)
        links = [self._association_input(item, position, allowed) for position, item in enumerate(inputs)]
        started = self._now_iso()
        results, errors = [], []
        for from_id, to_id, type_ids in links:
            missing = [
                f"{spec.singular} {record_id}"
                for spec, record_id in ((source, from_id), (target, to_id))
                if self._stores[spec.name].get(record_id) is None
            ]
            if missing:
                errors.append(self._association_error(missing, from_id, to_id))
                continue
            for type_id in type_ids:
                self._associations.setdefault(
                    (source.name, from_id, target.name, to_id, type_id),
                    {
                        "fromObjectType": source.name,
                        "fromObjectId": from_id,
                        "toObjectType": target.name,
                        "toObjectId": to_id,
                        "associationCategory": "HUBSPOT_DEFINED",
                        "associationTypeId": type_id,
                    },
                )
            labels = sorted({label for t in type_ids if (label := allowed[t])})
            results.append(
                {
                    "fromObjectTypeId": source.type_id,
                    "fromObjectId": from_id,
                    "toObjectTypeId": target.type_id,
                    "toObjectId": to_id,
                    "labels": labels,
                }
            )
        body: dict[str, Any] = {"status": "COMPLETE", "results": results}
        if errors:
            body.update(numErrors=len(errors), errors=errors)
        body.update(startedAt=started, completedAt=self._now_iso())
        return Response(207 if errors else 201, body)

    def _association_input(
        self, item: dict[str, Any], position: int, allowed: dict[int, str | None]
    ) -> tuple[str, str, list[int]]:
        try:
            from_id = as_string(item["from"]["id"], f"inputs[{position}].from.id")
            to_id = as_string(item["to"]["id"], f"inputs[{position}].to.id")
            types = [(t.get("associationCategory", "HUBSPOT_DEFINED"), t["associationTypeId"]) for t in item["types"]]
        except (KeyError, TypeError, AttributeError):
            message = f"Invalid input JSON: inputs[{position}] needs from.id, to.id and types[].associationTypeId"
            raise Reject(error_response(400, message, "VALIDATION_ERROR")) from None
        bad = [
            f"{category} {type_id}"
            for category, type_id in types
            if category != "HUBSPOT_DEFINED" or type_id not in allowed
        ]
        if bad or not types:
            valid = ", ".join(str(t) for t in allowed) or "none"
            message = (
                f"Invalid association types [{', '.join(bad)}] for this object pair; valid HUBSPOT_DEFINED ids: {valid}"
            )
            raise Reject(error_response(400, message, "VALIDATION_ERROR"))
        return from_id, to_id, [type_id for _, type_id in types]

    def _association_error(self, missing: list[str], from_id: str, to_id: str) -> dict[str, Any]:
        return {
            "status": "error",
            "category": "VALIDATION_ERROR",
            "subCategory": "crm.associations.INVALID_OBJECT_IDS",
            "message": f"No such object: {', '.join(missing)}",
            "context": {"fromObjectId": [from_id], "toObjectId": [to_id]},
        }

    # -- time -----------------------------------------------------------------------------------

    def _now_iso(self) -> str:
        return _iso(self._clock())
