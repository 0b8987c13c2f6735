"""The admin API: health, configuration at run time, counters, reset and outages.

    GET   /health           {"status": "ok"}
    GET   /admin/config     the current configuration
    PUT   /admin/config     replace it (a body without accounts keeps the default account)
    PATCH /admin/config     JSON merge patch (RFC 7386) onto it
    GET   /admin/stats      counters per account and model, faults, uploads, results
    POST  /admin/reset      forget tasks, counters, limiter state, uploads, cached images
    POST  /admin/outage     {"duration_s": s, "start_in_s": 0, "groups": [...]} adds an outage

No DashScope key is needed (bind the emulator to loopback); when the configuration sets
``admin_token``, calls must send it in ``X-Admin-Token``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from emulator.config.faults import Outage
from emulator.config.root import build_config, merge_patch
from emulator.constants import HEADER_ADMIN_TOKEN, JSON_CONTENT_TYPE
from emulator.errors import ApiError, admin_token_required, invalid_parameter
from emulator.http.handling import parse_json
from emulator.http.wire import dumps, error_response, new_request_id
from emulator.service.emulator import Emulator


def _json(body: Any, status: int = 200) -> Response:
    return Response(dumps(body), status, media_type=JSON_CONTENT_TYPE)


def admin_router(emulator: Emulator, default_api_key: str) -> APIRouter:
    """The admin router; `default_api_key` keys the default account of a config without any."""
    router = APIRouter()

    def authorize(request: Request) -> None:
        token = emulator.config.admin_token
        if token is not None and request.headers.get(HEADER_ADMIN_TOKEN) != token:
            raise admin_token_required()

    async def guarded(request: Request, action: Callable[[], Awaitable[Any]]) -> Response:
        try:
            authorize(request)
            return _json(await action())
        except ApiError as exc:
            return error_response(exc, new_request_id())

    async def read_object(request: Request) -> dict[str, Any]:
        body = parse_json(await request.body() or b"{}")
        if not isinstance(body, dict):
            raise invalid_parameter("The request body must be a JSON object.")
        return body

    def apply(raw: dict[str, Any]) -> dict[str, Any]:
        try:
            config = build_config(raw, default_api_key)
        except ValidationError as exc:
            raise invalid_parameter(f"Invalid configuration: {exc}") from None
        emulator.set_config(config)
        return config.model_dump(mode="json")

    @router.get("/health")
    async def health() -> Response:
        """Liveness: always {"status": "ok"}."""
        return _json({"status": "ok"})

    @router.get("/admin/config")
    async def get_config(request: Request) -> Response:
        """The current configuration."""

        async def action() -> Any:
            return emulator.config.model_dump(mode="json")

        return await guarded(request, action)

    @router.put("/admin/config")
    async def put_config(request: Request) -> Response:
        """Replace the configuration."""

        async def action() -> Any:
            return apply(await read_object(request))

        return await guarded(request, action)

    @router.patch("/admin/config")
    async def patch_config(request: Request) -> Response:
        """Merge a JSON merge patch into the configuration."""

        async def action() -> Any:
            current = emulator.config.model_dump(mode="json")
            return apply(merge_patch(current, await read_object(request)))

        return await guarded(request, action)

    @router.get("/admin/stats")
    async def stats(request: Request) -> Response:
        """Counters and live figures."""

        async def action() -> Any:
            return emulator.snapshot()

        return await guarded(request, action)

    @router.post("/admin/reset")
    async def reset(request: Request) -> Response:
        """Forget tasks, counters, limiter state, uploads and images."""

        async def action() -> Any:
            emulator.reset()
            return {"status": "ok"}

        return await guarded(request, action)

    @router.post("/admin/outage")
    async def outage(request: Request) -> Response:
        """Add an outage window starting `start_in_s` from now."""

        async def action() -> Any:
            body = await read_object(request)
            try:
                start = emulator.clock() + float(body.get("start_in_s", 0.0))
                window = Outage(
                    start_epoch_s=start,
                    end_epoch_s=start + float(body["duration_s"]),
                    groups=body.get("groups"),
                )
            except (KeyError, TypeError, ValueError, ValidationError) as exc:
                raise invalid_parameter(f"Invalid outage: {exc}") from None
            config = emulator.config
            faults = config.faults.model_copy(update={"outages": (*config.faults.outages, window)})
            emulator.set_config(config.model_copy(update={"faults": faults}))
            return window.model_dump(mode="json")

        return await guarded(request, action)

    return router
