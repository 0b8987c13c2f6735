"""The per-model rules of ``docs/model-rules.md``, as plain checks raising :class:`InputInvalid`.

:func:`check_request` covers everything knowable from the request itself; :func:`check_image`
and :func:`check_boxes_inside` cover what needs an image's bytes. Every limit comes from
:mod:`workers.contract.models`; every message names the model and the limit it broke.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from workers.contract.images import ImageFacts
from workers.contract.models import (
    MAX_BOXES_PER_IMAGE,
    MB,
    SEED_MAX,
    SEED_MIN,
    SIZE_TIERS,
    Bounds,
    Mode,
    ModelSpec,
    SizeLimits,
    spec_of,
)
from workers.contract.problems import short_repr
from workers.contract.sources import source_kind
from workers.errors import InputInvalid

if TYPE_CHECKING:
    from workers.contract.request import Box, EditRequest

_PIXEL_SIZE: Final = re.compile(r"([1-9][0-9]*)\*([1-9][0-9]*)")
_MAX_SIDE_DIGITS: Final = 9
_FORMAT_MIMES: Final = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",  # Pillow's name for a JPEG carrying extra (multi-picture) frames.
    "PNG": "image/png",
    "BMP": "image/bmp",
    "WEBP": "image/webp",
}


def check_request(req: EditRequest) -> None:
    """Check a request against its model's rules, in field order.

    Raises:
        InputInvalid: The first rule the request breaks.
    """
    spec = spec_of(req.model)
    _check_text(spec, req)
    _check_flags(spec, req)
    mode = spec.mode(sequential=bool(req.enable_sequential), interleave=bool(req.enable_interleave))
    for index, src in enumerate(req.images):
        source_kind(src, f"images[{index}]")
    count = len(req.images)
    _within(mode.images, count, "images", f"{spec.name} accepts {{range}} input images", " images")
    if req.size is not None:
        _check_size(spec, mode, spec.size_limits(mode, count), req.size)
    if req.n is not None:
        _within(mode.n, req.n, "n", f"n must be {{range}} for {spec.name}")
    if req.seed is not None:
        _within(Bounds(SEED_MIN, SEED_MAX), req.seed, "seed", "seed must be {range}")
    _check_optional_features(spec, mode, req)
    if req.bbox_list is not None:
        _check_bbox_list(spec, req.bbox_list, count)


def _within(bounds: Bounds, value: int, field: str, rule: str, unit: str = "") -> None:
    """Raise unless ``value`` is in ``bounds``; ``{range}`` in ``rule`` becomes the range."""
    if value in bounds:
        return
    if bounds.low == bounds.high:
        span = f"exactly {bounds.low}"
    else:
        span = f"{bounds.low} to {bounds.high}"
    raise InputInvalid(field, rule.format(range=span) + bounds.suffix(), short_repr(value) + unit)


def _check_text(spec: ModelSpec, req: EditRequest) -> None:
    chars = spec.text_chars
    if len(req.prompt) not in chars:
        rule = f"{spec.name} requires a prompt of {chars.low} to {chars.high} characters"
        raise InputInvalid("prompt", rule, f"{len(req.prompt)} characters")
    if req.negative_prompt is None:
        return
    limit = spec.negative_prompt_chars
    if limit is None:
        raise _unsupported(spec, "negative_prompt", short_repr(req.negative_prompt))
    if len(req.negative_prompt) not in limit:
        rule = f"negative_prompt must be at most {limit.high} characters for {spec.name}"
        raise InputInvalid("negative_prompt", rule, f"{len(req.negative_prompt)} characters")


def _check_flags(spec: ModelSpec, req: EditRequest) -> None:
    if req.enable_sequential and spec.sequential is None:
        raise _unsupported(spec, "enable_sequential", "true", "=true")
    if req.enable_interleave and spec.interleave is None:
        raise _unsupported(spec, "enable_interleave", "true", "=true")


def _check_size(spec: ModelSpec, mode: Mode, limits: SizeLimits, size: str) -> None:
    if size in SIZE_TIERS:
        if size in limits.tiers:
            return
        widened = spec.text_to_image
        if widened is not None and size in widened.tiers and limits is not widened:
            rule = f"{spec.name} accepts size {size} only {widened.sides.when}"
        elif limits.tiers:
            rule = f"{spec.name} accepts the size tiers {', '.join(limits.tiers)}"
            rule += f"{limits.sides.suffix()}, or W*H"
        else:
            rule = f"{spec.name} accepts no size tier{limits.sides.suffix()}, only W*H"
        raise InputInvalid("size", rule, repr(size))
    match = _PIXEL_SIZE.fullmatch(size)
    if match is None:
        tiers = f" or one of {', '.join(mode.size.tiers)}" if mode.size.tiers else ""
        rule = f"size must be W*H with positive integers (e.g. 1280*1280){tiers}"
        raise InputInvalid("size", rule, short_repr(size))
    sides = limits.sides
    rule = (
        f"total pixels must be between {sides.low}*{sides.low} and {sides.high}*{sides.high}"
        f" for {spec.name}{sides.suffix()}"
    )
    if max(len(match[1]), len(match[2])) > _MAX_SIDE_DIGITS:
        # Far too large, and int() refuses strings past Python's digit limit.
        raise InputInvalid("size", rule, short_repr(size))
    width, height = int(match[1]), int(match[2])
    if not sides.low**2 <= width * height <= sides.high**2:
        raise InputInvalid("size", rule, f"{size!r} = {width * height} pixels")
    if max(width, height) > spec.size_aspect_max * min(width, height):
        rule = f"size aspect ratio (long:short) must be at most {spec.size_aspect_max}:1"
        raise InputInvalid("size", f"{rule} for {spec.name}", repr(size))


def _check_optional_features(spec: ModelSpec, mode: Mode, req: EditRequest) -> None:
    if req.prompt_extend is not None and not mode.prompt_extend:
        if spec.edit.prompt_extend:
            rule = f"{spec.name} accepts prompt_extend only when enable_interleave is false"
            raise InputInvalid("prompt_extend", rule, str(req.prompt_extend).lower())
        raise _unsupported(spec, "prompt_extend", str(req.prompt_extend).lower())
    if req.thinking_mode is not None and not spec.thinking_mode:
        raise _unsupported(spec, "thinking_mode", str(req.thinking_mode).lower())
    if req.max_images is None:
        return
    if mode.max_images is not None:
        rule = f"max_images must be {{range}} for {spec.name}"
        _within(mode.max_images, req.max_images, "max_images", rule)
        return
    if spec.interleave is not None and spec.interleave.max_images is not None:
        rule = f"{spec.name} accepts max_images only {spec.interleave.max_images.when}"
        raise InputInvalid("max_images", rule, short_repr(req.max_images))
    raise _unsupported(spec, "max_images", short_repr(req.max_images))


def _check_bbox_list(spec: ModelSpec, bbox_list: Sequence[Sequence[Box]], image_count: int) -> None:
    if not spec.bbox_list:
        raise _unsupported(spec, "bbox_list", short_repr(bbox_list))
    if len(bbox_list) != image_count:
        rule = f"bbox_list must have one entry per input image ({image_count} for this request)"
        raise InputInvalid("bbox_list", rule, f"{len(bbox_list)} entries")
    side = spec.image.sides.high
    for index, boxes in enumerate(bbox_list):
        if len(boxes) > MAX_BOXES_PER_IMAGE:
            rule = f"{spec.name} accepts at most {MAX_BOXES_PER_IMAGE} boxes per image"
            raise InputInvalid(f"bbox_list[{index}]", rule, f"{len(boxes)} boxes")
        for number, (x1, y1, x2, y2) in enumerate(boxes):
            path, shown = f"bbox_list[{index}][{number}]", short_repr([x1, y1, x2, y2])
            if not (0 <= x1 < x2 and 0 <= y1 < y2):
                rule = "a box [x1, y1, x2, y2] needs 0 <= x1 < x2 and 0 <= y1 < y2"
                raise InputInvalid(path, rule, shown)
            # Checked against the image itself when its bytes are at hand (check_boxes_inside);
            # without them, no box past the largest side the model accepts can be inside.
            if x2 > side or y2 > side:
                rule = f"a box must lie inside its image, and {spec.name} accepts no image side"
                raise InputInvalid(path, f"{rule} over {side} pixels", shown)


def _unsupported(spec: ModelSpec, field: str, value: str, shown: str = "") -> InputInvalid:
    return InputInvalid(field, f"{spec.name} does not support {field}{shown}", value)


def check_image(spec: ModelSpec, field: str, facts: ImageFacts, declared_mime: str | None) -> None:
    """Check one decoded input image against its model's image rules.

    Args:
        spec: The model's limits.
        field: Field path of the image (``images[1]``).
        facts: What decoding the image found.
        declared_mime: The MIME type a data URI declared, or None for other sources.

    Raises:
        InputInvalid: The image breaks a rule.
    """
    mime = _FORMAT_MIMES.get(facts.format)
    if mime is None or (facts.format == "PNG" and facts.has_alpha):
        rule = f"{spec.name} accepts JPEG, PNG without alpha, BMP and WEBP images"
        shown = f"{facts.format} with alpha" if facts.has_alpha else facts.format
        raise InputInvalid(field, rule, shown)
    if declared_mime is not None and declared_mime != mime:
        rule = "a data URI's MIME type must match the image's format"
        raise InputInvalid(field, rule, f"{declared_mime} declared, {facts.format} found")
    limits = spec.image
    if facts.size_bytes > limits.max_bytes:
        raise InputInvalid(field, max_bytes_rule(spec), f"{facts.size_bytes} bytes")
    dims = f"{facts.width}x{facts.height}"
    sides = limits.sides
    if facts.width not in sides or facts.height not in sides:
        rule = f"image width and height must be {sides.low} to {sides.high} pixels for {spec.name}"
        raise InputInvalid(field, rule, dims)
    long, short = max(facts.width, facts.height), min(facts.width, facts.height)
    if limits.aspect_max is not None and long > limits.aspect_max * short:
        rule = f"image aspect ratio (long:short) must be at most {limits.aspect_max}:1"
        raise InputInvalid(field, f"{rule} for {spec.name}", dims)


def max_bytes_rule(spec: ModelSpec) -> str:
    """Return the rule sentence for a model's image file-size limit."""
    limit = spec.image.max_bytes
    return f"image files must be at most {limit // MB} MB ({limit} bytes) for {spec.name}"


def check_boxes_inside(boxes: Sequence[Box], index: int, facts: ImageFacts) -> None:
    """Check that the boxes drawn on input image ``index`` lie inside it.

    Raises:
        InputInvalid: A box reaches past the image's width or height.
    """
    for number, (x1, y1, x2, y2) in enumerate(boxes):
        if x2 > facts.width or y2 > facts.height:
            rule = (
                f"a box must lie inside image {index + 1} ({facts.width}x{facts.height}):"
                " x2 <= width and y2 <= height"
            )
            raise InputInvalid(f"bbox_list[{index}][{number}]", rule, str([x1, y1, x2, y2]))
