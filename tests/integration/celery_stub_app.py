"""A throwaway Celery app for devstack's launcher tests (``-A tests.integration.celery_stub_app``).

Configured exactly like ``workers.app`` (:func:`config.celery.celery_config` from the settings
in its environment, so broker keys carry ``settings.key_prefix``: a test that passes its own
``redis_prefix`` as ``WANQ_KEY_PREFIX`` owns its queues), but with one trivial task instead of
the pipeline, so that these tests check the launchers alone.

``stub.mark(key)`` records the node that ran it under ``{key_prefix}{key}``.
"""

from __future__ import annotations

from typing import Any

import redis
from celery import Celery

from adapters import broker
from config.celery import celery_config
from config.settings import load_settings
from workers.contract.names import QUEUE_SUBMIT

TASK_MARK = "stub.mark"

settings = load_settings()
broker.install()  # as workers.app does
app = Celery("celery_stub_app")
app.conf.update(celery_config(settings, {TASK_MARK: QUEUE_SUBMIT}))


@app.task(name=TASK_MARK, bind=True)
def mark(self: Any, key: str) -> str:
    """Record which worker ran this task."""
    node = str(self.request.hostname)
    client = redis.Redis.from_url(settings.redis_url.get_secret_value())
    try:
        client.set(f"{settings.key_prefix}{key}", node)
    finally:
        client.close()
    return node
