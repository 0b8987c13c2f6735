"""The settings root. Nothing else in the project reads ``os.environ``.

Nested sections are set with a double underscore, e.g. ``WANQ_UPSTREAM__REGION=cn-beijing``
or ``WANQ_UPSTREAM__API_KEY=sk-...``.
"""

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from config.accounts import DEFAULT_ACCOUNT, AccountSettings, LimiterSettings, ModelLimits
from config.regions import Region


class UpstreamSettings(BaseModel):
    """How to reach DashScope (or the emulator): the default account's place and key, and
    the HTTP client's timeouts and pool (for every account).

    Attributes:
        region: Region of the key; picks the host unless ``base_url`` is set.
        base_url: Explicit ``.../api/v1`` URL (the emulator, a proxy); overrides ``region``.
        workspace_id: Optional workspace; sent as ``X-DashScope-WorkSpace`` and, without
            ``base_url``, selects the workspace-scoped gateway.
        api_key: The DashScope API key. Never logged, never put in a message.
        connect_timeout_s: TCP/TLS connect timeout.
        read_timeout_s: Read timeout for submit, fetch, cancel and list.
        sync_read_timeout_s: Read timeout for the synchronous generation endpoint.
        write_timeout_s: Timeout for sending a request body.
        pool_timeout_s: How long to wait for a free pooled connection.
        max_connections: Connection pool size per process.
        max_keepalive_connections: Idle connections kept per process.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    region: Region = Region.SINGAPORE
    base_url: str | None = None
    workspace_id: str | None = None
    api_key: SecretStr | None = None
    connect_timeout_s: float = Field(default=5.0, gt=0)
    read_timeout_s: float = Field(default=30.0, gt=0)
    sync_read_timeout_s: float = Field(default=300.0, gt=0)
    write_timeout_s: float = Field(default=30.0, gt=0)
    pool_timeout_s: float = Field(default=10.0, gt=0)
    max_connections: int = Field(default=100, ge=1)
    max_keepalive_connections: int = Field(default=20, ge=0)

    def resolved_base_url(self) -> str:
        """The ``.../api/v1`` base URL: ``base_url`` if set, else the region's gateway."""
        return self.account().resolved_base_url()

    def account(self, **limits: Any) -> AccountSettings:
        """The default account this section describes (its place and key), with ``limits``
        (``query_rps``, ``limits``) when given."""
        return AccountSettings(
            name=DEFAULT_ACCOUNT,
            region=self.region,
            base_url=self.base_url,
            workspace_id=self.workspace_id,
            api_keys=(self.api_key,) if self.api_key is not None else (),
            **limits,
        )


class S3Settings(BaseModel):
    """S3-compatible object storage for results (and staged inputs).

    Attributes:
        endpoint_url: The S3 endpoint (MinIO, moto, R2, ...); None means AWS itself.
        region: Signing region.
        bucket: Bucket that receives results and staged inputs.
        results_prefix: Key prefix of result images: ``{results_prefix}{job_id}/{index}.png``.
        inputs_prefix: Key prefix of inputs staged by producers.
        access_key_id: Access key id (None: boto3's default credential chain).
        secret_access_key: Secret key. Never logged, never in a message.
        addressing_style: ``path`` for MinIO and moto, ``virtual`` or ``auto`` for AWS.
        presign_ttl_s: Validity of presigned input URLs handed to the upstream.
        connect_timeout_s: Connect timeout.
        read_timeout_s: Read timeout.
        checksum_sha256: Send each result's SHA-256 as ``ChecksumSHA256`` so that the store
            verifies it (turn off for S3-compatible stores that refuse the header; the
            checksum is always kept in the object's metadata too).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    endpoint_url: str | None = None
    region: str = "us-east-1"
    bucket: str = "wanqueue"
    results_prefix: str = "results/"
    inputs_prefix: str = "inputs/"
    access_key_id: SecretStr | None = None
    secret_access_key: SecretStr | None = None
    addressing_style: Literal["auto", "path", "virtual"] = "path"
    presign_ttl_s: int = Field(default=6 * 3600, ge=60, le=7 * 24 * 3600)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    read_timeout_s: float = Field(default=30.0, gt=0)
    checksum_sha256: bool = True


class ResultsSettings(BaseModel):
    """How result images are fetched from the upstream before they expire.

    Attributes:
        allowed_hosts: Hosts result URLs may point at; ``*.`` matches any subdomain. Nothing
            else is fetched (no redirects elsewhere, no private addresses unless listed).
        max_bytes: Largest result accepted.
        timeout_s: Timeout of one download.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    allowed_hosts: tuple[str, ...] = ("*.aliyuncs.com",)
    max_bytes: int = Field(default=64 * 1024 * 1024, ge=1)
    timeout_s: float = Field(default=60.0, gt=0)


class InputsSettings(BaseModel):
    """How producers hand input images to the upstream.

    Attributes:
        s3_mode: ``presign``: an ``s3://`` input reaches DashScope as a presigned URL (the
            bucket must be reachable from the internet); ``inline``: as a base64 data URI
            (for a private MinIO that DashScope cannot reach).
        inline_max_bytes: Data URIs larger than this, and every local file, are staged to
            S3 by the producer so that broker messages and job records stay small.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    s3_mode: Literal["presign", "inline"] = "presign"
    inline_max_bytes: int = Field(default=64 * 1024, ge=0)


class PipelineSettings(BaseModel):
    """Submit, poll and store behaviour.

    Attributes:
        first_poll_delay_s: Delay from submit to the first poll until the model's latency
            has been observed (then polls follow it, see ``limiter.poll_quantiles``).
        poll_interval_s: Delay between polls at first.
        max_poll_interval_s: Longest delay between polls (polls back off towards it).
        max_retries: Retries of a retryable failure before the job fails.
        retry_backoff_max_s: Longest retry delay.
        job_ttl_s: How long finished job records are kept.
        lease_ttl_s: Lifetime of an in-flight slot lease, renewed by every poll (throttled
            ones too). A lease must outlive the time a dead worker's messages take to come
            back (``visibility_timeout_s`` plus the longest countdown; checked by
            ``config.celery``), so a live job's lease never runs out between two polls; a
            lease whose holder is gone for good is reclaimed when it runs out.
        poll_backoff: Factor by which the delay between polls grows.
        reconcile_margin_s: Clock-skew margin around a submit intent when looking for the
            task an interrupted submit may have created.
        reconcile_utc_offset_s: UTC offset in which the upstream reads task-list times (None:
            the worker's local time, as the emulator does; DashScope does not document it).
        visibility_timeout_s: The broker's visibility timeout: an unacknowledged message is
            delivered again after it. Must exceed every countdown the pipeline uses, and
            ``lease_ttl_s`` must exceed it plus the longest countdown.
        eta_task_limit: Most scheduled (ETA) messages one worker process holds at once.
        soft_shutdown_timeout_s: On a cold shutdown, how long running tasks may finish.
        redis_socket_timeout_s: Timeout of a Redis command (broker and job store).
        redis_connect_timeout_s: Timeout of a Redis connect.
        redis_health_check_interval_s: Idle time after which a Redis connection is checked.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    first_poll_delay_s: float = Field(default=2.0, ge=0)
    poll_interval_s: float = Field(default=2.0, gt=0)
    max_poll_interval_s: float = Field(default=15.0, gt=0)
    max_retries: int = Field(default=10, ge=0)
    retry_backoff_max_s: float = Field(default=60.0, gt=0)
    job_ttl_s: int = Field(default=7 * 24 * 3600, ge=60)
    lease_ttl_s: float = Field(default=3900.0, gt=0)
    poll_backoff: float = Field(default=1.5, ge=1)
    reconcile_margin_s: float = Field(default=30.0, ge=0)
    reconcile_utc_offset_s: int | None = Field(default=None, ge=-14 * 3600, le=14 * 3600)
    visibility_timeout_s: int = Field(default=3600, ge=1)
    eta_task_limit: int = Field(default=1000, ge=1)
    soft_shutdown_timeout_s: float = Field(default=20.0, ge=0)
    redis_socket_timeout_s: float = Field(default=30.0, gt=1)
    redis_connect_timeout_s: float = Field(default=5.0, gt=0)
    redis_health_check_interval_s: int = Field(default=25, ge=0)


class SweeperSettings(BaseModel):
    """Stuck jobs (a lost message, a bug): found, driven on, or failed past a deadline.

    A job is stuck when it has not moved for longer than its state's next step may take plus
    ``margin_s``; see ``workers.pipeline.sweep`` for the rule of each state.

    Attributes:
        interval_s: How often the fleet sweeps: every worker process's dispatcher tries, and a
            Redis lock held this long lets one through.
        batch_size: Live jobs examined per sweep, oldest state change first; a sweep runs in
            the dispatcher's thread, so this bounds how long it holds admission up in that
            process. A pass over every live job takes (live jobs / batch_size) sweeps.
        margin_s: Slack added to the time each state's next step may take (a poll's longest
            countdown, the reconcile window) before a job counts as stuck: queue delays and
            clock skew between workers. A job that waits for admission but is neither in
            the waiting room nor admitted is parked again once its state is this old.
        store_stall_s: A STORING job whose record has not changed for this long gets its
            store sent again; keep it above what one store task may take with its retries.
        upstream_deadline_s: A job that reached the upstream (a submit in progress, a task)
            and is still not terminal this long after its submit (STORING: after its task
            succeeded) is FAILED ``Stuck``; the upstream keeps tasks and result URLs 24 h.
        waiting_deadline_s: A job still waiting for admission this long after its creation is
            FAILED ``Stuck``. A backlog drains at the accounts' submit rate (50,000 jobs at 2
            per second take 7 h): keep it well above the longest backlog expected.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    interval_s: float = Field(default=10.0, gt=0)
    batch_size: int = Field(default=1000, ge=1)
    margin_s: float = Field(default=120.0, ge=0)
    store_stall_s: float = Field(default=1800.0, gt=0)
    upstream_deadline_s: float = Field(default=25 * 3600.0, gt=0)
    waiting_deadline_s: float = Field(default=72 * 3600.0, gt=0)


class FlowerSettings(BaseModel):
    """The Flower dashboard.

    Attributes:
        address: Bind address.
        port: Port.
        user: Basic-auth user.
        password: Basic-auth password (required to start Flower).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    address: str = "127.0.0.1"
    port: int = Field(default=5555, ge=1, le=65535)
    user: str = "wanq"
    password: SecretStr | None = None


class Settings(BaseSettings):
    """The one settings root (environment prefix ``WANQ_``).

    Attributes:
        upstream: DashScope connection and key.
        redis_url: Redis for the broker and the job store (``rediss://`` for TLS; a password
            in the URL is a secret and is never logged).
        key_prefix: Prefix of every Redis key wanqueue owns.
        s3: Object storage.
        results: Fetching result images.
        inputs: Handing input images to the upstream.
        pipeline: Submit, poll and store behaviour.
        limiter: The cluster-wide limiter, and the default account's limits.
        sweeper: The sweep of stuck jobs.
        accounts: Upstream accounts (JSON list); empty: one account, ``default``, made of
            ``upstream`` and ``limiter``.
        flower: The dashboard.
    """

    model_config = SettingsConfigDict(
        env_prefix="WANQ_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        hide_input_in_errors=True,  # a failed validation would print the API keys
    )

    upstream: UpstreamSettings = UpstreamSettings()
    redis_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    key_prefix: str = "wanq:"
    s3: S3Settings = S3Settings()
    results: ResultsSettings = ResultsSettings()
    inputs: InputsSettings = InputsSettings()
    pipeline: PipelineSettings = PipelineSettings()
    limiter: LimiterSettings = LimiterSettings()
    sweeper: SweeperSettings = SweeperSettings()
    accounts: tuple[AccountSettings, ...] = ()
    flower: FlowerSettings = FlowerSettings()

    @model_validator(mode="after")
    def _unique_accounts(self) -> Self:
        names = [account.name for account in self.accounts]
        if len(set(names)) != len(names):
            raise ValueError("accounts: every account needs its own name")
        return self

    def upstream_accounts(self) -> tuple[AccountSettings, ...]:
        """The accounts jobs run on: ``accounts``, or the one made of ``upstream`` and
        ``limiter``."""
        if self.accounts:
            return self.accounts
        limiter = self.limiter
        limits = ModelLimits(submit_rps=limiter.submit_rps, max_in_flight=limiter.max_in_flight)
        return (self.upstream.account(query_rps=limiter.query_rps, limits={"*": limits}),)


def load_settings() -> Settings:
    """Read the settings from the environment once, at process start."""
    return Settings()
