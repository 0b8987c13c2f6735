"""Listing in the live index the jobs that were written without it.

The job store's create script lists every new job in ``{prefix}live``
(:mod:`workers.contract.live`). A record written some other way, by a producer of a version
before the index (still running while a fleet upgrades) for example, is listed only when a
worker first changes its state; one whose producer died before parking it would wait unseen.
So every ``every_s`` the sweeper walks the batches that were active since the previous walk
began (``{prefix}batches`` is scored by activity) and lists their live jobs the index lacks,
at most ``budget`` records per sweep, resuming where the last sweep stopped. A job that ends
while it is being listed may be listed again; the sweep drops it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

from redis import Redis

from workers.contract.live import LiveIndex
from workers.contract.redisio import text, translated
from workers.contract.states import TERMINAL_STATES

SKEW_MARGIN_S: Final = 300.0
"""A walk also takes the batches active this long before the previous walk began: clock skew
between the processes that stamp them, and the time a walk takes to read a batch."""
_TERMINAL_VALUES: Final = frozenset(state.value for state in TERMINAL_STATES)
_FIELDS: Final = ("state", "updated_at", "created_at")


class Backfill:
    """The walks that list unlisted live jobs (see the module's doc); driven by the sweeper,
    one step per sweep of the process that holds the sweep.

    Keys (``{prefix}`` is ``Settings.key_prefix``):

    * ``{prefix}live:backfill``: hash, the walk under way: ``since`` (epoch s: batches active
      since then are walked), ``began`` (epoch s), ``batch`` (the batch being walked: batches
      are walked in name order) and ``offset`` (the rank of its next job). Absent between walks.
    * ``{prefix}live:backfilled``: string, when the last complete walk began (epoch s).

    It reads ``{prefix}batches``, ``{prefix}batch:{name}`` and three fields of
    ``{prefix}job:{id}``, and adds to ``{prefix}live`` through :class:`LiveIndex`.

    Args:
        redis: A redis-py client (text or bytes responses).
        prefix: Key prefix (``Settings.key_prefix``).
        live: The live index of the same prefix.
    """

    def __init__(self, redis: Redis, prefix: str, live: LiveIndex) -> None:
        self._redis = redis
        self._prefix = prefix
        self._live = live
        self._walk_key = f"{prefix}live:backfill"
        self._done_key = f"{prefix}live:backfilled"

    def step(self, now_s: float, budget: int, every_s: float) -> int:
        """Walk on by up to ``budget`` job records, starting a walk when the last one began
        ``every_s`` ago or more (or none ever ran).

        Returns:
            How many jobs it listed.
        """
        with translated("live backfill"):
            walk = {text(k): text(v) for k, v in self._redis.hgetall(self._walk_key).items()}
            if not walk:
                last = self._redis.get(self._done_key)
                last_s = None if last is None else float(text(last))
                if last_s is not None and now_s - last_s < every_s:
                    return 0
                since_s = 0.0 if last_s is None else last_s - SKEW_MARGIN_S
                walk = {"since": repr(since_s), "began": repr(now_s), "batch": "", "offset": "0"}
            listed, batch, offset = self._walk(walk, budget)
            if batch is None:
                self._redis.set(self._done_key, walk["began"])
                self._redis.delete(self._walk_key)
            else:
                walk.update(batch=batch, offset=str(offset))
                self._redis.hset(self._walk_key, mapping=dict(walk.items()))
        return listed

    def _walk(self, walk: dict[str, str], budget: int) -> tuple[int, str | None, int]:
        """Read up to ``budget`` records from the walk's position; (listed, batch, offset)
        where it stopped, batch None when the walk is over."""
        names = sorted(
            text(name)
            for name in self._redis.zrangebyscore(f"{self._prefix}batches", walk["since"], "+inf")
        )
        batch, offset = walk["batch"], int(walk["offset"])
        listed = 0
        for name in (n for n in names if n >= batch):
            if name != batch:
                offset = 0
            while budget > 0:
                key = f"{self._prefix}batch:{name}"
                ids = [text(i) for i in self._redis.zrange(key, offset, offset + budget - 1)]
                listed += self._list_missing(ids)
                offset += len(ids)
                budget -= len(ids)
                if len(ids) == 0 or budget > 0:
                    break  # this batch is done
            if budget <= 0:
                return listed, name, offset
        return listed, None, 0

    def _list_missing(self, job_ids: Sequence[str]) -> int:
        if not job_ids:
            return 0
        pipe = self._redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hmget(f"{self._prefix}job:{job_id}", _FIELDS)
        replies = pipe.execute()
        scores_ms: dict[str, float] = {}
        for job_id, (state, updated, created) in zip(job_ids, replies, strict=True):
            at_ms = live_since_ms(state, updated if updated is not None else created)
            if at_ms is not None:
                scores_ms[job_id] = at_ms
        return self._live.add_missing(scores_ms)


def live_since_ms(state: object, changed_at_s: object) -> float | None:
    """The live-index score (ms) of a record with this state and last change (epoch s); None
    when it is gone, terminal, or unreadable (a record no step of the pipeline can follow)."""
    if state is None or changed_at_s is None or text(state) in _TERMINAL_VALUES:
        return None
    try:
        seconds = float(text(changed_at_s))
    except ValueError:
        return None
    return seconds * 1000 if math.isfinite(seconds) else None
