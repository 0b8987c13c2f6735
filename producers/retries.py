"""Which failed jobs a retry submits again, and as what (:meth:`WanQueue.retry_failed`)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Final

from workers.contract import JobRecord, JobState
from workers.contract.names import STUCK, SUBMIT_OUTCOME_UNKNOWN, TASK_UNKNOWN

RETRY_ID: Final = "retry-{job_id}"
"""The custom id of a failed job's retry: one retry per failed job, however often asked."""
RETRIED_STATES: Final = frozenset({JobState.FAILED, JobState.EXPIRED})
"""The ends a retry undoes (CANCELED was asked for; SUCCEEDED needs nothing)."""
NOT_RETRIED_BY_DEFAULT: Final = frozenset({SUBMIT_OUTCOME_UNKNOWN})
"""Codes retried only when named: the job's upstream task may exist and be billed."""


UNSEEN_END_CODES: Final = frozenset({STUCK, TASK_UNKNOWN})
"""Codes of a job that lost sight of its task before the task ended: it may have succeeded."""


def may_be_billed(record: JobRecord) -> bool:
    """Whether the job's upstream task succeeded, or may have, which the account pays for (a
    task is billed only when it SUCCEEDED): its images were made and then lost
    (``ResultExpired``, a storage error, ``Stuck`` while storing), or the job lost sight of
    its task before it ended (EXPIRED, ``Stuck``, ``UpstreamTaskUnknown``). A retry would pay
    for them again."""
    if JobState.STORING in record.timestamps or record.result_urls or record.object_keys:
        return True
    unseen_end = record.state is JobState.EXPIRED or record.error_code in UNSEEN_END_CODES
    return record.task_id is not None and unseen_end


def is_retried(record: JobRecord, codes: Collection[str] | None) -> bool:
    """Whether a retry with these ``codes`` submits this job again. None: the default, every
    failure that cost nothing (not :data:`NOT_RETRIED_BY_DEFAULT`, not :func:`may_be_billed`);
    named codes are retried whatever they cost."""
    if record.state not in RETRIED_STATES:
        return False
    code = record.error_code or ""
    if codes is None:
        return code not in NOT_RETRIED_BY_DEFAULT and not may_be_billed(record)
    return code in codes


def retry_job(record: JobRecord) -> dict[str, Any]:
    """The fields of a failed job's retry: its request, tenant, priority and retry id."""
    request = record.request.model_dump(mode="json", exclude_none=True)
    return {
        **request,
        "custom_id": RETRY_ID.format(job_id=record.job_id),
        "tenant": record.tenant,
        "priority": record.priority.value,
    }
