"""The emulator's fake OSS: result image downloads and the temporary-upload POST target.

Both answer like OSS rather than like DashScope: PNG bytes or an XML ``<Error>`` body, with
the request id in ``x-oss-request-id``.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from emulator.constants import HEADER_OSS_REQUEST_ID, OSS_UPLOAD_PATH, RESULTS_PREFIX
from emulator.errors import URL_EXPIRED_MESSAGE, ApiError, invalid_argument, no_such_key
from emulator.http.handling import serve
from emulator.http.wire import oss_error_response
from emulator.service.emulator import Emulator
from emulator.service.views import format_time
from emulator.storage.multipart import parse_form

_PNG_SUFFIX = ".png"


def oss_router(emulator: Emulator) -> APIRouter:
    """The router of result downloads and the upload target."""
    router = APIRouter()

    @router.get(RESULTS_PREFIX + "/{task_id}/{name}")
    async def get_result(request: Request, task_id: str, name: str) -> Response:
        """Download a result PNG through its signed URL."""

        async def work(request_id: str) -> Response:
            index_text = name.removesuffix(_PNG_SUFFIX)
            if not name.endswith(_PNG_SUFFIX) or not index_text.isdigit():
                raise no_such_key()
            params = request.query_params
            expires = params.get("Expires")
            try:
                png = await emulator.result_png(
                    task_id, int(index_text), expires, params.get("Signature")
                )
            except ApiError as exc:
                if exc.message != URL_EXPIRED_MESSAGE or expires is None:
                    raise
                extra = {
                    "Expires": format_time(float(expires)),
                    "ServerTime": format_time(emulator.clock()),
                }
                return oss_error_response(exc, request_id, extra)
            return Response(png, 200, {HEADER_OSS_REQUEST_ID: request_id}, "image/png")

        return await serve(emulator, "results", request, work, oss=True)

    @router.post(OSS_UPLOAD_PATH)
    async def post_object(request: Request) -> Response:
        """OSS PostObject: store a file under a policy from getPolicy."""

        async def work(request_id: str) -> Response:
            try:
                form = parse_form(request.headers.get("content-type", ""), await request.body())
            except ValueError as exc:
                raise invalid_argument(str(exc)) from None
            emulator.uploads.accept(form, emulator.clock())
            status = 200 if form.fields.get("success_action_status") == "200" else 204
            return Response(b"", status, {HEADER_OSS_REQUEST_ID: request_id})

        return await serve(emulator, "upload", request, work, oss=True)

    return router
