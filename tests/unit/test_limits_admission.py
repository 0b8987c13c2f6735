"""workers.limits.admission against the real Redis: lanes, tenant fairness, account choice,
the rate and concurrency bounds (also with several processes admitting at once)."""

from __future__ import annotations

import multiprocessing
import queue
import time
from collections import Counter
from typing import Any, cast

import pytest
import redis

from tests.unit.limits_fakes import (
    MODEL,
    account,
    admission,
    admit_all,
    limiter,
    park_all,
    redis_now_ms,
)
from workers.limits import Admitted, Lane, Throttle, ThrottleKind
from workers.limits.leases import Leases, leases_key


def jobs(tag: str, count: int) -> list[str]:
    return [f"{tag}-{i}" for i in range(count)]


def test_interactive_jobs_are_admitted_before_any_bulk_job(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    gate = admission(redis_client, redis_prefix)
    park_all(gate, jobs("bulk", 200), tenant="big")
    park_all(gate, jobs("now", 3), tenant="small", lane=Lane.INTERACTIVE)
    now = redis_now_ms(redis_client)
    first = admit_all(gate, 5, now)
    assert [a.job_id for a in first[:3]] == ["now-0", "now-1", "now-2"]
    assert [a.lane for a in first] == ["interactive"] * 3 + ["bulk"] * 2
    # one arriving later still goes ahead of the whole bulk backlog
    park_all(gate, ["now-late"], tenant="big", lane=Lane.INTERACTIVE)
    [late] = admit_all(gate, 1, now)
    assert (late.job_id, late.lane, late.tenant) == ("now-late", "interactive", "big")


def test_tenants_share_admissions_by_weight(redis_client: redis.Redis, redis_prefix: str) -> None:
    settings = limiter(tenant_weights={"heavy": 3.0, "light": 1.0})
    gate = admission(redis_client, redis_prefix, settings=settings)
    park_all(gate, jobs("h", 400), tenant="heavy")
    park_all(gate, jobs("l", 400), tenant="light")
    admitted = admit_all(gate, 200, redis_now_ms(redis_client))
    shares = Counter(a.tenant for a in admitted)
    assert abs(shares["heavy"] - 150) <= 2 and abs(shares["light"] - 50) <= 2
    # within a tenant: oldest first
    heavy = [a.job_id for a in admitted if a.tenant == "heavy"]
    assert heavy == [f"h-{i}" for i in range(len(heavy))]


def test_a_large_backlog_is_no_head_start(redis_client: redis.Redis, redis_prefix: str) -> None:
    gate = admission(redis_client, redis_prefix)
    park_all(gate, jobs("big", 5000), tenant="big")
    now = redis_now_ms(redis_client)
    admit_all(gate, 50, now)
    park_all(gate, jobs("small", 10), tenant="small")
    admitted = admit_all(gate, 20, now)
    assert sorted(a.job_id for a in admitted if a.tenant == "small") == sorted(jobs("small", 10))
    assert gate.waiting() == {MODEL: 5000 - 50 - 10}


def test_a_job_parks_once(redis_client: redis.Redis, redis_prefix: str) -> None:
    gate = admission(redis_client, redis_prefix)
    assert gate.park("j1", MODEL, Lane.BULK, "t")
    assert not gate.park("j1", MODEL, Lane.BULK, "t")  # already waits
    assert not gate.park("j1", MODEL, Lane.INTERACTIVE, "other")  # in no other line either
    assert gate.waiting() == {MODEL: 1}
    now = redis_now_ms(redis_client)
    [admitted] = admit_all(gate, 1, now)
    assert admitted.job_id == "j1"
    assert not gate.park("j1", MODEL, Lane.BULK, "t")  # admitted: its submit is on its way
    assert gate.waiting() == {}
    assert gate.admit(MODEL, now_ms=now) is None
    # once its submit started (and e.g. was throttled), it parks again, first in its line
    park_all(gate, ["j2"], tenant="t")
    gate.started("j1")
    assert gate.park("j1", MODEL, Lane.BULK, "t", first=True)
    assert [a.job_id for a in admit_all(gate, 2, now)] == ["j1", "j2"]


def test_placed_tells_waiting_or_admitted_jobs_from_lost_ones(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    gate = admission(redis_client, redis_prefix)
    park_all(gate, ["admitted", "waiting"])
    admit_all(gate, 1, redis_now_ms(redis_client))
    assert gate.placed(["waiting", "admitted", "lost"]) == [True, True, False]
    gate.started("admitted")  # its submit began: no longer placed
    assert gate.placed(["admitted"]) == [False]
    assert gate.placed([]) == []


def test_the_rate_bounds_admissions_and_says_how_long_to_wait(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    acct = account(submit_rps=2.0, max_in_flight=1000)
    gate = admission(redis_client, redis_prefix, [acct], limiter(submit_burst=1.0))
    park_all(gate, jobs("j", 100))
    t0 = redis_now_ms(redis_client)
    assert isinstance(gate.admit(MODEL, now_ms=t0), Admitted)
    assert gate.admit(MODEL, now_ms=t0) == pytest.approx(0.5)  # one token every 500 ms
    # 1 ms short of a token (rounded up to whole ms)
    assert gate.admit(MODEL, now_ms=t0 + 499) == pytest.approx(0.001, abs=0.0011)
    assert isinstance(gate.admit(MODEL, now_ms=t0 + 500), Admitted)
    # driven through 2 s a millisecond at a time: never more than rate * time + burst
    times = []
    for now in range(t0 + 501, t0 + 2_500):
        outcome = gate.admit(MODEL, now_ms=now)
        if isinstance(outcome, Admitted):
            times.append(now)
        else:
            assert isinstance(outcome, float) and 0 < outcome <= 0.5
    assert times == [t0 + 1000, t0 + 1500, t0 + 2000]  # one every 500 ms


def test_the_burst_is_spent_at_once_then_the_rate(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    acct = account(submit_rps=10.0, max_in_flight=1000)
    gate = admission(redis_client, redis_prefix, [acct], limiter(submit_burst=5.0))
    park_all(gate, jobs("j", 20))
    t0 = redis_now_ms(redis_client)
    admit_all(gate, 5, t0)
    assert gate.admit(MODEL, now_ms=t0) == pytest.approx(0.1)
    admit_all(gate, 1, t0 + 100)


def test_concurrency_bounds_admissions_until_a_lease_goes_back(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    acct = account(max_in_flight=2)
    settings = limiter(dispatch_interval_s=0.25)
    gate = admission(redis_client, redis_prefix, [acct], settings)
    leases = Leases(redis_client, redis_prefix, 3600)
    park_all(gate, jobs("j", 5))
    now = redis_now_ms(redis_client)
    held = admit_all(gate, 2, now)
    assert gate.admit(MODEL, now_ms=now) == pytest.approx(0.25)  # full: look again next round
    assert leases.in_flight("acct", MODEL) == 2
    leases.release("acct", MODEL, held[0].job_id)
    [third] = admit_all(gate, 1, now)
    assert third.job_id == "j-2"
    assert sorted(leases.holders("acct", MODEL)) == ["j-1", "j-2"]
    assert isinstance(gate.admit(MODEL, now_ms=now), float)


def test_a_full_account_overflows_to_the_next(redis_client: redis.Redis, redis_prefix: str) -> None:
    first, second = account("first", max_in_flight=2), account("second", max_in_flight=3)
    gate = admission(redis_client, redis_prefix, [first, second])
    park_all(gate, jobs("j", 10))
    now = redis_now_ms(redis_client)
    admitted = admit_all(gate, 5, now)
    assert [a.account for a in admitted] == ["first"] * 2 + ["second"] * 3
    assert isinstance(gate.admit(MODEL, now_ms=now), float)  # both full
    Leases(redis_client, redis_prefix, 3600).release("first", MODEL, admitted[0].job_id)
    assert [a.account for a in admit_all(gate, 1, now)] == ["first"]


def test_an_account_that_does_not_run_the_model_is_never_chosen(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    other = account("other", models=("wan2.6-image",))
    mine = account("mine", models=(MODEL,), max_in_flight=3)
    gate = admission(redis_client, redis_prefix, [other, mine])
    assert gate.serves(MODEL) and gate.serves("wan2.6-image") and not gate.serves("qwen")
    park_all(gate, jobs("j", 5))
    now = redis_now_ms(redis_client)
    assert {a.account for a in admit_all(gate, 3, now)} == {"mine"}
    assert isinstance(gate.admit(MODEL, now_ms=now), float)  # "other" has room, but not this
    park_all(gate, ["k"], model="wan2.6-image")
    assert admit_all(gate, 1, now, model="wan2.6-image")[0].account == "other"


def test_a_paused_account_is_skipped(redis_client: redis.Redis, redis_prefix: str) -> None:
    accounts = [account("first"), account("second")]
    settings = limiter(throttle_pause_s=2.0)
    gate = admission(redis_client, redis_prefix, accounts, settings)
    throttle = Throttle(redis_client, redis_prefix, accounts, settings)
    park_all(gate, jobs("j", 4))
    now = redis_now_ms(redis_client)
    throttle.throttled("first", MODEL, ThrottleKind.RATE, now_ms=now)
    assert [a.account for a in admit_all(gate, 2, now + 1)] == ["second", "second"]
    assert [a.account for a in admit_all(gate, 1, now + 2000)] == ["first"]  # pause over
    # only a paused account: wait for the end of its pause
    alone = admission(redis_client, redis_prefix, [accounts[0]], settings)
    throttle.throttled("first", MODEL, ThrottleKind.RATE, now_ms=now + 5000)
    assert alone.admit(MODEL, now_ms=now + 5500) == pytest.approx(1.5)


def test_admissions_whose_submit_never_started_are_stale_once(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    gate = admission(redis_client, redis_prefix)
    park_all(gate, ["lost", "started", "recent"])
    ten_s_ago = redis_now_ms(redis_client) - 10_000
    admit_all(gate, 2, ten_s_ago)
    admit_all(gate, 1, redis_now_ms(redis_client))
    gate.started("started")
    assert gate.stale(5.0) == [("lost", "acct")]
    assert gate.stale(5.0) == []  # marked admitted again now: returned once
    gate.started("lost")
    assert sorted(job for job, _ in gate.stale(0.0)) == ["recent"]


def test_waiting_counts_per_model(redis_client: redis.Redis, redis_prefix: str) -> None:
    gate = admission(redis_client, redis_prefix)
    assert gate.waiting() == {}
    park_all(gate, jobs("a", 3))
    park_all(gate, jobs("b", 2), model="wan2.6-image", lane=Lane.INTERACTIVE)
    assert gate.waiting() == {MODEL: 3, "wan2.6-image": 2}
    now = redis_now_ms(redis_client)
    admit_all(gate, 3, now)
    assert gate.waiting() == {"wan2.6-image": 2}
    assert gate.admit(MODEL, now_ms=now) is None


# --- several processes admitting at once ----------------------------------------------------

PROCESSES = 3
LIMIT = 5
HOLDING = "holding"


def _hammer(
    url: str, prefix: str, rate: float, burst: float, start: Any, out: Any, deadline_s: float
) -> None:
    """One worker process: admit as fast as it can, hold what it gets, give a lease back
    whenever it is refused; report the counts it saw right after each admission."""
    client = redis.Redis.from_url(url, decode_responses=True)
    gate = admission(
        client,
        prefix,
        [account(submit_rps=rate, max_in_flight=LIMIT)],
        limiter(submit_burst=burst, dispatch_interval_s=0.001),
    )
    leases = Leases(client, prefix, 3600)
    key = leases_key(prefix, "acct", MODEL)
    held: list[str] = []
    seen: list[tuple[int, int]] = []
    start.wait(30)
    stop_at = time.monotonic() + deadline_s
    try:
        while time.monotonic() < stop_at:
            outcome = gate.admit(MODEL)
            if isinstance(outcome, Admitted):
                holding = int(client.incr(prefix + HOLDING))
                seen.append((holding, int(client.zcard(key))))
                held.append(outcome.job_id)
            elif held:
                client.decr(prefix + HOLDING)
                leases.release("acct", MODEL, held.pop(0))
            elif outcome is None:
                break
        for job_id in held:
            client.decr(prefix + HOLDING)
            leases.release("acct", MODEL, job_id)
    finally:
        out.put(seen)
        client.close()


@pytest.mark.parametrize(
    ("rate", "burst", "total"),
    [(100_000.0, 5.0, 1500), (400.0, 3.0, 600)],
    ids=["concurrency-bound", "rate-bound"],
)
def test_processes_admitting_together_never_exceed_the_limits(
    redis_client: redis.Redis,
    redis_prefix: str,
    redis_url: str,
    rate: float,
    burst: float,
    total: int,
) -> None:
    gate = admission(redis_client, redis_prefix)
    park_all(gate, jobs("j", total))
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=_hammer, args=(redis_url, redis_prefix, rate, burst, start, out, 30.0))
        for _ in range(PROCESSES)
    ]
    for proc in procs:
        proc.start()
    start.set()
    seen: list[tuple[int, int]] = []
    try:
        for _ in procs:
            seen += out.get(timeout=60)
    except queue.Empty:
        pytest.fail("a hammering process did not report within 60 s")
    finally:
        for proc in procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
    assert len(seen) == total and gate.waiting() == {}
    holding = [h for h, _ in seen]
    leases_seen = [n for _, n in seen]
    assert max(holding) <= LIMIT and max(leases_seen) <= LIMIT
    if rate >= 1000:  # concurrency was the binding limit: it was actually reached
        assert max(leases_seen) == LIMIT
    assert int(redis_client.get(redis_prefix + HOLDING) or 0) == 0
    # the admission times, on the Redis clock, as the script recorded them
    scores = cast(
        list[tuple[str, float]],
        redis_client.zrange(f"{redis_prefix}admitted", 0, -1, withscores=True),
    )
    times = sorted(int(score) for _, score in scores)
    assert len(times) == total
    for window_ms in (10, 100, 500):
        most = max(_count_within(times, i, window_ms) for i in range(len(times)))
        assert most <= burst + rate * window_ms / 1000, (window_ms, most)
    if rate < 1000:  # the rate was the binding limit: the whole run took its time
        assert times[-1] - times[0] >= (total - burst) / rate * 1000


def _count_within(times: list[int], i: int, window_ms: int) -> int:
    """Admissions in ``[times[i], times[i] + window_ms]``."""
    j = i
    while j < len(times) and times[j] <= times[i] + window_ms:
        j += 1
    return j - i


def test_admitted_jobs_not_yet_started_are_bounded(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    """Admission waits while admitted_max jobs are admitted and their submits not begun, so
    a backlog of admitted submits (and their tokens) never piles up in the post queue."""
    gate = admission(redis_client, redis_prefix, settings=limiter(admitted_max=3))
    park_all(gate, [f"{i:032x}" for i in range(5)])
    first = admit_all(gate, 3, redis_now_ms(redis_client))
    assert isinstance(gate.admit(MODEL), float)  # bounded: wait
    gate.started(first[0].job_id)
    assert isinstance(gate.admit(MODEL), Admitted)
