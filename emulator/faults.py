"""Fault injection per endpoint group: errors, delays, dropped connections, broken bodies.

Each request of a group draws at most one exclusive fault (emulator.config.FaultRates) and,
independently, a delay. Faults that strike *before* processing leave no trace (500, 503, drop);
faults *after* processing keep its effects and lose or spoil the answer (malformed body,
``drop_after``, ``error_after``). On submit, ``drop_after`` is the ambiguous submit the
pipeline must survive: the task was created and is billed, the client never hears of it.

Dropping a connection needs the socket: emulator.server puts the asyncio transport into the
ASGI scope, and the fault aborts it (the client sees the connection close with no answer).
Outage windows answer 503 to every call of their groups.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from emulator.constants import DROP_SETTLE_TICKS
from emulator.errors import ApiError, internal_error, service_unavailable
from emulator.faultconfig import FaultRates, Faults, Group
from emulator.planning import Planner
from emulator.wire import error_response, oss_error_response

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


class FaultInjector:
    """Decides and applies faults; counts what it injected per group and kind."""

    def __init__(self, planner: Planner, clock: Callable[[], float]) -> None:
        self._planner = planner
        self._clock = clock
        self.counts: defaultdict[str, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))

    async def run(
        self,
        faults: Faults,
        group: Group,
        request: Request,
        request_id: str,
        handler: Handler,
        *,
        oss: bool = False,
    ) -> Response:
        """Run `handler` under the faults configured for `group`.

        Args:
            faults: The current fault configuration.
            group: The endpoint group of this request.
            request: The request (its scope carries the transport for drops).
            request_id: Request id for injected error answers.
            handler: Produces the real answer.
            oss: Render injected errors as OSS XML instead of DashScope JSON.
        """
        rates: FaultRates = getattr(faults, group)
        if faults.outages and self._in_outage(faults, group):
            self.counts[group][OUTAGE] += 1
            return self._error(service_unavailable(), request_id, oss)
        if rates.delay_rate == 0 and rates.exclusive_total() == 0:
            return await handler()
        if self._planner.chance(rates.delay_rate):
            self.counts[group][DELAY] += 1
            await asyncio.sleep(rates.delay_s)
        kind = self._draw(rates)
        if kind is not None:
            self.counts[group][kind] += 1
        if kind == ERROR_500:
            return self._error(internal_error(), request_id, oss)
        if kind == ERROR_503:
            return self._error(service_unavailable(), request_id, oss)
        if kind == DROP:
            return await drop_connection(request.scope)
        response = await handler()
        if kind == DROP_AFTER:
            return await drop_connection(request.scope)
        if kind == ERROR_AFTER:
            return self._error(internal_error(), request_id, oss)
        if kind == MALFORMED and response.status_code == 200:
            return malformed(response)  # streaming answers are passed through
        return response

    def _in_outage(self, faults: Faults, group: Group) -> bool:
        now = self._clock()
        return any(
            o.start_epoch_s <= now < o.end_epoch_s and (o.groups is None or group in o.groups)
            for o in faults.outages
        )

    def _draw(self, rates: FaultRates) -> str | None:
        total = rates.exclusive_total()
        if total <= 0:
            return None
        roll = self._planner.roll()
        for kind, rate in _kinds(rates):
            if roll < rate:
                return kind
            roll -= rate
        return None

    @staticmethod
    def _error(error: ApiError, request_id: str, oss: bool) -> Response:
        if oss:
            return oss_error_response(error.status, error.code, error.message, request_id)
        return error_response(error, request_id)

    def clear(self) -> None:
        """Forget the counters."""
        self.counts.clear()


async def drop_connection(scope: dict[str, Any] | Any) -> Response:
    """Abort the request's connection so the client gets no answer at all.

    Returns:
        A placeholder response; the server discards it because the client is gone.

    Raises:
        ConnectionDropped: The scope has no transport (not served by emulator.server).
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
