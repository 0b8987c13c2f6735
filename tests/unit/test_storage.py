"""S3Store and its translation table (botocore's Stubber; a closed port for connection errors)."""

from __future__ import annotations

import base64
import hashlib
import inspect
import io
from typing import Any

import botocore.exceptions as bce
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber
from pydantic import SecretStr

from config import S3Settings
from workers.errors import StorageRejected, StorageUnavailable
from workers.storage import (
    CODE_RULES,
    EXCEPTION_RULES,
    Outcome,
    S3Store,
    rule_for,
    s3_client,
    translate,
)

SETTINGS = S3Settings(
    endpoint_url="http://127.0.0.1:1",
    bucket="results",
    access_key_id=SecretStr("AKIDTEST"),
    secret_access_key=SecretStr("secret-test"),
    connect_timeout_s=0.5,
    read_timeout_s=0.5,
)
DATA = b"\x89PNG\r\n\x1a\n fake"
SHA = hashlib.sha256(DATA).hexdigest()


def botocore_exceptions() -> list[type[Exception]]:
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


def test_the_table_covers_every_botocore_exception() -> None:
    for cls in botocore_exceptions():
        assert isinstance(rule_for(instance(cls)), Outcome), cls
    with pytest.raises(KeyError):
        rule_for(ValueError("not botocore"))


def test_the_classes_wanqueue_relies_on_are_listed_by_name() -> None:
    for cls in (
        bce.ConnectionError,
        bce.HTTPClientError,
        bce.NoCredentialsError,
        bce.ParamValidationError,
        bce.ClientError,
        bce.BotoCoreError,
    ):
        assert cls in EXCEPTION_RULES
    retryable = [bce.EndpointConnectionError, bce.ConnectTimeoutError, bce.ReadTimeoutError]
    for cls in retryable:
        assert rule_for(instance(cls)) is Outcome.RETRYABLE, cls
    assert rule_for(instance(bce.NoCredentialsError)) is Outcome.PERMANENT


@pytest.mark.parametrize(
    ("code", "status", "outcome"),
    [
        ("SlowDown", 503, Outcome.RETRYABLE),
        ("InternalError", 500, Outcome.RETRYABLE),
        ("NoSuchBucket", 404, Outcome.PERMANENT),
        ("AccessDenied", 403, Outcome.PERMANENT),
        ("WhoKnows", 502, Outcome.RETRYABLE),
        ("WhoKnows", 429, Outcome.RETRYABLE),
        ("WhoKnows", 400, Outcome.PERMANENT),
    ],
)
def test_client_errors_by_code_then_status(code: str, status: int, outcome: Outcome) -> None:
    exc = bce.ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "PutObject",
    )
    assert rule_for(exc) is outcome
    error = translate(exc, "put_object")
    expected = StorageUnavailable if outcome is Outcome.RETRYABLE else StorageRejected
    assert type(error) is expected
    assert code in str(error)


def test_code_rules_are_decided_by_code_alone() -> None:
    assert CODE_RULES["BadDigest"] is Outcome.RETRYABLE


@pytest.fixture
def stubbed() -> Any:
    client = s3_client(SETTINGS)
    with Stubber(client) as stub:
        yield client, stub


def test_put_sends_checksum_metadata_and_type(stubbed: Any) -> None:
    client, stub = stubbed
    expected = {
        "Bucket": "results",
        "Key": "results/j/0.png",
        "Body": stub_any(),
        "ContentLength": len(DATA),
        "ContentType": "image/png",
        "Metadata": {"job-id": "j", "sha256": SHA},
        "ChecksumSHA256": base64.b64encode(bytes.fromhex(SHA)).decode(),
    }
    stub.add_response("put_object", {}, expected)
    S3Store(client, "results").put(
        "results/j/0.png",
        io.BytesIO(DATA),
        size=len(DATA),
        sha256_hex=SHA,
        content_type="image/png",
        metadata={"job-id": "j"},
    )
    stub.assert_no_pending_responses()


def test_stored_sha256_reads_metadata_and_missing_is_none(stubbed: Any) -> None:
    client, stub = stubbed
    stub.add_response("head_object", {"Metadata": {"sha256": SHA}})
    stub.add_client_error("head_object", "404", http_status_code=404)
    stub.add_client_error("head_object", "AccessDenied", http_status_code=403)
    store = S3Store(client, "results")
    assert store.stored_sha256("a") == SHA
    assert store.stored_sha256("b") is None
    with pytest.raises(StorageRejected) as caught:
        store.stored_sha256("c")
    assert isinstance(caught.value.__cause__, bce.ClientError)


def test_read_refuses_large_objects(stubbed: Any) -> None:
    client, stub = stubbed
    body = StreamingBody(io.BytesIO(DATA), len(DATA))
    stub.add_response("get_object", {"Body": body, "ContentLength": len(DATA)})
    stub.add_response(
        "get_object", {"Body": StreamingBody(io.BytesIO(DATA), len(DATA)), "ContentLength": 1}
    )
    store = S3Store(client, "results")
    assert store.read("in", "k", 1000) == DATA
    with pytest.raises(StorageRejected, match="TooLarge"):
        store.read("in", "k", 3)


def test_an_unreachable_store_is_retryable() -> None:
    store = S3Store.from_settings(SETTINGS)
    try:
        with pytest.raises(StorageUnavailable) as caught:
            store.stored_sha256("x")
        assert isinstance(caught.value.__cause__, bce.EndpointConnectionError)
        url = store.presign_get("in", "a.png", 600)
        assert url.startswith("http://127.0.0.1:1/in/a.png?") and "secret-test" not in url
    finally:
        store.close()


def stub_any() -> Any:
    from botocore.stub import ANY

    return ANY
