"""adapters.s3: the one botocore table, the client factory, and the s3:// input check."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import botocore.exceptions as bce
import pytest
from pydantic import SecretStr

from adapters.s3 import (
    CODE_RULES,
    EXCEPTION_RULES,
    TRANSLATED_EXCEPTIONS,
    Outcome,
    check_input_ref,
    is_not_found,
    rule_for,
    s3_client,
    translate,
    translated,
)
from config import S3Settings
from workers.errors import InputInvalid, StorageRejected, StorageUnavailable

REVIEWED_RETRYABLE = frozenset(
    {
        "CapacityNotAvailableError",
        "ChecksumError",
        "ConnectTimeoutError",
        "ConnectionClosedError",
        "ConnectionError",
        "CredentialRetrievalError",
        "EndpointConnectionError",
        "FlexibleChecksumError",
        "HTTPClientError",
        "IncompleteReadError",
        "MetadataRetrievalError",
        "ProxyConnectionError",
        "ReadTimeoutError",
        "ResponseStreamingError",
        "SSLError",
    }
)
"""Every botocore class (ClientError aside) that the table makes retryable, reviewed by hand."""


def botocore_exceptions() -> list[type[Exception]]:
    """Every exception class botocore.exceptions defines (no pre-filtering by base class)."""
    return [
        cls
        for _, cls in inspect.getmembers(bce, inspect.isclass)
        if issubclass(cls, Exception) and not issubclass(cls, Warning)
    ]


def instance(cls: type[Exception]) -> Exception:
    if issubclass(cls, bce.ClientError):
        return cls({"Error": {"Code": "X"}}, "op")
    exc = cls.__new__(cls)
    Exception.__init__(exc, "boom")
    return exc


def uncovered(rules: Mapping[type[Exception], Outcome]) -> list[str]:
    """Classes that a caller catching ``tuple(rules)`` would let escape untranslated."""
    caught = tuple(rules)
    return [cls.__name__ for cls in botocore_exceptions() if not issubclass(cls, caught)]


def test_every_botocore_exception_is_caught_and_ruled() -> None:
    assert uncovered(EXCEPTION_RULES) == []
    assert set(TRANSLATED_EXCEPTIONS) == set(EXCEPTION_RULES)
    for cls in botocore_exceptions():
        assert isinstance(rule_for(instance(cls)), Outcome), cls
    with pytest.raises(KeyError):
        rule_for(ValueError("not botocore"))


def test_the_completeness_check_can_fail() -> None:
    # The producers' old table caught BotoCoreError and ClientError only.
    old = {bce.BotoCoreError: Outcome.RETRYABLE, bce.ClientError: Outcome.PERMANENT}
    assert "UndefinedModelAttributeError" in uncovered(old)


def test_the_retryable_classes_are_the_reviewed_ones() -> None:
    retryable = {
        cls.__name__
        for cls in botocore_exceptions()
        if not issubclass(cls, bce.ClientError) and rule_for(instance(cls)) is Outcome.RETRYABLE
    }
    # A new botocore class under a retryable branch (or a table change) is reviewed here.
    assert retryable == REVIEWED_RETRYABLE


def _client_error(code: str, status: int) -> bce.ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": "m"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return bce.ClientError(response, "PutObject")


@pytest.mark.parametrize(
    ("code", "status", "outcome"),
    [
        ("SlowDown", 503, Outcome.RETRYABLE),
        ("InternalError", 500, Outcome.RETRYABLE),
        ("BadDigest", 400, Outcome.RETRYABLE),
        ("NoSuchBucket", 404, Outcome.PERMANENT),
        ("AccessDenied", 403, Outcome.PERMANENT),
        ("WhoKnows", 502, Outcome.RETRYABLE),
        ("WhoKnows", 429, Outcome.RETRYABLE),
        ("WhoKnows", 400, Outcome.PERMANENT),
    ],
)
def test_client_errors_by_code_then_status(code: str, status: int, outcome: Outcome) -> None:
    exc = _client_error(code, status)
    assert rule_for(exc) is outcome
    error = translate(exc, "put_object")
    expected = StorageUnavailable if outcome is Outcome.RETRYABLE else StorageRejected
    assert type(error) is expected
    assert code in str(error)


def test_code_rules_are_decided_by_code_alone() -> None:
    assert CODE_RULES["BadDigest"] is Outcome.RETRYABLE
    assert CODE_RULES["NoSuchKey"] is Outcome.PERMANENT


def test_translated_raises_from_the_original() -> None:
    with pytest.raises(StorageUnavailable) as caught, translated("put_object"):
        raise bce.EndpointConnectionError(endpoint_url="http://x")
    assert isinstance(caught.value.__cause__, bce.EndpointConnectionError)
    with pytest.raises(StorageRejected), translated("get_object"):
        raise bce.UndefinedModelAttributeError("broken model")
    assert is_not_found(_client_error("NoSuchKey", 404))
    assert not is_not_found(_client_error("AccessDenied", 403))


def test_one_client_factory_for_every_side() -> None:
    settings = S3Settings(
        endpoint_url="http://127.0.0.1:1",
        access_key_id=SecretStr("AKID"),
        secret_access_key=SecretStr("secret"),
        addressing_style="path",
        connect_timeout_s=1.5,
        read_timeout_s=2.5,
    )
    one = s3_client(settings)
    three = s3_client(settings, max_attempts=3)
    try:
        assert one.meta.config.retries["total_max_attempts"] == 1
        assert three.meta.config.retries["total_max_attempts"] == 3
        assert one.meta.config.connect_timeout == 1.5
        assert one.meta.config.read_timeout == 2.5
        assert one.meta.config.s3["addressing_style"] == "path"
        assert one.meta.endpoint_url == "http://127.0.0.1:1"
    finally:
        one.close()
        three.close()


@pytest.mark.parametrize(
    "ref",
    [
        "s3://wanqueue/inputs/abc.png",
        "S3://wanqueue/inputs/dir/abc.png",
    ],
)
def test_inputs_of_the_bucket_are_accepted(ref: str) -> None:
    bucket, key = check_input_ref(ref, "wanqueue", "inputs/")
    assert bucket == "wanqueue" and key.startswith("inputs/")


@pytest.mark.parametrize(
    "ref",
    [
        "s3://other-bucket/inputs/abc.png",  # a bucket the worker happens to read
        "s3://wanqueue/results/job/0.png",  # the bucket, outside the inputs
        "s3://wanqueue/secrets.txt",
        "s3://wanqueue/inputs/../results/x.png",
        "s3://wanqueue/inputs/./a.png",
        "s3://wanqueue/inputs//a.png",
        "s3://wanqueue",
        "https://wanqueue.s3.amazonaws.com/inputs/a.png",
    ],
)
def test_other_objects_are_refused(ref: str) -> None:
    with pytest.raises(InputInvalid) as caught:
        check_input_ref(ref, "wanqueue", "inputs/", "images[0]")
    assert caught.value.field == "images[0]"
