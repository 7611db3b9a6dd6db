"""`store2crm demo`: the whole chain, twice, against the sandbox emulators on loopback."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from store2crm import chain
from store2crm.sandbox.crm_emulator import CrmEmulator
from store2crm.sandbox.crm_emulator.salesforce_schema import SEGMENTS_FIELD as SALESFORCE_SEGMENTS_FIELD
from store2crm.sandbox.generator import generate
from store2crm.sandbox.store_emulator import StoreEmulator
from store2crm.sandbox.store_emulator.proprietary_config import custom_rest_config

# Share of the store's orders changed between the two runs, to show the incremental path.
DEMO_CHANGE_SHARE = 0.05


def source_config(store: StoreEmulator, store_id: str = "demo") -> dict[str, Any]:
    """source-store config pointing at a running store emulator, in the emulator's platform dialect."""
    connections = {
        "woocommerce": {
            "base_url": store.base_url,
            "consumer_key": store.consumer_key,
            "consumer_secret": store.consumer_secret,
        },
        # Shopify and Magento take one token; the emulator's is its consumer secret.
        "shopify": {"base_url": store.base_url, "access_token": store.consumer_secret, "bulk_first_sync": True},
        "magento": {"base_url": store.base_url, "access_token": store.consumer_secret},
    }
    if store.dialect_name == "proprietary":  # a proprietary API: read by custom REST with the example config
        return custom_rest_config(store.base_url, store.consumer_secret, store_id=store_id)
    platform = store.dialect_name
    return {
        "platform": platform,
        "store_id": store_id,
        "start_date": "2015-01-01T00:00:00Z",
        platform: connections[platform],
    }


def destination_config(crm: CrmEmulator, sync_state_path: Path) -> dict[str, Any]:
    """destination-crm config pointing at a running CRM emulator, in the emulator's CRM dialect."""
    connections = {
        "hubspot": {"base_url": crm.base_url, "access_token": crm.access_token},
        # the sandbox org has the Contact segments field, so Salesforce carries segments as HubSpot does
        "salesforce": {
            "instance_url": crm.base_url,
            "access_token": crm.access_token,
            "segments_field": SALESFORCE_SEGMENTS_FIELD,
        },
    }
    return {
        "crm": crm.dialect_name,
        crm.dialect_name: connections[crm.dialect_name],
        "sync_state_path": str(sync_state_path),
    }


def write_private_json(path: Path, content: dict[str, Any]) -> Path:
    """Write a config file readable by its owner only (it holds credentials)."""
    path.touch(mode=0o600)
    path.write_text(json.dumps(content, indent=2))
    return path


def run_demo(
    scale: int, seed: int, workdir: Path, echo: Callable[[str], None] = print, platform: str = "woocommerce"
) -> None:
    """Generate a store, run extract → transform → load, change the store, run again, build the docs."""
    started = time.monotonic()
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    warehouse = workdir / "warehouse.duckdb"
    dataset = generate(seed=seed, scale=scale)
    echo(f"sandbox: generated {scale} people, {len(dataset.orders)} orders, {len(dataset.events)} events")
    with StoreEmulator(dataset, platform) as store, CrmEmulator() as crm:
        echo(f"sandbox: store emulator ({platform}) {store.base_url}; CRM emulator (HubSpot) {crm.base_url}")
        source = source_config(store)
        destination = destination_config(crm, workdir / "sync_state.duckdb")
        for run_number in (1, 2):
            if run_number == 2:
                count = max(1, int(len(dataset.orders) * DEMO_CHANGE_SHARE))
                changed = requests.post(f"{store.base_url}/_sandbox/mutate", json={"count": count}, timeout=30)
                changed.raise_for_status()
                echo(f"\nstore: changed {len(changed.json()['changed'])} records; running the chain again")
            echo(f"\n== run {run_number}")
            calls_before = crm.call_count()
            echo(str(chain.extract(source, warehouse)))
            echo(str(chain.transform(warehouse)))
            echo(str(chain.load(destination, warehouse)))
            echo(
                f"crm: {crm.call_count() - calls_before} API calls this run; holds "
                + ", ".join(f"{len(crm.objects(name))} {name}" for name in ("contacts", "companies", "deals"))
            )
    echo(f"\ndocs: {chain.generate_docs(warehouse)}")
    echo(f"demo finished in {time.monotonic() - started:.0f} s; emulators stopped")
