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

A submit that provably created nothing (a refused connection, a 429, a 503 at the door)
clears the intent and is retried by Celery: the job stays SUBMITTING, since states never go
backwards, and "SUBMITTING without intent" means exactly "no submit in progress, none landed".
An ambiguous submit keeps its intent and comes back once the outcome has settled upstream.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from typing import Final

from config.celery import submit_settle_s
from workers.contract import JobRecord, JobState
from workers.contract.models import MAX_IMAGE_BYTES
from workers.contract.names import TASK_STORE, TASK_SUBMIT
from workers.contract.sources import SourceKind, source_kind
from workers.errors import InputInvalid, PermanentError, RetryableError, SubmitAmbiguous
from workers.pipeline.constants import TASK_CONFLICT
from workers.pipeline.outcomes import error_fields, finish, schedule_poll
from workers.pipeline.reconcile import reconcile
from workers.runtime import Runtime

_log = logging.getLogger(__name__)


def submit(rt: Runtime, job_id: str) -> None:
    """Submit a job upstream unless it is already submitted, settled, or ended.

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
        rt.scheduler.later(TASK_SUBMIT, job_id, countdown_s=wait_s)
        return
    if not rt.store.begin_submit(job_id):
        latest = rt.store.get(job_id)
        if latest is None or latest.is_terminal:  # canceled meanwhile: the lease is ours
            rt.limiter.release(account, model, job_id)
        return
    _post(rt, job)


def _post(rt: Runtime, job: JobRecord) -> None:
    """The one upstream call of a submit attempt whose intent is recorded."""
    request = job.request
    try:
        body = request.to_body(input_resolver(rt))
        answer = rt.upstream.submit_body(request.model.value, request.protocol, body)
    except SubmitAmbiguous as exc:
        _log.warning("job %s: ambiguous submit, reconciling later: %s", job.job_id, exc)
        rt.scheduler.later(TASK_SUBMIT, job.job_id, countdown_s=submit_settle_s(rt.settings))
        return
    except PermanentError as exc:
        code, message = error_fields(exc)
        finish(rt, job, JobState.FAILED, code=code, message=message)
        return
    except RetryableError:
        rt.store.clear_intent(job.job_id)
        rt.limiter.release(job.account, request.model.value, job.job_id)
        raise
    attach(rt, job, answer.task_id, answer.request_id)


def attach(rt: Runtime, job: JobRecord, task_id: str, request_id: str | None) -> None:
    """Record the job's upstream task and start following it."""
    if rt.store.attach_task(job.job_id, task_id, request_id):
        schedule_poll(rt, job.job_id, job.poll_token, rt.settings.pipeline.first_poll_delay_s)
        return
    latest = rt.store.get(job.job_id)
    if latest is None:
        return
    if latest.task_id == task_id:
        resume(rt, latest)
    elif latest.is_terminal:
        _log.warning("job %s ended before its task %s was recorded", job.job_id, task_id)
        rt.limiter.release(job.account, job.request.model.value, job.job_id)
    else:
        owner = rt.store.task_owner(task_id)
        finish(
            rt,
            latest,
            JobState.FAILED,
            code=TASK_CONFLICT,
            message=f"upstream task {task_id} is followed by job {owner}",
        )


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
        bucket, _, key = src[len("s3://") :].partition("/")
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
