"""workers.limits.leases against the real Redis: renewal, running out, the reaper."""

from __future__ import annotations

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
from workers.contract import EditRequest, JobRecord, JobState, JobStore
from workers.limits import Admitted, Leases
from workers.limits.leases import leases_key

TTL_S = 30.0


def test_renew_extends_only_a_held_lease_and_never_adds_one(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    gate = admission(redis_client, redis_prefix, lease_ttl_s=TTL_S)
    leases = Leases(redis_client, redis_prefix, TTL_S)
    key = leases_key(redis_prefix, "acct", MODEL)
    park_all(gate, ["held", "released"])
    t0 = redis_now_ms(redis_client)
    admit_all(gate, 2, t0)
    assert redis_client.zscore(key, "held") == t0 + 30_000
    assert leases.renew("acct", MODEL, "held", now_ms=t0 + 10_000)
    assert redis_client.zscore(key, "held") == t0 + 40_000
    leases.release("acct", MODEL, "released")
    assert not leases.renew("acct", MODEL, "released", now_ms=t0 + 10_000)
    assert not leases.renew("acct", MODEL, "never", now_ms=t0 + 10_000)
    assert not leases.renew("other", MODEL, "held", now_ms=t0 + 10_000)  # another account
    assert leases.holders("acct", MODEL) == ["held"] and leases.in_flight("acct", MODEL) == 1
    assert leases.in_flight("other", MODEL) == 0


def test_a_dead_holders_lease_runs_out_and_frees_its_slot(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    gate = admission(redis_client, redis_prefix, [account(max_in_flight=1)], lease_ttl_s=TTL_S)
    leases = Leases(redis_client, redis_prefix, TTL_S)
    park_all(gate, ["dead", "next"])
    t0 = redis_now_ms(redis_client)
    admit_all(gate, 1, t0)  # its worker dies: no poll ever renews it
    assert isinstance(gate.admit(MODEL, now_ms=t0 + 29_999), float)  # still held
    [admitted] = admit_all(gate, 1, t0 + 30_001)  # ran out: the slot is free again
    assert admitted.job_id == "next"
    # a late poll of the dead holder cannot take the slot back
    assert not leases.renew("acct", MODEL, "dead", now_ms=t0 + 30_002)
    assert leases.holders("acct", MODEL) == ["next"]


def test_a_renewed_lease_outlives_its_first_term(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    gate = admission(redis_client, redis_prefix, [account(max_in_flight=1)], lease_ttl_s=TTL_S)
    leases = Leases(redis_client, redis_prefix, TTL_S)
    park_all(gate, ["alive", "next"])
    t0 = redis_now_ms(redis_client)
    admit_all(gate, 1, t0)
    assert leases.renew("acct", MODEL, "alive", now_ms=t0 + 20_000)
    assert isinstance(gate.admit(MODEL, now_ms=t0 + 40_000), float)  # past the first term
    assert isinstance(gate.admit(MODEL, now_ms=t0 + 50_001), Admitted)


def test_the_reaper_drops_leases_of_ended_and_vanished_jobs(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    store = JobStore(redis_client, redis_prefix, job_ttl_s=3600)
    request = EditRequest.model_validate(
        {"model": MODEL, "prompt": "white bg", "images": ("https://in/a.png",)}
    )
    live, _ = store.create(JobRecord(request=request, batch="unit"))
    ended, _ = store.create(JobRecord(request=request, batch="unit"))
    vanished = "0" * 32  # never stored (or expired)
    accounts = [account("a"), account("b")]
    gate = admission(redis_client, redis_prefix, accounts, limiter())
    leases = Leases(redis_client, redis_prefix, TTL_S)
    park_all(gate, [live.job_id, ended.job_id, vanished])
    admit_all(gate, 3, redis_now_ms(redis_client))
    assert store.transition(ended.job_id, JobState.CANCELED)  # ended, its slot not given back
    pairs = [("a", MODEL), ("b", MODEL), ("a", "wan2.6-image")]
    assert leases.reap(pairs, store.gone) == 2
    assert leases.holders("a", MODEL) == [live.job_id]
    assert leases.reap(pairs, store.gone) == 0  # nothing more to reclaim
    assert leases.reap([], store.gone) == 0
