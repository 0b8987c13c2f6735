"""The Celery tasks: thin wrappers that hand a job id to the pipeline's plain functions.

Retry policy is declared once, on :class:`PipelineTask`: a :class:`RetryableError` is retried
with exponential backoff (1, 2, 4 ... s, at most ``pipeline.retry_backoff_max_s``) and equal
jitter (each delay drawn in its upper half: never a retry at once, so an outage is not
hammered), up to ``pipeline.max_retries``; a task that fails for
good (retries exhausted, or an error outside the tree) ends its job FAILED through
``on_failure``. Redis connection failures inside a task count as retryable
(:mod:`workers.redis_errors`). Waiting for capacity or for a poll is not a retry: the pipeline
schedules a new message through the runtime's scheduler (:class:`workers.app.CeleryScheduler`).
Acknowledging late and rejecting on a lost worker come from the app's configuration
(``task_acks_late``, ``task_reject_on_worker_lost``), not from the task class.
"""

from __future__ import annotations

import logging
import random
from typing import Any, Final

from celery import Task

from config.celery import max_retry_backoff_s
from workers import runtime
from workers.app import app, settings
from workers.contract.names import TASK_CANCEL, TASK_POLL, TASK_POST, TASK_STORE, TASK_SUBMIT
from workers.errors import RetryableError
from workers.pipeline import cancel, poll, store, submit
from workers.pipeline.outcomes import fail
from workers.redis_errors import translated

_log = logging.getLogger(__name__)

RETRY_JITTER_FLOOR: Final = 0.5
"""A retry waits between this share of its backoff delay and the whole of it."""


class PipelineTask(Task):  # type: ignore[misc]  # celery ships no types
    """Base of every pipeline task: the retry policy, and the job's end when it runs out."""

    autoretry_for = (RetryableError,)
    retry_backoff = True
    retry_backoff_max = max_retry_backoff_s(settings)
    retry_jitter = False  # Celery's is full jitter (0 s half the time at first): see retry()
    max_retries = settings.pipeline.max_retries
    fails_job = True
    """Whether a task that fails for good ends its job (not so for a cancel request)."""

    def retry(self, *args: Any, countdown: float | None = None, **kwargs: Any) -> Any:
        """Celery's retry, with the backoff's delay drawn in its upper half (equal jitter)."""
        if countdown is not None:
            countdown *= random.uniform(RETRY_JITTER_FLOOR, 1.0)
        return super().retry(*args, countdown=countdown, **kwargs)

    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        """End the job FAILED with the error's code (or ``SubmitOutcomeUnknown``).

        If that fails too (Redis is down), the job is left as it is, non-terminal, and said
        so loudly: the sweeper (:mod:`workers.pipeline.sweep`) drives it on or ends it later.
        """
        if not (self.fails_job and args):
            return
        job_id = str(args[0])
        try:
            fail(runtime.current(), job_id, exc)
        except Exception:
            _log.critical(
                "job %s: task %s failed for good (%s: %s) and the job could not be ended; "
                "it stays non-terminal until the sweeper finds it",
                job_id,
                self.name,
                type(exc).__name__,
                exc,
                exc_info=True,
            )


def _submit(job_id: str, account: str = "") -> None:
    """Park a new job (or, given an ``account``, act as :func:`_post`)."""
    with translated("submit"):
        submit.submit(runtime.current(), job_id, account or None)


def _post(job_id: str, account: str) -> None:
    """Submit an admitted job upstream on ``account`` (at most once)."""
    with translated("post"):
        submit.submit(runtime.current(), job_id, account)


def _poll(job_id: str, token: str, reserved: str = "") -> None:
    """Check a job's upstream task once (``reserved``: its query is reserved already)."""
    with translated("poll"):
        poll.poll(runtime.current(), job_id, token, reserved)


def _store(job_id: str) -> None:
    """Copy a job's results to object storage."""
    with translated("store"):
        store.store(runtime.current(), job_id)


def _cancel(job_id: str) -> dict[str, Any]:
    """Cancel a job the upstream has not started; returns the outcome (JSON)."""
    with translated("cancel"):
        return cancel.cancel(runtime.current(), job_id).as_dict()


# Registered without decorators: Celery's are untyped, the plain functions stay typed.
submit_task = app.task(name=TASK_SUBMIT, base=PipelineTask)(_submit)
post_task = app.task(name=TASK_POST, base=PipelineTask)(_post)
poll_task = app.task(name=TASK_POLL, base=PipelineTask)(_poll)
store_task = app.task(name=TASK_STORE, base=PipelineTask)(_store)
cancel_task = app.task(name=TASK_CANCEL, base=PipelineTask, fails_job=False)(_cancel)
