"""A per-key token bucket: `rate` requests a second sustained, bursts up to `burst`.

It lives in the process, so under gunicorn each worker keeps its own buckets: the limit
a key meets is per worker. That is the "simple" limit the service promises; a shared
limit would need a shared store (Redis, the database), which this service does not have.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class TokenBuckets:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill)

    def take(self, key: str, rate: float, burst: int) -> int:
        """Take one token; returns 0 if granted, else the seconds to wait (Retry-After)."""
        if rate <= 0:
            return 0
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(burst), now))
            tokens = min(float(burst), tokens + (now - last) * rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0
            self._buckets[key] = (tokens, now)
            return max(1, math.ceil((1 - tokens) / rate))
