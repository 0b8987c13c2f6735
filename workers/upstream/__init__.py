"""DashScope adapter: the httpx client, its typed answers and its one translation table.

Only this package sees httpx; everything it raises belongs to :mod:`workers.errors`.

Modules: ``client`` (the calls), ``wire`` (paths, headers, auth, timeouts), ``models`` (typed
answers), ``parse`` (raw bodies to models), ``answers`` (reading error bodies) and ``translate``
(the table from answers and httpx exceptions to the error tree).
"""

from workers.upstream.client import DashScopeClient
from workers.upstream.models import (
    SlotFailure,
    SubmitResult,
    SyncResult,
    TaskMetrics,
    TaskPage,
    TaskResult,
    TaskStatus,
    TaskSummary,
    Usage,
)
from workers.upstream.parse import parse_submit, parse_sync, parse_task, parse_task_page
from workers.upstream.translate import error_from_failed_task
from workers.upstream.wire import DEFAULT_USER_AGENT, EditRequestLike, limits_from, timeout_from

__all__ = [
    "DEFAULT_USER_AGENT",
    "DashScopeClient",
    "EditRequestLike",
    "SlotFailure",
    "SubmitResult",
    "SyncResult",
    "TaskMetrics",
    "TaskPage",
    "TaskResult",
    "TaskStatus",
    "TaskSummary",
    "Usage",
    "error_from_failed_task",
    "limits_from",
    "parse_submit",
    "parse_sync",
    "parse_task",
    "parse_task_page",
    "timeout_from",
]
