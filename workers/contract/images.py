"""Reading the input images whose bytes are at hand (data URIs and local files).

Remote sources (http(s), s3://) are never fetched here: their bytes are checked by whoever
fetches them. Decoding uses Pillow; a JPEG is decoded at a reduced scale, which still reads
every byte of the stream, so truncation is caught without paying for a full-size decode.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import warnings
from dataclasses import dataclass
from typing import Final

from PIL import Image

from workers.contract.models import MAX_IMAGE_BYTES, MAX_IMAGE_SIDE
from workers.contract.problems import short_repr
from workers.contract.sources import SourceKind, data_uri_payload, local_path_of, source_kind
from workers.errors import InputInvalid

DEFAULT_FETCH_LIMIT_BYTES: Final = MAX_IMAGE_BYTES
"""Most bytes read from one source by default: the largest file any model accepts."""

_ALPHA_MODES: Final = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})


@dataclass(frozen=True)
class ImageFacts:
    """What decoding an image found.

    Attributes:
        format: Pillow's name for the format (``JPEG``, ``PNG``, ``BMP``, ``WEBP``, ``GIF``, ...).
        width: Width in pixels.
        height: Height in pixels.
        size_bytes: Size of the encoded file.
        has_alpha: Whether the image has an alpha channel or a transparent colour.
    """

    format: str
    width: int
    height: int
    size_bytes: int
    has_alpha: bool


def source_size(source: str, field: str = "image") -> int | None:
    """Return the size in bytes of a source whose bytes are at hand, without reading it.

    Returns None for http(s) and s3:// sources. A data URI's size is computed from the length
    of its base64 text.

    Raises:
        InputInvalid: The source is of no accepted kind, or a local file cannot be found.
    """
    kind = source_kind(source, field)
    if kind is SourceKind.DATA_URI:
        payload = data_uri_payload(source)
        return len(payload) * 3 // 4 - payload[-2:].count("=")
    if kind is SourceKind.LOCAL:
        path = local_path_of(source)
        try:
            return os.stat(path).st_size
        except (OSError, ValueError) as exc:  # ValueError: a path the OS cannot encode
            raise InputInvalid(field, _unreadable(exc), short_repr(source)) from exc
    return None


def inspect_image(
    source: str, *, limit_bytes: int = DEFAULT_FETCH_LIMIT_BYTES, field: str = "image"
) -> ImageFacts | None:
    """Decode a source whose bytes are at hand and report what it is.

    Args:
        source: An image source (see :mod:`workers.contract.sources`).
        limit_bytes: Refuse sources larger than this without decoding them.
        field: Field path named in errors (``images[2]``).

    Returns:
        The image's facts, or None for sources whose bytes are not at hand (http(s), s3://).

    Raises:
        InputInvalid: The source is missing, too large, not base64, or not a decodable image.
    """
    size = source_size(source, field)
    if size is None:
        return None
    if size > limit_bytes:
        rule = f"image files must be at most {limit_bytes} bytes (the producer's fetch limit)"
        raise InputInvalid(field, rule, f"{size} bytes")
    data = _read(source, field, limit_bytes)
    return _decode(data, field)


def _read(source: str, field: str, limit_bytes: int) -> bytes:
    if source_kind(source, field) is SourceKind.DATA_URI:
        try:
            return base64.b64decode(data_uri_payload(source), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InputInvalid(field, "a data URI's data must be valid base64") from exc
    try:
        with open(local_path_of(source), "rb") as file:
            data = file.read(limit_bytes + 1)
    except (OSError, ValueError) as exc:
        raise InputInvalid(field, _unreadable(exc), short_repr(source)) from exc
    if len(data) > limit_bytes:
        rule = f"image files must be at most {limit_bytes} bytes (the producer's fetch limit)"
        raise InputInvalid(field, rule, f"more than {limit_bytes} bytes")
    return data


def _decode(data: bytes, field: str) -> ImageFacts:
    try:
        with warnings.catch_warnings():
            # An image larger than any model accepts is refused by the side rule undecoded.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                facts = ImageFacts(
                    format=image.format or "unknown",
                    width=image.width,
                    height=image.height,
                    size_bytes=len(data),
                    has_alpha=image.mode in _ALPHA_MODES or "transparency" in image.info,
                )
                if max(facts.width, facts.height) <= MAX_IMAGE_SIDE:
                    if facts.format in ("JPEG", "MPO"):
                        image.draft("RGB", (facts.width // 8, facts.height // 8))
                    image.load()
            if facts.format == "PNG":
                # load() stops after the pixels, so a PNG cut short of its IEND chunk passes;
                # verify() walks every chunk to IEND and checks their CRCs (the emulator does too).
                with Image.open(io.BytesIO(data)) as again:
                    again.verify()
    except Image.DecompressionBombError as exc:
        rule = f"image width and height must be at most {MAX_IMAGE_SIDE} pixels"
        raise InputInvalid(field, rule, "too many pixels to decode") from exc
    except Exception as exc:
        # Corrupt input makes Pillow raise many types (OSError, SyntaxError, EOFError,
        # struct.error, ...); all of them mean the same thing to the user.
        rule = "must be a complete, decodable JPEG, PNG, BMP or WEBP image"
        raise InputInvalid(field, rule, type(exc).__name__) from exc
    return facts


def _unreadable(exc: OSError | ValueError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "the local image file does not exist"
    reason = exc.strerror if isinstance(exc, OSError) else None
    return f"the local image file cannot be read ({reason or type(exc).__name__})"
