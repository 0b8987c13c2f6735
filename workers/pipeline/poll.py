"""Following an upstream task until it ends: one status check per message, never a sleep.

Each poll carries a token. The job records the token of its one live poll chain; a poll with
another token (a duplicate, or a chain superseded by a redelivered submit) does nothing. A
poll schedules its successor before swapping the token, so a crash between the two leaves
the redelivered poll in charge.

==========================  =================================================================
upstream status             action
==========================  =================================================================
PENDING, SUSPENDED          renew the slot lease (never re-added once gone), poll again
                            later (delay grows)
RUNNING                     the same, and the job becomes RUNNING
SUCCEEDED                   give the slot back, keep the result URLs and usage, STORING, store
FAILED                      give the slot back, FAILED with the upstream's code and message
CANCELED                    give the slot back, CANCELED
UNKNOWN                     give the slot back, EXPIRED when the task outlived its 24 h,
                            else FAILED ``UpstreamTaskUnknown``
==========================  =================================================================

A status check that fails in a way that may pass (throttled by the account's query budget, a
5xx, a timeout) is not a reason to fail the job: the upstream task may still succeed. The
lease is renewed and the job polled again later with the usual growing delay (capped at
``max_poll_interval_s``, or ``Retry-After`` when longer), spending no retry, until the task is
older than the upstream keeps tasks (24 h); then the job is EXPIRED. Only a Redis failure
reaches Celery's retry.
"""

from __future__ import annotations

import logging

from workers.contract import JobRecord, JobState, JobUsage
from workers.contract.names import TASK_STORE
from workers.errors import RetryableError, UpstreamThrottled
from workers.pipeline.constants import NO_RESULTS, TASK_UNKNOWN, UPSTREAM_TASK_LIFETIME_S
from workers.pipeline.outcomes import finish, poll_delay_s, schedule_poll
from workers.runtime import Runtime
from workers.upstream import TaskResult, TaskStatus

_log = logging.getLogger(__name__)

_IN_PROGRESS = frozenset({TaskStatus.PENDING, TaskStatus.SUSPENDED, TaskStatus.RUNNING})


def poll(rt: Runtime, job_id: str, token: str) -> None:
    """Check a job's upstream task once and act on its status.

    Raises:
        RedisUnavailable: Redis did not answer (the caller retries this poll). An upstream
            that could not be read is polled again later instead (see the module's doc).
    """
    job = rt.store.get(job_id)
    if job is None or job.is_terminal:
        return
    if job.poll_token is not None and token != job.poll_token:
        _log.debug("job %s: stale poll dropped", job_id)
        return
    if job.state is JobState.STORING:  # the store message may have been lost with a crash
        rt.scheduler.later(TASK_STORE, job_id)
        return
    if job.task_id is None:
        _log.warning("job %s: polled without an upstream task (state %s)", job_id, job.state)
        return
    try:
        task = rt.upstream.fetch(job.task_id)
    except RetryableError as exc:
        _unread(rt, job, exc)
        return
    if task.status in _IN_PROGRESS:
        _in_progress(rt, job, task.status)
    else:
        _ended(rt, job, task)


def _unread(rt: Runtime, job: JobRecord, exc: RetryableError) -> None:
    """The status could not be read this time: keep the lease, look again later."""
    if _task_age_s(rt, job) > UPSTREAM_TASK_LIFETIME_S:
        message = f"the upstream task could not be read before it outlived its 24 h: {exc}"
        finish(rt, job, JobState.EXPIRED, message=message)
        return
    _renew(rt, job)
    retry_after_s = exc.retry_after_s if isinstance(exc, UpstreamThrottled) else None
    delay_s = max(retry_after_s or 0.0, poll_delay_s(rt, job.polls))
    _log.info("job %s: status not read (%s), polling again in %.1f s", job.job_id, exc, delay_s)
    schedule_poll(rt, job.job_id, job.poll_token, delay_s)


def _renew(rt: Runtime, job: JobRecord) -> None:
    if not rt.limiter.renew(job.account, job.request.model.value, job.job_id):
        _log.warning("job %s: its slot lease was gone (released or ran out)", job.job_id)


def _task_age_s(rt: Runtime, job: JobRecord) -> float:
    return rt.clock() - job.timestamps.get(JobState.PENDING, job.created_at)


def _in_progress(rt: Runtime, job: JobRecord, status: TaskStatus) -> None:
    _renew(rt, job)
    if status is TaskStatus.RUNNING and job.state is not JobState.RUNNING:
        rt.store.transition(job.job_id, JobState.RUNNING)
    schedule_poll(rt, job.job_id, job.poll_token, poll_delay_s(rt, job.polls))


def _ended(rt: Runtime, job: JobRecord, task: TaskResult) -> None:
    if task.status is TaskStatus.SUCCEEDED:
        if not task.image_urls:
            finish(rt, job, JobState.FAILED, code=NO_RESULTS, message="no image in the answer")
            return
        rt.limiter.release(job.account, job.request.model.value, job.job_id)
        usage = JobUsage(**task.usage.model_dump()) if task.usage is not None else None
        if rt.store.transition(
            job.job_id, JobState.STORING, result_urls=task.image_urls, usage=usage
        ):
            rt.scheduler.later(TASK_STORE, job.job_id)
    elif task.status is TaskStatus.FAILED:
        code = task.code or "Unknown"
        finish(rt, job, JobState.FAILED, code=code, message=task.message or code)
    elif task.status is TaskStatus.CANCELED:
        finish(rt, job, JobState.CANCELED, message="canceled upstream")
    else:
        if _task_age_s(rt, job) > UPSTREAM_TASK_LIFETIME_S:
            finish(rt, job, JobState.EXPIRED, message="the upstream task outlived its 24 h")
        else:
            message = f"the upstream does not know task {job.task_id}"
            finish(rt, job, JobState.FAILED, code=TASK_UNKNOWN, message=message)
