"""Validation of submitted request bodies for the emulated Wan models.

`validate_submit()` checks a parsed JSON body against the rule table of docs/model-rules.md
(held in emulator.rules), resolves its input images and returns a `ValidatedRequest`. A bad
request raises `RequestRejected` with the answer the real service gives:

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

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, NamedTuple, TypeVar

from emulator.images import image_dimensions
from emulator.rules import (
    ENDPOINT_PATHS,
    IMAGE_FORMATS,
    MAX_INTERLEAVE_IMAGES,
    MAX_NEGATIVE_PROMPT_CHARS,
    MAX_SEED,
    MIB_BYTES,
    MODELS,
    Endpoint,
    ModelRules,
    ModeRules,
    WireProtocol,
    bbox_violation,
    image_violation,
    mode_rules,
    size_violation,
)
from emulator.sizing import output_size

__all__ = ["Endpoint", "InputImage", "RequestRejected", "ValidatedRequest", "validate_submit"]

_T = TypeVar("_T", bool, int, str)
_KIND_NAMES: Final[dict[type, str]] = {bool: "a boolean", int: "an integer", str: "a string"}
_MAX_ECHO_CHARS: Final = 80

LoadSource = Callable[[str], bytes | None]
_Field = tuple[str, str]  # (wire field path, value)


class RequestRejected(Exception):
    """An error answer: HTTP status, DashScope error code and message.

    Attributes:
        status: HTTP status code.
        code: DashScope error code, e.g. "InvalidParameter".
        message: Human-readable message naming the offending field.
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(status, code, message)
        self.status = status
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


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
        output_size: (width, height) of the results, from emulator.sizing.output_size().
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
    rules, raw_input, params = _envelope(body, endpoint)
    wire = (
        _read_messages(raw_input)
        if rules.protocol == "messages"
        else _read_prompt_images(raw_input)
    )
    sequential = _switch(params, "enable_sequential", rules)
    interleave = _switch(params, "enable_interleave", rules)
    count = len(wire.sources)
    mode = mode_rules(rules, image_count=count, sequential=sequential, interleave=interleave)
    context = f"{rules.name} in {mode.label}" if mode.label else rules.name
    if not mode.images[0] <= count <= mode.images[1]:
        low, high = mode.images
        raise _invalid(
            f"{wire.images_path} must hold between {low} and {high} images for {context}, "
            f"got {count}"
        )
    prompt_path, prompt = wire.prompt
    _check_range(
        f"{prompt_path} length", len(prompt), (1, rules.max_text_chars), rules.name, " characters"
    )
    negative = _check_negative_prompt(params if rules.protocol == "messages" else raw_input, rules)
    n = _int_param(params, "n", mode.n, context)
    seed = _int_param(params, "seed", (0, MAX_SEED), rules.name)
    _typed(params, "parameters", "watermark", bool)
    prompt_extend = _check_optional(params, rules, mode)
    size = _typed(params, "parameters", "size", str)
    if size is not None and (message := size_violation(size, rules, mode, context)):
        raise _invalid(message)

    images = tuple(
        _resolve(path, src, rules, oss_resolve=oss_resolve, load_source=load_source)
        for path, src in wire.sources
    )
    sizes = [(i.width, i.height) if i.width and i.height else None for i in images]
    bbox_list = params.get("bbox_list")
    if bbox_list is not None and (message := bbox_violation(bbox_list, sizes, rules.name)):
        raise _invalid(message)
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


# ---------------------------------------------------------------------------- small helpers


def _invalid(message: str) -> RequestRejected:
    """A 400 InvalidParameter answer."""
    return RequestRejected(400, "InvalidParameter", message)


def _json_type(value: Any) -> str:
    """The JSON type name of a parsed value, for error messages."""
    for kind, name in ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string")):
        if isinstance(value, kind):
            return name
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else "null" if value is None else "unknown"


def _typed(container: dict[str, Any], prefix: str, key: str, kind: type[_T]) -> _T | None:
    """`container[key]` when it has JSON type `kind` (a bool is no int), None when absent."""
    value = container.get(key)
    if value is None:
        return None
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    raise _invalid(f"{prefix}.{key} must be {_KIND_NAMES[kind]}, got {_json_type(value)}")


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_ECHO_CHARS else text[:_MAX_ECHO_CHARS] + "..."


def _check_range(
    what: str, value: int, bounds: tuple[int, int], context: str, unit: str = ""
) -> None:
    low, high = bounds
    if low <= value <= high:
        return
    bound = f"must be {low}" if low == high else f"must be between {low} and {high}"
    suffix = f" for {context}" if context else ""
    raise _invalid(f"{what} {bound}{unit}{suffix}, got {value}")


def _int_param(
    params: dict[str, Any], key: str, bounds: tuple[int, int], context: str
) -> int | None:
    value = _typed(params, "parameters", key, int)
    if value is not None:
        _check_range(f"parameters.{key}", value, bounds, context)
    return value


def _switch(params: dict[str, Any], key: str, rules: ModelRules) -> bool:
    """Read a mode switch; `true` is refused unless the model has that mode."""
    value = bool(_typed(params, "parameters", key, bool))
    allowed = rules.sequential if key == "enable_sequential" else rules.interleave
    if value and not allowed:
        raise _invalid(f"parameters.{key}=true is not supported by {rules.name}")
    return value


# ------------------------------------------------------------------------------- body shape


def _envelope(body: Any, endpoint: Endpoint) -> tuple[ModelRules, dict[str, Any], dict[str, Any]]:
    """Check the top level; return the model's rules, `input` and `parameters`."""
    if not isinstance(body, dict):
        raise _invalid(f"The request body must be a JSON object, got {_json_type(body)}")
    model = body.get("model")
    if model is None or model == "":
        raise RequestRejected(
            400, "BadRequest.EmptyModel", 'Required parameter "model" missing from request.'
        )
    if not isinstance(model, str):
        raise _invalid(f"model must be a string, got {_json_type(model)}")
    raw_input = body.get("input")
    if raw_input is None or raw_input == {}:
        raise RequestRejected(
            400, "BadRequest.EmptyInput", "Required input parameter missing from request."
        )
    rules = MODELS.get(model)
    if rules is None:
        raise RequestRejected(404, "ModelNotFound", f"Model not found ({_clip(model)})")
    if endpoint not in rules.endpoints:
        paths = " or ".join(f"POST /api/v1{ENDPOINT_PATHS[e]}" for e in rules.endpoints)
        raise _invalid(
            f"model {model} is not served at /api/v1{ENDPOINT_PATHS[endpoint]}; use {paths}"
        )
    if not isinstance(raw_input, dict):
        raise _invalid(f"input must be an object, got {_json_type(raw_input)}")
    params = body.get("parameters")
    if params is None:
        params = {}
    elif not isinstance(params, dict):
        raise _invalid(f"parameters must be an object, got {_json_type(params)}")
    return rules, raw_input, params


class _Wire(NamedTuple):
    """The protocol-specific parts of `input`, with their wire field paths."""

    prompt: _Field
    sources: list[_Field]
    images_path: str


def _read_messages(raw_input: dict[str, Any]) -> _Wire:
    """Read a messages-protocol `input`: one user message, one text item, image items."""
    messages = raw_input.get("messages")
    if not isinstance(messages, list):
        raise _invalid(f"input.messages must be an array, got {_json_type(messages)}")
    if len(messages) != 1:
        raise _invalid(f"input.messages must hold exactly one message, got {len(messages)}")
    message = messages[0]
    if not isinstance(message, dict):
        raise _invalid(f"input.messages[0] must be an object, got {_json_type(message)}")
    if message.get("role") != "user":
        raise _invalid(f"input.messages[0].role must be 'user', got {message.get('role')!r}")
    content = message.get("content")
    if not isinstance(content, list):
        raise _invalid(f"input.messages[0].content must be an array, got {_json_type(content)}")
    texts: list[_Field] = []
    sources: list[_Field] = []
    for i, item in enumerate(content):
        path = f"input.messages[0].content[{i}]"
        if not isinstance(item, dict) or ("text" in item) == ("image" in item):
            raise _invalid(f"{path} must be an object with either a text or an image key")
        key = "text" if "text" in item else "image"
        value = _typed(item, path, key, str)
        if value is None:
            raise _invalid(f"{path}.{key} must be a string, got null")
        (texts if key == "text" else sources).append((f"{path}.{key}", value))
    if len(texts) != 1:
        raise _invalid(
            f"input.messages[0].content must hold exactly one text item, got {len(texts)}"
        )
    return _Wire(texts[0], sources, "input.messages[0].content")


def _read_prompt_images(raw_input: dict[str, Any]) -> _Wire:
    """Read a prompt/images `input`: a prompt string and an array of image sources."""
    prompt = _typed(raw_input, "input", "prompt", str)
    if prompt is None:
        raise _invalid("input.prompt is required")
    images = raw_input.get("images")
    if images is None:
        images = []
    if not isinstance(images, list):
        raise _invalid(f"input.images must be an array, got {_json_type(images)}")
    sources: list[_Field] = []
    for i, source in enumerate(images):
        if not isinstance(source, str):
            raise _invalid(f"input.images[{i}] must be a string, got {_json_type(source)}")
        sources.append((f"input.images[{i}]", source))
    return _Wire(("input.prompt", prompt), sources, "input.images")


def _check_negative_prompt(container: dict[str, Any], rules: ModelRules) -> str | None:
    """Check `negative_prompt`, read from `parameters` or `input` as the protocol places it."""
    where = "parameters" if rules.protocol == "messages" else "input"
    negative = _typed(container, where, "negative_prompt", str)
    if negative is not None and not rules.negative_prompt:
        raise _invalid(f"{where}.negative_prompt is not supported by {rules.name}")
    if negative is not None:
        bounds = (0, MAX_NEGATIVE_PROMPT_CHARS)
        _check_range(f"{where}.negative_prompt length", len(negative), bounds, "", " characters")
    return negative


def _check_optional(params: dict[str, Any], rules: ModelRules, mode: ModeRules) -> bool | None:
    """Check the parameters some models or modes refuse; return `prompt_extend`."""
    model = rules.name
    for key, supported in (("bbox_list", rules.bbox_list), ("thinking_mode", rules.thinking_mode)):
        if params.get(key) is not None and not supported:
            raise _invalid(f"parameters.{key} is not supported by {model}")
    thinking = params.get("thinking_mode")
    if thinking is not None and not isinstance(thinking, bool | str):
        raise _invalid(f"parameters.thinking_mode must be a boolean, got {_json_type(thinking)}")
    for key, in_model, in_mode, needs in (
        ("prompt_extend", rules.prompt_extend, mode.prompt_extend, "false"),
        ("max_images", rules.interleave, mode.max_images, "true"),
    ):
        if params.get(key) is None or in_mode:
            continue
        if in_model:
            raise _invalid(
                f"parameters.{key} is only allowed with enable_interleave={needs} for {model}"
            )
        raise _invalid(f"parameters.{key} is not supported by {model}")
    _int_param(params, "max_images", (1, MAX_INTERLEAVE_IMAGES), model)
    return _typed(params, "parameters", "prompt_extend", bool)


def _resolve(
    path: str, source: str, rules: ModelRules, *, oss_resolve: bool, load_source: LoadSource
) -> InputImage:
    """Resolve one image source to an `InputImage`, checking its bytes when available."""
    scheme = source[:8].lower()
    mime: str | None = None
    if scheme.startswith(("http://", "https://")):
        data = load_source(source)
    elif scheme.startswith("data:"):
        mime, data = _decode_data_uri(path, source)
    elif scheme.startswith("oss://"):
        if not oss_resolve:
            raise RequestRejected(
                400,
                "InvalidURL",
                f"{path}: an oss:// URL is resolved only with the header "
                "X-DashScope-OssResourceResolve: enable",
            )
        data = load_source(source)
        if data is None:
            raise RequestRejected(400, "InvalidURL", f"{path}: {_clip(source)} not found")
    else:
        raise RequestRejected(
            400, "InvalidURL", f"Invalid URL provided in your request. ({path}: {_clip(source)})"
        )
    if data is None:
        return InputImage(source=source, data=None, width=None, height=None)
    if len(data) > rules.max_file_bytes:
        raise _invalid(
            f"{path} file size must be at most {rules.max_file_bytes // MIB_BYTES} MB "
            f"for {rules.name}, got {len(data)} bytes"
        )
    try:
        info = image_dimensions(data)
    except ValueError as exc:
        raise _invalid(f"{path} is not a decodable image") from exc
    if (message := image_violation(path, info, rules)) is not None:
        raise _invalid(message)
    if mime is not None and IMAGE_FORMATS[info.format] != mime:
        raise _invalid(f"{path} is declared as {mime} but holds {info.format} data")
    return InputImage(source=source, data=data, width=info.width, height=info.height)


def _decode_data_uri(path: str, source: str) -> tuple[str, bytes]:
    """Split `data:<mime>;base64,<data>` into the MIME type and the decoded bytes."""
    header, comma, payload = source.partition(",")
    mime, *options = header[len("data:") :].split(";")
    mime = mime.strip().lower()
    if not comma or "base64" not in (option.strip().lower() for option in options):
        raise _invalid(f"{path} must be a data URI of the form data:<mime>;base64,<data>")
    if mime not in IMAGE_FORMATS.values():
        allowed = ", ".join(IMAGE_FORMATS.values())
        raise _invalid(f"{path} MIME type must be one of {allowed}, got {_clip(mime)!r}")
    try:
        return mime, base64.b64decode(payload, validate=True)
    except binascii.Error:
        pass
    try:  # line-wrapped base64 (MIME style) is still base64
        return mime, base64.b64decode("".join(payload.split()), validate=True)
    except binascii.Error as exc:
        raise _invalid(f"{path} is not valid base64") from exc
