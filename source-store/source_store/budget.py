"""The per-store API budget: one HttpAPIBudget shared by every stream of a store."""

from __future__ import annotations

import math
from datetime import timedelta

from airbyte_cdk.sources.streams.call_rate import HttpAPIBudget, MovingWindowCallRatePolicy, Rate

RATE_LIMIT_STATUSES = [429]


def store_budget(requests_per_second: float | None) -> HttpAPIBudget:
    """A budget that spaces every request to the store at `requests_per_second` (None: no cap).

    The CDK's budget also reads 429 answers as a full bucket, so streams sharing it all wait.
    It is safe to share between the threads that read streams side by side: the moving-window
    policy takes and refills its calls under pyrate-limiter's `Limiter.lock`, as the CDK's own
    concurrent sources rely on.
    """
    policies = []
    if requests_per_second is not None:
        # pyrate-limiter counts whole calls: express fractional rates over a longer window.
        window = max(1.0, 1.0 / requests_per_second)
        limit = max(1, math.floor(requests_per_second * window))
        rate = Rate(limit=limit, interval=timedelta(seconds=window))
        policies.append(MovingWindowCallRatePolicy(rates=[rate], matchers=[]))
    return HttpAPIBudget(policies=policies, status_codes_for_ratelimit_hit=RATE_LIMIT_STATUSES)
