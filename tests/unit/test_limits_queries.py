"""workers.limits.queries against the real Redis: one query budget per account, shared by
every poller, reserved ahead (the clock driven through ``now_ms``)."""

from __future__ import annotations

import pytest
import redis

from tests.unit.limits_fakes import account, redis_now_ms
from workers.limits import QueryBudget


def budgets(client: redis.Redis, prefix: str, burst: float = 2.0) -> tuple[QueryBudget, ...]:
    accounts = [account("a", query_rps=20.0), account("b", query_rps=5.0)]
    return tuple(QueryBudget(client, prefix, accounts, burst) for _ in range(2))


def test_reservations_are_spaced_by_the_rate_across_processes(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    one, two = budgets(redis_client, redis_prefix)
    t0 = redis_now_ms(redis_client)
    waits = [(one if i % 2 else two).reserve("a", now_ms=t0) for i in range(10)]
    # the burst of 2 at once, then one every 1 / 20 s, whichever instance asks
    assert waits == pytest.approx([0.0, 0.0] + [0.05 * i for i in range(1, 9)])
    # each account has its own budget
    assert [one.reserve("b", now_ms=t0) for _ in range(3)] == pytest.approx([0, 0, 0.2])


def test_an_idle_budget_refills_to_its_burst_only(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    one, two = budgets(redis_client, redis_prefix)
    t0 = redis_now_ms(redis_client)
    for _ in range(10):
        one.reserve("a", now_ms=t0)
    assert two.reserve("a", now_ms=t0 + 450) == pytest.approx(0.0)  # reserved up to t0 + 500
    t1 = t0 + 60_000
    waits = [one.reserve("a", now_ms=t1) for _ in range(4)]
    assert waits == pytest.approx([0.0, 0.0, 0.05, 0.1])


def test_a_pause_pushes_every_reservation_back(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    one, two = budgets(redis_client, redis_prefix)
    t0 = redis_now_ms(redis_client)
    one.pause("a", 3.0, now_ms=t0)
    # the next query at t0 + 3 s (less the burst's tolerance), then spaced as usual
    assert two.reserve("a", now_ms=t0) == pytest.approx(2.95)
    assert two.reserve("a", now_ms=t0) == pytest.approx(3.0)
    assert two.reserve("b", now_ms=t0) == 0.0  # another account is not paused
    # a shorter pause never pulls reservations forward
    one.pause("a", 0.5, now_ms=t0)
    assert one.reserve("a", now_ms=t0) == pytest.approx(3.05)


def test_reservations_use_the_redis_clock_by_default(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    (one, _) = budgets(redis_client, redis_prefix, burst=1.0)
    assert one.reserve("b") == 0.0
    assert 0 < one.reserve("b") <= 0.2  # one every 200 ms
