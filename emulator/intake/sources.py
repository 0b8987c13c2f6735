"""Where input image bytes come from: ``oss://`` uploads and loopback URLs.

Validation (emulator.intake.inputs) asks for the bytes behind each image source through a
`LoadSource` callback, built here per request. The emulator answers for ``oss://`` keys
uploaded through its own fake OSS target and for http(s) URLs on a loopback host (so tests and
benchmarks can serve inputs locally). Any other URL (the provider's CDN, the internet) is not
fetched: None, and validation skips the byte checks, like a request the real service would
download later.

The callback runs in a worker thread (validation is off the event loop), so a blocking HTTP
fetch here never stalls the server, even when the URL points back at this emulator.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import httpx

from emulator.constants import OSS_PREFIX, SOURCE_FETCH_MAX_BYTES, SOURCE_FETCH_TIMEOUT_S
from emulator.intake.inputs import LoadSource
from emulator.storage.uploads import Uploads

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def is_loopback_url(url: str) -> bool:
    """Whether `url` is http(s) on a loopback host (127.0.0.0/8, ::1, localhost)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    host = parts.hostname.lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SourceLoader:
    """Builds per-request `load_source` callbacks; owns the HTTP client for loopback URLs."""

    def __init__(self, uploads: Uploads, transport: httpx.BaseTransport | None = None) -> None:
        self._uploads = uploads
        self._client = httpx.Client(
            timeout=SOURCE_FETCH_TIMEOUT_S, follow_redirects=False, transport=transport
        )

    def for_account(self, account: str) -> LoadSource:
        """The callback for a request of `account` (its ``oss://`` uploads only)."""

        def load(source: str) -> bytes | None:
            if source.startswith(OSS_PREFIX):
                return self._uploads.resolve(source, account)
            if is_loopback_url(source):
                return self.fetch(source)
            return None

        return load

    def fetch(self, url: str) -> bytes | None:
        """GET a loopback URL; None on any failure or non-200 answer.

        Stops reading one byte past the cap, so an oversized image is still refused by the
        size rule instead of being read in full.
        """
        try:
            with self._client.stream("GET", url) as response:
                if response.status_code != 200:
                    return None
                buffer = bytearray()
                for chunk in response.iter_bytes():
                    buffer += chunk
                    if len(buffer) > SOURCE_FETCH_MAX_BYTES:
                        break
                return bytes(buffer[: SOURCE_FETCH_MAX_BYTES + 1])
        except httpx.HTTPError:
            return None

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()
