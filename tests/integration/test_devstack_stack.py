"""devstack.stack: the whole local stack up and down, each part seeing the others."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import redis
from celery import Celery
from pydantic import SecretStr

from config import Settings
from devstack.procs import StartupError, port_open
from devstack.stack import LocalStack
from devstack.workers import WorkerSpec
from tests.integration.emulator_harness import FAST_CONFIG, wait_for
from workers.contract.names import QUEUES

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
STUB_APP = "tests.integration.celery_stub_app"


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def _closed(url: str) -> bool:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    return not port_open(parts.hostname, parts.port)


def test_the_whole_stack_starts_wired_together_and_stops(
    redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    settings = Settings(redis_url=SecretStr(redis_url), key_prefix=redis_prefix)
    stack = LocalStack(
        settings,
        run_dir=tmp_path,
        emulator=FAST_CONFIG,
        workers=[WorkerSpec("stacked", concurrency=2)],
        app=STUB_APP,
        cwd=ROOT,
    )
    with stack:
        effective = stack.settings
        assert stack.redis is not None and not stack.redis.started  # the session's Redis
        assert effective.redis_url.get_secret_value() == redis_url
        assert stack.s3 is not None and stack.s3.started
        assert effective.s3.endpoint_url == stack.s3.endpoint_url
        assert stack.s3.bucket in [b["Name"] for b in stack.s3.client().list_buckets()["Buckets"]]
        assert stack.emulator is not None
        assert effective.upstream.base_url == stack.emulator.base_url
        assert httpx.get(f"{stack.emulator.root_url}/health").status_code == 200
        assert "127.0.0.1" in effective.results.allowed_hosts
        assert effective.flower.password is not None  # generated

        assert stack.workers is not None
        worker_pid = stack.workers[0].pid
        assert worker_pid is not None
        worker_env = _environ(worker_pid)
        assert worker_env["WANQ_S3__ENDPOINT_URL"] == stack.s3.endpoint_url
        assert worker_env["WANQ_UPSTREAM__BASE_URL"] == stack.emulator.base_url
        assert worker_env["WANQ_KEY_PREFIX"] == redis_prefix

        producer = Celery("producer", broker=redis_url)
        producer.conf.broker_transport_options = {"global_keyprefix": redis_prefix}
        producer.send_task("stub.mark", args=["through-the-stack"], queue="store")
        producer.close()
        reader = redis.Redis.from_url(redis_url)
        wait_for(lambda: reader.get(f"{redis_prefix}through-the-stack"), what="the task")
        reader.close()

        assert stack.flower is not None
        response = httpx.get(f"{stack.flower.url}/api/workers", auth=stack.flower.auth)
        assert response.status_code == 200
        urls = [stack.s3.endpoint_url or "", stack.emulator.root_url, stack.flower.url]
    assert all(_closed(url) for url in urls)
    assert not stack.workers.workers[0].alive()
    assert (tmp_path / "stacked.log").exists() and (tmp_path / "flower.log").exists()


def test_a_part_that_fails_stops_the_parts_already_started(redis_url: str, tmp_path: Path) -> None:
    stack = LocalStack(
        Settings(redis_url=SecretStr(redis_url)),
        run_dir=tmp_path,
        emulator=False,
        workers=[WorkerSpec("doomed")],
        flower=False,
        app="no_such_module_xyz",
        cwd=ROOT,
    )
    with pytest.raises(StartupError, match="doomed"):
        stack.start()
    assert stack.s3 is not None and stack.s3.endpoint_url is not None
    assert _closed(stack.s3.endpoint_url)
    assert not stack.s3.started


def test_the_pipeline_app_runs_in_the_stack_and_flower_shows_its_workers_and_queues(
    redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    """The real ``workers.app``: split workers as in production, Flower over its HTTP API."""
    settings = Settings(redis_url=SecretStr(redis_url), key_prefix=redis_prefix)
    specs = [
        WorkerSpec("submitter", ("submit", "post"), 2),
        WorkerSpec("poller", ("poll", "store"), 2),
    ]
    with LocalStack(
        settings, run_dir=tmp_path, emulator=FAST_CONFIG, workers=specs, cwd=ROOT
    ) as stack:
        assert stack.flower is not None
        flower = stack.flower

        def get(path: str) -> dict[str, Any]:
            response = httpx.get(f"{flower.url}{path}", auth=flower.auth, timeout=5.0)
            response.raise_for_status()
            result: dict[str, Any] = response.json()
            return result

        def nodes() -> set[str]:
            return {name.split("@")[0] for name in get("/api/workers?refresh=1")}

        wait_for(lambda: nodes() == {"submitter", "poller"}, what="both workers in Flower")
        lengths = {q["name"]: q["messages"] for q in get("/api/queues/length")["active_queues"]}
        assert set(QUEUES) <= set(lengths)
