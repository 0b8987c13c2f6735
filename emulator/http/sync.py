"""The synchronous endpoint (wan2.7 / wan2.6): ``POST .../multimodal-generation/generation``.

The call is accepted like an async submit (same limits; the task is hidden from the task
APIs), the answer waits for the task's latency, then carries the result without task fields.
A FAILED task answers with its failure's HTTP status, code and message.

With ``X-DashScope-SSE: enable`` the answer is ``text/event-stream``: one ``event:result``
frame per content item (the last one with ``finish_reason: "stop"`` and ``finished: true``).
Errors found after authentication come back as HTTP 200 with one ``event:error`` frame
carrying the real status in its ``:HTTP_STATUS/<code>`` comment, as the real service does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from emulator.constants import (
    API_PREFIX,
    HEADER_OSS_RESOLVE,
    HEADER_REQUEST_ID,
    HEADER_SSE,
    PATH_MULTIMODAL,
    SSE_CONTENT_TYPE,
)
from emulator.errors import ApiError
from emulator.http.handling import header_enabled, read_json, serve
from emulator.http.wire import error_body, json_response, sse_frame
from emulator.service.emulator import Emulator
from emulator.service.views import content_items, sync_body, usage
from emulator.tasks.task import FAILED, Task

_SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


def sync_router(emulator: Emulator) -> APIRouter:
    """The router of the synchronous generation endpoint."""
    router = APIRouter()

    @router.post(API_PREFIX + PATH_MULTIMODAL)
    async def generate(request: Request) -> Response:
        """Synchronous generation, JSON or SSE."""
        stream = header_enabled(request, HEADER_SSE)

        async def work(request_id: str) -> Response:
            caller = emulator.authenticate(request.headers.get("authorization"))
            try:
                body = await read_json(request)
                task = await emulator.submit(
                    caller,
                    "multimodal",
                    body,
                    oss_resolve=header_enabled(request, HEADER_OSS_RESOLVE),
                    request_id=request_id,
                    hidden=True,
                    stream=stream,
                )
            except ApiError as exc:
                if stream:
                    return _sse_error(exc, request_id)
                raise
            if stream:
                return StreamingResponse(
                    _frames(emulator, task, request_id),
                    headers={HEADER_REQUEST_ID: request_id, **_SSE_HEADERS},
                    media_type=SSE_CONTENT_TYPE,
                )
            if await emulator.wait_done(task) == FAILED:
                raise _failure_error(task)
            return json_response(sync_body(task, emulator.sign), request_id)

        return await serve(emulator, "sync", request, work)

    return router


def _failure_error(task: Task) -> ApiError:
    failure = task.plan.failure
    assert failure is not None
    return ApiError(failure.http_status, failure.code, failure.message)


def _sse_error(error: ApiError, request_id: str) -> Response:
    frame = sse_frame(1, "error", error.status, error_body(error, request_id))
    return Response(frame, 200, {HEADER_REQUEST_ID: request_id, **_SSE_HEADERS}, SSE_CONTENT_TYPE)


async def _frames(emulator: Emulator, task: Task, request_id: str) -> AsyncIterator[bytes]:
    if await emulator.wait_done(task) == FAILED:
        error = _failure_error(task)
        yield sse_frame(1, "error", error.status, error_body(error, request_id))
        return
    items = content_items(task, emulator.sign)
    task_usage = usage(task)
    for number, item in enumerate(items, start=1):
        last = number == len(items)
        output: dict[str, Any] = {
            "choices": [
                {
                    "finish_reason": "stop" if last else "null",
                    "message": {"role": "assistant", "content": [item]},
                }
            ],
            "finished": last,
        }
        data = {"output": output, "usage": task_usage, "request_id": request_id}
        yield sse_frame(number, "result", 200, data)
