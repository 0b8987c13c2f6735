"""Upstream task ownership: which job follows each upstream task, and the count of tasks that
may have no job following them.

The upstream has no idempotency key, so a submit whose answer was lost is reconciled by listing
the account's tasks; the owner links let it tell its own task from the tasks that other jobs
already follow, and the counters record the tasks it could not attribute.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from redis import Redis

from workers.contract.redisio import text, translated

TASK_OWNER_TTL_S: Final = 3 * 24 * 3600
"""How long the task → job link is kept (upstream task ids live 24 h)."""
ORPHAN_SUSPECTS: Final = "orphan_suspects"
"""Counter of jobs whose submit may have created an upstream task nobody follows."""


class TaskOwners:
    """The only owner of the task-ownership keys and the counters in Redis.

    Keys (``{prefix}`` is ``Settings.key_prefix``):

    * ``{prefix}task-owner:{task_id}``: string, the job that owns an upstream task (kept
      :data:`TASK_OWNER_TTL_S`); lets a reconciling submit tell its task from others'.
    * ``{prefix}stats:{name}``: integer counters (:data:`ORPHAN_SUSPECTS`); never expire.

    Redis failures leave as :class:`~workers.errors.RedisUnavailable` (retryable) or
    :class:`~workers.errors.RedisRejected`.

    Args:
        redis: A redis-py client (text or bytes responses).
        prefix: Key prefix (``Settings.key_prefix``).
    """

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    def _owner_key(self, task_id: str) -> str:
        return f"{self._prefix}task-owner:{task_id}"

    def _stat_key(self, name: str) -> str:
        return f"{self._prefix}stats:{name}"

    def claim(self, task_id: str, job_id: str) -> bool:
        """Link an upstream task to a job; True if linked now or already to this job."""
        key = self._owner_key(task_id)
        with translated("claim_task"):
            if self._redis.set(key, job_id, nx=True, ex=TASK_OWNER_TTL_S):
                return True
            owner = self._redis.get(key)
        return owner is not None and text(owner) == job_id

    def owner(self, task_id: str) -> str | None:
        """The job that owns an upstream task, if any."""
        with translated("task_owner"):
            owner = self._redis.get(self._owner_key(task_id))
        return text(owner) if owner is not None else None

    def owners(self, task_ids: Sequence[str]) -> list[str | None]:
        """The owners of many upstream tasks, in order."""
        if not task_ids:
            return []
        with translated("task_owners"):
            owners = self._redis.mget([self._owner_key(task_id) for task_id in task_ids])
        return [text(owner) if owner is not None else None for owner in owners]

    def incr_stat(self, name: str, by: int = 1) -> int:
        """Add to a counter (``{prefix}stats:{name}``); returns the new value."""
        with translated("incr_stat"):
            return int(self._redis.incrby(self._stat_key(name), by))

    def stat(self, name: str) -> int:
        """A counter's value (0 when never counted)."""
        with translated("stat"):
            value = self._redis.get(self._stat_key(name))
        return int(value) if value is not None else 0
