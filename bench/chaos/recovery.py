"""Recovery after a fault, measured on the times jobs became terminal.

Definitions (every time in epoch seconds):

* **completion rate** over ``[a, b)``: jobs that became terminal in it (any terminal state),
  divided by ``b - a``.
* **baseline**: the completion rate over the ``baseline_s`` before the fault began: the
  pipeline's pace just before, under the same background chaos (the periodic kills).
* **recovered at**: the first moment ``t``, from the fault's end on (the end itself, or a
  completion after it), from which the completion rate over ``[t, t + window_s)`` is at
  least ``fraction`` of the baseline. When every job was terminal before that window closes,
  the window is cut at the last completion (but is at least :data:`MIN_WINDOW_S` long).
* **recovery_s** = recovered at - fault end. If no such window exists but every job ended
  (the backlog drained at a lower pace), it is the time from the fault's end to the last
  completion (``how: "drained"``); if jobs were still open at the deadline, None
  (``how: "not_recovered"``). Without a baseline (nothing completed before the fault) it is
  None (``how: "no_baseline"``).

Faults whose effects are delayed (an ambiguous submit is reconciled seconds after the window
that made it) can show a recovery of 0 followed by a dip: the rate series of the report
shows both.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

WINDOW_S: Final = 10.0
BASELINE_S: Final = 20.0
FRACTION: Final = 0.75
MIN_WINDOW_S: Final = 2.0

RATE: Final = "rate"
DRAINED: Final = "drained"
NOT_RECOVERED: Final = "not_recovered"
NO_BASELINE: Final = "no_baseline"


@dataclass(frozen=True)
class Recovery:
    """How the pipeline came back after one fault (see the module's definitions).

    Attributes:
        baseline_rate: Jobs terminal per second before the fault.
        threshold_rate: The rate that counts as recovered.
        recovered_at: When it counted as recovered (epoch s; None: not).
        recovery_s: ``recovered_at`` minus the fault's end.
        how: ``rate``, ``drained``, ``not_recovered`` or ``no_baseline``.
    """

    baseline_rate: float
    threshold_rate: float
    recovered_at: float | None
    recovery_s: float | None
    how: str

    def as_dict(self) -> dict[str, Any]:
        """The figures as JSON (rounded)."""
        return {
            "recovery_s": None if self.recovery_s is None else round(self.recovery_s, 1),
            "how": self.how,
            "baseline_jobs_per_s": round(self.baseline_rate, 2),
            "threshold_jobs_per_s": round(self.threshold_rate, 2),
        }


def count_between(times: Sequence[float], since: float, until: float) -> int:
    """How many of the sorted ``times`` fall in ``[since, until)``."""
    return bisect.bisect_left(times, until) - bisect.bisect_left(times, since)


def rate(times: Sequence[float], since: float, until: float) -> float:
    """Completions per second over ``[since, until)`` (0 for an empty interval)."""
    span = until - since
    return count_between(times, since, until) / span if span > 0 else 0.0


def recovery(
    times: Sequence[float],
    *,
    began: float,
    ended: float,
    done_at: float | None,
    now: float | None = None,
    window_s: float = WINDOW_S,
    baseline_s: float = BASELINE_S,
    fraction: float = FRACTION,
) -> Recovery:
    """Recovery after a fault that lasted from ``began`` to ``ended``.

    Args:
        times: When jobs became terminal, sorted.
        began: The fault's start.
        ended: The fault's end.
        done_at: When the last job became terminal, if every job did (None: some never did).
        now: Measuring while the run goes on: only windows that closed by ``now`` count, and
            neither ``drained`` nor ``not_recovered`` is concluded.
        window_s: Length of the window whose rate must be back.
        baseline_s: Length of the window before the fault that sets the baseline.
        fraction: Share of the baseline that counts as back.
    """
    baseline = rate(times, began - baseline_s, began)
    threshold = fraction * baseline
    if baseline <= 0:
        return Recovery(0.0, 0.0, None, None, NO_BASELINE)
    first = bisect.bisect_left(times, ended)
    for t in (ended, *times[first:]):
        until = t + window_s
        if now is not None:
            if until > now:
                break
        elif done_at is not None and until > done_at:
            until = max(done_at, t + MIN_WINDOW_S)
            # Completions at done_at itself belong to the window.
            if count_between(times, t, until + 1e-9) / (until - t) >= threshold:
                return Recovery(baseline, threshold, t, t - ended, RATE)
            continue
        if rate(times, t, until) >= threshold:
            return Recovery(baseline, threshold, t, t - ended, RATE)
    if now is None and done_at is not None:
        at = max(done_at, ended)
        return Recovery(baseline, threshold, at, at - ended, DRAINED)
    return Recovery(baseline, threshold, None, None, NOT_RECOVERED)


def rate_series(
    times: Sequence[float], start: float, stop: float, bucket_s: float = 5.0
) -> list[list[float]]:
    """Completions per second in consecutive buckets: ``[[seconds since start, rate], ...]``."""
    series: list[list[float]] = []
    t = start
    while t < stop:
        series.append([round(t - start, 1), round(rate(times, t, t + bucket_s), 2)])
        t += bucket_s
    return series
