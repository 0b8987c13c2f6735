"""Typed views of DashScope's answers (see dashscope-protocol.md sections 3, 4, 6 and 11).

The service's bodies are nested and vary by protocol; these flat, frozen models are what the
workers see (:mod:`workers.upstream.parse` builds them from raw bodies). Unknown keys are
ignored. A task timestamp that does not parse becomes None rather than making a finished task
unreadable; a missing ``task_id`` or an unknown status is a validation error.

Timestamps of a task (``submit_time``...) are the server's local wall-clock time with no zone,
so they are kept naive. Times in a task list are epoch milliseconds and become aware UTC
datetimes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

_TASK_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S")


class TaskStatus(StrEnum):
    """Status of an upstream task, as the service spells it."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUSPENDED = "SUSPENDED"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"
    UNKNOWN = "UNKNOWN"

    @property
    def is_terminal(self) -> bool:
        """True when the task will not change again (UNKNOWN: invalid or expired id)."""
        return self in _TERMINAL


_TERMINAL = frozenset(
    {TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELED, TaskStatus.UNKNOWN}
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


def parse_task_time(value: object) -> datetime | None:
    """Parse a task timestamp such as ``"2026-03-31 19:57:58.840"`` (naive, server time).

    Args:
        value: The raw value; anything that is not such a string gives None.

    Returns:
        The naive datetime, or None when absent or unparseable.
    """
    if not isinstance(value, str):
        return None
    for fmt in _TASK_TIME_FORMATS:
        try:
            return datetime.strptime(value.strip(), fmt)
        except ValueError:
            continue
    return None


def _epoch_ms(value: object) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return datetime.fromtimestamp(value / 1000, tz=UTC)


class Usage(_Model):
    """What the service counted for billing; every field is optional.

    Attributes:
        image_count: Images produced (billed).
        size: Actual output size, ``"W*H"``.
        input_tokens: Input tokens (messages models).
        output_tokens: Output tokens (messages models).
        total_tokens: Total tokens (messages models).
    """

    image_count: int | None = None
    size: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None


class TaskMetrics(_Model):
    """Subtask counters of a task (``TOTAL``/``SUCCEEDED``/``FAILED``)."""

    total: int | None = Field(default=None, validation_alias="TOTAL")
    succeeded: int | None = Field(default=None, validation_alias="SUCCEEDED")
    failed: int | None = Field(default=None, validation_alias="FAILED")


class SlotFailure(_Model):
    """One failed image of a wan2.5 task: a ``results`` entry without ``url``.

    Attributes:
        index: Position in ``output.results``.
        code: The service's code for that image, if given.
        message: The service's message for that image, if given.
    """

    index: int
    code: str | None = None
    message: str | None = None


class SubmitResult(_Model):
    """Answer to an async submit.

    Attributes:
        request_id: The service's request id (body, else the ``x-request-id`` header).
        task_id: The new task's id.
        task_status: Its status (``PENDING``).
    """

    request_id: str | None = None
    task_id: str = Field(min_length=1)
    task_status: TaskStatus = TaskStatus.PENDING


class TaskResult(_Model):
    """Answer to ``GET /tasks/{task_id}``.

    Attributes:
        request_id: The service's request id.
        task_id: The task's id.
        status: Its status.
        submit_time: When it was submitted (server local time), if reported.
        scheduled_time: When it started, if reported.
        end_time: When it ended, if reported.
        code: The failure code (FAILED tasks).
        message: The failure message (FAILED tasks).
        image_urls: Result URLs, in order (valid for 24 h).
        texts: Text parts (wan2.6 interleave), in order.
        failures: Failed slots of a wan2.5 task.
        task_metrics: Subtask counters, when reported.
        usage: Billing counters (SUCCEEDED tasks only).
    """

    request_id: str | None = None
    task_id: str = Field(min_length=1)
    status: TaskStatus
    submit_time: datetime | None = None
    scheduled_time: datetime | None = None
    end_time: datetime | None = None
    code: str | None = None
    message: str | None = None
    image_urls: tuple[str, ...] = ()
    texts: tuple[str, ...] = ()
    failures: tuple[SlotFailure, ...] = ()
    task_metrics: TaskMetrics | None = None
    usage: Usage | None = None


class SyncResult(_Model):
    """Answer of the synchronous endpoint (messages models).

    Attributes:
        request_id: The service's request id.
        image_urls: Result URLs, in order (valid for 24 h).
        texts: Text parts (wan2.6 interleave), in order.
        usage: Billing counters.
    """

    request_id: str | None = None
    image_urls: tuple[str, ...] = ()
    texts: tuple[str, ...] = ()
    usage: Usage | None = None


class TaskSummary(_Model):
    """One entry of ``GET /tasks``.

    Attributes:
        task_id: The task's id.
        status: Its status.
        model_name: The model it ran on.
        region: The region (``cn-beijing``...).
        api_key_id: Id (not the secret) of the key that submitted it.
        request_id: Request id of the submit that created it.
        gmt_create: Creation time (UTC).
        start_time: Start time (UTC).
        end_time: End time (UTC).
    """

    task_id: str = Field(min_length=1)
    status: TaskStatus
    model_name: str | None = None
    region: str | None = None
    api_key_id: str | None = None
    request_id: str | None = None
    gmt_create: datetime | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None

    @field_validator("api_key_id", mode="before")
    @classmethod
    def _stringify(cls, value: object) -> object:
        return str(value) if isinstance(value, int) else value

    @field_validator("gmt_create", "start_time", "end_time", mode="before")
    @classmethod
    def _from_epoch_ms(cls, value: object) -> datetime | None:
        return _epoch_ms(value)


class TaskPage(_Model):
    """One page of ``GET /tasks`` (the body is flat, no ``output`` wrapper).

    Attributes:
        total: Tasks matching the filter.
        total_page: Pages at this page size.
        page_no: This page's number (from 1).
        page_size: Page size.
        request_id: The service's request id.
        tasks: The page's tasks (the wire key is ``data``; ``tasks`` is accepted too).
    """

    total: int = 0
    total_page: int = 0
    page_no: int = 1
    page_size: int = 0
    request_id: str | None = None
    tasks: tuple[TaskSummary, ...] = Field(
        default=(), validation_alias=AliasChoices("data", "tasks")
    )

    @field_validator("tasks", mode="before")
    @classmethod
    def _null_is_empty(cls, value: object) -> object:
        return () if value is None else value
