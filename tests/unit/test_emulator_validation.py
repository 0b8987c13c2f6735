"""Tests for emulator.intake.validation: the rule table of docs/model-rules.md on wire bodies."""

from __future__ import annotations

import base64
import io
import pickle
from collections.abc import Mapping
from typing import Any

import pytest
from PIL import Image

from emulator.intake.validation import Endpoint, RequestRejected, ValidatedRequest, validate_submit

PRO, WAN27, WAN26, WAN25 = "wan2.7-image-pro", "wan2.7-image", "wan2.6-image", "wan2.5-i2i-preview"
MESSAGE_MODELS = (PRO, WAN27, WAN26)
URL = "https://example.com/input.png"
MIB = 1024 * 1024


# ------------------------------------------------------------------------------- helpers


def encode(width: int, height: int, fmt: str = "PNG", mode: str = "RGB", **save: Any) -> bytes:
    """A small picture in `fmt`."""
    out = io.BytesIO()
    Image.new(mode, (width, height), (180, 40, 40, 255)[: len(mode)]).save(out, fmt, **save)
    return out.getvalue()


def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def body(
    model: str,
    images: tuple[str, ...] = (),
    *,
    text: str = "Spray the graffiti onto the car",
    negative: str | None = None,
    **params: Any,
) -> dict[str, Any]:
    """A wire body in the model's protocol; `negative` goes where the protocol puts it."""
    if model == WAN25:
        raw_input: dict[str, Any] = {"prompt": text, "images": list(images)}
        if negative is not None:
            raw_input["negative_prompt"] = negative
    else:
        content = [{"image": src} for src in images] + [{"text": text}]
        raw_input = {"messages": [{"role": "user", "content": content}]}
        if negative is not None:
            params["negative_prompt"] = negative
    return {"model": model, "input": raw_input, "parameters": params}


def endpoint_of(model: str) -> Endpoint:
    return "image2image" if model == WAN25 else "image_generation"


def validate(
    raw: Any,
    *,
    endpoint: Endpoint | None = None,
    oss_resolve: bool = False,
    sources: Mapping[str, bytes] | None = None,
) -> ValidatedRequest:
    model = raw.get("model", "") if isinstance(raw, dict) else ""
    return validate_submit(
        raw,
        endpoint=endpoint or endpoint_of(model if isinstance(model, str) else ""),
        oss_resolve=oss_resolve,
        load_source=lambda src: (sources or {}).get(src),
    )


def rejected(raw: Any, **kwargs: Any) -> RequestRejected:
    with pytest.raises(RequestRejected) as info:
        validate(raw, **kwargs)
    return info.value


def assert_invalid(raw: Any, field: str, **kwargs: Any) -> RequestRejected:
    """The body is refused with 400 InvalidParameter and a message naming `field`."""
    error = rejected(raw, **kwargs)
    assert (error.status, error.code) == (400, "InvalidParameter"), error
    assert field in error.message, error.message
    return error


def minimal_images(model: str) -> tuple[str, ...]:
    """The fewest input images the model accepts in its default mode."""
    return () if model in (PRO, WAN27) else (URL,)


# ------------------------------------------------------------------------------- envelope


def test_request_rejected_keeps_attributes_and_survives_pickling() -> None:
    error = RequestRejected(400, "InvalidParameter", "parameters.n must be ...")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.status, copy.code, copy.message) == (400, "InvalidParameter", error.message)
    assert str(copy) == "400 InvalidParameter: parameters.n must be ..."


@pytest.mark.parametrize("raw", [[], "text", None, 3])
def test_body_must_be_an_object(raw: Any) -> None:
    error = rejected(raw, endpoint="multimodal")
    assert (error.status, error.code) == (400, "InvalidParameter")


@pytest.mark.parametrize(
    ("raw", "status", "code", "fragment"),
    [
        ({"input": {"prompt": "x"}}, 400, "BadRequest.EmptyModel", "model"),
        ({"model": "", "input": {"prompt": "x"}}, 400, "BadRequest.EmptyModel", "model"),
        ({"model": WAN27}, 400, "BadRequest.EmptyInput", "input"),
        ({"model": WAN27, "input": None}, 400, "BadRequest.EmptyInput", "input"),
        ({"model": WAN27, "input": {}}, 400, "BadRequest.EmptyInput", "input"),
        ({"model": "wan9-image", "input": {"x": 1}}, 404, "ModelNotFound", "(wan9-image)"),
        ({"model": 7, "input": {"x": 1}}, 400, "InvalidParameter", "model must be a string"),
        ({"model": WAN27, "input": [1]}, 400, "InvalidParameter", "input must be an object"),
    ],
)
def test_envelope_errors(raw: dict[str, Any], status: int, code: str, fragment: str) -> None:
    error = rejected(raw, endpoint="image_generation")
    assert (error.status, error.code) == (status, code)
    assert fragment in error.message


def test_unknown_model_message() -> None:
    error = rejected({"model": "wan2.2-nope", "input": {"prompt": "x"}}, endpoint="multimodal")
    assert error.message == "Model not found (wan2.2-nope)"


@pytest.mark.parametrize(
    ("model", "endpoint", "expected_path"),
    [
        (WAN25, "multimodal", "/services/aigc/image2image/image-synthesis"),
        (WAN25, "image_generation", "/services/aigc/image2image/image-synthesis"),
        (PRO, "image2image", "/services/aigc/image-generation/generation"),
        (WAN26, "image2image", "/services/aigc/multimodal-generation/generation"),
    ],
)
def test_model_on_the_wrong_endpoint(model: str, endpoint: Endpoint, expected_path: str) -> None:
    error = assert_invalid(body(model, (URL,)), model, endpoint=endpoint)
    assert expected_path in error.message


@pytest.mark.parametrize("endpoint", ["multimodal", "image_generation"])
@pytest.mark.parametrize("model", MESSAGE_MODELS)
def test_messages_models_accepted_on_both_endpoints(model: str, endpoint: Endpoint) -> None:
    assert validate(body(model, (URL,)), endpoint=endpoint).protocol == "messages"


def test_parameters_must_be_an_object() -> None:
    raw = body(WAN27)
    raw["parameters"] = [1]
    assert_invalid(raw, "parameters must be an object")


def test_missing_parameters_and_unknown_keys_are_fine() -> None:
    raw = body(WAN27)
    del raw["parameters"]
    assert validate(raw).parameters == {}
    sdk = body(WAN25, (URL,), n=1, is_async=True, enable_interleave=False, whatever={"a": 1})
    assert validate(sdk).parameters["is_async"] is True
    raw_input = body(WAN25, (URL,))
    raw_input["input"]["extra"] = "ignored"
    validate(raw_input)


def test_null_values_count_as_absent() -> None:
    request = validate(body(PRO, n=None, seed=None, size=None, negative_prompt=None))
    assert (request.n, request.seed, request.size) == (4, None, None)


# ------------------------------------------------------------------------------- body shape


@pytest.mark.parametrize(
    ("raw_input", "field"),
    [
        ({"prompt": "x"}, "input.messages"),
        ({"messages": {"role": "user"}}, "input.messages"),
        ({"messages": []}, "input.messages"),
        ({"messages": [{"role": "user", "content": [{"text": "a"}]}] * 2}, "input.messages"),
        ({"messages": ["hi"]}, "input.messages[0]"),
        ({"messages": [{"role": "assistant", "content": [{"text": "a"}]}]}, "role"),
        ({"messages": [{"role": "user", "content": "a"}]}, "input.messages[0].content"),
        ({"messages": [{"role": "user", "content": []}]}, "input.messages[0].content"),
        (
            {"messages": [{"role": "user", "content": [{"text": "a"}, {"text": "b"}]}]},
            "exactly one text item, got 2",
        ),
        (
            {"messages": [{"role": "user", "content": [{"text": "a", "image": URL}]}]},
            "input.messages[0].content[0]",
        ),
        ({"messages": [{"role": "user", "content": [{"type": "x"}]}]}, "content[0]"),
        ({"messages": [{"role": "user", "content": [{"text": 5}]}]}, "content[0].text"),
        (
            {"messages": [{"role": "user", "content": [{"text": "a"}, {"image": 5}]}]},
            "input.messages[0].content[1].image must be a string",
        ),
    ],
)
def test_messages_shape(raw_input: dict[str, Any], field: str) -> None:
    assert_invalid({"model": WAN27, "input": raw_input}, field)


@pytest.mark.parametrize(
    ("raw_input", "field"),
    [
        ({"images": [URL]}, "input.prompt is required"),
        ({"prompt": 3, "images": [URL]}, "input.prompt must be a string"),
        ({"prompt": "x", "images": URL}, "input.images must be an array"),
        ({"prompt": "x", "images": [URL, 5]}, "input.images[1] must be a string"),
        ({"prompt": "x", "images": [URL], "negative_prompt": 1}, "input.negative_prompt"),
    ],
)
def test_prompt_images_shape(raw_input: dict[str, Any], field: str) -> None:
    assert_invalid({"model": WAN25, "input": raw_input}, field)


def test_messages_result_fields() -> None:
    request = validate(body(WAN26, (URL, URL), text="edit", negative="blurry", seed=7))
    assert request.protocol == "messages"
    assert (request.prompt, request.negative_prompt, request.seed) == ("edit", "blurry", 7)
    assert [image.source for image in request.images] == [URL, URL]
    assert (request.n, request.interleave, request.prompt_extend) == (4, False, None)
    assert request.output_size == (1280, 1280)


def test_prompt_images_result_fields() -> None:
    request = validate(body(WAN25, (URL,), text="p", negative="", prompt_extend=False, n=2))
    assert request.protocol == "prompt_images"
    assert (request.prompt, request.negative_prompt, request.n) == ("p", "", 2)
    assert request.prompt_extend is False


def test_image_order_follows_content_order() -> None:
    raw = {
        "model": PRO,
        "input": {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"image": "https://a/1.png"},
                        {"text": "t"},
                        {"image": "http://b/2"},
                    ],
                }
            ]
        },
    }
    assert [i.source for i in validate(raw).images] == ["https://a/1.png", "http://b/2"]


# ------------------------------------------------------------------------------- rule table


@pytest.mark.parametrize(
    ("model", "count", "params", "ok"),
    [
        (PRO, 0, {}, True),
        (PRO, 9, {}, True),
        (PRO, 10, {}, False),
        (WAN27, 0, {}, True),
        (WAN27, 9, {}, True),
        (WAN27, 10, {}, False),
        (WAN26, 0, {}, False),
        (WAN26, 1, {}, True),
        (WAN26, 4, {}, True),
        (WAN26, 5, {}, False),
        (WAN26, 0, {"enable_interleave": True}, True),
        (WAN26, 1, {"enable_interleave": True}, True),
        (WAN26, 2, {"enable_interleave": True}, False),
        (WAN25, 0, {}, False),
        (WAN25, 1, {}, True),
        (WAN25, 3, {}, True),
        (WAN25, 4, {}, False),
    ],
)
def test_input_image_count(model: str, count: int, params: dict[str, Any], ok: bool) -> None:
    raw = body(model, (URL,) * count, **params)
    if ok:
        assert len(validate(raw).images) == count
    else:
        field = "input.images" if model == WAN25 else "input.messages[0].content"
        error = assert_invalid(raw, field)
        assert f"got {count}" in error.message and model in error.message


@pytest.mark.parametrize(
    ("model", "length", "ok"),
    [
        (PRO, 0, False),
        (PRO, 1, True),
        (PRO, 5000, True),
        (PRO, 5001, False),
        (WAN27, 5001, False),
        (WAN26, 2000, True),
        (WAN26, 2001, False),
        (WAN25, 0, False),
        (WAN25, 2000, True),
        (WAN25, 2001, False),
    ],
)
def test_prompt_length(model: str, length: int, ok: bool) -> None:
    raw = body(model, minimal_images(model), text="x" * length)
    if ok:
        assert len(validate(raw).prompt) == length
    else:
        field = "input.prompt" if model == WAN25 else "input.messages[0].content[1].text"
        if model in (PRO, WAN27):
            field = "input.messages[0].content[0].text"
        assert_invalid(raw, field)


@pytest.mark.parametrize(
    ("model", "negative", "ok"),
    [
        (PRO, "", False),
        (WAN27, "blurry", False),
        (WAN26, "", True),
        (WAN26, "x" * 500, True),
        (WAN26, "x" * 501, False),
        (WAN25, "x" * 500, True),
        (WAN25, "x" * 501, False),
    ],
)
def test_negative_prompt(model: str, negative: str, ok: bool) -> None:
    raw = body(model, minimal_images(model), negative=negative)
    if ok:
        assert validate(raw).negative_prompt == negative
    else:
        where = "input" if model == WAN25 else "parameters"
        assert_invalid(raw, f"{where}.negative_prompt")


def test_negative_prompt_in_the_other_protocols_place_is_ignored() -> None:
    raw = body(WAN25, (URL,), negative_prompt="x" * 900)  # wan2.5 reads input.negative_prompt
    assert validate(raw).negative_prompt is None


@pytest.mark.parametrize(
    ("model", "params", "ok"),
    [
        (PRO, {"prompt_extend": True}, False),
        (WAN27, {"prompt_extend": False}, False),
        (WAN26, {"prompt_extend": True}, True),
        (WAN26, {"prompt_extend": False}, True),
        (WAN26, {"prompt_extend": False, "enable_interleave": True}, False),
        (WAN25, {"prompt_extend": True}, True),
        (WAN25, {"prompt_extend": "true"}, False),
        (WAN25, {"prompt_extend": 1}, False),
    ],
)
def test_prompt_extend(model: str, params: dict[str, Any], ok: bool) -> None:
    raw = body(model, minimal_images(model), **params)
    if ok:
        assert validate(raw).prompt_extend is params["prompt_extend"]
    else:
        assert_invalid(raw, "parameters.prompt_extend")


@pytest.mark.parametrize(
    ("model", "images", "params", "size", "ok"),
    [
        (PRO, 1, {}, "1K", True),
        (PRO, 1, {}, "2K", True),
        (PRO, 0, {}, "4K", True),
        (PRO, 1, {}, "4K", False),
        (PRO, 0, {"enable_sequential": True}, "4K", False),
        (WAN27, 0, {}, "4K", False),
        (WAN27, 0, {}, "2k", False),
        (WAN27, 0, {}, "2K ", False),
        (WAN26, 1, {}, "1K", True),
        (WAN26, 1, {}, "2K", True),
        (WAN26, 1, {}, "4K", False),
        (WAN26, 1, {"enable_interleave": True}, "1K", False),
        (WAN25, 1, {}, "1K", False),
        # total pixels
        (PRO, 1, {}, "768*768", True),
        (PRO, 1, {}, "767*768", False),
        (PRO, 1, {}, "2048*2048", True),
        (PRO, 1, {}, "2048*2049", False),
        (PRO, 0, {}, "4096*4096", True),
        (PRO, 0, {}, "4096*4097", False),
        (PRO, 1, {}, "4096*4096", False),
        (PRO, 0, {"enable_sequential": True}, "2049*2048", False),
        (WAN27, 0, {}, "4096*4096", False),
        (WAN27, 0, {}, "2048*2048", True),
        (WAN26, 1, {}, "2048*2048", True),
        (WAN26, 1, {}, "2049*2048", False),
        (WAN26, 1, {"enable_interleave": True}, "1280*1280", True),
        (WAN26, 1, {"enable_interleave": True}, "1280*1281", False),
        (WAN26, 1, {"enable_interleave": True}, "768*767", False),
        (WAN25, 1, {}, "768*768", True),
        (WAN25, 1, {}, "767*767", False),
        (WAN25, 1, {}, "1280*1280", True),
        (WAN25, 1, {}, "1281*1280", False),
        # aspect ratio
        (WAN27, 1, {}, "2400*300", True),
        (WAN27, 1, {}, "2409*300", False),
        (PRO, 1, {}, "300*2400", True),
        (WAN26, 1, {}, "1600*400", True),
        (WAN26, 1, {}, "1604*400", False),
        (WAN25, 1, {}, "400*1600", True),
        (WAN25, 1, {}, "400*1604", False),
        # format
        (WAN27, 1, {}, "1024x1024", False),
        (WAN27, 1, {}, "01024*1024", False),
        (WAN27, 1, {}, "1024*1024\n", False),
        (WAN27, 1, {}, "1024 * 1024", False),
        (WAN27, 1, {}, "9" * 5000 + "*1", False),
        (WAN25, 1, {}, "", False),
    ],
)
def test_size(model: str, images: int, params: dict[str, Any], size: str, ok: bool) -> None:
    raw = body(model, (URL,) * images, size=size, **params)
    if ok:
        assert validate(raw).size == size
    else:
        error = assert_invalid(raw, "parameters.size")
        assert model in error.message
        assert len(error.message) < 300


def test_size_must_be_a_string() -> None:
    error = assert_invalid(body(WAN25, (URL,), size=1024), "parameters.size")
    assert "must be a string, got integer" in error.message


@pytest.mark.parametrize(
    ("model", "params", "n", "ok"),
    [
        (PRO, {}, 0, False),
        (PRO, {}, 1, True),
        (PRO, {}, 4, True),
        (PRO, {}, 5, False),
        (PRO, {"enable_sequential": True}, 12, True),
        (WAN27, {"enable_sequential": True}, 13, False),
        (WAN26, {}, 4, True),
        (WAN26, {}, 5, False),
        (WAN26, {"enable_interleave": True}, 1, True),
        (WAN26, {"enable_interleave": True}, 2, False),
        (WAN25, {}, 1, True),
        (WAN25, {}, 4, True),
        (WAN25, {}, 5, False),
    ],
)
def test_n_range(model: str, params: dict[str, Any], n: int, ok: bool) -> None:
    raw = body(model, minimal_images(model), n=n, **params)
    if ok:
        assert validate(raw).n == n
    else:
        error = assert_invalid(raw, "parameters.n")
        assert model in error.message and f"got {n}" in error.message


def test_n_message_style() -> None:
    error = assert_invalid(body(WAN25, (URL,), n=5), "parameters.n")
    assert error.message == "parameters.n must be between 1 and 4 for wan2.5-i2i-preview, got 5"


@pytest.mark.parametrize(
    ("model", "params", "default"),
    [
        (PRO, {}, 4),
        (WAN27, {"enable_sequential": True}, 12),
        (WAN26, {}, 4),
        (WAN26, {"enable_interleave": True}, 1),
        (WAN25, {}, 4),
    ],
)
def test_n_default(model: str, params: dict[str, Any], default: int) -> None:
    assert validate(body(model, minimal_images(model), **params)).n == default


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("n", "1", "must be an integer, got string"),
        ("n", 1.0, "must be an integer, got number"),
        ("n", True, "must be an integer, got boolean"),
        ("seed", "7", "must be an integer, got string"),
        ("seed", 1.5, "must be an integer, got number"),
        ("seed", False, "must be an integer, got boolean"),
        ("seed", -1, "must be between 0 and 2147483647"),
        ("seed", 2_147_483_648, "must be between 0 and 2147483647"),
        ("watermark", "false", "must be a boolean, got string"),
        ("watermark", 0, "must be a boolean, got integer"),
        ("enable_sequential", "true", "must be a boolean"),
        ("enable_interleave", 1, "must be a boolean"),
        ("thinking_mode", 1, "must be a boolean"),
    ],
)
@pytest.mark.parametrize("model", [WAN27, WAN25])
def test_parameter_types(model: str, key: str, value: Any, expected: str) -> None:
    if model == WAN25 and key == "thinking_mode":
        expected = "not supported"
    error = assert_invalid(body(model, (URL,), **{key: value}), f"parameters.{key}")
    assert expected in error.message


@pytest.mark.parametrize("seed", [0, 2_147_483_647])
@pytest.mark.parametrize("model", [PRO, WAN26, WAN25])
def test_seed_bounds_accepted(model: str, seed: int) -> None:
    assert validate(body(model, (URL,), seed=seed, watermark=True)).seed == seed


@pytest.mark.parametrize(
    ("model", "key", "value", "ok"),
    [
        (PRO, "thinking_mode", True, True),
        (WAN27, "thinking_mode", False, True),
        (WAN27, "thinking_mode", "quality", True),  # Java SDK types it String
        (WAN26, "thinking_mode", True, False),
        (WAN25, "thinking_mode", False, False),
        (PRO, "enable_sequential", True, True),
        (WAN26, "enable_sequential", False, True),
        (WAN26, "enable_sequential", True, False),
        (WAN25, "enable_sequential", False, True),
        (WAN25, "enable_sequential", True, False),
        (PRO, "enable_interleave", False, True),  # the SDK sends it for every model
        (PRO, "enable_interleave", True, False),
        (WAN26, "enable_interleave", True, True),
        (WAN25, "enable_interleave", False, True),
        (WAN25, "enable_interleave", True, False),
        (WAN27, "max_images", 1, False),
        (WAN26, "max_images", 1, False),  # edit mode
        (WAN25, "max_images", 1, False),
        (PRO, "bbox_list", [[]], True),
        (WAN26, "bbox_list", [[]], False),
        (WAN25, "bbox_list", [[]], False),
    ],
)
def test_model_specific_parameters(model: str, key: str, value: Any, ok: bool) -> None:
    raw = body(model, (URL,), **{key: value})
    if ok:
        assert validate(raw).parameters[key] == value
    else:
        error = assert_invalid(raw, f"parameters.{key}")
        assert model in error.message


@pytest.mark.parametrize(("value", "ok"), [(1, True), (5, True), (0, False), (6, False)])
def test_max_images_in_interleave_mode(value: int, ok: bool) -> None:
    raw = body(WAN26, (), enable_interleave=True, max_images=value)
    if ok:
        assert validate(raw).interleave is True
    else:
        assert_invalid(raw, "parameters.max_images")


def test_max_images_outside_interleave_names_the_switch() -> None:
    error = assert_invalid(body(WAN26, (URL,), max_images=2), "parameters.max_images")
    assert "enable_interleave=true" in error.message


# ------------------------------------------------------------------------------- bbox_list


def image_800x400() -> str:
    return data_uri(encode(800, 400))


@pytest.mark.parametrize(
    ("bbox_list", "field"),
    [
        ({"a": 1}, "parameters.bbox_list"),
        ([[]], "one entry per input image (2)"),
        ([[], [], []], "one entry per input image (2)"),
        ([[], [[0, 0, 1, 1]] * 3], "parameters.bbox_list[1]"),
        ([[], "box"], "parameters.bbox_list[1]"),
        ([[[0, 0, 1]], []], "parameters.bbox_list[0][0]"),
        ([[[0, 0, 1, 1], [0, 0, 1, 1.5]], []], "parameters.bbox_list[0][1][3]"),
        ([[[0, 0, True, 1]], []], "parameters.bbox_list[0][0][2]"),
        ([[[0, "0", 1, 1]], []], "parameters.bbox_list[0][0][1]"),
        ([[[-1, 0, 1, 1]], []], "parameters.bbox_list[0][0][0]"),
        ([[[0, -1, 1, 1]], []], "parameters.bbox_list[0][0][1]"),
        ([[[5, 0, 5, 1]], []], "parameters.bbox_list[0][0][2]"),
        ([[], [[0, 9, 4, 8]]], "parameters.bbox_list[1][0][3]"),
    ],
)
def test_bbox_list_structure(bbox_list: Any, field: str) -> None:
    assert_invalid(body(PRO, (URL, URL), bbox_list=bbox_list), field)


def test_bbox_list_for_text_to_image_is_an_empty_list() -> None:
    validate(body(WAN27, (), bbox_list=[]))
    assert_invalid(body(WAN27, (), bbox_list=[[]]), "parameters.bbox_list")


def test_bbox_boxes_must_lie_inside_known_images() -> None:
    inside = [[[0, 0, 800, 400], [10, 10, 20, 20]], [[0, 0, 5000, 5000]]]
    validate(body(PRO, (image_800x400(), URL), bbox_list=inside))  # URL image: size unknown
    error = assert_invalid(
        body(PRO, (image_800x400(), URL), bbox_list=[[[0, 0, 801, 400]], []]),
        "parameters.bbox_list[0][0][2]",
    )
    assert "800" in error.message
    assert_invalid(
        body(PRO, (URL, image_800x400()), bbox_list=[[], [[0, 0, 10, 401]]]),
        "parameters.bbox_list[1][0][3]",
    )


# ------------------------------------------------------------------------------- image sources


def test_unfetched_url_is_accepted_unchecked() -> None:
    (image,) = validate(body(WAN25, (URL,))).images
    assert (image.source, image.data, image.width, image.height) == (URL, None, None, None)


def test_fetched_url_bytes_are_checked() -> None:
    good, bad = encode(640, 480, "JPEG"), encode(100, 100, "JPEG")
    (image,) = validate(body(WAN25, (URL,)), sources={URL: good}).images
    assert (image.data, image.width, image.height) == (good, 640, 480)
    error = assert_invalid(body(WAN25, (URL,)), "input.images[0]", sources={URL: bad})
    assert "between 384 and 5000" in error.message


@pytest.mark.parametrize(
    ("fmt", "mime", "save"),
    [
        ("JPEG", "image/jpeg", {}),
        ("PNG", "image/png", {}),
        ("BMP", "image/bmp", {}),
        ("WEBP", "image/webp", {}),
        ("WEBP", "image/webp", {"lossless": True}),
    ],
)
def test_data_uri_formats_accepted(fmt: str, mime: str, save: dict[str, Any]) -> None:
    uri = data_uri(encode(500, 400, fmt, **save), mime)
    (image,) = validate(body(WAN26, (uri,))).images
    assert (image.width, image.height) == (500, 400)
    assert image.data is not None and image.source == uri


def test_data_uri_mime_is_case_insensitive_and_may_be_line_wrapped() -> None:
    encoded = base64.encodebytes(encode(500, 400, "JPEG")).decode()  # wrapped at 76 chars
    (image,) = validate(body(WAN25, (f"data:IMAGE/JPEG;base64,{encoded}",))).images
    assert image.width == 500


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        (data_uri(encode(500, 400, "GIF"), "image/gif"), "MIME type must be one of"),
        (data_uri(encode(500, 400, "JPEG"), "image/png"), "declared as image/png"),
        (data_uri(encode(500, 400, "PNG"), "image/jpeg"), "declared as image/jpeg"),
        ("data:image/png;base64,@@@not-base64@@@", "not valid base64"),
        ("data:image/png," + "A" * 40, "data:<mime>;base64,<data>"),
        ("data:image/png;base64", "data:<mime>;base64,<data>"),
        (data_uri(b"definitely not an image"), "not a decodable image"),
        (data_uri(encode(500, 400)[:300]), "not a decodable image"),
        (data_uri(encode(500, 400, "JPEG")[:400], "image/jpeg"), "not a decodable image"),
        (data_uri(b""), "not a decodable image"),
        (data_uri(encode(500, 400, mode="RGBA")), "alpha"),
        (data_uri(encode(500, 400, mode="LA")), "alpha"),
        (data_uri(encode(500, 400, mode="P", transparency=0)), "alpha"),
    ],
)
def test_data_uri_refusals(source: str, fragment: str) -> None:
    error = assert_invalid(body(WAN25, (URL, source)), "input.images[1]")
    assert fragment in error.message


def test_gif_bytes_behind_a_url_are_refused_by_format() -> None:
    error = assert_invalid(
        body(WAN26, (URL,)),
        "input.messages[0].content[0].image",
        sources={URL: encode(500, 400, "GIF")},
    )
    assert "format must be JPEG, PNG, BMP or WEBP, got GIF" in error.message


def test_webp_with_alpha_is_accepted() -> None:
    validate(body(WAN25, (data_uri(encode(500, 400, "WEBP", mode="RGBA"), "image/webp"),)))


@pytest.mark.parametrize(
    ("model", "width", "height", "ok"),
    [
        (WAN27, 240, 240, True),
        (WAN27, 239, 240, False),
        (WAN27, 240, 239, False),
        (WAN27, 1920, 240, True),  # 8:1
        (WAN27, 1921, 240, False),
        (PRO, 240, 1921, False),
        (WAN26, 8000, 240, True),  # aspect unlimited
        (WAN26, 8001, 240, False),
        (WAN26, 240, 239, False),
        (WAN25, 384, 384, True),
        (WAN25, 383, 384, False),
        (WAN25, 1536, 384, True),  # 4:1
        (WAN25, 1537, 384, False),
        (WAN25, 5000, 1250, True),
        (WAN25, 5001, 1251, False),
    ],
)
def test_image_sides_and_aspect(model: str, width: int, height: int, ok: bool) -> None:
    raw = body(model, (URL,))
    sources = {URL: encode(width, height, "PNG", compress_level=1)}
    if ok:
        assert validate(raw, sources=sources).images[0].width == width
    else:
        field = "input.images[0]" if model == WAN25 else "input.messages[0].content[0].image"
        error = assert_invalid(raw, field, sources=sources)
        assert model in error.message and f"{width}*{height}" in error.message


@pytest.mark.parametrize(("model", "limit_mib"), [(PRO, 20), (WAN27, 20), (WAN26, 10), (WAN25, 10)])
def test_image_file_size(model: str, limit_mib: int) -> None:
    picture = encode(500, 400, "JPEG")
    at_limit = picture + b"\0" * (limit_mib * MIB - len(picture))  # trailing bytes after EOI
    raw = body(model, (URL,))
    assert validate(raw, sources={URL: at_limit}).images[0].width == 500
    error = rejected(raw, sources={URL: at_limit + b"\0"})
    assert error.code == "InvalidParameter"
    assert f"at most {limit_mib} MB" in error.message and model in error.message


OSS = "oss://dashscope-instant/abc/2026-01-01/uuid/img.png"


def test_oss_url_needs_the_resolve_header() -> None:
    error = rejected(body(WAN25, (OSS,)), sources={OSS: encode(500, 400)})
    assert (error.status, error.code) == (400, "InvalidURL")
    assert "X-DashScope-OssResourceResolve" in error.message
    assert "input.images[0]" in error.message


def test_oss_url_resolved_and_checked() -> None:
    (image,) = validate(
        body(WAN25, (OSS,)), oss_resolve=True, sources={OSS: encode(500, 400)}
    ).images
    assert (image.source, image.width, image.height) == (OSS, 500, 400)
    error = assert_invalid(
        body(WAN25, (OSS,)), "input.images[0]", oss_resolve=True, sources={OSS: encode(100, 100)}
    )
    assert "between 384 and 5000" in error.message


def test_oss_url_not_uploaded() -> None:
    error = rejected(body(WAN26, (OSS,)), oss_resolve=True)
    assert (error.status, error.code) == (400, "InvalidURL")
    assert "not found" in error.message and "input.messages[0].content[0].image" in error.message


@pytest.mark.parametrize(
    "source", ["file:///tmp/a.png", "ftp://example.com/a.png", "/tmp/a.png", "", "s3://b/k.png"]
)
def test_other_schemes_are_invalid_urls(source: str) -> None:
    error = rejected(body(WAN25, (URL, source)))
    assert (error.status, error.code) == (400, "InvalidURL")
    assert error.message.startswith("Invalid URL provided in your request.")
    assert "input.images[1]" in error.message


def test_images_are_not_fetched_for_an_invalid_request() -> None:
    fetched: list[str] = []

    def load(src: str) -> bytes | None:
        fetched.append(src)
        return None

    with pytest.raises(RequestRejected):
        validate_submit(
            body(WAN25, (URL,), n=9), endpoint="image2image", oss_resolve=False, load_source=load
        )
    assert fetched == []


# ------------------------------------------------------------------------------- provider examples


GRAFFITI = {
    "model": "wan2.7-image-pro",
    "input": {
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "image": "https://help-static-aliyun-doc.aliyuncs.com/file-manage-files/zh-CN/20251229/pjeqdf/car.webp"
                    },
                    {
                        "image": "https://help-static-aliyun-doc.aliyuncs.com/file-manage-files/zh-CN/20251229/xsunlm/paint.webp"
                    },
                    {"text": "Spray-paint the graffiti from image 2 onto the car in image 1"},
                ],
            }
        ]
    },
    "parameters": {"size": "2K", "n": 1, "watermark": False, "thinking_mode": True},
}

BBOX = {
    "model": "wan2.7-image-pro",
    "input": {
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "image": "https://img.alicdn.com/imgextra/i3/O1CN0157XGE51l6iL9441yX_!!6000000004770-49-tps-1104-1472.webp"
                    },
                    {
                        "image": "https://img.alicdn.com/imgextra/i3/O1CN01SfG4J41UYn9WNt4X1_!!6000000002530-49-tps-1696-960.webp"
                    },
                    {"text": "Place the alarm clock from image 1 at bounding box 1 in image 2."},
                ],
            }
        ]
    },
    "parameters": {
        "bbox_list": [[], [[989, 515, 1138, 681]]],
        "size": "2K",
        "n": 1,
        "watermark": False,
        "thinking_mode": True,
    },
}

I2I = {
    "model": "wan2.5-i2i-preview",
    "input": {
        "prompt": (
            "Place the alarm clock from image 1 beside the vase on the dining table in image 2."
        ),
        "images": [
            "https://img.alicdn.com/imgextra/i3/O1CN0157XGE51l6iL9441yX_!!6000000004770-49-tps-1104-1472.webp",
            "https://img.alicdn.com/imgextra/i3/O1CN01SfG4J41UYn9WNt4X1_!!6000000002530-49-tps-1696-960.webp",
        ],
    },
    "parameters": {"n": 1},
}


@pytest.mark.parametrize("endpoint", ["multimodal", "image_generation"])
def test_provider_graffiti_example(endpoint: Endpoint) -> None:
    request = validate(GRAFFITI, endpoint=endpoint)
    assert (request.model, request.n, request.size) == (PRO, 1, "2K")
    assert len(request.images) == 2 and all(i.width is None for i in request.images)
    assert request.prompt.startswith("Spray-paint")
    assert request.output_size == (2048, 2048)  # last image size unknown: square


def test_provider_bbox_example() -> None:
    request = validate(BBOX, endpoint="multimodal")
    assert request.parameters["bbox_list"] == [[], [[989, 515, 1138, 681]]]


def test_provider_i2i_examples() -> None:
    assert validate(I2I).n == 1
    sdk = {**I2I, "parameters": {"n": 2, "seed": 3, "prompt_extend": True, "watermark": False}}
    request = validate(sdk)
    assert (request.n, request.seed, request.prompt_extend) == (2, 3, True)
    assert request.output_size == (1280, 1280)


def test_sdk_async_body_for_wan27() -> None:
    raw = {**GRAFFITI, "parameters": {"n": 1, "enable_interleave": False, "is_async": True}}
    assert validate(raw, endpoint="image_generation").n == 1


def test_output_size_uses_the_last_known_image() -> None:
    wide = data_uri(encode(1000, 500))
    request = validate(body(PRO, (URL, wide), size="2K"))
    width, height = request.output_size
    assert width % 16 == 0 and height % 16 == 0
    assert width / height == pytest.approx(2, rel=0.02)
    assert validate(body(WAN26, (wide,), size="1000*750")).output_size == (1008, 752)
