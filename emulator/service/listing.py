"""The task list, ``GET /tasks``: query parameters in, one flat page out.

Parameters (dashscope-protocol.md section 6): ``page_no`` (default 1), ``page_size`` (default
10, at most 100 here), ``start_time``/``end_time`` as local ``YYYYMMDDhhmmss`` (on the submit
time, both inclusive), ``model_name``, ``status``, ``api_key_id``, ``region``. The answer is flat:
``data`` (newest first), ``total``, ``total_page``, ``page_no``, ``page_size``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from emulator.constants import LIST_MAX_PAGE_SIZE, LIST_TIME_FORMAT
from emulator.errors import invalid_parameter
from emulator.service.views import list_item
from emulator.tasks.store import ListFilter
from emulator.tasks.task import LISTABLE_STATUSES, Task

_DEFAULT_PAGE_SIZE = 10
_END_OF_SECOND_S = 0.999


@dataclass(frozen=True, slots=True)
class ListQuery:
    """A parsed list request.

    Attributes:
        filter: Task filters.
        region: Region filter (None = any).
        page_no: 1-based page number.
        page_size: Tasks per page.
    """

    filter: ListFilter
    region: str | None
    page_no: int
    page_size: int


def parse_list_query(params: Mapping[str, str]) -> ListQuery:
    """Read and check the list parameters.

    Raises:
        ApiError: 400 InvalidParameter naming the bad parameter.
    """
    page_no = _integer(params, "page_no", 1)
    page_size = _integer(params, "page_size", _DEFAULT_PAGE_SIZE)
    if page_no < 1:
        raise invalid_parameter(f"page_no must be >= 1, got {page_no}")
    if not 1 <= page_size <= LIST_MAX_PAGE_SIZE:
        raise invalid_parameter(
            f"page_size must be between 1 and {LIST_MAX_PAGE_SIZE}, got {page_size}"
        )
    status = params.get("status") or None
    if status is not None and status not in LISTABLE_STATUSES:
        allowed = ", ".join(sorted(LISTABLE_STATUSES))
        raise invalid_parameter(f"status must be one of {allowed}, got {status}")
    start_s = _timestamp(params, "start_time")
    end_s = _timestamp(params, "end_time")
    return ListQuery(
        filter=ListFilter(
            start_s=start_s,
            end_s=None if end_s is None else end_s + _END_OF_SECOND_S,
            model=params.get("model_name") or None,
            status=status,
            api_key_id=params.get("api_key_id") or None,
        ),
        region=params.get("region") or None,
        page_no=page_no,
        page_size=page_size,
    )


def page_of(tasks: Sequence[Task], query: ListQuery, region: str, now: float) -> dict[str, Any]:
    """The list answer for the matching `tasks` (newest first)."""
    total = len(tasks)
    first = (query.page_no - 1) * query.page_size
    page = tasks[first : first + query.page_size]
    return {
        "total": total,
        "total_page": math.ceil(total / query.page_size),
        "page_no": query.page_no,
        "page_size": query.page_size,
        "data": [list_item(task, task.status_at(now), region) for task in page],
    }


def _integer(params: Mapping[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise invalid_parameter(f"{name} must be an integer, got {raw!r}") from None


def _timestamp(params: Mapping[str, str], name: str) -> float | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return time.mktime(time.strptime(raw, LIST_TIME_FORMAT))
    except ValueError:
        message = f"{name} must be formatted as YYYYMMDDhhmmss, got {raw!r}"
        raise invalid_parameter(message) from None
