"""Run an Airbyte connector as a child process and exchange protocol messages with it."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

logger = logging.getLogger("store2crm")

# Lines of the connector's stderr kept for the error message when it fails.
STDERR_TAIL_LINES = 20


class ConnectorError(RuntimeError):
    """A connector ended with an error; the message is the connector's own explanation."""


def run_connector(
    module: str,
    verb: str,
    *,
    config: dict[str, Any],
    catalog: dict[str, Any] | None = None,
    state: list[dict[str, Any]] | None = None,
    messages_in: Iterable[dict[str, Any]] | None = None,
) -> Iterator[dict[str, Any]]:
    """Run `python -m <module> <verb>` and yield each Airbyte message it writes, as a dict.

    Config, catalog and state go to private temporary files that are removed afterwards (the
    config holds secrets). `messages_in` is streamed to the connector's stdin (destinations).
    LOG messages are passed to the `store2crm` logger; a TRACE error or a non-zero exit ends the
    iteration with `ConnectorError` carrying the connector's own message.
    """
    with tempfile.TemporaryDirectory(prefix=f"store2crm-{verb}-") as folder:
        args = [sys.executable, "-m", module, verb]
        for name, content in (("config", config), ("catalog", catalog), ("state", state)):
            if content is not None:
                args += [f"--{name}", str(_private_json(Path(folder) / f"{name}.json", content))]
        yield from _exchange(args, messages_in)


def _private_json(path: Path, content: Any) -> Path:
    path.touch(mode=0o600)
    path.write_text(json.dumps(content))
    return path


def _exchange(args: list[str], messages_in: Iterable[dict[str, Any]] | None) -> Iterator[dict[str, Any]]:
    stdin = subprocess.PIPE if messages_in is not None else subprocess.DEVNULL
    process = subprocess.Popen(args, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stderr_tail: list[str] = []
    threads = [threading.Thread(target=_drain_stderr, args=(process, stderr_tail), daemon=True)]
    if messages_in is not None:
        threads.append(threading.Thread(target=_feed_stdin, args=(process, messages_in), daemon=True))
    for thread in threads:
        thread.start()
    errors: list[str] = []
    try:
        for line in process.stdout:
            message = _parse(line)
            if message is None:
                continue
            if message.get("type") == "LOG":
                _relay_log(message["log"])
            elif message.get("type") == "TRACE" and message["trace"].get("type") == "ERROR":
                errors.append(message["trace"]["error"].get("message") or "connector error")
            yield message
    finally:
        if process.poll() is None and messages_in is None:
            process.stdout.close()
        returncode = process.wait()
        for thread in threads:
            thread.join(timeout=10)
    if errors or returncode != 0:
        detail = "; ".join(errors) or "\n".join(stderr_tail) or f"exit code {returncode}"
        raise ConnectorError(f"{args[2]} {args[3]} failed: {detail}")


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        message = orjson.loads(line)
    except orjson.JSONDecodeError:
        logger.debug("connector printed a non-protocol line: %s", line[:200])
        return None
    return message if isinstance(message, dict) else None


def _relay_log(log: dict[str, Any]) -> None:
    level = getattr(logging, str(log.get("level", "INFO")).upper(), logging.INFO)
    logger.log(level if level >= logging.WARNING else logging.DEBUG, "%s", log.get("message", ""))


def _feed_stdin(process: subprocess.Popen[bytes], messages: Iterable[dict[str, Any]]) -> None:
    try:
        for message in messages:
            process.stdin.write(orjson.dumps(message) + b"\n")
    except BrokenPipeError:
        logger.debug("connector closed its input early")
    finally:
        try:
            process.stdin.close()
        except BrokenPipeError:
            logger.debug("connector closed its input early")


def _drain_stderr(process: subprocess.Popen[bytes], tail: list[str]) -> None:
    for raw in process.stderr:
        tail.append(raw.decode(errors="replace").rstrip())
        del tail[:-STDERR_TAIL_LINES]
