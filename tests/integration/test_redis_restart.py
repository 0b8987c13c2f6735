"""A Redis restart under a real Celery worker (Redis with AOF, as docker-compose runs it).

The worker holds an unacknowledged message (a task scheduled for later, as every poll is)
when Redis stops and comes back on the same port and directory: it reconnects by itself and
goes on consuming, and the message it held is still in Redis (it comes back with the
visibility timeout), so nothing is lost. Without the broker transport of
:mod:`adapters.broker`, the worker dies at this point ("Unrecoverable error").
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from celery import Celery
from pydantic import SecretStr

from bench.chaos.redis_server import AofRedis
from config import Settings
from config.celery import celery_config
from devstack.workers import WorkerPool, WorkerSpec
from tests.integration.celery_stub_app import TASK_MARK
from tests.integration.emulator_harness import wait_for
from workers.contract.names import QUEUE_SUBMIT

ROOT = Path(__file__).resolve().parents[2]
STUB_APP = "tests.integration.celery_stub_app"
UNACKED = "unacked"
"""kombu's hash of the messages workers hold unacknowledged (under the key prefix)."""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[AofRedis]:
    with AofRedis(tmp_path / "redis") as aof:
        yield aof


def test_a_worker_holding_messages_reconnects_after_a_redis_restart(
    server: AofRedis, tmp_path: Path
) -> None:
    settings = Settings(redis_url=SecretStr(server.url), key_prefix=f"wanqtest:{uuid.uuid4().hex}:")
    producer = Celery("producer", set_as_current=False)
    producer.conf.update(celery_config(settings, {TASK_MARK: QUEUE_SUBMIT}))
    client = redis.Redis.from_url(server.url, decode_responses=True)

    def ran(key: str) -> bool:
        return client.get(f"{settings.key_prefix}{key}") is not None

    def unacked(task_id: str) -> bool:
        """Whether a worker holds the message of ``task_id`` (kombu keys it by delivery tag)."""
        return any(task_id in entry for entry in client.hvals(f"{settings.key_prefix}{UNACKED}"))

    pool = WorkerPool(settings, [WorkerSpec("survivor", concurrency=2)], tmp_path, app=STUB_APP)
    with pool:
        worker = pool[0]
        producer.send_task(TASK_MARK, args=["before"])
        wait_for(lambda: ran("before"), what="a task before the restart")
        held = producer.send_task(TASK_MARK, args=["held"], countdown=3600)
        wait_for(
            lambda: unacked(held.id),
            what="the worker holding a scheduled message",
        )

        server.restart(down_s=1.0)

        producer.send_task(TASK_MARK, args=["after"])
        wait_for(lambda: ran("after"), what="a task after the restart", timeout_s=90)
        assert worker.alive()
        assert unacked(held.id)  # not lost: it comes back with the visibility timeout
    log = worker.log_path.read_text()
    assert "Unrecoverable error" not in log
    assert "Connection to broker lost" in log  # the restart did reach the worker
    producer.close()
    client.close()
