"""Request rates: the generic cell rate algorithm (GCRA), keyed per account or account+model.

GCRA is a token bucket stored as one number per key, the theoretical arrival time (TAT) of the
next request. With emission interval T = 1/rate and tolerance tau = (burst - 1) * T, a request at
time t conforms when TAT <= t + tau; it then moves TAT to max(TAT, t) + T. Parameters are
passed on every call, so a configuration change takes effect at once without losing state.
"""

from __future__ import annotations

from collections.abc import Hashable


def default_burst(rate: float) -> int:
    """Back-to-back allowance when none is configured: one second's worth, at least 1."""
    return max(1, round(rate))


class Gcra:
    """Rate limiter state for many keys."""

    def __init__(self) -> None:
        self._tat: dict[Hashable, float] = {}

    def acquire(self, key: Hashable, now: float, rate: float, burst: int) -> float:
        """Take one request's worth of the rate for `key`.

        Args:
            key: Whose rate (an account, or an account and model).
            now: Current time in seconds.
            rate: Sustained requests per second (> 0).
            burst: Requests allowed back to back (>= 1).

        Returns:
            0.0 when the request conforms (and was counted), else the seconds to wait before
            it would (and nothing was counted).
        """
        interval = 1.0 / rate
        tat = self._tat.get(key, now)
        if tat < now:
            tat = now
        wait_s = tat - (burst - 1) * interval - now
        if wait_s > 1e-9:
            return wait_s
        self._tat[key] = tat + interval
        return 0.0

    def clear(self) -> None:
        """Forget all state."""
        self._tat.clear()
