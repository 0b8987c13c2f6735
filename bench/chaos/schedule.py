"""When the next fault starts: one at a time, in order, staggered so each recovery is measured.

A fault is due when

* no fault is active,
* its share of the jobs is terminal (so it strikes while there is work in every stage),
* and, after the previous fault's end, at least ``min_gap_s`` have passed and the pipeline
  has recovered (its completion rate is back, see :mod:`bench.chaos.recovery`), or
  ``max_gap_s`` have passed whatever the rate.

The schedule only decides; the driver starts and ends the faults and tells it.
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.chaos.scenario import FaultStep


class Schedule:
    """The state of the fault plan during a run.

    Args:
        plan: The faults, in order.
        min_gap_s: Least time between a fault's end and the next one's start.
        max_gap_s: Most time the next fault waits for the pipeline to recover.
    """

    def __init__(self, plan: Sequence[FaultStep], *, min_gap_s: float, max_gap_s: float) -> None:
        if min_gap_s > max_gap_s:
            raise ValueError("min_gap_s must not exceed max_gap_s")
        self._plan = tuple(plan)
        self._min_gap_s = min_gap_s
        self._max_gap_s = max_gap_s
        self._next = 0
        self._active: FaultStep | None = None
        self._last_end: float | None = None

    @property
    def active(self) -> FaultStep | None:
        """The fault in progress."""
        return self._active

    @property
    def last_end(self) -> float | None:
        """When the last fault ended (None: none has)."""
        return self._last_end

    def pending(self) -> list[FaultStep]:
        """The faults not started yet, in order."""
        return list(self._plan[self._next :])

    def due(self, now: float, terminal_share: float, recovered: bool) -> FaultStep | None:
        """The fault to start now, if any.

        Args:
            now: The time (any clock, the same for every call).
            terminal_share: Share of the jobs terminal now.
            recovered: Whether the pipeline has recovered from the last fault.
        """
        if self._active is not None or self._next >= len(self._plan):
            return None
        step = self._plan[self._next]
        if terminal_share < step.after_share:
            return None
        if self._last_end is not None:
            since_s = now - self._last_end
            if since_s < self._min_gap_s or (since_s < self._max_gap_s and not recovered):
                return None
        return step

    def started(self, step: FaultStep) -> None:
        """Note that ``step`` (the one :meth:`due` returned) started."""
        if self._next >= len(self._plan) or self._plan[self._next] != step:
            raise ValueError(f"{step.name} is not the next fault of the plan")
        self._active = step
        self._next += 1

    def ended(self, now: float) -> None:
        """Note that the active fault ended at ``now``."""
        if self._active is None:
            raise ValueError("no fault is active")
        self._active = None
        self._last_end = now
