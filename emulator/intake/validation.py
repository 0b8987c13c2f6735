"""Validation of submitted request bodies for the emulated Wan models.

`validate_submit()` checks a parsed JSON body against the rule table of docs/model-rules.md
(emulator.intake.table and .checks), resolves its input images (emulator.intake.inputs) and
returns a `ValidatedRequest`. A bad request raises `RequestRejected` (emulator.errors.ApiError)
with the answer the real service gives:

    RequestRejected(status, code, message)
    ├── 400 InvalidParameter        malformed body, a type error or a broken rule; the message
    │                               names the wire field path and the rule
    ├── 400 BadRequest.EmptyModel   no `model`
    ├── 400 BadRequest.EmptyInput   no (or an empty) `input`
    ├── 400 InvalidURL              an image source the service cannot resolve
    └── 404 ModelNotFound           an unknown model

Unknown keys in `parameters` and `input` are ignored (the official SDK sends `is_async`), and
a key whose value is null counts as absent (the SDKs leave out None values). Cheap checks run
first; image sources are fetched and decoded only for an otherwise valid request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emulator.constants import MAX_SEED
from emulator.errors import RequestRejected, invalid_parameter
from emulator.intake.body import envelope, read_input
from emulator.intake.checks import bbox_violation, size_violation
from emulator.intake.fields import check_range, int_param, json_type, typed
from emulator.intake.inputs import InputImage, LoadSource, resolve_image
from emulator.intake.sizing import output_size
from emulator.intake.table import (
    MAX_INTERLEAVE_IMAGES,
    MAX_NEGATIVE_PROMPT_CHARS,
    Endpoint,
    ModelRules,
    ModeRules,
    WireProtocol,
    mode_rules,
)

__all__ = ["Endpoint", "InputImage", "RequestRejected", "ValidatedRequest", "validate_submit"]


@dataclass(frozen=True)
class ValidatedRequest:
    """A request that passed validation, normalised across both wire protocols.

    Attributes:
        model: Model name.
        protocol: "messages" (wan2.7/wan2.6) or "prompt_images" (wan2.5).
        prompt: The prompt text.
        negative_prompt: The negative prompt, if given.
        images: Input images in order (image 1 first).
        n: Number of images to produce (the mode's default when not given).
        seed: The seed, if given.
        size: `parameters.size` as given.
        output_size: (width, height) of the results, from emulator.intake.sizing.output_size().
        prompt_extend: `prompt_extend` as given.
        interleave: wan2.6-image's `enable_interleave` (False for other models).
        parameters: The raw `parameters` object as received.
    """

    model: str
    protocol: WireProtocol
    prompt: str
    negative_prompt: str | None
    images: tuple[InputImage, ...]
    n: int
    seed: int | None
    size: str | None
    output_size: tuple[int, int]
    prompt_extend: bool | None
    interleave: bool
    parameters: dict[str, Any]


def validate_submit(
    body: Any, *, endpoint: Endpoint, oss_resolve: bool, load_source: LoadSource
) -> ValidatedRequest:
    """Validate a submitted body and resolve its input images.

    Args:
        body: The parsed JSON body.
        endpoint: Which endpoint received it: "multimodal" (sync messages), "image_generation"
            (async messages) or "image2image" (async wan2.5).
        oss_resolve: Whether the request carried `X-DashScope-OssResourceResolve: enable`.
        load_source: Returns the bytes behind an http(s) URL (None when the server does not
            fetch it) or behind an `oss://` upload (None when there is no such upload).

    Returns:
        The validated request.

    Raises:
        RequestRejected: The body breaks a rule; carries the status, code and message to send.
    """
    rules, raw_input, params = envelope(body, endpoint)
    wire = read_input(raw_input, rules)
    sequential = _switch(params, "enable_sequential", rules)
    interleave = _switch(params, "enable_interleave", rules)
    count = len(wire.sources)
    mode = mode_rules(rules, image_count=count, sequential=sequential, interleave=interleave)
    context = f"{rules.name} in {mode.label}" if mode.label else rules.name
    if not mode.images[0] <= count <= mode.images[1]:
        low, high = mode.images
        raise invalid_parameter(
            f"{wire.images_path} must hold between {low} and {high} images for {context}, "
            f"got {count}"
        )
    prompt_path, prompt = wire.prompt
    check_range(
        f"{prompt_path} length", len(prompt), (1, rules.max_text_chars), rules.name, " characters"
    )
    negative = _check_negative_prompt(params if rules.protocol == "messages" else raw_input, rules)
    n = int_param(params, "n", mode.n, context)
    seed = int_param(params, "seed", (0, MAX_SEED), rules.name)
    typed(params, "parameters", "watermark", bool)
    prompt_extend = _check_optional(params, rules, mode)
    size = typed(params, "parameters", "size", str)
    if size is not None and (message := size_violation(size, rules, mode, context)):
        raise invalid_parameter(message)

    images = tuple(
        resolve_image(path, src, rules, oss_resolve=oss_resolve, load_source=load_source)
        for path, src in wire.sources
    )
    sizes = [(i.width, i.height) if i.width and i.height else None for i in images]
    bbox_list = params.get("bbox_list")
    if bbox_list is not None and (message := bbox_violation(bbox_list, sizes, rules.name)):
        raise invalid_parameter(message)
    return ValidatedRequest(
        model=rules.name,
        protocol=rules.protocol,
        prompt=prompt,
        negative_prompt=negative,
        images=images,
        n=mode.default_n if n is None else n,
        seed=seed,
        size=size,
        output_size=output_size(
            rules.name, size, sizes[-1] if sizes else None, interleave=interleave
        ),
        prompt_extend=prompt_extend,
        interleave=interleave,
        parameters=dict(params),
    )


def _switch(params: dict[str, Any], key: str, rules: ModelRules) -> bool:
    """Read a mode switch; `true` is refused unless the model has that mode."""
    value = bool(typed(params, "parameters", key, bool))
    allowed = rules.sequential if key == "enable_sequential" else rules.interleave
    if value and not allowed:
        raise invalid_parameter(f"parameters.{key}=true is not supported by {rules.name}")
    return value


def _check_negative_prompt(container: dict[str, Any], rules: ModelRules) -> str | None:
    """Check `negative_prompt`, read from `parameters` or `input` as the protocol places it."""
    where = "parameters" if rules.protocol == "messages" else "input"
    negative = typed(container, where, "negative_prompt", str)
    if negative is not None and not rules.negative_prompt:
        raise invalid_parameter(f"{where}.negative_prompt is not supported by {rules.name}")
    if negative is not None:
        bounds = (0, MAX_NEGATIVE_PROMPT_CHARS)
        check_range(f"{where}.negative_prompt length", len(negative), bounds, "", " characters")
    return negative


def _check_optional(params: dict[str, Any], rules: ModelRules, mode: ModeRules) -> bool | None:
    """Check the parameters some models or modes refuse; return `prompt_extend`."""
    model = rules.name
    for key, supported in (("bbox_list", rules.bbox_list), ("thinking_mode", rules.thinking_mode)):
        if params.get(key) is not None and not supported:
            raise invalid_parameter(f"parameters.{key} is not supported by {model}")
    thinking = params.get("thinking_mode")
    if thinking is not None and not isinstance(thinking, bool | str):
        raise invalid_parameter(
            f"parameters.thinking_mode must be a boolean, got {json_type(thinking)}"
        )
    for key, in_model, in_mode, needs in (
        ("prompt_extend", rules.prompt_extend, mode.prompt_extend, "false"),
        ("max_images", rules.interleave, mode.max_images, "true"),
    ):
        if params.get(key) is None or in_mode:
            continue
        if in_model:
            raise invalid_parameter(
                f"parameters.{key} is only allowed with enable_interleave={needs} for {model}"
            )
        raise invalid_parameter(f"parameters.{key} is not supported by {model}")
    int_param(params, "max_images", (1, MAX_INTERLEAVE_IMAGES), model)
    return typed(params, "parameters", "prompt_extend", bool)
