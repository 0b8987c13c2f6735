"""workers.runtime: one set of clients per process, built from settings, closed once."""

from __future__ import annotations

from pydantic import SecretStr

from config import S3Settings, Settings, UpstreamSettings
from workers import runtime
from workers.contract import JobStore
from workers.limits import Limits


class NoScheduler:
    def later(self, task: str, *args: str, countdown_s: float = 0.0) -> None:
        raise AssertionError("not used")


def settings(redis_url: str) -> Settings:
    return Settings(
        upstream=UpstreamSettings(base_url="http://127.0.0.1:1/api/v1", api_key=SecretStr("sk")),
        redis_url=SecretStr(redis_url),
        s3=S3Settings(endpoint_url="http://127.0.0.1:1"),
    )


def test_start_builds_once_and_stop_closes(redis_url: str) -> None:
    runtime.stop()
    first = runtime.start(settings(redis_url), NoScheduler())
    try:
        assert runtime.start(settings(redis_url), NoScheduler()) is first
        assert runtime.current() is first
        assert isinstance(first.store, JobStore) and isinstance(first.limits, Limits)
        assert len(first.closers) == 4
        assert list(first.upstreams) == ["default"]
    finally:
        runtime.stop()
    assert first.closers == []
    runtime.stop()  # idempotent


def test_close_logs_and_goes_on(redis_url: str) -> None:
    rt = runtime.build(settings(redis_url), NoScheduler())
    calls: list[str] = []

    def broken() -> None:
        calls.append("broken")
        raise OSError("boom")

    rt.closers = [broken, lambda: calls.append("next")]
    rt.close()
    assert calls == ["broken", "next"]
