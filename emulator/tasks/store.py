"""In-memory task store with expiry, per-account listing and list filters.

Tasks expire `task_ttl_s` after submit (then their ids answer UNKNOWN, like the real service
after 24 h). Expiry is lazy: a FIFO of ids in submit order is trimmed from its head whenever the
store is used, so it costs O(1) per call and no timer.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from emulator.tasks.task import Task


@dataclass(frozen=True, slots=True)
class ListFilter:
    """Filters of ``GET /tasks`` (None = no filter).

    Attributes:
        start_s: Earliest submit time (inclusive).
        end_s: Latest submit time (inclusive).
        model: Model name.
        status: Current status.
        api_key_id: Submitting key's id.
    """

    start_s: float | None = None
    end_s: float | None = None
    model: str | None = None
    status: str | None = None
    api_key_id: str | None = None


class TaskStore:
    """All live tasks, by id and by account."""

    def __init__(self) -> None:
        self._tasks: dict[str, Task] = {}
        self._order: deque[Task] = deque()
        self._by_account: dict[str, dict[str, Task]] = {}

    def __len__(self) -> int:
        return len(self._tasks)

    def add(self, task: Task) -> None:
        """Store a new task (hidden tasks are not listed)."""
        self._tasks[task.task_id] = task
        self._order.append(task)
        if not task.hidden:
            self._by_account.setdefault(task.account, {})[task.task_id] = task

    def get(self, task_id: str) -> Task | None:
        """The task with id `task_id`, if it exists and has not expired."""
        return self._tasks.get(task_id)

    def expire(self, now: float, ttl_s: float) -> list[Task]:
        """Drop the tasks submitted `ttl_s` or more before `now`; return them."""
        dropped: list[Task] = []
        order = self._order
        deadline = now - ttl_s
        while order and order[0].submit_at <= deadline:
            task = order.popleft()
            if self._tasks.pop(task.task_id, None) is not None:
                dropped.append(task)
                account = self._by_account.get(task.account)
                if account is not None:
                    account.pop(task.task_id, None)
        return dropped

    def tasks(self) -> Iterator[Task]:
        """Every live task, hidden ones included, oldest first."""
        return iter(list(self._tasks.values()))

    def query(self, account: str, flt: ListFilter, now: float) -> list[Task]:
        """The account's visible tasks matching `flt`, newest first."""
        found: list[Task] = []
        for task in reversed(list(self._by_account.get(account, {}).values())):
            if flt.start_s is not None and task.submit_at < flt.start_s:
                continue
            if flt.end_s is not None and task.submit_at > flt.end_s:
                continue
            if flt.model is not None and task.model != flt.model:
                continue
            if flt.api_key_id is not None and task.api_key_id != flt.api_key_id:
                continue
            if flt.status is not None and task.status_at(now) != flt.status:
                continue
            found.append(task)
        return found

    def clear(self) -> None:
        """Forget every task."""
        self._tasks.clear()
        self._order.clear()
        self._by_account.clear()
