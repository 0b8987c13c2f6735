"""The outbox: jobs whose record exists but whose submit message is not known to be sent.

A job is recorded first and its message sent second; the two cannot be one atomic step (the
job store and the broker are different structures, possibly different servers). So a
producer writes the job id here *before* creating the record, and removes it once the
broker has taken the message. Whatever dies in between (the producer, the network, the
broker) leaves the id here:

* a retry of the submit with the same ``custom_id`` finds the job, sees it unsent and still
  QUEUED, and sends it;
* :meth:`WanQueue.redrive <producers.api.WanQueue.redrive>` (``wanq redrive``, from cron or by
  hand) sends every QUEUED job that has stayed here longer than a grace period.

A message sent twice is harmless (the submit task is idempotent: the job store lets one
submit begin); a message never sent would leave the job QUEUED for ever.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

from redis import Redis

from producers.constants import CHUNK, UNSENT_KEY


class Outbox:
    """The producer's one Redis key.

    Keys:

    * ``{prefix}producer:unsent``: sorted set of job ids scored by when a producer began
      to enqueue them (epoch seconds).

    Args:
        redis: A redis-py client.
        prefix: Key prefix (``Settings.key_prefix``).
    """

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self.key = f"{prefix}{UNSENT_KEY}"

    def add(self, job_ids: Sequence[str], now_s: float | None = None) -> None:
        """Mark jobs as about to be recorded and sent (before the records exist)."""
        if not job_ids:
            return
        score = time.time() if now_s is None else now_s
        for start in range(0, len(job_ids), CHUNK):
            part = job_ids[start : start + CHUNK]
            self._redis.zadd(self.key, dict.fromkeys(part, score))

    def discard(self, job_ids: Iterable[str]) -> None:
        """Forget jobs: sent, or never recorded."""
        ids = list(job_ids)
        for start in range(0, len(ids), CHUNK):
            self._redis.zrem(self.key, *ids[start : start + CHUNK])

    def unsent_among(self, job_ids: Sequence[str]) -> set[str]:
        """Which of these jobs are here (not known to be sent)."""
        found: set[str] = set()
        for start in range(0, len(job_ids), CHUNK):
            part = job_ids[start : start + CHUNK]
            scores = self._redis.zmscore(self.key, list(part))
            found.update(
                job_id for job_id, score in zip(part, scores, strict=True) if score is not None
            )
        return found

    def older_than(
        self, age_s: float, *, limit: int = CHUNK, now_s: float | None = None
    ) -> list[str]:
        """Up to ``limit`` jobs that entered more than ``age_s`` ago, oldest first."""
        now = time.time() if now_s is None else now_s
        ids = self._redis.zrangebyscore(self.key, "-inf", now - age_s, start=0, num=limit)
        return [job_id.decode() if isinstance(job_id, bytes) else str(job_id) for job_id in ids]

    def __len__(self) -> int:
        return int(self._redis.zcard(self.key))
