"""Submitting a job upstream, at most once.

The record decides what a (possibly repeated) submit message may do:

=============================================  ==============================================
record                                          action
=============================================  ==============================================
terminal                                        nothing
has a task_id                                   make sure it is followed (poll, or store)
SUBMITTING with ``intent_at``                   a submit was interrupted: reconcile (never
                                                resubmit), see :mod:`workers.pipeline.reconcile`
QUEUED, or SUBMITTING without ``intent_at``     lease capacity (or come back later), record the
                                                intent, POST, record the task, schedule a poll
=============================================  ==============================================

A submit that provably created nothing (a refused connection, a 503 at the door) clears the
intent and is retried by Celery: the job stays SUBMITTING, since states never go backwards,
and "SUBMITTING without intent" means exactly "no submit in progress, none landed". A 429
clears the intent too but is waiting for capacity, not a failure: the submit is sent again
after ``Retry-After`` (or the capacity backoff), spending no retry. Waits for capacity back
off exponentially with jitter, up to ``capacity_retry_max_s``. An ambiguous submit keeps its
intent and comes back once the outcome has settled upstream.

Between the intent and the linked task the job is listed among the open intents of its
account and model (:mod:`workers.intents`), so that a reconciling submit never takes its task.
A task whose job ended before the task could be recorded (a cancel that won meanwhile) is
canceled upstream, best-effort, and counted as an orphan suspect.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from typing import Final

from adapters.s3 import check_input_ref
from config.celery import reconcile_after_s
from workers.contract import JobRecord, JobState
from workers.contract.jobstore import ORPHAN_SUSPECTS
from workers.contract.models import MAX_IMAGE_BYTES
from workers.contract.names import TASK_STORE, TASK_SUBMIT
from workers.contract.sources import SourceKind, source_kind
from workers.errors import (
    InputInvalid,
    PermanentError,
    RetryableError,
    SubmitAmbiguous,
    UpstreamThrottled,
    WanqError,
)
from workers.pipeline.constants import TASK_CONFLICT
from workers.pipeline.outcomes import error_fields, finish, schedule_poll, schedule_submit
from workers.pipeline.reconcile import reconcile
from workers.runtime import Runtime

_log = logging.getLogger(__name__)


def submit(rt: Runtime, job_id: str, *, waits: int = 0) -> None:
    """Submit a job upstream unless it is already submitted, settled, or ended.

    Args:
        rt: The runtime.
        job_id: The job.
        waits: How many times this job already waited for capacity (its backoff).

    Raises:
        RetryableError: Nothing reached the upstream and the job may be submitted again
            later (the caller retries; the intent is cleared and the slot given back).
    """
    job = rt.store.get(job_id)
    if job is None:
        _log.warning("submit: no job %s", job_id)
        return
    if job.is_terminal:
        return
    if job.task_id is not None:
        resume(rt, job)
        return
    if job.state is JobState.SUBMITTING and job.intent_at is not None:
        task = reconcile(rt, job)
        if task is not None:
            attach(rt, job, task[0], task[1])
        return
    account, model = job.account, job.request.model.value
    wait_s = rt.limiter.try_acquire(account, model, job_id)
    if wait_s is not None:
        schedule_submit(rt, job_id, waits, wait_s)
        return
    rt.intents.open(account, model, job_id)  # before the intent: a failure here costs nothing
    if not rt.store.begin_submit(job_id):
        # Another delivery may hold the gate and be posting: its entry is this one; keep it.
        latest = rt.store.get(job_id)
        if latest is None or latest.is_terminal:  # canceled meanwhile: the lease is ours
            rt.intents.close(account, model, job_id)
            rt.limiter.release(account, model, job_id)
        return
    _post(rt, job, waits)


def _post(rt: Runtime, job: JobRecord, waits: int) -> None:
    """The one upstream call of a submit attempt whose intent is recorded."""
    request = job.request
    try:
        body = request.to_body(input_resolver(rt))
        answer = rt.upstream.submit_body(request.model.value, request.protocol, body)
    except SubmitAmbiguous as exc:
        _log.warning("job %s: ambiguous submit, reconciling later: %s", job.job_id, exc)
        rt.scheduler.later(TASK_SUBMIT, job.job_id, countdown_s=reconcile_after_s(rt.settings))
        return
    except PermanentError as exc:
        code, message = error_fields(exc)
        finish(rt, job, JobState.FAILED, code=code, message=message)
        rt.intents.close(job.account, request.model.value, job.job_id)
        return
    except UpstreamThrottled as exc:  # waiting for capacity: no retry spent
        _nothing_created(rt, job)
        base_s = exc.retry_after_s or rt.settings.pipeline.capacity_retry_s
        schedule_submit(rt, job.job_id, waits, base_s)
        return
    except RetryableError:
        _nothing_created(rt, job)
        raise
    attach(rt, job, answer.task_id, answer.request_id)


def _nothing_created(rt: Runtime, job: JobRecord) -> None:
    """Undo a submit attempt that provably created no upstream task."""
    model = job.request.model.value
    # Closed while this attempt still holds the gate, so no new attempt's entry is removed.
    rt.intents.close(job.account, model, job.job_id)
    rt.store.clear_intent(job.job_id)
    rt.limiter.release(job.account, model, job.job_id)


def attach(rt: Runtime, job: JobRecord, task_id: str, request_id: str | None) -> None:
    """Record the job's upstream task and start following it.

    A job that ended meanwhile (a cancel won) cannot follow its task: the task is canceled
    upstream (best-effort: it is PENDING) and counted as an orphan suspect, never forgotten.
    """
    model = job.request.model.value
    attached = rt.store.attach_task(job.job_id, task_id, request_id)
    if rt.store.task_owner(task_id) == job.job_id:  # linked: no longer a rival's candidate
        rt.intents.close(job.account, model, job.job_id)
    if attached:
        schedule_poll(rt, job.job_id, job.poll_token, rt.settings.pipeline.first_poll_delay_s)
        return
    latest = rt.store.get(job.job_id)
    if latest is None or latest.is_terminal:
        _orphaned(rt, job, task_id)
    elif latest.task_id == task_id:
        resume(rt, latest)
    else:
        owner = rt.store.task_owner(task_id)
        finish(
            rt,
            latest,
            JobState.FAILED,
            code=TASK_CONFLICT,
            message=f"upstream task {task_id} is followed by job {owner}",
        )


def _orphaned(rt: Runtime, job: JobRecord, task_id: str) -> None:
    """The job ended before its upstream task was recorded: cancel the task, count it."""
    rt.store.incr_stat(ORPHAN_SUSPECTS)
    rt.limiter.release(job.account, job.request.model.value, job.job_id)
    try:
        rt.upstream.cancel(task_id)
    except WanqError as exc:
        _log.error(
            "job %s ended before its task %s was recorded, and canceling the task failed "
            "(it may run and bill): %s",
            job.job_id,
            task_id,
            exc,
        )
        return
    _log.warning("job %s ended before its task %s was recorded; canceled it", job.job_id, task_id)


def resume(rt: Runtime, job: JobRecord) -> None:
    """Make sure a job that has its upstream task is followed: a new poll chain (which
    supersedes any other), or the store step once it succeeded."""
    if job.state is JobState.STORING:
        rt.scheduler.later(TASK_STORE, job.job_id)
    elif job.state in (JobState.PENDING, JobState.RUNNING):
        schedule_poll(rt, job.job_id, job.poll_token, 0.0)


def input_resolver(rt: Runtime) -> Callable[[str], str]:
    """Maps an ``s3://`` source to what the upstream can read (``settings.inputs.s3_mode``):
    a presigned URL, or the object's bytes as a base64 data URI."""
    inputs, s3 = rt.settings.inputs, rt.settings.s3

    def resolve(src: str) -> str:
        if source_kind(src) is not SourceKind.S3:
            raise InputInvalid("images", "only s3:// sources are resolved by workers", src[:80])
        # Only the configured bucket's inputs area: a job may not make the workers read (and
        # send upstream) any other object their credentials reach.
        bucket, key = check_input_ref(src, s3.bucket, s3.inputs_prefix)
        if inputs.s3_mode == "presign":
            return rt.objects.presign_get(bucket, key, s3.presign_ttl_s)
        data = rt.objects.read(bucket, key, MAX_IMAGE_BYTES)
        return f"data:{image_mime(data, src)};base64,{base64.b64encode(data).decode()}"

    return resolve


_SIGNATURES: Final = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"BM", "image/bmp"),
)


def image_mime(data: bytes, src: str) -> str:
    """The MIME type of an image's bytes (JPEG, PNG, BMP or WEBP).

    Raises:
        InputInvalid: None of these.
    """
    for signature, mime in _SIGNATURES:
        if data.startswith(signature):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    raise InputInvalid("images", "an s3:// input must be a JPEG, PNG, BMP or WEBP image", src[:80])
