"""Tests for emulator.intake.sizing: the "Output size (emulator)" rules of docs/model-rules.md."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.intake.sizing import output_size

PRO, WAN27, WAN26, WAN25 = "wan2.7-image-pro", "wan2.7-image", "wan2.6-image", "wan2.5-i2i-preview"


def assert_about(size: tuple[int, int], total: int, aspect: float) -> None:
    """Sides are multiples of 16, total pixels and aspect ratio are close to the target."""
    width, height = size
    assert width % 16 == 0 and height % 16 == 0
    assert width * height == pytest.approx(total, rel=0.03)
    assert width / height == pytest.approx(aspect, rel=0.03)


@pytest.mark.parametrize(
    ("model", "size", "last", "interleave", "expected"),
    [
        # tiers without an input image: square
        (PRO, "1K", None, False, (1024, 1024)),
        (WAN27, "2K", None, False, (2048, 2048)),
        (PRO, "4K", None, False, (4096, 4096)),
        (WAN26, "1K", None, False, (1280, 1280)),
        (WAN26, "2K", None, False, (2048, 2048)),
        # tiers at a square input
        (WAN27, "1K", (500, 500), False, (1024, 1024)),
        # no size: the model's default
        (PRO, None, None, False, (2048, 2048)),
        (WAN27, None, (640, 640), False, (2048, 2048)),
        (WAN26, None, None, False, (1280, 1280)),
        (WAN26, None, None, True, (1280, 1280)),
        (WAN25, None, None, False, (1280, 1280)),
        # W*H: as given, except wan2.6-image rounds each side to a multiple of 16
        (PRO, "1000*750", (10, 10), False, (1000, 750)),
        (WAN27, "4096*1024", None, False, (4096, 1024)),
        (WAN25, "1100*900", (2000, 1000), False, (1100, 900)),
        (WAN26, "1000*750", None, False, (1008, 752)),
        (WAN26, "1016*1000", None, True, (1024, 1008)),
        (WAN26, "1280*1280", None, True, (1280, 1280)),
    ],
)
def test_output_size_table(
    model: str,
    size: str | None,
    last: tuple[int, int] | None,
    interleave: bool,
    expected: tuple[int, int],
) -> None:
    assert output_size(model, size, last, interleave=interleave) == expected


def test_2k_tier_follows_a_wide_last_image() -> None:
    size = output_size(WAN27, "2K", (1696, 848), interleave=False)
    assert_about(size, 2048 * 2048, 2.0)
    assert size == (2896, 1456)


def test_1k_tier_follows_a_tall_last_image() -> None:
    assert_about(output_size(PRO, "1K", (1104, 1472), interleave=False), 1024 * 1024, 0.75)


def test_wan26_1k_is_1280_squared() -> None:
    assert_about(output_size(WAN26, "1K", (1600, 900), interleave=False), 1280 * 1280, 16 / 9)


def test_wan25_default_follows_the_last_image() -> None:
    assert_about(output_size(WAN25, None, (1104, 1472), interleave=False), 1280 * 1280, 0.75)


@pytest.mark.parametrize(
    ("model", "last", "aspect"),
    [
        (WAN26, (8000, 240), 4.0),  # wan2.6 takes inputs of any shape; output stays within 4:1
        (WAN26, (240, 8000), 0.25),
        (WAN27, (8000, 240), 8.0),
    ],
)
def test_extreme_input_aspect_is_clamped(model: str, last: tuple[int, int], aspect: float) -> None:
    assert_about(output_size(model, "2K", last, interleave=False), 2048 * 2048, aspect)


@pytest.mark.parametrize(
    ("model", "size", "interleave"),
    [
        ("wan9-image", "1K", False),
        (WAN25, "1K", False),
        (WAN26, "1K", True),
        (WAN27, "1024x1024", False),
        (WAN27, "", False),
    ],
)
def test_refused_combinations_raise(model: str, size: str, interleave: bool) -> None:
    with pytest.raises(ValueError):
        output_size(model, size, None, interleave=interleave)


@given(
    model=st.sampled_from([PRO, WAN27, WAN26]),
    tier=st.sampled_from(["1K", "2K"]),
    width=st.integers(240, 8000),
    height=st.integers(240, 8000),
)
def test_tier_sizes_are_multiples_of_16_near_the_tier_total(
    model: str, tier: str, width: int, height: int
) -> None:
    side = {"1K": 1280 if model == WAN26 else 1024, "2K": 2048}[tier]
    out_w, out_h = output_size(model, tier, (width, height), interleave=False)
    assert out_w % 16 == 0 and out_h % 16 == 0
    assert out_w * out_h == pytest.approx(side * side, rel=0.05)
    limit = 4 if model == WAN26 else 8
    assert max(out_w, out_h) / min(out_w, out_h) <= limit * 1.05
