"""Tasks in flight: one lease per job, held from admission until its upstream task ends.

Admission (:mod:`workers.limits.admission`) takes a lease; every poll renews it; the end of
the task releases it. A renewal only extends a lease still held: a released or expired lease
is never re-added, so a late poll cannot push the count past the limit. A lease whose holder
is gone is reclaimed two ways: it runs out (``lease_ttl_s`` after its last renewal), and the
reaper (:meth:`Leases.reap`, run by every dispatcher) drops at once the leases of jobs that
have ended or vanished, e.g. when a worker died between a job's end and its release.

Keys (``{p}`` is ``Settings.key_prefix``):

* ``{p}limit:{account}:{model}:leases``: sorted set, job id → lease expiry (ms, Redis clock).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final

from redis import Redis

from workers.limits.lua import NOW, script
from workers.redis_errors import translated

_RENEW: Final = script(
    NOW,
    """-- Extend a job's lease if it still holds one; never re-add a lease.
-- KEYS[1] leases: zset job id -> lease expiry (ms)
-- ARGV[1] job id, ARGV[2] lease ttl (ms), ARGV[3] now (ms; empty: the Redis clock)
-- Returns 1 when extended, 0 when the job holds none (released, or ran out: its slot may be
-- another job's by now).
--END HEADER
local now = now_ms(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
""",
)


def leases_key(prefix: str, account: str, model: str) -> str:
    """The lease set of an account and model."""
    return f"{prefix}limit:{account}:{model}:leases"


class Leases:
    """The lease sets of every account and model.

    Args:
        redis: A redis-py client.
        prefix: Key prefix.
        lease_ttl_s: Lifetime of a lease after its last renewal.

    Redis connection failures leave as :class:`~workers.errors.RedisUnavailable`.
    """

    def __init__(self, redis: Redis, prefix: str, lease_ttl_s: float) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl_ms = max(1, round(lease_ttl_s * 1000))
        self._renew = redis.register_script(_RENEW)

    def renew(self, account: str, model: str, job_id: str, now_ms: int | None = None) -> bool:
        """Extend a job's lease; False when it held none (never re-added)."""
        key = leases_key(self._prefix, account, model)
        with translated("renew lease"):
            renewed = self._renew(
                keys=[key], args=[job_id, self._ttl_ms, "" if now_ms is None else now_ms]
            )
        return int(renewed) == 1

    def release(self, account: str, model: str, job_id: str) -> None:
        """Give a job's slot back."""
        with translated("release lease"):
            self._redis.zrem(leases_key(self._prefix, account, model), job_id)

    def in_flight(self, account: str, model: str) -> int:
        """Leases held (expired ones are dropped at the next admission or renewal)."""
        with translated("count leases"):
            return int(self._redis.zcard(leases_key(self._prefix, account, model)))

    def holders(self, account: str, model: str) -> list[str]:
        """Job ids holding a lease."""
        with translated("read leases"):
            found = self._redis.zrange(leases_key(self._prefix, account, model), 0, -1)
        return [item.decode() if isinstance(item, bytes) else str(item) for item in found]

    def reap(
        self,
        pairs: Iterable[tuple[str, str]],
        gone: Callable[[list[str]], list[bool]],
    ) -> int:
        """Drop the leases of jobs that ended or vanished.

        Args:
            pairs: The ``(account, model)`` lease sets to look at.
            gone: For a list of job ids, whether each has ended or no longer exists.

        Returns:
            Leases reclaimed.
        """
        reclaimed = 0
        for account, model in pairs:
            holders = self.holders(account, model)
            if not holders:
                continue
            dead = [job for job, ended in zip(holders, gone(holders), strict=True) if ended]
            if dead:
                with translated("reap leases"):
                    reclaimed += int(
                        self._redis.zrem(leases_key(self._prefix, account, model), *dead)
                    )
        return reclaimed
