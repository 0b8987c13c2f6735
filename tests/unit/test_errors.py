"""The error tree: every error survives the queue (rebuilt from JSON-safe args)."""

from __future__ import annotations

import inspect
import json
import pickle

import pytest

import workers.errors as errors
from workers.errors import PermanentError, RetryableError, WanqError

SAMPLES: list[WanqError] = [
    errors.UpstreamThrottled("Throttling", "slow down", "rid", 429, 1.5),
    errors.UpstreamUnavailable("Timeout", "no answer", None, None),
    errors.StorageUnavailable("put_object", "EndpointConnectionError"),
    errors.RedisUnavailable("send_task", "ConnectionError: refused"),
    errors.InputInvalid("size", "must be 1K or 2K", "3K"),
    errors.UpstreamRejected("InvalidParameter", "bad", "rid", 400),
    errors.UpstreamAuthFailed("InvalidApiKey", "bad key", "rid", 401),
    errors.ResultExpired(0, "https://oss/x.png answered HTTP 403"),
    errors.ResultRefused(1, "TooLarge", "more than 10 bytes"),
    errors.StorageRejected("put_object", "NoSuchBucket", "no bucket"),
    errors.RedisRejected("transition", "ResponseError", "ERR user_script:1: bad"),
    errors.SubmitAmbiguous("ReadTimeout", "lost", "rid"),
]


def test_every_error_class_has_a_sample() -> None:
    classes = {
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, WanqError)
        and cls not in (WanqError, RetryableError, PermanentError)
        and not cls.__name__.startswith("_")  # private bases are never raised
    }
    assert classes == {type(sample) for sample in SAMPLES}


@pytest.mark.parametrize("exc", SAMPLES, ids=lambda exc: type(exc).__name__)
def test_errors_rebuild_from_json_args(exc: WanqError) -> None:
    args = json.loads(json.dumps(exc.args))
    rebuilt = type(exc)(*args)
    assert str(rebuilt) == str(exc)
    assert vars(rebuilt) == vars(exc)
    assert str(pickle.loads(pickle.dumps(exc))) == str(exc)


def test_new_leaves_are_on_the_permanent_branch() -> None:
    for cls in (errors.ResultExpired, errors.ResultRefused, errors.StorageRejected):
        assert issubclass(cls, PermanentError)
