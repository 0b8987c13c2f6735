"""RedisIntents against a real Redis: open submit intents per account and model."""

from __future__ import annotations

import time

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from workers.errors import RedisUnavailable
from workers.intents import RedisIntents

ACCOUNT, MODEL = "default", "wan2.7-image"


def test_open_intents_are_listed_by_time_until_closed(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    intents = RedisIntents(redis_client, redis_prefix)
    before = time.time() - 60
    intents.open(ACCOUNT, MODEL, "a")
    intents.open(ACCOUNT, MODEL, "b")
    intents.open(ACCOUNT, "wan2.6-image", "c")  # another model
    intents.open("other", MODEL, "d")  # another account
    after = time.time() + 60
    assert sorted(intents.overlapping(ACCOUNT, MODEL, before, after, exclude="a")) == ["b"]
    assert intents.overlapping(ACCOUNT, MODEL, after, after + 1, exclude="") == []
    intents.close(ACCOUNT, MODEL, "b")
    assert intents.overlapping(ACCOUNT, MODEL, before, after, exclude="") == ["a"]
    assert 0 < redis_client.ttl(f"{redis_prefix}intents:{ACCOUNT}:{MODEL}") <= 24 * 3600


def test_redis_down_is_retryable(redis_prefix: str) -> None:
    dead = redis.Redis(
        host="127.0.0.1", port=1, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )
    intents = RedisIntents(dead, redis_prefix)
    with pytest.raises(RedisUnavailable):
        intents.open(ACCOUNT, MODEL, "a")
    with pytest.raises(RedisUnavailable):
        intents.overlapping(ACCOUNT, MODEL, 0, 1, exclude="")
