"""adapters.redis (the one Redis client builder) and the adapters package's dependency rule."""

from __future__ import annotations

import ast
from pathlib import Path

from pydantic import SecretStr

import adapters
from adapters.redis import redis_client
from config import PipelineSettings, Settings

ADAPTERS = Path(adapters.__file__).parent
PROJECT_PACKAGES = ("adapters", "config", "workers", "producers", "emulator", "devstack", "bench")
ALLOWED = ("adapters", "config", "workers.errors")


def test_adapters_import_only_config_and_the_error_tree() -> None:
    for path in ADAPTERS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                if name.split(".")[0] in PROJECT_PACKAGES:
                    assert name == "config" or name.startswith(ALLOWED), f"{path.name}: {name}"


def test_the_client_has_the_pipeline_timeouts_keepalive_and_no_retry_on_timeout() -> None:
    settings = Settings(
        redis_url=SecretStr("redis://127.0.0.1:1/3"),
        pipeline=PipelineSettings(
            redis_socket_timeout_s=7.0,
            redis_connect_timeout_s=2.0,
            redis_health_check_interval_s=11,
        ),
    )
    client = redis_client(settings)
    try:
        kwargs = client.connection_pool.connection_kwargs
        assert kwargs["db"] == 3 and kwargs["decode_responses"] is True
        assert kwargs["socket_timeout"] == 7.0 and kwargs["socket_connect_timeout"] == 2.0
        assert kwargs["socket_keepalive"] is True
        assert kwargs["health_check_interval"] == 11
        assert kwargs.get("retry_on_timeout", False) is False
    finally:
        client.close()
