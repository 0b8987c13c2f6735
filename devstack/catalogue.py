"""A sample catalogue of edits on synthetic product photos, made with Pillow.

Used by the demo: 26 lines over all four models, with a bbox edit, a multi-image fusion, n>1
jobs, a text-to-image job, two prompts the emulator's content filter fails (its
``moderation_terms``), and one line that breaks a rule and is refused before anything is queued.
"""

from __future__ import annotations

import base64
import io
import random
from typing import Any

from PIL import Image, ImageDraw


def product_photo(kind: str, *, width: int = 640, height: int = 640, seed: int = 0) -> bytes:
    """Render a simple product shot: a coloured object on a busy background, as JPEG bytes."""
    rng = random.Random(f"{kind}:{seed}")
    image = Image.new("RGB", (width, height), (rng.randint(90, 200),) * 3)
    draw = ImageDraw.Draw(image)
    for _ in range(12):  # clutter to remove for "white background" edits
        x, y = rng.randint(0, width), rng.randint(0, height)
        shade = tuple(rng.randint(60, 220) for _ in range(3))
        draw.ellipse((x - 40, y - 40, x + 40, y + 40), fill=shade)
    colour = tuple(rng.randint(0, 255) for _ in range(3))
    cx, cy = width // 2, height // 2
    if kind == "clock":
        draw.ellipse(
            (cx - 150, cy - 150, cx + 150, cy + 150), fill=colour, outline="black", width=8
        )
        draw.line((cx, cy, cx, cy - 110), fill="black", width=8)
        draw.line((cx, cy, cx + 80, cy), fill="black", width=8)
    elif kind == "box":
        draw.rectangle(
            (cx - 200, cy - 120, cx + 200, cy + 160), fill=colour, outline="black", width=6
        )
    elif kind == "lamp":
        draw.polygon(
            [(cx - 120, cy - 40), (cx + 120, cy - 40), (cx + 60, cy - 180), (cx - 60, cy - 180)],
            fill=colour,
        )
        draw.rectangle((cx - 12, cy - 40, cx + 12, cy + 150), fill="black")
        draw.ellipse((cx - 90, cy + 140, cx + 90, cy + 180), fill="black")
    elif kind == "backpack":
        draw.rounded_rectangle(
            (cx - 150, cy - 170, cx + 150, cy + 190), 60, fill=colour, outline="black", width=6
        )
        draw.rounded_rectangle(
            (cx - 100, cy + 20, cx + 100, cy + 150), 30, outline="black", width=6
        )
    elif kind == "sneaker":
        draw.rounded_rectangle((cx - 220, cy - 40, cx + 220, cy + 90), 40, fill=colour)
        draw.rectangle((cx - 230, cy + 80, cx + 230, cy + 110), fill="white")
    else:  # mug
        draw.rectangle(
            (cx - 110, cy - 140, cx + 110, cy + 140), fill=colour, outline="black", width=6
        )
        draw.arc((cx + 60, cy - 70, cx + 200, cy + 70), -90, 90, fill="black", width=18)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def data_uri(data: bytes, mime: str = "image/jpeg") -> str:
    """Encode bytes as a ``data:`` URI."""
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


MODERATION_TERM = "counterfeit logo"
"""Prompts with this term are failed by the demo emulator's content filter."""


def sample_catalogue() -> list[dict[str, Any]]:
    """The demo's manifest lines (as dicts), one invalid among them."""
    photos = {
        kind: data_uri(product_photo(kind, seed=i))
        for i, kind in enumerate(["mug", "clock", "box", "sneaker", "lamp", "backpack"])
    }
    wide_box = data_uri(product_photo("box", width=960, height=640, seed=9))
    lines: list[dict[str, Any]] = []
    for kind, photo in photos.items():
        lines.append(
            {
                "custom_id": f"{kind}-white-bg",
                "model": "wan2.7-image",
                "prompt": f"Place the {kind} on a pure white studio background, soft shadow",
                "images": [photo],
                "size": "1K",
                "n": 1,
                "seed": 7,
            }
        )
        lines.append(
            {
                "custom_id": f"{kind}-recolour",
                "model": "wan2.6-image",
                "prompt": f"Recolour the {kind} in deep navy blue, keep the texture",
                "images": [photo],
                "negative_prompt": "blurry, watermark",
                "n": 1,
            }
        )
        lines.append(
            {
                "custom_id": f"{kind}-lifestyle",
                "model": "wan2.5-i2i-preview",
                "prompt": f"Put the {kind} on a wooden kitchen table in morning light",
                "images": [photo],
                "size": "1024*1024",
                "n": 1,
                "prompt_extend": False,
            }
        )
    lines += [
        {
            "custom_id": "clock-in-box-1",
            "model": "wan2.7-image-pro",
            "prompt": "Place the alarm clock from image 1 at bounding box 1 in image 2",
            "images": [photos["clock"], wide_box],
            "bbox_list": [[], [[300, 180, 660, 460]]],
            "size": "1K",
            "n": 1,
        },
        {
            "custom_id": "graffiti-sneaker",
            "model": "wan2.7-image-pro",
            "prompt": "Spray the graffiti from image 2 onto the sneaker in image 1",
            "images": [photos["sneaker"], photos["box"]],
            "size": "1K",
            "n": 1,
        },
        {
            "custom_id": "mug-variants",
            "model": "wan2.6-image",
            "prompt": "Show the mug in three pastel colours",
            "images": [photos["mug"]],
            "n": 3,
        },
        {
            "custom_id": "banner-t2i",
            "model": "wan2.7-image-pro",
            "prompt": "A clean e-commerce banner of a ceramic mug on white, studio light",
            "size": "1280*720",
            "n": 1,
        },
        {
            "custom_id": "mug-set-sequential",
            "model": "wan2.7-image",
            "prompt": "A set of three product shots of the mug from different angles",
            "images": [photos["mug"]],
            "enable_sequential": True,
            "n": 3,
            "size": "1K",
        },
        {
            "custom_id": "lamp-logo",
            "model": "wan2.6-image",
            "prompt": f"Print a {MODERATION_TERM} on the lamp shade",
            "images": [photos["lamp"]],
            "n": 1,
        },
        {
            "custom_id": "backpack-logo",
            "model": "wan2.5-i2i-preview",
            "prompt": f"Stitch a {MODERATION_TERM} on the backpack",
            "images": [photos["backpack"]],
            "n": 1,
        },
        {
            # Invalid on purpose: wan2.5-i2i-preview accepts 1 to 3 input images.
            "custom_id": "too-many-images",
            "model": "wan2.5-i2i-preview",
            "prompt": "Merge all products into one shot",
            "images": [photos["mug"], photos["clock"], photos["box"], photos["sneaker"]],
        },
    ]
    return lines
