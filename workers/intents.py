"""Open submit intents per account and model, so a reconciling submit can see its rivals.

A submit records its job here after its intent (``begin_submit``) and before the upstream
call, and removes it once the task is linked to the job (``task-owner``) or the intent is
cleared (the call provably created nothing). An entry that stays (an interrupted submit, one
that gave up) marks a window in which an upstream task may belong to that job: a reconciling
submit whose window overlaps another job's entry must not adopt a task by elimination.

Reading order makes this safe: the reconciler lists the upstream's tasks first, then reads
the open intents, then the task owners. A rival's task is linked before its entry goes, so
it is seen either as an open intent or as owned; a rival that records its intent after the
read creates its task after the list, so the list cannot hold it.
"""

from __future__ import annotations

from typing import Final, Protocol

from redis import Redis

from workers.redis_errors import translated

INTENT_KEEP_S: Final = 24 * 3600
"""How long an entry that was never closed is kept (the upstream keeps tasks 24 h)."""

_OPEN: Final = """-- Record a job's open submit intent (Redis clock) and drop stale ones.
-- KEYS[1] intents: zset job id -> intent time (epoch s)
-- ARGV[1] job id, ARGV[2] keep (s)
-- Returns 1.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
"""


class Intents(Protocol):
    """Open submit intents of each account and model."""

    def open(self, account: str, model: str, job_id: str) -> None:
        """Record that a job is about to call the upstream's submit."""

    def close(self, account: str, model: str, job_id: str) -> None:
        """Forget a job's intent (its task is linked, or the call created nothing)."""

    def overlapping(
        self, account: str, model: str, since: float, until: float, *, exclude: str
    ) -> list[str]:
        """Jobs other than ``exclude`` with an open intent in ``[since, until]`` (epoch s)."""


class RedisIntents:
    """:class:`Intents` in Redis.

    Keys (``{prefix}`` is ``Settings.key_prefix``):

    * ``{prefix}intents:{account}:{model}``: sorted set, job id → intent time (epoch s,
      Redis clock); entries older than :data:`INTENT_KEEP_S` are dropped.

    Redis connection failures leave as :class:`~workers.errors.RedisUnavailable`.
    """

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._open = redis.register_script(_OPEN)

    def _key(self, account: str, model: str) -> str:
        return f"{self._prefix}intents:{account}:{model}"

    def open(self, account: str, model: str, job_id: str) -> None:
        """See :meth:`Intents.open`."""
        with translated("open intent"):
            self._open(keys=[self._key(account, model)], args=[job_id, INTENT_KEEP_S])

    def close(self, account: str, model: str, job_id: str) -> None:
        """See :meth:`Intents.close`."""
        with translated("close intent"):
            self._redis.zrem(self._key(account, model), job_id)

    def overlapping(
        self, account: str, model: str, since: float, until: float, *, exclude: str
    ) -> list[str]:
        """See :meth:`Intents.overlapping`."""
        with translated("read intents"):
            found = self._redis.zrangebyscore(self._key(account, model), since, until)
        ids = (item.decode() if isinstance(item, bytes) else str(item) for item in found)
        return [job_id for job_id in ids if job_id != exclude]
