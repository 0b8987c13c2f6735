"""The waiting room's entrance, shared by producers and workers: parking a job.

Producers park new jobs themselves (one Redis pipeline per chunk, no broker message held for
each job); a worker parks a job whose ``wanq.submit`` message came from a producer that only
speaks Celery, and parks again a job handed back by the upstream. Admission, which takes jobs
out, belongs to the workers (:mod:`workers.limits.admission`, where the whole key layout is
documented).

Keys (``{p}`` is ``Settings.key_prefix``): ``{p}wait:{model}:{lane}:q:{tenant}`` (list of job
ids), ``{p}wait:{model}:{lane}:tenants`` (sorted set, tenant → virtual tag),
``{p}wait:{model}:{lane}:weights``, ``{p}wait:{model}:{lane}:vt``, ``{p}wait:parked`` (set),
``{p}wait:counts`` (hash, model → jobs waiting), and it reads ``{p}admitted``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from redis import Redis

from workers.contract.redisio import translated

PARK_SCRIPT: Final = """-- Park jobs in their models' waiting rooms (each once), in order.
-- ARGV[1] prefix, ARGV[2] JSON list of [job id, model, lane, tenant, weight],
-- ARGV[3] '1' to put them first in their tenants' lines (admitted, then handed back)
-- Returns how many were parked (a job that already waits or is admitted is not).
local P = ARGV[1]
local parked = 0
for _, j in ipairs(cjson.decode(ARGV[2])) do
  local job, model, lane, tenant, weight = j[1], j[2], j[3], j[4], j[5]
  if redis.call('SISMEMBER', P .. 'wait:parked', job) == 0
      and not redis.call('ZSCORE', P .. 'admitted', job) then
    local lk = P .. 'wait:' .. model .. ':' .. lane
    local q = lk .. ':q:' .. tenant
    if ARGV[3] == '1' then redis.call('LPUSH', q, job) else redis.call('RPUSH', q, job) end
    redis.call('SADD', P .. 'wait:parked', job)
    redis.call('HSET', lk .. ':weights', tenant, tostring(weight))
    if not redis.call('ZSCORE', lk .. ':tenants', tenant) then
      local vt = tonumber(redis.call('GET', lk .. ':vt')) or 0
      redis.call('ZADD', lk .. ':tenants', vt, tenant)
    end
    redis.call('HINCRBY', P .. 'wait:counts', model, 1)
    parked = parked + 1
  end
end
return parked
"""
"""The park script (the waiting room's keys are built from the prefix: one Redis, no cluster)."""


PARK_CHUNK: Final = 250
"""Jobs parked by one script call."""


@dataclass(frozen=True)
class Parking:
    """One job to park: its id, model, lane, tenant and the tenant's weight."""

    job_id: str
    model: str
    lane: str
    tenant: str
    weight: float = 1.0


class WaitingRoom:
    """Parks jobs (see the module's doc).

    Args:
        redis: A redis-py client.
        prefix: Key prefix.

    Redis connection failures leave as :class:`~workers.errors.RedisUnavailable`.
    """

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._park = redis.register_script(PARK_SCRIPT)

    def park(
        self, job_id: str, model: str, lane: str, tenant: str, weight: float, *, first: bool
    ) -> bool:
        """Park one job (``first``: at the head of its tenant's line); False when it already
        waits or is admitted."""
        return self._call([Parking(job_id, model, lane, tenant, weight)], first=first) == 1

    def park_many(self, jobs: Sequence[Parking]) -> int:
        """Park jobs in order, :data:`PARK_CHUNK` per script call (a call holds Redis for
        its jobs only); how many were parked (not already waiting)."""
        return sum(
            self._call(jobs[start : start + PARK_CHUNK], first=False)
            for start in range(0, len(jobs), PARK_CHUNK)
        )

    def _call(self, jobs: Sequence[Parking], *, first: bool) -> int:
        if not jobs:
            return 0
        listed = [[j.job_id, j.model, j.lane, j.tenant, j.weight] for j in jobs]
        encoded = json.dumps(listed, separators=(",", ":"))
        with translated("park"):
            return int(self._park(args=[self._prefix, encoded, int(first)]))
