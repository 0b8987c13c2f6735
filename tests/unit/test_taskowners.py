"""TaskOwners against a real Redis (database 15, keys under the test's prefix)."""

from __future__ import annotations

import redis

from workers.contract import TaskOwners
from workers.contract.taskowners import ORPHAN_SUSPECTS, TASK_OWNER_TTL_S


def test_a_task_is_claimed_by_one_job(redis_client: redis.Redis, redis_prefix: str) -> None:
    owners = TaskOwners(redis_client, redis_prefix)
    assert owners.claim("task-1", "a" * 32)
    assert owners.claim("task-1", "a" * 32)  # again by its owner: still its
    assert not owners.claim("task-1", "b" * 32)
    assert owners.owner("task-1") == "a" * 32
    assert owners.owner("task-2") is None
    assert owners.owners(["task-2", "task-1"]) == [None, "a" * 32]
    assert owners.owners([]) == []
    assert 0 < redis_client.ttl(f"{redis_prefix}task-owner:task-1") <= TASK_OWNER_TTL_S


def test_counters(redis_client: redis.Redis, redis_prefix: str) -> None:
    owners = TaskOwners(redis_client, redis_prefix)
    assert owners.stat(ORPHAN_SUSPECTS) == 0
    assert owners.incr_stat(ORPHAN_SUSPECTS) == 1
    assert owners.incr_stat(ORPHAN_SUSPECTS, 2) == 3
    assert owners.stat(ORPHAN_SUSPECTS) == 3
    assert redis_client.get(f"{redis_prefix}stats:{ORPHAN_SUSPECTS}") == "3"
