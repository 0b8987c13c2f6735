"""Concurrency slots per account and model, with a FIFO queue for "queue" mode.

A lane is a small discrete-event simulation advanced lazily: it holds the tasks that own a slot
in a heap ordered by the time they finish, and the queued tasks in arrival order. Advancing to
`now` releases every slot whose task finished by then and hands it to the head of the queue *at
the moment it freed*, so a queued task's clock starts exactly when its predecessor ended, no
matter when somebody looks. Cancelling frees a slot at the moment of the cancel.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
from collections import deque

from emulator.tasks.task import Task

LaneKey = tuple[str, str]
"""(account, model): one lane each."""


class Lane:
    """Slots and queue of one (account, model).

    Attributes:
        max_in_flight: Most tasks ever holding a slot at once.
        max_queued: Longest the queue has ever been.
    """

    def __init__(self) -> None:
        self._holding: list[tuple[float, int, Task]] = []
        self._queue: deque[Task] = deque()
        self._seq = itertools.count()
        self.max_in_flight = 0
        self.max_queued = 0

    @property
    def in_flight(self) -> int:
        """Tasks holding a slot (PENDING or RUNNING, not queued)."""
        return len(self._holding)

    @property
    def queued(self) -> int:
        """Tasks waiting for a slot."""
        return len(self._queue)

    def next_free_at(self) -> float | None:
        """When the next slot frees by a task finishing (None when no task holds one)."""
        return self._holding[0][0] if self._holding else None

    def advance(self, now: float, capacity: int | None) -> None:
        """Release the slots of tasks finished by `now` and pass them to queued tasks.

        Args:
            now: Current time (Unix seconds).
            capacity: Slot count, None for unlimited.
        """
        holding = self._holding
        while holding and holding[0][0] <= now:
            freed_at = heapq.heappop(holding)[0]
            self._fill(freed_at, capacity)
        self._fill(now, capacity)

    def admit(self, task: Task, now: float, capacity: int | None, *, queue: bool) -> bool:
        """Give `task` a slot now, or queue it.

        Args:
            task: The new task.
            now: Current time.
            capacity: Slot count, None for unlimited.
            queue: Queue the task when no slot is free (else refuse it).

        Returns:
            False when no slot is free and `queue` is off (the task was not admitted).
        """
        self.advance(now, capacity)
        if not self._queue and (capacity is None or len(self._holding) < capacity):
            self._grant(task, now)
            return True
        if not queue:
            return False
        self._queue.append(task)
        self.max_queued = max(self.max_queued, len(self._queue))
        return True

    def release(self, task: Task, now: float, capacity: int | None) -> None:
        """Remove a canceled task from its slot or from the queue."""
        if task.slot_at is None:
            with contextlib.suppress(ValueError):
                self._queue.remove(task)
        else:
            before = len(self._holding)
            self._holding = [entry for entry in self._holding if entry[2] is not task]
            if len(self._holding) != before:
                heapq.heapify(self._holding)
        self._fill(now, capacity)

    def _fill(self, at: float, capacity: int | None) -> None:
        while self._queue and (capacity is None or len(self._holding) < capacity):
            self._grant(self._queue.popleft(), at)

    def _grant(self, task: Task, at: float) -> None:
        task.slot_at = at
        finish_at = task.finish_at
        assert finish_at is not None
        heapq.heappush(self._holding, (finish_at, next(self._seq), task))
        self.max_in_flight = max(self.max_in_flight, len(self._holding))
