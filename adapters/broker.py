"""The broker transport: kombu's Redis transport, made to survive a Redis restart.

kombu's Redis channel reads its connection parameters from the kombu ``Connection`` each time
it builds a connection pool. When Redis goes away, Celery's consumer first *collects* the
connection (which drops the transport's link to that ``Connection``) and then closes it;
closing hands the worker's unacknowledged messages back through a new pool, whose parameters
can no longer be read. The ``AttributeError`` that follows is not a connection error, so the
worker dies with "Unrecoverable error" instead of reconnecting (Celery 5.7, kombu 5.7).

This channel keeps the parameters it was built with and uses them once the ``Connection`` is
gone, so the hand-back fails as a connection error (Redis is down: the messages stay
unacknowledged in Redis and come back with the visibility timeout) or succeeds (Redis is back),
and the consumer reconnects. :func:`install` makes it the transport of ``redis://`` and
``rediss://`` URLs in the process that calls it (the worker app and Flower, through
:mod:`workers.app`), so URLs, Flower's broker view and its queue lengths stay as they are.
"""

from __future__ import annotations

from typing import Any, Final

import kombu.transport
from kombu.transport import redis as kombu_redis

SCHEMES: Final = ("redis", "rediss")
"""The URL schemes whose transport :func:`install` replaces."""


class Channel(kombu_redis.Channel):
    """kombu's Redis channel, remembering its connection parameters (see the module's doc)."""

    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        known: dict[bool, dict[str, Any]] = self.__dict__.setdefault("_known_connparams", {})
        if self.connection.client is None and asynchronous in known:
            return dict(known[asynchronous])
        params: dict[str, Any] = super()._connparams(asynchronous=asynchronous)  # type: ignore[no-untyped-call]
        known[asynchronous] = dict(params)
        return params


class Transport(kombu_redis.Transport):
    """kombu's Redis transport with :class:`Channel`."""

    Channel = Channel


def install() -> None:
    """Make :class:`Transport` the transport of ``redis://`` and ``rediss://`` URLs in this
    process (kombu's alias table); call it before the app connects."""
    for scheme in SCHEMES:
        kombu.transport.TRANSPORT_ALIASES[scheme] = f"{__name__}:Transport"
        # A transport looked up before is cached by name (kombu's module-private cache).
        kombu.transport._transport_cache.pop(scheme, None)
