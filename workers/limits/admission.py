"""The waiting room: jobs wait in Redis, not in workers, and are admitted one at a time.

A job is parked by its producer (:mod:`workers.contract.waiting`: the Python API parks it
directly) or by its first submit message (a producer that only sends Celery messages); a
dispatcher (:mod:`workers.limits.dispatcher`) admits jobs
and sends each admitted one a submit message naming its account. Admission is one atomic
script that:

1. picks the lane: ``interactive`` jobs go before any ``bulk`` one;
2. picks an account serving the model that is not paused, holds fewer leases than its
   allowed tasks in flight, and has a submit token (the rate, adaptive; see
   :mod:`workers.limits.throttle`): the first such account in configuration order;
3. picks the tenant by weighted fair queuing (the lowest virtual tag; each admission moves
   its tenant's tag on by ``1 / weight``; a tenant that starts waiting enters at the lane's
   current tag, so a 50,000-job backlog is no head start), and its oldest job;
4. leases the slot, takes the token, and notes the job as admitted.

A job that ended while it waited (canceled) is dropped from the waiting room when its turn
comes, without taking a slot or a token (the job record's ``state`` is read by the script:
``{p}job:{id}``, the job store's documented layout).

An admitted job whose submit never starts (its message was lost) is found by
:meth:`Admission.stale` and dispatched again; a redelivered submit is harmless (the job
store's gate lets one through).

Keys (``{p}`` is ``Settings.key_prefix``):

* ``{p}wait:{model}:{lane}:tenants``: sorted set, tenant → virtual tag.
* ``{p}wait:{model}:{lane}:q:{tenant}``: list of job ids, oldest first.
* ``{p}wait:{model}:{lane}:weights``: hash, tenant → weight; ``...:vt``: the lane's tag.
* ``{p}wait:parked``: set of waiting job ids (a job parks once).
* ``{p}wait:counts``: hash, model → jobs waiting.
* ``{p}admitted``: sorted set, job id → admission time (ms); ``{p}admitted:account``: hash,
  job id → account.
* the leases, buckets and states of :mod:`workers.limits.leases` and
  :mod:`workers.limits.throttle`.

The scripts build the per-tenant and per-account key names from the prefix: wanqueue runs on
one Redis (not a cluster), where that is safe.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from redis import Redis

from config.accounts import AccountSettings, LimiterSettings
from workers.contract.records import Priority
from workers.contract.states import TERMINAL_STATES
from workers.contract.waiting import WaitingRoom
from workers.limits.lua import EFFECTIVE, NOW, script
from workers.limits.policy import encode, model_limits, params
from workers.redis_errors import translated

Lane = Priority
"""The priority lanes are the job contract's priorities: every waiting interactive job is
admitted before any bulk one."""


_ADMIT: Final = script(
    NOW,
    EFFECTIVE,
    """-- Admit the next waiting job of a model to an account with capacity.
-- ARGV[1] prefix, ARGV[2] model, ARGV[3] now (ms; empty: the Redis clock),
-- ARGV[4] JSON {accounts=[{name, rate, conc, burst (0: burst_s of the rate)}], burst_s,
--   admitted_max (admitted jobs whose submit has not begun, at most),
--   lease_ttl_ms, busy_ms, lanes=[...], terminal={state=true}, skip_max,
--   and the parameters of `effective`}
-- Returns {1, job id, account, lane, tenant}; {0} when nothing waits;
-- {-1, wait ms} when no account has capacity now.
--END HEADER
local P, model = ARGV[1], ARGV[2]
local now = now_ms(ARGV[3])
local cfg = cjson.decode(ARGV[4])
local lane, lk
for _, name in ipairs(cfg.lanes) do
  local key = P .. 'wait:' .. model .. ':' .. name
  if redis.call('ZCARD', key .. ':tenants') > 0 then lane, lk = name, key; break end
end
if not lane then return {0} end
-- Admitted jobs whose submit has not begun are bounded, so that workers post each one
-- promptly after its admission (and its token) instead of a backlog of stale ones.
if redis.call('ZCARD', P .. 'admitted') >= cfg.admitted_max then return {-1, cfg.busy_ms} end
local chosen, best
for _, acct in ipairs(cfg.accounts) do
  local base = P .. 'limit:' .. acct.name .. ':' .. model
  local leases, bucket, state = base .. ':leases', base .. ':bucket', base .. ':state'
  redis.call('ZREMRANGEBYSCORE', leases, '-inf', now)
  local st = redis.call('HMGET', state, 'r_cut', 'r_at', 'r_ss', 'c_cut', 'c_at', 'paused')
  local wait
  local paused = tonumber(st[6]) or 0
  if paused > now then
    wait = paused - now
  else
    local rate, conc = effective(st, now, acct, cfg)
    if redis.call('ZCARD', leases) >= conc then
      wait = cfg.busy_ms
    else
      local burst = acct.burst
      if burst <= 0 then burst = math.max(1, rate * cfg.burst_s) end
      local b = redis.call('HMGET', bucket, 'tokens', 'at_ms')
      local tokens = tonumber(b[1]) or burst
      local at = tonumber(b[2]) or now
      tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
      if tokens < 1 then
        wait = math.max(1, math.ceil((1 - tokens) * 1000 / rate))
      else
        chosen = {acct = acct, leases = leases, bucket = bucket, state = state,
                  tokens = tokens, rate = rate, st = st, burst = burst}
        break
      end
    end
  end
  if not best or wait < best then best = wait end
end
if not chosen then return {-1, best or cfg.busy_ms} end
-- The next job by tenant tag; jobs that ended while waiting (canceled) are dropped on the way
-- and cost nothing (a job without a record is admitted: its submit finds nothing to do).
local job, tenant
for _ = 1, cfg.skip_max do
  local top = redis.call('ZRANGE', lk .. ':tenants', 0, 0, 'WITHSCORES')
  if not top[1] then return {-1, 0} end
  local tag
  tenant, tag = top[1], tonumber(top[2])
  local q = lk .. ':q:' .. tenant
  job = redis.call('LPOP', q)
  if redis.call('LLEN', q) == 0 then
    redis.call('ZREM', lk .. ':tenants', tenant)
  else
    local weight = tonumber(redis.call('HGET', lk .. ':weights', tenant)) or 1
    redis.call('ZADD', lk .. ':tenants', tag + 1 / weight, tenant)
  end
  redis.call('SET', lk .. ':vt', tostring(tag))
  if job then
    redis.call('SREM', P .. 'wait:parked', job)
    redis.call('HINCRBY', P .. 'wait:counts', model, -1)
    local state = redis.call('HGET', P .. 'job:' .. job, 'state')
    if not (state and cfg.terminal[state]) then break end
  end
  job = nil
end
if not job then return {-1, 0} end
local acct = chosen.acct
redis.call('HSET', chosen.bucket, 'tokens', tostring(chosen.tokens - 1), 'at_ms', now)
redis.call('PEXPIRE', chosen.bucket, math.ceil(chosen.burst * 1000 / chosen.rate) + 60000)
redis.call('ZADD', chosen.leases, now + cfg.lease_ttl_ms, job)
redis.call('PEXPIRE', chosen.leases, cfg.lease_ttl_ms)
if acct.rate <= 0 and not tonumber(chosen.st[2]) then
  -- an unknown rate starts its discovery now (slow start, see workers.limits.throttle)
  redis.call('HSET', chosen.state, 'r_cut', tostring(cfg.start_rps), 'r_at', now, 'r_ss', '1')
end
redis.call('ZADD', P .. 'admitted', now, job)
redis.call('HSET', P .. 'admitted:account', job, acct.name)
return {1, job, acct.name, lane, tenant}
""",
)

_STARTED: Final = script(
    NOW,
    """-- An admitted job's submit began: forget its admission, say how long ago it was.
-- ARGV[1] prefix, ARGV[2] job id
-- Returns the milliseconds since its admission, or nil when it was not admitted.
--END HEADER
local P, job = ARGV[1], ARGV[2]
local at = redis.call('ZSCORE', P .. 'admitted', job)
if not at then return nil end
redis.call('ZREM', P .. 'admitted', job)
redis.call('HDEL', P .. 'admitted:account', job)
return math.max(0, now_ms('') - tonumber(at))
""",
)

LANES: Final = (Lane.INTERACTIVE.value, Lane.BULK.value)

DEFAULT_BURST_S: Final = 0.5
"""With ``submit_burst`` 0, the bucket holds this many seconds of the allowed rate."""

SKIP_MAX: Final = 100
"""Most ended jobs one admission drops from the waiting room before it gives up for now."""


@dataclass(frozen=True)
class Admitted:
    """A job admitted to an account: its slot is leased and its submit token taken."""

    job_id: str
    account: str
    lane: str
    tenant: str


class Admission:
    """The waiting room and admission for every model (see the module's doc).

    Args:
        redis: A redis-py client.
        prefix: Key prefix.
        accounts: The upstream accounts, in order of preference.
        limiter: The limiter's settings.
        lease_ttl_s: Lifetime of a slot lease (renewed by polls).

    Redis connection failures leave as :class:`~workers.errors.RedisUnavailable`.
    """

    def __init__(
        self,
        redis: Redis,
        prefix: str,
        accounts: Sequence[AccountSettings],
        limiter: LimiterSettings,
        lease_ttl_s: float,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._accounts = tuple(accounts)
        self._limiter = limiter
        self._room = WaitingRoom(redis, prefix)
        self._admit = redis.register_script(_ADMIT)
        self._started = redis.register_script(_STARTED)
        self._config: dict[str, str] = {}
        self._base = {
            **params(limiter),
            "lease_ttl_ms": max(1, round(lease_ttl_s * 1000)),
            "busy_ms": max(1, round(limiter.dispatch_interval_s * 1000)),
            "lanes": list(LANES),
            "terminal": {state.value: True for state in TERMINAL_STATES},
            "skip_max": SKIP_MAX,
            "burst_s": DEFAULT_BURST_S,
            "admitted_max": limiter.admitted_max,
        }

    def serves(self, model: str) -> bool:
        """Whether any account runs ``model``."""
        return any(account.serves(model) for account in self._accounts)

    def park(
        self, job_id: str, model: str, lane: Lane | str, tenant: str, *, first: bool = False
    ) -> bool:
        """Put a job in its model's waiting room.

        Args:
            job_id: The job.
            model: Its model.
            lane: Its priority lane.
            tenant: Its tenant (weighted by ``limiter.tenant_weights``).
            first: Put it first in its tenant's line (it was admitted, then handed back).

        Returns:
            Whether it was parked (False: it already waits, or is admitted).
        """
        weight = self._limiter.weight(tenant)
        return self._room.park(job_id, model, str(lane), tenant, weight, first=first)

    def admit(self, model: str, now_ms: int | None = None) -> Admitted | float | None:
        """Admit the next waiting job of ``model`` (``now_ms``: a clock for tests, shared by
        every caller; default the Redis clock).

        Returns:
            The admitted job; else the seconds until an account may have capacity; None
            when no job of ``model`` waits.
        """
        with translated("admit"):
            answer = self._admit(
                args=[self._prefix, model, "" if now_ms is None else now_ms, self._cfg(model)]
            )
        status = int(answer[0])
        if status == 0:
            return None
        if status < 0:
            return int(answer[1]) / 1000
        job_id, account, lane, tenant = (_text(item) for item in answer[1:5])
        return Admitted(job_id, account, lane, tenant)

    def started(self, job_id: str) -> float | None:
        """The admitted job's submit has begun: it is no longer at risk of a lost message.

        Returns:
            Seconds since it was admitted (Redis clock), None if it was not listed.
        """
        with translated("admission started"):
            lag_ms = self._started(args=[self._prefix, job_id])
        return None if lag_ms is None else int(lag_ms) / 1000

    def stale(self, older_than_s: float) -> list[tuple[str, str]]:
        """Admitted jobs whose submit has not started for ``older_than_s`` (Redis clock),
        with their accounts; each is marked admitted again now (so it is returned once)."""
        with translated("stale admissions"):
            now_s, micros = self._redis.time()
            now_ms = now_s * 1000 + micros // 1000
            found = self._redis.zrangebyscore(
                f"{self._prefix}admitted", "-inf", now_ms - older_than_s * 1000
            )
            job_ids = [_text(item) for item in found]
            if not job_ids:
                return []
            accounts = self._redis.hmget(f"{self._prefix}admitted:account", job_ids)
            self._redis.zadd(f"{self._prefix}admitted", dict.fromkeys(job_ids, now_ms), xx=True)
        return [
            (job_id, _text(account))
            for job_id, account in zip(job_ids, accounts, strict=True)
            if account is not None
        ]

    def placed(self, job_ids: Sequence[str]) -> list[bool]:
        """Whether each job waits in the waiting room or is admitted, in order (a job that is
        neither will not be admitted unless parked again)."""
        if not job_ids:
            return []
        with translated("placed"):
            pipe = self._redis.pipeline(transaction=False)
            pipe.smismember(f"{self._prefix}wait:parked", list(job_ids))
            pipe.zmscore(f"{self._prefix}admitted", list(job_ids))
            parked, admitted = pipe.execute()
        return [bool(p) or a is not None for p, a in zip(parked, admitted, strict=True)]

    def waiting(self) -> dict[str, int]:
        """Jobs waiting per model."""
        with translated("waiting counts"):
            counts = self._redis.hgetall(f"{self._prefix}wait:counts")
        return {_text(model): int(n) for model, n in counts.items() if int(n) > 0}

    def _cfg(self, model: str) -> str:
        cfg = self._config.get(model)
        if cfg is None:
            accounts = [
                {
                    "name": account.name,
                    **model_limits(account, model),
                    "burst": self._limiter.submit_burst,
                }
                for account in self._accounts
                if account.serves(model)
            ]
            cfg = self._config[model] = encode({**self._base, "accounts": accounts})
        return cfg


def _text(item: object) -> str:
    return item.decode() if isinstance(item, bytes) else str(item)
