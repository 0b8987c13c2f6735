"""The settings root. Nothing else in the project reads ``os.environ``.

Nested sections are set with a double underscore, e.g. ``WANQ_UPSTREAM__REGION=cn-beijing``
or ``WANQ_UPSTREAM__API_KEY=sk-...``.
"""

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from config.regions import Region, base_url_for


class UpstreamSettings(BaseModel):
    """How to reach DashScope (or the emulator) and with which key.

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

    model_config = ConfigDict(frozen=True, extra="forbid")

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
        if self.base_url:
            return self.base_url.rstrip("/")
        return base_url_for(self.region, self.workspace_id)


class Settings(BaseSettings):
    """The one settings root (environment prefix ``WANQ_``).

    Attributes:
        upstream: DashScope connection and key.
        redis_url: Redis for the broker and the job store.
    """

    model_config = SettingsConfigDict(
        env_prefix="WANQ_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    upstream: UpstreamSettings = UpstreamSettings()
    redis_url: str = "redis://127.0.0.1:6379/0"


def load_settings() -> Settings:
    """Read the settings from the environment once, at process start."""
    return Settings()
