"""The CLI: every command has help with an example, and is documented in the README."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from store2crm.cli import SANDBOX_CRM_TIERS, STORE_DIALECTS, main
from store2crm.sandbox.crm_emulator import CrmEmulator
from store2crm.sandbox.store_emulator.dialects import dialect_names

README = Path(__file__).resolve().parents[2] / "README.md"


def all_commands(group: click.Group, prefix: str = "store2crm") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in group.commands.items():
        path = f"{prefix} {name}"
        if isinstance(command, click.Group):
            found += all_commands(command, path)
        else:
            found.append((path, command))
    return found


COMMANDS = all_commands(main)


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[path for path, _ in COMMANDS])
def test_command_has_help_with_an_example(path: str, command: click.Command) -> None:
    result = CliRunner().invoke(main, [*path.split()[1:], "--help"])
    assert result.exit_code == 0, result.output
    assert "Example: store2crm" in result.output


@pytest.mark.parametrize("path", [path for path, _ in COMMANDS])
def test_command_is_documented_in_readme(path: str) -> None:
    assert f"`{path}" in README.read_text(), f"README.md does not document `{path}`"


def test_bad_config_file_gives_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "source.json"
    config.write_text("{not json")
    result = CliRunner().invoke(main, ["extract", "--source-config", str(config), "--warehouse", str(tmp_path / "w")])
    assert result.exit_code != 0
    assert "is not valid JSON" in result.output


def test_the_sandbox_dialect_choices_are_the_emulators_dialects() -> None:
    assert sorted(STORE_DIALECTS) == sorted(dialect_names())
    for dialect, tier in SANDBOX_CRM_TIERS.items():
        with CrmEmulator(dialect, tier=tier) as crm:
            assert crm.base_url.startswith("http://127.0.0.1:")
