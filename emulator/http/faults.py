"""Fault injection per endpoint group: errors, delays, dropped connections, broken bodies.

Each request of a group draws at most one exclusive fault (emulator.config.faults.FaultRates)
and, independently, a delay, from the service's random generator (`Emulator.planner`, so a
``random_seed`` replays them); what was injected is counted in `Emulator.stats`. Faults that
strike *before* processing leave no trace (500, 503, drop); faults *after* processing keep its
effects and lose or spoil the answer (malformed body, ``drop_after``, ``error_after``). On
submit, ``drop_after`` is the ambiguous submit the pipeline must survive: the task was created
and is billed, the client never hears of it.

Dropping a connection needs the socket: emulator.http.server puts the asyncio transport into
the ASGI scope, and the fault aborts it (the client sees the connection close with no answer).
Outage windows answer 503 to every call of their groups.

A delay strikes once the request has arrived: its body is read (and kept for the handler)
before the delay, so a client that gives up during the delay leaves the work done, as a slow
server that has the request does. On submit, a delay longer than the client's read timeout is
the ambiguous submit of a slow upstream: the task is created and billed after the client has
gone.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, Final

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse

from emulator.config.faults import FaultRates, Faults, Group
from emulator.constants import DROP_SETTLE_TICKS
from emulator.errors import internal_error, service_unavailable
from emulator.http.wire import error_answer
from emulator.service.emulator import Emulator
from emulator.tasks.planning import Planner

TRANSPORT_SCOPE_KEY: Final = "wanqueue.transport"
ERROR_500: Final = "error_500"
ERROR_503: Final = "error_503"
DROP: Final = "drop"
MALFORMED: Final = "malformed"
DROP_AFTER: Final = "drop_after"
ERROR_AFTER: Final = "error_after"
DELAY: Final = "delay"
OUTAGE: Final = "outage"

Handler = Callable[[], Awaitable[Response]]


class ConnectionDropped(Exception):
    """Raised to drop a connection when the server gave no transport (in-process ASGI)."""


def _kinds(rates: FaultRates) -> list[tuple[str, float]]:
    return [
        (ERROR_500, rates.error_500_rate),
        (ERROR_503, rates.error_503_rate),
        (DROP, rates.drop_rate),
        (MALFORMED, rates.malformed_rate),
        (DROP_AFTER, rates.drop_after_rate),
        (ERROR_AFTER, rates.error_after_rate),
    ]


async def with_faults(
    emulator: Emulator,
    group: Group,
    request: Request,
    request_id: str,
    handler: Handler,
    *,
    oss: bool = False,
) -> Response:
    """Run `handler` under the faults the current configuration sets for `group`.

    Args:
        emulator: The emulated service: its configuration, random draws, clock and counters.
        group: The endpoint group of this request.
        request: The request (its scope carries the transport for drops).
        request_id: Request id for injected error answers.
        handler: Produces the real answer.
        oss: Render injected errors as OSS XML instead of DashScope JSON.
    """
    faults = emulator.config.faults
    rates: FaultRates = getattr(faults, group)
    if faults.outages and _in_outage(faults, group, emulator.clock()):
        emulator.stats.fault(group, OUTAGE)
        return error_answer(service_unavailable(), request_id, oss=oss)
    if rates.delay_rate == 0 and rates.exclusive_total() == 0:
        return await handler()
    planner = emulator.planner
    if planner.chance(rates.delay_rate):
        emulator.stats.fault(group, DELAY)
        with contextlib.suppress(ClientDisconnect):  # the handler meets it again
            await request.body()  # kept by the request: processed even if the client leaves
        await asyncio.sleep(rates.delay_s)
    kind = _draw(rates, planner)
    if kind is not None:
        emulator.stats.fault(group, kind)
    if kind == ERROR_500:
        return error_answer(internal_error(), request_id, oss=oss)
    if kind == ERROR_503:
        return error_answer(service_unavailable(), request_id, oss=oss)
    if kind == DROP:
        return await drop_connection(request.scope)
    response = await handler()
    if kind == DROP_AFTER:
        return await drop_connection(request.scope)
    if kind == ERROR_AFTER:
        return error_answer(internal_error(), request_id, oss=oss)
    if kind == MALFORMED and response.status_code == 200:
        return malformed(response)  # streaming answers are passed through
    return response


def _in_outage(faults: Faults, group: Group, now: float) -> bool:
    return any(
        o.start_epoch_s <= now < o.end_epoch_s and (o.groups is None or group in o.groups)
        for o in faults.outages
    )


def _draw(rates: FaultRates, planner: Planner) -> str | None:
    total = rates.exclusive_total()
    if total <= 0:
        return None
    roll = planner.roll()
    for kind, rate in _kinds(rates):
        if roll < rate:
            return kind
        roll -= rate
    return None


async def drop_connection(scope: dict[str, Any] | Any) -> Response:
    """Abort the request's connection so the client gets no answer at all.

    Returns:
        A placeholder response; the server discards it because the client is gone.

    Raises:
        ConnectionDropped: The scope has no transport (not served by emulator.http.server).
    """
    transport = scope.get(TRANSPORT_SCOPE_KEY)
    if transport is None:
        raise ConnectionDropped("connection dropped by fault injection")
    transport.abort()
    for _ in range(DROP_SETTLE_TICKS):  # let the server notice the disconnect first
        await asyncio.sleep(0)
    return Response(b"", 204)


def malformed(response: Response) -> Response:
    """The same answer with its body cut in half (still HTTP 200, now invalid JSON)."""
    if isinstance(response, StreamingResponse):
        return response
    body = bytes(response.body)
    cut = body[: max(1, len(body) // 2)]
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    return Response(cut, response.status_code, headers)
