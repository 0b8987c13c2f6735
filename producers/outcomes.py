"""What the producer API hands back: submission reports, cancel results, result lines."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from producers.manifest import LineError
from workers.contract import JobRecord, JobState


@dataclass
class SubmitReport:
    """The outcome of ``submit_many`` / ``submit_manifest``.

    Attributes:
        batch: The batch the jobs went into.
        job_ids: The job of each accepted line, in order (new, or the existing job of a
            custom id already submitted).
        created: New jobs.
        existing: Lines whose custom id already named a job (nothing new was enqueued).
        refused: Lines that broke a rule (nothing of them was recorded).
        unsent: Jobs recorded whose submit message the broker did not take; a retry of the
            submission or ``redrive`` sends them.
    """

    batch: str
    job_ids: list[str] = field(default_factory=list)
    created: int = 0
    existing: int = 0
    refused: list[LineError] = field(default_factory=list)
    unsent: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every line went in and every message was sent."""
        return not self.refused and not self.unsent


class CancelStatus(StrEnum):
    """What a cancel request achieved."""

    CANCELED = "canceled"
    """The job is CANCELED (it never reached the upstream)."""
    REQUESTED = "requested"
    """A worker was asked to cancel the upstream task (the job is PENDING upstream)."""
    REFUSED = "refused"
    """Nothing was done; ``reason`` says why."""


@dataclass(frozen=True)
class CancelResult:
    """The outcome of one cancel request.

    Attributes:
        job_id: The job.
        status: What was achieved.
        state: The job's state after the request (None: no such job).
        reason: Why it was refused, or what happens next.
    """

    job_id: str
    status: CancelStatus
    state: JobState | None
    reason: str = ""

    def __str__(self) -> str:
        reason = f": {self.reason}" if self.reason else ""
        return f"{self.job_id}: {self.status}{reason}"


def result_line(record: JobRecord) -> dict[str, Any]:
    """A job's line in a results manifest (JSON-safe)."""
    return {
        "custom_id": record.custom_id,
        "job_id": record.job_id,
        "state": record.state.value,
        "object_keys": list(record.object_keys),
        "checksums": list(record.checksums),
        "error_code": record.error_code,
        "error_message": record.error_message,
        "usage": record.usage.model_dump(exclude_none=True) if record.usage else None,
    }
