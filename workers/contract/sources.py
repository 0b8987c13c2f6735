"""Where an input image comes from, and whether it can go on the wire as is.

=============  ==========================================  =================================
kind           accepted                                    on the wire
=============  ==========================================  =================================
HTTP           ``http://host/...``, ``https://host/...``   passed through
DATA_URI       ``data:image/{jpeg,png,bmp,webp};base64,``  passed through
S3             ``s3://bucket/key``                         resolved to a URL or data URI first
LOCAL          ``file://path`` or a plain path             resolved first
=============  ==========================================  =================================

Anything else (``oss://``, ``ftp://``, an empty string, ...) is refused, and so is an http(s)
URL with no host, a malformed IPv6 host or port, or a space or control character in it (the
service would not fetch it as written), and any source holding a lone surrogate.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Final
from urllib.parse import urlsplit

from workers.contract.problems import MAX_SHOWN_CHARS, has_lone_surrogate, short_repr
from workers.errors import InputInvalid

DATA_URI_MIMES: Final = ("image/jpeg", "image/png", "image/bmp", "image/webp")

_DATA_URI = re.compile(r"data:(?P<mime>[^;,]*);base64,", re.IGNORECASE)
# A scheme of two letters or more, so that Windows drive letters (C:\...) stay paths.
_SCHEME = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]+):")
_FILE_PREFIX: Final = "file://"
_MAX_SHOWN_SCHEME: Final = 16
# urlsplit drops tabs and newlines silently; the service would not fetch such a URL as given.
_URL_UNSAFE: Final = re.compile(r"[\s\x00-\x1f\x7f]")


class SourceKind(StrEnum):
    """The kind of an image source."""

    HTTP = "http"
    DATA_URI = "data_uri"
    S3 = "s3"
    LOCAL = "local"


WIRE_KINDS: Final = frozenset({SourceKind.HTTP, SourceKind.DATA_URI})
"""Kinds that may go on the wire without being resolved."""


def source_kind(src: str, field: str = "image") -> SourceKind:
    """Classify an image source.

    Args:
        src: The source as the user wrote it.
        field: Field path named in the error.

    Raises:
        InputInvalid: The source is of no accepted kind.
    """
    if not isinstance(src, str):  # a record written by hand is not validated on reading
        raise InputInvalid(field, "an image source must be a string", short_repr(src))
    if not src.strip() or "\x00" in src:
        raise InputInvalid(field, "an image source must be a URL, data URI, s3:// URI or path")
    if has_lone_surrogate(src):
        rule = "must be valid Unicode text (no lone surrogates)"
        raise InputInvalid(field, rule, short_repr(src))
    scheme_match = _SCHEME.match(src)
    if scheme_match is None:
        return SourceKind.LOCAL
    scheme = scheme_match["scheme"].lower()
    if scheme in ("http", "https"):
        _check_http(src, field)
        return SourceKind.HTTP
    if scheme == "data":
        data_uri_mime(src, field)
        return SourceKind.DATA_URI
    if scheme == "s3":
        bucket, _, key = src[len("s3://") :].partition("/")
        if not src.lower().startswith("s3://") or not bucket or not key:
            raise InputInvalid(field, "an s3 source must be s3://bucket/key", short_repr(src))
        return SourceKind.S3
    if scheme == "file":
        if not src[: len(_FILE_PREFIX)].lower() == _FILE_PREFIX or local_path_of(src) == "":
            raise InputInvalid(field, "a file:// source must name a file", short_repr(src))
        return SourceKind.LOCAL
    rule = "image sources may be http(s) URLs, data URIs, s3:// URIs or local paths"
    if len(scheme) <= _MAX_SHOWN_SCHEME:
        rule += f", not {scheme}:"
    raise InputInvalid(field, rule, short_repr(src))


def _check_http(src: str, field: str) -> None:
    """Refuse an http(s) URL the service could not fetch as written."""
    if _URL_UNSAFE.search(src):
        rule = "an http(s) image URL must not hold spaces or control characters (percent-encode)"
        raise InputInvalid(field, rule, short_repr(src))
    try:
        parts = urlsplit(src)
        port = parts.port  # parsed lazily: raises for a port that is not 0 to 65535
    except ValueError as exc:  # its message repeats the input, which may be huge
        rule = "an http(s) image URL must be well formed (IPv6 hosts in [], ports 1 to 65535)"
        raise InputInvalid(field, rule, short_repr(src)) from exc
    if not parts.hostname:
        raise InputInvalid(field, "an http(s) image URL must name a host", short_repr(src))
    if port == 0:
        raise InputInvalid(field, "an http(s) image URL's port must be 1 to 65535", short_repr(src))


def data_uri_mime(src: str, field: str = "image") -> str:
    """Return the MIME type declared by a ``data:<mime>;base64,`` URI, lower-cased.

    Raises:
        InputInvalid: Not a base64 data URI, or a MIME type no model accepts.
    """
    match = _DATA_URI.match(src)
    if match is None:
        raise InputInvalid(field, "a data URI must be data:<mime>;base64,<data>", short_repr(src))
    mime = match["mime"].lower()
    if mime not in DATA_URI_MIMES:
        shown = mime if len(mime) <= MAX_SHOWN_CHARS else short_repr(mime)
        raise InputInvalid(
            field, f"a data URI's MIME type must be one of {', '.join(DATA_URI_MIMES)}", shown
        )
    return mime


def data_uri_payload(src: str) -> str:
    """Return the base64 text of a data URI (everything after the first comma)."""
    return src.partition(",")[2]


def local_path_of(src: str) -> str:
    """Return the filesystem path of a LOCAL source (``file://`` is stripped, as the SDK does)."""
    if src[: len(_FILE_PREFIX)].lower() == _FILE_PREFIX:
        return src[len(_FILE_PREFIX) :]
    return src
