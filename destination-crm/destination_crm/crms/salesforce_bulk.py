"""Bulk API 2.0 ingest jobs for large upserts: create, upload CSV, close, poll, read the result CSVs."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from destination_crm.crms.base import ObjectWrite, WriteOutcome
from destination_crm.crms.salesforce_errors import first_error
from destination_crm.crms.salesforce_mapping import csv_body
from destination_crm.http import CrmHttpClient, Sleep

STATUS_BAD_REQUEST = 400
# Poll the job every 1, 2, 4 ... s, at most 30 s apart, for at most 30 min; then the records go to the
# retry queue (the job may still finish: the retry upserts by external id, so nothing doubles).
BULK_POLL_FIRST_SECONDS = 1.0
BULK_POLL_MAX_SECONDS = 30.0
BULK_MAX_WAIT_SECONDS = 1800.0
# Calls one ingest job spends besides its polls: create, upload, close, successfulResults, failedResults.
JOB_CALLS_BESIDES_POLLS = 5
# Polls the daily budget plans for one job: 1, 2, 4, 8 and 16 s after the close. A job that needs more
# polls than the budget has left stops there; it still completes in Salesforce, and its records are
# deferred and upserted again by external id, so nothing doubles.
PLANNED_POLLS = 5
PLANNED_JOB_CALLS = JOB_CALLS_BESIDES_POLLS + PLANNED_POLLS
BULK_TIMEOUT = "BULK_TIMEOUT"
BULK_UNPROCESSED = "BULK_UNPROCESSED"
DONE_STATES = ("JobComplete", "Failed", "Aborted")


@dataclass(frozen=True)
class CsvBody:
    """A request body sent as `text/csv` through CrmHttpClient's `json=` slot (see CsvAwareSession)."""

    data: bytes


class CsvAwareSession(requests.Session):
    """A requests session that sends a CsvBody as raw CSV, so CSV uploads share the client's retry loop."""

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        """As requests.Session.request; a CsvBody in `json` becomes `data` with Content-Type text/csv."""
        body = kwargs.get("json")
        if isinstance(body, CsvBody):
            kwargs["json"] = None
            kwargs["data"] = body.data
            kwargs["headers"] = {**(kwargs.get("headers") or {}), "Content-Type": "text/csv"}
        return super().request(method, url, *args, **kwargs)


class BulkUnavailable(Exception):
    """The ingest job could not be set up; the caller sends the records through sObject Collections instead."""


class BulkLoader:
    """Runs one upsert ingest job for a list of writes and matches its result rows back to them by external id."""

    def __init__(
        self,
        *,
        http: CrmHttpClient,
        upload_http: CrmHttpClient,
        base_path: Callable[[], str],
        external_id_field: str,
        sleep: Sleep,
        logger: logging.Logger,
    ) -> None:
        self._http = http
        self._upload_http = upload_http  # never retries a lost answer: a second upload would double the rows
        self._base_path = base_path
        self._external_id_field = external_id_field
        self._sleep = sleep
        self._logger = logger
        self.jobs = 0

    def upsert(self, sobject: str, writes: list[ObjectWrite]) -> list[WriteOutcome]:
        """One ingest job: every write gets the job's verdict (or BULK_TIMEOUT when it does not finish in time)."""
        jobs = f"{self._base_path()}/jobs/ingest"
        created = self._http.request(
            "POST",
            f"{jobs}/",
            json={
                "object": sobject,
                "operation": "upsert",
                "externalIdFieldName": self._external_id_field,
                "contentType": "CSV",
                "columnDelimiter": "COMMA",
                "lineEnding": "LF",
            },
        )
        if created.status_code == STATUS_BAD_REQUEST:
            code, message = first_error(created)
            raise BulkUnavailable(f"Salesforce refused the {sobject} ingest job: {code} {message}")
        job_id = str(created.json()["id"])
        self.jobs += 1
        self._load(jobs, job_id, writes)
        info = self._wait(f"{jobs}/{job_id}")
        if info is None:
            message = (
                f"Bulk API job {job_id} did not finish within {BULK_MAX_WAIT_SECONDS:.0f} s; "
                "the record is retried later by external id"
            )
            return [WriteOutcome(w, error=message, error_category=BULK_TIMEOUT) for w in writes]
        if info.get("state") != "JobComplete":
            message = (
                f"Bulk API job {job_id} ended {info.get('state')}: {info.get('errorMessage') or 'no reason given'}"
            )
            return [WriteOutcome(w, error=message, error_category=str(info.get("state"))) for w in writes]
        return self._results(f"{jobs}/{job_id}", writes)

    def _load(self, jobs: str, job_id: str, writes: list[ObjectWrite]) -> None:
        """Upload the CSV once and close the job; abort it and give up on the bulk path when that fails."""
        try:
            uploaded = self._upload_http.request(
                "PUT", f"{jobs}/{job_id}/batches", json=CsvBody(csv_body(writes, self._external_id_field))
            )
        except AirbyteTracedException as failed:
            if failed.failure_type == FailureType.config_error:
                raise
            self._abort(jobs, job_id)
            raise BulkUnavailable(f"upload to Bulk API job {job_id} failed: {failed.message}") from failed
        if uploaded.status_code == STATUS_BAD_REQUEST:
            self._abort(jobs, job_id)
            code, message = first_error(uploaded)
            raise BulkUnavailable(f"Salesforce refused the upload to job {job_id}: {code} {message}")
        closed = self._http.request("PATCH", f"{jobs}/{job_id}", json={"state": "UploadComplete"})
        if closed.status_code == STATUS_BAD_REQUEST:
            # A retried close whose first answer was lost finds the job closed already: that is fine.
            state = self._http.request("GET", f"{jobs}/{job_id}").json().get("state")
            if state in ("Open", "Aborted"):
                self._abort(jobs, job_id)
                raise BulkUnavailable(f"Bulk API job {job_id} could not be closed (state {state})")

    def _abort(self, jobs: str, job_id: str) -> None:
        """Best effort: an aborted job never runs, so the fallback path is the only writer."""
        try:
            self._http.request("PATCH", f"{jobs}/{job_id}", json={"state": "Aborted"})
        except AirbyteTracedException as failed:
            if failed.failure_type == FailureType.config_error:
                raise
            self._logger.warning("could not abort Bulk API job %s: %s", job_id, failed.message)

    def _wait(self, job_path: str) -> dict[str, Any] | None:
        """Poll the job until it is done; None when it is still running after BULK_MAX_WAIT_SECONDS."""
        wait, waited = BULK_POLL_FIRST_SECONDS, 0.0
        while True:
            info = self._http.request("GET", job_path).json()
            if info.get("state") in DONE_STATES:
                return info
            if waited + wait > BULK_MAX_WAIT_SECONDS:
                return None
            self._sleep(wait)
            waited += wait
            wait = min(wait * 2, BULK_POLL_MAX_SECONDS)

    def _results(self, job_path: str, writes: list[ObjectWrite]) -> list[WriteOutcome]:
        """Match successfulResults and failedResults rows to the writes by their external id column."""
        by_id = {write.external_id: write for write in writes}
        outcomes: dict[str, WriteOutcome] = {}
        for row in self._csv(f"{job_path}/successfulResults/"):
            write = by_id.get(row.get(self._external_id_field, ""))
            if write is not None:
                created = row.get("sf__Created", "").lower() == "true"
                outcomes[write.external_id] = WriteOutcome(write, crm_id=row.get("sf__Id"), created=created)
        for row in self._csv(f"{job_path}/failedResults/"):
            write = by_id.get(row.get(self._external_id_field, ""))
            if write is not None:
                error = row.get("sf__Error", "").removesuffix(" --").strip()
                code = error.split(":", 1)[0] or None
                outcomes[write.external_id] = WriteOutcome(
                    write, error=error or "failed in the Bulk API job", error_category=code
                )
        missing = "not processed by the Bulk API job (unprocessedrecords); it is retried later"
        return [
            outcomes.get(w.external_id) or WriteOutcome(w, error=missing, error_category=BULK_UNPROCESSED)
            for w in writes
        ]

    def _csv(self, path: str) -> list[dict[str, str]]:
        response = self._http.request("GET", path)
        return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
