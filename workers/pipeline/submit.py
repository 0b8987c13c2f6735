"""Submitting a job upstream, at most once, when the limiter admits it.

A job's first submit message parks it in the waiting room (:mod:`workers.limits.admission`);
a dispatcher admits it to an account with capacity (slot leased, submit token taken) and
sends a second submit message naming that account. The record decides what a (possibly
repeated) submit message may do:

=============================================  ==============================================
record                                          action
=============================================  ==============================================
terminal                                        nothing (an admitted job gives its slot back)
has a task_id                                   make sure it is followed (poll, or store)
SUBMITTING with ``intent_at``                   a submit was interrupted: reconcile (never
                                                resubmit), see :mod:`workers.pipeline.reconcile`
QUEUED, or SUBMITTING without ``intent_at``     no account yet: park the job (waiting costs no
                                                retry and holds no worker); admitted to an
                                                account: record the intent and the account,
                                                POST, record the task, schedule the first poll
=============================================  ==============================================

A submit that provably created nothing (a refused connection, a 503 at the door) clears the
intent, gives the slot back and parks the job again first in its tenant's line, so its next
attempt takes a submit token like any other; the account and model pause for the whole fleet,
longer with each such failure in a row (:meth:`~workers.limits.throttle.Throttle.unavailable`).
After ``max_retries`` attempts the job fails with the error. The job stays SUBMITTING, since
states never go backwards, and "SUBMITTING without intent" means exactly "no submit in
progress, none landed". A 429 clears the intent too, but is waiting for capacity, not a
failure: the account and model are paused for the whole fleet and their limit cut
(:mod:`workers.limits.throttle`), the slot goes back, and the job is parked again first in its
tenant's line, spending no attempt of its budget. An ambiguous submit keeps its intent and
comes back once the outcome has settled upstream.

Between the intent and the linked task the job is listed among the open intents of its
account and model (:mod:`workers.intents`), so that a reconciling submit never takes its task.
A task whose job ended before the task could be recorded (a cancel that won meanwhile) is
canceled upstream, best-effort, and counted as an orphan suspect.
"""

from __future__ import annotations

import base64
import logging
import random
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
from workers.limits import ThrottleKind
from workers.pipeline.constants import NO_ACCOUNT, TASK_CONFLICT
from workers.pipeline.outcomes import (
    error_fields,
    finish,
    next_poll_delay_s,
    release,
    schedule_poll,
)
from workers.pipeline.reconcile import reconcile
from workers.runtime import Runtime

_log = logging.getLogger(__name__)


def submit(rt: Runtime, job_id: str, account: str | None = None) -> None:
    """Park a job, or submit it upstream once admitted, unless it is already submitted,
    settled, or ended.

    Args:
        rt: The runtime.
        job_id: The job.
        account: The account the job was admitted to (its slot is leased there); None for a
            job not admitted yet.

    Raises:
        RetryableError: Redis failed (the caller retries).
    """
    lag_s = rt.limits.admission.started(job_id) if account is not None else None
    job = rt.store.get(job_id)
    if job is None:
        _log.warning("submit: no job %s", job_id)
        return
    if job.is_terminal:
        release(rt, job, account)
        return
    if job.task_id is not None:
        resume(rt, job)
        return
    if job.state is JobState.SUBMITTING and job.intent_at is not None:
        task = reconcile(rt, job)
        if task is not None:
            attach(rt, job, task[0], task[1])
        return
    if account is None:
        park(rt, job)
        return
    model = job.request.model.value
    if not rt.limits.leases.renew(account, model, job_id):
        # A repeated message of an admission that was handed back (a 429), or whose lease
        # ran out: the job holds no slot on that account, so it waits for a new admission.
        park(rt, job)
        return
    if lag_s is not None and lag_s > rt.settings.limiter.max_post_lag_s:
        # Its token is too old to spend: posting now could bunch with younger submits and
        # exceed the upstream's rate. It waits for a new admission, first in line.
        _log.info("job %s: admitted %.1f s ago; admitting it again", job_id, lag_s)
        release(rt, job, account)
        park(rt, job, first=True)
        return
    rt.intents.open(account, model, job_id)  # before the intent: a failure here costs nothing
    if not rt.store.begin_submit(job_id, account):
        # Another delivery may hold the gate and be posting: its entry is this one; keep it.
        latest = rt.store.get(job_id)
        if latest is None or latest.is_terminal:  # canceled meanwhile: the lease is ours
            rt.intents.close(account, model, job_id)
            release(rt, job, account)
        return
    _post(rt, job.model_copy(update={"account": account}), account)


def park(rt: Runtime, job: JobRecord, *, first: bool = False) -> None:
    """Put a job in its model's waiting room (``first``: at the head of its tenant's line),
    or fail it when no configured account runs its model."""
    model = job.request.model.value
    if not rt.limits.admission.serves(model):
        message = f"no configured account runs {model}"
        finish(rt, job, JobState.FAILED, code=NO_ACCOUNT, message=message)
        return
    rt.limits.admission.park(job.job_id, model, job.priority, job.tenant, first=first)
    rt.wake_dispatcher()


def _post(rt: Runtime, job: JobRecord, account: str) -> None:
    """The one upstream call of a submit attempt whose intent is recorded."""
    request = job.request
    model = request.model.value
    try:
        body = request.to_body(input_resolver(rt))
        answer = rt.upstream_for(account).submit_body(model, request.protocol, body)
    except SubmitAmbiguous as exc:
        _log.warning("job %s: ambiguous submit, reconciling later: %s", job.job_id, exc)
        rt.scheduler.later(TASK_SUBMIT, job.job_id, countdown_s=reconcile_after_s(rt.settings))
        return
    except PermanentError as exc:
        code, message = error_fields(exc)
        finish(rt, job, JobState.FAILED, code=code, message=message)
        rt.intents.close(account, model, job.job_id)
        return
    except UpstreamThrottled as exc:  # waiting for capacity: no retry spent
        kind = ThrottleKind.of(exc.code)
        rate, in_flight = rt.limits.throttle.throttled(account, model, kind, exc.retry_after_s)
        _log.info(
            "job %s: %s on %s/%s; now %.2f submits/s, %d in flight",
            job.job_id,
            exc.code,
            account,
            model,
            rate,
            in_flight,
        )
        _nothing_created(rt, job, account)
        release(rt, job, account)
        park(rt, job, first=True)
        return
    except RetryableError as exc:
        _nothing_created(rt, job, account, failed=True)
        release(rt, job, account)
        if job.submit_errors + 1 > rt.settings.pipeline.max_retries:
            code, message = error_fields(exc)
            message = f"gave up after {job.submit_errors + 1} failed submits: {message}"
            finish(rt, job, JobState.FAILED, code=code, message=message)
            return
        pause_s = rt.limits.throttle.unavailable(account, model, random.uniform(0.5, 1.0))
        _log.info("job %s: %s; %s/%s paused %.1f s", job.job_id, exc, account, model, pause_s)
        park(rt, job, first=True)
        return
    rt.limits.throttle.available(account, model)
    attach(rt, job, answer.task_id, answer.request_id)


def _nothing_created(rt: Runtime, job: JobRecord, account: str, *, failed: bool = False) -> None:
    """Undo a submit attempt that provably created no upstream task (``failed``: not a 429)."""
    # Closed while this attempt still holds the gate, so no new attempt's entry is removed.
    rt.intents.close(account, job.request.model.value, job.job_id)
    rt.store.clear_intent(job.job_id, failed=failed)


def attach(rt: Runtime, job: JobRecord, task_id: str, request_id: str | None) -> None:
    """Record the job's upstream task and start following it.

    A job that ended meanwhile (a cancel won) cannot follow its task: the task is canceled
    upstream (best-effort: it is PENDING) and counted as an orphan suspect, never forgotten.
    """
    model = job.request.model.value
    attached = rt.store.attach_task(job.job_id, task_id, request_id)
    if rt.store.task_owner(task_id) == job.job_id and job.account is not None:
        rt.intents.close(job.account, model, job.job_id)  # linked: no rival's candidate now
    if attached:
        latest = rt.store.get(job.job_id) or job
        schedule_poll(rt, job.job_id, job.poll_token, next_poll_delay_s(rt, latest))
        return
    now = rt.store.get(job.job_id)
    if now is None or now.is_terminal:
        _orphaned(rt, job, task_id)
    elif now.task_id == task_id:
        resume(rt, now)
    else:
        owner = rt.store.task_owner(task_id)
        finish(
            rt,
            now,
            JobState.FAILED,
            code=TASK_CONFLICT,
            message=f"upstream task {task_id} is followed by job {owner}",
        )


def _orphaned(rt: Runtime, job: JobRecord, task_id: str) -> None:
    """The job ended before its upstream task was recorded: cancel the task, count it."""
    rt.store.incr_stat(ORPHAN_SUSPECTS)
    release(rt, job)
    try:
        rt.upstream_for(job.account).cancel(task_id)
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
