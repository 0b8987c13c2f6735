"""The settings never show a secret: not in their repr, not in a validation error.

A worker that cannot read its settings dies at import with the validation error in its log
(Celery prints it), so a misconfiguration must not print the keys it was given.
"""

from __future__ import annotations

import json

import pytest
from pydantic import SecretStr, ValidationError

from config import FlowerSettings, S3Settings, Settings, UpstreamSettings, load_settings
from config.celery import celery_config
from workers.contract.names import TASK_QUEUES

KEY = "sk-settings-unit-0123456789"
S3_SECRET = "s3-settings-unit-secret"
REDIS_PASSWORD = "redis-settings-unit-pw"
FLOWER_PASSWORD = "flower-settings-unit-pw"


def shows_part_of(secret: str, text: str, chars: int = 10) -> bool:
    """Whether ``text`` holds ``chars`` consecutive characters of ``secret`` (pydantic cuts
    long inputs in the middle: what is left may still be most of a key)."""
    return any(secret[i : i + chars] in text for i in range(len(secret) - chars + 1))


def test_repr_and_dumps_hide_every_secret() -> None:
    settings = Settings(
        upstream=UpstreamSettings(api_key=SecretStr(KEY)),
        redis_url=SecretStr(f"rediss://:{REDIS_PASSWORD}@redis:6380/0?ssl_cert_reqs=required"),
        s3=S3Settings(secret_access_key=SecretStr(S3_SECRET)),
        flower=FlowerSettings(password=SecretStr(FLOWER_PASSWORD)),
    )
    shown = [repr(settings), str(settings), settings.model_dump_json()]
    shown.append(json.dumps(settings.model_dump(mode="json")))
    for text in shown:
        for secret in (KEY, S3_SECRET, REDIS_PASSWORD, FLOWER_PASSWORD):
            assert secret not in text


def test_the_celery_config_holds_the_broker_url_only() -> None:
    """Celery masks the broker URL's password where it shows it (banner, Flower's config
    pages: tested for real in tests/integration); nothing else of the config is secret."""
    settings = Settings(
        upstream=UpstreamSettings(api_key=SecretStr(KEY)),
        redis_url=SecretStr(f"redis://:{REDIS_PASSWORD}@redis:6379/0"),
        s3=S3Settings(secret_access_key=SecretStr(S3_SECRET)),
    )
    config = celery_config(settings, TASK_QUEUES)
    rest = {name: value for name, value in config.items() if name != "broker_url"}
    text = json.dumps(rest, default=str)
    for secret in (KEY, S3_SECRET, REDIS_PASSWORD):
        assert secret not in text


@pytest.mark.parametrize(
    "accounts",
    [
        [{"name": "a", "api_keys": [KEY]}, {"name": "a", "api_keys": [KEY]}],  # names clash
        [{"name": "a", "api_keys": KEY}],  # a string, not a list
        {"name": "a", "api_keys": [KEY]},  # an object, not a list
    ],
    ids=["duplicate-names", "key-not-in-a-list", "not-a-list"],
)
def test_a_settings_error_does_not_print_the_keys(
    monkeypatch: pytest.MonkeyPatch, accounts: object
) -> None:
    monkeypatch.setenv("WANQ_ACCOUNTS", json.dumps(accounts))
    with pytest.raises(ValidationError) as caught:
        load_settings()
    assert not shows_part_of(KEY, str(caught.value))
    assert "accounts" in str(caught.value)  # the error still names the field
