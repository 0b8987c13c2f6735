"""Canceling a job on a caller's request, from the producer side.

==========================================  ==================================================
job                                         what the producer does
==========================================  ==================================================
QUEUED                                      CANCELED in the job store at once (no upstream
                                            call; a submit message still in the queue finds
                                            the job ended and does nothing)
SUBMITTING, no submit in progress           asks a worker (``wanq.cancel``), which cancels it
                                            without an upstream call
SUBMITTING, a submit in progress            refused: the upstream may be creating the task
                                            (an intent or a task id is recorded)
PENDING                                     asks a worker, which cancels the upstream task
                                            (the worker refuses if the task started meanwhile)
RUNNING, STORING                            refused: the upstream cannot cancel a started task
terminal                                    refused: already ended
==========================================  ==================================================

The worker's side of the same table is ``workers/pipeline/cancel.py`` and it is the authority:
this module only routes (cancel a QUEUED job at once, hand the others to a worker, or say at
once what the worker would refuse), and every change is a compare-and-set that the worker's
own checks back up. A request handed to a worker is answered in the job record (CANCELED, or
unchanged when refused). The rules are due to move into the job contract as one
``cancel_decision(JobRecord)`` that both sides call.
"""

from __future__ import annotations

from typing import Final

from producers.constants import CANCELED_BY_REQUEST
from producers.outcomes import CancelResult, CancelStatus
from producers.sender import TaskSender
from workers.contract import JobState, JobStore
from workers.contract.names import TASK_CANCEL

# A QUEUED job may move on between the read and the change; look again once.
_ATTEMPTS: Final = 2

REASON_REQUESTED: Final = "a worker will cancel it unless the upstream has started it"
REASON_SUBMITTING: Final = "a submit is in progress; ask again in a moment"
REASON_STARTED: Final = (
    "the upstream task has started and cannot be canceled; it will run to its end"
)
REASON_MOVED: Final = "the job moved on while being canceled; ask again"


def cancel_job(store: JobStore, sender: TaskSender, job_id: str) -> CancelResult:
    """Cancel a job that the upstream has not started (see the table above).

    Raises:
        BrokerUnavailable: A worker had to be asked and the broker did not take the message.
    """
    for _ in range(_ATTEMPTS):
        job = store.get(job_id)
        if job is None:
            return CancelResult(job_id, CancelStatus.REFUSED, None, "no such job")
        if job.is_terminal:
            reason = f"the job has already ended ({job.state})"
            return CancelResult(job_id, CancelStatus.REFUSED, job.state, reason)
        if job.state is JobState.QUEUED:
            if store.transition(
                job_id,
                JobState.CANCELED,
                expect=(JobState.QUEUED,),
                error_message=CANCELED_BY_REQUEST,
            ):
                return CancelResult(job_id, CancelStatus.CANCELED, JobState.CANCELED)
            continue
        if job.state is JobState.SUBMITTING and (
            job.intent_at is not None or job.task_id is not None
        ):
            # As the worker decides it: a submit began (an intent, or already a task id).
            return CancelResult(job_id, CancelStatus.REFUSED, job.state, REASON_SUBMITTING)
        if job.state in (JobState.SUBMITTING, JobState.PENDING):
            sender.send(TASK_CANCEL, [job_id])
            return CancelResult(job_id, CancelStatus.REQUESTED, job.state, REASON_REQUESTED)
        return CancelResult(job_id, CancelStatus.REFUSED, job.state, REASON_STARTED)
    latest = store.get(job_id)
    state = latest.state if latest is not None else None
    return CancelResult(job_id, CancelStatus.REFUSED, state, REASON_MOVED)
