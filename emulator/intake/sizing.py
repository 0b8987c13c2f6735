"""Output image size of an emulated task.

Implements the "Output size (emulator)" section of docs/model-rules.md:

* a tier (`1K`, `2K`, `4K`) gives about the tier's total pixels (1024², 2048², 4096²; 1280²
  for wan2.6-image `1K`) at the aspect ratio of the last input image (square without one),
  each side rounded to a multiple of 16;
* `W*H` gives that size (wan2.6-image rounds each side to the nearest multiple of 16);
* no size gives the model's default tier (wan2.5-i2i-preview: about 1280² at the last
  input's aspect ratio).

The aspect ratio taken from an input image is clamped to the model's largest `W*H` aspect
ratio (8:1 or 4:1), since wan2.6-image accepts inputs of any shape.
"""

from __future__ import annotations

import math
from typing import Final

from emulator.intake.checks import parse_pixels
from emulator.intake.table import MODELS

_SIDE_STEP_PX: Final = 16


def output_size(
    model: str, size: str | None, last_image: tuple[int, int] | None, *, interleave: bool
) -> tuple[int, int]:
    """Return the (width, height) of the images a validated request produces.

    Args:
        model: A model name of the rule table (emulator.intake.table).
        size: The request's `parameters.size` as given, or None.
        last_image: (width, height) of the last input image, None when there is none or its
            size is unknown.
        interleave: wan2.6-image's `enable_interleave`; size tiers do not exist in that mode.

    Returns:
        Output width and height in pixels.

    Raises:
        ValueError: The model is unknown, or `size` is neither `W*H` nor one of the model's
            tiers (tiers do not exist in interleave mode). Limits are not re-checked here:
            emulator.intake.validation refuses out-of-range requests first.
    """
    rules = MODELS.get(model)
    if rules is None:
        raise ValueError(f"unknown model {model!r}")
    if size is None:
        return _at_aspect(rules.default_side_px**2, last_image, rules.max_size_aspect)
    if size in rules.tier_sides_px and not interleave:
        side = rules.tier_sides_px[size]
        return _at_aspect(side * side, last_image, rules.max_size_aspect)
    pixels = parse_pixels(size)
    if pixels is None:
        raise ValueError(f"size {size!r} is neither W*H nor a size tier of {model}")
    width, height = pixels
    if rules.rounds_size_to_16:
        return _round_side(width), _round_side(height)
    return width, height


def _at_aspect(
    total_pixels: int, last_image: tuple[int, int] | None, max_aspect: int
) -> tuple[int, int]:
    """Sides with about `total_pixels` at the last image's (clamped) aspect ratio."""
    ratio = 1.0 if last_image is None else last_image[0] / last_image[1]
    ratio = min(max(ratio, 1 / max_aspect), float(max_aspect))
    width = math.sqrt(total_pixels * ratio)
    return _round_side(width), _round_side(total_pixels / width)


def _round_side(side: float) -> int:
    """Round to the nearest multiple of 16 (halves up), never below 16."""
    return max(_SIDE_STEP_PX, math.floor(side / _SIDE_STEP_PX + 0.5) * _SIDE_STEP_PX)
