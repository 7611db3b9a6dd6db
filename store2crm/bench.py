"""`make bench`: throughput, CPU and peak memory of each stage against the sandbox emulators.

Each stage runs as the `store2crm` CLI in a child process, as a user runs it, so its CPU seconds and
peak memory are that child's own (`os.wait4`), not the emulator's nor an earlier stage's.
"""

from __future__ import annotations

import argparse
import datetime as dt
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
from store2crm.evaluate import load_dataset
from store2crm.sandbox.crm_emulator import CrmEmulator
from store2crm.sandbox.file_exports import FileExportStore, files_config
from store2crm.sandbox.generator import generate
from store2crm.sandbox.store_emulator import StoreEmulator

# People the generator makes per 100k orders (it averages about 2.1 orders a person).
PEOPLE_PER_100K_ORDERS = 47_000
# HubSpot Starter: 100 calls per rolling 10 s, times 100 inputs per call (api-facts.md).
HUBSPOT_STARTER_CEILING_RECORDS_PER_S = 100 / 10 * 100
CASES = ("extract", "transform-load", "crm-load", "dbt-scale")
# CRM emulator dialects and the account tier each is benchmarked on.
CRM_TIERS = {"hubspot": "starter", "salesforce": "enterprise"}
# Share of the store changed before the incremental load, and the injected fault rate (issue 5).
CRM_CHANGE_SHARE = 0.01
CRM_FAULT_RATE = 0.05
# Every platform: custom REST reads the emulator's proprietary dialect with the example config (no code);
# file exports are written into a folder by the sandbox's export job (no API calls to count).
EXTRACT_PLATFORMS = ("woocommerce", "shopify", "magento", "custom_rest", "files")
EXTRACT_DIALECTS = {"custom_rest": "proprietary"}
# Rows per export file (a nightly ERP export writes files of thousands of rows, not dozens).
EXPORT_ROWS_PER_FILE = 5_000
# The generated stores sell to B2B companies, which Shopify offers on Plus plans only (api-facts.md), so the
# Shopify store is a Plus store: a 1,000 points/s cost bucket. On a Standard bucket (100 points/s) the
# company_contacts walk (9 companies a query, ~930 points requested and ~170 charged) waits ~1.7 s a query:
# minutes of rate-limit sleep at 100k orders that would measure the plan, not the connector.
EXTRACT_DIALECT_OPTIONS: dict[str, dict[str, Any]] = {"shopify": {"plan": "plus"}}
# A stage that runs longer is killed (and fails the bench).
CHILD_TIMEOUT_S = 3600
# Why a launcher: on Linux a process's peak RSS (ru_maxrss) starts at the high-water mark of the
# process it was forked from, so a CLI forked straight from this one would report at least the
# memory this process used to generate data. The launcher is a fresh, small interpreter: it forks
# and execs the CLI, waits for it with os.wait4 (that child's own usage only) and appends
# "<mark> <cpu seconds> <max rss KiB>" to stderr.
LAUNCHER_MARK = "\nstore2crm-bench-rusage "
LAUNCHER = f"""
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, *sys.argv[1:]])
_, status, usage = os.wait4(pid, 0)
sys.stderr.write({LAUNCHER_MARK!r} + f"{{usage.ru_utime + usage.ru_stime}} {{usage.ru_maxrss}}")
sys.exit(os.waitstatus_to_exitcode(status))
"""
# dbt at scale (issue 4: a full build and a build after 1% new data, at >= 1M events). The
# generator makes ~2.35 events a person and stops at 300k people (its phone number space), so it
# cannot make 1M events; DBT_SCALE_PEOPLE people are generated and loaded (~25 s) and their events
# are replicated in DuckDB up to the target count (REPLICATE_EVENTS_SQL).
DBT_SCALE_EVENTS = 1_000_000
DBT_SCALE_PEOPLE = 50_000
DBT_INCREMENT_SHARE = 0.01
# Copy k of an event gets id, anonymous_id and session_id suffixed `~r<k>` (a new browser and
# session of the same person: login and email links still tie it to them) and happens k hours earlier.
REPLICATE_EVENTS_SQL = """
insert into raw_store.events by name
select
    events.* replace (
        events.id || '~r' || copies.k as id,
        events.anonymous_id || '~r' || copies.k as anonymous_id,
        events.session_id || '~r' || copies.k as session_id,
        events.occurred_at - to_hours(copies.k) as occurred_at,
        cast(uuid() as varchar) as _airbyte_raw_id
    )
from raw_store.events as events
cross join range(1, $copies) as copies (k)
where events.id not like '%~%'
"""
# 1% new data: a deterministic ~1% sample of events and of orders without refunds, copied under
# new ids (`~n`), their two-year spread squeezed into the day after the latest record (so every
# copy is later than anything loaded), extracted by a later sync.
INCREMENT_SQL = {
    "events": """
insert into raw_store.events by name
select
    events.* replace (
        events.id || '~n' as id,
        events.anonymous_id || '~n' as anonymous_id,
        events.session_id || '~n' as session_id,
        $latest + to_seconds((epoch(events.occurred_at) - $earliest) / $squeeze) as occurred_at,
        cast(uuid() as varchar) as _airbyte_raw_id,
        $extracted_at as _airbyte_extracted_at
    )
from raw_store.events as events
where hash(events.id) % $every = 0
""",
    "orders": """
insert into raw_store.orders by name
select
    orders.* replace (
        orders.id || '~n' as id,
        orders.order_number || '~n' as order_number,
        $latest + to_seconds((epoch(orders.created_at) - $earliest) / $squeeze) as created_at,
        $latest + to_seconds((epoch(orders.updated_at) - $earliest) / $squeeze) as updated_at,
        $latest + to_seconds((epoch(orders.cancelled_at) - $earliest) / $squeeze) as cancelled_at,
        cast(uuid() as varchar) as _airbyte_raw_id,
        $extracted_at as _airbyte_extracted_at
    )
from raw_store.orders as orders
where hash(orders.id) % $every = 0 and coalesce(json_array_length(orders.refunds), 0) = 0
""",
}


@dataclass
class ChildRun:
    """What one CLI run in a child process cost."""

    seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    output: str


def run_cli(*args: str) -> ChildRun:
    """Run `python -m store2crm ARGS` and measure the child's wall time, CPU time and peak RSS.

    The CLI runs under a small launcher process (LAUNCHER) that reports the CLI's own rusage.
    """
    started = time.monotonic()
    # Output goes to files, not pipes, so nothing has to be drained while the child runs.
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, "-m", "store2crm", *args], stdout=out, stderr=err, text=True
        )
        try:
            process.wait(timeout=CHILD_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
        seconds = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    stderr, _, usage = stderr.rpartition(LAUNCHER_MARK)
    if process.returncode != 0 or not usage:
        raise RuntimeError(f"store2crm {args[0]} failed:\n{stdout}\n{stderr}")
    cpu_seconds, max_rss_kib = usage.split()
    return ChildRun(seconds, float(cpu_seconds), int(max_rss_kib) / 1024, stdout)


def bench_extract(orders: int, platform: str, workdir: Path) -> dict[str, Any]:
    """Extract a store of about `orders` orders, served as `platform` reads it, into an empty raw layer."""
    dataset = generate(seed=1, scale=max(100, orders * PEOPLE_PER_100K_ORDERS // 100_000))
    warehouse = workdir / f"extract-{platform}.duckdb"
    calls = None
    if platform == "files":
        folder = workdir / "exports"
        FileExportStore(dataset, folder, rows_per_file=EXPORT_ROWS_PER_FILE).export_all()
        run = _extract(files_config(folder), platform, warehouse, workdir)
    else:
        dialect = EXTRACT_DIALECTS.get(platform, platform)
        with StoreEmulator(dataset, dialect, dialect_options=EXTRACT_DIALECT_OPTIONS.get(platform)) as store:
            run = _extract(source_config(store), platform, warehouse, workdir)
            calls = requests.get(f"{store.base_url}/_sandbox/stats", timeout=30).json()["total"]
    records = _raw_records(warehouse)
    row = {
        "case": f"extract {platform} ({len(dataset.orders):,} orders)",
        "records": records,
        "records_per_s": records / run.seconds,
        "cpu_s_per_100k": run.cpu_seconds / records * 100_000,
    }
    if calls is not None:
        row["api_calls_per_1k"] = calls / records * 1000
    return {**row, "peak_rss_mb": run.peak_rss_mb}


def _extract(config: dict[str, Any], platform: str, warehouse: Path, workdir: Path) -> ChildRun:
    path = write_private_json(workdir / f"source-{platform}.json", config)
    return run_cli("extract", "--source-config", str(path), "--warehouse", str(warehouse))


def _raw_records(warehouse: Path) -> int:
    with duckdb.connect(str(warehouse)) as db:
        return sum(
            db.execute(f'SELECT count(*) FROM raw_store."{table}"').fetchone()[0]
            for (table,) in db.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw_store'"
            ).fetchall()
        )


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


def bench_crm_load(people: int, workdir: Path) -> list[dict[str, Any]]:
    """Per CRM: first sync, a 1% store change, and a first sync into a CRM failing 5% of calls."""
    dataset = generate(seed=4, scale=people)
    rows = []
    with StoreEmulator(dataset) as store:
        source = write_private_json(workdir / "source-crm.json", source_config(store))
        warehouse = str(workdir / "crm.duckdb")
        run_cli("extract", "--source-config", str(source), "--warehouse", warehouse)
        run_cli("transform", "--warehouse", warehouse)
        for dialect, tier in CRM_TIERS.items():
            rows += _load_runs(dialect, tier, store, source, warehouse, workdir=workdir)
    return rows


def _load_runs(
    dialect: str, tier: str, store: StoreEmulator, source: Path, warehouse: str, *, workdir: Path
) -> list[dict[str, Any]]:
    with CrmEmulator(dialect, tier=tier) as crm:
        destination = write_private_json(
            workdir / f"destination-{dialect}.json", destination_config(crm, workdir / f"state-{dialect}.duckdb")
        )
        first = run_cli("load", "--destination-config", str(destination), "--warehouse", warehouse)
        first_calls = crm.call_count()
        objects = sum(len(crm.objects(name)) for name in ("companies", "contacts", "deals"))
        count = max(1, int(len(store.dataset.orders) * CRM_CHANGE_SHARE))
        requests.post(f"{store.base_url}/_sandbox/mutate", json={"count": count}, timeout=30).raise_for_status()
        run_cli("extract", "--source-config", str(source), "--warehouse", warehouse)
        run_cli("transform", "--warehouse", warehouse)
        changed = run_cli("load", "--destination-config", str(destination), "--warehouse", warehouse)
        changed_summary = _summary(changed.output)
        changed_calls = crm.call_count() - first_calls
    with CrmEmulator(dialect, tier=tier, error_rate=CRM_FAULT_RATE, fault_seed=5) as faulty:
        destination = write_private_json(
            workdir / f"destination-{dialect}-faults.json",
            destination_config(faulty, workdir / f"state-{dialect}-faults.duckdb"),
        )
        faults = _summary(run_cli("load", "--destination-config", str(destination), "--warehouse", warehouse).output)
        duplicates = _duplicate_objects(faulty)
    return [
        {
            "case": f"load {dialect} {tier}, first sync",
            "records": objects,
            "records_per_s": objects / first.seconds,
            "api_calls": first_calls,
            "peak_rss_mb": first.peak_rss_mb,
        },
        {
            "case": f"load {dialect}, after a 1% store change",
            "changed_records": changed_summary.get("sent", 0),
            "api_calls": changed_calls,
            "api_calls_per_changed_record": changed_calls / max(1, changed_summary.get("sent", 0)),
        },
        {
            "case": f"load {dialect}, first sync with {CRM_FAULT_RATE:.0%} of calls failing",
            **{key: faults.get(key, 0) for key in ("received", "created", "updated", "failed", "queued_for_retry")},
            "dead_lettered": faults.get("dead_lettered", 0),
            "duplicates_in_crm": duplicates,
        },
    ]


def _summary(output: str) -> dict[str, int]:
    """The counts of the `load:` line the CLI printed."""
    line = next(line for line in output.splitlines() if line.startswith("load: "))
    counts = line.removeprefix("load: ").split(";")[0].split(", ")
    return {name: int(value) for name, value in (count.rsplit(" ", 1) for count in counts) if value.isdigit()}


def _duplicate_objects(crm: CrmEmulator) -> int:
    """Objects sharing an external id (or a contact email) with another object of their type."""
    duplicates = 0
    for name in ("companies", "contacts", "deals"):
        keys = [_object_key(record) for record in crm.objects(name)]
        duplicates += len(keys) - len(set(keys))
    return duplicates


def _object_key(record: dict[str, Any]) -> str:
    fields = record.get("properties", record)
    for key in ("store2crm_external_id", "Store2crm_External_Id__c", "email"):
        if fields.get(key):
            return str(fields[key]).casefold()
    return str(record.get("id") or record.get("Id"))


def replicate_events(warehouse: Path, target: int) -> int:
    """Copy raw events (new ids, browsers, sessions; earlier times) until there are >= `target`; return the count."""
    with duckdb.connect(str(warehouse)) as db:
        events = db.execute("select count(*) from raw_store.events").fetchone()[0]
        if events == 0:
            raise RuntimeError("no raw events to replicate")
        copies = -(-target // events)  # ceiling: the original plus copies - 1 replicas
        if copies > 1:
            db.execute(REPLICATE_EVENTS_SQL, {"copies": copies})
        return db.execute("select count(*) from raw_store.events").fetchone()[0]


def append_increment(warehouse: Path, share: float = DBT_INCREMENT_SHARE) -> dict[str, int]:
    """Append about `share` new events and orders, later than everything loaded; return rows added per table."""
    with duckdb.connect(str(warehouse)) as db:
        earliest, latest = db.execute(
            "select min(moment), max(moment) from ("
            " select occurred_at as moment from raw_store.events"
            " union all select created_at from raw_store.orders"
            " union all select updated_at from raw_store.orders)"
        ).fetchone()
        extracted_at = db.execute("select max(_airbyte_extracted_at) from raw_store.events").fetchone()[0]
        parameters = {
            "latest": latest,
            "earliest": earliest.timestamp(),
            # the whole history squeezed into one day
            "squeeze": max(1.0, (latest - earliest).total_seconds() / 86_400),
            "every": round(1 / share),
            "extracted_at": extracted_at + dt.timedelta(days=1),
        }
        added = {}
        for table, sql in INCREMENT_SQL.items():
            before = db.execute(f"select count(*) from raw_store.{table}").fetchone()[0]
            db.execute(sql, parameters)
            added[table] = db.execute(f"select count(*) from raw_store.{table}").fetchone()[0] - before
        return added


def bench_dbt_scale(events: int, people: int, workdir: Path) -> list[dict[str, Any]]:
    """Dbt build of the whole project at >= `events` raw events, then again after ~1% new events and orders."""
    started = time.monotonic()
    dataset = generate(seed=3, scale=people)
    warehouse = workdir / "scale.duckdb"
    load_dataset(dataset, warehouse)
    total_events = replicate_events(warehouse, events)
    setup_seconds = time.monotonic() - started
    full = run_cli("transform", "--warehouse", str(warehouse))
    added = append_increment(warehouse)
    incremental = run_cli("transform", "--warehouse", str(warehouse))
    orders = len(dataset.orders)
    return [
        {
            "case": f"dbt build, full ({total_events:,} events, {orders:,} orders, {people:,} people)",
            "seconds": full.seconds,
            "cpu_s": full.cpu_seconds,
            "peak_rss_mb": full.peak_rss_mb,
            "setup_seconds": setup_seconds,
        },
        {
            "case": f"dbt build after 1% new data (+{added['events']:,} events, +{added['orders']:,} orders)",
            "seconds": incremental.seconds,
            "cpu_s": incremental.cpu_seconds,
            "peak_rss_mb": incremental.peak_rss_mb,
            "full_over_incremental": full.seconds / incremental.seconds,
        },
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
    """Run the benchmark cases (all, or those named by --case) and print one line each."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=100_000, help="orders in the extract case")
    parser.add_argument("--people", type=int, default=5_000, help="people in the transform and load cases")
    parser.add_argument("--dbt-events", type=int, default=DBT_SCALE_EVENTS, help="raw events in the dbt-scale case")
    parser.add_argument("--dbt-people", type=int, default=DBT_SCALE_PEOPLE, help="people generated for it")
    parser.add_argument(
        "--case",
        action="append",
        choices=CASES,
        help="run only this case (repeatable). Example: python -m store2crm.bench --case dbt-scale",
    )
    parser.add_argument(
        "--platform", action="append", choices=EXTRACT_PLATFORMS, help="extract only this platform (repeatable)"
    )
    args = parser.parse_args(argv)
    cases = args.case or CASES
    with tempfile.TemporaryDirectory(prefix="store2crm-bench-") as folder:
        workdir = Path(folder)
        if "extract" in cases:
            for platform in args.platform or EXTRACT_PLATFORMS:
                try:
                    echo(format_row(bench_extract(args.orders, platform, workdir)))
                except RuntimeError as error:  # one platform failing must not hide the others' figures
                    echo(f"extract {platform}: FAILED: {str(error).splitlines()[0]}")
        if "transform-load" in cases:
            for row in bench_transform_and_load(args.people, workdir):
                echo(format_row(row))
        if "crm-load" in cases:
            for row in bench_crm_load(args.people, workdir):
                echo(format_row(row))
        if "dbt-scale" in cases:
            for row in bench_dbt_scale(args.dbt_events, args.dbt_people, workdir):
                echo(format_row(row))


if __name__ == "__main__":
    main()
