"""Operator view of the destination's dead letters: list them, and put them back on the retry queue."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from destination_crm.state_store import StateStore


@dataclass(frozen=True)
class DeadLetter:
    """One write the CRM kept refusing through the whole retry schedule."""

    id: str  # `stream/external_id`, what `replay --id` takes
    attempts: int
    error: str | None

    def __str__(self) -> str:
        return f"{self.id}\tattempts {self.attempts}\t{self.error or ''}"


def list_dead_letters(sync_state: Path) -> list[DeadLetter]:
    """Every dead letter in the sync-state store, oldest first."""
    with StateStore(sync_state) as store:
        return [DeadLetter(entry.key, entry.attempts, entry.last_error) for entry in store.dead_letters()]


def replay_dead_letters(sync_state: Path, ids: tuple[str, ...] = ()) -> int:
    """Re-queue dead letters (all, or the `stream/external_id`s given) as due now; the next load sends them.

    Replay only re-queues: it needs no CRM credentials, and the write goes out through the same
    destination run (quota, batching, retry schedule) as everything else.
    """
    if not sync_state.exists():
        raise FileNotFoundError(f"no sync-state store at {sync_state}")
    with StateStore(sync_state) as store:
        return store.replay(list(ids) or None)
