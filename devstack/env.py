"""Settings as environment variables, for the child processes the local stack starts.

A launcher never hands its own ``os.environ`` down: it builds the child's environment from a
:class:`config.Settings` instance, so that a child rebuilds exactly the settings the parent
holds (overrides included) and nothing else leaks in.

>>> settings_env(Settings())["WANQ_LIMITER__MAX_IN_FLIGHT"]
'5'
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from enum import Enum
from typing import Any

from pydantic import BaseModel, SecretStr

from config import Settings

# Python children flush their output at once, so that their logs are readable while they run.
PYTHON_CHILD_ENV: Mapping[str, str] = {"PYTHONUNBUFFERED": "1"}


def _prefix() -> str:
    return str(Settings.model_config.get("env_prefix", ""))


def _delimiter() -> str:
    return str(Settings.model_config.get("env_nested_delimiter", "__"))


def _section(annotation: Any) -> type[BaseModel] | None:
    """The nested settings model a field holds, if it is one."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _walk(model: type[BaseModel], prefix: str) -> Iterator[tuple[str, tuple[str, ...]]]:
    for name, field in model.model_fields.items():
        section = _section(field.annotation)
        if section is None:
            yield prefix + name.upper(), (name,)
        else:
            for env_name, path in _walk(section, f"{prefix}{name.upper()}{_delimiter()}"):
                yield env_name, (name, *path)


def setting_names() -> dict[str, tuple[str, ...]]:
    """Every environment variable the settings root reads, with its attribute path.

    Returns:
        ``{"WANQ_UPSTREAM__REGION": ("upstream", "region"), ...}`` in declaration order.
    """
    return dict(_walk(Settings, _prefix()))


def _plain(value: Any) -> Any:
    """A JSON-ready copy of a setting's value, secrets revealed."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, Enum):
        return _plain(value.value)
    if isinstance(value, BaseModel):
        return {name: _plain(getattr(value, name)) for name in type(value).model_fields}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return value


def encode(value: Any) -> str:
    """One setting's value as pydantic-settings parses it back from the environment."""
    plain = _plain(value)
    if isinstance(plain, bool):
        return "true" if plain else "false"
    if isinstance(plain, (str, int, float)):
        return str(plain)
    return json.dumps(plain)


def settings_env(settings: Settings) -> dict[str, str]:
    """Every set (non-None) setting as its ``WANQ_*`` variable, secrets revealed.

    The result is meant for a child's environment only: never print or log it.
    """
    env: dict[str, str] = {}
    for env_name, path in setting_names().items():
        value: Any = settings
        for attribute in path:
            value = getattr(value, attribute)
        if value is not None:
            env[env_name] = encode(value)
    return env


def child_env(settings: Settings, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The whole environment of a Python child of the local stack.

    Args:
        settings: The settings the child must see.
        extra: Further variables (a tool's own, e.g. Flower's), applied last.
    """
    return {**PYTHON_CHILD_ENV, **settings_env(settings), **(extra or {})}
