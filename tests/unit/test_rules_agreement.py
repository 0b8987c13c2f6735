"""The job contract and the emulator implement the per-model rules independently; they agree.

Hypothesis generates wire bodies near every boundary of docs/model-rules.md (image counts,
text lengths, size tiers and pixel/aspect bounds, n, seed, booleans, bbox_list shapes, image
formats, sides and aspects) and checks that the contract refuses exactly what the emulator
answers with an error.
"""

from __future__ import annotations

import base64
import io
from functools import cache
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from emulator.intake.validation import RequestRejected, validate_submit
from workers.contract import EditRequest
from workers.contract.validation import check_request_images
from workers.errors import InputInvalid

MODELS = ["wan2.7-image-pro", "wan2.7-image", "wan2.6-image", "wan2.5-i2i-preview"]

# (format, width, height, mode): chosen around every side and aspect boundary.
IMAGE_SHAPES = [
    ("JPEG", 400, 300, "RGB"),
    ("PNG", 240, 240, "RGB"),
    ("PNG", 239, 400, "RGB"),
    ("PNG", 384, 384, "RGB"),
    ("PNG", 383, 500, "RGB"),
    ("PNG", 400, 400, "RGBA"),
    ("BMP", 300, 300, "RGB"),
    ("WEBP", 500, 400, "RGB"),
    ("PNG", 240, 1920, "RGB"),  # 1:8
    ("PNG", 240, 1921, "RGB"),  # just past 1:8
    ("PNG", 1536, 384, "RGB"),  # 4:1
    ("PNG", 1537, 384, "RGB"),  # just past 4:1
]
MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "BMP": "image/bmp", "WEBP": "image/webp"}


@cache
def data_uri(index: int, mime_override: str | None = None) -> str:
    fmt, width, height, mode = IMAGE_SHAPES[index]
    buffer = io.BytesIO()
    Image.new(mode, (width, height), (120, 30, 200, 255)[: len(mode)]).save(buffer, fmt)
    mime = mime_override or MIME[fmt]
    return f"data:{mime};base64,{base64.b64encode(buffer.getvalue()).decode()}"


def mostly(valid: st.SearchStrategy[Any], edge: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Valid values four times in five, so that one broken rule at a time is the usual case."""
    return st.one_of(valid, valid, valid, valid, edge)


image_sources = st.one_of(
    st.integers(0, len(IMAGE_SHAPES) - 1).map(data_uri),
    st.just("https://img.alicdn.com/imgextra/i3/example.webp"),
    st.just(data_uri(0, "image/png")),  # MIME does not match the JPEG bytes
)
sizes = st.sampled_from(
    [
        "1K", "2K", "4K", "1k", "", "abc", "0*100", "1024x1024",
        "768*768", "767*768", "1024*1024", "1280*1280", "1281*1280", "1280*1281",
        "2048*2048", "2049*2048", "4096*4096", "4097*4096", "3000*3000",
        "2304*288", "2320*288", "1536*384", "1600*384", "384*1536", "400*1700",
    ]
)  # fmt: skip
boxes = st.lists(
    st.lists(st.sampled_from([0, 1, 10, 50, 239, 240, 300, 400, 1921, -1]), min_size=4, max_size=4),
    max_size=3,
)
PARAMETER_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "size": mostly(st.sampled_from(["1024*1024", "1280*960", "1K"]), sizes),
    "n": mostly(st.sampled_from([1, 2, 4]), st.sampled_from([0, 5, 12, 13, "2", True, 1.0])),
    "seed": mostly(st.sampled_from([0, 2147483647]), st.sampled_from([2147483648, -1, "7"])),
    "watermark": mostly(st.booleans(), st.just("yes")),
    "prompt_extend": st.booleans(),
    "thinking_mode": st.booleans(),
    "enable_sequential": st.booleans(),
    "enable_interleave": st.booleans(),
    "max_images": st.sampled_from([0, 1, 5, 6]),
    "negative_prompt": st.sampled_from(["", "blurry", "x" * 500, "x" * 501]),
}
TEXT_LENGTHS = [0, 1, 500, 2000, 2001, 5000, 5001]


@st.composite
def wire_bodies(draw: st.DrawFn) -> dict[str, Any]:
    model = draw(st.sampled_from(MODELS))
    text = "e" * draw(mostly(st.sampled_from([1, 500]), st.sampled_from(TEXT_LENGTHS)))
    good_images = st.lists(st.sampled_from([0, 3, 7]).map(data_uri), min_size=1, max_size=3)
    images = draw(mostly(good_images, st.lists(image_sources, max_size=10)))
    names = draw(st.sets(st.sampled_from(sorted(PARAMETER_VALUES)), max_size=3))
    parameters = {name: draw(PARAMETER_VALUES[name]) for name in sorted(names)}
    if draw(st.integers(0, 3)) == 0:
        count = len(images) + draw(st.sampled_from([0, 0, 0, -1, 1]))
        parameters["bbox_list"] = [draw(boxes) for _ in range(max(count, 0))]
    if model == "wan2.5-i2i-preview":
        negative = parameters.pop("negative_prompt", None)
        body_input: dict[str, Any] = {"prompt": text, "images": images}
        if negative is not None:
            body_input["negative_prompt"] = negative
    else:
        content: list[dict[str, Any]] = [{"text": text}] + [{"image": src} for src in images]
        body_input = {"messages": [{"role": "user", "content": content}]}
    return {"model": model, "input": body_input, "parameters": parameters}


def contract_accepts(body: dict[str, Any]) -> tuple[bool, str]:
    try:
        request = EditRequest.from_body(body)
        check_request_images(request)
    except InputInvalid as exc:
        return False, str(exc)
    return True, ""


def emulator_accepts(body: dict[str, Any]) -> tuple[bool, str]:
    endpoint = "image2image" if body["model"] == "wan2.5-i2i-preview" else "image_generation"
    try:
        validate_submit(body, endpoint=endpoint, oss_resolve=False, load_source=lambda _: None)
    except RequestRejected as exc:
        return False, str(exc)
    return True, ""


@settings(
    max_examples=1500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(wire_bodies())
def test_contract_and_emulator_agree(body: dict[str, Any]) -> None:
    by_contract, contract_reason = contract_accepts(body)
    by_emulator, emulator_reason = emulator_accepts(body)
    assert by_contract == by_emulator, (
        f"contract {'accepts' if by_contract else 'refuses: ' + contract_reason}; "
        f"emulator {'accepts' if by_emulator else 'refuses: ' + emulator_reason}"
    )


def test_generator_reaches_both_verdicts() -> None:
    """The property above is only worth something if both verdicts occur often."""
    verdicts: list[bool] = []

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(wire_bodies())
    def collect(body: dict[str, Any]) -> None:
        verdicts.append(emulator_accepts(body)[0])

    collect()
    accepted = sum(verdicts)
    assert accepted >= 20, f"only {accepted} of {len(verdicts)} generated bodies were valid"
    assert len(verdicts) - accepted >= 20
