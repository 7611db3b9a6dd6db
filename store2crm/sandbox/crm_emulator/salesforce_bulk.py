"""Bulk API 2.0 ingest jobs for the Salesforce emulator: create, upload CSV, close, poll, result CSVs."""

from __future__ import annotations

import csv
import io
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from store2crm.sandbox.crm_emulator.salesforce_records import Record
from store2crm.sandbox.crm_emulator.salesforce_schema import (
    EXTERNAL_ID_FIELD,
    SANDBOX_USER_ID,
    SOBJECTS,
    FieldError,
    record_id,
    sf_datetime,
)
from store2crm.sandbox.crm_emulator.salesforce_writes import Prepared, RecordWriter, UnknownFieldError
from store2crm.sandbox.server import Response

BULK_UPLOAD_CAP_BYTES = 150 * 1024 * 1024  # Bulk API 2.0 "Upload Job Data": 150 MB of base64-encoded content
BULK_JOB_KEY_PREFIX = "750"  # AsyncApexJob/bulk job ids start with 750
BULK_OPERATIONS = ("insert", "upsert")  # the ingest operations the emulator runs
COLUMN_DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
NULL_MARKER = "#N/A"  # Bulk API 2.0 CSV: sets a field to null (an empty value leaves it unchanged)
OPEN_STATES = ("Open", "UploadComplete", "InProgress")


def bulk_error(status: int, code: str, message: str) -> Response:
    """A Bulk API 2.0 error response: a JSON list of {errorCode, message}."""
    return Response(status, [{"errorCode": code, "message": message}])


@dataclass
class IngestJob:
    """One ingest job: its settings, uploaded rows, progress and per-row outcomes."""

    id: str
    sobject: str
    operation: str
    external_id_field: str | None
    column_delimiter: str
    line_ending: str
    created: float
    state: str = "Open"
    modified: float = 0.0
    columns: list[str] = field(default_factory=list)
    rows: list[dict[str, str]] = field(default_factory=list)
    uploaded_bytes: int = 0
    closed_at: float | None = None
    polls: int = 0
    error_message: str | None = None
    successes: list[tuple[str, bool, dict[str, str]]] = field(default_factory=list)
    failures: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)


class BulkIngest:
    """Every ingest job of the org; jobs finish after `polls` status reads or `seconds` on the clock."""

    def __init__(
        self,
        writer: RecordWriter,
        clock: Callable[[], float],
        base_path: Callable[[], str],
        *,
        polls: int = 2,
        seconds: float = 5.0,
        upload_cap_bytes: int = BULK_UPLOAD_CAP_BYTES,
    ) -> None:
        self._writer = writer
        self._clock = clock
        self._base_path = base_path
        self._polls = polls
        self._seconds = seconds
        self._upload_cap = upload_cap_bytes
        self._sequence = itertools.count(1)
        self.jobs: dict[str, IngestJob] = {}

    def reset(self) -> None:
        """Forget every job."""
        self.jobs.clear()

    def create(self, body: Any) -> Response:
        """`POST /jobs/ingest`: validate the job settings and open the job."""
        if not isinstance(body, dict):
            return bulk_error(400, "INVALIDJOB", "InvalidJob : the request body must be a JSON object")
        problem = _job_problem(body)
        if problem:
            return bulk_error(400, "INVALIDJOB", f"InvalidJob : {problem}")
        now = self._clock()
        job = IngestJob(
            id=record_id(BULK_JOB_KEY_PREFIX, next(self._sequence)),
            sobject=body["object"],
            operation=body["operation"],
            external_id_field=body.get("externalIdFieldName"),
            column_delimiter=body.get("columnDelimiter", "COMMA"),
            line_ending=body.get("lineEnding", "LF"),
            created=now,
            modified=now,
        )
        self.jobs[job.id] = job
        return Response(200, self._info(job))

    def upload(self, job_id: str, data: bytes) -> Response:
        """`PUT /jobs/ingest/{id}/batches`: add CSV rows to an open job (201, no body)."""
        job, missing = self._job(job_id)
        if job is None:
            return missing
        if job.state != "Open":
            return bulk_error(
                400, "INVALIDJOBSTATE", f"Job {job.id} is {job.state}; data can only be uploaded to an Open job"
            )
        if 4 * math.ceil((job.uploaded_bytes + len(data)) / 3) > self._upload_cap:
            return bulk_error(400, "LIMIT_EXCEEDED", "Job data exceeds 150 MB of base64-encoded content")
        try:
            reader = csv.DictReader(
                io.StringIO(data.decode("utf-8-sig")), delimiter=COLUMN_DELIMITERS[job.column_delimiter]
            )
            rows = list(reader)
        except (UnicodeDecodeError, csv.Error) as bad:
            return bulk_error(400, "INVALIDBATCH", f"InvalidBatch : unreadable CSV: {bad}")
        job.columns.extend(name for name in reader.fieldnames or [] if name not in job.columns)
        job.rows.extend(rows)
        job.uploaded_bytes += len(data)
        job.modified = self._clock()
        return Response(201)

    def change_state(self, job_id: str, body: Any) -> Response:
        """`PATCH /jobs/ingest/{id}`: close (`UploadComplete`) or abort (`Aborted`) a job."""
        job, missing = self._job(job_id)
        if job is None:
            return missing
        state = body.get("state") if isinstance(body, dict) else None
        allowed = {"UploadComplete": ("Open",), "Aborted": OPEN_STATES}
        if state not in allowed:
            return bulk_error(400, "INVALIDJOBSTATE", f"Invalid state {state!r}; use UploadComplete or Aborted")
        if job.state not in allowed[state]:
            return bulk_error(400, "INVALIDJOBSTATE", f"Job {job.id} is {job.state}; it cannot become {state}")
        job.state = state
        job.modified = self._clock()
        if state == "UploadComplete":
            job.closed_at = job.modified
        return Response(200, self._info(job))

    def status(self, job_id: str) -> Response:
        """`GET /jobs/ingest/{id}`: job info; a closed job moves to InProgress, then runs and completes."""
        job, missing = self._job(job_id)
        if job is None:
            return missing
        if job.state in ("UploadComplete", "InProgress"):
            job.polls += 1
            due = job.closed_at is not None and self._clock() >= job.closed_at + self._seconds
            if due or job.polls >= self._polls:
                self._run(job)
            else:
                job.state = "InProgress"
            job.modified = self._clock()
        return Response(200, self._info(job))

    def results(self, job_id: str, kind: str) -> Response:
        """`GET .../successfulResults/` or `.../failedResults/`: CSV of the rows and their outcomes."""
        job, missing = self._job(job_id)
        if job is None:
            return missing
        if job.state not in ("JobComplete", "Failed"):
            return bulk_error(400, "INVALIDJOBSTATE", f"Job {job.id} is {job.state}; results exist once it completes")
        if kind == "successfulResults":
            header = ["sf__Id", "sf__Created", *job.columns]
            lines = [
                [sf_id, str(created).lower(), *(row.get(c, "") for c in job.columns)]
                for sf_id, created, row in job.successes
            ]
        else:
            header = ["sf__Id", "sf__Error", *job.columns]
            lines = [[sf_id, error, *(row.get(c, "") for c in job.columns)] for sf_id, error, row in job.failures]
        out = io.StringIO()
        writer = csv.writer(
            out,
            delimiter=COLUMN_DELIMITERS[job.column_delimiter],
            lineterminator=LINE_ENDINGS[job.line_ending],
            quoting=csv.QUOTE_ALL,
        )
        writer.writerow(header)
        writer.writerows(lines)
        return Response(200, out.getvalue().encode(), {"Content-Type": "text/csv"})

    # -- internals --------------------------------------------------------------------------------

    def _job(self, job_id: str) -> tuple[IngestJob | None, Response]:
        job = self.jobs.get(job_id)
        return job, bulk_error(404, "NOT_FOUND", "The requested resource does not exist")

    def _run(self, job: IngestJob) -> None:
        """Write every row as one pass: references resolve against the data as it stood when the job ran."""
        try:
            prepared = [self._prepare(job, row) for row in job.rows]
        except UnknownFieldError as unknown:
            job.state, job.error_message = "Failed", f"InvalidBatch : Field name not found : {unknown}"
            return
        self._writer.flag_repeats(prepared)
        for row, item in zip(job.rows, prepared, strict=True):
            try:
                sf_id, created = self._writer.save(item, holder=None)
                job.successes.append((sf_id, created, row))
            except FieldError as error:
                fields = ",".join(error.fields)
                job.failures.append(("", f"{error.status_code}:{error.message}:{fields} --", row))
        job.state = "JobComplete"

    def _prepare(self, job: IngestJob, row: dict[str, str]) -> Prepared:
        sobject = SOBJECTS[job.sobject]
        payload: Record = {}
        for column, value in row.items():
            if value == "":
                continue  # an empty CSV value leaves the field as it is
            typed = None if value == NULL_MARKER else value
            relationship, _, target = column.partition(".")
            if target:
                if sobject.relationship(relationship) is None:
                    raise UnknownFieldError(column)
                payload[relationship] = {target: typed}
            elif column in sobject.fields:
                payload[column] = typed
            else:
                raise UnknownFieldError(column)
        if job.operation == "upsert":
            return self._writer.prepare_upsert(sobject, payload, payload.pop(EXTERNAL_ID_FIELD, None))
        return self._writer.prepare_create(sobject, payload)

    def _info(self, job: IngestJob) -> dict[str, Any]:
        info: dict[str, Any] = {
            "id": job.id,
            "operation": job.operation,
            "object": job.sobject,
            "createdById": SANDBOX_USER_ID,
            "createdDate": sf_datetime(job.created),
            "systemModstamp": sf_datetime(job.modified),
            "state": job.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self._base_path().rsplit("v", 1)[-1]),
            "jobType": "V2Ingest",
            "lineEnding": job.line_ending,
            "columnDelimiter": job.column_delimiter,
            "numberRecordsProcessed": len(job.successes) + len(job.failures),
            "numberRecordsFailed": len(job.failures),
            "retries": 0,
            "totalProcessingTime": 0,
            "apiActiveProcessingTime": 0,
            "apexProcessingTime": 0,
        }
        if job.external_id_field:
            info["externalIdFieldName"] = job.external_id_field
        if job.state == "Open":
            info["contentUrl"] = f"{self._base_path().lstrip('/')}/jobs/ingest/{job.id}/batches"
        if job.error_message:
            info["errorMessage"] = job.error_message
        return info


def _job_problem(body: dict[str, Any]) -> str | None:
    """What is wrong with a job request, in Salesforce's words where known."""
    sobject, operation, external = body.get("object"), body.get("operation"), body.get("externalIdFieldName")
    checks = (
        (sobject in SOBJECTS, f"Unable to find object: {sobject}"),
        (operation in BULK_OPERATIONS, f"operation must be one of {', '.join(BULK_OPERATIONS)}, got {operation!r}"),
        (body.get("contentType", "CSV") == "CSV", "contentType must be CSV"),
        (body.get("columnDelimiter", "COMMA") in COLUMN_DELIMITERS, "unknown columnDelimiter"),
        (body.get("lineEnding", "LF") in LINE_ENDINGS, "lineEnding must be LF or CRLF"),
        (
            operation != "upsert" or external == EXTERNAL_ID_FIELD,
            f"Field name provided, {external} does not match an External ID, Salesforce Id, or indexed field for "
            f"{sobject}",
        ),
    )
    return next((message for passed, message in checks if not passed), None)
