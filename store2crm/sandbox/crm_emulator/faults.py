"""Seeded fault injection shared by the CRM emulator dialects: 5xx, 429 storms, resets, lost answers, downtime."""

from __future__ import annotations

import random

DEFAULT_ERROR_STATUSES = (500, 502, 503, 504)  # HubSpot error-handling page: retriable server-side failures


class FaultInjector:
    """Decides, call by call and reproducibly from a seed, which API calls fail on purpose."""

    def __init__(self, seed: int = 0) -> None:
        self._random = random.Random(seed)
        self.error_rate = 0.0
        self.error_statuses: tuple[int, ...] = DEFAULT_ERROR_STATUSES
        self.storm_remaining = 0
        # Connection faults: a reset drops the call unread; a timeout serves it, then drops the answer,
        # which is how a client sees a gateway timeout after the CRM already applied the write.
        self.reset_rate = 0.0
        self.timeout_rate = 0.0
        # Per-input failures inside a multi-status (207) batch write.
        self.partial_failure_rate = 0.0
        # Every API call before this epoch second answers 503 (a downtime window).
        self.down_until = 0.0

    def configure(
        self,
        *,
        error_rate: float | None = None,
        rate_limit_storm: int | None = None,
        error_statuses: tuple[int, ...] | None = None,
        seed: int | None = None,
    ) -> None:
        """Change only the settings given; `rate_limit_storm` forces that many next calls to 429."""
        if error_rate is not None:
            if not 0.0 <= error_rate <= 1.0:
                raise ValueError("error_rate must lie between 0 and 1")
            self.error_rate = error_rate
        if rate_limit_storm is not None:
            if rate_limit_storm < 0:
                raise ValueError("rate_limit_storm cannot be negative")
            self.storm_remaining = rate_limit_storm
        if error_statuses is not None:
            if not error_statuses or any(not 500 <= status <= 599 for status in error_statuses):
                raise ValueError("error_statuses must be a non-empty list of 5xx codes")
            self.error_statuses = tuple(error_statuses)
        if seed is not None:
            self._random.seed(seed)

    def configure_connection(
        self,
        *,
        reset_rate: float | None = None,
        timeout_rate: float | None = None,
        partial_failure_rate: float | None = None,
        down_until: float | None = None,
    ) -> None:
        """Change only the connection, partial-failure and downtime settings given."""
        for name, rate in (
            ("reset_rate", reset_rate),
            ("timeout_rate", timeout_rate),
            ("partial_failure_rate", partial_failure_rate),
        ):
            if rate is not None:
                if not 0.0 <= rate <= 1.0:
                    raise ValueError(f"{name} must lie between 0 and 1")
                setattr(self, name, rate)
        if down_until is not None:
            self.down_until = float(down_until)

    def is_down(self, now: float) -> bool:
        """True inside a downtime window."""
        return now < self.down_until

    def draw(self, name: str) -> bool:
        """True when this call (or input) gets the fault whose rate attribute is `name`."""
        rate = getattr(self, name)
        return rate > 0.0 and self._random.random() < rate

    def take_storm_call(self) -> bool:
        """True when this call belongs to a forced 429 storm (and uses one of its calls up)."""
        if self.storm_remaining == 0:
            return False
        self.storm_remaining -= 1
        return True

    def draw_error(self) -> int | None:
        """A 5xx status to answer this call with, or None to serve it normally."""
        if self.error_rate <= 0.0 or self._random.random() >= self.error_rate:
            return None
        return self._random.choice(self.error_statuses)

    def settings(self) -> dict[str, object]:
        """The current configuration, for the sandbox stats."""
        return {
            "error_rate": self.error_rate,
            "error_statuses": list(self.error_statuses),
            "rate_limit_storm_remaining": self.storm_remaining,
            "reset_rate": self.reset_rate,
            "timeout_rate": self.timeout_rate,
            "partial_failure_rate": self.partial_failure_rate,
            "down_until": self.down_until,
        }
