"""Seeded fault injection for the store emulator: errors, throttling storms, slowness, downtime, bad records."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime
from typing import Any

DEFAULT_ERROR_STATUSES = (500, 502, 503, 504)  # the retriable server-side failures every platform shows
DEFAULT_RETRY_AFTER_SECONDS = 2
MALFORMED_KINDS = ("date", "money")
# MySQL's zero date: what WordPress and Magento hand out when a stored date is broken
BAD_DATE = "0000-00-00 00:00:00"
BAD_MONEY = "N/A"


@dataclass(frozen=True)
class FaultSettings:
    """What the emulator breaks on purpose; every field defaults to "no fault"."""

    error_rate: float = 0.0
    error_statuses: tuple[int, ...] = DEFAULT_ERROR_STATUSES
    rate_limit_storm: int = 0  # the next N API calls are refused with 429 / THROTTLED
    retry_after: int = DEFAULT_RETRY_AFTER_SECONDS
    slow_seconds: float = 0.0
    slow_rate: float = 1.0  # share of API calls delayed by slow_seconds
    repeat_last_page: bool = False  # paging past the end repeats the last page (Magento always does)
    mutate_every: int = 0  # every K-th API call first changes the store
    mutate_count: int = 1
    downtime_start: str | None = None  # ISO 8601 on the emulator clock; 503 from start (inclusive) to end
    downtime_end: str | None = None
    malformed_rate: float = 0.0  # share of records served with a bad date or a non-numeric amount
    seed: int = 0

    def validate(self) -> None:
        """Raise ValueError naming the first setting that is out of range."""
        for name in ("error_rate", "slow_rate", "malformed_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must lie between 0 and 1")
        for name in ("rate_limit_storm", "retry_after", "mutate_every", "mutate_count", "slow_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} cannot be negative")
        if not self.error_statuses or any(not 500 <= s <= 599 for s in self.error_statuses):
            raise ValueError("error_statuses must be a non-empty list of 5xx codes")
        if (self.downtime_start is None) != (self.downtime_end is None):
            raise ValueError("downtime_start and downtime_end go together")
        if self.downtime_window() is not None and _instant(self.downtime_end or "") <= _instant(
            self.downtime_start or ""
        ):
            raise ValueError("downtime_end must come after downtime_start")

    def downtime_window(self) -> tuple[datetime, datetime] | None:
        """(start, end) of the downtime window, when one is set."""
        if self.downtime_start is None or self.downtime_end is None:
            return None
        return _instant(self.downtime_start), _instant(self.downtime_end)


@dataclass(frozen=True)
class Fault:
    """One injected failure: `kind` is down, throttled or error; `status` the HTTP status for errors."""

    kind: str
    status: int = 503


def _instant(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"not an ISO 8601 date-time: {value!r}") from exc
    if moment.tzinfo is None:
        raise ValueError(f"date-time needs an offset or Z: {value!r}")
    return moment


SETTING_NAMES = tuple(f.name for f in fields(FaultSettings))


class FaultInjector:
    """Decides, call by call and reproducibly from a seed, which API calls fail and how.

    Callers hold the emulator lock, so the random stream is consumed in request order.
    """

    def __init__(self, settings: FaultSettings | None = None) -> None:
        self.settings = FaultSettings()
        self.injected: Counter[str] = Counter()
        self._random = random.Random(0)
        self._api_calls = 0
        self.configure(**asdict(settings or FaultSettings()))

    def configure(self, **changes: Any) -> FaultSettings:
        """Change only the settings given (unknown names fail with the list of valid ones)."""
        unknown = sorted(set(changes) - set(SETTING_NAMES))
        if unknown:
            raise ValueError(f"unknown fault setting(s) {', '.join(unknown)}; valid: {', '.join(SETTING_NAMES)}")
        if "error_statuses" in changes:
            changes["error_statuses"] = tuple(changes["error_statuses"])
        settings = replace(self.settings, **changes)
        settings.validate()
        self.settings = settings
        if "seed" in changes:
            self._random.seed(settings.seed)
        return settings

    def describe(self) -> dict[str, Any]:
        """Current settings and how many faults of each kind were injected, for the sandbox endpoints."""
        return {"settings": asdict(self.settings), "injected": dict(self.injected)}

    def intercept(self, now: datetime) -> Fault | None:
        """The failure this API call gets, if any: downtime first, then a 429 storm, then a 5xx draw."""
        self._api_calls += 1
        settings = self.settings
        window = settings.downtime_window()
        if window is not None and window[0] <= now < window[1]:
            self.injected["downtime"] += 1
            return Fault("down", 503)
        if settings.rate_limit_storm:
            self.settings = replace(settings, rate_limit_storm=settings.rate_limit_storm - 1)
            self.injected["throttled"] += 1
            return Fault("throttled", 429)
        if settings.error_rate and self._random.random() < settings.error_rate:
            self.injected["error"] += 1
            return Fault("error", self._random.choice(settings.error_statuses))
        return None

    def delay(self) -> float:
        """Seconds to hold this API call back (slow pages)."""
        settings = self.settings
        if not settings.slow_seconds or self._random.random() >= settings.slow_rate:
            return 0.0
        self.injected["slow"] += 1
        return settings.slow_seconds

    def mutation_due(self) -> int:
        """How many store changes to apply before answering this API call (every K-th call)."""
        every = self.settings.mutate_every
        if not every or self._api_calls % every:
            return 0
        self.injected["mutations"] += self.settings.mutate_count
        return self.settings.mutate_count

    def malformed_kind(self, stream: str, record_id: Any) -> str | None:
        """`date` or `money` when this record is served broken; stable per record, so retries see it too."""
        rate = self.settings.malformed_rate
        if not rate:
            return None
        draw = random.Random(f"{self.settings.seed}:{stream}:{record_id}")
        if draw.random() >= rate:
            return None
        self.injected["malformed"] += 1
        return draw.choice(MALFORMED_KINDS)
