"""devstack.s3: moto's server as a real S3 endpoint, or the configured endpoint as it is."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from pydantic import SecretStr

from config import S3Settings, Settings
from devstack.constants import S3_LOCAL_ACCESS_KEY_ID, S3_LOCAL_SECRET_ACCESS_KEY
from devstack.procs import port_open
from devstack.s3 import S3Handle, ensure_s3

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def moto() -> Iterator[S3Handle]:
    """One moto server for this module, bucket ``wanqueue`` created."""
    with ensure_s3(Settings()) as handle:
        yield handle


def test_without_an_endpoint_moto_is_started_with_the_bucket(moto: S3Handle) -> None:
    assert moto.started
    assert moto.endpoint_url is not None and moto.endpoint_url.startswith("http://127.0.0.1:")
    assert moto.access_key_id == SecretStr(S3_LOCAL_ACCESS_KEY_ID)
    assert moto.secret_access_key == SecretStr(S3_LOCAL_SECRET_ACCESS_KEY)
    client = moto.client()
    assert moto.bucket in [b["Name"] for b in client.list_buckets()["Buckets"]]
    client.put_object(
        Bucket=moto.bucket, Key="results/j/0.png", Body=b"png", ContentType="image/png"
    )
    got = client.get_object(Bucket=moto.bucket, Key="results/j/0.png")
    assert got["Body"].read() == b"png" and got["ContentType"] == "image/png"


def test_a_configured_endpoint_is_used_as_it_is(moto: S3Handle) -> None:
    settings = Settings(
        s3={
            "endpoint_url": moto.endpoint_url,
            "bucket": "wanqueue",
            "access_key_id": SecretStr("mine"),
            "secret_access_key": SecretStr("my-secret"),
        }
    )
    with ensure_s3(settings) as handle:
        assert not handle.started
        assert handle.endpoint_url == moto.endpoint_url
        assert handle.secret_access_key == SecretStr("my-secret")
    assert moto.client().list_buckets()  # the configured endpoint was left running


def test_apply_points_the_settings_at_the_endpoint(moto: S3Handle) -> None:
    settings = moto.apply(Settings(s3={"results_prefix": "out/"}))
    assert settings.s3.endpoint_url == moto.endpoint_url
    assert settings.s3.access_key_id == moto.access_key_id
    assert settings.s3.secret_access_key == moto.secret_access_key
    assert settings.s3.results_prefix == "out/"


def test_another_region_and_bucket_and_the_server_stops_with_the_handle() -> None:
    settings = Settings(s3={"region": "eu-central-1", "bucket": "shop-results"})
    with ensure_s3(settings) as handle:
        client = handle.client()
        location = client.get_bucket_location(Bucket="shop-results")["LocationConstraint"]
        assert location == "eu-central-1"
        address = urlsplit(handle.endpoint_url)
    assert address.hostname is not None and address.port is not None
    assert not port_open(address.hostname, address.port)


def test_a_server_without_a_log_path_leaves_no_descriptor_or_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    before = len(os.listdir("/proc/self/fd"))
    with ensure_s3(Settings(s3=S3Settings(bucket="leaks"))) as handle:
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith("wanq-moto-")]
        client = handle.client()
        assert client.head_bucket(Bucket="leaks")
        client.close()
    assert [p for p in tmp_path.iterdir() if p.name.startswith("wanq-moto-")] == []
    assert len(os.listdir("/proc/self/fd")) <= before
