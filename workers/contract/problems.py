"""Turning pydantic's validation errors into one :class:`InputInvalid`.

The request's rule checks raise :class:`InputInvalid`; inside pydantic they travel as a
:class:`PydanticCustomError` of type :data:`RULE_ERROR` whose context keeps the field, rule and
value, so a model that embeds an edit request still gets an ordinary ``ValidationError``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Final

from pydantic import ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from workers.errors import InputInvalid

RULE_ERROR: Final = "wan_rule"
MAX_SHOWN_CHARS: Final = 80

_TYPE_RULES: Final = {
    "missing": "is required",
    "extra_forbidden": "is not a field of an edit request (check the spelling)",
    "int_type": "must be an integer",
    "bool_type": "must be true or false",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "model_type": "must be a mapping of field names to values",
    "dict_type": "must be a mapping of field names to values",
}
_BOX_RULE: Final = "a box must be 4 integers [x1, y1, x2, y2]"
_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def has_lone_surrogate(text: str) -> bool:
    """Whether a text holds a lone surrogate (JSON's ``"\\ud800"`` escapes make them), which
    no UTF-8 encoder (Redis, the wire) takes."""
    return _SURROGATE.search(text) is not None


def short_repr(value: object) -> str:
    """Render a value for an error message: short, and never a whole base64 payload."""
    if isinstance(value, str) and value[:5].lower() == "data:":
        head = value.partition(",")[0]
        return f"{head[:MAX_SHOWN_CHARS]},... ({len(value)} chars)"
    try:
        text = repr(value)
    except (ValueError, RecursionError):
        # An int past Python's int-to-str digit limit, or nesting deeper than the stack.
        return f"<{type(value).__name__} too large to show>"
    if len(text) > MAX_SHOWN_CHARS:
        return f"{text[: MAX_SHOWN_CHARS - 3]}... ({len(text)} chars)"
    return text


def as_pydantic_error(exc: InputInvalid) -> PydanticCustomError:
    """Wrap a broken rule so that pydantic reports it as a validation error."""
    context = {"field": exc.field, "rule": exc.rule, "value": exc.value}
    return PydanticCustomError(RULE_ERROR, "{field}: {rule}", context)


def dotted(loc: Sequence[int | str]) -> str:
    """Render a pydantic location as a field path (``("bbox_list", 0)`` -> ``bbox_list[0]``)."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            name = key_name(part)
            path += f".{name}" if path else name
    return path


def key_name(key: object) -> str:
    """Render a mapping key for a field path: as is when short and printable, else quoted."""
    if isinstance(key, str) and key and len(key) <= MAX_SHOWN_CHARS and key.isprintable():
        return key
    return short_repr(key)


def first_problem(exc: ValidationError, allowed_fields: Sequence[str] = ()) -> InputInvalid:
    """Return the first error of a validation as an :class:`InputInvalid`.

    Args:
        exc: The error pydantic raised for an edit request.
        allowed_fields: Field names listed when an unknown field is refused.
    """
    error = exc.errors(include_url=False)[0]
    return _problem(error, allowed_fields)


def _problem(error: ErrorDetails, allowed_fields: Sequence[str]) -> InputInvalid:
    loc = tuple(error["loc"])
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    if error["type"] == "invalid_key":
        return InputInvalid("request", "field names must be strings", short_repr(error["input"]))
    if error["type"] == "string_unicode" and not loc:
        # pydantic-core cannot read a key holding a lone surrogate; it gives no location.
        rule = "is not a field of an edit request (a name must be valid Unicode text)"
        return InputInvalid(key_name(error["input"]), rule)
    if error["type"] == RULE_ERROR:
        prefix = dotted(loc)
        field = f"{prefix}.{ctx['field']}" if prefix else str(ctx["field"])
        value = ctx.get("value")
        return InputInvalid(field, str(ctx["rule"]), None if value is None else str(value))
    if loc[:1] == ("bbox_list",) and len(loc) >= 3 and error["type"] != "int_type":
        # A box of the wrong length is reported on one of its items; name the box.
        return InputInvalid(dotted(loc[:3]), _BOX_RULE, short_repr(error["input"]))
    value = short_repr(error["input"]) if error["type"] != "missing" else None
    field = dotted(loc) or "request"
    rule = _TYPE_RULES.get(error["type"], error["msg"])
    if error["type"] == "extra_forbidden" and allowed_fields:
        rule = f"{rule}; the fields are {', '.join(allowed_fields)}"
    if error["type"] == "enum":
        rule = f"must be one of {ctx.get('expected', '')}"
    return InputInvalid(field, rule, value)
