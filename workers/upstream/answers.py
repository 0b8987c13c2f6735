"""Reading the service's error answers: code, message, request id and Retry-After.

A JSON error body is ``{"request_id", "code", "message"}`` (dashscope-protocol.md section 7.1);
the SDK also reads ``msg``. A non-JSON body gets code ``Unknown`` and its text, truncated, as
message, as the SDK does. Any text that reaches a message has the API key redacted.
"""

from __future__ import annotations

import email.utils
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import httpx

from workers.upstream.parse import body_request_id, decode_object

MESSAGE_LIMIT: Final = 500
"""Error-body text longer than this is truncated in messages."""

UNKNOWN_CODE: Final = "Unknown"


Secret = str | tuple[str, ...] | None
"""One key, or the keys of an account, to redact."""


def redact(text: str, secret: Secret) -> str:
    """Remove ``secret`` (one key or several) from ``text`` (a body could echo a header)."""
    for key in (secret,) if isinstance(secret, str) else secret or ():
        if key:
            text = text.replace(key, "***")
    return text


def truncate(text: str) -> str:
    """``text`` cut to :data:`MESSAGE_LIMIT` characters, marked when cut."""
    return text if len(text) <= MESSAGE_LIMIT else text[:MESSAGE_LIMIT] + "...[truncated]"


def parse_retry_after(headers: httpx.Headers, now: datetime | None = None) -> float | None:
    """Seconds to wait, from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date).

    Args:
        headers: The response headers.
        now: The current time (for HTTP dates); defaults to the clock.

    Returns:
        A non-negative number of seconds, or None when absent or unreadable.
    """
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            value = float(millis) / 1000
        except ValueError:
            value = math.nan
        if math.isfinite(value):
            return max(value, 0.0)
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        value = (when - (now or datetime.now(UTC))).total_seconds()
    return max(value, 0.0) if math.isfinite(value) else None


@dataclass(frozen=True)
class ErrorBody:
    """The service's error answer, decoded as the SDK does.

    Attributes:
        code: ``code``, or ``Unknown`` for a non-JSON or code-less body.
        message: ``message`` (or ``msg``), else the raw text, truncated.
        request_id: Body ``request_id``, else the ``x-request-id`` header.
        is_json: Whether the body was a JSON object.
    """

    code: str
    message: str
    request_id: str | None
    is_json: bool


def read_error_body(response: httpx.Response, secret: Secret = None) -> ErrorBody:
    """Decode an error answer into code, message and request id, with ``secret`` redacted."""
    header_rid = response.headers.get("x-request-id") or None
    raw = decode_object(response.content)
    if raw is None:
        text = truncate(redact(response.content.decode("utf-8", "replace").strip(), secret))
        return ErrorBody(UNKNOWN_CODE, text or f"HTTP {response.status_code}", header_rid, False)
    code = raw.get("code")
    message = raw.get("message") or raw.get("msg") or ""
    return ErrorBody(
        code=code if isinstance(code, str) and code else UNKNOWN_CODE,
        message=truncate(redact(str(message), secret)),
        request_id=body_request_id(raw) or header_rid,
        is_json=True,
    )
