"""Fill a warehouse's raw layer for the dbt tests through the real loader (store2crm.raw_layer)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pendulum

from store2crm.raw_layer import RawLayer

SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "source-store" / "source_store" / "schemas"
STREAMS = (
    "customers",
    "orders",
    "abandoned_checkouts",
    "events",
    "products",
    "companies",
    "company_contacts",
)


def _schemas() -> list[tuple[str, dict[str, Any]]]:
    return [(name, json.loads((SCHEMAS_DIR / f"{name}.json").read_text())) for name in STREAMS]


def create_raw_layer(warehouse: Path) -> None:
    """Create schema raw_store with one empty table per stream."""
    with RawLayer(warehouse) as raw:
        raw.prepare(_schemas())


def append_records(
    warehouse: Path,
    stream: str,
    records: Iterable[Mapping[str, Any]],
    extracted_at: str,
    *,
    platform: str = "woocommerce",
    store_id: str = "s1",
) -> None:
    """Append records (canonical shape, without platform/store_id) as one extraction."""
    emitted_at_ms = int(pendulum.parse(extracted_at).timestamp() * 1000)
    with RawLayer(warehouse) as raw:
        raw.prepare(_schemas())
        for record in records:
            raw.add_record(stream, {"platform": platform, "store_id": store_id, **record}, emitted_at_ms)
        raw.flush()
