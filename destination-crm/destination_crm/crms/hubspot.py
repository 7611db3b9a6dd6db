"""HubSpot CRM module: custom-property setup and batch upserts of contacts, companies and deals."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from destination_crm.crms.base import CrmModule, ObjectWrite, RecordRejected, WriteOutcome
from destination_crm.crms.hubspot_errors import (
    DAILY_REMAINING_HEADER,
    HubSpotBackoffStrategy,
    HubSpotErrorHandler,
    body_of,
)
from destination_crm.crms.hubspot_mapping import DEFAULT_MAPPINGS, ObjectMapping, PropertyDefinition
from destination_crm.http import CrmHttpClient, Sleep

# Inputs per object batch call (api-facts.md: unofficial but universal; HubSpot's spec sets no maximum).
HUBSPOT_BATCH_CAP = 100
DEFAULT_BASE_URL = "https://api.hubapi.com"
DEFAULT_API_PREFIX = "/crm/v3"
STATUS_BAD_REQUEST = 400
STATUS_CONFLICT = 409
OBJECT_NOT_FOUND = "OBJECT_NOT_FOUND"


class HubSpotCrm(CrmModule):
    """Writes the crm_* streams to HubSpot through the CRM v3 batch upsert endpoints."""

    name = "hubspot"
    batch_cap = HUBSPOT_BATCH_CAP

    def __init__(
        self,
        *,
        access_token: str,
        sleep: Sleep,
        logger: logging.Logger,
        base_url: str = DEFAULT_BASE_URL,
        api_prefix: str = DEFAULT_API_PREFIX,
        mappings: Mapping[str, ObjectMapping] = DEFAULT_MAPPINGS,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._prefix = "/" + api_prefix.strip("/")
        self._mappings = dict(mappings)
        self._logger = logger
        self._http = CrmHttpClient(
            base_url=self._base_url,
            headers={"Authorization": f"Bearer {access_token}", "Content-Type": "application/json"},
            error_handler=HubSpotErrorHandler(logger),
            backoff_strategy=HubSpotBackoffStrategy(),
            sleep=sleep,
            logger=logger,
        )
        self._objects_ready: set[str] = set()

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, sleep: Sleep, logger: logging.Logger) -> HubSpotCrm:
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
        response = self._http.last_response
        value = response.headers.get(DAILY_REMAINING_HEADER) if response is not None else None
        return int(value) if value and value.isdigit() else None

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

    def upsert(self, stream: str, writes: list[ObjectWrite]) -> list[WriteOutcome]:
        """Ensure the custom properties once per run, then write the batch.

        Objects the CRM already holds are updated by their CRM id, so a contact whose email changed
        stays one contact; an id HubSpot no longer knows (merged or deleted there) falls back to an
        upsert on the mapping's key. New objects are upserted on the key.
        """
        mapping = self._mappings[stream]
        if mapping.object_type not in self._objects_ready:
            self._ensure_properties(mapping)
            self._objects_ready.add(mapping.object_type)
        known = [write for write in writes if write.crm_id]
        outcomes = self._write_isolating(mapping, known, "update") if known else []
        gone = {o.write.external_id for o in outcomes if o.error_category == OBJECT_NOT_FOUND}
        outcomes = [o for o in outcomes if o.write.external_id not in gone]
        unknown = [write for write in writes if not write.crm_id or write.external_id in gone]
        return outcomes + (self._write_isolating(mapping, unknown, "upsert") if unknown else [])

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
