"""Upstream capacity per account and model: in-flight slots and a submit rate.

:class:`Limiter` is the interface the pipeline uses; :class:`RedisLimiter` is the one
implementation for now (fixed limits from the settings). A job leases a slot from its submit
until its upstream task ends; polls renew the lease, and the lease of a job whose worker died
runs out by itself (the reaper is the expiry). A renewal only extends a lease still held:
a released or expired lease is never re-added, so a late poll cannot exceed the limit.
Waiting for capacity is not a failure: the submit task is scheduled again after the wait,
without spending a retry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Protocol

from redis import Redis

from config.settings import PipelineSettings
from workers.redis_errors import translated

_ACQUIRE: Final = """-- Lease an in-flight slot and take a submit token for one account and model.
-- KEYS[1] leases: zset job id -> lease expiry (ms, Redis clock)
-- KEYS[2] bucket: hash {tokens, at_ms}, the submit token bucket
-- ARGV[1] job id, ARGV[2] max in flight, ARGV[3] tokens per second, ARGV[4] bucket size,
-- ARGV[5] lease ttl (ms), ARGV[6] wait to suggest when every slot is leased (ms),
-- ARGV[7] now (ms; empty: the Redis clock)
-- Returns -1 when both were granted, else the milliseconds to wait before trying again.
local now = tonumber(ARGV[7])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local rate, burst, ttl = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local held = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not held and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return tonumber(ARGV[6])
end
local bucket = redis.call('HMGET', KEYS[2], 'tokens', 'at_ms')
local tokens = tonumber(bucket[1]) or burst
local at = tonumber(bucket[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
if tokens < 1 then
  return math.max(1, math.ceil((1 - tokens) * 1000 / rate))
end
redis.call('HSET', KEYS[2], 'tokens', tostring(tokens - 1), 'at_ms', now)
redis.call('PEXPIRE', KEYS[2], math.ceil(burst * 1000 / rate) + 1000)
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ttl)
return -1
"""

_RENEW: Final = """-- Extend a job's slot lease if it still holds one; never re-add a lease.
-- KEYS[1] leases: zset job id -> lease expiry (ms, Redis clock)
-- ARGV[1] job id, ARGV[2] lease ttl (ms), ARGV[3] now (ms; empty: the Redis clock)
-- Returns 1 when the lease was extended, 0 when the job holds none (released, or ran out:
-- its slot may belong to another job by now, so re-adding it could exceed the limit).
local now = tonumber(ARGV[3])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
"""


class Limiter(Protocol):
    """Capacity of the upstream for each account and model."""

    def try_acquire(self, account: str, model: str, job_id: str) -> float | None:
        """Lease a slot and take a submit token for a job.

        Returns:
            None when granted; otherwise the seconds to wait before asking again. A job that
            already holds a slot keeps it and only needs a token.
        """

    def renew(self, account: str, model: str, job_id: str) -> bool:
        """Extend a job's lease (its upstream task is still running).

        Returns:
            Whether the job still held a lease. A lease that was released (the job ended
            meanwhile) or ran out is never re-added: its slot may be another job's by now.
        """

    def release(self, account: str, model: str, job_id: str) -> None:
        """Give a job's slot back (its task ended, or it never reached the upstream)."""


class RedisLimiter:
    """:class:`Limiter` in Redis, with the Redis clock, for every worker at once.

    Keys (``{prefix}`` is ``Settings.key_prefix``):

    * ``{prefix}limit:{account}:{model}:leases``: sorted set, job id → lease expiry (ms).
    * ``{prefix}limit:{account}:{model}:bucket``: hash ``tokens``, ``at_ms``: the submit
      token bucket.

    Both expire when unused.

    Args:
        redis: A redis-py client.
        prefix: Key prefix.
        pipeline: ``max_in_flight``, ``submit_rps``, ``submit_burst``, ``lease_ttl_s`` and
            ``capacity_retry_s`` (the wait suggested when every slot is leased).
        clock: Epoch seconds to use instead of the Redis clock (tests); every caller must
            then share it.

    Redis connection failures leave as :class:`~workers.errors.RedisUnavailable`.
    """

    def __init__(
        self,
        redis: Redis,
        prefix: str,
        pipeline: PipelineSettings,
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._redis = redis
        self._clock = clock
        self._prefix = prefix
        self._max_in_flight = pipeline.max_in_flight
        self._rate = pipeline.submit_rps
        self._burst = max(1.0, pipeline.submit_burst)
        self._lease_ttl_ms = max(1, round(pipeline.lease_ttl_s * 1000))
        self._busy_wait_ms = max(1, round(pipeline.capacity_retry_s * 1000))
        self._acquire = redis.register_script(_ACQUIRE)
        self._renew = redis.register_script(_RENEW)

    def _keys(self, account: str, model: str) -> tuple[str, str]:
        base = f"{self._prefix}limit:{account}:{model}"
        return f"{base}:leases", f"{base}:bucket"

    def try_acquire(self, account: str, model: str, job_id: str) -> float | None:
        """See :meth:`Limiter.try_acquire`."""
        with translated("acquire"):
            wait_ms = int(
                self._acquire(
                    keys=list(self._keys(account, model)),
                    args=[
                        job_id,
                        self._max_in_flight,
                        repr(self._rate),
                        repr(self._burst),
                        self._lease_ttl_ms,
                        self._busy_wait_ms,
                        self._now(),
                    ],
                )
            )
        return None if wait_ms < 0 else wait_ms / 1000

    def renew(self, account: str, model: str, job_id: str) -> bool:
        """See :meth:`Limiter.renew`."""
        leases, _ = self._keys(account, model)
        with translated("renew"):
            renewed = self._renew(keys=[leases], args=[job_id, self._lease_ttl_ms, self._now()])
        return int(renewed) == 1

    def release(self, account: str, model: str, job_id: str) -> None:
        """See :meth:`Limiter.release`."""
        leases, _ = self._keys(account, model)
        with translated("release"):
            self._redis.zrem(leases, job_id)

    def in_flight(self, account: str, model: str) -> int:
        """Leases currently held (expired ones are dropped at the next acquire or renew)."""
        leases, _ = self._keys(account, model)
        with translated("in_flight"):
            return int(self._redis.zcard(leases))

    def _now(self) -> str:
        return "" if self._clock is None else str(round(self._clock() * 1000))
