"""The index of live jobs, and the sweep's walk over it.

Every job not yet in a terminal state is listed in ``{prefix}live``, scored by the time of its
last change of state (ms). The job store's scripts keep it (:mod:`workers.contract.jobscripts`)
in the same call as the change: a job enters it when it is created, its score moves on with
each new state, and it leaves when the job ends. A change of fields alone (a poll swapping its
token, results recorded one by one) leaves it alone, so the pipeline's hot path costs what it
did. The sweeper (:mod:`workers.pipeline.sweep`) walks it a page at a time, oldest first,
reads a few fields of each job (:class:`LiveJob`), and moves the score of a job it drives on,
so that the job is looked at again only once it had time to move.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from redis import Redis

from workers.contract.records import TIMESTAMP_PREFIX
from workers.contract.redisio import text, translated
from workers.contract.states import JobState

PAGE_SCRIPT: Final = """-- The next page of a sweep over the live jobs (oldest first).
-- KEYS[1] live index (zset: job id -> ms), KEYS[2] cursor (string: rank of the next page)
-- ARGV[1] only jobs scored at most this (ms), ARGV[2] page size
-- Returns {job id, score, job id, score, ...}. After the last page of a pass (fewer jobs than
-- asked) the cursor goes back to 0; a cursor past the end (jobs ended meanwhile) starts the
-- next pass at once. Jobs that move while a pass runs may be skipped or seen twice in it.
local size = tonumber(ARGV[2])
local offset = tonumber(redis.call('GET', KEYS[2]) or '0')
local page = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES',
  'LIMIT', offset, size)
if #page == 0 and offset > 0 then
  offset = 0
  page = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, size)
end
local found = #page / 2
if found < size then offset = 0 else offset = offset + found end
redis.call('SET', KEYS[2], offset)
return page
"""

_FIELDS: Final = (
    "state",
    "created_at",
    "updated_at",
    "intent_at",
    "task_id",
    "poll_token",
    f"{TIMESTAMP_PREFIX}{JobState.PENDING.value}",
    f"{TIMESTAMP_PREFIX}{JobState.STORING.value}",
)
"""The fields of a job record (:mod:`workers.contract.records`) that a sweep reads."""


@dataclass(frozen=True)
class LiveJob:
    """What a sweep reads of a live job: its state, and the times that tell whether it moves.

    Attributes:
        job_id: The job.
        state: Its state.
        changed_at: Its score in the index (epoch s): its last change of state, or the last
            time the sweeper drove it on.
        created_at: When it was created (epoch s).
        updated_at: When its record last changed (every poll's token swap stamps it).
        intent_at: When the submit in progress began (None: none in progress).
        task_id: Its upstream task, once known.
        poll_token: The token of its live poll chain.
        pending_at: When it became PENDING (its upstream task was created).
        storing_at: When it became STORING (its upstream task succeeded).
    """

    job_id: str
    state: JobState
    changed_at: float
    created_at: float
    updated_at: float | None = None
    intent_at: float | None = None
    task_id: str | None = None
    poll_token: str | None = None
    pending_at: float | None = None
    storing_at: float | None = None


@dataclass(frozen=True)
class Unreadable:
    """A listed job whose record no step of the pipeline can follow: an unknown state, or a
    time stamp that is not a finite number.

    Attributes:
        job_id: The job.
        reason: What is wrong with it.
    """

    job_id: str
    reason: str


class LiveIndex:
    """The live jobs of one prefix, and the sweep's position among them.

    Keys (``{prefix}`` is ``Settings.key_prefix``):

    * ``{prefix}live``: sorted set, job id → ms of its last change of state (or of the
      sweeper's last drive); written by the job store's scripts, read and moved on here.
    * ``{prefix}live:cursor``: string, the rank at which the sweep's next page starts.
    * ``{prefix}live:sweeping``: string, the sweeper that holds the current interval's sweep
      (``SET NX PX``: one sweep per interval for the whole fleet).
    * ``{prefix}live:unplaced``: sorted set, waiting job id → when a sweep first found it
      neither waiting nor admitted (epoch s); it is parked again when found so once more.
      A job leaves it when it is parked, found placed, dropped, or ends (the change script).

    It reads the fields of ``{prefix}job:{id}`` listed in :data:`_FIELDS`. Redis failures
    leave as :class:`~workers.errors.RedisUnavailable` or :class:`~workers.errors.RedisRejected`.

    Args:
        redis: A redis-py client (text or bytes responses).
        prefix: Key prefix (``Settings.key_prefix``).
    """

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._key = f"{prefix}live"
        self._page = redis.register_script(PAGE_SCRIPT)

    def claim_sweep(self, owner: str, hold_ms: int) -> bool:
        """Take the current interval's sweep for ``owner`` unless someone holds it; it is
        held ``hold_ms`` (not given back: one sweep per interval)."""
        with translated("claim sweep"):
            return bool(self._redis.set(f"{self._key}:sweeping", owner, nx=True, px=hold_ms))

    def next_page(self, before_ms: float, size: int) -> list[tuple[str, float]]:
        """The next ``size`` jobs scored at most ``before_ms``, oldest first, as
        ``(job id, score in s)``; the walk starts again after its last page (see
        :data:`PAGE_SCRIPT`)."""
        with translated("live page"):
            flat = self._page(keys=[self._key, f"{self._key}:cursor"], args=[before_ms, size])
        pairs = zip(flat[::2], flat[1::2], strict=True)
        return [(text(job_id), float(score) / 1000) for job_id, score in pairs]

    def read(
        self, job_ids: Sequence[str], scores_s: Sequence[float]
    ) -> list[LiveJob | Unreadable | None]:
        """What a sweep needs of each job (None: its record is gone), in order; ``scores_s``
        are their scores (from :meth:`next_page`)."""
        if not job_ids:
            return []
        with translated("live read"):
            pipe = self._redis.pipeline(transaction=False)
            for job_id in job_ids:
                pipe.hmget(f"{self._prefix}job:{job_id}", _FIELDS)
            replies = pipe.execute()
        return [
            _live_job(job_id, score_s, values)
            for job_id, score_s, values in zip(job_ids, scores_s, replies, strict=True)
        ]

    def unplaced_since(self, job_ids: Sequence[str]) -> list[float | None]:
        """When a sweep first found each waiting job neither waiting nor admitted (epoch s),
        None when it did not (see :meth:`mark_unplaced`)."""
        if not job_ids:
            return []
        with translated("live unplaced"):
            found = self._redis.zmscore(f"{self._key}:unplaced", list(job_ids))
        return [None if at is None else float(at) for at in found]

    def mark_unplaced(self, job_ids: Sequence[str], at_s: float) -> None:
        """Record that a sweep found these waiting jobs neither waiting nor admitted at
        ``at_s``."""
        if job_ids:
            with translated("live unplaced"):
                self._redis.zadd(f"{self._key}:unplaced", dict.fromkeys(job_ids, at_s))

    def forget_unplaced_before(self, at_s: float) -> None:
        """Forget the findings of :meth:`mark_unplaced` older than ``at_s`` (epoch s): jobs
        that moved on and were not looked at since."""
        with translated("live unplaced"):
            self._redis.zremrangebyscore(f"{self._key}:unplaced", "-inf", at_s)

    def clear_unplaced(self, job_ids: Sequence[str]) -> None:
        """Forget the findings of :meth:`mark_unplaced` for these jobs."""
        if job_ids:
            with translated("live unplaced"):
                self._redis.zrem(f"{self._key}:unplaced", *job_ids)

    def add_missing(self, scores_ms: Mapping[str, float]) -> int:
        """List jobs that are not listed yet, with these scores (ms); how many were added."""
        if not scores_ms:
            return 0
        with translated("live add"):
            added = self._redis.zadd(self._key, dict(scores_ms), nx=True)
        return int(added or 0)

    def touch(self, job_ids: Sequence[str], at_s: float) -> None:
        """Move the scores of listed jobs on to ``at_s`` (never back; jobs no longer listed
        are not listed again)."""
        if job_ids:
            with translated("live touch"):
                self._redis.zadd(self._key, dict.fromkeys(job_ids, at_s * 1000), xx=True, gt=True)

    def drop(self, job_ids: Sequence[str]) -> None:
        """Take jobs out of the index (their records are terminal, gone or unreadable), and
        forget their findings (:meth:`mark_unplaced`)."""
        if job_ids:
            with translated("live drop"):
                pipe = self._redis.pipeline(transaction=False)
                pipe.zrem(self._key, *job_ids)
                pipe.zrem(f"{self._key}:unplaced", *job_ids)
                pipe.execute()

    def score_s(self, job_id: str) -> float | None:
        """A job's score (epoch s), None when it is not listed."""
        with translated("live score"):
            score = self._redis.zscore(self._key, job_id)
        return None if score is None else float(score) / 1000

    def size(self) -> int:
        """How many jobs are listed."""
        with translated("live size"):
            return int(self._redis.zcard(self._key))


def _live_job(job_id: str, score_s: float, values: Sequence[object]) -> LiveJob | Unreadable | None:
    """The sweep's view of a record; None when it is gone."""
    try:
        return _parse_live_job(job_id, score_s, values)
    except ValueError as exc:
        return Unreadable(job_id, str(exc))


def _parse_live_job(job_id: str, score_s: float, values: Sequence[object]) -> LiveJob | None:
    state, created, updated, intent, task, token, pending, storing = (
        None if value is None else text(value) for value in values
    )
    if state is None:
        return None
    return LiveJob(
        job_id=job_id,
        state=JobState(state),
        changed_at=score_s,
        created_at=_seconds(created) or score_s,
        updated_at=_seconds(updated),
        intent_at=_seconds(intent),
        task_id=task,
        poll_token=token,
        pending_at=_seconds(pending),
        storing_at=_seconds(storing),
    )


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    seconds = float(value)
    if not math.isfinite(seconds):
        raise ValueError(f"a time stamp is not finite: {value!r}")
    return seconds
