"""HubSpot CRM module: custom-property setup, batch upserts of contacts, companies and deals, associations."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from destination_crm.crms.base import (
    OVER_BUDGET,
    UNREACHABLE,
    CrmModule,
    ObjectWrite,
    RecordRejected,
    ResolvedLink,
    WriteOutcome,
)
from destination_crm.crms.hubspot_errors import (
    DAILY_LIMIT,
    DAILY_REMAINING_HEADER,
    DEFAULT_WINDOW_SECONDS,
    INTERVAL_HEADER,
    HubSpotBackoffStrategy,
    HubSpotErrorHandler,
    body_of,
)
from destination_crm.crms.hubspot_mapping import DEFAULT_MAPPINGS, ObjectMapping, PropertyDefinition
from destination_crm.http import CrmHttpClient, Sleep
from destination_crm.quota import BudgetExhausted, BurstLimiter, DailyBudget, QuotaPacer, RateHeaders, calls_for

# Inputs per object batch call (api-facts.md: unofficial but universal; HubSpot's spec sets no maximum).
HUBSPOT_BATCH_CAP = 100
DEFAULT_BASE_URL = "https://api.hubapi.com"
DEFAULT_API_PREFIX = "/crm/v3"
STATUS_BAD_REQUEST = 400
STATUS_CONFLICT = 409
OBJECT_NOT_FOUND = "OBJECT_NOT_FOUND"
# Calls per day kept free for the account's other apps unless the config says otherwise.
DEFAULT_DAILY_RESERVE = 1000
ASSOCIATIONS_PATH = "/crm/v4/associations"
RATE_HEADERS = RateHeaders(
    window_max="X-HubSpot-RateLimit-Max",
    window_remaining="X-HubSpot-RateLimit-Remaining",
    window_interval_ms=INTERVAL_HEADER,
    daily_remaining=DAILY_REMAINING_HEADER,
)


class HubSpotCrm(CrmModule):
    """Writes the crm_* streams to HubSpot through the CRM v3 batch upsert endpoints."""

    name = "hubspot"
    batch_cap = HUBSPOT_BATCH_CAP
    writes_associations = True

    def __init__(
        self,
        *,
        access_token: str,
        sleep: Sleep,
        logger: logging.Logger,
        base_url: str = DEFAULT_BASE_URL,
        api_prefix: str = DEFAULT_API_PREFIX,
        mappings: Mapping[str, ObjectMapping] = DEFAULT_MAPPINGS,
        clock: Callable[[], float] = time.time,
        daily_reserve: int = DEFAULT_DAILY_RESERVE,
        owned_fields: Mapping[str, frozenset[str]] | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._prefix = "/" + api_prefix.strip("/")
        owned = owned_fields or {}
        self._mappings = {
            stream: replace(m, owned=m.owned | owned.get(m.object_type, frozenset())) for stream, m in mappings.items()
        }
        self._logger = logger
        self._pacer = QuotaPacer(
            RATE_HEADERS,
            BurstLimiter(clock=clock, sleep=sleep, default_interval=DEFAULT_WINDOW_SECONDS),
            DailyBudget(daily_reserve),
        )
        self._http = CrmHttpClient(
            base_url=self._base_url,
            headers={"Authorization": f"Bearer {access_token}", "Content-Type": "application/json"},
            error_handler=HubSpotErrorHandler(logger),
            backoff_strategy=HubSpotBackoffStrategy(),
            sleep=sleep,
            logger=logger,
            pacer=self._pacer,
        )
        self._objects_ready: set[str] = set()

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Any],
        *,
        sleep: Sleep,
        logger: logging.Logger,
        clock: Callable[[], float] = time.time,
    ) -> HubSpotCrm:
        """Build from the `hubspot` block of the destination config."""
        settings = config.get("hubspot") or {}
        token = settings.get("access_token")
        if not token:
            raise AirbyteTracedException(
                message="hubspot.access_token is missing: paste a HubSpot private app token",
                failure_type=FailureType.config_error,
            )
        return cls(
            access_token=token,
            sleep=sleep,
            logger=logger,
            base_url=settings.get("base_url") or DEFAULT_BASE_URL,
            api_prefix=settings.get("api_prefix") or DEFAULT_API_PREFIX,
            clock=clock,
            daily_reserve=daily_reserve(config),
            owned_fields=owned_fields(config.get("crm_owned_fields")),
        )

    @property
    def target(self) -> str:
        """The HubSpot API host written to."""
        return f"hubspot:{self._base_url}"

    @property
    def streams(self) -> tuple[str, ...]:
        """Streams in write order: parents before children."""
        return tuple(self._mappings)

    @property
    def api_calls(self) -> int:
        """HTTP requests sent so far."""
        return self._http.calls

    @property
    def quota_remaining(self) -> int | None:
        """X-HubSpot-RateLimit-Daily-Remaining of the last answer that carried it."""
        return self._pacer.budget.remaining

    def daily_available(self) -> int | None:
        """Calls left today after the reserve, as of the last answer."""
        return self._pacer.budget.available

    def setup_calls(self) -> int:
        """One property read for every object type not set up yet in this run (property creation is a first run's)."""
        return sum(1 for mapping in self._mappings.values() if mapping.object_type not in self._objects_ready)

    def planned_calls(self, stream: str, records: int, batch_size: int, sample: Sequence[ObjectWrite] = ()) -> int:
        """Write batches of `batch_size`, plus one association batch of 100 per link type the stream writes."""
        links = len(self._mappings[stream].links) if stream in self._mappings else 0
        return calls_for(records, batch_size) + links * calls_for(records, HUBSPOT_BATCH_CAP)

    @property
    def burst_waited(self) -> float:
        """Seconds the burst limiter has waited so far."""
        return self._pacer.burst.waited

    def check(self) -> None:
        """Read one contact: proves the URL, the token and at least the contacts scope."""
        response = self._http.request("GET", f"{self._prefix}/objects/contacts", params={"limit": "1"})
        if response.status_code == STATUS_BAD_REQUEST:
            raise AirbyteTracedException(
                message=f"HubSpot refused the check call: {describe_error(body_of(response))}",
                failure_type=FailureType.config_error,
            )

    def map_record(self, stream: str, record: Mapping[str, Any]) -> ObjectWrite:
        """Map with the stream's default mapping."""
        if stream not in self._mappings:
            raise RecordRejected(f"stream {stream} has no HubSpot mapping: use one of {', '.join(self._mappings)}")
        return self._mappings[stream].map(record)

    def prepare(self, stream: str) -> None:
        """Create the stream's custom properties, once per run."""
        mapping = self._mappings[stream]
        if mapping.object_type not in self._objects_ready:
            self._ensure_properties(mapping)
            self._objects_ready.add(mapping.object_type)

    def upsert(self, stream: str, writes: list[ObjectWrite]) -> list[WriteOutcome]:
        """Ensure the custom properties once per run, then write the batch.

        Objects the CRM already holds are updated by their CRM id, so a contact whose email changed
        stays one contact; an id HubSpot no longer knows (merged or deleted there) falls back to an
        upsert on the mapping's key. New objects are upserted on the key. A spent budget or a CRM
        that stays unreachable after the in-call retries ends the batch: the writes not yet answered
        come back as OVER_BUDGET or UNREACHABLE outcomes.
        """
        mapping = self._mappings[stream]
        outcomes: list[WriteOutcome] = []
        try:
            self.prepare(stream)
            known = [write for write in writes if write.crm_id]
            outcomes = self._write_isolating(mapping, known, "update") if known else []
            gone = {o.write.external_id for o in outcomes if o.error_category == OBJECT_NOT_FOUND}
            outcomes = [o for o in outcomes if o.write.external_id not in gone]
            unknown = [write for write in writes if not write.crm_id or write.external_id in gone]
            return outcomes + (self._write_isolating(mapping, unknown, "upsert") if unknown else [])
        except (BudgetExhausted, AirbyteTracedException) as stopped:
            error, category = self._stopped(stopped)
            answered = {o.write.external_id for o in outcomes}
            return outcomes + [
                WriteOutcome(w, error=error, error_category=category) for w in writes if w.external_id not in answered
            ]

    def associate(self, links: list[ResolvedLink]) -> list[str | None]:
        """Associations v4 batch create for one object pair; an error text (or None) per link."""
        first = links[0].link
        from_type = self._mappings[first.from_stream].object_type
        to_type = self._mappings[first.to_stream].object_type
        inputs = [
            {
                "from": {"id": r.from_crm_id},
                "to": {"id": r.to_crm_id},
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": r.link.type_id}],
            }
            for r in links
        ]
        try:
            response = self._http.request(
                "POST", f"{ASSOCIATIONS_PATH}/{from_type}/{to_type}/batch/create", json={"inputs": inputs}
            )
        except (BudgetExhausted, AirbyteTracedException) as stopped:
            if isinstance(stopped, BudgetExhausted):
                raise
            error, category = self._stopped(stopped)
            if category == OVER_BUDGET:
                raise BudgetExhausted(error) from stopped
            return [error for _ in links]
        body = body_of(response)
        if response.status_code == STATUS_BAD_REQUEST:
            return [describe_error(body) for _ in links]
        failed: dict[tuple[str, str], str] = {}
        for error in body.get("errors") or []:
            context = error.get("context") or {}
            for from_id, to_id in zip(context.get("fromObjectId") or [], context.get("toObjectId") or [], strict=False):
                failed[(str(from_id), str(to_id))] = describe_error(error)
        return [failed.get((r.from_crm_id, r.to_crm_id)) for r in links]

    def _stopped(self, stopped: Exception) -> tuple[str, str]:
        """Why a batch stopped early: the daily budget, or an unreachable CRM; config errors go on up."""
        if isinstance(stopped, BudgetExhausted):
            return str(stopped), OVER_BUDGET
        if isinstance(stopped, AirbyteTracedException) and stopped.failure_type == FailureType.config_error:
            raise stopped
        if isinstance(stopped, AirbyteTracedException) and stopped.message == DAILY_LIMIT:
            self._pacer.budget.exhaust()
            return DAILY_LIMIT, OVER_BUDGET
        message = stopped.message if isinstance(stopped, AirbyteTracedException) else str(stopped)
        return f"HubSpot unreachable: {message}", UNREACHABLE

    def _ensure_properties(self, mapping: ObjectMapping) -> None:
        path = f"{self._prefix}/properties/{mapping.object_type}"
        listed = body_of(self._http.request("GET", path)).get("results") or []
        existing = {p.get("name"): p for p in listed if isinstance(p, dict)}
        for definition in mapping.custom_properties:
            if definition.name in existing:
                require_unique(mapping, definition, existing[definition.name])
                continue
            self._create_property(mapping, definition, path)

    def _create_property(self, mapping: ObjectMapping, definition: PropertyDefinition, path: str) -> None:
        response = self._http.request("POST", path, json=definition.create_body(mapping.group_name))
        if response.status_code == STATUS_CONFLICT:
            return  # created meanwhile by another run: same definition, nothing to do
        if response.status_code == STATUS_BAD_REQUEST:
            raise AirbyteTracedException(
                message=(
                    f"could not create HubSpot {mapping.object_type} property {definition.name}: "
                    f"{describe_error(body_of(response))}"
                ),
                failure_type=FailureType.config_error,
            )
        self._logger.info("created HubSpot %s property %s", mapping.object_type, definition.name)

    def _write_isolating(self, mapping: ObjectMapping, writes: list[ObjectWrite], verb: str) -> list[WriteOutcome]:
        """Batch `verb`; when HubSpot rejects the whole batch (400), halve it until the bad records stand alone."""
        inputs = [batch_input(mapping, write, verb, str(index)) for index, write in enumerate(writes)]
        path = f"{self._prefix}/objects/{mapping.object_type}/batch/{verb}"
        response = self._http.request("POST", path, json={"inputs": inputs})
        if response.status_code != STATUS_BAD_REQUEST:
            return match_outcomes(writes, body_of(response), mapping.id_property)
        if len(writes) == 1:
            return [WriteOutcome(writes[0], error=describe_error(body_of(response)))]
        half = len(writes) // 2
        return self._write_isolating(mapping, writes[:half], verb) + self._write_isolating(mapping, writes[half:], verb)


def daily_reserve(config: Mapping[str, Any]) -> int:
    """`daily_reserve` calls kept free for the account's other apps (a whole number, 0 or more)."""
    reserve = config.get("daily_reserve", DEFAULT_DAILY_RESERVE)
    if not isinstance(reserve, int) or isinstance(reserve, bool) or reserve < 0:
        raise AirbyteTracedException(
            message=f"daily_reserve must be a whole number of calls, 0 or more, got {reserve!r}",
            failure_type=FailureType.config_error,
        )
    return reserve


def owned_fields(setting: Any) -> dict[str, frozenset[str]]:
    """`crm_owned_fields` ({"contacts": ["lifecyclestage", ...]}): properties store data never overwrites."""
    if setting is None:
        return {}
    objects = {m.object_type: m for m in DEFAULT_MAPPINGS.values()}
    if not isinstance(setting, Mapping) or any(
        not isinstance(names, list) or not all(isinstance(n, str) for n in names) for names in setting.values()
    ):
        raise AirbyteTracedException(
            message=(
                'crm_owned_fields must map a HubSpot object to property names, e.g. {"contacts": ["lifecyclestage"]}'
            ),
            failure_type=FailureType.config_error,
        )
    unknown = sorted(set(setting) - set(objects))
    keys = sorted(
        f"{o}.{objects[o].id_property}"
        for o, names in setting.items()
        if o in objects and objects[o].id_property in names
    )
    if unknown or keys:
        problem = f"unknown object(s) {', '.join(unknown)}" if unknown else f"{', '.join(keys)} keys the upserts"
        raise AirbyteTracedException(
            message=f"crm_owned_fields: {problem}; objects are {', '.join(objects)}",
            failure_type=FailureType.config_error,
        )
    return {name: frozenset(names) for name, names in setting.items()}


def batch_input(mapping: ObjectMapping, write: ObjectWrite, verb: str, trace: str) -> dict[str, Any]:
    """One input of a batch call: by CRM id for an update, by the mapping's key for an upsert."""
    properties = dict(write.properties)
    if verb == "update":
        return {"id": write.crm_id, "properties": properties, "objectWriteTraceId": trace}
    return {
        "id": write.id_value,
        "idProperty": mapping.id_property,
        "properties": properties,
        "objectWriteTraceId": trace,
    }


def require_unique(mapping: ObjectMapping, definition: PropertyDefinition, existing: Mapping[str, Any]) -> None:
    """An upsert key must be a unique property; an existing non-unique one cannot be fixed by us."""
    if definition.name == mapping.id_property and definition.unique and not existing.get("hasUniqueValue"):
        raise AirbyteTracedException(
            message=(
                f"HubSpot {mapping.object_type} property {definition.name} exists without unique values, "
                "so it cannot key upserts: delete it in HubSpot and let the destination recreate it"
            ),
            failure_type=FailureType.config_error,
        )


def describe_error(error: Mapping[str, Any]) -> str:
    """HubSpot's words for one error: category, message and the detail messages."""
    details = [str(e.get("message")) for e in error.get("errors") or [] if isinstance(e, dict) and e.get("message")]
    head = " ".join(str(part) for part in (error.get("category"), error.get("message")) if part)
    return "; ".join([head or "HubSpot gave no reason", *details])


def match_outcomes(writes: list[ObjectWrite], body: Mapping[str, Any], id_property: str) -> list[WriteOutcome]:
    """Pair each write with its result or error via objectWriteTraceId (else the id value)."""
    trace_by_key = {write.dedupe_key: str(index) for index, write in enumerate(writes)}
    trace_by_key.update({write.crm_id.casefold(): str(index) for index, write in enumerate(writes) if write.crm_id})
    outcomes: dict[str, WriteOutcome] = {}
    for result in body.get("results") or []:
        id_value = str((result.get("properties") or {}).get(id_property) or "")
        trace = str(result.get("objectWriteTraceId") or trace_by_key.get(id_value.casefold(), ""))
        if trace.isdigit() and int(trace) < len(writes):
            outcomes[trace] = WriteOutcome(
                writes[int(trace)], crm_id=str(result.get("id")), created=bool(result.get("new"))
            )
    unmatched: list[str] = []
    for error in body.get("errors") or []:
        traces = error_traces(error, trace_by_key, len(writes))
        for trace in traces:
            outcomes.setdefault(
                trace,
                WriteOutcome(writes[int(trace)], error=describe_error(error), error_category=error.get("category")),
            )
        if not traces:
            unmatched.append(describe_error(error))
    missing = "; ".join(unmatched) or "HubSpot returned neither a result nor an error for this input"
    return [outcomes.get(str(i)) or WriteOutcome(write, error=missing) for i, write in enumerate(writes)]


def error_traces(error: Mapping[str, Any], trace_by_key: Mapping[str, str], count: int) -> list[str]:
    """Trace ids a batch error names in its context (objectWriteTraceId, else ids)."""
    context = error.get("context") or {}
    named = context.get("objectWriteTraceId") or []
    traces = [str(t) for t in ([named] if isinstance(named, str) else named) if str(t).isdigit() and int(t) < count]
    if traces:
        return traces
    ids = context.get("ids") or []
    return [trace_by_key[str(i).casefold()] for i in ids if str(i).casefold() in trace_by_key]
