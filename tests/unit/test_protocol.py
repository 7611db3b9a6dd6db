"""Running a connector as a child process: messages in and out, errors, private config files."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from store2crm.protocol import ConnectorError, run_connector

FAKE_CONNECTOR = textwrap.dedent(
    """
    import json, os, sys
    verb = sys.argv[1]
    args = dict(zip(sys.argv[2::2], sys.argv[3::2]))
    config_path = args["--config"]
    config = json.load(open(config_path))
    def emit(message):
        print(json.dumps(message), flush=True)
    emit({"type": "LOG", "log": {"level": "INFO", "message": "config at " + config_path}})
    emit({"type": "LOG", "log": {"level": "INFO", "message": "mode " + oct(os.stat(config_path).st_mode & 0o777)}})
    passed = {name: json.load(open(path)) for name, path in args.items() if name != "--config"}
    emit({"type": "LOG", "log": {"level": "INFO", "message": "passed " + json.dumps(passed, sort_keys=True)}})
    if verb == "echo":
        for line in sys.stdin:
            emit({"type": "STATE", "state": json.loads(line)["state"]})
    elif verb == "fail":
        emit({"type": "TRACE", "trace": {"type": "ERROR", "emitted_at": 0,
              "error": {"message": "config field 'store_id' is missing: add it"}}})
        sys.exit(1)
    elif verb == "crash":
        print("Traceback: something broke", file=sys.stderr)
        sys.exit(3)
    else:
        print("not a protocol line")
        emit({"type": "RECORD", "record": {"stream": "s", "data": {"n": config["n"]}, "emitted_at": 0}})
    """
)


@pytest.fixture
def fake_connector(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    package = tmp_path / "fake_connector"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "__main__.py").write_text(FAKE_CONNECTOR)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    return "fake_connector"


def test_messages_are_yielded_and_noise_is_skipped(fake_connector: str) -> None:
    messages = list(run_connector(fake_connector, "read", config={"n": 7}))
    records = [m["record"]["data"] for m in messages if m["type"] == "RECORD"]
    assert records == [{"n": 7}]


def test_config_file_is_private_and_removed_afterwards(fake_connector: str) -> None:
    logs = [m["log"]["message"] for m in run_connector(fake_connector, "read", config={"n": 1}) if m["type"] == "LOG"]
    config_path = Path(logs[0].removeprefix("config at "))
    assert logs[1] == "mode 0o600"
    assert not config_path.exists()


def test_messages_in_are_streamed_to_stdin(fake_connector: str) -> None:
    states = [{"type": "STREAM", "stream": {"stream_descriptor": {"name": f"s{i}"}}} for i in range(3)]
    messages_in = ({"type": "STATE", "state": state} for state in states)
    messages = run_connector(fake_connector, "echo", config={}, messages_in=messages_in)
    echoed = [m["state"] for m in messages if m["type"] == "STATE"]
    assert echoed == states


def test_trace_error_becomes_connector_error_with_its_message(fake_connector: str) -> None:
    with pytest.raises(ConnectorError, match="config field 'store_id' is missing: add it"):
        list(run_connector(fake_connector, "fail", config={}))


def test_crash_without_trace_reports_stderr(fake_connector: str) -> None:
    with pytest.raises(ConnectorError, match="something broke"):
        list(run_connector(fake_connector, "crash", config={}))


def test_catalog_and_state_are_passed_as_files(fake_connector: str) -> None:
    messages = run_connector(fake_connector, "read", config={"n": 2}, catalog={"streams": []}, state=[{"a": 1}])
    logs = [m["log"]["message"] for m in messages if m["type"] == "LOG"]
    assert logs[2] == 'passed {"--catalog": {"streams": []}, "--state": [{"a": 1}]}'
