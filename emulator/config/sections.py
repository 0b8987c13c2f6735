"""The sections of the configuration: latency, failures, accounts and their limits.

Every section is a frozen pydantic model that refuses unknown keys (`Frozen`); the root that
holds them is emulator.config.root.EmulatorConfig, the fault section is emulator.config.faults.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from emulator.constants import (
    DEFAULT_PENDING_S,
    DEFAULT_QUERY_QPS,
    DEFAULT_REGION,
    DEFAULT_RETRY_AFTER_S,
    DEFAULT_RUNNING_MAX_S,
    DEFAULT_RUNNING_MEDIAN_S,
    DEFAULT_RUNNING_SIGMA,
    WILDCARD_MODEL,
)
from emulator.errors import INTERNAL_ERROR_MESSAGE


class Frozen(BaseModel):
    """Base of every configuration model: immutable, unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Distribution(Frozen):
    """A duration distribution in seconds.

    ``fixed`` is always `median_s`; ``uniform`` is drawn from [`min_s`, `max_s`];
    ``lognormal`` is `median_s` times exp(`sigma` * N(0, 1)). Every draw is clamped to
    [`min_s`, `max_s`].
    """

    kind: Literal["fixed", "uniform", "lognormal"] = "fixed"
    median_s: float = Field(default=1.0, ge=0)
    sigma: float = Field(default=0.0, ge=0)
    min_s: float = Field(default=0.0, ge=0)
    max_s: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _check_bounds(self) -> Self:
        if self.kind == "uniform" and self.max_s is None:
            raise ValueError("a uniform distribution needs max_s")
        if self.max_s is not None and self.max_s < self.min_s:
            raise ValueError("max_s must be >= min_s")
        return self


class ModelBehaviour(Frozen):
    """How tasks of a model behave once accepted.

    Attributes:
        pending: Time spent PENDING after getting a concurrency slot.
        running: Time spent RUNNING.
        failure_rate: Share of tasks that end FAILED.
        partial_failure_rate: Share of n>1 tasks that lose some (not all) of their images.
    """

    pending: Distribution = Distribution(median_s=DEFAULT_PENDING_S)
    running: Distribution = Distribution(
        kind="lognormal",
        median_s=DEFAULT_RUNNING_MEDIAN_S,
        sigma=DEFAULT_RUNNING_SIGMA,
        max_s=DEFAULT_RUNNING_MAX_S,
    )
    failure_rate: float = Field(default=0.0, ge=0, le=1)
    partial_failure_rate: float = Field(default=0.0, ge=0, le=1)


class FailureCode(Frozen):
    """A failure a task can end with; drawn by `weight` among all failure codes.

    Attributes:
        code: ``output.code`` of the FAILED task.
        message: ``output.message`` of the FAILED task.
        weight: Relative frequency.
        http_status: Status of the error answer when a synchronous call fails this way.
    """

    code: str
    message: str
    weight: float = Field(default=1.0, gt=0)
    http_status: int = Field(default=500, ge=400, le=599)


DATA_INSPECTION_FAILED = FailureCode(
    code="DataInspectionFailed",
    message="Input or output data may contain inappropriate content.",
    http_status=400,
)
"""What the content filter answers; also the failure of a prompt with a moderation term."""

DEFAULT_FAILURE_CODES: tuple[FailureCode, ...] = (
    FailureCode(code="InternalError.Algo", message=INTERNAL_ERROR_MESSAGE, weight=2.0),
    DATA_INSPECTION_FAILED,
)


class ModelLimits(Frozen):
    """Per account and model limits (0 turns a limit off).

    Attributes:
        submit_rps: Sustained submit rate (requests per second).
        burst: Submits allowed back to back; default ``max(1, round(submit_rps))``.
        max_concurrent: Tasks PENDING or RUNNING at once.
        on_concurrency: At the cap, answer 429 ("reject") or accept and hold the task
            PENDING in a FIFO queue until a slot frees ("queue").
    """

    submit_rps: float = Field(default=0.0, ge=0)
    burst: int | None = Field(default=None, ge=1)
    max_concurrent: int = Field(default=0, ge=0)
    on_concurrency: Literal["reject", "queue"] = "reject"


class Account(Frozen):
    """An Alibaba Cloud account: its keys see each other's tasks, never another account's.

    Attributes:
        name: Unique account name.
        region: Region id, reported in the task list.
        api_keys: The account's API keys.
        query_qps: Account-wide budget for GET /tasks/{id} and GET /tasks (0 = off).
        query_burst: Queries allowed back to back; default ``max(1, round(query_qps))``.
        limits: Per model limits; ``"*"`` applies to models without an entry.
    """

    name: str = Field(min_length=1)
    region: str = DEFAULT_REGION
    api_keys: tuple[str, ...] = Field(min_length=1)
    query_qps: float = Field(default=DEFAULT_QUERY_QPS, ge=0)
    query_burst: int | None = Field(default=None, ge=1)
    limits: dict[str, ModelLimits] = Field(default_factory=dict)

    def limits_for(self, model: str) -> ModelLimits | None:
        """The limits of `model`, falling back to the ``"*"`` entry."""
        return self.limits.get(model) or self.limits.get(WILDCARD_MODEL)


class RetryAfter(Frozen):
    """Whether 429 answers carry ``Retry-After`` (the real service sends none).

    Attributes:
        mode: "off", "fixed" (always `seconds`) or "computed" (time until the limit frees,
            at least one second).
        seconds: The fixed value.
    """

    mode: Literal["off", "fixed", "computed"] = "off"
    seconds: float = Field(default=DEFAULT_RETRY_AFTER_S, ge=0)
