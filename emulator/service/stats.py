"""Counters for ``GET /admin/stats``: per account, per account+model, and injected faults.

Counters that events increment (submits, throttles, queries, faults) live here; figures that
follow from state (tasks by status, images billed, slots in use) are computed when the snapshot
is taken, from the live tasks plus what expired tasks left behind.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from emulator.limits.lanes import Lane, LaneKey
from emulator.tasks.task import SUCCEEDED, Task


@dataclass
class ModelCounters:
    """Event counters of one account and model."""

    submits_accepted: int = 0
    sync_accepted: int = 0
    canceled: int = 0
    throttled: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    expired_by_status: Counter[str] = field(default_factory=Counter)
    expired_images_billed: int = 0


@dataclass
class AccountCounters:
    """Event counters of one account."""

    queries: int = 0
    lists: int = 0
    throttled: Counter[str] = field(default_factory=Counter)


class Stats:
    """All counters, and the snapshot that combines them with the live state."""

    def __init__(self) -> None:
        self._models: dict[LaneKey, ModelCounters] = {}
        self._accounts: dict[str, AccountCounters] = {}
        self._faults: defaultdict[str, Counter[str]] = defaultdict(Counter)

    def model(self, account: str, model: str) -> ModelCounters:
        """The counters of `account` and `model` (created on first use)."""
        key = (account, model)
        counters = self._models.get(key)
        if counters is None:
            counters = self._models[key] = ModelCounters()
        return counters

    def account(self, account: str) -> AccountCounters:
        """The counters of `account` (created on first use)."""
        counters = self._accounts.get(account)
        if counters is None:
            counters = self._accounts[account] = AccountCounters()
        return counters

    def fault(self, group: str, kind: str) -> None:
        """Count a fault of `kind` injected into a request of endpoint `group`."""
        self._faults[group][kind] += 1

    def faults(self) -> dict[str, dict[str, int]]:
        """Injected faults by endpoint group and kind (groups without any are left out)."""
        return {group: dict(kinds) for group, kinds in self._faults.items()}

    def on_expired(self, task: Task, status: str) -> None:
        """Remember the final status and billing of a task leaving the store."""
        counters = self.model(task.account, task.model)
        counters.expired_by_status[status] += 1
        if status == SUCCEEDED:
            counters.expired_images_billed += task.image_count()

    def snapshot(
        self,
        tasks: Iterable[Task],
        lanes: Mapping[LaneKey, Lane],
        now: float,
        accounts: Iterable[str] = (),
    ) -> dict[str, Any]:
        """Counters and live figures, nested by account then model.

        Every account in `accounts` (the configured ones) is listed even without activity;
        a model appears once it has a counter, a task or a lane.
        """
        by_status: dict[LaneKey, Counter[str]] = {}
        billed: Counter[LaneKey] = Counter()
        for task in tasks:
            key = (task.account, task.model)
            status = task.status_at(now)
            by_status.setdefault(key, Counter())[status] += 1
            if status == SUCCEEDED:
                billed[key] += task.image_count()
        keys = set(self._models) | set(by_status) | set(lanes)
        names = {k[0] for k in keys} | set(self._accounts) | set(accounts)
        result: dict[str, Any] = {}
        for name in sorted(names):
            counters = self._accounts.get(name, AccountCounters())
            result[name] = {
                "queries": counters.queries,
                "lists": counters.lists,
                "throttled": dict(counters.throttled),
                "models": {},
            }
        for key in sorted(keys):
            counters_m = self._models.get(key, ModelCounters())
            lane = lanes.get(key)
            statuses = by_status.get(key, Counter()) + counters_m.expired_by_status
            result[key[0]]["models"][key[1]] = {
                "submits_accepted": counters_m.submits_accepted,
                "sync_accepted": counters_m.sync_accepted,
                "canceled": counters_m.canceled,
                "throttled": dict(counters_m.throttled),
                "rejected": dict(counters_m.rejected),
                "in_flight": lane.in_flight if lane else 0,
                "queued": lane.queued if lane else 0,
                "max_in_flight": lane.max_in_flight if lane else 0,
                "max_queued": lane.max_queued if lane else 0,
                "tasks_by_status": dict(statuses),
                "images_billed": billed[key] + counters_m.expired_images_billed,
            }
        return {"accounts": result}

    def clear(self) -> None:
        """Forget every counter."""
        self._models.clear()
        self._accounts.clear()
        self._faults.clear()
