"""destination-crm as a process: `python -m destination_crm spec|check|write` over stdin and stdout."""

from __future__ import annotations

import json
import subprocess
import sys

from airbyte_cdk.models import AirbyteMessageSerializer, ConfiguredAirbyteCatalogSerializer
from destination_messages import TOKEN, catalog, contact, record, sync_messages


def run_cli(*args: str, stdin: str = "") -> list[dict]:
    done = subprocess.run(
        [sys.executable, "-m", "destination_crm", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert TOKEN not in done.stdout and TOKEN not in done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def test_spec_marks_the_token_secret():
    [spec] = [m for m in run_cli("spec") if m["type"] == "SPEC"]
    hubspot = spec["spec"]["connectionSpecification"]["properties"]["hubspot"]
    assert hubspot["properties"]["access_token"]["airbyte_secret"] is True


def test_check_and_write_over_the_protocol(emulator, config, tmp_path):
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    catalog_path = tmp_path / "catalog.json"
    catalog_path.write_text(json.dumps(ConfiguredAirbyteCatalogSerializer.dump(catalog())))

    [status] = [m for m in run_cli("check", "--config", str(config_path)) if m["type"] == "CONNECTION_STATUS"]
    assert status["connectionStatus"]["status"] == "SUCCEEDED"

    messages = sync_messages()
    stdin = "\n".join(json.dumps(AirbyteMessageSerializer.dump(m)) for m in messages) + "\n"
    output = run_cli("write", "--config", str(config_path), "--catalog", str(catalog_path), stdin=stdin)

    states = [m["state"] for m in output if m["type"] == "STATE"]
    assert states == [AirbyteMessageSerializer.dump(m)["state"] for m in messages if m.type.value == "STATE"]
    [summary] = [
        m["log"]["message"] for m in output if m["type"] == "LOG" and "store2crm-summary" in m["log"]["message"]
    ]
    assert json.loads(summary.removeprefix("store2crm-summary "))["created"] == 8
    assert len(emulator.objects("contacts")) == 3


def test_state_messages_are_echoed_with_fields_the_cdk_does_not_know(emulator, config, tmp_path):
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    catalog_path = tmp_path / "catalog.json"
    catalog_path.write_text(json.dumps(ConfiguredAirbyteCatalogSerializer.dump(catalog())))
    state = {
        "type": "STATE",
        "state": {
            "type": "STREAM",
            "id": 42,
            "stream": {"stream_descriptor": {"name": "crm_contacts"}, "stream_state": {"position": 1}},
            "platformField": {"kept": True},
        },
    }
    stdin = json.dumps(AirbyteMessageSerializer.dump(record("crm_contacts", contact(1)))) + "\n"
    stdin += json.dumps(state) + "\n"

    output = run_cli("write", "--config", str(config_path), "--catalog", str(catalog_path), stdin=stdin)

    assert [m for m in output if m["type"] == "STATE"] == [state]
