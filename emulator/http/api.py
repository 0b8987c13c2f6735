"""The DashScope task API routes: async submit, task get, cancel, list and upload policy.

Routes match on the path only (any Host), under ``/api/v1``; task get is also served under
``/api-task/v1``, which one SDK code path uses. The synchronous endpoint lives in
emulator.http.sync, result downloads and the upload target in emulator.http.oss.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from emulator.constants import (
    API_PREFIX,
    API_TASK_PREFIX,
    HEADER_ASYNC,
    HEADER_OSS_RESOLVE,
    PATH_IMAGE2IMAGE,
    PATH_IMAGE_GENERATION,
)
from emulator.errors import invalid_parameter, sync_not_supported
from emulator.http.handling import header_enabled, read_json, serve
from emulator.http.wire import json_response
from emulator.intake.table import Endpoint
from emulator.service.emulator import Emulator

_GET_POLICY = "getPolicy"


def api_router(emulator: Emulator) -> APIRouter:
    """The router of the emulated DashScope task API."""
    router = APIRouter()

    async def submit(request: Request, endpoint: Endpoint) -> Response:
        async def work(request_id: str) -> Response:
            caller = emulator.authenticate(request.headers.get("authorization"))
            if not header_enabled(request, HEADER_ASYNC):
                raise sync_not_supported()
            body = await read_json(request)
            task = await emulator.submit(
                caller,
                endpoint,
                body,
                oss_resolve=header_enabled(request, HEADER_OSS_RESOLVE),
                request_id=request_id,
            )
            output = {"task_status": "PENDING", "task_id": task.task_id}
            return json_response({"output": output}, request_id)

        return await serve(emulator, "submit", request, work)

    @router.post(API_PREFIX + PATH_IMAGE_GENERATION)
    async def submit_image_generation(request: Request) -> Response:
        """Async submit, messages protocol (wan2.7 / wan2.6)."""
        return await submit(request, "image_generation")

    @router.post(API_PREFIX + PATH_IMAGE2IMAGE)
    async def submit_image2image(request: Request) -> Response:
        """Async submit, prompt/images protocol (wan2.5-i2i-preview)."""
        return await submit(request, "image2image")

    @router.get(API_PREFIX + "/tasks/{task_id}")
    @router.get(API_TASK_PREFIX + "/tasks/{task_id}")
    async def get_task(request: Request, task_id: str) -> Response:
        """Task status and result."""

        async def work(request_id: str) -> Response:
            caller = emulator.authenticate(request.headers.get("authorization"))
            return json_response(emulator.query(caller, task_id), request_id)

        return await serve(emulator, "query", request, work)

    @router.post(API_PREFIX + "/tasks/{task_id}/cancel")
    async def cancel_task(request: Request, task_id: str) -> Response:
        """Cancel a PENDING task."""

        async def work(request_id: str) -> Response:
            caller = emulator.authenticate(request.headers.get("authorization"))
            emulator.cancel(caller, task_id)
            return json_response({}, request_id)

        return await serve(emulator, "cancel", request, work)

    @router.get(API_PREFIX + "/tasks")
    async def list_tasks(request: Request) -> Response:
        """The account's tasks, filtered and paged."""

        async def work(request_id: str) -> Response:
            caller = emulator.authenticate(request.headers.get("authorization"))
            body = emulator.list_tasks(caller, dict(request.query_params))
            return json_response(body, request_id)

        return await serve(emulator, "list", request, work)

    @router.get(API_PREFIX + "/uploads")
    async def get_upload_policy(request: Request) -> Response:
        """A temporary-upload policy (``action=getPolicy``)."""

        async def work(request_id: str) -> Response:
            caller = emulator.authenticate(request.headers.get("authorization"))
            action = request.query_params.get("action")
            if action != _GET_POLICY:
                raise invalid_parameter(f"action must be {_GET_POLICY}, got {action!r}")
            return json_response({"data": emulator.upload_policy(caller)}, request_id)

        return await serve(emulator, "upload", request, work)

    return router
