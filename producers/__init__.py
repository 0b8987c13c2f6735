"""Producers: the ways jobs enter wanqueue (Python API and the ``wanq`` CLI).

Producers import only the job contract (``workers.contract``), ``workers.errors`` and
``config`` from the rest of the project; never the worker's app, tasks or pipeline.
"""

from producers.api import WanQueue
from producers.errors import BrokerUnavailable, JobNotFound
from producers.manifest import LineError, ManifestEntry, read_manifest
from producers.outcomes import CancelResult, CancelStatus, SubmitReport, result_line
from producers.submission import JobInput

__all__ = [
    "BrokerUnavailable",
    "CancelResult",
    "CancelStatus",
    "JobInput",
    "JobNotFound",
    "LineError",
    "ManifestEntry",
    "SubmitReport",
    "WanQueue",
    "read_manifest",
    "result_line",
]
