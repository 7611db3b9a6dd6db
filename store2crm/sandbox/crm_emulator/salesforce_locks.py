"""Row locks held by in-flight Salesforce writes, so a second write touching the same parent gets UNABLE_TO_LOCK_ROW."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

LockKey = tuple[str, str]  # (sObject, record id) or (sObject, "ext:" + external id) when the id is not known yet
SANDBOX_HOLDER = "sandbox"  # the holder of locks taken through `/_sandbox/locks` (another user or integration)


def lock_message(keys: Iterable[LockKey]) -> str:
    """The UNABLE_TO_LOCK_ROW message naming the contended records."""
    named = sorted({key[1].removeprefix("ext:") for key in keys})
    return f"unable to obtain exclusive access to this record or {len(named)} records: {','.join(named)}"


class LockRegistry:
    """Which holder owns each row lock; the first holder wins and a later one records the rows it could not get.

    Salesforce makes a second transaction wait for a locked row and fails it with UNABLE_TO_LOCK_ROW after
    about 10 s; the emulator answers at once, so a write that arrives while another in-flight write (or a
    sandbox hold) owns a row it touches fails on those rows. Thread-safe: writes acquire before queuing for
    the emulator's lock, which is what makes two requests overlap.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._owners: dict[LockKey, str] = {}
        self._contended: dict[str, set[LockKey]] = {}

    @contextmanager
    def holding(self, holder: str, keys: Iterable[LockKey]) -> Iterator[None]:
        """Own every free key among `keys` for the duration; note the others as contended for `holder`."""
        owned = self.acquire(holder, keys)
        try:
            yield
        finally:
            self.release(holder, owned)

    def acquire(self, holder: str, keys: Iterable[LockKey]) -> list[LockKey]:
        """Take every free key; return the keys taken (keys owned by others become contended)."""
        taken = []
        with self._guard:
            contended = self._contended.setdefault(holder, set())
            for key in keys:
                owner = self._owners.setdefault(key, holder)
                if owner == holder:
                    taken.append(key)
                else:
                    contended.add(key)
        return taken

    def release(self, holder: str, keys: Iterable[LockKey] | None = None) -> None:
        """Give up `keys` (all of the holder's keys when None) and forget what it found contended."""
        with self._guard:
            for key in list(self._owners) if keys is None else keys:
                if self._owners.get(key) == holder:
                    del self._owners[key]
            self._contended.pop(holder, None)

    def blocked(self, holder: str | None, keys: Iterable[LockKey]) -> list[LockKey]:
        """The keys among `keys` that `holder` cannot write: contended on arrival or owned by someone else now."""
        with self._guard:
            contended = self._contended.get(holder, set()) if holder is not None else set()
            return [key for key in keys if key in contended or self._owners.get(key, holder) != holder]

    def held(self, holder: str) -> list[LockKey]:
        """The keys a holder owns."""
        with self._guard:
            return sorted(key for key, owner in self._owners.items() if owner == holder)

    def clear(self) -> None:
        """Forget every lock."""
        with self._guard:
            self._owners.clear()
            self._contended.clear()
