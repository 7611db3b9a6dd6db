"""Injectable time: the sleep every retry or throttle wait goes through, and the wall clock reads end at."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

Sleep = Callable[[float], None]
"""Waits the given number of seconds (`time.sleep` in production)."""

Clock = Callable[[], float]
"""Wall-clock seconds since the Unix epoch (`time.time` in production)."""

REAL_SLEEP: Sleep = time.sleep
REAL_CLOCK: Clock = time.time


def utc_now(clock: Clock) -> datetime:
    """The clock's present as an aware UTC datetime."""
    return datetime.fromtimestamp(clock(), UTC)
