"""Input sources at the workers' boundary: only http(s) URLs (and data URIs, and s3:// objects
in the inputs area) ever reach the upstream, even from a record that was never validated.

Producers validate every source (:mod:`workers.contract.sources`, fuzzed elsewhere); the job
store reads records back without validating them, so a record written by hand, or by an older
producer, is only checked when a worker builds the wire body. This test is that check: a
hostile source never becomes a request, and no object outside the inputs area is read or
presigned on its behalf.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest

from tests.unit.pipeline_fakes import FakeObjects, unit_settings
from workers.contract import EditRequest, ModelName
from workers.errors import InputInvalid
from workers.pipeline.submit import input_resolver
from workers.runtime import Runtime

HOSTILE = (
    "file:///etc/passwd",
    "/proc/self/environ",
    "gopher://127.0.0.1:6379/_CONFIG%20GET%20requirepass",
    "dict://127.0.0.1:6379/info",
    "ftp://example.com/a.png",
    "ldap://example.com/x",
    "http+unix://%2Fvar%2Frun%2Fdocker.sock/info",
    "jar:http://example.com/a.jar!/a.png",
    "javascript:alert(1)",
    "oss://bucket/a.png",
    "s3://another-bucket/inputs/a.png",  # not the configured bucket
    "s3://results-bucket/results/job/0.png",  # not the inputs area
    "s3://results-bucket/inputs/../secrets.txt",
)


class CountingObjects(FakeObjects):
    """The fake store, counting what a resolver asked of it."""

    asked: list[str]

    def __init__(self) -> None:
        super().__init__()
        self.asked = []

    def presign_get(self, bucket: str, key: str, ttl_s: int) -> str:
        self.asked.append(f"presign {bucket}/{key}")
        return super().presign_get(bucket, key, ttl_s)

    def read(self, bucket: str, key: str, max_bytes: int) -> bytes:
        self.asked.append(f"read {bucket}/{key}")
        return super().read(bucket, key, max_bytes)


def _runtime(objects: FakeObjects) -> Runtime:
    return cast(Runtime, SimpleNamespace(settings=unit_settings(), objects=objects))


def _unvalidated(src: str) -> EditRequest:
    """A request as the job store reads it back: not validated."""
    fields: dict[str, Any] = {
        "model": ModelName.WAN27,
        "prompt": "white background",
        "images": ("https://cdn.example.com/a.png", src),
    }
    return EditRequest.model_construct(**fields)


@pytest.mark.parametrize("src", HOSTILE)
def test_a_hostile_source_never_becomes_a_request(src: str) -> None:
    objects = CountingObjects()
    with pytest.raises(InputInvalid) as caught:
        _unvalidated(src).to_body(input_resolver(_runtime(objects)))
    assert caught.value.field in ("images", "images[1]")
    assert objects.asked == []


def test_http_urls_and_inputs_go_on_the_wire() -> None:
    objects = CountingObjects()
    body = _unvalidated("s3://results-bucket/inputs/a.png").to_body(
        input_resolver(_runtime(objects))
    )
    sources = [part["image"] for part in body["input"]["messages"][0]["content"][1:]]
    assert sources[0] == "https://cdn.example.com/a.png"
    assert sources[1].startswith("https://s3.example/results-bucket/inputs/a.png?")
    assert objects.asked == ["presign results-bucket/inputs/a.png"]
