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
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from workers.contract import JobState
from workers.errors import UpstreamRejected
from workers.pipeline.outcomes import finish
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
        if rt.store.transition(
            job_id,
            JobState.CANCELED,
            expect=(job.state,),
            error_message=CANCELED_BY_REQUEST,
        ):
            rt.limiter.release(job.account, job.request.model.value, job_id)
            return CancelOutcome(job_id, True, JobState.CANCELED)
        return _refused(rt, job_id, "the job moved on while being canceled; ask again")
    if job.state is JobState.SUBMITTING:
        return CancelOutcome(
            job_id, False, job.state, "a submit is in progress; ask again in a moment"
        )
    if job.state is JobState.PENDING and job.task_id is not None:
        try:
            rt.upstream.cancel(job.task_id)
        except UpstreamRejected as exc:
            return CancelOutcome(
                job_id, False, job.state, f"the upstream refused: {exc.code}: {exc.message}"
            )
        finish(rt, job, JobState.CANCELED, message=CANCELED_BY_REQUEST)
        return CancelOutcome(job_id, True, JobState.CANCELED)
    return CancelOutcome(
        job_id,
        False,
        job.state,
        "the upstream task has started and cannot be canceled; it will run to its end",
    )


def _refused(rt: Runtime, job_id: str, reason: str) -> CancelOutcome:
    latest = rt.store.get(job_id)
    return CancelOutcome(job_id, False, latest.state if latest else None, reason)
