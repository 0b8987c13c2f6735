"""config.redis_tls: one reading of a ``rediss://`` URL for kombu, Flower and redis-py.

The integration test (tests/integration/test_redis_tls.py) runs the stack against a real TLS
server; these check, without a server, that each client is handed the same options, and that
the server's certificate is required unless the URL says otherwise (kombu alone would not).
"""

from __future__ import annotations

import ssl
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
from celery import Celery
from flower.utils.broker import Broker
from pydantic import SecretStr

from adapters.redis import redis_client
from config import Settings
from config.celery import celery_config
from config.redis_tls import split_tls
from workers.contract.names import TASK_QUEUES

PASSWORD = "pw-redis-tls-unit"
CA = "/etc/wanq/ca.pem"
URL = f"rediss://:{PASSWORD}@redis.internal:6380/2?ssl_cert_reqs=required&ssl_ca_certs={CA}"


def test_a_plain_url_has_no_tls() -> None:
    url = f"redis://:{PASSWORD}@127.0.0.1:6379/0?ssl_cert_reqs=none"
    assert split_tls(url) == (url, None)
    config = celery_config(Settings(redis_url=SecretStr(url)), TASK_QUEUES)
    assert config["broker_use_ssl"] is False


def test_tls_options_leave_the_url() -> None:
    url, options = split_tls(URL + "&socket_timeout=3&ssl_check_hostname=false")
    assert url == f"rediss://:{PASSWORD}@redis.internal:6380/2?socket_timeout=3"
    assert options == {
        "ssl_cert_reqs": ssl.CERT_REQUIRED,
        "ssl_ca_certs": CA,
        "ssl_check_hostname": False,
    }


@pytest.mark.parametrize(
    ("value", "mode"),
    [
        ("required", ssl.CERT_REQUIRED),
        ("CERT_REQUIRED", ssl.CERT_REQUIRED),
        ("optional", ssl.CERT_OPTIONAL),
        ("none", ssl.CERT_NONE),
        ("CERT_NONE", ssl.CERT_NONE),
    ],
)
def test_cert_reqs_spellings(value: str, mode: ssl.VerifyMode) -> None:
    assert split_tls(f"rediss://h/0?ssl_cert_reqs={value}")[1] == {"ssl_cert_reqs": mode}


def test_the_certificate_is_required_by_default() -> None:
    assert split_tls(f"rediss://:{PASSWORD}@h:6380/0") == (
        f"rediss://:{PASSWORD}@h:6380/0",
        {"ssl_cert_reqs": ssl.CERT_REQUIRED},
    )


def test_a_bad_value_is_named_without_the_url() -> None:
    with pytest.raises(ValueError, match="ssl_cert_reqs") as caught:
        split_tls(f"rediss://:{PASSWORD}@h/0?ssl_cert_reqs=maybe")
    assert PASSWORD not in str(caught.value)


def _settings(url: str = URL) -> Settings:
    return Settings(redis_url=SecretStr(url))


def test_kombu_gets_the_options_and_a_url_without_them() -> None:
    config = celery_config(_settings(), TASK_QUEUES)
    assert config["broker_use_ssl"] == {"ssl_cert_reqs": ssl.CERT_REQUIRED, "ssl_ca_certs": CA}
    assert "ssl_" not in config["broker_url"]
    app = Celery("tls-unit", set_as_current=False)
    app.conf.update(config)
    with app.connection_for_write() as connection:
        assert connection.ssl == config["broker_use_ssl"]
        assert connection.password == PASSWORD
        assert connection.transport_cls == "rediss"


def test_kombu_alone_would_not_check_the_certificate() -> None:
    """Why the options are passed explicitly: a bare rediss:// URL in kombu means CERT_NONE."""
    app = Celery("tls-unit-bare", broker=f"rediss://:{PASSWORD}@h:6380/0", set_as_current=False)
    with app.connection_for_write() as connection:
        assert connection.ssl == {"ssl_cert_reqs": ssl.CERT_NONE}
    config = celery_config(_settings(f"rediss://:{PASSWORD}@h:6380/0"), TASK_QUEUES)
    app.conf.update(config)
    with app.connection_for_write() as connection:
        assert connection.ssl == {"ssl_cert_reqs": ssl.CERT_REQUIRED}


def test_flowers_queue_reader_gets_the_options() -> None:
    """Flower reads queue lengths with its own client, built as its views build it."""
    config = celery_config(_settings(), TASK_QUEUES)
    app = Celery("tls-unit-flower", set_as_current=False)
    app.conf.update(config)
    with app.connection_for_write() as connection:
        uri = connection.as_uri(include_password=True)
    broker = Broker(
        uri,
        broker_options=app.conf.broker_transport_options,
        broker_use_ssl=app.conf.broker_use_ssl,
    )
    kwargs = broker.redis.connection_pool.connection_kwargs
    assert kwargs["ssl_ca_certs"] == CA and kwargs["ssl_cert_reqs"] == ssl.CERT_REQUIRED
    assert kwargs["password"] == PASSWORD
    assert broker.broker_prefix == config["broker_transport_options"]["global_keyprefix"]


def test_redis_py_gets_the_same_options() -> None:
    client = redis_client(_settings())
    try:
        pool = client.connection_pool
        assert issubclass(pool.connection_class, redis.SSLConnection)
        kwargs = pool.connection_kwargs
        assert kwargs["ssl_ca_certs"] == CA and kwargs["ssl_cert_reqs"] == ssl.CERT_REQUIRED
        assert kwargs["password"] == PASSWORD and kwargs["db"] == 2
        connection = pool.make_connection()
        assert connection.cert_reqs == ssl.CERT_REQUIRED and connection.ca_certs == CA
        assert PASSWORD not in repr(client) and PASSWORD not in repr(connection)
    finally:
        client.close()


def test_the_broker_url_keeps_other_parameters() -> None:
    config = celery_config(_settings(URL + "&health_check_interval=7"), TASK_QUEUES)
    assert parse_qs(urlsplit(config["broker_url"]).query) == {"health_check_interval": ["7"]}
