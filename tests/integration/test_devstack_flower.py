"""devstack.flower: Flower started for real, behind basic auth, showing workers and queues."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from celery import Celery
from pydantic import SecretStr

from config import Settings
from devstack.flower import FLOWER_AUTH_ENV, FlowerProcess, flower_argv
from devstack.procs import StartupError, free_port
from devstack.workers import WorkerPool, WorkerSpec
from tests.integration.emulator_harness import wait_for
from workers.contract.names import QUEUES

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
STUB_APP = "tests.integration.celery_stub_app"
PASSWORD = "flower-test-password"


@pytest.fixture
def settings(redis_url: str, redis_prefix: str) -> Settings:
    return Settings(
        redis_url=SecretStr(redis_url),
        key_prefix=redis_prefix,
        flower={"user": "ops", "password": SecretStr(PASSWORD)},
    )


@pytest.fixture
def workers(settings: Settings, tmp_path: Path) -> Iterator[WorkerPool]:
    with WorkerPool(
        settings, [WorkerSpec("flowerbed", concurrency=1)], tmp_path, app=STUB_APP, cwd=ROOT
    ) as pool:
        yield pool


def _get(flower: FlowerProcess, path: str) -> Any:
    response = httpx.get(f"{flower.url}{path}", auth=flower.auth, timeout=5.0)
    response.raise_for_status()
    return response.json()


def _lengths(flower: FlowerProcess) -> dict[str, int]:
    queues = _get(flower, "/api/queues/length")["active_queues"]
    return {queue["name"]: queue["messages"] for queue in queues}


def test_flower_needs_a_password(tmp_path: Path) -> None:
    with pytest.raises(StartupError, match="WANQ_FLOWER__PASSWORD"):
        FlowerProcess(Settings(), tmp_path / "flower.log")


def test_the_password_goes_to_flower_in_its_environment_not_on_its_command_line(
    settings: Settings, tmp_path: Path
) -> None:
    assert not any(PASSWORD in arg for arg in flower_argv("127.0.0.1", 5555))
    flower = FlowerProcess(settings, tmp_path / "flower.log")
    assert flower._env[FLOWER_AUTH_ENV] == f"ops:{PASSWORD}"


def test_flower_lists_the_workers_and_the_queue_lengths_behind_auth(
    settings: Settings, workers: WorkerPool, tmp_path: Path
) -> None:
    flower = FlowerProcess(
        settings, tmp_path / "flower.log", app=STUB_APP, port=free_port(), cwd=ROOT
    )
    with flower:
        assert httpx.get(f"{flower.url}/api/workers").status_code == 401
        wrong = httpx.BasicAuth("ops", "wrong")
        assert httpx.get(f"{flower.url}/api/workers", auth=wrong).status_code == 401
        assert httpx.get(f"{flower.url}/", auth=flower.auth).status_code == 200

        node = wait_for(
            lambda: next(
                (n for n in _get(flower, "/api/workers?refresh=1") if "flowerbed@" in n), None
            ),
            what="Flower to list the worker",
        )
        wait_for(lambda: set(QUEUES) <= set(_lengths(flower)), what="the queues in Flower")

        # With the worker gone, messages wait in the queue and Flower counts them.
        workers.kill(0)
        producer = Celery("producer", broker=settings.redis_url.get_secret_value())
        producer.conf.broker_transport_options = {"global_keyprefix": settings.key_prefix}
        for index in range(3):
            producer.send_task("stub.mark", args=[f"waiting-{index}"], queue="poll")
        producer.close()
        assert wait_for(lambda: _lengths(flower).get("poll") == 3, what="poll length 3")

        cmdline = Path(f"/proc/{flower.pid}/cmdline")
        if cmdline.exists():
            assert PASSWORD.encode() not in cmdline.read_bytes()
    assert node.startswith("flowerbed@")
