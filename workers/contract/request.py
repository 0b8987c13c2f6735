"""The edit request: what a user asks of a Wan model, independent of the wire protocol."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, Final, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from workers.contract.models import ModelName, Protocol, protocol_of
from workers.contract.problems import as_pydantic_error, first_problem, has_lone_surrogate
from workers.contract.rules import check_request
from workers.contract.wire import build_body, parse_body
from workers.errors import InputInvalid


def _unicode(value: str) -> str:
    if has_lone_surrogate(value):
        raise PydanticCustomError("unicode_text", "must be valid Unicode text (no lone surrogates)")
    return value


Text = Annotated[StrictStr, AfterValidator(_unicode)]
"""A string that UTF-8 can encode."""

_MODEL_NAMES: Final = frozenset(ModelName)
_EXPECTED_MODELS: Final = (
    ", ".join(repr(m.value) for m in list(ModelName)[:-1]) + f" or {list(ModelName)[-1].value!r}"
)


def _known_model(value: object) -> object:
    # Left to pydantic, anything else reaches ModelName(value), whose message repr()s it: a
    # deeply nested list then raises RecursionError, a huge int ValueError, not a refusal.
    if isinstance(value, str) and value in _MODEL_NAMES:
        return value
    raise PydanticCustomError("enum", "Input should be {expected}", {"expected": _EXPECTED_MODELS})


def _ordered(value: object) -> object:
    # Lax tuples would also take sets, whose order (the image numbering) is arbitrary.
    if not isinstance(value, list | tuple):
        raise PydanticCustomError("list_type", "Input should be a list")
    return value


Box = Annotated[tuple[StrictInt, StrictInt, StrictInt, StrictInt], BeforeValidator(_ordered)]
"""A bounding box ``[x1, y1, x2, y2]`` in pixels of its image."""
Boxes = Annotated[tuple[Box, ...], BeforeValidator(_ordered)]
BboxList = Annotated[tuple[Boxes, ...], BeforeValidator(_ordered)]
Sources = Annotated[tuple[Text, ...], BeforeValidator(_ordered)]


class EditRequest(BaseModel):
    """One image edit (or generation) as a user asks for it.

    Building one checks every rule of ``docs/model-rules.md`` that needs no image bytes; a
    broken rule is a ``ValidationError`` (use :func:`~workers.contract.validate_request` to
    get an :class:`InputInvalid` instead, and to check the images' bytes). Fields left None are
    not sent, so the service applies its defaults.

    Attributes:
        model: The model to run.
        prompt: The instruction: the text item of a messages body, ``input.prompt`` for
            wan2.5-i2i-preview.
        images: Image sources, in the order the prompt numbers them: http(s) URLs, data URIs,
            ``s3://bucket/key`` or local paths (``file://`` or plain).
        negative_prompt: What the image should not show (wan2.6, wan2.5).
        size: A tier (``1K``, ``2K``, ``4K``) or ``W*H``.
        n: Number of images to generate.
        seed: Random seed, 0 to 2147483647.
        watermark: Whether to add the service's watermark.
        prompt_extend: Whether the service may rewrite the prompt (wan2.6 edit, wan2.5).
        thinking_mode: Whether wan2.7 may reason before drawing.
        enable_sequential: Ask wan2.7 for an image set.
        enable_interleave: Ask wan2.6 for interleaved text and images.
        max_images: Most images in a wan2.6 interleaved answer.
        bbox_list: Per input image, up to two boxes to edit (wan2.7).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: Annotated[ModelName, BeforeValidator(_known_model)]
    prompt: Text
    images: Sources = ()
    negative_prompt: Text | None = None
    size: Text | None = None
    n: StrictInt | None = None
    seed: StrictInt | None = None
    watermark: StrictBool | None = None
    prompt_extend: StrictBool | None = None
    thinking_mode: StrictBool | None = None
    enable_sequential: StrictBool | None = None
    enable_interleave: StrictBool | None = None
    max_images: StrictInt | None = None
    bbox_list: BboxList | None = None

    @model_validator(mode="after")
    def _check_model_rules(self) -> Self:
        try:
            check_request(self)
        except InputInvalid as exc:
            raise as_pydantic_error(exc) from exc
        return self

    @property
    def protocol(self) -> Protocol:
        """The wire protocol of the request's model."""
        return protocol_of(self.model)

    def to_body(self, resolve: Callable[[str], str] | None = None) -> dict[str, Any]:
        """Return the exact JSON body to submit for this request.

        Args:
            resolve: Maps a source that cannot go on the wire as is (``s3://``, a local path,
                ``file://``) to an http(s) URL or a data URI.

        Returns:
            ``{"model", "input", "parameters"}`` in the model's protocol, None values left out.

        Raises:
            InputInvalid: A source needs resolving and no ``resolve`` was given, or ``resolve``
                returned something that cannot go on the wire either.
        """
        return build_body(self, resolve)

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> EditRequest:
        """Read a wire body of either protocol into a request.

        Unknown keys inside ``parameters`` are ignored (the official SDK sends ``is_async``);
        unknown keys anywhere else are refused. A None parameter counts as absent. Sources
        are not required to be wire-ready, so a body may carry ``s3://`` sources to resolve.

        Raises:
            InputInvalid: The body is malformed or breaks a rule; ``field`` is a wire path
                (``input.messages[0].content[2].image``, ``parameters.size``).
        """
        fields, paths = parse_body(body)
        try:
            return cls.model_validate(fields)
        except ValidationError as exc:
            problem = first_problem(exc)
            raise InputInvalid(paths.of(problem.field), problem.rule, problem.value) from exc


FIELDS = tuple(EditRequest.model_fields)
"""The field names of an edit request, in order."""
