"""The configuration root, `EmulatorConfig`, and how it is read and changed.

One frozen pydantic root read from a YAML or JSON file at start and replaceable at run time
through the admin API (whole, or by a JSON merge patch). Unknown keys are errors. Without a
file the emulator has one account ("default") whose key is ``--api-key``, with every limit off.

Model names key two maps; the key ``"*"`` applies to every model without an entry of its own
(an entry replaces the ``"*"`` entry as a whole, it is not merged field by field).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

import yaml
from pydantic import Field, model_validator

from emulator.config.faults import Faults
from emulator.config.sections import (
    DEFAULT_FAILURE_CODES,
    Account,
    FailureCode,
    Frozen,
    ModelBehaviour,
    RetryAfter,
)
from emulator.constants import (
    DEFAULT_ACCOUNT,
    DEFAULT_RESULT_URL_TTL_S,
    DEFAULT_TASK_TTL_S,
    DEFAULT_UPLOAD_TTL_S,
    WILDCARD_MODEL,
)


class EmulatorConfig(Frozen):
    """The configuration root.

    Attributes:
        accounts: The accounts and their keys and limits.
        models: Latency and failure behaviour per model (``"*"`` = default).
        failure_codes: What FAILED tasks report.
        moderation_terms: A task whose prompt contains one of these (any case) fails with
            DataInspectionFailed, as the service's content filter fails it: a deterministic
            failure for demos and tests.
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
    moderation_terms: tuple[str, ...] = ()
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
