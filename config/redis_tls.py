"""TLS for Redis, read from the one Redis URL (``WANQ_REDIS_URL``) the same way everywhere.

A ``rediss://`` URL turns TLS on; its ``ssl_*`` query parameters say how, e.g.::

    rediss://:PASSWORD@redis.internal:6380/0?ssl_cert_reqs=required&ssl_ca_certs=/etc/ca.pem

Three clients read that URL, and each would read it differently: kombu (the broker) silently
falls back to *no certificate check* for a ``rediss://`` URL without ``ssl_cert_reqs``,
Flower's queue-length reader ignores the query and needs Celery's ``broker_use_ssl``, and
redis-py (the job store, the limiter, the producers' outbox) knows ``required`` but not
kombu's ``CERT_REQUIRED``. :func:`split_tls` reads the URL once: it takes the ``ssl_*``
parameters out and returns them as redis-py's ``SSLConnection`` keyword arguments, with the
server's certificate required unless the URL says otherwise. ``config.celery`` hands them to
kombu and Flower as ``broker_use_ssl``, ``adapters.redis`` to redis-py.

Supported parameters: ``ssl_cert_reqs`` (``required``, ``optional``, ``none``; kombu's
``CERT_*`` spellings too), ``ssl_ca_certs``, ``ssl_certfile``, ``ssl_keyfile`` (client
certificates), ``ssl_check_hostname`` (``true``/``false``), and any other ``ssl_*`` keyword
redis-py's ``SSLConnection`` takes, passed as text.
"""

from __future__ import annotations

import ssl
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

TLS_SCHEME: Final = "rediss"
TLS_PREFIX: Final = "ssl_"

CERT_REQS: Final = {
    "required": ssl.CERT_REQUIRED,
    "optional": ssl.CERT_OPTIONAL,
    "none": ssl.CERT_NONE,
    "cert_required": ssl.CERT_REQUIRED,
    "cert_optional": ssl.CERT_OPTIONAL,
    "cert_none": ssl.CERT_NONE,
}
"""``ssl_cert_reqs`` values, lower-cased (redis-py's spellings and kombu's)."""

BOOLEANS: Final = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def split_tls(url: str) -> tuple[str, dict[str, Any] | None]:
    """The URL without its ``ssl_*`` parameters, and the TLS options (None: no TLS).

    Args:
        url: A ``redis://``, ``rediss://`` or ``unix://`` URL (it may hold a password).

    Returns:
        ``(url, options)``: ``options`` are redis-py ``SSLConnection`` keyword arguments
        (``ssl_cert_reqs`` an :class:`ssl.VerifyMode`, ``CERT_REQUIRED`` by default) for a
        ``rediss://`` URL, else None and the URL unchanged.

    Raises:
        ValueError: A TLS parameter has a value it cannot have (the message names the
            parameter, never the URL).
    """
    parts = urlsplit(url)
    if parts.scheme.lower() != TLS_SCHEME:
        return url, None
    kept: list[tuple[str, str]] = []
    options: dict[str, Any] = {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if not name.startswith(TLS_PREFIX):
            kept.append((name, value))
        elif name == "ssl_cert_reqs":
            options[name] = _choice(name, value, CERT_REQS)
        elif name == "ssl_check_hostname":
            options[name] = _choice(name, value, BOOLEANS)
        else:
            options[name] = value
    plain = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(kept), parts.fragment))
    return plain, options


def _choice(name: str, value: str, choices: dict[str, Any]) -> Any:
    try:
        return choices[value.lower()]
    except KeyError:
        raise ValueError(
            f"redis_url: {name} must be one of {', '.join(sorted(choices))}, not {value!r}"
        ) from None
