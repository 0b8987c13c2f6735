"""Errors of the producer side, leaves of the project's one tree (:mod:`workers.errors`).

::

    WanqError
    ├── RetryableError
    │   └── BrokerUnavailable     the broker did not take some submit messages; the jobs are
    │                             recorded (QUEUED) and listed as unsent, so a retry of the
    │                             submit (same custom_id) or ``redrive`` sends them
    └── PermanentError
        ├── JobNotFound           no record for a job id (never created, or expired)
        └── FlowerRefused         Flower would start without a basic-auth password

Input is refused with :class:`workers.errors.InputInvalid`, and S3 failures while staging
inputs are :class:`workers.errors.StorageUnavailable` / :class:`~workers.errors.StorageRejected`.
"""

from __future__ import annotations

from workers.errors import PermanentError, RetryableError


class BrokerUnavailable(RetryableError):
    """The broker did not take some messages.

    Attributes:
        job_ids: The jobs whose messages may not have been sent (their records exist).
        message: What happened.
    """

    def __init__(self, job_ids: list[str], message: str) -> None:
        super().__init__(job_ids, message)
        self.job_ids = job_ids
        self.message = message

    def __str__(self) -> str:
        return f"the broker did not take {len(self.job_ids)} message(s): {self.message}"


class JobNotFound(PermanentError):
    """No record for a job id.

    Attributes:
        job_id: The id asked for.
    """

    def __init__(self, job_id: str) -> None:
        super().__init__(job_id)
        self.job_id = job_id

    def __str__(self) -> str:
        return f"no job {self.job_id} (never created, or expired)"


class FlowerRefused(PermanentError):
    """Flower would start without a basic-auth password (it never starts open).

    Attributes:
        message: What to configure.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message
