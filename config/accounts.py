"""Upstream accounts and their limits, and how the limiter adapts to what the upstream says.

DashScope limits each account (all its keys together) per model: a submit rate and a number of
tasks in flight, plus one query budget for task status shared by every model. A deployment may
have several accounts (``WANQ_ACCOUNTS`` as JSON); without any, one account named
``default`` is made of ``upstream`` (where and with which key) and ``limiter`` (its limits).
A limit of 0 means unknown: the limiter discovers it from the upstream's 429 answers.
"""

from typing import Final

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from config.regions import Region, base_url_for

WILDCARD_MODEL: Final = "*"
"""The ``limits`` entry that applies to models without one of their own."""

DEFAULT_ACCOUNT: Final = "default"
"""The account made of ``upstream`` and ``limiter`` when ``accounts`` is empty."""


class ModelLimits(BaseModel):
    """One account's limits for one model (0: unknown, discovered from 429 answers).

    Attributes:
        submit_rps: Task submissions per second.
        max_in_flight: Tasks PENDING or RUNNING at once.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    submit_rps: float = Field(default=0.0, ge=0)
    max_in_flight: int = Field(default=0, ge=0)


class AccountSettings(BaseModel):
    """An Alibaba Cloud account: its keys, where it is served, what it may do.

    Attributes:
        name: Unique name; recorded on each job it runs (never a key).
        region: Region of the keys; picks the host unless ``base_url`` is set.
        base_url: Explicit ``.../api/v1`` URL (the emulator, a proxy); overrides ``region``.
        workspace_id: Optional workspace (``X-DashScope-WorkSpace``).
        api_keys: The account's keys, used in turn; they share the account's limits.
        models: Models this account runs (empty: every model).
        query_rps: Task-status queries per second for the whole account (DashScope: 20).
        limits: Limits per model; ``"*"`` applies to models without an entry.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    region: Region = Region.SINGAPORE
    base_url: str | None = None
    workspace_id: str | None = None
    api_keys: tuple[SecretStr, ...] = ()
    models: tuple[str, ...] = ()
    query_rps: float = Field(default=20.0, gt=0)
    limits: dict[str, ModelLimits] = Field(default_factory=dict)

    def serves(self, model: str) -> bool:
        """Whether this account runs ``model``."""
        return not self.models or model in self.models

    def limits_for(self, model: str) -> ModelLimits:
        """The limits of ``model`` (its entry, else ``"*"``, else unknown)."""
        return self.limits.get(model) or self.limits.get(WILDCARD_MODEL) or ModelLimits()

    def resolved_base_url(self) -> str:
        """The ``.../api/v1`` base URL: ``base_url`` if set, else the region's gateway."""
        if self.base_url:
            return self.base_url.rstrip("/")
        return base_url_for(self.region, self.workspace_id)


class LimiterSettings(BaseModel):
    """The cluster-wide limiter: the default account's limits, adaptation, scheduling.

    Attributes:
        submit_rps: The default account's submits per second per model (0: discover).
        max_in_flight: The default account's tasks in flight per model (0: discover).
        query_rps: The default account's task-status queries per second.
        submit_burst: Submits one account and model may send back to back; 0: half a
            second's worth of the allowed rate (at least 1). The rate a stall (every slot
            leased a moment) leaves unspent is caught up to it; kept under the upstream's own
            burst (DashScope's per-second limits) by a margin for the jitter between taking
            a token and the request's arrival.
        query_burst: Queries one account may send back to back; 0: half a second's worth.
        throttle_pause_s: How long a 429 without ``Retry-After`` pauses its account and
            model for the whole fleet.
        unavailable_pause_s: How long a submit that failed without reaching the upstream
            (a 503, a refused connection) pauses its account and model for the whole fleet;
            it doubles with each such failure in a row.
        unavailable_pause_max_s: Longest such pause.
        rate_cut: Factor applied to the allowed submit rate on a 429 for the rate.
        rate_recovery_per_s: After a cut, the allowed rate grows by this share of the cut
            rate every second, up to the configured limit (additive recovery).
        in_flight_probe_s: After a 429 for concurrency, the allowed tasks in flight grow by
            one every this many seconds, up to the configured limit.
        discovery_start_rps: Submit rate an unknown limit starts from.
        discovery_doubling_s: Until its first 429, an unknown rate doubles this often.
        discovery_max_in_flight: Tasks in flight allowed while that limit is unknown.
        tenant_weights: Share of the slots each tenant gets when several wait (default 1).
        dispatch_interval_s: Longest time a dispatcher sleeps between admission rounds.
        admitted_max: Most admitted jobs whose submit has not begun, fleet-wide: admission
            waits beyond it, so that workers post each job promptly after its admission.
        max_post_lag_s: An admitted job whose submit starts later than this after its
            admission (a busy worker) is admitted again instead: its submit token is too old
            to spend without bunching submits at the upstream.
        admitted_timeout_s: An admitted job whose submit has not started after this long is
            dispatched again (its message was lost).
        reap_interval_s: How often leases of ended or vanished jobs are reclaimed.
        latency_window: Recent task latencies kept per model to schedule polls.
        latency_min_samples: Samples needed before polls follow the observed latency.
        poll_quantiles: Latency quantiles at which a task is polled (then back off).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    submit_rps: float = Field(default=2.0, ge=0)
    max_in_flight: int = Field(default=5, ge=0)
    query_rps: float = Field(default=20.0, gt=0)
    submit_burst: float = Field(default=0.0, ge=0)
    query_burst: float = Field(default=0.0, ge=0)
    throttle_pause_s: float = Field(default=1.0, ge=0)
    unavailable_pause_s: float = Field(default=0.1, ge=0)
    unavailable_pause_max_s: float = Field(default=30.0, ge=0)
    rate_cut: float = Field(default=0.7, gt=0, lt=1)
    rate_recovery_per_s: float = Field(default=0.05, gt=0)
    in_flight_probe_s: float = Field(default=10.0, gt=0)
    discovery_start_rps: float = Field(default=1.0, gt=0)
    discovery_doubling_s: float = Field(default=2.0, gt=0)
    discovery_max_in_flight: int = Field(default=1000, ge=1)
    tenant_weights: dict[str, float] = Field(default_factory=dict)
    dispatch_interval_s: float = Field(default=0.25, gt=0)
    admitted_max: int = Field(default=64, ge=1)
    max_post_lag_s: float = Field(default=5.0, gt=0)
    admitted_timeout_s: float = Field(default=120.0, gt=0)
    reap_interval_s: float = Field(default=30.0, gt=0)
    latency_window: int = Field(default=500, ge=1)
    latency_min_samples: int = Field(default=10, ge=1)
    poll_quantiles: tuple[float, ...] = Field(default=(0.5, 0.8, 0.95, 0.99), min_length=1)

    def weight(self, tenant: str) -> float:
        """The tenant's weight (1 unless configured)."""
        return self.tenant_weights.get(tenant, 1.0)
