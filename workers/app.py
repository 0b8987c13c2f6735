"""The Celery app: ``celery -A workers.app worker -Q submit,poll,store --pool threads -c N``.

Configured once, at import, from :func:`config.load_settings` through
:func:`config.celery.celery_config`. Each worker process builds its long-lived clients (one
DashScope client, one boto3 S3 client, one Redis client; see :mod:`workers.runtime`) when it
starts and closes them when it stops:

* prefork children get ``worker_process_init`` / ``worker_process_shutdown``, and so does the
  solo pool (which sends ``worker_process_init`` itself);
* the threads pool runs in the main process, where neither fires: there ``worker_init``
  (before the pool starts) and ``worker_shutdown`` (after it stopped) do the same.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery, signals
from celery.concurrency import get_implementation
from celery.concurrency.thread import TaskPool as ThreadPool

from adapters import broker
from config.celery import celery_config, longest_countdown_s
from config.settings import load_settings
from workers import runtime
from workers.contract.names import TASK_QUEUES
from workers.redis_errors import translated

settings = load_settings()
broker.install()  # before the app connects: workers reconnect after a Redis restart
app = Celery("wanqueue", include=["workers.tasks"])
app.conf.update(celery_config(settings, TASK_QUEUES))


class CeleryScheduler:
    """:class:`workers.runtime.Scheduler` over the app: ``send_task`` by name, routed by the
    configuration, the countdown clamped below the broker's visibility timeout. A broker that
    does not answer raises :class:`~workers.errors.RedisUnavailable` (retryable)."""

    def __init__(self, celery: Celery, max_countdown_s: float) -> None:
        self._celery = celery
        self._max_countdown_s = max_countdown_s

    def later(self, task: str, *args: str, countdown_s: float = 0.0) -> None:
        """Send ``task(*args)`` in ``countdown_s`` seconds (0: now)."""
        countdown = min(max(0.0, countdown_s), self._max_countdown_s)
        with translated(f"send_task {task}"):
            self._celery.send_task(task, args=list(args), countdown=countdown or None)


QUIET_LOGGERS = ("httpx", "httpcore")
"""Loggers held at WARNING in workers: their INFO lines carry signed URLs."""


def _start_runtime() -> None:
    runtime.start(settings, CeleryScheduler(app, longest_countdown_s(settings))).start_dispatcher()


def _on_process_init(**_: Any) -> None:
    _start_runtime()


def _on_process_shutdown(**_: Any) -> None:
    runtime.stop()


def _on_worker_init(sender: Any = None, **_: Any) -> None:
    pool = get_implementation(getattr(sender, "pool_cls", None) or "prefork")
    if isinstance(pool, type) and issubclass(pool, ThreadPool):
        _start_runtime()


def _on_worker_shutdown(**_: Any) -> None:
    runtime.stop()


def _on_setup_logging(**_: Any) -> None:
    # httpx logs every request URL at INFO: result URLs carry the store's signature (a read
    # link valid for a day) and presigned input URLs our own. Warnings and errors still show.
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


signals.worker_process_init.connect(_on_process_init, weak=False)
signals.worker_process_shutdown.connect(_on_process_shutdown, weak=False)
signals.worker_init.connect(_on_worker_init, weak=False)
signals.worker_shutdown.connect(_on_worker_shutdown, weak=False)
signals.after_setup_logger.connect(_on_setup_logging, weak=False)
