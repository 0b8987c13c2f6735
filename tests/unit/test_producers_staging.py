"""Staging inputs to S3 (moto's server, a real HTTP endpoint) and the S3 error table."""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from pydantic import SecretStr

from adapters import s3 as adapters_s3
from adapters.redis import redis_client
from adapters.s3 import s3_client
from config import InputsSettings, S3Settings, Settings
from devstack.procs import free_port
from devstack.s3 import S3Handle, ensure_s3
from producers import WanQueue
from producers import s3 as producers_s3
from producers.s3 import S3Objects
from producers.sender import CelerySender
from producers.staging import S3Stager
from workers.contract import EditRequest, JobStore
from workers.errors import InputInvalid, StorageRejected, StorageUnavailable

BUCKET = "wanq-staging"
INLINE_MAX_BYTES = 2048


def _image(fmt: str = "PNG", size: tuple[int, int] = (300, 300), noisy: bool = True) -> bytes:
    image = Image.new("RGB", size, (90, 30, 200))
    if noisy:  # incompressible, so the file is larger than INLINE_MAX_BYTES
        image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def _data_uri(body: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(body).decode()}"


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Handle]:
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with ensure_s3(Settings(s3=S3Settings(bucket=BUCKET)), log_path=log) as handle:
        yield handle


@pytest.fixture
def settings(s3_server: S3Handle, redis_url: str, redis_prefix: str) -> Settings:
    base = Settings(
        redis_url=SecretStr(redis_url),
        key_prefix=redis_prefix,
        s3=S3Settings(bucket=BUCKET, inputs_prefix=f"inputs/{uuid.uuid4().hex}/"),
        inputs=InputsSettings(inline_max_bytes=INLINE_MAX_BYTES),
    )
    return s3_server.apply(base)


class CountingObjects(S3Objects):
    """S3 objects that count their puts."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings.s3.bucket, functools.partial(s3_client, settings.s3))
        self.puts = 0

    def put(self, key: str, body: bytes, content_type: str) -> None:
        self.puts += 1
        super().put(key, body, content_type)


def _request(*images: str, model: str = "wan2.7-image") -> EditRequest:
    return EditRequest.model_validate({"model": model, "prompt": "x", "images": list(images)})


def test_urls_s3_and_small_data_uris_pass_through_without_a_client(settings: Settings) -> None:
    def no_client() -> Any:
        raise AssertionError("no S3 client should be built")

    stager = S3Stager.from_settings(settings, S3Objects(BUCKET, no_client))
    small = _data_uri(_image(noisy=False))
    assert len(small) < INLINE_MAX_BYTES
    staged_input = f"s3://{BUCKET}/{settings.s3.inputs_prefix}b.png"
    request = _request("https://cdn.test/a.png", staged_input, small)
    assert stager.stage(request) is request


@pytest.mark.parametrize(
    "source",
    [
        "s3://other/in/b.png",  # another bucket the workers may be able to read
        f"s3://{BUCKET}/results/job/0.png",  # the bucket, outside the inputs
        f"s3://{BUCKET}/inputs/../results/job/0.png",
    ],
)
def test_s3_sources_outside_the_staged_inputs_are_refused(settings: Settings, source: str) -> None:
    stager = S3Stager.from_settings(settings)
    with pytest.raises(InputInvalid, match=r"images\[1\]: an s3 ") as caught:
        stager.stage(_request("https://cdn.test/a.png", source))
    assert caught.value.field == "images[1]"
    stager.close()


def test_large_data_uris_and_local_files_are_staged_by_content(
    settings: Settings, s3_server: S3Handle, tmp_path: Path
) -> None:
    png, jpeg = _image("PNG"), _image("JPEG")
    local = tmp_path / "photo.jpeg"
    local.write_bytes(jpeg)
    objects = CountingObjects(settings)
    stager = S3Stager.from_settings(settings, objects)
    staged = stager.stage(_request(_data_uri(png), str(local), f"file://{local}"))
    prefix = settings.s3.inputs_prefix
    png_key = f"{prefix}{hashlib.sha256(png).hexdigest()}.png"
    jpg_key = f"{prefix}{hashlib.sha256(jpeg).hexdigest()}.jpg"
    assert staged.images == (
        f"s3://{BUCKET}/{png_key}",
        f"s3://{BUCKET}/{jpg_key}",
        f"s3://{BUCKET}/{jpg_key}",
    )
    assert objects.puts == 2  # the same file twice is uploaded once
    client = s3_server.client()
    stored = client.get_object(Bucket=BUCKET, Key=png_key)
    assert stored["Body"].read() == png and stored["ContentType"] == "image/png"
    assert client.head_object(Bucket=BUCKET, Key=jpg_key)["ContentType"] == "image/jpeg"

    fresh = CountingObjects(settings)  # another producer: finds the objects there
    S3Stager.from_settings(settings, fresh).stage(_request(str(local)))
    assert fresh.puts == 0


def test_submit_validates_images_before_staging_and_records_s3_sources(
    settings: Settings, s3_server: S3Handle, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(_image("PNG")[:500])
    tiny = tmp_path / "tiny.png"
    tiny.write_bytes(_image("PNG", size=(64, 64)))
    good = tmp_path / "good.png"
    good.write_bytes(_image("PNG"))
    with WanQueue.from_settings(settings) as queue:
        with pytest.raises(InputInvalid, match=r"images\[0\]: must be a complete"):
            queue.submit({"model": "wan2.7-image", "prompt": "x", "images": [str(broken)]})
        with pytest.raises(InputInvalid, match="240 to 8000 pixels"):
            queue.submit({"model": "wan2.7-image", "prompt": "x", "images": [str(tiny)]})
        listed = s3_server.client().list_objects_v2(Bucket=BUCKET, Prefix=settings.s3.inputs_prefix)
        assert listed.get("KeyCount", 0) == 0
        record = queue.submit({"model": "wan2.7-image", "prompt": "x", "images": [str(good)]})
    assert record.request.images[0].startswith(f"s3://{BUCKET}/{settings.s3.inputs_prefix}")


def test_store_failures_are_translated(settings: Settings) -> None:
    missing = S3Objects.from_settings(settings.s3.model_copy(update={"bucket": "no-such-bucket"}))
    with pytest.raises(StorageRejected) as info:
        missing.put("k", b"x", "image/png")
    assert info.value.code == "NoSuchBucket"
    dead_s3 = settings.s3.model_copy(
        update={"endpoint_url": f"http://127.0.0.1:{free_port()}", "connect_timeout_s": 0.5}
    )
    with pytest.raises(StorageUnavailable):
        S3Objects.from_settings(dead_s3).exists("k")


def test_producers_translate_through_the_shared_adapter() -> None:
    # One table for every side: the producer's module has none of its own.
    assert not hasattr(producers_s3, "EXCEPTION_RULES")
    assert producers_s3.translate is adapters_s3.translate
    assert producers_s3.TRANSLATED_EXCEPTIONS is adapters_s3.TRANSLATED_EXCEPTIONS


def test_a_queue_without_s3_settings_still_takes_url_jobs(settings: Settings) -> None:
    client = redis_client(settings)
    no_s3 = settings.model_copy(update={"s3": S3Settings(endpoint_url="http://127.0.0.1:1")})
    queue = WanQueue(
        client,
        JobStore(client, settings.key_prefix),
        CelerySender.from_settings(settings),
        S3Stager.from_settings(no_s3),
        key_prefix=settings.key_prefix,
    )
    with queue:
        record = queue.submit(
            {"model": "wan2.6-image", "prompt": "x", "images": ["https://a.test/x.png"]}
        )
    assert record.request.images == ("https://a.test/x.png",)
