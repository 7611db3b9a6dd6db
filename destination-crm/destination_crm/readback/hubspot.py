"""HubSpot read-back: objects changed since the cursor, through the CRM search API on their last-modified stamp."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pendulum
import requests
from airbyte_cdk.sources.streams.http.requests_native_auth import TokenAuthenticator

from destination_crm.crms.hubspot import DEFAULT_API_PREFIX, DEFAULT_BASE_URL, owned_fields
from destination_crm.crms.hubspot_mapping import DEFAULT_MAPPINGS, EXTERNAL_ID_PROPERTY
from destination_crm.readback.changes import CURSOR_FIELD, EPOCH, ChangedObjects

# api-facts.md, "Search": 200 results a page and 10,000 per query.
SEARCH_PAGE_SIZE = 200
SEARCH_RESULT_CAP = 10_000
# The property HubSpot stamps on every change, per object (contacts keep the legacy name).
MODIFIED_PROPERTY = {"contacts": "lastmodifieddate", "companies": "hs_lastmodifieddate", "deals": "hs_lastmodifieddate"}


class HubSpotChanges(ChangedObjects):
    """Objects of one HubSpot type modified at or after the cursor: their ids and CRM-owned fields.

    Pages of 200 in ascending last-modified order; at the 10,000-result cap of one query it starts
    a new query from the last timestamp seen (GTE, so records on the boundary come again: the raw
    layer's staging dedupes them by id and cursor).
    """

    http_method = "POST"
    state_checkpoint_interval = SEARCH_PAGE_SIZE

    def __init__(self, *, object_type: str, base_url: str, prefix: str, **kwargs: Any) -> None:
        self.object_type = object_type
        self._base_url = base_url.rstrip("/") + "/"
        self._prefix = prefix.strip("/")
        self._modified = MODIFIED_PROPERTY[object_type]
        super().__init__(**kwargs)

    @property
    def name(self) -> str:
        """`hubspot_<object>`."""
        return f"hubspot_{self.object_type}"

    @property
    def url_base(self) -> str:
        """The HubSpot API host."""
        return self._base_url

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
            self.advance(stamp)
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


def hubspot_streams(config: Mapping[str, Any]) -> list[ChangedObjects]:
    """One stream per HubSpot object the destination writes: contacts, companies, deals."""
    settings = config.get("hubspot") or {}
    owned = owned_fields(config.get("crm_owned_fields"))
    objects = [m.object_type for m in DEFAULT_MAPPINGS.values()]
    return [
        HubSpotChanges(
            object_type=name,
            owned=owned.get(name, ()),
            base_url=settings.get("base_url") or DEFAULT_BASE_URL,
            prefix=settings.get("api_prefix") or DEFAULT_API_PREFIX,
            authenticator=TokenAuthenticator(settings.get("access_token", "")),
        )
        for name in sorted(objects, key=list(MODIFIED_PROPERTY).index)
    ]
