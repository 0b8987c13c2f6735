"""RedisLimiter against a real Redis: slots, leases, the submit token bucket."""

from __future__ import annotations

import threading

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from config import PipelineSettings
from workers.errors import RedisUnavailable, RetryableError
from workers.limiter import RedisLimiter

ACCOUNT, MODEL = "default", "wan2.7-image"


class Clock:
    """A settable clock (epoch seconds) for lease expiry without sleeping."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def limiter(
    client: redis.Redis, prefix: str, clock: Clock | None = None, **pipeline: float
) -> RedisLimiter:
    defaults: dict[str, float] = {
        "max_in_flight": 2,
        "submit_rps": 1000.0,
        "submit_burst": 1000.0,
        "capacity_retry_s": 0.5,
        "lease_ttl_s": 60.0,
    }
    settings = PipelineSettings(**{**defaults, **pipeline})
    return RedisLimiter(client, prefix, settings, clock=clock)


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
    clock = Clock()
    lim = limiter(redis_client, redis_prefix, clock, max_in_flight=1, lease_ttl_s=60)
    assert lim.try_acquire(ACCOUNT, MODEL, "alive") is None
    clock.now += 40
    assert lim.renew(ACCOUNT, MODEL, "alive")
    assert lim.renew(ACCOUNT, MODEL, "alive")  # twice at the same instant: still held
    clock.now += 40  # 80 s after the acquire, 40 s after the renewal
    assert lim.try_acquire(ACCOUNT, MODEL, "next") is not None  # renewed: still held
    clock.now += 30  # the renewed lease ran out 10 s ago
    assert lim.try_acquire(ACCOUNT, MODEL, "next") is None  # reclaimed


def test_renew_never_resurrects_a_lease(redis_client: redis.Redis, redis_prefix: str) -> None:
    clock = Clock()
    lim = limiter(redis_client, redis_prefix, clock, max_in_flight=1, lease_ttl_s=60)
    assert lim.try_acquire(ACCOUNT, MODEL, "done") is None
    lim.release(ACCOUNT, MODEL, "done")  # its task ended...
    assert not lim.renew(ACCOUNT, MODEL, "done")  # ...a poll that lost the race to finish
    assert lim.in_flight(ACCOUNT, MODEL) == 0
    assert lim.try_acquire(ACCOUNT, MODEL, "b") is None
    clock.now += 61  # b's lease ran out, and c took the slot
    assert lim.try_acquire(ACCOUNT, MODEL, "c") is None
    assert not lim.renew(ACCOUNT, MODEL, "b")  # not re-added over the limit
    assert lim.in_flight(ACCOUNT, MODEL) == 1


def test_redis_connection_failures_are_retryable(redis_prefix: str) -> None:
    dead = redis.Redis(
        host="127.0.0.1", port=1, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )
    lim = limiter(dead, redis_prefix)
    for call in (lim.try_acquire, lim.renew, lim.release):
        with pytest.raises(RedisUnavailable) as info:
            call(ACCOUNT, MODEL, "a")
        assert isinstance(info.value, RetryableError)
        assert isinstance(info.value.__cause__, redis.exceptions.ConnectionError)


def test_submit_rate_is_a_token_bucket(redis_client: redis.Redis, redis_prefix: str) -> None:
    clock = Clock()
    lim = limiter(
        redis_client, redis_prefix, clock, max_in_flight=100, submit_rps=10, submit_burst=3
    )
    assert [lim.try_acquire(ACCOUNT, MODEL, f"j{i}") for i in range(3)] == [None] * 3
    wait = lim.try_acquire(ACCOUNT, MODEL, "j3")
    assert wait is not None and 0 < wait <= 0.1
    clock.now += wait
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
