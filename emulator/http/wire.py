"""Wire formats: JSON bodies, error answers (DashScope JSON or OSS XML), SSE frames.

Bodies are plain dicts serialised once (orjson when installed, else the standard library), with
no response-model validation on the way out, so the hot paths stay cheap. Every DashScope
answer carries the same ``request_id`` in its body and in the ``x-request-id`` header; an OSS
answer carries it in ``x-oss-request-id``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from xml.sax.saxutils import escape

from starlette.responses import Response

from emulator.constants import (
    HEADER_OSS_REQUEST_ID,
    HEADER_REQUEST_ID,
    JSON_CONTENT_TYPE,
    XML_CONTENT_TYPE,
)
from emulator.errors import ApiError


def _stdlib_dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


dumps: Callable[[Any], bytes]
try:  # pragma: no cover - depends on the environment
    import orjson  # type: ignore[import-not-found, unused-ignore]

    dumps = orjson.dumps
except ImportError:  # pragma: no cover
    dumps = _stdlib_dumps


def new_request_id() -> str:
    """A fresh request id (a UUID4 string, like the real gateway's)."""
    return str(uuid.uuid4())


def json_response(
    body: dict[str, Any],
    request_id: str,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A JSON answer; sets ``request_id`` in the body and the ``x-request-id`` header.

    Args:
        body: The body without its request id; it is modified in place.
        request_id: The request id of this answer.
        status: HTTP status code.
        headers: Extra headers.
    """
    body["request_id"] = request_id
    all_headers = {HEADER_REQUEST_ID: request_id}
    if headers:
        all_headers.update(headers)
    return Response(dumps(body), status, all_headers, JSON_CONTENT_TYPE)


def error_body(error: ApiError, request_id: str) -> dict[str, Any]:
    """The DashScope error body ``{"request_id","code","message"}``."""
    return {"request_id": request_id, "code": error.code, "message": error.message}


def error_response(error: ApiError, request_id: str) -> Response:
    """The DashScope JSON error answer for `error` (with ``Retry-After`` when it has one)."""
    headers = {}
    if error.retry_after_s is not None:
        headers["retry-after"] = str(max(1, round(error.retry_after_s)))
    return json_response(
        error_body(error, request_id), request_id, status=error.status, headers=headers
    )


def sse_frame(event_id: int, event: str, status: int, data: dict[str, Any]) -> bytes:
    """One server-sent event in DashScope's format (``id``, ``event``, status comment, data)."""
    return (
        f"id:{event_id}\nevent:{event}\n:HTTP_STATUS/{status}\ndata:".encode()
        + dumps(data)
        + b"\n\n"
    )


def oss_error_response(
    error: ApiError, request_id: str, extra: Mapping[str, str] | None = None
) -> Response:
    """The OSS XML error answer for `error` (result downloads, the fake upload target).

    Args:
        error: The error to answer with.
        request_id: The request id of this answer.
        extra: More ``<Error>`` fields, after the standard ones.
    """
    fields = {
        "Code": error.code,
        "Message": error.message,
        "RequestId": request_id,
        "HostId": "emulator",
    }
    if extra:
        fields.update(extra)
    inner = "".join(f"  <{k}>{escape(v)}</{k}>\n" for k, v in fields.items())
    xml = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error>\n{inner}</Error>\n'
    headers = {HEADER_OSS_REQUEST_ID: request_id}
    return Response(xml.encode(), error.status, headers, XML_CONTENT_TYPE)


def error_answer(error: ApiError, request_id: str, *, oss: bool = False) -> Response:
    """`error` as its surface answers: OSS XML when `oss`, else DashScope JSON."""
    return oss_error_response(error, request_id) if oss else error_response(error, request_id)
