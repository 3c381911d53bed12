"""Per-account posting limits: a token bucket, refilled continuously."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from conversations.errors import RateLimited


class RateLimiter:
    """Allows ``burst`` actions back to back, then ``rate_per_minute`` sustained, per key."""

    def __init__(self, rate_per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate_per_minute / 60.0
        self._burst = float(burst)
        self._clock = clock
        self._buckets: dict[object, tuple[float, float]] = {}

    def take(self, key: object, now: float | None = None) -> None:
        """Spend one token for ``key`` or raise RateLimited saying when to retry; ``now`` overrides the clock."""
        now = self._clock() if now is None else now
        tokens, last = self._buckets.get(key, (self._burst, now))
        tokens = min(self._burst, tokens + (now - last) * self._rate)
        if tokens < 1.0:
            retry_after = (1.0 - tokens) / self._rate
            self._buckets[key] = (tokens, now)
            raise RateLimited(f"posting too fast; retry in {math.ceil(retry_after * 10) / 10:.1f} s", retry_after)
        self._buckets[key] = (tokens - 1.0, now)
