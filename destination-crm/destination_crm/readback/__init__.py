"""Read-back source: CRM-owned fields changed in the CRM since the last run, as Airbyte streams.

`python -m destination_crm.readback spec|check|discover|read --config destination.json ...` takes the
destination's own config (its `crm`, the CRM's connection block and `crm_owned_fields`), so it runs in
Airbyte as a source and in store2crm like source-store. One module per CRM, each with one incremental
stream per object the destination writes:

- HubSpot (`hubspot.py`): `hubspot_contacts`, `hubspot_companies`, `hubspot_deals`, read through the
  CRM search API filtered and sorted on the object's last-modified property;
- Salesforce (`salesforce.py`): `salesforce_accounts`, `salesforce_contacts`, `salesforce_opportunities`,
  read through a SOQL query filtered and sorted on SystemModstamp.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Mapping
from importlib import resources
from typing import Any

from airbyte_cdk.entrypoint import launch
from airbyte_cdk.models import ConnectorSpecification, ConnectorSpecificationSerializer, SyncMode
from airbyte_cdk.sources import AbstractSource
from airbyte_cdk.sources.streams import Stream

from destination_crm.crms.salesforce import config_error
from destination_crm.readback.changes import ChangedObjects
from destination_crm.readback.hubspot import hubspot_streams
from destination_crm.readback.salesforce import salesforce_streams

# The read-back streams of each CRM the destination writes to (spec.json's `crm`).
CRM_STREAMS: dict[str, Callable[[Mapping[str, Any]], list[ChangedObjects]]] = {
    "hubspot": hubspot_streams,
    "salesforce": salesforce_streams,
}
CRM_NAMES = {"hubspot": "HubSpot", "salesforce": "Salesforce"}


class ReadbackSource(AbstractSource):
    """The CRM's side of the story: what an agent or the contact changed in the CRM-owned fields."""

    def spec(self, logger: logging.Logger) -> ConnectorSpecification:
        """The destination's spec: the read-back source takes the same config."""
        body = json.loads(resources.files("destination_crm").joinpath("spec.json").read_text())
        return ConnectorSpecificationSerializer.load({k: v for k, v in body.items() if not k.startswith("supported_")})

    def check_connection(self, logger: logging.Logger, config: Mapping[str, Any]) -> tuple[bool, Any]:
        """The first page of every stream: proves the connection and every CRM-owned field name."""
        for stream in self.streams(config):
            try:
                next(iter(stream.read_records(sync_mode=SyncMode.full_refresh)), None)
            except Exception as exc:  # the CDK reports the reason; the token never appears in it
                return False, f"{CRM_NAMES[crm_name(config)]} read-back of {stream.name} failed: {exc}"
        return True, None

    def streams(self, config: Mapping[str, Any]) -> list[Stream]:
        """The streams of the configured CRM."""
        return list(CRM_STREAMS[crm_name(config)](config))


def crm_name(config: Mapping[str, Any]) -> str:
    """The config's `crm` (default hubspot); an unknown one is a config error listing the valid ones."""
    name = config.get("crm") or "hubspot"
    if name not in CRM_STREAMS:
        raise config_error(f"crm must be one of {', '.join(CRM_STREAMS)} for read-back, got {name!r}")
    return str(name)


def main() -> None:
    """`python -m destination_crm.readback ...`."""
    launch(ReadbackSource(), sys.argv[1:])
