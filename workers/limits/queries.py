"""The account's query budget (DashScope: 20 task-status queries per second, all keys and
models together), shared by every poller in the fleet.

A GCRA with reservations: each caller is given the next free instant and waits until then
(a poll is scheduled for that instant instead of being throttled), so the budget is spent
evenly and no poll starves. As tasks in flight grow, each task is polled less often. A 429
answered to a query anyway (another client on the same account) pushes every reservation back
by the pause.

Keys (``{p}`` is ``Settings.key_prefix``):

* ``{p}queries:{account}``: the theoretical arrival time of the next query (ms).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from redis import Redis

from config.accounts import AccountSettings
from workers.limits.admission import DEFAULT_BURST_S
from workers.limits.lua import NOW, script
from workers.redis_errors import translated

_RESERVE: Final = script(
    NOW,
    """-- Reserve the next query instant of an account.
-- KEYS[1] tat: the theoretical arrival time of the next query (ms)
-- ARGV[1] interval (ms), ARGV[2] tolerance (ms: (burst - 1) * interval), ARGV[3] pause (ms,
-- 0 for a plain reservation; > 0 pushes every reservation back to now + pause, reserving
-- nothing), ARGV[4] now (ms; empty: the Redis clock)
-- Returns the milliseconds to wait before querying (0: now).
--END HEADER
local now = now_ms(ARGV[4])
local interval, tolerance, pause = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if pause > 0 then
  tat = math.max(tat, now + pause)
  redis.call('SET', KEYS[1], tostring(tat), 'PX', math.ceil(tat - now) + 60000)
  return 0
end
if tat < now then tat = now end
local wait = math.max(0, tat - tolerance - now)
redis.call('SET', KEYS[1], tostring(tat + interval), 'PX', math.ceil(tat + interval - now) + 60000)
return math.ceil(wait)
""",
)


class QueryBudget:
    """Reservations against each account's query budget.

    Args:
        redis: A redis-py client.
        prefix: Key prefix.
        accounts: The upstream accounts (their ``query_rps``).
        burst: Queries one account may send back to back (0: half a second's worth, a
            margin under the upstream's own burst for the jitter of arrival).
    """

    def __init__(
        self, redis: Redis, prefix: str, accounts: Sequence[AccountSettings], burst: float
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._interval_ms = {a.name: 1000.0 / a.query_rps for a in accounts}
        self._burst = {a.name: burst or max(1.0, a.query_rps * DEFAULT_BURST_S) for a in accounts}
        self._reserve = redis.register_script(_RESERVE)

    def reserve(self, account: str, now_ms: int | None = None) -> float:
        """Reserve one query; returns the seconds to wait before sending it (0: now)."""
        return self._call(account, 0, now_ms) / 1000

    def pause(self, account: str, pause_s: float, now_ms: int | None = None) -> None:
        """Push every reservation of ``account`` back by ``pause_s`` (a 429 to a query)."""
        self._call(account, max(1, round(pause_s * 1000)), now_ms)

    def _call(self, account: str, pause_ms: int, now_ms: int | None) -> int:
        interval_ms = self._interval_ms.get(account, 50.0)
        tolerance_ms = (self._burst.get(account, 1.0) - 1) * interval_ms
        with translated("query budget"):
            return int(
                self._reserve(
                    keys=[f"{self._prefix}queries:{account}"],
                    args=[
                        repr(interval_ms),
                        repr(tolerance_ms),
                        pause_ms,
                        "" if now_ms is None else now_ms,
                    ],
                )
            )
