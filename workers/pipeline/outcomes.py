"""Recording outcomes shared by the pipeline's steps: ending a job, scheduling its next poll
or submit."""

from __future__ import annotations

import logging
import re
import secrets

from workers.contract import JobRecord, JobState
from workers.contract.jobstore import ORPHAN_SUSPECTS
from workers.contract.names import TASK_POLL
from workers.errors import (
    RetryableError,
    UpstreamRejected,
    UpstreamThrottled,
    UpstreamUnavailable,
    WanqError,
)
from workers.pipeline.constants import INTERNAL_ERROR, POLL_TOKEN_BYTES, SUBMIT_OUTCOME_UNKNOWN
from workers.runtime import Runtime

_log = logging.getLogger(__name__)

MESSAGE_CHARS = 1000

RESERVED = "reserved"
"""The poll message argument that says its query is already reserved."""

_URL_QUERY = re.compile(r"""(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s?#"'<>]*)[?#][^\s"'<>]*""")


def without_url_queries(text: str) -> str:
    """``text`` with the query and fragment of every URL in it removed.

    The upstream's messages may quote presigned URLs whose query carries a signature or a
    security token; a job record (readable by producers) keeps only scheme, host and path,
    as :func:`workers.fetch.shown` does for one URL.
    """
    return _URL_QUERY.sub(r"\1", text)


def recorded_message(message: str) -> str:
    """An error message as a job records it: URL queries stripped, then truncated."""
    return without_url_queries(message)[:MESSAGE_CHARS]


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
    return code, recorded_message(message)


def finish(
    rt: Runtime,
    job: JobRecord,
    state: JobState,
    *,
    code: str | None = None,
    message: str | None = None,
) -> bool:
    """Give the job's slot back and move it to a terminal ``state`` (with the reason; URL
    queries are stripped from it)."""
    release(rt, job)
    ended = rt.store.transition(
        job.job_id,
        state,
        error_code=code,
        error_message=recorded_message(message) if message else None,
    )
    if ended:
        _log.info("job %s %s %s", job.job_id, state.value, code or "")
    return ended


def fail(rt: Runtime, job_id: str, exc: BaseException) -> None:
    """End a job whose task failed for good (retries exhausted, or an unexpected error).

    Not a job whose upstream task is in progress and whose poll merely ran out of retries
    (Redis was down): its task may still succeed, so it is polled again instead.

    A job caught with a submit in progress may have created an upstream task: it is recorded
    as ``SubmitOutcomeUnknown`` and counted as an orphan suspect.
    """
    job = rt.store.get(job_id)
    if job is None or job.is_terminal:
        return
    if (
        isinstance(exc, RetryableError)
        and job.task_id is not None
        and job.state in (JobState.PENDING, JobState.RUNNING)
    ):
        # The upstream task may still succeed: follow it again instead of failing the job
        # (poll itself ends it EXPIRED once the task outlives the upstream's 24 h).
        _log.warning("job %s: a poll ran out of retries (%s); polling on", job_id, exc)
        schedule_poll(rt, job_id, job.poll_token, rt.settings.pipeline.max_poll_interval_s)
        return
    code, message = error_fields(exc)
    if job.state is JobState.SUBMITTING and job.intent_at is not None and job.task_id is None:
        rt.store.incr_stat(ORPHAN_SUSPECTS)
        code, message = SUBMIT_OUTCOME_UNKNOWN, f"gave up during a submit: {message}"
    finish(rt, job, JobState.FAILED, code=code, message=message)


def schedule_poll(
    rt: Runtime, job_id: str, old_token: str | None, countdown_s: float, *, reserved: bool = False
) -> bool:
    """Make a new token the job's current one, then send the job's next poll with it.

    ``reserved``: the poll holds a reservation of its account's query budget for the moment
    it runs (it queries without asking the budget again).

    The token goes first, so the new poll never finds its token unknown however soon it
    runs. If this process dies between the two, the poll that was running is delivered again
    carrying the previous token, which a job accepts (``poll_prev``), and it sends the lost
    successor; of two links that both run, only the one whose swap wins carries on.

    Returns:
        Whether this chain is still the job's poll chain (False: another one superseded it,
        and nothing was sent).
    """
    token = secrets.token_hex(POLL_TOKEN_BYTES)
    if not rt.store.swap_poll_token(job_id, old_token, token):
        return False
    args = (job_id, token, RESERVED) if reserved else (job_id, token)
    rt.scheduler.later(TASK_POLL, *args, countdown_s=countdown_s)
    return True


def release(rt: Runtime, job: JobRecord, account: str | None = None) -> None:
    """Give back the slot the job holds on ``account`` (default: the one it was submitted
    on), and let this process's dispatcher admit the next job at once."""
    account = account or job.account
    if account is None:
        return
    rt.limits.leases.release(account, job.request.model.value, job.job_id)
    rt.wake_dispatcher()


def next_poll_delay_s(rt: Runtime, job: JobRecord) -> float:
    """Delay before the next poll of a job whose task is in progress: at the next quantile
    of the model's observed latency (:mod:`workers.limits.latency`), else the fixed
    schedule (``first_poll_delay_s``, then ``poll_interval_s`` growing)."""
    elapsed_s = rt.clock() - job.timestamps.get(JobState.PENDING, job.created_at)
    model = job.request.model.value
    delay_s = rt.limits.latency.next_delay_s(model, elapsed_s, first=job.polls == 0)
    if delay_s is not None:
        return min(delay_s, rt.settings.pipeline.max_poll_interval_s)
    if job.polls == 0:
        return max(0.0, rt.settings.pipeline.first_poll_delay_s - elapsed_s)
    return poll_delay_s(rt, job.polls)


def poll_delay_s(rt: Runtime, polls: int) -> float:
    """Delay before the next poll: ``poll_interval_s`` growing towards ``max_poll_interval_s``."""
    pipeline = rt.settings.pipeline
    grown = pipeline.poll_interval_s * pipeline.poll_backoff ** min(polls, 64)
    return float(min(pipeline.max_poll_interval_s, grown))
