"""Wire bodies: the provider's example shapes, from_body's structure checks, round trips."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from workers.contract import EditRequest, ModelName, Protocol, protocol_of, validate_request
from workers.errors import InputInvalid

CAR = "https://help-static-aliyun-doc.aliyuncs.com/file-manage-files/zh-CN/20251229/pjeqdf/car.webp"
PAINT = (
    "https://help-static-aliyun-doc.aliyuncs.com/file-manage-files/zh-CN/20251229/xsunlm/paint.webp"
)
CLOCK = "https://img.alicdn.com/imgextra/i3/O1CN0157XGE51l6iL9441yX_!!6000000004770-49-tps-1104-1472.webp"
TABLE = "https://img.alicdn.com/imgextra/i3/O1CN01SfG4J41UYn9WNt4X1_!!6000000002530-49-tps-1696-960.webp"

# The provider's curl example for interactive editing with wan2.7-image-pro.
BBOX_EXAMPLE: dict[str, Any] = {
    "model": "wan2.7-image-pro",
    "input": {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"image": CLOCK},
                    {"image": TABLE},
                    {
                        "text": "Place the alarm clock from image 1 at bounding box 1 in image 2. "
                        "Keep scene and lighting natural."
                    },
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


def messages_body(model: str, content: list[Any], **parameters: Any) -> dict[str, Any]:
    return {
        "model": model,
        "input": {"messages": [{"role": "user", "content": content}]},
        "parameters": parameters,
    }


def test_protocols() -> None:
    assert protocol_of(ModelName.WAN25) is Protocol.PROMPT_IMAGES
    for model in (ModelName.WAN27_PRO, ModelName.WAN27, ModelName.WAN26):
        assert protocol_of(model) is Protocol.MESSAGES


def test_two_image_example_of_the_python_sdk() -> None:
    text = "Apply the graffiti from image 2 onto the car in image 1"
    request = EditRequest(
        model=ModelName.WAN27, prompt=text, images=(CAR, PAINT), watermark=False, n=1, size="2K"
    )
    content = [{"text": text}, {"image": CAR}, {"image": PAINT}]
    assert request.to_body() == messages_body(
        "wan2.7-image", content, size="2K", n=1, watermark=False
    )


def test_bbox_example_round_trips() -> None:
    request = EditRequest.from_body(BBOX_EXAMPLE)
    assert request.images == (CLOCK, TABLE)
    assert request.bbox_list == ((), ((989, 515, 1138, 681),))
    body = request.to_body()
    # The provider's example lists the images first; to_body puts the text first.
    expected = copy.deepcopy(BBOX_EXAMPLE)
    content = expected["input"]["messages"][0]["content"]
    content.insert(0, content.pop())
    assert body == expected
    assert json.loads(json.dumps(body)) == body


def test_wan25_body() -> None:
    request = EditRequest(
        model=ModelName.WAN25,
        prompt="Place the alarm clock from image 1 beside the vase",
        images=(CLOCK, TABLE),
        negative_prompt="",
        n=1,
        seed=12345,
        prompt_extend=True,
        watermark=False,
    )
    assert request.to_body() == {
        "model": "wan2.5-i2i-preview",
        "input": {
            "prompt": "Place the alarm clock from image 1 beside the vase",
            "images": [CLOCK, TABLE],
            "negative_prompt": "",
        },
        "parameters": {"n": 1, "seed": 12345, "watermark": False, "prompt_extend": True},
    }
    assert EditRequest.from_body(request.to_body()) == request


EVERY_MODEL = [
    EditRequest(
        model=ModelName.WAN27_PRO, prompt="a red car", size="4K", n=4, seed=7, thinking_mode=True
    ),
    EditRequest(
        model=ModelName.WAN27,
        prompt="image set",
        images=(CAR, PAINT),
        enable_sequential=True,
        n=12,
        bbox_list=(((1, 2, 3, 4),), ()),
        enable_interleave=False,
    ),
    EditRequest(
        model=ModelName.WAN26,
        prompt="story",
        images=(CAR,),
        enable_interleave=True,
        max_images=5,
        size="1280*720",
        negative_prompt="blur",
        watermark=True,
    ),
    EditRequest(
        model=ModelName.WAN25,
        prompt="merge",
        images=(CAR, PAINT, "data:image/png;base64,iVBORw0KGgo="),
        size="1280*1280",
        enable_sequential=False,
        enable_interleave=False,
    ),
]


@pytest.mark.parametrize("request_", EVERY_MODEL, ids=[r.model.value for r in EVERY_MODEL])
def test_round_trip_each_model(request_: EditRequest) -> None:
    body = request_.to_body()
    assert set(body) == {"model", "input", "parameters"}
    assert EditRequest.from_body(json.loads(json.dumps(body))) == request_


def test_wan26_negative_prompt_goes_in_parameters() -> None:
    request = EditRequest(model=ModelName.WAN26, prompt="x", images=(CAR,), negative_prompt="blur")
    body = request.to_body()
    assert body["parameters"] == {"negative_prompt": "blur"}
    assert set(body["input"]) == {"messages"}


def test_empty_parameters() -> None:
    body = EditRequest(model=ModelName.WAN27, prompt="x").to_body()
    assert body == messages_body("wan2.7-image", [{"text": "x"}])


def test_sdk_extras_and_nulls_are_ignored() -> None:
    content = [{"text": "x"}, {"image": CAR}]
    body = messages_body("wan2.6-image", content, is_async=True, n=None, enable_interleave=False)
    request = EditRequest.from_body(body)
    assert request == EditRequest(
        model=ModelName.WAN26, prompt="x", images=(CAR,), enable_interleave=False
    )
    assert request.to_body()["parameters"] == {"enable_interleave": False}
    without_parameters = {"model": body["model"], "input": body["input"]}
    assert EditRequest.from_body(without_parameters).enable_interleave is None


def test_resolve() -> None:
    request = EditRequest(
        model=ModelName.WAN27, prompt="x", images=(CAR, "s3://bucket/a.png", "file:///tmp/b.png")
    )
    with pytest.raises(InputInvalid) as caught:
        request.to_body()
    assert caught.value.field == "images[1]"
    resolved = {
        "s3://bucket/a.png": "https://s3.example/a.png",
        "file:///tmp/b.png": "data:image/png;base64,AA==",
    }
    content = request.to_body(resolved.__getitem__)["input"]["messages"][0]["content"]
    assert content[1:] == [
        {"image": CAR},
        {"image": "https://s3.example/a.png"},
        {"image": "data:image/png;base64,AA=="},
    ]
    with pytest.raises(InputInvalid) as caught:
        request.to_body(lambda src: src)
    assert "resolver" in caught.value.rule


def test_json_dump_round_trips() -> None:
    request = EditRequest.from_body(BBOX_EXAMPLE)
    dumped = json.loads(json.dumps(request.model_dump(mode="json")))
    assert EditRequest.model_validate(dumped) == request


def test_edit_request_raises_validation_error_directly() -> None:
    with pytest.raises(ValidationError):
        EditRequest(model=ModelName.WAN25, prompt="x")


W27 = "wan2.7-image"
W25 = "wan2.5-i2i-preview"
CONTENT = "input.messages[0].content"


def body27(content: Any, **parameters: Any) -> dict[str, Any]:
    return messages_body(W27, content, **parameters)


def one_message(**message: Any) -> dict[str, Any]:
    return {"model": W27, "input": {"messages": [message]}}


def body25(parameters: dict[str, Any] | None = None, **body_input: Any) -> dict[str, Any]:
    return {"model": W25, "input": body_input, "parameters": parameters or {}}


USER_X = {"role": "user", "content": [{"text": "x"}]}
MALFORMED = [
    ({**BBOX_EXAMPLE, "resources": []}, "resources"),
    ({**BBOX_EXAMPLE, "model": "wan9"}, "model"),
    ({**BBOX_EXAMPLE, "model": None}, "model"),
    ({**BBOX_EXAMPLE, "input": []}, "input"),
    ({**BBOX_EXAMPLE, "parameters": "n=1"}, "parameters"),
    ({"model": W27}, "input"),
    ({"model": W27, "input": {"messages": [USER_X], "prompt": "x"}}, "input.prompt"),
    ({"model": W27, "input": {"messages": []}}, "input.messages"),
    ({"model": W27, "input": {"messages": [USER_X, USER_X]}}, "input.messages"),
    (one_message(role="assistant", content=[{"text": "x"}]), "input.messages[0].role"),
    (one_message(role="user", content=[{"text": "x"}], name="a"), "input.messages[0].name"),
    (one_message(role="user", content="x"), CONTENT),
    (body27([{"image": CAR}]), CONTENT),
    (body27([{"text": "x"}, {"text": "y"}]), CONTENT),
    (body27([{"text": "x"}, {"image": CAR, "type": "image"}]), f"{CONTENT}[1]"),
    (body27([{"text": "x"}, {"video": CAR}]), f"{CONTENT}[1]"),
    (body27([{"text": "x"}, "https://a/b.png"]), f"{CONTENT}[1]"),
    (body27([{"image": CAR}, {"text": "x"}, {"image": 5}]), f"{CONTENT}[2].image"),
    (body27([{"image": CAR}, {"text": "x"}, {"image": "oss://a/b"}]), f"{CONTENT}[2].image"),
    (body27([{"image": CAR}, {"text": "x" * 5001}]), f"{CONTENT}[1].text"),
    (body27([{"text": "x"}], size="4K"), "parameters.size"),
    (body27([{"text": "x"}], n="1"), "parameters.n"),
    (body27([{"text": "x"}], negative_prompt="n"), "parameters.negative_prompt"),
    (body27([{"text": "x"}, {"image": CAR}], bbox_list=[[[1, 1, 2, 2], [1, 1, 0, 2]]]),
     "parameters.bbox_list[0][1]"),
    (messages_body("wan2.6-image", [{"text": "x"}]), CONTENT),
    (messages_body("wan2.6-image", [{"text": "x"}, {"image": CAR}], negative_prompt="n" * 501),
     "parameters.negative_prompt"),
    (body25(prompt="x"), "input.images"),
    (body25(prompt="x", images=CAR), "input.images"),
    (body25(prompt="x", images=[CAR, "ftp://a/b"]), "input.images[1]"),
    (body25(images=[CAR]), "input.prompt"),
    (body25(prompt="x", images=[CAR], negative_prompt="n" * 501), "input.negative_prompt"),
    (body25(prompt="x", images=[CAR], messages=[]), "input.messages"),
    (body25({"size": "1K"}, prompt="x", images=[CAR]), "parameters.size"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "field"), MALFORMED)
def test_from_body_names_the_wire_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(InputInvalid) as caught:
        EditRequest.from_body(body)
    assert caught.value.field == field, str(caught.value)


# Property tests. The strategy leans on the rule table's shape so most drawn requests are
# valid; the few that are not are filtered out.
MODELS = list(ModelName)
SOURCES = st.one_of(
    st.from_regex(r"https://[a-z]{1,8}\.example/[a-z0-9_%-]{1,20}\.(png|jpg)", fullmatch=True),
    st.sampled_from(["data:image/png;base64,iVBORw0KGgo=", "data:image/webp;base64,UklGRg=="]),
)
TEXT = st.text(min_size=1, max_size=40)


@st.composite
def edit_requests(draw: st.DrawFn) -> EditRequest:
    model = draw(st.sampled_from(MODELS))
    wan27 = model in (ModelName.WAN27_PRO, ModelName.WAN27)
    fields: dict[str, Any] = {"model": model, "prompt": draw(TEXT)}
    interleave = model is ModelName.WAN26 and draw(st.booleans())
    sequential = wan27 and draw(st.booleans())
    max_count = {ModelName.WAN25: 3, ModelName.WAN26: 1 if interleave else 4}.get(model, 9)
    min_count = (
        1 if model is ModelName.WAN25 or (model is ModelName.WAN26 and not interleave) else 0
    )
    images = draw(st.lists(SOURCES, min_size=min_count, max_size=max_count))
    fields["images"] = images
    optional = st.none() | st.just(True)
    if draw(optional):
        fields["size"] = draw(
            st.sampled_from(["1K", "2K", "4K"])
            | st.builds(lambda w, h: f"{w}*{h}", st.integers(300, 4200), st.integers(300, 4200))
        )
    if draw(optional):
        fields["n"] = draw(st.integers(1, 12 if sequential else 4))
    if draw(optional):
        fields["seed"] = draw(st.integers(0, 2**31 - 1))
    if draw(optional):
        fields["watermark"] = draw(st.booleans())
    if not wan27 and draw(optional):
        fields["negative_prompt"] = draw(st.text(max_size=20))
    if not wan27 and not interleave and draw(optional):
        fields["prompt_extend"] = draw(st.booleans())
    if wan27 and draw(optional):
        fields["thinking_mode"] = draw(st.booleans())
    if sequential or draw(optional):
        fields["enable_sequential"] = sequential
    if interleave or draw(optional):
        fields["enable_interleave"] = interleave
    if interleave and draw(optional):
        fields["max_images"] = draw(st.integers(1, 5))
    if wan27 and draw(optional):
        box = st.tuples(
            st.integers(0, 99), st.integers(0, 99), st.integers(100, 999), st.integers(100, 999)
        )
        fields["bbox_list"] = [draw(st.lists(box, max_size=2)) for _ in images]
    try:
        return EditRequest.model_validate(fields)
    except ValidationError:
        reject()


@settings(max_examples=300, suppress_health_check=[HealthCheck.filter_too_much])
@given(edit_requests())
def test_round_trip_through_the_wire(request: EditRequest) -> None:
    body = json.loads(json.dumps(request.to_body()))
    assert EditRequest.from_body(body) == request
    assert EditRequest.model_validate(request.model_dump(mode="json")) == request


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 5000)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
KEYS = st.sampled_from(
    ["model", "prompt", "images", "size", "n", "seed", "bbox_list", "max_images", "x"]
)


@settings(max_examples=300)
@given(st.dictionaries(KEYS, JSON | st.sampled_from([m.value for m in ModelName]), max_size=6))
def test_validate_request_only_raises_input_invalid(data: dict[str, Any]) -> None:
    try:
        validate_request(data, inspect_images=False)
    except InputInvalid as exc:
        assert exc.field and exc.rule


@settings(max_examples=300)
@given(
    st.dictionaries(
        st.sampled_from(["model", "input", "parameters"]),
        JSON | st.sampled_from([m.value for m in ModelName]),
        max_size=3,
    )
)
def test_from_body_only_raises_input_invalid(body: dict[str, Any]) -> None:
    try:
        EditRequest.from_body(body)
    except InputInvalid as exc:
        assert exc.field and exc.rule
