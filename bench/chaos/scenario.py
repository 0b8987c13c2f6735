"""The chaos scenario: the upstream, the fleet, the faults and the settings the workers run with.

Every figure of the run is set here (the command line may change the job count, the number
of runs, the deadline and the seed). The workers' settings differ from the defaults only
where the scenario needs it, each for a stated reason (:func:`chaos_settings`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Final

from bench.scenarios.upstream import AccountSpec, UpstreamSpec
from config import Settings
from config.accounts import AccountSettings, ModelLimits

JOBS: Final = 1000
WORKERS: Final = 3
CONCURRENCY: Final = 8
DEADLINE_S: Final = 900.0
KEY: Final = "sk-chaos-0001"
ACCOUNT: Final = AccountSpec("acct-chaos", KEY, submit_rps=10.0, max_in_flight=40)
UPSTREAM: Final = UpstreamSpec(accounts=(ACCOUNT,))
"""Latency lognormal median 3 s (sigma 0.25), 2 % of tasks FAILED, 1 % of submits and queries
answered 503: the limiter benchmarks' upstream."""

# The workers' HTTP timeouts towards the upstream: short, so that a slow window of a few
# seconds makes submits ambiguous, and the reconcile wait (their sum, plus the margin and
# one more read timeout: 12 s) stays well inside the run.
CONNECT_TIMEOUT_S: Final = 1.0
READ_TIMEOUT_S: Final = 3.0
WRITE_TIMEOUT_S: Final = 1.0
POOL_TIMEOUT_S: Final = 2.0
RECONCILE_MARGIN_S: Final = 2.0
"""Clock-skew margin of a reconcile window: one machine, one clock."""

# A killed worker's messages come back after the broker's visibility timeout; the default
# (an hour) is longer than the whole run. Every countdown must stay under it and a slot lease
# must outlive it plus the longest countdown (checked by config.celery).
VISIBILITY_TIMEOUT_S: Final = 75
RETRY_BACKOFF_MAX_S: Final = 30.0
LEASE_TTL_S: Final = 150.0
STORE_STALL_S: Final = 240.0
"""The sweeper sends a silent STORING job's store again after this (default 30 min, longer
than the run): above a store's whole retry chain (10 retries, backoff up to 30 s) and a
killed worker's redelivery (the visibility timeout)."""

KILL_INTERVAL_S: Final = 10.0
UPSTREAM_OUTAGE_S: Final = 60.0
SLOW_UPSTREAM_S: Final = 10.0
SLOW_DELAY_S: Final = READ_TIMEOUT_S + 2.0
"""Each submit of the slow window is answered this late: past the client's read timeout, so
the client gives up while the upstream creates (and bills) the task."""
S3_OUTAGE_S: Final = 30.0
FLAKY_UPSTREAM_S: Final = 20.0
FLAKY_RATES: Final = {"drop_rate": 0.1, "malformed_rate": 0.1}
"""Share of the submits and queries of the flaky window whose connection is dropped before
any answer, and whose 200 answer comes back truncated (a submit's task is still created)."""
RATE_STORM_S: Final = 20.0
RATE_STORM_SUBMIT_RPS: Final = 1.0
RATE_STORM_QUERY_QPS: Final = 2.0
"""The account's limits during the 429 storm (against 10 submits/s and 20 queries/s),
unannounced, so that calls are answered 429 until the limiter has adapted."""
S3_SLOW_S: Final = 20.0
S3_SLOW_DELAY_S: Final = 2.0
"""Each chunk S3 sends back (up to 64 KiB: a PUT's whole answer) is held this long during the
slow window, under the client's read timeout: slow, not down."""
REDIS_DOWN_S: Final = 1.0
"""Redis stays stopped this long between its stop and its start."""
API_GROUPS: Final = ("submit", "sync", "query", "cancel", "list", "upload")
"""What an upstream outage takes down: DashScope's API. Result downloads come from OSS, a
different service, and keep working."""

MIN_GAP_S: Final = 15.0
MAX_GAP_S: Final = 60.0


@dataclass(frozen=True)
class FaultStep:
    """One fault of the plan.

    Attributes:
        name: ``sigterm``, ``redis_restart``, ``slow_upstream``, ``upstream_outage``,
            ``s3_outage``, ``flaky_upstream``, ``rate_storm`` or ``s3_slow``.
        after_share: Share of the jobs that must be terminal before it starts.
        duration_s: How long it lasts (0: an event, such as a restart).
    """

    name: str
    after_share: float
    duration_s: float = 0.0


PLAN: Final = (
    FaultStep("sigterm", 0.05),
    FaultStep("slow_upstream", 0.10, SLOW_UPSTREAM_S),
    FaultStep("upstream_outage", 0.20, UPSTREAM_OUTAGE_S),
    FaultStep("s3_outage", 0.35, S3_OUTAGE_S),
    FaultStep("redis_restart", 0.45),
    FaultStep("flaky_upstream", 0.52, FLAKY_UPSTREAM_S),
    FaultStep("rate_storm", 0.60, RATE_STORM_S),
    FaultStep("s3_slow", 0.68, S3_SLOW_S),
)
"""The faults, one at a time, in this order. Each starts once its share of the jobs is
terminal and the one before it has ended and the pipeline has recovered from it (at least
``MIN_GAP_S`` after its end, at most ``MAX_GAP_S``), so that every recovery is measured on
its own. SIGKILLs every ``KILL_INTERVAL_S`` run underneath all of them. The last ones come
early enough in the backlog that jobs are still being submitted when they strike."""


@dataclass(frozen=True)
class Scenario:
    """One chaos run's parameters.

    Attributes:
        jobs: Jobs submitted at the start.
        workers: Worker processes.
        concurrency: Threads per worker.
        deadline_s: The run ends when every job is terminal or this long after the start.
        seed: Seed of the emulator's draws and of the choice of workers to kill.
        kill_interval_s: A random worker is SIGKILLed (and started again) this often.
        plan: The faults.
        s3_mode: How S3 is unavailable: ``reset`` (connections reset) or ``refuse``.
        time_scale: Factor on the faults' durations and the gaps between them (below 1: a
            quicker run for development; the kill interval is kept).
    """

    jobs: int = JOBS
    workers: int = WORKERS
    concurrency: int = CONCURRENCY
    deadline_s: float = DEADLINE_S
    seed: int = 7
    kill_interval_s: float = KILL_INTERVAL_S
    plan: tuple[FaultStep, ...] = PLAN
    s3_mode: str = "reset"
    time_scale: float = 1.0

    def scaled_plan(self) -> tuple[FaultStep, ...]:
        """The plan with every duration multiplied by ``time_scale``."""
        return tuple(
            dataclasses.replace(step, duration_s=step.duration_s * self.time_scale)
            for step in self.plan
        )

    def emulator_config(self) -> dict[str, Any]:
        """The emulator's configuration: latency lognormal median 3 s, limits on (10 submits/s,
        40 in flight, 20 queries/s), 2 % failed tasks, 1 % 503s on submit and query."""
        return dataclasses.replace(UPSTREAM, seed=self.seed).emulator_config()

    def as_dict(self) -> dict[str, Any]:
        """What the report says about the scenario."""
        return {
            "jobs": self.jobs,
            "workers": self.workers,
            "concurrency": self.concurrency,
            "deadline_s": self.deadline_s,
            "seed": self.seed,
            "upstream": {
                "latency": f"lognormal median {UPSTREAM.median_s} s sigma {UPSTREAM.sigma}",
                "submit_rps": ACCOUNT.submit_rps,
                "max_in_flight": ACCOUNT.max_in_flight,
                "query_rps": ACCOUNT.query_rps,
                "failure_rate": UPSTREAM.failure_rate,
                "error_503_rate": UPSTREAM.error_5xx_rate,
            },
            "kill_interval_s": self.kill_interval_s,
            "time_scale": self.time_scale,
            "plan": [
                {"fault": s.name, "after_share": s.after_share, "duration_s": s.duration_s}
                for s in self.scaled_plan()
            ],
            "min_gap_s": MIN_GAP_S * self.time_scale,
            "max_gap_s": MAX_GAP_S * self.time_scale,
            "slow_delay_s": SLOW_DELAY_S,
            "flaky_rates": FLAKY_RATES,
            "rate_storm": {
                "submit_rps": RATE_STORM_SUBMIT_RPS,
                "query_qps": RATE_STORM_QUERY_QPS,
            },
            "s3_slow_delay_s": S3_SLOW_DELAY_S,
            "s3_mode": self.s3_mode,
            "redis": "redis-server, appendonly yes, appendfsync everysec; restarted by "
            f"SIGTERM, down {REDIS_DOWN_S:g} s, same port and directory",
            "outage_groups": list(API_GROUPS),
        }


def account_settings(base_url: str) -> AccountSettings:
    """The emulator's account as the workers are told about it (its limits known)."""
    limits = ModelLimits(submit_rps=ACCOUNT.submit_rps, max_in_flight=ACCOUNT.max_in_flight)
    return AccountSettings.model_validate(
        {
            "name": ACCOUNT.name,
            "base_url": base_url,
            "api_keys": [KEY],
            "query_rps": ACCOUNT.query_rps,
            "limits": {"*": limits},
        }
    )


def chaos_settings(base: Settings, *, s3_endpoint: str, prefix: str) -> Settings:
    """The stack's settings for the chaos run (see the constants above for each reason).

    Args:
        base: The stack's settings (Redis, S3, the emulator as upstream).
        s3_endpoint: Where the workers reach S3 (the switchable proxy).
        prefix: The run's key prefix.
    """
    assert base.upstream.base_url is not None
    upstream = base.upstream.model_copy(
        update={
            "connect_timeout_s": CONNECT_TIMEOUT_S,
            "read_timeout_s": READ_TIMEOUT_S,
            "write_timeout_s": WRITE_TIMEOUT_S,
            "pool_timeout_s": POOL_TIMEOUT_S,
        }
    )
    pipeline = base.pipeline.model_copy(
        update={
            "visibility_timeout_s": VISIBILITY_TIMEOUT_S,
            "retry_backoff_max_s": RETRY_BACKOFF_MAX_S,
            "lease_ttl_s": LEASE_TTL_S,
            "reconcile_margin_s": RECONCILE_MARGIN_S,
        }
    )
    s3 = base.s3.model_copy(update={"endpoint_url": s3_endpoint})
    sweeper = base.sweeper.model_copy(update={"store_stall_s": STORE_STALL_S})
    return base.model_copy(
        update={
            "upstream": upstream,
            "pipeline": pipeline,
            "s3": s3,
            "sweeper": sweeper,
            "accounts": (account_settings(base.upstream.base_url),),
            "key_prefix": prefix,
        }
    )


def settings_summary(settings: Settings) -> dict[str, Any]:
    """The workers' settings this scenario sets or depends on (no secrets)."""
    up, pipe = settings.upstream, settings.pipeline
    return {
        "upstream": {
            "connect_timeout_s": up.connect_timeout_s,
            "read_timeout_s": up.read_timeout_s,
            "write_timeout_s": up.write_timeout_s,
            "pool_timeout_s": up.pool_timeout_s,
        },
        "pipeline": {
            "visibility_timeout_s": pipe.visibility_timeout_s,
            "retry_backoff_max_s": pipe.retry_backoff_max_s,
            "lease_ttl_s": pipe.lease_ttl_s,
            "reconcile_margin_s": pipe.reconcile_margin_s,
            "max_retries": pipe.max_retries,
            "soft_shutdown_timeout_s": pipe.soft_shutdown_timeout_s,
        },
        "sweeper": settings.sweeper.model_dump(),
    }
