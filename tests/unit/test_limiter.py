"""RedisLimiter against a real Redis: slots, leases, the submit token bucket."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from config import PipelineSettings
from workers.limiter import RedisLimiter

ACCOUNT, MODEL = "default", "wan2.7-image"


def limiter(client: redis.Redis, prefix: str, **pipeline: float) -> RedisLimiter:
    defaults: dict[str, float] = {
        "max_in_flight": 2,
        "submit_rps": 1000.0,
        "submit_burst": 1000.0,
        "capacity_retry_s": 0.5,
        "lease_ttl_s": 60.0,
    }
    return RedisLimiter(client, prefix, PipelineSettings(**{**defaults, **pipeline}))


def test_slots_are_leased_per_job_and_given_back(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    lim = limiter(redis_client, redis_prefix)
    assert lim.try_acquire(ACCOUNT, MODEL, "a") is None
    assert lim.try_acquire(ACCOUNT, MODEL, "b") is None
    assert lim.try_acquire(ACCOUNT, MODEL, "c") == 0.5  # every slot leased
    assert lim.try_acquire(ACCOUNT, MODEL, "a") is None  # a holder keeps its slot
    assert lim.try_acquire(ACCOUNT, "wan2.6-image", "c") is None  # per model
    assert lim.try_acquire("other", MODEL, "c") is None  # per account
    lim.release(ACCOUNT, MODEL, "a")
    assert lim.try_acquire(ACCOUNT, MODEL, "c") is None
    assert lim.in_flight(ACCOUNT, MODEL) == 2


def test_a_dead_holders_lease_runs_out_and_renew_keeps_it(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    lim = limiter(redis_client, redis_prefix, max_in_flight=1, lease_ttl_s=0.3)
    assert lim.try_acquire(ACCOUNT, MODEL, "alive") is None
    time.sleep(0.2)
    lim.renew(ACCOUNT, MODEL, "alive")
    time.sleep(0.2)
    assert lim.try_acquire(ACCOUNT, MODEL, "next") is not None  # renewed: still held
    time.sleep(0.35)
    assert lim.try_acquire(ACCOUNT, MODEL, "next") is None  # ran out: reclaimed


def test_submit_rate_is_a_token_bucket(redis_client: redis.Redis, redis_prefix: str) -> None:
    lim = limiter(redis_client, redis_prefix, max_in_flight=100, submit_rps=10, submit_burst=3)
    assert [lim.try_acquire(ACCOUNT, MODEL, f"j{i}") for i in range(3)] == [None] * 3
    wait = lim.try_acquire(ACCOUNT, MODEL, "j3")
    assert wait is not None and 0 < wait <= 0.1
    time.sleep(wait + 0.02)
    assert lim.try_acquire(ACCOUNT, MODEL, "j3") is None


def test_concurrent_acquires_never_exceed_the_slots(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    lim = limiter(redis_client, redis_prefix, max_in_flight=5)
    granted: list[str] = []
    barrier = threading.Barrier(20)

    def go(i: int) -> None:
        barrier.wait()
        if lim.try_acquire(ACCOUNT, MODEL, f"job{i}") is None:
            granted.append(f"job{i}")

    threads = [threading.Thread(target=go, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(granted) == 5


@pytest.mark.parametrize("rps", [0.5, 2.0])
def test_waits_are_in_seconds(redis_client: redis.Redis, redis_prefix: str, rps: float) -> None:
    lim = limiter(redis_client, redis_prefix, submit_rps=rps, submit_burst=1)
    assert lim.try_acquire(ACCOUNT, MODEL, "a") is None
    wait = lim.try_acquire(ACCOUNT, MODEL, "b")
    assert wait is not None and wait == pytest.approx(1 / rps, abs=0.05)
