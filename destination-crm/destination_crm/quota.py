"""Staying inside a CRM's quotas: a burst limiter for the rolling window and a daily budget with a reserve."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import requests

from destination_crm.http import Sleep

Seconds = Callable[[], float]
# Seconds a call may take to reach the CRM, whose rolling window counts it from its arrival.
ADMISSION_MARGIN_S = 0.2


class BudgetExhausted(Exception):
    """The daily budget (remaining quota minus the reserve) is spent: no further call may be made today."""


@dataclass(frozen=True)
class RateHeaders:
    """Names of the response headers that report the rolling window and the daily quota."""

    window_max: str
    window_remaining: str
    window_interval_ms: str
    daily_remaining: str


class BurstLimiter:
    """Waits before a call that the rolling window would refuse, so a normal run meets no 429.

    The window's size and what was left of it come from the CRM's headers on every answer. Between
    answers the limiter counts its own calls, and credits back those that have aged out of the
    window since that answer (the CRM counted them). With nothing left it sleeps until the next of
    its calls ages out, or, when it made none, until the reported window has turned over (another
    client used the calls). `margin` covers the time a call takes to reach the CRM, which starts
    its window later than we record it.
    """

    def __init__(
        self, *, clock: Seconds, sleep: Sleep, default_interval: float, margin: float = ADMISSION_MARGIN_S
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._interval = default_interval
        self._margin = margin
        self._calls: deque[float] = deque()
        self._remaining: int | None = None
        self._reported_at = 0.0
        self._since_report = 0
        self.waited = 0.0

    def before_call(self) -> None:
        """Sleep as long as the window needs to admit one more call."""
        now = self._clock()
        while self._calls and self._calls[0] <= now - 2 * self._interval:
            self._calls.popleft()
        if self._free_slots(now) <= 0:
            wait = self._next_release() - now
            if wait > 0:
                self._sleep(wait)
                self.waited += wait
            now = self._clock()
        self._calls.append(now)
        self._since_report += 1

    def after_response(self, remaining: int | None, interval_seconds: float | None) -> None:
        """Take the window's state from an answer."""
        if interval_seconds:
            self._interval = interval_seconds
        if remaining is not None:
            self._remaining = remaining
            self._reported_at = self._clock()
            self._since_report = 0

    def _free_slots(self, now: float) -> int:
        """Calls the window holds for us at `now`: the last report, less our calls since, plus what aged out."""
        if self._remaining is None or now >= self._reported_at + self._interval + self._margin:
            return 1  # nothing reported, or the reported window has turned over since
        aged_out = sum(1 for call in self._counted_calls() if call <= now - self._interval - self._margin)
        return self._remaining - self._since_report + aged_out

    def _next_release(self) -> float:
        """When the next call the last report counted ages out (or the reported window turns over)."""
        release = self._reported_at + self._interval
        counted = [call for call in self._counted_calls() if call + self._interval > self._clock() - self._margin]
        return min([release, *(call + self._interval for call in counted)]) + self._margin

    def _counted_calls(self) -> list[float]:
        """Our calls inside the window the last report described."""
        return [call for call in self._calls if self._reported_at - self._interval < call <= self._reported_at]


class DailyBudget:
    """The calls left today minus a reserve kept for the account's other apps; never spent past zero."""

    def __init__(self, reserve: int) -> None:
        self.reserve = reserve
        self.remaining: int | None = None  # as the CRM last reported it
        self._since_report = 0

    @property
    def available(self) -> int | None:
        """Calls this run may still make; None until the CRM reported its quota."""
        if self.remaining is None:
            return None
        return max(0, self.remaining - self._since_report - self.reserve)

    def before_call(self) -> None:
        """Raise BudgetExhausted rather than make a call the budget has no room for."""
        available = self.available
        if available is not None and available <= 0:
            raise BudgetExhausted(
                f"daily budget reached: {self.remaining - self._since_report} calls left today "
                f"and {self.reserve} kept in reserve"
            )
        self._since_report += 1

    def after_response(self, remaining: int | None) -> None:
        """Take the quota from an answer."""
        if remaining is not None:
            self.remaining = remaining
            self._since_report = 0

    def exhaust(self) -> None:
        """The CRM said the day's quota is gone (a DAILY 429)."""
        self.remaining = 0
        self._since_report = 0


class QuotaPacer:
    """Runs the burst limiter and the daily budget around every call of a CRM HTTP client."""

    def __init__(self, headers: RateHeaders, burst: BurstLimiter, budget: DailyBudget) -> None:
        self._headers = headers
        self.burst = burst
        self.budget = budget

    def before_call(self) -> None:
        """Check the budget, then wait for the window."""
        self.budget.before_call()
        self.burst.before_call()

    def after_response(self, response: requests.Response) -> None:
        """Read the quota headers of an answer."""
        found = response.headers
        self.budget.after_response(header_int(found, self._headers.daily_remaining))
        interval = header_int(found, self._headers.window_interval_ms)
        self.burst.after_response(
            header_int(found, self._headers.window_remaining), interval / 1000 if interval else None
        )


def header_int(headers: Mapping[str, str], name: str) -> int | None:
    """A whole-number header, None when absent or malformed."""
    value = headers.get(name)
    return int(value) if value and value.strip().isdigit() else None


def calls_for(records: int, batch_size: int) -> int:
    """Batch calls needed to send `records`."""
    return math.ceil(records / batch_size) if records > 0 else 0
