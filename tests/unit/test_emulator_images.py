"""Tests for emulator.intake.image_info and emulator.storage.render (decode, render)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image, ImageStat

from emulator.intake.image_info import ImageInfo, image_dimensions
from emulator.storage.render import render_result


def encode(width: int, height: int, fmt: str = "PNG", mode: str = "RGB", **save: Any) -> bytes:
    out = io.BytesIO()
    colour = (200, 30, 30, 255)[: len(mode)] if mode in ("RGB", "RGBA") else 0
    Image.new(mode, (width, height), colour).save(out, fmt, **save)
    return out.getvalue()


def render(**overrides: Any) -> bytes:
    args: dict[str, Any] = {
        "width": 320,
        "height": 240,
        "seed": 42,
        "index": 0,
        "prompt": "Spray the graffiti from image 2 onto the car in image 1",
        "source": None,
    }
    args.update(overrides)
    return render_result(**args)


def open_png(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


# ------------------------------------------------------------------------------- image_dimensions


@pytest.mark.parametrize(
    ("fmt", "mode", "save", "expected"),
    [
        ("PNG", "RGB", {}, ImageInfo("PNG", 30, 20, False)),
        ("PNG", "L", {}, ImageInfo("PNG", 30, 20, False)),
        ("PNG", "RGBA", {}, ImageInfo("PNG", 30, 20, True)),
        ("PNG", "LA", {}, ImageInfo("PNG", 30, 20, True)),
        ("PNG", "P", {"transparency": 0}, ImageInfo("PNG", 30, 20, True)),
        ("PNG", "RGB", {"transparency": (0, 0, 0)}, ImageInfo("PNG", 30, 20, True)),
        ("JPEG", "RGB", {}, ImageInfo("JPEG", 30, 20, False)),
        ("BMP", "RGB", {}, ImageInfo("BMP", 30, 20, False)),
        ("WEBP", "RGB", {}, ImageInfo("WEBP", 30, 20, False)),
        ("GIF", "P", {}, ImageInfo("GIF", 30, 20, False)),
    ],
)
def test_image_dimensions(fmt: str, mode: str, save: dict[str, Any], expected: ImageInfo) -> None:
    assert image_dimensions(encode(30, 20, fmt, mode, **save)) == expected


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not an image at all",
        encode(200, 200, "PNG")[:-30],
        encode(200, 200, "JPEG")[:300],
        encode(200, 200, "WEBP")[:40],
    ],
)
def test_image_dimensions_refuses_damaged_data(data: bytes) -> None:
    with pytest.raises(ValueError, match="not a decodable image"):
        image_dimensions(data)


# ------------------------------------------------------------------------------- render_result


@pytest.mark.parametrize(
    ("width", "height"), [(320, 240), (1, 1), (17, 900), (1008, 16), (1456, 2896)]
)
@pytest.mark.parametrize("with_source", [False, True])
def test_render_is_an_rgb_png_of_the_exact_size(width: int, height: int, with_source: bool) -> None:
    source = encode(500, 400, "JPEG") if with_source else None
    img = open_png(render(width=width, height=height, source=source))
    assert (img.format, img.mode, img.size) == ("PNG", "RGB", (width, height))


@pytest.mark.parametrize("with_source", [False, True])
def test_render_is_deterministic(with_source: bool) -> None:
    source = encode(500, 400, "PNG") if with_source else None
    assert render(source=source) == render(source=source)


@pytest.mark.parametrize("change", [{"seed": 43}, {"index": 1}, {"prompt": "A different prompt"}])
@pytest.mark.parametrize("with_source", [False, True])
def test_render_depends_on_seed_index_and_prompt(change: dict[str, Any], with_source: bool) -> None:
    source = encode(500, 400, "PNG") if with_source else None
    assert render(source=source) != render(source=source, **change)


def test_render_from_source_differs_from_synthetic() -> None:
    assert render(source=encode(500, 400, "JPEG")) != render(source=None)


def test_render_from_source_keeps_the_source_visible() -> None:
    red = open_png(render(width=400, height=400, source=encode(600, 300, "PNG")))
    top = red.crop((0, 0, 400, 300))  # above the caption band
    r, g, b = ImageStat.Stat(top).mean
    assert r > 120 and r > 2 * g and r > 2 * b


def test_render_from_source_is_edited() -> None:
    flat = encode(600, 600, "PNG")
    img = open_png(render(width=300, height=300, source=flat))
    colours = img.getcolors(maxcolors=300 * 300) or []
    assert len(colours) > 2  # tint, frame and caption, not a copy of the input


def test_undecodable_source_falls_back_to_synthetic() -> None:
    assert render(source=b"garbage bytes") == render(source=None)


def test_render_handles_any_prompt() -> None:
    for prompt in ["", "   ", "把图2的涂鸦喷到图1的汽车上", "emoji 🎨 " * 50]:
        assert open_png(render(prompt=prompt)).size == (320, 240)


@pytest.mark.parametrize(("width", "height"), [(0, 10), (10, 0), (-1, -1)])
def test_render_refuses_empty_sizes(width: int, height: int) -> None:
    with pytest.raises(ValueError):
        render(width=width, height=height)
