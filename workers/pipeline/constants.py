"""Constants of the pipeline: error codes it records, result layout, reconciliation bounds."""

from __future__ import annotations

from typing import Final

# Defined by the job contract (producers read them); the pipeline records them.
from workers.contract.names import STUCK as STUCK
from workers.contract.names import SUBMIT_OUTCOME_UNKNOWN as SUBMIT_OUTCOME_UNKNOWN
from workers.contract.names import TASK_UNKNOWN as TASK_UNKNOWN

TASK_CONFLICT: Final = "TaskOwnershipConflict"
"""The task a submit created is already followed by another job."""
NO_RESULTS: Final = "NoResults"
"""The upstream task succeeded without a single image."""
INTERNAL_ERROR: Final = "InternalError"
"""A failure outside the error tree (a bug); the message says what."""

UPSTREAM_TASK_LIFETIME_S: Final = 24 * 3600
"""Upstream task ids and result URLs are valid this long."""

RESULT_CONTENT_TYPE: Final = "image/png"
RESULT_KEY_FORMAT: Final = "{prefix}{job_id}/{index}.png"
"""Deterministic object key of a job's result, so a repeated store overwrites nothing new."""
SPOOL_BYTES: Final = 8 * 1024 * 1024
"""A result larger than this is spooled to a temporary file instead of memory."""

RECONCILE_PAGE_SIZE: Final = 100
RECONCILE_MAX_PAGES: Final = 20
"""Listing more tasks than this to reconcile one submit counts as unidentifiable."""

LIVE_BACKFILL_EVERY_S: Final = 3600.0
"""How often the sweeps walk the active batches for live jobs written without the live
index (:mod:`workers.contract.backfill`)."""

POLL_TOKEN_BYTES: Final = 8
"""Random bytes of a poll token."""

NO_ACCOUNT: Final = "NoAccount"
"""No configured account runs the job's model."""
