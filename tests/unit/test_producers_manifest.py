"""Reading manifests, and submitting them with errors reported by line number (real Redis)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from config import Settings
from producers import WanQueue, read_manifest
from producers.manifest import check_name, split_custom_id
from workers.errors import InputInvalid

URL = "https://cdn.example.test/sku.png"


def line(**fields: object) -> str:
    return json.dumps({"model": "wan2.7-image", "prompt": "white background", **fields})


def test_lines_are_numbered_as_an_editor_shows_them() -> None:
    lines = ["\ufeff" + line(custom_id="a"), "", "   ", line(custom_id="b"), "\n"]
    entries = list(read_manifest(lines))
    assert [(entry.line, entry.problem) for entry in entries] == [(1, None), (4, None)]
    assert entries[0].data is not None and entries[0].data["custom_id"] == "a"


def test_lines_that_are_not_json_objects_are_entries_with_a_problem() -> None:
    raw = [b'{"model": "wan2.7-image",', b"[1, 2]", b"\xff\xfe", line().encode()]
    entries = list(read_manifest(raw))
    problems = [entry.problem for entry in entries]
    assert problems[0] is not None and problems[0].field == "json"
    assert "one JSON object" in problems[0].rule and "column" in problems[0].rule
    assert problems[1] is not None and "JSON object of edit request fields" in problems[1].rule
    assert problems[2] is not None and "UTF-8" in problems[2].rule
    assert problems[3] is None


def test_custom_ids_and_batch_names() -> None:
    fields, custom_id = split_custom_id({"custom_id": "sku-1", "model": "m"})
    assert fields == {"model": "m"} and custom_id == "sku-1"
    assert split_custom_id({"model": "m"}) == ({"model": "m"}, None)
    for bad in ("", "a b", "x" * 257, 12, "tab\there", "new\n"):
        with pytest.raises(InputInvalid, match="custom_id: must be a string of 1 to 256"):
            split_custom_id({"custom_id": bad})
    assert check_name("batch", "spring-2025") == "spring-2025"


@pytest.fixture
def queue(redis_url: str, redis_prefix: str) -> Iterator[WanQueue]:
    settings = Settings(redis_url=SecretStr(redis_url), key_prefix=redis_prefix)
    with WanQueue.from_settings(settings) as wan_queue:
        yield wan_queue


def test_a_manifest_goes_in_but_for_its_broken_lines(queue: WanQueue) -> None:
    manifest = [
        line(custom_id="ok-1", images=[URL]),
        '{"custom_id": "bad-json", "model": "wan2.7-image", "prompt": "x"',
        line(custom_id="ok-2", images=[URL]),
        "",
        line(custom_id="bad-model", model="wan3-image"),
        line(custom_id="four", model="wan2.5-i2i-preview", images=[URL] * 4),
        line(custom_id="ok-3", model="wan2.6-image", images=[URL], n=2),
        line(custom_id="typo", imagez=[URL]),
    ]
    report = queue.submit_manifest(read_manifest(manifest), batch="cat")
    assert report.created == 3 and not report.unsent
    shown = [str(problem) for problem in report.refused]
    assert [problem.line for problem in report.refused] == [2, 5, 6, 8]
    assert shown[0].startswith("line 2: json: each line must be one JSON object")
    assert shown[1].startswith("line 5: model: must be one of 'wan2.7-image-pro'")
    assert shown[1].endswith("(got 'wan3-image')")
    assert shown[2] == (
        "line 6: images: wan2.5-i2i-preview accepts 1 to 3 input images (got 4 images)"
    )
    assert shown[3].startswith("line 8: imagez: is not a field of an edit request")
    assert sorted(r["custom_id"] for r in queue.results("cat")) == ["ok-1", "ok-2", "ok-3"]
