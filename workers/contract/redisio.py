"""The contract's boundary with redis-py: its errors translated through one table, its replies
decoded.

The stores of this package (:class:`~workers.contract.jobstore.JobStore`,
:class:`~workers.contract.taskowners.TaskOwners`) run every Redis call inside
:func:`translated`, so their callers only ever see the project's tree: a failure that may pass
(the server unreachable, slow, loading its data, a read-only replica after a failover) is
:class:`~workers.errors.RedisUnavailable`; one that the same call meets again (a script error,
a wrong key type, bad credentials, a missing permission) is
:class:`~workers.errors.RedisRejected`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import Final

from redis import exceptions as rx

from workers.errors import RedisRejected, RedisUnavailable

_Translated = type[RedisUnavailable] | type[RedisRejected]

REDIS_ERRORS: Final[Mapping[type[Exception], _Translated]] = MappingProxyType(
    {
        # The server could not serve the call now; the same call may pass later.
        rx.ConnectionError: RedisUnavailable,
        rx.TimeoutError: RedisUnavailable,
        rx.BusyLoadingError: RedisUnavailable,
        rx.MaxConnectionsError: RedisUnavailable,
        rx.ExternalAuthProviderError: RedisUnavailable,
        rx.InvalidResponse: RedisUnavailable,
        rx.ReadOnlyError: RedisUnavailable,
        rx.OutOfMemoryError: RedisUnavailable,
        rx.NoScriptError: RedisUnavailable,
        rx.TryAgainError: RedisUnavailable,
        rx.WatchError: RedisUnavailable,
        rx.ClusterError: RedisUnavailable,
        rx.ClusterDownError: RedisUnavailable,
        rx.MasterDownError: RedisUnavailable,
        rx.AskError: RedisUnavailable,
        rx.MovedError: RedisUnavailable,
        rx.SlotNotCoveredError: RedisUnavailable,
        # The same call will meet the same answer: a bug, a misconfiguration.
        rx.RedisError: RedisRejected,
        rx.ResponseError: RedisRejected,
        rx.DataError: RedisRejected,
        rx.PubSubError: RedisRejected,
        rx.ExecAbortError: RedisRejected,
        rx.NoPermissionError: RedisRejected,
        rx.ModuleError: RedisRejected,
        rx.NoSuchFieldsetError: RedisRejected,
        rx.LockError: RedisRejected,
        rx.LockNotOwnedError: RedisRejected,
        rx.AuthenticationError: RedisRejected,
        rx.AuthorizationError: RedisRejected,
        rx.AuthenticationWrongNumberOfArgsError: RedisRejected,
        rx.ClusterCrossSlotError: RedisRejected,
        rx.RedisClusterException: RedisRejected,
        rx.CrossSlotTransactionError: RedisRejected,
        rx.InvalidPipelineStack: RedisRejected,
        rx.IncorrectPolicyType: RedisRejected,
        rx.ChildDeadlockedError: RedisRejected,
    }
)
"""Every exception class of ``redis.exceptions`` and the project error it becomes."""

_CAUGHT: Final = tuple(REDIS_ERRORS)


def translate(operation: str, exc: Exception) -> RedisUnavailable | RedisRejected:
    """The project error for a redis-py exception (its nearest class in :data:`REDIS_ERRORS`).

    Args:
        operation: What was attempted (the store's method: ``get``, ``transition``, ...).
        exc: What redis-py raised.
    """
    kind = next(
        (REDIS_ERRORS[cls] for cls in type(exc).__mro__ if cls in REDIS_ERRORS), RedisRejected
    )
    message = f"{type(exc).__name__}: {exc}"
    if kind is RedisUnavailable:
        return RedisUnavailable(operation, message)
    return RedisRejected(operation, type(exc).__name__, str(exc))


@contextmanager
def translated(operation: str) -> Iterator[None]:
    """Run Redis calls; a redis-py exception leaves as the project's error, ``from`` it.

    Raises:
        RedisUnavailable: Redis could not serve the call now (retryable).
        RedisRejected: Redis refused the call for good.
    """
    try:
        yield
    except _CAUGHT as exc:
        raise translate(operation, exc) from exc


def text(value: object) -> str:
    """A Redis reply as text, whether the client decodes responses or not."""
    return value.decode() if isinstance(value, bytes) else str(value)
