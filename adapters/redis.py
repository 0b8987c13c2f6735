"""The one Redis client builder, for the job store, the limiter and the producers' outbox."""

from __future__ import annotations

import redis

from config import Settings


def redis_client(settings: Settings) -> redis.Redis:
    """A Redis client with the pipeline's timeouts (one per process; it is thread-safe).

    Replies are decoded. A command that times out is not retried by the client: a write may
    have been applied, and the callers' compare-and-set scripts decide what happens next.
    """
    pipeline = settings.pipeline
    return redis.Redis.from_url(
        settings.redis_url.get_secret_value(),
        decode_responses=True,
        socket_timeout=pipeline.redis_socket_timeout_s,
        socket_connect_timeout=pipeline.redis_connect_timeout_s,
        socket_keepalive=True,
        health_check_interval=pipeline.redis_health_check_interval_s,
        retry_on_timeout=False,
    )
