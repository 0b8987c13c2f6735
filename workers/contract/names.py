"""Celery task and queue names: what a producer needs to enqueue work by name.

Producers call ``app.send_task(TASK_SUBMIT, args=[job_id])`` on a Celery app configured with
:func:`config.celery.celery_config` and :data:`TASK_QUEUES`; they never import the worker's
task modules. Every task takes the job id as its first argument, never image bytes or a key.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

QUEUE_SUBMIT: Final = "submit"
"""New jobs on their way to the waiting room, and cancel requests."""
QUEUE_POST: Final = "post"
"""Admitted jobs whose upstream submit is due now: apart from the new jobs, so that a backlog
of those never delays (and then bunches) submits whose tokens are already taken."""
QUEUE_POLL: Final = "poll"
"""Scheduled status checks of upstream tasks in flight."""
QUEUE_STORE: Final = "store"
"""Finished jobs whose results are being copied to object storage."""

QUEUES: Final = (QUEUE_SUBMIT, QUEUE_POST, QUEUE_POLL, QUEUE_STORE)
"""Every queue a worker may serve: ``celery -A workers.app worker -Q submit,post,poll,store``."""

TASK_SUBMIT: Final = "wanq.submit"
"""``wanq.submit(job_id)``: a new job: park it in the waiting room (idempotent)."""
TASK_POST: Final = "wanq.post"
"""``wanq.post(job_id, account)``: submit an admitted job upstream on ``account`` (at most
once); sent by the dispatcher, never by producers."""
TASK_POLL: Final = "wanq.poll"
"""``wanq.poll(job_id, token)``: check the upstream task once, schedule the next check."""
TASK_STORE: Final = "wanq.store"
"""``wanq.store(job_id)``: copy a succeeded job's results to object storage."""
TASK_CANCEL: Final = "wanq.cancel"
"""``wanq.cancel(job_id)``: cancel a job that the upstream has not started."""

TASK_QUEUES: Final = MappingProxyType(
    {
        TASK_SUBMIT: QUEUE_SUBMIT,
        TASK_POST: QUEUE_POST,
        TASK_POLL: QUEUE_POLL,
        TASK_STORE: QUEUE_STORE,
        TASK_CANCEL: QUEUE_SUBMIT,
    }
)
"""The queue of each task (Celery's ``task_routes``)."""

STUCK: Final = "Stuck"
"""The sweeper found the job not terminal past its deadline (``sweeper.*_deadline_s``)."""
TASK_UNKNOWN: Final = "UpstreamTaskUnknown"
"""The upstream no longer knows the task (and it is younger than the task lifetime)."""
SUBMIT_OUTCOME_UNKNOWN: Final = "SubmitOutcomeUnknown"
"""The error code of a job whose interrupted submit could not be matched to an upstream task:
the task may exist (and be billed), so it is never resubmitted by itself, and a retry of the
job must be asked for by that code (:meth:`producers.api.WanQueue.retry_failed`)."""
