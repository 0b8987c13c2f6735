"""Polls scheduled from each model's observed latency.

Every finished task adds its latency (the upstream's ``end_time - submit_time`` when it gives
them, else the time from submit to the poll that saw the end) to a window of recent ones per
model. A task is then polled when the running latency quantiles
(``limiter.poll_quantiles``, e.g. the median, then p80, p95, p99) say it is likely done, and
after the last of them every quarter of its age (bounded by ``max_poll_interval_s``). Until a
model has ``latency_min_samples`` samples, its polls use the fixed ``first_poll_delay_s`` and
backoff.

Each process reads the window at most every :data:`REFRESH_S`.

Keys (``{p}`` is ``Settings.key_prefix``):

* ``{p}latency:{model}``: list of recent latencies (seconds), newest first.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Final

from redis import Redis

from workers.redis_errors import translated

REFRESH_S: Final = 5.0
"""How long a process keeps a model's quantiles before reading the window again."""

COLD_REFRESH_S: Final = 0.5
"""How long a process keeps the answer "too few samples" (the first samples come quickly)."""

MIN_GAP_S: Final = 0.2
"""Shortest delay between two polls of one task."""

TAIL_SHARE: Final = 0.25
"""Past the last quantile, a task is polled again after this share of its age."""


class LatencyModel:
    """Recent task latencies per model, and the poll schedule they give.

    Args:
        redis: A redis-py client.
        prefix: Key prefix.
        window: Latencies kept per model.
        min_samples: Samples needed before the schedule follows them.
        quantiles: Quantiles at which a task is polled, ascending.
        clock: Monotonic seconds (tests replace it).
    """

    def __init__(
        self,
        redis: Redis,
        prefix: str,
        *,
        window: int,
        min_samples: int,
        quantiles: Sequence[float],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._window = window
        self._min_samples = min_samples
        self._quantiles = tuple(sorted(quantiles))
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, tuple[float, ...] | None]] = {}

    def record(self, model: str, latency_s: float) -> None:
        """Add one finished task's latency."""
        key = f"{self._prefix}latency:{model}"
        with translated("record latency"), self._redis.pipeline(transaction=False) as pipe:
            pipe.lpush(key, f"{max(0.0, latency_s):.3f}")
            pipe.ltrim(key, 0, self._window - 1)
            pipe.execute()

    def targets(self, model: str) -> tuple[float, ...] | None:
        """The latencies at the poll quantiles (ascending), or None with too few samples."""
        now = self._clock()
        with self._lock:
            cached = self._cache.get(model)
        if cached is not None and now - cached[0] < (REFRESH_S if cached[1] else COLD_REFRESH_S):
            return cached[1]
        with translated("read latencies"):
            raw = self._redis.lrange(f"{self._prefix}latency:{model}", 0, -1)
        samples = sorted(float(item) for item in raw)
        targets = None
        if len(samples) >= self._min_samples:
            last = len(samples) - 1
            targets = tuple(samples[min(last, int(q * len(samples)))] for q in self._quantiles)
        with self._lock:
            self._cache[model] = (now, targets)
        return targets

    def next_delay_s(self, model: str, elapsed_s: float, *, first: bool) -> float | None:
        """Delay until the next poll of a task ``elapsed_s`` after its submit.

        The first poll goes at the first quantile (at once if that is past); later ones at
        the next quantile still ahead, and past the last one every :data:`TAIL_SHARE` of
        the task's age. None when the model has too few samples (the caller keeps its fixed
        schedule).
        """
        targets = self.targets(model)
        if targets is None:
            return None
        if first:
            return max(0.0, targets[0] - elapsed_s)
        for target in targets:
            if target >= elapsed_s + MIN_GAP_S:
                return target - elapsed_s
        return max(MIN_GAP_S, elapsed_s * TAIL_SHARE)
