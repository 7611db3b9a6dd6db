"""Sync-state store in DuckDB: external id to CRM id, the hash last accepted, retry queue, links, run log."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import NamedTuple

import duckdb
import pendulum

from destination_crm.crms.base import Link, ObjectWrite, ResolvedLink

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
ALTER TABLE sync_runs ADD COLUMN IF NOT EXISTS counts JSON;
-- Writes not yet accepted: `queued` (failed, retried on the schedule), `deferred` (held back by the
-- daily budget, due at once) and `dead` (schedule exhausted: waits for an operator's replay).
CREATE TABLE IF NOT EXISTS retry_queue (
    target VARCHAR NOT NULL,
    stream VARCHAR NOT NULL,
    external_id VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    content_hash VARCHAR NOT NULL,
    payload JSON NOT NULL,
    touches VARCHAR[] NOT NULL,
    priority INTEGER NOT NULL,
    stream_rank INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    first_failed_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    last_error VARCHAR,
    PRIMARY KEY (target, stream, external_id)
);
-- Associations: created ones, and ones waiting for both ends to exist (or for a retry).
CREATE TABLE IF NOT EXISTS synced_links (
    target VARCHAR NOT NULL,
    from_stream VARCHAR NOT NULL,
    from_external_id VARCHAR NOT NULL,
    to_stream VARCHAR NOT NULL,
    to_external_id VARCHAR NOT NULL,
    type_id INTEGER NOT NULL,
    synced_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (target, from_stream, from_external_id, to_stream, to_external_id, type_id)
);
CREATE TABLE IF NOT EXISTS pending_links (
    target VARCHAR NOT NULL,
    from_stream VARCHAR NOT NULL,
    from_external_id VARCHAR NOT NULL,
    to_stream VARCHAR NOT NULL,
    to_external_id VARCHAR NOT NULL,
    type_id INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    last_error VARCHAR,
    PRIMARY KEY (target, from_stream, from_external_id, to_stream, to_external_id, type_id)
);
"""
QUEUED = "queued"
DEFERRED = "deferred"
DEAD = "dead"
LINK_KEY = ("from_stream", "from_external_id", "to_stream", "to_external_id", "type_id")
# Columns (attribute: DuckDB type) written set-wise from parallel lists: one statement per batch, not per row.
OBJECT_KEY_COLUMNS = {"stream": "VARCHAR", "external_id": "VARCHAR"}
OBJECT_COLUMNS = {**OBJECT_KEY_COLUMNS, "crm_id": "VARCHAR", "content_hash": "VARCHAR"}
LINK_COLUMNS = {name: "INTEGER" if name == "type_id" else "VARCHAR" for name in LINK_KEY}

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
    queued_for_retry: int = 0
    dead_lettered: int = 0
    deferred: int = 0
    in_dead_letters: int = 0
    retried: int = 0
    associations_created: int = 0
    associations_failed: int = 0
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
    links: tuple[Link, ...] = ()


@dataclass(frozen=True)
class QueueEntry:
    """A write waiting in the retry queue (or dead letters), with the mapped payload to resend."""

    write: ObjectWrite
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None = None
    priority: int = 0
    stream_rank: int = 0
    touches: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """`stream/external_id`: how operators name a dead letter."""
        return f"{self.write.stream}/{self.write.external_id}"


def encode_write(write: ObjectWrite) -> str:
    """The JSON payload of a queued write."""
    return json.dumps(
        {
            "id_value": write.id_value,
            "properties": dict(write.properties),
            "crm_id": write.crm_id,
            "links": [[getattr(link, k) for k in LINK_KEY] for link in write.links],
        },
        separators=(",", ":"),
    )


def decode_write(stream: str, external_id: str, content_hash: str, payload: str) -> ObjectWrite:
    """An ObjectWrite back from its payload."""
    body = json.loads(payload)
    return ObjectWrite(
        stream=stream,
        external_id=external_id,
        id_value=body["id_value"],
        properties=body["properties"],
        content_hash=content_hash,
        crm_id=body.get("crm_id"),
        links=tuple(Link(*item) for item in body.get("links") or []),
    )


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
        # Called after the CRM accepted a batch, before it is saved: lets a test crash the run right there.
        self.before_remember: Callable[[], None] | None = None

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
        """Record objects the CRM accepted, take them off the queue and note their new links (one transaction)."""
        if not accepted:
            return
        if self.before_remember is not None:
            self.before_remember()
        objects = list({(a.stream, a.external_id): a for a in accepted}.values())  # the last acceptance wins
        links = list(dict.fromkeys(link for a in objects for link in a.links))
        now = self._now()
        with self._transaction():
            self._connection.execute(
                f"INSERT INTO synced_objects SELECT $target, stream, external_id, crm_id, content_hash, $now "
                f"FROM {zipped(OBJECT_COLUMNS)} "
                "ON CONFLICT (target, stream, external_id) DO UPDATE SET "
                "crm_id = excluded.crm_id, content_hash = excluded.content_hash, synced_at = excluded.synced_at",
                {"target": target, "now": now, **columns_of(objects, OBJECT_COLUMNS)},
            )
            self._connection.execute(
                f"DELETE FROM retry_queue USING {zipped(OBJECT_KEY_COLUMNS)} AS accepted "
                "WHERE retry_queue.target = $target AND retry_queue.stream = accepted.stream "
                "AND retry_queue.external_id = accepted.external_id",
                {"target": target, **columns_of(objects, OBJECT_KEY_COLUMNS)},
            )
            if links:
                # Only links the CRM does not hold yet: an unchanged link costs no call.
                self._connection.execute(
                    f"INSERT INTO pending_links SELECT $target, {', '.join(LINK_KEY)}, 0, $now, NULL "
                    f"FROM {zipped(LINK_COLUMNS)} AS new WHERE NOT EXISTS (SELECT 1 FROM synced_links AS held "
                    f"WHERE held.target = $target AND {same_link('held', 'new')}) ON CONFLICT DO NOTHING",
                    {"target": target, "now": now, **columns_of(links, LINK_COLUMNS)},
                )

    # -- retry queue and dead letters -------------------------------------------------------------

    def queue_entries(self, target: str, stream: str, external_ids: Iterable[str]) -> dict[str, QueueEntry]:
        """Queue rows (any status) of these external ids."""
        cursor = self._connection.execute(
            f"{QUEUE_SELECT} WHERE target = ? AND stream = ? AND external_id IN (SELECT unnest(?::VARCHAR[]))",
            [target, stream, list(external_ids)],
        )
        return {entry.write.external_id: entry for entry in map(queue_entry, cursor.fetchall())}

    def enqueue(self, target: str, entries: list[QueueEntry]) -> None:
        """Put writes on the queue (or in dead letters), replacing what was there for the same object."""
        if not entries:
            return
        now = self._now()
        rows = [
            [
                target,
                e.write.stream,
                e.write.external_id,
                e.status,
                e.write.content_hash,
                encode_write(e.write),
                list(e.touches),
                e.priority,
                e.stream_rank,
                e.attempts,
                e.next_attempt_at,
                now,
                now,
                e.last_error,
            ]
            for e in entries
        ]
        with self._transaction():
            self._connection.executemany(
                "INSERT INTO retry_queue VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (target, stream, external_id) DO UPDATE SET status = excluded.status, "
                "content_hash = excluded.content_hash, payload = excluded.payload, touches = excluded.touches, "
                "priority = excluded.priority, stream_rank = excluded.stream_rank, attempts = excluded.attempts, "
                "next_attempt_at = excluded.next_attempt_at, updated_at = excluded.updated_at, "
                "last_error = excluded.last_error",
                rows,
            )

    def dequeue(self, target: str, stream: str, external_ids: list[str]) -> None:
        """Forget queue rows the CRM no longer needs (it holds their current content)."""
        if external_ids:
            self._connection.execute(
                "DELETE FROM retry_queue WHERE target = ? AND stream = ? "
                "AND external_id IN (SELECT unnest(?::VARCHAR[]))",
                [target, stream, external_ids],
            )

    def prioritise(self, target: str) -> None:
        """Objects a waiting deal touches (its contact, its company) go out with the deal, first."""
        self._connection.execute(
            "UPDATE retry_queue SET priority = 0 WHERE target = ? AND status <> 'dead' AND external_id IN ("
            "SELECT unnest(touches) FROM retry_queue WHERE target = ? AND status <> 'dead' AND priority = 0)",
            [target, target],
        )

    def due_batch(self, target: str, now: datetime, limit: int, *, skip: Iterable[str] = ()) -> list[QueueEntry]:
        """The most urgent due writes of one stream: priority, then parents first, then oldest due."""
        cursor = self._connection.execute(
            f"{QUEUE_SELECT} WHERE target = $target AND status IN ('queued', 'deferred') "
            "AND next_attempt_at <= $now AND NOT list_contains($skip::VARCHAR[], stream) "
            "AND (priority, stream_rank, stream) = (SELECT (priority, stream_rank, stream) FROM retry_queue "
            "WHERE target = $target AND status IN ('queued', 'deferred') AND next_attempt_at <= $now "
            "AND NOT list_contains($skip::VARCHAR[], stream) "
            "ORDER BY priority, stream_rank, next_attempt_at LIMIT 1) "
            "ORDER BY next_attempt_at, external_id LIMIT $limit",
            {"target": target, "now": now, "limit": limit, "skip": list(skip)},
        )
        return [queue_entry(row) for row in cursor.fetchall()]

    def queue_counts(self, target: str) -> dict[str, int]:
        """Rows on the queue by status."""
        rows = self._connection.execute(
            "SELECT status, count(*) FROM retry_queue WHERE target = ? GROUP BY status", [target]
        ).fetchall()
        return dict(rows)

    def dead_letters(self, target: str | None = None) -> list[QueueEntry]:
        """Dead letters, oldest first (of every target when none is named)."""
        cursor = self._connection.execute(
            f"{QUEUE_SELECT} WHERE status = 'dead' AND (? IS NULL OR target = ?) ORDER BY updated_at, stream, "
            "external_id",
            [target, target],
        )
        return [queue_entry(row) for row in cursor.fetchall()]

    def replay(self, keys: Iterable[str] | None = None) -> int:
        """Put dead letters (all, or those named `stream/external_id`) back on the queue, due now, attempts reset."""
        named = None if keys is None else list(keys)
        with self._transaction():
            count = self._connection.execute(
                # Due at the epoch: due on the next run whatever the clocks of the operator and the runner say.
                "UPDATE retry_queue SET status = 'queued', attempts = 0, next_attempt_at = TIMESTAMPTZ '1970-01-01', "
                "updated_at = ? WHERE status = 'dead' AND (?::VARCHAR[] IS NULL OR list_contains(?::VARCHAR[], "
                "stream || '/' || external_id)) RETURNING 1",
                [self._now(), named, named],
            ).fetchall()
        return len(count)

    # -- associations -------------------------------------------------------------------------------

    def resolvable_links(self, target: str, now: datetime, limit: int, *, skip: Iterable[tuple[str, str]] = ()):
        """Due pending links of one stream pair whose two ends the CRM holds, with their CRM ids."""
        skipped = [f"{a}>{b}" for a, b in skip]
        base = (
            "FROM pending_links p JOIN synced_objects f ON f.target = p.target AND f.stream = p.from_stream "
            "AND f.external_id = p.from_external_id JOIN synced_objects t ON t.target = p.target "
            "AND t.stream = p.to_stream AND t.external_id = p.to_external_id WHERE p.target = $target "
            "AND p.next_attempt_at <= $now AND NOT list_contains($skip::VARCHAR[], p.from_stream || '>' || p.to_stream)"
        )
        pair = self._connection.execute(
            f"SELECT p.from_stream, p.to_stream {base} ORDER BY p.from_stream, p.to_stream LIMIT 1",
            {"target": target, "now": now, "skip": skipped},
        ).fetchone()
        if pair is None:
            return []
        rows = self._connection.execute(
            f"SELECT p.from_stream, p.from_external_id, p.to_stream, p.to_external_id, p.type_id, p.attempts, "
            f"f.crm_id, t.crm_id {base} AND p.from_stream = $from AND p.to_stream = $to "
            "ORDER BY p.from_external_id, p.to_external_id LIMIT $limit",
            {"target": target, "now": now, "skip": skipped, "from": pair[0], "to": pair[1], "limit": limit},
        ).fetchall()
        return [(ResolvedLink(Link(*row[:5]), row[6], row[7]), row[5]) for row in rows]

    def links_done(self, target: str, created: list[Link], failed: list[tuple[Link, str, datetime]]) -> None:
        """Move created links to synced_links; reschedule failed ones with their error."""
        now = self._now()
        created = list(dict.fromkeys(created))
        with self._transaction():
            if created:
                parameters = {"target": target, **columns_of(created, LINK_COLUMNS)}
                self._connection.execute(
                    f"DELETE FROM pending_links USING {zipped(LINK_COLUMNS)} AS done "
                    f"WHERE pending_links.target = $target AND {same_link('pending_links', 'done')}",
                    parameters,
                )
                self._connection.execute(
                    f"INSERT OR IGNORE INTO synced_links SELECT $target, {', '.join(LINK_KEY)}, $now "
                    f"FROM {zipped(LINK_COLUMNS)}",
                    {**parameters, "now": now},
                )
            for link, error, retry_at in failed:
                self._connection.execute(
                    "UPDATE pending_links SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? "
                    "WHERE target = ? AND from_stream = ? AND from_external_id = ? AND to_stream = ? "
                    "AND to_external_id = ? AND type_id = ?",
                    [retry_at, error, target, *(getattr(link, k) for k in LINK_KEY)],
                )

    def known_counts(self, target: str) -> dict[str, int]:
        """Objects per stream the store knows of (synced or queued): the size of a full resync."""
        rows = self._connection.execute(
            "SELECT stream, count(*) FROM (SELECT stream, external_id FROM synced_objects WHERE target = ? "
            "UNION SELECT stream, external_id FROM retry_queue WHERE target = ?) GROUP BY stream",
            [target, target],
        ).fetchall()
        return dict(rows)

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
            "created = ?, updated = ?, failed = ?, api_calls = ?, quota_remaining = ?, error = ?, counts = ? "
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
                json.dumps(c.as_dict()),
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

    @property
    def now(self) -> datetime:
        """The store's clock."""
        return self._now()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._connection.begin()
        try:
            yield
        except BaseException:
            self._connection.rollback()
            raise
        self._connection.commit()


def zipped(columns: dict[str, str]) -> str:
    """A relation of the list parameters named after `columns`, unnested side by side into rows."""
    return "(SELECT " + ", ".join(f"unnest(${name}::{kind}[]) AS {name}" for name, kind in columns.items()) + ")"


def columns_of(items: list[object], columns: dict[str, str]) -> dict[str, list[object]]:
    """The parameters of `zipped(columns)`: one list per column, read from the items' attributes."""
    return {name: [getattr(item, name) for item in items] for name in columns}


def same_link(left: str, right: str) -> str:
    """SQL matching two relations' link keys."""
    return " AND ".join(f"{left}.{name} = {right}.{name}" for name in LINK_KEY)


QUEUE_SELECT = (
    "SELECT stream, external_id, content_hash, payload, status, attempts, next_attempt_at, last_error, priority, "
    "stream_rank, touches FROM retry_queue"
)


def queue_entry(row: tuple) -> QueueEntry:
    """A QueueEntry from a QUEUE_SELECT row."""
    stream, external_id, content_hash, payload, status, attempts, next_at, error, priority, rank, touches = row
    return QueueEntry(
        write=decode_write(stream, external_id, content_hash, payload),
        status=status,
        attempts=attempts,
        next_attempt_at=next_at,
        last_error=error,
        priority=priority,
        stream_rank=rank,
        touches=tuple(touches or ()),
    )


def after(moment: datetime, seconds: float) -> datetime:
    """`moment` plus some seconds."""
    return moment + timedelta(seconds=seconds)
