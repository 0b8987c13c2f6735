"""The rules of the table that need more than a range check: size, input image, bbox_list.

Each `*_violation()` returns the error message for the first broken rule, or None; raising the
error answer is validation's job (emulator.intake.validation). `parse_pixels()` reads a
``W*H`` size for these checks and for emulator.intake.sizing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Final

from emulator.intake.fields import clip
from emulator.intake.image_info import ImageInfo
from emulator.intake.table import (
    IMAGE_FORMATS,
    MAX_BOXES_PER_IMAGE,
    ModelRules,
    ModeRules,
)

_PIXELS_RE: Final = re.compile(r"([1-9][0-9]*)\*([1-9][0-9]*)")
_MAX_SIZE_CHARS: Final = 64
_FOUR_K_NOTE: Final = (
    " (4K is only for wan2.7-image-pro text-to-image: no input images, enable_sequential false)"
)


def parse_pixels(size: str) -> tuple[int, int] | None:
    """Parse a `W*H` size string; None when it does not match `^[1-9][0-9]*\\*[1-9][0-9]*$`."""
    match = _PIXELS_RE.fullmatch(size) if len(size) <= _MAX_SIZE_CHARS else None
    return None if match is None else (int(match[1]), int(match[2]))


def size_violation(size: str, rules: ModelRules, mode: ModeRules, context: str) -> str | None:
    """Check `parameters.size` (a string) against the model and mode.

    Args:
        size: The size as given.
        rules: The model's fixed limits.
        mode: The request mode's limits.
        context: Model (and mode) for the message, e.g. "wan2.6-image in edit mode".

    Returns:
        The error message, or None when the size is accepted.
    """
    if size in mode.tiers:
        return None
    pixels = parse_pixels(size)
    if pixels is None:
        shown = clip(size, _MAX_SIZE_CHARS)
        tiers = f" or one of {', '.join(mode.tiers)}" if mode.tiers else ""
        why = _FOUR_K_NOTE if size == "4K" and size in rules.tier_sides_px else ""
        return f"parameters.size must be W*H{tiers} for {context}, got {shown!r}{why}"
    width, height = pixels
    if not mode.min_pixels <= width * height <= mode.max_pixels:
        low, high = _square(mode.min_pixels), _square(mode.max_pixels)
        return (
            f"parameters.size total pixels must be between {low} and {high} for {context}, "
            f"got {size} ({width * height} pixels)"
        )
    if max(width, height) > rules.max_size_aspect * min(width, height):
        return (
            f"parameters.size aspect ratio must be at most {rules.max_size_aspect}:1 "
            f"for {rules.name}, got {size}"
        )
    return None


def image_violation(path: str, info: ImageInfo, rules: ModelRules) -> str | None:
    """Check a decoded input image's format, transparency, sides and aspect ratio.

    Args:
        path: Wire field path of the image, for the message.
        info: The image's header data.
        rules: The model's fixed limits.

    Returns:
        The error message, or None when the image is accepted.
    """
    if info.format not in IMAGE_FORMATS:
        return f"{path} format must be JPEG, PNG, BMP or WEBP, got {info.format or 'unknown'}"
    if info.format == "PNG" and info.has_alpha:
        return f"{path} is a PNG with an alpha channel or transparency, which is not supported"
    width, height, low, high = info.width, info.height, rules.min_side_px, rules.max_side_px
    if not (low <= width <= high and low <= height <= high):
        return (
            f"{path} width and height must be between {low} and {high} px for {rules.name}, "
            f"got {width}*{height}"
        )
    aspect = rules.max_image_aspect
    if aspect is not None and max(width, height) > aspect * min(width, height):
        return (
            f"{path} aspect ratio must be at most {aspect}:1 for {rules.name}, got {width}*{height}"
        )
    return None


def bbox_violation(
    value: Any, image_sizes: Sequence[tuple[int, int] | None], model: str
) -> str | None:
    """Check `parameters.bbox_list` (not null) against the input images.

    Args:
        value: The parsed `bbox_list`.
        image_sizes: (width, height) of each input image in order, None where unknown.
        model: Model name for the message.

    Returns:
        The error message, or None when the list is accepted.
    """
    if not isinstance(value, list):
        return "parameters.bbox_list must be an array of arrays of boxes"
    if len(value) != len(image_sizes):
        return (
            f"parameters.bbox_list must hold one entry per input image ({len(image_sizes)}) "
            f"for {model}, got {len(value)}"
        )
    for i, (entry, image_size) in enumerate(zip(value, image_sizes, strict=True)):
        path = f"parameters.bbox_list[{i}]"
        if not isinstance(entry, list):
            return f"{path} must be an array of boxes"
        if len(entry) > MAX_BOXES_PER_IMAGE:
            return f"{path} must hold at most {MAX_BOXES_PER_IMAGE} boxes, got {len(entry)}"
        for j, box in enumerate(entry):
            message = _box_violation(f"{path}[{j}]", box, image_size, i + 1)
            if message is not None:
                return message
    return None


def _box_violation(
    path: str, box: Any, image_size: tuple[int, int] | None, number: int
) -> str | None:
    if not isinstance(box, list) or len(box) != 4:
        return f"{path} must be a box [x1, y1, x2, y2] of 4 integers"
    for k, coord in enumerate(box):
        if isinstance(coord, bool) or not isinstance(coord, int):
            return f"{path}[{k}] must be an integer, got {coord!r}"
    x1, y1, x2, y2 = box
    for k, low, coord, rule in (
        (0, 0, x1, "x1 must be at least 0"),
        (1, 0, y1, "y1 must be at least 0"),
        (2, x1 + 1, x2, f"x2 must be greater than x1 ({x1})"),
        (3, y1 + 1, y2, f"y2 must be greater than y1 ({y1})"),
    ):
        if coord < low:
            return f"{path}[{k}]: {rule}, got {coord}"
    if image_size is not None:
        for k, high, coord in ((2, image_size[0], x2), (3, image_size[1], y2)):
            if coord > high:
                side = "width" if k == 2 else "height"
                return f"{path}[{k}] must be at most image {number}'s {side} {high}, got {coord}"
    return None


def _square(pixels: int) -> str:
    side = round(pixels**0.5)
    return f"{side}*{side}"
