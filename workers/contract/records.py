"""The job record: everything wanqueue knows about one job, as its Redis hash holds it.

A record is created by a producer (state QUEUED) and then only changed by the workers through
:class:`~workers.contract.jobstore.JobStore`, which never lets a state go backwards. Records are
JSON-safe: sources are http(s) URLs, small data URIs or ``s3://`` references (producers stage
local files to S3 before creating the record), never bytes or keys.

In Redis each field is one hash field; nested values (the request, usage, lists) are JSON, and
the time each state was entered is ``ts:{STATE}`` (epoch seconds). Absent means None.

A record is validated once, when it is built (a producer's new job, a field the store is asked
to write). Reading it back (:func:`from_hash`) only rebuilds the types, without the request's
per-model rules or the record's own checks: a rule tightened later must not make the jobs
already stored unreadable, and a producer waiting for thousands of jobs reads them often.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from enum import StrEnum
from functools import cache
from types import MappingProxyType
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from workers.contract.models import ModelName
from workers.contract.request import EditRequest
from workers.contract.sources import WIRE_KINDS, SourceKind, source_kind
from workers.contract.states import TERMINAL_STATES, JobState

STATE_RANK: Final = MappingProxyType(
    {
        JobState.QUEUED: 0,
        JobState.SUBMITTING: 1,
        JobState.PENDING: 2,
        JobState.RUNNING: 3,
        JobState.STORING: 4,
        **dict.fromkeys(TERMINAL_STATES, 5),
    }
)
"""Order of the states; a job only moves to an equal or higher rank (terminal: never moves)."""

TERMINAL_RANK: Final = 5

DEFAULT_BATCH: Final = "default"
DEFAULT_TENANT: Final = "default"
TIMESTAMP_PREFIX: Final = "ts:"

Name = Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[^\s]+$")]
"""A custom id, batch, tenant or account name: 1 to 256 characters, no whitespace."""


class Priority(StrEnum):
    """A job's lane: every waiting ``interactive`` job takes a free slot before any ``bulk``
    one (within a lane, tenants share slots by weight)."""

    INTERACTIVE = "interactive"
    BULK = "bulk"


def new_job_id() -> str:
    """A fresh job id (uuid4, 32 hex digits)."""
    return uuid.uuid4().hex


class JobUsage(BaseModel):
    """What the upstream counted for billing (every field optional; unknown ones ignored).

    The upstream client parses the service's ``usage`` into its own ``workers.upstream.Usage``
    (it does not depend on the contract); this model takes one as is (``from_attributes``) or
    as a dict. Unknown counters are ignored, so a counter the client learns before the record
    does is dropped rather than failing the poll, and a record stored with a counter since
    removed still loads (``test_records`` checks that the two models agree).

    Attributes:
        image_count: Images produced (billed).
        size: Actual output size, ``"W*H"``.
        input_tokens: Input tokens (messages models).
        output_tokens: Output tokens (messages models).
        total_tokens: Total tokens (messages models).
    """

    model_config = ConfigDict(frozen=True, extra="ignore", from_attributes=True)

    image_count: int | None = None
    size: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None


class JobRecord(BaseModel):
    """One job.

    Attributes:
        job_id: The job's id (uuid4 hex).
        custom_id: The caller's idempotency key; one live job per custom id.
        batch: The batch the job belongs to.
        tenant: Who the job is for; tenants waiting for slots share them by weight.
        priority: The job's lane (``interactive`` before ``bulk``).
        account: The upstream account the job was admitted to (None until admitted).
        request: The validated edit request (sources: http(s), data URI or ``s3://``).
        state: Where the job is.
        attempts: Submit attempts started (each one recorded an intent first).
        submit_errors: Attempts that failed without reaching the upstream (a 429 is not
            one: waiting for capacity spends nothing).
        task_id: The upstream task id, once known.
        request_id: The upstream request id of the submit.
        error_code: Why the job failed: the upstream's code (``DataInspectionFailed``...) or
            wanqueue's (``SubmitOutcomeUnknown``, ``ResultExpired``, ``UpstreamTaskUnknown``...).
        error_message: Details of the failure.
        usage: Billing counters reported by the upstream.
        result_urls: Upstream result URLs (valid 24 h), kept until the results are stored.
        object_keys: Object-store keys of the stored results, in order.
        checksums: SHA-256 (hex) of each stored result, in order.
        timestamps: When the job entered each state (epoch seconds).
        created_at: When the record was created (epoch seconds).
        updated_at: When the record last changed (epoch seconds).
        intent_at: When the submit in progress was started; None when no submit is in
            progress (a SUBMITTING job without it has had a failed attempt that provably
            created nothing).
        poll_token: The token of the one poll chain allowed to run; other polls are stale.
        poll_prev: The token it replaced: a poll carrying it is the previous link of the
            chain, delivered again after a crash that may have lost its successor.
        polls: Polls made so far.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    job_id: str = Field(default_factory=new_job_id, pattern=r"^[0-9a-f]{32}$")
    custom_id: Name | None = None
    batch: Name = DEFAULT_BATCH
    tenant: Name = DEFAULT_TENANT
    priority: Priority = Priority.BULK
    account: Name | None = None
    request: EditRequest
    state: JobState = JobState.QUEUED
    attempts: int = Field(default=0, ge=0)
    submit_errors: int = Field(default=0, ge=0)
    task_id: str | None = None
    request_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    usage: JobUsage | None = None
    result_urls: tuple[str, ...] = ()
    object_keys: tuple[str, ...] = ()
    checksums: tuple[str, ...] = ()
    timestamps: dict[JobState, float] = Field(default_factory=dict)
    created_at: float = Field(default_factory=time.time)
    updated_at: float | None = None
    intent_at: float | None = None
    poll_token: str | None = None
    poll_prev: str | None = None
    polls: int = Field(default=0, ge=0)

    @field_validator("request")
    @classmethod
    def _wire_or_s3_sources(cls, request: EditRequest) -> EditRequest:
        for index, src in enumerate(request.images):
            kind = source_kind(src, f"images[{index}]")
            if kind not in WIRE_KINDS and kind is not SourceKind.S3:
                raise ValueError(
                    f"images[{index}]: a job's sources must be http(s) URLs, data URIs or "
                    "s3:// references; stage local files to S3 first"
                )
        return request

    @property
    def is_terminal(self) -> bool:
        """Whether the job has reached a state it never leaves."""
        return self.state in TERMINAL_STATES


IDENTITY_FIELDS: Final = frozenset(
    {"job_id", "custom_id", "batch", "tenant", "priority", "created_at"}
)
"""Fields fixed at creation."""
MANAGED_FIELDS: Final = frozenset({"state", "timestamps", "updated_at"})
"""Fields only the store's state machine writes."""
UPDATABLE_FIELDS: Final = frozenset(JobRecord.model_fields) - IDENTITY_FIELDS - MANAGED_FIELDS
"""Fields that ``JobStore.update`` and ``JobStore.transition`` may set."""

_JSON_FIELDS: Final = frozenset({"request", "usage", "result_urls", "object_keys", "checksums"})


@cache
def _adapter(name: str) -> TypeAdapter[Any]:
    annotation = JobRecord.model_fields[name].annotation
    assert annotation is not None
    return TypeAdapter(annotation)


def encode_field(name: str, value: object) -> str | None:
    """Encode one field's value for its hash field (None: the field is deleted).

    Raises:
        ValueError: Not a field of the record, or a value of the wrong type.
    """
    if name not in JobRecord.model_fields or name == "timestamps":
        raise ValueError(f"not a job record field: {name!r}")
    if value is None:
        return None
    plain = _adapter(name).dump_python(_adapter(name).validate_python(value), mode="json")
    return _text(name, plain)


def _text(name: str, plain: Any) -> str:
    """A field's JSON-mode value as its hash field's text."""
    if name in _JSON_FIELDS:
        return json.dumps(plain, separators=(",", ":"), ensure_ascii=False)
    return str(plain)


_LEFT_OUT_WHEN_DEFAULT: Final = frozenset(
    {"attempts", "submit_errors", "polls", "result_urls", "object_keys", "checksums"}
)
"""Counters and lists a new record leaves out while they hold their default (read back as
the default; scripts count them up with HINCRBY). A job hash's request is longer than Redis'
compact encoding allows, so every field costs its own entry: about 60 bytes of a queued job
each."""


def to_hash(record: JobRecord) -> dict[str, str]:
    """The hash fields of a record (None values, and default counters and lists, left out).

    The record is valid already, so it is dumped once rather than each field checked again
    (``encode_field`` gives the same text for one field).
    """
    fields: dict[str, str] = {}
    for name, plain in record.model_dump(mode="json", exclude={"timestamps"}).items():
        if plain is None or (name in _LEFT_OUT_WHEN_DEFAULT and not plain):
            continue
        fields[name] = _text(name, plain)
    for state, at in record.timestamps.items():
        fields[f"{TIMESTAMP_PREFIX}{state.value}"] = repr(float(at))
    return fields


def _texts(value: str) -> tuple[str, ...]:
    return tuple(json.loads(value))


def _same(value: Any) -> Any:
    return value


def _bbox_list(value: Any) -> Any:
    return tuple(tuple(tuple(box) for box in boxes) for boxes in value)


_REQUEST_DECODERS: Final[Mapping[str, Callable[[Any], Any]]] = MappingProxyType(
    {
        "model": ModelName,
        "prompt": _same,
        "images": tuple,
        "negative_prompt": _same,
        "size": _same,
        "n": _same,
        "seed": _same,
        "watermark": _same,
        "prompt_extend": _same,
        "thinking_mode": _same,
        "enable_sequential": _same,
        "enable_interleave": _same,
        "max_images": _same,
        "bbox_list": _bbox_list,
    }
)
"""How each field of a stored request (JSON) becomes its type again; None stays None."""


def _request(value: str) -> EditRequest:
    fields: dict[str, Any] = {
        name: (decode(item) if item is not None else None)
        for name, item in json.loads(value).items()
        if (decode := _REQUEST_DECODERS.get(name)) is not None
    }
    return EditRequest.model_construct(**fields)


def _usage(value: str) -> JobUsage:
    return JobUsage.model_validate_json(value)


_FIELD_DECODERS: Final[Mapping[str, Callable[[str], Any]]] = MappingProxyType(
    {
        "job_id": str,
        "custom_id": str,
        "batch": str,
        "tenant": str,
        "priority": Priority,
        "account": str,
        "request": _request,
        "state": JobState,
        "attempts": int,
        "submit_errors": int,
        "task_id": str,
        "request_id": str,
        "error_code": str,
        "error_message": str,
        "usage": _usage,
        "result_urls": _texts,
        "object_keys": _texts,
        "checksums": _texts,
        "created_at": float,
        "updated_at": float,
        "intent_at": float,
        "poll_token": str,
        "poll_prev": str,
        "polls": int,
    }
)
"""How each hash field becomes its type again (``timestamps`` are the ``ts:*`` fields)."""


def from_hash(raw: Mapping[str | bytes, str | bytes]) -> JobRecord:
    """Rebuild a record from its hash fields (bytes or text), without validating it again.

    Unknown fields are ignored. The request's per-model rules and the record's checks ran
    when the record was created; they are not run again (see the module's docstring).

    Raises:
        ValueError: A field that cannot be decoded (not written by this module).
    """
    data: dict[str, Any] = {}
    timestamps: dict[JobState, float] = {}
    for raw_key, raw_value in raw.items():
        key = raw_key.decode() if isinstance(raw_key, bytes) else raw_key
        value = raw_value.decode() if isinstance(raw_value, bytes) else raw_value
        if key.startswith(TIMESTAMP_PREFIX):
            timestamps[JobState(key[len(TIMESTAMP_PREFIX) :])] = float(value)
        elif (decode := _FIELD_DECODERS.get(key)) is not None:
            data[key] = decode(value)
    data["timestamps"] = dict(sorted(timestamps.items(), key=lambda item: item[1]))
    return JobRecord.model_construct(**data)
