"""Turning pydantic's validation errors into one :class:`InputInvalid`.

The request's rule checks raise :class:`InputInvalid`; inside pydantic they travel as a
:class:`PydanticCustomError` of type :data:`RULE_ERROR` whose context keeps the field, rule and
value, so a model that embeds an edit request still gets an ordinary ``ValidationError``.
"""

from __future__ import annotations

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


def short_repr(value: object) -> str:
    """Render a value for an error message: short, and never a whole base64 payload."""
    if isinstance(value, str):
        if value[:5].lower() == "data:":
            head = value.partition(",")[0]
            return f"{head[:MAX_SHOWN_CHARS]},... ({len(value)} chars)"
        text = repr(value)
    else:
        text = repr(value)
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
            path += f".{part}" if path else part
    return path


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
