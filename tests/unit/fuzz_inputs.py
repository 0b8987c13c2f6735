"""Hostile inputs for the fuzz tests, each with the field it must be refused on and the rule.

:func:`good_jobs` draws valid jobs (http(s) sources only, so that nothing needs staging);
:func:`bad_jobs` draws a valid job with exactly one rule broken, as a :class:`Bad` that knows
the field path the error must name and words its rule must contain. The expected fields and
words are written here from docs/model-rules.md and the provider's page, not read back from
the contract's messages.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import redis
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from workers.contract.problems import short_repr
from workers.errors import InputInvalid

MODELS = ["wan2.7-image-pro", "wan2.7-image", "wan2.6-image", "wan2.5-i2i-preview"]
WAN27 = ("wan2.7-image-pro", "wan2.7-image")
REQUEST_FIELDS = (
    "model",
    "prompt",
    "images",
    "negative_prompt",
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
JOB_FIELDS = ("custom_id", "tenant", "priority")
# (fewest, most) input images in each model's default mode; prompt length limit.
IMAGE_COUNTS = {
    "wan2.7-image-pro": (0, 9),
    "wan2.7-image": (0, 9),
    "wan2.6-image": (1, 4),
    "wan2.5-i2i-preview": (1, 3),
}
PROMPT_CHARS = {"wan2.7-image-pro": 5000, "wan2.7-image": 5000}
PROMPT_CHARS_DEFAULT = 2000
MAX_SIDE = {"wan2.5-i2i-preview": 5000}
MAX_SIDE_DEFAULT = 8000
MIN_SIDE = {"wan2.5-i2i-preview": 384}
MIN_SIDE_DEFAULT = 240
ASPECT_MAX: dict[str, int | None] = {
    "wan2.7-image-pro": 8,
    "wan2.7-image": 8,
    "wan2.6-image": None,
    "wan2.5-i2i-preview": 4,
}
MAX_BYTES = {"wan2.7-image-pro": 20, "wan2.7-image": 20, "wan2.6-image": 10}
MAX_BYTES_DEFAULT = 10
MB = 1024 * 1024

MAX_MESSAGE_CHARS = 500
"""Longest acceptable error line: a message echoes a short rendering of the input, never it."""


@dataclass(frozen=True)
class Bad:
    """A job that breaks one rule.

    Attributes:
        job: The job as a caller gives it (usually a mapping of fields).
        field: The field path the error must name.
        phrase: Words the error's rule must contain.
    """

    job: Any
    field: str
    phrase: str


def url(tag: object) -> str:
    return f"https://cdn.example.test/{tag}.png"


prompts = st.text(min_size=1, max_size=30)  # hypothesis leaves lone surrogates out by default


@st.composite
def good_jobs(draw: st.DrawFn, models: list[str] = MODELS) -> dict[str, Any]:
    """A valid job of any model, with http(s) sources."""
    model = draw(st.sampled_from(models))
    low, high = IMAGE_COUNTS[model]
    count = draw(st.integers(max(low, 1) if draw(st.booleans()) else low, min(high, 4)))
    job: dict[str, Any] = {
        "model": model,
        "prompt": draw(prompts),
        "images": [url(f"{index}-{draw(st.integers(0, 999))}") for index in range(count)],
    }
    if draw(st.booleans()):
        job["seed"] = draw(st.integers(0, 2**31 - 1))
    if draw(st.booleans()):
        job["watermark"] = draw(st.booleans())
    return job


# --- one rule broken ------------------------------------------------------------------------

NOT_TEXT = st.one_of(
    st.integers(), st.floats(), st.booleans(), st.none(), st.lists(st.integers(), max_size=2)
)
NOT_INT = st.one_of(
    st.booleans(), st.floats(), st.text(max_size=5), st.lists(st.integers(), max_size=2)
)
NOT_BOOL = st.one_of(st.integers(), st.floats(), st.text(max_size=5), st.lists(st.booleans()))
NOT_LIST = st.one_of(st.text(max_size=40), st.integers(), st.booleans(), st.dictionaries(
    st.text(max_size=3), st.integers(), max_size=2
))  # fmt: skip

# (source, words of the rule): schemes that are not http(s), data URIs not of an accepted
# kind, URLs the service could not fetch as written.
BAD_SOURCES = [
    ("ftp://cdn.example.test/a.png", "not ftp:"),
    ("gopher://cdn.example.test/a.png", "not gopher:"),
    ("javascript:alert(1)", "not javascript:"),
    ("ws://cdn.example.test/a.png", "not ws:"),
    ("mailto:shop@example.test", "not mailto:"),
    ("oss://bucket/a.png", "not oss:"),
    ("x" * 5000 + "://cdn.example.test/a.png", "local paths"),
    ("data:text/plain;base64,SGVsbG8=", "MIME type must be one of"),
    ("data:image/gif;base64,R0lGODlh", "MIME type must be one of"),
    ("data:image/jpg;base64,/9j/", "MIME type must be one of"),
    ("data:image/svg+xml;base64,PHN2Zz4=", "MIME type must be one of"),
    ("data:image/png,rawbytes", "data:<mime>;base64"),
    ("data:;base64,AAAA", "MIME type must be one of"),
    ("data:image/png;base64,not base64!", "valid base64"),
    ("data:image/png;base64,", "decodable"),
    ("http://", "name a host"),
    ("https:///a.png", "name a host"),
    ("http://:8080/a.png", "name a host"),
    ("http://[::1/a.png", "well formed"),
    ("https://cdn.example.test:99999/a.png", "well formed"),
    ("https://cdn.example.test:" + "9" * 5000 + "/a.png", "well formed"),
    ("https://cdn.example.test:port/a.png", "well formed"),
    ("https://cdn.example.test:0/a.png", "port must be"),
    ("https://cdn.example.test/a b.png", "spaces or control characters"),
    ("https://cdn.example.test/a.png\n", "spaces or control characters"),
    ("https://cdn.example.test/\ta.png", "spaces or control characters"),
    ("https://cdn.example.test/a\x7f.png", "spaces or control characters"),
    ("https://cdn.example.test/\u3000.png", "spaces or control characters"),
    ("s3://bucket", "s3://bucket/key"),
    ("s3:///key.png", "s3://bucket/key"),
    ("file://", "file:// source must name a file"),
    ("", "must be a URL"),
    ("   ", "must be a URL"),
    ("a\x00b.png", "must be a URL"),
    ("/nonexistent/wanq-fuzz/a.png", "does not exist"),
    ("file:///nonexistent/wanq-fuzz/a.png", "does not exist"),
    ("https://cdn.example.test/\ud800.png", "Unicode"),
]
# (size, words of the rule), valid nowhere.
BAD_SIZES = [
    ("abc", "W*H"),
    ("", "W*H"),
    ("1024x1024", "W*H"),
    ("0*1024", "W*H"),
    ("-1024*1024", "W*H"),
    ("1024*1024 ", "W*H"),
    ("1k", "W*H"),
    ("1*1", "total pixels"),
    ("767*767", "total pixels"),
    ("9" * 5000 + "*9", "total pixels"),
    ("1" + "0" * 12 + "*1", "total pixels"),
    ("5000*5000", "total pixels"),
]


def _with(job: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {**job, **fields}


def _with_images(job: dict[str, Any]) -> list[str]:
    """The job's images, at least one."""
    return list(job["images"]) or [url("only")]


@st.composite
def _prompt(draw: st.DrawFn, job: dict[str, Any]) -> Bad:
    model = job["model"]
    limit = PROMPT_CHARS.get(model, PROMPT_CHARS_DEFAULT)
    case = draw(st.sampled_from(["missing", "type", "empty", "long", "surrogate"]))
    if case == "missing":
        return Bad({k: v for k, v in job.items() if k != "prompt"}, "prompt", "is required")
    if case == "type":
        return Bad(_with(job, prompt=draw(NOT_TEXT)), "prompt", "must be a string")
    if case == "empty":
        return Bad(_with(job, prompt=""), "prompt", "prompt of 1 to")
    if case == "long":
        length = draw(st.sampled_from([limit + 1, limit * 10, 1_000_000]))
        return Bad(_with(job, prompt="x" * length), "prompt", f"prompt of 1 to {limit}")
    text = draw(prompts)
    at = draw(st.integers(0, len(text)))
    lone = chr(draw(st.integers(0xD800, 0xDFFF)))
    return Bad(_with(job, prompt=text[:at] + lone + text[at:]), "prompt", "Unicode")


@st.composite
def _model(draw: st.DrawFn, job: dict[str, Any]) -> Bad:
    model = draw(st.text(max_size=30).filter(lambda m: m not in MODELS) | NOT_TEXT)
    return Bad(_with(job, model=model), "model", "must be one of")


@st.composite
def _unknown_field(draw: st.DrawFn, job: dict[str, Any]) -> Bad:
    known = {*REQUEST_FIELDS, *JOB_FIELDS}
    key = draw(
        st.one_of(
            st.text(max_size=12),
            st.sampled_from(["Model", "prompts", "image", "parameters", "input", "bbox"]),
            st.just("k" * 300),
            st.just("\ud800"),
            st.just("new\nline"),
        ).filter(lambda k: k not in known)
    )
    value = draw(st.one_of(st.none(), st.integers(), st.text(max_size=5), st.just("v" * 10_000)))
    # A short printable name is shown as is; any other in quotes, escaped and cut short.
    plain = 0 < len(key) <= 80 and key.isprintable()
    return Bad(_with(job, **{key: value}), key if plain else short_repr(key), "not a field")


@st.composite
def _images(draw: st.DrawFn, job: dict[str, Any]) -> Bad:
    model = job["model"]
    low, high = IMAGE_COUNTS[model]
    images = _with_images(job)
    index = draw(st.integers(0, len(images) - 1))
    case = draw(st.sampled_from(["not list", "item type", "source", "scheme", "count"]))
    if case == "not list":
        return Bad(_with(job, images=draw(NOT_LIST)), "images", "must be a list")
    if case == "item type":
        images[index] = draw(NOT_TEXT | st.dictionaries(st.text(max_size=3), st.integers()))
        return Bad(_with(job, images=images), f"images[{index}]", "must be a string")
    if case == "source":
        images[index], phrase = draw(st.sampled_from(BAD_SOURCES))
        return Bad(_with(job, images=images), f"images[{index}]", phrase)
    if case == "scheme":
        scheme = draw(
            st.from_regex(r"[a-z][a-z0-9+.-]{1,10}", fullmatch=True).filter(
                lambda s: s not in ("http", "https", "data", "s3", "file")
            )
        )
        images[index] = f"{scheme}://cdn.example.test/a.png"
        return Bad(_with(job, images=images), f"images[{index}]", "image sources may be")
    count = draw(st.sampled_from([high + 1, high + 5] + ([low - 1] if low else [])))
    return Bad(_with(job, images=[url(i) for i in range(count)]), "images", "input images")


@st.composite
def _parameters(draw: st.DrawFn, job: dict[str, Any]) -> Bad:
    case = draw(st.sampled_from(["size", "n type", "n range", "seed", "seed type", "watermark"]))
    if case == "size":
        size, phrase = draw(st.sampled_from(BAD_SIZES))
        return Bad(_with(job, size=size), "size", phrase)
    if case == "n type":
        return Bad(_with(job, n=draw(NOT_INT)), "n", "must be an integer")
    if case == "n range":
        n = draw(st.integers(max_value=0) | st.integers(min_value=5))
        return Bad(_with(job, n=n), "n", "n must be 1 to 4")
    if case == "seed":
        seed = draw(st.integers(max_value=-1) | st.integers(min_value=2**31))
        return Bad(_with(job, seed=seed), "seed", "seed must be 0 to 2147483647")
    if case == "seed type":
        return Bad(_with(job, seed=draw(NOT_INT)), "seed", "must be an integer")
    return Bad(_with(job, watermark=draw(NOT_BOOL)), "watermark", "must be true or false")


@st.composite
def _negative_prompt(draw: st.DrawFn, job: dict[str, Any]) -> Bad:
    if job["model"] in WAN27:
        bad = _with(job, negative_prompt=draw(st.text(max_size=5)))
        return Bad(bad, "negative_prompt", "does not support negative_prompt")
    length = draw(st.sampled_from([501, 5000, 1_000_000]))
    return Bad(_with(job, negative_prompt="n" * length), "negative_prompt", "at most 500")


BOX = st.tuples(
    st.integers(0, 99), st.integers(0, 99), st.integers(100, 200), st.integers(100, 200)
).map(list)


@st.composite
def _bbox_list(draw: st.DrawFn, job: dict[str, Any]) -> Bad:
    images = _with_images(job)
    if job["model"] not in WAN27:
        images = images[: IMAGE_COUNTS[job["model"]][1]]
        bad = _with(job, images=images, bbox_list=[[] for _ in images])
        return Bad(bad, "bbox_list", "does not support bbox_list")
    boxes: list[Any] = [draw(st.lists(BOX, max_size=2)) for _ in images]
    i = draw(st.integers(0, len(images) - 1))
    case = draw(st.sampled_from(["count", "many", "type"]))
    if case == "count":
        extra = draw(st.sampled_from([-1, 1, 3]))
        bad = _with(job, images=images, bbox_list=[[]] * max(0, len(images) + extra))
        return Bad(bad, "bbox_list", "one entry per input image")
    if case == "many":
        boxes[i] = draw(st.lists(BOX, min_size=3, max_size=5))
        return Bad(_with(job, images=images, bbox_list=boxes), f"bbox_list[{i}]", "at most 2")
    bad = _with(job, images=images, bbox_list=draw(NOT_LIST))
    return Bad(bad, "bbox_list", "must be a list")


@st.composite
def _box(draw: st.DrawFn, job: dict[str, Any]) -> Bad:
    job = _with(job, model=draw(st.sampled_from(WAN27)))
    images = _with_images(job)
    boxes: list[Any] = [draw(st.lists(BOX, max_size=2)) for _ in images]
    i = draw(st.integers(0, len(images) - 1))
    case = draw(st.sampled_from(["length", "order", "outside", "coord"]))
    boxes[i] = draw(st.lists(BOX, max_size=1))  # room for the bad box: two at most
    j = len(boxes[i])
    box = draw(BOX)
    if case == "length":
        box = draw(st.lists(st.integers(0, 50), max_size=7).filter(lambda b: len(b) != 4))
        phrase = "4 integers"
    elif case == "order":
        x1, y1, x2, y2 = box
        box = draw(st.sampled_from([[x2, y1, x1, y2], [x1, y2, x2, y1], [x1, y1, x1, y2]]))
        phrase = "x1 < x2"
    elif case == "outside":
        box[draw(st.sampled_from([2, 3]))] = draw(st.integers(8001, 10**30))
        phrase = "inside its image"
    else:
        k = draw(st.integers(0, 3))
        box[k] = draw(st.one_of(st.floats(), st.text(max_size=3), st.booleans(), st.none()))
        boxes[i] = [*boxes[i], box]
        return Bad(
            _with(job, images=images, bbox_list=boxes), f"bbox_list[{i}][{j}][{k}]", "integer"
        )
    boxes[i] = [*boxes[i], box]
    return Bad(_with(job, images=images, bbox_list=boxes), f"bbox_list[{i}][{j}]", phrase)


BREAKERS: dict[str, Callable[[dict[str, Any]], st.SearchStrategy[Bad]]] = {
    "prompt": _prompt,
    "model": _model,
    "unknown field": _unknown_field,
    "images": _images,
    "parameters": _parameters,
    "negative_prompt": _negative_prompt,
    "bbox_list": _bbox_list,
    "box": _box,
}
"""What each kind of break touches (tests run each kind on its own, so that hypothesis, which
tries simple choices first, gives every kind its share)."""


@st.composite
def bad_jobs(draw: st.DrawFn, breaker: str | None = None) -> Bad:
    """A valid job with one rule broken (by ``breaker``, or any)."""
    job = draw(good_jobs())
    name = breaker or draw(st.sampled_from(sorted(BREAKERS)))
    return draw(BREAKERS[name](job))


NOT_A_MAPPING = st.one_of(
    st.none(), st.integers(), st.text(max_size=20), st.lists(st.integers(), max_size=3)
).map(lambda value: Bad(value, "request", "mapping of field names"))
"""Jobs that are not a mapping at all (the Python API takes whatever a caller passes)."""


def assert_refused(error: Exception, bad: Bad) -> None:
    """Check that an error names the broken rule of ``bad``, in a message fit to print."""
    assert isinstance(error, InputInvalid), repr(error)
    assert error.field == bad.field, f"{error} (expected {bad.field}: ...{bad.phrase}...)"
    assert bad.phrase in error.rule, f"{error} (expected {bad.field}: ...{bad.phrase}...)"
    assert_printable(error)


def assert_printable(error: Exception) -> None:
    """An error line is short and UTF-8 encodable, whatever the input was."""
    text = str(error)
    assert len(text) <= MAX_MESSAGE_CHARS, text[:MAX_MESSAGE_CHARS]
    text.encode("utf-8")


# --- images -------------------------------------------------------------------------------

MIMES = {"JPEG": "image/jpeg", "PNG": "image/png", "BMP": "image/bmp", "WEBP": "image/webp"}
# Modes with transparency: "P+t" is a palette image with a transparent colour.
ALPHA_MODES = ("RGBA", "LA", "P+t")
ENCODINGS = [
    ("PNG", "RGB"), ("PNG", "L"), ("PNG", "RGBA"), ("PNG", "LA"), ("PNG", "P"), ("PNG", "P+t"),
    ("JPEG", "RGB"), ("JPEG", "L"), ("BMP", "RGB"), ("BMP", "L"), ("WEBP", "RGB"),
    ("WEBP", "RGBA"), ("GIF", "P"), ("TIFF", "RGB"),
]  # fmt: skip
# (width, height): at and around every side and aspect bound of the rule table.
SHAPES = [
    (300, 300), (240, 240), (239, 400), (400, 239), (384, 384), (383, 500), (600, 400),
    (1536, 384), (1537, 384), (240, 1920), (240, 1921), (5000, 400), (5001, 400),
    (8000, 240), (8001, 240), (100, 100),
]  # fmt: skip


def trailer_bytes(fmt: str, mode: str, width: int) -> int:
    """Bytes at the end of a file that no decoder needs: PNG's IEND CRC, JPEG's EOI marker,
    the padding of a BMP's last row (rows are 4-byte aligned). Cutting only into them leaves
    every pixel intact, so Pillow (and the emulator) accept the file."""
    if fmt == "BMP":
        return -(width * len(mode)) % 4
    return {"PNG": 4, "JPEG": 2}.get(fmt, 0)


@cache
def encode(fmt: str, mode: str, width: int, height: int) -> bytes:
    """An image file of one colour."""
    pil_mode = "P" if mode == "P+t" else mode
    image = Image.new(pil_mode, (width, height), 100 if len(pil_mode) == 1 else None)
    if image.mode in ("RGB", "RGBA", "LA"):
        image.paste((30, 140, 200, 255)[: len(image.mode)], (0, 0, width, height))
    options: dict[str, Any] = {"transparency": 100} if mode == "P+t" else {}
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def padded_png(total_bytes: int) -> bytes:
    """A valid 400x400 PNG made larger than ``total_bytes`` by a text chunk."""
    info = PngImagePlugin.PngInfo()
    info.add_text("padding", "p" * total_bytes)
    out = io.BytesIO()
    Image.new("RGB", (400, 400), (200, 30, 30)).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def image_verdict(model: str, fmt: str, mode: str, width: int, height: int) -> str | None:
    """Words of the rule an undamaged image breaks for ``model``, or None if accepted."""
    if fmt not in MIMES or (fmt == "PNG" and mode in ALPHA_MODES):
        return "accepts JPEG, PNG without alpha, BMP and WEBP"
    low, high = MIN_SIDE.get(model, MIN_SIDE_DEFAULT), MAX_SIDE.get(model, MAX_SIDE_DEFAULT)
    if not (low <= width <= high and low <= height <= high):
        return f"width and height must be {low} to {high}"
    aspect = ASPECT_MAX[model]
    if aspect is not None and max(width, height) > aspect * min(width, height):
        return f"aspect ratio (long:short) must be at most {aspect}:1"
    return None


# --- Redis ------------------------------------------------------------------------------


def clear(client: redis.Redis, prefix: str) -> None:
    """Delete every key under the test's prefix (hypothesis reuses a test's fixtures)."""
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)


@dataclass(frozen=True)
class Queued:
    """What Redis holds of the jobs: records, custom ids, parked jobs, broker messages."""

    custom_ids: dict[str, str]  # custom id -> job id, from the records
    prompts: dict[str, str]  # job id -> prompt
    custom_keys: set[str]
    parked: set[str]
    messages: int


def queued(client: redis.Redis, prefix: str) -> Queued:
    custom_ids: dict[str, str] = {}
    prompts: dict[str, str] = {}
    for key in client.scan_iter(match=f"{prefix}job:*"):
        fields = client.hgetall(key)
        text = {_text(k): _text(v) for k, v in fields.items()}
        if "request" not in text:
            continue
        job_id = _text(key)[len(f"{prefix}job:") :]
        prompts[job_id] = json.loads(text["request"])["prompt"]
        if "custom_id" in text:
            custom_ids[text["custom_id"]] = job_id
    custom = f"{prefix}custom:"
    custom_keys = {_text(k)[len(custom) :] for k in client.scan_iter(match=f"{custom}*")}
    parked = {_text(m) for m in client.smembers(f"{prefix}wait:parked")}
    return Queued(custom_ids, prompts, custom_keys, parked, client.llen(f"{prefix}submit"))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# --- manifests ----------------------------------------------------------------------------

BOM = b"\xef\xbb\xbf"
# (line, words of the rule): lines that are not one JSON object. Their field is "json".
MALFORMED_LINES = [
    (b'{"model": "wan2.7-image",', "one JSON object"),
    (b"{'model': 'wan2.7-image'}", "one JSON object"),
    (b'{"model": "wan2.7-image", "prompt": "x"} trailing', "one JSON object"),
    (BOM + b'{"model": "wan2.7-image"}', "one JSON object"),  # a BOM past line 1
    (b"\x00", "one JSON object"),
    (b"x" * 1_000_000, "one JSON object"),
    (b"[1, 2]", "JSON object of edit request fields"),
    (b"null", "JSON object of edit request fields"),
    (b"NaN", "JSON object of edit request fields"),
    (b'"https://cdn.example.test/a.png"', "JSON object of edit request fields"),
    (b"\xff\xfe\x00{}", "UTF-8"),
    (b'{"prompt": "caf\xe9"}', "UTF-8"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "nested too deeply"),
    (b'{"n": ' + b"1" * 5000 + b"}", "a number too long"),
]
# (fields merged into a good line, field, words of the rule): a line's own job fields.
BAD_JOB_FIELDS: list[tuple[dict[str, Any], str, str]] = [
    ({"custom_id": "has space"}, "custom_id", "1 to 256 printable"),
    ({"custom_id": "x" * 257}, "custom_id", "1 to 256 printable"),
    ({"custom_id": ""}, "custom_id", "1 to 256 printable"),
    ({"custom_id": 12}, "custom_id", "1 to 256 printable"),
    ({"custom_id": ["sku"]}, "custom_id", "1 to 256 printable"),
    ({"custom_id": "bell\x07"}, "custom_id", "1 to 256 printable"),
    ({"custom_id": "sku-\ud800"}, "custom_id", "1 to 256 printable"),
    ({"tenant": "two words"}, "tenant", "1 to 256 printable"),
    ({"tenant": {"name": "shop"}}, "tenant", "1 to 256 printable"),
    ({"tenant": "esc\x1b[31m"}, "tenant", "1 to 256 printable"),
    ({"priority": "urgent"}, "priority", "'interactive' or 'bulk'"),
    ({"priority": 1}, "priority", "'interactive' or 'bulk'"),
    ({"priority": ["bulk"]}, "priority", "'interactive' or 'bulk'"),
]


@dataclass(frozen=True)
class Manifest:
    """A manifest's lines (bytes, as a file yields them), what must be refused and accepted.

    Attributes:
        lines: The lines, each ending in a newline.
        refused: (line number, field, words of the rule) of each bad line, in order.
        good: The custom ids of the good lines.
    """

    lines: list[bytes]
    refused: list[tuple[int, str, str]]
    good: list[str]

    def text(self) -> bytes:
        return b"".join(self.lines)


KINDS = st.sampled_from(["good", "bad", "malformed", "job field", "blank"])


@st.composite
def manifests(draw: st.DrawFn, max_lines: int = 10) -> Manifest:
    """Good lines (each with its custom id), lines breaking one rule, lines that are not JSON
    objects, and blank lines, in any order."""
    lines: list[bytes] = []
    refused: list[tuple[int, str, str]] = []
    good: list[str] = []
    for number in range(1, draw(st.integers(1, max_lines)) + 1):
        kind = draw(KINDS)
        custom_id = f"line-{number}"
        if kind == "good":
            line = json.dumps({**draw(good_jobs()), "custom_id": custom_id}).encode()
            good.append(custom_id)
        elif kind == "bad":
            bad = draw(bad_jobs())
            line = json.dumps({**bad.job, "custom_id": custom_id}).encode()
            refused.append((number, bad.field, bad.phrase))
        elif kind == "malformed":
            # (a BOM is only malformed past line 1: the first line's is dropped)
            choices = [m for m in MALFORMED_LINES if number > 1 or not m[0].startswith(BOM)]
            line, phrase = draw(st.sampled_from(choices))
            refused.append((number, "json", phrase))
        elif kind == "job field":
            fields, field, phrase = draw(st.sampled_from(BAD_JOB_FIELDS))
            job = {**draw(good_jobs()), "custom_id": custom_id, **fields}
            line = json.dumps(job).encode()
            refused.append((number, field, phrase))
        else:
            line = draw(st.sampled_from([b"", b"   ", b"\t", b"\r"]))
        if number == 1 and draw(st.booleans()):
            line = BOM + line  # a BOM on the first line is not part of it
        lines.append(line + draw(st.sampled_from([b"\n", b"\r\n"])))
    return Manifest(lines, refused, good)
