"""The one table translating redis-py's exceptions: complete, and each class on its branch."""

from __future__ import annotations

import inspect
import json

import pytest
from redis import exceptions as rx

from workers.contract.redisio import REDIS_ERRORS, text, translate, translated
from workers.errors import PermanentError, RedisRejected, RedisUnavailable, RetryableError

REDIS_EXCEPTIONS = {
    cls
    for _, cls in inspect.getmembers(rx, inspect.isclass)
    if issubclass(cls, Exception) and cls.__module__ == rx.__name__
}
RETRYABLE = {
    rx.ConnectionError,
    rx.TimeoutError,
    rx.BusyLoadingError,
    rx.ReadOnlyError,
    rx.MaxConnectionsError,
    rx.TryAgainError,
    rx.ClusterDownError,
}
PERMANENT = {
    rx.RedisError,
    rx.ResponseError,
    rx.DataError,
    rx.NoPermissionError,
    rx.AuthenticationError,
    rx.AuthorizationError,
}


def test_the_table_covers_every_redis_exception() -> None:
    assert REDIS_EXCEPTIONS - set(REDIS_ERRORS) == set()
    assert set(REDIS_ERRORS) - REDIS_EXCEPTIONS == set()


def test_the_table_maps_onto_the_two_branches() -> None:
    assert set(REDIS_ERRORS.values()) == {RedisUnavailable, RedisRejected}
    assert issubclass(RedisUnavailable, RetryableError)
    assert issubclass(RedisRejected, PermanentError)
    assert all(REDIS_ERRORS[cls] is RedisUnavailable for cls in RETRYABLE)
    assert all(REDIS_ERRORS[cls] is RedisRejected for cls in PERMANENT)


@pytest.mark.parametrize("cls", sorted(REDIS_EXCEPTIONS, key=lambda cls: cls.__name__))
def test_each_exception_becomes_a_json_safe_project_error(cls: type[Exception]) -> None:
    exc = cls("3999 127.0.0.1:6381")  # the form MovedError and AskError parse
    error = translate("get", exc)
    assert type(error) is REDIS_ERRORS[cls]
    rebuilt = type(error)(*json.loads(json.dumps(error.args)))
    assert str(rebuilt) == str(error) and str(error).startswith("get: ")


def test_an_unknown_subclass_takes_its_nearest_listed_class() -> None:
    class FutureLoadingError(rx.BusyLoadingError):
        pass

    assert isinstance(translate("states", FutureLoadingError("later")), RedisUnavailable)


def test_translated_re_raises_from_the_redis_exception() -> None:
    cause = rx.ReadOnlyError("READONLY You can't write against a read only replica.")
    with pytest.raises(RedisUnavailable) as caught, translated("transition"):
        raise cause
    assert caught.value.__cause__ is cause
    assert caught.value.operation == "transition" and "ReadOnlyError" in caught.value.message


def test_translated_lets_other_exceptions_through() -> None:
    with pytest.raises(ValueError, match="not redis"), translated("update"):
        raise ValueError("not redis")


def test_text_decodes_either_kind_of_reply() -> None:
    assert text(b"abc") == text("abc") == "abc"
