"""The rule table of the emulated Wan models: a transcription of docs/model-rules.md.

Written from the document alone: the job contract in workers/contract/ implements the same
table independently (tests/unit/test_rules_agreement.py checks that they agree). Read by
emulator.intake.validation and .checks (what a request may hold) and .sizing (what size the
result has).

* `ModelRules`: the limits that never change for a model (endpoints, text lengths, accepted
  parameters, input image limits, size tiers), one entry per model in `MODELS`.
* `ModeRules`: the limits that depend on the request's mode (text-to-image, edit, sequential,
  interleave), looked up by `mode_rules()` once the mode switches of a request are known.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from emulator.constants import MIB_BYTES, PATH_IMAGE2IMAGE, PATH_IMAGE_GENERATION, PATH_MULTIMODAL

Endpoint = Literal["multimodal", "image_generation", "image2image"]
WireProtocol = Literal["messages", "prompt_images"]

ENDPOINT_PATHS: Final[Mapping[Endpoint, str]] = {
    "multimodal": PATH_MULTIMODAL,
    "image_generation": PATH_IMAGE_GENERATION,
    "image2image": PATH_IMAGE2IMAGE,
}

MAX_NEGATIVE_PROMPT_CHARS: Final = 500
MAX_BOXES_PER_IMAGE: Final = 2
MAX_INTERLEAVE_IMAGES: Final = 5
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
