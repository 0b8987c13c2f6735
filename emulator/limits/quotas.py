"""The account limits: submit rate and concurrent tasks per model, query budget per account.

    submit   ── Gcra per (account, model), submit_rps/burst ─▶ 429 Throttling.RateQuota
             ── Lane per (account, model), max_concurrent   ─▶ 429 Throttling.AllocationQuota
                                                                (or a FIFO queue in PENDING)
    queries  ── Gcra per account, query_qps/query_burst     ─▶ 429 Throttling

Limits are read from the current configuration on every call, so changes apply at once.
A refusal is an `ApiError` (counted by the service, emulator.service.emulator) and may carry
a ``Retry-After`` value (emulator.config.sections.RetryAfter; off by default, like the real
service).
"""

from __future__ import annotations

from emulator.config.root import EmulatorConfig
from emulator.config.sections import Account, ModelLimits
from emulator.errors import allocation_quota, query_throttled, rate_quota
from emulator.limits.gcra import Gcra, default_burst
from emulator.limits.lanes import Lane, LaneKey
from emulator.tasks.task import Task


class Limits:
    """Rate limiters and concurrency lanes of every account."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.lanes: dict[LaneKey, Lane] = {}
        self._submits = Gcra()
        self._queries = Gcra()
        self._config = config
        self._accounts: dict[str, Account] = {}
        self.configure(config)

    def configure(self, config: EmulatorConfig) -> None:
        """Use a new configuration from now on (state is kept)."""
        self._config = config
        self._accounts = {a.name: a for a in config.accounts}

    def check_submit_rate(self, account: str, model: str, now: float) -> None:
        """Count a submit against the model's rate.

        Raises:
            ApiError: 429 Throttling.RateQuota.
        """
        limits = self._limits(account, model)
        if limits is None or limits.submit_rps <= 0:
            return
        burst = limits.burst or default_burst(limits.submit_rps)
        wait_s = self._submits.acquire((account, model), now, limits.submit_rps, burst)
        if wait_s > 0:
            raise rate_quota(self._retry_after(wait_s))

    def check_query(self, account: str, now: float) -> None:
        """Count a task query or list against the account's budget.

        Raises:
            ApiError: 429 Throttling.
        """
        found = self._accounts.get(account)
        if found is None or found.query_qps <= 0:
            return
        burst = found.query_burst or default_burst(found.query_qps)
        wait_s = self._queries.acquire(account, now, found.query_qps, burst)
        if wait_s > 0:
            raise query_throttled(self._retry_after(wait_s))

    def admit(self, task: Task, now: float) -> None:
        """Give a new task a concurrency slot or a queue place.

        Raises:
            ApiError: 429 Throttling.AllocationQuota (cap reached in reject mode).
        """
        capacity, queue = self._slots(task.account, task.model)
        lane = self._lane(task.account, task.model)
        if not lane.admit(task, now, capacity, queue=queue):
            next_free = lane.next_free_at()
            wait_s = max(0.0, next_free - now) if next_free is not None else 1.0
            raise allocation_quota(self._retry_after(wait_s))

    def release(self, task: Task, now: float) -> None:
        """Free the slot or queue place of a canceled task."""
        capacity, _ = self._slots(task.account, task.model)
        self._lane(task.account, task.model).release(task, now, capacity)

    def advance(self, task: Task, now: float) -> None:
        """Bring the lane of `task` up to `now` (queued tasks may get their slot)."""
        lane = self.lanes.get((task.account, task.model))
        if lane is not None:
            lane.advance(now, self._slots(task.account, task.model)[0])

    def advance_account(self, account: str, now: float) -> None:
        """Bring every lane of `account` up to `now`."""
        for (name, model), lane in self.lanes.items():
            if name == account:
                lane.advance(now, self._slots(name, model)[0])

    def advance_all(self, now: float) -> None:
        """Bring every lane up to `now`."""
        for (name, model), lane in self.lanes.items():
            lane.advance(now, self._slots(name, model)[0])

    def clear(self) -> None:
        """Forget every lane and rate state."""
        self.lanes.clear()
        self._submits.clear()
        self._queries.clear()

    def _limits(self, account: str, model: str) -> ModelLimits | None:
        found = self._accounts.get(account)
        return None if found is None else found.limits_for(model)

    def _slots(self, account: str, model: str) -> tuple[int | None, bool]:
        limits = self._limits(account, model)
        if limits is None or limits.max_concurrent <= 0:
            return None, False
        return limits.max_concurrent, limits.on_concurrency == "queue"

    def _lane(self, account: str, model: str) -> Lane:
        key = (account, model)
        lane = self.lanes.get(key)
        if lane is None:
            lane = self.lanes[key] = Lane()
        return lane

    def _retry_after(self, wait_s: float) -> float | None:
        policy = self._config.retry_after
        if policy.mode == "off":
            return None
        if policy.mode == "fixed":
            return policy.seconds
        return max(1.0, wait_s)
