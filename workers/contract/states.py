"""The states of a job, as its record in Redis holds them.

::

    QUEUED ─▶ SUBMITTING ─▶ PENDING ─▶ RUNNING ─▶ STORING ─▶ SUCCEEDED
                 │             │          │          │
                 └─────────────┴──────────┴──────────┴─────▶ FAILED | CANCELED | EXPIRED

A job in a terminal state never leaves it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class JobState(StrEnum):
    """Where a job is in its life."""

    QUEUED = "QUEUED"
    """Validated and recorded; waiting for a submit slot."""
    SUBMITTING = "SUBMITTING"
    """The submit was started; the upstream may or may not have the task yet."""
    PENDING = "PENDING"
    """The upstream has the task and has not started it."""
    RUNNING = "RUNNING"
    """The upstream is generating."""
    STORING = "STORING"
    """The upstream succeeded; results are being copied to object storage."""
    SUCCEEDED = "SUCCEEDED"
    """Every result is stored."""
    FAILED = "FAILED"
    """The input, the upstream or the storage failed for good."""
    CANCELED = "CANCELED"
    """Canceled before the upstream started it."""
    EXPIRED = "EXPIRED"
    """The upstream task or its results outlived their 24 h validity."""


TERMINAL_STATES: Final[frozenset[JobState]] = frozenset(
    {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELED, JobState.EXPIRED}
)
"""States a job never leaves."""
