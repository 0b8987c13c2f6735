"""Image inspection on real images made by Pillow: format, alpha, sides, aspect, size, MIME."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from workers.contract import ImageFacts, ModelName, inspect_image, validate_request
from workers.errors import InputInvalid

PRO = ModelName.WAN27_PRO.value
W27 = ModelName.WAN27.value
W26 = ModelName.WAN26.value
W25 = ModelName.WAN25.value
MIMES = {"JPEG": "image/jpeg", "PNG": "image/png", "BMP": "image/bmp", "WEBP": "image/webp"}


def encode(width: int, height: int, fmt: str = "PNG", mode: str = "RGB", **save: Any) -> bytes:
    image = Image.new(mode, (width, height), color=(200, 120, 40, 255)[: len(mode)])
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save)
    return buffer.getvalue()


def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def image_uri(width: int, height: int, fmt: str = "PNG", mode: str = "RGB") -> str:
    return data_uri(encode(width, height, fmt, mode), MIMES.get(fmt, "image/png"))


def check(model: str, images: list[str], **fields: Any) -> None:
    validate_request({"model": model, "prompt": "edit", "images": images, **fields})


def refusal(model: str, images: list[str], **fields: Any) -> InputInvalid:
    with pytest.raises(InputInvalid) as caught:
        check(model, images, **fields)
    return caught.value


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "BMP", "WEBP"])
def test_accepted_formats(fmt: str) -> None:
    check(W26, [image_uri(300, 300, fmt)])


def test_png_rgba_refused_png_rgb_accepted() -> None:
    check(W27, [image_uri(300, 300, "PNG", "RGB")])
    error = refusal(W27, [image_uri(300, 300), image_uri(300, 300, "PNG", "RGBA")])
    assert error.field == "images[1]"
    assert "PNG without alpha" in error.rule
    assert error.value == "PNG with alpha"


def test_png_with_transparent_colour_refused() -> None:
    data = encode(300, 300, "PNG", "P", transparency=0)
    assert "PNG without alpha" in refusal(W26, [data_uri(data)]).rule


def test_other_formats_refused() -> None:
    error = refusal(W25, [data_uri(encode(400, 400, "GIF", "P"))])
    assert error.field == "images[0]"
    assert error.value == "GIF"


@pytest.mark.parametrize("model", [PRO, W27, W26, W25])
def test_tiny_image_refused(model: str) -> None:
    error = refusal(model, [image_uri(100, 100)])
    assert error.field == "images[0]"
    assert model in error.rule
    assert error.value == "100x100"


def test_side_boundaries() -> None:
    check(W26, [image_uri(240, 240)])
    assert "240 to 8000" in refusal(W26, [image_uri(239, 240)]).rule
    check(W25, [image_uri(384, 384)])
    assert "384 to 5000" in refusal(W25, [image_uri(383, 384)]).rule


def test_aspect_limits() -> None:
    one_to_five = image_uri(400, 2000, "JPEG")
    check(W26, [one_to_five])
    error = refusal(W25, [one_to_five])
    assert "4:1" in error.rule and W25 in error.rule
    check(W27, [image_uri(240, 1920)])
    assert "8:1" in refusal(W27, [image_uri(240, 1928)]).rule


def test_truncated_bytes_refused() -> None:
    for fmt in ("JPEG", "PNG"):
        data = encode(400, 400, fmt, quality=95) if fmt == "JPEG" else encode(400, 400, fmt)
        cut = data_uri(data[: len(data) // 2], MIMES[fmt])
        error = refusal(W27, [cut])
        assert error.field == "images[0]"
        assert "decodable" in error.rule


def test_garbage_and_bad_base64_refused() -> None:
    assert "decodable" in refusal(W27, [data_uri(b"not an image at all")]).rule
    assert "base64" in refusal(W27, ["data:image/png;base64,@@@@"]).rule


def test_mime_mismatch_refused() -> None:
    jpeg_as_png = data_uri(encode(300, 300, "JPEG"), "image/png")
    error = refusal(W27, [jpeg_as_png])
    assert "MIME" in error.rule
    assert error.value == "image/png declared, JPEG found"


def test_error_never_dumps_base64() -> None:
    error = refusal(W27, [data_uri(encode(300, 300, "PNG", "RGBA"))])
    assert len(str(error)) < 200
    with pytest.raises(InputInvalid) as caught:
        check(W27, ["data:image/gif;base64," + "A" * 10_000])
    assert len(str(caught.value)) < 300


def test_local_paths(tmp_path: Path) -> None:
    path = tmp_path / "a.jpg"
    path.write_bytes(encode(500, 400, "JPEG"))
    check(W25, [str(path), f"file://{path}"])
    missing = refusal(W25, [str(path), str(tmp_path / "missing.png")])
    assert missing.field == "images[1]"
    assert "does not exist" in missing.rule
    assert "cannot be read" in refusal(W25, [str(tmp_path)]).rule


def test_remote_sources_are_not_inspected() -> None:
    assert inspect_image("https://example.com/a.png") is None
    assert inspect_image("s3://bucket/a.png") is None
    check(W27, ["https://example.com/a.png", "s3://bucket/a.png"], bbox_list=[[[0, 0, 9, 9]], []])


def test_inspect_image_facts(tmp_path: Path) -> None:
    data = encode(320, 240, "WEBP")
    facts = inspect_image(data_uri(data, "image/webp"))
    assert facts == ImageFacts("WEBP", 320, 240, len(data), has_alpha=False)
    path = tmp_path / "a.png"
    path.write_bytes(encode(250, 260, "PNG", "LA"))
    local = inspect_image(f"file://{path}")
    assert local is not None and local.has_alpha and (local.width, local.height) == (250, 260)


def test_inspection_can_be_skipped() -> None:
    validate_request(
        {"model": W27, "prompt": "x", "images": [data_uri(b"garbage")]}, inspect_images=False
    )


def test_boxes_must_lie_inside_their_image() -> None:
    uri = image_uri(300, 250)
    check(W27, [uri], bbox_list=[[[0, 0, 300, 250]]])
    wide = refusal(W27, [uri], bbox_list=[[[0, 0, 301, 250]]])
    assert wide.field == "bbox_list[0][0]"
    assert "300x250" in wide.rule
    tall_box = [0, 0, 100, 251]
    tall = refusal(
        W27, ["https://example.com/a.png", uri], bbox_list=[[], [[0, 0, 9, 9], tall_box]]
    )
    assert tall.field == "bbox_list[1][1]"


def test_file_size_limit_per_model(tmp_path: Path) -> None:
    # Noise does not compress: 1900*1900*3 bytes of BMP is just over 10 MB.
    noise = Image.frombytes("RGB", (1900, 1900), os.urandom(1900 * 1900 * 3))
    path = tmp_path / "noise.bmp"
    noise.save(path, format="BMP")
    assert 10 * 1024 * 1024 < path.stat().st_size < 20 * 1024 * 1024
    error = refusal(W26, [str(path)])
    assert error.field == "images[0]"
    assert "10 MB" in error.rule and W26 in error.rule
    assert "10 MB" in refusal(W25, [str(path)]).rule
    check(W27, [str(path)])


def test_fetch_limit_refuses_before_reading() -> None:
    uri = image_uri(300, 300, "BMP")
    with pytest.raises(InputInvalid) as caught:
        validate_request({"model": W27, "prompt": "x", "images": [uri]}, fetch_limit_bytes=1000)
    assert "fetch limit" in caught.value.rule
    assert caught.value.field == "images[0]"
