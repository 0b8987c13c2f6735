"""Following an upstream task until it ends: one status check per message, never a sleep.

Each poll first reserves a query of its account's budget (:mod:`workers.limits.queries`): a
poll whose reservation lies ahead is sent again for that moment, marked reserved. Polls are
timed from the model's observed latency (:func:`~workers.pipeline.outcomes.next_poll_delay_s`),
and every finished task adds its latency to the model's window.

Each poll carries a token. The job records the token of its one live poll chain and the one
before it; a poll with another token (a duplicate, or a chain superseded by a redelivered
submit) does nothing. A poll swaps the token before sending its successor (see
:func:`~workers.pipeline.outcomes.schedule_poll`), so a crash between the two leaves the
redelivered poll, carrying the previous token, in charge.

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
from workers.pipeline.outcomes import (
    RESERVED,
    finish,
    next_poll_delay_s,
    poll_delay_s,
    release,
    schedule_poll,
)
from workers.runtime import Runtime
from workers.upstream import TaskResult, TaskStatus

_log = logging.getLogger(__name__)

_IN_PROGRESS = frozenset({TaskStatus.PENDING, TaskStatus.SUSPENDED, TaskStatus.RUNNING})


RESERVATION_SLACK_S = 0.005
"""A reservation this close is taken as now."""


def poll(rt: Runtime, job_id: str, token: str, reserved: str = "") -> None:
    """Check a job's upstream task once and act on its status.

    ``reserved`` is :data:`~workers.pipeline.outcomes.RESERVED` when the poll's query was
    reserved already.

    Raises:
        RedisUnavailable: Redis did not answer (the caller retries this poll). An upstream
            that could not be read is polled again later instead (see the module's doc).
    """
    job = rt.store.get(job_id)
    if job is None or job.is_terminal:
        return
    if job.poll_token is not None and token not in (job.poll_token, job.poll_prev):
        _log.debug("job %s: stale poll dropped", job_id)
        return
    job = job.model_copy(update={"poll_token": token})  # this message's chain goes on
    if job.state is JobState.STORING:  # the store message may have been lost with a crash
        rt.scheduler.later(TASK_STORE, job_id)
        return
    if job.task_id is None:
        _log.warning("job %s: polled without an upstream task (state %s)", job_id, job.state)
        return
    account = job.account
    if reserved != RESERVED and account is not None:
        wait_s = rt.limits.queries.reserve(account)
        if wait_s > RESERVATION_SLACK_S:
            schedule_poll(rt, job_id, job.poll_token, wait_s, reserved=True)
            return
    try:
        task = rt.upstream_for(account).fetch(job.task_id)
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
    if isinstance(exc, UpstreamThrottled) and job.account is not None:
        pause_s = retry_after_s or rt.settings.limiter.throttle_pause_s
        rt.limits.queries.pause(job.account, pause_s)
    delay_s = max(retry_after_s or 0.0, poll_delay_s(rt, job.polls))
    _log.info("job %s: status not read (%s), polling again in %.1f s", job.job_id, exc, delay_s)
    schedule_poll(rt, job.job_id, job.poll_token, delay_s)


def _renew(rt: Runtime, job: JobRecord) -> None:
    if job.account is None:
        return
    if not rt.limits.leases.renew(job.account, job.request.model.value, job.job_id):
        _log.warning("job %s: its slot lease was gone (released or ran out)", job.job_id)


def _task_age_s(rt: Runtime, job: JobRecord) -> float:
    return rt.clock() - job.timestamps.get(JobState.PENDING, job.created_at)


def _in_progress(rt: Runtime, job: JobRecord, status: TaskStatus) -> None:
    _renew(rt, job)
    if status is TaskStatus.RUNNING and job.state is not JobState.RUNNING:
        rt.store.transition(job.job_id, JobState.RUNNING)
    schedule_poll(rt, job.job_id, job.poll_token, next_poll_delay_s(rt, job))


def _latency_s(rt: Runtime, job: JobRecord, task: TaskResult) -> float:
    """How long the task took upstream: its own times when reported (same clock, so their
    zone does not matter), else from the job's submit to now."""
    if task.submit_time is not None and task.end_time is not None:
        return (task.end_time - task.submit_time).total_seconds()
    return _task_age_s(rt, job)


def _ended(rt: Runtime, job: JobRecord, task: TaskResult) -> None:
    if task.status in (TaskStatus.SUCCEEDED, TaskStatus.FAILED):
        rt.limits.latency.record(job.request.model.value, _latency_s(rt, job, task))
    if task.status is TaskStatus.SUCCEEDED:
        if not task.image_urls:
            finish(rt, job, JobState.FAILED, code=NO_RESULTS, message="no image in the answer")
            return
        release(rt, job)
        usage = JobUsage(**task.usage.model_dump()) if task.usage is not None else None
        if rt.store.transition(
            job.job_id, JobState.STORING, result_urls=task.image_urls, usage=usage
        ):
            _count_billed(rt, job, usage)
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


BILLED_STAT = "billed:{account}"
"""Counter of the images billed to an account (``{prefix}stats:billed:{account}``)."""


def _count_billed(rt: Runtime, job: JobRecord, usage: JobUsage | None) -> None:
    if usage is not None and usage.image_count and job.account is not None:
        rt.store.incr_stat(BILLED_STAT.format(account=job.account), usage.image_count)
