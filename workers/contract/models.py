"""The Wan models, their protocols, and every per-model limit of ``docs/model-rules.md``.

Each number of the rule table appears once, in :data:`SPECS`. A model runs in one *mode* chosen
by its flags (edit, sequential image sets, interleaved text and images); each limit carries the
phrase that tells a user when it applies, so rule messages can be built from the table alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final

MB: Final = 1024 * 1024

SEED_MIN: Final = 0
SEED_MAX: Final = 2_147_483_647
MAX_BOXES_PER_IMAGE: Final = 2
SIZE_TIERS: Final = ("1K", "2K", "4K")


class ModelName(StrEnum):
    """A Wan image-editing model served by DashScope."""

    WAN27_PRO = "wan2.7-image-pro"
    WAN27 = "wan2.7-image"
    WAN26 = "wan2.6-image"
    WAN25 = "wan2.5-i2i-preview"


class Protocol(StrEnum):
    """The shape of a model's request body.

    ``messages``: one user message whose content holds a text item and image items.
    ``prompt_images``: ``input.prompt`` and ``input.images``, on their own endpoint.
    """

    MESSAGES = "messages"
    PROMPT_IMAGES = "prompt_images"


@dataclass(frozen=True)
class Bounds:
    """An inclusive integer range, with the condition under which it applies.

    Attributes:
        low: Smallest accepted value.
        high: Largest accepted value.
        when: Words saying when the range applies (``"when enable_interleave is true"``),
            or ``""`` when it always does.
    """

    low: int
    high: int
    when: str = ""

    def __contains__(self, value: object) -> bool:
        return isinstance(value, int) and self.low <= value <= self.high

    def suffix(self) -> str:
        """Return ``when`` ready to append to a sentence (with a leading space)."""
        return f" {self.when}" if self.when else ""


@dataclass(frozen=True)
class SizeLimits:
    """What ``size`` may be.

    Attributes:
        tiers: Accepted tier strings (``1K``, ...); empty when only ``W*H`` is accepted.
        sides: Total pixels of a ``W*H`` size must lie in ``[low², high²]``.
    """

    tiers: tuple[str, ...]
    sides: Bounds


@dataclass(frozen=True)
class Mode:
    """The limits that depend on a model's mode.

    Attributes:
        images: How many input images are accepted.
        size: Size limits (text-to-image may widen them, see ``ModelSpec.text_to_image``).
        n: How many output images may be asked for.
        prompt_extend: Whether ``prompt_extend`` is accepted.
        max_images: Range of ``max_images``, or None when it is refused.
    """

    images: Bounds
    size: SizeLimits
    n: Bounds
    prompt_extend: bool
    max_images: Bounds | None = None


@dataclass(frozen=True)
class ImageLimits:
    """What an input image may be.

    Attributes:
        sides: Accepted width and height, in pixels.
        max_bytes: Largest accepted file.
        aspect_max: Largest accepted long:short ratio, or None when unlimited.
    """

    sides: Bounds
    max_bytes: int
    aspect_max: int | None


@dataclass(frozen=True)
class ModelSpec:
    """Everything the contract knows about one model.

    Attributes:
        name: The model.
        protocol: Its request protocol.
        text_chars: Accepted length of the prompt, in characters.
        negative_prompt_chars: Accepted length of ``negative_prompt``, or None when refused.
        size_aspect_max: Largest long:short ratio of a ``W*H`` size.
        edit: The default mode (``enable_sequential`` and ``enable_interleave`` false).
        sequential: The mode with ``enable_sequential`` true, or None when that is refused.
        interleave: The mode with ``enable_interleave`` true, or None when that is refused.
        text_to_image: Size limits replacing the mode's when there are no input images and
            ``enable_sequential`` is false, or None when text-to-image has no limits of its own.
        thinking_mode: Whether ``thinking_mode`` is accepted.
        bbox_list: Whether ``bbox_list`` is accepted.
        image: Limits on each input image.
    """

    name: ModelName
    protocol: Protocol
    text_chars: Bounds
    negative_prompt_chars: Bounds | None
    size_aspect_max: int
    edit: Mode
    sequential: Mode | None
    interleave: Mode | None
    text_to_image: SizeLimits | None
    thinking_mode: bool
    bbox_list: bool
    image: ImageLimits

    def mode(self, *, sequential: bool, interleave: bool) -> Mode:
        """Return the mode selected by the two flags (an unsupported flag selects ``edit``)."""
        if interleave and self.interleave is not None:
            return self.interleave
        if sequential and self.sequential is not None:
            return self.sequential
        return self.edit

    def size_limits(self, mode: Mode, image_count: int) -> SizeLimits:
        """Return the size limits for a mode and a number of input images."""
        if self.text_to_image is not None and mode is self.edit and image_count == 0:
            return self.text_to_image
        return mode.size


_NOT_SEQUENTIAL = "when enable_sequential is false"
_SEQUENTIAL = "when enable_sequential is true"
_NOT_INTERLEAVED = "when enable_interleave is false"
_INTERLEAVED = "when enable_interleave is true"
_PRO_EDIT = "with input images or enable_sequential true"
_PRO_T2I = "in text-to-image mode (no input images, enable_sequential false)"

_WAN27_IMAGES = Bounds(0, 9)
_WAN27_IMAGE = ImageLimits(sides=Bounds(240, 8000), max_bytes=20 * MB, aspect_max=8)


def _wan27(name: ModelName, *, pro: bool) -> ModelSpec:
    size = SizeLimits(("1K", "2K"), Bounds(768, 2048, _PRO_EDIT if pro else ""))
    return ModelSpec(
        name=name,
        protocol=Protocol.MESSAGES,
        text_chars=Bounds(1, 5000),
        negative_prompt_chars=None,
        size_aspect_max=8,
        edit=Mode(_WAN27_IMAGES, size, Bounds(1, 4, _NOT_SEQUENTIAL), prompt_extend=False),
        sequential=Mode(_WAN27_IMAGES, size, Bounds(1, 12, _SEQUENTIAL), prompt_extend=False),
        interleave=None,
        text_to_image=SizeLimits(SIZE_TIERS, Bounds(768, 4096, _PRO_T2I)) if pro else None,
        thinking_mode=True,
        bbox_list=True,
        image=_WAN27_IMAGE,
    )


_WAN26 = ModelSpec(
    name=ModelName.WAN26,
    protocol=Protocol.MESSAGES,
    text_chars=Bounds(1, 2000),
    negative_prompt_chars=Bounds(0, 500),
    size_aspect_max=4,
    edit=Mode(
        images=Bounds(1, 4, _NOT_INTERLEAVED),
        size=SizeLimits(("1K", "2K"), Bounds(768, 2048, _NOT_INTERLEAVED)),
        n=Bounds(1, 4, _NOT_INTERLEAVED),
        prompt_extend=True,
    ),
    sequential=None,
    interleave=Mode(
        images=Bounds(0, 1, _INTERLEAVED),
        size=SizeLimits((), Bounds(768, 1280, _INTERLEAVED)),
        n=Bounds(1, 1, _INTERLEAVED),
        prompt_extend=False,
        max_images=Bounds(1, 5, _INTERLEAVED),
    ),
    text_to_image=None,
    thinking_mode=False,
    bbox_list=False,
    image=ImageLimits(sides=Bounds(240, 8000), max_bytes=10 * MB, aspect_max=None),
)

_WAN25 = ModelSpec(
    name=ModelName.WAN25,
    protocol=Protocol.PROMPT_IMAGES,
    text_chars=Bounds(1, 2000),
    negative_prompt_chars=Bounds(0, 500),
    size_aspect_max=4,
    edit=Mode(
        images=Bounds(1, 3),
        size=SizeLimits((), Bounds(768, 1280)),
        n=Bounds(1, 4),
        prompt_extend=True,
    ),
    sequential=None,
    interleave=None,
    text_to_image=None,
    thinking_mode=False,
    bbox_list=False,
    image=ImageLimits(sides=Bounds(384, 5000), max_bytes=10 * MB, aspect_max=4),
)

SPECS: Final = MappingProxyType(
    {
        ModelName.WAN27_PRO: _wan27(ModelName.WAN27_PRO, pro=True),
        ModelName.WAN27: _wan27(ModelName.WAN27, pro=False),
        ModelName.WAN26: _WAN26,
        ModelName.WAN25: _WAN25,
    }
)
"""The rule table: one :class:`ModelSpec` per model."""

MAX_IMAGE_BYTES: Final = max(spec.image.max_bytes for spec in SPECS.values())
MAX_IMAGE_SIDE: Final = max(spec.image.sides.high for spec in SPECS.values())


def spec_of(model: ModelName) -> ModelSpec:
    """Return the limits of a model."""
    return SPECS[model]


def protocol_of(model: ModelName) -> Protocol:
    """Return the request protocol a model speaks."""
    return SPECS[model].protocol
