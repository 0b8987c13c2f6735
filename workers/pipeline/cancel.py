"""Canceling a job on a producer's request.

=======================================  =====================================================
job                                      outcome
=======================================  =====================================================
QUEUED, or SUBMITTING with no submit     CANCELED; nothing is sent upstream
in progress
SUBMITTING with a submit in progress     refused: the upstream may be creating the task;
                                         ask again in a moment
PENDING                                  the upstream task is canceled, then CANCELED (refused
                                         if the upstream has started it meanwhile)
RUNNING, STORING                         refused: the upstream cannot cancel a started task
terminal                                 refused: already ended
=======================================  =====================================================

A cancel races the submit it would prevent: the check "no submit in progress" and the move
to CANCELED must be one atomic step, else a ``begin_submit`` landing in between would POST
(and bill) a task for a job already CANCELED. A QUEUED job is canceled with ``expect=QUEUED``
(``begin_submit`` moves it to SUBMITTING). A SUBMITTING job is canceled by taking the submit
gate itself: ``begin_submit`` succeeds only with no intent and no task id, and whoever wins
it decides; the cancel then ends the job, and a concurrent submit finds the gate taken.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from workers.contract import JobRecord, JobState
from workers.errors import UpstreamRejected
from workers.pipeline.outcomes import finish, release, without_url_queries
from workers.runtime import Runtime

CANCELED_BY_REQUEST = "canceled on request"


@dataclass(frozen=True)
class CancelOutcome:
    """What a cancel request achieved.

    Attributes:
        job_id: The job.
        canceled: Whether the job is now CANCELED because of this request.
        state: The job's state after the request (None: no such job).
        reason: Why it was refused, in words (empty when canceled).
    """

    job_id: str
    canceled: bool
    state: JobState | None
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        """A JSON-safe rendering."""
        out = asdict(self)
        out["state"] = self.state.value if self.state is not None else None
        return out


def cancel(rt: Runtime, job_id: str) -> CancelOutcome:
    """Cancel a job that the upstream has not started (see the table above).

    Raises:
        RetryableError: The upstream could not be asked to cancel (the job is unchanged).
    """
    job = rt.store.get(job_id)
    if job is None:
        return CancelOutcome(job_id, False, None, "no such job")
    if job.is_terminal:
        return CancelOutcome(job_id, False, job.state, f"the job has already ended ({job.state})")
    if job.state is JobState.QUEUED or (
        job.state is JobState.SUBMITTING and job.intent_at is None and job.task_id is None
    ):
        return _cancel_unsubmitted(rt, job)
    if job.state is JobState.SUBMITTING:
        return CancelOutcome(
            job_id, False, job.state, "a submit is in progress; ask again in a moment"
        )
    if job.state is JobState.PENDING and job.task_id is not None:
        try:
            rt.upstream_for(job.account).cancel(job.task_id)
        except UpstreamRejected as exc:
            reason = without_url_queries(f"the upstream refused: {exc.code}: {exc.message}")
            return CancelOutcome(job_id, False, job.state, reason)
        finish(rt, job, JobState.CANCELED, message=CANCELED_BY_REQUEST)
        return CancelOutcome(job_id, True, JobState.CANCELED)
    return CancelOutcome(
        job_id,
        False,
        job.state,
        "the upstream task has started and cannot be canceled; it will run to its end",
    )


def _cancel_unsubmitted(rt: Runtime, job: JobRecord) -> CancelOutcome:
    """Cancel a job with no submit in progress, atomically against a concurrent submit."""
    job_id = job.job_id
    if job.state is JobState.SUBMITTING and not rt.store.begin_submit(job_id):
        # A submit took the gate first (or the job moved on): it may be creating the task.
        return _refused(rt, job_id, "a submit is in progress; ask again in a moment")
    # QUEUED: expect=QUEUED fails if begin_submit moved it meanwhile. SUBMITTING: this
    # cancel holds the gate, so no submit can start before the job is CANCELED.
    if rt.store.transition(
        job_id,
        JobState.CANCELED,
        expect=(job.state,),
        error_message=CANCELED_BY_REQUEST,
    ):
        release(rt, job)
        return CancelOutcome(job_id, True, JobState.CANCELED)
    return _refused(rt, job_id, "the job moved on while being canceled; ask again")


def _refused(rt: Runtime, job_id: str, reason: str) -> CancelOutcome:
    latest = rt.store.get(job_id)
    return CancelOutcome(job_id, False, latest.state if latest else None, reason)
