"""Input images of a request: from the source as given to a checked `InputImage`.

`resolve_image()` dispatches on the source's scheme: http(s) URLs and ``oss://`` uploads are
loaded through the `LoadSource` callback (emulator.intake.sources builds it), ``data:`` URIs
are decoded here. When the bytes are available they are checked against the rule table: file
size, a decodable header, format, transparency, sides, aspect ratio and the declared MIME
type. A URL the server does not fetch has no bytes, and its checks are skipped, like a request
the real service would download later.

    400 InvalidURL        an unknown scheme; oss:// without the resolve header, or not found
    400 InvalidParameter  a malformed data URI, or image bytes that break a rule
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass

from emulator.constants import MIB_BYTES, OSS_PREFIX
from emulator.errors import invalid_parameter, invalid_url
from emulator.intake.checks import image_violation
from emulator.intake.fields import clip
from emulator.intake.image_info import image_dimensions
from emulator.intake.table import IMAGE_FORMATS, ModelRules

LoadSource = Callable[[str], bytes | None]
"""Returns the bytes behind an http(s) URL or an ``oss://`` upload, None when not available."""


@dataclass(frozen=True)
class InputImage:
    """One input image of a request.

    Attributes:
        source: The source as given (URL, data URI, oss://...).
        data: The image bytes when available (data URI, resolved oss upload, fetched URL).
        width: Width in pixels when the bytes are available.
        height: Height in pixels when the bytes are available.
    """

    source: str
    data: bytes | None
    width: int | None
    height: int | None


def resolve_image(
    path: str, source: str, rules: ModelRules, *, oss_resolve: bool, load_source: LoadSource
) -> InputImage:
    """Resolve one image source to an `InputImage`, checking its bytes when available."""
    scheme = source[:8].lower()
    mime: str | None = None
    if scheme.startswith(("http://", "https://")):
        data = load_source(source)
    elif scheme.startswith("data:"):
        mime, data = _decode_data_uri(path, source)
    elif scheme.startswith(OSS_PREFIX):
        if not oss_resolve:
            raise invalid_url(
                f"{path}: an oss:// URL is resolved only with the header "
                "X-DashScope-OssResourceResolve: enable"
            )
        data = load_source(source)
        if data is None:
            raise invalid_url(f"{path}: {clip(source)} not found")
    else:
        raise invalid_url(f"Invalid URL provided in your request. ({path}: {clip(source)})")
    if data is None:
        return InputImage(source=source, data=None, width=None, height=None)
    if len(data) > rules.max_file_bytes:
        raise invalid_parameter(
            f"{path} file size must be at most {rules.max_file_bytes // MIB_BYTES} MB "
            f"for {rules.name}, got {len(data)} bytes"
        )
    try:
        info = image_dimensions(data)
    except ValueError as exc:
        raise invalid_parameter(f"{path} is not a decodable image") from exc
    if (message := image_violation(path, info, rules)) is not None:
        raise invalid_parameter(message)
    if mime is not None and IMAGE_FORMATS[info.format] != mime:
        raise invalid_parameter(f"{path} is declared as {mime} but holds {info.format} data")
    return InputImage(source=source, data=data, width=info.width, height=info.height)


def _decode_data_uri(path: str, source: str) -> tuple[str, bytes]:
    """Split `data:<mime>;base64,<data>` into the MIME type and the decoded bytes."""
    header, comma, payload = source.partition(",")
    mime, *options = header[len("data:") :].split(";")
    mime = mime.strip().lower()
    if not comma or "base64" not in (option.strip().lower() for option in options):
        raise invalid_parameter(f"{path} must be a data URI of the form data:<mime>;base64,<data>")
    if mime not in IMAGE_FORMATS.values():
        allowed = ", ".join(IMAGE_FORMATS.values())
        raise invalid_parameter(f"{path} MIME type must be one of {allowed}, got {clip(mime)!r}")
    try:
        return mime, base64.b64decode(payload, validate=True)
    except binascii.Error:
        pass
    try:  # line-wrapped base64 (MIME style) is still base64
        return mime, base64.b64decode("".join(payload.split()), validate=True)
    except binascii.Error as exc:
        raise invalid_parameter(f"{path} is not valid base64") from exc
