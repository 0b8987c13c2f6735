"""devstack.env: settings handed to child processes as WANQ_* variables."""

from __future__ import annotations

import os

import pytest
from pydantic import SecretStr

from config import Settings, load_settings
from devstack.env import PYTHON_CHILD_ENV, child_env, encode, setting_names, settings_env


def _clear_wanq_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("WANQ_"):
            monkeypatch.delenv(name)


def _unusual_settings() -> Settings:
    """A value different from the default in every kind of field."""
    return Settings(
        redis_url=SecretStr("redis://:p%40ss@example.test:6380/3"),
        key_prefix="other:",
        upstream={
            "region": "cn-beijing",
            "base_url": "http://127.0.0.1:9/api/v1",
            "api_key": SecretStr("sk-secret"),
            "read_timeout_s": 12.5,
            "max_connections": 7,
        },
        s3={"endpoint_url": "http://minio:9000", "secret_access_key": SecretStr("s3-secret")},
        results={"allowed_hosts": ("*.aliyuncs.com", "127.0.0.1")},
        inputs={"s3_mode": "inline"},
        flower={"password": SecretStr("pw"), "port": 5556},
    )


def test_setting_names_cover_nested_sections_with_the_prefix_and_delimiter() -> None:
    names = setting_names()
    assert names["WANQ_REDIS_URL"] == ("redis_url",)
    assert names["WANQ_UPSTREAM__API_KEY"] == ("upstream", "api_key")
    assert names["WANQ_S3__ENDPOINT_URL"] == ("s3", "endpoint_url")
    assert names["WANQ_FLOWER__PASSWORD"] == ("flower", "password")
    assert all(name == name.upper() and name.startswith("WANQ_") for name in names)
    sections = [
        n for n, f in Settings.model_fields.items() if hasattr(f.annotation, "model_fields")
    ]
    assert "upstream" in sections
    assert not any(name.endswith(f"WANQ_{s.upper()}") for s in sections for name in names)


def test_a_child_rebuilds_exactly_the_parents_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    original = _unusual_settings()
    _clear_wanq_env(monkeypatch)
    for name, value in settings_env(original).items():
        monkeypatch.setenv(name, value)
    assert load_settings() == original


def test_defaults_round_trip_too(monkeypatch: pytest.MonkeyPatch) -> None:
    _clear_wanq_env(monkeypatch)
    defaults = load_settings()
    for name, value in settings_env(defaults).items():
        monkeypatch.setenv(name, value)
    assert load_settings() == defaults


def test_unset_optional_settings_are_left_out() -> None:
    env = settings_env(Settings())
    assert "WANQ_UPSTREAM__API_KEY" not in env
    assert "WANQ_S3__ENDPOINT_URL" not in env


def test_secrets_are_revealed_for_the_child_only() -> None:
    env = settings_env(_unusual_settings())
    assert env["WANQ_UPSTREAM__API_KEY"] == "sk-secret"
    assert env["WANQ_S3__SECRET_ACCESS_KEY"] == "s3-secret"
    assert "**" not in "".join(env.values())


@pytest.mark.parametrize(
    ("value", "encoded"),
    [(True, "true"), (False, "false"), (3, "3"), (0.5, "0.5"), (("a", "b"), '["a", "b"]')],
)
def test_encode(value: object, encoded: str) -> None:
    assert encode(value) == encoded


def test_child_env_holds_nothing_of_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANQ_CANARY_NOT_A_SETTING", "leak")
    monkeypatch.setenv("SOME_TOKEN", "leak")
    env = child_env(Settings(), {"FLOWER_X": "1"})
    assert "leak" not in env.values()
    assert "PATH" not in env
    assert env["FLOWER_X"] == "1"
    assert set(PYTHON_CHILD_ENV) <= set(env)
    assert set(env) - set(PYTHON_CHILD_ENV) - {"FLOWER_X"} <= set(setting_names())
