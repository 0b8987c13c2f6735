"""Downloading result images from the upstream's storage (OSS), before their URLs expire.

Only hosts the settings allow are contacted (``*.`` matches any subdomain), redirects are not
followed, and a download stops at the size cap. No private address is contacted either: every
connection is made by :class:`workers.addresses.AddressGuard`, which connects only to addresses
it checked (a host listed exactly is trusted wherever it resolves; one matched by ``*.`` must
resolve to public addresses only). URLs are parsed once, by httpx, for the check and the
request alike. Only this module sees httpx's exceptions for
these downloads: every class httpx raises (``InvalidURL``, ``StreamError`` and
``CookieConflict`` are not ``HTTPError`` subclasses) is caught through the project's one httpx
table, :data:`workers.upstream.translate.TRANSPORT_RULES`, and leaves through
:func:`error_for_exception` or :func:`error_for_status`, raised ``from`` the original. URLs are
never put in messages whole (their query carries the signature).
"""

from __future__ import annotations

import hashlib
from typing import IO, Final
from urllib.parse import urlsplit

import httpx

from config.settings import ResultsSettings
from workers.addresses import (
    AddressGuard,
    AddressRefused,
    GuardedTransport,
    Resolver,
    host_allowed,
    system_resolver,
)
from workers.errors import ResultExpired, ResultRefused, UpstreamUnavailable, WanqError
from workers.upstream.translate import TRANSLATED_EXCEPTIONS, Outcome, rule_for

CHUNK_BYTES: Final = 256 * 1024
MAX_CONNECTIONS: Final = 50

URL_ERRORS: Final = (httpx.InvalidURL, httpx.UnsupportedProtocol)
"""httpx cannot use the URL itself: a result URL that fails so is refused, not retried."""

EXPIRED_STATUSES: Final = frozenset({403, 404, 410})
"""OSS answers 403 once a signed URL has expired; 404 and 410 mean the object is gone."""


def shown(url: str) -> str:
    """A URL without its query (where the signature is) and user info, for messages."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return url.partition("?")[0].partition("#")[0]
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}{parts.path}"


def error_for_status(index: int, url: str, status: int) -> WanqError:
    """The project error for a non-2xx answer to a result download."""
    what = f"{shown(url)} answered HTTP {status}"
    if status in EXPIRED_STATUSES:
        return ResultExpired(index, what)
    if 300 <= status < 400:
        return ResultRefused(index, "Redirect", what)
    if status == 429 or status == 408 or status >= 500:
        return UpstreamUnavailable(f"HTTP {status}", what, None, status)
    return ResultRefused(index, f"HTTP {status}", what)


def error_for_exception(index: int, url: str, exc: Exception) -> WanqError:
    """The project error for an httpx failure of a result download.

    The table's rule for an idempotent call decides (a download is idempotent): a transport
    failure is retryable, a programming error (``StreamError``, ``CookieConflict``...)
    refuses the URL for good, and so does a URL httpx cannot use (:data:`URL_ERRORS`).

    Raises:
        KeyError: Not an httpx exception.
    """
    name = type(exc).__name__
    if rule_for(exc).idempotent is Outcome.BUG or isinstance(exc, URL_ERRORS):
        return ResultRefused(index, name, f"GET {shown(url)}")
    return UpstreamUnavailable(name, f"GET {shown(url)}: {name}")


class ResultFetcher:
    """Streams result images into a file, hashing them on the way.

    Args:
        results: Allowed hosts, size cap and timeout.
        transport: An httpx transport to use instead of the network (tests; it bypasses the
            :class:`AddressGuard`, the host check of :meth:`check` still applies).
        resolver: Resolves result hosts for the guard (tests).
    """

    def __init__(
        self,
        results: ResultsSettings,
        transport: httpx.BaseTransport | None = None,
        *,
        resolver: Resolver = system_resolver,
    ):
        self._allowed = results.allowed_hosts
        self._max_bytes = results.max_bytes
        self._http = httpx.Client(
            timeout=results.timeout_s,
            follow_redirects=False,
            trust_env=False,
            transport=transport
            or GuardedTransport(AddressGuard(self._allowed, resolver), MAX_CONNECTIONS),
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def check(self, index: int, url: str) -> httpx.URL:
        """Refuse a URL wanqueue must not fetch; the URL as httpx parsed it (and sends it).

        Whether the host's addresses are public is checked when connecting (names can only
        be judged by what they resolve to then).

        Raises:
            ResultRefused: Not a URL, not http(s), or its host is not allowed.
        """
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise ResultRefused(index, "InvalidURL", f"{exc}: {shown(url)}") from exc
        host = parsed.raw_host.decode("ascii")
        if parsed.scheme not in ("http", "https") or not host:
            raise ResultRefused(index, "NotHttp", f"not an http(s) URL: {shown(url)}")
        if not host_allowed(host, self._allowed):
            raise ResultRefused(index, "HostNotAllowed", f"{host} is not allowed")
        return parsed

    def fetch(self, index: int, url: str, sink: IO[bytes]) -> tuple[int, str]:
        """Download one result into ``sink``.

        Returns:
            ``(size in bytes, sha256 hex)``.

        Raises:
            ResultRefused: The URL is not allowed (its host, or an address it resolves to),
                redirects, or is larger than the cap.
            ResultExpired: The host says the image is gone (403, 404, 410).
            UpstreamUnavailable: The download failed in a way that may pass.
        """
        parsed = self.check(index, url)
        digest = hashlib.sha256()
        size = 0
        try:
            with self._http.stream("GET", parsed) as response:
                if response.status_code != 200:
                    raise error_for_status(index, url, response.status_code)
                for chunk in response.iter_bytes(CHUNK_BYTES):
                    size += len(chunk)
                    if size > self._max_bytes:
                        raise ResultRefused(index, "TooLarge", f"more than {self._max_bytes} bytes")
                    digest.update(chunk)
                    sink.write(chunk)
        except AddressRefused as exc:
            raise ResultRefused(index, "AddressNotAllowed", str(exc)) from exc
        except TRANSLATED_EXCEPTIONS as exc:
            raise error_for_exception(index, url, exc) from exc
        return size, digest.hexdigest()
