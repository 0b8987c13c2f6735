"""What a 429 does: pause the account and model for the whole fleet, cut its limit, and let
it recover additively; with no limit configured, discover it.

State per account and model, read by admission's ``effective`` (lua.py):

===========  ===================================================================
field        meaning
===========  ===================================================================
r_cut, r_at  the allowed submit rate was set to ``r_cut`` at ``r_at`` (ms)
r_ss         '1' while an unknown rate is in slow start (doubling every
             ``discovery_doubling_s`` until its first 429)
c_cut, c_at  the allowed tasks in flight were set to ``c_cut`` at ``c_at``
paused       no admission before this time (ms)
errors       submits in a row that failed without reaching the upstream
===========  ===================================================================

After a cut the rate grows by ``rate_recovery_per_s`` of ``r_cut`` each second and the tasks in
flight by one every ``in_flight_probe_s``, never past a configured limit. A 429 for the rate
(``Throttling.RateQuota`` and any other throttle of a submit) multiplies the current rate by
``rate_cut``; one for concurrency (``Throttling.AllocationQuota``) sets the allowed tasks in
flight to the leases held minus the refused one: the upstream's count at that moment, at
most. 429s within :data:`SETTLE_MS` of a cut are the same overshoot and cut nothing more. Each
429 pauses admission for its ``Retry-After``, else ``throttle_pause_s``.

A submit that fails without reaching the upstream (a 503 at the door, a refused connection)
pauses the account and model too, for ``unavailable_pause_s`` doubling with each failure in a
row (``errors``) up to ``unavailable_pause_max_s``, with jitter: one lost request costs the
fleet a moment, an outage is probed ever more rarely, never in a hot loop.

Keys (``{p}`` is ``Settings.key_prefix``):

* ``{p}limit:{account}:{model}:state``: hash, the fields above.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Final

from redis import Redis

from config.accounts import AccountSettings, LimiterSettings
from workers.limits.leases import leases_key
from workers.limits.lua import EFFECTIVE, NOW, script
from workers.limits.policy import encode, model_limits, params
from workers.redis_errors import translated

SETTLE_MS: Final = 1000
"""429s this soon after a cut answer submits sent before it: they cut nothing more."""


class ThrottleKind(StrEnum):
    """Which limit a 429 names."""

    RATE = "rate"
    CONCURRENCY = "concurrency"

    @classmethod
    def of(cls, code: str | None) -> ThrottleKind:
        """The kind of a 429's error code (``Throttling.AllocationQuota``: concurrency)."""
        return cls.CONCURRENCY if code and "AllocationQuota" in code else cls.RATE


_THROTTLED: Final = script(
    NOW,
    EFFECTIVE,
    """-- A submit was answered 429: pause, and cut the limit it names.
-- KEYS[1] state hash, KEYS[2] leases zset (the refused job's lease still in it)
-- ARGV[1] kind ('rate' | 'concurrency'), ARGV[2] pause (ms), ARGV[3] now (ms; empty: Redis),
-- ARGV[4] JSON {rate, conc, rate_cut, settle_ms, ttl_ms, and the parameters of `effective`}
-- Returns {allowed rate (string), allowed tasks in flight} after the cut.
--END HEADER
local now = now_ms(ARGV[3])
local cfg = cjson.decode(ARGV[4])
local st = redis.call('HMGET', KEYS[1], 'r_cut', 'r_at', 'r_ss', 'c_cut', 'c_at', 'paused')
local rate, conc = effective(st, now, cfg, cfg)
if ARGV[1] == 'concurrency' then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  local held = math.max(1, redis.call('ZCARD', KEYS[2]) - 1)
  local c_at = tonumber(st[5])
  if c_at and now - c_at < cfg.settle_ms then held = math.min(held, tonumber(st[4])) end
  conc = math.min(conc, held)
  redis.call('HSET', KEYS[1], 'c_cut', conc, 'c_at', now)
else
  local r_at = tonumber(st[2])
  if st[3] == '1' or not r_at or now - r_at >= cfg.settle_ms then
    rate = math.max(0.01, rate * cfg.rate_cut)
    redis.call('HSET', KEYS[1], 'r_cut', tostring(rate), 'r_at', now, 'r_ss', '0')
  end
end
local paused = math.max(tonumber(st[6]) or 0, now + tonumber(ARGV[2]))
redis.call('HSET', KEYS[1], 'paused', paused)
redis.call('PEXPIRE', KEYS[1], cfg.ttl_ms)
return {tostring(rate), conc}
""",
)

_UNAVAILABLE: Final = script(
    NOW,
    """-- A submit failed without reaching the upstream (5xx at the door, refused connection):
-- pause the account and model, longer with each failure in a row.
-- KEYS[1] state hash
-- ARGV[1] first pause (ms), ARGV[2] longest pause (ms), ARGV[3] jitter factor (0.5..1),
-- ARGV[4] now (ms; empty: the Redis clock), ARGV[5] state ttl (ms)
-- Returns the pause (ms).
--END HEADER
local now = now_ms(ARGV[4])
local errors = redis.call('HINCRBY', KEYS[1], 'errors', 1)
local pause = math.min(tonumber(ARGV[2]), tonumber(ARGV[1]) * 2 ^ (errors - 1))
pause = math.floor(pause * tonumber(ARGV[3]))
local paused = tonumber(redis.call('HGET', KEYS[1], 'paused')) or 0
redis.call('HSET', KEYS[1], 'paused', math.max(paused, now + pause))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[5]))
return pause
""",
)

STATE_TTL_S: Final = 7 * 24 * 3600
"""How long a learned limit is remembered without a new 429."""


class Throttle:
    """Feedback from the upstream's 429 answers to submits (see the module's doc).

    Args:
        redis: A redis-py client.
        prefix: Key prefix.
        accounts: The upstream accounts.
        limiter: The limiter's settings.
    """

    def __init__(
        self,
        redis: Redis,
        prefix: str,
        accounts: Sequence[AccountSettings],
        limiter: LimiterSettings,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._accounts = {account.name: account for account in accounts}
        self._limiter = limiter
        self._throttled = redis.register_script(_THROTTLED)
        self._unavailable = redis.register_script(_UNAVAILABLE)
        self._base = {
            **params(limiter),
            "rate_cut": limiter.rate_cut,
            "settle_ms": SETTLE_MS,
            "ttl_ms": STATE_TTL_S * 1000,
        }

    def throttled(
        self,
        account: str,
        model: str,
        kind: ThrottleKind,
        retry_after_s: float | None = None,
        now_ms: int | None = None,
    ) -> tuple[float, int]:
        """Record a 429 to a submit of ``model`` on ``account`` (before its lease goes back).

        Returns:
            The allowed submit rate and tasks in flight after the cut.
        """
        pause_s = retry_after_s if retry_after_s is not None else self._limiter.throttle_pause_s
        found = self._accounts.get(account)
        limits = model_limits(found, model) if found else {"rate": 0.0, "conc": 0}
        base = f"{self._prefix}limit:{account}:{model}"
        with translated("throttled"):
            rate, conc = self._throttled(
                keys=[f"{base}:state", leases_key(self._prefix, account, model)],
                args=[
                    kind.value,
                    max(0, round(pause_s * 1000)),
                    "" if now_ms is None else now_ms,
                    encode({**self._base, **limits}),
                ],
            )
        return float(rate), int(conc)

    def unavailable(
        self, account: str, model: str, jitter: float = 1.0, now_ms: int | None = None
    ) -> float:
        """Record a submit that failed without reaching the upstream: admission to the account
        and model pauses for ``unavailable_pause_s``, doubling with each failure in a row up
        to ``unavailable_pause_max_s``, times ``jitter`` (0.5 to 1). Returns the pause (s)."""
        limiter = self._limiter
        with translated("unavailable"):
            pause_ms = self._unavailable(
                keys=[self._state_key(account, model)],
                args=[
                    round(limiter.unavailable_pause_s * 1000),
                    round(limiter.unavailable_pause_max_s * 1000),
                    repr(min(1.0, max(0.5, jitter))),
                    "" if now_ms is None else now_ms,
                    STATE_TTL_S * 1000,
                ],
            )
        return int(pause_ms) / 1000

    def available(self, account: str, model: str) -> None:
        """A submit reached the upstream: the run of failures (and its growing pause) ends."""
        with translated("available"):
            self._redis.hdel(self._state_key(account, model), "errors")

    def _state_key(self, account: str, model: str) -> str:
        return f"{self._prefix}limit:{account}:{model}:state"

    def state(self, account: str, model: str) -> dict[str, str]:
        """The raw adaptive state (for metrics and tests)."""
        with translated("throttle state"):
            raw = self._redis.hgetall(f"{self._prefix}limit:{account}:{model}:state")
        return {_text(k): _text(v) for k, v in raw.items()}


def _text(item: object) -> str:
    return item.decode() if isinstance(item, bytes) else str(item)
