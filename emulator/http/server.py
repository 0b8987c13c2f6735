"""Serving the app with uvicorn, with a socket handle for the "dropped connection" fault.

uvicorn gives an ASGI app no way to close a connection without answering (an exception before
the response starts becomes a 500). The HTTP protocol classes here put each connection's
asyncio transport into the ASGI scope (key emulator.http.faults.TRANSPORT_SCOPE_KEY), so a fault can
abort the socket: the client sees the connection close with no answer at all. httptools is used
when installed (faster), else h11; uvloop likewise; the access log is off.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import uvicorn
from fastapi import FastAPI
from uvicorn._types import ASGI3Application, ASGIReceiveCallable, ASGISendCallable, Scope
from uvicorn.protocols.http.h11_impl import H11Protocol

from emulator.http.faults import TRANSPORT_SCOPE_KEY

_GRACEFUL_SHUTDOWN_S = 2
_KEEP_ALIVE_S = 5


def _with_transport(app: ASGI3Application, transport: asyncio.Transport) -> ASGI3Application:
    async def app_with_transport(
        scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        cast(dict[str, Any], scope)[TRANSPORT_SCOPE_KEY] = transport
        await app(scope, receive, send)

    return app_with_transport


class DroppableH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, exposing the connection's transport to the app."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.app = _with_transport(self.app, transport)


def _protocol_class() -> type[asyncio.Protocol]:
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        return DroppableH11Protocol

    class DroppableHttpToolsProtocol(HttpToolsProtocol):
        """uvicorn's httptools protocol, exposing the connection's transport to the app."""

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self.app = _with_transport(self.app, transport)

    return DroppableHttpToolsProtocol


def serve(app: FastAPI, *, host: str, port: int, log_level: str) -> None:
    """Run the app until SIGINT/SIGTERM."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=_protocol_class(),
        access_log=False,
        log_level=log_level,
        timeout_keep_alive=_KEEP_ALIVE_S,
        timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN_S,
    )
    uvicorn.Server(config).run()
