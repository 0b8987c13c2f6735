"""Following an upstream task until it ends: one status check per message, never a sleep.

Each poll carries a token. The job records the token of its one live poll chain; a poll with
another token (a duplicate, or a chain superseded by a redelivered submit) does nothing. A
poll schedules its successor before swapping the token, so a crash between the two leaves
the redelivered poll in charge.

==========================  =================================================================
upstream status             action
==========================  =================================================================
PENDING, SUSPENDED          renew the slot lease, poll again later (delay grows)
RUNNING                     the same, and the job becomes RUNNING
SUCCEEDED                   give the slot back, keep the result URLs and usage, STORING, store
FAILED                      give the slot back, FAILED with the upstream's code and message
CANCELED                    give the slot back, CANCELED
UNKNOWN                     give the slot back, EXPIRED when the task outlived its 24 h,
                            else FAILED ``UpstreamTaskUnknown``
==========================  =================================================================

A throttled status check (the account's query budget) is polled again later without
spending a retry; other retryable failures are retried by Celery.
"""

from __future__ import annotations

import logging

from workers.contract import JobRecord, JobState, JobUsage
from workers.contract.names import TASK_STORE
from workers.errors import UpstreamThrottled
from workers.pipeline.constants import NO_RESULTS, TASK_UNKNOWN, UPSTREAM_TASK_LIFETIME_S
from workers.pipeline.outcomes import finish, poll_delay_s, schedule_poll
from workers.runtime import Runtime
from workers.upstream import TaskResult, TaskStatus

_log = logging.getLogger(__name__)

_IN_PROGRESS = frozenset({TaskStatus.PENDING, TaskStatus.SUSPENDED, TaskStatus.RUNNING})


def poll(rt: Runtime, job_id: str, token: str) -> None:
    """Check a job's upstream task once and act on its status.

    Raises:
        RetryableError: The status could not be read (the caller retries this poll).
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
    except UpstreamThrottled as exc:
        delay_s = max(exc.retry_after_s or 0.0, poll_delay_s(rt, job.polls))
        schedule_poll(rt, job_id, job.poll_token, delay_s)
        return
    if task.status in _IN_PROGRESS:
        _in_progress(rt, job, task.status)
    else:
        _ended(rt, job, task)


def _in_progress(rt: Runtime, job: JobRecord, status: TaskStatus) -> None:
    rt.limiter.renew(job.account, job.request.model.value, job.job_id)
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
        submitted_at = job.timestamps.get(JobState.PENDING, job.created_at)
        if rt.clock() - submitted_at > UPSTREAM_TASK_LIFETIME_S:
            finish(rt, job, JobState.EXPIRED, message="the upstream task outlived its 24 h")
        else:
            message = f"the upstream does not know task {job.task_id}"
            finish(rt, job, JobState.FAILED, code=TASK_UNKNOWN, message=message)
