"""Recording outcomes shared by the pipeline's steps: ending a job, scheduling its next poll."""

from __future__ import annotations

import logging
import secrets

from workers.contract import JobRecord, JobState
from workers.contract.jobstore import ORPHAN_SUSPECTS
from workers.contract.names import TASK_POLL
from workers.errors import UpstreamRejected, UpstreamThrottled, UpstreamUnavailable, WanqError
from workers.pipeline.constants import INTERNAL_ERROR, POLL_TOKEN_BYTES, SUBMIT_OUTCOME_UNKNOWN
from workers.runtime import Runtime

_log = logging.getLogger(__name__)

MESSAGE_CHARS = 1000


def error_fields(exc: BaseException) -> tuple[str, str]:
    """The ``(error_code, error_message)`` a job records for an exception.

    The upstream's own code when it sent one (``DataInspectionFailed``...), else the name of
    the error (``InputInvalid``, ``ResultExpired``, ``StorageRejected``...).
    """
    if isinstance(exc, UpstreamRejected | UpstreamThrottled | UpstreamUnavailable):
        code = exc.code
    elif isinstance(exc, WanqError):
        code = type(exc).__name__
    else:
        code = INTERNAL_ERROR
    message = str(exc) if isinstance(exc, WanqError) else f"{type(exc).__name__}: {exc}"
    return code, message[:MESSAGE_CHARS]


def finish(
    rt: Runtime,
    job: JobRecord,
    state: JobState,
    *,
    code: str | None = None,
    message: str | None = None,
) -> bool:
    """Give the job's slot back and move it to a terminal ``state`` (with the reason)."""
    rt.limiter.release(job.account, job.request.model.value, job.job_id)
    ended = rt.store.transition(
        job.job_id,
        state,
        error_code=code,
        error_message=message[:MESSAGE_CHARS] if message else None,
    )
    if ended:
        _log.info("job %s %s %s", job.job_id, state.value, code or "")
    return ended


def fail(rt: Runtime, job_id: str, exc: BaseException) -> None:
    """End a job whose task failed for good (retries exhausted, or an unexpected error).

    A job caught with a submit in progress may have created an upstream task: it is recorded
    as ``SubmitOutcomeUnknown`` and counted as an orphan suspect.
    """
    job = rt.store.get(job_id)
    if job is None or job.is_terminal:
        return
    code, message = error_fields(exc)
    if job.state is JobState.SUBMITTING and job.intent_at is not None and job.task_id is None:
        rt.store.incr_stat(ORPHAN_SUSPECTS)
        code, message = SUBMIT_OUTCOME_UNKNOWN, f"gave up during a submit: {message}"
    finish(rt, job, JobState.FAILED, code=code, message=message)


def schedule_poll(rt: Runtime, job_id: str, old_token: str | None, countdown_s: float) -> bool:
    """Send the job's next poll and make its token the job's current one.

    The message goes first: if this process dies before the token is swapped, the message
    now in flight is merely stale, and the redelivered poll that was running carries on.

    Returns:
        Whether this chain is still the job's poll chain (False: another one superseded it,
        and the message just sent will be dropped when it arrives).
    """
    token = secrets.token_hex(POLL_TOKEN_BYTES)
    rt.scheduler.later(TASK_POLL, job_id, token, countdown_s=countdown_s)
    return rt.store.swap_poll_token(job_id, old_token, token)


def poll_delay_s(rt: Runtime, polls: int) -> float:
    """Delay before the next poll: ``poll_interval_s`` growing towards ``max_poll_interval_s``."""
    pipeline = rt.settings.pipeline
    grown = pipeline.poll_interval_s * pipeline.poll_backoff ** min(polls, 64)
    return float(min(pipeline.max_poll_interval_s, grown))
