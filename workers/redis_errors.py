"""Redis and broker failures in the workers' own Redis calls, translated into the error tree.

The limiter, the intents set, the scheduler and the task bodies talk to Redis directly or
through kombu. redis-py's exceptions go through the one table of
:mod:`workers.contract.redisio` (unreachable, slow, loading, read-only: retryable
:class:`~workers.errors.RedisUnavailable`; a script error or a wrong key type: permanent
:class:`~workers.errors.RedisRejected`). kombu wraps a connection failure on publish in its
``OperationalError``, which is retryable too. A Redis that does not answer is a passing
condition, not a reason to fail a job.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import kombu.exceptions

from workers.contract.redisio import translated as redis_translated
from workers.errors import RedisUnavailable


@contextmanager
def translated(operation: str) -> Iterator[None]:
    """Re-raise a Redis or broker failure inside the block as the project's error, ``from`` it.

    Args:
        operation: What was attempted, for the message (``acquire``, ``send_task``...).

    Raises:
        RedisUnavailable: Redis or the broker could not serve the call now (retryable).
        RedisRejected: Redis refused the call for good.
    """
    try:
        with redis_translated(operation):
            yield
    except kombu.exceptions.OperationalError as exc:
        raise RedisUnavailable(operation, f"{type(exc).__name__}: {exc}") from exc
