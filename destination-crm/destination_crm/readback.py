"""Read-back source: CRM-owned fields changed in HubSpot since the last run, as Airbyte streams.

`python -m destination_crm.readback spec|check|discover|read --config destination.json ...` takes the
destination's own config (the `hubspot` block and `crm_owned_fields`), so it runs in Airbyte as a
source and in store2crm like source-store. Each HubSpot object is one incremental stream
(`hubspot_contacts`, `hubspot_companies`, `hubspot_deals`) read through the CRM search API, filtered
and sorted on the object's last-modified property.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable, Mapping, MutableMapping
from importlib import resources
from typing import Any

import pendulum
import requests
from airbyte_cdk.entrypoint import launch
from airbyte_cdk.models import ConnectorSpecification, ConnectorSpecificationSerializer, SyncMode
from airbyte_cdk.sources import AbstractSource
from airbyte_cdk.sources.streams import Stream
from airbyte_cdk.sources.streams.http import HttpStream
from airbyte_cdk.sources.streams.http.requests_native_auth import TokenAuthenticator

from destination_crm.crms.hubspot import DEFAULT_API_PREFIX, DEFAULT_BASE_URL, owned_fields
from destination_crm.crms.hubspot_mapping import DEFAULT_MAPPINGS, EXTERNAL_ID_PROPERTY

# api-facts.md, "Search": 200 results a page and 10,000 per query.
SEARCH_PAGE_SIZE = 200
SEARCH_RESULT_CAP = 10_000
# The property HubSpot stamps on every change, per object (contacts keep the legacy name).
MODIFIED_PROPERTY = {"contacts": "lastmodifieddate", "companies": "hs_lastmodifieddate", "deals": "hs_lastmodifieddate"}
CURSOR_FIELD = "updated_at"
EPOCH = "1970-01-01T00:00:00.000Z"


class CrmChanges(HttpStream):
    """Objects of one HubSpot type modified at or after the cursor: their ids and CRM-owned fields.

    Pages of 200 in ascending last-modified order; at the 10,000-result cap of one query it starts
    a new query from the last timestamp seen (GTE, so records on the boundary come again: the raw
    layer's staging dedupes them by id and cursor).
    """

    primary_key = "id"
    http_method = "POST"
    cursor_field = CURSOR_FIELD
    state_checkpoint_interval = SEARCH_PAGE_SIZE

    def __init__(self, *, object_type: str, owned: Iterable[str], base_url: str, prefix: str, **kwargs: Any) -> None:
        self.object_type = object_type
        self._base_url = base_url.rstrip("/") + "/"
        self._prefix = prefix.strip("/")
        self._modified = MODIFIED_PROPERTY[object_type]
        self._owned = sorted(owned)
        self._cursor = EPOCH
        super().__init__(**kwargs)

    @property
    def name(self) -> str:
        """`hubspot_<object>`."""
        return f"hubspot_{self.object_type}"

    @property
    def url_base(self) -> str:
        """The HubSpot API host."""
        return self._base_url

    @property
    def supports_incremental(self) -> bool:
        """Always incremental on the last-modified stamp."""
        return True

    @property
    def state(self) -> MutableMapping[str, Any]:
        """The latest last-modified stamp read."""
        return {CURSOR_FIELD: self._cursor}

    @state.setter
    def state(self, value: MutableMapping[str, Any]) -> None:
        self._cursor = max(self._cursor, str((value or {}).get(CURSOR_FIELD) or EPOCH))

    def get_json_schema(self) -> Mapping[str, Any]:
        """id, object, external_id, email, updated_at, and the CRM-owned properties as strings."""
        text = {"type": ["null", "string"]}
        return {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "object": {"type": "string"},
                "external_id": text,
                "email": text,
                CURSOR_FIELD: {"type": "string", "format": "date-time"},
                "properties": {"type": "object", "properties": {name: text for name in self._owned}},
            },
        }

    def path(self, **kwargs: Any) -> str:
        """The object's search endpoint."""
        return f"{self._prefix}/objects/{self.object_type}/search"

    def request_body_json(
        self,
        stream_state: Mapping[str, Any] | None,
        stream_slice: Mapping[str, Any] | None = None,
        next_page_token: Mapping[str, Any] | None = None,
    ) -> Mapping[str, Any]:
        """Filter `modified >= since`, sort ascending on it, 200 a page."""
        token = next_page_token or {}
        since = token.get("since") or self._cursor
        body: dict[str, Any] = {
            "filterGroups": [
                {"filters": [{"propertyName": self._modified, "operator": "GTE", "value": str(epoch_ms(since))}]}
            ],
            "sorts": [{"propertyName": self._modified, "direction": "ASCENDING"}],
            "properties": sorted({self._modified, EXTERNAL_ID_PROPERTY, "email", *self._owned}),
            "limit": SEARCH_PAGE_SIZE,
        }
        if token.get("after"):
            body["after"] = token["after"]
        return body

    def next_page_token(self, response: requests.Response) -> Mapping[str, Any] | None:
        """The next page, or past the 10,000 cap a fresh query from the last stamp on this page."""
        body = response.json()
        after = ((body.get("paging") or {}).get("next") or {}).get("after")
        results = body.get("results") or []
        if after is None:
            if int(body.get("total") or 0) <= SEARCH_RESULT_CAP or not results:
                return None
            after = str(SEARCH_RESULT_CAP)  # HubSpot stops paging at the cap: restart from the last stamp
        if int(after) + SEARCH_PAGE_SIZE <= SEARCH_RESULT_CAP:
            return {"after": after}
        last = (results[-1].get("properties") or {}).get(self._modified)
        return {"since": last} if last else None

    def parse_response(self, response: requests.Response, **kwargs: Any) -> Iterable[Mapping[str, Any]]:
        """One record per object, advancing the cursor."""
        for result in response.json().get("results") or []:
            properties = result.get("properties") or {}
            stamp = properties.get(self._modified) or result.get("updatedAt") or EPOCH
            self._cursor = max(self._cursor, stamp)
            yield {
                "id": str(result.get("id")),
                "object": self.object_type,
                "external_id": properties.get(EXTERNAL_ID_PROPERTY),
                "email": properties.get("email"),
                CURSOR_FIELD: stamp,
                "properties": {name: properties.get(name) for name in self._owned},
            }


def epoch_ms(stamp: str) -> int:
    """Milliseconds since the epoch of an ISO 8601 stamp (HubSpot filters dates that way)."""
    return int(pendulum.parse(stamp).timestamp() * 1000)


class ReadbackSource(AbstractSource):
    """The CRM's side of the story: what an agent or the contact changed in the CRM-owned fields."""

    def spec(self, logger: logging.Logger) -> ConnectorSpecification:
        """The destination's spec: the read-back source takes the same config."""
        body = json.loads(resources.files("destination_crm").joinpath("spec.json").read_text())
        return ConnectorSpecificationSerializer.load({k: v for k, v in body.items() if not k.startswith("supported_")})

    def check_connection(self, logger: logging.Logger, config: Mapping[str, Any]) -> tuple[bool, Any]:
        """One search call on contacts."""
        stream = self.streams(config)[0]
        try:
            next(iter(stream.read_records(sync_mode=SyncMode.full_refresh)), None)
        except Exception as exc:  # the CDK reports the reason; the token never appears in it
            return False, f"HubSpot search failed: {exc}"
        return True, None

    def streams(self, config: Mapping[str, Any]) -> list[Stream]:
        """One stream per HubSpot object the destination writes."""
        settings = config.get("hubspot") or {}
        owned = owned_fields(config.get("crm_owned_fields"))
        objects = [m.object_type for m in DEFAULT_MAPPINGS.values()]
        return [
            CrmChanges(
                object_type=name,
                owned=owned.get(name, ()),
                base_url=settings.get("base_url") or DEFAULT_BASE_URL,
                prefix=settings.get("api_prefix") or DEFAULT_API_PREFIX,
                authenticator=TokenAuthenticator(settings.get("access_token", "")),
            )
            for name in sorted(objects, key=list(MODIFIED_PROPERTY).index)
        ]


def main() -> None:
    """`python -m destination_crm.readback ...`."""
    launch(ReadbackSource(), sys.argv[1:])


if __name__ == "__main__":
    main()
