"""Salesforce CRM module: sObject Collections upserts on an external id, Bulk API 2.0 above a threshold."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from destination_crm.crms.base import OVER_BUDGET, UNREACHABLE, CrmModule, ObjectWrite, RecordRejected, WriteOutcome
from destination_crm.crms.salesforce_bulk import PLANNED_JOB_CALLS, BulkLoader, BulkUnavailable, CsvAwareSession
from destination_crm.crms.salesforce_errors import (
    LIMIT_EXCEEDED,
    SalesforceBackoffStrategy,
    SalesforceErrorHandler,
    SalesforcePacer,
    describe_errors,
    first_error,
)
from destination_crm.crms.salesforce_mapping import (
    DEFAULT_EXTERNAL_ID_FIELD,
    DEFAULT_MAPPINGS,
    SObjectMapping,
    chunks,
    grouped_by_parent,
    hierarchy_levels,
    json_record,
    salesforce_mappings,
)
from destination_crm.http import CrmHttpClient, Sleep
from destination_crm.quota import BudgetExhausted, DailyBudget, calls_for

# api-facts.md: sObject Collections take 200 records per request.
SALESFORCE_COLLECTION_CAP = 200
# api-facts.md: Bulk API 2.0 is recommended above about 2,000 records.
DEFAULT_BULK_THRESHOLD = 2_000
# Records the sink hands over per upsert (its buffer, so memory stays bounded): they go out as
# 200-record collections, or as one ingest job when there are more than `bulk_threshold`.
SALESFORCE_BUFFER_CAP = 10_000
DEFAULT_API_VERSION = "v62.0"
# Calls per day kept free for the org's other integrations unless the config says otherwise.
DEFAULT_DAILY_RESERVE = 1000
# UNABLE_TO_LOCK_ROW is transient (another transaction held the parent): resend those records this many
# times, 1, 2, 4 s apart, before they go to the retry queue.
LOCK_RETRIES = 3
LOCK_RETRY_SECONDS = 1.0
UNABLE_TO_LOCK_ROW = "UNABLE_TO_LOCK_ROW"
STATUS_BAD_REQUEST = 400
API_VERSION = re.compile(r"^v?(\d{2,3}\.\d)$")
CUSTOM_FIELD = re.compile(r"^[A-Za-z][A-Za-z0-9_]*__c$")
INSTANCE_URL = re.compile(r"^https?://[^/]+")


@dataclass(frozen=True)
class SalesforceConnection:
    """The org a config points at, checked: what the destination and the read-back source both call."""

    instance_url: str
    access_token: str
    api_version: str  # "v62.0"
    external_id_field: str

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SalesforceConnection:
        """Read and check salesforce.instance_url, access_token, api_version and external_id_field."""
        settings = config.get("salesforce")
        if not isinstance(settings, Mapping):
            raise config_error("salesforce must be an object with instance_url and access_token")
        instance_url = str(settings.get("instance_url") or "")
        if not INSTANCE_URL.match(instance_url):
            raise config_error(
                "salesforce.instance_url must be the org's URL, e.g. https://yourorg.my.salesforce.com, "
                f"got {instance_url!r}"
            )
        token = settings.get("access_token")
        if not token:
            raise config_error("salesforce.access_token is missing: paste an OAuth access token of an API-enabled user")
        version = API_VERSION.match(str(settings.get("api_version") or DEFAULT_API_VERSION))
        if version is None:
            raise config_error(f"salesforce.api_version must look like v62.0, got {settings.get('api_version')!r}")
        field = str(settings.get("external_id_field") or DEFAULT_EXTERNAL_ID_FIELD)
        if not CUSTOM_FIELD.match(field):
            raise config_error(
                f"salesforce.external_id_field must be the API name of a custom External ID field "
                f"(ending in __c), got {field!r}"
            )
        return cls(instance_url.rstrip("/"), str(token), f"v{version[1]}", field)


class SalesforceCrm(CrmModule):
    """Writes the crm_* streams to Account, Contact and Opportunity, upserting on an external id field."""

    name = "salesforce"
    batch_cap = SALESFORCE_BUFFER_CAP

    def __init__(
        self,
        *,
        instance_url: str,
        access_token: str,
        sleep: Sleep,
        logger: logging.Logger,
        api_version: str = DEFAULT_API_VERSION,
        external_id_field: str = DEFAULT_EXTERNAL_ID_FIELD,
        bulk_threshold: int = DEFAULT_BULK_THRESHOLD,
        daily_reserve: int = DEFAULT_DAILY_RESERVE,
        owned_fields: Mapping[str, frozenset[str]] | None = None,
        mappings: Mapping[str, SObjectMapping] = DEFAULT_MAPPINGS,
    ) -> None:
        self._instance_url = instance_url.rstrip("/")
        self._base = f"/services/data/v{API_VERSION.match(api_version)[1]}"  # type: ignore[index]
        self._external_id_field = external_id_field
        self._bulk_threshold = bulk_threshold
        self._mappings = dict(mappings)
        self._owned = dict(owned_fields or {})
        self._sleep = sleep
        self._logger = logger
        self._pacer = SalesforcePacer(DailyBudget(daily_reserve))
        session = CsvAwareSession()
        common: dict[str, Any] = {
            "base_url": self._instance_url,
            "headers": {"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
            "backoff_strategy": SalesforceBackoffStrategy(),
            "sleep": sleep,
            "logger": logger,
            "session": session,
            "pacer": self._pacer,
        }
        self._http = CrmHttpClient(error_handler=SalesforceErrorHandler(logger), **common)
        upload = CrmHttpClient(error_handler=SalesforceErrorHandler(logger, retry_network=False), **common)
        self._upload_http = upload
        self._bulk = BulkLoader(
            http=self._http,
            upload_http=upload,
            base_path=lambda: self._base,
            external_id_field=external_id_field,
            sleep=sleep,
            logger=logger,
        )
        self._limits_read = False

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Any],
        *,
        sleep: Sleep,
        logger: logging.Logger,
        clock: Callable[[], float] = time.time,
    ) -> SalesforceCrm:
        """Build from the `salesforce` block of the destination config."""
        connection = SalesforceConnection.from_config(config)
        settings = config["salesforce"]
        threshold = settings.get("bulk_threshold", DEFAULT_BULK_THRESHOLD)
        if not isinstance(threshold, int) or isinstance(threshold, bool) or threshold < 1:
            raise config_error(
                f"salesforce.bulk_threshold must be a whole number of records, 1 or more, got {threshold!r}"
            )
        return cls(
            instance_url=connection.instance_url,
            access_token=connection.access_token,
            sleep=sleep,
            logger=logger,
            api_version=connection.api_version,
            external_id_field=connection.external_id_field,
            bulk_threshold=threshold,
            daily_reserve=daily_reserve(config),
            owned_fields=owned_fields(config.get("crm_owned_fields")),
            mappings=salesforce_mappings(segments_field(settings, connection.external_id_field)),
        )

    @property
    def target(self) -> str:
        """The Salesforce org written to."""
        return f"salesforce:{self._instance_url}"

    @property
    def streams(self) -> tuple[str, ...]:
        """Streams in write order: parents before children."""
        return tuple(self._mappings)

    @property
    def api_calls(self) -> int:
        """HTTP requests sent so far (uploads included)."""
        return self._http.calls + self._upload_http.calls

    @property
    def quota_remaining(self) -> int | None:
        """Daily API requests left, from the last `Sforce-Limit-Info` header."""
        return self._pacer.budget.remaining

    @property
    def bulk_jobs(self) -> int:
        """Bulk API 2.0 ingest jobs created so far."""
        return self._bulk.jobs

    def daily_available(self) -> int | None:
        """Calls left today after the reserve, as of the last answer."""
        return self._pacer.budget.available

    def setup_calls(self) -> int:
        """The one read of the org's limits, when this run has not made it yet."""
        return 0 if self._limits_read else 1

    def planned_calls(self, stream: str, records: int, batch_size: int, sample: Sequence[ObjectWrite] = ()) -> int:
        """What the records cost handed over `batch_size` at a time (see `chunk_calls`).

        The hierarchy's depth is taken from `sample` (writes about to go) when the stream has one, else 1.
        """
        mapping = self._mappings.get(stream)
        levels = 1
        if mapping is not None and mapping.hierarchy and sample:
            levels = len(hierarchy_levels(list(sample), mapping.hierarchy, self._external_id_field))
        full, rest = divmod(records, batch_size)
        return full * chunk_calls(batch_size, levels, self._bulk_threshold) + chunk_calls(
            rest, levels, self._bulk_threshold
        )

    def touches(self, write: ObjectWrite) -> tuple[str, ...]:
        """External ids the write's lookups name: an Opportunity's Account and Contact, a Contact's Account."""
        suffix = f".{self._external_id_field}"
        return tuple(value for name, value in write.properties.items() if name.endswith(suffix) and value)

    def check(self) -> None:
        """Read the org's limits: proves the URL, the API version and the token in one call."""
        self._http.request("GET", f"{self._base}/limits")

    def map_record(self, stream: str, record: Mapping[str, Any]) -> ObjectWrite:
        """Map with the stream's default mapping, leaving out the fields the CRM owns."""
        mapping = self._mappings.get(stream)
        if mapping is None:
            raise RecordRejected(f"stream {stream} has no Salesforce mapping: use one of {', '.join(self._mappings)}")
        write = mapping.map(stream, record, self._external_id_field)
        owned = self._owned.get(mapping.sobject)
        if not owned:
            return write
        kept = {k: v for k, v in write.properties.items() if k not in owned and k.partition(".")[0] not in owned}
        return mapping.map_properties(write, kept)

    def prepare(self, stream: str) -> None:
        """Read the org's limits once per run, so the budget planner knows the day's quota before sending."""
        if self._limits_read:
            return
        self._limits_read = True
        try:
            self._http.request("GET", f"{self._base}/limits")
        except BudgetExhausted:
            return
        except AirbyteTracedException as failed:
            if failed.failure_type == FailureType.config_error:
                raise
            if failed.message == LIMIT_EXCEEDED:
                self._pacer.exhaust()
            else:
                self._logger.warning("could not read the Salesforce limits: %s", failed.message)

    def upsert(self, stream: str, writes: list[ObjectWrite]) -> list[WriteOutcome]:
        """Upsert on the external id: parents' level first, as collections of 200 or, above the threshold, a job.

        Records come back one outcome each: Salesforce answers 200 with a result per record, failures
        included. The daily limit (403 REQUEST_LIMIT_EXCEEDED, or the budget's reserve) and an
        unreachable org end the call: the writes not yet answered come back OVER_BUDGET or UNREACHABLE.
        """
        mapping = self._mappings[stream]
        outcomes: dict[str, WriteOutcome] = {}  # filled as answers come, so a stop keeps what Salesforce took
        try:
            self.prepare(stream)
            levels = (
                hierarchy_levels(writes, mapping.hierarchy, self._external_id_field) if mapping.hierarchy else [writes]
            )
            for level in levels:
                if len(level) > self._bulk_threshold:
                    self._bulk_upsert(mapping, level, outcomes)
                else:
                    self._collections(mapping, level, outcomes)
        except (BudgetExhausted, AirbyteTracedException) as stopped:
            error, category = self._stopped(stopped)
            for write in writes:
                outcomes.setdefault(write.external_id, WriteOutcome(write, error=error, error_category=category))
        return [outcomes[write.external_id] for write in writes]

    # -- internals ------------------------------------------------------------------------------

    def _stopped(self, stopped: Exception) -> tuple[str, str]:
        """Why a batch stopped early: the daily limit, or an unreachable org; config errors go on up."""
        if isinstance(stopped, BudgetExhausted):
            return str(stopped), OVER_BUDGET
        if isinstance(stopped, AirbyteTracedException) and stopped.failure_type == FailureType.config_error:
            raise stopped
        message = stopped.message if isinstance(stopped, AirbyteTracedException) else str(stopped)
        if message == LIMIT_EXCEEDED:
            self._pacer.exhaust()
            return LIMIT_EXCEEDED, OVER_BUDGET
        return f"Salesforce unreachable: {message}", UNREACHABLE

    def _bulk_upsert(
        self, mapping: SObjectMapping, writes: list[ObjectWrite], outcomes: dict[str, WriteOutcome]
    ) -> None:
        """One ingest job; records it locks out go through collections; a job that cannot start falls back whole.

        A job is only started when the daily budget can pay for it (PLANNED_JOB_CALLS); with less left,
        collections take as many records as the budget allows and the rest is deferred.
        """
        available = self._pacer.budget.available
        if available is not None and available < PLANNED_JOB_CALLS:
            self._logger.info(
                "%d calls left in the daily budget, fewer than a Bulk API job plans for (%d): "
                "sending the %d records as sObject Collections",
                available,
                PLANNED_JOB_CALLS,
                len(writes),
            )
            self._collections(mapping, writes, outcomes)
            return
        try:
            results = self._bulk.upsert(mapping.sobject, writes)
        except BulkUnavailable as unavailable:
            self._logger.warning("%s; sending the %d records as sObject Collections", unavailable, len(writes))
            self._collections(mapping, writes, outcomes)
            return
        outcomes.update((o.write.external_id, o) for o in results)
        locked = [o.write for o in results if o.error_category == UNABLE_TO_LOCK_ROW]
        if locked:
            self._collections(mapping, locked, outcomes)

    def _collections(
        self, mapping: SObjectMapping, writes: list[ObjectWrite], outcomes: dict[str, WriteOutcome]
    ) -> None:
        """200 records a request, siblings together; records that hit a row lock are resent a few times."""
        ordered = grouped_by_parent(writes, mapping.group_by, self._external_id_field)
        for chunk in chunks(ordered, SALESFORCE_COLLECTION_CAP):
            pending = chunk
            for attempt in range(LOCK_RETRIES + 1):
                if attempt:
                    self._sleep(LOCK_RETRY_SECONDS * 2 ** (attempt - 1))
                answered = self._collection(mapping.sobject, pending)
                outcomes.update(answered)
                pending = [w for w in pending if answered[w.external_id].error_category == UNABLE_TO_LOCK_ROW]
                if not pending:
                    break

    def _collection(self, sobject: str, writes: list[ObjectWrite]) -> dict[str, WriteOutcome]:
        """One sObject Collections upsert with allOrNone false; each result matched to its record by position."""
        body = {
            "allOrNone": False,
            "records": [json_record(sobject, write, self._external_id_field) for write in writes],
        }
        path = f"{self._base}/composite/sobjects/{sobject}/{self._external_id_field}"
        response = self._http.request("PATCH", path, json=body)
        if response.status_code == STATUS_BAD_REQUEST:  # the whole request refused: every record shares the error
            code, message = first_error(response)
            return {w.external_id: WriteOutcome(w, error=f"{code}: {message}", error_category=code) for w in writes}
        return match_results(writes, response.json())


def match_results(writes: list[ObjectWrite], results: Any) -> dict[str, WriteOutcome]:
    """Pair each record with its SaveResult: Salesforce answers in request order, one result per record."""
    if not isinstance(results, list) or len(results) != len(writes):
        count = len(results) if isinstance(results, list) else "no"
        error = f"Salesforce returned {count} results for {len(writes)} records"
        return {w.external_id: WriteOutcome(w, error=error, error_category="UNMATCHED_RESULT") for w in writes}
    outcomes: dict[str, WriteOutcome] = {}
    for write, answer in zip(writes, results, strict=True):
        result = answer if isinstance(answer, dict) else {}
        if result.get("success") and result.get("id"):
            outcomes[write.external_id] = WriteOutcome(
                write, crm_id=str(result["id"]), created=bool(result.get("created"))
            )
            continue
        error, code = describe_errors(result.get("errors"))
        outcomes[write.external_id] = WriteOutcome(write, error=error, error_category=code)
    return outcomes


def chunk_calls(records: int, levels: int, bulk_threshold: int) -> int:
    """Requests one upsert of `records` may take at most: a planning bound for the daily budget.

    Every record in collections of 200, one more request per extra hierarchy level (a parent always
    goes in an earlier request than its children), and a Bulk API job's planned calls for every
    level that can be above the threshold.
    """
    if records <= 0:
        return 0
    levels = max(1, min(levels, records))
    jobs = min(levels, records // (bulk_threshold + 1))
    return calls_for(records, SALESFORCE_COLLECTION_CAP) + levels - 1 + jobs * PLANNED_JOB_CALLS


def config_error(message: str) -> AirbyteTracedException:
    """A configuration error that names the setting to fix."""
    return AirbyteTracedException(message=message, failure_type=FailureType.config_error)


def daily_reserve(config: Mapping[str, Any]) -> int:
    """`daily_reserve` calls kept free for the org's other integrations (a whole number, 0 or more)."""
    reserve = config.get("daily_reserve", DEFAULT_DAILY_RESERVE)
    if not isinstance(reserve, int) or isinstance(reserve, bool) or reserve < 0:
        raise config_error(f"daily_reserve must be a whole number of calls, 0 or more, got {reserve!r}")
    return reserve


def segments_field(settings: Mapping[str, Any], external_id_field: str) -> str | None:
    """`salesforce.segments_field`: the Contact custom field that gets the segments, or None (not written)."""
    field = settings.get("segments_field")
    if field in (None, ""):
        return None
    if not isinstance(field, str) or not CUSTOM_FIELD.match(field) or field == external_id_field:
        raise config_error(
            "salesforce.segments_field must be the API name of a custom Text or Long Text Area field on Contact "
            f"(ending in __c, e.g. Store2crm_Segments__c, not the external id field), got {field!r}: create the "
            "field in Setup first and put its API name here, or leave the setting out to not write segments"
        )
    return field


def owned_fields(setting: Any) -> dict[str, frozenset[str]]:
    """`crm_owned_fields` ({"Contact": ["Phone"]}): fields the store never writes (nor creates) in Salesforce."""
    if setting is None:
        return {}
    sobjects = {m.sobject for m in DEFAULT_MAPPINGS.values()}
    if not isinstance(setting, Mapping) or any(
        not isinstance(names, list) or not all(isinstance(n, str) for n in names) for names in setting.values()
    ):
        raise config_error('crm_owned_fields must map a Salesforce object to field names, e.g. {"Contact": ["Phone"]}')
    unknown = sorted(set(setting) - sobjects)
    if unknown:
        raise config_error(
            f"crm_owned_fields: unknown object(s) {', '.join(unknown)}; objects are {', '.join(sorted(sobjects))}"
        )
    return {name: frozenset(names) for name, names in setting.items()}
