"""devstack.workers: real ``celery worker`` processes, crashed and restarted.

The workers run ``tests.integration.celery_stub_app``, a throwaway app with one task, so that
these tests check the launcher alone; the pipeline's own tests run ``workers.app``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from celery import Celery
from pydantic import SecretStr

from config import Settings
from devstack.procs import StartupError
from devstack.workers import WorkerPool, WorkerSpec, worker_argv
from tests.integration.emulator_harness import wait_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
STUB_APP = "tests.integration.celery_stub_app"


@pytest.fixture
def settings(redis_url: str, redis_prefix: str) -> Settings:
    """The test's own Redis database and key prefix (its queues are its own)."""
    return Settings(redis_url=SecretStr(redis_url), key_prefix=redis_prefix)


@pytest.fixture
def producer(settings: Settings) -> Iterator[Celery]:
    """A client of the stub app's queues, configured like the workers."""
    app = Celery("producer", broker=settings.redis_url.get_secret_value())
    app.conf.broker_transport_options = {"global_keyprefix": settings.key_prefix}
    yield app
    app.close()


def _send(producer: Celery, keys: list[str], queue: str = "submit") -> None:
    for key in keys:
        producer.send_task("stub.mark", args=[key], queue=queue)


def _nodes(settings: Settings, keys: list[str]) -> list[str | None]:
    client = redis.Redis.from_url(settings.redis_url.get_secret_value(), decode_responses=True)
    try:
        return [client.get(f"{settings.key_prefix}{key}") for key in keys]
    finally:
        client.close()


def test_worker_command_line() -> None:
    argv = worker_argv(WorkerSpec("poller", ("poll",), 16), "workers.app")
    assert argv[1:6] == ["-m", "celery", "-A", "workers.app", "worker"]
    joined = " ".join(argv)
    assert "-Q poll" in joined and "--pool threads -c 16" in joined and "-n poller@%h" in joined
    assert {"--without-gossip", "--without-mingle", "-E"} <= set(argv)


def test_worker_names_must_be_unique(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unique"):
        WorkerPool(settings, [WorkerSpec("a"), WorkerSpec("a")], tmp_path)


def test_two_workers_consume_survive_a_crash_restart_and_stop_warmly(
    settings: Settings, producer: Celery, tmp_path: Path
) -> None:
    specs = [WorkerSpec("alpha", concurrency=2), WorkerSpec("beta", concurrency=2)]
    pool = WorkerPool(settings, specs, tmp_path, app=STUB_APP, cwd=ROOT)
    with pool:
        assert all(worker.alive() for worker in pool.workers)
        keys = [f"first-{i}" for i in range(20)]
        _send(producer, keys)
        wait_for(lambda: all(_nodes(settings, keys)), what="the first batch")
        assert {node.split("@")[0] for node in _nodes(settings, keys) if node} <= {"alpha", "beta"}

        assert pool.kill(0) == -9
        assert not pool[0].alive() and pool[1].alive()
        survivors = [f"after-crash-{i}" for i in range(10)]
        _send(producer, survivors)
        wait_for(lambda: all(_nodes(settings, survivors)), what="the batch after the crash")
        assert {str(node).split("@")[0] for node in _nodes(settings, survivors)} == {"beta"}

        pool.restart(0)
        assert pool[0].alive()
        assert (tmp_path / "alpha.log").read_text().count("alpha@") >= 2
    assert [worker.returncode for worker in pool.workers] == [0, 0]  # warm shutdown


def test_a_worker_that_cannot_start_is_reported_with_its_log(
    settings: Settings, tmp_path: Path
) -> None:
    pool = WorkerPool(
        settings, [WorkerSpec("broken")], tmp_path, app="no_such_module_xyz", cwd=ROOT
    )
    with pytest.raises(StartupError, match="broken") as info:
        pool.start()
    assert "no_such_module_xyz" in str(info.value)
    assert not pool[0].alive()
