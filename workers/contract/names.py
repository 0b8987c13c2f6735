"""Celery task and queue names: what a producer needs to enqueue work by name.

Producers call ``app.send_task(TASK_SUBMIT, args=[job_id])`` on a Celery app configured with
:func:`config.celery.celery_config` and :data:`TASK_QUEUES`; they never import the worker's
task modules. Every task takes the job id as its first argument, never image bytes or a key.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

QUEUE_SUBMIT: Final = "submit"
"""Jobs waiting for a submit slot, and cancel requests (both need the upstream client)."""
QUEUE_POLL: Final = "poll"
"""Scheduled status checks of upstream tasks in flight."""
QUEUE_STORE: Final = "store"
"""Finished jobs whose results are being copied to object storage."""

QUEUES: Final = (QUEUE_SUBMIT, QUEUE_POLL, QUEUE_STORE)
"""Every queue a worker may serve: ``celery -A workers.app worker -Q submit,poll,store``."""

TASK_SUBMIT: Final = "wanq.submit"
"""``wanq.submit(job_id)``: submit a QUEUED job upstream (idempotent)."""
TASK_POLL: Final = "wanq.poll"
"""``wanq.poll(job_id, token)``: check the upstream task once, schedule the next check."""
TASK_STORE: Final = "wanq.store"
"""``wanq.store(job_id)``: copy a succeeded job's results to object storage."""
TASK_CANCEL: Final = "wanq.cancel"
"""``wanq.cancel(job_id)``: cancel a job that the upstream has not started."""

TASK_QUEUES: Final = MappingProxyType(
    {
        TASK_SUBMIT: QUEUE_SUBMIT,
        TASK_POLL: QUEUE_POLL,
        TASK_STORE: QUEUE_STORE,
        TASK_CANCEL: QUEUE_SUBMIT,
    }
)
"""The queue of each task (Celery's ``task_routes``)."""
