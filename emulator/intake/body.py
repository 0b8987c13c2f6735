"""The shape of a submitted body: its envelope, and `input` as each wire protocol lays it out.

`envelope()` checks the top level (model, input, parameters) and finds the model's rules;
`read_input()` reads the prompt and the image sources out of `input`, by the model's protocol:
``messages`` (wan2.7, wan2.6: one user message of one text item and image items) or
``prompt_images`` (wan2.5: a prompt string and an array of image sources). Unknown keys are
ignored (the official SDK sends `is_async`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from emulator.constants import API_PREFIX
from emulator.errors import empty_input, empty_model, invalid_parameter, model_not_found
from emulator.intake.fields import clip, json_type, typed
from emulator.intake.table import ENDPOINT_PATHS, MODELS, Endpoint, ModelRules

Field = tuple[str, str]
"""(wire field path, value)"""


class Wire(NamedTuple):
    """The protocol-specific parts of `input`, with their wire field paths."""

    prompt: Field
    sources: list[Field]
    images_path: str


def envelope(body: Any, endpoint: Endpoint) -> tuple[ModelRules, dict[str, Any], dict[str, Any]]:
    """Check the top level; return the model's rules, `input` and `parameters`."""
    if not isinstance(body, dict):
        raise invalid_parameter(f"The request body must be a JSON object, got {json_type(body)}")
    model = body.get("model")
    if model is None or model == "":
        raise empty_model()
    if not isinstance(model, str):
        raise invalid_parameter(f"model must be a string, got {json_type(model)}")
    raw_input = body.get("input")
    if raw_input is None or raw_input == {}:
        raise empty_input()
    rules = MODELS.get(model)
    if rules is None:
        raise model_not_found(clip(model))
    if endpoint not in rules.endpoints:
        paths = " or ".join(f"POST {API_PREFIX}{ENDPOINT_PATHS[e]}" for e in rules.endpoints)
        raise invalid_parameter(
            f"model {model} is not served at {API_PREFIX}{ENDPOINT_PATHS[endpoint]}; use {paths}"
        )
    if not isinstance(raw_input, dict):
        raise invalid_parameter(f"input must be an object, got {json_type(raw_input)}")
    params = body.get("parameters")
    if params is None:
        params = {}
    elif not isinstance(params, dict):
        raise invalid_parameter(f"parameters must be an object, got {json_type(params)}")
    return rules, raw_input, params


def read_input(raw_input: dict[str, Any], rules: ModelRules) -> Wire:
    """Read `input` by the protocol of `rules`' model."""
    if rules.protocol == "messages":
        return _read_messages(raw_input)
    return _read_prompt_images(raw_input)


def _read_messages(raw_input: dict[str, Any]) -> Wire:
    """Read a messages-protocol `input`: one user message, one text item, image items."""
    messages = raw_input.get("messages")
    if not isinstance(messages, list):
        raise invalid_parameter(f"input.messages must be an array, got {json_type(messages)}")
    if len(messages) != 1:
        raise invalid_parameter(
            f"input.messages must hold exactly one message, got {len(messages)}"
        )
    message = messages[0]
    if not isinstance(message, dict):
        raise invalid_parameter(f"input.messages[0] must be an object, got {json_type(message)}")
    if message.get("role") != "user":
        raise invalid_parameter(
            f"input.messages[0].role must be 'user', got {message.get('role')!r}"
        )
    content = message.get("content")
    if not isinstance(content, list):
        raise invalid_parameter(
            f"input.messages[0].content must be an array, got {json_type(content)}"
        )
    texts: list[Field] = []
    sources: list[Field] = []
    for i, item in enumerate(content):
        path = f"input.messages[0].content[{i}]"
        if not isinstance(item, dict) or ("text" in item) == ("image" in item):
            raise invalid_parameter(f"{path} must be an object with either a text or an image key")
        key = "text" if "text" in item else "image"
        value = typed(item, path, key, str)
        if value is None:
            raise invalid_parameter(f"{path}.{key} must be a string, got null")
        (texts if key == "text" else sources).append((f"{path}.{key}", value))
    if len(texts) != 1:
        raise invalid_parameter(
            f"input.messages[0].content must hold exactly one text item, got {len(texts)}"
        )
    return Wire(texts[0], sources, "input.messages[0].content")


def _read_prompt_images(raw_input: dict[str, Any]) -> Wire:
    """Read a prompt/images `input`: a prompt string and an array of image sources."""
    prompt = typed(raw_input, "input", "prompt", str)
    if prompt is None:
        raise invalid_parameter("input.prompt is required")
    images = raw_input.get("images")
    if images is None:
        images = []
    if not isinstance(images, list):
        raise invalid_parameter(f"input.images must be an array, got {json_type(images)}")
    sources: list[Field] = []
    for i, source in enumerate(images):
        if not isinstance(source, str):
            raise invalid_parameter(f"input.images[{i}] must be a string, got {json_type(source)}")
        sources.append((f"input.images[{i}]", source))
    return Wire(("input.prompt", prompt), sources, "input.images")
