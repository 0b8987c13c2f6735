"""S3Store on the shared S3 adapter (botocore's Stubber; a closed port for connection errors).

The translation table itself is tested in test_adapters_s3.py.
"""

from __future__ import annotations

import base64
import hashlib
import io
from typing import Any

import botocore.exceptions as bce
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber
from pydantic import SecretStr

from adapters.s3 import s3_client
from config import S3Settings
from workers.errors import StorageRejected, StorageUnavailable
from workers.storage import S3Store

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
