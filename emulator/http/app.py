"""`build_app()`: the emulator as an ASGI application.

Tests may run it in-process (httpx's ASGITransport); the integration tests and load tests run
it as a real server (``python -m emulator``, emulator.http.server).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from emulator.config.root import EmulatorConfig
from emulator.constants import DEFAULT_API_KEY, DEFAULT_HOST, DEFAULT_PORT
from emulator.errors import ApiError, method_not_allowed, not_found
from emulator.http.admin import admin_router
from emulator.http.api import api_router
from emulator.http.oss import oss_router
from emulator.http.sync import sync_router
from emulator.http.wire import error_response, new_request_id
from emulator.service.emulator import Emulator

_METHOD_NOT_ALLOWED = 405
DEFAULT_PUBLIC_URL = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"


def build_app(
    config: EmulatorConfig,
    *,
    public_url: str = DEFAULT_PUBLIC_URL,
    default_api_key: str = DEFAULT_API_KEY,
    clock: Callable[[], float] = time.time,
    source_transport: httpx.BaseTransport | None = None,
) -> FastAPI:
    """Create the emulator application.

    Args:
        config: The initial configuration.
        public_url: Base URL clients reach this server at (``http://host:port``); result
            URLs and the upload host are built from it.
        default_api_key: Key of the default account when a configuration set at run time
            declares no accounts.
        clock: Time source (Unix seconds); tests may inject a fake.
        source_transport: httpx transport for fetching loopback input images (tests).

    Returns:
        The application; its emulator is ``app.state.emulator``.
    """
    emulator = Emulator(
        config, public_url=public_url, clock=clock, source_transport=source_transport
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            emulator.close()

    app = FastAPI(
        title="wanqueue DashScope emulator",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.emulator = emulator
    app.include_router(api_router(emulator))
    app.include_router(sync_router(emulator))
    app.include_router(oss_router(emulator))
    app.include_router(admin_router(emulator, default_api_key))

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        error: ApiError
        if status == _METHOD_NOT_ALLOWED:
            error = method_not_allowed(request.method, request.url.path)
        elif status == 404:
            error = not_found(request.url.path)
        else:
            error = ApiError(status, "InternalError", str(getattr(exc, "detail", exc)))
        return error_response(error, new_request_id())

    app.add_exception_handler(HTTPException, http_error)
    return app
