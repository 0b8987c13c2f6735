"""Redis with a password and TLS, by configuration alone: ``WANQ_REDIS_URL=rediss://...``.

A private ``redis-server`` serves TLS only (no plain port) with a certificate from a CA made
for the test, and requires a password. With nothing but that URL in the settings:

* the job store (redis-py), the broker (kombu) and Flower's queue reader all connect, and a
  real ``celery worker`` takes jobs through submit, poll and store;
* the server's certificate is checked (a client that does not trust the test's CA is
  refused), the plain port does not exist and a wrong password is refused;
* the password shows in no log (workers, Flower, Redis), on no Flower page, and in no key
  of Redis, nor does any other secret of the run.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest
import redis
from PIL import Image
from pydantic import SecretStr

from adapters.redis import redis_client
from config import FlowerSettings, Settings
from devstack.flower import FlowerProcess
from devstack.procs import StartupError, free_port
from devstack.redis import LOG_NAME, RedisHandle, Secured, find_server, start_server
from devstack.s3 import S3Handle
from devstack.workers import WorkerPool, WorkerSpec
from tests.integration.emulator_harness import StartEmulator, wait_for
from tests.integration.pipeline_harness import (
    assert_no_secret_in_files,
    assert_no_secret_in_redis,
    check_stored,
    enqueue,
    make_jobs,
    producer_app,
    secrets_of,
    start_upstreams,
    unique,
    wait_terminal,
)
from tests.tlscerts import make_certs
from workers.contract import JobState, JobStore
from workers.contract.names import QUEUES

pytestmark = pytest.mark.integration

PREFIX = "wanqtls:"
FLOWER_PAGES = ("/", "/workers", "/tasks", "/broker", "/api/workers", "/api/tasks", "/metrics")


@pytest.fixture
def secured_redis(tmp_path: Path) -> Iterator[RedisHandle]:
    """A private redis-server: TLS only, a password, a CA made for this test."""
    server = find_server()
    if server is None:
        pytest.skip("no redis-server or valkey-server on PATH")
    certs = make_certs(tmp_path / "tls")
    secured = Secured(unique("redis-pw"), certs.cert, certs.key, certs.ca)
    data_dir = tmp_path / "redis"
    try:
        handle = start_server(server, "redis://127.0.0.1/0", data_dir=data_dir, secured=secured)
    except StartupError:
        log = (data_dir / LOG_NAME).read_text(errors="replace")
        if "tls" in log.lower() and ("not supported" in log or "Bad directive" in log):
            pytest.skip(f"{server} was built without TLS support")
        raise
    with handle:
        yield handle


def _with(url: str, **changes: str | None) -> str:
    """``url`` with query parameters changed (None: removed)."""
    parts = urlsplit(url)
    query = {**dict(parse_qsl(parts.query)), **changes}
    kept = {name: value for name, value in query.items() if value is not None}
    return urlunsplit(parts._replace(query=urlencode(kept)))


def _ping(url: str) -> bool:
    client = redis_client(Settings(redis_url=SecretStr(url)))
    try:
        return bool(client.ping())
    finally:
        client.close()


def test_tls_and_the_password_are_required(secured_redis: RedisHandle) -> None:
    url = secured_redis.url
    parts = urlsplit(url)
    assert parts.scheme == "rediss" and parts.password
    assert _ping(url)
    # No plain port: the same address without TLS does not answer.
    plain = urlunsplit(parts._replace(scheme="redis", query=""))
    with pytest.raises(redis.ConnectionError):
        _ping(plain)
    # The certificate is checked: without the test's CA (the system's trust store), refused,
    # even though the URL says nothing about certificates.
    with pytest.raises(redis.ConnectionError, match=r"(?i)certificate verify failed"):
        _ping(_with(url, ssl_ca_certs=None, ssl_cert_reqs=None))
    wrong = url.replace(f":{parts.password}@", ":not-the-password@")
    with pytest.raises(redis.AuthenticationError):
        _ping(wrong)


def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (40, 160, 90)).save(out, format="PNG")
    return out.getvalue()


def test_the_pipeline_runs_over_tls_with_a_password(
    secured_redis: RedisHandle,
    start_emulator: StartEmulator,
    s3_server: S3Handle,
    image_urls: dict[str, str],
    tmp_path: Path,
) -> None:
    prefix = f"{PREFIX}{unique('run')[-12:]}:"
    parts = start_upstreams(
        start_emulator, s3_server, redis_url=secured_redis.url, prefix=prefix, label="tls"
    )
    s3, bucket = parts.s3, parts.settings.s3.bucket
    s3.put_object(Bucket=bucket, Key="inputs/product.png", Body=_png(640, 480))
    flower_settings = FlowerSettings(user="ops", password=SecretStr(unique("fl")))
    settings = parts.settings.model_copy(update={"flower": flower_settings})
    secrets = secrets_of(settings)
    assert len(secrets) >= 4  # API key, S3 secret, Redis's password, Flower's password
    assert urlsplit(secured_redis.url).password in secrets

    client = redis_client(settings)
    store = JobStore(client, prefix)
    pool = WorkerPool(settings, [WorkerSpec("tls1", concurrency=4)], tmp_path / "workers")
    flower = FlowerProcess(settings, tmp_path / "flower.log", port=free_port(), cwd=Path.cwd())
    try:
        with pool, flower, httpx.Client(base_url=flower.url, auth=flower.auth) as http:
            app = producer_app(settings)
            try:
                inputs = [*image_urls.values(), f"s3://{bucket}/inputs/product.png"]
                ids = enqueue(store, app, make_jobs(8, inputs, "btls"))
            finally:
                app.close()
            records = wait_terminal(store, ids, timeout_s=60)
            states = {record.state for record in records}
            assert JobState.SUCCEEDED in states, [r.error_code for r in records]
            assert states <= {JobState.SUCCEEDED, JobState.FAILED}
            check_stored(records, s3, bucket)

            # Flower reads queue lengths with its own Redis client: it needs the TLS options.
            # (until Flower has heard the workers' queues: before that it lists "celery")
            lengths = wait_for(
                lambda: (got := _queue_lengths(http)) and set(QUEUES) <= set(got) and got,
                what="queue lengths from Flower over TLS",
            )
            assert set(QUEUES) <= set(lengths), lengths
            workers = list(http.get("/api/workers").json())
            assert [name.split("@")[0] for name in workers] == ["tls1"]
            for path in (*FLOWER_PAGES, *(f"/worker/{name}" for name in workers)):
                response = http.get(path)
                assert response.status_code == 200, (path, response.status_code)
                for secret in secrets:
                    assert secret not in response.text, path
            assert_no_secret_in_redis(client, secrets)
    finally:
        client.close()
    logs = [worker.log_path for worker in pool.workers]
    logs += [tmp_path / "flower.log", tmp_path / "redis" / LOG_NAME]
    assert assert_no_secret_in_files(logs, secrets) > 0


def _queue_lengths(http: httpx.Client) -> dict[str, int] | None:
    """The queue lengths Flower reads from the broker, or None while it cannot."""
    response = http.get("/api/queues/length")
    if response.status_code != 200:
        return None
    queues = response.json().get("active_queues") or []
    return {queue["name"]: queue["messages"] for queue in queues} or None
