"""Downloading result images from the upstream's storage (OSS), before their URLs expire.

Only hosts the settings allow are contacted (``*.`` matches any subdomain), redirects are not
followed, and a download stops at the size cap. Only this module sees httpx's exceptions for
these downloads: they leave through :func:`error_for_exception` and :func:`error_for_status`,
raised ``from`` the original. URLs are never put in messages whole (their query carries the
signature).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import IO, Final
from urllib.parse import urlsplit

import httpx

from config.settings import ResultsSettings
from workers.errors import ResultExpired, ResultRefused, UpstreamUnavailable, WanqError

CHUNK_BYTES: Final = 256 * 1024
MAX_CONNECTIONS: Final = 50

EXPIRED_STATUSES: Final = frozenset({403, 404, 410})
"""OSS answers 403 once a signed URL has expired; 404 and 410 mean the object is gone."""


def host_allowed(host: str, allowed: Sequence[str]) -> bool:
    """Whether ``host`` matches one of ``allowed`` (``*.example.com``: any subdomain)."""
    host = host.lower().rstrip(".")
    for pattern in allowed:
        pattern = pattern.lower().rstrip(".")
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
                return True
        elif host == pattern:
            return True
    return False


def shown(url: str) -> str:
    """A URL without its query (where the signature is), for messages."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


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


def error_for_exception(index: int, url: str, exc: httpx.HTTPError) -> WanqError:
    """The project error for an httpx failure of a result download.

    Every transport failure is retryable (a download is idempotent); httpx's programming
    errors (``InvalidURL``, ``UnsupportedProtocol``...) refuse the URL for good.
    """
    name = type(exc).__name__
    if isinstance(exc, httpx.TransportError) and not isinstance(exc, httpx.UnsupportedProtocol):
        return UpstreamUnavailable(name, f"GET {shown(url)}: {name}")
    return ResultRefused(index, name, f"GET {shown(url)}")


class ResultFetcher:
    """Streams result images into a file, hashing them on the way.

    Args:
        results: Allowed hosts, size cap and timeout.
        transport: An httpx transport to use instead of the network (tests).
    """

    def __init__(self, results: ResultsSettings, transport: httpx.BaseTransport | None = None):
        self._allowed = results.allowed_hosts
        self._max_bytes = results.max_bytes
        self._http = httpx.Client(
            timeout=results.timeout_s,
            follow_redirects=False,
            trust_env=False,
            transport=transport
            or httpx.HTTPTransport(
                limits=httpx.Limits(max_connections=MAX_CONNECTIONS), trust_env=False
            ),
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def check(self, index: int, url: str) -> None:
        """Refuse a URL wanqueue must not fetch.

        Raises:
            ResultRefused: Not http(s), or its host is not allowed.
        """
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ResultRefused(index, "NotHttp", f"not an http(s) URL: {shown(url)}")
        if not host_allowed(parts.hostname, self._allowed):
            raise ResultRefused(index, "HostNotAllowed", f"{parts.hostname} is not allowed")

    def fetch(self, index: int, url: str, sink: IO[bytes]) -> tuple[int, str]:
        """Download one result into ``sink``.

        Returns:
            ``(size in bytes, sha256 hex)``.

        Raises:
            ResultRefused: The URL is not allowed, redirects, or is larger than the cap.
            ResultExpired: The host says the image is gone (403, 404, 410).
            UpstreamUnavailable: The download failed in a way that may pass.
        """
        self.check(index, url)
        digest = hashlib.sha256()
        size = 0
        try:
            with self._http.stream("GET", url) as response:
                if response.status_code != 200:
                    raise error_for_status(index, url, response.status_code)
                for chunk in response.iter_bytes(CHUNK_BYTES):
                    size += len(chunk)
                    if size > self._max_bytes:
                        raise ResultRefused(index, "TooLarge", f"more than {self._max_bytes} bytes")
                    digest.update(chunk)
                    sink.write(chunk)
        except httpx.HTTPError as exc:
            raise error_for_exception(index, url, exc) from exc
        return size, digest.hexdigest()
