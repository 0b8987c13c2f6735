"""What will happen to a task, decided once when it is accepted.

A `TaskPlan` fixes the task's PENDING and RUNNING durations and its outcome (success, failure,
or the loss of some of its n images). With the plan fixed at submit, a task's status at any
moment is a pure function of time (see emulator.tasks.task), so no timer runs per task.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from emulator.config.root import EmulatorConfig
from emulator.config.sections import DATA_INSPECTION_FAILED, Distribution, FailureCode


@dataclass(frozen=True, slots=True)
class Failure:
    """A failure code and message, and the status a synchronous call answers with.

    Attributes:
        code: DashScope error code.
        message: Error message.
        http_status: HTTP status for synchronous calls.
    """

    code: str
    message: str
    http_status: int


@dataclass(frozen=True, slots=True)
class TaskPlan:
    """The fixed future of one task.

    Attributes:
        pending_s: Seconds PENDING once the task holds a concurrency slot.
        running_s: Seconds RUNNING.
        failure: The whole task fails with this, or None.
        failed_slots: Indexes of the images lost by a partial failure (the task still
            SUCCEEDS with the others).
        slot_failure: What each lost image reports.
    """

    pending_s: float
    running_s: float
    failure: Failure | None
    failed_slots: frozenset[int]
    slot_failure: Failure | None


class Planner:
    """Draws task plans from the configuration with one random generator."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def plan(self, config: EmulatorConfig, model: str, n: int, prompt: str = "") -> TaskPlan:
        """Draw the plan of a new task of `model` producing `n` images from `prompt`."""
        behaviour = config.behaviour_for(model)
        pending_s = self.duration(behaviour.pending)
        running_s = self.duration(behaviour.running)
        rng = self._rng
        lowered = prompt.lower()
        if any(term.lower() in lowered for term in config.moderation_terms):
            failure = _as_failure(DATA_INSPECTION_FAILED)
            return TaskPlan(pending_s, running_s, failure, frozenset(), None)
        if rng.random() < behaviour.failure_rate:
            failure = self._failure(config.failure_codes)
            return TaskPlan(pending_s, running_s, failure, frozenset(), None)
        if n > 1 and rng.random() < behaviour.partial_failure_rate:
            lost = rng.randint(1, n - 1)
            slots = frozenset(rng.sample(range(n), lost))
            return TaskPlan(pending_s, running_s, None, slots, self._failure(config.failure_codes))
        return TaskPlan(pending_s, running_s, None, frozenset(), None)

    def duration(self, dist: Distribution) -> float:
        """Draw one duration in seconds from `dist`."""
        if dist.kind == "fixed":
            value = dist.median_s
        elif dist.kind == "uniform":
            value = self._rng.uniform(dist.min_s, dist.max_s or dist.min_s)
        else:
            value = dist.median_s * math.exp(dist.sigma * self._rng.gauss(0.0, 1.0))
        value = max(value, dist.min_s)
        return value if dist.max_s is None else min(value, dist.max_s)

    def roll(self) -> float:
        """A uniform draw from [0, 1)."""
        return self._rng.random()

    def chance(self, rate: float) -> bool:
        """True with probability `rate`."""
        return rate > 0 and self._rng.random() < rate

    def pick(self, weights: list[float]) -> int:
        """Index drawn with the given weights."""
        return self._rng.choices(range(len(weights)), weights)[0]

    def _failure(self, codes: tuple[FailureCode, ...]) -> Failure:
        return _as_failure(codes[self.pick([c.weight for c in codes])])


def _as_failure(code: FailureCode) -> Failure:
    return Failure(code.code, code.message, code.http_status)
