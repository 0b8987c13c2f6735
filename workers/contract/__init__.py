"""The job contract: what producers and workers agree a job is.

Producers import only this package. It holds the user-facing edit request and its per-model
rules (``docs/model-rules.md``), the two wire protocols, image-source handling, the job
states, the job record and its Redis stores (:class:`JobStore` for the records and their state
machine, :class:`TaskOwners` for the upstream-task links and counters), and the Celery task and
queue names. It imports nothing of the project but :mod:`config` (defaults) and
:mod:`workers.errors`.
"""

from workers.contract.images import DEFAULT_FETCH_LIMIT_BYTES, ImageFacts, inspect_image
from workers.contract.jobstore import JobStore
from workers.contract.models import ModelName, ModelSpec, Protocol, protocol_of, spec_of
from workers.contract.records import JobRecord, JobUsage, Priority
from workers.contract.request import EditRequest
from workers.contract.sources import SourceKind, source_kind
from workers.contract.states import TERMINAL_STATES, JobState
from workers.contract.taskowners import TaskOwners
from workers.contract.validation import validate_request

__all__ = [
    "DEFAULT_FETCH_LIMIT_BYTES",
    "TERMINAL_STATES",
    "EditRequest",
    "ImageFacts",
    "JobRecord",
    "JobState",
    "JobStore",
    "JobUsage",
    "ModelName",
    "ModelSpec",
    "Priority",
    "Protocol",
    "SourceKind",
    "TaskOwners",
    "inspect_image",
    "protocol_of",
    "source_kind",
    "spec_of",
    "validate_request",
]
