"""Helpers for the limiter's unit tests: accounts, settings and the Redis clock."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import redis

from config.accounts import AccountSettings, LimiterSettings, ModelLimits
from workers.limits import Admission, Admitted, Lane

MODEL = "wan2.7-image"
LEASE_TTL_S = 3600.0


def account(
    name: str = "acct",
    *,
    submit_rps: float = 1000.0,
    max_in_flight: int = 1000,
    models: tuple[str, ...] = (),
    query_rps: float = 20.0,
) -> AccountSettings:
    """An account with the same limits for every model."""
    return AccountSettings(
        name=name,
        models=models,
        query_rps=query_rps,
        limits={"*": ModelLimits(submit_rps=submit_rps, max_in_flight=max_in_flight)},
    )


def limiter(**fields: Any) -> LimiterSettings:
    """Limiter settings with a burst and an admitted-ahead bound large enough not to matter
    unless a test sets them."""
    return LimiterSettings(**{"submit_burst": 10_000.0, "admitted_max": 1_000_000, **fields})


def admission(
    client: redis.Redis,
    prefix: str,
    accounts: Iterable[AccountSettings] | None = None,
    settings: LimiterSettings | None = None,
    lease_ttl_s: float = LEASE_TTL_S,
) -> Admission:
    """An Admission on the test's prefix (one generous account unless given)."""
    return Admission(
        client,
        prefix,
        tuple(accounts) if accounts is not None else (account(),),
        settings or limiter(),
        lease_ttl_s,
    )


def redis_now_ms(client: redis.Redis) -> int:
    """The Redis clock in ms (the limiter's clock)."""
    seconds, micros = client.time()
    return int(seconds) * 1000 + int(micros) // 1000


def park_all(
    gate: Admission,
    job_ids: Iterable[str],
    tenant: str = "default",
    lane: Lane = Lane.BULK,
    model: str = MODEL,
) -> None:
    """Park every job (each must be new)."""
    for job_id in job_ids:
        assert gate.park(job_id, model, lane, tenant)


def admit_all(gate: Admission, count: int, now_ms: int, model: str = MODEL) -> list[Admitted]:
    """Admit ``count`` jobs at ``now_ms``; each admission must succeed."""
    out: list[Admitted] = []
    for _ in range(count):
        outcome = gate.admit(model, now_ms=now_ms)
        assert isinstance(outcome, Admitted), outcome
        out.append(outcome)
    return out
