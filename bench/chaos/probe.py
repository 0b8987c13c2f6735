"""wanqueue's own view during a run, read from Redis: what holds the account's capacity.

Set beside the emulator's view (tasks really in flight upstream, ``upstream_timeline``), it
shows where time goes: slot leases held by jobs whose tasks ended long ago (their next poll
held by a killed worker until the broker's visibility timeout), messages waiting for
redelivery, jobs waiting for admission.

Keys read (``{p}`` is the run's key prefix; layouts documented in ``workers.limits`` and
kombu's Redis transport): ``{p}limit:{account}:{model}:leases`` (sorted set),
``{p}unacked`` (hash of delivered, unacknowledged messages), ``{p}{queue}`` (lists),
``{p}wait:counts`` (hash, model -> jobs waiting), ``{p}admitted`` (sorted set); at the end,
the sweeper's counters ``{p}stats:sweep:{action}``.
"""

from __future__ import annotations

from typing import Any

import redis

from workers.contract.names import QUEUES


class Probe:
    """Samples the pipeline's capacity figures of one account and model.

    Args:
        client: A Redis client of the run.
        prefix: The run's key prefix.
        account: The account.
        model: The model.
    """

    def __init__(self, client: redis.Redis, prefix: str, account: str, model: str) -> None:
        self._client = client
        self._prefix = prefix
        self._leases = f"{prefix}limit:{account}:{model}:leases"

    def sample(self) -> dict[str, Any]:
        """``leases``, ``unacked``, ``queued``, ``waiting``, ``admitted`` now.

        Raises:
            redis.RedisError: Redis did not answer.
        """
        p = self._prefix
        pipe = self._client.pipeline(transaction=False)
        pipe.zcard(self._leases)
        pipe.hlen(f"{p}unacked")
        for queue in QUEUES:
            pipe.llen(f"{p}{queue}")
        pipe.hvals(f"{p}wait:counts")
        pipe.zcard(f"{p}admitted")
        replies = pipe.execute()
        leases, unacked, *rest = replies
        queued, (waiting, admitted) = rest[: len(QUEUES)], rest[len(QUEUES) :]
        return {
            "leases": int(leases),
            "unacked": int(unacked),
            "queued": sum(int(n) for n in queued),
            "waiting": sum(int(n) for n in waiting),
            "admitted": int(admitted),
        }


def sweep_counts(client: redis.Redis, prefix: str) -> dict[str, int]:
    """The sweeper's counters (``{p}stats:sweep:{action}``): how many stuck jobs it drove
    on, by action (reparked, reconciled, repolled, restored, failed, dropped)."""
    head = f"{prefix}stats:sweep:"
    counts: dict[str, int] = {}
    for key in client.scan_iter(match=f"{head}*", count=100):
        name = key.decode() if isinstance(key, bytes) else str(key)
        value = client.get(name)
        counts[name[len(head) :]] = int(value) if value is not None else 0
    return dict(sorted(counts.items()))
