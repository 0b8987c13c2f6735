"""Rendering result images: `render_result()` draws the PNG served as a generated image.

Rendering is deterministic: the same arguments always give the same bytes, so tests and
benchmarks can compare results. Pictures are drawn at a reduced working resolution and scaled
up at the end, and PNG is written with the fastest compression, so a 2048x2048 result takes a
fraction of a second.
"""

from __future__ import annotations

import hashlib
import io
import random
import threading
import warnings
from collections import OrderedDict
from typing import Final

from PIL import Image, ImageDraw, ImageFont

_WORK_LONG_SIDE_PX: Final = 512
_PNG_COMPRESS_LEVEL: Final = 1
_CAPTION_WORDS: Final = 6
_TINT_ALPHA: Final = 0.3
_SOURCE_CACHE_ENTRIES: Final = 8

# A task renders n results from the same input, and decoding a large PNG or WEBP costs more
# than the rest of a render: keep the last few cropped sources, keyed by a digest so the
# (up to 20 MB) bytes themselves are not held. Entries are never mutated after insertion.
_source_cache: OrderedDict[tuple[bytes, tuple[int, int]], Image.Image | None] = OrderedDict()
_source_cache_lock = threading.Lock()

Colour = tuple[int, int, int]


def render_result(
    *, width: int, height: int, seed: int, index: int, prompt: str, source: bytes | None
) -> bytes:
    """Render one result image of a task as PNG bytes.

    When `source` decodes, the result is that picture cover-cropped to the output size with
    a seed-dependent tint, frame and caption band, so it reads as "the input, edited".
    Otherwise it is a synthetic picture: a gradient, shapes and the caption.

    Args:
        width: Output width in pixels.
        height: Output height in pixels.
        seed: The task's seed; with `index` it selects colours and shapes.
        index: Position of the image among the task's results.
        prompt: The request's prompt; its first words become the caption.
        source: Bytes of the first input image, if available.

    Returns:
        An RGB PNG of exactly `width` x `height` pixels, identical for identical arguments.

    Raises:
        ValueError: `width` or `height` is not positive.
    """
    if width < 1 or height < 1:
        raise ValueError(f"output size must be positive, got {width}*{height}")
    rng = random.Random(f"{seed}:{index}:{width}*{height}:{prompt}")
    work = _work_size(width, height)
    loaded = _cropped_source(source, work) if source is not None else None
    picture = _synthetic(work, rng) if loaded is None else _edit(loaded, rng)
    _caption(picture, prompt, index)
    if picture.size != (width, height):
        picture = picture.resize((width, height), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    picture.save(out, format="PNG", compress_level=_PNG_COMPRESS_LEVEL)
    return out.getvalue()


def _work_size(width: int, height: int) -> tuple[int, int]:
    scale = min(1.0, _WORK_LONG_SIDE_PX / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _colour(rng: random.Random) -> Colour:
    return rng.randrange(256), rng.randrange(256), rng.randrange(256)


def _cropped_source(source: bytes, work: tuple[int, int]) -> Image.Image | None:
    """`_load_source()` through the small cache of recent sources."""
    key = (hashlib.blake2b(source, digest_size=16).digest(), work)
    with _source_cache_lock:
        if key in _source_cache:
            _source_cache.move_to_end(key)
            return _source_cache[key]
    picture = _load_source(source, work)
    with _source_cache_lock:
        _source_cache[key] = picture
        while len(_source_cache) > _SOURCE_CACHE_ENTRIES:
            _source_cache.popitem(last=False)
    return picture


def _load_source(source: bytes, work: tuple[int, int]) -> Image.Image | None:
    """Decode `source` and cover-crop it to `work`, or None when it does not decode."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(source)) as img:
                img.draft("RGB", (work[0] * 2, work[1] * 2))  # JPEG: decode at reduced scale
                rgb = img.convert("RGB")
    except Exception:  # any decoding failure falls back to a synthetic picture
        return None
    src_w, src_h = rgb.size
    scale = max(work[0] / src_w, work[1] / src_h)
    crop_w, crop_h = work[0] / scale, work[1] / scale
    left, top = (src_w - crop_w) / 2, (src_h - crop_h) / 2
    box = (left, top, left + crop_w, top + crop_h)
    return rgb.resize(work, Image.Resampling.BILINEAR, box=box, reducing_gap=2.0)


def _edit(picture: Image.Image, rng: random.Random) -> Image.Image:
    """Apply a visible seed-dependent edit: a colour tint and a framed rectangle."""
    tinted = Image.blend(picture, Image.new("RGB", picture.size, _colour(rng)), _TINT_ALPHA)
    _rectangle(ImageDraw.Draw(tinted), tinted.size, rng, fill=False)
    return tinted


def _synthetic(work: tuple[int, int], rng: random.Random) -> Image.Image:
    """Draw a gradient background with a few seeded shapes."""
    mask = Image.linear_gradient("L")
    if rng.random() < 0.5:
        mask = mask.transpose(Image.Transpose.ROTATE_90)
    start, end = Image.new("RGB", work, _colour(rng)), Image.new("RGB", work, _colour(rng))
    picture = Image.composite(start, end, mask.resize(work, Image.Resampling.BILINEAR))
    draw = ImageDraw.Draw(picture)
    for _ in range(rng.randint(3, 6)):
        _rectangle(draw, work, rng, fill=True)
    return picture


def _rectangle(
    draw: ImageDraw.ImageDraw, size: tuple[int, int], rng: random.Random, *, fill: bool
) -> None:
    """Draw a seeded rectangle or ellipse covering roughly a tenth to a half of each side."""
    w, h = size
    x1, y1 = rng.uniform(0, 0.7) * w, rng.uniform(0, 0.7) * h
    x2, y2 = x1 + rng.uniform(0.1, 0.5) * w, y1 + rng.uniform(0.1, 0.5) * h
    colour, line = _colour(rng), max(1, min(w, h) // 100)
    shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
    if fill:
        shape((x1, y1, x2, y2), fill=colour)
    else:
        shape((x1, y1, x2, y2), outline=colour, width=line * 2)


def _caption(picture: Image.Image, prompt: str, index: int) -> None:
    """Draw a dark band along the bottom with the result number and the prompt's first words."""
    w, h = picture.size
    band_h = max(1, h // 10)
    text = f"#{index + 1} " + " ".join(prompt.split()[:_CAPTION_WORDS])
    draw = ImageDraw.Draw(picture)
    draw.rectangle((0, h - band_h, w, h), fill=(20, 20, 20))
    font = _font(max(6, band_h * 3 // 5))
    if not isinstance(font, ImageFont.FreeTypeFont):
        text = text.encode("latin-1", "replace").decode("latin-1")  # bitmap font: latin-1 only
    draw.text((band_h // 4, h - band_h + band_h // 5), text, fill=(240, 240, 240), font=font)


def _font(size_px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled font at `size_px`, or its bitmap font without FreeType support.

    Loaded per call (a fraction of a millisecond) rather than cached: renders run in worker
    threads and a FreeType face is not safe to share between them.
    """
    return ImageFont.load_default(size=size_px)
