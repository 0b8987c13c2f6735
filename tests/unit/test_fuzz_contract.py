"""Fuzzing the job contract: every bad request is one InputInvalid naming its field and rule.

Three ways in: user data (``validate_request``, what producers call), wire bodies
(``EditRequest.from_body``), and what workers do with a stored request (``to_body`` with a
resolver, on a request read back from a record without validation). Whatever comes in, the
only exception out is :class:`InputInvalid`, its message short and printable.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.unit.fuzz_inputs import (
    BAD_SOURCES,
    BREAKERS,
    ENCODINGS,
    MB,
    MIMES,
    MODELS,
    SHAPES,
    WAN27,
    Bad,
    assert_printable,
    assert_refused,
    bad_jobs,
    data_uri,
    encode,
    image_verdict,
    padded_png,
    trailer_bytes,
    url,
)
from workers.contract import EditRequest, ModelName, validate_request
from workers.contract.problems import short_repr
from workers.errors import InputInvalid

FUZZ = settings(max_examples=150, deadline=None)
PER_BREAKER = settings(max_examples=40, deadline=None)
BREAKER_NAMES = sorted(BREAKERS)


def refusal(data: Any, **options: Any) -> InputInvalid:
    with pytest.raises(InputInvalid) as caught:
        validate_request(data, **options)
    return caught.value


# --- one broken rule, named -----------------------------------------------------------


@pytest.mark.parametrize("breaker", BREAKER_NAMES)
@PER_BREAKER
@given(data=st.data())
def test_a_broken_rule_is_named_by_field_and_rule(breaker: str, data: st.DataObject) -> None:
    bad = data.draw(bad_jobs(breaker))
    assert_refused(refusal(bad.job), bad)


def test_what_is_not_a_mapping_is_refused_as_the_request() -> None:
    for value in (None, [1, 2], "model=wan2.7-image", 7, b"{}"):
        error = refusal(value)
        assert error.field == "request" and "mapping of field names" in error.rule
    error = refusal({"model": "wan2.7-image", "prompt": "x", 1: "one"})
    assert error.field == "request" and "field names must be strings" in error.rule


@dataclass(frozen=True)
class Unprintable:
    """Stands for a value Python cannot repr (hypothesis shows every argument it draws)."""

    kind: str

    def real(self) -> Any:
        if self.kind == "int":
            return 10**5000  # past Python's int-to-str digit limit
        nested: list[Any] = []
        for _ in range(5000):  # deeper than the stack
            nested = [nested]
        return nested


def real(value: Any) -> Any:
    """``value`` with every :class:`Unprintable` replaced by what it stands for."""
    if isinstance(value, Unprintable):
        return value.real()
    if isinstance(value, list):
        return [real(item) for item in value]
    if isinstance(value, dict):
        return {key: real(item) for key, item in value.items()}
    return value


HOSTILE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(MODELS),
    st.text(st.characters(categories=["Cs"]), min_size=1, max_size=2),  # lone surrogates
    st.sampled_from(["int", "nested"]).map(Unprintable),
    st.just("y" * 200_000),
    st.binary(max_size=6),
    st.sampled_from(["https://cdn.example.test/a.png", "data:image/png;base64,AAAA", "1K"]),
)
VALUES = st.recursive(
    HOSTILE,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=10,
)
KEYS = st.sampled_from(["model", "prompt", "images", "size", "n", "seed", "bbox_list"])


@FUZZ
@given(
    fields=st.dictionaries(KEYS | st.text(max_size=6), VALUES, max_size=7),
    model=st.sampled_from(MODELS),
)
def test_anything_is_accepted_or_refused_with_a_printable_input_invalid(
    fields: dict[str, Any], model: str
) -> None:
    data = real({"model": model, "prompt": "edit", **fields})
    try:
        validate_request(data)
    except InputInvalid as exc:
        assert exc.field and exc.rule
        assert_printable(exc)


@FUZZ
@given(VALUES)
def test_short_repr_is_short_for_anything(value: Any) -> None:
    assert len(short_repr(real(value))) <= 100


# --- images whose bytes are at hand -------------------------------------------------------

ACCEPTED_ENCODINGS = [e for e in ENCODINGS if e[0] in MIMES]
SMALL_SHAPES = [s for s in SHAPES if max(s) <= 8000]


@st.composite
def placements(draw: st.DrawFn) -> tuple[str, list[str], int]:
    """A model, http(s) images for it, and the index to put the image under test at."""
    model = draw(st.sampled_from(MODELS))
    most = {"wan2.5-i2i-preview": 3, "wan2.6-image": 4}.get(model, 5)
    images = [url(i) for i in range(draw(st.integers(1, most)))]
    return model, images, draw(st.integers(0, len(images) - 1))


def put(images: list[str], index: int, data: bytes, fmt: str, how: str, folder: str) -> None:
    """Put ``data`` at ``images[index]`` as a data URI, a plain path or a file:// path."""
    if how == "data":
        images[index] = data_uri(data, MIMES.get(fmt, "image/png"))
        return
    path = os.path.join(folder, f"in-{index}.{fmt.lower()}")
    with open(path, "wb") as file:
        file.write(data)
    images[index] = path if how == "path" else f"file://{path}"


HOW = st.sampled_from(["data", "path", "file"])


@settings(max_examples=120, deadline=None)
@given(
    placement=placements(),
    encoding=st.sampled_from(ENCODINGS),
    shape=st.sampled_from(SHAPES),
    how=HOW,
)
def test_an_image_is_refused_for_the_rule_it_breaks(
    placement: tuple[str, list[str], int],
    encoding: tuple[str, str],
    shape: tuple[int, int],
    how: str,
) -> None:
    model, images, index = placement
    (fmt, mode), (width, height) = encoding, shape
    with tempfile.TemporaryDirectory() as folder:
        put(images, index, encode(fmt, mode, width, height), fmt, how, folder)
        expected = image_verdict(model, fmt, mode, width, height)
        job = {"model": model, "prompt": "edit image 1", "images": images}
        if expected is None:
            assert validate_request(job).images[index] == images[index]
        else:
            assert_refused(refusal(job), Bad(job, f"images[{index}]", expected))


@settings(max_examples=120, deadline=None)
@given(
    placement=placements(),
    encoding=st.sampled_from(ACCEPTED_ENCODINGS),
    shape=st.sampled_from(SMALL_SHAPES),
    how=HOW,
    data=st.data(),
)
def test_a_truncated_image_is_refused(
    placement: tuple[str, list[str], int],
    encoding: tuple[str, str],
    shape: tuple[int, int],
    how: str,
    data: st.DataObject,
) -> None:
    model, images, index = placement
    fmt, mode = encoding
    whole = encode(fmt, mode, *shape)
    cut = data.draw(st.integers(trailer_bytes(fmt, mode, shape[0]) + 1, len(whole)), label="cut")
    with tempfile.TemporaryDirectory() as folder:
        put(images, index, whole[:-cut], fmt, how, folder)
        job = {"model": model, "prompt": "edit", "images": images}
        assert_refused(refusal(job), Bad(job, f"images[{index}]", "complete, decodable"))


@settings(max_examples=80, deadline=None)
@given(
    placement=placements(),
    encoding=st.sampled_from(ACCEPTED_ENCODINGS),
    shape=st.sampled_from(SMALL_SHAPES),
    data=st.data(),
)
def test_a_corrupt_image_is_accepted_or_refused_on_its_own_field(
    placement: tuple[str, list[str], int],
    encoding: tuple[str, str],
    shape: tuple[int, int],
    data: st.DataObject,
) -> None:
    """Flipped bytes may still decode (JPEG's entropy data has no checksum); if they do not,
    the error names the image."""
    model, images, index = placement
    fmt, mode = encoding
    damaged = bytearray(encode(fmt, mode, *shape))
    for _ in range(data.draw(st.integers(1, 4), label="flips")):
        at = data.draw(st.integers(0, len(damaged) - 1), label="at")
        damaged[at] ^= data.draw(st.integers(1, 255), label="mask")
    images[index] = data_uri(bytes(damaged), MIMES[fmt])
    try:
        validate_request({"model": model, "prompt": "edit", "images": images})
    except InputInvalid as exc:
        assert exc.field == f"images[{index}]", str(exc)
        assert_printable(exc)


@settings(max_examples=60, deadline=None)
@given(
    placement=placements(),
    encoding=st.sampled_from(ENCODINGS),
    declared=st.sampled_from(sorted(MIMES.values())),
)
def test_a_data_uri_must_declare_its_image_format(
    placement: tuple[str, list[str], int], encoding: tuple[str, str], declared: str
) -> None:
    model, images, index = placement
    fmt, mode = encoding
    images[index] = data_uri(encode(fmt, mode, 600, 400), declared)
    job = {"model": model, "prompt": "edit", "images": images}
    expected = image_verdict(model, fmt, mode, 600, 400)
    if expected is None and MIMES[fmt] != declared:
        expected = "MIME type must match the image's format"
    if expected is None:
        validate_request(job)
    else:
        assert_refused(refusal(job), Bad(job, f"images[{index}]", expected))


def test_file_size_limits_are_the_models() -> None:
    eleven_mb = data_uri(padded_png(11 * MB), "image/png")
    for model in ("wan2.6-image", "wan2.5-i2i-preview"):
        job = {"model": model, "prompt": "edit", "images": [url(0), eleven_mb]}
        bad = Bad(job, "images[1]", "image files must be at most 10 MB")
        assert_refused(refusal(job), bad)
    validate_request({"model": "wan2.7-image", "prompt": "edit", "images": [eleven_mb]})
    job = {"model": "wan2.7-image", "prompt": "edit", "images": [url(0), url(1), eleven_mb]}
    bad = Bad(job, "images[2]", "the producer's fetch limit")
    assert_refused(refusal(job, fetch_limit_bytes=10 * MB), bad)


def test_a_file_past_every_models_limit_is_refused_unread() -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "huge.png")
        with open(path, "wb") as file:
            file.truncate(21 * MB)  # sparse: nothing to read, nothing to decode
        job = {"model": "wan2.7-image-pro", "prompt": "edit", "images": [path]}
        assert_refused(refusal(job), Bad(job, "images[0]", "at most 20 MB"))


WAN27_SHAPES = [s for s in SMALL_SHAPES if image_verdict(WAN27[0], "PNG", "RGB", *s) is None]
BOXES = st.tuples(
    st.integers(0, 400), st.integers(0, 400), st.integers(1, 8000), st.integers(1, 8000)
).filter(lambda b: b[0] < b[2] and b[1] < b[3])


@settings(max_examples=100, deadline=None)
@given(
    model=st.sampled_from(WAN27),
    shape=st.sampled_from(WAN27_SHAPES),
    box=BOXES,
    index=st.integers(0, 2),
)
def test_a_box_outside_its_image_is_refused(
    model: str, shape: tuple[int, int], box: tuple[int, int, int, int], index: int
) -> None:
    width, height = shape
    images = [url(0), url(1), url(2)]
    images[index] = data_uri(encode("PNG", "RGB", width, height), "image/png")
    bbox_list: list[list[list[int]]] = [[], [], []]
    bbox_list[index] = [[0, 0, 10, 10], list(box)]
    job = {"model": model, "prompt": "edit box 2", "images": images, "bbox_list": bbox_list}
    if box[2] <= width and box[3] <= height:
        validate_request(job)
    else:
        expected = f"a box must lie inside image {index + 1} ({width}x{height})"
        assert_refused(refusal(job), Bad(job, f"bbox_list[{index}][1]", expected))


# --- wire bodies ------------------------------------------------------------------------

_ROOT = re.compile(r"(?P<root>[a-z_]+)(?P<rest>.*)")


def wire_path(model: str, field: str) -> str:
    """Where a request field sits in a wire body of ``model`` (docs/model-rules.md)."""
    match = _ROOT.fullmatch(field)
    assert match is not None
    root, rest = match["root"], match["rest"]
    if model == "wan2.5-i2i-preview" and root in ("prompt", "images", "negative_prompt"):
        return f"input.{field}"
    if root == "images" and rest:
        index, tail = re.fullmatch(r"\[(\d+)\](.*)", rest).groups()  # type: ignore[union-attr]
        return f"input.messages[0].content[{int(index) + 1}].image{tail}"
    if root == "images":
        return "input.messages[0].content"
    if root == "prompt":
        return "input.messages[0].content[0].text"
    if root == "model":
        return "model"
    return f"parameters.{field}"


def to_wire(job: dict[str, Any]) -> dict[str, Any]:
    """The wire body of a job's fields, kept as broken as they are."""
    model = job["model"]
    params = {k: v for k, v in job.items() if k not in ("model", "prompt", "images")}
    if model == "wan2.5-i2i-preview":
        body_input = {"prompt": job["prompt"], "images": job["images"]}
        if "negative_prompt" in params:
            body_input["negative_prompt"] = params.pop("negative_prompt")
        return {"model": model, "input": body_input, "parameters": params}
    content = [{"text": job["prompt"]}, *({"image": src} for src in job["images"])]
    messages = [{"role": "user", "content": content}]
    return {"model": model, "input": {"messages": messages}, "parameters": params}


@pytest.mark.parametrize("breaker", [name for name in BREAKER_NAMES if name != "unknown field"])
@PER_BREAKER
@given(data=st.data())
def test_from_body_names_the_wire_path_of_the_broken_rule(
    breaker: str, data: st.DataObject
) -> None:
    bad = data.draw(bad_jobs(breaker))
    job = bad.job
    # Breaks that have no wire form of their own: the body's shape is checked instead.
    assume(breaker == "model" or job["model"] in MODELS)
    assume("prompt" in job and isinstance(job.get("images"), list))
    # Bodies carry sources to be fetched or resolved: their bytes are not read here.
    assume(bad.phrase not in ("valid base64", "decodable", "does not exist"))
    assume(set(job) <= {"model", "prompt", "images", "negative_prompt", "size", "n", "seed",
                        "watermark", "bbox_list"})  # fmt: skip
    with pytest.raises(InputInvalid) as caught:
        EditRequest.from_body(to_wire(job))
    assert_refused(caught.value, Bad(job, wire_path(job["model"], bad.field), bad.phrase))


@FUZZ
@given(model=st.sampled_from(MODELS), body_input=VALUES, parameters=VALUES)
def test_from_body_only_raises_input_invalid_on_a_wire_path(
    model: str, body_input: Any, parameters: Any
) -> None:
    try:
        body = {"model": model, "input": real(body_input), "parameters": real(parameters)}
        EditRequest.from_body(body)
    except InputInvalid as exc:
        assert exc.field.startswith(("input", "parameters")), str(exc)
        assert_printable(exc)


# --- what workers do with a stored request ----------------------------------------------


@FUZZ
@given(
    model=st.sampled_from(MODELS),
    resolved=VALUES | st.sampled_from([source for source, _ in BAD_SOURCES]),
)
def test_to_body_refuses_what_a_resolver_must_not_return(model: str, resolved: Any) -> None:
    request = EditRequest.model_validate(
        {"model": model, "prompt": "edit", "images": [url(0), "s3://inputs/in/a.png"]}
    )
    resolved = real(resolved)
    try:
        body = request.to_body(lambda _src: resolved)
    except InputInvalid as exc:
        assert exc.field == "images[1]", str(exc)
        assert_printable(exc)
    else:
        assert isinstance(resolved, str) and resolved.lower().startswith(("http", "data:"))
        if model == "wan2.5-i2i-preview":
            assert body["input"]["images"][1] == resolved
        else:
            assert body["input"]["messages"][0]["content"][2] == {"image": resolved}


@FUZZ
@given(model=st.sampled_from(MODELS), sources=st.lists(VALUES, min_size=1, max_size=4))
def test_to_body_of_an_unvalidated_record_raises_only_input_invalid(
    model: str, sources: list[Any]
) -> None:
    """A record read back is not validated again (a hand-written one may hold anything)."""
    request = EditRequest.model_construct(
        model=ModelName(model), prompt="edit", images=tuple(real(sources))
    )
    try:
        request.to_body(lambda _src: url("resolved"))
    except InputInvalid as exc:
        assert re.fullmatch(r"images\[\d\]", exc.field), str(exc)
        assert_printable(exc)


@pytest.mark.parametrize("model", MODELS)
def test_huge_integers_are_refused_without_printing_them(model: str) -> None:
    huge = Unprintable("int").real()
    job = {"model": model, "prompt": "edit", "images": [url(0)], "seed": huge}
    assert_refused(refusal(job), Bad(job, "seed", "seed must be 0 to 2147483647"))
    job = {"model": model, "prompt": "edit", "images": [url(0)], "max_images": huge}
    error = refusal(job)
    assert error.field == "max_images" and "too large to show" in (error.value or "")
    assert_printable(error)


@FUZZ
@given(st.text(st.characters(codec="utf-8"), max_size=40))
def test_valid_unicode_text_is_never_refused_as_unicode(prompt: str) -> None:
    """The lone-surrogate rule refuses only what UTF-8 cannot encode."""
    assume(prompt)
    try:
        validate_request({"model": "wan2.7-image", "prompt": prompt})
    except InputInvalid as exc:  # pragma: no cover - the assertion explains it
        raise AssertionError(str(exc)) from exc


def test_the_bad_jobs_break_every_field() -> None:
    """The properties above are only worth something if every field gets broken."""
    fields: set[str] = set()
    for breaker in BREAKER_NAMES:

        @settings(max_examples=500, deadline=None, database=None)
        @given(bad_jobs(breaker))
        def collect(bad: Bad) -> None:
            fields.add(re.sub(r"\[\d+\]", "[]", bad.field))

        collect()
    expected = {"model", "prompt", "images", "images[]", "size", "n", "seed", "watermark",
                "negative_prompt", "bbox_list", "bbox_list[]", "bbox_list[][]",
                "bbox_list[][][]", "''", "'\\ud800'"}  # fmt: skip
    assert expected <= fields, expected - fields
