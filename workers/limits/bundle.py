"""All of the limiter, as the pipeline's runtime holds it."""

from __future__ import annotations

from dataclasses import dataclass

from redis import Redis

from config.settings import Settings
from workers.limits.admission import Admission
from workers.limits.latency import LatencyModel
from workers.limits.leases import Leases
from workers.limits.queries import QueryBudget
from workers.limits.throttle import Throttle


@dataclass(frozen=True)
class Limits:
    """The limiter's parts, sharing one Redis.

    Attributes:
        admission: The waiting room and admission.
        leases: Tasks in flight.
        throttle: 429 feedback.
        queries: The accounts' query budgets.
        latency: Observed latencies and the poll schedule.
    """

    admission: Admission
    leases: Leases
    throttle: Throttle
    queries: QueryBudget
    latency: LatencyModel

    @classmethod
    def build(cls, redis: Redis, settings: Settings) -> Limits:
        """The limiter of these settings on ``redis``."""
        accounts = settings.upstream_accounts()
        limiter, prefix = settings.limiter, settings.key_prefix
        lease_ttl_s = settings.pipeline.lease_ttl_s
        return cls(
            admission=Admission(redis, prefix, accounts, limiter, lease_ttl_s),
            leases=Leases(redis, prefix, lease_ttl_s),
            throttle=Throttle(redis, prefix, accounts, limiter),
            queries=QueryBudget(redis, prefix, accounts, limiter.query_burst),
            latency=LatencyModel(
                redis,
                prefix,
                window=limiter.latency_window,
                min_samples=limiter.latency_min_samples,
                quantiles=limiter.poll_quantiles,
            ),
        )
