"""`make bench`: throughput, CPU and peak memory of each stage against the sandbox emulators.

Each stage runs as the `store2crm` CLI in a child process, as a user runs it, so its CPU seconds and
peak memory are the child's own (`resource.getrusage(RUSAGE_CHILDREN)`), not the emulator's.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import requests

from store2crm.demo import destination_config, source_config, write_private_json
from store2crm.sandbox.crm_emulator import CrmEmulator
from store2crm.sandbox.generator import generate
from store2crm.sandbox.store_emulator import StoreEmulator

# People the generator makes per 100k orders (it averages about 2.1 orders a person).
PEOPLE_PER_100K_ORDERS = 47_000
# HubSpot Starter: 100 calls per rolling 10 s, times 100 inputs per call (api-facts.md).
HUBSPOT_STARTER_CEILING_RECORDS_PER_S = 100 / 10 * 100


@dataclass
class ChildRun:
    """What one CLI run in a child process cost."""

    seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    output: str


def run_cli(*args: str) -> ChildRun:
    """Run `python -m store2crm ARGS` and measure the child's wall time, CPU time and peak RSS."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "store2crm", *args], capture_output=True, text=True, check=False, timeout=3600
    )
    seconds = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise RuntimeError(f"store2crm {args[0]} failed:\n{result.stdout}\n{result.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # ru_maxrss of children is the largest single descendant so far (KiB on Linux).
    return ChildRun(seconds, cpu, after.ru_maxrss / 1024, result.stdout)


def bench_extract(orders: int, workdir: Path) -> dict[str, Any]:
    """Extract a WooCommerce store of about `orders` orders into an empty raw layer."""
    dataset = generate(seed=1, scale=max(100, orders * PEOPLE_PER_100K_ORDERS // 100_000))
    with StoreEmulator(dataset) as store:
        config = write_private_json(workdir / "source.json", source_config(store))
        warehouse = workdir / "extract.duckdb"
        run = run_cli("extract", "--source-config", str(config), "--warehouse", str(warehouse))
        calls = requests.get(f"{store.base_url}/_sandbox/stats", timeout=30).json()["total"]
    with duckdb.connect(str(warehouse)) as db:
        records = sum(
            db.execute(f'SELECT count(*) FROM raw_store."{table}"').fetchone()[0]
            for (table,) in db.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw_store'"
            ).fetchall()
        )
    return {
        "case": f"extract woocommerce ({len(dataset.orders):,} orders)",
        "records": records,
        "records_per_s": records / run.seconds,
        "cpu_s_per_100k": run.cpu_seconds / records * 100_000,
        "api_calls_per_1k": calls / records * 1000,
        "peak_rss_mb": run.peak_rss_mb,
    }


def bench_transform_and_load(people: int, workdir: Path) -> list[dict[str, Any]]:
    """Run dbt build on an extracted store, then a first load and an unchanged rerun into HubSpot Starter."""
    dataset = generate(seed=2, scale=people)
    with StoreEmulator(dataset) as store, CrmEmulator(tier="starter") as crm:
        source = write_private_json(workdir / "source-load.json", source_config(store))
        destination = write_private_json(
            workdir / "destination.json", destination_config(crm, workdir / "sync_state.duckdb")
        )
        warehouse = str(workdir / "load.duckdb")
        run_cli("extract", "--source-config", str(source), "--warehouse", warehouse)
        transform = run_cli("transform", "--warehouse", warehouse)
        first = run_cli("load", "--destination-config", str(destination), "--warehouse", warehouse)
        first_calls = crm.call_count()
        run_cli("load", "--destination-config", str(destination), "--warehouse", warehouse)
        rerun_calls = crm.call_count() - first_calls
        objects = sum(len(crm.objects(name)) for name in ("contacts", "companies", "deals"))
    return [
        {
            "case": f"transform: dbt build ({people:,} people)",
            "records": people,
            "seconds": transform.seconds,
            "cpu_s": transform.cpu_seconds,
            "peak_rss_mb": transform.peak_rss_mb,
        },
        {
            "case": "load hubspot starter, first sync",
            "records": objects,
            "records_per_s": objects / first.seconds,
            "ceiling_records_per_s": HUBSPOT_STARTER_CEILING_RECORDS_PER_S,
            "api_calls_per_1k": first_calls / objects * 1000,
            "peak_rss_mb": first.peak_rss_mb,
        },
        {"case": "load hubspot starter, unchanged rerun", "records": objects, "api_calls": rerun_calls},
    ]


def format_row(row: dict[str, Any]) -> str:
    """One line per case: name, then each figure."""
    figures = ", ".join(
        f"{key} {value:,.2f}" if isinstance(value, float) else f"{key} {value:,}"
        for key, value in row.items()
        if key != "case"
    )
    return f"{row['case']}: {figures}"


def main(argv: list[str] | None = None, echo: Callable[[str], None] = print) -> None:
    """Run the benchmark cases and print one line each."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=100_000, help="orders in the extract case")
    parser.add_argument("--people", type=int, default=5_000, help="people in the transform and load cases")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="store2crm-bench-") as folder:
        workdir = Path(folder)
        echo(format_row(bench_extract(args.orders, workdir)))
        for row in bench_transform_and_load(args.people, workdir):
            echo(format_row(row))


if __name__ == "__main__":
    main()
