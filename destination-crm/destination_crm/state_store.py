"""Sync-state store in DuckDB: external id to CRM id, the hash last accepted, and a run log."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import NamedTuple

import duckdb
import pendulum

SCHEMA = """
CREATE TABLE IF NOT EXISTS synced_objects (
    target VARCHAR NOT NULL,
    stream VARCHAR NOT NULL,
    external_id VARCHAR NOT NULL,
    crm_id VARCHAR NOT NULL,
    content_hash VARCHAR NOT NULL,
    synced_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (target, stream, external_id)
);
CREATE TABLE IF NOT EXISTS sync_runs (
    run_id VARCHAR PRIMARY KEY,
    target VARCHAR NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    status VARCHAR NOT NULL,
    received INTEGER,
    unchanged INTEGER,
    sent INTEGER,
    created INTEGER,
    updated INTEGER,
    failed INTEGER,
    api_calls INTEGER,
    quota_remaining BIGINT,
    error VARCHAR
);
"""

Clock = Callable[[], datetime]


@dataclass
class RunCounts:
    """What one run did with the records it received."""

    received: int = 0
    unchanged: int = 0
    sent: int = 0
    created: int = 0
    updated: int = 0
    failed: int = 0
    api_calls: int = 0
    quota_remaining: int | None = None

    def as_dict(self) -> dict[str, int | None]:
        """The counts as a JSON-able mapping, in summary order."""
        return asdict(self)


@dataclass(frozen=True)
class Accepted:
    """One object the CRM accepted, to remember."""

    stream: str
    external_id: str
    crm_id: str
    content_hash: str


class StoredObject(NamedTuple):
    """What the store knows of one object the CRM accepted."""

    crm_id: str
    content_hash: str


class StateStore:
    """One DuckDB file holding the sync state of every CRM account written to."""

    def __init__(self, path: str | Path, *, now: Clock = lambda: pendulum.now("UTC")) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._connection = duckdb.connect(str(path))
        self._connection.execute(SCHEMA)
        self._now = now

    def __enter__(self) -> StateStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release the file."""
        self._connection.close()

    def stored_objects(self, target: str, stream: str, external_ids: Iterable[str]) -> dict[str, StoredObject]:
        """CRM id and last accepted hash of each of these external ids that the CRM has seen."""
        rows = self._connection.execute(
            "SELECT external_id, crm_id, content_hash FROM synced_objects "
            "WHERE target = ? AND stream = ? AND external_id IN (SELECT unnest(?::VARCHAR[]))",
            [target, stream, list(external_ids)],
        ).fetchall()
        return {external_id: StoredObject(crm_id, content_hash) for external_id, crm_id, content_hash in rows}

    def crm_id(self, target: str, stream: str, external_id: str) -> str | None:
        """The CRM id an external id was written to, if it ever was."""
        row = self._connection.execute(
            "SELECT crm_id FROM synced_objects WHERE target = ? AND stream = ? AND external_id = ?",
            [target, stream, external_id],
        ).fetchone()
        return row[0] if row else None

    def remember(self, target: str, accepted: list[Accepted]) -> None:
        """Record objects the CRM accepted (one transaction per batch)."""
        if not accepted:
            return
        now = self._now()
        rows = [[target, a.stream, a.external_id, a.crm_id, a.content_hash, now] for a in accepted]
        with self._transaction():
            self._connection.executemany(
                "INSERT INTO synced_objects VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (target, stream, external_id) DO UPDATE SET "
                "crm_id = excluded.crm_id, content_hash = excluded.content_hash, synced_at = excluded.synced_at",
                rows,
            )

    def start_run(self, target: str) -> str:
        """Open a run log entry; returns its id."""
        run_id = str(uuid.uuid4())
        self._connection.execute(
            "INSERT INTO sync_runs (run_id, target, started_at, status) VALUES (?, ?, ?, 'running')",
            [run_id, target, self._now()],
        )
        return run_id

    def finish_run(self, run_id: str, counts: RunCounts, *, error: str | None = None) -> None:
        """Close a run log entry with its counts, as succeeded or failed."""
        c = counts
        self._connection.execute(
            "UPDATE sync_runs SET finished_at = ?, status = ?, received = ?, unchanged = ?, sent = ?, "
            "created = ?, updated = ?, failed = ?, api_calls = ?, quota_remaining = ?, error = ? "
            "WHERE run_id = ?",
            [
                self._now(),
                "failed" if error else "succeeded",
                c.received,
                c.unchanged,
                c.sent,
                c.created,
                c.updated,
                c.failed,
                c.api_calls,
                c.quota_remaining,
                error,
                run_id,
            ],
        )

    def runs(self, target: str) -> list[dict[str, object]]:
        """The run log of one CRM account, oldest first."""
        cursor = self._connection.execute(
            "SELECT * FROM sync_runs WHERE target = ? ORDER BY started_at, run_id", [target]
        )
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._connection.begin()
        try:
            yield
        except BaseException:
            self._connection.rollback()
            raise
        self._connection.commit()
