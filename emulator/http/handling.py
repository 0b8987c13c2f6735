"""How every emulated endpoint answers, and the request-side helpers the routes share.

`serve()` allocates the request id, runs the work under the group's fault injection
(emulator.http.faults) and turns an `ApiError` into the error answer (DashScope JSON, or OSS
XML on the fake OSS routes). `read_json()` and `parse_json()` read a JSON body.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from emulator.config.faults import Group
from emulator.constants import ENABLE, MAX_REQUEST_BODY_BYTES
from emulator.errors import ApiError, invalid_parameter, too_large
from emulator.http.faults import with_faults
from emulator.http.wire import error_answer, new_request_id
from emulator.service.emulator import Emulator

Work = Callable[[str], Awaitable[Response]]


async def serve(
    emulator: Emulator, group: Group, request: Request, work: Work, *, oss: bool = False
) -> Response:
    """Answer `request` with `work(request_id)` under the faults of `group`.

    Args:
        emulator: The emulated service.
        group: Endpoint group for fault injection.
        request: The request.
        work: Produces the answer; an `ApiError` it raises becomes the error answer.
        oss: Errors, raised or injected, are OSS XML (result downloads, upload target).
    """
    request_id = new_request_id()

    async def handle() -> Response:
        try:
            return await work(request_id)
        except ApiError as exc:
            return error_answer(exc, request_id, oss=oss)

    return await with_faults(emulator, group, request, request_id, handle, oss=oss)


def header_enabled(request: Request, name: str) -> bool:
    """Whether header `name` is ``enable`` (case-insensitive)."""
    return request.headers.get(name, "").strip().lower() == ENABLE


async def read_json(request: Request) -> Any:
    """The parsed JSON body.

    Raises:
        ApiError: 413 when the body is over the cap, 400 InvalidParameter when it is not JSON.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_REQUEST_BODY_BYTES:
        raise too_large()
    raw = await request.body()
    if len(raw) > MAX_REQUEST_BODY_BYTES:
        raise too_large()
    return parse_json(raw)


def parse_json(raw: bytes) -> Any:
    """Parse a JSON body.

    Raises:
        ApiError: 400 InvalidParameter when it is not JSON.
    """
    try:
        return json.loads(raw)
    except ValueError:  # UnicodeDecodeError included
        raise invalid_parameter("The request body is not valid JSON.") from None
