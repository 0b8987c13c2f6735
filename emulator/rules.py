"""Per-model request rules of the emulated Wan models.

A transcription of docs/model-rules.md, read by emulator/validation.py (what a request may
hold) and emulator/sizing.py (what size the result has). Written from the rule table alone:
the job contract in workers/contract/ implements the same table independently.

* `ModelRules`: the limits that never change for a model (endpoints, text lengths, accepted
  parameters, input image limits, size tiers), one entry per model in `MODELS`.
* `ModeRules`: the limits that depend on the request's mode (text-to-image, edit, sequential,
  interleave), built by `mode_rules()` once the mode switches of a request are known.
* `*_violation()`: the rules that need more than a range check (size, input image, bbox_list).
  Each returns the error message for the first broken rule, or None; raising the error
  answer is validation's job.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from emulator.images import ImageInfo

Endpoint = Literal["multimodal", "image_generation", "image2image"]
WireProtocol = Literal["messages", "prompt_images"]

ENDPOINT_PATHS: Final[Mapping[Endpoint, str]] = {
    "multimodal": "/services/aigc/multimodal-generation/generation",
    "image_generation": "/services/aigc/image-generation/generation",
    "image2image": "/services/aigc/image2image/image-synthesis",
}

MIB_BYTES: Final = 1024 * 1024
MAX_NEGATIVE_PROMPT_CHARS: Final = 500
MAX_SEED: Final = 2_147_483_647
MAX_BOXES_PER_IMAGE: Final = 2
MAX_INTERLEAVE_IMAGES: Final = 5
_PIXELS_RE: Final = re.compile(r"([1-9][0-9]*)\*([1-9][0-9]*)")
_MAX_SIZE_CHARS: Final = 64
_FOUR_K_NOTE: Final = (
    " (4K is only for wan2.7-image-pro text-to-image: no input images, enable_sequential false)"
)
IMAGE_FORMATS: Final[Mapping[str, str]] = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "BMP": "image/bmp",
    "WEBP": "image/webp",
}
"""Accepted input formats (Pillow format name) and the data-URI MIME type of each."""


@dataclass(frozen=True)
class ModelRules:
    """Limits of one model that do not depend on the request's mode.

    Attributes:
        name: Model name as sent in the body's `model`.
        protocol: Body layout: `messages` or `prompt_images`.
        endpoints: Endpoints that accept the model.
        max_text_chars: Upper bound of the prompt text length (the lower bound is 1).
        negative_prompt: Whether `negative_prompt` is accepted (at most 500 characters).
        prompt_extend: Whether `prompt_extend` is accepted at all.
        thinking_mode: Whether `thinking_mode` is accepted.
        sequential: Whether `enable_sequential=true` is accepted (`false` always is).
        interleave: Whether `enable_interleave=true` is accepted (`false` always is).
        bbox_list: Whether `bbox_list` is accepted.
        min_side_px: Smallest accepted input image width or height.
        max_side_px: Largest accepted input image width or height.
        max_file_bytes: Largest accepted input image file.
        max_image_aspect: Largest input long:short side ratio, None when unlimited.
        max_size_aspect: Largest long:short ratio of a `W*H` size.
        tier_sides_px: Each size tier and the side of the square with its total pixels.
        default_side_px: Side of the square with the total pixels used when no size is given.
        rounds_size_to_16: Whether a given `W*H` is rounded to multiples of 16 on output.
    """

    name: str
    protocol: WireProtocol
    endpoints: tuple[Endpoint, ...]
    max_text_chars: int
    negative_prompt: bool
    prompt_extend: bool
    thinking_mode: bool
    sequential: bool
    interleave: bool
    bbox_list: bool
    min_side_px: int
    max_side_px: int
    max_file_bytes: int
    max_image_aspect: int | None
    max_size_aspect: int
    tier_sides_px: Mapping[str, int]
    default_side_px: int
    rounds_size_to_16: bool


@dataclass(frozen=True)
class ModeRules:
    """Limits of one model in one request mode.

    Attributes:
        label: Mode name used in error messages ("edit mode", "interleave mode", ...).
        images: Inclusive range of the number of input images.
        n: Inclusive range of `n`.
        default_n: `n` when the request leaves it out.
        tiers: Size tier strings accepted in this mode.
        min_pixels: Smallest total pixel count of a `W*H` size.
        max_pixels: Largest total pixel count of a `W*H` size.
        prompt_extend: Whether `prompt_extend` is accepted in this mode.
        max_images: Whether `max_images` is accepted in this mode.
    """

    label: str
    images: tuple[int, int]
    n: tuple[int, int]
    default_n: int
    tiers: tuple[str, ...]
    min_pixels: int
    max_pixels: int
    prompt_extend: bool
    max_images: bool


_WAN27_TIERS: Final = {"1K": 1024, "2K": 2048, "4K": 4096}
_MESSAGES_ENDPOINTS: Final[tuple[Endpoint, ...]] = ("multimodal", "image_generation")


def _wan27(name: str) -> ModelRules:
    return ModelRules(
        name=name,
        protocol="messages",
        endpoints=_MESSAGES_ENDPOINTS,
        max_text_chars=5000,
        negative_prompt=False,
        prompt_extend=False,
        thinking_mode=True,
        sequential=True,
        interleave=False,
        bbox_list=True,
        min_side_px=240,
        max_side_px=8000,
        max_file_bytes=20 * MIB_BYTES,
        max_image_aspect=8,
        max_size_aspect=8,
        tier_sides_px=_WAN27_TIERS,
        default_side_px=2048,
        rounds_size_to_16=False,
    )


MODELS: Final[Mapping[str, ModelRules]] = {
    "wan2.7-image-pro": _wan27("wan2.7-image-pro"),
    "wan2.7-image": _wan27("wan2.7-image"),
    "wan2.6-image": ModelRules(
        name="wan2.6-image",
        protocol="messages",
        endpoints=_MESSAGES_ENDPOINTS,
        max_text_chars=2000,
        negative_prompt=True,
        prompt_extend=True,
        thinking_mode=False,
        sequential=False,
        interleave=True,
        bbox_list=False,
        min_side_px=240,
        max_side_px=8000,
        max_file_bytes=10 * MIB_BYTES,
        max_image_aspect=None,
        max_size_aspect=4,
        tier_sides_px={"1K": 1280, "2K": 2048},
        default_side_px=1280,
        rounds_size_to_16=True,
    ),
    "wan2.5-i2i-preview": ModelRules(
        name="wan2.5-i2i-preview",
        protocol="prompt_images",
        endpoints=("image2image",),
        max_text_chars=2000,
        negative_prompt=True,
        prompt_extend=True,
        thinking_mode=False,
        sequential=False,
        interleave=False,
        bbox_list=False,
        min_side_px=384,
        max_side_px=5000,
        max_file_bytes=10 * MIB_BYTES,
        max_image_aspect=4,
        max_size_aspect=4,
        tier_sides_px={},
        default_side_px=1280,
        rounds_size_to_16=False,
    ),
}


def mode_rules(
    rules: ModelRules, *, image_count: int, sequential: bool, interleave: bool
) -> ModeRules:
    """Return the limits of `rules`' model in the mode a request selects.

    Args:
        rules: The model's fixed limits.
        image_count: Number of input images in the request.
        sequential: Value of `enable_sequential` (False when absent).
        interleave: Value of `enable_interleave` (False when absent).

    Returns:
        The mode-dependent limits.
    """
    small, medium, large = 768 * 768, 1280 * 1280, 2048 * 2048
    if rules.name.startswith("wan2.7"):
        text_to_image = image_count == 0 and not sequential
        pro_t2i = text_to_image and rules.name == "wan2.7-image-pro"
        if sequential:
            label = "sequential mode"
        else:
            label = "text-to-image mode" if text_to_image else "edit mode"
        return ModeRules(
            label=label,
            images=(0, 9),
            n=(1, 12) if sequential else (1, 4),
            default_n=12 if sequential else 4,
            tiers=("1K", "2K", "4K") if pro_t2i else ("1K", "2K"),
            min_pixels=small,
            max_pixels=4096 * 4096 if pro_t2i else large,
            prompt_extend=False,
            max_images=False,
        )
    if rules.name == "wan2.6-image" and interleave:
        return ModeRules(
            label="interleave mode",
            images=(0, 1),
            n=(1, 1),
            default_n=1,
            tiers=(),
            min_pixels=small,
            max_pixels=medium,
            prompt_extend=False,
            max_images=True,
        )
    if rules.name == "wan2.6-image":
        return ModeRules(
            label="edit mode",
            images=(1, 4),
            n=(1, 4),
            default_n=4,
            tiers=("1K", "2K"),
            min_pixels=small,
            max_pixels=large,
            prompt_extend=True,
            max_images=False,
        )
    return ModeRules(
        label="",
        images=(1, 3),
        n=(1, 4),
        default_n=4,
        tiers=(),
        min_pixels=small,
        max_pixels=medium,
        prompt_extend=True,
        max_images=False,
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
        shown = size if len(size) <= _MAX_SIZE_CHARS else size[:_MAX_SIZE_CHARS] + "..."
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
