"""Seeded fault injection shared by the CRM emulator dialects: 5xx error rates and forced 429 storms."""

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
        }
