"""The `store2crm` command line: each command parses its options and calls one library function."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import click

from store2crm import chain
from store2crm.protocol import ConnectorError

# The store emulator's dialects (kept here so `--help` needs no emulator import; a test checks them).
STORE_DIALECTS = ("woocommerce", "shopify", "magento", "proprietary")
# The CRM emulator's dialects and the account tier each serves when none is given.
SANDBOX_CRM_TIERS = {"hubspot": "starter", "salesforce": "enterprise"}

DEFAULT_WAREHOUSE = Path(".store2crm/warehouse.duckdb")


def _read_config(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise click.BadParameter(f"{path} is not valid JSON: {error}") from error


warehouse_option = click.option(
    "--warehouse",
    type=click.Path(path_type=Path, dir_okay=False),
    default=DEFAULT_WAREHOUSE,
    show_default=True,
    help="DuckDB file holding the raw layer and the dbt models.",
)


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Show the connectors' log lines.")
def main(verbose: bool) -> None:
    """Store → dbt → CRM: extract a store, model its customers, load them into a CRM."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(message)s")


@main.command()
@click.option("--source-config", type=click.Path(path_type=Path, exists=True), required=True)
@warehouse_option
@click.option("--connection", default="default", show_default=True, help="Name under which the state is saved.")
def extract(source_config: Path, warehouse: Path, connection: str) -> None:
    """Read the store through source-store into the raw layer (incremental from the saved state).

    Example: store2crm extract --source-config source.json --warehouse wh.duckdb
    """
    report = _guard(chain.extract, _read_config(source_config), warehouse, connection)
    click.echo(str(report))


full_refresh_option = click.option(
    "--full-refresh",
    is_flag=True,
    help="Rebuild the incremental dbt models from the raw layer (after an upgrade that changed their columns).",
)


@main.command()
@warehouse_option
@full_refresh_option
def transform(warehouse: Path, full_refresh: bool) -> None:
    """Run `dbt build` on the warehouse (identity, customers, segments, crm models).

    Example: store2crm transform --warehouse wh.duckdb
    """
    click.echo(str(_guard(chain.transform, warehouse, full_refresh=full_refresh)))


@main.command()
@click.option("--destination-config", type=click.Path(path_type=Path, exists=True), required=True)
@warehouse_option
def load(destination_config: Path, warehouse: Path) -> None:
    """Send the crm_* models to the CRM through destination-crm.

    Example: store2crm load --destination-config destination.json --warehouse wh.duckdb
    """
    click.echo(str(_guard(chain.load, _read_config(destination_config), warehouse)))


@main.command()
@click.option("--destination-config", type=click.Path(path_type=Path, exists=True), required=True)
@warehouse_option
def readback(destination_config: Path, warehouse: Path) -> None:
    """Read CRM-owned fields changed in the CRM since the last run into `raw_crm` (HubSpot, Salesforce).

    Example: store2crm readback --destination-config destination.json --warehouse wh.duckdb
    """
    click.echo(_read_back_line(_guard(chain.read_back, _read_config(destination_config), warehouse)))


def _read_back_line(report: chain.ExtractReport | None) -> str:
    return str(report) if report is not None else "read-back: not available for this CRM yet; skipped"


@main.command()
@click.option("--source-config", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--destination-config", type=click.Path(path_type=Path, exists=True), required=True)
@warehouse_option
@click.option("--connection", default="default", show_default=True, help="Name under which the state is saved.")
@full_refresh_option
def run(source_config: Path, destination_config: Path, warehouse: Path, connection: str, full_refresh: bool) -> None:
    """Run the whole chain once: extract, read back CRM-owned fields, transform, load.

    Example: store2crm run --source-config source.json --destination-config destination.json
    """
    destination = _read_config(destination_config)
    click.echo(str(_guard(chain.extract, _read_config(source_config), warehouse, connection)))
    click.echo(_read_back_line(_guard(chain.read_back, destination, warehouse)))
    click.echo(str(_guard(chain.transform, warehouse, full_refresh=full_refresh)))
    click.echo(str(_guard(chain.load, destination, warehouse)))


@main.command()
@warehouse_option
def docs(warehouse: Path) -> None:
    """Build the dbt docs site as one static HTML file (lineage from raw_store to the CRM exposures).

    Example: store2crm docs --warehouse wh.duckdb
    """
    click.echo(f"docs: {_guard(chain.generate_docs, warehouse)}")


@main.command()
@click.option("--scale", default=300, show_default=True, help="Number of true people the generator makes.")
@click.option("--seed", default=42, show_default=True, help="Seed of the data generator.")
@click.option("--workdir", type=click.Path(path_type=Path, file_okay=False), default=Path(".store2crm/demo"))
@click.option(
    "--platform",
    type=click.Choice(STORE_DIALECTS),
    default="woocommerce",
    show_default=True,
    help="Store platform the store emulator speaks (proprietary: an in-house API read by the custom REST platform).",
)
def demo(scale: int, seed: int, workdir: Path, platform: str) -> None:
    """Run the whole chain twice against the sandbox emulators and print what each stage did.

    Example: store2crm demo --scale 300
    """
    from store2crm.demo import run_demo  # noqa: PLC0415 - keeps `store2crm --help` fast

    _guard(run_demo, scale=scale, seed=seed, workdir=workdir, echo=click.echo, platform=platform)


@main.group()
def sandbox() -> None:
    """Start a sandbox emulator on loopback (runs until Ctrl-C)."""


@sandbox.command("store")
@click.option(
    "--dialect",
    type=click.Choice(STORE_DIALECTS),
    default="woocommerce",
    show_default=True,
    help="Store platform the emulator speaks (proprietary: an in-house API read by the custom REST platform).",
)
@click.option("--scale", default=300, show_default=True, help="Number of true people in the generated store.")
@click.option("--seed", default=42, show_default=True)
@click.option("--port", default=0, show_default=True, help="0 picks a free port.")
def sandbox_store(dialect: str, scale: int, seed: int, port: int) -> None:
    """Serve generated store data in a platform's API dialect.

    Example: store2crm sandbox store --dialect woocommerce --scale 1000 --port 8081
    """
    from store2crm.sandbox.store_emulator import serve_store  # noqa: PLC0415

    serve_store(seed=seed, scale=scale, dialect=dialect, port=port)


@sandbox.command("crm")
@click.option(
    "--dialect", type=click.Choice(list(SANDBOX_CRM_TIERS)), default="hubspot", show_default=True, help="CRM API."
)
@click.option(
    "--tier",
    help="Account tier (HubSpot: starter, professional, enterprise; Salesforce edition: developer, professional, "
    "enterprise): sets the rate limits. Default: starter for HubSpot, enterprise for Salesforce.",
)
@click.option("--port", default=0, show_default=True, help="0 picks a free port.")
def sandbox_crm(dialect: str, tier: str | None, port: int) -> None:
    """Serve a stateful CRM API with the vendor's limits.

    Example: store2crm sandbox crm --dialect salesforce --tier developer --port 8082
    """
    from store2crm.sandbox.crm_emulator import serve_crm  # noqa: PLC0415

    try:
        serve_crm(dialect=dialect, tier=tier or SANDBOX_CRM_TIERS[dialect], port=port)
    except ValueError as error:  # an unknown tier names the valid ones
        raise click.BadParameter(str(error), param_hint="--tier") from error


@main.group("dead-letters")
def dead_letters() -> None:
    """See and resend the records the CRM kept refusing after the whole retry schedule."""


sync_state_option = click.option(
    "--sync-state",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    required=True,
    help="destination-crm's sync-state store (its sync_state_path).",
)


@dead_letters.command("list")
@sync_state_option
def dead_letters_list(sync_state: Path) -> None:
    """List dead letters: id (stream/external_id), attempts and the CRM's last error.

    Example: store2crm dead-letters list --sync-state store2crm-sync-state.duckdb
    """
    from store2crm.dead_letters import list_dead_letters  # noqa: PLC0415 - keeps `store2crm --help` fast

    letters = list_dead_letters(sync_state)
    for letter in letters:
        click.echo(str(letter))
    click.echo(f"{len(letters)} dead letter(s)")


@dead_letters.command("replay")
@sync_state_option
@click.option("--id", "ids", multiple=True, help="stream/external_id of one dead letter; repeat; all when omitted.")
def dead_letters_replay(sync_state: Path, ids: tuple[str, ...]) -> None:
    """Put dead letters back on the retry queue as due now; the next `store2crm load` sends them.

    Example: store2crm dead-letters replay --sync-state store2crm-sync-state.duckdb --id crm_contacts/person-2
    """
    from store2crm.dead_letters import replay_dead_letters  # noqa: PLC0415

    click.echo(f"{replay_dead_letters(sync_state, ids)} dead letter(s) re-queued; the next load sends them")


def _guard(function: Any, *args: Any, **kwargs: Any) -> Any:
    """Call `function`, turning a connector or dbt failure into a clean CLI error."""
    try:
        return function(*args, **kwargs)
    except (ConnectorError, RuntimeError) as error:
        raise click.ClickException(str(error)) from error
