"""The wire bodies of the two protocols, to and from an edit request's fields.

messages (wan2.7-image-pro, wan2.7-image, wan2.6-image)::

    {"model": ..., "input": {"messages": [{"role": "user", "content": [
        {"text": prompt}, {"image": src}, ...]}]}, "parameters": {..., "negative_prompt"?: ...}}

prompt_images (wan2.5-i2i-preview)::

    {"model": ..., "input": {"prompt": ..., "images": [...], "negative_prompt"?: ...},
     "parameters": {...}}

Values that are None are left out, as the official SDK does. Unknown keys in ``parameters``
are ignored (the SDK sends ``is_async``); anything else unknown is refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from workers.contract.models import ModelName, Protocol, protocol_of
from workers.contract.problems import key_name, short_repr
from workers.contract.sources import WIRE_KINDS, source_kind
from workers.errors import InputInvalid

if TYPE_CHECKING:
    from workers.contract.request import EditRequest

PARAMETERS: Final = (
    "size",
    "n",
    "seed",
    "watermark",
    "prompt_extend",
    "thinking_mode",
    "enable_sequential",
    "enable_interleave",
    "max_images",
    "bbox_list",
)
"""Request fields that travel in ``parameters`` under their own name, in body order."""

_BODY_KEYS: Final = ("model", "input", "parameters")
_MESSAGES: Final = "input.messages"
_MESSAGE: Final = "input.messages[0]"
_CONTENT: Final = "input.messages[0].content"
_FIELD: Final = re.compile(r"(?P<root>[a-z_]+)(?P<rest>.*)")
_INDEX: Final = re.compile(r"\[(\d+)\]")


def build_body(req: EditRequest, resolve: Callable[[str], str] | None) -> dict[str, Any]:
    """Return the wire body of a request (see :meth:`EditRequest.to_body`)."""
    images = [_wire_source(src, index, resolve) for index, src in enumerate(req.images)]
    parameters: dict[str, Any] = {}
    for name in PARAMETERS:
        value = getattr(req, name)
        if value is not None:
            parameters[name] = _lists(value)
    body_input: dict[str, Any]
    if req.protocol is Protocol.MESSAGES:
        content = [{"text": req.prompt}, *({"image": src} for src in images)]
        body_input = {"messages": [{"role": "user", "content": content}]}
        if req.negative_prompt is not None:
            parameters["negative_prompt"] = req.negative_prompt
    else:
        body_input = {"prompt": req.prompt, "images": images}
        if req.negative_prompt is not None:
            body_input["negative_prompt"] = req.negative_prompt
    return {"model": req.model.value, "input": body_input, "parameters": parameters}


def _wire_source(src: str, index: int, resolve: Callable[[str], str] | None) -> str:
    field_path = f"images[{index}]"
    if source_kind(src, field_path) in WIRE_KINDS:
        return src
    if resolve is None:
        rule = "s3:// and local sources must be resolved to a URL or data URI before sending"
        raise InputInvalid(field_path, rule, short_repr(src))
    resolved = resolve(src)
    if source_kind(resolved, field_path) not in WIRE_KINDS:
        rule = "the resolver must return an http(s) URL or a data URI"
        raise InputInvalid(field_path, rule, short_repr(resolved))
    return resolved


def _lists(value: object) -> object:
    if isinstance(value, tuple):
        return [_lists(item) for item in value]
    return value


@dataclass
class WirePaths:
    """Where each request field was found in a wire body, to name it in errors.

    Attributes:
        prompt: Path of the prompt.
        negative_prompt: Path of the negative prompt.
        images: Path of the image list.
        image_items: Path of each image, in order.
    """

    prompt: str
    negative_prompt: str
    images: str
    image_items: list[str] = field(default_factory=list)

    def of(self, request_field: str) -> str:
        """Translate a request field path (``images[1]``, ``bbox_list[0]``) to its wire path."""
        match = _FIELD.fullmatch(request_field)
        if match is None:
            return request_field
        root, rest = match["root"], match["rest"]
        if root == "images":
            index = _INDEX.match(rest)
            if index is None:
                return self.images + rest
            position = int(index[1])
            if position < len(self.image_items):
                return self.image_items[position] + rest[index.end() :]
            return f"{self.images}{rest}"
        if root == "prompt":
            return self.prompt + rest
        if root == "negative_prompt":
            return self.negative_prompt + rest
        if root == "model":
            return request_field
        return f"parameters.{request_field}"


def parse_body(body: Mapping[str, Any]) -> tuple[dict[str, Any], WirePaths]:
    """Read a wire body into request fields, checking the protocol's structure.

    Returns:
        The request fields (not yet validated) and where each was found.

    Raises:
        InputInvalid: The body does not have its protocol's shape.
    """
    if not isinstance(body, Mapping):
        raise InputInvalid("body", "a request body must be a JSON object", short_repr(body))
    _only_keys(body, _BODY_KEYS, "", "a request body")
    model = body.get("model")
    if not isinstance(model, str) or model not in set(ModelName):
        rule = f"model must be one of {', '.join(name.value for name in ModelName)}"
        raise InputInvalid("model", rule, short_repr(model))
    protocol = protocol_of(ModelName(model))
    body_input = _mapping(body.get("input"), "input")
    parameters = _mapping(body.get("parameters", {}), "parameters")
    if protocol is Protocol.MESSAGES:
        fields, paths = _parse_messages(body_input)
        if parameters.get("negative_prompt") is not None:
            fields["negative_prompt"] = parameters["negative_prompt"]
    else:
        fields, paths = _parse_prompt_images(body_input)
    fields["model"] = model
    for name in PARAMETERS:
        if parameters.get(name) is not None:
            fields[name] = parameters[name]
    return fields, paths


def _parse_messages(body_input: Mapping[str, Any]) -> tuple[dict[str, Any], WirePaths]:
    _only_keys(body_input, ("messages",), "input", "the messages protocol's input")
    messages = body_input.get("messages")
    if not isinstance(messages, list) or len(messages) != 1:
        rule = "input.messages must be a list of exactly one message"
        raise InputInvalid(_MESSAGES, rule, short_repr(messages))
    message = _mapping(messages[0], _MESSAGE)
    _only_keys(message, ("role", "content"), _MESSAGE, "a message")
    if message.get("role") != "user":
        raise InputInvalid(f"{_MESSAGE}.role", 'the role must be "user"', short_repr(message))
    content = message.get("content")
    if not isinstance(content, list):
        raise InputInvalid(_CONTENT, "content must be a list of items", short_repr(content))
    paths = WirePaths(prompt="", negative_prompt="parameters.negative_prompt", images=_CONTENT)
    fields: dict[str, Any] = {"images": []}
    for index, item in enumerate(content):
        item_path = f"{_CONTENT}[{index}]"
        if not isinstance(item, Mapping) or len(item) != 1 or not {"text", "image"} >= set(item):
            rule = 'each content item must be {"text": ...} or {"image": ...}'
            raise InputInvalid(item_path, rule, short_repr(item))
        if "image" in item:
            fields["images"].append(item["image"])
            paths.image_items.append(f"{item_path}.image")
        elif "prompt" in fields:
            raise InputInvalid(_CONTENT, "content must hold exactly one text item", "2 or more")
        else:
            fields["prompt"] = item["text"]
            paths.prompt = f"{item_path}.text"
    if "prompt" not in fields:
        raise InputInvalid(_CONTENT, "content must hold exactly one text item", "none")
    return fields, paths


def _parse_prompt_images(body_input: Mapping[str, Any]) -> tuple[dict[str, Any], WirePaths]:
    allowed = ("prompt", "images", "negative_prompt")
    _only_keys(body_input, allowed, "input", "the prompt/images protocol's input")
    images = body_input.get("images", [])
    if not isinstance(images, list):
        raise InputInvalid("input.images", "images must be a list", short_repr(images))
    paths = WirePaths(
        prompt="input.prompt",
        negative_prompt="input.negative_prompt",
        images="input.images",
        image_items=[f"input.images[{index}]" for index in range(len(images))],
    )
    fields: dict[str, Any] = {"images": images}
    if "prompt" in body_input:
        fields["prompt"] = body_input["prompt"]
    if body_input.get("negative_prompt") is not None:
        fields["negative_prompt"] = body_input["negative_prompt"]
    return fields, paths


def _mapping(value: object, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InputInvalid(path, "must be a JSON object", short_repr(value))
    return value


def _only_keys(mapping: Mapping[str, Any], allowed: tuple[str, ...], path: str, what: str) -> None:
    for key in mapping:
        if key not in allowed:
            where = f"{path}.{key_name(key)}" if path else key_name(key)
            rule = f"{what} may hold only {', '.join(allowed)}"
            raise InputInvalid(where, rule, short_repr(key))
