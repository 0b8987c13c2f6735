"""workers.limits.throttle against the real Redis: what a 429 cuts, pauses and how the limits
recover (the clock driven through ``now_ms``)."""

from __future__ import annotations

import pytest
import redis

from config.accounts import AccountSettings, LimiterSettings
from tests.unit.limits_fakes import (
    MODEL,
    account,
    admission,
    admit_all,
    limiter,
    park_all,
    redis_now_ms,
)
from workers.limits import Admission, Admitted, Leases, Throttle, ThrottleKind

RATE = ThrottleKind.RATE
CONCURRENCY = ThrottleKind.CONCURRENCY


def parts(
    client: redis.Redis, prefix: str, acct: AccountSettings, settings: LimiterSettings
) -> tuple[Admission, Throttle]:
    return admission(client, prefix, [acct], settings), Throttle(client, prefix, [acct], settings)


def test_the_kind_of_a_429() -> None:
    assert ThrottleKind.of("Throttling.AllocationQuota") is CONCURRENCY
    assert ThrottleKind.of("Throttling.RateQuota") is RATE
    assert ThrottleKind.of("Throttling") is RATE and ThrottleKind.of(None) is RATE


def test_a_rate_429_cuts_the_rate_and_pauses_admission(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    acct = account(submit_rps=10.0, max_in_flight=100)
    settings = limiter(submit_burst=1.0, throttle_pause_s=2.0, rate_cut=0.5)
    gate, throttle = parts(redis_client, redis_prefix, acct, settings)
    park_all(gate, [f"j{i}" for i in range(5)])
    t0 = redis_now_ms(redis_client)
    assert throttle.throttled("acct", MODEL, RATE, now_ms=t0) == (5.0, 100)
    state = throttle.state("acct", MODEL)
    assert state == {"r_cut": "5", "r_at": str(t0), "r_ss": "0", "paused": str(t0 + 2000)}
    assert gate.admit(MODEL, now_ms=t0 + 500) == pytest.approx(1.5)  # paused fleet-wide
    admit_all(gate, 1, t0 + 2000)
    # admissions now follow the cut rate: a token every 1 / 5 s (it grows by 2 % a second)
    wait_s = gate.admit(MODEL, now_ms=t0 + 2000)
    assert isinstance(wait_s, float) and 0.18 < wait_s <= 0.2


def test_retry_after_sets_the_pause(redis_client: redis.Redis, redis_prefix: str) -> None:
    gate, throttle = parts(redis_client, redis_prefix, account(), limiter(throttle_pause_s=1.0))
    park_all(gate, ["j"])
    t0 = redis_now_ms(redis_client)
    throttle.throttled("acct", MODEL, RATE, retry_after_s=7.0, now_ms=t0)
    assert gate.admit(MODEL, now_ms=t0 + 1000) == pytest.approx(6.0)
    # a shorter pause never ends a longer one early
    throttle.throttled("acct", MODEL, CONCURRENCY, retry_after_s=0.5, now_ms=t0 + 1000)
    assert gate.admit(MODEL, now_ms=t0 + 1600) == pytest.approx(5.4)
    assert isinstance(gate.admit(MODEL, now_ms=t0 + 7000), Admitted)


def _rate_after(throttle: Throttle, model: str, t0: int, later_s: float) -> float:
    """The allowed rate ``later_s`` after a first cut at ``t0``, as a second 429 sees it."""
    throttle.throttled("acct", model, RATE, now_ms=t0)
    rate, _ = throttle.throttled("acct", model, RATE, now_ms=t0 + round(later_s * 1000))
    return rate / 0.5


def test_the_rate_recovers_additively_up_to_its_limit(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    acct = account(submit_rps=10.0, max_in_flight=100)
    settings = limiter(rate_cut=0.5, rate_recovery_per_s=0.1)
    throttle = Throttle(redis_client, redis_prefix, [acct], settings)
    t0 = redis_now_ms(redis_client)
    # cut to 5 at t0, then + 10 % of 5 every second: 5, 5.5, 6, ... never past 10
    assert _rate_after(throttle, "m1", t0, 1) == pytest.approx(5.5)
    assert _rate_after(throttle, "m2", t0, 4) == pytest.approx(7.0)
    assert _rate_after(throttle, "m3", t0, 8) == pytest.approx(9.0)
    assert _rate_after(throttle, "m4", t0, 60) == pytest.approx(10.0)


def test_a_concurrency_429_allows_one_less_than_held_and_probes_one_more_at_a_time(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    acct = account(submit_rps=1000.0, max_in_flight=10)
    settings = limiter(in_flight_probe_s=10.0, throttle_pause_s=1.0)
    gate, throttle = parts(redis_client, redis_prefix, acct, settings)
    leases = Leases(redis_client, redis_prefix, 3600)
    park_all(gate, [f"j{i}" for i in range(20)])
    t0 = redis_now_ms(redis_client)
    held = admit_all(gate, 4, t0)
    # the 4th was refused: the upstream counted at most 3 of ours
    assert throttle.throttled("acct", MODEL, CONCURRENCY, now_ms=t0) == (1000.0, 3)
    leases.release("acct", MODEL, held[-1].job_id)  # the refused job's lease goes back
    assert isinstance(gate.admit(MODEL, now_ms=t0 + 1000), float)  # 3 held, 3 allowed
    leases.release("acct", MODEL, held[0].job_id)
    admit_all(gate, 1, t0 + 1000)
    assert isinstance(gate.admit(MODEL, now_ms=t0 + 9_999), float)
    admit_all(gate, 1, t0 + 10_000)  # one more every in_flight_probe_s
    assert isinstance(gate.admit(MODEL, now_ms=t0 + 19_999), float)
    admit_all(gate, 1, t0 + 20_000)
    admit_all(gate, 5, t0 + 1_000_000)  # back to the configured 10 at most
    assert leases.in_flight("acct", MODEL) == 10
    assert isinstance(gate.admit(MODEL, now_ms=t0 + 1_000_000), float)


def test_429s_within_the_settle_window_cut_once(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    acct = account(submit_rps=10.0, max_in_flight=10)
    settings = limiter(rate_cut=0.5, rate_recovery_per_s=0.1)
    gate, throttle = parts(redis_client, redis_prefix, acct, settings)
    t0 = redis_now_ms(redis_client)
    assert throttle.throttled("acct", MODEL, RATE, now_ms=t0)[0] == 5.0
    # the same overshoot answered late: no second cut (the rate grew a little meanwhile)
    rate, _ = throttle.throttled("acct", MODEL, RATE, now_ms=t0 + 500)
    assert rate == pytest.approx(5.25)
    assert throttle.state("acct", MODEL)["r_at"] == str(t0)
    assert throttle.state("acct", MODEL)["paused"] == str(t0 + 1500)  # the pause follows
    rate, _ = throttle.throttled("acct", MODEL, RATE, now_ms=t0 + 1000)  # settled: a new cut
    assert rate == pytest.approx(5.5 * 0.5)
    # concurrency: two refusals of one overshoot lower the slots once
    park_all(gate, [f"j{i}" for i in range(4)])
    admit_all(gate, 4, t0 + 100_000)
    assert throttle.throttled("acct", MODEL, CONCURRENCY, now_ms=t0 + 100_000)[1] == 3
    assert throttle.throttled("acct", MODEL, CONCURRENCY, now_ms=t0 + 100_200)[1] == 3
    assert throttle.throttled("acct", MODEL, CONCURRENCY, now_ms=t0 + 101_000)[1] == 3


def test_an_unknown_rate_doubles_from_its_start_until_the_first_429(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    acct = account(submit_rps=0.0, max_in_flight=0)
    settings = limiter(
        discovery_start_rps=1.0,
        discovery_doubling_s=2.0,
        rate_cut=0.5,
        rate_recovery_per_s=0.1,
        discovery_max_in_flight=50,
    )
    gate, throttle = parts(redis_client, redis_prefix, acct, settings)
    t0 = redis_now_ms(redis_client)
    for n, model in enumerate(("m0", "m1", "m2", "m3")):
        park_all(gate, [f"{model}-j"], model=model)
        admit_all(gate, 1, t0, model=model)  # the first admission starts the discovery
        assert throttle.state("acct", model) == {"r_cut": "1", "r_at": str(t0), "r_ss": "1"}
        rate, in_flight = throttle.throttled("acct", model, RATE, now_ms=t0 + 2000 * n)
        assert rate == pytest.approx(0.5 * 2**n) and in_flight == 50
    # after its first 429 it grows additively: 10 % of the cut rate a second, no doubling
    rate, _ = throttle.throttled("acct", "m3", RATE, now_ms=t0 + 6000 + 10_000)
    assert rate == pytest.approx(0.5 * 4.0 * 2.0)


def test_an_unknown_rate_starts_slowly_at_admission(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    acct = account(submit_rps=0.0, max_in_flight=0)
    settings = limiter(discovery_start_rps=2.0, discovery_doubling_s=1.0, submit_burst=1.0)
    gate = admission(redis_client, redis_prefix, [acct], settings)
    park_all(gate, [f"j{i}" for i in range(10)])
    t0 = redis_now_ms(redis_client)
    admit_all(gate, 1, t0)
    assert gate.admit(MODEL, now_ms=t0) == pytest.approx(0.5)  # 2 per second at first
    admit_all(gate, 1, t0 + 3000)
    # three doublings later: 16 per second
    assert gate.admit(MODEL, now_ms=t0 + 3000) == pytest.approx(1 / 16, abs=0.002)


def test_failures_in_a_row_pause_longer_until_one_submit_gets_through(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    settings = limiter(unavailable_pause_s=0.1, unavailable_pause_max_s=0.5)
    feedback = Throttle(redis_client, redis_prefix, [account("acct")], settings)
    pauses = [feedback.unavailable("acct", MODEL, now_ms=1_000) for _ in range(5)]
    assert pauses == [0.1, 0.2, 0.4, 0.5, 0.5]  # doubling, capped
    assert int(feedback.state("acct", MODEL)["paused"]) == 1_500
    assert feedback.unavailable("acct", MODEL, jitter=0.5, now_ms=1_000) == 0.25
    feedback.available("acct", MODEL)
    assert feedback.unavailable("acct", MODEL, now_ms=1_000) == 0.1  # the run ended
