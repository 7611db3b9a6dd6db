"""Salesforce read-back: records changed since the cursor, through a SOQL query on SystemModstamp.

Per sObject the destination writes (Account, Contact, Opportunity), one query
`SELECT Id, <external id field>, [Email,] SystemModstamp, <crm_owned_fields> FROM <sObject>
WHERE SystemModstamp >= <cursor> ORDER BY SystemModstamp, Id`, read page by page through
`nextRecordsUrl` (up to 2,000 records a page). SystemModstamp is indexed and moves on every change,
system ones included, so nothing changed is missed; the filter is inclusive (and SOQL literals have
whole seconds), so records on the boundary come again and staging dedupes them by id and stamp.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

import pendulum
import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.http.error_handlers import ErrorHandler, ErrorResolution, ResponseAction
from airbyte_cdk.sources.streams.http.error_handlers.backoff_strategy import BackoffStrategy
from airbyte_cdk.sources.streams.http.requests_native_auth import TokenAuthenticator

from destination_crm.crms.salesforce import SalesforceConnection, config_error, owned_fields
from destination_crm.crms.salesforce_errors import SalesforceBackoffStrategy, SalesforceErrorHandler, first_error
from destination_crm.crms.salesforce_mapping import DEFAULT_MAPPINGS
from destination_crm.readback.changes import CURSOR_FIELD, ChangedObjects

# REST API "Query": a page holds up to 2,000 records (the default batch size).
QUERY_PAGE_SIZE = 2_000
MODIFIED_FIELD = "SystemModstamp"
# Stream name per sObject, in the destination's write order (parents first).
STREAM_NAMES = {
    "Account": "salesforce_accounts",
    "Contact": "salesforce_contacts",
    "Opportunity": "salesforce_opportunities",
}
FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# Cursor values: UTC with milliseconds, so the largest string is the latest stamp.
STAMP_FORMAT = "YYYY-MM-DDTHH:mm:ss.SSS[Z]"
# SOQL dateTime literals carry whole seconds: the filter starts at the cursor's second.
SOQL_STAMP_FORMAT = "YYYY-MM-DDTHH:mm:ss[Z]"
QUERY_REFUSED = (
    "Salesforce refused the read-back query on {sobject} (HTTP {status} {code}: {message}); every name in "
    "crm_owned_fields.{sobject} must be the API name of a {sobject} field the user can read, and "
    "salesforce.external_id_field must exist on {sobject}"
)


class SalesforceChanges(ChangedObjects):
    """Records of one sObject modified at or after the cursor: ids, external id, email and CRM-owned fields.

    The query runs once; Salesforce keeps its result set behind `nextRecordsUrl`, so the pages are
    one consistent snapshot in (SystemModstamp, Id) order and the cursor can advance record by record.
    """

    state_checkpoint_interval = QUERY_PAGE_SIZE

    def __init__(self, *, sobject: str, connection: SalesforceConnection, **kwargs: Any) -> None:
        self.sobject = sobject
        self._connection = connection
        super().__init__(authenticator=TokenAuthenticator(connection.access_token), **kwargs)

    @property
    def name(self) -> str:
        """`salesforce_accounts`, `salesforce_contacts` or `salesforce_opportunities`."""
        return STREAM_NAMES[self.sobject]

    @property
    def url_base(self) -> str:
        """The org's instance URL."""
        return self._connection.instance_url + "/"

    def normalized_stamp(self, stamp: str) -> str:
        """Salesforce's `2026-01-31T12:00:00.000+0000` (or any ISO 8601 stamp) as UTC with milliseconds."""
        return pendulum.parse(stamp).in_timezone("UTC").format(STAMP_FORMAT)

    def get_error_handler(self) -> ErrorHandler:
        """Salesforce's error taxonomy; a refused query names the sObject and the setting to fix."""
        return ReadbackErrorHandler(self.logger, self.sobject)

    def get_backoff_strategy(self) -> BackoffStrategy:
        """1, 2, 4 ... s for 5xx and network errors (Salesforce sends no Retry-After)."""
        return SalesforceBackoffStrategy()

    def path(self, next_page_token: Mapping[str, Any] | None = None, **kwargs: Any) -> str:
        """The query endpoint, then each page's `nextRecordsUrl`."""
        if next_page_token:
            return str(next_page_token["next_records_url"])
        return f"services/data/{self._connection.api_version}/query"

    def request_params(
        self,
        stream_state: Mapping[str, Any] | None,
        stream_slice: Mapping[str, Any] | None = None,
        next_page_token: Mapping[str, Any] | None = None,
    ) -> Mapping[str, Any]:
        """The SOQL query on the first page; later pages are named by their locator alone."""
        return {} if next_page_token else {"q": self.soql()}

    def soql(self) -> str:
        """The query of records modified at or after the cursor's second, oldest first."""
        since = pendulum.parse(self._cursor).in_timezone("UTC").format(SOQL_STAMP_FORMAT)
        return (
            f"SELECT {', '.join(self.selected_fields())} FROM {self.sobject} "
            f"WHERE {MODIFIED_FIELD} >= {since} ORDER BY {MODIFIED_FIELD} ASC, Id ASC"
        )

    def selected_fields(self) -> list[str]:
        """Id, the external id field, Email (contacts), SystemModstamp, then the CRM-owned fields."""
        fixed = ["Id", self._connection.external_id_field, *(["Email"] if self.sobject == "Contact" else [])]
        return list(dict.fromkeys([*fixed, MODIFIED_FIELD, *self._owned]))

    def next_page_token(self, response: requests.Response) -> Mapping[str, Any] | None:
        """The locator of the next page, until Salesforce says `done`."""
        body = response.json()
        locator = body.get("nextRecordsUrl")
        return None if body.get("done", True) or not locator else {"next_records_url": locator}

    def parse_response(self, response: requests.Response, **kwargs: Any) -> Iterable[Mapping[str, Any]]:
        """One record per sObject record, advancing the cursor."""
        for record in response.json().get("records") or []:
            stamp = self.normalized_stamp(str(record[MODIFIED_FIELD]))
            self.advance(stamp)
            yield {
                "id": str(record["Id"]),
                "object": self.sobject,
                "external_id": record.get(self._connection.external_id_field),
                "email": record.get("Email"),
                CURSOR_FIELD: stamp,
                "properties": {name: as_text(record.get(name)) for name in self._owned},
            }


class ReadbackErrorHandler(SalesforceErrorHandler):
    """The destination's Salesforce error handling, except that a refused query (400) fails the read."""

    def __init__(self, logger: logging.Logger, sobject: str) -> None:
        super().__init__(logger)
        self._sobject = sobject

    def interpret_response(self, response_or_exception: requests.Response | Exception | None = None) -> ErrorResolution:
        """FAIL with the field to fix on a 400 (INVALID_FIELD, MALFORMED_QUERY); otherwise as the destination."""
        if isinstance(response_or_exception, requests.Response) and response_or_exception.status_code == 400:
            code, message = first_error(response_or_exception)
            text = QUERY_REFUSED.format(sobject=self._sobject, status=400, code=code, message=message)
            return ErrorResolution(ResponseAction.FAIL, FailureType.config_error, text)
        return super().interpret_response(response_or_exception)


def as_text(value: Any) -> str | None:
    """A field value as text, as the stream's schema has it: true/false, numbers, JSON for compound fields."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


def read_fields(sobject: str, owned: Iterable[str]) -> list[str]:
    """The fields to read for `crm_owned_fields.<sObject>`: a lookup owned by relationship name reads its id field."""
    lookups = {
        lookup.relationship: lookup.id_field
        for mapping in DEFAULT_MAPPINGS.values()
        if mapping.sobject == sobject
        for lookup in mapping.lookups
    }
    fields = []
    for name in sorted(owned):
        if not FIELD_NAME.match(name):
            raise config_error(
                f"crm_owned_fields.{sobject}: {name!r} is not a field API name (letters, digits and _, e.g. "
                "HasOptedOutOfEmail or Lifecycle_Stage__c)"
            )
        fields.append(lookups.get(name, name))
    return fields


def salesforce_streams(config: Mapping[str, Any]) -> list[ChangedObjects]:
    """One stream per sObject the destination writes: accounts, contacts, opportunities."""
    connection = SalesforceConnection.from_config(config)
    owned = owned_fields(config.get("crm_owned_fields"))
    return [
        SalesforceChanges(sobject=sobject, connection=connection, owned=read_fields(sobject, owned.get(sobject, ())))
        for sobject in STREAM_NAMES
    ]
