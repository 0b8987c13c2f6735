"""The emulator's configuration: accounts, limits, latency, failures and faults.

One frozen pydantic root, `EmulatorConfig`, read from a YAML or JSON file at start and
replaceable at run time through the admin API. Unknown keys are errors. Without a file the
emulator has one account ("default") whose key is ``--api-key``, with every limit off.

Model names key two maps; the key ``"*"`` applies to every model without an entry of its own
(an entry replaces the ``"*"`` entry as a whole, it is not merged field by field).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from emulator.constants import (
    DEFAULT_ACCOUNT,
    DEFAULT_PENDING_S,
    DEFAULT_QUERY_QPS,
    DEFAULT_REGION,
    DEFAULT_RESULT_URL_TTL_S,
    DEFAULT_RETRY_AFTER_S,
    DEFAULT_RUNNING_MAX_S,
    DEFAULT_RUNNING_MEDIAN_S,
    DEFAULT_RUNNING_SIGMA,
    DEFAULT_TASK_TTL_S,
    DEFAULT_UPLOAD_TTL_S,
    WILDCARD_MODEL,
)
from emulator.errors import INTERNAL_ERROR_MESSAGE
from emulator.faultconfig import Faults


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Distribution(_Frozen):
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


class ModelBehaviour(_Frozen):
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


class FailureCode(_Frozen):
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


DEFAULT_FAILURE_CODES: tuple[FailureCode, ...] = (
    FailureCode(code="InternalError.Algo", message=INTERNAL_ERROR_MESSAGE, weight=2.0),
    FailureCode(
        code="DataInspectionFailed",
        message="Input or output data may contain inappropriate content.",
        http_status=400,
    ),
)


class ModelLimits(_Frozen):
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


class Account(_Frozen):
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


class RetryAfter(_Frozen):
    """Whether 429 answers carry ``Retry-After`` (the real service sends none).

    Attributes:
        mode: "off", "fixed" (always `seconds`) or "computed" (time until the limit frees,
            at least one second).
        seconds: The fixed value.
    """

    mode: Literal["off", "fixed", "computed"] = "off"
    seconds: float = Field(default=DEFAULT_RETRY_AFTER_S, ge=0)


class EmulatorConfig(_Frozen):
    """The configuration root.

    Attributes:
        accounts: The accounts and their keys and limits.
        models: Latency and failure behaviour per model (``"*"`` = default).
        failure_codes: What FAILED tasks report.
        task_ttl_s: Age after which a task id answers UNKNOWN.
        result_url_ttl_s: Validity of result URLs after the task ends.
        upload_ttl_s: Retention of files uploaded to the fake OSS target.
        retry_after: ``Retry-After`` on 429 answers.
        random_seed: Seed for latency, failure and fault draws (None = random).
        faults: Fault injection.
        admin_token: When set, admin calls need the header ``X-Admin-Token``.
    """

    accounts: tuple[Account, ...] = Field(min_length=1)
    models: dict[str, ModelBehaviour] = Field(
        default_factory=lambda: {WILDCARD_MODEL: ModelBehaviour()}
    )
    failure_codes: tuple[FailureCode, ...] = Field(default=DEFAULT_FAILURE_CODES, min_length=1)
    task_ttl_s: float = Field(default=DEFAULT_TASK_TTL_S, gt=0)
    result_url_ttl_s: float = Field(default=DEFAULT_RESULT_URL_TTL_S, gt=0)
    upload_ttl_s: float = Field(default=DEFAULT_UPLOAD_TTL_S, gt=0)
    retry_after: RetryAfter = RetryAfter()
    random_seed: int | None = None
    faults: Faults = Faults()
    admin_token: str | None = None

    @model_validator(mode="after")
    def _check_unique(self) -> Self:
        names = [a.name for a in self.accounts]
        if len(set(names)) != len(names):
            raise ValueError("account names must be unique")
        keys = [k for a in self.accounts for k in a.api_keys]
        if len(set(keys)) != len(keys):
            raise ValueError("an API key may belong to one account only")
        return self

    def behaviour_for(self, model: str) -> ModelBehaviour:
        """The behaviour of `model`, falling back to ``"*"`` and then to the defaults."""
        found = self.models.get(model) or self.models.get(WILDCARD_MODEL)
        return found if found is not None else ModelBehaviour()


def default_account(api_key: str) -> dict[str, Any]:
    """The account used when the configuration declares none: every limit off."""
    return {"name": DEFAULT_ACCOUNT, "api_keys": [api_key], "query_qps": 0}


def build_config(raw: dict[str, Any], api_key: str) -> EmulatorConfig:
    """Validate a raw configuration; without accounts, add the default one for `api_key`.

    Raises:
        pydantic.ValidationError: The configuration is invalid.
    """
    if not raw.get("accounts"):
        raw = {**raw, "accounts": [default_account(api_key)]}
    return EmulatorConfig.model_validate(raw)


def load_config(path: Path | None, api_key: str) -> EmulatorConfig:
    """Read the configuration from a YAML or JSON file (None = defaults)."""
    raw: Any = {} if path is None else yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: the configuration must be a mapping")
    return build_config(raw, api_key)


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply a JSON merge patch (RFC 7386): mappings merge, null deletes, the rest replaces."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged
