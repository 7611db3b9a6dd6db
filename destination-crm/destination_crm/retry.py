"""The retry schedule for writes that keep failing after the in-call retries, then dead letters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

# api-facts.md, "Data-quality facts": seed schedule for failed CRM writes, then flag for manual review.
DEFAULT_RETRY_SCHEDULE_SECONDS = (30, 120, 480, 1800)


@dataclass(frozen=True)
class RetryPolicy:
    """Wait `schedule[n]` seconds before retry n+1; after the last one, dead-letter the write."""

    schedule: tuple[float, ...] = DEFAULT_RETRY_SCHEDULE_SECONDS

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RetryPolicy:
        """`retry_schedule_seconds` from the config, else the default schedule."""
        schedule = config.get("retry_schedule_seconds")
        if schedule is None:
            return cls()
        if not valid_schedule(schedule):
            raise AirbyteTracedException(
                message=f"retry_schedule_seconds must be a list of positive numbers of seconds, got {schedule!r}",
                failure_type=FailureType.config_error,
            )
        return cls(tuple(float(s) for s in schedule))

    def next_attempt(self, attempts: int, now: datetime) -> datetime | None:
        """When to try again after `attempts` failed tries, or None when the schedule is used up."""
        if attempts > len(self.schedule):
            return None
        return now + timedelta(seconds=self.schedule[attempts - 1])

    def link_retry(self, attempts: int, now: datetime) -> datetime:
        """Links retry on the same schedule but are never dead-lettered: they wait at its longest step."""
        return now + timedelta(seconds=self.schedule[min(attempts, len(self.schedule) - 1)])


def valid_schedule(schedule: Any) -> bool:
    """A non-empty list of positive numbers."""
    return (
        isinstance(schedule, Sequence)
        and not isinstance(schedule, str)
        and bool(schedule)
        and all(isinstance(s, int | float) and not isinstance(s, bool) and s > 0 for s in schedule)
    )
