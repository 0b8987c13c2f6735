"""The one Redis client builder, for the job store, the limiter and the producers' outbox."""

from __future__ import annotations

import redis

from config import Settings
from config.redis_tls import split_tls


def redis_client(settings: Settings) -> redis.Redis:
    """A Redis client with the pipeline's timeouts (one per process; it is thread-safe).

    A ``rediss://`` URL's TLS options are read as the broker reads them
    (:func:`config.redis_tls.split_tls`): the server's certificate is required by default.

    Replies are decoded. A command that times out is not retried by the client: a write may
    have been applied, and the callers' compare-and-set scripts decide what happens next.
    """
    pipeline = settings.pipeline
    url, tls = split_tls(settings.redis_url.get_secret_value())
    return redis.Redis.from_url(
        url,
        **(tls or {}),
        decode_responses=True,
        socket_timeout=pipeline.redis_socket_timeout_s,
        socket_connect_timeout=pipeline.redis_connect_timeout_s,
        socket_keepalive=True,
        health_check_interval=pipeline.redis_health_check_interval_s,
        retry_on_timeout=False,
    )
