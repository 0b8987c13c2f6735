"""The rule table of docs/model-rules.md, row by row, for every model.

Each accepted row sits on a boundary; each refused row sits just outside one and names the
field and words the rule must contain (the model or the limit).
"""

from __future__ import annotations

from typing import Any

import pytest

from workers.contract import EditRequest, ModelName, validate_request
from workers.errors import InputInvalid

PRO = ModelName.WAN27_PRO.value
W27 = ModelName.WAN27.value
W26 = ModelName.WAN26.value
W25 = ModelName.WAN25.value
WAN27S = (PRO, W27)
ALL = (PRO, W27, W26, W25)


def urls(count: int) -> list[str]:
    return [f"https://example.com/{index}.png" for index in range(count)]


def req(model: str, **fields: Any) -> dict[str, Any]:
    """A valid request for ``model`` (one image, short prompt) with ``fields`` overriding."""
    data: dict[str, Any] = {"model": model, "prompt": "edit it", "images": urls(1)}
    data.update(fields)
    return data


def ok(data: dict[str, Any], name: str) -> Any:
    return pytest.param(data, id=name)


def bad(data: dict[str, Any], field: str, *words: str, name: str) -> Any:
    return pytest.param(data, field, words, id=name)


BOX = [10, 10, 50, 50]

ACCEPTED = [
    # input images
    *(ok(req(m, images=[]), f"{m}-0-images") for m in WAN27S),
    *(ok(req(m, images=urls(9)), f"{m}-9-images") for m in WAN27S),
    ok(req(W26, images=urls(1)), "w26-edit-1-image"),
    ok(req(W26, images=urls(4), enable_interleave=False), "w26-edit-4-images"),
    ok(req(W26, images=[], enable_interleave=True), "w26-interleave-0-images"),
    ok(req(W26, images=urls(1), enable_interleave=True), "w26-interleave-1-image"),
    ok(req(W25, images=urls(1)), "w25-1-image"),
    ok(req(W25, images=urls(3)), "w25-3-images"),
    # text
    *(ok(req(m, prompt="x" * 5000), f"{m}-text-5000") for m in WAN27S),
    ok(req(W26, prompt="图" * 2000), "w26-text-2000-cjk"),
    ok(req(W25, prompt="x" * 2000), "w25-text-2000"),
    *(ok(req(m, prompt="x"), f"{m}-text-1") for m in ALL),
    # negative_prompt
    *(ok(req(m, negative_prompt="n" * 500), f"{m}-negative-500") for m in (W26, W25)),
    ok(req(W25, negative_prompt=""), "w25-negative-empty"),
    # prompt_extend
    ok(req(W26, prompt_extend=True), "w26-edit-prompt-extend"),
    ok(req(W26, prompt_extend=False, enable_interleave=False), "w26-edit-prompt-extend-false"),
    ok(req(W25, prompt_extend=True), "w25-prompt-extend"),
    # size tiers
    *(ok(req(m, size=t), f"{m}-{t}") for m in (PRO, W27, W26) for t in ("1K", "2K")),
    ok(req(PRO, images=[], size="4K"), "pro-t2i-4K"),
    ok(req(PRO, images=[], size="4K", enable_sequential=False), "pro-t2i-4K-seq-false"),
    # size W*H, pixels and aspect
    *(ok(req(m, size="768*768"), f"{m}-768sq") for m in ALL),
    *(ok(req(m, size="2048*2048"), f"{m}-2048sq") for m in (PRO, W27, W26)),
    ok(req(PRO, images=[], size="4096*4096"), "pro-t2i-4096sq"),
    ok(req(W26, images=[], enable_interleave=True, size="1280*1280"), "w26-interleave-1280sq"),
    ok(req(W25, size="1280*1280"), "w25-1280sq"),
    *(ok(req(m, size="4096*512"), f"{m}-aspect-8") for m in WAN27S),
    ok(req(W26, size="2048*512"), "w26-aspect-4"),
    ok(req(W25, size="400*1600"), "w25-aspect-4"),
    # n
    *(ok(req(m, n=n), f"{m}-n-{n}") for m in ALL for n in (1, 4)),
    *(ok(req(m, n=12, enable_sequential=True), f"{m}-sequential-n-12") for m in WAN27S),
    ok(req(W26, images=[], enable_interleave=True, n=1), "w26-interleave-n-1"),
    # seed, watermark
    *(ok(req(m, seed=s), f"{m}-seed-{s}") for m in ALL for s in (0, 2147483647)),
    *(ok(req(m, watermark=w), f"{m}-watermark-{w}") for m in ALL for w in (True, False)),
    # thinking_mode, enable_sequential, enable_interleave
    *(ok(req(m, thinking_mode=v), f"{m}-thinking-{v}") for m in WAN27S for v in (True, False)),
    *(ok(req(m, enable_sequential=False), f"{m}-sequential-false") for m in (W26, W25)),
    *(ok(req(m, enable_sequential=True), f"{m}-sequential-true") for m in WAN27S),
    *(ok(req(m, enable_interleave=False), f"{m}-interleave-false") for m in (PRO, W27, W25)),
    # max_images
    *(
        ok(req(W26, images=[], enable_interleave=True, max_images=k), f"w26-max-images-{k}")
        for k in (1, 5)
    ),
    # bbox_list
    ok(req(PRO, images=urls(2), bbox_list=[[], [[989, 515, 1138, 681]]]), "pro-bbox-example"),
    ok(req(W27, images=urls(1), bbox_list=[[[0, 0, 12, 12], [25, 25, 100, 100]]]), "w27-2-boxes"),
    ok(req(W27, images=[], bbox_list=[]), "w27-bbox-empty-t2i"),
    # image sources
    ok(req(W27, images=["http://example.com/a.jpg"]), "http-source"),
    ok(req(W27, images=["s3://bucket/key/a.png"]), "s3-source"),
    ok(req(W27, images=["file:///tmp/a.png", "./a.png", "/abs/a.png"]), "local-sources"),
    ok(req(W27, images=["data:image/webp;base64,AAAA"]), "data-uri-source"),
]

REFUSED = [
    # input images
    *(bad(req(m, images=urls(10)), "images", m, "0 to 9", name=f"{m}-10-images") for m in WAN27S),
    bad(req(W26, images=[]), "images", W26, "1 to 4", name="w26-edit-0-images"),
    bad(req(W26, images=urls(5)), "images", W26, "1 to 4", name="w26-edit-5-images"),
    bad(
        req(W26, images=urls(2), enable_interleave=True),
        "images",
        W26,
        "0 to 1",
        "enable_interleave is true",
        name="w26-interleave-2-images",
    ),
    bad(req(W25, images=[]), "images", W25, "1 to 3", name="w25-0-images"),
    bad(req(W25, images=urls(4)), "images", W25, "1 to 3", name="w25-4-images"),
    # text
    *(bad(req(m, prompt="x" * 5001), "prompt", m, "5000", name=f"{m}-text-5001") for m in WAN27S),
    bad(req(W26, prompt="图" * 2001), "prompt", W26, "2000", name="w26-text-2001"),
    bad(req(W25, prompt="x" * 2001), "prompt", W25, "2000", name="w25-text-2001"),
    *(bad(req(m, prompt=""), "prompt", m, "1 to", name=f"{m}-text-empty") for m in ALL),
    # negative_prompt
    *(
        bad(req(m, negative_prompt=v), "negative_prompt", m, "not support", name=f"{m}-neg-{v!r}")
        for m in WAN27S
        for v in ("", "blurry")
    ),
    *(
        bad(req(m, negative_prompt="n" * 501), "negative_prompt", m, "500", name=f"{m}-neg-501")
        for m in (W26, W25)
    ),
    # prompt_extend
    *(
        bad(req(m, prompt_extend=v), "prompt_extend", m, "not support", name=f"{m}-extend-{v}")
        for m in WAN27S
        for v in (True, False)
    ),
    bad(
        req(W26, images=[], enable_interleave=True, prompt_extend=True),
        "prompt_extend",
        W26,
        "enable_interleave is false",
        name="w26-interleave-prompt-extend",
    ),
    # size tiers
    bad(req(PRO, size="4K"), "size", PRO, "4K", "text-to-image", name="pro-edit-4K"),
    bad(
        req(PRO, images=[], size="4K", enable_sequential=True),
        "size",
        PRO,
        "text-to-image",
        name="pro-sequential-4K",
    ),
    bad(req(W27, images=[], size="4K"), "size", W27, "1K, 2K", name="w27-t2i-4K"),
    bad(req(W26, size="4K"), "size", W26, "1K, 2K", name="w26-4K"),
    bad(
        req(W26, images=[], enable_interleave=True, size="1K"),
        "size",
        W26,
        "no size tier",
        name="w26-interleave-1K",
    ),
    *(bad(req(W25, size=t), "size", W25, "no size tier", name=f"w25-{t}") for t in ("1K", "2K")),
    *(
        bad(req(W27, size=s), "size", "W*H", name=f"w27-size-format-{s}")
        for s in ("1k", "1024x1024", "0*1024", "1024*1024 ", "01024*1024", "3K", "", "-5*5")
    ),
    # size W*H, total pixels
    *(bad(req(m, size="767*768"), "size", "768*768", m, name=f"{m}-767x768") for m in ALL),
    *(
        bad(req(m, size="2048*2049"), "size", "2048*2048", m, name=f"{m}-2048x2049")
        for m in (PRO, W27, W26)
    ),
    bad(req(PRO, images=[], size="4096*4097"), "size", "4096*4096", name="pro-t2i-4096x4097"),
    bad(req(PRO, size="4096*4096"), "size", "2048*2048", PRO, name="pro-edit-4096sq"),
    bad(
        req(PRO, images=[], size="4096*4096", enable_sequential=True),
        "size",
        "2048*2048",
        name="pro-sequential-4096sq",
    ),
    bad(req(W27, images=[], size="4096*4096"), "size", "2048*2048", W27, name="w27-t2i-4096sq"),
    bad(
        req(W26, images=[], enable_interleave=True, size="1280*1281"),
        "size",
        "1280*1280",
        "enable_interleave is true",
        name="w26-interleave-1280x1281",
    ),
    bad(req(W25, size="1281*1280"), "size", "1280*1280", W25, name="w25-1281x1280"),
    # size W*H, aspect
    *(bad(req(m, size="4104*512"), "size", "8:1", m, name=f"{m}-aspect-8.02") for m in WAN27S),
    bad(req(W26, size="2049*512"), "size", "4:1", W26, name="w26-aspect-4.002"),
    bad(req(W25, size="400*1604"), "size", "4:1", W25, name="w25-aspect-4.01"),
    # n
    *(bad(req(m, n=n), "n", "1 to 4", m, name=f"{m}-n-{n}") for m in ALL for n in (0, 5)),
    *(
        bad(req(m, n=13, enable_sequential=True), "n", "1 to 12", name=f"{m}-sequential-n-13")
        for m in WAN27S
    ),
    bad(
        req(W26, images=[], enable_interleave=True, n=2),
        "n",
        "exactly 1",
        W26,
        name="w26-interleave-n-2",
    ),
    # seed
    *(
        bad(req(m, seed=s), "seed", "0 to 2147483647", name=f"{m}-seed-{s}")
        for m in ALL
        for s in (-1, 2147483648)
    ),
    # thinking_mode
    *(
        bad(req(m, thinking_mode=v), "thinking_mode", m, "not support", name=f"{m}-thinking-{v}")
        for m in (W26, W25)
        for v in (True, False)
    ),
    # enable_sequential / enable_interleave
    *(
        bad(req(m, enable_sequential=True), "enable_sequential", m, name=f"{m}-sequential-true")
        for m in (W26, W25)
    ),
    *(
        bad(req(m, enable_interleave=True), "enable_interleave", m, name=f"{m}-interleave-true")
        for m in (PRO, W27, W25)
    ),
    # max_images
    *(
        bad(req(m, max_images=3), "max_images", m, "not support", name=f"{m}-max-images")
        for m in (PRO, W27, W25)
    ),
    bad(
        req(W26, max_images=3),
        "max_images",
        W26,
        "enable_interleave is true",
        name="w26-edit-max-images",
    ),
    *(
        bad(
            req(W26, images=[], enable_interleave=True, max_images=k),
            "max_images",
            "1 to 5",
            name=f"w26-max-images-{k}",
        )
        for k in (0, 6)
    ),
    # bbox_list
    bad(
        req(PRO, images=urls(2), bbox_list=[[BOX]]),
        "bbox_list",
        "one entry per",
        name="bbox-1-of-2",
    ),
    bad(req(W27, images=[], bbox_list=[[]]), "bbox_list", "one entry per", name="bbox-t2i-1"),
    bad(
        req(W27, bbox_list=[[BOX, BOX, BOX]]), "bbox_list[0]", "at most 2", W27, name="bbox-3-boxes"
    ),
    bad(req(W27, bbox_list=[[[50, 10, 50, 60]]]), "bbox_list[0][0]", "x1 < x2", name="bbox-x1=x2"),
    bad(req(W27, bbox_list=[[[60, 10, 50, 60]]]), "bbox_list[0][0]", "x1 < x2", name="bbox-x1>x2"),
    bad(req(W27, bbox_list=[[BOX, [10, 70, 50, 60]]]), "bbox_list[0][1]", "y1 < y2", name="bbox-y"),
    bad(req(W27, bbox_list=[[[-1, 0, 5, 5]]]), "bbox_list[0][0]", "0 <= x1", name="bbox-negative"),
    bad(req(W27, bbox_list=[[[1, 2, 3]]]), "bbox_list[0][0]", "4 integers", name="bbox-3-ints"),
    bad(req(W27, bbox_list=[[[1, 2, 3, 4, 5]]]), "bbox_list[0][0]", "4 integers", name="bbox-5"),
    bad(req(W27, bbox_list=[[[1, 2, 3, 4.0]]]), "bbox_list[0][0][3]", "integer", name="bbox-float"),
    bad(req(W27, bbox_list=[[[1, 2, 3, True]]]), "bbox_list[0][0][3]", "integer", name="bbox-bool"),
    bad(req(W27, bbox_list=[{"a": 1}]), "bbox_list[0]", "list", name="bbox-entry-dict"),
    *(
        bad(req(m, bbox_list=[[BOX]]), "bbox_list", m, "not support", name=f"{m}-bbox")
        for m in (W26, W25)
    ),
    # types
    bad(req(W27, n="3"), "n", "integer", name="n-string"),
    bad(req(W27, n=True), "n", "integer", name="n-bool"),
    bad(req(W27, n=3.0), "n", "integer", name="n-float"),
    bad(req(W27, seed=1.5), "seed", "integer", name="seed-float"),
    bad(req(W27, watermark=1), "watermark", "true or false", name="watermark-int"),
    bad(req(W27, watermark="true"), "watermark", "true or false", name="watermark-string"),
    bad(req(W27, thinking_mode="quality"), "thinking_mode", "true or false", name="thinking-str"),
    bad(req(W27, prompt=5), "prompt", "string", name="prompt-int"),
    bad(req(W27, images="https://example.com/a.png"), "images", "list", name="images-string"),
    bad(req(W27, images={"https://example.com/a.png"}), "images", "list", name="images-set"),
    bad(req(W27, images=[5]), "images[0]", "string", name="image-int"),
    bad(req(W27, nn=3), "nn", "not a field", name="unknown-field"),
    bad({"model": W27}, "prompt", "required", name="missing-prompt"),
    bad({"prompt": "x"}, "model", "required", name="missing-model"),
    bad(req("wan2.7-imagex"), "model", "wan2.7-image-pro", name="unknown-model"),
    # image sources
    *(
        bad(req(W27, images=[*urls(1), src]), "images[1]", "image source", name=f"source-{src}")
        for src in ("oss://bucket/a.png", "ftp://host/a.png", "gs://b/k", "mailto:x")
    ),
    *(
        bad(req(W27, images=[src]), "images[0]", name=f"source-{src!r}")
        for src in ("", "  ", "https://", "http:/x", "s3://bucket", "s3://", "file://", "file:a")
    ),
    bad(req(W27, images=["data:image/gif;base64,AAAA"]), "images[0]", "MIME", name="data-gif"),
    bad(req(W27, images=["data:image/png,AAAA"]), "images[0]", "base64", name="data-no-b64"),
]


@pytest.mark.parametrize("data", ACCEPTED)
def test_accepted(data: dict[str, Any]) -> None:
    request = validate_request(data, inspect_images=False)
    assert request.model == data["model"]
    assert EditRequest.model_validate(request.model_dump(mode="json")) == request


@pytest.mark.parametrize(("data", "field", "words"), REFUSED)
def test_refused(data: dict[str, Any], field: str, words: tuple[str, ...]) -> None:
    with pytest.raises(InputInvalid) as caught:
        validate_request(data, inspect_images=False)
    assert caught.value.field == field, str(caught.value)
    for word in words:
        assert word in caught.value.rule, str(caught.value)


def test_refusal_survives_pickling_like_celery() -> None:
    with pytest.raises(InputInvalid) as caught:
        validate_request(req(W25, images=urls(4)))
    rebuilt = InputInvalid(*caught.value.args)
    assert str(rebuilt) == str(caught.value)
    assert caught.value.value == "4 images"


def test_long_values_are_shortened() -> None:
    with pytest.raises(InputInvalid) as caught:
        validate_request(req(W27, images=["oss://" + "k" * 5000]))
    assert caught.value.value is not None
    assert len(caught.value.value) < 120


def test_edit_request_is_frozen_and_hashable() -> None:
    request = EditRequest.model_validate(req(W27, bbox_list=[[BOX]]))
    assert hash(request) == hash(EditRequest.model_validate(req(W27, bbox_list=[[BOX]])))
    with pytest.raises(ValueError):
        request.n = 2  # type: ignore[misc]


def test_first_error_wins_in_field_order() -> None:
    with pytest.raises(InputInvalid) as caught:
        validate_request(req(W25, prompt="", images=[], size="1K"))
    assert caught.value.field == "prompt"
