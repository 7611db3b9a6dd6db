"""Airbyte protocol helpers and hand-built crm_* rows for the destination behaviour tests."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from airbyte_cdk.models import (
    AirbyteMessage,
    AirbyteRecordMessage,
    AirbyteStateMessage,
    AirbyteStateType,
    AirbyteStream,
    AirbyteStreamState,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteStream,
    DestinationSyncMode,
    StreamDescriptor,
    SyncMode,
    Type,
)
from airbyte_cdk.models.airbyte_protocol import AirbyteStateBlob

from destination_crm import DestinationCrm

TOKEN = "pat-sandbox"
STREAMS = ("crm_companies", "crm_contacts", "crm_deals")


def catalog(streams: Iterable[str] = STREAMS) -> ConfiguredAirbyteCatalog:
    return ConfiguredAirbyteCatalog(
        streams=[
            ConfiguredAirbyteStream(
                stream=AirbyteStream(
                    name=name,
                    json_schema={"type": "object"},
                    supported_sync_modes=[SyncMode.full_refresh, SyncMode.incremental],
                ),
                sync_mode=SyncMode.incremental,
                destination_sync_mode=DestinationSyncMode.append_dedup,
                primary_key=[["external_id"]],
            )
            for name in streams
        ]
    )


def record(stream: str, data: dict[str, Any]) -> AirbyteMessage:
    return AirbyteMessage(type=Type.RECORD, record=AirbyteRecordMessage(stream=stream, data=data, emitted_at=0))


def state(stream: str, position: int) -> AirbyteMessage:
    return AirbyteMessage(
        type=Type.STATE,
        state=AirbyteStateMessage(
            type=AirbyteStateType.STREAM,
            stream=AirbyteStreamState(
                stream_descriptor=StreamDescriptor(name=stream),
                stream_state=AirbyteStateBlob(position=position),
            ),
        ),
    )


def company(n: int, **changes: Any) -> dict[str, Any]:
    return {
        "external_id": f"woocommerce:s1:{n}",
        "name": f"Company {n}",
        "domain": f"company{n}.example",
        "parent_external_id": None,
        "price_tier": "wholesale",
        "credit_limit": 5000.0,
        "credit_used": 120.25,
        "payment_terms": "net30",
        "count_orders": 4,
        "total_revenue": 830.5,
        "updated_at": "2026-10-01T00:00:00Z",
        "row_hash": "x",
        **changes,
    }


def contact(n: int, **changes: Any) -> dict[str, Any]:
    return {
        "external_id": f"person-{n}",
        "email": f"person{n}@example.com",
        "first_name": "Ada",
        "last_name": f"Person{n}",
        "phone": f"+4477009001{n:02d}",
        "city": "London",
        "country": "GB",
        "accepts_marketing": n % 2 == 0,
        "is_registered": True,
        "count_orders": n,
        "total_revenue": 10.5 * n,
        "first_order_at": "2026-01-02T10:00:00Z",
        "last_order_at": "2026-09-02T10:00:00Z",
        "segments": "repeat;vip" if n % 3 == 0 else "",
        "company_external_id": None,
        "updated_at": "2026-10-01T00:00:00Z",
        "row_hash": "x",
        **changes,
    }


def deal(n: int, **changes: Any) -> dict[str, Any]:
    return {
        "external_id": f"woocommerce:s1:{1000 + n}",
        "deal_name": f"Order #{1000 + n}",
        "amount": 19.99 * n,
        "currency": "EUR",
        "stage": ("open", "won", "lost")[n % 3],
        "order_status": "processing",
        "created_at": "2026-03-01T12:00:00Z",
        "closed_at": None if n % 3 == 0 else "2026-03-02T12:00:00Z",
        "contact_external_id": f"person-{n}",
        "company_external_id": None,
        "updated_at": "2026-03-02T12:00:00Z",
        "row_hash": "x",
        **changes,
    }


def sync_messages(companies: int = 2, contacts: int = 3, deals: int = 3, **overrides: Any) -> list[AirbyteMessage]:
    """Parents before children, a STATE after each stream, as `store2crm load` sends them."""
    rows = {
        "crm_companies": [company(n) for n in range(1, companies + 1)],
        "crm_contacts": [contact(n) for n in range(1, contacts + 1)],
        "crm_deals": [deal(n) for n in range(1, deals + 1)],
    }
    rows.update(overrides)
    messages = []
    for position, stream in enumerate(STREAMS):
        messages += [record(stream, data) for data in rows[stream]]
        messages.append(state(stream, position))
    return messages


def write(config: dict[str, Any], messages: Iterable[AirbyteMessage], sleep=None) -> list[AirbyteMessage]:
    destination = DestinationCrm(sleep=sleep or _no_real_sleep)
    return list(destination.write(config, catalog(), iter(messages)))


def _no_real_sleep(seconds: float) -> None:
    raise AssertionError(f"the destination tried to sleep {seconds} s in a test that expects no wait")
