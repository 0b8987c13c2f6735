"""Reading an input image's header: format, size and transparency, with an integrity check.

`image_dimensions()` is the one place that decodes request images; validation
(emulator.intake.inputs) checks what it returns against the rule table.
"""

from __future__ import annotations

import io
import warnings
from typing import Final, NamedTuple

from PIL import Image

_ALPHA_MODES: Final = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})


class ImageInfo(NamedTuple):
    """What validation needs to know about an input image.

    Attributes:
        format: Pillow format name ("JPEG", "PNG", "BMP", "WEBP", "GIF", ...).
        width: Width in pixels.
        height: Height in pixels.
        has_alpha: Whether the image has an alpha channel or a transparent colour.
    """

    format: str
    width: int
    height: int
    has_alpha: bool


def image_dimensions(data: bytes) -> ImageInfo:
    """Read an image's format, size and transparency, checking that the data is intact.

    Pixels are not fully decoded: PNG chunks are walked and checksummed, JPEG is decoded at
    1/8 scale (which catches truncation), other formats are checked as far as Pillow's
    `verify()` goes.

    Args:
        data: The image file's bytes.

    Returns:
        The image's format, width, height and whether it has transparency.

    Raises:
        ValueError: The bytes are not an image Pillow can identify, or fail its integrity
            check.
    """
    try:
        with warnings.catch_warnings():
            # Only the header is read; the side-length rule refuses huge images anyway.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                info = ImageInfo(
                    format=img.format or "",
                    width=img.width,
                    height=img.height,
                    has_alpha=img.mode in _ALPHA_MODES or "transparency" in img.info,
                )
                if img.format == "JPEG":  # verify() checks nothing for JPEG: decode at 1/8
                    img.draft("RGB", (max(1, img.width // 8), max(1, img.height // 8)))
                    img.load()
                else:
                    img.verify()
    # Pillow's decoders raise many unrelated types (OSError, SyntaxError, struct.error,
    # DecompressionBombError, ...) for damaged input; all mean the same thing here.
    except Exception as exc:
        raise ValueError(f"not a decodable image: {exc}") from exc
    return info
