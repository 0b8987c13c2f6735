"""Typed fields of a parsed JSON body, read for validation with wire-path error messages.

Each helper raises the 400 InvalidParameter answer (emulator.errors.invalid_parameter) with a
message naming the field's wire path. A key whose value is null counts as absent (the SDKs
leave out None values).
"""

from __future__ import annotations

from typing import Any, Final, TypeVar

from emulator.errors import invalid_parameter

_T = TypeVar("_T", bool, int, str)
_KIND_NAMES: Final[dict[type, str]] = {bool: "a boolean", int: "an integer", str: "a string"}
_MAX_ECHO_CHARS: Final = 80


def json_type(value: Any) -> str:
    """The JSON type name of a parsed value, for error messages."""
    for kind, name in ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string")):
        if isinstance(value, kind):
            return name
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else "null" if value is None else "unknown"


def typed(container: dict[str, Any], prefix: str, key: str, kind: type[_T]) -> _T | None:
    """`container[key]` when it has JSON type `kind` (a bool is no int), None when absent."""
    value = container.get(key)
    if value is None:
        return None
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    raise invalid_parameter(f"{prefix}.{key} must be {_KIND_NAMES[kind]}, got {json_type(value)}")


def clip(text: str, max_chars: int = _MAX_ECHO_CHARS) -> str:
    """`text` as echoed in a message: cut after `max_chars` characters, marked with "..."."""
    return text if len(text) <= max_chars else text[:max_chars] + "..."


def check_range(
    what: str, value: int, bounds: tuple[int, int], context: str, unit: str = ""
) -> None:
    """Refuse `value` outside the inclusive `bounds`; `what`, `unit`, `context` word the message."""
    low, high = bounds
    if low <= value <= high:
        return
    bound = f"must be {low}" if low == high else f"must be between {low} and {high}"
    suffix = f" for {context}" if context else ""
    raise invalid_parameter(f"{what} {bound}{unit}{suffix}, got {value}")


def int_param(
    params: dict[str, Any], key: str, bounds: tuple[int, int], context: str
) -> int | None:
    """`parameters[key]` as an integer within `bounds`, None when absent."""
    value = typed(params, "parameters", key, int)
    if value is not None:
        check_range(f"parameters.{key}", value, bounds, context)
    return value
