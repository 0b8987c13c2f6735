"""workers.redis_errors: Redis and broker failures become the project's errors."""

from __future__ import annotations

import kombu.exceptions
import pytest
import redis.exceptions

from workers.errors import RedisRejected, RedisUnavailable, RetryableError
from workers.redis_errors import translated


@pytest.mark.parametrize(
    "exc",
    [
        redis.exceptions.ConnectionError("refused"),
        redis.exceptions.TimeoutError("slow"),
        redis.exceptions.BusyLoadingError("loading"),
        redis.exceptions.ReadOnlyError("replica"),
        kombu.exceptions.OperationalError("Error 111"),
    ],
)
def test_connection_failures_are_retryable(exc: Exception) -> None:
    with pytest.raises(RedisUnavailable) as info, translated("op"):
        raise exc
    assert isinstance(info.value, RetryableError) and info.value.__cause__ is exc
    assert str(info.value).startswith("op: ")


def test_a_refused_call_is_permanent() -> None:
    with pytest.raises(RedisRejected) as info, translated("op"):
        raise redis.exceptions.ResponseError("WRONGTYPE")
    assert isinstance(info.value.__cause__, redis.exceptions.ResponseError)
