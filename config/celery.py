"""Celery's configuration as a pure function of the settings.

Chosen for this workload (every setting verified in Celery 5.7 / kombu 5.7):

* JSON only (``task_serializer``, ``accept_content``): messages carry a job id, never bytes,
  pickles or keys.
* ``task_acks_late`` + ``task_reject_on_worker_lost``: a message is acknowledged after its
  task ran, so a worker that dies mid-task leaves it to be delivered again (every task is
  idempotent). ``worker_prefetch_multiplier=1``: a worker reserves one message per thread.
* No result backend (``task_ignore_result``): the job record is the truth.
* Events on (``worker_send_task_events``, ``task_send_sent_event``) for Flower.
* The Redis transport redelivers an unacknowledged message after ``visibility_timeout``,
  including scheduled (ETA) messages a worker holds, so every countdown the pipeline uses must
  be shorter (:func:`longest_countdown_s`, checked here). ``unacked_restore_interval`` and
  ``unacked_restore_throttle`` (kombu 5.7) make the sweep that redelivers them run often
  enough for that timeout. The sweep holds a Redis lock, ``unacked_mutex_expire``, which
  outlives a worker that dies mid-sweep: kombu's default (300 s) would hold off every
  worker's redelivery for five minutes, so it expires after one sweep interval (a sweep
  that runs longer lets a second one in, which is harmless: each message is restored in a
  transaction, once).
* ``worker_eta_task_limit`` (Celery 5.5+): a worker stops taking messages once it holds that
  many scheduled ones, instead of raising its prefetch without bound.
* Soft shutdown (Celery 5.5+): ``worker_soft_shutdown_timeout`` lets running tasks finish on
  a cold shutdown (SIGQUIT, or SIGTERM with ``REMAP_SIGTERM=SIGQUIT``), and
  ``worker_enable_soft_shutdown_on_idle`` waits even when only scheduled messages are held,
  so that they are handed back to Redis on the way out. A warm shutdown (SIGTERM) finishes
  the running tasks and hands back the rest in any case.
* ``worker_cancel_long_running_tasks_on_connection_loss`` is left unset: it has no effect
  with the threads pool the workers run, and every task is idempotent under redelivery.
* Slot leases (``lease_ttl_s``) must outlive ``visibility_timeout`` plus the longest
  countdown (checked here): that is how long a dead worker's poll takes to come back.
* Broker keys carry ``key_prefix`` (kombu's ``global_keyprefix``, which Flower honours), so
  every key wanqueue writes, queues included, lives under one prefix.
* The worker app (:mod:`workers.app`) installs a Redis transport whose channel keeps its
  connection parameters (:mod:`adapters.broker`): with kombu's own, a worker holding
  unacknowledged messages dies when Redis restarts instead of reconnecting.
* TLS (a ``rediss://`` URL): its ``ssl_*`` parameters go to ``broker_use_ssl``
  (:func:`config.redis_tls.split_tls`), which kombu and Flower's queue-length reader both use;
  the server's certificate is required unless the URL says ``ssl_cert_reqs=none`` (kombu alone
  would not check it). There is no result backend, so ``redis_backend_use_ssl`` has no use.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

from config.redis_tls import split_tls
from config.settings import Settings

RESTORE_SWEEPS_PER_VISIBILITY_TIMEOUT: Final = 10
"""The unacked-message sweep runs this many times per visibility timeout..."""
RESTORE_INTERVAL_MAX_S: Final = 60
"""... but at least once a minute."""


def submit_settle_s(settings: Settings) -> float:
    """How long after a submit intent its outcome is settled upstream.

    An interrupted submit's task, if the upstream created one, was created before the
    client's timeouts ran out; adding the clock-skew margin gives the time after which a
    reconciling submit may trust the task list.
    """
    up = settings.upstream
    http_s = up.pool_timeout_s + up.connect_timeout_s + up.write_timeout_s + up.read_timeout_s
    return http_s + settings.pipeline.reconcile_margin_s


def reconcile_after_s(settings: Settings) -> float:
    """How long after a submit intent a reconciling submit may list the account's tasks.

    The settle time, plus one more upstream read timeout: by then every submit whose intent
    fell in the window and completed normally has had time to link its task to its job, so
    a linked task is never mistaken for the interrupted one.
    """
    return submit_settle_s(settings) + settings.upstream.read_timeout_s


def longest_countdown_s(settings: Settings) -> float:
    """The longest delay the pipeline schedules a message with."""
    pipeline = settings.pipeline
    return max(
        pipeline.first_poll_delay_s,
        pipeline.max_poll_interval_s,
        pipeline.retry_backoff_max_s,
        reconcile_after_s(settings),
    )


def celery_config(settings: Settings, routes: Mapping[str, str]) -> dict[str, Any]:
    """Celery's configuration (``app.conf.update(...)``) for these settings.

    Args:
        settings: The settings root.
        routes: The queue of each task name (the job contract's ``TASK_QUEUES``).

    Raises:
        ValueError: A countdown the pipeline may use is not shorter than the visibility
            timeout (a scheduled message would be delivered twice), the slot lease does
            not outlive the visibility timeout plus the longest countdown (a live job whose
            worker died would lose its slot before its poll comes back), or a TLS parameter
            of ``redis_url`` has an invalid value.
    """
    pipeline = settings.pipeline
    visibility_s = pipeline.visibility_timeout_s
    longest_s = longest_countdown_s(settings)
    if not visibility_s > longest_s:
        raise ValueError(
            f"pipeline.visibility_timeout_s ({visibility_s}) must exceed every countdown the "
            f"pipeline uses (the longest is {longest_s:.1f} s)"
        )
    if not pipeline.lease_ttl_s > visibility_s + longest_s:
        raise ValueError(
            f"pipeline.lease_ttl_s ({pipeline.lease_ttl_s}) must exceed "
            f"pipeline.visibility_timeout_s ({visibility_s}) plus the longest countdown "
            f"({longest_s:.1f} s): a lease must outlive the time a dead worker's messages "
            "take to come back"
        )
    restore_interval_s = max(
        1, min(RESTORE_INTERVAL_MAX_S, visibility_s // RESTORE_SWEEPS_PER_VISIBILITY_TIMEOUT)
    )
    broker_url, tls = split_tls(settings.redis_url.get_secret_value())
    return {
        "broker_url": broker_url,
        "broker_use_ssl": tls or False,
        "broker_connection_retry_on_startup": True,
        "broker_channel_error_retry": True,
        "broker_transport_options": {
            "global_keyprefix": settings.key_prefix,
            "visibility_timeout": visibility_s,
            "unacked_restore_interval": restore_interval_s,
            "unacked_restore_throttle": 1,
            "unacked_mutex_expire": restore_interval_s,
            "socket_timeout": pipeline.redis_socket_timeout_s,
            "socket_connect_timeout": pipeline.redis_connect_timeout_s,
            "socket_keepalive": True,
            "health_check_interval": pipeline.redis_health_check_interval_s,
        },
        "result_backend": None,
        "task_ignore_result": True,
        "task_serializer": "json",
        "result_serializer": "json",
        "event_serializer": "json",
        "accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_track_started": False,
        "task_routes": {name: {"queue": queue} for name, queue in routes.items()},
        "worker_prefetch_multiplier": 1,
        "worker_eta_task_limit": pipeline.eta_task_limit,
        "worker_soft_shutdown_timeout": pipeline.soft_shutdown_timeout_s,
        "worker_enable_soft_shutdown_on_idle": pipeline.soft_shutdown_timeout_s > 0,
        "worker_disable_rate_limits": True,
        "worker_send_task_events": True,
        "task_send_sent_event": True,
    }


def max_retry_backoff_s(settings: Settings) -> int:
    """``retry_backoff_max`` for Celery (whole seconds, at least 1)."""
    return max(1, math.ceil(settings.pipeline.retry_backoff_max_s))
