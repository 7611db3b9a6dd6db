"""Request quotas the CRM emulators enforce: a rolling window and a calendar-day allowance."""

from __future__ import annotations

from collections import deque

SECONDS_PER_DAY = 86_400


class RollingWindow:
    """At most `limit` admitted calls in any `seconds`-long window ending now."""

    def __init__(self, limit: int, seconds: float) -> None:
        if limit < 1 or seconds <= 0:
            raise ValueError("a rolling window needs a limit of at least 1 and a positive length")
        self.limit = limit
        self.seconds = seconds
        self._admitted: deque[float] = deque()

    def remaining(self, now: float) -> int:
        """Calls still allowed at `now`."""
        while self._admitted and self._admitted[0] <= now - self.seconds:
            self._admitted.popleft()
        return max(0, self.limit - len(self._admitted))

    def admit(self, now: float) -> None:
        """Count one call at `now` (check `remaining` first)."""
        self._admitted.append(now)

    def clear(self) -> None:
        """Forget every admitted call."""
        self._admitted.clear()


class DailyQuota:
    """At most `limit` admitted calls per UTC calendar day."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("a daily quota needs a limit of at least 1")
        self.limit = limit
        self._day = -1
        self._used = 0

    def remaining(self, now: float) -> int:
        """Calls still allowed on the UTC day containing `now`."""
        day = int(now // SECONDS_PER_DAY)
        if day != self._day:
            self._day, self._used = day, 0
        return max(0, self.limit - self._used)

    def admit(self, now: float) -> None:
        """Count one call on the day of `now` (check `remaining` first)."""
        self.remaining(now)
        self._used += 1

    def clear(self) -> None:
        """Forget today's usage."""
        self._day, self._used = -1, 0
