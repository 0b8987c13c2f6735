"""Where an input image comes from, and whether it can go on the wire as is.

=============  ==========================================  =================================
kind           accepted                                    on the wire
=============  ==========================================  =================================
HTTP           ``http://host/...``, ``https://host/...``   passed through
DATA_URI       ``data:image/{jpeg,png,bmp,webp};base64,``  passed through
S3             ``s3://bucket/key``                         resolved to a URL or data URI first
LOCAL          ``file://path`` or a plain path             resolved first
=============  ==========================================  =================================

Anything else (``oss://``, ``ftp://``, an empty string, ...) is refused.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Final
from urllib.parse import urlsplit

from workers.contract.problems import short_repr
from workers.errors import InputInvalid

DATA_URI_MIMES: Final = ("image/jpeg", "image/png", "image/bmp", "image/webp")

_DATA_URI = re.compile(r"data:(?P<mime>[^;,]*);base64,", re.IGNORECASE)
# A scheme of two letters or more, so that Windows drive letters (C:\...) stay paths.
_SCHEME = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]+):")
_FILE_PREFIX: Final = "file://"


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
    if not src.strip() or "\x00" in src:
        raise InputInvalid(field, "an image source must be a URL, data URI, s3:// URI or path")
    scheme_match = _SCHEME.match(src)
    if scheme_match is None:
        return SourceKind.LOCAL
    scheme = scheme_match["scheme"].lower()
    if scheme in ("http", "https"):
        if not urlsplit(src).netloc:
            raise InputInvalid(field, "an http(s) image URL must name a host", short_repr(src))
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
    raise InputInvalid(
        field,
        f"image sources may be http(s) URLs, data URIs, s3:// URIs or local paths, not {scheme}:",
        short_repr(src),
    )


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
        raise InputInvalid(
            field, f"a data URI's MIME type must be one of {', '.join(DATA_URI_MIMES)}", mime
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
