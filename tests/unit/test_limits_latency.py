"""workers.limits.latency against the real Redis: the poll schedule from observed latencies."""

from __future__ import annotations

import pytest
import redis

from tests.unit.pipeline_fakes import Clock
from workers.limits import LatencyModel
from workers.limits.latency import REFRESH_S, TAIL_SHARE

MODEL = "wan2.7-image"


def model(client: redis.Redis, prefix: str, clock: Clock, window: int = 100) -> LatencyModel:
    return LatencyModel(
        client, prefix, window=window, min_samples=5, quantiles=(0.9, 0.5), clock=clock
    )


def test_too_few_samples_give_no_schedule(redis_client: redis.Redis, redis_prefix: str) -> None:
    latency = model(redis_client, redis_prefix, Clock(0.0))
    for seconds in (10.0, 20.0, 30.0, 40.0):
        latency.record(MODEL, seconds)
    assert latency.targets(MODEL) is None
    assert latency.next_delay_s(MODEL, 0.0, first=True) is None


def test_the_next_poll_is_at_the_next_quantile_ahead(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    latency = model(redis_client, redis_prefix, Clock(0.0))
    for seconds in range(1, 11):
        latency.record(MODEL, float(seconds))
    assert latency.targets(MODEL) == (6.0, 10.0)  # the median and p90, ascending
    assert latency.next_delay_s(MODEL, 0.0, first=True) == pytest.approx(6.0)
    assert latency.next_delay_s(MODEL, 7.0, first=True) == 0.0  # the median is past: now
    assert latency.next_delay_s(MODEL, 4.0, first=False) == pytest.approx(2.0)
    # too close to the median (under MIN_GAP_S): the next quantile instead
    assert latency.next_delay_s(MODEL, 5.9, first=False) == pytest.approx(4.1)
    assert latency.next_delay_s(MODEL, 9.0, first=False) == pytest.approx(1.0)
    # past the last quantile: every quarter of the task's age, never under MIN_GAP_S
    assert latency.next_delay_s(MODEL, 9.9, first=False) == pytest.approx(9.9 * TAIL_SHARE)
    assert latency.next_delay_s(MODEL, 60.0, first=False) == pytest.approx(15.0)
    assert latency.next_delay_s(MODEL, 0.1, first=False) == pytest.approx(5.9)
    assert latency.next_delay_s("another-model", 0.0, first=True) is None


def test_quantiles_are_read_again_after_the_refresh(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    clock = Clock(100.0)
    latency = model(redis_client, redis_prefix, clock)
    assert latency.targets(MODEL) is None
    for _ in range(5):
        latency.record(MODEL, 3.0)
    assert latency.targets(MODEL) is None  # cached
    clock.now += REFRESH_S
    assert latency.targets(MODEL) == (3.0, 3.0)


def test_the_window_keeps_the_newest_samples(redis_client: redis.Redis, redis_prefix: str) -> None:
    latency = model(redis_client, redis_prefix, Clock(0.0), window=5)
    for seconds in [100.0] * 5 + [1.0, 2.0, 3.0, 4.0, -5.0]:
        latency.record(MODEL, seconds)
    assert redis_client.llen(f"{redis_prefix}latency:{MODEL}") == 5
    assert latency.targets(MODEL) == (2.0, 4.0)  # 0 (clamped), 1, 2, 3, 4
